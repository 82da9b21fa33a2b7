//! Entry points for the fuzz targets in `tests/fuzz` and for the regression tests in
//! `tests/hostile.rs` that replay the inputs the fuzzer found.
//!
//! Each function feeds arbitrary bytes through the code path that a real image takes: the
//! archive reader, the layer walker, the JSON readers, the account and os-release parsers or the
//! secret scanner. It returns the error text where that path rejects the input. A panic, a hang
//! or an unbounded allocation inside one of them is a bug in the code under test. Files are
//! written to a fresh directory under [`std::env::temp_dir`] and removed before returning.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::civil::Date;

use crate::checks::{CHECKS, CheckContext, run_all};
use crate::digest::Digest;
use crate::image::config::{History, ImageConfig};
use crate::image::fs::{EntryKind, FileFacts, FileSystem, LayerEntry};
use crate::image::layer::{WalkContext, walk_layer};
use crate::image::{Image, ImageIdentity, LayerInfo, LoadOptions, stream};
use crate::report::{Format, ImageSummary, Report, ReportContext};
use crate::score::Gate;
use crate::secrets::{Scanner, names, split_assignment};
use crate::severity::Severity;
use crate::source::{
    self, BlobStore, ImageSource, InputKind, LayerBlob, SourceFormat, SourceOptions, VerifyStage,
    blob_path,
};
use crate::tar_guard::Limits;

/// Separates the layers of a [`layers`] input.
pub const LAYER_SEPARATOR: &[u8] = b"%%LAYER%%";
/// Layers taken from one [`layers`] input; the rest of the input is ignored.
pub const MAX_LAYERS: usize = 8;
/// Separates the parts of a [`text_parsers`] input: user, passwd, group, os-release, history
/// lines, environment lines.
pub const PART_SEPARATOR: u8 = 0;

/// The day that checks judge Node.js end of life against, fixed so that runs are reproducible.
const AUDIT_DATE: Date = jiff::civil::date(2026, 12, 4);

/// Config of the image that [`layers`] builds around the fuzzed layers. The entrypoint makes
/// the walker read the ELF header of files named `start`; `diff_ids` is empty, so any number of
/// layers is consistent with it.
const LAYERS_CONFIG: &str = r#"{"architecture":"amd64","os":"linux","config":{"User":"app","Entrypoint":["/app/start"],"Cmd":["node","/app/server.js"],"Env":["PATH=/usr/local/bin:/usr/bin:/bin","NODE_VERSION=20.11.1"]},"rootfs":{"type":"layers","diff_ids":[]},"history":[]}"#;

/// An empty tar stream (two zero blocks), the layer that [`json`] puts behind fuzzed manifests
/// and configs.
const EMPTY_TAR: [u8; 1024] = [0; 1024];

/// Role of a [`json`] input in the generated image, chosen by its first byte modulo 4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonRole {
    /// `index.json` of an OCI layout directory.
    OciIndex,
    /// The image manifest blob that a generated `index.json` points to; the manifest may name
    /// the config `{}` and the empty tar layer by their digests.
    OciManifest,
    /// The config blob of a generated manifest, which lists as many empty tar layers as the
    /// config's `rootfs.diff_ids` (at most [`MAX_LAYERS`]).
    Config,
    /// `manifest.json` of a classic `docker save` archive that also contains `config.json`
    /// (whose one diff ID is the empty tar's) and `layer.tar` (the empty tar).
    DockerManifest,
}

impl JsonRole {
    pub fn from_selector(byte: u8) -> JsonRole {
        match byte % 4 {
            0 => JsonRole::OciIndex,
            1 => JsonRole::OciManifest,
            2 => JsonRole::Config,
            _ => JsonRole::DockerManifest,
        }
    }
}

/// File names that the secrets target scans its input as, chosen by the first input byte.
pub const SECRET_FILE_NAMES: &[&str] = &[
    "/app/.env",
    "/app/config.json",
    "/root/.npmrc",
    "/root/.git-credentials",
    "/root/.ssh/id_rsa",
    "/root/.aws/credentials",
    "/app/settings.yaml",
    "/app/server.js",
    "/etc/app.conf",
    "/app/package-lock.json",
];

/// A directory for one run's files, removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> io::Result<ScratchDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let run = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("imgaudit-fuzz-{}-{run}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(ScratchDir(path))
    }

    fn write(&self, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)?;
        Ok(path)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch() -> Result<ScratchDir, String> {
    ScratchDir::new().map_err(|err| format!("failed to create a scratch directory: {err}"))
}

fn io_text(err: io::Error) -> String {
    format!("failed to write a fuzz input file: {err}")
}

/// Audits `data` as an image archive file the way the command line does: [`source::detect`],
/// then [`source::open`] and [`Image::load`] for an uncompressed tar, or
/// [`stream::load_stream`] for a gzip- or zstd-compressed one, then every check and the report
/// in both formats.
pub fn archive(data: &[u8]) -> Result<(), String> {
    let dir = scratch()?;
    let path = dir.write("image.tar", data).map_err(io_text)?;
    let options = SourceOptions::default();
    let load_options = load_options();
    let image = match source::detect(&path).map_err(|err| err.to_string())? {
        InputKind::RandomAccess => {
            let source = source::open(&path, &options).map_err(|err| err.to_string())?;
            Image::load(source, &load_options).map_err(|err| err.to_string())?
        }
        InputKind::Stream => {
            let file = std::fs::File::open(&path).map_err(io_text)?;
            stream::load_stream(Box::new(file), &path, &options, &load_options)
                .map_err(|err| err.to_string())?
        }
    };
    check_and_report(&image);
    Ok(())
}

/// Splits `data` at [`LAYER_SEPARATOR`] into at most [`MAX_LAYERS`] layer blobs, each raw,
/// gzip or zstd as for real images. Walks each blob with [`walk_layer`] (digest check,
/// decompression, tar guard, tar walk, content capture and secret scan), merges the walks in
/// order with [`FileSystem::apply_layer`], and runs every check that reads the filesystem.
///
/// Even layers are verified as stored blobs (OCI), odd layers as uncompressed tars (classic
/// `docker save`), so both orders of digest check and tar guard run. The digests are those of
/// the given bytes, so an odd layer that is compressed fails its `diff_id` check after its walk.
/// Unlike [`Image::load`], this walks the layers one after another rather than in parallel.
pub fn layers(data: &[u8]) -> Result<(), String> {
    let dir = scratch()?;
    let mut blobs = Vec::new();
    for (index, bytes) in split_layers(data).into_iter().enumerate() {
        let digest = Digest::sha256_of(bytes);
        let location = blob_path(&digest);
        dir.write(&location, bytes).map_err(io_text)?;
        let verify = if index % 2 == 0 {
            VerifyStage::Stored
        } else {
            VerifyStage::Uncompressed
        };
        blobs.push(LayerBlob {
            location,
            digest,
            verify,
            size: Some(bytes.len() as u64),
            media_type: None,
        });
    }
    let config_bytes = LAYERS_CONFIG.as_bytes().to_vec();
    let config = ImageConfig::parse(&config_bytes).map_err(|err| err.to_string())?;
    let source = ImageSource {
        path: dir.0.clone(),
        format: SourceFormat::OciLayout,
        reference: None,
        manifest_digest: None,
        config_digest: Digest::sha256_of(&config_bytes),
        config_bytes,
        layers: blobs,
        store: BlobStore::Dir(dir.0.clone()),
        warnings: Vec::new(),
    };

    let scanner = Scanner::shared_default();
    let image_bytes = AtomicU64::new(0);
    let ctx = WalkContext {
        scanner: &scanner,
        limits: Limits::default(),
        image_bytes: &image_bytes,
    };
    let mut fs = FileSystem::new();
    let mut layers = Vec::new();
    let mut file_secrets = Vec::new();
    for (index, blob) in source.layers.iter().enumerate() {
        let walk = walk_layer(&source, blob, &ctx).map_err(|err| err.to_string())?;
        layers.push(LayerInfo {
            index,
            digest: blob.digest.clone(),
            diff_id: None,
            size_bytes: blob.size,
            uncompressed_bytes: walk.uncompressed_bytes,
            compression: walk.compression,
            created_by: None,
            entries: walk.entries.len(),
        });
        file_secrets.extend(walk.secrets.into_iter().map(|found| (index, found)));
        fs.apply_layer(index, walk.entries);
    }
    let image = Image {
        identity: identity(source.config_digest.clone(), layers.len()),
        config,
        layers,
        fs,
        file_secrets,
        warnings: Vec::new(),
    };
    let ctx = CheckContext::new(&image, AUDIT_DATE);
    for check in CHECKS.iter().filter(|check| check.id != "secret-in-config") {
        (check.run)(&ctx);
    }
    Ok(())
}

fn identity(config_digest: Digest, layer_count: usize) -> ImageIdentity {
    ImageIdentity {
        source: "fuzz".into(),
        format: SourceFormat::OciLayout,
        reference: None,
        manifest_digest: None,
        config_digest,
        platform: "linux/amd64".into(),
        size_bytes: 0,
        uncompressed_bytes: 0,
        layer_count,
    }
}

/// Splits a [`layers`] input into its layer blobs.
pub fn split_layers(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while parts.len() + 1 < MAX_LAYERS {
        let Some(at) = find(rest, LAYER_SEPARATOR) else {
            break;
        };
        parts.push(&rest[..at]);
        rest = &rest[at + LAYER_SEPARATOR.len()..];
    }
    parts.push(rest);
    parts
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Places `data[1..]` in the image file that `data[0]` selects (see [`JsonRole`]) and audits
/// the image.
pub fn json(data: &[u8]) -> Result<(), String> {
    let Some((&selector, body)) = data.split_first() else {
        return Err("empty input".into());
    };
    let dir = scratch()?;
    match JsonRole::from_selector(selector) {
        JsonRole::OciIndex => {
            dir.write("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
                .map_err(io_text)?;
            dir.write("index.json", body).map_err(io_text)?;
            open_and_audit(&dir.0)
        }
        JsonRole::OciManifest => {
            write_blob(&dir, b"{}")?;
            write_blob(&dir, &EMPTY_TAR)?;
            let manifest = write_blob(&dir, body)?;
            write_index(&dir, &manifest, body.len())?;
            open_and_audit(&dir.0)
        }
        JsonRole::Config => {
            let config = write_blob(&dir, body)?;
            let layer = write_blob(&dir, &EMPTY_TAR)?;
            let layer_count = count_diff_ids(body).min(MAX_LAYERS);
            let layers: Vec<serde_json::Value> = (0..layer_count)
                .map(|_| descriptor("application/vnd.oci.image.layer.v1.tar", &layer, 1024))
                .collect();
            let manifest = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": descriptor("application/vnd.oci.image.config.v1+json", &config, body.len()),
                "layers": layers,
            });
            let manifest_bytes = manifest.to_string().into_bytes();
            let manifest = write_blob(&dir, &manifest_bytes)?;
            write_index(&dir, &manifest, manifest_bytes.len())?;
            open_and_audit(&dir.0)
        }
        JsonRole::DockerManifest => {
            let config = serde_json::json!({
                "architecture": "amd64",
                "os": "linux",
                "config": {"User": "app", "Env": ["PATH=/usr/bin"]},
                "rootfs": {"type": "layers", "diff_ids": [Digest::sha256_of(&EMPTY_TAR).to_string()]},
            })
            .to_string();
            let tar = docker_archive(body, config.as_bytes()).map_err(io_text)?;
            let path = dir.write("image.tar", &tar).map_err(io_text)?;
            open_and_audit(&path)
        }
    }
}

fn write_blob(dir: &ScratchDir, bytes: &[u8]) -> Result<Digest, String> {
    let digest = Digest::sha256_of(bytes);
    dir.write(&blob_path(&digest), bytes).map_err(io_text)?;
    Ok(digest)
}

fn write_index(dir: &ScratchDir, manifest: &Digest, size: usize) -> Result<(), String> {
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [descriptor("application/vnd.oci.image.manifest.v1+json", manifest, size)],
    });
    dir.write("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
        .map_err(io_text)?;
    dir.write("index.json", index.to_string().as_bytes())
        .map_err(io_text)?;
    Ok(())
}

fn descriptor(media_type: &str, digest: &Digest, size: usize) -> serde_json::Value {
    serde_json::json!({"mediaType": media_type, "digest": digest.to_string(), "size": size})
}

/// Counts `rootfs.diff_ids` of a config, 0 when it is not JSON of that shape.
fn count_diff_ids(config: &[u8]) -> usize {
    serde_json::from_slice::<serde_json::Value>(config)
        .ok()
        .and_then(|value| Some(value.get("rootfs")?.get("diff_ids")?.as_array()?.len()))
        .unwrap_or(0)
}

/// Builds a classic `docker save` archive: `manifest.json`, `config.json` and `layer.tar`.
fn docker_archive(manifest: &[u8], config: &[u8]) -> io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in [
        ("manifest.json", manifest),
        ("config.json", config),
        ("layer.tar", &EMPTY_TAR[..]),
    ] {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, name, bytes)?;
    }
    builder.into_inner()
}

/// Splits `data` at [`PART_SEPARATOR`] into `config.User`, `/etc/passwd`, `/etc/group`,
/// `/etc/os-release`, history `created_by` lines (one per line) and `config.Env` entries (one
/// per line), builds an image from them in memory and runs every check on it. This reaches the
/// passwd, group and os-release parsers, user resolution and history-line parsing through the
/// checks that use them.
pub fn text_parsers(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split(PART_SEPARATOR as char);
    let mut next = || parts.next().unwrap_or_default().to_owned();
    let user = next();
    let passwd = next();
    let group = next();
    let os_release = next();
    let history = next();
    let env = next();

    let config = ImageConfig {
        architecture: "amd64".into(),
        os: "linux".into(),
        config: crate::image::config::ContainerConfig {
            user,
            env: env.lines().map(str::to_owned).collect(),
            ..Default::default()
        },
        history: history
            .lines()
            .enumerate()
            .map(|(index, line)| History {
                created_by: Some(line.to_owned()),
                // Every third step made no layer, like ENV and USER steps.
                empty_layer: index % 3 == 2,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };

    let mut fs = FileSystem::new();
    let file = |path: &str, content: String| LayerEntry {
        path: path.into(),
        kind: EntryKind::File,
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: content.len() as u64,
        link_target: None,
        content: Some(Arc::from(content.into_bytes())),
        facts: FileFacts::default(),
    };
    fs.apply_layer(
        0,
        vec![
            file("/etc/passwd", passwd),
            file("/etc/group", group),
            file("/etc/os-release", os_release),
        ],
    );

    let image = Image {
        identity: identity(Digest::sha256_of(data), 0),
        config,
        layers: Vec::new(),
        fs,
        file_secrets: Vec::new(),
        warnings: Vec::new(),
    };
    check_and_report(&image);
}

/// Scans `data[1..]` as the file that `data[0]` selects from [`SECRET_FILE_NAMES`], as a
/// config or history text, and line by line as `NAME=value` assignments.
pub fn secrets(data: &[u8]) {
    let scanner = Scanner::shared_default();
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let path = SECRET_FILE_NAMES[usize::from(selector) % SECRET_FILE_NAMES.len()];
    if scanner.wants_file(path, body.len() as u64) {
        scanner.scan_file(path, body);
    }
    let text = String::from_utf8_lossy(body);
    scanner.scan_text(&text);
    for line in text.lines() {
        if let Some((key, value)) = split_assignment(line) {
            names::is_secret_name(key);
            names::is_placeholder(value);
            names::shannon_entropy(value);
        }
    }
}

/// Returns the command line's default load options. `LoadOptions::default()` would build a new
/// secret scanner on every call, which costs more than most fuzz inputs take to read.
fn load_options() -> LoadOptions {
    LoadOptions {
        requested_platform: None,
        limits: Limits::default(),
        scanner: Scanner::shared_default(),
        cache: None,
    }
}

fn open_and_audit(path: &Path) -> Result<(), String> {
    let source = source::open(path, &SourceOptions::default()).map_err(|err| err.to_string())?;
    audit(source)
}

fn audit(source: ImageSource) -> Result<(), String> {
    let image = Image::load(source, &load_options()).map_err(|err| err.to_string())?;
    check_and_report(&image);
    Ok(())
}

/// Runs every check on `image` and renders the report in both formats, with a gate, as the
/// command line does.
fn check_and_report(image: &Image) {
    let ctx = CheckContext::new(image, AUDIT_DATE);
    let outcomes = run_all(&ctx);
    let report = Report::build(
        ReportContext {
            image: ImageSummary {
                identity: image.identity.clone(),
                base_os: ctx.os_release.as_ref().map(|os| os.display_name()),
            },
            audit_date: AUDIT_DATE.to_string(),
            gate: Gate {
                fail_on: Some(Severity::High),
                min_score: Some(80),
            },
            warnings: image.warnings.clone(),
        },
        outcomes,
    );
    report.render(Format::Table);
    report.render(Format::Json);
}
