//! `secret-in-config`: credentials in the image config, where anyone who can pull the image
//! reads them with `docker inspect`: `Env`, `Labels`, and history lines, including the build
//! arguments that builders record there.

use std::collections::HashSet;

use super::history::assignments;
use super::{Check, CheckContext, Evidence, Finding, Location, Outcome};
use crate::secrets::{NAMED_VARIABLE_RULE_ID, Scanner};

pub const CHECK: Check = Check {
    id: "secret-in-config",
    title: "Credential in image config or history",
    weight: 25,
    fix: "Remove the credential from ENV, ARG and LABEL; inject it at run time from a secrets manager (e.g. `op run -- node server.js`), and use BuildKit secrets (`RUN --mount=type=secret,id=npmrc`) for build-time tokens. Rotate the exposed credential.",
    run,
};

/// A value seen in the config, with where it was seen.
struct Candidate {
    name: String,
    value: String,
    field: String,
    layer: Option<usize>,
}

fn run(ctx: &CheckContext<'_>) -> Outcome {
    let scanner = &ctx.secrets;
    let mut findings = Vec::new();
    let mut seen = HashSet::new();
    for candidate in candidates(ctx) {
        for finding in judge(ctx, scanner, &candidate) {
            // One finding per secret value: the first place it appears wins.
            let key = finding.evidence.as_ref().map(|e| e.fingerprint.clone());
            if seen.insert(key) {
                findings.push(finding);
            }
        }
    }
    Outcome::Evaluated {
        findings,
        notes: Vec::new(),
    }
}

/// Lists every name/value pair the config exposes: Env first, so that a variable also
/// recorded in history is reported at its Env entry.
fn candidates(ctx: &CheckContext<'_>) -> Vec<Candidate> {
    let config = &ctx.image.config;
    let mut out = Vec::new();
    for entry in &config.config.env {
        let (name, value) = entry.split_once('=').unwrap_or((entry, ""));
        out.push(Candidate {
            name: name.to_owned(),
            value: value.to_owned(),
            field: "config.Env".into(),
            layer: None,
        });
    }
    for (name, value) in &config.config.labels {
        out.push(Candidate {
            name: name.clone(),
            value: value.clone(),
            field: "config.Labels".into(),
            layer: None,
        });
    }
    let mut layer = 0;
    for (index, history) in config.history.iter().enumerate() {
        let created_by = history.created_by.as_deref().unwrap_or_default();
        for (name, value) in assignments(created_by) {
            out.push(Candidate {
                name,
                value,
                field: format!("history[{index}]"),
                layer: (!history.empty_layer).then_some(layer),
            });
        }
        // The whole line too, for credentials outside assignments (`curl -u user:pass …`).
        out.push(Candidate {
            name: String::new(),
            value: created_by.to_owned(),
            field: format!("history[{index}]"),
            layer: (!history.empty_layer).then_some(layer),
        });
        if !history.empty_layer {
            layer += 1;
        }
    }
    out
}

fn judge(ctx: &CheckContext<'_>, scanner: &Scanner, candidate: &Candidate) -> Vec<Finding> {
    let location = Location {
        config_field: Some(candidate.field.clone()),
        layer: candidate.layer.and_then(|i| ctx.layer_ref(i)),
        ..Location::default()
    };
    let subject = if candidate.name.is_empty() {
        format!("{} contains", candidate.field)
    } else {
        format!("{} {} holds", candidate.field, candidate.name)
    };
    scanner
        .scan_config_value(&candidate.field, &candidate.name, &candidate.value)
        .into_iter()
        .map(|found| Finding {
            check_id: CHECK.id,
            severity: found.severity,
            message: if found.rule_id == NAMED_VARIABLE_RULE_ID {
                format!("{subject} a value under a credential name")
            } else {
                format!("{subject} a credential ({})", found.title)
            },
            location: location.clone(),
            evidence: Some(Evidence {
                rule: found.rule_id,
                masked: found.masked,
                fingerprint: found.fingerprint,
                excerpt: None,
            }),
            fix: CHECK.fix.to_owned(),
        })
        .collect()
}
