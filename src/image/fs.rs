//! The merged filesystem of an image: every layer's tar entries applied in order, the way an
//! overlay filesystem would present them, with the history of each path kept alongside.
//!
//! Rules follow the OCI image spec's "Applying Changesets": `.wh.<name>` deletes `<name>` from
//! lower layers, `.wh..wh..opq` hides every lower-layer child of its directory and applies
//! before the layer's other entries whatever their order in the tar, and a non-directory that
//! replaces a directory removes the directory's subtree. Symlinks resolve inside the image root.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

/// Maximum symlinks followed while resolving one path (Linux's `MAXSYMLINKS` is 40).
pub const MAX_SYMLINK_HOPS: usize = 40;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    File,
    Dir,
    Symlink,
    /// Character or block device, FIFO.
    Other,
}

/// Facts read from a file's content while its layer streamed.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileFacts {
    /// ELF `PT_INTERP`, the dynamic loader the binary requests.
    pub elf_interp: Option<String>,
    /// Node.js version embedded in a `node` binary or `libnode.so`.
    pub node_version: Option<String>,
    /// First line of a script after `#!`, for the programs the container runs.
    pub shebang: Option<String>,
}

/// One path in the merged filesystem.
#[derive(Clone, Debug)]
pub struct Node {
    pub kind: NodeKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    /// Symlink target as stored; for a hard link, the absolute path it linked to.
    pub link_target: Option<String>,
    /// Whether the entry was a hard link in its layer.
    pub hardlink: bool,
    /// Index of the layer that last wrote this path.
    pub layer: usize,
    /// File content, kept only for the few files that checks read.
    pub content: Option<Arc<[u8]>>,
    pub facts: FileFacts,
}

/// Change that a layer made to a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    Added,
    Changed,
    Deleted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathEvent {
    pub layer: usize,
    pub change: Change,
}

/// Meaning of one tar entry for the filesystem.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    /// Hard link to the absolute path held in `link_target`.
    Hardlink,
    Other,
    /// `.wh.<name>`: `path` is the deleted path.
    Whiteout,
    /// `.wh..wh..opq`: `path` is the directory whose lower contents are hidden.
    Opaque,
}

/// One entry of a layer, with its path already made absolute and clean.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct LayerEntry {
    pub path: String,
    pub kind: EntryKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub link_target: Option<String>,
    #[serde(with = "crate::image::cache::optional_bytes")]
    pub content: Option<Arc<[u8]>>,
    pub facts: FileFacts,
}

#[derive(Default)]
pub struct FileSystem {
    nodes: BTreeMap<String, Node>,
    events: HashMap<String, Vec<PathEvent>>,
    /// Hard links whose target did not exist, as (link, target).
    pub dangling_hardlinks: Vec<(String, String)>,
}

/// Returns the parent of an absolute path, `None` for the root.
pub fn parent(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&path[..i]),
        None => None,
    }
}

/// Returns the last component of a path.
pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn subtree_range(dir: &str) -> (String, String) {
    if dir == "/" {
        return ("/".into(), "0".into());
    }
    // '0' is the byte after '/', so this range contains exactly the paths under `dir/`.
    (format!("{dir}/"), format!("{dir}0"))
}

impl FileSystem {
    pub fn new() -> FileSystem {
        FileSystem::default()
    }

    /// Applies one layer's entries on top of the layers applied before it.
    pub fn apply_layer(&mut self, layer: usize, entries: Vec<LayerEntry>) {
        for entry in entries.iter().filter(|e| e.kind == EntryKind::Opaque) {
            self.remove_descendants(&entry.path, layer);
        }
        for entry in entries.iter().filter(|e| e.kind == EntryKind::Whiteout) {
            self.remove_path(&entry.path, layer);
        }
        for entry in entries {
            match entry.kind {
                EntryKind::Opaque | EntryKind::Whiteout => {}
                _ => self.insert(layer, entry),
            }
        }
    }

    fn record(&mut self, path: &str, layer: usize, change: Change) {
        let events = self.events.entry(path.to_owned()).or_default();
        // A path written twice in one layer (duplicate tar entries) counts once.
        if let Some(last) = events.last_mut()
            && last.layer == layer
        {
            if change == Change::Deleted || last.change == Change::Deleted {
                last.change = change;
            }
            return;
        }
        events.push(PathEvent { layer, change });
    }

    fn remove_descendants(&mut self, dir: &str, layer: usize) {
        let (start, end) = subtree_range(dir);
        let doomed: Vec<String> = self
            .nodes
            .range(start..end)
            .map(|(path, _)| path.clone())
            .collect();
        for path in doomed {
            self.nodes.remove(&path);
            self.record(&path, layer, Change::Deleted);
        }
    }

    fn remove_path(&mut self, path: &str, layer: usize) {
        if self.nodes.remove(path).is_some() {
            self.record(path, layer, Change::Deleted);
        }
        self.remove_descendants(path, layer);
    }

    /// Creates missing parent directories: layer tars may omit unchanged parents.
    fn ensure_parents(&mut self, path: &str, layer: usize) {
        let mut missing = Vec::new();
        let mut current = parent(path);
        while let Some(dir) = current {
            match self.nodes.get(dir) {
                Some(node) if node.kind == NodeKind::Dir || node.kind == NodeKind::Symlink => break,
                Some(_) => {
                    // A file where a directory must be: the layer replaced it.
                    self.nodes.remove(dir);
                    missing.push(dir.to_owned());
                }
                None => missing.push(dir.to_owned()),
            }
            current = parent(dir);
        }
        for dir in missing.into_iter().rev() {
            let change = if self.events.contains_key(&dir) {
                Change::Changed
            } else {
                Change::Added
            };
            self.nodes.insert(
                dir.clone(),
                Node {
                    kind: NodeKind::Dir,
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                    size: 0,
                    link_target: None,
                    hardlink: false,
                    layer,
                    content: None,
                    facts: FileFacts::default(),
                },
            );
            self.record(&dir, layer, change);
        }
    }

    fn insert(&mut self, layer: usize, entry: LayerEntry) {
        if entry.path == "/" {
            if let Some(root) = self.nodes.get_mut("/") {
                root.mode = entry.mode;
                root.uid = entry.uid;
                root.gid = entry.gid;
            }
            return;
        }
        self.ensure_parents(&entry.path, layer);
        let previous = self.nodes.get(&entry.path).map(|n| n.kind);
        let node = match entry.kind {
            EntryKind::Hardlink => self.hardlink_node(layer, &entry),
            _ => Node {
                kind: match entry.kind {
                    EntryKind::File => NodeKind::File,
                    EntryKind::Dir => NodeKind::Dir,
                    EntryKind::Symlink => NodeKind::Symlink,
                    _ => NodeKind::Other,
                },
                mode: entry.mode,
                uid: entry.uid,
                gid: entry.gid,
                size: entry.size,
                link_target: entry.link_target,
                hardlink: false,
                layer,
                content: entry.content,
                facts: entry.facts,
            },
        };
        if previous == Some(NodeKind::Dir) && node.kind != NodeKind::Dir {
            self.remove_descendants(&entry.path, layer);
        }
        let change = if previous.is_some() {
            Change::Changed
        } else {
            Change::Added
        };
        self.nodes.insert(entry.path.clone(), node);
        self.record(&entry.path, layer, change);
    }

    fn hardlink_node(&mut self, layer: usize, entry: &LayerEntry) -> Node {
        let target = entry.link_target.clone().unwrap_or_default();
        match self.nodes.get(&target) {
            Some(found) => Node {
                link_target: Some(target),
                hardlink: true,
                layer,
                ..found.clone()
            },
            None => {
                self.dangling_hardlinks
                    .push((entry.path.clone(), target.clone()));
                Node {
                    kind: NodeKind::File,
                    mode: entry.mode,
                    uid: entry.uid,
                    gid: entry.gid,
                    size: 0,
                    link_target: Some(target),
                    hardlink: true,
                    layer,
                    content: None,
                    facts: FileFacts::default(),
                }
            }
        }
    }

    /// Looks up a path without following symlinks.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// Resolves every symlink along `path`, inside the image root, and returns the final path
    /// and its node. Returns `None` for missing paths and for loops longer than
    /// [`MAX_SYMLINK_HOPS`].
    pub fn resolve(&self, path: &str) -> Option<(String, &Node)> {
        let resolved = self.resolve_path(path)?;
        let node = self.nodes.get(&resolved)?;
        Some((resolved, node))
    }

    fn resolve_path(&self, path: &str) -> Option<String> {
        let mut pending: VecDeque<String> = path.split('/').map(str::to_owned).collect();
        let mut resolved: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(component) = pending.pop_front() {
            match component.as_str() {
                "" | "." => continue,
                ".." => {
                    // ".." at the root stays at the root, as the kernel does inside a chroot.
                    resolved.pop();
                    continue;
                }
                _ => resolved.push(component),
            }
            let current = format!("/{}", resolved.join("/"));
            match self.nodes.get(&current) {
                Some(node) if node.kind == NodeKind::Symlink => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return None;
                    }
                    let target = node.link_target.clone().unwrap_or_default();
                    resolved.pop();
                    if target.starts_with('/') {
                        resolved.clear();
                    }
                    for part in target.split('/').rev() {
                        pending.push_front(part.to_owned());
                    }
                }
                Some(_) => {}
                None => return None,
            }
        }
        Some(format!("/{}", resolved.join("/")))
    }

    /// Iterates over every path in the merged filesystem, sorted.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(path, node)| (path.as_str(), node))
    }

    /// Iterates over the paths under `dir` (not including `dir`).
    pub fn descendants<'a>(&'a self, dir: &str) -> impl Iterator<Item = (&'a str, &'a Node)> + 'a {
        let (start, end) = subtree_range(dir);
        self.nodes
            .range(start..end)
            .map(|(path, node)| (path.as_str(), node))
    }

    /// Returns what each layer did to `path`, oldest first.
    pub fn events(&self, path: &str) -> &[PathEvent] {
        self.events.get(path).map_or(&[], Vec::as_slice)
    }

    /// Returns the first later event that deleted or replaced `path`, if any.
    pub fn superseded_after(&self, path: &str, layer: usize) -> Option<PathEvent> {
        self.events(path)
            .iter()
            .find(|e| e.layer > layer && e.change != Change::Added)
            .copied()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: EntryKind) -> LayerEntry {
        LayerEntry {
            path: path.into(),
            kind,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 1,
            link_target: None,
            content: None,
            facts: FileFacts::default(),
        }
    }

    fn link(path: &str, kind: EntryKind, target: &str) -> LayerEntry {
        LayerEntry {
            link_target: Some(target.into()),
            ..entry(path, kind)
        }
    }

    #[test]
    fn whiteout_deletes_lower_file() {
        let mut fs = FileSystem::new();
        fs.apply_layer(0, vec![entry("/app/.npmrc", EntryKind::File)]);
        fs.apply_layer(1, vec![entry("/app/.npmrc", EntryKind::Whiteout)]);
        assert!(fs.get("/app/.npmrc").is_none());
        assert_eq!(
            fs.superseded_after("/app/.npmrc", 0),
            Some(PathEvent {
                layer: 1,
                change: Change::Deleted
            })
        );
    }

    #[test]
    fn whiteout_of_directory_deletes_subtree() {
        let mut fs = FileSystem::new();
        fs.apply_layer(
            0,
            vec![
                entry("/cache", EntryKind::Dir),
                entry("/cache/a/b", EntryKind::File),
            ],
        );
        fs.apply_layer(1, vec![entry("/cache", EntryKind::Whiteout)]);
        assert!(fs.get("/cache").is_none());
        assert!(fs.get("/cache/a").is_none());
        assert!(fs.get("/cache/a/b").is_none());
    }

    #[test]
    fn opaque_applies_before_same_layer_entries() {
        let mut fs = FileSystem::new();
        fs.apply_layer(
            0,
            vec![
                entry("/d/old", EntryKind::File),
                entry("/d/keep", EntryKind::File),
            ],
        );
        // The opaque marker comes after the new file in tar order but applies first.
        fs.apply_layer(
            1,
            vec![
                entry("/d/new", EntryKind::File),
                entry("/d", EntryKind::Opaque),
            ],
        );
        assert!(fs.get("/d/old").is_none());
        assert!(fs.get("/d/keep").is_none());
        assert!(fs.get("/d/new").is_some());
        assert!(fs.get("/d").is_some());
    }

    #[test]
    fn file_replacing_directory_removes_subtree() {
        let mut fs = FileSystem::new();
        fs.apply_layer(
            0,
            vec![entry("/x", EntryKind::Dir), entry("/x/y", EntryKind::File)],
        );
        fs.apply_layer(1, vec![entry("/x", EntryKind::File)]);
        assert_eq!(fs.get("/x").unwrap().kind, NodeKind::File);
        assert!(fs.get("/x/y").is_none());
        assert_eq!(fs.events("/x/y").last().unwrap().change, Change::Deleted);
    }

    #[test]
    fn missing_parents_are_created() {
        let mut fs = FileSystem::new();
        fs.apply_layer(2, vec![entry("/usr/local/bin/node", EntryKind::File)]);
        assert_eq!(fs.get("/usr/local").unwrap().kind, NodeKind::Dir);
        assert_eq!(fs.get("/usr").unwrap().layer, 2);
    }

    #[test]
    fn hardlink_copies_target() {
        let mut fs = FileSystem::new();
        let mut busybox = entry("/bin/busybox", EntryKind::File);
        busybox.size = 900_000;
        fs.apply_layer(
            0,
            vec![
                busybox,
                link("/bin/sh", EntryKind::Hardlink, "/bin/busybox"),
            ],
        );
        let sh = fs.get("/bin/sh").unwrap();
        assert!(sh.hardlink);
        assert_eq!(sh.size, 900_000);
        assert_eq!(sh.link_target.as_deref(), Some("/bin/busybox"));
    }

    #[test]
    fn hardlink_to_missing_target_is_recorded() {
        let mut fs = FileSystem::new();
        fs.apply_layer(
            0,
            vec![link("/bin/sh", EntryKind::Hardlink, "/bin/nowhere")],
        );
        assert_eq!(fs.dangling_hardlinks.len(), 1);
        assert!(fs.get("/bin/sh").is_some());
    }

    #[test]
    fn resolve_follows_relative_symlink() {
        let mut fs = FileSystem::new();
        fs.apply_layer(
            0,
            vec![
                entry("/usr/lib/os-release", EntryKind::File),
                link(
                    "/etc/os-release",
                    EntryKind::Symlink,
                    "../usr/lib/os-release",
                ),
            ],
        );
        let (path, node) = fs.resolve("/etc/os-release").unwrap();
        assert_eq!(path, "/usr/lib/os-release");
        assert_eq!(node.kind, NodeKind::File);
    }

    #[test]
    fn resolve_follows_directory_symlinks() {
        let mut fs = FileSystem::new();
        fs.apply_layer(
            0,
            vec![
                entry("/usr/bin/sh", EntryKind::File),
                link("/bin", EntryKind::Symlink, "usr/bin"),
            ],
        );
        assert_eq!(fs.resolve("/bin/sh").unwrap().0, "/usr/bin/sh");
    }

    #[test]
    fn resolve_keeps_escaping_links_inside_root() {
        let mut fs = FileSystem::new();
        fs.apply_layer(
            0,
            vec![
                entry("/etc/passwd", EntryKind::File),
                link("/app/up", EntryKind::Symlink, "../../../../etc/passwd"),
            ],
        );
        assert_eq!(fs.resolve("/app/up").unwrap().0, "/etc/passwd");
    }

    #[test]
    fn resolve_stops_on_loops() {
        let mut fs = FileSystem::new();
        fs.apply_layer(
            0,
            vec![
                link("/a", EntryKind::Symlink, "/b"),
                link("/b", EntryKind::Symlink, "/a"),
            ],
        );
        assert!(fs.resolve("/a").is_none());
    }

    #[test]
    fn rewrite_records_change() {
        let mut fs = FileSystem::new();
        fs.apply_layer(0, vec![entry("/etc/passwd", EntryKind::File)]);
        fs.apply_layer(3, vec![entry("/etc/passwd", EntryKind::File)]);
        let events = fs.events("/etc/passwd");
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[1],
            PathEvent {
                layer: 3,
                change: Change::Changed
            }
        );
        assert_eq!(fs.get("/etc/passwd").unwrap().layer, 3);
    }
}
