//! `secret-in-file`: credentials in files of any layer. A file that a later layer deletes or
//! overwrites is still inside the image (anyone can unpack that layer), so it is reported with
//! both layers named.
//!
//! A secret is reported once per (rule, fingerprint, path, layer). Package databases name the
//! files that distro packages installed: dpkg's `/var/lib/dpkg/info/*.list`, the `*.md5sums`
//! files of a distroless `status.d`, and apk's `/lib/apk/db/installed`. Such a file ships in
//! its package rather than coming from the image's build, so its findings are downgraded to
//! info. Files under `/etc` are exempt, because builds edit configuration, and so are files
//! that a later layer than the package database's wrote.

use std::collections::{HashMap, HashSet};

use super::{Check, CheckContext, Evidence, Finding, Location, Outcome};
use crate::image::Image;
use crate::image::fs::Change;
use crate::image::layer::FileSecret;
use crate::severity::Severity;

pub const CHECK: Check = Check {
    id: "secret-in-file",
    title: "Credential in an image file",
    weight: 25,
    fix: "Keep credentials out of the build context (.dockerignore), mount build-time secrets with `RUN --mount=type=secret`, inject run-time secrets from a secrets manager (e.g. `op run -- node server.js`), and rotate the exposed credential. Deleting a file in a later layer does not remove it from the image.",
    run,
};

fn run(ctx: &CheckContext<'_>) -> Outcome {
    let image = ctx.image;
    let owners = if image.file_secrets.is_empty() {
        PackageFiles::default()
    } else {
        PackageFiles::from_image(image)
    };
    let limit = ctx.secrets.limits().max_findings_per_rule;

    let mut ordered: Vec<&(usize, FileSecret)> = image.file_secrets.iter().collect();
    ordered.sort_by(|a, b| (a.0, &a.1.path, a.1.found.line).cmp(&(b.0, &b.1.path, b.1.found.line)));
    let mut seen = HashSet::new();
    let mut per_rule: HashMap<&str, usize> = HashMap::new();
    let mut findings = Vec::new();
    for (layer, secret) in ordered {
        let key = (
            secret.found.rule_id.as_str(),
            secret.found.fingerprint.as_str(),
            secret.path.as_str(),
            *layer,
        );
        if !seen.insert(key) {
            continue;
        }
        let count = per_rule.entry(secret.found.rule_id.as_str()).or_default();
        *count += 1;
        if *count > limit {
            continue;
        }
        findings.push(finding(ctx, &owners, *layer, secret));
    }

    let mut notes = Vec::new();
    let mut truncated: Vec<(&str, usize)> = per_rule
        .into_iter()
        .filter(|(_, count)| *count > limit)
        .collect();
    truncated.sort();
    for (rule, count) in truncated {
        ctx.secrets
            .record_truncated_rule(rule, limit, count - limit);
        notes.push(format!(
            "truncated: rule {rule} matched {count} times; the first {limit} are reported (max_findings_per_rule)"
        ));
    }
    let scan = ctx.secrets.summary();
    if scan.truncated_file_count > 0 {
        let unlisted = scan.truncated_file_count - scan.truncated_files.len() as u64;
        let more = if unlisted > 0 {
            format!(" and {unlisted} more")
        } else {
            String::new()
        };
        notes.push(format!(
            "truncated: the scan of {}{more} stopped at {} matches per file (max_matches_per_file)",
            scan.truncated_files.join(", "),
            scan.max_matches_per_file
        ));
    }
    Outcome::Evaluated { findings, notes }
}

fn finding(
    ctx: &CheckContext<'_>,
    owners: &PackageFiles,
    layer: usize,
    secret: &FileSecret,
) -> Finding {
    let image = ctx.image;
    let state = match image.fs.superseded_after(&secret.path, layer) {
        Some(event) if event.change == Change::Deleted => format!(
            "; added in {}, deleted in {} but still in the image",
            image.layer_label(layer),
            image.layer_label(event.layer)
        ),
        Some(event) => format!(
            "; added in {}, overwritten in {} but the old content is still in the image",
            image.layer_label(layer),
            image.layer_label(event.layer)
        ),
        None => String::new(),
    };
    let (severity, package_note) = match owners.owner(&secret.path, layer) {
        Some(owner) => (
            Severity::Info,
            format!(
                "; downgraded to info because the file ships in {} package {}, not from the image's build",
                owner.manager, owner.package
            ),
        ),
        None => (secret.found.severity, String::new()),
    };
    Finding {
        check_id: CHECK.id,
        severity,
        message: format!(
            "{} in {}{state}{package_note}",
            secret.found.title, secret.path
        ),
        location: Location {
            path: Some(secret.path.clone()),
            line: secret.found.line,
            layer: ctx.layer_ref(layer),
            config_field: None,
        },
        evidence: Some(Evidence {
            rule: secret.found.rule_id.clone(),
            masked: secret.found.masked.clone(),
            fingerprint: secret.found.fingerprint.clone(),
            excerpt: secret.found.excerpt.clone(),
        }),
        fix: CHECK.fix.to_owned(),
    }
}

/// The package that installed a file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Owner {
    /// `dpkg` or `apk`.
    manager: &'static str,
    package: String,
    /// Layer that last wrote the package database entry that lists the file.
    layer: usize,
}

/// Files installed by distro packages, from the package databases in the final filesystem.
#[derive(Default)]
struct PackageFiles {
    owners: HashMap<String, Owner>,
}

const APK_DATABASES: &[&str] = &["/lib/apk/db/installed", "/usr/lib/apk/db/installed"];

impl PackageFiles {
    fn from_image(image: &Image) -> PackageFiles {
        let mut files = PackageFiles::default();
        for (path, node) in image.fs.descendants("/var/lib/dpkg/info") {
            let (Some(content), Some(package)) = (&node.content, path.strip_suffix(".list")) else {
                continue;
            };
            let package = crate::image::fs::file_name(package);
            let package = package.split(':').next().unwrap_or(package);
            files.add_dpkg_list(package, &String::from_utf8_lossy(content), node.layer);
        }
        for (path, node) in image.fs.descendants("/var/lib/dpkg/status.d") {
            let (Some(content), Some(package)) = (&node.content, path.strip_suffix(".md5sums"))
            else {
                continue;
            };
            let package = crate::image::fs::file_name(package);
            files.add_md5sums(package, &String::from_utf8_lossy(content), node.layer);
        }
        for database in APK_DATABASES {
            if let Some(node) = image.fs.get(database)
                && let Some(content) = &node.content
            {
                files.add_apk_database(&String::from_utf8_lossy(content), node.layer);
            }
        }
        files
    }

    fn insert(&mut self, path: String, manager: &'static str, package: &str, layer: usize) {
        self.owners.entry(path).or_insert_with(|| Owner {
            manager,
            package: package.to_owned(),
            layer,
        });
    }

    /// Reads a dpkg `.list` file: one absolute path per line.
    fn add_dpkg_list(&mut self, package: &str, list: &str, layer: usize) {
        for line in list.lines() {
            if line.starts_with('/') && line != "/." {
                self.insert(line.to_owned(), "dpkg", package, layer);
            }
        }
    }

    /// Reads a `.md5sums` file: `<md5>  <path without the leading slash>` per line.
    fn add_md5sums(&mut self, package: &str, sums: &str, layer: usize) {
        for line in sums.lines() {
            if let Some((_, path)) = line.split_once("  ") {
                self.insert(format!("/{}", path.trim()), "dpkg", package, layer);
            }
        }
    }

    /// Reads apk's installed database: per package a `P:` line, then `F:` directory lines
    /// each followed by the `R:` file names in that directory.
    fn add_apk_database(&mut self, database: &str, layer: usize) {
        let mut package = String::new();
        let mut directory = String::new();
        for line in database.lines() {
            if line.is_empty() {
                package.clear();
                directory.clear();
            } else if let Some(name) = line.strip_prefix("P:") {
                package = name.to_owned();
            } else if let Some(dir) = line.strip_prefix("F:") {
                directory = dir.to_owned();
            } else if let Some(file) = line.strip_prefix("R:") {
                let path = if directory.is_empty() {
                    format!("/{file}")
                } else {
                    format!("/{directory}/{file}")
                };
                let owner = package.clone();
                self.insert(path, "apk", &owner, layer);
            }
        }
    }

    /// Returns the package that installed `path` in `layer`, when the finding should be
    /// downgraded. Packages list `/lib/…` and `/bin/…` where merged-/usr images store
    /// `/usr/lib/…` and `/usr/bin/…`, so both spellings are looked up.
    fn owner(&self, path: &str, layer: usize) -> Option<&Owner> {
        if path.starts_with("/etc/") {
            return None;
        }
        let owner = self.owners.get(path).or_else(|| {
            let unmerged = ["/usr/lib/", "/usr/bin/", "/usr/sbin/", "/usr/lib64/"]
                .iter()
                .find_map(|prefix| path.strip_prefix(prefix).map(|rest| (prefix, rest)))
                .map(|(prefix, rest)| format!("{}{rest}", &prefix[4..]));
            unmerged.and_then(|p| self.owners.get(&p))
        })?;
        // NOTE: apk rewrites one database for all packages, so a later `apk add` moves its
        // layer forward. A file overwritten between the two layers is then still downgraded.
        (layer <= owner.layer).then_some(owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_lists_map_files_to_packages() {
        let mut files = PackageFiles::default();
        files.add_dpkg_list(
            "python3-requests",
            "/.\n/usr\n/usr/lib/python3/dist-packages/requests/auth.py\n",
            0,
        );
        let owner = files
            .owner("/usr/lib/python3/dist-packages/requests/auth.py", 0)
            .unwrap();
        assert_eq!(owner.package, "python3-requests");
        assert_eq!(owner.manager, "dpkg");
        assert!(files.owner("/app/auth.py", 0).is_none());
    }

    #[test]
    fn later_layers_and_etc_are_not_downgraded() {
        let mut files = PackageFiles::default();
        files.add_dpkg_list("pkg", "/usr/share/pkg/key.pem\n/etc/pkg/pkg.conf\n", 1);
        assert!(files.owner("/usr/share/pkg/key.pem", 1).is_some());
        assert!(files.owner("/usr/share/pkg/key.pem", 2).is_none());
        assert!(files.owner("/etc/pkg/pkg.conf", 1).is_none());
    }

    #[test]
    fn merged_usr_paths_match_lists() {
        let mut files = PackageFiles::default();
        files.add_dpkg_list("libfoo", "/lib/x86_64-linux-gnu/foo/test.key\n", 0);
        assert!(
            files
                .owner("/usr/lib/x86_64-linux-gnu/foo/test.key", 0)
                .is_some()
        );
    }

    #[test]
    fn apk_database_is_read() {
        let mut files = PackageFiles::default();
        files.add_apk_database(
            "C:Q1abc=\nP:py3-cryptography\nV:41.0\nF:usr/lib/python3.11/site-packages/cryptography\nR:key.pem\nZ:Q1x=\n\nP:musl\nF:lib\nR:ld-musl-x86_64.so.1\n",
            0,
        );
        let owner = files
            .owner("/usr/lib/python3.11/site-packages/cryptography/key.pem", 0)
            .unwrap();
        assert_eq!(owner.package, "py3-cryptography");
        assert_eq!(owner.manager, "apk");
        assert_eq!(
            files.owner("/lib/ld-musl-x86_64.so.1", 0).unwrap().package,
            "musl"
        );
    }

    #[test]
    fn md5sums_are_read() {
        let mut files = PackageFiles::default();
        files.add_md5sums(
            "openssl",
            "0123456789abcdef0123456789abcdef  usr/share/openssl/test.key\n",
            0,
        );
        assert_eq!(
            files
                .owner("/usr/share/openssl/test.key", 0)
                .unwrap()
                .package,
            "openssl"
        );
    }
}
