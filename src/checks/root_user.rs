//! `root-user`: the container's process runs as uid 0. Judged from `config.User` and the
//! image's own `/etc/passwd`, not from history, because some builders never record `USER`.

use super::{Check, CheckContext, Finding, Location, Outcome};
use crate::image::os::Accounts;
use crate::severity::Severity;

pub const CHECK: Check = Check {
    id: "root-user",
    title: "Container runs as root",
    weight: 25,
    fix: "Create a dedicated user that owns the app files and set it: `RUN useradd --uid 10001 app` then `USER 10001:10001` (numeric, so Kubernetes runAsNonRoot can verify it).",
    run,
};

/// What `config.User` resolves to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Identity {
    /// Empty `User`: Docker and containerd default to root.
    ImplicitRoot,
    Uid {
        uid: u32,
        group_is_root: bool,
    },
    /// A name that `/etc/passwd` does not list; the runtime refuses to start the container.
    UnknownName(String),
}

/// Resolves a `User` value (`name`, `uid`, `name:group`, `uid:gid`) against the image's accounts.
pub(crate) fn resolve_user(user: &str, accounts: Option<&Accounts>) -> Identity {
    let user = user.trim();
    if user.is_empty() {
        return Identity::ImplicitRoot;
    }
    let (name, group) = match user.split_once(':') {
        Some((name, group)) => (name, Some(group)),
        None => (user, None),
    };
    let entry = accounts.and_then(|a| a.users.iter().find(|u| u.name == name));
    let uid = match name.parse::<u32>() {
        Ok(uid) => uid,
        Err(_) if name == "root" => 0,
        Err(_) => match entry {
            Some(entry) => entry.uid,
            None => return Identity::UnknownName(name.to_owned()),
        },
    };
    let group_is_root = match group {
        Some(group) => {
            group == "0"
                || group == "root"
                || accounts.is_some_and(|a| a.groups.iter().any(|(n, gid)| n == group && *gid == 0))
        }
        // Without a group the primary group from passwd applies; a numeric uid without a
        // passwd entry gets gid 0.
        None => entry.map_or(uid != 0 && name.parse::<u32>().is_ok(), |e| e.gid == 0),
    };
    Identity::Uid { uid, group_is_root }
}

fn run(ctx: &CheckContext<'_>) -> Outcome {
    let user = ctx.image.config.config.user.clone();
    let location = Location {
        config_field: Some("config.User".into()),
        ..Location::default()
    };
    let finding = |severity, message: String, fix: &str| Finding {
        check_id: CHECK.id,
        severity,
        message,
        location: location.clone(),
        evidence: None,
        fix: fix.to_owned(),
    };
    let mut notes = Vec::new();
    if let Some(accounts) = &ctx.accounts
        && accounts.malformed_lines > 0
    {
        notes.push(format!(
            "/etc/passwd or /etc/group has {} malformed lines; they were skipped",
            accounts.malformed_lines
        ));
    }
    let findings = match resolve_user(&user, ctx.accounts.as_ref()) {
        Identity::ImplicitRoot => vec![finding(
            Severity::High,
            "no USER is set, so the container runs as root (uid 0)".into(),
            CHECK.fix,
        )],
        Identity::Uid { uid: 0, .. } => vec![finding(
            Severity::High,
            format!("USER {user:?} runs as root (uid 0)"),
            CHECK.fix,
        )],
        Identity::Uid {
            uid,
            group_is_root: true,
        } => vec![finding(
            Severity::Low,
            format!(
                "USER {user:?} is uid {uid} but its group is root (gid 0), which can write root-group files"
            ),
            "Give the user its own group: `USER 10001:10001`.",
        )],
        Identity::Uid { uid, .. } => {
            notes.push(format!("runs as uid {uid} ({user:?})"));
            Vec::new()
        }
        Identity::UnknownName(name)
            if ctx.accounts.is_none() && ctx.image.fs.get("/etc/passwd").is_some() =>
        {
            let target = ctx
                .image
                .fs
                .get("/etc/passwd")
                .and_then(|node| node.link_target.clone())
                .unwrap_or_else(|| "another file".into());
            vec![finding(
                Severity::Medium,
                format!(
                    "USER {name:?} could not be resolved to a uid: /etc/passwd links to {target}, which imgaudit did not read, so the user may be root"
                ),
                "Use a numeric `USER 10001:10001`, which needs no lookup, or keep /etc/passwd a regular file.",
            )]
        }
        Identity::UnknownName(name) => vec![finding(
            Severity::Low,
            format!(
                "USER {name:?} is not listed in the image's /etc/passwd, so the runtime cannot start the container as that user"
            ),
            "Create the user in the image (`RUN useradd app`) or use a numeric `USER 10001:10001`.",
        )],
    };
    Outcome::Evaluated { findings, notes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::os::{parse_group, parse_passwd};

    fn accounts() -> Accounts {
        let (users, _) = parse_passwd(
            "root:x:0:0:root:/root:/bin/sh\ntoor:x:0:0::/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\nweb:x:33:0::/var/www:/usr/sbin/nologin\n",
        );
        let (groups, _) = parse_group("root:x:0:\nnode:x:1000:\nwheel:x:0:\n");
        Accounts {
            users,
            groups,
            malformed_lines: 0,
        }
    }

    #[test]
    fn root_forms_resolve_to_uid_zero() {
        let accounts = accounts();
        assert_eq!(resolve_user("", Some(&accounts)), Identity::ImplicitRoot);
        for user in ["root", "0", "0:0", "root:root", "toor"] {
            match resolve_user(user, Some(&accounts)) {
                Identity::Uid { uid: 0, .. } => {}
                other => panic!("{user:?} resolved to {other:?}"),
            }
        }
    }

    #[test]
    fn non_root_users_resolve() {
        let accounts = accounts();
        assert_eq!(
            resolve_user("node", Some(&accounts)),
            Identity::Uid {
                uid: 1000,
                group_is_root: false
            }
        );
        assert_eq!(
            resolve_user("1000:1000", Some(&accounts)),
            Identity::Uid {
                uid: 1000,
                group_is_root: false
            }
        );
    }

    #[test]
    fn root_group_is_detected() {
        let accounts = accounts();
        assert_eq!(
            resolve_user("1000:0", Some(&accounts)),
            Identity::Uid {
                uid: 1000,
                group_is_root: true
            }
        );
        assert_eq!(
            resolve_user("node:wheel", Some(&accounts)),
            Identity::Uid {
                uid: 1000,
                group_is_root: true
            }
        );
        assert_eq!(
            resolve_user("web", Some(&accounts)),
            Identity::Uid {
                uid: 33,
                group_is_root: true
            }
        );
    }

    #[test]
    fn numeric_uid_without_passwd_runs_as_that_uid() {
        match resolve_user("65532:65532", None) {
            Identity::Uid {
                uid: 65532,
                group_is_root: false,
            } => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_name_is_reported() {
        assert_eq!(
            resolve_user("app", None),
            Identity::UnknownName("app".into())
        );
    }
}
