//! An optional on-disk cache of layer walks (`--cache-dir`), keyed by layer digest, so that
//! auditing many images that share a base reads only their own layers. A layer digest names
//! its content, so a cached walk stays valid for as long as the scan settings that produced it
//! (imgaudit version, secret rules and allowlists, limits) are the same: those settings are
//! hashed into the cache's namespace directory.
//!
//! Entries hold file metadata, facts and masked secret findings, never file contents other
//! than the few small files checks parse (`/etc/passwd`, os-release, package databases), and
//! never secret values.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::layer::LayerWalk;
use crate::source::LayerBlob;

/// Bumped whenever the cached format changes.
const CACHE_FORMAT: u32 = 1;

/// A directory of cached layer walks for one set of scan settings.
#[derive(Clone, Debug)]
pub struct LayerCache {
    dir: PathBuf,
}

impl LayerCache {
    /// Opens (and creates) the cache under `root` for scans configured as `settings`, a
    /// stable description of everything besides the layer that shapes a walk.
    pub fn open(root: &Path, settings: &str) -> std::io::Result<LayerCache> {
        let key = format!("{CACHE_FORMAT}\n{}\n{settings}", env!("CARGO_PKG_VERSION"));
        let digest = crate::digest::Digest::sha256_of(key.as_bytes());
        let namespace = &digest.hex()[..16];
        let dir = root.join(format!("layers-v{CACHE_FORMAT}-{namespace}"));
        std::fs::create_dir_all(&dir)?;
        Ok(LayerCache { dir })
    }

    fn path(&self, blob: &LayerBlob) -> PathBuf {
        let stage = match blob.verify {
            crate::source::VerifyStage::Stored => "stored",
            crate::source::VerifyStage::Uncompressed => "diff",
        };
        self.dir.join(format!(
            "{}-{}-{stage}.json",
            blob.digest.algorithm(),
            blob.digest.hex()
        ))
    }

    /// Returns the cached walk of a layer, or `None` when it is absent or unreadable.
    pub fn get(&self, blob: &LayerBlob) -> Option<LayerWalk> {
        let path = self.path(blob);
        let bytes = std::fs::read(&path).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(walk) => {
                tracing::debug!(digest = %blob.digest, "layer read from the cache");
                Some(walk)
            }
            Err(err) => {
                tracing::warn!(file = %path.display(), error = %err, "ignoring an unreadable cache entry");
                None
            }
        }
    }

    /// Stores a walk; failures are logged and otherwise ignored, because the cache only saves
    /// time.
    pub fn put(&self, blob: &LayerBlob, walk: &LayerWalk) {
        let path = self.path(blob);
        let temporary = path.with_extension(format!("tmp{}", std::process::id()));
        let written = serde_json::to_vec(walk)
            .map_err(std::io::Error::other)
            .and_then(|bytes| {
                let mut file = std::fs::File::create(&temporary)?;
                file.write_all(&bytes)?;
                file.sync_all()
            })
            .and_then(|()| std::fs::rename(&temporary, &path));
        if let Err(err) = written {
            let _ = std::fs::remove_file(&temporary);
            tracing::warn!(file = %path.display(), error = %err, "failed to write a cache entry");
        }
    }
}

/// Serialises `Option<Arc<[u8]>>` file contents as base64 text, which is far smaller in JSON
/// than an array of numbers.
pub(crate) mod optional_bytes {
    use std::sync::Arc;

    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<Arc<[u8]>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => {
                serializer.serialize_some(&base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Arc<[u8]>>, D::Error> {
        let text: Option<String> = Option::deserialize(deserializer)?;
        text.map(|text| {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map(Arc::from)
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}
