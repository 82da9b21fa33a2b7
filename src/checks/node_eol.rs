//! `node-eol`: every Node.js in the image, judged against the embedded release schedule on the
//! audit date. Versions come from the binary's embedded string (which wins), the
//! `node_version.h` header next to it, the dpkg and apk databases, and `NODE_VERSION`.

use std::collections::BTreeMap;

use super::{Check, CheckContext, Finding, Location, Outcome};
use crate::image::os::read_captured;
use crate::nodejs::{self, EOL_WARNING_DAYS, Status};
use crate::severity::Severity;

pub const CHECK: Check = Check {
    id: "node-eol",
    title: "Node.js past or near end of life",
    weight: 15,
    fix: "Move to the Active LTS line and pin it exactly (e.g. `FROM node:26.1.0-bookworm-slim`), so that rebuilds are reproducible and upgrades deliberate.",
    run,
};

/// Source of a version.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Origin {
    Binary,
    Header,
    Package,
    EnvVar,
}

impl Origin {
    /// Names the source and where it was read: `binary /usr/local/bin/node`.
    fn describe_at(&self, place: &str) -> String {
        match self {
            Origin::EnvVar => "NODE_VERSION in config.Env".to_owned(),
            other => format!("{} {place}", other.describe()),
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Origin::Binary => "binary",
            Origin::Header => "node_version.h",
            Origin::Package => "package database",
            Origin::EnvVar => "NODE_VERSION",
        }
    }
}

#[derive(Clone, Debug)]
struct Sighting {
    origin: Origin,
    version: String,
    /// File path, or `config.Env` for the variable.
    place: String,
    layer: Option<usize>,
}

fn run(ctx: &CheckContext<'_>) -> Outcome {
    let sightings = collect(ctx);
    if sightings.is_empty() {
        return Outcome::NotApplicable("no Node.js found".into());
    }
    // Majors that a distribution package provides: its maintainers may backport fixes past
    // the upstream end of life, so the finding states that instead of "no security fixes".
    let packaged: Vec<u32> = sightings
        .iter()
        .filter(|s| s.origin == Origin::Package)
        .filter_map(|s| nodejs::major_of(&s.version))
        .collect();
    let (installs, mismatches) = reconcile(sightings);
    let mut findings = Vec::new();
    let mut notes = mismatches;
    for install in installs {
        let distro = nodejs::major_of(&install.version).is_some_and(|m| packaged.contains(&m));
        match judge(ctx, &install, distro) {
            Some(finding) => findings.push(finding),
            None => notes.push(format!(
                "Node.js {} at {} is {}",
                install.version,
                install.place,
                nodejs::status(nodejs::major_of(&install.version).unwrap_or(0), ctx.today)
                    .describe()
            )),
        }
    }
    Outcome::Evaluated { findings, notes }
}

fn collect(ctx: &CheckContext<'_>) -> Vec<Sighting> {
    let image = ctx.image;
    let mut out = Vec::new();
    for (path, node) in image.fs.iter() {
        if let Some(version) = node
            .facts
            .node_version
            .as_deref()
            .and_then(nodejs::normalize_version)
        {
            out.push(Sighting {
                origin: Origin::Binary,
                version,
                place: path.to_owned(),
                layer: Some(node.layer),
            });
        }
        if path.ends_with("/include/node/node_version.h")
            && let Some(content) = &node.content
            && let Some(version) = parse_node_version_header(&String::from_utf8_lossy(content))
        {
            out.push(Sighting {
                origin: Origin::Header,
                version,
                place: path.to_owned(),
                layer: Some(node.layer),
            });
        }
    }
    for (place, version) in package_versions(ctx) {
        out.push(Sighting {
            origin: Origin::Package,
            layer: image.fs.get(&place).map(|n| n.layer),
            version,
            place,
        });
    }
    if let Some(version) = image
        .config
        .env_var("NODE_VERSION")
        .and_then(nodejs::normalize_version)
    {
        out.push(Sighting {
            origin: Origin::EnvVar,
            version,
            place: "config.Env".into(),
            layer: None,
        });
    }
    out
}

/// Reads `NODE_MAJOR_VERSION`, `NODE_MINOR_VERSION` and `NODE_PATCH_VERSION` defines.
fn parse_node_version_header(text: &str) -> Option<String> {
    let define = |name: &str| {
        text.lines().find_map(|line| {
            let rest = line.trim().strip_prefix("#define ")?.trim();
            let value = rest.strip_prefix(name)?.trim();
            value.parse::<u32>().ok()
        })
    };
    Some(format!(
        "{}.{}.{}",
        define("NODE_MAJOR_VERSION")?,
        define("NODE_MINOR_VERSION")?,
        define("NODE_PATCH_VERSION")?
    ))
}

/// Versions of the `nodejs` or `libnode*` packages in the dpkg and apk databases.
fn package_versions(ctx: &CheckContext<'_>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut dpkg_files = vec!["/var/lib/dpkg/status".to_owned()];
    dpkg_files.extend(
        ctx.image
            .fs
            .descendants("/var/lib/dpkg/status.d")
            .map(|(path, _)| path.to_owned()),
    );
    for file in dpkg_files {
        let Some(text) = read_captured(ctx.image, &file) else {
            continue;
        };
        for stanza in text.split("\n\n") {
            let field = |name: &str| {
                stanza
                    .lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            };
            let package = field("Package:").unwrap_or_default();
            let installed = field("Status:").is_none_or(|s| s.ends_with(" installed"));
            if (package == "nodejs" || package.starts_with("libnode"))
                && installed
                && let Some(version) = field("Version:")
                    .as_deref()
                    .and_then(nodejs::normalize_version)
            {
                out.push((file.clone(), version));
            }
        }
    }
    for file in ["/lib/apk/db/installed", "/usr/lib/apk/db/installed"] {
        let Some(text) = read_captured(ctx.image, file) else {
            continue;
        };
        for stanza in text.split("\n\n") {
            let field = |name: &str| {
                stanza
                    .lines()
                    .find_map(|l| l.strip_prefix(name).map(str::to_owned))
            };
            let package = field("P:").unwrap_or_default();
            if (package == "nodejs" || package == "nodejs-current")
                && let Some(version) = field("V:").as_deref().and_then(nodejs::normalize_version)
            {
                out.push((file.to_owned(), version));
            }
        }
    }
    out
}

/// Groups sightings into installs. Binaries are authoritative; a header, package or variable
/// that disagrees with every binary is noted. Without any binary, the most specific other
/// source is used.
fn reconcile(mut sightings: Vec<Sighting>) -> (Vec<Sighting>, Vec<String>) {
    sightings.sort_by(|a, b| (&a.origin, &a.place).cmp(&(&b.origin, &b.place)));
    let binaries: Vec<&Sighting> = sightings
        .iter()
        .filter(|s| s.origin == Origin::Binary)
        .collect();
    let mut notes = Vec::new();
    if binaries.is_empty() {
        // One install per distinct version, from the most authoritative origin that names it.
        let mut by_version: BTreeMap<String, Sighting> = BTreeMap::new();
        for sighting in &sightings {
            by_version
                .entry(sighting.version.clone())
                .or_insert_with(|| sighting.clone());
        }
        return (by_version.into_values().collect(), notes);
    }
    for other in sightings.iter().filter(|s| s.origin != Origin::Binary) {
        let matches = binaries.iter().any(|b| {
            b.version == other.version || b.version.starts_with(&format!("{}.", other.version))
        });
        if !matches {
            let listed: Vec<String> = binaries
                .iter()
                .map(|b| format!("{} ({})", b.version, b.place))
                .collect();
            notes.push(format!(
                "{} {} says Node.js {} but the binary is {}; the binary wins",
                other.origin.describe(),
                other.place,
                other.version,
                listed.join(", ")
            ));
        }
    }
    let installs = binaries.into_iter().cloned().collect();
    (installs, notes)
}

/// Fix advice when Node.js comes from the distribution's package manager.
const DISTRO_FIX: &str = "Use a distribution release whose nodejs package is still supported, or install an official Node.js build of the Active LTS line (e.g. `FROM node:26.1.0-bookworm-slim`) instead of the distribution package.";

/// Judges one install; `distro` says a distribution package provides it.
fn judge(ctx: &CheckContext<'_>, install: &Sighting, distro: bool) -> Option<Finding> {
    let major = nodejs::major_of(&install.version)?;
    let status = nodejs::status(major, ctx.today);
    let line = nodejs::release_line(major);
    let days_left = nodejs::days_until_eol(major, ctx.today);
    let eol = line.map(|l| l.end_of_life.to_string()).unwrap_or_default();
    let (mut severity, mut detail) = match status {
        Status::EndOfLife if distro => (
            Severity::Medium,
            format!(
                "is past its upstream end of life ({eol}); the distribution may still backport security fixes to its package, so check its security tracker"
            ),
        ),
        Status::EndOfLife => (
            Severity::High,
            match line {
                Some(_) => format!("reached end of life on {eol} and gets no security fixes"),
                None => "is long past end of life".to_owned(),
            },
        ),
        Status::Maintenance => (
            Severity::Medium,
            format!("is in maintenance (critical fixes only) until end of life on {eol}"),
        ),
        Status::ActiveLts if days_left.is_some_and(|d| d <= EOL_WARNING_DAYS) => {
            (Severity::Medium, format!("reaches end of life on {eol}"))
        }
        Status::ActiveLts => return None,
        Status::Current | Status::Prerelease => (
            Severity::Low,
            format!(
                "is {} with end of life on {eol}; production images should run an LTS line",
                status.describe()
            ),
        ),
        Status::Unknown => (
            Severity::Info,
            format!(
                "is newer than the release table (as of {}); its support status is unknown",
                nodejs::TABLE_AS_OF
            ),
        ),
    };
    if install.origin == Origin::EnvVar {
        // Only the variable names a version: the image may not contain Node.js at all (a
        // base image's leftover variable, or a binary deleted by a later layer).
        severity = severity.min(Severity::Low);
        detail.push_str(
            "; only NODE_VERSION says so, because no Node.js binary, header or package was found",
        );
    }
    Some(Finding {
        check_id: CHECK.id,
        severity,
        message: format!(
            "Node.js {} ({}) {detail}",
            install.version,
            install.origin.describe_at(&install.place)
        ),
        location: Location {
            path: install
                .place
                .starts_with('/')
                .then(|| install.place.clone()),
            layer: install.layer.and_then(|l| ctx.layer_ref(l)),
            config_field: (install.origin == Origin::EnvVar).then(|| "config.Env".to_owned()),
            line: None,
        },
        evidence: None,
        fix: if distro { DISTRO_FIX } else { CHECK.fix }.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_version_is_parsed() {
        let text = "#define NODE_MAJOR_VERSION 20\n#define NODE_MINOR_VERSION 20\n#define NODE_PATCH_VERSION 2\n";
        assert_eq!(parse_node_version_header(text).as_deref(), Some("20.20.2"));
        assert_eq!(
            parse_node_version_header("#define NODE_MAJOR_VERSION 20\n"),
            None
        );
    }

    fn sighting(origin: Origin, version: &str, place: &str) -> Sighting {
        Sighting {
            origin,
            version: version.into(),
            place: place.into(),
            layer: None,
        }
    }

    #[test]
    fn binary_wins_and_mismatch_is_noted() {
        let (installs, notes) = reconcile(vec![
            sighting(Origin::EnvVar, "20.1.0", "config.Env NODE_VERSION"),
            sighting(Origin::Binary, "20.20.2", "/usr/local/bin/node"),
            sighting(
                Origin::Header,
                "20.20.2",
                "/usr/local/include/node/node_version.h",
            ),
        ]);
        assert_eq!(installs.len(), 1);
        assert_eq!(installs[0].version, "20.20.2");
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("20.1.0"), "{}", notes[0]);
    }

    #[test]
    fn without_binary_each_version_counts_once() {
        let (installs, notes) = reconcile(vec![
            sighting(Origin::EnvVar, "18.20.4", "config.Env NODE_VERSION"),
            sighting(
                Origin::Header,
                "18.20.4",
                "/usr/local/include/node/node_version.h",
            ),
        ]);
        assert_eq!(installs.len(), 1);
        assert_eq!(installs[0].origin, Origin::Header);
        assert!(notes.is_empty());
    }
}
