//! Counters of one scan and the summary that the report's `scan` section shows: rules,
//! files scanned and skipped (per skip rule), findings suppressed (per allowlist entry with
//! its reason), and files and rules whose findings were truncated.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Scanner;
use super::compiled::Origin;
use super::engine::Outcome;

/// Most truncated files listed by name; the rest are only counted.
const MAX_LISTED_TRUNCATED_FILES: usize = 100;

pub struct Stats {
    files: AtomicU64,
    binary_files: AtomicU64,
    chunked_files: AtomicU64,
    bytes: AtomicU64,
    too_large: AtomicU64,
    truncated_file_count: AtomicU64,
    truncated_files: Mutex<Vec<String>>,
    truncated_rules: Mutex<Vec<TruncatedRule>>,
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            files: AtomicU64::new(0),
            binary_files: AtomicU64::new(0),
            chunked_files: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            too_large: AtomicU64::new(0),
            truncated_file_count: AtomicU64::new(0),
            truncated_files: Mutex::new(Vec::new()),
            truncated_rules: Mutex::new(Vec::new()),
        }
    }

    pub fn count_file(&self, path: &str, outcome: &Outcome) {
        self.files.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(outcome.bytes, Ordering::Relaxed);
        if outcome.binary {
            self.binary_files.fetch_add(1, Ordering::Relaxed);
        }
        if outcome.chunks > 1 {
            self.chunked_files.fetch_add(1, Ordering::Relaxed);
        }
        if outcome.truncated {
            self.truncated_file_count.fetch_add(1, Ordering::Relaxed);
            let mut listed = self
                .truncated_files
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if listed.len() < MAX_LISTED_TRUNCATED_FILES {
                listed.push(path.to_owned());
            }
        }
    }

    pub fn count_too_large(&self) {
        self.too_large.fetch_add(1, Ordering::Relaxed);
    }

    pub fn too_large(&self) -> u64 {
        self.too_large.load(Ordering::Relaxed)
    }

    pub fn record_truncated_rule(&self, rule: &str, kept: usize, dropped: usize) {
        self.truncated_rules
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(TruncatedRule {
                rule: rule.to_owned(),
                kept,
                dropped,
            });
    }
}

/// Rules of each origin that the scan ran.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RuleCounts {
    pub built_in: usize,
    pub user: usize,
    pub gitleaks: usize,
    /// Built-in rules turned off in the configuration file.
    pub disabled: Vec<String>,
    /// Built-in rules per provider class.
    pub built_in_by_class: BTreeMap<&'static str, usize>,
}

/// Files one skip rule left unread.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SkipCount {
    pub rule: String,
    pub description: String,
    pub files: u64,
}

/// Findings one allowlist entry suppressed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SuppressedCount {
    pub allowlist: String,
    pub reason: String,
    pub findings: u64,
}

/// Findings of one rule dropped by the per-rule limit.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TruncatedRule {
    pub rule: String,
    pub kept: usize,
    pub dropped: usize,
}

/// Summary of one secret scan, for the report's `scan` section and `--explain`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ScanSummary {
    pub rules: RuleCounts,
    pub keyword_automata: usize,
    pub files_scanned: u64,
    /// Files with a NUL byte near the start, scanned only by rules meant for binaries.
    pub binary_files_scanned: u64,
    /// Files larger than one 1 MiB chunk, scanned in overlapping chunks.
    pub files_scanned_in_chunks: u64,
    pub bytes_scanned: u64,
    pub max_file_bytes: u64,
    pub max_matches_per_file: usize,
    pub max_findings_per_rule: usize,
    /// Files each skip rule left unread; `too-large` counts files above `max_file_bytes`.
    pub skipped: Vec<SkipCount>,
    /// Findings suppressed by each allowlist entry.
    pub suppressed: Vec<SuppressedCount>,
    pub suppressed_total: u64,
    /// Files where the per-file limit stopped the scan (at most 100 listed).
    pub truncated_files: Vec<String>,
    pub truncated_file_count: u64,
    pub truncated_rules: Vec<TruncatedRule>,
    /// Problems with the configuration, such as gitleaks rules that do not compile.
    pub warnings: Vec<String>,
}

fn lock_clone<T: Clone>(list: &Mutex<Vec<T>>) -> Vec<T> {
    list.lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

pub fn summarize(scanner: &Scanner) -> ScanSummary {
    let stats = &scanner.stats;
    let suppressed = suppressed_counts(scanner);
    let mut truncated_files = lock_clone(&stats.truncated_files);
    truncated_files.sort();
    let mut truncated_rules = lock_clone(&stats.truncated_rules);
    truncated_rules.sort_by(|a, b| a.rule.cmp(&b.rule));

    ScanSummary {
        rules: rule_counts(scanner),
        keyword_automata: scanner.prefilter.automaton_count(),
        files_scanned: stats.files.load(Ordering::Relaxed),
        binary_files_scanned: stats.binary_files.load(Ordering::Relaxed),
        files_scanned_in_chunks: stats.chunked_files.load(Ordering::Relaxed),
        bytes_scanned: stats.bytes.load(Ordering::Relaxed),
        max_file_bytes: scanner.limits.max_file_bytes,
        max_matches_per_file: scanner.limits.max_matches_per_file,
        max_findings_per_rule: scanner.limits.max_findings_per_rule,
        skipped: skip_counts(scanner),
        suppressed_total: suppressed.iter().map(|s| s.findings).sum(),
        suppressed,
        truncated_files,
        truncated_file_count: stats.truncated_file_count.load(Ordering::Relaxed),
        truncated_rules,
        warnings: scanner.warnings.clone(),
    }
}

fn rule_counts(scanner: &Scanner) -> RuleCounts {
    let count = |origin: Origin| {
        let regex_rules = scanner.rules.iter().filter(|r| r.origin == origin).count();
        let path_rules = scanner.path_rules.iter().filter(|r| r.origin == origin);
        regex_rules + path_rules.count()
    };
    let mut by_class = BTreeMap::new();
    for rule in &scanner.rules {
        if let Some(class) = rule.class {
            *by_class.entry(class.as_str()).or_insert(0) += 1;
        }
    }
    RuleCounts {
        built_in: count(Origin::BuiltIn),
        user: count(Origin::User),
        gitleaks: count(Origin::Gitleaks),
        disabled: scanner.disabled_rules.clone(),
        built_in_by_class: by_class,
    }
}

fn skip_counts(scanner: &Scanner) -> Vec<SkipCount> {
    let mut skipped: Vec<SkipCount> = scanner
        .scope
        .rules
        .iter()
        .map(|rule| SkipCount {
            rule: rule.id.clone(),
            description: rule.description.clone(),
            files: rule.files(),
        })
        .collect();
    skipped.push(SkipCount {
        rule: "too-large".into(),
        description: format!(
            "files above max_file_bytes ({} bytes)",
            scanner.scope.max_file_bytes
        ),
        files: scanner.stats.too_large(),
    });
    skipped
}

fn suppressed_counts(scanner: &Scanner) -> Vec<SuppressedCount> {
    scanner
        .allowlists
        .iter()
        .chain(scanner.rules.iter().flat_map(|r| &r.allowlists))
        .chain(scanner.path_rules.iter().flat_map(|r| &r.allowlists))
        .map(|list| SuppressedCount {
            allowlist: list.source.clone(),
            reason: list.reason.clone(),
            findings: list.suppressed(),
        })
        .collect()
}
