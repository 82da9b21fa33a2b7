//! Random access to the files of an image source: a directory on disk, the members of a tar
//! archive indexed once by their byte offsets (so that each blob can be opened and streamed on
//! its own, from several threads at once, without unpacking the archive), or the small files
//! kept in memory while a compressed or piped archive streamed past.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::SourceError;
use crate::tar_guard::{Limits, TarGuard};

/// Upper bound on symlink hops when a member name is a link to another member (podman writes
/// `<id>/layer.tar` as a symlink to a top-level tar).
const MAX_MEMBER_LINK_HOPS: usize = 8;

/// Storage of an image's blobs.
pub enum BlobStore {
    Dir(PathBuf),
    Tar(TarIndex),
    Memory(MemoryStore),
    Registry(Box<super::registry::RegistryStore>),
}

/// Files of a streamed archive: JSON files kept whole, the sizes of layer members (whose bytes
/// were consumed while streaming), and member symlinks.
#[derive(Default)]
pub struct MemoryStore {
    /// Name shown in messages: the archive path, or `-` for stdin.
    pub label: PathBuf,
    pub files: HashMap<String, Vec<u8>>,
    pub sizes: HashMap<String, u64>,
    pub links: HashMap<String, String>,
    /// Whether the archive had root-filesystem members (`etc/passwd`, `usr/bin/…`), for the
    /// message when it is not an image.
    pub rootfs_like: bool,
}

impl MemoryStore {
    /// Follows member symlinks to the name that holds data.
    pub fn resolve(&self, name: &str) -> Option<String> {
        let mut current = name.to_owned();
        for _ in 0..=MAX_MEMBER_LINK_HOPS {
            if self.files.contains_key(&current) || self.sizes.contains_key(&current) {
                return Some(current);
            }
            current = self.links.get(&current)?.clone();
        }
        None
    }

    /// Records a member symlink, resolved relative to the member's directory.
    pub fn add_link(&mut self, member: &str, target: &str, symbolic: bool) {
        let resolved = if symbolic {
            resolve_relative(member, target)
        } else {
            normalize_member_name(target)
        };
        if let Some(resolved) = resolved {
            self.links.insert(member.to_owned(), resolved);
        }
    }
}

#[derive(Clone, Debug)]
enum MemberKind {
    File { offset: u64, size: u64 },
    Link(String),
    Other,
}

/// The member table of a tar archive: normalised name to offset and size.
pub struct TarIndex {
    path: PathBuf,
    members: HashMap<String, MemberKind>,
}

/// Normalises an archive member name: drops `./` and leading `/`, collapses empty components,
/// and returns `None` for names that climb out with `..`.
pub fn normalize_member_name(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

impl TarIndex {
    /// Reads every header of the archive once and records where each member's data starts.
    pub fn build(path: &Path) -> Result<TarIndex, SourceError> {
        let file = File::open(path).map_err(|source| SourceError::io(path, source))?;
        let counted = std::sync::atomic::AtomicU64::new(0);
        let guarded = TarGuard::new(BufReader::new(file), Limits::for_archive(), &counted);
        let mut archive = tar::Archive::new(guarded);
        let mut members = HashMap::new();
        let entries = archive
            .entries()
            .map_err(|e| SourceError::not_tar(path, &e))?;
        for entry in entries {
            let entry = entry.map_err(|e| SourceError::not_tar(path, &e))?;
            let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(name) = normalize_member_name(&raw_name) else {
                tracing::warn!(member = %raw_name, "ignoring archive member whose name leaves the archive root");
                continue;
            };
            let kind = match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => MemberKind::File {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                },
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    let target = if entry.header().entry_type() == tar::EntryType::Symlink {
                        resolve_relative(&name, &target)
                    } else {
                        normalize_member_name(&target)
                    };
                    match target {
                        Some(target) => MemberKind::Link(target),
                        None => MemberKind::Other,
                    }
                }
                _ => MemberKind::Other,
            };
            members.insert(name, kind);
        }
        if members.is_empty() {
            return Err(SourceError::NotAnImage {
                path: path.to_owned(),
                reason: "the tar archive is empty".into(),
            });
        }
        Ok(TarIndex {
            path: path.to_owned(),
            members,
        })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.members.contains_key(name)
    }

    /// Names of all members, for format detection and error messages.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.members.keys().map(String::as_str)
    }

    fn locate(&self, name: &str) -> Option<(u64, u64)> {
        let mut current = name.to_owned();
        for _ in 0..=MAX_MEMBER_LINK_HOPS {
            match self.members.get(&current)? {
                MemberKind::File { offset, size } => return Some((*offset, *size)),
                MemberKind::Link(target) => current = target.clone(),
                MemberKind::Other => return None,
            }
        }
        None
    }
}

/// Resolves a symlink target relative to the directory of the member that contains it, rejecting
/// targets that leave the archive.
fn resolve_relative(member: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return normalize_member_name(target);
    }
    let mut parts: Vec<&str> = member.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

impl BlobStore {
    /// Describes the store for messages: the directory or archive path.
    pub fn path(&self) -> &Path {
        match self {
            BlobStore::Dir(path) => path,
            BlobStore::Tar(index) => &index.path,
            BlobStore::Memory(memory) => &memory.label,
            BlobStore::Registry(registry) => &registry.label,
        }
    }

    pub fn exists(&self, name: &str) -> bool {
        match self {
            BlobStore::Dir(dir) => dir.join(name).is_file(),
            BlobStore::Tar(index) => index.locate(name).is_some(),
            BlobStore::Memory(memory) => memory.resolve(name).is_some(),
            // Existence is learnt from the request; a missing blob is a 404 error then.
            BlobStore::Registry(_) => true,
        }
    }

    /// Opens one file of the source for streaming. `name` is a normalised relative name.
    pub fn open(&self, name: &str) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        match self {
            BlobStore::Dir(dir) => {
                let path = dir.join(name);
                let file = File::open(&path).map_err(|source| SourceError::io(&path, source))?;
                Ok(Box::new(BufReader::with_capacity(256 * 1024, file)))
            }
            BlobStore::Tar(index) => {
                let (offset, size) =
                    index.locate(name).ok_or_else(|| SourceError::MissingFile {
                        archive: index.path.clone(),
                        name: name.to_owned(),
                    })?;
                let mut file = File::open(&index.path)
                    .map_err(|source| SourceError::io(&index.path, source))?;
                file.seek(SeekFrom::Start(offset))
                    .map_err(|source| SourceError::io(&index.path, source))?;
                Ok(Box::new(BufReader::with_capacity(
                    256 * 1024,
                    file.take(size),
                )))
            }
            BlobStore::Memory(memory) => {
                let missing = || SourceError::MissingFile {
                    archive: memory.label.clone(),
                    name: name.to_owned(),
                };
                let resolved = memory.resolve(name).ok_or_else(missing)?;
                // Layer members were consumed while the archive streamed; only JSON is kept.
                let bytes = memory.files.get(&resolved).ok_or_else(missing)?;
                Ok(Box::new(io::Cursor::new(bytes.clone())))
            }
            BlobStore::Registry(registry) => registry.open_blob(name),
        }
    }

    /// Size in bytes of one file of the source, when it exists.
    pub fn size(&self, name: &str) -> Option<u64> {
        match self {
            BlobStore::Dir(dir) => std::fs::metadata(dir.join(name)).ok().map(|m| m.len()),
            BlobStore::Tar(index) => index.locate(name).map(|(_, size)| size),
            BlobStore::Memory(memory) => {
                let resolved = memory.resolve(name)?;
                memory
                    .files
                    .get(&resolved)
                    .map(|bytes| bytes.len() as u64)
                    .or_else(|| memory.sizes.get(&resolved).copied())
            }
            BlobStore::Registry(_) => None,
        }
    }

    /// Reads a small file (manifest, index, config) whole, refusing files above `limit` bytes.
    pub fn read_small(&self, name: &str, limit: u64) -> Result<Vec<u8>, SourceError> {
        if let BlobStore::Registry(registry) = self {
            // Only `index.json` and manifests pass through here; configs go through
            // `read_blob_document`.
            let bytes = registry.read_document(name, true)?;
            if bytes.len() as u64 > limit {
                return Err(SourceError::TooLarge {
                    name: name.to_owned(),
                    limit,
                });
            }
            return Ok(bytes);
        }
        if !self.exists(name) {
            return Err(SourceError::MissingFile {
                archive: self.path().to_owned(),
                name: name.to_owned(),
            });
        }
        let mut bytes = Vec::new();
        self.open(name)?
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| SourceError::io(&self.path().join(name), source))?;
        if bytes.len() as u64 > limit {
            return Err(SourceError::TooLarge {
                name: name.to_owned(),
                limit,
            });
        }
        Ok(bytes)
    }
}

impl From<io::Error> for SourceError {
    fn from(source: io::Error) -> Self {
        SourceError::Io {
            path: PathBuf::new(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_strips_dot_prefixes() {
        assert_eq!(normalize_member_name("./index.json").unwrap(), "index.json");
        assert_eq!(
            normalize_member_name("/blobs//sha256/ab").unwrap(),
            "blobs/sha256/ab"
        );
    }

    #[test]
    fn normalize_rejects_parent_components() {
        assert!(normalize_member_name("../etc/passwd").is_none());
        assert!(normalize_member_name("a/../../b").is_none());
    }

    #[test]
    fn relative_link_stays_inside_archive() {
        assert_eq!(
            resolve_relative("abc/layer.tar", "../abc.tar").unwrap(),
            "abc.tar"
        );
        assert!(resolve_relative("layer.tar", "../../etc/passwd").is_none());
    }
}
