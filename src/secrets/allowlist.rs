//! Allowlists: conditions under which a match is not reported, each with the reason the user
//! gave and a count of the findings it suppressed.
//!
//! The model follows gitleaks' allowlists, so that a gitleaks configuration loads as is:
//! criteria on the path, on the secret (or the whole match, or its line), stop words inside
//! the secret, and fingerprints. With condition `OR` (the default) any one criterion
//! suppresses; with `AND` every criterion that the entry sets must hold.

use std::sync::atomic::{AtomicU64, Ordering};

use regex::bytes::Regex;

/// Text that an allowlist's `regexes` are matched against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegexTarget {
    /// The extracted secret.
    #[default]
    Secret,
    /// The whole regex match, including any key name around the secret.
    Match,
    /// The line that contains the match.
    Line,
}

/// Combination of an allowlist's criteria.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Condition {
    #[default]
    Or,
    And,
}

/// An allowlist as written in a configuration file, before its regexes are compiled.
#[derive(Clone, Debug)]
pub struct AllowlistSpec {
    /// Origin of the entry, for the report: `.imgaudit.toml allowlist 2`.
    pub source: String,
    pub reason: String,
    /// Rule ids the entry applies to; empty for every rule.
    pub rules: Vec<String>,
    pub condition: Condition,
    /// Regexes on the file path (for config findings: the config field, `config.Env`).
    pub paths: Vec<String>,
    pub regexes: Vec<String>,
    pub regex_target: RegexTarget,
    /// Substrings that, found in the secret (ignoring ASCII case), mark it as not secret.
    pub stopwords: Vec<String>,
    /// Fingerprints as the report prints them (`sha256:` and 16 hex digits).
    pub fingerprints: Vec<String>,
    /// Where the entry was read; an invalid entry of a gitleaks file is skipped with a
    /// warning rather than rejected.
    pub origin: super::compiled::Origin,
}

/// Invalid regex in an allowlist.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: invalid regex {pattern:?}: {message}")]
pub struct AllowlistError {
    pub source_name: String,
    pub pattern: String,
    pub message: String,
}

/// A compiled allowlist with its suppression counter.
#[derive(Debug)]
pub struct Allowlist {
    pub source: String,
    pub reason: String,
    rules: Vec<String>,
    condition: Condition,
    paths: Vec<Regex>,
    regexes: Vec<Regex>,
    regex_target: RegexTarget,
    stopwords: Vec<String>,
    fingerprints: Vec<String>,
    suppressed: AtomicU64,
}

/// The facts about one match that allowlists judge.
pub struct Candidate<'a> {
    pub rule_id: &'a str,
    /// File path, or the config field for config findings; `None` when unknown.
    pub path: Option<&'a str>,
    pub secret: &'a [u8],
    pub whole_match: &'a [u8],
    pub line: &'a [u8],
    pub fingerprint: &'a str,
}

impl Default for AllowlistSpec {
    fn default() -> AllowlistSpec {
        AllowlistSpec {
            source: String::new(),
            reason: String::new(),
            rules: Vec::new(),
            condition: Condition::Or,
            paths: Vec::new(),
            regexes: Vec::new(),
            regex_target: RegexTarget::Secret,
            stopwords: Vec::new(),
            fingerprints: Vec::new(),
            origin: super::compiled::Origin::User,
        }
    }
}

impl Allowlist {
    pub fn compile(spec: &AllowlistSpec) -> Result<Allowlist, AllowlistError> {
        let compile = |pattern: &String| {
            Regex::new(pattern).map_err(|err| AllowlistError {
                source_name: spec.source.clone(),
                pattern: pattern.clone(),
                message: err.to_string(),
            })
        };
        Ok(Allowlist {
            source: spec.source.clone(),
            reason: spec.reason.clone(),
            rules: spec.rules.clone(),
            condition: spec.condition,
            paths: spec.paths.iter().map(compile).collect::<Result<_, _>>()?,
            regexes: spec.regexes.iter().map(compile).collect::<Result<_, _>>()?,
            regex_target: spec.regex_target,
            stopwords: spec
                .stopwords
                .iter()
                .map(|w| w.to_ascii_lowercase())
                .collect(),
            fingerprints: spec.fingerprints.clone(),
            suppressed: AtomicU64::new(0),
        })
    }

    /// Returns whether the entry sets no criterion that imgaudit can evaluate, so it can
    /// never suppress anything (a gitleaks entry with only `commits`).
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
            && self.regexes.is_empty()
            && self.stopwords.is_empty()
            && self.fingerprints.is_empty()
    }

    pub fn suppressed(&self) -> u64 {
        self.suppressed.load(Ordering::Relaxed)
    }

    /// Returns whether the entry suppresses `candidate`, and counts it when it does.
    pub fn suppresses(&self, candidate: &Candidate<'_>) -> bool {
        if !self.rules.is_empty() && !self.rules.iter().any(|r| r == candidate.rule_id) {
            return false;
        }
        let mut results = Vec::with_capacity(4);
        if !self.paths.is_empty() {
            let hit = candidate
                .path
                .is_some_and(|p| self.paths.iter().any(|re| re.is_match(p.as_bytes())));
            results.push(hit);
        }
        if !self.regexes.is_empty() {
            let target = match self.regex_target {
                RegexTarget::Secret => candidate.secret,
                RegexTarget::Match => candidate.whole_match,
                RegexTarget::Line => candidate.line,
            };
            results.push(self.regexes.iter().any(|re| re.is_match(target)));
        }
        if !self.stopwords.is_empty() {
            let secret = candidate.secret.to_ascii_lowercase();
            let hit = self
                .stopwords
                .iter()
                .any(|w| memchr::memmem::find(&secret, w.as_bytes()).is_some());
            results.push(hit);
        }
        if !self.fingerprints.is_empty() {
            results.push(self.fingerprints.iter().any(|f| f == candidate.fingerprint));
        }
        let suppressed = match self.condition {
            Condition::Or => results.iter().any(|r| *r),
            Condition::And => !results.is_empty() && results.iter().all(|r| *r),
        };
        if suppressed {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
        suppressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate<'a>(path: &'a str, secret: &'a [u8]) -> Candidate<'a> {
        Candidate {
            rule_id: "npm-token",
            path: Some(path),
            secret,
            whole_match: secret,
            line: secret,
            fingerprint: "sha256:0011223344556677",
        }
    }

    #[test]
    fn or_condition_needs_one_criterion() {
        let list = Allowlist::compile(&AllowlistSpec {
            paths: vec!["^/app/test/".into()],
            fingerprints: vec!["sha256:ffffffffffffffff".into()],
            ..AllowlistSpec::default()
        })
        .unwrap();
        assert!(list.suppresses(&candidate("/app/test/fixture.env", b"x")));
        assert!(!list.suppresses(&candidate("/app/.env", b"x")));
        assert_eq!(list.suppressed(), 1);
    }

    #[test]
    fn and_condition_needs_every_criterion() {
        let list = Allowlist::compile(&AllowlistSpec {
            condition: Condition::And,
            paths: vec!["^/app/test/".into()],
            stopwords: vec!["FIXTURE".into()],
            ..AllowlistSpec::default()
        })
        .unwrap();
        assert!(list.suppresses(&candidate("/app/test/a", b"npm_fixture_value")));
        assert!(!list.suppresses(&candidate("/app/test/a", b"npm_real_value")));
        assert!(!list.suppresses(&candidate("/app/a", b"npm_fixture_value")));
    }

    #[test]
    fn rule_filter_limits_the_entry() {
        let list = Allowlist::compile(&AllowlistSpec {
            rules: vec!["jwt".into()],
            fingerprints: vec!["sha256:0011223344556677".into()],
            ..AllowlistSpec::default()
        })
        .unwrap();
        assert!(!list.suppresses(&candidate("/app/a", b"x")));
    }

    #[test]
    fn regex_target_selects_the_text() {
        let list = Allowlist::compile(&AllowlistSpec {
            regexes: vec!["notsecret".into()],
            regex_target: RegexTarget::Line,
            ..AllowlistSpec::default()
        })
        .unwrap();
        let mut found = candidate("/app/a", b"token");
        found.line = b"token = abc # notsecret";
        assert!(list.suppresses(&found));
    }

    #[test]
    fn invalid_regex_names_the_source() {
        let err = Allowlist::compile(&AllowlistSpec {
            source: "allowlist 3".into(),
            regexes: vec!["(".into()],
            ..AllowlistSpec::default()
        })
        .unwrap_err();
        assert!(
            err.to_string().starts_with("allowlist 3: invalid regex"),
            "{err}"
        );
    }
}
