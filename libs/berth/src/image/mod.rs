//! Images in a layout: the entries of `index.json`, resolving what a user typed to one image,
//! reading manifests and configs, writing new images, tagging and removing.

mod catalog;
mod config;
mod inspect;
mod platform;
mod remove;
mod repo_digest;
mod size;
mod write;

pub use catalog::*;
pub use config::*;
pub use inspect::*;
pub use platform::*;
pub use remove::*;
pub use repo_digest::*;
pub use size::*;
pub use write::*;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};
use serde_json::Value;

use crate::config::Config;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::store::Layout;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// An image: one platform's manifest and its config.
#[derive(Debug, Clone)]
pub struct Image {
    /// The digest of the manifest, or the index for multi-platform images, the image came as:
    /// the `index.json` entry's, or its [`crate::store::ORIGINAL`] (the registry's manifest of
    /// which the entry is the OCI equivalent).
    pub digest: Digest,
    /// The media type of that manifest or index.
    pub media_type: String,
    pub manifest_digest: Digest,
    pub manifest: ImageManifest,
    /// The config's digest, which is the image ID (as Docker's IMAGE ID).
    pub config_digest: Digest,
    /// The config as stored (fields the types do not know are in its `extra` maps). Never
    /// written back: the config's bytes are its digest.
    pub config: ImageConfig,
}

impl Image {
    /// Loads the image an index entry points to, choosing `platform` (or the host's) from a
    /// multi-platform index.
    pub fn load(layout: &Layout, desc: &Descriptor, platform: Option<&Platform>) -> Result<Image> {
        let desc = &original_descriptor(layout, desc)?;
        let top = Digest::try_from(desc.digest())?;
        let top_media = desc.media_type().to_string();
        let mut digest = top.clone();
        let mut media = top_media.clone();
        for _ in 0..4 {
            let raw: Value = layout.read_json(&digest)?;
            let is_index = media == MediaType::ImageIndex.to_string()
                || media == DOCKER_MANIFEST_LIST
                || (raw.get("manifests").is_some() && raw.get("layers").is_none());
            if !is_index {
                let manifest: ImageManifest = serde_json::from_value(raw)
                    .map_err(|e| Error::corrupt(format!("manifest {digest}"), e))?;
                let config_digest = Digest::try_from(manifest.config().digest())?;
                let config: Value = layout.read_json(&config_digest)?;
                let config = check_config(&config)
                    .and_then(|()| ImageConfig::from_value(config))
                    .map_err(|why| Error::corrupt(format!("image config {config_digest}"), why))?;
                return Ok(Image {
                    digest: top,
                    media_type: top_media,
                    manifest_digest: digest,
                    manifest,
                    config_digest,
                    config,
                });
            }
            let index: ImageIndex = serde_json::from_value(raw)
                .map_err(|e| Error::corrupt(format!("image index {digest}"), e))?;
            let want = platform.cloned().unwrap_or_else(Platform::host);
            let chosen = select_platform(&index, &want).ok_or_else(|| {
                Error::ImageNotFound(format!(
                    "{top}: no manifest for platform {want} in the image index (it has {})",
                    list_platforms(&index)
                ))
            })?;
            digest = Digest::try_from(chosen.digest())?;
            media = chosen.media_type().to_string();
        }
        Err(Error::corrupt(
            format!("image index {top}"),
            "indexes nested more than four deep",
        ))
    }

    /// The image ID, as Docker shows it: `sha256:<hex>` of the config.
    pub fn id(&self) -> &Digest {
        &self.config_digest
    }

    /// The size of the image's layers as stored (compressed). What Docker shows as an image's
    /// size is uncompressed: [`image_size`].
    pub fn size(&self) -> u64 {
        self.manifest.layers().iter().map(|l| l.size()).sum()
    }

    pub fn created(&self) -> Option<&str> {
        self.config.created.as_deref()
    }

    pub fn architecture(&self) -> &str {
        &self.config.architecture
    }

    pub fn os(&self) -> &str {
        &self.config.os
    }

    /// The `config` object of the image config (Cmd, Env, …); empty when it has none.
    pub fn run_config(&self) -> &Config {
        static EMPTY: std::sync::OnceLock<Config> = std::sync::OnceLock::new();
        self.config
            .run_config()
            .unwrap_or_else(|| EMPTY.get_or_init(Config::default))
    }

    /// The uncompressed layer digests (`rootfs.diff_ids`).
    pub fn diff_ids(&self) -> Vec<String> {
        self.config.diff_ids().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::reference::Reference;
    use crate::store::{annotation, REF_NAME};

    fn layout() -> (tempfile::TempDir, Layout) {
        let t = tempfile::tempdir().unwrap();
        let l = Layout::open_or_create(t.path().join("images")).unwrap();
        (t, l)
    }

    fn config(n: u8) -> ImageConfig {
        ImageConfig::from_value(json!({"architecture": "amd64", "os": "linux",
               "rootfs": {"type": "layers", "diff_ids": [Digest::sha256_of(&[n]).to_string()]}}))
        .unwrap()
    }

    /// An image with one stored layer of content `[n; 10]`.
    fn image(l: &Layout, n: u8) -> Descriptor {
        let layer = l.put_blob_bytes(&[n; 10]).unwrap();
        let desc = Descriptor::new(MediaType::ImageLayer, 10, &layer);
        write_image(l, &config(n), vec![desc]).unwrap().0
    }

    fn r(s: &str) -> Reference {
        Reference::parse(s).unwrap().with_default_tag()
    }

    fn names(l: &Layout) -> Vec<String> {
        let mut v: Vec<String> = l
            .read_index()
            .unwrap()
            .manifests()
            .iter()
            .filter_map(|d| annotation(d, REF_NAME).map(str::to_string))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn tagging_refuses_an_image_with_any_blob_missing() {
        let (_t, l) = layout();
        let whole = image(&l, 1);
        tag(&l, &r("whole"), &whole).unwrap();
        let before = std::fs::read(l.index_path()).unwrap();

        // A layer that is not stored.
        let ghost = Digest::sha256_of(b"never stored");
        let (no_layer, _) = write_image(
            &l,
            &config(2),
            vec![Descriptor::new(MediaType::ImageLayerGzip, 5, &ghost)],
        )
        .unwrap();
        let err = tag(&l, &r("a"), &no_layer).unwrap_err().to_string();
        assert!(
            err.contains(&format!("its layer {ghost} is missing")),
            "{err}"
        );
        assert!(
            err.contains("(to be tagged docker.io/library/a:latest)"),
            "{err}"
        );
        assert!(add_untagged(&l, &no_layer).is_err());

        // A config that is gone.
        let no_config = image(&l, 3);
        let img = Image::load(&l, &no_config, None).unwrap();
        l.remove_blob(img.id()).unwrap();
        let err = tag(&l, &r("b"), &no_config).unwrap_err().to_string();
        assert!(err.contains("its config"), "{err}");

        // A manifest that is gone.
        let no_manifest = image(&l, 4);
        l.remove_blob(&Digest::try_from(no_manifest.digest()).unwrap())
            .unwrap();
        let err = tag(&l, &r("c"), &no_manifest).unwrap_err().to_string();
        assert!(err.contains("its manifest"), "{err}");
        assert!(err.starts_with("no such image: "), "{err}");

        assert_eq!(
            std::fs::read(l.index_path()).unwrap(),
            before,
            "nothing written"
        );

        // A foreign layer may be left out, as registries and skopeo leave it out.
        let foreign =
            MediaType::Other("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip".into());
        let (windows, _) =
            write_image(&l, &config(5), vec![Descriptor::new(foreign, 5, &ghost)]).unwrap();
        tag(&l, &r("foreign"), &windows).unwrap();
        assert_eq!(
            names(&l),
            [
                "docker.io/library/foreign:latest",
                "docker.io/library/whole:latest"
            ]
        );
    }

    #[test]
    fn an_index_needs_one_whole_manifest() {
        let (_t, l) = layout();
        let m = image(&l, 1);
        let absent = Digest::sha256_of(b"other platform");
        let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1, "digest": absent.to_string()},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": m.size(), "digest": m.digest().to_string()},
        ]});
        let bytes = serde_json::to_vec(&index).unwrap();
        let d = l.put_blob_bytes(&bytes).unwrap();
        let desc = Descriptor::new(MediaType::ImageIndex, bytes.len() as u64, &d);
        tag(&l, &r("multi"), &desc).unwrap();
        l.remove_blob(&Digest::try_from(m.digest()).unwrap())
            .unwrap();
        let err = tag(&l, &r("multi2"), &desc).unwrap_err().to_string();
        assert!(err.contains("none of the manifests"), "{err}");
    }

    #[test]
    fn a_name_pointing_at_removed_blobs_is_removed_by_name_and_by_digest() {
        let (_t, l) = layout();
        let a = image(&l, 1);
        tag(&l, &r("a"), &a).unwrap();
        let b = image(&l, 2);
        tag(&l, &r("b1"), &b).unwrap();
        tag(&l, &r("b2"), &b).unwrap();
        let layer_a = Digest::sha256_of(&[1; 10]);
        // What an older berth could leave: a config or a manifest gone, the names still there.
        l.remove_blob(Image::load(&l, &a, None).unwrap().id())
            .unwrap();
        let b_config = Image::load(&l, &b, None).unwrap().config_digest;
        l.remove_blob(&Digest::try_from(b.digest()).unwrap())
            .unwrap();
        let none = ImageUsers::none();
        let out = remove(&l, "a", false, &none).unwrap();
        assert_eq!(out.untagged, ["a:latest"]);
        assert_eq!(out.deleted, [a.digest().to_string()]);
        assert!(
            !l.has_blob(&layer_a),
            "what its manifest names goes with it"
        );
        // By digest: every name of it, which needs force when it has several.
        let err = remove(&l, b.digest().as_ref(), false, &none).unwrap_err();
        assert!(err.to_string().contains("must be forced"), "{err}");
        let out = remove(&l, b.digest().as_ref(), true, &none).unwrap();
        assert_eq!(out.untagged, ["b1:latest", "b2:latest"]);
        assert!(l.read_index().unwrap().manifests().is_empty());
        // Without its manifest nothing says what else was its: that is left to img-prune.
        assert!(unreferenced_blobs(&l).unwrap().contains(&b_config));
    }

    #[test]
    fn rm_leaves_blobs_to_prune_while_a_writer_runs() {
        let (_t, l) = layout();
        let a = image(&l, 1);
        tag(&l, &r("a"), &a).unwrap();
        let blobs = l.all_blobs().unwrap();
        let none = ImageUsers::none();
        {
            let _writer = l.writer_guard().unwrap();
            let out = remove(&l, "a", false, &none).unwrap();
            assert_eq!(out.deleted.len(), 1);
            assert!(names(&l).is_empty());
            assert_eq!(
                l.all_blobs().unwrap(),
                blobs,
                "a writer may be about to use them"
            );
            // And the writer may tag it again: it is whole.
            tag(&l, &r("again"), &a).unwrap();
        }
        remove(&l, "again", false, &none).unwrap();
        assert!(l.all_blobs().unwrap().is_empty(), "no writer: the blobs go");
    }
}
