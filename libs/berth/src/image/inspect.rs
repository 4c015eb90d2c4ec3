//! What `img-inspect` and `img-history` show of an image.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::Layout;

use crate::digest::Digest;

use super::*;
use crate::config::Config;

/// A run config as Docker 20.10's `image inspect` prints `Config` and `ContainerConfig`: every
/// field of Docker's `container.Config` the stored config has (Hostname, Image… included, as
/// Docker parses the config into that struct), Go's zero values for the others, the `omitempty`
/// ones only when set, and nothing Docker's struct does not know.
pub fn docker_config(c: &Config) -> Config {
    let mut c = Config {
        extra: Default::default(),
        ..c.clone()
    }
    .with_docker_defaults();
    if c.args_escaped == Some(false) {
        c.args_escaped = None;
    }
    if c.network_disabled == Some(false) {
        c.network_disabled = None;
    }
    for s in [&mut c.mac_address, &mut c.stop_signal] {
        if s.as_deref() == Some("") {
            *s = None;
        }
    }
    if c.shell.as_ref().is_some_and(Vec::is_empty) {
        c.shell = None;
    }
    if c.exposed_ports.as_ref().is_some_and(|p| p.is_empty()) {
        c.exposed_ports = None;
    }
    c
}

/// The image as `docker image inspect` shows it. `snapshots` is the root's snapshot directory
/// when `layout` is the root's store (for GraphDriver), None for any other layout.
pub fn inspect(
    layout: &Layout,
    catalog: &Catalog,
    image: &Image,
    snapshots: Option<&Path>,
) -> Value {
    let id = image.id();
    let entries: Vec<&Entry> = catalog.entries_of(id).collect();
    let mut tags: Vec<String> = entries
        .iter()
        .filter(|e| e.reference.as_ref().is_none_or(|r| r.digest().is_none()))
        .filter_map(|e| e.familiar())
        .collect();
    tags.sort();
    tags.dedup();
    let repo_digests = repo_digests(layout, &entries);
    let last_tag = entries
        .iter()
        .filter_map(|e| e.tag_time())
        .max()
        .unwrap_or("");
    let cfg = &image.config;
    let size = image_size(layout, image);
    let inspected = InspectImage {
        id: id.to_string(),
        repo_tags: tags,
        repo_digests,
        parent: String::new(),
        comment: history_comment(cfg),
        created: cfg.created.clone().unwrap_or_default(),
        container: cfg.container.clone().unwrap_or_default(),
        container_config: docker_config(
            cfg.container_config.as_ref().unwrap_or(&Config::default()),
        ),
        docker_version: cfg.docker_version.clone().unwrap_or_default(),
        author: cfg.author.clone().unwrap_or_default(),
        config: docker_config(image.run_config()),
        architecture: cfg.architecture.clone(),
        variant: cfg.variant.clone(),
        os: cfg.os.clone(),
        os_version: cfg.os_version.clone(),
        size,
        virtual_size: size,
        graph_driver: graph_driver(image, snapshots),
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

/// Docker's RepoDigests: `repo@digest` for each repository the image was pulled from or pushed
/// to (see [`record_repo_digest`]) and still has a name in; a name pulled by digest is one.
/// Nothing for names that only exist here.
fn repo_digests(layout: &Layout, entries: &[&Entry]) -> Vec<String> {
    let repos: Vec<String> = entries
        .iter()
        .filter_map(|e| e.reference.as_ref())
        .map(|r| r.name())
        .collect();
    let mut out: Vec<String> = Vec::new();
    for e in entries {
        if let Some(r) = e.reference.as_ref().filter(|r| r.digest().is_some()) {
            out.push(r.familiar_string());
        }
        for r in recorded_repo_digests(layout, &e.original_digest()) {
            if repos.contains(&r.name()) {
                out.push(r.familiar_string());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Docker's GraphDriver: `overlay2` with the image's snapshot directories (`UpperDir` its top
/// layer, `LowerDir` the others, top first, as Docker's overlay2 shows an image's layers) when
/// they are all unpacked in the root; Data null otherwise (a layout that is not the store, an
/// image whose layers are not unpacked yet: ctr-create unpacks them). berth has no per-image
/// merged or work directory, so MergedDir and WorkDir are not shown.
fn graph_driver(image: &Image, snapshots: Option<&Path>) -> InspectGraphDriver {
    let data = snapshots.and_then(|dir| {
        let ids: Vec<Digest> = image
            .diff_ids()
            .iter()
            .filter_map(|d| Digest::parse(d).ok())
            .collect();
        let mut dirs: Vec<String> = crate::snapshot::chain_ids(&ids)
            .iter()
            .map(|c| dir.join(c.hex()))
            .map(|p| p.is_dir().then(|| p.display().to_string()))
            .collect::<Option<Vec<String>>>()?;
        let upper = dirs.pop()?;
        dirs.reverse();
        let mut m = BTreeMap::new();
        if !dirs.is_empty() {
            m.insert("LowerDir".to_string(), dirs.join(":"));
        }
        m.insert("UpperDir".to_string(), upper);
        Some(m)
    });
    InspectGraphDriver {
        data,
        name: "overlay2".into(),
    }
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
    pub container: String,
    pub container_config: Config,
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
    pub virtual_size: u64,
    pub graph_driver: InspectGraphDriver,
    #[serde(rename = "RootFS")]
    pub root_fs: InspectRootFs,
    pub metadata: InspectMetadata,
    pub descriptor: InspectDescriptor,
}

/// Docker's GraphDriver of an image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectGraphDriver {
    pub data: Option<BTreeMap<String, String>>,
    pub name: String,
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

/// The image's history paired with its layers, newest first; each row's size is its layer's
/// uncompressed size ([`layer_sizes`]), 0 for steps that made no layer.
pub fn history(layout: &Layout, image: &Image) -> Vec<HistoryRow> {
    let sizes = layer_sizes(layout, image);
    let mut layer_iter = sizes.iter().copied();
    let mut rows = Vec::new();
    let hist = image.config.history.as_deref().unwrap_or_default();
    for h in hist {
        let empty = h.empty_layer().unwrap_or(false);
        let size = if empty {
            0
        } else {
            layer_iter.next().unwrap_or(0)
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
    for size in layer_iter {
        rows.push(HistoryRow {
            id: None,
            created: None,
            created_by: String::new(),
            size,
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
