//! OCI image layouts, as a directory or packed in a tar: `index.json` → (nested indexes) →
//! one image manifest → config and layers, selected by platform and image name.

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use super::{
    BlobStore, ImageSource, LayerBlob, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, SourceError,
    SourceFormat, SourceOptions, VerifyStage, blob_path, read_json, read_verified_blob,
};
use crate::digest::Digest;

/// Nested indexes deeper than this are treated as hostile.
const MAX_INDEX_DEPTH: usize = 4;

const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
const ANNOTATION_DOCKER_REFERENCE_TYPE: &str = "vnd.docker.reference.type";

/// One image manifest reachable from `index.json`.
struct Candidate {
    descriptor: Descriptor,
    /// Name from the top-level descriptor's annotations.
    name: Option<String>,
}

pub(super) fn read(
    store: BlobStore,
    format: SourceFormat,
    options: &SourceOptions,
) -> Result<ImageSource, SourceError> {
    let index = read_index_json(&store)?;
    let mut candidates = Vec::new();
    collect_manifests(&store, &index, None, 0, &mut candidates)?;
    let platforms = candidates.len();
    let chosen = select(&store, candidates, options)?;
    let mut source = read_manifest(store, format, &chosen.descriptor)?;
    source.reference = chosen.name;
    if platforms > 1 && options.platform.is_none() {
        source.warnings.push(format!(
            "the image has {platforms} platforms; audited {} (the host's), pick another with --platform",
            platform_label(&chosen.descriptor)
        ));
    }
    Ok(source)
}

/// Reads `index.json`, reading `"manifests": null` (written by some tools for an empty
/// layout) as an empty list so the error states that no manifest is listed.
fn read_index_json(store: &BlobStore) -> Result<ImageIndex, SourceError> {
    let (mut value, _) = read_json::<serde_json::Value>(store, "index.json", MAX_MANIFEST_BYTES)?;
    if let Some(manifests) = value.get_mut("manifests")
        && manifests.is_null()
    {
        *manifests = serde_json::Value::Array(Vec::new());
    }
    serde_json::from_value(value).map_err(|source| SourceError::InvalidJson {
        archive: store.path().to_owned(),
        name: "index.json".into(),
        source,
    })
}

/// Reads one manifest by descriptor and its config. Shared with Docker 25+ archives.
pub(super) fn read_manifest(
    store: BlobStore,
    format: SourceFormat,
    descriptor: &Descriptor,
) -> Result<ImageSource, SourceError> {
    let manifest_digest = to_digest(&store, "index.json", descriptor)?;
    let bytes = read_verified_blob(
        &store,
        "manifest",
        &manifest_digest,
        Some(descriptor.size()),
        MAX_MANIFEST_BYTES,
    )?;
    let manifest: ImageManifest =
        serde_json::from_slice(&bytes).map_err(|source| SourceError::InvalidJson {
            archive: store.path().to_owned(),
            name: blob_path(&manifest_digest),
            source,
        })?;
    let manifest_name = blob_path(&manifest_digest);
    let config_digest = to_digest(&store, &manifest_name, manifest.config())?;
    let config_bytes = read_verified_blob(
        &store,
        "config",
        &config_digest,
        Some(manifest.config().size()),
        MAX_CONFIG_BYTES,
    )?;
    let mut layers = Vec::with_capacity(manifest.layers().len());
    for descriptor in manifest.layers() {
        let digest = to_digest(&store, &manifest_name, descriptor)?;
        layers.push(LayerBlob {
            location: blob_path(&digest),
            digest,
            verify: VerifyStage::Stored,
            size: Some(descriptor.size()),
            media_type: Some(descriptor.media_type().to_string()),
        });
    }
    Ok(ImageSource {
        path: store.path().to_owned(),
        format,
        reference: None,
        manifest_digest: Some(manifest_digest),
        config_digest,
        config_bytes,
        layers,
        store,
        warnings: Vec::new(),
    })
}

fn to_digest(
    store: &BlobStore,
    name: &str,
    descriptor: &Descriptor,
) -> Result<Digest, SourceError> {
    descriptor
        .digest()
        .to_string()
        .parse()
        .map_err(|source| SourceError::InvalidDigest {
            archive: store.path().to_owned(),
            name: name.to_owned(),
            source,
        })
}

fn is_index(descriptor: &Descriptor) -> bool {
    let media_type = descriptor.media_type().to_string();
    media_type.ends_with("image.index.v1+json")
        || media_type.ends_with("distribution.manifest.list.v2+json")
}

fn is_attestation(descriptor: &Descriptor) -> bool {
    let annotated = descriptor
        .annotations()
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_DOCKER_REFERENCE_TYPE))
        .is_some_and(|value| value == "attestation-manifest");
    let unknown_platform = descriptor.platform().as_ref().is_some_and(|p| {
        p.os().to_string() == "unknown" && p.architecture().to_string() == "unknown"
    });
    annotated || unknown_platform
}

fn descriptor_name(descriptor: &Descriptor) -> Option<String> {
    let annotations = descriptor.annotations().as_ref()?;
    annotations
        .get(ANNOTATION_CONTAINERD_NAME)
        .or_else(|| annotations.get(ANNOTATION_REF_NAME))
        .cloned()
}

/// Walks `index` and the indexes it points to, collecting image manifests and skipping
/// attestation manifests.
fn collect_manifests(
    store: &BlobStore,
    index: &ImageIndex,
    inherited_name: Option<&str>,
    depth: usize,
    out: &mut Vec<Candidate>,
) -> Result<(), SourceError> {
    if depth > MAX_INDEX_DEPTH {
        return Err(SourceError::Invalid {
            archive: store.path().to_owned(),
            name: "index.json".into(),
            message: format!("image indexes are nested more than {MAX_INDEX_DEPTH} levels deep"),
        });
    }
    for descriptor in index.manifests() {
        if is_attestation(descriptor) {
            tracing::debug!(digest = %descriptor.digest(), "skipping attestation manifest");
            continue;
        }
        let name = descriptor_name(descriptor).or_else(|| inherited_name.map(str::to_owned));
        if is_index(descriptor) {
            let digest = to_digest(store, "index.json", descriptor)?;
            let bytes = read_verified_blob(
                store,
                "image index",
                &digest,
                Some(descriptor.size()),
                MAX_MANIFEST_BYTES,
            )?;
            let nested: ImageIndex =
                serde_json::from_slice(&bytes).map_err(|source| SourceError::InvalidJson {
                    archive: store.path().to_owned(),
                    name: blob_path(&digest),
                    source,
                })?;
            collect_manifests(store, &nested, name.as_deref(), depth + 1, out)?;
        } else {
            out.push(Candidate {
                descriptor: descriptor.clone(),
                name,
            });
        }
    }
    Ok(())
}

fn platform_label(descriptor: &Descriptor) -> String {
    match descriptor.platform() {
        Some(p) => match p.variant() {
            Some(v) => format!("{}/{}/{v}", p.os(), p.architecture()),
            None => format!("{}/{}", p.os(), p.architecture()),
        },
        None => "unspecified platform".into(),
    }
}

/// Picks one manifest: by `--image` name, then by platform (requested, else the host's).
fn select(
    store: &BlobStore,
    candidates: Vec<Candidate>,
    options: &SourceOptions,
) -> Result<Candidate, SourceError> {
    if candidates.is_empty() {
        return Err(SourceError::NotAnImage {
            path: store.path().to_owned(),
            reason: "index.json lists no image manifest".into(),
        });
    }
    let candidates = filter_by_name(store, candidates, options.image.as_deref())?;
    if candidates.len() == 1 && options.platform.is_none() {
        return Ok(candidates.into_iter().next().expect("one candidate"));
    }
    let wanted = options
        .platform
        .clone()
        .unwrap_or_else(super::PlatformSpec::host);
    let available = || {
        candidates
            .iter()
            .map(|c| platform_label(&c.descriptor))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let position = candidates
        .iter()
        .position(|c| match c.descriptor.platform() {
            Some(p) => wanted.matches(
                &p.os().to_string(),
                &p.architecture().to_string(),
                p.variant().as_deref(),
            ),
            // A single manifest without a platform is checked against its config later.
            None => candidates.len() == 1,
        });
    match position {
        Some(i) => {
            if options.platform.is_none() {
                tracing::info!(platform = %wanted, "several platforms in the image; picked the host's (use --platform to choose)");
            }
            Ok(candidates.into_iter().nth(i).expect("index in range"))
        }
        None => Err(SourceError::PlatformNotFound {
            archive: store.path().to_owned(),
            requested: wanted.to_string(),
            available: available(),
        }),
    }
}

fn filter_by_name(
    store: &BlobStore,
    candidates: Vec<Candidate>,
    wanted: Option<&str>,
) -> Result<Vec<Candidate>, SourceError> {
    let mut names: Vec<String> = candidates.iter().filter_map(|c| c.name.clone()).collect();
    names.sort();
    names.dedup();
    match wanted {
        Some(wanted) => {
            let kept: Vec<Candidate> = candidates
                .into_iter()
                .filter(|c| c.name.as_deref().is_some_and(|n| name_matches(n, wanted)))
                .collect();
            if kept.is_empty() {
                let available = if names.is_empty() {
                    "(no named images)".to_owned()
                } else {
                    names.join(", ")
                };
                return Err(SourceError::ImageNotFound {
                    archive: store.path().to_owned(),
                    wanted: wanted.to_owned(),
                    available,
                });
            }
            Ok(kept)
        }
        None if names.len() > 1 => Err(SourceError::SeveralImages {
            archive: store.path().to_owned(),
            available: names.join(", "),
        }),
        None => Ok(candidates),
    }
}

/// Matches `--image` against a stored name: exact, or without the `:latest` tag, or as a
/// short name of a `registry/repo:tag` reference.
pub(super) fn name_matches(stored: &str, wanted: &str) -> bool {
    stored == wanted
        || stored == format!("{wanted}:latest")
        || stored.ends_with(&format!("/{wanted}"))
        || stored.ends_with(&format!("/{wanted}:latest"))
}
