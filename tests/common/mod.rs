//! Builds small synthetic images in a temporary directory for edge-case tests: an OCI layout
//! directory or a classic `docker save` archive, with layers given entry by entry.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// One tar entry of a synthetic layer.
#[derive(Clone, Debug)]
pub enum Entry {
    File {
        path: String,
        content: Vec<u8>,
        mode: u32,
    },
    Dir {
        path: String,
    },
    Symlink {
        path: String,
        target: String,
    },
    Hardlink {
        path: String,
        target: String,
    },
}

pub fn file(path: &str, content: &str) -> Entry {
    Entry::File {
        path: path.into(),
        content: content.as_bytes().to_vec(),
        mode: 0o644,
    }
}

pub fn executable(path: &str, content: &[u8]) -> Entry {
    Entry::File {
        path: path.into(),
        content: content.to_vec(),
        mode: 0o755,
    }
}

pub fn dir(path: &str) -> Entry {
    Entry::Dir { path: path.into() }
}

pub fn symlink(path: &str, target: &str) -> Entry {
    Entry::Symlink {
        path: path.into(),
        target: target.into(),
    }
}

pub fn hardlink(path: &str, target: &str) -> Entry {
    Entry::Hardlink {
        path: path.into(),
        target: target.into(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

#[derive(Clone, Debug)]
pub struct Layer {
    pub entries: Vec<Entry>,
    pub created_by: String,
    /// Uncompressed layer tar used as is instead of `entries`, for hostile tars that the tar
    /// crate's builder refuses to write.
    pub raw: Option<Vec<u8>>,
    /// Stored blob bytes used as is in OCI layouts (the diff_id still comes from the tar),
    /// for blobs with trailing garbage or unusual compression settings.
    pub stored: Option<Vec<u8>>,
}

pub fn layer(created_by: &str, entries: Vec<Entry>) -> Layer {
    Layer {
        entries,
        created_by: created_by.into(),
        raw: None,
        stored: None,
    }
}

pub fn raw_layer(created_by: &str, tar: Vec<u8>) -> Layer {
    Layer {
        entries: Vec::new(),
        created_by: created_by.into(),
        raw: Some(tar),
        stored: None,
    }
}

/// Builds one raw tar header block (ustar) with any name bytes, entry type and size, and a
/// correct checksum, followed by `data` padded to the block size.
pub fn raw_entry(name: &[u8], kind: u8, size: u64, link: &[u8], data: &[u8]) -> Vec<u8> {
    let mut block = vec![0u8; 512];
    let name_len = name.len().min(100);
    block[..name_len].copy_from_slice(&name[..name_len]);
    block[100..108].copy_from_slice(b"0000644\0");
    block[108..116].copy_from_slice(b"0000000\0");
    block[116..124].copy_from_slice(b"0000000\0");
    if size < 0o77777777777 {
        block[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    } else {
        block[124] = 0x80;
        block[128..136].copy_from_slice(&size.to_be_bytes());
    }
    block[136..148].copy_from_slice(b"00000000000\0");
    block[156] = kind;
    let link_len = link.len().min(100);
    block[157..157 + link_len].copy_from_slice(&link[..link_len]);
    block[257..263].copy_from_slice(b"ustar\0");
    block[263..265].copy_from_slice(b"00");
    block[148..156].copy_from_slice(b"        ");
    let sum: u32 = block.iter().map(|b| u32::from(*b)).sum();
    block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = block;
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

/// Ends a raw tar with two zero blocks.
pub fn raw_end(mut tar: Vec<u8>) -> Vec<u8> {
    tar.extend(vec![0u8; 1024]);
    tar
}

/// A synthetic image: config fields and layers.
#[derive(Clone, Debug)]
pub struct ImageBuilder {
    pub container_config: Value,
    pub layers: Vec<Layer>,
    /// Extra history entries with `empty_layer: true`, appended after the layers' entries.
    pub empty_history: Vec<String>,
    pub compression: Compression,
    /// Replaces the generated history when set.
    pub history_override: Option<Value>,
    pub architecture: String,
}

impl ImageBuilder {
    pub fn new() -> ImageBuilder {
        ImageBuilder {
            container_config: json!({}),
            layers: Vec::new(),
            empty_history: Vec::new(),
            compression: Compression::Gzip,
            history_override: None,
            architecture: "amd64".into(),
        }
    }

    pub fn architecture(mut self, architecture: &str) -> Self {
        self.architecture = architecture.into();
        self
    }

    pub fn history(mut self, history: Value) -> Self {
        self.history_override = Some(history);
        self
    }

    pub fn config(mut self, container_config: Value) -> Self {
        self.container_config = container_config;
        self
    }

    pub fn layer(mut self, layer: Layer) -> Self {
        self.layers.push(layer);
        self
    }

    pub fn empty_history(mut self, created_by: &str) -> Self {
        self.empty_history.push(created_by.into());
        self
    }

    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    fn layer_tars(&self) -> Vec<Vec<u8>> {
        self.layers
            .iter()
            .map(|l| l.raw.clone().unwrap_or_else(|| tar_bytes(&l.entries)))
            .collect()
    }

    fn config_json(&self, tars: &[Vec<u8>]) -> Vec<u8> {
        let diff_ids: Vec<String> = tars.iter().map(|t| sha256(t)).collect();
        let mut history: Vec<Value> = self
            .layers
            .iter()
            .map(|l| json!({"created_by": l.created_by}))
            .collect();
        for created_by in &self.empty_history {
            history.push(json!({"created_by": created_by, "empty_layer": true}));
        }
        let history = self
            .history_override
            .clone()
            .unwrap_or(Value::Array(history));
        serde_json::to_vec(&json!({
            "architecture": self.architecture,
            "os": "linux",
            "config": self.container_config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        }))
        .unwrap()
    }

    /// Writes an OCI image layout directory under `root` and returns its path.
    pub fn write_oci(&self, root: &Path) -> PathBuf {
        let dir = root.join("image.oci");
        let mut descriptor = self.add_to_layout(&dir);
        descriptor["annotations"] =
            json!({"org.opencontainers.image.ref.name": "synthetic:latest"});
        write_index(&dir, vec![descriptor]);
        dir
    }

    /// Writes this image's layers, config and manifest into the blobs of the OCI layout at
    /// `dir` and returns the manifest's descriptor, for tests that compose their own index.
    pub fn add_to_layout(&self, dir: &Path) -> Value {
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        let tars = self.layer_tars();
        let config = self.config_json(&tars);
        let mut layer_descriptors = Vec::new();
        for (tar, layer) in tars.iter().zip(&self.layers) {
            let (stored, media_type) = match self.compression {
                _ if layer.stored.is_some() => (
                    layer.stored.clone().unwrap(),
                    "application/vnd.oci.image.layer.v1.tar+gzip",
                ),
                Compression::None => (tar.clone(), "application/vnd.oci.image.layer.v1.tar"),
                Compression::Gzip => (gzip(tar), "application/vnd.oci.image.layer.v1.tar+gzip"),
                Compression::Zstd => (
                    zstd::encode_all(&tar[..], 3).unwrap(),
                    "application/vnd.oci.image.layer.v1.tar+zstd",
                ),
            };
            layer_descriptors.push(json!({
                "mediaType": media_type,
                "digest": write_blob(&blobs, &stored),
                "size": stored.len(),
            }));
        }
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": write_blob(&blobs, &config),
                "size": config.len(),
            },
            "layers": layer_descriptors,
        }))
        .unwrap();
        json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": write_blob(&blobs, &manifest),
            "size": manifest.len(),
        })
    }

    /// Writes a classic `docker save` archive (`manifest.json`, `<id>/layer.tar`).
    pub fn write_docker_archive(&self, root: &Path) -> PathBuf {
        let path = root.join("image.docker.tar");
        let tars = self.layer_tars();
        let config = self.config_json(&tars);
        let config_name = format!("{}.json", &sha256(&config)["sha256:".len()..]);
        let mut members: Vec<(String, Vec<u8>)> = vec![(config_name.clone(), config)];
        let mut layer_names = Vec::new();
        for (i, tar) in tars.iter().enumerate() {
            let name = format!("{i:064x}/layer.tar");
            members.push((name.clone(), tar.clone()));
            layer_names.push(name);
        }
        let manifest = json!([{
            "Config": config_name,
            "RepoTags": ["synthetic:latest"],
            "Layers": layer_names,
        }]);
        members.push((
            "manifest.json".into(),
            serde_json::to_vec(&manifest).unwrap(),
        ));
        let mut builder = tar::Builder::new(std::fs::File::create(&path).unwrap());
        for (name, bytes) in members {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut header, name, &bytes[..]).unwrap();
        }
        builder.finish().unwrap();
        path
    }
}

impl Default for ImageBuilder {
    fn default() -> Self {
        ImageBuilder::new()
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Writes `index.json` and `oci-layout` of an OCI layout listing `manifests`.
pub fn write_index(dir: &Path, manifests: Vec<Value>) {
    let index = json!({"schemaVersion": 2, "manifests": manifests});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// Writes a blob into `blobs` (the `blobs/sha256` directory) and returns its digest.
pub fn write_blob(blobs: &Path, bytes: &[u8]) -> String {
    let digest = sha256(bytes);
    std::fs::write(blobs.join(&digest["sha256:".len()..]), bytes).unwrap();
    digest
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Builds a layer tar. Entries keep their order, so tests can put an opaque marker after the
/// files it must not hide.
pub fn tar_bytes(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        match entry {
            Entry::File {
                path,
                content,
                mode,
            } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(content.len() as u64);
                builder
                    .append_data(&mut header, path, &content[..])
                    .unwrap();
            }
            Entry::Dir { path } => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder.append_data(&mut header, path, &[][..]).unwrap();
            }
            Entry::Symlink { path, target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
            Entry::Hardlink { path, target } => {
                header.set_entry_type(tar::EntryType::Link);
                header.set_mode(0o755);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

/// Runs imgaudit as a library on `path` and returns the JSON report.
pub fn audit_json(path: &Path) -> Value {
    let output = assert_cmd::Command::cargo_bin("imgaudit")
        .unwrap()
        .args(["--format", "json", "--now", "2026-12-04"])
        .arg(path)
        .output()
        .unwrap();
    let code = output.status.code();
    assert!(
        code == Some(0) || code == Some(1),
        "imgaudit failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Findings of one check in a JSON report.
pub fn findings<'a>(report: &'a Value, check: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check_id"] == check)
        .collect()
}

/// Status (`pass`, `fail`, `not-applicable`) of one check.
pub fn status<'a>(report: &'a Value, check: &str) -> &'a str {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == check)
        .and_then(|c| c["status"].as_str())
        .unwrap()
}

/// Packs a directory into a tar file the way `tar -cf out.tar -C dir .` does: member names
/// start with `./`, directories come before their contents.
pub fn tar_directory(dir: &Path, out: &Path) {
    let mut builder = tar::Builder::new(std::fs::File::create(out).unwrap());
    let mut paths: Vec<PathBuf> = walk(dir);
    paths.sort();
    for path in paths {
        let relative = path.strip_prefix(dir).unwrap();
        let name = format!("./{}", relative.display());
        if path.is_dir() {
            builder.append_dir(&name, &path).unwrap();
        } else {
            let mut file = std::fs::File::open(&path).unwrap();
            builder.append_file(&name, &mut file).unwrap();
        }
    }
    builder.finish().unwrap();
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        out.push(path.clone());
        if path.is_dir() {
            out.extend(walk(&path));
        }
    }
    out
}

/// Compresses a file with gzip into `out`.
pub fn gzip_file(input: &Path, out: &Path) {
    let bytes = std::fs::read(input).unwrap();
    std::fs::write(out, gzip(&bytes)).unwrap();
}

/// Compresses a file with zstd into `out`.
pub fn zstd_file(input: &Path, out: &Path) {
    let bytes = std::fs::read(input).unwrap();
    std::fs::write(out, zstd::encode_all(&bytes[..], 3).unwrap()).unwrap();
}

/// Runs imgaudit with extra arguments and returns (exit code, stdout, stderr).
pub fn run_imgaudit(args: &[&str], path: &Path) -> (i32, String, String) {
    let output = assert_cmd::Command::cargo_bin("imgaudit")
        .unwrap()
        .args(["--format", "json", "--now", "2026-12-04"])
        .args(args)
        .arg(path)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
