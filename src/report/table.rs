//! Terminal rendering: identity, score, one table row per finding, fixes once per check, and
//! a one-line summary.

use std::fmt::Write as _;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};

use super::{CheckStatus, Report, human_bytes};
use crate::checks::Finding;

/// Width used when stdout is not a terminal, so CI logs stay readable.
const DEFAULT_WIDTH: u16 = 140;
/// Line width of the fix advice below the table.
const FIX_WIDTH: usize = 96;

/// Replaces control characters (from hostile file names or config values) with visible
/// escapes, so that the table cannot move the cursor or recolour the terminal.
///
/// Line breaks are escaped too (a file name with a newline could fake the next table row),
/// so callers sanitize each value before joining values with their own line breaks. Unicode
/// direction overrides and isolates, which can make text read in another order, are escaped
/// as well.
fn sanitize(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            let escaped: Vec<char> = if c.is_control() || bidi {
                c.escape_unicode().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// Returns "1 finding" or "3 findings".
fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    write_identity(&mut out, report);
    let _ = writeln!(
        out,
        "\nScore {}/100   Grade {}\n",
        report.score, report.grade
    );
    if report.findings.is_empty() {
        out.push_str("No findings.\n");
    } else {
        out.push_str(&findings_table(report).to_string());
        out.push('\n');
        write_fixes(&mut out, report);
    }
    write_checks(&mut out, report);
    for warning in &report.warnings {
        let _ = writeln!(out, "warning: {}", sanitize(warning));
    }
    write_summary(&mut out, report);
    out
}

fn write_identity(out: &mut String, report: &Report) {
    let image = &report.image.identity;
    let rows = [
        (
            "Image",
            image
                .reference
                .clone()
                .unwrap_or_else(|| "(untagged)".into()),
        ),
        (
            "Source",
            format!("{} ({})", image.source, image.format.describe()),
        ),
        (
            "Manifest",
            image
                .manifest_digest
                .as_ref()
                .map_or("(none in a classic docker save archive)".into(), |d| {
                    d.to_string()
                }),
        ),
        ("Config", image.config_digest.to_string()),
        ("Platform", image.platform.clone()),
        (
            "Base OS",
            report
                .image
                .base_os
                .clone()
                .unwrap_or_else(|| "unknown (no os-release)".into()),
        ),
        (
            "Size",
            format!(
                "{} stored, {} uncompressed, {}",
                human_bytes(image.size_bytes),
                human_bytes(image.uncompressed_bytes),
                plural(image.layer_count, "layer")
            ),
        ),
        (
            "Audited",
            format!(
                "{} (Node.js release table as of {})",
                report.audit_date, report.node_release_table_as_of
            ),
        ),
    ];
    for (label, value) in rows {
        let _ = writeln!(out, "{label:<9} {}", sanitize(&value));
    }
}

fn findings_table(report: &Report) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec!["SEVERITY", "CHECK", "FINDING", "WHERE"]);
    if table.width().is_none() {
        table.set_width(DEFAULT_WIDTH);
    }
    for finding in &report.findings {
        table.add_row(vec![
            finding.severity.as_str().to_uppercase(),
            finding.check_id.to_owned(),
            describe(finding),
            location(finding),
        ]);
    }
    table
}

fn describe(finding: &Finding) -> String {
    match &finding.evidence {
        Some(evidence) => format!(
            "{}\n{} {}",
            sanitize(&finding.message),
            sanitize(&evidence.masked),
            evidence.fingerprint
        ),
        None => sanitize(&finding.message),
    }
}

fn location(finding: &Finding) -> String {
    let mut parts = Vec::new();
    if let Some(path) = &finding.location.path {
        let path = sanitize(path);
        match finding.location.line {
            Some(line) => parts.push(format!("{path}:{line}")),
            None => parts.push(path),
        }
    }
    if let Some(field) = &finding.location.config_field {
        parts.push(sanitize(field));
    }
    if let Some(layer) = &finding.location.layer {
        match &layer.created_by {
            Some(created_by) => parts.push(format!(
                "layer {}: {}",
                layer.index,
                sanitize(&crate::image::shorten(created_by, 60))
            )),
            None => parts.push(format!("layer {}", layer.index)),
        }
    }
    parts.join("\n")
}

fn write_fixes(out: &mut String, report: &Report) {
    out.push_str("\nHow to fix:\n");
    let mut seen = std::collections::HashSet::new();
    for finding in &report.findings {
        if seen.insert((finding.check_id, finding.fix.clone())) {
            let _ = writeln!(out, "  {}:", finding.check_id);
            for line in wrap(&finding.fix, FIX_WIDTH) {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
}

/// Splits text into lines of at most `width` characters at spaces (longer words stay whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

fn write_checks(out: &mut String, report: &Report) {
    out.push_str("\nChecks:\n");
    for check in &report.checks {
        let status = match check.status {
            CheckStatus::Pass => "pass",
            CheckStatus::Fail => "FAIL",
            CheckStatus::NotApplicable => "n/a",
        };
        let note = check
            .notes
            .first()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        let _ = writeln!(out, "  {status:<4} {}{note}", check.id);
    }
}

fn write_summary(out: &mut String, report: &Report) {
    let counts: Vec<String> = crate::severity::Severity::ALL
        .iter()
        .filter_map(|s| {
            let n = report
                .summary
                .by_severity
                .get(s.as_str())
                .copied()
                .unwrap_or(0);
            (n > 0).then(|| format!("{n} {s}"))
        })
        .collect();
    let findings = if counts.is_empty() {
        "no findings".to_owned()
    } else {
        format!(
            "{} ({})",
            plural(report.summary.findings, "finding"),
            counts.join(", ")
        )
    };
    let gate = if report.gate.passed {
        "gate passed".to_owned()
    } else {
        format!("gate FAILED: {}", report.gate.reasons.join("; "))
    };
    let _ = writeln!(
        out,
        "\nSummary: score {}/100 grade {}, {findings}, {gate}",
        report.score, report.grade
    );
}

/// Renders the secret scan summary for `--explain`: rules, files scanned, files each skip
/// rule left unread, findings each allowlist entry suppressed, and truncations.
pub fn render_scan(scan: &crate::secrets::ScanSummary) -> String {
    let mut out = String::from("\nSecret scan:\n");
    let classes: Vec<String> = scan
        .rules
        .built_in_by_class
        .iter()
        .map(|(class, count)| format!("{class} {count}"))
        .collect();
    let _ = writeln!(
        out,
        "  rules: {} built-in ({}), {} from the config file, {} from a gitleaks file",
        scan.rules.built_in,
        classes.join(", "),
        scan.rules.user,
        scan.rules.gitleaks
    );
    if !scan.rules.disabled.is_empty() {
        let _ = writeln!(out, "  disabled rules: {}", scan.rules.disabled.join(", "));
    }
    let _ = writeln!(
        out,
        "  files scanned: {} ({} binary, {} in chunks), {}; {} keyword automata",
        scan.files_scanned,
        scan.binary_files_scanned,
        scan.files_scanned_in_chunks,
        human_bytes(scan.bytes_scanned),
        scan.keyword_automata
    );
    let _ = writeln!(
        out,
        "  limits: files up to {}, {} matches per file, {} findings per rule",
        human_bytes(scan.max_file_bytes),
        scan.max_matches_per_file,
        scan.max_findings_per_rule
    );
    out.push_str("  skipped files by rule:\n");
    for skip in &scan.skipped {
        let _ = writeln!(
            out,
            "    {:<24} {:>8}  {}",
            skip.rule,
            skip.files,
            sanitize(&skip.description)
        );
    }
    let _ = writeln!(out, "  suppressed findings: {}", scan.suppressed_total);
    for entry in &scan.suppressed {
        let _ = writeln!(
            out,
            "    {:>6}  {} ({})",
            entry.findings,
            sanitize(&entry.allowlist),
            sanitize(&entry.reason)
        );
    }
    if scan.truncated_file_count > 0 {
        let _ = writeln!(
            out,
            "  files truncated at {} matches: {}",
            scan.max_matches_per_file, scan.truncated_file_count
        );
        for path in &scan.truncated_files {
            let _ = writeln!(out, "    {}", sanitize(path));
        }
    }
    for rule in &scan.truncated_rules {
        let _ = writeln!(
            out,
            "  rule {} truncated: {} reported, {} more not reported",
            rule.rule, rule.kept, rule.dropped
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn sanitize_escapes_control_characters() {
        assert_eq!(super::sanitize("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        assert_eq!(super::sanitize("line\nnext"), "line\\u{a}next");
        assert_eq!(super::sanitize("evil\u{202e}txt.sh"), "evil\\u{202e}txt.sh");
        assert_eq!(super::sanitize("café"), "café");
    }

    #[test]
    fn wrap_breaks_at_spaces() {
        assert_eq!(wrap("aa bb cc dd", 5), vec!["aa bb", "cc dd"]);
        assert_eq!(
            wrap("averyveryverylongword x", 5),
            vec!["averyveryverylongword", "x"]
        );
        assert!(wrap("", 5).is_empty());
    }
}
