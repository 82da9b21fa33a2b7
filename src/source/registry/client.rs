//! A small client for the OCI distribution API: bearer-token and basic authentication,
//! retries with backoff on 429, 5xx and dropped connections (honouring `Retry-After`),
//! redirects followed by hand so that credentials never go to another host, and blob
//! downloads that resume with a `Range` request when a connection drops mid-blob.

use std::io::{self, Read};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;

use super::credentials::Credentials;

/// Accept header for manifest requests: every manifest and index type imgaudit reads.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

const MAX_REDIRECTS: usize = 5;

/// A failed registry request.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("{url} returned {status}{detail}")]
    Status {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("request to {url} failed: {message}")]
    Transport { url: String, message: String },
}

impl RequestError {
    pub fn status(&self) -> Option<u16> {
        match self {
            RequestError::Status { status, .. } => Some(*status),
            RequestError::Transport { .. } => None,
        }
    }
}

/// Connection settings shared by every request to one registry.
pub struct Client {
    agent: ureq::Agent,
    /// `https://host:port` or `http://host:port`.
    pub base: String,
    pub host: String,
    pub repository: String,
    credentials: Option<Credentials>,
    /// Authorization header value once a challenge has been answered.
    authorization: Mutex<Option<String>>,
    retries: u32,
}

/// One parsed `WWW-Authenticate` challenge.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

/// Parses `Bearer realm="…",service="…",scope="…"` (quoted or bare values).
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    let mut params = Vec::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remainder) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        params.push((key, value.to_owned()));
        rest = remainder.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

impl Challenge {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Seconds to wait before retry `attempt` (0-based): `Retry-After` when the server sent one
/// (capped at 30 s), else 0.5 s doubling per attempt.
fn backoff(attempt: u32, retry_after: Option<&str>) -> Duration {
    if let Some(seconds) = retry_after.and_then(|v| v.trim().parse::<u64>().ok()) {
        return Duration::from_secs(seconds.min(30));
    }
    Duration::from_millis(500u64.saturating_mul(1 << attempt.min(6)))
}

/// Returns whether a request failed because the server's TLS certificate was rejected.
/// ureq wraps rustls errors in io errors, so the check matches the text of rustls 0.23's
/// `Error::InvalidCertificate`.
pub(crate) fn is_certificate_error(err: &ureq::Error) -> bool {
    err.to_string().contains("invalid peer certificate")
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

impl Client {
    pub fn new(
        agent: ureq::Agent,
        base: String,
        host: String,
        repository: String,
        credentials: Option<Credentials>,
        retries: u32,
    ) -> Client {
        Client {
            agent,
            base,
            host,
            repository,
            credentials,
            authorization: Mutex::new(None),
            retries,
        }
    }

    /// Sends a GET to `path` under the registry, handling authentication, redirects and
    /// retries. `range_start` requests the bytes from that offset on.
    pub fn get(
        &self,
        path: &str,
        accept: Option<&str>,
        range_start: Option<u64>,
    ) -> Result<ureq::http::Response<ureq::Body>, RequestError> {
        let mut url = format!("{}{path}", self.base);
        let mut attempt = 0;
        let mut redirects = 0;
        let mut answered_challenge = false;
        loop {
            let same_host = host_of(&url) == self.host;
            let mut request = self.agent.get(&url);
            if let Some(accept) = accept {
                request = request.header("Accept", accept);
            }
            if let Some(start) = range_start {
                request = request.header("Range", format!("bytes={start}-"));
            }
            if same_host && let Some(authorization) = self.authorization.lock().unwrap().clone() {
                request = request.header("Authorization", authorization);
            }
            let response = match request.call() {
                Ok(response) => response,
                // An untrusted certificate stays untrusted: retrying only delays the error.
                Err(err) if attempt < self.retries && !is_certificate_error(&err) => {
                    let wait = backoff(attempt, None);
                    tracing::warn!(url, error = %err, attempt = attempt + 1, wait_ms = wait.as_millis() as u64, "registry request failed; retrying");
                    std::thread::sleep(wait);
                    attempt += 1;
                    continue;
                }
                Err(err) => {
                    return Err(RequestError::Transport {
                        url,
                        message: err.to_string(),
                    });
                }
            };
            let status = response.status().as_u16();
            match status {
                200..=299 => return Ok(response),
                301 | 302 | 303 | 307 | 308 if redirects < MAX_REDIRECTS => {
                    let location = header(&response, "location").unwrap_or_default();
                    url = if location.starts_with("http://") || location.starts_with("https://") {
                        location
                    } else {
                        format!("{}{location}", self.base)
                    };
                    if host_of(&url) != self.host {
                        tracing::debug!(
                            host = host_of(&url),
                            "following a redirect to another host without credentials"
                        );
                    }
                    redirects += 1;
                }
                401 if same_host && !answered_challenge => {
                    let challenge =
                        header(&response, "www-authenticate").and_then(|h| parse_challenge(&h));
                    answered_challenge = true;
                    self.answer_challenge(challenge.as_ref(), &url)?;
                }
                429 | 500..=599 if attempt < self.retries => {
                    let wait = backoff(attempt, header(&response, "retry-after").as_deref());
                    tracing::warn!(
                        url,
                        status,
                        attempt = attempt + 1,
                        wait_ms = wait.as_millis() as u64,
                        "registry is busy or failing; retrying"
                    );
                    std::thread::sleep(wait);
                    attempt += 1;
                }
                _ => return Err(status_error(url, status, response)),
            }
        }
    }

    fn answer_challenge(
        &self,
        challenge: Option<&Challenge>,
        url: &str,
    ) -> Result<(), RequestError> {
        let unauthorized = |detail: &str| RequestError::Status {
            url: url.to_owned(),
            status: 401,
            detail: format!(" ({detail})"),
        };
        let Some(challenge) = challenge else {
            return Err(unauthorized("no WWW-Authenticate challenge"));
        };
        let header = match challenge.scheme.as_str() {
            "basic" => match &self.credentials {
                Some(Credentials::Basic { username, password }) => {
                    Some(basic_header(username, password))
                }
                _ => return Err(unauthorized("the registry needs a username and password")),
            },
            "bearer" => Some(format!("Bearer {}", self.fetch_token(challenge)?)),
            other => {
                return Err(unauthorized(&format!(
                    "unsupported authentication scheme {other}"
                )));
            }
        };
        *self.authorization.lock().unwrap() = header;
        Ok(())
    }

    /// Fetches a bearer token from the challenge's realm for pulling this repository.
    fn fetch_token(&self, challenge: &Challenge) -> Result<String, RequestError> {
        let realm = challenge.param("realm").unwrap_or_default().to_owned();
        let service = challenge.param("service").unwrap_or_default().to_owned();
        let scope = challenge
            .param("scope")
            .map(str::to_owned)
            .unwrap_or_else(|| format!("repository:{}:pull", self.repository));
        let response = match &self.credentials {
            Some(Credentials::IdentityToken(refresh)) => self.agent.post(&realm).send_form([
                ("grant_type", "refresh_token"),
                ("service", service.as_str()),
                ("scope", scope.as_str()),
                ("client_id", "imgaudit"),
                ("refresh_token", refresh.as_str()),
            ]),
            credentials => {
                let mut request = self
                    .agent
                    .get(&realm)
                    .query("service", &service)
                    .query("scope", &scope);
                if let Some(Credentials::Basic { username, password }) = credentials {
                    request = request.header("Authorization", basic_header(username, password));
                }
                request.call()
            }
        };
        let mut response = response.map_err(|err| RequestError::Transport {
            url: realm.clone(),
            message: err.to_string(),
        })?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(status_error(realm, status, response));
        }
        let text = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(|err| RequestError::Transport {
                url: realm.clone(),
                message: format!("failed to read the token response: {err}"),
            })?;
        let body: serde_json::Value =
            serde_json::from_slice(&text).map_err(|err| RequestError::Transport {
                url: realm.clone(),
                message: format!("invalid token response: {err}"),
            })?;
        body.get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .ok_or_else(|| RequestError::Transport {
                url: realm,
                message: "the token response has no token".into(),
            })
    }

    /// Opens a blob for streaming, resuming with `Range` requests when the connection drops.
    pub fn open_blob(&self, digest: &str) -> Result<ResumableBlob<'_>, RequestError> {
        let path = format!("/v2/{}/blobs/{digest}", self.repository);
        let response = self.get(&path, None, None)?;
        Ok(ResumableBlob {
            client: self,
            path,
            reader: Some(Box::new(
                response
                    .into_body()
                    .into_with_config()
                    .limit(u64::MAX)
                    .reader(),
            )),
            offset: 0,
            resumes: 0,
        })
    }
}

fn basic_header(username: &str, password: &str) -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {encoded}")
}

fn header(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Builds a status error with the first error code of an OCI error body, when present.
fn status_error(
    url: String,
    status: u16,
    mut response: ureq::http::Response<ureq::Body>,
) -> RequestError {
    let body: Option<serde_json::Value> = response
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_vec()
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let code = body
        .as_ref()
        .and_then(|b| b.get("errors"))
        .and_then(|e| e.get(0))
        .and_then(|e| e.get("code"))
        .and_then(|c| c.as_str())
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    RequestError::Status {
        url,
        status,
        detail: code,
    }
}

/// A blob download that reconnects from the last byte received when the connection drops,
/// up to the client's retry count.
pub struct ResumableBlob<'a> {
    client: &'a Client,
    path: String,
    reader: Option<Box<dyn Read + Send + 'a>>,
    offset: u64,
    resumes: u32,
}

impl ResumableBlob<'_> {
    fn resume(&mut self) -> io::Result<()> {
        let response = self
            .client
            .get(&self.path, None, Some(self.offset))
            .map_err(|err| io::Error::other(err.to_string()))?;
        let status = response.status().as_u16();
        let mut reader: Box<dyn Read + Send> = Box::new(
            response
                .into_body()
                .into_with_config()
                .limit(u64::MAX)
                .reader(),
        );
        if status == 200 {
            // The server ignored the range: skip what was already read.
            io::copy(&mut (&mut reader).take(self.offset), &mut io::sink())?;
        }
        self.reader = Some(reader);
        Ok(())
    }
}

impl Read for ResumableBlob<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(reader) = self.reader.as_mut() else {
                return Ok(0);
            };
            match reader.read(buf) {
                Ok(n) => {
                    self.offset += n as u64;
                    return Ok(n);
                }
                Err(err) if self.resumes < self.client.retries => {
                    self.resumes += 1;
                    tracing::warn!(path = %self.path, offset = self.offset, error = %err, attempt = self.resumes, "blob download interrupted; resuming");
                    self.reader = None;
                    std::thread::sleep(backoff(self.resumes - 1, None));
                    self.resume()?;
                }
                Err(err) => return Err(err),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge_is_parsed() {
        let challenge = parse_challenge(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/app:pull""#,
        )
        .unwrap();
        assert_eq!(challenge.scheme, "bearer");
        assert_eq!(
            challenge.param("realm"),
            Some("https://auth.example.com/token")
        );
        assert_eq!(challenge.param("service"), Some("registry.example.com"));
        assert_eq!(challenge.param("scope"), Some("repository:team/app:pull"));
    }

    #[test]
    fn basic_challenge_is_parsed() {
        let challenge = parse_challenge(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(challenge.scheme, "basic");
        assert_eq!(challenge.param("realm"), Some("Registry Realm"));
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        assert_eq!(backoff(0, Some("2")), Duration::from_secs(2));
        assert_eq!(backoff(0, Some("3600")), Duration::from_secs(30));
        assert_eq!(backoff(2, None), Duration::from_millis(2000));
    }

    #[test]
    fn host_of_strips_scheme_and_path() {
        assert_eq!(
            host_of("https://r.example.com:5000/v2/x"),
            "r.example.com:5000"
        );
        assert_eq!(host_of("http://127.0.0.1:9/"), "127.0.0.1:9");
    }
}
