//! `shell-present`: a shell in the final filesystem lets an attacker who gets code execution
//! run arbitrary commands, and lets `docker exec` sessions change a production container.

use std::collections::BTreeMap;

use super::{Check, CheckContext, Finding, Location, Outcome};
use crate::image::Image;
use crate::image::fs::{NodeKind, file_name};
use crate::severity::Severity;

pub const CHECK: Check = Check {
    id: "shell-present",
    title: "Shell in the final image",
    weight: 10,
    fix: "Ship the production image without a shell (a distroless base such as gcr.io/distroless/nodejs24-debian12) and keep a separate debug image that has one.",
    run,
};

/// Program names that are shells, or busybox, which provides `sh` as an applet.
const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox", "tcsh", "csh", "fish",
];

/// A shell binary and the paths that lead to it.
struct ShellBinary {
    layer: usize,
    names: Vec<String>,
    /// For busybox: how many other paths link to it (its applets).
    applets: usize,
}

fn run(ctx: &CheckContext<'_>) -> Outcome {
    let image = ctx.image;
    let shells = find_shells(image);
    if shells.is_empty() {
        return Outcome::pass("no shell found in the final filesystem");
    }
    let needs_shell = command_needs_shell(image);
    let (severity, fix) = match &needs_shell {
        Some(reason) => (
            Severity::Medium,
            format!(
                "The container command needs a shell ({reason}): switch to exec form, e.g. `CMD [\"node\", \"server.js\"]`, then {}",
                lowercase_first(CHECK.fix)
            ),
        ),
        None => (Severity::Medium, CHECK.fix.to_owned()),
    };
    let findings = shells
        .into_iter()
        .map(|(binary, shell)| {
            let mut message = format!("shell {binary} is present");
            let others: Vec<&String> = shell.names.iter().filter(|n| **n != binary).collect();
            if !others.is_empty() {
                let listed: Vec<&str> = others.iter().take(5).map(|s| s.as_str()).collect();
                message.push_str(&format!(" (also as {}", listed.join(", ")));
                if others.len() > 5 {
                    message.push_str(&format!(" and {} more", others.len() - 5));
                }
                message.push(')');
            }
            if shell.applets > 0 {
                message.push_str(&format!(", with {} busybox applet links", shell.applets));
            }
            if let Some(reason) = &needs_shell {
                message.push_str(&format!("; the container command needs it ({reason})"));
            }
            Finding {
                check_id: CHECK.id,
                severity,
                message,
                location: Location {
                    path: Some(binary),
                    layer: ctx.layer_ref(shell.layer),
                    ..Location::default()
                },
                evidence: None,
                fix: fix.clone(),
            }
        })
        .collect();
    Outcome::Evaluated {
        findings,
        notes: Vec::new(),
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Groups shell names by the binary they resolve to, keyed by that binary's path.
fn find_shells(image: &Image) -> BTreeMap<String, ShellBinary> {
    let mut shells: BTreeMap<String, ShellBinary> = BTreeMap::new();
    for (path, node) in image.fs.iter() {
        if !SHELLS.contains(&file_name(path)) || node.kind == NodeKind::Dir {
            continue;
        }
        // Only executables count: Debian ships data files named after shells
        // (`/usr/share/menu/bash`, `/usr/share/debianutils/shells.d/dash`).
        let target = match node.kind {
            NodeKind::Symlink => match image.fs.resolve(path) {
                Some((resolved, n)) if n.kind == NodeKind::File && is_executable(n.mode) => {
                    resolved
                }
                _ => continue,
            },
            NodeKind::File if !is_executable(node.mode) => continue,
            // A hard link whose original path a later layer deleted is the binary itself.
            NodeKind::File if node.hardlink => node
                .link_target
                .clone()
                .filter(|target| image.fs.get(target).is_some())
                .unwrap_or_else(|| path.to_owned()),
            NodeKind::File => path.to_owned(),
            _ => continue,
        };
        let layer = image.fs.get(&target).map_or(node.layer, |n| n.layer);
        let entry = shells.entry(target).or_insert_with(|| ShellBinary {
            layer,
            names: Vec::new(),
            applets: 0,
        });
        entry.names.push(path.to_owned());
    }
    let busyboxes: Vec<String> = shells
        .keys()
        .filter(|path| file_name(path) == "busybox")
        .cloned()
        .collect();
    for busybox in busyboxes {
        let applets = count_links_to(image, &busybox);
        if let Some(shell) = shells.get_mut(&busybox) {
            shell.applets = applets;
        }
    }
    shells
}

fn is_executable(mode: u32) -> bool {
    mode & 0o111 != 0
}

/// Counts symlinks and hard links that lead to `target`.
fn count_links_to(image: &Image, target: &str) -> usize {
    image
        .fs
        .iter()
        .filter(|(path, _)| *path != target)
        .filter(|(path, node)| match node.kind {
            NodeKind::Symlink => image
                .fs
                .resolve(path)
                .is_some_and(|(resolved, _)| resolved == target),
            NodeKind::File => node.hardlink && node.link_target.as_deref() == Some(target),
            _ => false,
        })
        .count()
}

/// Says why the container command needs a shell, if it does: shell form (`/bin/sh -c …`), a
/// shell as the program, or an entrypoint script with a shell shebang.
pub(crate) fn command_needs_shell(image: &Image) -> Option<String> {
    let argv = image.config.argv();
    let program = argv.first()?;
    let name = file_name(program);
    if SHELLS.contains(&name) {
        return Some(if argv.get(1).is_some_and(|a| a == "-c") {
            format!("shell form `{program} -c …`")
        } else {
            format!("it runs `{program}`")
        });
    }
    let shebang = find_program(image, program).and_then(|path| {
        image
            .fs
            .resolve(&path)
            .and_then(|(_, node)| node.facts.shebang.clone())
    })?;
    let interpreter = shebang.split_whitespace().next().unwrap_or_default();
    SHELLS
        .contains(&file_name(interpreter))
        .then(|| format!("{program} is a script for `{shebang}`"))
}

/// Finds the program the way the runtime does: as given when it has a slash, else on the
/// config's PATH (or the default PATH).
fn find_program(image: &Image, program: &str) -> Option<String> {
    if program.contains('/') {
        let absolute = if program.starts_with('/') {
            program.to_owned()
        } else {
            let workdir = image.config.config.working_dir.trim_end_matches('/');
            format!("{workdir}/{program}")
        };
        return Some(absolute);
    }
    let path = image
        .config
        .env_var("PATH")
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':')
        .map(|dir| format!("{}/{program}", dir.trim_end_matches('/')))
        .find(|candidate| image.fs.resolve(candidate).is_some())
}
