//! Loads a gitleaks configuration file (TOML, gitleaks v8 format) as is: its `[[rules]]` with
//! `regex`, `secretGroup`, `entropy`, `keywords`, `path` and rule allowlists, and its global
//! allowlists (`[allowlist]` or `[[allowlists]]`, with `targetRules`).
//!
//! Rule ids get a `gitleaks:` prefix in findings, because gitleaks' ids (`private-key`,
//! `jwt`) overlap imgaudit's. A global allowlist applies to the file's rules only. Regexes are
//! compiled by the `regex` crate with ASCII classes, which is close to Go's RE2. A rule whose
//! regex does not compile is skipped and named in the report's warnings. A rule with a `path`
//! and no `regex` reports each file whose path matches. Features that do not apply to image
//! layers are reported as warnings too: `commits` in allowlists, `[extend]` and composite rules
//! (`[[rules.required]]`).

use std::collections::BTreeMap;
use std::path::Path;

use super::allowlist::{AllowlistSpec, Condition, RegexTarget};
use super::compiled::{Origin, RuleSpec};
use crate::severity::Severity;

/// Prefix of the ids of rules loaded from a gitleaks file.
pub const ID_PREFIX: &str = "gitleaks:";

/// Error reading or parsing a gitleaks file.
#[derive(Debug, thiserror::Error)]
pub enum GitleaksError {
    #[error("failed to read the gitleaks config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the gitleaks config {path} is not valid TOML of the gitleaks format: {message}")]
    Parse { path: String, message: String },
}

/// Rules, allowlists and warnings read from one gitleaks file.
#[derive(Debug, Default)]
pub struct Loaded {
    pub rules: Vec<RuleSpec>,
    pub allowlists: Vec<AllowlistSpec>,
    pub warnings: Vec<String>,
}

#[derive(serde::Deserialize)]
struct File {
    #[serde(default)]
    extend: Option<toml::Table>,
    #[serde(default)]
    rules: Vec<RuleEntry>,
    #[serde(default)]
    allowlist: Option<AllowlistEntry>,
    #[serde(default)]
    allowlists: Vec<AllowlistEntry>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleEntry {
    id: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    secret_group: Option<usize>,
    #[serde(default)]
    entropy: Option<f64>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    allowlist: Option<AllowlistEntry>,
    #[serde(default)]
    allowlists: Vec<AllowlistEntry>,
    #[serde(default)]
    required: Vec<toml::Value>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct AllowlistEntry {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    condition: Option<String>,
    #[serde(default)]
    commits: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    regex_target: Option<String>,
    #[serde(default)]
    regexes: Vec<String>,
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default)]
    target_rules: Vec<String>,
}

/// Reads and converts the gitleaks file at `path`.
pub fn load(path: &Path) -> Result<Loaded, GitleaksError> {
    let text = std::fs::read_to_string(path).map_err(|source| GitleaksError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, &path.display().to_string())
}

/// Converts the text of a gitleaks file; `label` names it in messages.
pub fn parse(text: &str, label: &str) -> Result<Loaded, GitleaksError> {
    let file: File = toml::from_str(text).map_err(|err| GitleaksError::Parse {
        path: label.to_owned(),
        message: err.message().to_owned(),
    })?;
    let mut loaded = Loaded::default();
    if file.extend.is_some() {
        loaded.warnings.push(format!(
            "gitleaks config {label}: [extend] is ignored; only the rules in this file are loaded (imgaudit's built-in rules run anyway)"
        ));
    }

    let mut seen: BTreeMap<String, ()> = BTreeMap::new();
    for rule in &file.rules {
        if seen.insert(rule.id.clone(), ()).is_some() {
            loaded.warnings.push(format!(
                "gitleaks rule {:?} in {label} is defined twice; the second definition is skipped",
                rule.id
            ));
            continue;
        }
        match convert_rule(rule, label, &mut loaded.warnings) {
            Some(spec) => loaded.rules.push(spec),
            None => continue,
        }
    }

    // A global allowlist of the file covers the file's own rules, not imgaudit's built-in
    // ones: gitleaks' default config allowlists all of `node_modules`, where web apps leak.
    let own_rules: Vec<String> = loaded.rules.iter().map(|r| r.id.clone()).collect();
    let globals = file.allowlist.iter().chain(&file.allowlists);
    for (index, entry) in globals.enumerate() {
        let source = format!("gitleaks config {label} allowlist {}", index + 1);
        let mut spec = convert_allowlist(entry, source, &mut loaded.warnings);
        if spec.rules.is_empty() {
            spec.rules = own_rules.clone();
        }
        loaded.allowlists.push(spec);
    }
    Ok(loaded)
}

/// Rewrites the Go RE2 forms that the `regex` crate rejects: a `{` that does not start a
/// repetition (`{n}`, `{n,}`, `{n,m}`) is a literal brace in Go, so it is escaped.
pub fn go_compatible(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut in_class = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            out.push(c);
            if let Some(next) = chars.get(i + 1) {
                out.push(*next);
            }
            i += 2;
            continue;
        }
        match c {
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '{' if !in_class && !starts_repetition(&chars[i + 1..]) => {
                out.push_str("\\{");
                i += 1;
                continue;
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Returns whether `rest` (the text after a `{`) is `n}`, `n,}` or `n,m}`.
fn starts_repetition(rest: &[char]) -> bool {
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return false;
    }
    match rest.get(digits) {
        Some('}') => true,
        Some(',') => {
            let more = rest[digits + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            rest.get(digits + 1 + more) == Some(&'}')
        }
        _ => false,
    }
}

fn convert_rule(rule: &RuleEntry, label: &str, warnings: &mut Vec<String>) -> Option<RuleSpec> {
    let id = format!("{ID_PREFIX}{}", rule.id);
    if !rule.required.is_empty() {
        warnings.push(format!(
            "gitleaks rule {:?} in {label} is a composite rule ([[rules.required]]), which imgaudit does not support; the rule is skipped",
            rule.id
        ));
        return None;
    }
    // A rule with only a `path` reports every file whose path matches (`*.p12`).
    let regex = match (&rule.regex, &rule.path) {
        (Some(regex), _) => regex.clone(),
        (None, Some(_)) => String::new(),
        (None, None) => {
            warnings.push(format!(
                "gitleaks rule {:?} in {label} has neither a regex nor a path; the rule is skipped",
                rule.id
            ));
            return None;
        }
    };
    let allowlists = rule
        .allowlist
        .iter()
        .chain(&rule.allowlists)
        .enumerate()
        .map(|(index, entry)| {
            let source = format!(
                "gitleaks config {label} rule {} allowlist {}",
                rule.id,
                index + 1
            );
            convert_allowlist(entry, source, warnings)
        })
        .collect();
    Some(RuleSpec {
        id,
        title: rule
            .description
            .clone()
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| format!("gitleaks rule {}", rule.id)),
        severity: Severity::High,
        keywords: rule.keywords.iter().map(|k| k.to_lowercase()).collect(),
        regex: if regex.is_empty() {
            regex
        } else {
            go_compatible(&regex)
        },
        // gitleaks treats 0 like an unset group.
        secret_group: rule.secret_group.filter(|g| *g > 0),
        min_entropy: rule.entropy.unwrap_or(0.0),
        path: rule.path.as_deref().map(go_compatible),
        binary: false,
        ascii: true,
        allowlists,
        origin: Origin::Gitleaks,
    })
}

fn convert_allowlist(
    entry: &AllowlistEntry,
    source: String,
    warnings: &mut Vec<String>,
) -> AllowlistSpec {
    let condition = match entry
        .condition
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("OR") => Condition::Or,
        Some("AND") => Condition::And,
        Some(other) => {
            warnings.push(format!("{source}: unknown condition {other:?}; using OR"));
            Condition::Or
        }
    };
    let regex_target = match entry.regex_target.as_deref() {
        None | Some("secret") => RegexTarget::Secret,
        Some("match") => RegexTarget::Match,
        Some("line") => RegexTarget::Line,
        Some(other) => {
            warnings.push(format!(
                "{source}: unknown regexTarget {other:?}; using secret"
            ));
            RegexTarget::Secret
        }
    };
    if !entry.commits.is_empty() {
        warnings.push(format!(
            "{source}: commits do not apply to image layers and are ignored"
        ));
    }
    AllowlistSpec {
        reason: entry
            .description
            .clone()
            .unwrap_or_else(|| "(no description in the gitleaks config)".into()),
        source,
        rules: entry
            .target_rules
            .iter()
            .map(|r| format!("{ID_PREFIX}{r}"))
            .collect(),
        condition,
        paths: entry.paths.iter().map(|p| go_compatible(p)).collect(),
        regexes: entry.regexes.iter().map(|r| go_compatible(r)).collect(),
        regex_target,
        stopwords: entry.stopwords.clone(),
        fingerprints: Vec::new(),
        origin: Origin::Gitleaks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
title = "team rules"

[extend]
useDefault = true

[[rules]]
id = "acme-key"
description = "ACME API key"
regex = '''\b(acme_[a-z0-9]{32})\b'''
secretGroup = 1
entropy = 3.0
keywords = ["ACME_"]

  [[rules.allowlists]]
  description = "test fixtures"
  paths = ['''/fixtures/''']
  commits = ["abc123"]

[[rules]]
id = "broken"
regex = '''(unclosed'''

[[rules]]
id = "pem-files"
path = '''\.pem$'''

[allowlist]
description = "global"
regexTarget = "line"
regexes = ['''notsecret''']
stopwords = ["example"]
"#;

    #[test]
    fn rules_and_allowlists_convert() {
        let loaded = parse(SAMPLE, "gitleaks.toml").unwrap();
        assert_eq!(loaded.rules.len(), 3);
        assert_eq!(loaded.rules[2].regex, "", "a path-only rule has no regex");
        let acme = &loaded.rules[0];
        assert_eq!(acme.id, "gitleaks:acme-key");
        assert_eq!(acme.title, "ACME API key");
        assert_eq!(acme.keywords, vec!["acme_"]);
        assert_eq!(acme.secret_group, Some(1));
        assert_eq!(acme.min_entropy, 3.0);
        assert_eq!(acme.allowlists.len(), 1);
        assert_eq!(acme.allowlists[0].reason, "test fixtures");
        assert_eq!(loaded.allowlists.len(), 1);
        assert_eq!(loaded.allowlists[0].regex_target, RegexTarget::Line);
        assert_eq!(loaded.allowlists[0].stopwords, vec!["example"]);
    }

    #[test]
    fn unsupported_features_are_warnings() {
        let loaded = parse(SAMPLE, "gitleaks.toml").unwrap();
        let text = loaded.warnings.join("\n");
        assert!(text.contains("[extend] is ignored"), "{text}");
        assert!(text.contains("commits do not apply"), "{text}");
    }

    #[test]
    fn secret_group_zero_means_unset() {
        let loaded = parse(
            "[[rules]]\nid = \"x\"\nregex = '''(a)(b)'''\nsecretGroup = 0\n",
            "g.toml",
        )
        .unwrap();
        assert_eq!(loaded.rules[0].secret_group, None);
    }

    #[test]
    fn literal_braces_are_escaped() {
        assert_eq!(go_compatible(r"^\$(?:\d+|{\d+})$"), r"^\$(?:\d+|\{\d+})$");
        assert_eq!(go_compatible(r"a{2,5}b{3}c{4,}"), r"a{2,5}b{3}c{4,}");
        assert_eq!(go_compatible(r"^\{\{[ {]*}}$"), r"^\{\{[ {]*}}$");
        assert_eq!(go_compatible(r"x{y}"), r"x\{y}");
    }

    #[test]
    fn invalid_toml_is_an_error() {
        let err = parse("[[rules]\nid=", "g.toml").unwrap_err();
        assert!(err.to_string().contains("g.toml"), "{err}");
    }
}
