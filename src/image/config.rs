//! The image configuration (`application/vnd.oci.image.config.v1+json` and Docker's
//! `container config`), typed but tolerant: real configs carry `null` lists, missing history
//! and Docker-only fields, and none of that may fail an audit.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// Deserialises `null` as the type's default, so `"Env": null` reads as an empty list.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ImageConfig {
    #[serde(default, deserialize_with = "null_as_default")]
    pub architecture: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub os: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub variant: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub created: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub config: ContainerConfig,
    #[serde(default, deserialize_with = "null_as_default")]
    pub rootfs: RootFs,
    #[serde(default, deserialize_with = "null_as_default")]
    pub history: Vec<History>,
}

/// The runtime part of the config. Field names are Docker's, which the OCI spec kept.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ContainerConfig {
    #[serde(rename = "User", default, deserialize_with = "null_as_default")]
    pub user: String,
    #[serde(rename = "Env", default, deserialize_with = "null_as_default")]
    pub env: Vec<String>,
    #[serde(rename = "Entrypoint", default, deserialize_with = "null_as_default")]
    pub entrypoint: Vec<String>,
    #[serde(rename = "Cmd", default, deserialize_with = "null_as_default")]
    pub cmd: Vec<String>,
    #[serde(rename = "WorkingDir", default, deserialize_with = "null_as_default")]
    pub working_dir: String,
    #[serde(rename = "Labels", default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "Shell", default, deserialize_with = "null_as_default")]
    pub shell: Vec<String>,
    /// Docker-only; kept so that it survives into the JSON report untouched.
    #[serde(
        rename = "Healthcheck",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub healthcheck: Option<serde_json::Value>,
    #[serde(rename = "StopSignal", default, deserialize_with = "null_as_default")]
    pub stop_signal: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct RootFs {
    #[serde(rename = "type", default, deserialize_with = "null_as_default")]
    pub kind: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub diff_ids: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct History {
    #[serde(default, deserialize_with = "null_as_default")]
    pub created: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub created_by: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub comment: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub empty_layer: bool,
}

impl ImageConfig {
    pub fn parse(bytes: &[u8]) -> Result<ImageConfig, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Value of an environment variable set in the config.
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.config.env.iter().find_map(|entry| {
            let (key, value) = entry.split_once('=')?;
            (key == name).then_some(value)
        })
    }

    /// The command the container runs: entrypoint followed by cmd.
    pub fn argv(&self) -> Vec<String> {
        self.config
            .entrypoint
            .iter()
            .chain(&self.config.cmd)
            .cloned()
            .collect()
    }

    /// Maps each layer to the history entry that made it.
    ///
    /// History lists every build step, with `empty_layer: true` for steps that made no layer
    /// (ENV, USER, …). When the non-empty entries do not pair one-to-one with the layers, the
    /// history is unreliable and every layer gets `None` rather than a wrong attribution.
    pub fn layer_history(&self, layer_count: usize) -> Vec<Option<&History>> {
        let layered: Vec<&History> = self.history.iter().filter(|h| !h.empty_layer).collect();
        if layered.len() != layer_count {
            if !self.history.is_empty() {
                tracing::debug!(
                    history = layered.len(),
                    layers = layer_count,
                    "history does not pair with layers; layer attribution disabled"
                );
            }
            return vec![None; layer_count];
        }
        layered.into_iter().map(Some).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_tolerates_nulls() {
        let config = ImageConfig::parse(
            br#"{"architecture":"amd64","os":"linux","config":{"Env":null,"Labels":null,"Cmd":null,"User":null},"history":null,"rootfs":{"type":"layers","diff_ids":null}}"#,
        )
        .unwrap();
        assert!(config.config.env.is_empty());
        assert!(config.config.labels.is_empty());
        assert!(config.history.is_empty());
        assert!(config.rootfs.diff_ids.is_empty());
    }

    #[test]
    fn parse_keeps_healthcheck() {
        let config = ImageConfig::parse(
            br#"{"config":{"Healthcheck":{"Test":["CMD","true"],"Interval":30000000000}}}"#,
        )
        .unwrap();
        assert!(config.config.healthcheck.is_some());
    }

    #[test]
    fn layer_history_skips_empty_layers() {
        let config = ImageConfig::parse(
            br#"{"history":[{"created_by":"ADD rootfs"},{"created_by":"ENV A=1","empty_layer":true},{"created_by":"COPY app"}]}"#,
        )
        .unwrap();
        let mapped = config.layer_history(2);
        assert_eq!(mapped[0].unwrap().created_by.as_deref(), Some("ADD rootfs"));
        assert_eq!(mapped[1].unwrap().created_by.as_deref(), Some("COPY app"));
    }

    #[test]
    fn layer_history_short_disables_attribution() {
        let config = ImageConfig::parse(br#"{"history":[{"created_by":"ADD rootfs"}]}"#).unwrap();
        assert!(config.layer_history(3).iter().all(Option::is_none));
    }

    #[test]
    fn env_var_finds_value() {
        let config =
            ImageConfig::parse(br#"{"config":{"Env":["PATH=/bin","NODE_VERSION=20.1.0"]}}"#)
                .unwrap();
        assert_eq!(config.env_var("NODE_VERSION"), Some("20.1.0"));
        assert_eq!(config.env_var("NODE"), None);
    }
}
