//! Checks: pure functions from the image model to findings. Each check lives in its own file
//! with a stable kebab-case id, a title, a weight for the score and a one-line fix; [`CHECKS`]
//! lists them in report order. No check does I/O.

mod alpine_musl_base;
mod history;
mod node_eol;
mod root_user;
mod secret_in_config;
mod secret_in_file;
mod shell_present;

use std::sync::Arc;

use jiff::civil::Date;

use crate::image::Image;
use crate::image::os::{Accounts, OsRelease};
use crate::secrets::Scanner;
use crate::severity::Severity;

/// Where a finding was seen.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// 1-based line in the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<LayerRef>,
    /// Config field or history entry, e.g. `config.Env` or `history[4]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_field: Option<String>,
}

/// A layer named by index, digest and the history line that made it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LayerRef {
    pub index: usize,
    pub digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// A secret, shown only in masked form.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Evidence {
    pub rule: String,
    pub masked: String,
    pub fingerprint: String,
    /// The line around the secret with the secret masked (file findings only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub check_id: &'static str,
    pub severity: Severity,
    pub message: String,
    pub location: Location,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    pub fix: String,
}

/// Result of running one check.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The check ran; no findings means it passed. Notes explain what was judged.
    Evaluated {
        findings: Vec<Finding>,
        notes: Vec<String>,
    },
    /// The check could not be evaluated on this image, with the reason.
    NotApplicable(String),
}

impl Outcome {
    fn pass(note: impl Into<String>) -> Outcome {
        Outcome::Evaluated {
            findings: Vec::new(),
            notes: vec![note.into()],
        }
    }
}

/// Everything a check may read.
pub struct CheckContext<'a> {
    pub image: &'a Image,
    /// The day against which dates (Node.js end of life) are judged.
    pub today: Date,
    pub os_release: Option<OsRelease>,
    pub accounts: Option<Accounts>,
    /// Secret scanner with the user's rules and allowlists, for the config check.
    pub secrets: Arc<Scanner>,
}

impl<'a> CheckContext<'a> {
    pub fn new(image: &'a Image, today: Date) -> CheckContext<'a> {
        CheckContext::with_scanner(image, today, Scanner::shared_default())
    }

    /// Builds the context with `scanner` (the one that scanned the layers) for the config
    /// check.
    pub fn with_scanner(image: &'a Image, today: Date, scanner: Arc<Scanner>) -> CheckContext<'a> {
        CheckContext {
            image,
            today,
            os_release: crate::image::os::os_release(image),
            accounts: crate::image::os::accounts(image),
            secrets: scanner,
        }
    }

    /// Names a layer for a finding's location.
    pub fn layer_ref(&self, index: usize) -> Option<LayerRef> {
        let layer = self.image.layers.get(index)?;
        Some(LayerRef {
            index,
            digest: layer.digest.to_string(),
            created_by: layer.created_by.clone(),
        })
    }
}

/// One check: identity, scoring weight, fix advice and the function that runs it.
pub struct Check {
    pub id: &'static str,
    pub title: &'static str,
    /// Share of the score this check carries (see docs/scoring.md).
    pub weight: u32,
    pub fix: &'static str,
    pub run: fn(&CheckContext<'_>) -> Outcome,
}

/// All checks, in report order.
pub const CHECKS: &[Check] = &[
    root_user::CHECK,
    shell_present::CHECK,
    secret_in_config::CHECK,
    secret_in_file::CHECK,
    alpine_musl_base::CHECK,
    node_eol::CHECK,
];

/// Runs every check.
pub fn run_all(ctx: &CheckContext<'_>) -> Vec<(&'static Check, Outcome)> {
    CHECKS
        .iter()
        .map(|check| {
            let outcome = (check.run)(ctx);
            if let Outcome::NotApplicable(reason) = &outcome {
                tracing::debug!(check = check.id, reason, "check not applicable");
            }
            (check, outcome)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_ids_are_unique_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for check in CHECKS {
            assert!(seen.insert(check.id), "duplicate id {}", check.id);
            assert!(
                check
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{} is not kebab-case",
                check.id
            );
            assert!(check.weight > 0, "{} has no weight", check.id);
        }
    }

    #[test]
    fn every_check_has_a_docs_page() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/checks");
        for check in CHECKS {
            let page = docs.join(format!("{}.md", check.id));
            assert!(page.is_file(), "missing {}", page.display());
        }
    }
}
