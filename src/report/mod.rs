//! The report: one value built from the image identity and check outcomes, and one renderer
//! per output format that only formats it. Findings are sorted so output is deterministic.

mod json;
mod sarif;
mod table;

use std::collections::BTreeMap;

use crate::checks::{CHECKS, Check, Finding, Outcome};
use crate::image::ImageIdentity;
use crate::score::{CheckScore, Gate, GateResult, grade, score};
use crate::severity::Severity;

/// Version of the JSON report layout; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ImageSummary {
    #[serde(flatten)]
    pub identity: ImageIdentity,
    /// `PRETTY_NAME` of os-release, when the image has one.
    pub base_os: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    Pass,
    Fail,
    NotApplicable,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct CheckSummary {
    pub id: &'static str,
    pub title: &'static str,
    pub status: CheckStatus,
    pub weight: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst_severity: Option<Severity>,
    /// What the check judged, or why it was not applicable.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    pub findings: usize,
    pub by_severity: BTreeMap<&'static str, usize>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: String,
    pub tool_version: &'static str,
    /// Date the audit judged against (Node.js end of life).
    pub audit_date: String,
    pub node_release_table_as_of: String,
    pub image: ImageSummary,
    pub score: u32,
    pub grade: String,
    pub gate: GateResult,
    pub checks: Vec<CheckSummary>,
    pub findings: Vec<Finding>,
    pub summary: Summary,
    pub warnings: Vec<String>,
    /// What the secret scan read, skipped, suppressed and truncated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<crate::secrets::ScanSummary>,
}

/// Inputs to [`Report::build`] besides the check outcomes.
pub struct ReportContext {
    pub image: ImageSummary,
    pub audit_date: String,
    pub gate: Gate,
    pub warnings: Vec<String>,
}

impl Report {
    pub fn build(ctx: ReportContext, outcomes: Vec<(&'static Check, Outcome)>) -> Report {
        let mut checks = Vec::new();
        let mut findings = Vec::new();
        let mut scores = Vec::new();
        for (check, outcome) in outcomes {
            let (summary, check_findings) = summarize(check, outcome);
            scores.push(CheckScore {
                weight: check.weight,
                evaluated: match summary.status {
                    CheckStatus::NotApplicable => None,
                    _ => Some(summary.worst_severity),
                },
            });
            checks.push(summary);
            findings.extend(check_findings);
        }
        sort_findings(&mut findings);

        let value = score(&scores);
        let worst = findings.iter().map(|f| f.severity).max();
        let severities: Vec<Severity> = findings.iter().map(|f| f.severity).collect();
        let gate = ctx.gate.evaluate(value, &severities);
        let mut by_severity = BTreeMap::new();
        for severity in Severity::ALL {
            by_severity.insert(
                severity.as_str(),
                findings.iter().filter(|f| f.severity == severity).count(),
            );
        }
        Report {
            schema_version: SCHEMA_VERSION,
            tool: "imgaudit".into(),
            tool_version: env!("CARGO_PKG_VERSION"),
            audit_date: ctx.audit_date,
            node_release_table_as_of: crate::nodejs::TABLE_AS_OF.to_string(),
            image: ctx.image,
            score: value,
            grade: grade(value, worst).to_string(),
            gate,
            checks,
            summary: Summary {
                findings: findings.len(),
                by_severity,
            },
            findings,
            warnings: ctx.warnings,
            scan: None,
        }
    }

    /// Renders the secret scan summary as text, for `--explain`; empty without one.
    pub fn render_scan(&self) -> String {
        self.scan
            .as_ref()
            .map(table::render_scan)
            .unwrap_or_default()
    }

    /// Renders the report in `format`.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Table => table::render(self),
            Format::Json => json::render(self),
            Format::Sarif => sarif::render(self),
        }
    }
}

fn summarize(check: &'static Check, outcome: Outcome) -> (CheckSummary, Vec<Finding>) {
    match outcome {
        Outcome::NotApplicable(reason) => (
            CheckSummary {
                id: check.id,
                title: check.title,
                status: CheckStatus::NotApplicable,
                weight: check.weight,
                worst_severity: None,
                notes: vec![reason],
            },
            Vec::new(),
        ),
        Outcome::Evaluated { findings, notes } => {
            let worst = findings.iter().map(|f| f.severity).max();
            let status = if findings.is_empty() {
                CheckStatus::Pass
            } else {
                CheckStatus::Fail
            };
            (
                CheckSummary {
                    id: check.id,
                    title: check.title,
                    status,
                    weight: check.weight,
                    worst_severity: worst,
                    notes,
                },
                findings,
            )
        }
    }
}

/// Orders findings by severity (worst first), then check order, path, line and message.
fn sort_findings(findings: &mut [Finding]) {
    let check_order = |id: &str| CHECKS.iter().position(|c| c.id == id).unwrap_or(usize::MAX);
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| check_order(a.check_id).cmp(&check_order(b.check_id)))
            .then_with(|| a.location.path.cmp(&b.location.path))
            .then_with(|| a.location.line.cmp(&b.location.line))
            .then_with(|| a.message.cmp(&b.message))
    });
}

/// Formats a byte count with binary units: `12.3 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_uses_binary_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(250 * 1024 * 1024), "250.0 MiB");
    }
}
