//! Parsers for operating-system files that checks read: `os-release`, `/etc/passwd` and
//! `/etc/group`. Malformed lines are counted and skipped, never fatal.

use std::collections::BTreeMap;

use super::Image;
use super::fs::NodeKind;

/// Fields of `os-release(5)` that reports use.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct OsRelease {
    pub id: String,
    pub id_like: Vec<String>,
    pub version_id: Option<String>,
    pub pretty_name: Option<String>,
    /// Path the file was read from after resolving symlinks.
    pub path: String,
}

impl OsRelease {
    /// `Debian GNU/Linux 12 (bookworm)` or `alpine 3.20.3`.
    pub fn display_name(&self) -> String {
        if let Some(pretty) = &self.pretty_name {
            return pretty.clone();
        }
        match &self.version_id {
            Some(version) => format!("{} {version}", self.id),
            None => self.id.clone(),
        }
    }
}

/// Parses `KEY=value` lines of os-release, unquoting values.
pub fn parse_os_release(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.starts_with('#') {
                return None;
            }
            let (key, value) = line.split_once('=')?;
            let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
            Some((key.trim().to_owned(), value.replace("\\\"", "\"")))
        })
        .collect()
}

/// Reads the image's os-release: `/etc/os-release` (usually a symlink to
/// `../usr/lib/os-release`), then `/usr/lib/os-release`.
pub fn os_release(image: &Image) -> Option<OsRelease> {
    for candidate in ["/etc/os-release", "/usr/lib/os-release"] {
        let Some((path, node)) = image.fs.resolve(candidate) else {
            continue;
        };
        let Some(content) = image.fs.get(&path).and_then(|n| n.content.clone()) else {
            if node.kind == NodeKind::File {
                tracing::debug!(path, "os-release exists but its content was not captured");
            }
            continue;
        };
        let fields = parse_os_release(&String::from_utf8_lossy(&content));
        let Some(id) = fields.get("ID").filter(|id| !id.is_empty()) else {
            continue;
        };
        return Some(OsRelease {
            id: id.to_ascii_lowercase(),
            id_like: fields
                .get("ID_LIKE")
                .map(|v| v.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            version_id: fields.get("VERSION_ID").cloned(),
            pretty_name: fields.get("PRETTY_NAME").cloned(),
            path,
        });
    }
    None
}

/// One `/etc/passwd` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

/// A parsed account file and how many of its lines were unusable.
#[derive(Clone, Debug, Default)]
pub struct Accounts {
    pub users: Vec<PasswdEntry>,
    /// `(name, gid)` from `/etc/group`.
    pub groups: Vec<(String, u32)>,
    pub malformed_lines: usize,
}

/// Parses `/etc/passwd`: `name:password:uid:gid:gecos:home:shell`. NIS `+`/`-` lines, blank
/// lines and lines with too few fields or a non-numeric id are counted as malformed.
pub fn parse_passwd(text: &str) -> (Vec<PasswdEntry>, usize) {
    let mut users = Vec::new();
    let mut malformed = 0;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(':').collect();
        let parsed = (fields.len() >= 4 && !line.starts_with(['+', '-']))
            .then(|| {
                Some((
                    fields[2].parse::<u32>().ok()?,
                    fields[3].parse::<u32>().ok()?,
                ))
            })
            .flatten();
        let Some((uid, gid)) = parsed else {
            malformed += 1;
            continue;
        };
        users.push(PasswdEntry {
            name: fields[0].to_owned(),
            uid,
            gid,
            home: fields.get(5).copied().unwrap_or_default().to_owned(),
            shell: fields.get(6).copied().unwrap_or_default().to_owned(),
        });
    }
    (users, malformed)
}

/// Parses `/etc/group`: `name:password:gid:members`.
pub fn parse_group(text: &str) -> (Vec<(String, u32)>, usize) {
    let mut groups = Vec::new();
    let mut malformed = 0;
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(':').collect();
        match fields.get(2).and_then(|gid| gid.parse::<u32>().ok()) {
            Some(gid) if !line.starts_with(['+', '-']) => groups.push((fields[0].to_owned(), gid)),
            _ => malformed += 1,
        }
    }
    (groups, malformed)
}

/// Reads the image's account files, following symlinks; `None` when there is no passwd.
pub fn accounts(image: &Image) -> Option<Accounts> {
    let passwd = read_captured(image, "/etc/passwd")?;
    let (users, mut malformed_lines) = parse_passwd(&passwd);
    let groups = match read_captured(image, "/etc/group") {
        Some(text) => {
            let (groups, bad) = parse_group(&text);
            malformed_lines += bad;
            groups
        }
        None => Vec::new(),
    };
    Some(Accounts {
        users,
        groups,
        malformed_lines,
    })
}

/// Content of a captured file after resolving symlinks, as text.
pub fn read_captured(image: &Image, path: &str) -> Option<String> {
    let (resolved, _) = image.fs.resolve(path)?;
    let content = image.fs.get(&resolved)?.content.clone()?;
    Some(String::from_utf8_lossy(&content).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_unquotes() {
        let fields = parse_os_release(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n# c\n",
        );
        assert_eq!(fields["ID"], "debian");
        assert_eq!(fields["VERSION_ID"], "12");
        assert_eq!(fields["PRETTY_NAME"], "Debian GNU/Linux 12 (bookworm)");
    }

    #[test]
    fn passwd_parses_users() {
        let (users, malformed) =
            parse_passwd("root:x:0:0:root:/root:/bin/bash\nnode:x:1000:1000::/home/node:/bin/sh\n");
        assert_eq!(malformed, 0);
        assert_eq!(users[1].name, "node");
        assert_eq!(users[1].uid, 1000);
        assert_eq!(users[0].shell, "/bin/bash");
    }

    #[test]
    fn passwd_counts_malformed_lines() {
        let (users, malformed) = parse_passwd(
            "root:x:0:0:root:/root:/bin/sh\n+::::::\njustonefield\n\napp:x:abc:1::/:\n",
        );
        assert_eq!(users.len(), 1);
        assert_eq!(malformed, 3);
    }

    #[test]
    fn group_parses() {
        let (groups, malformed) = parse_group("root:x:0:\nstaff:x:50:alice,bob\nbroken\n");
        assert_eq!(groups, vec![("root".into(), 0), ("staff".into(), 50)]);
        assert_eq!(malformed, 1);
    }
}
