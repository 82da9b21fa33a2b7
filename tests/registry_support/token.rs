//! A token issuer for the registry's bearer-token authentication, as Docker's token
//! specification describes it: `GET realm?service=…&scope=…` with optional basic credentials,
//! or `POST realm` with an OAuth2 refresh token. It returns a signed JWT whose `access` claim
//! lists the granted actions.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::http::{Request, decode_form};
use super::pki::SigningKey;
use super::server::{Action, TestServer};

/// `auth.token.service` of the test registry, and the `aud` claim of its tokens.
pub const SERVICE: &str = "imgaudit-test-registry";
/// `auth.token.issuer` of the test registry, and the `iss` claim of its tokens.
pub const ISSUER: &str = "imgaudit-test-issuer";

/// Who may get tokens that grant access.
#[derive(Clone)]
pub struct Accounts {
    pub username: String,
    pub password: String,
    /// Refresh token accepted by `POST` (what `identitytoken` contains in a Docker config).
    pub refresh_token: String,
}

/// A running token issuer.
pub struct TokenIssuer {
    server: TestServer,
    issued: Arc<Mutex<Vec<String>>>,
}

impl TokenIssuer {
    /// Starts the issuer on a free port of 127.0.0.1. Anonymous requests get a token that
    /// grants nothing (as Docker Hub does); wrong credentials get 401; valid ones get every
    /// action they ask for.
    pub fn start(key: SigningKey, accounts: Accounts) -> TokenIssuer {
        let issued = Arc::new(Mutex::new(Vec::new()));
        let server = {
            let issued = Arc::clone(&issued);
            let mut serial = 0u64;
            TestServer::start(None, move |request| {
                serial += 1;
                answer(&key, &accounts, request, serial, &issued)
            })
        };
        TokenIssuer { server, issued }
    }

    /// Returns the realm URL for the registry's config.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.server.host())
    }

    /// Returns the token requests received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.server.requests()
    }

    /// Returns every token issued so far.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.issued.lock().unwrap().clone()
    }
}

fn answer(
    key: &SigningKey,
    accounts: &Accounts,
    request: &Request,
    serial: u64,
    issued: &Mutex<Vec<String>>,
) -> Action {
    let denied = |reason: &str| {
        Action::respond(
            401,
            &[("Content-Type", "application/json")],
            json!({"details": reason}).to_string(),
        )
    };
    let (parameters, subject) = match request.method.as_str() {
        "GET" => {
            let subject = match request.header("authorization") {
                None => None,
                Some(header) if header == basic(&accounts.username, &accounts.password) => {
                    Some(accounts.username.clone())
                }
                Some(_) => return denied("invalid username or password"),
            };
            (request.query(), subject)
        }
        "POST" => {
            let form = decode_form(&String::from_utf8_lossy(&request.body));
            let refresh_token = parameter(&form, "refresh_token");
            if parameter(&form, "grant_type") != Some("refresh_token")
                || refresh_token != Some(accounts.refresh_token.as_str())
            {
                return denied("invalid refresh token");
            }
            (form, Some(accounts.username.clone()))
        }
        _ => return Action::respond(405, &[], ""),
    };

    // Anonymous callers get a valid token with no access, so the registry refuses them.
    let access: Vec<Value> = match &subject {
        None => Vec::new(),
        Some(_) => parameters
            .iter()
            .filter(|(name, _)| name == "scope")
            .filter_map(|(_, scope)| repository_access(scope))
            .collect(),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({
        "iss": ISSUER,
        "sub": subject.unwrap_or_default(),
        "aud": parameter(&parameters, "service").unwrap_or_default(),
        "exp": now + 300,
        "nbf": now - 60,
        "iat": now - 60,
        "jti": format!("imgaudit-test-{serial}"),
        "access": access,
    });
    let token = key.sign_jwt(&claims);
    issued.lock().unwrap().push(token.clone());
    Action::respond(
        200,
        &[("Content-Type", "application/json")],
        json!({"token": token, "access_token": token, "expires_in": 300}).to_string(),
    )
}

/// Turns `repository:team/app:pull,push` into an `access` claim entry.
fn repository_access(scope: &str) -> Option<Value> {
    let rest = scope.strip_prefix("repository:")?;
    let (name, actions) = rest.rsplit_once(':')?;
    let actions: Vec<&str> = actions.split(',').collect();
    Some(json!({"type": "repository", "name": name, "actions": actions}))
}

fn parameter<'a>(parameters: &'a [(String, String)], name: &str) -> Option<&'a str> {
    parameters
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// Returns the `Authorization` header value for basic credentials.
pub fn basic(username: &str, password: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{username}:{password}"))
    )
}
