//! SARIF 2.1.0 rendering, for code-scanning dashboards (GitHub, GitLab, Azure DevOps). Each
//! check is a rule; each finding a result whose location is the file path inside the image
//! (or the config field) and whose fingerprint lets dashboards track it across runs.

use serde_json::{Value, json};

use super::Report;
use crate::checks::{CHECKS, Finding};
use crate::severity::Severity;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// SARIF `level` for a severity: errors block, warnings need attention, notes inform.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub's `security-severity` score (0.0–10.0) for a severity.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

fn rules() -> Vec<Value> {
    CHECKS
        .iter()
        .map(|check| {
            json!({
                "id": check.id,
                "name": check.id,
                "shortDescription": {"text": check.title},
                "help": {"text": check.fix},
                "helpUri": format!("docs/checks/{}.md", check.id),
                "properties": {"tags": ["container", "security"]},
            })
        })
        .collect()
}

fn result(report: &Report, finding: &Finding) -> Value {
    let rule_index = CHECKS
        .iter()
        .position(|c| c.id == finding.check_id)
        .unwrap_or(0);
    // A path inside the image, made relative so viewers do not resolve it on the host.
    let uri = finding
        .location
        .path
        .as_deref()
        .map(|p| p.trim_start_matches('/').to_owned())
        .or_else(|| finding.location.config_field.clone())
        .unwrap_or_else(|| "image-config".to_owned());
    let mut region = json!({});
    if let Some(line) = finding.location.line {
        region = json!({"startLine": line});
    }
    let mut physical = json!({"artifactLocation": {"uri": uri, "uriBaseId": "IMAGE"}});
    if finding.location.line.is_some() {
        physical["region"] = region;
    }
    let mut message = finding.message.clone();
    if let Some(evidence) = &finding.evidence {
        message.push_str(&format!(" [{} {}]", evidence.masked, evidence.fingerprint));
    }
    // SARIF `fixes` must carry file edits; the advice goes into properties instead.
    let mut properties = json!({
        "fix": finding.fix,
        "severity": finding.severity.as_str(),
        "security-severity": security_severity(finding.severity),
    });
    let identity = &report.image.identity;
    properties["image"] = json!({
        "reference": identity.reference,
        "configDigest": identity.config_digest.to_string(),
    });
    if let Some(layer) = &finding.location.layer {
        properties["layer"] = json!({
            "index": layer.index,
            "digest": layer.digest,
            "createdBy": layer.created_by,
        });
    }
    let stable_key = format!(
        "{}:{}:{}:{}",
        finding.check_id,
        uri,
        finding.location.line.unwrap_or(0),
        finding
            .evidence
            .as_ref()
            .map_or_else(|| finding.message.clone(), |e| e.fingerprint.clone())
    );
    json!({
        "ruleId": finding.check_id,
        "ruleIndex": rule_index,
        "level": level(finding.severity),
        "message": {"text": message},
        "locations": [{"physicalLocation": physical}],
        "partialFingerprints": {"imgaudit/v1": crate::digest::Digest::sha256_of(stable_key.as_bytes()).hex()[..32].to_owned()},
        "properties": properties,
    })
}

pub fn render(report: &Report) -> String {
    let results: Vec<Value> = report.findings.iter().map(|f| result(report, f)).collect();
    let sarif = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "imgaudit",
                "version": report.tool_version,
                "rules": rules(),
            }},
            "originalUriBaseIds": {"IMAGE": {"description": {"text": format!("the filesystem of {}", report.image.identity.source)}}},
            "results": results,
            "properties": {
                "score": report.score,
                "grade": report.grade,
                "auditDate": report.audit_date,
                "gatePassed": report.gate.passed,
            },
        }],
    });
    let mut text = serde_json::to_string_pretty(&sarif).expect("SARIF serialises");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_severity() {
        assert_eq!(level(Severity::Critical), "error");
        assert_eq!(level(Severity::Medium), "warning");
        assert_eq!(level(Severity::Info), "note");
    }

    #[test]
    fn every_check_is_a_rule() {
        let rules = rules();
        assert_eq!(rules.len(), CHECKS.len());
        for (rule, check) in rules.iter().zip(CHECKS) {
            assert_eq!(rule["id"], check.id);
        }
    }
}
