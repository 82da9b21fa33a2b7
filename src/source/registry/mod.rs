//! Pulls an image from an OCI registry (`registry.example.com/team/app:1.2`) and presents it
//! as an [`ImageSource`], so that the same selection, verification and checks run as for a
//! saved archive. Manifests and configs are fetched whole because they are small. Layer
//! blobs are streamed from the network straight into the layer pipeline, verified on the fly,
//! and never written to disk.

mod client;
mod credentials;

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use oci_spec::distribution::Reference;

pub use client::{Client, RequestError};
pub use credentials::{CredentialSources, Credentials};

use super::{ImageSource, SourceError, SourceFormat, SourceOptions, oci};
use crate::digest::Digest;

/// Largest manifest, index or config fetched whole.
const MAX_DOCUMENT_BYTES: u64 = 16 * 1024 * 1024;

/// Settings for registry access.
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// Hosts (`host` or `host:port`) that may be reached over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// Extra CA certificates (PEM) trusted in addition to the system's.
    pub ca_file: Option<PathBuf>,
    /// Longest wait for response headers, and for each read while a body downloads.
    pub timeout: Duration,
    /// Retries after a failed request or a dropped download.
    pub retries: u32,
    /// Refuse images whose layers add up to more than this many stored bytes.
    pub max_image_size: Option<u64>,
    pub credentials: CredentialSources,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            insecure_registries: Vec::new(),
            ca_file: None,
            timeout: Duration::from_secs(60),
            retries: 3,
            max_image_size: None,
            credentials: CredentialSources::default(),
        }
    }
}

/// Parses a reference the way Docker does: `nginx` is `docker.io/library/nginx:latest`.
pub fn parse_reference(text: &str) -> Result<Reference, SourceError> {
    let text = text.strip_prefix("docker://").unwrap_or(text);
    text.parse::<Reference>()
        .map_err(|err| SourceError::InvalidReference {
            reference: text.to_owned(),
            message: err.to_string(),
        })
}

/// File extensions of saved images; a missing path with one of them is a missing file, never
/// a Docker Hub repository of that name.
const ARCHIVE_EXTENSIONS: &[&str] = &[
    ".tar",
    ".tar.gz",
    ".tgz",
    ".tar.zst",
    ".tar.zstd",
    ".tzst",
    ".gz",
    ".zst",
    ".zstd",
    ".oci",
    ".docker",
    ".img",
    ".json",
];

/// Returns whether `text` (a path that does not exist) should be read as an image reference.
///
/// A missing file must not silently turn into a pull from Docker Hub, where anyone can publish
/// a repository with the same name, so these stay files: paths starting with `/` or `.`,
/// names with an archive extension, single names with a dot (`app.tar.gx`: a typo more likely
/// than a repository), and paths whose first component is an existing local directory. A
/// `docker://` prefix or `--input registry` forces a reference.
pub fn looks_like_reference(text: &str) -> bool {
    if text.starts_with("docker://") {
        return true;
    }
    let lower = text.to_ascii_lowercase();
    if text.starts_with('/')
        || text.starts_with('.')
        || text.contains("..")
        || ARCHIVE_EXTENSIONS.iter().any(|ext| lower.ends_with(ext))
    {
        return false;
    }
    let first = text.split('/').next().unwrap_or(text);
    if !text.contains('/') && text.split(':').next().unwrap_or(text).contains('.') {
        return false;
    }
    if text.contains('/') && std::path::Path::new(first).is_dir() {
        return false;
    }
    text.parse::<Reference>().is_ok()
}

/// API host of a registry: Docker Hub's API lives at `registry-1.docker.io`.
fn api_host(registry: &str) -> &str {
    match registry {
        "docker.io" | "index.docker.io" => "registry-1.docker.io",
        other => other,
    }
}

fn is_loopback(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            name
        } else {
            host
        }
    });
    name == "localhost" || name.starts_with("127.") || name == "[::1]" || name == "::1"
}

fn build_agent(options: &RegistryOptions) -> Result<ureq::Agent, SourceError> {
    let mut roots: Vec<ureq::tls::Certificate<'static>> = Vec::new();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        roots.push(ureq::tls::Certificate::from_der(cert.as_ref()).to_owned());
    }
    if let Some(path) = &options.ca_file {
        let pem = std::fs::read(path).map_err(|source| SourceError::io(path, source))?;
        let before = roots.len();
        for item in ureq::tls::parse_pem(&pem) {
            if let Ok(ureq::tls::PemItem::Certificate(cert)) = item {
                roots.push(cert.to_owned());
            }
        }
        if roots.len() == before {
            return Err(SourceError::InvalidReference {
                reference: path.display().to_string(),
                message: "--ca-file contains no PEM certificate".into(),
            });
        }
    }
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(roots)))
        .build();
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_recv_response(Some(options.timeout))
        // An idle limit per read, not a budget for the whole body: a large layer may take
        // longer than the timeout, and the layer pipeline may pause between reads.
        .timeout_per_read(Some(options.timeout))
        .user_agent(concat!("imgaudit/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls)
        .build();
    Ok(ureq::Agent::new_with_config(config))
}

/// Storage backed by a registry: manifests and configs fetched on demand and cached, layer
/// blobs streamed.
pub struct RegistryStore {
    pub client: Client,
    /// The reference as given, for messages.
    pub label: PathBuf,
    /// Documents already fetched, by name (`index.json`, `blobs/sha256/<hex>`).
    documents: Mutex<HashMap<String, Vec<u8>>>,
}

impl RegistryStore {
    /// Returns a cached or freshly fetched manifest or index (`manifest`), or config blob.
    pub fn read_document(&self, name: &str, manifest: bool) -> Result<Vec<u8>, SourceError> {
        if let Some(bytes) = self.documents.lock().unwrap().get(name) {
            return Ok(bytes.clone());
        }
        let digest = name
            .strip_prefix("blobs/")
            .and_then(|rest| rest.split_once('/'))
            .map(|(algorithm, hex)| format!("{algorithm}:{hex}"))
            .ok_or_else(|| SourceError::MissingFile {
                archive: self.label.clone(),
                name: name.to_owned(),
            })?;
        // Manifests and indexes come from the manifests endpoint, configs from the blobs one.
        let response = if manifest {
            let path = format!("/v2/{}/manifests/{digest}", self.client.repository);
            self.client.get(&path, Some(client::MANIFEST_ACCEPT), None)
        } else {
            let path = format!("/v2/{}/blobs/{digest}", self.client.repository);
            self.client.get(&path, None, None)
        }
        .map_err(|err| self.request_error(err))?;
        let bytes =
            read_limited(response, MAX_DOCUMENT_BYTES).map_err(|source| SourceError::Io {
                path: self.label.clone(),
                source,
            })?;
        self.documents
            .lock()
            .unwrap()
            .insert(name.to_owned(), bytes.clone());
        Ok(bytes)
    }

    /// Opens a layer blob as a stream.
    pub fn open_blob(&self, name: &str) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        let digest = name
            .strip_prefix("blobs/")
            .and_then(|rest| rest.split_once('/'))
            .map(|(algorithm, hex)| format!("{algorithm}:{hex}"))
            .unwrap_or_default();
        let blob = self
            .client
            .open_blob(&digest)
            .map_err(|err| self.request_error(err))?;
        Ok(Box::new(blob))
    }

    fn request_error(&self, err: RequestError) -> SourceError {
        registry_error(&self.label.display().to_string(), err)
    }
}

fn read_limited(
    response: ureq::http::Response<ureq::Body>,
    limit: u64,
) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    response
        .into_body()
        .into_with_config()
        .limit(limit + 1)
        .reader()
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("document larger than {limit} bytes"),
        ));
    }
    Ok(bytes)
}

/// Turns a failed request into an error that names what to check.
fn registry_error(reference: &str, err: RequestError) -> SourceError {
    let hint = match err.status() {
        Some(401) => "check the credentials (IMGAUDIT_USERNAME/IMGAUDIT_PASSWORD, docker login)",
        Some(403) => "the credentials are valid but may not pull this repository",
        Some(404) => "check the repository name and tag or digest",
        Some(429) => "the registry is rate-limiting; retry later or log in",
        Some(_) => "the registry reported an error",
        None => {
            "check the registry address, the network, and --insecure-registry / --ca-file for private registries"
        }
    };
    SourceError::Registry {
        reference: reference.to_owned(),
        message: format!("{err}; {hint}"),
    }
}

/// Resolves the reference, fetches its manifest and config, and returns a source whose layers
/// stream from the registry.
pub fn open(
    text: &str,
    options: &SourceOptions,
    registry: &RegistryOptions,
) -> Result<ImageSource, SourceError> {
    let reference = parse_reference(text)?;
    let host = api_host(reference.registry()).to_owned();
    let agent = build_agent(registry)?;
    let credentials = registry
        .credentials
        .lookup(reference.registry())
        .or_else(|| registry.credentials.lookup(&host));
    let label = PathBuf::from(reference.whole());
    let insecure = is_loopback(&host)
        || registry
            .insecure_registries
            .iter()
            .any(|h| *h == host || *h == reference.registry());
    let base = choose_scheme(&agent, &host, insecure)?;
    tracing::debug!(%base, repository = reference.repository(), insecure, "registry endpoint chosen");
    let client = Client::new(
        agent,
        base,
        host,
        reference.repository().to_owned(),
        credentials,
        registry.retries,
    );

    let target = reference
        .digest()
        .or(reference.tag())
        .unwrap_or("latest")
        .to_owned();
    let path = format!("/v2/{}/manifests/{target}", reference.repository());
    let response = client
        .get(&path, Some(client::MANIFEST_ACCEPT), None)
        .map_err(|err| registry_error(&reference.whole(), err))?;
    let media_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let bytes = read_limited(response, MAX_DOCUMENT_BYTES).map_err(|source| SourceError::Io {
        path: label.clone(),
        source,
    })?;
    let digest = Digest::sha256_of(&bytes);
    if let Some(pinned) = reference.digest()
        && pinned != digest.to_string()
    {
        return Err(SourceError::Registry {
            reference: reference.whole(),
            message: format!(
                "the registry returned a manifest with digest {digest}, not the requested {pinned}; the registry or a proxy altered it"
            ),
        });
    }

    let media_type = if media_type.is_empty() {
        sniff_media_type(&bytes)
    } else {
        media_type
    };
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": media_type, "digest": digest.to_string(), "size": bytes.len()}],
    });
    let mut documents = HashMap::new();
    documents.insert(
        "index.json".to_owned(),
        serde_json::to_vec(&index).expect("index serialises"),
    );
    documents.insert(super::blob_path(&digest), bytes);
    let store = RegistryStore {
        client,
        label: label.clone(),
        documents: Mutex::new(documents),
    };

    let mut source = oci::read(
        super::BlobStore::Registry(Box::new(store)),
        SourceFormat::Registry,
        options,
    )?;
    source.reference = Some(reference.whole());
    check_size(&source, registry, &reference.whole())?;
    Ok(source)
}

/// Reads a manifest's `mediaType` field when the registry sent no Content-Type.
fn sniff_media_type(bytes: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| {
            v.get("mediaType")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".into())
}

fn check_size(
    source: &ImageSource,
    registry: &RegistryOptions,
    reference: &str,
) -> Result<(), SourceError> {
    let Some(limit) = registry.max_image_size else {
        return Ok(());
    };
    let total: u64 = source.layers.iter().filter_map(|l| l.size).sum();
    if total > limit {
        return Err(SourceError::Registry {
            reference: reference.to_owned(),
            message: format!(
                "the image's layers add up to {total} bytes, above --max-image-size {limit}; no layer was downloaded"
            ),
        });
    }
    Ok(())
}

/// Picks `https://`, or `http://` for a loopback or `--insecure-registry` host that does not
/// answer TLS (as Docker does for insecure registries).
fn choose_scheme(agent: &ureq::Agent, host: &str, insecure: bool) -> Result<String, SourceError> {
    let https = format!("https://{host}");
    if !insecure {
        return Ok(https);
    }
    match agent.get(&format!("{https}/v2/")).call() {
        Ok(_) => Ok(https),
        // A rejected certificate means the server speaks TLS: plain HTTP would only turn the
        // certificate error into an HTTP 400, so keep HTTPS and let the request report it.
        Err(err) if client::is_certificate_error(&err) => {
            tracing::debug!(host, error = %err, "HTTPS certificate rejected; not falling back to plain HTTP");
            Ok(https)
        }
        Err(err) => {
            tracing::debug!(host, error = %err, "HTTPS failed on an insecure registry; using plain HTTP");
            Ok(format!("http://{host}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_expand_to_docker_hub() {
        let reference = parse_reference("nginx").unwrap();
        assert_eq!(reference.whole(), "docker.io/library/nginx:latest");
        assert_eq!(api_host(reference.registry()), "registry-1.docker.io");
    }

    #[test]
    fn registries_with_ports_and_digests_parse() {
        let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let reference = parse_reference(&format!("host:5000/app@{digest}")).unwrap();
        assert_eq!(reference.registry(), "host:5000");
        assert_eq!(reference.repository(), "app");
        assert_eq!(reference.digest(), Some(digest));
        let ghcr = parse_reference("ghcr.io/org/app:tag").unwrap();
        assert_eq!(ghcr.registry(), "ghcr.io");
        assert_eq!(ghcr.repository(), "org/app");
        let local = parse_reference("localhost/app").unwrap();
        assert_eq!(local.registry(), "localhost");
    }

    #[test]
    fn paths_are_not_references() {
        assert!(!looks_like_reference("./image.tar"));
        assert!(!looks_like_reference("/tmp/image"));
        assert!(!looks_like_reference("image.tar"));
        assert!(!looks_like_reference("build/app.tar.gz"));
        assert!(!looks_like_reference("dist/app.oci"));
        assert!(!looks_like_reference("busybox-app.docker.ta"));
        assert!(!looks_like_reference("src/missing"));
        assert!(looks_like_reference("nginx"));
        assert!(looks_like_reference("nginx:1.27"));
        assert!(looks_like_reference("localhost:5000/app"));
        assert!(looks_like_reference("registry.example.com/team/app:1.2"));
        assert!(looks_like_reference("docker://image.tar"));
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example.com"));
        assert!(!is_loopback("10.0.0.1:5000"));
    }
}
