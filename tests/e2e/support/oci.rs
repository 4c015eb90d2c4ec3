//! Images written straight into an OCI image layout directory (`oci-layout`, `index.json` with
//! `org.opencontainers.image.ref.name`, `blobs/sha256/…`), so that a test can hand the same image
//! to `img-unpack oci:DIR:REF` and `umoci unpack --image DIR:REF`; layers gzipped, zstd'd or
//! left plain, under a media type that may lie; and [`TarBuilder`], which writes the tar entries
//! real layers hold (and hostile ones that the `tar` crate refuses to write).

use std::path::Path;

use serde_json::{json, Value};

use super::fake_registry::{
    gzip, sha256, Blob, FakeImage, FakeManifest, Platform, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST,
};
use super::Compression;

pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// One layer: its uncompressed tar, how it is compressed, and the media type it is listed under
/// (by default the one that matches the compression).
#[derive(Debug, Clone)]
pub struct Layer {
    pub tar: Vec<u8>,
    pub compression: Compression,
    pub media_type: Option<String>,
}

impl Layer {
    pub fn new(tar: Vec<u8>, compression: Compression) -> Layer {
        Layer {
            tar,
            compression,
            media_type: None,
        }
    }

    pub fn gzip(tar: Vec<u8>) -> Layer {
        Layer::new(tar, Compression::Gzip)
    }

    /// Listed under `media_type` whatever its bytes are.
    pub fn lying(mut self, media_type: &str) -> Layer {
        self.media_type = Some(media_type.to_string());
        self
    }

    fn blob(&self) -> Blob {
        let (data, mt) = match self.compression {
            Compression::None => (self.tar.clone(), OCI_LAYER_TAR),
            Compression::Gzip => (gzip(&self.tar), OCI_LAYER_GZIP),
            Compression::Zstd => (zstd::encode_all(&self.tar[..], 3).unwrap(), OCI_LAYER_ZSTD),
        };
        Blob::new(self.media_type.as_deref().unwrap_or(mt), data)
    }
}

/// A linux/amd64 OCI image tagged `tag` whose layers are `layers`; `config` edits the image
/// config (its `config` object holds Env and Cmd; `rootfs.diff_ids` are the tars' digests).
pub fn image(tag: &str, layers: Vec<Layer>, config: impl FnOnce(&mut Value)) -> FakeImage {
    let platform = Platform::linux_amd64();
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256(&l.tar)).collect();
    let blobs: Vec<Blob> = layers.iter().map(Layer::blob).collect();
    let mut cfg = json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": (0..blobs.len())
            .map(|i| json!({"created": "2024-01-01T00:00:00Z", "created_by": format!("layer {i}")}))
            .collect::<Vec<_>>(),
    });
    config(&mut cfg);
    let diff_ids = cfg["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    let config = Blob::new(OCI_CONFIG, serde_json::to_vec(&cfg).unwrap());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": blobs.iter().map(Blob::descriptor).collect::<Vec<_>>(),
    });
    FakeImage {
        repo: "test".to_string(),
        tag: tag.to_string(),
        index: None,
        manifests: vec![FakeManifest {
            platform,
            manifest: Blob::new(OCI_MANIFEST, serde_json::to_vec_pretty(&manifest).unwrap()),
            config,
            layers: blobs,
            tars: layers.into_iter().map(|l| l.tar).collect(),
            diff_ids,
        }],
    }
}

/// Writes `images` into the OCI layout `dir` (created), each named by its tag in
/// `org.opencontainers.image.ref.name`: `oci:DIR:TAG` for berth and skopeo, `DIR:TAG` for umoci.
pub fn write_layout(dir: &Path, images: &[&FakeImage]) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut manifests = Vec::new();
    for img in images {
        for b in img.all_manifests().chain(img.all_blobs()) {
            let hex = b.digest.strip_prefix("sha256:").unwrap();
            std::fs::write(blobs.join(hex), &b.data).unwrap();
        }
        let mut d = img.top().descriptor();
        d["annotations"] = json!({"org.opencontainers.image.ref.name": img.tag});
        manifests.push(d);
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec_pretty(&index).unwrap(),
    )
    .unwrap();
}

/// The path of blob `digest` in layout `dir`.
pub fn blob_path(dir: &Path, digest: &str) -> std::path::PathBuf {
    dir.join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

/// The metadata of one tar entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    /// PAX records written before the entry (`SCHILY.xattr.NAME`, `path`, `linkpath`, `mtime`).
    pub pax: Vec<(String, Vec<u8>)>,
}

impl Default for Entry {
    fn default() -> Entry {
        Entry {
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 1_600_000_000,
            pax: Vec::new(),
        }
    }
}

impl Entry {
    pub fn mode(mode: u32) -> Entry {
        Entry {
            mode,
            ..Entry::default()
        }
    }

    pub fn owner(mut self, uid: u64, gid: u64) -> Entry {
        self.uid = uid;
        self.gid = gid;
        self
    }

    pub fn mtime(mut self, mtime: u64) -> Entry {
        self.mtime = mtime;
        self
    }

    pub fn xattr(mut self, name: &str, value: &[u8]) -> Entry {
        self.pax
            .push((format!("SCHILY.xattr.{name}"), value.to_vec()));
        self
    }

    pub fn pax(mut self, key: &str, value: &[u8]) -> Entry {
        self.pax.push((key.to_string(), value.to_vec()));
        self
    }
}

/// Writes tar entries as layers hold them. Names go into the header as given (absolute, with
/// `..`: what a hostile layer says); a name longer than the header holds goes in a GNU long-name
/// entry, unless the entry's PAX records carry a `path`.
pub struct TarBuilder {
    b: tar::Builder<Vec<u8>>,
}

impl Default for TarBuilder {
    fn default() -> Self {
        TarBuilder::new()
    }
}

impl TarBuilder {
    pub fn new() -> TarBuilder {
        TarBuilder {
            b: tar::Builder::new(Vec::new()),
        }
    }

    pub fn finish(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }

    fn pax_header(&mut self, records: &[(String, Vec<u8>)]) {
        if records.is_empty() {
            return;
        }
        let mut data = Vec::new();
        for (k, v) in records {
            // "LEN key=value\n", LEN counting itself.
            let rest = k.len() + v.len() + 3;
            let mut len = rest + 1;
            while len.to_string().len() + rest != len {
                len += 1;
            }
            data.extend_from_slice(format!("{len} {k}=").as_bytes());
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_path("PaxHeaders/entry").unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        self.b.append(&h, &data[..]).unwrap();
    }

    /// Appends one entry of `kind` named `name` (raw), linking to `link`, holding `data`.
    pub fn entry(
        &mut self,
        kind: tar::EntryType,
        name: &str,
        link: Option<&str>,
        data: &[u8],
        e: &Entry,
        dev: Option<(u32, u32)>,
    ) -> &mut Self {
        self.pax_header(&e.pax);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(e.mtime);
        h.set_size(data.len() as u64);
        if let Some((major, minor)) = dev {
            h.set_device_major(major).unwrap();
            h.set_device_minor(minor).unwrap();
        }
        let pax_path = e.pax.iter().any(|(k, _)| k == "path");
        let pax_link = e.pax.iter().any(|(k, _)| k == "linkpath");
        let long_link = link.filter(|l| l.len() > 100 && !pax_link);
        if let Some(l) = link {
            if l.len() <= 100 {
                h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
            } else if pax_link {
                h.as_old_mut()
                    .linkname
                    .copy_from_slice(&l.as_bytes()[..100]);
            }
        }
        if let Some(l) = long_link {
            self.gnu_long(b'K', l.as_bytes());
        }
        if name.len() <= 100 {
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        } else {
            if !pax_path {
                self.gnu_long(b'L', name.as_bytes());
            }
            h.as_old_mut().name.copy_from_slice(&name.as_bytes()[..100]);
        }
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    fn gnu_long(&mut self, kind: u8, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_mode(0o644);
        h.set_size(data.len() as u64 + 1);
        h.set_cksum();
        let mut d = data.to_vec();
        d.push(0);
        self.b.append(&h, &d[..]).unwrap();
    }

    pub fn dir(&mut self, name: &str, e: Entry) -> &mut Self {
        self.entry(tar::EntryType::Directory, name, None, b"", &e, None)
    }

    pub fn file(&mut self, name: &str, data: &[u8], e: Entry) -> &mut Self {
        self.entry(tar::EntryType::Regular, name, None, data, &e, None)
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        let e = Entry::mode(0o777);
        self.entry(tar::EntryType::Symlink, name, Some(target), b"", &e, None)
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        let e = Entry::mode(0o644);
        self.entry(tar::EntryType::Link, name, Some(target), b"", &e, None)
    }

    pub fn fifo(&mut self, name: &str, e: Entry) -> &mut Self {
        self.entry(tar::EntryType::Fifo, name, None, b"", &e, Some((0, 0)))
    }

    pub fn char_dev(&mut self, name: &str, major: u32, minor: u32, e: Entry) -> &mut Self {
        self.entry(
            tar::EntryType::Char,
            name,
            None,
            b"",
            &e,
            Some((major, minor)),
        )
    }
}
