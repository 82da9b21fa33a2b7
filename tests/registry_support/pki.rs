//! Throwaway keys and certificates made with the `openssl` command: a CA and a server
//! certificate for 127.0.0.1, and an RSA key that signs RS256 bearer tokens.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// Runs `openssl ARGS` in `dir`, feeding `input` on stdin, and returns its stdout.
pub fn openssl(dir: &Path, args: &[&str], input: Option<&[u8]>) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl runs (Debian package openssl)");
    let mut stdin = child.stdin.take().unwrap();
    if let Some(input) = input {
        stdin.write_all(input).unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// A CA certificate and a server certificate it signed, valid for IP 127.0.0.1.
pub struct Tls {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

/// Generates a P-256 CA and a server certificate with `subjectAltName = IP:127.0.0.1`,
/// valid for two days, under `dir`.
pub fn make_tls(dir: &Path) -> Tls {
    std::fs::create_dir_all(dir).unwrap();
    let p256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    let mut ca_args = vec!["req", "-x509", "-nodes", "-days", "2"];
    ca_args.extend(p256);
    ca_args.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-subj",
        "/CN=imgaudit test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca_args, None);

    let mut request_args = vec!["req", "-nodes"];
    request_args.extend(p256);
    request_args.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(dir, &request_args, None);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName = IP:127.0.0.1\n\
         basicConstraints = critical,CA:FALSE\n\
         keyUsage = critical,digitalSignature\n\
         extendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
        None,
    );
    Tls {
        ca_cert: dir.join("ca.crt"),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
    }
}

/// An RSA key and its self-signed certificate, which the registry trusts as
/// `auth.token.rootcertbundle`.
pub struct SigningKey {
    dir: PathBuf,
    pub cert: PathBuf,
    /// The certificate in DER, base64 (standard alphabet), as a JWT `x5c` entry.
    cert_der_base64: String,
}

/// Generates a 2048-bit RSA key and a self-signed certificate for it under `dir`.
pub fn make_signing_key(dir: &Path) -> SigningKey {
    std::fs::create_dir_all(dir).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-nodes",
            "-newkey",
            "rsa:2048",
            "-days",
            "2",
            "-keyout",
            "token.key",
            "-out",
            "token.crt",
            "-subj",
            "/CN=imgaudit test token issuer",
        ],
        None,
    );
    let der = openssl(dir, &["x509", "-in", "token.crt", "-outform", "DER"], None);
    SigningKey {
        dir: dir.to_owned(),
        cert: dir.join("token.crt"),
        cert_der_base64: STANDARD.encode(der),
    }
}

impl SigningKey {
    /// Returns a compact JWT with `claims`, signed RS256 (`openssl dgst -sha256 -sign`, which
    /// writes a PKCS #1 v1.5 signature), whose header carries the certificate in `x5c`.
    pub fn sign_jwt(&self, claims: &Value) -> String {
        let header = json!({"typ": "JWT", "alg": "RS256", "x5c": [self.cert_der_base64]});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
        );
        let signature = openssl(
            &self.dir,
            &["dgst", "-sha256", "-sign", "token.key"],
            Some(signing_input.as_bytes()),
        );
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}
