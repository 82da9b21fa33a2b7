//! File scope of the secret scanner: named skip rules for known noise (distro
//! documentation, documentation and test fixtures inside installed language packages, binary
//! formats), each counting the files it skipped so that the report can show them.
//!
//! The application's own files are never skipped by a default rule: `node_modules` and
//! `.next/` are scanned, because bundled JavaScript is where web apps leak keys. Only the
//! documentation, example and test directories *inside* an installed package are skipped.

use std::sync::atomic::{AtomicU64, Ordering};

use regex::Regex;

/// Test that a skip rule applies to a path.
enum Matcher {
    Prefixes(&'static [&'static str]),
    Extensions(&'static [&'static str]),
    /// A directory named one of `dirs` inside an installed package of a language package
    /// manager.
    PackageSubdirectory(&'static [&'static str]),
    /// Test suites that language runtimes install next to their standard library.
    RuntimeTests,
    SharedLibrary,
    Regexes(Vec<Regex>),
}

/// One named reason to leave a file unread.
pub struct SkipRule {
    pub id: String,
    pub description: String,
    matcher: Matcher,
    files: AtomicU64,
}

impl SkipRule {
    pub fn files(&self) -> u64 {
        self.files.load(Ordering::Relaxed)
    }
}

/// A skip rule from the configuration file.
#[derive(Clone, Debug, Default)]
pub struct SkipSpec {
    pub id: String,
    pub reason: String,
    /// Regexes on the absolute path inside the image.
    pub paths: Vec<String>,
}

/// Directories of installed packages, for the package documentation and test rules.
const PACKAGE_ROOTS: &[&str] = &[
    "/node_modules/",
    "/site-packages/",
    "/dist-packages/",
    "/gems/",
    "/go/pkg/mod/",
    "/vendor/bundle/",
];

const DOC_DIRS: &[&str] = &[
    "doc", "docs", "man", "example", "examples", "demo", "demos", "sample", "samples",
];

const TEST_DIRS: &[&str] = &[
    "test",
    "tests",
    "__tests__",
    "testing",
    "spec",
    "fixtures",
    "__fixtures__",
    "testdata",
];

/// Extensions of binary or generated formats in which text rules find nothing useful.
const BINARY_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "webp", "avif", "ico", "bmp", "tif", "tiff", "svgz", "woff",
    "woff2", "ttf", "otf", "eot", "gz", "tgz", "xz", "bz2", "zst", "zip", "jar", "war", "ear",
    "whl", "egg", "so", "a", "o", "dylib", "dll", "exe", "pyc", "pyo", "class", "wasm", "node",
    "mo", "gmo", "pdf", "mp3", "mp4", "ogg", "wav", "webm", "mov", "db", "sqlite", "sqlite3",
    "deb", "rpm", "apk", "iso", "img", "qcow2", "bin", "dat", "pack", "idx",
];

/// Builds the default skip rules, in the order they are tried.
fn default_rules() -> Vec<SkipRule> {
    let rule = |id: &str, description: &str, matcher: Matcher| SkipRule {
        id: id.into(),
        description: description.into(),
        matcher,
        files: AtomicU64::new(0),
    };
    vec![
        rule(
            "pseudo-filesystems",
            "/proc, /sys and /dev, which hold no image content",
            Matcher::Prefixes(&["/proc/", "/sys/", "/dev/"]),
        ),
        rule(
            "distro-documentation",
            "documentation, manuals, licences and translations of distro packages",
            Matcher::Prefixes(&[
                "/usr/share/doc/",
                "/usr/share/man/",
                "/usr/share/info/",
                "/usr/share/locale/",
                "/usr/share/i18n/",
                "/usr/share/common-licenses/",
                "/usr/share/lintian/",
                "/usr/share/gtk-doc/",
                "/usr/share/help/",
                "/usr/local/share/man/",
                "/usr/local/share/doc/",
            ]),
        ),
        rule(
            "system-data",
            "time zones, MIME and terminal databases, locales, fonts and icons",
            Matcher::Prefixes(&[
                "/usr/share/zoneinfo/",
                "/usr/share/mime/",
                "/usr/share/terminfo/",
                "/usr/lib/locale/",
                "/usr/share/X11/",
                "/usr/share/fonts/",
                "/usr/share/icons/",
                "/etc/ssl/certs/",
                "/usr/share/ca-certificates/",
            ]),
        ),
        rule(
            "c-headers",
            "C and C++ headers",
            Matcher::Prefixes(&["/usr/include/", "/usr/local/include/"]),
        ),
        rule(
            "package-databases",
            "package manager state: dpkg file lists and apt package indexes",
            Matcher::Prefixes(&[
                "/var/lib/dpkg/info/",
                "/var/lib/apt/lists/",
                "/var/cache/apt/",
                "/var/cache/apk/",
                "/var/cache/debconf/",
            ]),
        ),
        rule(
            "package-documentation",
            "doc, docs, man and example directories inside installed language packages (node_modules, site-packages, gems, Go modules)",
            Matcher::PackageSubdirectory(DOC_DIRS),
        ),
        rule(
            "package-tests",
            "test, spec and fixture directories inside installed language packages",
            Matcher::PackageSubdirectory(TEST_DIRS),
        ),
        rule(
            "runtime-tests",
            "test suites that language runtimes install (CPython's test package, Go's testdata)",
            Matcher::RuntimeTests,
        ),
        rule(
            "shared-libraries",
            "shared libraries (lib*.so.N)",
            Matcher::SharedLibrary,
        ),
        rule(
            "binary-formats",
            "images, fonts, archives, compiled code and media, by extension",
            Matcher::Extensions(BINARY_EXTENSIONS),
        ),
    ]
}

/// Returns the part of `path` after the innermost package root and the package's own name
/// (`@scope/name` for scoped npm packages), or `None` outside installed packages.
fn inside_package(path: &str) -> Option<&str> {
    let (root, start) = PACKAGE_ROOTS
        .iter()
        .filter_map(|root| path.rfind(root).map(|i| (*root, i + root.len())))
        .max_by_key(|(_, i)| *i)?;
    let rest = &path[start..];
    let (first, after) = rest.split_once('/')?;
    if root == "/node_modules/" && first.starts_with('@') {
        return after.split_once('/').map(|(_, inner)| inner);
    }
    Some(after)
}

fn in_package_subdirectory(path: &str, dirs: &[&str]) -> bool {
    let Some(inner) = inside_package(path) else {
        return false;
    };
    let mut components: Vec<&str> = inner.split('/').collect();
    // The last component is the file itself.
    components.pop();
    components.iter().any(|c| dirs.contains(c))
}

fn is_runtime_test(path: &str) -> bool {
    // CPython installs its regression suite (with test keys and certificates) as the `test`
    // package of the standard library: /usr/lib/python3.11/test/, /usr/local/lib/python3.12/test/.
    let python = path
        .split('/')
        .collect::<Vec<_>>()
        .windows(2)
        .any(|w| w[0].starts_with("python3") && w[1] == "test");
    let go = (path.starts_with("/usr/local/go/") || path.starts_with("/usr/lib/go"))
        && path.contains("/testdata/");
    python || go
}

fn is_shared_library(name: &str) -> bool {
    // `libssl.so.3`, `libstdc++.so.6.0.30`: the extension rule finds only the version.
    name.contains(".so.") && name.starts_with("lib")
}

impl Matcher {
    fn matches(&self, path: &str, name: &str) -> bool {
        match self {
            Matcher::Prefixes(prefixes) => prefixes.iter().any(|p| path.starts_with(p)),
            Matcher::Extensions(extensions) => name.rsplit_once('.').is_some_and(|(stem, ext)| {
                !stem.is_empty() && extensions.contains(&ext.to_ascii_lowercase().as_str())
            }),
            Matcher::PackageSubdirectory(dirs) => in_package_subdirectory(path, dirs),
            Matcher::RuntimeTests => is_runtime_test(path),
            Matcher::SharedLibrary => is_shared_library(name),
            Matcher::Regexes(regexes) => regexes.iter().any(|re| re.is_match(path)),
        }
    }
}

/// Invalid skip configuration.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    #[error("skip rule {id:?}: invalid path regex {pattern:?}: {message}")]
    Regex {
        id: String,
        pattern: String,
        message: String,
    },
    #[error(
        "unknown default skip rule {id:?} in disabled_skips; the default skip rules are: {known}"
    )]
    UnknownDefault { id: String, known: String },
}

/// The file scope of one scan: the skip rules in order and the size limit.
pub struct Scope {
    pub rules: Vec<SkipRule>,
    pub max_file_bytes: u64,
    pub too_large: AtomicU64,
}

impl Scope {
    /// Builds the scope: the default skip rules minus `disabled`, then the user's.
    pub fn new(
        disabled: &[String],
        extra: &[SkipSpec],
        max_file_bytes: u64,
    ) -> Result<Scope, ScopeError> {
        let mut rules = default_rules();
        for id in disabled {
            if !rules.iter().any(|r| &r.id == id) {
                return Err(ScopeError::UnknownDefault {
                    id: id.clone(),
                    known: rules
                        .iter()
                        .map(|r| r.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        rules.retain(|r| !disabled.contains(&r.id));
        for spec in extra {
            let regexes = spec
                .paths
                .iter()
                .map(|pattern| {
                    Regex::new(pattern).map_err(|err| ScopeError::Regex {
                        id: spec.id.clone(),
                        pattern: pattern.clone(),
                        message: err.to_string(),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            rules.push(SkipRule {
                id: spec.id.clone(),
                description: spec.reason.clone(),
                matcher: Matcher::Regexes(regexes),
                files: AtomicU64::new(0),
            });
        }
        Ok(Scope {
            rules,
            max_file_bytes,
            too_large: AtomicU64::new(0),
        })
    }

    /// Returns the rule that skips `path`, counting the file against it.
    pub fn skip_rule(&self, path: &str) -> Option<&SkipRule> {
        let name = crate::image::fs::file_name(path);
        let rule = self.rules.iter().find(|r| r.matcher.matches(path, name))?;
        rule.files.fetch_add(1, Ordering::Relaxed);
        Some(rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skipped_by(path: &str) -> Option<String> {
        let scope = Scope::new(&[], &[], 1 << 30).unwrap();
        scope.skip_rule(path).map(|r| r.id.clone())
    }

    #[test]
    fn application_files_are_in_scope() {
        for path in [
            "/app/.env",
            "/app/node_modules/config/index.js",
            "/app/node_modules/@aws-sdk/client-s3/dist-cjs/index.js",
            "/app/.next/server/app/page.js",
            "/app/test/fixtures/keys.json",
            "/app/docs/setup.md",
            "/usr/local/bin/entrypoint",
            "/root/.npmrc",
        ] {
            assert_eq!(skipped_by(path), None, "{path}");
        }
    }

    #[test]
    fn package_docs_and_tests_are_skipped() {
        let cases = [
            (
                "/usr/local/lib/node_modules/npm/docs/content/npmrc.md",
                "package-documentation",
            ),
            (
                "/app/node_modules/@scope/pkg/examples/server.js",
                "package-documentation",
            ),
            (
                "/app/node_modules/jsonwebtoken/test/priv.pem",
                "package-tests",
            ),
            (
                "/usr/lib/python3/dist-packages/requests/tests/test_auth.py",
                "package-tests",
            ),
            (
                "/usr/local/bundle/gems/jwt-2.7.0/spec/fixtures/rsa.pem",
                "package-tests",
            ),
            ("/usr/lib/python3.11/test/keycert.pem", "runtime-tests"),
            (
                "/usr/local/go/src/crypto/tls/testdata/example-key.pem",
                "runtime-tests",
            ),
        ];
        for (path, rule) in cases {
            assert_eq!(skipped_by(path).as_deref(), Some(rule), "{path}");
        }
    }

    #[test]
    fn package_named_like_a_test_dir_is_scanned() {
        // The package is called `test`; only directories inside a package count.
        assert_eq!(skipped_by("/app/node_modules/test/index.js"), None);
        assert_eq!(skipped_by("/app/node_modules/@docs/core/index.js"), None);
    }

    #[test]
    fn binaries_and_distro_docs_are_skipped() {
        assert_eq!(
            skipped_by("/usr/share/doc/awscli/README").as_deref(),
            Some("distro-documentation")
        );
        assert_eq!(
            skipped_by("/app/logo.png").as_deref(),
            Some("binary-formats")
        );
        assert_eq!(
            skipped_by("/usr/lib/x86_64-linux-gnu/libssl.so.3").as_deref(),
            Some("shared-libraries")
        );
        assert_eq!(
            skipped_by("/app/.png"),
            None,
            "a dot file is not an extension"
        );
    }

    #[test]
    fn skips_are_counted_per_rule() {
        let scope = Scope::new(&[], &[], 1 << 30).unwrap();
        scope.skip_rule("/usr/share/doc/a/README");
        scope.skip_rule("/usr/share/man/man1/ls.1.gz");
        scope.skip_rule("/app/index.js");
        let docs = scope
            .rules
            .iter()
            .find(|r| r.id == "distro-documentation")
            .unwrap();
        assert_eq!(docs.files(), 2);
    }

    #[test]
    fn defaults_can_be_disabled_and_extended() {
        let scope = Scope::new(
            &["package-tests".into()],
            &[SkipSpec {
                id: "vendored".into(),
                reason: "third-party code".into(),
                paths: vec!["^/opt/vendor/".into()],
            }],
            1 << 30,
        )
        .unwrap();
        assert!(
            scope
                .skip_rule("/app/node_modules/x/test/key.pem")
                .is_none()
        );
        assert_eq!(
            scope.skip_rule("/opt/vendor/lib.js").map(|r| r.id.as_str()),
            Some("vendored")
        );
    }

    #[test]
    fn unknown_default_is_an_error() {
        let err = Scope::new(&["no-such-rule".into()], &[], 1).err().unwrap();
        assert!(err.to_string().contains("package-tests"), "{err}");
    }
}
