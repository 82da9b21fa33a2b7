//! The image model: typed config and history, layers, and one merged filesystem built by
//! streaming every layer once, in parallel, without writing anything to disk.

pub mod cache;
pub mod config;
pub mod facts;
pub mod fs;
pub mod layer;
pub mod os;
pub mod stream;

use std::time::Instant;

use rayon::prelude::*;

use crate::digest::Digest;
use crate::secrets::Scanner;
use crate::source::{ImageSource, SourceFormat};
use config::{History, ImageConfig};
use fs::FileSystem;
use layer::{Compression, FileSecret, LayerError, WalkContext, walk_layer};

/// Errors that stop an image from loading.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("the image config {digest} is not valid JSON of the expected shape: {source}")]
    Config {
        digest: Digest,
        source: serde_json::Error,
    },
    #[error(
        "the config's rootfs.diff_ids lists {diff_ids} layers but the manifest lists {layers}; the image is inconsistent"
    )]
    LayerCount { diff_ids: usize, layers: usize },
    #[error(
        "the image is for {found} but {requested} was requested; pass --platform {found} to audit it anyway"
    )]
    PlatformMismatch { found: String, requested: String },
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    #[error("failed to read {path}: {source}")]
    Stream {
        path: String,
        source: std::io::Error,
    },
    #[error("failed to read layer {index} ({digest}) of {path}: {source}")]
    Layer {
        index: usize,
        digest: Digest,
        path: String,
        source: Box<LayerError>,
    },
}

/// Identity of the audited image, as printed at the top of every report.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ImageIdentity {
    /// The path the user gave.
    pub source: String,
    pub format: SourceFormat,
    pub reference: Option<String>,
    pub manifest_digest: Option<Digest>,
    pub config_digest: Digest,
    /// `os/arch[/variant]` from the config.
    pub platform: String,
    /// Stored size of all layers, in bytes.
    pub size_bytes: u64,
    /// Size of all layer tars once decompressed, in bytes.
    pub uncompressed_bytes: u64,
    pub layer_count: usize,
}

/// One layer, with the history line that made it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LayerInfo {
    pub index: usize,
    pub digest: Digest,
    pub diff_id: Option<String>,
    pub size_bytes: Option<u64>,
    pub uncompressed_bytes: u64,
    pub compression: Compression,
    pub created_by: Option<String>,
    pub entries: usize,
}

/// The loaded image that checks read.
pub struct Image {
    pub identity: ImageIdentity,
    pub config: ImageConfig,
    pub layers: Vec<LayerInfo>,
    pub fs: FileSystem,
    /// Secrets found in files of any layer, including files that later layers removed.
    pub file_secrets: Vec<(usize, FileSecret)>,
    /// Things that did not stop the audit but weaken it (inconsistent archive, skipped entries).
    pub warnings: Vec<String>,
}

/// Options that shape loading.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// The platform the user asked for; a config for another platform is an error.
    pub requested_platform: Option<crate::source::PlatformSpec>,
    pub limits: crate::tar_guard::Limits,
    /// Secret scanner that reads file contents while layers stream.
    pub scanner: std::sync::Arc<Scanner>,
    /// Cache of layer walks by digest (`--cache-dir`).
    pub cache: Option<cache::LayerCache>,
}

impl Image {
    /// Streams every layer of `source` once and builds the image model.
    pub fn load(source: ImageSource, options: &LoadOptions) -> Result<Image, ImageError> {
        let config = parse_config(&source, options)?;

        let started = Instant::now();
        let walks = walk_layers(&source, options)?;
        tracing::info!(
            layers = walks.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "layers streamed"
        );

        Ok(Image::assemble(source, config, walks))
    }

    /// Merges walked layers, in order, into the image model.
    fn assemble(source: ImageSource, config: ImageConfig, walks: Vec<layer::LayerWalk>) -> Image {
        let history: Vec<Option<History>> = config
            .layer_history(source.layers.len())
            .into_iter()
            .map(|h| h.cloned())
            .collect();
        let mut fs = FileSystem::new();
        let mut layers = Vec::with_capacity(walks.len());
        let mut file_secrets = Vec::new();
        let mut warnings = source.warnings.clone();
        for (index, (walk, blob)) in walks.into_iter().zip(&source.layers).enumerate() {
            layers.push(LayerInfo {
                index,
                digest: blob.digest.clone(),
                diff_id: config.rootfs.diff_ids.get(index).cloned(),
                size_bytes: blob.size,
                uncompressed_bytes: walk.uncompressed_bytes,
                compression: walk.compression,
                created_by: history[index].as_ref().and_then(|h| h.created_by.clone()),
                entries: walk.entries.len(),
            });
            if !walk.skipped_entries.is_empty() {
                warnings.push(format!(
                    "layer {index}: skipped {} entries whose paths leave the image root",
                    walk.skipped_entries.len()
                ));
            }
            file_secrets.extend(walk.secrets.into_iter().map(|s| (index, s)));
            fs.apply_layer(index, walk.entries);
        }
        for (link, target) in &fs.dangling_hardlinks {
            warnings.push(format!(
                "hard link {link} points to {target}, which does not exist"
            ));
        }

        let identity = ImageIdentity {
            source: source.path.display().to_string(),
            format: source.format,
            reference: source.reference.clone(),
            manifest_digest: source.manifest_digest.clone(),
            config_digest: source.config_digest.clone(),
            platform: platform_of(&config),
            size_bytes: layers.iter().filter_map(|l| l.size_bytes).sum(),
            uncompressed_bytes: layers.iter().map(|l| l.uncompressed_bytes).sum(),
            layer_count: layers.len(),
        };
        Image {
            identity,
            config,
            layers,
            fs,
            file_secrets,
            warnings,
        }
    }

    /// Describes a layer for findings: `layer 2 (COPY . /app)`.
    pub fn layer_label(&self, index: usize) -> String {
        match self.layers.get(index).and_then(|l| l.created_by.as_deref()) {
            Some(created_by) => format!("layer {index} ({})", shorten(created_by, 72)),
            None => format!("layer {index}"),
        }
    }
}

/// Trims a history line to `max` characters for display, dropping the `/bin/sh -c #(nop)`
/// prefix that classic builders add.
pub fn shorten(created_by: &str, max: usize) -> String {
    let text = created_by.trim_start_matches("/bin/sh -c #(nop) ").trim();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= max {
        return text;
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// Parses the config and checks it against the manifest and the requested platform.
fn parse_config(source: &ImageSource, options: &LoadOptions) -> Result<ImageConfig, ImageError> {
    let config = ImageConfig::parse(&source.config_bytes).map_err(|err| ImageError::Config {
        digest: source.config_digest.clone(),
        source: err,
    })?;
    check_platform(&config, options)?;
    if !config.rootfs.diff_ids.is_empty() && config.rootfs.diff_ids.len() != source.layers.len() {
        return Err(ImageError::LayerCount {
            diff_ids: config.rootfs.diff_ids.len(),
            layers: source.layers.len(),
        });
    }
    Ok(config)
}

fn platform_of(config: &ImageConfig) -> String {
    let os = if config.os.is_empty() {
        "unknown"
    } else {
        &config.os
    };
    let arch = if config.architecture.is_empty() {
        "unknown"
    } else {
        &config.architecture
    };
    match &config.variant {
        Some(variant) => format!("{os}/{arch}/{variant}"),
        None => format!("{os}/{arch}"),
    }
}

fn check_platform(config: &ImageConfig, options: &LoadOptions) -> Result<(), ImageError> {
    let Some(requested) = &options.requested_platform else {
        return Ok(());
    };
    if config.os.is_empty() || config.architecture.is_empty() {
        return Ok(());
    }
    if requested.matches(&config.os, &config.architecture, config.variant.as_deref()) {
        return Ok(());
    }
    Err(ImageError::PlatformMismatch {
        found: platform_of(config),
        requested: requested.to_string(),
    })
}

fn walk_layers(
    source: &ImageSource,
    options: &LoadOptions,
) -> Result<Vec<layer::LayerWalk>, ImageError> {
    let image_bytes = std::sync::atomic::AtomicU64::new(0);
    let ctx = WalkContext {
        scanner: &options.scanner,
        limits: options.limits,
        image_bytes: &image_bytes,
    };
    let progress = Progress::new(source);
    let walks = source
        .layers
        .par_iter()
        .enumerate()
        .map(|(index, blob)| {
            let started = Instant::now();
            if let Some(walk) = options.cache.as_ref().and_then(|c| c.get(blob)) {
                progress.layer_done(&image_bytes);
                return Ok(walk);
            }
            let walk = walk_layer(source, blob, &ctx).map_err(|err| ImageError::Layer {
                index,
                digest: blob.digest.clone(),
                path: source.path.display().to_string(),
                source: Box::new(err),
            })?;
            if let Some(cache) = &options.cache {
                cache.put(blob, &walk);
            }
            tracing::debug!(
                layer = index,
                entries = walk.entries.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "layer walked"
            );
            progress.layer_done(&image_bytes);
            Ok(walk)
        })
        .collect();
    progress.finish();
    walks
}

/// A one-line progress counter on stderr for registry pulls, shown only when stderr is a
/// terminal, so that logs and CI output stay clean.
struct Progress {
    enabled: bool,
    total: usize,
    done: std::sync::atomic::AtomicUsize,
}

impl Progress {
    fn new(source: &ImageSource) -> Progress {
        use std::io::IsTerminal;
        Progress {
            enabled: source.format == crate::source::SourceFormat::Registry
                && std::io::stderr().is_terminal()
                && !source.layers.is_empty(),
            total: source.layers.len(),
            done: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn layer_done(&self, image_bytes: &std::sync::atomic::AtomicU64) {
        use std::sync::atomic::Ordering;
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if self.enabled {
            let bytes = image_bytes.load(Ordering::Relaxed);
            eprint!(
                "\rpulled and scanned {done}/{} layers ({} MiB uncompressed)",
                self.total,
                bytes / (1024 * 1024)
            );
        }
    }

    fn finish(&self) {
        if self.enabled {
            eprintln!();
        }
    }
}
