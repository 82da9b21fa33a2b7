//! Registry credentials, looked up in the order Docker and podman users expect:
//! `IMGAUDIT_USERNAME`/`IMGAUDIT_PASSWORD`, then the Docker config (`$DOCKER_CONFIG/config.json`
//! or `~/.docker/config.json`: `credHelpers`, `auths`, `credsStore`), then podman's `auth.json`
//! (`$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
//! `~/.config/containers/auth.json`). Credentials are never logged.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Deserialize;

/// How long a credential helper may run before it is killed.
const HELPER_TIMEOUT: Duration = Duration::from_secs(10);

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken` in Docker's config, or a helper's `<token>` user).
    IdentityToken(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret half.
        match self {
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, ********)"),
            Credentials::IdentityToken(_) => f.write_str("IdentityToken(********)"),
        }
    }
}

#[derive(Deserialize, Default)]
struct AuthFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

#[derive(Deserialize)]
struct HelperOutput {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Where credentials come from; the environment is read through this so tests can set it.
#[derive(Clone, Debug, Default)]
pub struct CredentialSources {
    pub env_username: Option<String>,
    pub env_password: Option<String>,
    pub docker_config: Option<PathBuf>,
    pub podman_auth_files: Vec<PathBuf>,
}

impl CredentialSources {
    /// Reads the standard variables and locations.
    pub fn from_env() -> CredentialSources {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let home = var("HOME").map(PathBuf::from);
        let docker_config = var("DOCKER_CONFIG")
            .map(|dir| PathBuf::from(dir).join("config.json"))
            .or_else(|| home.as_ref().map(|h| h.join(".docker/config.json")));
        let mut podman_auth_files = Vec::new();
        if let Some(file) = var("REGISTRY_AUTH_FILE") {
            podman_auth_files.push(PathBuf::from(file));
        }
        if let Some(dir) = var("XDG_RUNTIME_DIR") {
            podman_auth_files.push(PathBuf::from(dir).join("containers/auth.json"));
        }
        if let Some(home) = &home {
            podman_auth_files.push(home.join(".config/containers/auth.json"));
        }
        CredentialSources {
            env_username: var("IMGAUDIT_USERNAME"),
            env_password: var("IMGAUDIT_PASSWORD"),
            docker_config,
            podman_auth_files,
        }
    }

    /// Finds credentials for `host` (`registry.example.com` or `host:port`).
    pub fn lookup(&self, host: &str) -> Option<Credentials> {
        if let (Some(username), Some(password)) = (&self.env_username, &self.env_password) {
            tracing::debug!(
                host,
                "using credentials from IMGAUDIT_USERNAME/IMGAUDIT_PASSWORD"
            );
            return Some(Credentials::Basic {
                username: username.clone(),
                password: password.clone(),
            });
        }
        if let Some(path) = &self.docker_config
            && let Some(file) = read_auth_file(path)
            && let Some(found) = lookup_in_file(&file, host, true)
        {
            tracing::debug!(host, file = %path.display(), "using credentials from the Docker config");
            return Some(found);
        }
        for path in &self.podman_auth_files {
            if let Some(file) = read_auth_file(path)
                && let Some(found) = lookup_in_file(&file, host, false)
            {
                tracing::debug!(host, file = %path.display(), "using credentials from a podman auth file");
                return Some(found);
            }
        }
        None
    }
}

fn read_auth_file(path: &PathBuf) -> Option<AuthFile> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(file) => Some(file),
        Err(err) => {
            tracing::warn!(file = %path.display(), error = %err, "ignoring an auth file that is not valid JSON");
            None
        }
    }
}

/// Keys under which a registry may appear in `auths`: the host, or a URL of it; Docker Hub
/// under its legacy v1 URL.
fn auth_keys(host: &str) -> Vec<String> {
    let mut keys = vec![
        host.to_owned(),
        format!("https://{host}"),
        format!("http://{host}"),
    ];
    if host == "docker.io" || host == "registry-1.docker.io" || host == "index.docker.io" {
        keys.push("https://index.docker.io/v1/".into());
        keys.push("index.docker.io".into());
        keys.push("docker.io".into());
    }
    keys
}

fn lookup_in_file(file: &AuthFile, host: &str, helpers_allowed: bool) -> Option<Credentials> {
    let keys = auth_keys(host);
    if helpers_allowed && let Some(helper) = keys.iter().find_map(|k| file.cred_helpers.get(k)) {
        return run_helper(helper, host);
    }
    let matching = file.auths.iter().find(|(key, _)| {
        let trimmed = key.trim_end_matches('/');
        keys.iter().any(|k| k == *key || k == trimmed)
            || trimmed
                .strip_prefix("https://")
                .or_else(|| trimmed.strip_prefix("http://"))
                .is_some_and(|rest| rest.split('/').next() == Some(host))
    });
    if let Some((_, entry)) = matching
        && let Some(found) = entry_credentials(entry)
    {
        return Some(found);
    }
    match (&file.creds_store, helpers_allowed) {
        (Some(store), true) => run_helper(store, host),
        _ => None,
    }
}

fn entry_credentials(entry: &AuthEntry) -> Option<Credentials> {
    if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
        return Some(Credentials::IdentityToken(token.clone()));
    }
    if let Some(auth) = &entry.auth {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (username, password) = text.split_once(':')?;
        return Some(Credentials::Basic {
            username: username.to_owned(),
            password: password.to_owned(),
        });
    }
    match (&entry.username, &entry.password) {
        (Some(username), Some(password)) => Some(Credentials::Basic {
            username: username.clone(),
            password: password.clone(),
        }),
        _ => None,
    }
}

/// Runs `docker-credential-<name> get` with the registry on stdin, killing it after
/// [`HELPER_TIMEOUT`].
fn run_helper(name: &str, host: &str) -> Option<Credentials> {
    let program = format!("docker-credential-{name}");
    let mut child = match Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(err) => {
            tracing::warn!(helper = %program, error = %err, "credential helper could not be started");
            return None;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(host.as_bytes());
    }
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(status)) => {
                tracing::warn!(helper = %program, %status, "credential helper failed");
                return None;
            }
            Ok(None) if started.elapsed() > HELPER_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                tracing::warn!(helper = %program, timeout_s = HELPER_TIMEOUT.as_secs(), "credential helper timed out and was killed");
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(err) => {
                tracing::warn!(helper = %program, error = %err, "failed to wait for the credential helper");
                return None;
            }
        }
    }
    let mut output = Vec::new();
    child
        .stdout
        .take()?
        .take(1 << 20)
        .read_to_end(&mut output)
        .ok()?;
    let parsed: HelperOutput = match serde_json::from_slice(&output) {
        Ok(parsed) => parsed,
        Err(err) => {
            tracing::warn!(helper = %program, error = %err, "credential helper printed invalid JSON");
            return None;
        }
    };
    if parsed.username == "<token>" {
        return Some(Credentials::IdentityToken(parsed.secret));
    }
    Some(Credentials::Basic {
        username: parsed.username,
        password: parsed.secret,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(json: &str) -> AuthFile {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn auth_field_is_decoded() {
        // "alice:s3cret" in base64.
        let found = lookup_in_file(
            &file(r#"{"auths":{"reg.example.com":{"auth":"YWxpY2U6czNjcmV0"}}}"#),
            "reg.example.com",
            true,
        );
        assert_eq!(
            found,
            Some(Credentials::Basic {
                username: "alice".into(),
                password: "s3cret".into()
            })
        );
    }

    #[test]
    fn url_keys_match_host() {
        let found = lookup_in_file(
            &file(r#"{"auths":{"https://reg.example.com:5000/v2/":{"auth":"YWxpY2U6czNjcmV0"}}}"#),
            "reg.example.com:5000",
            true,
        );
        assert!(found.is_some());
        assert!(
            lookup_in_file(
                &file(r#"{"auths":{"other.example.com":{"auth":"YWxpY2U6czNjcmV0"}}}"#),
                "reg.example.com",
                true
            )
            .is_none()
        );
    }

    #[test]
    fn docker_hub_legacy_key_matches() {
        let found = lookup_in_file(
            &file(r#"{"auths":{"https://index.docker.io/v1/":{"auth":"YWxpY2U6czNjcmV0"}}}"#),
            "docker.io",
            true,
        );
        assert!(found.is_some());
    }

    #[test]
    fn identity_token_wins() {
        let found = lookup_in_file(
            &file(
                r#"{"auths":{"reg.example.com":{"auth":"YWxpY2U6czNjcmV0","identitytoken":"refresh"}}}"#,
            ),
            "reg.example.com",
            true,
        );
        assert_eq!(found, Some(Credentials::IdentityToken("refresh".into())));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let text = format!(
            "{:?}",
            Credentials::Basic {
                username: "alice".into(),
                password: "s3cret".into()
            }
        );
        assert!(!text.contains("s3cret"));
    }

    #[test]
    fn missing_helper_gives_no_credentials() {
        assert!(
            run_helper(
                "imgaudit-test-helper-that-does-not-exist",
                "reg.example.com"
            )
            .is_none()
        );
    }
}
