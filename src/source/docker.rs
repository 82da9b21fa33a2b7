//! `docker save` archives: `manifest.json` lists each image's config and layer files. Before
//! Docker 25 the layers are `<id>/layer.tar` files verified against the config's `diff_ids`.
//! Since Docker 25 the archive is also an OCI layout and `manifest.json` points into `blobs/`.

use serde::Deserialize;

use super::{
    BlobStore, ImageSource, LayerBlob, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, SourceError,
    SourceFormat, SourceOptions, VerifyStage, oci, read_json, verify_bytes,
};
use crate::digest::Digest;

#[derive(Deserialize)]
struct ManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct RootFsOnly {
    #[serde(default)]
    rootfs: Option<RootFs>,
}

#[derive(Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Option<Vec<String>>,
}

pub(super) fn read(store: BlobStore, options: &SourceOptions) -> Result<ImageSource, SourceError> {
    let (entries, _) =
        read_json::<Vec<ManifestEntry>>(&store, "manifest.json", MAX_MANIFEST_BYTES)?;
    let entry = select_entry(&store, entries, options)?;
    let reference = entry
        .repo_tags
        .as_ref()
        .and_then(|tags| tags.first().cloned());

    if entry.config.starts_with("blobs/") && store.exists("index.json") {
        return read_docker25(store, entry, reference, options);
    }
    read_classic(store, &entry, reference)
}

fn select_entry(
    store: &BlobStore,
    mut entries: Vec<ManifestEntry>,
    options: &SourceOptions,
) -> Result<ManifestEntry, SourceError> {
    let describe = |entries: &[ManifestEntry]| {
        entries
            .iter()
            .enumerate()
            .map(
                |(i, e)| match e.repo_tags.as_ref().and_then(|t| t.first()) {
                    Some(tag) => format!("{i}: {tag}"),
                    None => format!("{i}: {} (untagged)", e.config),
                },
            )
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (entries.len(), options.image.as_deref()) {
        (0, _) => Err(SourceError::NotAnImage {
            path: store.path().to_owned(),
            reason: "manifest.json lists no image".into(),
        }),
        (1, None) => Ok(entries.remove(0)),
        (_, None) => Err(SourceError::SeveralImages {
            archive: store.path().to_owned(),
            available: describe(&entries),
        }),
        (_, Some(wanted)) => {
            let by_position = wanted.parse::<usize>().ok().filter(|i| *i < entries.len());
            let by_name = entries.iter().position(|e| {
                e.repo_tags
                    .iter()
                    .flatten()
                    .any(|tag| oci::name_matches(tag, wanted))
            });
            match by_name.or(by_position) {
                Some(i) => Ok(entries.remove(i)),
                None => Err(SourceError::ImageNotFound {
                    archive: store.path().to_owned(),
                    wanted: wanted.to_owned(),
                    available: describe(&entries),
                }),
            }
        }
    }
}

/// Docker 25+: read the OCI manifest that matches this entry's config, so the manifest digest
/// is known; fall back to the `manifest.json` paths when the OCI side disagrees.
fn read_docker25(
    store: BlobStore,
    entry: ManifestEntry,
    reference: Option<String>,
    options: &SourceOptions,
) -> Result<ImageSource, SourceError> {
    let config_digest = digest_from_path(&store, &entry.config)?;
    let oci_options = SourceOptions {
        platform: options.platform.clone(),
        image: reference.clone().or_else(|| options.image.clone()),
    };
    let path = store.path().to_owned();
    match oci::read(store, SourceFormat::DockerOciArchive, &oci_options) {
        Ok(mut source)
            if source.config_digest == config_digest
                && source.layers.len() == entry.layers.as_ref().map_or(0, Vec::len) =>
        {
            source.reference = reference;
            Ok(source)
        }
        Ok(source) => {
            let mut fallback = read_classic(source.store, &entry, reference)?;
            fallback.format = SourceFormat::DockerOciArchive;
            fallback.warnings.push(
                "index.json and manifest.json describe different layers; used manifest.json".into(),
            );
            Ok(fallback)
        }
        Err(err) => {
            tracing::warn!(error = %err, "could not read the OCI index of a Docker 25+ archive; using manifest.json");
            let store = BlobStore::Tar(super::TarIndex::build(&path)?);
            let mut fallback = read_classic(store, &entry, reference)?;
            fallback.format = SourceFormat::DockerOciArchive;
            fallback.warnings.push(format!(
                "index.json could not be used ({err}); used manifest.json"
            ));
            Ok(fallback)
        }
    }
}

fn read_classic(
    store: BlobStore,
    entry: &ManifestEntry,
    reference: Option<String>,
) -> Result<ImageSource, SourceError> {
    let config_name = super::normalize_member_name(&entry.config).unwrap_or_default();
    let config_bytes = store.read_small(&config_name, MAX_CONFIG_BYTES)?;
    let config_digest = match digest_from_path(&store, &config_name) {
        Ok(digest) => {
            verify_bytes(&store, "config", &digest, None, &config_bytes)?;
            digest
        }
        // Some writers name the config freely; then its digest is computed, not verified.
        Err(_) => Digest::sha256_of(&config_bytes),
    };
    let rootfs: RootFsOnly =
        serde_json::from_slice(&config_bytes).map_err(|source| SourceError::InvalidJson {
            archive: store.path().to_owned(),
            name: config_name.clone(),
            source,
        })?;
    let diff_ids = rootfs.rootfs.and_then(|r| r.diff_ids).unwrap_or_default();
    let layer_names = entry.layers.clone().unwrap_or_default();
    if layer_names.len() != diff_ids.len() {
        return Err(SourceError::Invalid {
            archive: store.path().to_owned(),
            name: "manifest.json".into(),
            message: format!(
                "lists {} layers but the config's rootfs.diff_ids lists {}; the archive is inconsistent, save it again",
                layer_names.len(),
                diff_ids.len()
            ),
        });
    }

    let mut layers = Vec::with_capacity(layer_names.len());
    for (name, diff_id) in layer_names.iter().zip(&diff_ids) {
        let location = super::normalize_member_name(name).ok_or_else(|| SourceError::Invalid {
            archive: store.path().to_owned(),
            name: "manifest.json".into(),
            message: format!("layer path {name:?} leaves the archive"),
        })?;
        let layer = match digest_from_path(&store, &location) {
            Ok(digest) if location.starts_with("blobs/") => LayerBlob {
                size: store.size(&location),
                location,
                digest,
                verify: VerifyStage::Stored,
                media_type: None,
            },
            _ => LayerBlob {
                size: store.size(&location),
                location,
                digest: diff_id
                    .parse()
                    .map_err(|source| SourceError::InvalidDigest {
                        archive: store.path().to_owned(),
                        name: config_name.clone(),
                        source,
                    })?,
                verify: VerifyStage::Uncompressed,
                media_type: None,
            },
        };
        layers.push(layer);
    }

    Ok(ImageSource {
        path: store.path().to_owned(),
        format: SourceFormat::DockerArchive,
        reference,
        manifest_digest: None,
        config_digest,
        config_bytes,
        layers,
        store,
        warnings: Vec::new(),
    })
}

/// Reads the digest from `blobs/sha256/<hex>` or `<hex>.json` file names.
fn digest_from_path(store: &BlobStore, path: &str) -> Result<Digest, SourceError> {
    let file_name = path.rsplit('/').next().unwrap_or(path);
    let hex = file_name.strip_suffix(".json").unwrap_or(file_name);
    Digest::from_sha256_hex(hex).map_err(|source| SourceError::InvalidDigest {
        archive: store.path().to_owned(),
        name: path.to_owned(),
        source,
    })
}
