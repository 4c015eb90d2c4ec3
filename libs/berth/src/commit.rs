//! A new image from a directory of changes on top of an image, as `docker commit`: the changes
//! become a layer, the config and history say so, the image is stored (and tagged). img-commit
//! uses it for a container's changes or any directory; the builder, for each step.

use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, HistoryBuilder, RootFs};

use crate::config::Config;
use crate::container::pause;
use crate::diff;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image::{self, ImageConfig, Platform};
use crate::layer::{Codec, NewLayer};
use crate::reference::Reference;
use crate::root::Root;
use crate::store::Layout;

/// The container a commit takes its changes from.
pub struct FromContainer<'a> {
    pub id: &'a str,
    /// Its Docker config: the keys `docker commit` carries into the image's config come from it.
    pub config: &'a Config,
    /// Its command (path and arguments), the history's `created_by`.
    pub command: String,
    /// Pause it while its changes are read (it is running and the user did not say no).
    pub pause: bool,
    /// Its lower directories, top first (its init layer and its image's snapshots).
    pub lower: Vec<PathBuf>,
}

/// What to commit.
pub struct Commit<'a> {
    /// The directory of changes (an overlayfs upper directory).
    pub upper: &'a Path,
    /// The image the changes apply to, as the user named it; none: FROM scratch.
    pub base: Option<&'a str>,
    pub container: Option<FromContainer<'a>>,
    pub author: Option<&'a str>,
    /// The history entry's comment.
    pub message: Option<&'a str>,
    /// `--change` instructions, applied after the container's config.
    pub changes: &'a [String],
    pub compression: Codec,
    /// The name to give the image; none: untagged.
    pub tag: Option<&'a Reference>,
}

/// What a commit made.
pub struct Committed {
    /// The new image's manifest.
    pub manifest: Descriptor,
    /// The image ID (its config's digest).
    pub id: Digest,
    /// The new layer; none when there was no change (the history entry is an `empty_layer`, as
    /// Docker 20.10 commits).
    pub layer: Option<NewLayer>,
}

/// Thaws the container it paused when dropped (also when the commit fails).
struct Paused<'a> {
    root: &'a Root,
    id: String,
}

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        if let Err(e) = pause::unpause(self.root, &self.id) {
            eprintln!("img-commit: warning: unpause container {}: {e}", self.id);
        }
    }
}

/// Commits `what` into `layout`. The caller holds the layout's writer guard, from before it
/// resolved anything it passes, so that no img-rm or prune deletes the base's layers meanwhile.
pub fn commit(root: &Root, layout: &Layout, what: &Commit) -> Result<Committed> {
    let (mut config, mut layers) = match what.base {
        None => {
            let p = Platform::host();
            let config = ImageConfig {
                architecture: p.architecture,
                os: p.os,
                variant: p.variant,
                rootfs: Some(RootFs::default()),
                ..ImageConfig::default()
            };
            (config, Vec::new())
        }
        Some(name) => {
            let (base_layout, catalog, idx) = image::open_named(layout, name)?;
            if base_layout.dir() != layout.dir() {
                return Err(Error::InvalidInput(format!(
                    "{name}: the base must be in the layout the image is written to"
                )));
            }
            let img = catalog.items[idx]
                .image
                .as_ref()
                .expect("open_named checks");
            // As the store enters every image: OCI media types (a base pulled with Docker's
            // gets their OCI names), so that the manifest written is the one skopeo reads at
            // `oci:ROOT/images:REF` and its digest the one img-commit prints.
            let layers = image::oci_layers(&img.manifest);
            (img.config.clone(), layers)
        }
    };
    let run = config.run_config_mut();
    if let Some(c) = &what.container {
        carry_container_config(run, c.config);
    }
    crate::change::apply(run, what.changes)?;
    // As Docker's: the container's ID and its config as it is (no --change).
    config.container = what.container.as_ref().map(|c| c.id.to_string());
    config.container_config = what.container.as_ref().map(|c| c.config.clone());

    let paused = match &what.container {
        Some(c) if c.pause => {
            pause::pause(root, c.id)?;
            Some(Paused {
                root,
                id: c.id.to_string(),
            })
        }
        _ => None,
    };
    // What the runtime made as mount points in a container without an init layer (one run
    // before berth made them, or of an image of 500 layers) is not a change.
    let skip = match &what.container {
        Some(c) => crate::container::changes::runtime_made(what.upper, &c.lower),
        None => Default::default(),
    };
    // As Docker 20.10: no change, no layer (an empty tar would be one).
    let layer = if diff::is_empty(what.upper, &skip)? {
        None
    } else {
        Some(diff::store_upper(
            layout,
            what.upper,
            &skip,
            what.compression,
            None,
        )?)
    };
    drop(paused);

    let now = image::now_rfc3339();
    config.created = Some(now.clone());
    config.author = what.author.map(str::to_string);
    if let Some(layer) = &layer {
        config.push_diff_id(&layer.diff_id);
    }
    let created_by = match &what.container {
        // As docker commit: the container's command.
        Some(c) => c.command.clone(),
        None => format!("img-commit --upper {}", what.upper.display()),
    };
    let mut entry = HistoryBuilder::default()
        .created(now)
        .created_by(created_by);
    if let Some(a) = what.author {
        entry = entry.author(a);
    }
    if let Some(m) = what.message {
        entry = entry.comment(m);
    }
    if layer.is_none() {
        entry = entry.empty_layer(true);
    }
    let entry = entry
        .build()
        .map_err(|e| Error::InvalidInput(format!("history: {e}")))?;
    config.history.get_or_insert_with(Vec::new).push(entry);
    if let Some(layer) = &layer {
        layers.push(layer.descriptor.clone());
    }
    let (manifest, id) = image::write_image(layout, &config, layers)?;
    match what.tag {
        None => image::add_untagged(layout, &manifest)?,
        Some(r) => image::tag(layout, r, &manifest)?,
    }
    Ok(Committed {
        manifest,
        id,
        layer,
    })
}

/// The image's config as `docker commit` (Docker 20.10) makes it: the container's config as a
/// whole (its Hostname, Image as the user named it, Attach*, Cmd, Env, Labels, ...), `--change`
/// applied after. The image's Shell and ONBUILD triggers go, as Docker's (a container has
/// neither); the container's Healthcheck (its flags merged with the image's) is kept,
/// the image's where the container has none.
fn carry_container_config(image: &mut Config, container: &Config) {
    let mut c = container.clone();
    if c.healthcheck.is_none() {
        c.healthcheck = image.healthcheck.take();
    }
    *image = c;
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_container_config_becomes_the_image_config() {
        let mut image: Config = serde_json::from_value(json!({
            "Cmd": ["old"], "Entrypoint": ["/e"], "User": "u", "Shell": ["/bin/ash"],
            "StopSignal": "SIGINT", "OnBuild": ["RUN true"],
            "Healthcheck": {"Test": ["CMD-SHELL", "true"]}
        }))
        .unwrap();
        let container: Config = serde_json::from_value(json!({
            "Hostname": "abc", "User": "", "Env": ["A=1"], "Cmd": ["new"], "Entrypoint": null,
            "Volumes": null, "WorkingDir": "", "Labels": {}, "Image": "x"
        }))
        .unwrap();
        carry_container_config(&mut image, &container);
        assert_eq!(
            serde_json::to_value(&image).unwrap(),
            json!({"Hostname": "abc", "User": "", "Env": ["A=1"], "Cmd": ["new"],
                   "Entrypoint": null, "Volumes": null, "WorkingDir": "", "Labels": {},
                   "Image": "x", "Healthcheck": {"Test": ["CMD-SHELL", "true"]}})
        );
    }
}
