//! Content digests (`algorithm:hex`) and a reader that verifies a blob's size and digest while
//! it streams, so that no blob is scanned as if it were valid when its bytes do not match.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use sha2::{Digest as _, Sha256, Sha512};

/// A validated content digest as defined by the OCI image spec (descriptor `digest` field).
///
/// Only `sha256` and `sha512` are accepted because they are the two registered algorithms;
/// the hex part must be lowercase and of the algorithm's exact length.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(into = "String")]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid digest {value:?}: {reason}")]
pub struct InvalidDigest {
    pub value: String,
    pub reason: &'static str,
}

impl Digest {
    /// Builds a sha256 digest from the raw hash output.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        Digest {
            algorithm: Algorithm::Sha256,
            hex: hex::encode(Sha256::digest(bytes)),
        }
    }

    pub fn algorithm(&self) -> &'static str {
        self.algorithm.name()
    }

    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// Shortens the digest for tables: `sha256:0123456789ab`.
    pub fn short(&self) -> String {
        format!("{}:{}", self.algorithm.name(), &self.hex[..12])
    }

    /// Parses the hex part alone as a sha256 digest (blob file names, Docker image ids).
    pub fn from_sha256_hex(hex: &str) -> Result<Digest, InvalidDigest> {
        format!("sha256:{hex}").parse()
    }
}

impl FromStr for Digest {
    type Err = InvalidDigest;

    fn from_str(value: &str) -> Result<Digest, InvalidDigest> {
        let invalid = |reason| InvalidDigest {
            value: value.chars().take(200).collect(),
            reason,
        };
        let (algorithm, hex) = value
            .split_once(':')
            .ok_or_else(|| invalid("expected algorithm:hex"))?;
        let algorithm = match algorithm {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(invalid("unsupported algorithm, expected sha256 or sha512")),
        };
        if hex.len() != algorithm.hex_len() {
            return Err(invalid("hex part has the wrong length for its algorithm"));
        }
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(invalid("hex part must be lowercase hexadecimal"));
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_owned(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl From<Digest> for String {
    fn from(digest: Digest) -> String {
        digest.to_string()
    }
}

enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    fn finish_hex(self) -> String {
        match self {
            Hasher::Sha256(h) => hex::encode(h.finalize()),
            Hasher::Sha512(h) => hex::encode(h.finalize()),
        }
    }
}

/// A blob's bytes did not match what its descriptor promised.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("size mismatch: descriptor says {expected} bytes, blob has {found}")]
    Size { expected: u64, found: u64 },
    #[error("digest mismatch: expected {expected}, found {found}")]
    Digest { expected: Digest, found: String },
}

/// Wraps a reader, hashing every byte that passes through it.
///
/// When an expected size is given, reading past it fails at once with `VerifyError::Size`, so a
/// blob far larger than its descriptor is never read to the end. Call [`finish`](Self::finish)
/// after the consumer is done: it drains what the consumer left unread and compares digests.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Option<Hasher>,
    expected_digest: Digest,
    expected_size: Option<u64>,
    read: u64,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, expected_digest: Digest, expected_size: Option<u64>) -> Self {
        VerifyingReader {
            inner,
            hasher: Some(Hasher::new(expected_digest.algorithm)),
            expected_digest,
            expected_size,
            read: 0,
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// Reads the rest of the blob and checks its size and digest.
    pub fn finish(mut self) -> Result<u64, io::Error> {
        io::copy(&mut self, &mut io::sink())?;
        if let Some(expected) = self.expected_size
            && expected != self.read
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                VerifyError::Size {
                    expected,
                    found: self.read,
                },
            ));
        }
        let found = self
            .hasher
            .take()
            .map(Hasher::finish_hex)
            .unwrap_or_default();
        if found != self.expected_digest.hex {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                VerifyError::Digest {
                    expected: self.expected_digest.clone(),
                    found: format!("{}:{found}", self.expected_digest.algorithm()),
                },
            ));
        }
        Ok(self.read)
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if let Some(expected) = self.expected_size
            && self.read > expected
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                VerifyError::Size {
                    expected,
                    found: self.read,
                },
            ));
        }
        if let Some(hasher) = self.hasher.as_mut() {
            hasher.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// Wraps a reader and computes the sha256 of everything read through it, for streams whose
/// expected digest is known only later (a piped archive lists its manifest after its layers).
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            read: 0,
        }
    }

    /// Reads the rest of the stream and returns its digest and length.
    pub fn finish(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        let digest = Digest {
            algorithm: Algorithm::Sha256,
            hex: hex::encode(self.hasher.finalize()),
        };
        Ok((digest, self.read))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parse_accepts_sha256() {
        let digest: Digest = EMPTY_SHA256.parse().unwrap();
        assert_eq!(digest.algorithm(), "sha256");
        assert_eq!(digest.to_string(), EMPTY_SHA256);
    }

    #[test]
    fn parse_rejects_malformed() {
        for bad in [
            "",
            "sha256",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "sha256:abc",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:../../../../etc/passwd0000000000000000000000000000000000000000",
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn verifier_accepts_matching_blob() {
        let digest = Digest::sha256_of(b"hello");
        let reader = VerifyingReader::new(&b"hello"[..], digest, Some(5));
        assert_eq!(reader.finish().unwrap(), 5);
    }

    #[test]
    fn verifier_rejects_wrong_digest() {
        let digest = Digest::sha256_of(b"hello");
        let reader = VerifyingReader::new(&b"hellO"[..], digest, Some(5));
        let err = reader.finish().unwrap_err();
        assert!(err.to_string().contains("digest mismatch"), "{err}");
    }

    #[test]
    fn verifier_stops_at_declared_size() {
        let digest = Digest::sha256_of(b"hello");
        let mut reader = VerifyingReader::new(&b"hello world"[..], digest, Some(5));
        let mut out = Vec::new();
        let err = reader.read_to_end(&mut out).unwrap_err();
        assert!(err.to_string().contains("size mismatch"), "{err}");
    }

    #[test]
    fn hashing_reader_matches_direct_hash() {
        let reader = HashingReader::new(&b"hello"[..]);
        let (digest, len) = reader.finish().unwrap();
        assert_eq!(digest, Digest::sha256_of(b"hello"));
        assert_eq!(len, 5);
    }

    #[test]
    fn verifier_rejects_short_blob() {
        let digest = Digest::sha256_of(b"hello");
        let reader = VerifyingReader::new(&b"hell"[..], digest, Some(5));
        assert!(reader.finish().unwrap_err().to_string().contains("size"));
    }
}
