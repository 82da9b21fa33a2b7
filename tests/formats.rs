//! Archive layouts that real tools write, beyond the basic ones: Docker's containerd image
//! store (nested index, attestation manifests), several platforms and images in one archive,
//! `tar -cf out.tar .` member names, compressed archives and stdin, and archives that
//! disagree with themselves.

mod common;

use std::path::Path;

use common::*;
use serde_json::json;

const NPM_TOKEN_AMD64: &str = "npm_Zq8Xw7Vu6Ts5Rq4Po3Nm2Lk1Ji0Hg9Fe8Dc7";
const GITHUB_TOKEN_ARM64: &str = "ghp_Q9x8W7v6U5t4S3r2Q1p0O9n8M7l6K5j4I3h2";

fn platform_image(architecture: &str, secret_file: &str) -> ImageBuilder {
    ImageBuilder::new()
        .architecture(architecture)
        .config(json!({"User": "10001:10001"}))
        .layer(layer(
            "COPY . /app",
            vec![
                file("app/.env", secret_file),
                file("etc/passwd", "root:x:0:0::/root:/sbin/nologin\n"),
            ],
        ))
}

/// Lays out what Docker's containerd image store writes for `docker save` of a
/// multi-platform image: index.json → nested image index → per-platform manifests plus an
/// attestation manifest, and a manifest.json for the host platform.
fn containerd_save(dir: &Path) {
    let amd64 = platform_image("amd64", &format!("NPM_TOKEN={NPM_TOKEN_AMD64}\n"));
    let arm64 = platform_image("arm64", &format!("GITHUB_TOKEN={GITHUB_TOKEN_ARM64}\n"));
    let mut amd64_descriptor = amd64.add_to_layout(dir);
    amd64_descriptor["platform"] = json!({"os": "linux", "architecture": "amd64"});
    let mut arm64_descriptor = arm64.add_to_layout(dir);
    arm64_descriptor["platform"] = json!({"os": "linux", "architecture": "arm64", "variant": "v8"});

    // An attestation manifest: platform unknown/unknown, annotated with its subject.
    let attestation =
        ImageBuilder::new().layer(layer("attestation", vec![file("sbom.spdx.json", "{}")]));
    let mut attestation_descriptor = attestation.add_to_layout(dir);
    attestation_descriptor["platform"] = json!({"os": "unknown", "architecture": "unknown"});
    attestation_descriptor["annotations"] = json!({
        "vnd.docker.reference.type": "attestation-manifest",
        "vnd.docker.reference.digest": amd64_descriptor["digest"],
    });

    let nested = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [amd64_descriptor, arm64_descriptor, attestation_descriptor],
    }))
    .unwrap();
    let nested_digest = write_blob(&dir.join("blobs/sha256"), &nested);
    write_index(
        dir,
        vec![json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": nested_digest,
            "size": nested.len(),
            "annotations": {
                "io.containerd.image.name": "docker.io/acme/app:1.2",
                "org.opencontainers.image.ref.name": "1.2",
            },
        })],
    );
}

fn evidence_rules(report: &serde_json::Value) -> Vec<String> {
    findings(report, "secret-in-file")
        .iter()
        .map(|f| f["evidence"]["rule"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn containerd_save_picks_host_platform_and_skips_attestation() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("layout");
    containerd_save(&dir);
    let (code, stdout, stderr) = run_imgaudit(&[], &dir);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["image"]["platform"], "linux/amd64");
    assert_eq!(report["image"]["reference"], "docker.io/acme/app:1.2");
    assert_eq!(evidence_rules(&report), vec!["npm-token"]);
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("2 platforms"), "{warnings}");
    assert!(warnings.contains("linux/amd64"), "{warnings}");
}

#[test]
fn platform_flag_selects_other_platform() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("layout");
    containerd_save(&dir);
    let (code, stdout, stderr) = run_imgaudit(&["--platform", "linux/arm64"], &dir);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["image"]["platform"], "linux/arm64");
    assert_eq!(evidence_rules(&report), vec!["github-token"]);
}

#[test]
fn missing_platform_lists_available_ones() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("layout");
    containerd_save(&dir);
    let (code, stdout, stderr) = run_imgaudit(&["--platform", "linux/s390x"], &dir);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(stderr.contains("linux/s390x"), "{stderr}");
    assert!(stderr.contains("linux/amd64"), "{stderr}");
    assert!(stderr.contains("linux/arm64/v8"), "{stderr}");
    assert!(!stderr.contains("unknown/unknown"), "{stderr}");
}

#[test]
fn config_for_other_architecture_is_an_error() {
    let temp = tempfile::tempdir().unwrap();
    let path = platform_image("arm64", "PORT=3000\n").write_oci(temp.path());
    let (code, _, stderr) = run_imgaudit(&["--platform", "linux/amd64"], &path);
    assert_eq!(code, 2);
    assert!(stderr.contains("linux/arm64"), "{stderr}");
}

#[test]
fn several_images_need_image_flag() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("layout");
    let mut first = platform_image("amd64", "PORT=3000\n").add_to_layout(&dir);
    first["annotations"] = json!({"org.opencontainers.image.ref.name": "web:1"});
    let mut second =
        platform_image("amd64", &format!("NPM_TOKEN={NPM_TOKEN_AMD64}\n")).add_to_layout(&dir);
    second["annotations"] = json!({"org.opencontainers.image.ref.name": "worker:2"});
    write_index(&dir, vec![first, second]);

    let (code, stdout, stderr) = run_imgaudit(&[], &dir);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("web:1") && stderr.contains("worker:2"),
        "{stderr}"
    );

    let (code, stdout, stderr) = run_imgaudit(&["--image", "worker:2"], &dir);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(evidence_rules(&report), vec!["npm-token"]);
}

#[test]
fn several_docker_images_listed_without_flag() {
    let temp = tempfile::tempdir().unwrap();
    let single = platform_image("amd64", "PORT=3000\n").write_docker_archive(temp.path());
    // Duplicate the manifest.json entry under a second tag, as `docker save a b` lists both.
    let rewritten = temp.path().join("two.tar");
    let mut archive = tar::Archive::new(std::fs::File::open(&single).unwrap());
    let mut builder = tar::Builder::new(std::fs::File::create(&rewritten).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        if name == Path::new("manifest.json") {
            let mut manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let mut second = manifest[0].clone();
            second["RepoTags"] = json!(["other:3"]);
            manifest.as_array_mut().unwrap().push(second);
            bytes = serde_json::to_vec(&manifest).unwrap();
        }
        let mut header = entry.header().clone();
        header.set_size(bytes.len() as u64);
        builder.append_data(&mut header, &name, &bytes[..]).unwrap();
    }
    builder.finish().unwrap();
    drop(builder);

    let (code, _, stderr) = run_imgaudit(&[], &rewritten);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("synthetic:latest") && stderr.contains("other:3"),
        "{stderr}"
    );
    let (code, _, stderr) = run_imgaudit(&["--image", "other:3"], &rewritten);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = run_imgaudit(&["--image", "1"], &rewritten);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn dot_prefixed_oci_archive_is_read() {
    let temp = tempfile::tempdir().unwrap();
    let layout =
        platform_image("amd64", &format!("NPM_TOKEN={NPM_TOKEN_AMD64}\n")).write_oci(temp.path());
    let archive = temp.path().join("out.tar");
    tar_directory(&layout, &archive);
    let report = audit_json(&archive);
    assert_eq!(report["image"]["format"], "oci-archive");
    assert_eq!(evidence_rules(&report), vec!["npm-token"]);
}

#[test]
fn compressed_archives_and_stdin_match_plain_archive() {
    let temp = tempfile::tempdir().unwrap();
    let builder = platform_image("amd64", &format!("NPM_TOKEN={NPM_TOKEN_AMD64}\n"));
    let plain = builder.write_docker_archive(temp.path());
    let expected = audit_json(&plain);

    let gz = temp.path().join("image.tar.gz");
    gzip_file(&plain, &gz);
    let zst = temp.path().join("image.tar.zst");
    zstd_file(&plain, &zst);
    for compressed in [&gz, &zst] {
        let report = audit_json(compressed);
        assert_eq!(
            report["findings"],
            expected["findings"],
            "{}",
            compressed.display()
        );
        assert_eq!(
            report["image"]["config_digest"],
            expected["image"]["config_digest"]
        );
    }

    let output = assert_cmd::Command::cargo_bin("imgaudit")
        .unwrap()
        .args(["--format", "json", "--now", "2026-12-04", "-"])
        .pipe_stdin(&gz)
        .unwrap()
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["findings"], expected["findings"]);
    assert_eq!(report["image"]["source"], "-");
}

#[test]
fn compressed_oci_archive_matches_layout() {
    let temp = tempfile::tempdir().unwrap();
    let layout =
        platform_image("amd64", &format!("NPM_TOKEN={NPM_TOKEN_AMD64}\n")).write_oci(temp.path());
    let archive = temp.path().join("out.tar");
    tar_directory(&layout, &archive);
    let gz = temp.path().join("out.tar.gz");
    gzip_file(&archive, &gz);
    let from_layout = audit_json(&layout);
    let from_gz = audit_json(&gz);
    assert_eq!(from_gz["findings"], from_layout["findings"]);
    assert_eq!(
        from_gz["image"]["manifest_digest"],
        from_layout["image"]["manifest_digest"]
    );
}

#[test]
fn corrupt_layer_in_stream_is_an_error() {
    let temp = tempfile::tempdir().unwrap();
    let layout = platform_image("amd64", "PORT=3000\n").write_oci(temp.path());
    // Flip one byte of the (gzip) layer blob: its digest no longer matches.
    let blobs = layout.join("blobs/sha256");
    let manifest_index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest_digest = manifest_index["manifests"][0]["digest"].as_str().unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blobs.join(&manifest_digest[7..])).unwrap()).unwrap();
    let layer_digest = manifest["layers"][0]["digest"].as_str().unwrap();
    let layer_path = blobs.join(&layer_digest[7..]);
    let mut bytes = std::fs::read(&layer_path).unwrap();
    let last = bytes.len() - 5;
    bytes[last] ^= 0xff;
    std::fs::write(&layer_path, bytes).unwrap();
    let archive = temp.path().join("out.tar");
    tar_directory(&layout, &archive);
    let gz = temp.path().join("out.tar.gz");
    gzip_file(&archive, &gz);
    for input in [&layout, &gz] {
        let (code, stdout, stderr) = run_imgaudit(&[], input);
        assert_eq!(code, 2, "{}: {stderr}", input.display());
        assert!(stdout.is_empty());
        assert!(stderr.contains(&layer_digest[..19]), "{stderr}");
    }
}

#[test]
fn null_manifests_in_index_is_a_clear_error() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("layout");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("index.json"),
        br#"{"schemaVersion":2,"manifests":null}"#,
    )
    .unwrap();
    let (code, stdout, stderr) = run_imgaudit(&[], &dir);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(stderr.contains("lists no image manifest"), "{stderr}");
}

#[test]
fn docker25_with_empty_oci_layers_uses_manifest_json() {
    // An early Docker 25 release wrote an OCI manifest with no layers next to a manifest.json
    // that lists them; the layers that exist must be audited, with a warning.
    let temp = tempfile::tempdir().unwrap();
    let builder = platform_image("amd64", &format!("NPM_TOKEN={NPM_TOKEN_AMD64}\n"));
    let dir = temp.path().join("layout");
    let descriptor = builder.add_to_layout(&dir);
    let blobs = dir.join("blobs/sha256");
    let digest = descriptor["digest"].as_str().unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blobs.join(&digest[7..])).unwrap()).unwrap();
    let config = manifest["config"]["digest"].as_str().unwrap().to_owned();
    let layers: Vec<String> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| format!("blobs/sha256/{}", &l["digest"].as_str().unwrap()[7..]))
        .collect();
    let mut emptied = manifest.clone();
    emptied["layers"] = json!([]);
    let emptied_bytes = serde_json::to_vec(&emptied).unwrap();
    let emptied_digest = write_blob(&blobs, &emptied_bytes);
    write_index(
        &dir,
        vec![json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": emptied_digest,
            "size": emptied_bytes.len(),
        })],
    );
    let docker_manifest = json!([{
        "Config": format!("blobs/sha256/{}", &config[7..]),
        "RepoTags": null,
        "Layers": layers,
    }]);
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec(&docker_manifest).unwrap(),
    )
    .unwrap();
    let archive = temp.path().join("docker25.tar");
    tar_directory(&dir, &archive);

    let (code, stdout, stderr) = run_imgaudit(&[], &archive);
    // The config's diff_ids name the uncompressed layers, while these blobs are gzip, so the
    // fallback verifies against the blob names instead.
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(evidence_rules(&report), vec!["npm-token"]);
    assert!(
        report["warnings"].to_string().contains("manifest.json"),
        "{}",
        report["warnings"]
    );
    assert!(report["image"]["reference"].is_null());
}

/// Path of an archive that `tests/podman-save.sh` wrote with podman.
fn podman_archive(name: &str) -> std::path::PathBuf {
    let root = std::env::var_os("IMGAUDIT_TEST_IMAGES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-images"));
    let path = root.join("podman").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `bash tests/podman-save.sh` (tests/run.sh does)",
        path.display()
    );
    path
}

#[test]
fn podman_save_archives_match_testdata() {
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/busybox-app.docker.tar");
    let expected = audit_json(&testdata);
    let strip = |report: &serde_json::Value| -> Vec<String> {
        report["findings"]
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
            .collect()
    };
    for (name, format) in [
        ("busybox-app.docker.tar", "docker-archive"),
        ("busybox-app.oci.tar", "oci-archive"),
    ] {
        let report = audit_json(&podman_archive(name));
        assert_eq!(report["image"]["format"], format, "{name}");
        assert_eq!(strip(&report), strip(&expected), "{name}");
        assert!(!strip(&report).is_empty());
    }
    // podman's docker-archive stores `<id>/layer.tar` as symlinks to top-level tars.
    let mut archive =
        tar::Archive::new(std::fs::File::open(podman_archive("busybox-app.docker.tar")).unwrap());
    let has_symlink = archive
        .entries()
        .unwrap()
        .any(|e| e.unwrap().header().entry_type() == tar::EntryType::Symlink);
    assert!(has_symlink, "podman archive without layer symlinks");
}
