//! The image config: oci-spec's `ImageConfiguration` shape, Docker's extra keys and whatever
//! else a config holds (kept in `extra`), with Docker's [`Config`] as its `config`.
//!
//! A config that came from a registry or an archive is never written again from this type (its
//! digest is its bytes): only the configs berth makes (img-import, img-commit) are, and those
//! are written with their keys sorted ([`canonical_json`]), so field order does not matter.

use oci_spec::image::{History, RootFs};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::config::{Config, Nullable};
use crate::digest::Digest;

/// An image config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Required: `check_config` refuses a config without it.
    #[serde(default)]
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Required: `check_config` refuses a config without it.
    #[serde(default)]
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    /// The run config; `Some(None)` is a `null` one.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub config: Nullable<Config>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<RootFs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<History>>,
    /// Docker's: the ID of the container the image was committed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Docker's: that container's config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_config: Option<Config>,
    /// Docker's: the version of the daemon that made the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
    /// Keys this type does not know, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl ImageConfig {
    /// Reads a config berth checked with `check_config`.
    pub fn from_value(v: Value) -> std::result::Result<ImageConfig, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    /// The run config (Cmd, Env, …), if the config has one.
    pub fn run_config(&self) -> Option<&Config> {
        self.config.as_ref().and_then(Option::as_ref)
    }

    /// The run config to change, made an empty object if it is absent or null.
    pub fn run_config_mut(&mut self) -> &mut Config {
        self.config
            .get_or_insert(None)
            .get_or_insert_with(Config::default)
    }

    /// The uncompressed layer digests (`rootfs.diff_ids`).
    pub fn diff_ids(&self) -> &[String] {
        self.rootfs
            .as_ref()
            .map(|r| r.diff_ids().as_slice())
            .unwrap_or(&[])
    }

    /// Appends a layer's diffID to `rootfs` (made `{"type": "layers"}` if absent).
    pub fn push_diff_id(&mut self, diff_id: &Digest) {
        let rootfs = self.rootfs.get_or_insert_with(RootFs::default);
        rootfs.set_typ("layers".to_string());
        rootfs.diff_ids_mut().push(diff_id.to_string());
    }

    /// The JSON the config is written as.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("an image config serialises")
    }
}

/// The checks an image config must pass before berth uses it.
pub(crate) fn check_config(config: &Value) -> std::result::Result<(), String> {
    let obj = config.as_object().ok_or("not a JSON object")?;
    for key in ["architecture", "os"] {
        if !obj.get(key).is_some_and(Value::is_string) {
            return Err(format!("missing {key:?}"));
        }
    }
    let diff_ids = config
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .ok_or("missing rootfs.diff_ids")?;
    for d in diff_ids {
        let s = d.as_str().ok_or("a diff_id is not a string")?;
        Digest::parse(s).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_docker_config_reads_and_writes_back_the_same_content() {
        let v = json!({
            "architecture": "amd64",
            "config": {"Hostname": "", "Cmd": null, "Env": ["PATH=/bin"], "Image": "sha256:ab"},
            "container": "0123",
            "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) CMD"]},
            "created": "2024-01-01T00:00:00Z",
            "docker_version": "24.0.7",
            "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "x", "empty_layer": true}],
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": ["sha256:aa"]},
            "moby.buildkit.buildinfo.v1": "e30=",
        });
        let c = ImageConfig::from_value(v.clone()).unwrap();
        assert_eq!(c.run_config().unwrap().cmd, Some(None));
        assert_eq!(c.diff_ids(), ["sha256:aa"]);
        assert_eq!(c.to_value(), v);
    }

    #[test]
    fn a_null_run_config_stays_null() {
        let v = json!({"architecture": "amd64", "os": "linux", "config": null,
                       "rootfs": {"type": "layers", "diff_ids": []}});
        let mut c = ImageConfig::from_value(v.clone()).unwrap();
        assert_eq!(c.run_config(), None);
        assert_eq!(c.to_value(), v);
        c.run_config_mut().user = Some("u".into());
        assert_eq!(c.to_value()["config"], json!({"User": "u"}));
    }
}
