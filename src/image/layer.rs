//! Streams one layer blob once: verifies its digest, detects its compression from magic bytes,
//! walks its tar entries and reads the content of only those files that a check needs.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;

use std::sync::atomic::AtomicU64;

use super::facts::{ELF_HEAD_BYTES, elf_interpreter, scan_node_binary};
use super::fs::{EntryKind, FileFacts, LayerEntry, file_name, parent};
use crate::digest::VerifyingReader;
use crate::secrets::{Scanner, SecretMatch};
use crate::source::{ImageSource, LayerBlob, SourceError, VerifyStage};
use crate::tar_guard::{Limits, TarGuard};

/// Largest file kept whole for checks that parse it (passwd, os-release, dpkg status).
const MAX_CAPTURED_BYTES: u64 = 8 * 1024 * 1024;
/// zstd frames asking for a window above 2^27 bytes (128 MiB) are refused as hostile.
const ZSTD_MAX_WINDOW_LOG: u32 = 27;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Exact paths whose content is kept.
const CAPTURED_PATHS: &[&str] = &[
    "/etc/passwd",
    "/etc/group",
    "/etc/os-release",
    "/usr/lib/os-release",
    "/etc/alpine-release",
    "/etc/debian_version",
    "/lib/apk/db/installed",
    "/usr/lib/apk/db/installed",
    "/var/lib/dpkg/status",
];

/// Returns whether a file's whole content is kept for checks that parse it. dpkg's per-package
/// file lists (`/var/lib/dpkg/info/*.list`) tell `secret-in-file` which files a distro
/// package installed.
fn captures(path: &str) -> bool {
    // Account files by name anywhere, because `/etc/passwd` may be a symlink to another
    // directory (`../usr/lib/passwd`), and the link is only resolved after all layers merge.
    let name = file_name(path);
    CAPTURED_PATHS.contains(&path)
        || matches!(name, "passwd" | "group" | "os-release")
        || path.starts_with("/var/lib/dpkg/status.d/")
        || (path.starts_with("/var/lib/dpkg/info/") && path.ends_with(".list"))
        || path.ends_with("/include/node/node_version.h")
}

/// Returns whether a file is a Node.js engine whose embedded version is read. Launchers and
/// scripts named `node` are small; real engines are tens of MB.
fn is_node_binary(path: &str, size: u64) -> bool {
    let name = file_name(path);
    (name == "node" || name == "nodejs" || name.starts_with("libnode.so")) && size > 1024 * 1024
}

/// Returns whether a file's first bytes are read for its ELF loader or `#!` line: every
/// executable, so that the plan does not depend on the config, which a streamed archive may
/// deliver after the layers. Only the derived facts are kept, not the bytes.
fn reads_head(mode: u32) -> bool {
    mode & 0o111 != 0
}

/// A secret found in one file of one layer.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct FileSecret {
    pub path: String,
    pub found: SecretMatch,
}

/// Everything learnt from one layer.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct LayerWalk {
    pub entries: Vec<LayerEntry>,
    pub secrets: Vec<FileSecret>,
    pub compression: Compression,
    /// Bytes of the uncompressed tar stream.
    pub uncompressed_bytes: u64,
    /// Entries skipped because their names left the root or could not be read.
    pub skipped_entries: Vec<String>,
}

/// Errors that stop a layer from being read.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{0}")]
    Read(io::Error),
}

/// Shared inputs to every layer walk.
pub struct WalkContext<'a> {
    pub scanner: &'a Scanner,
    pub limits: Limits,
    /// Uncompressed bytes read so far across all layers, for the image budget.
    pub image_bytes: &'a AtomicU64,
}

/// Streams and walks one layer, verifying its digest.
pub fn walk_layer(
    source: &ImageSource,
    blob: &LayerBlob,
    ctx: &WalkContext<'_>,
) -> Result<LayerWalk, LayerError> {
    let raw = source.open_layer(blob)?;
    match blob.verify {
        VerifyStage::Stored => {
            let mut verifier = VerifyingReader::new(raw, blob.digest.clone(), blob.size);
            let walk = {
                let (compression, decoded) = decompress(BufReader::new(&mut verifier))?;
                let mut guard = TarGuard::new(decoded, ctx.limits, ctx.image_bytes);
                let mut walk = walk_tar(&mut guard, ctx)?;
                walk.compression = compression;
                walk.uncompressed_bytes = guard.bytes_read();
                walk
            };
            verifier.finish().map_err(LayerError::Read)?;
            Ok(walk)
        }
        VerifyStage::Uncompressed => {
            // The guard sits below the verifier so that draining the rest of the stream for
            // the digest stays within the budgets too.
            let (compression, decoded) = decompress(BufReader::new(raw))?;
            let guard = TarGuard::new(decoded, ctx.limits, ctx.image_bytes);
            let mut verifier = VerifyingReader::new(guard, blob.digest.clone(), None);
            let mut walk = walk_tar(&mut verifier, ctx)?;
            walk.compression = compression;
            walk.uncompressed_bytes = verifier.bytes_read();
            verifier.finish().map_err(LayerError::Read)?;
            Ok(walk)
        }
    }
}

/// Detects gzip or zstd from the first bytes and wraps the reader in the matching decoder;
/// anything else passes through as uncompressed.
pub(crate) fn decompress<'a, R: BufRead + 'a>(
    mut reader: R,
) -> Result<(Compression, Box<dyn Read + 'a>), LayerError> {
    let head = reader.fill_buf().map_err(LayerError::Read)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok((
            Compression::Gzip,
            Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        ));
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let mut decoder =
            zstd::stream::read::Decoder::with_buffer(reader).map_err(LayerError::Read)?;
        decoder
            .window_log_max(ZSTD_MAX_WINDOW_LOG)
            .map_err(LayerError::Read)?;
        return Ok((Compression::Zstd, Box::new(decoder)));
    }
    Ok((Compression::None, Box::new(reader)))
}

/// Turns a tar member name into a clean absolute path; `None` when it climbs out with `..`.
pub fn clean_entry_path(raw: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            other => parts.push(other),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

pub(crate) fn walk_tar(
    reader: &mut dyn Read,
    ctx: &WalkContext<'_>,
) -> Result<LayerWalk, LayerError> {
    let mut walk = LayerWalk {
        entries: Vec::new(),
        secrets: Vec::new(),
        compression: Compression::None,
        uncompressed_bytes: 0,
        skipped_entries: Vec::new(),
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|err| LayerError::Read(not_a_tar(err)))?;
    for entry in entries {
        let mut entry = entry.map_err(|err| LayerError::Read(not_a_tar(err)))?;
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(path) = clean_entry_path(&raw_path) else {
            tracing::warn!(entry = %raw_path.escape_debug(), "skipping layer entry whose path leaves the root");
            walk.skipped_entries.push(raw_path);
            continue;
        };
        if let Some(layer_entry) = read_entry(&mut entry, path, ctx, &mut walk.secrets)? {
            walk.entries.push(layer_entry);
        }
    }
    Ok(walk)
}

fn not_a_tar(err: io::Error) -> io::Error {
    io::Error::new(
        err.kind(),
        format!("failed to read the layer as a tar stream: {err}"),
    )
}

fn read_entry(
    entry: &mut tar::Entry<'_, &mut dyn Read>,
    path: String,
    ctx: &WalkContext<'_>,
    secrets: &mut Vec<FileSecret>,
) -> Result<Option<LayerEntry>, LayerError> {
    let header = entry.header();
    let mode = header.mode().unwrap_or(0);
    let uid = header.uid().unwrap_or(0);
    let gid = header.gid().unwrap_or(0);
    let size = entry.size();
    let entry_type = header.entry_type();

    let name = file_name(&path);
    if let Some(hidden) = name.strip_prefix(".wh.") {
        let dir = parent(&path).unwrap_or("/");
        let (kind, target) = if hidden == ".wh..opq" {
            (EntryKind::Opaque, dir.to_owned())
        } else if hidden.starts_with(".wh.") {
            // Other `.wh..wh.` names are aufs bookkeeping, not changes.
            return Ok(None);
        } else if dir == "/" {
            (EntryKind::Whiteout, format!("/{hidden}"))
        } else {
            (EntryKind::Whiteout, format!("{dir}/{hidden}"))
        };
        return Ok(Some(bare_entry(target, kind, mode, uid, gid)));
    }

    let (kind, link_target) = match entry_type {
        tar::EntryType::Regular | tar::EntryType::Continuous => (EntryKind::File, None),
        tar::EntryType::Directory => (EntryKind::Dir, None),
        tar::EntryType::Symlink => (EntryKind::Symlink, link_name(entry)),
        tar::EntryType::Link => {
            let target = link_name(entry).and_then(|t| clean_entry_path(&t));
            (EntryKind::Hardlink, target)
        }
        tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
            (EntryKind::Other, None)
        }
        // PAX and GNU metadata headers are consumed by the tar reader; anything else is ignored.
        _ => return Ok(None),
    };

    let mut layer_entry = bare_entry(path, kind, mode, uid, gid);
    layer_entry.size = if layer_entry.kind == EntryKind::File {
        size
    } else {
        0
    };
    layer_entry.link_target = link_target;
    if layer_entry.kind == EntryKind::File {
        read_content(entry, &mut layer_entry, ctx, secrets)?;
    }
    Ok(Some(layer_entry))
}

fn bare_entry(path: String, kind: EntryKind, mode: u32, uid: u64, gid: u64) -> LayerEntry {
    LayerEntry {
        path,
        kind,
        mode,
        uid,
        gid,
        size: 0,
        link_target: None,
        content: None,
        facts: FileFacts::default(),
    }
}

fn link_name(entry: &tar::Entry<'_, &mut dyn Read>) -> Option<String> {
    entry
        .link_name_bytes()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// Reads a regular file's content when a check needs it; other files are skipped unread (the
/// tar reader discards their bytes without copying them).
fn read_content(
    entry: &mut tar::Entry<'_, &mut dyn Read>,
    layer_entry: &mut LayerEntry,
    ctx: &WalkContext<'_>,
    secrets: &mut Vec<FileSecret>,
) -> Result<(), LayerError> {
    let path = layer_entry.path.clone();
    let size = layer_entry.size;
    let read_error = |err: io::Error| {
        LayerError::Read(io::Error::new(
            err.kind(),
            format!("failed to read {path}: {err}"),
        ))
    };

    // Path-only secret rules report a file by its name alone (a `.p12` key store).
    secrets.extend(
        ctx.scanner
            .path_findings(&path)
            .into_iter()
            .map(|found| FileSecret {
                path: path.clone(),
                found,
            }),
    );

    if is_node_binary(&path, size) {
        let (head, version) = scan_node_binary(entry).map_err(read_error)?;
        layer_entry.facts.node_version = version;
        layer_entry.facts.elf_interp = elf_interpreter(&head);
        return Ok(());
    }

    let capture = captures(&path) && size <= MAX_CAPTURED_BYTES;
    let scan = ctx.scanner.wants_file(&path, size);
    let elf = reads_head(layer_entry.mode);
    if !(capture || scan || elf) {
        return Ok(());
    }
    // Captured files are kept whole; anything else is read only as far as needed: the ELF
    // head, and the secret scanner streams the rest in bounded chunks.
    let limit = if capture {
        size
    } else {
        (ELF_HEAD_BYTES as u64).min(size)
    };
    let mut content = Vec::with_capacity(limit.min(MAX_CAPTURED_BYTES) as usize);
    if capture || elf {
        (&mut *entry)
            .take(limit)
            .read_to_end(&mut content)
            .map_err(read_error)?;
    }

    if elf {
        let head = &content[..content.len().min(ELF_HEAD_BYTES)];
        layer_entry.facts.elf_interp = elf_interpreter(head);
        layer_entry.facts.shebang = shebang(head);
    }
    if scan {
        let mut rest = (&content[..]).chain(&mut *entry);
        let found = ctx
            .scanner
            .scan_reader(&path, size, &mut rest)
            .map_err(read_error)?;
        secrets.extend(found.into_iter().map(|found| FileSecret {
            path: path.clone(),
            found,
        }));
    }
    if capture {
        layer_entry.content = Some(Arc::from(content));
    }
    Ok(())
}

/// Returns the interpreter line of a script (`/bin/sh -e` for `#!/bin/sh -e`).
fn shebang(head: &[u8]) -> Option<String> {
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|b| *b == b'\n').next()?;
    Some(String::from_utf8_lossy(line).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_entry_path_makes_absolute() {
        assert_eq!(clean_entry_path("./etc/passwd").unwrap(), "/etc/passwd");
        assert_eq!(clean_entry_path("usr//bin/").unwrap(), "/usr/bin");
        assert_eq!(clean_entry_path("./").unwrap(), "/");
    }

    #[test]
    fn shebang_reads_first_line() {
        assert_eq!(
            shebang(b"#!/bin/sh -e\nexec node\n").as_deref(),
            Some("/bin/sh -e")
        );
        assert_eq!(shebang(b"\x7fELF"), None);
    }

    #[test]
    fn clean_entry_path_rejects_parent() {
        assert!(clean_entry_path("../../etc/shadow").is_none());
        assert!(clean_entry_path("app/../../x").is_none());
    }
}
