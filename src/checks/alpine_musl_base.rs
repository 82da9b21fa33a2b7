//! `alpine-musl-base`: the image is built on Alpine or another musl libc base. Evidence comes
//! from os-release, `/etc/alpine-release`, the musl loader `ld-musl-*`, and the `PT_INTERP` of
//! the container's program and Node.js binaries. apk alone is not musl: Wolfi and Chainguard
//! images use apk with glibc.

use super::{Check, CheckContext, Finding, Location, Outcome};
use crate::image::fs::{NodeKind, file_name};
use crate::severity::Severity;

pub const CHECK: Check = Check {
    id: "alpine-musl-base",
    title: "Alpine / musl libc base",
    weight: 10,
    fix: "Build on a glibc base such as node:24-bookworm-slim or gcr.io/distroless/nodejs24-debian12: prebuilt native modules (sharp, bcrypt, @swc/core) target glibc first, and musl differs in DNS resolution, thread stack size and allocator performance.",
    run,
};

/// What the filesystem says about the C library.
#[derive(Debug, Default)]
struct LibcEvidence {
    musl_loaders: Vec<String>,
    glibc_loaders: Vec<String>,
    /// `(binary, interpreter)` for binaries whose loader is musl.
    musl_binaries: Vec<(String, String)>,
    glibc_binaries: Vec<(String, String)>,
    alpine_release: bool,
    first_layer: Option<usize>,
}

fn gather(ctx: &CheckContext<'_>) -> LibcEvidence {
    let mut evidence = LibcEvidence::default();
    for (path, node) in ctx.image.fs.iter() {
        if node.kind == NodeKind::Dir {
            continue;
        }
        let name = file_name(path);
        if name.starts_with("ld-musl-") {
            evidence.musl_loaders.push(path.to_owned());
            evidence.first_layer = Some(
                evidence
                    .first_layer
                    .map_or(node.layer, |l| l.min(node.layer)),
            );
        } else if name.starts_with("ld-linux") && name.contains(".so") {
            evidence.glibc_loaders.push(path.to_owned());
        }
        if let Some(interp) = &node.facts.elf_interp {
            if interp.contains("ld-musl") {
                evidence
                    .musl_binaries
                    .push((path.to_owned(), interp.clone()));
            } else if interp.contains("ld-linux") {
                evidence
                    .glibc_binaries
                    .push((path.to_owned(), interp.clone()));
            }
        }
    }
    evidence.alpine_release = ctx.image.fs.resolve("/etc/alpine-release").is_some();
    evidence
}

fn run(ctx: &CheckContext<'_>) -> Outcome {
    let evidence = gather(ctx);
    let os_name = ctx.os_release.as_ref().map(|os| os.display_name());
    let os_id = ctx.os_release.as_ref().map(|os| os.id.as_str());
    let alpine = os_id == Some("alpine") || evidence.alpine_release;
    let musl = !evidence.musl_loaders.is_empty() || !evidence.musl_binaries.is_empty();

    if !alpine && !musl {
        return match (os_name, evidence.glibc_loaders.is_empty()) {
            (None, true) => Outcome::NotApplicable(
                "no os-release and no C library loader found (a static or empty image)".into(),
            ),
            (Some(name), _) => {
                Outcome::pass(format!("base OS {name}, glibc or no libc (no musl loader)"))
            }
            (None, false) => Outcome::pass("glibc loader found, no musl loader"),
        };
    }

    let mut reasons = Vec::new();
    if alpine {
        reasons.push(match &os_name {
            Some(name) if os_id == Some("alpine") => format!("os-release says {name}"),
            _ => "/etc/alpine-release exists".to_owned(),
        });
    }
    if let Some(loader) = evidence.musl_loaders.first() {
        reasons.push(format!("musl loader {loader}"));
    }
    for (binary, interp) in evidence.musl_binaries.iter().take(3) {
        reasons.push(format!("{binary} is linked against {interp}"));
    }
    let base = os_name.unwrap_or_else(|| "a musl libc base".into());
    let path = evidence
        .musl_loaders
        .first()
        .cloned()
        .or_else(|| alpine.then(|| "/etc/os-release".to_owned()));
    Outcome::Evaluated {
        findings: vec![Finding {
            check_id: CHECK.id,
            severity: Severity::Medium,
            message: format!(
                "the image is based on {base}, which uses musl libc: {}",
                reasons.join("; ")
            ),
            location: Location {
                path,
                layer: evidence.first_layer.and_then(|l| ctx.layer_ref(l)),
                ..Location::default()
            },
            evidence: None,
            fix: CHECK.fix.to_owned(),
        }],
        notes: Vec::new(),
    }
}
