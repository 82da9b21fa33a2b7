//! Checks on a matched secret that a regex cannot express: decoding a JSON Web Token's header
//! and claims to tell a private token from a public or documented one.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// The header and claims of a compact JWT, when both decode to JSON objects.
struct Jwt {
    header: serde_json::Map<String, Value>,
    claims: serde_json::Map<String, Value>,
}

fn decode_segment(segment: &str) -> Option<serde_json::Map<String, Value>> {
    // Some encoders keep the `=` padding that RFC 7515 drops.
    let bytes = URL_SAFE_NO_PAD.decode(segment.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

fn decode_jwt(token: &str) -> Option<Jwt> {
    let mut parts = token.split('.');
    let header = decode_segment(parts.next()?)?;
    let claims = decode_segment(parts.next()?)?;
    parts.next()?;
    Some(Jwt { header, claims })
}

fn claim<'a>(jwt: &'a Jwt, name: &str) -> Option<&'a str> {
    jwt.claims.get(name).and_then(Value::as_str)
}

/// Returns whether a JWT is the example token of jwt.io and RFC-style tutorials
/// (`"sub": "1234567890"`, `"name": "John Doe"`), which documentation everywhere copies.
fn is_tutorial_jwt(jwt: &Jwt) -> bool {
    claim(jwt, "sub") == Some("1234567890") && claim(jwt, "name") == Some("John Doe")
}

/// Returns whether a token is a Supabase `service_role` key, which bypasses row-level
/// security. The keys of Supabase's local development stack (issuer `supabase-demo`) are
/// published in its documentation and are not secrets.
pub fn is_supabase_service_role_jwt(token: &str) -> bool {
    let Some(jwt) = decode_jwt(token) else {
        return false;
    };
    claim(&jwt, "role") == Some("service_role") && claim(&jwt, "iss") != Some("supabase-demo")
}

/// Returns whether a token is a real JWT worth reporting: its header names an `alg`, and it
/// is neither a tutorial example nor a key meant to be public (Supabase `anon` keys ship in
/// browser bundles by design).
pub fn is_private_jwt(token: &str) -> bool {
    let Some(jwt) = decode_jwt(token) else {
        return false;
    };
    if !jwt.header.contains_key("alg") || is_tutorial_jwt(&jwt) {
        return false;
    }
    let role = claim(&jwt, "role");
    !(role == Some("anon") || claim(&jwt, "iss") == Some("supabase-demo"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    fn token(claims: &str) -> String {
        format!(
            "{}.{}.{}",
            encode(r#"{"alg":"HS256","typ":"JWT"}"#),
            encode(claims),
            "c2lnbmF0dXJlLWJ5dGVzLWhlcmUtMTIzNDU2"
        )
    }

    #[test]
    fn service_role_is_recognised() {
        let key = token(r#"{"iss":"supabase","ref":"qwertyuiopasdfgh","role":"service_role"}"#);
        assert!(is_supabase_service_role_jwt(&key));
        assert!(is_private_jwt(&key));
    }

    #[test]
    fn anon_and_demo_keys_are_public() {
        let anon = token(r#"{"iss":"supabase","ref":"qwertyuiopasdfgh","role":"anon"}"#);
        assert!(!is_supabase_service_role_jwt(&anon));
        assert!(!is_private_jwt(&anon));
        let demo = token(r#"{"iss":"supabase-demo","role":"service_role"}"#);
        assert!(!is_supabase_service_role_jwt(&demo));
        assert!(!is_private_jwt(&demo));
    }

    #[test]
    fn tutorial_token_is_not_private() {
        let example = token(r#"{"sub":"1234567890","name":"John Doe","iat":1516239022}"#);
        assert!(!is_private_jwt(&example));
    }

    #[test]
    fn non_json_segments_are_rejected() {
        assert!(!is_private_jwt(
            "eyJub3QganNvbg.eyJhbHNvIG5vdA.c2lnbmF0dXJl"
        ));
        assert!(!is_private_jwt("not-a-token"));
    }

    #[test]
    fn padded_segments_decode() {
        let padded = format!(
            "{}=.{}.c2ln",
            encode(r#"{"alg":"RS256"}"#),
            encode(r#"{"sub":"svc"}"#)
        );
        assert!(is_private_jwt(&padded));
    }
}
