//! The secret scan end to end on small images built inside the tests: the configuration file
//! (`--config`, `.imgaudit.toml`), gitleaks rule files, allowlists and their counts, skip
//! rules and `--explain`, per-rule limits, package-owned files and large files.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

/// Fake credentials built at run time, so the source contains no credential-shaped literal.
fn npm_token(seed: char) -> String {
    format!(
        "npm_{}",
        seed.to_string().repeat(4) + "Zq8Xw7Vu6Ts5Rq4Po3Nm2Lk1Ji0Hg9Fe"
    )
}

fn github_token(seed: char) -> String {
    format!(
        "ghp_{}",
        seed.to_string().repeat(4) + "Q9x8W7v6U5t4S3r2Q1p0O9n8M7l6K5j4"
    )
}

fn app_image(files: Vec<Entry>) -> ImageBuilder {
    ImageBuilder::new().layer(layer("COPY . /app", files))
}

fn write_image(dir: &Path, builder: &ImageBuilder) -> std::path::PathBuf {
    builder.write_oci(dir)
}

/// Runs imgaudit in `cwd` with `args` and returns (exit code, stdout, stderr).
fn run_in(cwd: &Path, args: &[&str], image: &Path) -> (i32, String, String) {
    let output = assert_cmd::Command::cargo_bin("imgaudit")
        .unwrap()
        .current_dir(cwd)
        .args(["--now", "2026-12-04"])
        .args(args)
        .arg(image)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn json_in(cwd: &Path, args: &[&str], image: &Path) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = run_in(cwd, &all, image);
    assert!(code == 0 || code == 1, "exit {code}: {stderr}");
    serde_json::from_str(&stdout).unwrap()
}

fn rules(report: &Value) -> Vec<String> {
    findings(report, "secret-in-file")
        .iter()
        .map(|f| f["evidence"]["rule"].as_str().unwrap().to_owned())
        .collect()
}

fn skipped(report: &Value, rule: &str) -> u64 {
    report["scan"]["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["rule"] == rule)
        .map(|s| s["files"].as_u64().unwrap())
        .unwrap_or_else(|| panic!("no skip rule {rule}"))
}

#[test]
fn scan_section_counts_skips() {
    let dir = tempfile::tempdir().unwrap();
    let image = write_image(
        dir.path(),
        &app_image(vec![
            file("usr/share/doc/tool/README", "see docs\n"),
            file("usr/share/doc/tool/NEWS", "news\n"),
            file(
                "app/node_modules/jose/test/fixture.env",
                &format!("TOKEN={}\n", npm_token('a')),
            ),
            file("app/logo.png", "not really a png"),
            file("app/.env", "PORT=3000\n"),
        ]),
    );
    let report = json_in(dir.path(), &[], &image);
    assert_eq!(skipped(&report, "distro-documentation"), 2);
    assert_eq!(skipped(&report, "package-tests"), 1);
    assert_eq!(skipped(&report, "binary-formats"), 1);
    assert_eq!(report["scan"]["files_scanned"], 1);
    assert!(findings(&report, "secret-in-file").is_empty());
}

#[test]
fn explain_prints_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let image = write_image(
        dir.path(),
        &app_image(vec![file("usr/share/doc/tool/README", "docs\n")]),
    );
    let (code, stdout, _) = run_in(dir.path(), &["--explain"], &image);
    assert_eq!(code, 0);
    assert!(stdout.contains("Secret scan:"), "{stdout}");
    assert!(stdout.contains("distro-documentation"), "{stdout}");
    assert!(stdout.contains("suppressed findings: 0"), "{stdout}");
    let (_, plain, _) = run_in(dir.path(), &[], &image);
    assert!(!plain.contains("Secret scan:"), "{plain}");
}

#[test]
fn excerpt_and_fingerprint_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let token = npm_token('b');
    let image = write_image(
        dir.path(),
        &app_image(vec![file(
            "app/.env",
            &format!("PORT=3000\nNPM_TOKEN={token}\n"),
        )]),
    );
    let report = json_in(dir.path(), &[], &image);
    let found = findings(&report, "secret-in-file");
    assert_eq!(found.len(), 1);
    let evidence = &found[0]["evidence"];
    assert_eq!(evidence["excerpt"], "NPM_TOKEN=npm_********");
    assert!(
        evidence["fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(found[0]["location"]["line"], 2);
    assert!(!report.to_string().contains(&token[4..]));
}

#[test]
fn fingerprint_allowlist_suppresses_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let kept = github_token('c');
    let image = write_image(
        dir.path(),
        &app_image(vec![file(
            "app/.env",
            &format!("NPM_TOKEN={}\nGITHUB_TOKEN={kept}\n", npm_token('c')),
        )]),
    );
    let before = json_in(dir.path(), &[], &image);
    let npm = findings(&before, "secret-in-file")
        .into_iter()
        .find(|f| f["evidence"]["rule"] == "npm-token")
        .unwrap();
    let print = npm["evidence"]["fingerprint"].as_str().unwrap();
    let config = dir.path().join("audit.toml");
    std::fs::write(
        &config,
        format!(
            "[[secrets.allowlist]]\nreason = \"revoked on 2026-11-30\"\nfingerprints = [\"{print}\"]\n"
        ),
    )
    .unwrap();

    let after = json_in(dir.path(), &["--config", config.to_str().unwrap()], &image);
    assert_eq!(rules(&after), vec!["github-token"]);
    let suppressed = &after["scan"]["suppressed"][0];
    assert_eq!(suppressed["findings"], 1);
    assert_eq!(suppressed["reason"], "revoked on 2026-11-30");
    assert_eq!(after["scan"]["suppressed_total"], 1);
}

#[test]
fn default_config_is_read_from_cwd() {
    let dir = tempfile::tempdir().unwrap();
    let image = write_image(
        dir.path(),
        &app_image(vec![file(
            "app/test/fixtures/.env",
            &format!("NPM_TOKEN={}\n", npm_token('d')),
        )]),
    );
    assert_eq!(rules(&json_in(dir.path(), &[], &image)), vec!["npm-token"]);
    std::fs::write(
        dir.path().join(".imgaudit.toml"),
        "[[secrets.allowlist]]\nreason = \"fixtures of our tests\"\npaths = ['''^/app/test/fixtures/''']\n",
    )
    .unwrap();
    let report = json_in(dir.path(), &[], &image);
    assert!(rules(&report).is_empty());
    assert_eq!(report["scan"]["suppressed_total"], 1);
}

#[test]
fn allowlist_without_reason_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let image = write_image(dir.path(), &app_image(vec![file("app/a.txt", "x\n")]));
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[[secrets.allowlist]]\npaths = ['''^/app/''']\n").unwrap();
    let (code, stdout, stderr) =
        run_in(dir.path(), &["--config", config.to_str().unwrap()], &image);
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("has no reason"), "{stderr}");
}

#[test]
fn missing_config_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let image = write_image(dir.path(), &app_image(vec![file("app/a.txt", "x\n")]));
    let (code, _, stderr) = run_in(dir.path(), &["--config", "nope.toml"], &image);
    assert_eq!(code, 2);
    assert!(stderr.contains("nope.toml"), "{stderr}");
}

#[test]
fn user_rule_disabled_rule_and_skip() {
    let dir = tempfile::tempdir().unwrap();
    let image = write_image(
        dir.path(),
        &app_image(vec![
            file("app/acme.conf", "api = acme_9f8a7b6c5d4e3f2a1b0c\n"),
            file(
                "app/session.js",
                "const t='eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIiwic2NvcGUiOiJhZG1pbiJ9.c2lnbmF0dXJlLWJ5dGVzLWhlcmUtMTIzNDU2';\n",
            ),
            file("opt/vendor/lib.js", &format!("k='{}'\n", npm_token('e'))),
        ]),
    );
    let before = json_in(dir.path(), &[], &image);
    let mut found = rules(&before);
    found.sort();
    assert_eq!(found, vec!["jwt", "npm-token"]);

    let config = dir.path().join("audit.toml");
    std::fs::write(
        &config,
        r#"
[secrets]
disabled_rules = ["jwt"]

[[secrets.rules]]
id = "acme-api-key"
title = "ACME API key"
severity = "critical"
keywords = ["acme_"]
regex = '''\b(acme_[0-9a-f]{20})\b'''
entropy = 3.0

[[secrets.skip]]
id = "vendored"
reason = "third-party code we do not build"
paths = ['''^/opt/vendor/''']
"#,
    )
    .unwrap();
    let after = json_in(dir.path(), &["--config", config.to_str().unwrap()], &image);
    let found = findings(&after, "secret-in-file");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["evidence"]["rule"], "acme-api-key");
    assert_eq!(found[0]["severity"], "critical");
    assert_eq!(found[0]["message"], "ACME API key in /app/acme.conf");
    assert_eq!(skipped(&after, "vendored"), 1);
    assert_eq!(after["scan"]["rules"]["user"], 1);
    assert_eq!(after["scan"]["rules"]["disabled"][0], "jwt");
}

const GITLEAKS: &str = r#"
title = "team rules"

[[rules]]
id = "acme-api-key"
description = "ACME API key"
regex = '''(?i)acme[_-]?key\s*[:=]\s*['"]?(acme_[0-9a-f]{20})'''
secretGroup = 1
keywords = ["acme"]

[[rules]]
id = "lookbehind"
description = "uses syntax Go and Rust reject"
regex = '''(?<=x)y'''
keywords = ["x"]

[[allowlists]]
description = "fixture keys"
targetRules = ["acme-api-key"]
stopwords = ["0000"]
"#;

#[test]
fn gitleaks_file_from_flag() {
    let dir = tempfile::tempdir().unwrap();
    let image = write_image(
        dir.path(),
        &app_image(vec![file(
            "app/acme.env",
            "ACME_KEY=acme_9f8a7b6c5d4e3f2a1b0c\nacme-key: 'acme_00009f8a7b6c5d4e3f2a'\n",
        )]),
    );
    let rules_file = dir.path().join("gitleaks.toml");
    std::fs::write(&rules_file, GITLEAKS).unwrap();
    let report = json_in(
        dir.path(),
        &["--gitleaks-config", rules_file.to_str().unwrap()],
        &image,
    );
    let found = findings(&report, "secret-in-file");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["evidence"]["rule"], "gitleaks:acme-api-key");
    assert_eq!(found[0]["location"]["line"], 1);
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("gitleaks:lookbehind"), "{warnings}");
    assert_eq!(report["scan"]["rules"]["gitleaks"], 1);
    assert_eq!(report["scan"]["suppressed_total"], 1);
}

#[test]
fn gitleaks_file_from_config() {
    let dir = tempfile::tempdir().unwrap();
    let image = write_image(
        dir.path(),
        &app_image(vec![file(
            "app/acme.env",
            "ACME_KEY=acme_9f8a7b6c5d4e3f2a1b0c\n",
        )]),
    );
    std::fs::create_dir(dir.path().join("ci")).unwrap();
    std::fs::write(dir.path().join("ci/gitleaks.toml"), GITLEAKS).unwrap();
    std::fs::write(
        dir.path().join("ci/imgaudit.toml"),
        "[secrets]\ngitleaks_config = \"gitleaks.toml\"\n",
    )
    .unwrap();
    let report = json_in(dir.path(), &["--config", "ci/imgaudit.toml"], &image);
    assert_eq!(rules(&report), vec!["gitleaks:acme-api-key"]);
}

#[test]
fn per_rule_limit_truncates_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<Entry> = ('f'..='k')
        .map(|seed| {
            file(
                &format!("app/t{seed}.txt"),
                &format!("{}\n", npm_token(seed)),
            )
        })
        .collect();
    let image = write_image(dir.path(), &app_image(files));
    std::fs::write(
        dir.path().join(".imgaudit.toml"),
        "[secrets]\nmax_findings_per_rule = 4\n",
    )
    .unwrap();
    let report = json_in(dir.path(), &[], &image);
    assert_eq!(findings(&report, "secret-in-file").len(), 4);
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "secret-in-file")
        .unwrap();
    let notes = check["notes"].to_string();
    assert!(
        notes.contains("truncated: rule npm-token matched 6 times"),
        "{notes}"
    );
    let truncated = &report["scan"]["truncated_rules"][0];
    assert_eq!(truncated["rule"], "npm-token");
    assert_eq!(truncated["dropped"], 2);
}

#[test]
fn same_secret_reported_per_path_and_layer() {
    let dir = tempfile::tempdir().unwrap();
    let line = format!("TOKEN={}\n", npm_token('m'));
    let image = write_image(
        dir.path(),
        &ImageBuilder::new()
            .layer(layer(
                "COPY . /app",
                vec![file("app/a.env", &line), file("app/b.env", &line)],
            ))
            .layer(layer(
                "COPY a.env /app/a.env",
                vec![file("app/a.env", &line)],
            )),
    );
    let report = json_in(dir.path(), &[], &image);
    let mut places: Vec<(String, u64)> = findings(&report, "secret-in-file")
        .iter()
        .map(|f| {
            (
                f["location"]["path"].as_str().unwrap().to_owned(),
                f["location"]["layer"]["index"].as_u64().unwrap(),
            )
        })
        .collect();
    places.sort();
    assert_eq!(
        places,
        vec![
            ("/app/a.env".to_owned(), 0),
            ("/app/a.env".to_owned(), 1),
            ("/app/b.env".to_owned(), 0)
        ]
    );
}

/// A private key shipped by a distro package, listed in dpkg's file list.
fn dpkg_layer(key_path: &str) -> Layer {
    let key = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
        "MIIEowIBAAKCAQEAz9xQ3vL8kPq2mN7rT5wY1bC4dF6gH8jK0lQ3sU5vW7xZ9aB".repeat(3)
    );
    layer(
        "RUN apt-get install -y python3-fixture",
        vec![
            file(
                "var/lib/dpkg/info/python3-fixture.list",
                &format!("/.\n/usr\n{key_path}\n"),
            ),
            file(key_path.trim_start_matches('/'), &key),
        ],
    )
}

#[test]
fn package_owned_file_is_downgraded() {
    let dir = tempfile::tempdir().unwrap();
    let image = write_image(
        dir.path(),
        &ImageBuilder::new().layer(dpkg_layer("/usr/lib/python3/dist-packages/fixture/key.pem")),
    );
    let report = json_in(dir.path(), &[], &image);
    let found = findings(&report, "secret-in-file");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["severity"], "info");
    let message = found[0]["message"].as_str().unwrap();
    assert!(
        message.contains("ships in dpkg package python3-fixture"),
        "{message}"
    );
}

#[test]
fn package_file_rewritten_later_is_not_downgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = "/usr/share/fixture/key.pem";
    let mut rewrite = dpkg_layer(path);
    rewrite
        .entries
        .retain(|e| !matches!(e, Entry::File { path: name, .. } if name.ends_with(".list")));
    rewrite.created_by = "COPY key.pem /usr/share/fixture/key.pem".into();
    let image = write_image(
        dir.path(),
        &ImageBuilder::new().layer(dpkg_layer(path)).layer(rewrite),
    );
    let report = json_in(dir.path(), &[], &image);
    let severities: Vec<(u64, String)> = findings(&report, "secret-in-file")
        .iter()
        .map(|f| {
            (
                f["location"]["layer"]["index"].as_u64().unwrap(),
                f["severity"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        severities,
        vec![(1, "critical".to_owned()), (0, "info".to_owned())]
    );
}

#[test]
fn apk_owned_file_is_downgraded() {
    let dir = tempfile::tempdir().unwrap();
    let image = write_image(
        dir.path(),
        &ImageBuilder::new().layer(layer(
            "RUN apk add py3-fixture",
            vec![
                file(
                    "lib/apk/db/installed",
                    "P:py3-fixture\nV:1.0-r0\nF:usr/lib/python3.12/site-packages/fixture\nR:settings.env\n\n",
                ),
                file(
                    "usr/lib/python3.12/site-packages/fixture/settings.env",
                    &format!("TOKEN={}\n", npm_token('n')),
                ),
            ],
        )),
    );
    let report = json_in(dir.path(), &[], &image);
    let found = findings(&report, "secret-in-file");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["severity"], "info");
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .contains("apk package py3-fixture")
    );
}

#[test]
fn large_text_file_is_scanned_in_chunks() {
    // 20 MiB, above the 16 MiB that was once the limit, with a token near the end.
    let dir = tempfile::tempdir().unwrap();
    let filler = "let value = compute(previous, 42); // filler line\n";
    let lines = 20 * 1024 * 1024 / filler.len();
    let mut text = filler.repeat(lines);
    text.push_str(&format!("const t = '{}';\n", github_token('p')));
    let image = write_image(dir.path(), &app_image(vec![file("app/bundle.js", &text)]));
    let report = json_in(dir.path(), &[], &image);
    let found = findings(&report, "secret-in-file");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["location"]["line"], lines as u64 + 1);
    assert_eq!(report["scan"]["files_scanned_in_chunks"], 1);
}

#[test]
fn file_above_the_limit_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = "x".repeat(2048);
    text.push_str(&format!("\n{}\n", github_token('q')));
    let image = write_image(dir.path(), &app_image(vec![file("app/big.txt", &text)]));
    std::fs::write(
        dir.path().join(".imgaudit.toml"),
        "[secrets]\nmax_file_bytes = 1024\n",
    )
    .unwrap();
    let report = json_in(dir.path(), &[], &image);
    assert!(findings(&report, "secret-in-file").is_empty());
    assert_eq!(skipped(&report, "too-large"), 1);
}

#[test]
fn per_file_limit_truncates_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..8)
        .map(|i| format!("T{i}={}\n", npm_token(char::from(b'a' + i))))
        .collect();
    let image = write_image(dir.path(), &app_image(vec![file("app/tokens.txt", &text)]));
    std::fs::write(
        dir.path().join(".imgaudit.toml"),
        "[secrets]\nmax_matches_per_file = 5\n",
    )
    .unwrap();
    let report = json_in(dir.path(), &[], &image);
    assert_eq!(findings(&report, "secret-in-file").len(), 5);
    assert_eq!(report["scan"]["truncated_file_count"], 1);
    assert_eq!(report["scan"]["truncated_files"][0], "/app/tokens.txt");
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "secret-in-file")
        .unwrap();
    let notes = check["notes"].to_string();
    assert!(
        notes.contains("the scan of /app/tokens.txt stopped at 5 matches per file"),
        "{notes}"
    );
}

#[test]
fn debug_log_counts_skips_per_rule() {
    let dir = tempfile::tempdir().unwrap();
    let image = write_image(
        dir.path(),
        &app_image(vec![
            file("usr/share/doc/tool/README", "docs\n"),
            file("usr/share/man/man1/tool.1", "manual\n"),
        ]),
    );
    let (code, _, stderr) = run_in(dir.path(), &["-vv"], &image);
    assert_eq!(code, 0, "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("secret scan skipped files") && l.contains("distro-documentation"))
        .unwrap_or_else(|| panic!("no skip line in {stderr}"));
    assert!(line.contains("files=2"), "{line}");
}

#[test]
fn gitleaks_global_allowlist_spares_builtin_rules() {
    let dir = tempfile::tempdir().unwrap();
    let image = write_image(
        dir.path(),
        &app_image(vec![file(
            "app/node_modules/internal-sdk/config.js",
            &format!("module.exports = {{ token: '{}' }};\n", npm_token('r')),
        )]),
    );
    let rules_file = dir.path().join("gitleaks.toml");
    std::fs::write(
        &rules_file,
        "[allowlist]\ndescription = \"dependencies\"\npaths = ['''(?:^|/)node_modules(?:/.*)?$''']\n\n[[rules]]\nid = \"npm\"\nregex = '''npm_[A-Za-z0-9]{36}'''\nkeywords = [\"npm_\"]\n",
    )
    .unwrap();
    let report = json_in(
        dir.path(),
        &["--gitleaks-config", rules_file.to_str().unwrap()],
        &image,
    );
    assert_eq!(rules(&report), vec!["npm-token"]);
}

#[test]
fn path_only_rule_reports_whole_files() {
    let dir = tempfile::tempdir().unwrap();
    let image = write_image(
        dir.path(),
        &app_image(vec![
            file("app/certs/client.p12", "\u{0}binary key store"),
            file("app/certs/readme.txt", "see client.p12\n"),
        ]),
    );
    let rules_file = dir.path().join("gitleaks.toml");
    std::fs::write(
        &rules_file,
        "[[rules]]\nid = \"pkcs12-file\"\ndescription = \"PKCS #12 key store\"\npath = '''(?i)(?:^|/)[^/]+\\.(?:p12|pfx)$'''\n",
    )
    .unwrap();
    let report = json_in(
        dir.path(),
        &["--gitleaks-config", rules_file.to_str().unwrap()],
        &image,
    );
    let found = findings(&report, "secret-in-file");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["evidence"]["rule"], "gitleaks:pkcs12-file");
    assert_eq!(found[0]["location"]["path"], "/app/certs/client.p12");
    assert_eq!(found[0]["evidence"]["masked"], "(the whole file)");
    assert!(found[0]["location"].get("line").is_none());
    assert_eq!(report["scan"]["rules"]["gitleaks"], 1);
}
