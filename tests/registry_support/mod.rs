//! Fixtures for `tests/registry.rs`: a real registry (Debian's `docker-registry`, the CNCF
//! distribution registry 2.8) started on 127.0.0.1 per test, pushes with `skopeo`, and
//! imgaudit runs in a clean environment.

pub mod http;
pub mod pki;
pub mod server;
pub mod token;

use std::ffi::OsStr;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use pki::Tls;

/// Audit date for every run, so that Node.js support status does not depend on the clock.
pub const NOW: &str = "2026-12-04";

/// Time a registry may take to respond to `/v2/` after it starts.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);

/// Accept header for manifest requests made by the tests themselves.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// Environment variables that would let the machine's own settings reach imgaudit: removed
/// from every run. HOME is replaced by an empty directory.
const ISOLATED_VARIABLES: [&str; 13] = [
    "IMGAUDIT_USERNAME",
    "IMGAUDIT_PASSWORD",
    "IMGAUDIT_LOG",
    "IMGAUDIT_NOW",
    "DOCKER_CONFIG",
    "REGISTRY_AUTH_FILE",
    "XDG_RUNTIME_DIR",
    "SSL_CERT_FILE",
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "ALL_PROXY",
];

// ---------------------------------------------------------------------------------------------
// Real images

/// Returns the `oci:` transport of a real test image built by `tests/images/build.sh`
/// (`form` is `oci` or `zstd.oci`), failing with a build hint when it is missing.
pub fn real_layout(name: &str, form: &str) -> String {
    let path = real_image_path(name, form);
    format!("oci:{}:latest", path.display())
}

/// Returns the path of a real test image in `target/test-images` (or `IMGAUDIT_TEST_IMAGES`).
pub fn real_image_path(name: &str, form: &str) -> PathBuf {
    let dir = match std::env::var_os("IMGAUDIT_TEST_IMAGES") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-images"),
    };
    let path = dir.join(format!("{name}.{form}"));
    assert!(
        path.exists(),
        "the real test image {} is missing; build it with `bash tests/images/build.sh` \
         (as root; set IMGAUDIT_TEST_IMAGES to use another directory)",
        path.display()
    );
    path
}

// ---------------------------------------------------------------------------------------------
// The registry

/// How the registry authenticates clients.
pub enum Auth {
    Anonymous,
    /// Basic authentication against an htpasswd file with bcrypt hashes (needs TLS).
    Htpasswd(PathBuf),
    /// Bearer tokens from `realm`, signed by the key whose certificate is `root_cert_bundle`.
    Token {
        realm: String,
        service: String,
        issuer: String,
        root_cert_bundle: PathBuf,
    },
}

/// A `docker-registry` process; dropping the guard kills it by its PID.
pub struct Registry {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Registry {
    /// Writes a config under `dir`, starts the registry on a free port of 127.0.0.1 and waits
    /// until `/v2/` responds.
    pub fn start(dir: &Path, tls: Option<&Tls>, auth: Auth) -> Registry {
        std::fs::create_dir_all(dir).unwrap();
        // The port is free when probed but could be taken before the registry binds it, so
        // a registry that exits at once is started again on another port.
        let mut last_log = String::new();
        for _ in 0..3 {
            let port = free_port();
            let config = dir.join("config.yml");
            std::fs::write(&config, registry_config(dir, port, tls, &auth)).unwrap();
            let log = dir.join("registry.log");
            let log_file = std::fs::File::create(&log).unwrap();
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().unwrap())
                .stderr(log_file)
                .spawn()
                .expect("docker-registry starts (Debian package docker-registry)");
            let mut registry = Registry { child, port, log };
            if registry.wait_until_ready(tls) {
                return registry;
            }
            last_log = registry.log_text();
        }
        panic!("docker-registry did not start; its last log:\n{last_log}");
    }

    /// Returns `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Returns the digest of the manifest that `repository:tag` points to, from the
    /// registry's `Docker-Content-Digest` header (anonymous registries only).
    pub fn manifest_digest(&self, repository: &str, tag: &str) -> String {
        let url = format!("http://{}/v2/{repository}/manifests/{tag}", self.host());
        let response = test_agent(None)
            .get(&url)
            .header("Accept", MANIFEST_ACCEPT)
            .call()
            .unwrap_or_else(|err| panic!("GET {url} failed: {err}"));
        assert_eq!(response.status().as_u16(), 200, "GET {url}");
        response
            .headers()
            .get("docker-content-digest")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_else(|| panic!("{url} sent no Docker-Content-Digest"))
            .to_owned()
    }

    /// Returns the manifest that `repository:tag` points to.
    pub fn manifest(&self, repository: &str, tag: &str) -> Value {
        let url = format!("http://{}/v2/{repository}/manifests/{tag}", self.host());
        let mut response = test_agent(None)
            .get(&url)
            .header("Accept", MANIFEST_ACCEPT)
            .call()
            .unwrap_or_else(|err| panic!("GET {url} failed: {err}"));
        assert_eq!(response.status().as_u16(), 200, "GET {url}");
        serde_json::from_slice(&response.body_mut().read_to_vec().unwrap()).unwrap()
    }

    fn wait_until_ready(&mut self, tls: Option<&Tls>) -> bool {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}/v2/", self.host());
        let agent = test_agent(tls.map(|tls| tls.ca_cert.as_path()));
        let started = Instant::now();
        while started.elapsed() < STARTUP_TIMEOUT {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            // Any response counts: an authenticating registry sends 401.
            if agent.get(&url).call().is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "docker-registry did not answer {url} within {STARTUP_TIMEOUT:?}; its log:\n{}",
            self.log_text()
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("find a free port on 127.0.0.1")
        .port()
}

fn registry_config(dir: &Path, port: u16, tls: Option<&Tls>, auth: &Auth) -> String {
    let mut config = format!(
        "version: 0.1\n\
         log:\n  level: warn\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {storage}\n\
         http:\n  addr: 127.0.0.1:{port}\n  secret: imgaudit-test-upload-secret\n",
        storage = dir.join("storage").display(),
    );
    if let Some(tls) = tls {
        config.push_str(&format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            tls.server_cert.display(),
            tls.server_key.display()
        ));
    }
    match auth {
        Auth::Anonymous => {}
        Auth::Htpasswd(file) => config.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: imgaudit-test\n    path: {}\n",
            file.display()
        )),
        Auth::Token {
            realm,
            service,
            issuer,
            root_cert_bundle,
        } => config.push_str(&format!(
            "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
            root_cert_bundle.display()
        )),
    }
    config
}

/// Builds an HTTP client for the tests' own requests: no proxy, statuses returned as responses, and
/// `ca_cert` as the only trusted root when given.
pub fn test_agent(ca_cert: Option<&Path>) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(5)));
    if let Some(ca_cert) = ca_cert {
        let pem = std::fs::read(ca_cert).unwrap();
        let roots: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(cert)) => Some(cert.to_owned()),
                _ => None,
            })
            .collect();
        config = config.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)))
                .build(),
        );
    }
    ureq::Agent::new_with_config(config.build())
}

/// Writes an htpasswd file with one bcrypt entry (`htpasswd -Bbn`, Debian package
/// apache2-utils).
pub fn write_htpasswd(path: &Path, username: &str, password: &str) {
    let output = Command::new("htpasswd")
        .args(["-Bbn", username, password])
        .output()
        .expect("htpasswd runs (Debian package apache2-utils)");
    assert!(
        output.status.success(),
        "htpasswd failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(path, output.stdout).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Pushing with skopeo

/// Copies `source` (a skopeo transport such as `oci:DIR:TAG`) to `docker://destination` with
/// `skopeo copy --dest-tls-verify=false` and any `extra` arguments.
pub fn push(source: &str, destination: &str, extra: &[&str]) {
    let output = Command::new("skopeo")
        .arg("--insecure-policy")
        .arg("copy")
        .arg("--dest-tls-verify=false")
        .args(extra)
        .arg(source)
        .arg(format!("docker://{destination}"))
        .stdin(Stdio::null())
        .output()
        .expect("skopeo runs (Debian package skopeo)");
    assert!(
        output.status.success(),
        "skopeo copy {source} docker://{destination} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// Running imgaudit

/// The outcome of one imgaudit run.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Parses the JSON report, failing with stderr when the audit did not run.
    pub fn report(&self) -> Value {
        assert!(
            matches!(self.code, Some(0 | 1)),
            "imgaudit exited with {:?}; stderr:\n{}",
            self.code,
            self.stderr
        );
        serde_json::from_str(&self.stdout).expect("stdout is a JSON report")
    }
}

/// Runs `imgaudit --format json --now NOW ARGS` with HOME set to `home` and no credential,
/// proxy or log variables from the calling environment, plus `env`.
pub fn imgaudit<S: AsRef<OsStr>>(home: &Path, args: &[S], env: &[(&str, &OsStr)]) -> Run {
    std::fs::create_dir_all(home).unwrap();
    let mut command = assert_cmd::Command::cargo_bin("imgaudit").expect("imgaudit is built");
    for name in ISOLATED_VARIABLES {
        command.env_remove(name);
    }
    command.env("HOME", home);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command
        .args(["--format", "json", "--now", NOW])
        .args(args)
        .output()
        .expect("imgaudit starts");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Returns one line per finding with the fields that must not depend on where the image was
/// read from: check, severity, path, layer index and secret fingerprint. Sorted.
pub fn finding_keys(report: &Value) -> Vec<String> {
    let mut keys: Vec<String> = report["findings"]
        .as_array()
        .expect("the report has findings")
        .iter()
        .map(|finding| {
            format!(
                "{} {} path={} layer={} fingerprint={}",
                finding["check_id"],
                finding["severity"],
                finding["location"]["path"],
                finding["location"]["layer"]["index"],
                finding["evidence"]["fingerprint"],
            )
        })
        .collect();
    keys.sort();
    keys
}
