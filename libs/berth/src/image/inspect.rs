//! What `img-inspect` and `img-history` show of an image.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digest::Digest;

use super::*;
use crate::config::Config;

/// The image as `docker image inspect` shows it.
pub fn inspect(catalog: &Catalog, image: &Image) -> Value {
    let id = image.id();
    let entries: Vec<&Entry> = catalog.entries_of(id).collect();
    let mut tags: Vec<String> = entries.iter().filter_map(|e| e.familiar()).collect();
    tags.sort();
    tags.dedup();
    let mut repo_digests: Vec<String> = entries
        .iter()
        .filter_map(|e| e.reference.as_ref())
        .map(|r| format!("{}@{}", r.familiar_name(), image.digest))
        .collect();
    repo_digests.sort();
    repo_digests.dedup();
    let last_tag = entries
        .iter()
        .filter_map(|e| e.tag_time())
        .max()
        .unwrap_or("");
    // Docker prints the image's run config with Go's zero values for what it lacks, and none
    // of the container-only fields (Hostname, Image…) an image config may carry.
    let c = image.run_config();
    let config = Config {
        user: c.user.clone(),
        exposed_ports: c.exposed_ports.clone(),
        env: c.env.clone(),
        cmd: c.cmd.clone(),
        healthcheck: c.healthcheck.clone(),
        args_escaped: c.args_escaped,
        volumes: c.volumes.clone(),
        working_dir: c.working_dir.clone(),
        entrypoint: c.entrypoint.clone(),
        on_build: c.on_build.clone(),
        labels: c.labels.clone(),
        stop_signal: c.stop_signal.clone(),
        stop_timeout: c.stop_timeout,
        shell: c.shell.clone(),
        ..Config::default()
    }
    .with_docker_defaults();
    let cfg = &image.config;
    let inspected = InspectImage {
        id: id.to_string(),
        repo_tags: tags,
        repo_digests,
        parent: String::new(),
        comment: history_comment(cfg),
        created: cfg.created.clone().unwrap_or_default(),
        docker_version: cfg.docker_version.clone().unwrap_or_default(),
        author: cfg.author.clone().unwrap_or_default(),
        config,
        architecture: cfg.architecture.clone(),
        variant: cfg.variant.clone(),
        os: cfg.os.clone(),
        os_version: cfg.os_version.clone(),
        size: image.size(),
        root_fs: InspectRootFs {
            typ: "layers".into(),
            layers: image.diff_ids(),
        },
        metadata: InspectMetadata {
            last_tag_time: last_tag.to_string(),
        },
        descriptor: InspectDescriptor {
            media_type: image.media_type.clone(),
            digest: image.digest.to_string(),
        },
    };
    serde_json::to_value(inspected).expect("an inspected image serialises")
}

/// An image as `docker image inspect` prints it (what [`inspect`] returns, as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectImage {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub parent: String,
    pub comment: String,
    pub created: String,
    pub docker_version: String,
    pub author: String,
    pub config: Config,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    pub size: u64,
    #[serde(rename = "RootFS")]
    pub root_fs: InspectRootFs,
    pub metadata: InspectMetadata,
    pub descriptor: InspectDescriptor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectRootFs {
    #[serde(rename = "Type")]
    pub typ: String,
    pub layers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectMetadata {
    pub last_tag_time: String,
}

/// The image's `index.json` entry (lower-case keys, as an OCI descriptor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InspectDescriptor {
    pub media_type: String,
    pub digest: String,
}

/// Docker's image Comment: the comment of the last history entry.
fn history_comment(cfg: &ImageConfig) -> String {
    cfg.history
        .as_ref()
        .and_then(|h| h.last())
        .and_then(|h| h.comment().clone())
        .unwrap_or_default()
}

/// One line of `img-history`'s JSON, as `docker history --format json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryLine {
    pub comment: String,
    pub created_at: String,
    pub created_by: String,
    pub created_since: String,
    #[serde(rename = "ID")]
    pub id: String,
    pub size: String,
}

/// One row of `img-history`, newest first.
#[derive(Debug, Clone)]
pub struct HistoryRow {
    /// The image ID for the newest row, None (`<missing>`) for the others, as Docker shows.
    pub id: Option<Digest>,
    pub created: Option<String>,
    pub created_by: String,
    pub size: u64,
    pub comment: String,
    pub empty_layer: bool,
}

/// The image's history paired with its layers, newest first.
pub fn history(image: &Image) -> Vec<HistoryRow> {
    let layers = image.manifest.layers();
    let mut layer_iter = layers.iter();
    let mut rows = Vec::new();
    let hist = image.config.history.as_deref().unwrap_or_default();
    for h in hist {
        let empty = h.empty_layer().unwrap_or(false);
        let size = if empty {
            0
        } else {
            layer_iter.next().map(|l| l.size()).unwrap_or(0)
        };
        rows.push(HistoryRow {
            id: None,
            created: h.created().clone(),
            created_by: h.created_by().clone().unwrap_or_default(),
            size,
            comment: h.comment().clone().unwrap_or_default(),
            empty_layer: empty,
        });
    }
    // Layers with no history entry (configs written without history) still show.
    for l in layer_iter {
        rows.push(HistoryRow {
            id: None,
            created: None,
            created_by: String::new(),
            size: l.size(),
            comment: String::new(),
            empty_layer: false,
        });
    }
    rows.reverse();
    if let Some(first) = rows.first_mut() {
        first.id = Some(image.id().clone());
    }
    rows
}
