//! `secret-in-file`: credentials in files of any layer. A file that a later layer deletes or
//! overwrites is still inside the image (anyone can unpack that layer), so it is reported with
//! both layers named.

use super::{Check, CheckContext, Evidence, Finding, Location, Outcome};
use crate::image::fs::Change;

pub const CHECK: Check = Check {
    id: "secret-in-file",
    title: "Credential in an image file",
    weight: 25,
    fix: "Keep credentials out of the build context (.dockerignore), mount build-time secrets with `RUN --mount=type=secret`, inject run-time secrets from a secrets manager (e.g. `op run -- node server.js`), and rotate the exposed credential. Deleting a file in a later layer does not remove it from the image.",
    run,
};

fn run(ctx: &CheckContext<'_>) -> Outcome {
    let image = ctx.image;
    let mut findings = Vec::new();
    for (layer, secret) in &image.file_secrets {
        let state = match image.fs.superseded_after(&secret.path, *layer) {
            Some(event) if event.change == Change::Deleted => format!(
                "; added in {}, deleted in {} but still in the image",
                image.layer_label(*layer),
                image.layer_label(event.layer)
            ),
            Some(event) => format!(
                "; added in {}, overwritten in {} but the old content is still in the image",
                image.layer_label(*layer),
                image.layer_label(event.layer)
            ),
            None => String::new(),
        };
        findings.push(Finding {
            check_id: CHECK.id,
            severity: secret.found.severity,
            message: format!("{} in {}{state}", secret.found.title, secret.path),
            location: Location {
                path: Some(secret.path.clone()),
                line: secret.found.line,
                layer: ctx.layer_ref(*layer),
                config_field: None,
            },
            evidence: Some(Evidence {
                rule: secret.found.rule_id.to_owned(),
                masked: secret.found.masked.clone(),
                fingerprint: secret.found.fingerprint.clone(),
            }),
            fix: CHECK.fix.to_owned(),
        });
    }
    Outcome::Evaluated {
        findings,
        notes: Vec::new(),
    }
}
