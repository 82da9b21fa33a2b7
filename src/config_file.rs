//! The configuration file, `.imgaudit.toml` by default: extra secret rules, allowlists with
//! reasons, skip rules, limits, and a gitleaks rule file to load. Documented in
//! docs/configuration.md.
//!
//! Unknown keys are errors, so that a misspelt key does not silently change nothing.

use std::path::{Path, PathBuf};

use crate::secrets::gitleaks::{self, GitleaksError};
use crate::secrets::{
    AllowlistSpec, Condition, Limits, Origin, RegexTarget, RuleSpec, ScannerConfig, SkipSpec,
};
use crate::severity::Severity;

/// File name looked for in the working directory when `--config` is not given.
pub const DEFAULT_FILE_NAME: &str = ".imgaudit.toml";

/// Error reading or validating the configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("failed to read the config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the config file {path} is invalid: {message}")]
    Parse { path: String, message: String },
    #[error("the config file {path} is invalid: {message}")]
    Invalid { path: String, message: String },
    #[error(transparent)]
    Gitleaks(#[from] GitleaksError),
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    secrets: Secrets,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Secrets {
    /// A gitleaks TOML file, relative to this file.
    gitleaks_config: Option<PathBuf>,
    #[serde(default)]
    disabled_rules: Vec<String>,
    #[serde(default)]
    disabled_skips: Vec<String>,
    max_file_bytes: Option<Size>,
    max_matches_per_file: Option<usize>,
    max_findings_per_rule: Option<usize>,
    #[serde(default)]
    rules: Vec<RuleEntry>,
    #[serde(default)]
    allowlist: Vec<AllowlistEntry>,
    #[serde(default)]
    skip: Vec<SkipEntry>,
}

/// A byte count: an integer, or a string with a KiB/MiB/GiB suffix.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Size {
    Bytes(u64),
    Text(String),
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    id: String,
    title: Option<String>,
    severity: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
    regex: String,
    secret_group: Option<usize>,
    entropy: Option<f64>,
    path: Option<String>,
    #[serde(default)]
    binary: bool,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowlistEntry {
    reason: Option<String>,
    #[serde(default)]
    rules: Vec<String>,
    condition: Option<Condition>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    regexes: Vec<String>,
    regex_target: Option<RegexTarget>,
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default)]
    fingerprints: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SkipEntry {
    id: String,
    reason: Option<String>,
    paths: Vec<String>,
}

/// Reads the configuration: `explicit` when given, else `.imgaudit.toml` in `cwd` if it
/// exists, else the defaults. `gitleaks_override` (from `--gitleaks-config`) replaces the
/// file's `gitleaks_config`. Returns the scanner configuration and the file that was read.
pub fn load(
    explicit: Option<&Path>,
    cwd: &Path,
    gitleaks_override: Option<&Path>,
) -> Result<(ScannerConfig, Option<PathBuf>), ConfigFileError> {
    let path = match explicit {
        Some(path) => Some(path.to_path_buf()),
        None => Some(cwd.join(DEFAULT_FILE_NAME)).filter(|p| p.is_file()),
    };
    let (mut config, gitleaks_path) = match &path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
                path: path.display().to_string(),
                source,
            })?;
            let base = path.parent().unwrap_or(Path::new("."));
            parse(&text, &path.display().to_string(), base)?
        }
        None => (ScannerConfig::default(), None),
    };
    if let Some(gitleaks_path) = gitleaks_override.map(Path::to_path_buf).or(gitleaks_path) {
        let loaded = gitleaks::load(&gitleaks_path)?;
        tracing::info!(
            path = %gitleaks_path.display(),
            rules = loaded.rules.len(),
            allowlists = loaded.allowlists.len(),
            "loaded gitleaks config"
        );
        config.rules.extend(loaded.rules);
        config.allowlists.extend(loaded.allowlists);
        config.warnings.extend(loaded.warnings);
    }
    Ok((config, path))
}

/// Converts the text of a configuration file. `label` names it in messages, and relative
/// paths inside it resolve against `base`. Returns the configuration and the gitleaks file
/// it names, if any.
pub fn parse(
    text: &str,
    label: &str,
    base: &Path,
) -> Result<(ScannerConfig, Option<PathBuf>), ConfigFileError> {
    let file: File = toml::from_str(text).map_err(|err| ConfigFileError::Parse {
        path: label.to_owned(),
        message: one_line(&err.to_string()),
    })?;
    let invalid = |message: String| ConfigFileError::Invalid {
        path: label.to_owned(),
        message,
    };
    let secrets = file.secrets;

    let mut limits = Limits::default();
    if let Some(size) = secrets.max_file_bytes {
        limits.max_file_bytes = match size {
            Size::Bytes(bytes) => bytes,
            Size::Text(text) => crate::cli::parse_size(&text)
                .map_err(|message| invalid(format!("secrets.max_file_bytes: {message}")))?,
        };
    }
    if let Some(max) = secrets.max_matches_per_file {
        limits.max_matches_per_file = max;
    }
    if let Some(max) = secrets.max_findings_per_rule {
        limits.max_findings_per_rule = max;
    }

    let mut rules = Vec::new();
    for entry in secrets.rules {
        rules.push(convert_rule(entry).map_err(invalid)?);
    }
    let mut allowlists = Vec::new();
    for (index, entry) in secrets.allowlist.into_iter().enumerate() {
        allowlists.push(convert_allowlist(entry, index + 1, label).map_err(invalid)?);
    }
    let skips = secrets
        .skip
        .into_iter()
        .map(|entry| SkipSpec {
            reason: entry
                .reason
                .unwrap_or_else(|| format!("skip rule {} of {label}", entry.id)),
            id: entry.id,
            paths: entry.paths,
        })
        .collect();

    let config = ScannerConfig {
        rules,
        allowlists,
        disabled_rules: secrets.disabled_rules,
        skips,
        disabled_skips: secrets.disabled_skips,
        limits,
        warnings: Vec::new(),
    };
    let gitleaks_path = secrets.gitleaks_config.map(|p| base.join(p));
    Ok((config, gitleaks_path))
}

fn convert_rule(entry: RuleEntry) -> Result<RuleSpec, String> {
    if entry.id.is_empty()
        || !entry
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:.".contains(&b))
    {
        return Err(format!(
            "rule id {:?} must be non-empty letters, digits, '-', '_', ':' or '.'",
            entry.id
        ));
    }
    if entry.regex.is_empty() && entry.path.is_none() {
        return Err(format!(
            "rule {:?}: regex is empty; give a regex, or a path for a rule that reports whole files",
            entry.id
        ));
    }
    let severity = match entry.severity.as_deref() {
        None => Severity::High,
        Some(text) => text
            .parse()
            .map_err(|err| format!("rule {:?}: severity: {err}", entry.id))?,
    };
    Ok(RuleSpec {
        title: entry.title.unwrap_or_else(|| entry.id.clone()),
        id: entry.id,
        severity,
        keywords: entry.keywords,
        regex: entry.regex,
        secret_group: entry.secret_group,
        min_entropy: entry.entropy.unwrap_or(0.0),
        path: entry.path,
        binary: entry.binary,
        ascii: false,
        allowlists: Vec::new(),
        origin: Origin::User,
    })
}

fn convert_allowlist(
    entry: AllowlistEntry,
    number: usize,
    label: &str,
) -> Result<AllowlistSpec, String> {
    let source = format!("{label} allowlist {number}");
    let reason = entry
        .reason
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| {
            format!("allowlist {number} has no reason; say why its findings are not secrets (reason = \"…\")")
        })?;
    if let Some(bad) = entry.fingerprints.iter().find(|f| !is_fingerprint(f)) {
        return Err(format!(
            "allowlist {number}: {bad:?} is not a fingerprint; copy one from a report (sha256: and 16 hex digits)"
        ));
    }
    Ok(AllowlistSpec {
        source,
        reason,
        rules: entry.rules,
        condition: entry.condition.unwrap_or_default(),
        paths: entry.paths,
        regexes: entry.regexes,
        regex_target: entry.regex_target.unwrap_or_default(),
        stopwords: entry.stopwords,
        fingerprints: entry.fingerprints,
        origin: Origin::User,
    })
}

fn is_fingerprint(text: &str) -> bool {
    text.strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<(ScannerConfig, Option<PathBuf>), ConfigFileError> {
        parse(text, ".imgaudit.toml", Path::new("/work"))
    }

    #[test]
    fn full_file_parses() {
        let (config, gitleaks) = parse_text(
            r#"
[secrets]
gitleaks_config = "ci/gitleaks.toml"
disabled_rules = ["jwt"]
disabled_skips = ["package-tests"]
max_file_bytes = "64MiB"
max_matches_per_file = 10
max_findings_per_rule = 20

[[secrets.rules]]
id = "acme-api-key"
title = "ACME API key"
severity = "critical"
keywords = ["acme_"]
regex = '''\b(acme_[a-z0-9]{32})\b'''
secret_group = 1
entropy = 3.5

[[secrets.allowlist]]
reason = "fixture keys of the integration tests"
paths = ['''^/app/test/fixtures/''']
fingerprints = ["sha256:0123456789abcdef"]

[[secrets.skip]]
id = "vendored"
reason = "third-party code"
paths = ['''^/opt/vendor/''']
"#,
        )
        .unwrap();
        assert_eq!(gitleaks, Some(PathBuf::from("/work/ci/gitleaks.toml")));
        assert_eq!(config.disabled_rules, vec!["jwt"]);
        assert_eq!(config.limits.max_file_bytes, 64 << 20);
        assert_eq!(config.limits.max_matches_per_file, 10);
        assert_eq!(config.rules[0].severity, Severity::Critical);
        assert_eq!(config.rules[0].origin, Origin::User);
        assert_eq!(config.allowlists[0].source, ".imgaudit.toml allowlist 1");
        assert_eq!(config.skips[0].id, "vendored");
    }

    #[test]
    fn allowlist_without_reason_is_rejected() {
        let err =
            parse_text("[[secrets.allowlist]]\nfingerprints = [\"sha256:0123456789abcdef\"]\n")
                .unwrap_err();
        assert!(err.to_string().contains("has no reason"), "{err}");
    }

    #[test]
    fn malformed_fingerprint_is_rejected() {
        let err = parse_text("[[secrets.allowlist]]\nreason = \"x\"\nfingerprints = [\"abc\"]\n")
            .unwrap_err();
        assert!(err.to_string().contains("not a fingerprint"), "{err}");
    }

    #[test]
    fn unknown_key_is_rejected() {
        let err = parse_text("[secrets]\nmax_file_size = 10\n").unwrap_err();
        assert!(err.to_string().contains("max_file_size"), "{err}");
    }

    #[test]
    fn bad_severity_names_the_rule() {
        let err =
            parse_text("[[secrets.rules]]\nid = \"x\"\nregex = \"y\"\nseverity = \"urgent\"\n")
                .unwrap_err();
        assert!(err.to_string().contains("rule \"x\""), "{err}");
    }

    #[test]
    fn empty_regex_needs_a_path() {
        let err = parse_text("[[secrets.rules]]\nid = \"x\"\nregex = \"\"\n").unwrap_err();
        assert!(err.to_string().contains("regex is empty"), "{err}");
        let (config, _) =
            parse_text("[[secrets.rules]]\nid = \"p12\"\nregex = \"\"\npath = '''\\.p12$'''\n")
                .unwrap();
        assert_eq!(config.rules[0].path.as_deref(), Some(r"\.p12$"));
    }

    #[test]
    fn missing_default_file_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let (config, path) = load(None, dir.path(), None).unwrap();
        assert!(path.is_none());
        assert!(config.rules.is_empty());
    }

    #[test]
    fn explicit_missing_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(Some(&dir.path().join("nope.toml")), dir.path(), None).unwrap_err();
        assert!(err.to_string().contains("nope.toml"), "{err}");
    }
}
