//! Hostile and broken input: every case must end in a report or a clear error (exit 2) that
//! names what failed, never a panic, a hang, a write outside the temp dir, or a passing audit
//! of a corrupt image.

mod common;

use std::io::Write;

use common::*;
use serde_json::json;

fn base() -> ImageBuilder {
    ImageBuilder::new().config(json!({"User": "10001:10001"}))
}

fn oci(builder: &ImageBuilder) -> (tempfile::TempDir, std::path::PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let path = builder.write_oci(temp.path());
    (temp, path)
}

#[test]
fn hostile_member_names_are_contained() {
    let mut tar = Vec::new();
    tar.extend(raw_entry(b"../../../../etc/evil", b'0', 5, b"", b"owned"));
    tar.extend(raw_entry(
        b"/etc/passwd",
        b'0',
        29,
        b"",
        b"root:x:0:0::/root:/bin/false",
    ));
    let secret = b"DATABASE_PASSWORD=hunter2-prod-Xy9\n";
    tar.extend(raw_entry(
        b"app/\x1b[31mred\x1b[0m.env",
        b'0',
        secret.len() as u64,
        b"",
        secret,
    ));
    let other = b"API_KEY=Zx8Qw7Er6Ty5Ui4Op3\n";
    tar.extend(raw_entry(
        b"app/fake\n\xe2\x80\xaerow.env",
        b'0',
        other.len() as u64,
        b"",
        other,
    ));
    tar.extend(raw_entry(b"app/caf\xe9\xff.txt", b'0', 2, b"", b"hi"));
    let long_name = format!("app/{}", "d/".repeat(3000));
    let long_name = format!("{long_name}file");
    tar.extend(raw_entry(
        b"././@LongLink",
        b'L',
        long_name.len() as u64,
        b"",
        long_name.as_bytes(),
    ));
    tar.extend(raw_entry(b"placeholder", b'0', 2, b"", b"hi"));
    tar.extend(raw_entry(
        b"pax_global_header",
        b'g',
        20,
        b"",
        b"20 comment=hello!!\n",
    ));
    let (_temp, path) = oci(&base().layer(raw_layer("ADD hostile.tar /", raw_end(tar))));

    let (code, stdout, stderr) = run_imgaudit(&[], &path);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("skipped 1 entries"), "{warnings}");
    // The absolute path landed inside the image, so its passwd is read: uid 10001 is unknown
    // there but numeric, so root-user passes.
    assert_eq!(status(&report, "root-user"), "pass");

    // Control characters never reach the terminal raw.
    let table = assert_cmd::Command::cargo_bin("imgaudit")
        .unwrap()
        .args(["--now", "2026-12-04"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("red"),
        "the finding in the escaped path is missing: {text}"
    );
    assert!(
        !table.stdout.contains(&0x1b),
        "raw escape byte in table output"
    );
    assert!(
        text.contains("fake\\u{a}\\u{202e}row.env"),
        "newline or bidi override not escaped: {text}"
    );
}

#[test]
fn oversized_long_name_header_is_rejected() {
    let mut tar = raw_entry(b"././@LongLink", b'L', 8 * 1024 * 1024 * 1024, b"", b"");
    tar.truncate(512);
    let (_temp, path) = oci(&base().layer(raw_layer("ADD evil.tar /", tar)));
    let (code, stdout, stderr) = run_imgaudit(&[], &path);
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("layer 0"), "{stderr}");
    assert!(stderr.contains("type L"), "{stderr}");
}

#[test]
fn symlink_loops_and_dangling_hardlinks_do_not_hang() {
    let layer = layer(
        "ADD links",
        vec![
            symlink("etc/os-release", "../etc/loop"),
            symlink("etc/loop", "os-release"),
            symlink("bin", "bin"),
            symlink("usr/bin/sh", "/usr/bin/sh"),
            symlink("escape", "../../../../../../etc/shadow"),
            hardlink("app/data", "app/missing"),
        ],
    );
    let (_temp, path) = oci(&base().layer(layer));
    let (code, stdout, stderr) = run_imgaudit(&[], &path);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(report["image"]["base_os"].is_null());
    assert_eq!(status(&report, "shell-present"), "pass");
    assert!(
        report["warnings"].to_string().contains("/app/missing"),
        "{}",
        report["warnings"]
    );
}

fn zeros_layer(bytes: usize) -> Vec<u8> {
    let mut tar = raw_entry(b"app/zeros", b'0', bytes as u64, b"", &vec![0u8; bytes]);
    tar = raw_end(tar);
    tar
}

#[test]
fn gzip_bomb_hits_layer_budget() {
    let builder = base().layer(raw_layer("ADD bomb", zeros_layer(64 << 20)));
    let (_temp, path) = oci(&builder);
    let (code, stdout, stderr) = run_imgaudit(&["--max-layer-bytes", "16MiB"], &path);
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("layer 0"), "{stderr}");
    assert!(stderr.contains("decompression bomb"), "{stderr}");
}

#[test]
fn zstd_bomb_hits_image_budget() {
    let builder = base()
        .layer(raw_layer("ADD half", zeros_layer(12 << 20)))
        .layer(raw_layer("ADD other half", zeros_layer(12 << 20)))
        .compression(Compression::Zstd);
    let (_temp, path) = oci(&builder);
    let (code, _, stderr) = run_imgaudit(&["--max-image-bytes", "16MiB"], &path);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--max-image-bytes"), "{stderr}");
}

#[test]
fn zstd_window_above_limit_is_rejected() {
    let tar = raw_end(raw_entry(b"app/x", b'0', 5, b"", b"hello"));
    let mut encoder = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
    encoder.window_log(30).unwrap();
    encoder.long_distance_matching(true).unwrap();
    encoder.write_all(&tar).unwrap();
    let stored = encoder.finish().unwrap();
    let mut layer = raw_layer("ADD x", tar);
    layer.stored = Some(stored);
    let (_temp, path) = oci(&base().layer(layer));
    let (code, stdout, stderr) = run_imgaudit(&[], &path);
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("layer 0"), "{stderr}");
}

#[test]
fn garbage_after_gzip_stream_is_tolerated() {
    let tar = raw_end(raw_entry(
        b"app/.env",
        b'0',
        53,
        b"",
        b"STRIPE_SECRET_KEY=sk_live_4eC39HqLyjWDarjtT1zdp7dc9Xq\n",
    ));
    let mut stored = gzip(&tar);
    stored.extend_from_slice(b"trailing garbage that is not a gzip member");
    let mut layer = raw_layer("COPY .env", tar);
    layer.stored = Some(stored);
    let report = audit_json(&oci(&base().layer(layer)).1);
    assert_eq!(findings(&report, "secret-in-file").len(), 1);
}

#[test]
fn truncated_docker_archive_is_an_error() {
    let temp = tempfile::tempdir().unwrap();
    let builder = base().layer(raw_layer("ADD data", zeros_layer(256 << 10)));
    let path = builder.write_docker_archive(temp.path());
    let bytes = std::fs::read(&path).unwrap();
    for keep in [bytes.len() / 2, 700, 100] {
        let cut = temp.path().join(format!("cut-{keep}.tar"));
        std::fs::write(&cut, &bytes[..keep]).unwrap();
        let (code, stdout, stderr) = run_imgaudit(&[], &cut);
        assert_eq!(code, 2, "{keep}: {stderr}");
        assert!(stdout.is_empty(), "{keep}");
        assert!(stderr.contains("cut-"), "{keep}: {stderr}");
    }
}

#[test]
fn layer_larger_than_descriptor_is_rejected() {
    let (_temp, path) = oci(&base().layer(raw_layer("ADD data", zeros_layer(64 << 10))));
    let blobs = path.join("blobs/sha256");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path.join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blobs.join(&manifest_digest[7..])).unwrap()).unwrap();
    let layer_digest = manifest["layers"][0]["digest"].as_str().unwrap();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(blobs.join(&layer_digest[7..]))
        .unwrap();
    file.write_all(&[0u8; 4096]).unwrap();
    let (code, _, stderr) = run_imgaudit(&[], &path);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("size mismatch"), "{stderr}");
    assert!(stderr.contains(&layer_digest[..20]), "{stderr}");
}

#[test]
fn malformed_json_and_digests_are_clear_errors() {
    let temp = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        ("not-json", serde_json::Value::Null, "index.json"),
        (
            "bad-algorithm",
            json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "md5:d41d8cd98f00b204e9800998ecf8427e", "size": 2}]}),
            "index.json",
        ),
        (
            "short-hex",
            json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:abc", "size": 2}]}),
            "index.json",
        ),
        (
            "missing-blob",
            json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "size": 2}]}),
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ),
    ];
    for (name, index, expected) in cases {
        let dir = temp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let text = if index.is_null() {
            b"{not json".to_vec()
        } else {
            serde_json::to_vec(&index).unwrap()
        };
        std::fs::write(dir.join("index.json"), text).unwrap();
        let (code, stdout, stderr) = run_imgaudit(&[], &dir);
        assert_eq!(code, 2, "{name}: {stderr}");
        assert!(stdout.is_empty(), "{name}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
    }
}

#[test]
fn config_that_is_not_json_is_named() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("layout");
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let config = b"this is not a config".to_vec();
    let config_digest = write_blob(&blobs, &config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [],
    }))
    .unwrap();
    let manifest_digest = write_blob(&blobs, &manifest);
    write_index(
        &dir,
        vec![
            json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest.len()}),
        ],
    );
    let (code, _, stderr) = run_imgaudit(&[], &dir);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(&config_digest), "{stderr}");
}

#[test]
fn gnu_sparse_entry_does_not_crash() {
    // An old-GNU sparse entry: one 5-byte chunk at offset 0 of a 10-byte file.
    let mut header = raw_entry(b"app/sparse", b'S', 5, b"", b"");
    header.truncate(512);
    header[386..398].copy_from_slice(b"00000000000\0");
    header[398..410].copy_from_slice(b"00000000005\0");
    header[483..495].copy_from_slice(b"00000000012\0");
    header[257..265].copy_from_slice(b"ustar  \0");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut tar = header;
    let mut data = b"hello".to_vec();
    data.resize(512, 0);
    tar.extend(data);
    let (_temp, path) = oci(&base().layer(raw_layer("ADD sparse", raw_end(tar))));
    let (code, _, stderr) = run_imgaudit(&[], &path);
    assert!(code == 0 || code == 2, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
