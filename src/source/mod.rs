//! Turns what the user pointed at (a `docker save` archive, an OCI archive or an OCI layout
//! directory) into a verified manifest, config and list of layer blobs.
//!
//! The format is detected from the path alone: a directory must be an OCI image layout, a file
//! must be a tar archive holding `manifest.json` (Docker) or `index.json` (OCI). Layers are not
//! read here; the image stage streams each one through [`LayerBlob::open_verified`].

mod docker;
mod oci;
pub mod registry;
mod store;

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, InvalidDigest, VerifyingReader};
pub use store::{BlobStore, MemoryStore, TarIndex, normalize_member_name};

/// Largest manifest, index or `manifest.json` read whole.
const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;
/// Largest image config read whole; real configs are a few KiB, long histories a few hundred.
const MAX_CONFIG_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("failed to read {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path} is not a container image: {reason}")]
    NotAnImage { path: PathBuf, reason: String },
    #[error("{name} is missing from {archive}: the image is incomplete; save or copy it again")]
    MissingFile { archive: PathBuf, name: String },
    #[error(
        "blob {digest} is missing from {archive}: the image is incomplete; save or copy it again"
    )]
    MissingBlob { archive: PathBuf, digest: Digest },
    #[error("{name} in {archive} is not valid JSON of the expected shape: {source}")]
    InvalidJson {
        archive: PathBuf,
        name: String,
        source: serde_json::Error,
    },
    #[error("{name} in {archive}: {message}")]
    Invalid {
        archive: PathBuf,
        name: String,
        message: String,
    },
    #[error("{name} in {archive} has an invalid digest: {source}")]
    InvalidDigest {
        archive: PathBuf,
        name: String,
        source: InvalidDigest,
    },
    #[error("{name} is larger than the {limit}-byte limit for that kind of file")]
    TooLarge { name: String, limit: u64 },
    #[error("{what} {digest} in {archive} failed verification: {source}")]
    Verify {
        archive: PathBuf,
        what: &'static str,
        digest: Digest,
        source: io::Error,
    },
    #[error("{archive} contains several images; pick one with --image: {available}")]
    SeveralImages { archive: PathBuf, available: String },
    #[error("invalid image reference {reference:?}: {message}")]
    InvalidReference { reference: String, message: String },
    #[error("cannot pull {reference}: {message}")]
    Registry { reference: String, message: String },
    #[error("{archive} has no image named {wanted:?}; available: {available}")]
    ImageNotFound {
        archive: PathBuf,
        wanted: String,
        available: String,
    },
    #[error("no image for platform {requested} in {archive}; available: {available}")]
    PlatformNotFound {
        archive: PathBuf,
        requested: String,
        available: String,
    },
}

impl SourceError {
    pub(crate) fn io(path: &Path, source: io::Error) -> SourceError {
        SourceError::Io {
            path: path.to_owned(),
            source,
        }
    }

    fn not_tar(path: &Path, err: &io::Error) -> SourceError {
        SourceError::NotAnImage {
            path: path.to_owned(),
            reason: format!(
                "expected a tar archive (docker save, podman save or an OCI archive) but it could not be read as one ({err})"
            ),
        }
    }
}

/// Packaging of the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceFormat {
    /// `docker save` before Docker 25, skopeo and podman `docker-archive`: `manifest.json` and
    /// `<id>/layer.tar`.
    DockerArchive,
    /// `docker save` since Docker 25: an OCI layout plus a `manifest.json` into `blobs/`.
    DockerOciArchive,
    /// An OCI image layout packed in a tar (`skopeo copy ... oci-archive:`).
    OciArchive,
    /// An OCI image layout directory.
    OciLayout,
    /// Pulled from an OCI registry.
    Registry,
}

impl SourceFormat {
    pub fn describe(self) -> &'static str {
        match self {
            SourceFormat::DockerArchive => "docker-archive",
            SourceFormat::DockerOciArchive => "docker-archive (OCI layout, Docker 25+)",
            SourceFormat::OciArchive => "oci-archive",
            SourceFormat::OciLayout => "oci-layout directory",
            SourceFormat::Registry => "registry",
        }
    }
}

/// Part of a layer that its digest covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyStage {
    /// The stored blob, as the OCI descriptor digest does.
    Stored,
    /// The uncompressed tar, as a `diff_id` does (classic `docker save` names no blob digest).
    Uncompressed,
}

/// One layer of the selected image, not yet read.
#[derive(Clone, Debug)]
pub struct LayerBlob {
    /// Name of the blob inside the source (`blobs/sha256/…` or `<id>/layer.tar`).
    pub location: String,
    pub digest: Digest,
    pub verify: VerifyStage,
    /// Stored size in bytes, when a descriptor states it.
    pub size: Option<u64>,
    pub media_type: Option<String>,
}

/// Requested platform, `os/arch[/variant]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformSpec {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl PlatformSpec {
    /// Returns the platform of the machine imgaudit runs on, in Go's GOOS/GOARCH terms.
    pub fn host() -> PlatformSpec {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        PlatformSpec {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: None,
        }
    }

    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        self.os == os
            && self.architecture == architecture
            && (self.variant.is_none() || self.variant.as_deref() == variant)
    }
}

impl std::str::FromStr for PlatformSpec {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let parts: Vec<&str> = value.split('/').collect();
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(PlatformSpec {
                os: (*os).into(),
                architecture: (*arch).into(),
                variant: None,
            }),
            [os, arch, variant] if !os.is_empty() && !arch.is_empty() && !variant.is_empty() => {
                Ok(PlatformSpec {
                    os: (*os).into(),
                    architecture: (*arch).into(),
                    variant: Some((*variant).into()),
                })
            }
            _ => Err(format!(
                "invalid platform {value:?}: expected os/arch or os/arch/variant, e.g. linux/arm64"
            )),
        }
    }
}

impl std::fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// Selection options besides the path.
#[derive(Clone, Debug, Default)]
pub struct SourceOptions {
    pub platform: Option<PlatformSpec>,
    /// Name, `name:tag` or position (0-based) of one image in an archive that contains several.
    pub image: Option<String>,
}

/// A verified manifest and config with the layers still to be read.
pub struct ImageSource {
    pub path: PathBuf,
    pub format: SourceFormat,
    /// `name:tag` when the source records one.
    pub reference: Option<String>,
    pub manifest_digest: Option<Digest>,
    pub config_digest: Digest,
    pub config_bytes: Vec<u8>,
    pub layers: Vec<LayerBlob>,
    pub store: BlobStore,
    /// Inconsistencies that did not stop the audit.
    pub warnings: Vec<String>,
}

/// Way an input path must be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// An OCI layout directory or an uncompressed tar: blobs are opened by name, in parallel.
    RandomAccess,
    /// A gzip- or zstd-compressed archive: read once, front to back, like stdin.
    Stream,
}

/// Decides how to read `path` from its type and first bytes, rejecting what is not an image.
pub fn detect(path: &Path) -> Result<InputKind, SourceError> {
    let metadata = std::fs::metadata(path).map_err(|source| SourceError::io(path, source))?;
    if metadata.is_dir() {
        return Ok(InputKind::RandomAccess);
    }
    let head = read_head(path)?;
    if head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Ok(InputKind::Stream);
    }
    if looks_like_tar(&head) {
        return Ok(InputKind::RandomAccess);
    }
    let reason = if head.is_empty() {
        "the file is empty".to_owned()
    } else if looks_like_dockerfile(&head) {
        "expected a tar archive, but it looks like a Dockerfile; build the image and pass \
         `docker save IMAGE -o image.tar`"
            .to_owned()
    } else {
        "expected a tar archive from docker save, podman save or skopeo (docker-archive or \
         oci-archive, optionally gzip- or zstd-compressed), or an OCI layout directory"
            .to_owned()
    };
    Err(SourceError::NotAnImage {
        path: path.to_owned(),
        reason,
    })
}

/// Opens a random-access input (see [`detect`]) and reads its manifest and config.
pub fn open(path: &Path, options: &SourceOptions) -> Result<ImageSource, SourceError> {
    let metadata = std::fs::metadata(path).map_err(|source| SourceError::io(path, source))?;
    if metadata.is_dir() {
        let store = BlobStore::Dir(path.to_owned());
        if !store.exists("index.json") {
            return Err(SourceError::NotAnImage {
                path: path.to_owned(),
                reason: "the directory has no index.json, so it is not an OCI image layout; \
                         pass a docker save archive, an OCI archive or an OCI layout directory"
                    .into(),
            });
        }
        return oci::read(store, SourceFormat::OciLayout, options);
    }
    if !looks_like_tar(&read_head(path)?) {
        return Err(SourceError::NotAnImage {
            path: path.to_owned(),
            reason: "expected an uncompressed tar archive".into(),
        });
    }
    from_store(BlobStore::Tar(TarIndex::build(path)?), options)
}

/// Reads the manifest and config from an archive's files: Docker when it has
/// `manifest.json`, OCI when it has only `index.json`.
pub fn from_store(store: BlobStore, options: &SourceOptions) -> Result<ImageSource, SourceError> {
    if store.exists("manifest.json") {
        return docker::read(store, options);
    }
    if store.exists("index.json") {
        return oci::read(store, SourceFormat::OciArchive, options);
    }
    Err(SourceError::NotAnImage {
        path: store.path().to_owned(),
        reason: describe_foreign_tar(&store),
    })
}

/// Reads the first 512 bytes (one tar header) of a file.
fn read_head(path: &Path) -> Result<Vec<u8>, SourceError> {
    let mut head = Vec::with_capacity(512);
    std::fs::File::open(path)
        .and_then(|file| file.take(512).read_to_end(&mut head))
        .map_err(|source| SourceError::io(path, source))?;
    Ok(head)
}

/// Returns whether a block is a tar header: the ustar magic, or an old (v7) header with a
/// NUL-terminated name and an octal size field.
pub fn looks_like_tar(head: &[u8]) -> bool {
    if head.len() < 512 {
        return false;
    }
    if &head[257..262] == b"ustar" {
        return true;
    }
    head[..100].contains(&0)
        && head[0] != 0
        && head[124..135]
            .iter()
            .all(|b| (b'0'..=b'7').contains(b) || *b == b' ' || *b == 0)
}

/// Returns whether text starts like a Dockerfile (`FROM` or `ARG` as the first instruction).
pub fn looks_like_dockerfile(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .any(|line| {
            let upper = line.to_ascii_uppercase();
            upper.starts_with("FROM ") || upper.starts_with("ARG ")
        })
}

fn describe_foreign_tar(store: &BlobStore) -> String {
    let rootfs_like = match store {
        BlobStore::Tar(index) => index
            .names()
            .any(|name| name == "etc/passwd" || name == "bin/sh" || name.starts_with("usr/bin/")),
        BlobStore::Memory(memory) => memory.rootfs_like,
        BlobStore::Dir(_) | BlobStore::Registry(_) => false,
    };
    if rootfs_like {
        "the tar archive holds a root filesystem (etc/, usr/), not an image: it has neither \
         manifest.json (docker save) nor index.json (OCI); pass the output of `docker save` or \
         `skopeo copy ... oci-archive:`"
            .into()
    } else {
        "the tar archive has neither manifest.json (docker save) nor index.json (OCI archive)"
            .into()
    }
}

impl ImageSource {
    /// Opens a layer's stored bytes for streaming. Verification is the caller's job because
    /// which bytes the digest covers depends on [`LayerBlob::verify`].
    pub fn open_layer(&self, layer: &LayerBlob) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        if !self.store.exists(&layer.location) {
            return Err(SourceError::MissingBlob {
                archive: self.store.path().to_owned(),
                digest: layer.digest.clone(),
            });
        }
        self.store.open(&layer.location)
    }
}

/// Reads and parses a JSON file of the source.
fn read_json<T: serde::de::DeserializeOwned>(
    store: &BlobStore,
    name: &str,
    limit: u64,
) -> Result<(T, Vec<u8>), SourceError> {
    let bytes = store.read_small(name, limit)?;
    let value = serde_json::from_slice(&bytes).map_err(|source| SourceError::InvalidJson {
        archive: store.path().to_owned(),
        name: name.to_owned(),
        source,
    })?;
    Ok((value, bytes))
}

/// Reads a blob by digest and checks its size and digest.
fn read_verified_blob(
    store: &BlobStore,
    what: &'static str,
    digest: &Digest,
    size: Option<u64>,
    limit: u64,
) -> Result<Vec<u8>, SourceError> {
    let name = blob_path(digest);
    if !store.exists(&name) {
        return Err(SourceError::MissingBlob {
            archive: store.path().to_owned(),
            digest: digest.clone(),
        });
    }
    let bytes = match store {
        BlobStore::Registry(registry) => {
            let bytes = registry.read_document(&name, what != "config")?;
            if bytes.len() as u64 > limit {
                return Err(SourceError::TooLarge { name, limit });
            }
            bytes
        }
        _ => store.read_small(&name, limit)?,
    };
    verify_bytes(store, what, digest, size, &bytes)?;
    Ok(bytes)
}

fn verify_bytes(
    store: &BlobStore,
    what: &'static str,
    digest: &Digest,
    size: Option<u64>,
    bytes: &[u8],
) -> Result<(), SourceError> {
    let reader = VerifyingReader::new(bytes, digest.clone(), size);
    reader.finish().map_err(|source| SourceError::Verify {
        archive: store.path().to_owned(),
        what,
        digest: digest.clone(),
        source,
    })?;
    Ok(())
}

/// Path of a blob inside an OCI layout: `blobs/<algorithm>/<hex>`.
pub fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm(), digest.hex())
}
