//! Docker's `Config`: the run configuration of a container (`ctr-inspect`'s `Config`) and of an
//! image (the `config` object of an image config), the shape of Go's `container.Config`.
//!
//! Every field is optional, so that one type serves both the forms Docker writes:
//! - an image config's `config` omits what is not set: a field that is `None` is not written;
//! - `docker inspect` prints every field Go does not mark `omitempty`, empty or null:
//!   [`Config::with_docker_defaults`] fills those in before printing.
//!
//! The six fields Go prints as `null` when unset (`Env`, `Cmd`, `Volumes`, `Entrypoint`,
//! `OnBuild`, `Labels`) are [`Nullable`]: `None` is absent, `Some(None)` is an explicit `null`,
//! so a config read with `"Cmd": null` writes it back. Keys berth does not know are kept in
//! `extra` and written back.
//!
//! Fields serialise in Go's order (image configs are written with their keys sorted, see
//! [`crate::image::canonical_json`]).

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A field Go's JSON prints as `null` when unset: `None` absent, `Some(None)` null.
pub type Nullable<T> = Option<Option<T>>;

/// Go's `nat.PortSet` and the `Volumes` set: keys to empty objects, in the order they were added.
pub type Set = IndexMap<String, Empty>;

/// Go's `struct{}`: written as `{}`; whatever value a config has there (`{}`, `null`…) reads
/// as it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Empty {}

impl<'de> Deserialize<'de> for Empty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Empty {})
    }
}

/// Docker's `container.Config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_stdin: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_stdout: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_stderr: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<Set>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_stdin: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin_once: Option<bool>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub env: Nullable<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub cmd: Nullable<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub volumes: Nullable<Set>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub entrypoint: Nullable<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_disabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub on_build: Nullable<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub labels: Nullable<IndexMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    /// Keys this type does not know, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Docker's `HealthConfig` (durations in nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Reads a present field, `null` included, as `Some`: absent stays `None` (`#[serde(default)]`).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The slice a [`Nullable`] list holds, empty when absent or null.
pub fn list(v: &Nullable<Vec<String>>) -> &[String] {
    v.as_ref().and_then(Option::as_deref).unwrap_or(&[])
}

impl Config {
    /// The value of label `key`, if the config has labels and that one.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.as_ref()?.as_ref()?.get(key).map(String::as_str)
    }

    /// What `docker inspect` prints: the fields Go writes without `omitempty` filled with their
    /// zero value (`""`, `false`, `null`) when unset, in Go's order.
    pub fn with_docker_defaults(&self) -> Config {
        let mut c = self.clone();
        for s in [
            &mut c.hostname,
            &mut c.domainname,
            &mut c.user,
            &mut c.image,
            &mut c.working_dir,
        ] {
            s.get_or_insert_with(String::new);
        }
        for b in [
            &mut c.attach_stdin,
            &mut c.attach_stdout,
            &mut c.attach_stderr,
            &mut c.tty,
            &mut c.open_stdin,
            &mut c.stdin_once,
        ] {
            b.get_or_insert(false);
        }
        for l in [&mut c.env, &mut c.cmd, &mut c.entrypoint, &mut c.on_build] {
            l.get_or_insert(None);
        }
        c.volumes.get_or_insert(None);
        c.labels.get_or_insert(None);
        c
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unset_fields_are_not_written_and_nulls_survive() {
        let c: Config = serde_json::from_value(json!({"Cmd": null, "User": "x"})).unwrap();
        assert_eq!(c.cmd, Some(None));
        assert_eq!(c.entrypoint, None);
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"User":"x","Cmd":null}"#
        );
        assert_eq!(serde_json::to_string(&Config::default()).unwrap(), "{}");
    }

    #[test]
    fn unknown_keys_round_trip() {
        let text = r#"{"Hostname":"","ExposedPorts":{"90/tcp":{},"80/tcp":{}},"Env":["A=1"],"Cmd":["sh"],"Labels":{"b":"1","a":"2"},"Zzz":{"q":[1,2]}}"#;
        let c: Config = serde_json::from_str(text).unwrap();
        assert_eq!(c.extra["Zzz"], json!({"q": [1, 2]}));
        let odd: Config = serde_json::from_str(r#"{"Volumes":{"/v":null}}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&odd).unwrap(),
            r#"{"Volumes":{"/v":{}}}"#
        );
        assert_eq!(serde_json::to_string(&c).unwrap(), text);
    }

    #[test]
    fn docker_defaults_are_what_inspect_prints() {
        let c = Config {
            cmd: Some(Some(vec!["sh".into()])),
            stop_signal: Some("SIGTERM".into()),
            ..Config::default()
        };
        assert_eq!(
            serde_json::to_value(c.with_docker_defaults()).unwrap(),
            json!({
                "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false,
                "AttachStdout": false, "AttachStderr": false, "Tty": false, "OpenStdin": false,
                "StdinOnce": false, "Env": null, "Cmd": ["sh"], "Image": "", "Volumes": null,
                "WorkingDir": "", "Entrypoint": null, "OnBuild": null, "Labels": null,
                "StopSignal": "SIGTERM"
            })
        );
        assert_eq!(
            serde_json::to_string(&c.with_docker_defaults()).unwrap(),
            r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":["sh"],"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null,"StopSignal":"SIGTERM"}"#
        );
    }
}
