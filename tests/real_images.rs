//! End-to-end audits of real container images. `tests/images/build.sh` builds four of them in
//! all five archive forms: Debian with Node.js 20, a distroless-style Debian with Node.js 24,
//! Alpine with a musl Node.js 22, and an empty scratch image. The fifth image is the committed
//! `testdata/busybox-app.docker.tar`.
//!
//! Every test runs the built binary with `--format json --now 2026-12-04` and reads the JSON
//! report. The fake secret values come from `tests/images/fake-secrets.sh`.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use assert_cmd::Command;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// Audit date for every run, so that Node.js support status does not depend on the clock.
/// On this day Node.js 18 and 20 are end of life, 22 and 24 in maintenance, 26 Active LTS.
const NOW: &str = "2026-12-04";

const IMAGES: [&str; 4] = [
    "node20-root",
    "node24-distroless",
    "alpine-musl",
    "scratch-empty",
];

/// File name suffixes of the forms that build.sh writes for each image.
const FORMS: [&str; 5] = ["docker.tar", "docker25.tar", "oci.tar", "oci", "zstd.oci"];

/// `image.format` that the report states for each entry of [`FORMS`].
const FORMATS: [&str; 5] = [
    "docker-archive",
    "docker-oci-archive",
    "oci-archive",
    "oci-layout",
    "oci-layout",
];

/// The checks, in report order.
const CHECK_IDS: [&str; 6] = [
    "root-user",
    "shell-present",
    "secret-in-config",
    "secret-in-file",
    "alpine-musl-base",
    "node-eol",
];

/// Length of the substrings of a secret that must not appear in any output. Masked values
/// show 4 characters, so 8 leaves room for the mask and catches a value that a table wraps.
const LEAK_WINDOW: usize = 8;

// ---------------------------------------------------------------------------------------------
// Locating images

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Returns the directory of the built images: `IMGAUDIT_TEST_IMAGES`, else
/// `target/test-images`. Fails with a build hint when any form of any image is missing.
fn images_dir() -> PathBuf {
    let dir = match std::env::var_os("IMGAUDIT_TEST_IMAGES") {
        Some(dir) => PathBuf::from(dir),
        None => repo_root().join("target/test-images"),
    };
    checked_images_dir(dir)
}

fn checked_images_dir(dir: PathBuf) -> PathBuf {
    let missing: Vec<String> = IMAGES
        .iter()
        .flat_map(|name| FORMS.iter().map(move |form| format!("{name}.{form}")))
        .filter(|file| !dir.join(file).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "the real test images are missing from {} ({}); build them with `bash tests/images/build.sh` \
         (as root; set IMGAUDIT_TEST_IMAGES to use another directory)",
        dir.display(),
        missing.join(", ")
    );
    dir
}

fn image_path(name: &str, form: &str) -> PathBuf {
    images_dir().join(format!("{name}.{form}"))
}

fn testdata_path() -> PathBuf {
    repo_root().join("testdata/busybox-app.docker.tar")
}

// ---------------------------------------------------------------------------------------------
// Running imgaudit

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run_imgaudit<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let output = Command::cargo_bin("imgaudit")
        .expect("the imgaudit binary is built")
        .env_remove("IMGAUDIT_NOW")
        .env_remove("IMGAUDIT_LOG")
        .args(args)
        .output()
        .expect("imgaudit starts");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// A report computed once and shared by every test that needs it.
type ReportSlot = Arc<OnceLock<Arc<Value>>>;

/// Runs `imgaudit --format json --now NOW PATH` and parses the report. Each path is audited
/// once per test process, because the large images take seconds each in a debug build.
fn report(path: &Path) -> Arc<Value> {
    static REPORTS: OnceLock<Mutex<HashMap<PathBuf, ReportSlot>>> = OnceLock::new();
    let slot = REPORTS
        .get_or_init(Mutex::default)
        .lock()
        .expect("report cache lock")
        .entry(path.to_owned())
        .or_default()
        .clone();
    slot.get_or_init(|| {
        let run = run_imgaudit([
            OsStr::new("--format"),
            OsStr::new("json"),
            OsStr::new("--now"),
            OsStr::new(NOW),
            path.as_os_str(),
        ]);
        assert_eq!(
            run.code,
            Some(0),
            "imgaudit {} exited with {:?} without a gate; stderr:\n{}",
            path.display(),
            run.code,
            run.stderr
        );
        let report: Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|err| panic!("report of {} is not JSON: {err}", path.display()));
        Arc::new(report)
    })
    .clone()
}

/// Reports of every form of one built image, labelled `NAME.FORM`.
fn every_form(name: &str) -> Vec<(String, Arc<Value>)> {
    FORMS
        .iter()
        .map(|form| {
            let label = format!("{name}.{form}");
            (label, report(&image_path(name, form)))
        })
        .collect()
}

/// Reports of every form of every built image, plus the testdata image.
fn every_report() -> Vec<(String, Arc<Value>)> {
    let mut reports: Vec<(String, Arc<Value>)> =
        IMAGES.iter().flat_map(|name| every_form(name)).collect();
    reports.push(("testdata".into(), report(&testdata_path())));
    reports
}

// ---------------------------------------------------------------------------------------------
// Reading reports

fn findings<'a>(report: &'a Value, check_id: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .expect("findings is an array")
        .iter()
        .filter(|finding| finding["check_id"] == check_id)
        .collect()
}

fn check<'a>(report: &'a Value, check_id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .expect("checks is an array")
        .iter()
        .find(|check| check["id"] == check_id)
        .unwrap_or_else(|| panic!("the report has no check {check_id}"))
}

fn status<'a>(report: &'a Value, check_id: &str) -> &'a str {
    check(report, check_id)["status"]
        .as_str()
        .expect("status is a string")
}

fn string<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn layer_index(finding: &Value) -> Option<u64> {
    finding
        .pointer("/location/layer/index")
        .and_then(Value::as_u64)
}

fn finding_with_path<'a>(found: &[&'a Value], path: &str) -> &'a Value {
    found
        .iter()
        .find(|finding| string(finding, "/location/path") == path)
        .copied()
        .unwrap_or_else(|| panic!("no finding at {path} in {found:#?}"))
}

fn finding_with_field<'a>(found: &[&'a Value], field: &str) -> &'a Value {
    found
        .iter()
        .find(|finding| string(finding, "/location/config_field") == field)
        .copied()
        .unwrap_or_else(|| panic!("no finding at {field} in {found:#?}"))
}

/// The fields that must not change with the archive form. Layer digests do change (a
/// docker-archive names layers by diff_id, an OCI layout by compressed blob digest).
fn comparable(report: &Value) -> Vec<String> {
    let mut keys: Vec<String> = report["findings"]
        .as_array()
        .expect("findings is an array")
        .iter()
        .map(|finding| {
            format!(
                "{} {} path={} line={} layer={:?} field={} fingerprint={}",
                string(finding, "/check_id"),
                string(finding, "/severity"),
                string(finding, "/location/path"),
                finding.pointer("/location/line").unwrap_or(&Value::Null),
                layer_index(finding),
                string(finding, "/location/config_field"),
                string(finding, "/evidence/fingerprint"),
            )
        })
        .collect();
    keys.sort();
    keys
}

// ---------------------------------------------------------------------------------------------
// Reading image files

/// Parses the `FAKE_*` assignments of fake-secrets.sh: joins adjacent quoted pieces and
/// expands `${NAME}` references to earlier assignments, as bash does for these lines.
fn fake_secrets() -> BTreeMap<String, String> {
    let path = repo_root().join("tests/images/fake-secrets.sh");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("failed to read {}: {err}", path.display()));
    let mut secrets = BTreeMap::new();
    for line in text.lines() {
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        if !name.starts_with("FAKE_") || name.contains(char::is_whitespace) {
            continue;
        }
        let value = shell_value(value, &secrets);
        assert!(!value.is_empty(), "{name} in {} is empty", path.display());
        secrets.insert(name.to_owned(), value);
    }
    assert!(
        secrets.len() >= 10,
        "expected at least 10 FAKE_ values in {}, found {secrets:?}",
        path.display()
    );
    secrets
}

/// Evaluates the right-hand side of a simple bash assignment: single-quoted, double-quoted
/// and bare pieces, with `${NAME}` expanded outside single quotes.
fn shell_value(text: &str, known: &BTreeMap<String, String>) -> String {
    let mut value = String::new();
    let mut chars = text.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, c) if c.is_whitespace() => break,
            (Some('\''), c) => value.push(c),
            (_, '$') if chars.peek() == Some(&'{') => {
                chars.next();
                let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                let expanded = known
                    .get(&name)
                    .unwrap_or_else(|| panic!("${{{name}}} is used before it is assigned"));
                value.push_str(expanded);
            }
            (_, c) => value.push(c),
        }
    }
    value
}

/// Strips the fixed prefix of a fake secret's format (`npm_`, `ghp_`, …), leaving the random part.
fn random_part(value: &str) -> &str {
    ["npm_", "sk_live_", "ghp_", "AKIA"]
        .iter()
        .find_map(|prefix| value.strip_prefix(prefix))
        .unwrap_or(value)
}

/// Reads one member of a tar archive whole.
fn tar_member(archive: &Path, name: &str) -> Vec<u8> {
    let file = std::fs::File::open(archive)
        .unwrap_or_else(|err| panic!("failed to open {}: {err}", archive.display()));
    let mut tar = tar::Archive::new(file);
    for entry in tar.entries().expect("the archive is a tar") {
        let mut entry = entry.expect("the tar entry is readable");
        let path = entry.path().expect("the entry has a path").into_owned();
        if path.to_string_lossy().trim_start_matches("./") == name {
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .expect("the entry is readable");
            return bytes;
        }
    }
    panic!("{name} is not in {}", archive.display());
}

/// Reads a file of an OCI layout, either a directory or a tar archive of one.
fn layout_file(layout: &Path, name: &str) -> Vec<u8> {
    if layout.is_dir() {
        let path = layout.join(name);
        std::fs::read(&path)
            .unwrap_or_else(|err| panic!("failed to read {}: {err}", path.display()))
    } else {
        tar_member(layout, name)
    }
}

fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn blob_name(digest: &str) -> String {
    format!("blobs/{}", digest.replacen(':', "/", 1))
}

/// Reads the config of a built image from its OCI layout directory.
fn oci_config(name: &str) -> Value {
    let layout = image_path(name, "oci");
    let index: Value = serde_json::from_slice(&layout_file(&layout, "index.json")).unwrap();
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest: Value =
        serde_json::from_slice(&layout_file(&layout, &blob_name(manifest_digest))).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    serde_json::from_slice(&layout_file(&layout, &blob_name(config_digest))).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Report shape and form independence

#[test]
fn missing_images_fail_with_build_hint() {
    let empty = tempfile::tempdir().unwrap();
    let panic = std::panic::catch_unwind(|| checked_images_dir(empty.path().to_owned()))
        .expect_err("an empty images directory is rejected");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("bash tests/images/build.sh"), "{message}");
    assert!(message.contains("node20-root.docker.tar"), "{message}");
}

#[test]
fn every_report_lists_six_checks_in_order() {
    for (label, report) in every_report() {
        assert_eq!(report["schema_version"], 1, "{label}");
        assert_eq!(report["audit_date"], NOW, "{label}");
        let ids: Vec<&str> = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|check| check["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, CHECK_IDS, "{label}");
        assert_eq!(report["gate"]["passed"], true, "{label}");
        assert_eq!(
            report["summary"]["findings"],
            report["findings"].as_array().unwrap().len(),
            "{label}"
        );
    }
}

#[test]
fn every_form_gives_same_findings() {
    for name in IMAGES {
        let reports = every_form(name);
        let (first_label, first) = &reports[0];
        let expected = comparable(first);
        for (label, report) in &reports[1..] {
            assert_eq!(
                comparable(report),
                expected,
                "{label} differs from {first_label}"
            );
            assert_eq!(
                report["image"]["config_digest"], first["image"]["config_digest"],
                "{label} config digest differs from {first_label}"
            );
            assert_eq!(report["score"], first["score"], "{label} score");
            assert_eq!(report["grade"], first["grade"], "{label} grade");
            assert_eq!(
                report["image"]["layer_count"], first["image"]["layer_count"],
                "{label} layer count"
            );
            for id in CHECK_IDS {
                assert_eq!(
                    status(report, id),
                    status(first, id),
                    "{label} status of {id}"
                );
            }
        }
    }
}

#[test]
fn stdin_gives_same_findings_as_file() {
    for form in ["docker.tar", "docker25.tar", "oci.tar"] {
        let path = image_path("node20-root", form);
        let output = Command::cargo_bin("imgaudit")
            .expect("the imgaudit binary is built")
            .env_remove("IMGAUDIT_NOW")
            .env_remove("IMGAUDIT_LOG")
            .args(["--format", "json", "--now", NOW, "-"])
            .pipe_stdin(&path)
            .expect("the image file opens")
            .output()
            .expect("imgaudit starts");
        let label = format!("node20-root.{form} on stdin");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{label}: {stderr}");
        let from_stdin: Value = serde_json::from_slice(&output.stdout).unwrap();
        let from_file = report(&path);
        assert_eq!(comparable(&from_stdin), comparable(&from_file), "{label}");
        assert_eq!(
            from_stdin["image"]["config_digest"], from_file["image"]["config_digest"],
            "{label}"
        );
        assert_eq!(
            from_stdin["image"]["manifest_digest"], from_file["image"]["manifest_digest"],
            "{label}"
        );
    }
}

#[test]
fn every_form_reports_its_format() {
    for name in IMAGES {
        for ((label, report), format) in every_form(name).iter().zip(FORMATS) {
            assert_eq!(report["image"]["format"], format, "{label}");
            assert_eq!(report["image"]["platform"], "linux/amd64", "{label}");
        }
    }
}

#[test]
fn config_digest_is_sha256_of_config() {
    for name in IMAGES {
        let layout = image_path(name, "oci");
        let index: Value = serde_json::from_slice(&layout_file(&layout, "index.json")).unwrap();
        let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap();
        let manifest: Value =
            serde_json::from_slice(&layout_file(&layout, &blob_name(manifest_digest))).unwrap();
        let config_digest = manifest["config"]["digest"].as_str().unwrap();
        let config = layout_file(&layout, &blob_name(config_digest));
        assert_eq!(sha256_digest(&config), config_digest, "{name} config blob");
        for (label, report) in every_form(name) {
            assert_eq!(report["image"]["config_digest"], config_digest, "{label}");
        }
    }
}

#[test]
fn oci_forms_report_manifest_digest() {
    for name in IMAGES {
        for form in ["docker25.tar", "oci.tar", "oci", "zstd.oci"] {
            let path = image_path(name, form);
            let index: Value = serde_json::from_slice(&layout_file(&path, "index.json"))
                .unwrap_or_else(|err| panic!("index.json of {name}.{form}: {err}"));
            let manifests = index["manifests"].as_array().unwrap();
            assert_eq!(manifests.len(), 1, "{name}.{form} index.json");
            let digest = manifests[0]["digest"].as_str().unwrap();
            let manifest = layout_file(&path, &blob_name(digest));
            assert_eq!(
                sha256_digest(&manifest),
                digest,
                "{name}.{form} manifest blob"
            );

            let report = report(&path);
            assert_eq!(
                report["image"]["manifest_digest"], digest,
                "{name}.{form} manifest digest"
            );
        }
        let report = report(&image_path(name, "docker.tar"));
        assert!(
            report["image"]["manifest_digest"].is_null(),
            "{name}.docker.tar has no manifest blob but reports {}",
            report["image"]["manifest_digest"]
        );
    }
}

#[test]
fn findings_are_sorted_by_severity() {
    let rank = |severity: &str| match severity {
        "critical" => 4,
        "high" => 3,
        "medium" => 2,
        "low" => 1,
        "info" => 0,
        other => panic!("unknown severity {other}"),
    };
    for (label, report) in every_report() {
        let ranks: Vec<i32> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|finding| rank(finding["severity"].as_str().unwrap()))
            .collect();
        assert!(
            ranks.windows(2).all(|pair| pair[0] >= pair[1]),
            "{label}: findings are not sorted worst first: {ranks:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// root-user

#[test]
fn root_user_implicit_root_on_node20() {
    for (label, report) in every_form("node20-root") {
        let found = findings(&report, "root-user");
        assert_eq!(found.len(), 1, "{label}: {found:#?}");
        assert_eq!(found[0]["severity"], "high", "{label}");
        assert_eq!(
            string(found[0], "/location/config_field"),
            "config.User",
            "{label}"
        );
        let message = string(found[0], "/message");
        assert!(message.contains("no USER"), "{label}: {message}");
        assert!(message.contains("uid 0"), "{label}: {message}");
    }
}

#[test]
fn root_user_root_group_on_alpine() {
    for (label, report) in every_form("alpine-musl") {
        let found = findings(&report, "root-user");
        assert_eq!(found.len(), 1, "{label}: {found:#?}");
        assert_eq!(found[0]["severity"], "low", "{label}");
        let message = string(found[0], "/message");
        assert!(message.contains("1000:0"), "{label}: {message}");
        assert!(message.contains("gid 0"), "{label}: {message}");
    }
}

#[test]
fn root_user_passes_on_distroless() {
    for (label, report) in every_form("node24-distroless") {
        assert_eq!(status(&report, "root-user"), "pass", "{label}");
        assert!(findings(&report, "root-user").is_empty(), "{label}");
        let notes = check(&report, "root-user")["notes"].to_string();
        assert!(notes.contains("65532"), "{label}: {notes}");
    }
}

#[test]
fn root_user_implicit_root_on_testdata() {
    let report = report(&testdata_path());
    let found = findings(&report, "root-user");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["severity"], "high");
}

// ---------------------------------------------------------------------------------------------
// shell-present

#[test]
fn shell_present_bash_and_dash_on_node20() {
    for (label, report) in every_form("node20-root") {
        let found = findings(&report, "shell-present");
        assert_eq!(found.len(), 2, "{label}: {found:#?}");
        for path in ["/usr/bin/bash", "/usr/bin/dash"] {
            let finding = finding_with_path(&found, path);
            assert_eq!(finding["severity"], "medium", "{label} {path}");
            assert_eq!(layer_index(finding), Some(0), "{label} {path}");
            let message = string(finding, "/message");
            assert!(
                message.contains("the container command needs it (shell form `/bin/sh -c"),
                "{label} {path}: {message}"
            );
            let fix = string(finding, "/fix");
            assert!(
                fix.contains("needs a shell") && fix.contains("exec form"),
                "{label} {path}: {fix}"
            );
        }
        let dash = string(finding_with_path(&found, "/usr/bin/dash"), "/message");
        assert!(dash.contains("/usr/bin/sh"), "{label}: {dash}");
    }
}

#[test]
fn shell_present_busybox_applets_on_alpine() {
    for (label, report) in every_form("alpine-musl") {
        let found = findings(&report, "shell-present");
        assert_eq!(found.len(), 1, "{label}: {found:#?}");
        let busybox = finding_with_path(&found, "/bin/busybox");
        assert_eq!(busybox["severity"], "medium", "{label}");
        let message = string(busybox, "/message");
        assert!(message.contains("/bin/sh"), "{label}: {message}");
        assert!(
            message.contains("busybox applet links"),
            "{label}: {message}"
        );
        // CMD ["node", "/app/server.js"] runs without a shell.
        assert!(!message.contains("needs it"), "{label}: {message}");
    }
}

#[test]
fn shell_present_busybox_applets_on_testdata() {
    let report = report(&testdata_path());
    let found = findings(&report, "shell-present");
    assert_eq!(found.len(), 1, "{found:#?}");
    let message = string(finding_with_path(&found, "/bin/busybox"), "/message");
    assert!(message.contains("busybox applet links"), "{message}");
    assert!(message.contains("shell form"), "{message}");
}

#[test]
fn shell_present_passes_without_shell() {
    for name in ["node24-distroless", "scratch-empty"] {
        for (label, report) in every_form(name) {
            assert_eq!(status(&report, "shell-present"), "pass", "{label}");
            assert!(findings(&report, "shell-present").is_empty(), "{label}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// secret-in-config

#[test]
fn node20_config_contains_planted_tokens() {
    let secrets = fake_secrets();
    let config = oci_config("node20-root");
    let config_text = config.to_string();
    assert!(config_text.contains(&secrets["FAKE_NPM_TOKEN_ENV"]));
    assert!(config_text.contains(&secrets["FAKE_NPM_TOKEN_BUILD_ARG"]));
    assert_eq!(config["history"].as_array().unwrap().len(), 14);
}

#[test]
fn secret_in_config_fires_on_node20() {
    let config = oci_config("node20-root");
    let build_arg_index = config["history"]
        .as_array()
        .unwrap()
        .iter()
        .position(|h| string(h, "/created_by").starts_with("RUN |2 NPM_TOKEN="))
        .expect("node20-root history records the npm ci build argument");
    let build_arg_field = format!("history[{build_arg_index}]");

    for (label, report) in every_form("node20-root") {
        let found = findings(&report, "secret-in-config");
        assert_eq!(found.len(), 2, "{label}: {found:#?}");
        let env = finding_with_field(&found, "config.Env");
        let build_arg = finding_with_field(&found, &build_arg_field);
        for finding in [env, build_arg] {
            assert_eq!(finding["severity"], "critical", "{label}");
            assert_eq!(string(finding, "/evidence/rule"), "npm-token", "{label}");
            assert!(
                string(finding, "/message").contains("NPM_TOKEN"),
                "{label}: {finding}"
            );
            let masked = string(finding, "/evidence/masked");
            assert!(
                masked.starts_with("npm_") && masked.contains('*'),
                "{label}: masked {masked}"
            );
            let fingerprint = string(finding, "/evidence/fingerprint");
            let hex = fingerprint.strip_prefix("sha256:").unwrap_or_default();
            assert!(
                hex.len() >= 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
                "{label}: fingerprint {fingerprint}"
            );
        }
        assert_ne!(
            env["evidence"]["fingerprint"], build_arg["evidence"]["fingerprint"],
            "{label}: the Env and build-argument tokens differ, so must their fingerprints"
        );
    }
}

#[test]
fn secret_in_config_ignores_distroless_decoys() {
    let decoys = [
        "NEXT_PUBLIC_API_URL",
        "YARN_GPG_KEY",
        "KEYCLOAK_VERSION",
        "PUBLIC_KEY_PATH",
        "DB_PASSWORD",
        "API_TOKEN",
    ];
    let config = oci_config("node24-distroless").to_string();
    for decoy in decoys {
        assert!(
            config.contains(decoy),
            "the decoy {decoy} is not in the config"
        );
    }
    for (label, report) in every_form("node24-distroless") {
        assert_eq!(status(&report, "secret-in-config"), "pass", "{label}");
        let found = findings(&report, "secret-in-config");
        assert!(found.is_empty(), "{label}: decoys fired: {found:#?}");
    }
}

#[test]
fn secret_in_config_fires_on_testdata() {
    let report = report(&testdata_path());
    let found = findings(&report, "secret-in-config");
    assert_eq!(found.len(), 1, "{found:#?}");
    let env = finding_with_field(&found, "config.Env");
    assert_eq!(string(env, "/evidence/rule"), "npm-token");
}

#[test]
fn secret_in_config_passes_without_secrets() {
    for name in ["alpine-musl", "scratch-empty"] {
        for (label, report) in every_form(name) {
            assert_eq!(status(&report, "secret-in-config"), "pass", "{label}");
            assert!(findings(&report, "secret-in-config").is_empty(), "{label}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// secret-in-file

#[test]
fn secret_in_file_fires_on_node20() {
    for (label, report) in every_form("node20-root") {
        let found = findings(&report, "secret-in-file");
        assert_eq!(found.len(), 3, "{label}: {found:#?}");

        let stripe = found
            .iter()
            .find(|f| string(f, "/evidence/rule") == "stripe-live-key")
            .unwrap_or_else(|| panic!("{label}: no Stripe key in {found:#?}"));
        assert_eq!(string(stripe, "/location/path"), "/app/.env", "{label}");
        assert_eq!(stripe["location"]["line"], 2, "{label}");
        assert_eq!(stripe["severity"], "critical", "{label}");
        assert_eq!(layer_index(stripe), Some(2), "{label}");
        assert_eq!(
            string(stripe, "/location/layer/created_by"),
            "COPY . /app # buildkit",
            "{label}"
        );

        let password = found
            .iter()
            .find(|f| string(f, "/evidence/rule") == "url-credentials")
            .unwrap_or_else(|| panic!("{label}: no URL password in {found:#?}"));
        assert_eq!(string(password, "/location/path"), "/app/.env", "{label}");
        assert_eq!(password["location"]["line"], 1, "{label}");
        assert_eq!(layer_index(password), Some(2), "{label}");

        let npmrc = finding_with_path(&found, "/root/.npmrc");
        assert_eq!(string(npmrc, "/evidence/rule"), "npm-token", "{label}");
        assert_eq!(npmrc["severity"], "critical", "{label}");
        assert_eq!(layer_index(npmrc), Some(3), "{label}");
        let message = string(npmrc, "/message");
        assert!(message.contains("added in layer 3"), "{label}: {message}");
        assert!(message.contains("deleted in layer 4"), "{label}: {message}");
    }
}

#[test]
fn secret_in_file_ignores_examples_and_lockfile() {
    for (label, report) in every_form("node20-root") {
        for finding in findings(&report, "secret-in-file") {
            let path = string(finding, "/location/path");
            assert!(
                !path.ends_with(".env.example") && !path.ends_with("package-lock.json"),
                "{label}: decoy file fired: {finding}"
            );
        }
    }
}

#[test]
fn secret_in_file_ignores_distroless_decoys() {
    for (label, report) in every_form("node24-distroless") {
        assert_eq!(status(&report, "secret-in-file"), "pass", "{label}");
        let found = findings(&report, "secret-in-file");
        assert!(found.is_empty(), "{label}: decoys fired: {found:#?}");
    }
}

#[test]
fn secret_in_file_fires_on_testdata() {
    let report = report(&testdata_path());
    let found = findings(&report, "secret-in-file");
    assert_eq!(found.len(), 3, "{found:#?}");
    let rules: BTreeMap<&str, &Value> = found
        .iter()
        .map(|f| (string(f, "/evidence/rule"), *f))
        .collect();

    let key_id = rules["aws-access-key-id"];
    assert_eq!(string(key_id, "/location/path"), "/app/.env");
    assert_eq!(key_id["location"]["line"], 1);
    assert_eq!(layer_index(key_id), Some(1));

    let secret_key = rules["aws-secret-access-key"];
    assert_eq!(string(secret_key, "/location/path"), "/app/.env");
    assert_eq!(secret_key["location"]["line"], 2);
    assert_eq!(secret_key["severity"], "critical");

    let github = rules["github-token"];
    assert_eq!(string(github, "/location/path"), "/app/.git-credentials");
    assert_eq!(layer_index(github), Some(1));
    let message = string(github, "/message");
    assert!(message.contains("deleted in layer 2"), "{message}");
}

#[test]
fn secret_in_file_passes_without_secrets() {
    for name in ["alpine-musl", "scratch-empty"] {
        for (label, report) in every_form(name) {
            assert_eq!(status(&report, "secret-in-file"), "pass", "{label}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// alpine-musl-base

#[test]
fn alpine_musl_base_fires_on_alpine() {
    for (label, report) in every_form("alpine-musl") {
        let found = findings(&report, "alpine-musl-base");
        assert_eq!(found.len(), 1, "{label}: {found:#?}");
        assert_eq!(found[0]["severity"], "medium", "{label}");
        let message = string(found[0], "/message");
        assert!(message.contains("Alpine Linux v3.23"), "{label}: {message}");
        assert!(
            message.contains("ld-musl-x86_64.so.1"),
            "{label}: {message}"
        );
        assert_eq!(
            string(found[0], "/location/path"),
            "/lib/ld-musl-x86_64.so.1",
            "{label}"
        );
        assert_eq!(report["image"]["base_os"], "Alpine Linux v3.23", "{label}");
    }
}

#[test]
fn alpine_musl_base_passes_on_debian() {
    let mut reports = every_form("node20-root");
    reports.extend(every_form("node24-distroless"));
    reports.push(("testdata".into(), report(&testdata_path())));
    for (label, report) in reports {
        assert_eq!(status(&report, "alpine-musl-base"), "pass", "{label}");
        assert_eq!(
            report["image"]["base_os"], "Debian GNU/Linux 12 (bookworm)",
            "{label}"
        );
    }
}

#[test]
fn alpine_musl_base_not_applicable_on_scratch() {
    for (label, report) in every_form("scratch-empty") {
        assert_eq!(
            status(&report, "alpine-musl-base"),
            "not-applicable",
            "{label}"
        );
        assert!(report["image"]["base_os"].is_null(), "{label}");
    }
}

// ---------------------------------------------------------------------------------------------
// node-eol

/// Asserts that `report` has one node-eol finding for `version` with `severity`, and returns it.
fn single_node_finding<'a>(
    label: &str,
    report: &'a Value,
    version: &str,
    severity: &str,
) -> &'a Value {
    let found = findings(report, "node-eol");
    assert_eq!(found.len(), 1, "{label}: {found:#?}");
    let finding = found[0];
    assert_eq!(finding["severity"], severity, "{label}");
    let message = string(finding, "/message");
    assert!(
        message.contains(&format!("Node.js {version} ")),
        "{label}: {message}"
    );
    finding
}

#[test]
fn node_eol_node20_binary_is_high() {
    for (label, report) in every_form("node20-root") {
        let finding = single_node_finding(&label, &report, "20.20.2", "high");
        let message = string(finding, "/message");
        assert!(
            message.contains("binary /usr/local/bin/node"),
            "{label}: {message}"
        );
        assert!(message.contains("2026-04-30"), "{label}: {message}");
        assert_eq!(layer_index(finding), Some(1), "{label}");
        let notes = check(&report, "node-eol")["notes"].to_string();
        assert!(
            !notes.contains("the binary wins"),
            "{label}: NODE_VERSION and the header match the binary, yet: {notes}"
        );
    }
}

#[test]
fn node_eol_node24_is_maintenance() {
    for (label, report) in every_form("node24-distroless") {
        let finding = single_node_finding(&label, &report, "24.22.3", "medium");
        let message = string(finding, "/message");
        assert!(message.contains("maintenance"), "{label}: {message}");
        assert_eq!(
            string(finding, "/location/path"),
            "/usr/local/bin/node",
            "{label}"
        );
    }
}

#[test]
fn node_eol_musl_node22_is_maintenance() {
    for (label, report) in every_form("alpine-musl") {
        let finding = single_node_finding(&label, &report, "22.20.0", "medium");
        let message = string(finding, "/message");
        assert!(message.contains("binary"), "{label}: {message}");
        assert!(message.contains("2027-04-30"), "{label}: {message}");
    }
}

#[test]
fn node_eol_testdata_env_version_is_low() {
    // The image has no Node.js binary, only NODE_VERSION, so the end-of-life finding is
    // capped at low.
    let report = report(&testdata_path());
    let finding = single_node_finding("testdata", &report, "18.20.4", "low");
    assert_eq!(string(finding, "/location/config_field"), "config.Env");
    let message = string(finding, "/message");
    assert!(message.contains("NODE_VERSION"), "{message}");
}

#[test]
fn node_eol_not_applicable_on_scratch() {
    for (label, report) in every_form("scratch-empty") {
        assert_eq!(status(&report, "node-eol"), "not-applicable", "{label}");
    }
}

// ---------------------------------------------------------------------------------------------
// Secret values never leave the image

#[test]
fn fake_secrets_are_in_the_images() {
    let secrets = fake_secrets();
    let node20 = std::fs::read(image_path("node20-root", "docker.tar")).unwrap();
    let testdata = std::fs::read(testdata_path()).unwrap();
    let contains =
        |haystack: &[u8], needle: &str| memchr::memmem::find(haystack, needle.as_bytes()).is_some();
    for name in [
        "FAKE_DATABASE_URL",
        "FAKE_STRIPE_SECRET_KEY",
        "FAKE_NPM_TOKEN_ENV",
        "FAKE_NPM_TOKEN_NPMRC",
        "FAKE_NPM_TOKEN_BUILD_ARG",
    ] {
        assert!(
            contains(&node20, &secrets[name]),
            "{name} is not in node20-root"
        );
    }
    for name in [
        "FAKE_NPM_TOKEN_TESTDATA",
        "FAKE_AWS_ACCESS_KEY_ID",
        "FAKE_AWS_SECRET_ACCESS_KEY",
        "FAKE_GITHUB_TOKEN",
    ] {
        assert!(
            contains(&testdata, &secrets[name]),
            "{name} is not in the testdata image"
        );
    }
}

/// Asserts that `output` contains no fake secret and no `LEAK_WINDOW`-long piece of one.
fn assert_no_secret(label: &str, output: &str, secrets: &BTreeMap<String, String>) {
    for (name, value) in secrets {
        assert!(
            !output.contains(value.as_str()),
            "{label}: the raw value of {name} is in the output"
        );
        let random: Vec<char> = random_part(value).chars().collect();
        for window in random.windows(LEAK_WINDOW) {
            let piece: String = window.iter().collect();
            assert!(
                !output.contains(&piece),
                "{label}: {piece:?}, a piece of {name}, is in the output"
            );
        }
    }
}

#[test]
fn leak_check_catches_wrapped_secret() {
    let secrets = fake_secrets();
    let token = &secrets["FAKE_GITHUB_TOKEN"];
    let (head, tail) = token.split_at(20);
    let wrapped = format!("│ {head} │\n│ {tail} │");
    let caught = std::panic::catch_unwind(|| assert_no_secret("wrapped", &wrapped, &secrets));
    assert!(
        caught.is_err(),
        "a secret split over two table rows went unnoticed"
    );
}

#[test]
fn no_raw_secret_in_json_reports() {
    let secrets = fake_secrets();
    for (label, report) in every_report() {
        assert_no_secret(&label, &report.to_string(), &secrets);
    }
}

#[test]
fn no_raw_secret_in_table_or_logs() {
    let secrets = fake_secrets();
    let mut paths = vec![testdata_path()];
    paths.extend(IMAGES.iter().map(|name| image_path(name, "oci.tar")));
    for path in paths {
        let run = run_imgaudit([
            OsStr::new("-vvv"),
            OsStr::new("--now"),
            OsStr::new(NOW),
            path.as_os_str(),
        ]);
        let label = path.display().to_string();
        assert_eq!(run.code, Some(0), "{label}: {}", run.stderr);
        assert!(run.stdout.contains("Summary:"), "{label}: {}", run.stdout);
        assert_no_secret(&format!("{label} table"), &run.stdout, &secrets);
        assert_no_secret(&format!("{label} stderr"), &run.stderr, &secrets);
    }
}
