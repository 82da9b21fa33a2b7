//! Finds credentials in image files and config values: provider formats behind a keyword
//! prefilter, `NAME=value` assignments in configuration files judged by name and value, and
//! rules and allowlists from the user's configuration or a gitleaks file.
//!
//! A secret value never leaves this module: matches carry a masked form, a masked excerpt
//! and a fingerprint (a truncated sha256 of rule id and value), which is all that reports
//! and logs may show.
//!
//! One [`Scanner`] serves a whole audit: layer walks call [`Scanner::wants_file`] and
//! [`Scanner::scan_reader`] from several threads, and the config check calls
//! [`Scanner::scan_text`] and [`Scanner::judge_named_value`]. Counters of scanned, skipped,
//! suppressed and truncated items are atomic and end up in the report's `scan` section.

pub mod allowlist;
mod assign;
mod compiled;
mod engine;
pub mod gitleaks;
pub mod names;
mod prefilter;
mod rules;
pub mod scope;
mod stats;
mod validate;

use std::io::{self, Read};
use std::sync::{Arc, LazyLock};

use sha2::{Digest as _, Sha256};

pub use allowlist::{AllowlistSpec, Condition, RegexTarget};
pub use assign::split_assignment;
pub use compiled::{Origin, RuleError, RuleSpec};
pub use rules::{ASSIGNMENT_RULE_ID, NAMED_VARIABLE_RULE_ID, RULES, Rule, RuleClass};
pub use scope::SkipSpec;
pub use stats::{ScanSummary, TruncatedRule};

use allowlist::Allowlist;
use compiled::{CompiledRule, PathRule};
use engine::Subject;
use prefilter::Prefilter;
use scope::Scope;
use stats::Stats;

use crate::severity::Severity;

/// One credential found in a file or a config value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SecretMatch {
    pub rule_id: String,
    pub title: String,
    pub severity: Severity,
    /// 1-based line of the match in a file; `None` for config values.
    pub line: Option<usize>,
    pub masked: String,
    pub fingerprint: String,
    /// The line around the secret with the secret masked, for files.
    pub excerpt: Option<String>,
}

/// Limits on scanning and reporting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Larger files are not read. Files of any size up to this are read in 1 MiB chunks, so
    /// memory does not grow with it.
    pub max_file_bytes: u64,
    /// Matches kept per file; the rest of the file is not scanned once this many are found.
    pub max_matches_per_file: usize,
    /// Findings of one rule reported per image; the rest are counted as truncated.
    pub max_findings_per_rule: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_file_bytes: 256 * 1024 * 1024,
            max_matches_per_file: 50,
            max_findings_per_rule: 200,
        }
    }
}

/// Everything that configures a scanner beyond the built-in rules.
#[derive(Clone, Debug, Default)]
pub struct ScannerConfig {
    /// Rules from the configuration file and from a gitleaks file.
    pub rules: Vec<RuleSpec>,
    /// Global allowlists (and those that name the rules they apply to).
    pub allowlists: Vec<AllowlistSpec>,
    /// Ids of built-in rules that do not run.
    pub disabled_rules: Vec<String>,
    pub skips: Vec<SkipSpec>,
    /// Ids of default skip rules that do not apply.
    pub disabled_skips: Vec<String>,
    pub limits: Limits,
    /// Problems found while loading (gitleaks rules that do not compile), for the report.
    pub warnings: Vec<String>,
}

/// Configuration that the scanner cannot run with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error(transparent)]
    Allowlist(#[from] allowlist::AllowlistError),
    #[error(transparent)]
    Scope(#[from] scope::ScopeError),
    #[error(
        "rule id {0:?} is already taken by a built-in rule or an earlier rule; give the rule another id, or list the built-in rule in disabled_rules"
    )]
    DuplicateId(String),
    #[error("unknown built-in rule {id:?} in disabled_rules; run with --explain to list rule ids")]
    UnknownDisabled { id: String },
}

pub struct Scanner {
    rules: Vec<CompiledRule>,
    path_rules: Vec<PathRule>,
    prefilter: Prefilter,
    allowlists: Vec<Allowlist>,
    scope: Scope,
    limits: Limits,
    stats: Stats,
    disabled_rules: Vec<String>,
    warnings: Vec<String>,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("rules", &self.rules.len())
            .field("allowlists", &self.allowlists.len())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new()
    }
}

static SHARED_DEFAULT: LazyLock<Arc<Scanner>> = LazyLock::new(|| Arc::new(Scanner::new()));

impl Scanner {
    /// Builds a scanner with the built-in rules, default skips and limits.
    pub fn new() -> Scanner {
        Scanner::with_config(&ScannerConfig::default()).expect("the default configuration is valid")
    }

    /// Returns a process-wide scanner with the default configuration, for callers that do not
    /// configure one. Its counters are shared by every user.
    pub fn shared_default() -> Arc<Scanner> {
        Arc::clone(&SHARED_DEFAULT)
    }

    /// Builds a scanner from the built-in rules and `config`. Rules from a gitleaks file that
    /// do not compile are dropped with a warning; anything else invalid is an error.
    pub fn with_config(config: &ScannerConfig) -> Result<Scanner, ConfigError> {
        for id in &config.disabled_rules {
            if !RULES.iter().any(|r| r.id == *id) {
                return Err(ConfigError::UnknownDisabled { id: id.clone() });
            }
        }
        let mut rules: Vec<CompiledRule> = RULES
            .iter()
            .filter(|r| !config.disabled_rules.iter().any(|d| d == r.id))
            .map(CompiledRule::from_builtin)
            .collect();
        let mut warnings = config.warnings.clone();
        let mut path_rules = Vec::new();
        for spec in &config.rules {
            if rules.iter().any(|r| r.id == spec.id)
                || spec.id == ASSIGNMENT_RULE_ID
                || spec.id == NAMED_VARIABLE_RULE_ID
            {
                return Err(ConfigError::DuplicateId(spec.id.clone()));
            }
            if spec.regex.is_empty() && spec.path.is_some() {
                match PathRule::from_spec(spec) {
                    Ok(rule) => path_rules.push(rule),
                    Err(err) if spec.origin == Origin::Gitleaks => {
                        warnings.push(format!("gitleaks {err}; the rule is skipped"));
                    }
                    Err(err) => return Err(err.into()),
                }
                continue;
            }
            match CompiledRule::from_spec(spec) {
                Ok(rule) => rules.push(rule),
                Err(err) if spec.origin == Origin::Gitleaks => {
                    warnings.push(format!("gitleaks {err}; the rule is skipped"));
                }
                Err(err) => return Err(err.into()),
            }
        }
        let mut allowlists = Vec::new();
        for spec in &config.allowlists {
            match Allowlist::compile(spec) {
                Ok(list) => allowlists.push(list),
                Err(err) if spec.origin == Origin::Gitleaks => {
                    warnings.push(format!("{err}; the allowlist is skipped"));
                }
                Err(err) => return Err(err.into()),
            }
        }
        for list in &allowlists {
            if list.is_empty() {
                warnings.push(format!(
                    "{} sets no path, regex, stop word or fingerprint (commits do not apply to images), so it suppresses nothing",
                    list.source
                ));
            }
        }
        let scope = Scope::new(
            &config.disabled_skips,
            &config.skips,
            config.limits.max_file_bytes,
        )?;
        let keywords: Vec<Vec<String>> = rules.iter().map(|r| r.keywords.clone()).collect();
        Ok(Scanner {
            prefilter: Prefilter::build(&keywords),
            stats: Stats::new(),
            rules,
            path_rules,
            allowlists,
            scope,
            limits: config.limits,
            disabled_rules: config.disabled_rules.clone(),
            warnings,
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Problems found while loading the configuration, for the report's warnings.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Returns whether a file at `path` of `size` bytes is in scope for secret scanning,
    /// counting the skip rule that leaves it out.
    pub fn wants_file(&self, path: &str, size: u64) -> bool {
        if size == 0 {
            return false;
        }
        if self.scope.skip_rule(path).is_some() {
            return false;
        }
        if size > self.scope.max_file_bytes {
            self.stats.count_too_large();
            return false;
        }
        true
    }

    /// Returns the findings of path-only rules for a file at `path`: the whole file is the
    /// secret (a `.p12` key store), whatever its size or content.
    pub fn path_findings(&self, path: &str) -> Vec<SecretMatch> {
        let mut found = Vec::new();
        for rule in &self.path_rules {
            if !rule.path.is_match(path.as_bytes()) {
                continue;
            }
            let print = fingerprint(&rule.id, path);
            let candidate = allowlist::Candidate {
                rule_id: &rule.id,
                path: Some(path),
                secret: path.as_bytes(),
                whole_match: path.as_bytes(),
                line: path.as_bytes(),
                fingerprint: &print,
            };
            if rule
                .allowlists
                .iter()
                .chain(&self.allowlists)
                .any(|list| list.suppresses(&candidate))
            {
                continue;
            }
            found.push(SecretMatch {
                rule_id: rule.id.clone(),
                title: rule.title.clone(),
                severity: rule.severity,
                line: None,
                masked: "(the whole file)".to_owned(),
                fingerprint: print,
                excerpt: None,
            });
        }
        found
    }

    /// Scans a file's content streamed from `reader` in bounded chunks. Binary content (a NUL
    /// byte in the first 8 KiB) is scanned only by the rules meant for it.
    pub fn scan_reader(
        &self,
        path: &str,
        size: u64,
        reader: &mut dyn Read,
    ) -> io::Result<Vec<SecretMatch>> {
        let outcome = self.scan_stream(Subject::File(path), size, reader)?;
        self.stats.count_file(path, &outcome);
        Ok(outcome.matches)
    }

    /// Scans a file's content held in memory.
    pub fn scan_file(&self, path: &str, content: &[u8]) -> Vec<SecretMatch> {
        self.scan_reader(path, content.len() as u64, &mut &content[..])
            .expect("reading from a byte slice cannot fail")
    }

    /// Scans a short text such as a config value, with no field name for allowlists.
    pub fn scan_text(&self, text: &str) -> Vec<SecretMatch> {
        self.scan_config_text("", text)
    }

    /// Scans a config value or history line. `field` names where it came from
    /// (`config.Env`) for allowlists' `paths`.
    pub fn scan_config_text(&self, field: &str, text: &str) -> Vec<SecretMatch> {
        self.scan_stream(
            Subject::Config(field),
            text.len() as u64,
            &mut text.as_bytes(),
        )
        .expect("reading from a byte slice cannot fail")
        .matches
    }

    /// Scans a config variable (`name` may be empty, for a whole history line): its value by
    /// the rules, and when no rule matched or was suppressed, by its name
    /// ([`Scanner::judge_named_value`]).
    pub fn scan_config_value(&self, field: &str, name: &str, value: &str) -> Vec<SecretMatch> {
        let outcome = self
            .scan_stream(
                Subject::Config(field),
                value.len() as u64,
                &mut value.as_bytes(),
            )
            .expect("reading from a byte slice cannot fail");
        if !outcome.matches.is_empty() || outcome.suppressed > 0 || name.is_empty() {
            return outcome.matches;
        }
        self.judge_named_value(field, name, value)
            .into_iter()
            .collect()
    }

    /// Judges a config variable whose value no provider rule matched: it is reported when its
    /// name marks a credential and the value is not a placeholder or reference, unless an
    /// allowlist suppresses it.
    pub fn judge_named_value(&self, field: &str, name: &str, value: &str) -> Option<SecretMatch> {
        if !names::is_secret_name(name) || assign::is_non_secret_value(value) {
            return None;
        }
        let print = fingerprint(NAMED_VARIABLE_RULE_ID, value);
        let candidate = allowlist::Candidate {
            rule_id: NAMED_VARIABLE_RULE_ID,
            path: Some(field),
            secret: value.as_bytes(),
            whole_match: value.as_bytes(),
            line: value.as_bytes(),
            fingerprint: &print,
        };
        if self
            .allowlists
            .iter()
            .any(|list| list.suppresses(&candidate))
        {
            return None;
        }
        Some(SecretMatch {
            rule_id: NAMED_VARIABLE_RULE_ID.to_owned(),
            title: rules::NAMED_VARIABLE_RULE_TITLE.to_owned(),
            severity: Severity::High,
            line: None,
            masked: mask(value),
            fingerprint: print,
            excerpt: None,
        })
    }

    /// Records that the per-rule limit dropped findings, for the report.
    pub fn record_truncated_rule(&self, rule: &str, kept: usize, dropped: usize) {
        self.stats.record_truncated_rule(rule, kept, dropped);
    }

    /// Snapshot of what the scan did, for the report's `scan` section.
    pub fn summary(&self) -> ScanSummary {
        stats::summarize(self)
    }

    /// Logs one debug line per skip rule with the files it skipped.
    pub fn log_skips(&self) {
        for rule in &self.scope.rules {
            if rule.files() > 0 {
                tracing::debug!(rule = %rule.id, files = rule.files(), "secret scan skipped files: {}", rule.description);
            }
        }
        let too_large = self.stats.too_large();
        if too_large > 0 {
            tracing::debug!(
                files = too_large,
                max_file_bytes = self.scope.max_file_bytes,
                "secret scan skipped files above the size limit"
            );
        }
    }
}

/// Masks a secret for display: a short known prefix and the length, never the body.
pub fn mask(secret: &str) -> String {
    let chars = secret.chars().count();
    let shown = if chars >= 16 { 4 } else { 0 };
    let prefix: String = secret.chars().take(shown).collect();
    format!("{prefix}{} ({chars} chars)", "*".repeat(8))
}

/// Identifies a secret without revealing it: the first 16 hex digits of sha256 over the rule
/// id and the value. Stable across runs, so allowlists can name it.
pub fn fingerprint(rule_id: &str, secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(rule_id.as_bytes());
    hasher.update([0u8]);
    hasher.update(secret.as_bytes());
    format!("sha256:{}", &hex::encode(hasher.finalize())[..16])
}

#[cfg(test)]
mod rule_tests;
#[cfg(test)]
mod tests;
