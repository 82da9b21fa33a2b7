//! Reads an archive that can be read only once, front to back: a gzip- or zstd-compressed
//! `docker save` or OCI archive, or any archive piped on stdin (`docker save app | imgaudit -`).
//!
//! `docker save` writes the layers before `manifest.json`, so which members are layers of the
//! wanted image is known only at the end. Every member that is not JSON is therefore walked as
//! a layer while it streams past, its stored and uncompressed sha256 computed on the way; JSON
//! members are kept in memory. At the end the usual Docker/OCI selection runs on the kept
//! files, and the walks of the selected layers are checked against their digests. Layer bytes
//! are never held in memory or written to disk.

use std::collections::HashMap;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::atomic::AtomicU64;

use super::layer::{LayerError, LayerWalk, WalkContext, decompress, walk_tar};
use super::{Image, ImageError, LoadOptions, parse_config};
use crate::digest::{Digest, HashingReader};
use crate::source::{
    self, BlobStore, MemoryStore, SourceError, SourceOptions, VerifyStage, normalize_member_name,
};
use crate::tar_guard::{Limits, TarGuard};

/// Largest JSON member kept (manifests, indexes, configs).
const MAX_JSON_BYTES: u64 = 64 * 1024 * 1024;
/// Largest total of all JSON members kept. Without it, a few kilobytes of zstd could expand
/// into any number of JSON members, each kept whole until the stream ends.
const MAX_KEPT_JSON_BYTES: u64 = 256 * 1024 * 1024;

/// A member walked as a layer while the archive streamed.
struct StreamedLayer {
    walk: Result<LayerWalk, String>,
    stored: Digest,
    stored_size: u64,
    uncompressed: Option<Digest>,
}

/// Reads an image from a one-pass stream. `label` names the input in messages (`-` for stdin).
pub fn load_stream(
    reader: Box<dyn Read + Send>,
    label: &Path,
    source_options: &SourceOptions,
    options: &LoadOptions,
) -> Result<Image, ImageError> {
    let stream_error = |source: io::Error| ImageError::Stream {
        path: label.display().to_string(),
        source,
    };
    let image_bytes = AtomicU64::new(0);
    let ctx = WalkContext {
        scanner: &options.scanner,
        limits: options.limits,
        image_bytes: &image_bytes,
    };

    let (_, outer) = decompress(BufReader::new(reader)).map_err(|err| match err {
        LayerError::Read(source) => stream_error(source),
        LayerError::Source(source) => ImageError::Source(source),
    })?;
    let mut outer = outer;
    let mut head = Vec::with_capacity(512);
    (&mut outer)
        .take(512)
        .read_to_end(&mut head)
        .map_err(stream_error)?;
    check_tar_head(&head, label)?;
    let outer = io::Cursor::new(head).chain(outer);
    // The whole archive may be as large as all its layers together.
    let outer_limits = Limits {
        max_layer_bytes: options.limits.max_image_bytes,
        ..Limits::for_archive()
    };
    let outer_bytes = AtomicU64::new(0);
    let guarded = TarGuard::new(outer, outer_limits, &outer_bytes);
    let mut archive = tar::Archive::new(guarded);

    let mut memory = MemoryStore {
        label: label.to_owned(),
        ..MemoryStore::default()
    };
    let mut streamed: HashMap<String, StreamedLayer> = HashMap::new();
    let mut kept_json_bytes = 0;
    let entries = archive.entries().map_err(stream_error)?;
    for entry in entries {
        let mut entry = entry.map_err(stream_error)?;
        let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(name) = normalize_member_name(&raw_name) else {
            tracing::warn!(member = %raw_name.escape_debug(), "ignoring archive member whose name leaves the archive root");
            continue;
        };
        if name == "etc/passwd" || name.starts_with("usr/bin/") {
            memory.rootfs_like = true;
        }
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                memory.add_link(&name, &target, kind == tar::EntryType::Symlink);
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                read_member(
                    &mut entry,
                    &name,
                    &ctx,
                    &mut memory,
                    &mut streamed,
                    &mut kept_json_bytes,
                )
                .map_err(stream_error)?;
            }
            _ => {}
        }
    }

    // Read to the end of the stream so that a compressed archive's trailer (gzip CRC and
    // length, zstd checksum) is checked even though the tar reader stopped at its end marker.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(stream_error)?;

    let source = source::from_store(BlobStore::Memory(memory), source_options)?;
    let config = parse_config(&source, options)?;
    let BlobStore::Memory(memory) = &source.store else {
        unreachable!("a streamed source keeps its memory store");
    };
    let mut walks = Vec::with_capacity(source.layers.len());
    for (index, blob) in source.layers.iter().enumerate() {
        let layer_error = |message: String| ImageError::Layer {
            index,
            digest: blob.digest.clone(),
            path: label.display().to_string(),
            source: Box::new(LayerError::Read(io::Error::new(
                io::ErrorKind::InvalidData,
                message,
            ))),
        };
        let found = memory
            .resolve(&blob.location)
            .and_then(|name| streamed.get(&name))
            .ok_or_else(|| {
                ImageError::Source(SourceError::MissingBlob {
                    archive: label.to_owned(),
                    digest: blob.digest.clone(),
                })
            })?;
        verify(blob, found).map_err(layer_error)?;
        let walk = found
            .walk
            .as_ref()
            .map_err(|message| layer_error(message.clone()))?;
        walks.push(walk.clone());
    }
    Ok(Image::assemble(source, config, walks))
}

/// Rejects a stream whose first block is not a tar header, with a message that says what it
/// looks like instead.
fn check_tar_head(head: &[u8], label: &Path) -> Result<(), ImageError> {
    if source::looks_like_tar(head) {
        return Ok(());
    }
    let reason = if head.is_empty() {
        "the input is empty".to_owned()
    } else if source::looks_like_dockerfile(head) {
        "expected a tar archive, but it looks like a Dockerfile; build the image and pass the output of `docker save IMAGE`".to_owned()
    } else {
        "expected a tar archive (docker save, podman save or an OCI archive), optionally gzip- or zstd-compressed".to_owned()
    };
    Err(ImageError::Source(SourceError::NotAnImage {
        path: label.to_owned(),
        reason,
    }))
}

/// Keeps a JSON member, adding its size to `kept_json_bytes`, or walks any other member as a
/// layer.
fn read_member(
    entry: &mut dyn Read,
    name: &str,
    ctx: &WalkContext<'_>,
    memory: &mut MemoryStore,
    streamed: &mut HashMap<String, StreamedLayer>,
    kept_json_bytes: &mut u64,
) -> io::Result<()> {
    let mut head = Vec::with_capacity(512);
    entry.take(512).read_to_end(&mut head)?;
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    if matches!(first, Some(b'{') | Some(b'[')) {
        let mut bytes = head;
        entry.take(MAX_JSON_BYTES + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_JSON_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{name} is JSON larger than the {MAX_JSON_BYTES}-byte limit"),
            ));
        }
        *kept_json_bytes += bytes.len() as u64;
        if *kept_json_bytes > MAX_KEPT_JSON_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the archive's JSON members total more than {MAX_KEPT_JSON_BYTES} bytes; \
                     save it uncompressed to a file and pass that path, so that members are read \
                     on demand"
                ),
            ));
        }
        memory.files.insert(name.to_owned(), bytes);
        return Ok(());
    }

    let mut stored = HashingReader::new(io::Cursor::new(head).chain(entry));
    let (walk, uncompressed) = walk_member(&mut stored, ctx);
    let (stored_digest, stored_size) = stored.finish()?;
    memory.sizes.insert(name.to_owned(), stored_size);
    tracing::debug!(
        member = name,
        size = stored_size,
        ok = walk.is_ok(),
        "streamed member walked as a layer"
    );
    streamed.insert(
        name.to_owned(),
        StreamedLayer {
            walk,
            stored: stored_digest,
            stored_size,
            uncompressed,
        },
    );
    Ok(())
}

/// Walks one member as a layer, returning the walk (or why it is not one) and the digest of
/// its uncompressed bytes.
fn walk_member(
    stored: &mut dyn Read,
    ctx: &WalkContext<'_>,
) -> (Result<LayerWalk, String>, Option<Digest>) {
    let (compression, decoded) = match decompress(BufReader::new(stored)) {
        Ok(decoded) => decoded,
        Err(err) => return (Err(err.to_string()), None),
    };
    let guard = TarGuard::new(decoded, ctx.limits, ctx.image_bytes);
    let mut uncompressed = HashingReader::new(guard);
    let walk = match walk_tar(&mut uncompressed, ctx) {
        Ok(walk) => walk,
        Err(err) => return (Err(err.to_string()), None),
    };
    match uncompressed.finish() {
        Ok((digest, bytes)) => {
            let mut walk = walk;
            walk.compression = compression;
            walk.uncompressed_bytes = bytes;
            (Ok(walk), Some(digest))
        }
        Err(err) => (Err(err.to_string()), None),
    }
}

/// Checks a streamed member against the digest its manifest names.
fn verify(blob: &source::LayerBlob, found: &StreamedLayer) -> Result<(), String> {
    match blob.verify {
        VerifyStage::Stored => {
            if let Some(size) = blob.size
                && size != found.stored_size
            {
                return Err(format!(
                    "size mismatch: descriptor says {size} bytes, blob has {}",
                    found.stored_size
                ));
            }
            if found.stored != blob.digest {
                return Err(format!(
                    "digest mismatch: expected {}, found {}",
                    blob.digest, found.stored
                ));
            }
        }
        VerifyStage::Uncompressed => match &found.uncompressed {
            Some(digest) if *digest == blob.digest => {}
            Some(digest) => {
                return Err(format!(
                    "digest mismatch: expected {}, found {digest}",
                    blob.digest
                ));
            }
            None => return Err("the layer could not be decompressed".into()),
        },
    }
    Ok(())
}
