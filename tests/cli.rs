//! End-to-end behaviour of the `imgaudit` command: exit codes, the release gate, output
//! destinations, `--now` and `IMGAUDIT_NOW`, and the errors for inputs that are not a valid
//! image. Most tests use the committed `testdata/busybox-app.docker.tar` and damaged copies of
//! it in a temporary directory. The tests on Node.js 20 and 24 need the images that
//! `tests/images/build.sh` builds.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use assert_cmd::Command;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

/// Audit date for reproducible Node.js status. Node.js 18 and 20 are end of life on it.
const NOW: &str = "2026-12-04";

/// A `--min-score` well above the score of the testdata image on [`NOW`].
const HIGH_MIN_SCORE: &str = "90";

const DOCKERFILE: &[u8] = b"# syntax=docker/dockerfile:1\nFROM node:20-bookworm-slim\nCOPY . /app\nCMD [\"node\", \"/app/server.js\"]\n";

// ---------------------------------------------------------------------------------------------
// Helpers

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn testdata() -> &'static Path {
    static PATH: LazyLock<PathBuf> =
        LazyLock::new(|| repo_root().join("testdata/busybox-app.docker.tar"));
    &PATH
}

/// Returns a built image (`NAME.FORM`) from `IMGAUDIT_TEST_IMAGES` or `target/test-images`,
/// failing with a build hint when it is missing.
fn built_image(file: &str) -> PathBuf {
    let dir = match std::env::var_os("IMGAUDIT_TEST_IMAGES") {
        Some(dir) => PathBuf::from(dir),
        None => repo_root().join("target/test-images"),
    };
    let path = dir.join(file);
    assert!(
        path.exists(),
        "{} is missing; build the real test images with `bash tests/images/build.sh` (as root)",
        path.display()
    );
    path
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("stdout is not JSON ({err}):\n{}", self.stdout))
    }
}

/// Runs imgaudit with `args` and the environment variables in `env`. The caller's
/// `IMGAUDIT_NOW` and `IMGAUDIT_LOG` are removed so that they cannot change the result.
fn run_with_env<I, S>(args: I, env: &[(&str, &str)]) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::cargo_bin("imgaudit").expect("the imgaudit binary is built");
    command
        .env_remove("IMGAUDIT_NOW")
        .env_remove("IMGAUDIT_LOG");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.args(args).output().expect("imgaudit starts");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

fn run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_with_env(args, &[])
}

/// `--format json --now NOW` followed by `extra` and the image path.
fn json_args(image: &Path, extra: &[&str]) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = ["--format", "json", "--now", NOW]
        .iter()
        .map(Into::into)
        .collect();
    args.extend(extra.iter().map(Into::into));
    args.push(image.into());
    args
}

fn node_findings(report: &Value) -> Vec<&Value> {
    report["findings"]
        .as_array()
        .expect("findings is an array")
        .iter()
        .filter(|finding| finding["check_id"] == "node-eol")
        .collect()
}

/// Asserts that imgaudit rejects `path` with exit code 2, prints nothing on stdout, and names
/// the file and every string of `expected` on stderr. Returns stderr.
fn assert_input_error(path: &Path, expected: &[&str]) -> String {
    let run = run(json_args(path, &[]));
    let name = path.file_name().unwrap().to_string_lossy();
    let mut expected_with_name = vec![name.as_ref()];
    expected_with_name.extend_from_slice(expected);
    assert_rejected(&path.display().to_string(), &run, &expected_with_name);
    run.stderr
}

/// Asserts that `run` failed with exit code 2, printed nothing on stdout, and wrote every
/// string of `expected` on stderr.
fn assert_rejected(label: &str, run: &Run, expected: &[&str]) {
    assert_eq!(run.code, Some(2), "{label}: stderr:\n{}", run.stderr);
    assert!(
        run.stdout.is_empty(),
        "{label}: an error printed a report:\n{}",
        run.stdout
    );
    assert!(run.stderr.starts_with("error: "), "{label}: {}", run.stderr);
    for text in expected {
        assert!(
            run.stderr.contains(text),
            "{label}: the message lacks {text:?}: {}",
            run.stderr
        );
    }
}

/// Runs `imgaudit --format json --now NOW -` with `input` on stdin.
fn run_stdin(input: &[u8]) -> Run {
    let output = Command::cargo_bin("imgaudit")
        .expect("the imgaudit binary is built")
        .env_remove("IMGAUDIT_NOW")
        .env_remove("IMGAUDIT_LOG")
        .args(["--format", "json", "--now", NOW, "-"])
        .write_stdin(input)
        .output()
        .expect("imgaudit starts");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Asserts that `run` audited the testdata image: exit 0 and the same findings and config
/// digest as the uncompressed file.
fn assert_audits_like_testdata(label: &str, run: &Run) {
    assert_eq!(run.code, Some(0), "{label}: {}", run.stderr);
    let report = run.json();
    let original = self::run(json_args(testdata(), &[])).json();
    assert_eq!(comparable(&report), comparable(&original), "{label}");
    assert_eq!(
        report["image"]["config_digest"], original["image"]["config_digest"],
        "{label}"
    );
}

fn write_file(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads every regular file of a tar archive into memory, by member name.
fn tar_members(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(file);
    let mut members = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        members.insert(name, bytes);
    }
    members
}

/// Returns the byte offset and size of the data of member `name` in the tar archive at `path`.
fn member_span(path: &Path, name: &str) -> (usize, usize) {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(file);
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        if entry.path().unwrap().to_string_lossy() == name {
            return (entry.raw_file_position() as usize, entry.size() as usize);
        }
    }
    panic!("{name} is not in {}", path.display());
}

/// Member names of the testdata layers, in manifest order, and of its config.
fn testdata_layers_and_config() -> (Vec<String>, String) {
    let members = tar_members(testdata());
    let manifest: Value = serde_json::from_slice(&members["manifest.json"]).unwrap();
    let layers = manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| layer.as_str().unwrap().to_owned())
        .collect();
    let config = manifest[0]["Config"].as_str().unwrap().to_owned();
    (layers, config)
}

/// An OCI image layout directory made from the testdata image: the same config and layer
/// tars, with gzip-compressed layer blobs.
struct OciFixture {
    dir: TempDir,
    manifest_digest: String,
    config_digest: String,
    layer_digests: Vec<String>,
}

impl OciFixture {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn blob(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        self.path().join("blobs/sha256").join(hex)
    }
}

/// Converts the testdata docker-archive into an OCI image layout in a new temporary directory.
fn oci_fixture() -> OciFixture {
    let members = tar_members(testdata());
    let manifest: Value = serde_json::from_slice(&members["manifest.json"]).unwrap();
    let entry = &manifest[0];

    let dir = tempfile::tempdir().unwrap();
    let blobs = dir.path().join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let write_blob = |bytes: &[u8]| {
        let hex = sha256_hex(bytes);
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        format!("sha256:{hex}")
    };

    let config = &members[entry["Config"].as_str().unwrap()];
    let config_digest = write_blob(config);
    let mut layer_descriptors = Vec::new();
    let mut layer_digests = Vec::new();
    for layer in entry["Layers"].as_array().unwrap() {
        let tar = &members[layer.as_str().unwrap()];
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(tar).unwrap();
        let gzip = encoder.finish().unwrap();
        let digest = write_blob(&gzip);
        layer_descriptors.push(json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": digest,
            "size": gzip.len(),
        }));
        layer_digests.push(digest);
    }
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": layer_descriptors,
    }))
    .unwrap();
    let manifest_digest = write_blob(&manifest);
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
        }],
    });
    std::fs::write(dir.path().join("index.json"), index.to_string()).unwrap();
    std::fs::write(
        dir.path().join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    OciFixture {
        dir,
        manifest_digest,
        config_digest,
        layer_digests,
    }
}

/// Finding keys that do not depend on the archive form.
fn comparable(report: &Value) -> Vec<String> {
    let mut keys: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {} {} {} {}",
                f["check_id"],
                f["severity"],
                f["location"]["path"],
                f["location"]["layer"]["index"],
                f["evidence"]["fingerprint"]
            )
        })
        .collect();
    keys.sort();
    keys
}

// ---------------------------------------------------------------------------------------------
// Exit codes and the gate

#[test]
fn no_gate_exits_zero() {
    let run = run(json_args(testdata(), &[]));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["gate"]["passed"], true);
    assert_eq!(report["gate"]["reasons"], json!([]));
    assert!(!report["findings"].as_array().unwrap().is_empty());
}

#[test]
fn table_is_default_format() {
    let run = run(["--now", NOW, testdata().to_str().unwrap()]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("SEVERITY"), "{}", run.stdout);
    assert!(run.stdout.contains("secret-in-file"), "{}", run.stdout);
    assert!(run.stdout.contains("gate passed"), "{}", run.stdout);
}

#[test]
fn fail_on_high_exits_one_with_report() {
    let run = run(json_args(testdata(), &["--fail-on", "high"]));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["gate"]["passed"], false);
    let reasons = report["gate"]["reasons"].to_string();
    assert!(reasons.contains("--fail-on high"), "{reasons}");
}

#[test]
fn fail_on_high_table_states_failure() {
    let run = run([
        "--now",
        NOW,
        "--fail-on",
        "high",
        testdata().to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stdout.contains("gate FAILED"), "{}", run.stdout);
    assert!(run.stdout.contains("--fail-on high"), "{}", run.stdout);
}

#[test]
fn fail_on_critical_passes_distroless() {
    let distroless = built_image("node24-distroless.oci.tar");
    let run = run(json_args(&distroless, &["--fail-on", "critical"]));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json()["gate"]["passed"], true);
}

#[test]
fn fail_on_medium_fails_distroless() {
    // Node.js 24 is in maintenance on NOW, a medium finding.
    let distroless = built_image("node24-distroless.oci.tar");
    let run = run(json_args(&distroless, &["--fail-on", "medium"]));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let reasons = run.json()["gate"]["reasons"].to_string();
    assert!(reasons.contains("1 findings"), "{reasons}");
}

#[test]
fn fail_on_is_case_insensitive() {
    let run = run(json_args(testdata(), &["--fail-on", "HIGH"]));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
}

#[test]
fn fail_on_unknown_severity_is_usage_error() {
    let run = run(json_args(testdata(), &["--fail-on", "severe"]));
    assert_eq!(run.code, Some(2));
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(run.stderr.contains("--fail-on"), "{}", run.stderr);
    assert!(
        run.stderr.contains("critical, high, medium, low, info"),
        "{}",
        run.stderr
    );
}

#[test]
fn min_score_101_is_usage_error() {
    let run = run(json_args(testdata(), &["--min-score", "101"]));
    assert_eq!(run.code, Some(2));
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(run.stderr.contains("--min-score"), "{}", run.stderr);
    assert!(run.stderr.contains("101"), "{}", run.stderr);
}

#[test]
fn min_score_90_fails_testdata() {
    let run = run(json_args(testdata(), &["--min-score", HIGH_MIN_SCORE]));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["gate"]["passed"], false);
    let reasons = report["gate"]["reasons"].to_string();
    assert!(
        reasons.contains(&format!("below --min-score {HIGH_MIN_SCORE}")),
        "{reasons}"
    );
}

#[test]
fn min_score_equal_to_score_passes() {
    let score = run(json_args(testdata(), &[])).json()["score"]
        .as_u64()
        .expect("score is a number");
    assert!(
        score < 100,
        "the testdata image has findings, yet scores {score}"
    );

    let equal = run(json_args(testdata(), &["--min-score", &score.to_string()]));
    assert_eq!(equal.code, Some(0), "--min-score {score}: {}", equal.stderr);

    let above = (score + 1).to_string();
    let failing = run(json_args(testdata(), &["--min-score", &above]));
    assert_eq!(
        failing.code,
        Some(1),
        "--min-score {above}: {}",
        failing.stderr
    );
}

#[test]
fn both_gates_report_both_reasons() {
    let run = run(json_args(
        testdata(),
        &["--fail-on", "critical", "--min-score", HIGH_MIN_SCORE],
    ));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let reasons = run.json()["gate"]["reasons"].as_array().unwrap().len();
    assert_eq!(reasons, 2);
}

#[test]
fn help_lists_exit_codes() {
    let run = run(["--help"]);
    assert_eq!(run.code, Some(0));
    assert!(run.stdout.contains("Exit codes"), "{}", run.stdout);
    assert!(run.stdout.contains("--fail-on"), "{}", run.stdout);
}

#[test]
fn missing_image_argument_is_usage_error() {
    let run = run(["--format", "json"]);
    assert_eq!(run.code, Some(2));
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

// ---------------------------------------------------------------------------------------------
// Output

#[test]
fn output_file_gets_report_and_stdout_stays_empty() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.json");
    let run = run(json_args(testdata(), &["-o", file.to_str().unwrap()]));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);

    let written = std::fs::read_to_string(&file).expect("the report file exists");
    let on_stdout = self::run(json_args(testdata(), &[])).stdout;
    assert_eq!(written, on_stdout);
}

#[test]
fn output_file_written_when_gate_fails() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.json");
    let run = run(json_args(
        testdata(),
        &["--fail-on", "high", "--output", file.to_str().unwrap()],
    ));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(report["gate"]["passed"], false);
}

#[test]
fn output_to_directory_is_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = run(json_args(testdata(), &["-o", dir.path().to_str().unwrap()]));
    assert_eq!(run.code, Some(2));
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(run.stderr.contains("is a directory"), "{}", run.stderr);
}

#[test]
fn output_file_not_created_on_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let empty = write_file(&dir, "empty.tar", b"");
    let file = dir.path().join("report.json");
    let run = run(json_args(&empty, &["-o", file.to_str().unwrap()]));
    assert_eq!(run.code, Some(2));
    assert!(!file.exists(), "a failed audit wrote {}", file.display());
}

#[test]
fn json_has_schema_version_and_sorted_findings() {
    let report = run(json_args(testdata(), &[])).json();
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["tool"], "imgaudit");
    assert_eq!(report["audit_date"], NOW);
    let rank = |severity: &Value| match severity.as_str().unwrap() {
        "critical" => 4,
        "high" => 3,
        "medium" => 2,
        "low" => 1,
        "info" => 0,
        other => panic!("unknown severity {other}"),
    };
    let ranks: Vec<i32> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| rank(&finding["severity"]))
        .collect();
    assert!(
        ranks.windows(2).all(|pair| pair[0] >= pair[1]),
        "findings are not sorted worst first: {ranks:?}"
    );
    assert_eq!(ranks.first(), Some(&4), "{ranks:?}");
    let by_severity = &report["summary"]["by_severity"];
    let total: u64 = ["critical", "high", "medium", "low", "info"]
        .iter()
        .map(|severity| by_severity[severity].as_u64().unwrap())
        .sum();
    assert_eq!(total as usize, ranks.len());
}

#[test]
fn json_output_is_deterministic() {
    let first = run(json_args(testdata(), &[])).stdout;
    let second = run(json_args(testdata(), &[])).stdout;
    assert_eq!(first, second);
}

// ---------------------------------------------------------------------------------------------
// Audit date: --now and IMGAUDIT_NOW

/// Runs the testdata image (NODE_VERSION=18.20.4) with `IMGAUDIT_NOW=date` and returns the
/// node-eol severity, or `None` when there is no node-eol finding.
fn node18_severity_on(date: &str) -> Option<String> {
    let args = ["--format", "json", testdata().to_str().unwrap()];
    let run = run_with_env(args, &[("IMGAUDIT_NOW", date)]);
    assert_eq!(run.code, Some(0), "IMGAUDIT_NOW={date}: {}", run.stderr);
    let report = run.json();
    assert_eq!(report["audit_date"], date);
    let found = node_findings(&report);
    assert!(found.len() <= 1, "{found:#?}");
    found
        .first()
        .map(|finding| finding["severity"].as_str().unwrap().to_owned())
}

#[test]
fn now_env_gives_same_report_as_flag() {
    let with_flag = run(json_args(testdata(), &[])).stdout;
    let args = ["--format", "json", testdata().to_str().unwrap()];
    let with_env = run_with_env(args, &[("IMGAUDIT_NOW", NOW)]);
    assert_eq!(with_env.code, Some(0), "{}", with_env.stderr);
    assert_eq!(with_env.stdout, with_flag);
}

#[test]
fn now_env_follows_node18_schedule() {
    // Node.js 18: Active LTS from 2022-10-25, maintenance from 2023-10-18, end of life on
    // 2025-04-30 (the release table in src/nodejs.rs). The testdata image has no Node.js
    // binary, only NODE_VERSION=18.20.4, so findings are capped at low.
    assert_eq!(node18_severity_on("2023-06-01"), None);
    assert_eq!(node18_severity_on("2023-10-18").as_deref(), Some("low"));
    assert_eq!(node18_severity_on("2025-04-29").as_deref(), Some("low"));
    assert_eq!(node18_severity_on("2025-04-30").as_deref(), Some("low"));
}

#[test]
fn node_version_variable_alone_is_low() {
    let report = run(json_args(testdata(), &[])).json();
    let found = node_findings(&report);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["severity"], "low");
    let message = found[0]["message"].as_str().unwrap();
    assert!(message.contains("only NODE_VERSION"), "{message}");
}

#[test]
fn now_flag_overrides_env() {
    let args = json_args(testdata(), &[]);
    let run = run_with_env(args, &[("IMGAUDIT_NOW", "2023-06-01")]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["audit_date"], NOW);
    let found = node_findings(&report);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["severity"], "low");
}

#[test]
fn invalid_now_is_usage_error() {
    for date in ["2026-02-30", "yesterday"] {
        let run = run(["--now", date, testdata().to_str().unwrap()]);
        assert_eq!(run.code, Some(2), "--now {date}");
        assert!(run.stdout.is_empty(), "--now {date}: {}", run.stdout);
        assert!(run.stderr.contains(date), "--now {date}: {}", run.stderr);

        let args = [testdata()];
        let from_env = run_with_env(args, &[("IMGAUDIT_NOW", date)]);
        assert_eq!(from_env.code, Some(2), "IMGAUDIT_NOW={date}");
        assert!(from_env.stdout.is_empty(), "IMGAUDIT_NOW={date}");
    }
}

#[test]
fn now_env_node20_maintenance_in_2024() {
    // Node.js 20: Active LTS until 2024-10-22, then maintenance until 2026-04-30.
    let node20 = built_image("node20-root.oci.tar");
    for (date, expected) in [("2024-06-01", None), ("2024-11-01", Some("medium"))] {
        let args = ["--format", "json", node20.to_str().unwrap()];
        let run = run_with_env(args, &[("IMGAUDIT_NOW", date)]);
        assert_eq!(run.code, Some(0), "IMGAUDIT_NOW={date}: {}", run.stderr);
        let report = run.json();
        let found = node_findings(&report);
        let severity = found.first().and_then(|f| f["severity"].as_str());
        assert_eq!(severity, expected, "IMGAUDIT_NOW={date}: {found:#?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Inputs that are not a valid image

#[test]
fn dockerfile_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "Dockerfile", DOCKERFILE);
    assert_input_error(&path, &["Dockerfile", "docker save"]);
}

#[test]
fn empty_file_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "empty.tar", b"");
    assert_input_error(&path, &["empty"]);
}

/// Builds a tar of a root filesystem (etc/passwd, etc/os-release) with no image metadata.
fn root_filesystem_tar() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, content) in [
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        ("etc/os-release", "ID=debian\n"),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, name, content.as_bytes())
            .unwrap();
    }
    builder.into_inner().unwrap()
}

#[test]
fn root_filesystem_tar_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "rootfs.tar", &root_filesystem_tar());
    assert_input_error(&path, &["root filesystem", "manifest.json", "index.json"]);
}

#[test]
fn truncated_archive_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(testdata()).unwrap();
    let (layers, config) = testdata_layers_and_config();
    // Cut in the middle of each layer, of the config and of manifest.json. A cut that drops
    // only the trailing zero blocks leaves every member whole, so it is not tested.
    let mut members = layers;
    members.push(config);
    members.push("manifest.json".into());
    for member in members {
        let (offset, size) = member_span(testdata(), &member);
        let cut = offset + size / 2;
        let path = write_file(&dir, &format!("truncated-{cut}.tar"), &bytes[..cut]);
        assert_input_error(&path, &["tar archive"]);
    }
}

/// Returns the offset of `needle` in `haystack`, which must contain it once.
fn find_once(haystack: &[u8], needle: &[u8]) -> usize {
    let offset = memchr::memmem::find(haystack, needle).expect("the bytes are present");
    assert!(
        memchr::memmem::find(&haystack[offset + 1..], needle).is_none(),
        "{:?} occurs more than once",
        String::from_utf8_lossy(needle)
    );
    offset
}

#[test]
fn flipped_layer_byte_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(testdata()).unwrap();
    // A byte of file content in the "COPY . /app" layer. The tar headers stay valid, so only
    // the digest check can notice the change.
    let offset = find_once(&bytes, b"AWS_REGION=eu-west-1");
    bytes[offset + "AWS_REGION=eu-west-".len()] = b'2';
    let path = write_file(&dir, "flipped.tar", &bytes);
    let (layers, _) = testdata_layers_and_config();
    let (offset_of_layer, size) = member_span(testdata(), &layers[1]);
    assert!((offset_of_layer..offset_of_layer + size).contains(&offset));
    let diff_id = format!("sha256:{}", layers[1].trim_end_matches(".tar"));
    assert_input_error(&path, &["digest mismatch", "layer 1", &diff_id]);
}

#[test]
fn flipped_trailing_layer_byte_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(testdata()).unwrap();
    // The last byte of the first layer's data lies in its end-of-archive zero blocks. A tar
    // reader may stop before them, yet the digest must still cover them.
    let (layers, _) = testdata_layers_and_config();
    let (offset, size) = member_span(testdata(), &layers[0]);
    let end_of_first_layer = offset + size;
    assert_eq!(bytes[end_of_first_layer - 1], 0);
    bytes[end_of_first_layer - 1] = 1;
    let path = write_file(&dir, "flipped-tail.tar", &bytes);
    assert_input_error(&path, &["digest mismatch", "layer 0"]);
}

#[test]
fn flipped_config_byte_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(testdata()).unwrap();
    let (_, config) = testdata_layers_and_config();
    let (start, size) = member_span(testdata(), &config);
    let offset = start + find_once(&bytes[start..start + size], b"\"architecture\":\"amd64\"");
    bytes[offset + "\"architecture\":\"".len()] = b'A';
    let path = write_file(&dir, "flipped-config.tar", &bytes);
    assert_input_error(&path, &["config", "digest mismatch"]);
}

#[test]
fn nonexistent_path_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-image.tar");
    assert_input_error(&path, &["No such file or directory"]);
}

#[test]
fn directory_without_index_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("not-a-layout");
    std::fs::create_dir(&layout).unwrap();
    assert_input_error(&layout, &["no index.json", "OCI"]);
}

#[test]
fn oci_fixture_audits_like_testdata() {
    let fixture = oci_fixture();
    let run = run(json_args(fixture.path(), &[]));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["image"]["format"], "oci-layout");
    assert_eq!(report["image"]["manifest_digest"], fixture.manifest_digest);
    assert_eq!(report["image"]["config_digest"], fixture.config_digest);

    let original = self::run(json_args(testdata(), &[])).json();
    assert_eq!(comparable(&report), comparable(&original));
}

#[test]
fn oci_index_not_json_is_rejected() {
    let fixture = oci_fixture();
    std::fs::write(fixture.path().join("index.json"), "schemaVersion: 2\n").unwrap();
    assert_input_error(fixture.path(), &["index.json", "not valid JSON"]);
}

#[test]
fn oci_missing_layer_blob_is_rejected() {
    let fixture = oci_fixture();
    let digest = &fixture.layer_digests[1];
    std::fs::remove_file(fixture.blob(digest)).unwrap();
    assert_input_error(fixture.path(), &["missing", digest]);
}

#[test]
fn oci_missing_config_blob_is_rejected() {
    let fixture = oci_fixture();
    std::fs::remove_file(fixture.blob(&fixture.config_digest)).unwrap();
    assert_input_error(fixture.path(), &["missing", &fixture.config_digest]);
}

#[test]
fn oci_missing_manifest_blob_is_rejected() {
    let fixture = oci_fixture();
    std::fs::remove_file(fixture.blob(&fixture.manifest_digest)).unwrap();
    assert_input_error(fixture.path(), &["missing", &fixture.manifest_digest]);
}

#[test]
fn oci_flipped_layer_byte_is_rejected() {
    let fixture = oci_fixture();
    let digest = &fixture.layer_digests[0];
    let blob = fixture.blob(digest);
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&blob, bytes).unwrap();
    assert_input_error(fixture.path(), &["layer 0", digest]);
}

// ---------------------------------------------------------------------------------------------
// Compressed archives and stdin

#[test]
fn gzip_archive_audits_like_original() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(
        &dir,
        "image.tar.gz",
        &gzip(&std::fs::read(testdata()).unwrap()),
    );
    let run = run(json_args(&path, &[]));
    assert_audits_like_testdata("image.tar.gz", &run);
}

#[test]
fn zstd_archive_audits_like_original() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = zstd::encode_all(std::fs::read(testdata()).unwrap().as_slice(), 3).unwrap();
    let path = write_file(&dir, "image.tar.zst", &bytes);
    let run = run(json_args(&path, &[]));
    assert_audits_like_testdata("image.tar.zst", &run);
}

#[test]
fn stdin_archive_audits_like_file() {
    let bytes = std::fs::read(testdata()).unwrap();
    assert_audits_like_testdata("tar on stdin", &run_stdin(&bytes));
    assert_audits_like_testdata("gzip on stdin", &run_stdin(&gzip(&bytes)));
}

#[test]
fn gzip_flipped_layer_byte_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(testdata()).unwrap();
    let offset = find_once(&bytes, b"AWS_REGION=eu-west-1");
    bytes[offset + "AWS_REGION=eu-west-".len()] = b'2';
    let path = write_file(&dir, "flipped.tar.gz", &gzip(&bytes));
    assert_input_error(&path, &["digest mismatch", "layer 1"]);

    let on_stdin = run_stdin(&bytes);
    assert_rejected(
        "flipped tar on stdin",
        &on_stdin,
        &["digest mismatch", "layer 1"],
    );
}

#[test]
fn gzip_truncated_archive_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let compressed = gzip(&std::fs::read(testdata()).unwrap());
    for cut in [
        compressed.len() / 4,
        compressed.len() / 2,
        compressed.len() - 100,
    ] {
        let path = write_file(&dir, &format!("truncated-{cut}.tar.gz"), &compressed[..cut]);
        assert_input_error(&path, &[]);
    }
}

#[test]
fn truncated_tar_on_stdin_is_rejected() {
    let bytes = std::fs::read(testdata()).unwrap();
    let run = run_stdin(&bytes[..bytes.len() / 2]);
    assert_rejected("truncated tar on stdin", &run, &[]);
}

#[test]
fn gzip_root_filesystem_tar_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "rootfs.tar.gz", &gzip(&root_filesystem_tar()));
    assert_input_error(&path, &["root filesystem"]);
}

// ---------------------------------------------------------------------------------------------
// Regressions of bugs found by these tests

#[test]
fn gzip_without_trailer_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let compressed = gzip(&std::fs::read(testdata()).unwrap());
    // The gzip trailer is the CRC-32 and the size of the input, 4 bytes each (RFC 1952).
    for missing in [1, 4, 8] {
        let cut = compressed.len() - missing;
        let path = write_file(
            &dir,
            &format!("no-trailer-{missing}.tar.gz"),
            &compressed[..cut],
        );
        assert_input_error(&path, &[]);
    }
}

#[test]
fn stream_of_non_tar_says_tar_expected() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "Dockerfile.gz", &gzip(DOCKERFILE));
    assert_input_error(&path, &["tar archive"]);

    let on_stdin = run_stdin(DOCKERFILE);
    assert_rejected("Dockerfile on stdin", &on_stdin, &["Dockerfile"]);
}

#[test]
fn empty_stdin_is_rejected_as_empty() {
    let run = run_stdin(b"");
    assert_rejected("empty stdin", &run, &["empty"]);
}

#[test]
fn error_message_states_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-image.tar");
    let stderr = assert_input_error(&path, &[]);
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
}

#[test]
fn unknown_image_name_does_not_claim_several_images() {
    let run = run(json_args(testdata(), &["--image", "no-such-name"]));
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(run.stderr.contains("no-such-name"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("several images"),
        "the archive holds one image: {}",
        run.stderr
    );
}

#[test]
fn logs_have_no_color_codes_when_piped() {
    let run = run(["-v", "--now", NOW, testdata().to_str().unwrap()]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(!run.stderr.is_empty(), "-v logged nothing");
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
}

// SARIF output

#[test]
fn sarif_lists_every_finding_as_result() {
    let json = run(json_args(testdata(), &[])).json();
    let sarif_run = run([
        OsStr::new("--format"),
        OsStr::new("sarif"),
        OsStr::new("--now"),
        OsStr::new(NOW),
        testdata().as_os_str(),
    ]);
    assert_eq!(sarif_run.code, Some(0), "{}", sarif_run.stderr);
    let sarif: Value = serde_json::from_str(&sarif_run.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), json["findings"].as_array().unwrap().len());
    let rule_ids: Vec<&str> = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for result in results {
        let rule = result["ruleId"].as_str().unwrap();
        assert!(rule_ids.contains(&rule), "unknown rule {rule}");
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rule_ids[index], rule);
        assert!(["error", "warning", "note"].contains(&result["level"].as_str().unwrap()));
        let uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap();
        assert!(!uri.starts_with('/'), "absolute URI {uri}");
        assert_eq!(
            result["partialFingerprints"]["imgaudit/v1"]
                .as_str()
                .unwrap()
                .len(),
            32
        );
    }
    let secret_result = results
        .iter()
        .find(|r| r["ruleId"] == "secret-in-file")
        .expect("a secret-in-file result");
    assert!(
        secret_result["message"]["text"]
            .as_str()
            .unwrap()
            .contains("sha256:")
    );
    assert_eq!(sarif["runs"][0]["properties"]["score"], json["score"]);
}

// Layer cache

#[test]
fn cache_dir_reuses_layers_without_secret_values() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let cache_arg = cache.to_str().unwrap();
    let first = run(json_args(testdata(), &["--cache-dir", cache_arg]));
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    let entries: Vec<PathBuf> = std::fs::read_dir(&cache)
        .unwrap()
        .flat_map(|namespace| std::fs::read_dir(namespace.unwrap().path()).unwrap())
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 3, "{entries:?}");

    // The cache contains masked findings, never the planted values.
    let cached: String = entries
        .iter()
        .map(|entry| std::fs::read_to_string(entry).unwrap())
        .collect();
    assert!(
        cached.contains("AKIA********"),
        "the AWS finding is not cached"
    );
    assert!(
        !cached.contains("AKIAGBYJALP7KLEEM2VZ"),
        "an AWS key id leaked into the cache"
    );
    let github_token = cached.match_indices("ghp_").any(|(at, _)| {
        cached[at + 4..]
            .chars()
            .take(8)
            .all(|c| c.is_ascii_alphanumeric())
    });
    assert!(!github_token, "a GitHub token leaked into the cache");

    let second = run_with_env(
        json_args(testdata(), &[]),
        &[("IMGAUDIT_CACHE_DIR", cache_arg)],
    );
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    assert_eq!(first.json()["findings"], second.json()["findings"]);
    assert_eq!(first.json()["image"], second.json()["image"]);
}

#[test]
fn cache_entry_is_used_instead_of_layer() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let cache_arg = cache.to_str().unwrap();
    assert_eq!(
        run(json_args(testdata(), &["--cache-dir", cache_arg])).code,
        Some(0)
    );
    // Remove one finding's secret from the cached layer: a cached walk must be what the
    // second run reports, proving no layer was read again.
    let mut edited = 0;
    for namespace in std::fs::read_dir(&cache).unwrap() {
        for entry in std::fs::read_dir(namespace.unwrap().path()).unwrap() {
            let path = entry.unwrap().path();
            let mut walk: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            if walk["secrets"].as_array().is_some_and(|s| !s.is_empty()) {
                walk["secrets"] = serde_json::json!([]);
                std::fs::write(&path, serde_json::to_vec(&walk).unwrap()).unwrap();
                edited += 1;
            }
        }
    }
    assert_eq!(edited, 1);
    let cached = run(json_args(testdata(), &["--cache-dir", cache_arg])).json();
    let fresh = run(json_args(testdata(), &[])).json();
    let count = |report: &Value| {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["check_id"] == "secret-in-file")
            .count()
    };
    assert!(count(&fresh) > 0);
    assert_eq!(count(&cached), 0);
}

// Inputs that are neither files nor references

#[test]
fn missing_archive_path_is_not_pulled() {
    for name in [
        "build/app.tar.gz",
        "dist/app.oci",
        "app.tar.zst",
        "busybox-app.docker.ta",
    ] {
        let run = run(["--now", NOW, name]);
        assert_eq!(run.code, Some(2), "{name}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{name}");
        assert!(
            !run.stderr.contains("registry"),
            "{name} was treated as a reference: {}",
            run.stderr
        );
        assert!(run.stderr.contains(name), "{name}: {}", run.stderr);
    }
}

#[test]
fn invalid_reference_says_so() {
    let run = run(["--now", NOW, "127.0.0.1:45123/N20:1"]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains("not a valid image reference"),
        "{}",
        run.stderr
    );
}

#[test]
fn stale_release_table_is_warned() {
    let late = run([
        "--format",
        "json",
        "--now",
        "2099-01-01",
        testdata().to_str().unwrap(),
    ]);
    assert!(
        late.json()["warnings"]
            .to_string()
            .contains("release table"),
        "{}",
        late.stdout
    );
    let current = run(json_args(testdata(), &[])).json();
    assert!(!current["warnings"].to_string().contains("release table"));
}

#[test]
fn config_file_in_working_directory_is_announced() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".imgaudit.toml"),
        "[secrets]\ndisabled_rules = [\"npm-token\"]\n",
    )
    .unwrap();
    let output = Command::cargo_bin("imgaudit")
        .unwrap()
        .current_dir(dir.path())
        .args(["--format", "json", "--now", NOW])
        .arg(testdata())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains(".imgaudit.toml"), "{warnings}");

    let plain = run(json_args(testdata(), &[])).json();
    assert!(!plain["warnings"].to_string().contains(".imgaudit.toml"));
}
