//! Finds credentials in text: provider formats behind a keyword prefilter, and `NAME=value`
//! assignments in configuration files judged by name and value.
//!
//! A secret value never leaves this module: matches carry a masked form and a fingerprint
//! (a truncated sha256 of rule id and value), which is all that reports and logs may show.

pub mod names;
mod rules;

use std::collections::HashSet;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::Regex;
use sha2::{Digest as _, Sha256};

pub use rules::{ASSIGNMENT_RULE_ID, RULES, Rule};

use crate::severity::Severity;

/// Files above this size are not scanned; real configuration and source files are far
/// smaller, and large ones are usually data or bundles.
pub const MAX_SCANNED_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Matches kept per file; later ones are counted as truncated.
const MAX_MATCHES_PER_FILE: usize = 50;

/// One credential found in a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretMatch {
    pub rule_id: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    /// 1-based line of the match, when the text has lines.
    pub line: Option<usize>,
    pub masked: String,
    pub fingerprint: String,
}

struct CompiledRule {
    rule: &'static Rule,
    regex: Regex,
}

pub struct Scanner {
    rules: Vec<CompiledRule>,
    prefilter: AhoCorasick,
    /// For each prefilter pattern, the index of the rule it belongs to.
    keyword_rule: Vec<usize>,
}

/// Path prefixes that hold documentation, locale data and headers of installed packages.
const SKIPPED_PREFIXES: &[&str] = &[
    "/usr/share/doc/",
    "/usr/share/man/",
    "/usr/share/info/",
    "/usr/share/locale/",
    "/usr/share/i18n/",
    "/usr/share/zoneinfo/",
    "/usr/share/common-licenses/",
    "/usr/share/mime/",
    "/usr/share/terminfo/",
    "/usr/include/",
    "/usr/local/include/",
    "/var/lib/dpkg/info/",
    "/proc/",
    "/sys/",
];

/// Returns whether a path is documentation shipped inside an installed npm package
/// (`node_modules/<pkg>/docs/…`, `…/man/…`), whose examples look like credentials.
fn is_package_documentation(path: &str) -> bool {
    let Some((_, inside)) = path.rsplit_once("/node_modules/") else {
        return false;
    };
    inside
        .split('/')
        .skip(1)
        .any(|component| matches!(component, "doc" | "docs" | "man" | "example" | "examples"))
}

/// Extensions of binary or generated formats in which text rules find nothing useful.
const SKIPPED_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "webp", "ico", "bmp", "svgz", "woff", "woff2", "ttf", "otf",
    "eot", "gz", "tgz", "xz", "bz2", "zst", "zip", "jar", "war", "whl", "so", "a", "o", "pyc",
    "class", "wasm", "node", "mo", "gmo", "pdf", "mp3", "mp4", "webm", "db", "sqlite",
];

/// Lock files whose integrity hashes look random but are public.
const LOCKFILES: &[&str] = &[
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "npm-shrinkwrap.json",
];

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new()
    }
}

impl Scanner {
    pub fn new() -> Scanner {
        let rules: Vec<CompiledRule> = RULES
            .iter()
            .map(|rule| CompiledRule {
                rule,
                regex: Regex::new(rule.pattern).expect("built-in rule patterns compile"),
            })
            .collect();
        let mut keywords = Vec::new();
        let mut keyword_rule = Vec::new();
        for (index, compiled) in rules.iter().enumerate() {
            for keyword in compiled.rule.keywords {
                keywords.push(*keyword);
                keyword_rule.push(index);
            }
        }
        let prefilter = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&keywords)
            .expect("built-in keywords build an automaton");
        Scanner {
            rules,
            prefilter,
            keyword_rule,
        }
    }

    /// Returns whether a file at `path` of `size` bytes is in scope for secret scanning.
    pub fn wants_file(&self, path: &str, size: u64) -> bool {
        if size == 0 || size > MAX_SCANNED_FILE_BYTES {
            return false;
        }
        if SKIPPED_PREFIXES
            .iter()
            .any(|prefix| path.starts_with(prefix))
            || is_package_documentation(path)
        {
            return false;
        }
        let name = crate::image::fs::file_name(path);
        match name.rsplit_once('.') {
            Some((_, ext)) => !SKIPPED_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()),
            None => true,
        }
    }

    /// Scans a file's content. Binary content (a NUL byte in the first 8 KiB) is skipped.
    pub fn scan_file(&self, path: &str, content: &[u8]) -> Vec<SecretMatch> {
        let head = &content[..content.len().min(8192)];
        if memchr::memchr(0, head).is_some() {
            return Vec::new();
        }
        let text = String::from_utf8_lossy(content);
        let name = crate::image::fs::file_name(path);
        let mut matches = self.scan_rules(&text, Some(name));
        if !LOCKFILES.contains(&name) && is_assignment_file(name) {
            matches.extend(scan_assignments(&text, is_dotenv(name)));
        }
        dedupe_and_cap(matches)
    }

    /// Scans a short text such as an environment value or a history line.
    pub fn scan_text(&self, text: &str) -> Vec<SecretMatch> {
        dedupe_and_cap(self.scan_rules(text, None))
    }

    /// Runs the rules whose keywords occur in `text`. Rules run in table order, and a match
    /// whose secret overlaps one already taken is dropped, so a token inside a URL is reported
    /// once, by the more specific rule. `file_name` limits file-specific rules; `None` runs
    /// them all.
    fn scan_rules(&self, text: &str, file_name: Option<&str>) -> Vec<SecretMatch> {
        let mut hit = vec![false; self.rules.len()];
        for found in self.prefilter.find_overlapping_iter(text) {
            hit[self.keyword_rule[found.pattern().as_usize()]] = true;
        }
        let mut matches = Vec::new();
        let mut taken: Vec<std::ops::Range<usize>> = Vec::new();
        for (compiled, _) in self.rules.iter().zip(&hit).filter(|(_, hit)| **hit) {
            let rule = compiled.rule;
            if let Some(name) = file_name
                && !rule.file_names.is_empty()
                && !rule.file_names.contains(&name)
            {
                continue;
            }
            for captures in compiled.regex.captures_iter(text) {
                let Some(secret) = captures.get(rule.secret_group) else {
                    continue;
                };
                let whole = captures.get(0).map_or(secret.as_str(), |m| m.as_str());
                if !accept_secret(rule, secret.as_str(), whole) {
                    continue;
                }
                let span = secret.range();
                if taken
                    .iter()
                    .any(|t| t.start < span.end && span.start < t.end)
                {
                    continue;
                }
                taken.push(span);
                let start = captures.get(0).map_or(secret.start(), |m| m.start());
                matches.push(SecretMatch {
                    rule_id: compiled.rule.id,
                    title: compiled.rule.title,
                    severity: compiled.rule.severity,
                    line: Some(line_of(text, start)),
                    masked: mask_for_rule(compiled.rule, secret.as_str()),
                    fingerprint: fingerprint(compiled.rule.id, secret.as_str()),
                });
            }
        }
        matches
    }
}

/// Applies the allowlists: published example keys, placeholders, documentation hosts
/// (`user:pass@proxy.example.com`) and the rule's entropy floor.
fn accept_secret(rule: &Rule, secret: &str, whole_match: &str) -> bool {
    if rules::KNOWN_EXAMPLES.contains(&secret) {
        return false;
    }
    let lower = whole_match.to_ascii_lowercase();
    if lower.contains("example.") || lower.contains("@host") {
        return false;
    }
    if rule.id != "private-key" && names::is_placeholder(secret) {
        return false;
    }
    rule.min_entropy == 0.0 || names::shannon_entropy(secret) >= rule.min_entropy
}

fn line_of(text: &str, offset: usize) -> usize {
    memchr::memchr_iter(b'\n', &text.as_bytes()[..offset]).count() + 1
}

fn is_dotenv(name: &str) -> bool {
    name == ".env" || name.starts_with(".env.") || name.ends_with(".env")
}

/// Files whose lines are `key = value` settings, where a secret-named key contains a credential.
fn is_assignment_file(name: &str) -> bool {
    if is_dotenv(name) {
        return true;
    }
    let ext = name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase());
    matches!(
        ext.as_deref(),
        Some(
            "properties"
                | "ini"
                | "cfg"
                | "conf"
                | "toml"
                | "yaml"
                | "yml"
                | "json"
                | "npmrc"
                | "pypirc"
        )
    ) || matches!(name, "credentials" | ".netrc" | ".pgpass")
}

/// Finds `NAME=value`, `name: value` and `"name": "value"` lines whose key names a
/// credential. In `.env` files any real value counts; elsewhere the value must also look
/// random (entropy of at least 3 bits per character over 8 or more characters), because
/// configuration files name many settings `password` that hold no secret.
fn scan_assignments(text: &str, dotenv: bool) -> Vec<SecretMatch> {
    let mut matches = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let Some((key, value)) = split_assignment(line) else {
            continue;
        };
        if !names::is_secret_name(key) || names::is_placeholder(value) {
            continue;
        }
        if !dotenv && (value.len() < 8 || names::shannon_entropy(value) < 3.0) {
            continue;
        }
        matches.push(SecretMatch {
            rule_id: ASSIGNMENT_RULE_ID,
            title: rules::ASSIGNMENT_RULE_TITLE,
            severity: Severity::High,
            line: Some(index + 1),
            masked: mask(value),
            fingerprint: fingerprint(ASSIGNMENT_RULE_ID, value),
        });
    }
    matches
}

/// Splits `KEY=value`, `export KEY=value`, `key: value` and `"key": "value",` lines.
pub fn split_assignment(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') || line.starts_with("//") || line.starts_with(';') {
        return None;
    }
    let line = line.strip_prefix("export ").unwrap_or(line);
    let split_at = line.find(['=', ':'])?;
    let key = line[..split_at]
        .trim()
        .trim_matches(|c| c == '"' || c == '\'');
    let value = line[split_at + 1..]
        .trim()
        .trim_end_matches(',')
        .trim()
        .trim_matches(|c| c == '"' || c == '\'');
    if key.is_empty() || key.contains(char::is_whitespace) || value.is_empty() {
        return None;
    }
    Some((key, value))
}

/// Drops repeats of one secret and the generic assignment match on lines where a provider
/// rule already matched, then caps the number of matches.
fn dedupe_and_cap(mut matches: Vec<SecretMatch>) -> Vec<SecretMatch> {
    let provider_lines: HashSet<Option<usize>> = matches
        .iter()
        .filter(|m| m.rule_id != ASSIGNMENT_RULE_ID)
        .map(|m| m.line)
        .collect();
    matches.retain(|m| m.rule_id != ASSIGNMENT_RULE_ID || !provider_lines.contains(&m.line));
    matches.sort_by_key(|m| m.line);
    let mut seen = HashSet::new();
    matches.retain(|m| seen.insert(m.fingerprint.clone()));
    if matches.len() > MAX_MATCHES_PER_FILE {
        tracing::debug!(
            found = matches.len(),
            kept = MAX_MATCHES_PER_FILE,
            "secret matches truncated"
        );
        matches.truncate(MAX_MATCHES_PER_FILE);
    }
    matches
}

/// Masks a secret for display: a short known prefix and the length, never the body.
pub fn mask(secret: &str) -> String {
    let chars = secret.chars().count();
    let shown = if chars >= 16 { 4 } else { 0 };
    let prefix: String = secret.chars().take(shown).collect();
    format!("{prefix}{} ({chars} chars)", "*".repeat(8))
}

fn mask_for_rule(rule: &Rule, secret: &str) -> String {
    if rule.id == "private-key" {
        let kind = secret
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("-----BEGIN ")
            .trim_end_matches('-');
        return format!("-----BEGIN {kind}----- ******** ({} chars)", secret.len());
    }
    mask(secret)
}

/// Identifies a secret without revealing it: the first 16 hex digits of sha256 over the rule
/// id and the value. Stable across runs, so ignore files can name it.
pub fn fingerprint(rule_id: &str, secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(rule_id.as_bytes());
    hasher.update([0u8]);
    hasher.update(secret.as_bytes());
    format!("sha256:{}", &hex::encode(hasher.finalize())[..16])
}

#[cfg(test)]
mod tests;
