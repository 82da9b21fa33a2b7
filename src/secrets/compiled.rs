//! Rules in the form the scanner runs them: built-in rules, rules from the configuration file
//! and rules loaded from a gitleaks file, each with its regexes compiled.

use regex::bytes::{Regex, RegexBuilder};

use super::allowlist::{Allowlist, AllowlistError, AllowlistSpec};
use super::rules::{Rule, RuleClass};
use crate::severity::Severity;

/// Source of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    BuiltIn,
    User,
    Gitleaks,
}

/// A rule from a configuration file, before compilation.
#[derive(Clone, Debug)]
pub struct RuleSpec {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub keywords: Vec<String>,
    /// Empty for a path-only rule, which reports every file whose path matches `path`.
    pub regex: String,
    /// Capture group of the secret; `None` for gitleaks' default, the first non-empty group
    /// (or the whole match when the regex has no groups).
    pub secret_group: Option<usize>,
    pub min_entropy: f64,
    /// Regex on the file path that limits the rule to matching files.
    pub path: Option<String>,
    pub binary: bool,
    /// Match `\w`, `\d`, `\s` and `\b` on ASCII only, as Go's RE2 (and so gitleaks) does.
    pub ascii: bool,
    pub allowlists: Vec<AllowlistSpec>,
    pub origin: Origin,
}

/// Error compiling a configured rule.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("rule {id:?}: invalid regex: {message}")]
    Regex { id: String, message: String },
    #[error("rule {id:?}: invalid path regex: {message}")]
    Path { id: String, message: String },
    #[error("rule {id:?}: secret group {group} does not exist; the regex has {groups} groups")]
    Group {
        id: String,
        group: usize,
        groups: usize,
    },
    #[error("rule {id:?}: {source}")]
    Allowlist { id: String, source: AllowlistError },
}

/// A path-only rule: it reports every file whose path matches.
pub struct PathRule {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub origin: Origin,
    pub path: Regex,
    pub allowlists: Vec<Allowlist>,
}

/// Compiles a rule's own allowlists, naming the rule in the error.
fn compile_allowlists(spec: &RuleSpec) -> Result<Vec<Allowlist>, RuleError> {
    spec.allowlists
        .iter()
        .map(Allowlist::compile)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| RuleError::Allowlist {
            id: spec.id.clone(),
            source,
        })
}

impl PathRule {
    pub fn from_spec(spec: &RuleSpec) -> Result<PathRule, RuleError> {
        let pattern = spec.path.as_deref().unwrap_or_default();
        let path = build_spec_regex(pattern, spec.ascii).map_err(|err| RuleError::Path {
            id: spec.id.clone(),
            message: one_line(&err.to_string()),
        })?;
        let allowlists = compile_allowlists(spec)?;
        Ok(PathRule {
            id: spec.id.clone(),
            title: spec.title.clone(),
            severity: spec.severity,
            origin: spec.origin,
            path,
            allowlists,
        })
    }
}

/// A rule ready to run.
pub struct CompiledRule {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub origin: Origin,
    /// Provider class of built-in rules.
    pub class: Option<RuleClass>,
    pub keywords: Vec<String>,
    pub regex: Regex,
    pub secret_group: Option<usize>,
    pub min_entropy: f64,
    pub file_names: &'static [&'static str],
    pub path: Option<Regex>,
    pub context: Option<Regex>,
    pub validate: Option<fn(&str) -> bool>,
    pub binary: bool,
    pub allowlists: Vec<Allowlist>,
}

/// Compiled patterns of user and gitleaks rules can be large (`(?i)` over long Unicode
/// classes), so they may use more than the regex crate's 10 MiB default.
const REGEX_SIZE_LIMIT: usize = 64 * 1024 * 1024;

fn build_regex(pattern: &str, unicode: bool) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .unicode(unicode)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
}

/// Compiles a pattern of a configured rule. With `ascii`, Unicode classes are off as in Go's
/// RE2; a pattern that needs them (`\p{L}`) falls back to Unicode mode.
fn build_spec_regex(pattern: &str, ascii: bool) -> Result<Regex, regex::Error> {
    if ascii && let Ok(regex) = build_regex(pattern, false) {
        return Ok(regex);
    }
    build_regex(pattern, true)
}

impl CompiledRule {
    pub fn from_builtin(rule: &'static Rule) -> CompiledRule {
        CompiledRule {
            id: rule.id.to_owned(),
            title: rule.title.to_owned(),
            severity: rule.severity,
            origin: Origin::BuiltIn,
            class: Some(rule.class),
            keywords: rule.keywords.iter().map(|k| (*k).to_owned()).collect(),
            // Built-in patterns are ASCII: without Unicode classes they compile several times
            // faster and `\b`, `\w` and negated classes work on bytes.
            regex: build_regex(rule.pattern, false).expect("built-in rule patterns compile"),
            secret_group: Some(rule.secret_group),
            min_entropy: rule.min_entropy,
            file_names: rule.file_names,
            path: None,
            context: rule
                .context
                .map(|c| build_regex(c, false).expect("built-in context patterns compile")),
            validate: rule.validate,
            binary: rule.binary,
            allowlists: Vec::new(),
        }
    }

    pub fn from_spec(spec: &RuleSpec) -> Result<CompiledRule, RuleError> {
        let regex = build_spec_regex(&spec.regex, spec.ascii).map_err(|err| RuleError::Regex {
            id: spec.id.clone(),
            message: one_line(&err.to_string()),
        })?;
        if let Some(group) = spec.secret_group {
            let groups = regex.captures_len() - 1;
            if group > groups {
                return Err(RuleError::Group {
                    id: spec.id.clone(),
                    group,
                    groups,
                });
            }
        }
        let path = spec
            .path
            .as_deref()
            .map(|p| build_spec_regex(p, spec.ascii))
            .transpose()
            .map_err(|err| RuleError::Path {
                id: spec.id.clone(),
                message: one_line(&err.to_string()),
            })?;
        let allowlists = compile_allowlists(spec)?;
        Ok(CompiledRule {
            id: spec.id.clone(),
            title: spec.title.clone(),
            severity: spec.severity,
            origin: spec.origin,
            class: None,
            keywords: spec.keywords.iter().map(|k| k.to_lowercase()).collect(),
            regex,
            secret_group: spec.secret_group,
            min_entropy: spec.min_entropy,
            file_names: &[],
            path,
            context: None,
            validate: None,
            binary: spec.binary,
            allowlists,
        })
    }

    /// Returns whether the rule applies to a file at `path` named `name`; `None` for config
    /// text, where every rule applies.
    pub fn applies_to(&self, path: Option<&str>) -> bool {
        let Some(path) = path else {
            return self.file_names.is_empty() && self.path.is_none();
        };
        let name = crate::image::fs::file_name(path);
        if !self.file_names.is_empty() && !self.file_names.contains(&name) {
            return false;
        }
        self.path
            .as_ref()
            .is_none_or(|re| re.is_match(path.as_bytes()))
    }

    /// Returns the secret's byte range in `captures`: the configured group, or for gitleaks'
    /// default the first non-empty group, or the whole match.
    pub fn secret_range(
        &self,
        captures: &regex::bytes::Captures<'_>,
    ) -> Option<std::ops::Range<usize>> {
        match self.secret_group {
            Some(group) => captures.get(group).map(|m| m.range()),
            None => (1..captures.len())
                .filter_map(|i| captures.get(i))
                .find(|m| !m.is_empty())
                .or_else(|| captures.get(0))
                .map(|m| m.range()),
        }
    }
}

/// Regex errors span several lines (the pattern with a caret); reports want one.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
