//! Image archives: the tarball `docker save` writes and `docker load` reads, and OCI image layouts
//! as a tarball (skopeo's `oci-archive:`). [`save`] writes either kind from a layout; [`load`] reads
//! either kind, plain, gzip or zstd, into one.
//!
//! The docker archive berth writes is the one Docker 25 and later write: an OCI image layout
//! (`oci-layout`, `index.json`, `blobs/sha256/…`) whose layers are uncompressed tars named by their
//! diffID, plus Docker's own `manifest.json` and `repositories` pointing into `blobs/`. Every
//! `docker load` reads `manifest.json` and nothing else, so old daemons load it as well as new ones,
//! and tools that read OCI layouts (skopeo, containerd) read the same file as a layout.

mod load;
mod save;
mod tar_index;
pub mod tar_reader;
mod tar_writer;

pub use load::{load, Input, Loaded};
pub use save::{save, select, Format, Output, Selected};

/// One entry of a docker archive's `manifest.json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifest {
    /// The config's path in the archive: `blobs/sha256/<hex>` (Docker 25+) or `<hex>.json`.
    config: String,
    /// Docker's short names (`busybox:latest`); null when the image was saved by ID.
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    /// Each layer's path in the archive, in the order of the config's `rootfs.diff_ids`.
    layers: Vec<String>,
}

/// The annotation containerd and Docker 25+ put on `index.json` entries, with the full name.
pub const CONTAINERD_IMAGE_NAME: &str = "io.containerd.image.name";

const MANIFEST_JSON: &str = "manifest.json";
const INDEX_JSON: &str = "index.json";
const OCI_LAYOUT: &str = "oci-layout";
const OCI_LAYOUT_CONTENT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// A blob's path inside an archive.
fn blob_path(d: &crate::digest::Digest) -> String {
    format!("blobs/{}/{}", d.algorithm().as_str(), d.hex())
}

/// A descriptor for an `index.json` entry: media type, digest, size and platform, nothing else.
fn bare(desc: &oci_spec::image::Descriptor) -> oci_spec::image::Descriptor {
    let mut d = oci_spec::image::Descriptor::new(
        desc.media_type().clone(),
        desc.size(),
        desc.digest().clone(),
    );
    d.set_platform(desc.platform().clone());
    d
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;
    use crate::image::{self, Catalog};
    use crate::layer::tarball;
    use crate::reference::Reference;
    use crate::store::Layout;

    /// A layout with one two-layer image tagged `name`.
    fn layout_with_image(dir: &Path, name: &str) -> (Layout, crate::digest::Digest) {
        let l = Layout::open_or_create(dir).unwrap();
        let a = crate::layer::import_tar(&l, &tarball(&[("a", b"1")])[..], "a").unwrap();
        let b = crate::layer::import_tar(&l, &tarball(&[("b", &[9u8; 3000])])[..], "b").unwrap();
        let config = json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [a.diff_id.to_string(), b.diff_id.to_string()]},
        });
        let config = image::ImageConfig::from_value(config).unwrap();
        let (desc, id) = image::write_image(&l, &config, vec![a.descriptor, b.descriptor]).unwrap();
        image::tag(&l, &Reference::parse_with_default_tag(name).unwrap(), &desc).unwrap();
        (l, id)
    }

    #[test]
    fn both_formats_round_trip_plain_and_gzipped() {
        let t = tempfile::tempdir().unwrap();
        let (src, id) = layout_with_image(&t.path().join("src"), "app:1");
        let sel = select(&src, &["app:1".into()]).unwrap();
        for (i, (format, gzip)) in [
            (Format::Docker, false),
            (Format::Docker, true),
            (Format::Oci, false),
            (Format::Oci, true),
        ]
        .into_iter()
        .enumerate()
        {
            let file = t.path().join(format!("a{i}.tar"));
            save(&sel, format, gzip, &Output::File(file.clone())).unwrap();
            let dst = Layout::open_or_create(t.path().join(format!("dst{i}"))).unwrap();
            let loaded = load(&dst, &Input::File(file)).unwrap();
            assert_eq!(loaded.len(), 1);
            assert_eq!(loaded[0].id.as_ref(), Some(&id));
            assert_eq!(
                loaded[0].reference.as_ref().unwrap().to_string(),
                "docker.io/library/app:1"
            );
            // The config is kept byte for byte, and the layers are stored gzipped the same way.
            assert_eq!(dst.read_blob(&id).unwrap(), src.read_blob(&id).unwrap());
            let c = Catalog::load(&dst).unwrap();
            let img = c.find("app:1").unwrap().image.as_ref().unwrap();
            assert_eq!(img.manifest.layers().len(), 2);
            // Same digest even through a docker archive: berth recompresses as it compressed.
            assert_eq!(img.digest, sel[0].image.digest, "{format:?} gzip={gzip}");
        }
    }

    #[test]
    fn the_same_images_give_the_same_archive() {
        let t = tempfile::tempdir().unwrap();
        let (src, _) = layout_with_image(&t.path().join("src"), "app:1");
        let sel = select(&src, &["app".into()]).unwrap();
        for format in [Format::Docker, Format::Oci] {
            let mut outs = Vec::new();
            for i in 0..4 {
                let file = t.path().join(format!("{format:?}{i}.tar"));
                save(&sel, format, false, &Output::File(file.clone())).unwrap();
                outs.push(std::fs::read(file).unwrap());
            }
            assert!(outs.iter().all(|o| *o == outs[0]), "{format:?}");
        }
    }

    #[test]
    fn a_wrong_diff_id_is_refused_and_leaves_the_store_unchanged() {
        let t = tempfile::tempdir().unwrap();
        let layer = tarball(&[("a", b"1")]);
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [crate::digest::Digest::sha256_of(b"other").to_string()]},
        }))
        .unwrap();
        let manifest =
            br#"[{"Config":"c.json","RepoTags":["bad:1"],"Layers":["l/layer.tar"]}]"#.to_vec();
        let archive = tarball(&[
            ("l/layer.tar", &layer),
            ("c.json", &config),
            ("manifest.json", &manifest),
        ]);
        let file = t.path().join("bad.tar");
        std::fs::write(&file, archive).unwrap();
        let (dst, _) = layout_with_image(&t.path().join("dst"), "keep:1");
        let index = std::fs::read(dst.index_path()).unwrap();
        let blobs = dst.all_blobs().unwrap();
        let err = load(&dst, &Input::File(file)).unwrap_err().to_string();
        assert!(err.contains("diffID"), "{err}");
        assert_eq!(std::fs::read(dst.index_path()).unwrap(), index);
        assert_eq!(dst.all_blobs().unwrap(), blobs);
    }
}
