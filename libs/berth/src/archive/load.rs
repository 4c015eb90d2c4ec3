//! Reading archives into a layout: docker archives (both the `<id>/layer.tar` layout of Docker
//! 24 and earlier and the OCI layout with `manifest.json` of Docker 25+) and OCI archives, each
//! plain, gzip or zstd.
//!
//! The archive is checked before anything is stored (every name safe, every file the index names
//! present, configs sound, tags valid), then every blob is written and verified, and only then
//! are the images tagged. If anything fails on the way, the blobs this load added are removed
//! again, so a bad archive leaves the store as it was.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, IsTerminal, Read, Seek};
use std::path::PathBuf;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};
use serde_json::Value;

use super::tar_index::TarIndex;
use super::{
    bare, blob_path, DockerManifest, CONTAINERD_IMAGE_NAME, INDEX_JSON, MANIFEST_JSON, OCI_LAYOUT,
};
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::image::{self, check_config, Image, ImageConfig, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST};
use crate::layer::{self, Compression};
use crate::reference::Reference;
use crate::store::{annotation, Layout, MAX_JSON_BLOB, ORIGINAL, REF_NAME};

/// Where the archive comes from.
#[derive(Debug, Clone)]
pub enum Input {
    File(PathBuf),
    Stdin,
}

/// One name (or untagged image) loaded.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub reference: Option<Reference>,
    /// The `index.json` entry's digest: a manifest, or an index.
    pub digest: Digest,
    /// The image ID (config digest); None for a multi-platform index without this host's platform.
    pub id: Option<Digest>,
}

/// An image whose blobs are stored, waiting to be tagged.
struct Stored {
    descriptor: Descriptor,
    names: Vec<Reference>,
}

/// The blobs this load added, to remove again if it fails.
struct Added<'l> {
    layout: &'l Layout,
    before: HashSet<Digest>,
    new: HashSet<Digest>,
}

impl Added<'_> {
    fn note(&mut self, d: &Digest) {
        if !self.before.contains(d) {
            self.new.insert(d.clone());
        }
    }
}

/// Loads the archive `input` into `layout` and tags its images. On failure nothing is tagged and
/// no blob it added stays.
pub fn load(layout: &Layout, input: &Input) -> Result<Vec<Loaded>> {
    let (file, what, _spool) = open_input(layout, input)?;
    let archive = TarIndex::scan(file, &what)?;
    let mut added = Added {
        layout,
        before: layout.all_blobs()?.into_iter().collect(),
        new: HashSet::new(),
    };
    let stored = if archive.contains(MANIFEST_JSON) {
        load_docker(layout, &archive, &mut added)
    } else if archive.contains(INDEX_JSON) {
        load_oci(layout, &archive, &mut added)
    } else {
        Err(Error::InvalidInput(format!(
            "{what} is neither a docker archive nor an OCI archive: it has no manifest.json or index.json"
        )))
    };
    let stored = match stored {
        Ok(s) => s,
        Err(e) => {
            // Anything tagged meanwhile by someone else keeps what it reaches.
            let _ = image::delete_unreachable(added.layout, &added.new);
            return Err(e);
        }
    };
    let mut out = Vec::new();
    // An identical image (the same config) the store has already under a name, or at all for
    // an image the archive leaves unnamed, keeps the manifest it has: a name never moves to
    // another manifest of the same image, and nothing is left as <none>.
    let catalog = image::Catalog::load(layout)?;
    let kept = |id: &Option<Digest>, name: Option<&Reference>| -> Option<Digest> {
        let id = id.as_ref()?;
        catalog
            .items
            .iter()
            .find(|i| {
                (name.is_none() || i.entry.reference.as_ref() == name)
                    && i.image.as_ref().is_ok_and(|img| img.id() == id)
                    && image::check_complete(layout, &i.entry.descriptor).is_ok()
            })
            .and_then(|i| i.image.as_ref().ok())
            .map(|img| img.digest.clone())
    };
    let mut skipped = false;
    for s in stored {
        // The image's digest: the manifest (or index) as given, not its OCI entry.
        let img = Image::load(layout, &s.descriptor, None).ok();
        let digest = match &img {
            Some(i) => i.digest.clone(),
            None => Digest::try_from(s.descriptor.digest())?,
        };
        let id = img.map(|i| i.config_digest);
        if s.names.is_empty() {
            let digest = match kept(&id, None) {
                Some(d) => {
                    skipped = true;
                    d
                }
                None => {
                    image::add_untagged(layout, &s.descriptor)?;
                    digest.clone()
                }
            };
            out.push(Loaded {
                reference: None,
                digest,
                id: id.clone(),
            });
        }
        for n in s.names {
            let digest = match kept(&id, Some(&n)) {
                Some(d) => {
                    skipped = true;
                    d
                }
                None => {
                    image::tag(layout, &n, &s.descriptor)?;
                    digest.clone()
                }
            };
            out.push(Loaded {
                reference: Some(n),
                digest,
                id: id.clone(),
            });
        }
    }
    if skipped {
        // What the archive brought that no name reaches now goes again.
        image::delete_unreachable(layout, &added.new)?;
    }
    Ok(out)
}

/// The archive as a plain tar file that can be read in any order: the input itself when it is
/// an uncompressed regular file, otherwise a decompressed copy in a temporary file in the layout
/// (on the file system that has room for the images anyway), removed when dropped.
fn open_input(
    layout: &Layout,
    input: &Input,
) -> Result<(File, String, Option<tempfile::NamedTempFile>)> {
    let (reader, what): (Box<dyn Read>, String) = match input {
        Input::File(path) => {
            let f = File::open(path).with_path("open", path)?;
            let meta = f.metadata().with_path("stat", path)?;
            if meta.is_dir() {
                return Err(Error::InvalidInput(format!(
                    "{} is a directory, not an archive",
                    path.display()
                )));
            }
            let what = path.display().to_string();
            if meta.is_file() {
                match plain_file(f, &what)? {
                    Ok(f) => return Ok((f, what, None)),
                    Err(f) => (Box::new(f), what),
                }
            } else {
                (Box::new(f), what)
            }
        }
        Input::Stdin => {
            let stdin = io::stdin();
            if stdin.is_terminal() {
                return Err(Error::InvalidInput(
                    "refusing to read an archive from a terminal: use -i FILE or redirect stdin"
                        .into(),
                ));
            }
            use std::os::fd::AsFd;
            let fd = stdin
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| Error::stream("read stdin", e))?;
            let f = File::from(fd);
            let what = "the archive on stdin".to_string();
            if f.metadata().is_ok_and(|m| m.is_file()) {
                match plain_file(f, &what)? {
                    Ok(f) => return Ok((f, what, None)),
                    Err(f) => (Box::new(f), what),
                }
            } else {
                (Box::new(f), what)
            }
        }
    };
    // A compressed archive is expanded no further than a layer may be (a gzip of zeros would
    // otherwise fill the disk): its size so far, against the compressed bytes read so far.
    let limits = layer::ExpansionLimit::from_env()?;
    let consumed = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let counted = Counting {
        inner: reader,
        n: consumed.clone(),
    };
    let mut plain = layer::decompress(counted, &what)?;
    let mut spool = layout.temp_file("load")?;
    let bad = |e: io::Error| {
        if matches!(
            e.kind(),
            io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof
        ) {
            Error::InvalidInput(format!("{what}: cannot decompress it: {e}"))
        } else {
            Error::stream(format!("read {what}"), e)
        }
    };
    let mut buf = vec![0u8; 256 << 10];
    let mut total = 0u64;
    loop {
        let n = match plain.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(bad(e)),
        };
        total += n as u64;
        if total > limits.for_size(consumed.get()) {
            return Err(limits.exceeded(&what, consumed.get()));
        }
        io::Write::write_all(spool.as_file_mut(), &buf[..n]).with_path("write", spool.path())?;
    }
    let f = spool.reopen().with_path("open", spool.path())?;
    Ok((f, what, Some(spool)))
}

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    n: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n.set(self.n.get() + n as u64);
        Ok(n)
    }
}

/// Ok(file) when the regular file `f` is an uncompressed archive (rewound), Err(file) when it
/// must be decompressed first.
fn plain_file(mut f: File, what: &str) -> Result<std::result::Result<File, File>> {
    let mut head = [0u8; 8];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::stream(format!("read {what}"), e)),
        }
    }
    f.rewind()
        .map_err(|e| Error::stream(format!("read {what}"), e))?;
    // bzip2 and xz go the decompressing way too, to be refused there by name.
    let head = &head[..n];
    let other = head.starts_with(b"BZh") || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]);
    Ok(
        if Compression::detect(head) == Compression::None && !other {
            Ok(f)
        } else {
            Err(f)
        },
    )
}

/// Reads a JSON file of the archive.
fn read_json<T: serde::de::DeserializeOwned>(archive: &TarIndex, name: &str) -> Result<T> {
    let data = archive.read_small(name, MAX_JSON_BLOB)?;
    serde_json::from_slice(&data)
        .map_err(|e| Error::corrupt(format!("{} in {}", name, archive.what()), e))
}

/// A name from an archive, normalised with `latest` as its default tag.
fn parse_tag(archive: &TarIndex, name: &str) -> Result<Reference> {
    let r = Reference::parse(name)
        .map_err(|e| Error::corrupt(format!("image name in {}", archive.what()), e))?;
    if r.digest().is_some() {
        return Err(Error::corrupt(
            format!("image name in {}", archive.what()),
            format!("{name} is a digest reference, not a tag"),
        ));
    }
    Ok(r.with_default_tag())
}

/// A docker archive image checked and ready to store.
struct DockerImage {
    config: Vec<u8>,
    config_digest: Digest,
    /// Each layer's name in the archive and the diffID the config gives it.
    layers: Vec<(String, Digest)>,
    names: Vec<Reference>,
}

fn load_docker(layout: &Layout, archive: &TarIndex, added: &mut Added<'_>) -> Result<Vec<Stored>> {
    let what = archive.what().to_string();
    let entries: Vec<DockerManifest> = read_json(archive, MANIFEST_JSON)?;
    if entries.is_empty() {
        return Err(Error::InvalidInput(format!(
            "{what}: manifest.json lists no image"
        )));
    }
    // Everything is checked before anything is stored.
    let mut images = Vec::new();
    for m in &entries {
        let config = archive.read_small(&m.config, MAX_JSON_BLOB)?;
        let config_digest = Digest::sha256_of(&config);
        let named_hex = m
            .config
            .strip_prefix("blobs/sha256/")
            .or_else(|| m.config.strip_suffix(".json"));
        if let Some(hex) = named_hex.filter(|h| h.len() == 64) {
            if hex != config_digest.hex() {
                return Err(Error::corrupt(
                    format!("config {} in {what}", m.config),
                    format!("its content hashes to {config_digest}"),
                ));
            }
        }
        let v: Value = serde_json::from_slice(&config)
            .map_err(|e| Error::corrupt(format!("config {} in {what}", m.config), e))?;
        let typed = check_config(&v)
            .and_then(|()| ImageConfig::from_value(v))
            .map_err(|why| Error::corrupt(format!("config {} in {what}", m.config), why))?;
        let diff_ids: Vec<Digest> = typed
            .diff_ids()
            .iter()
            .map(|d| Digest::parse(d))
            .collect::<std::result::Result<_, _>>()?;
        if diff_ids.len() != m.layers.len() {
            return Err(Error::corrupt(
                format!("manifest.json in {what}"),
                format!(
                    "it lists {} layers for {}, whose config has {} diffIDs",
                    m.layers.len(),
                    m.config,
                    diff_ids.len()
                ),
            ));
        }
        for l in &m.layers {
            archive.open(l)?;
        }
        let names = m
            .repo_tags
            .iter()
            .flatten()
            .map(|t| parse_tag(archive, t))
            .collect::<Result<_>>()?;
        images.push(DockerImage {
            config,
            config_digest,
            layers: m.layers.iter().cloned().zip(diff_ids).collect(),
            names,
        });
    }

    let catalog = image::Catalog::load(layout)?;
    let mut done: HashMap<String, Descriptor> = HashMap::new();
    let mut stored = Vec::new();
    for img in images {
        // An image the store has already (the same config, so the same layers) keeps the
        // manifest it has, pulled or loaded before: a docker archive has no manifest of its own
        // to keep, and a new one would move its names to a digest no registry knows.
        if let Some(desc) = existing(layout, &catalog, &img) {
            stored.push(Stored {
                descriptor: desc,
                names: img.names,
            });
            continue;
        }
        let mut layers = Vec::new();
        for (name, want) in &img.layers {
            if let Some(d) = done.get(name) {
                layers.push(d.clone());
                continue;
            }
            let (section, _) = archive.open(name)?;
            let l = layer::import_tar(layout, section, &format!("layer {name} in {what}"))?;
            added.note(&Digest::try_from(l.descriptor.digest())?);
            if l.diff_id != *want {
                return Err(Error::corrupt(
                    format!("layer {name} in {what}"),
                    format!(
                        "its content hashes to {}, but the image config says its diffID is {want}",
                        l.diff_id
                    ),
                ));
            }
            done.insert(name.clone(), l.descriptor.clone());
            layers.push(l.descriptor);
        }
        let config_digest = layout.put_blob_bytes(&img.config)?;
        debug_assert_eq!(config_digest, img.config_digest);
        added.note(&config_digest);
        let config = Descriptor::new(
            MediaType::ImageConfig,
            img.config.len() as u64,
            &config_digest,
        );
        let manifest = image::write_manifest(layout, config, layers)?;
        added.note(&Digest::try_from(manifest.digest())?);
        stored.push(Stored {
            descriptor: manifest,
            names: img.names,
        });
    }
    Ok(stored)
}

/// The `index.json` entry of an image the store has whole with this image's config: one already
/// named as the archive names it, else a tagged one, else an untagged one.
fn existing(layout: &Layout, catalog: &image::Catalog, img: &DockerImage) -> Option<Descriptor> {
    let same: Vec<&image::Item> = catalog
        .items
        .iter()
        .filter(|i| {
            i.image.as_ref().is_ok_and(|m| *m.id() == img.config_digest)
                && image::check_complete(layout, &i.entry.descriptor).is_ok()
        })
        .collect();
    let named_so = same.iter().find(|i| {
        i.entry
            .reference
            .as_ref()
            .is_some_and(|r| img.names.contains(r))
    });
    named_so
        .or_else(|| same.iter().find(|i| i.entry.name.is_some()))
        .or(same.first())
        .map(|i| image::bare(&i.entry.descriptor))
}

fn is_json_type(m: &MediaType) -> bool {
    matches!(m, MediaType::ImageManifest | MediaType::ImageIndex)
        || matches!(m, MediaType::Other(s) if s == DOCKER_MANIFEST || s == DOCKER_MANIFEST_LIST)
}

/// The names an OCI archive gives an `index.json` entry: containerd's full name, else an OCI
/// ref name that is a reference. A bare tag (`latest`, as skopeo and Docker write it) names no
/// repository, so such an image is loaded untagged.
fn oci_names(archive: &TarIndex, desc: &Descriptor) -> Result<Vec<Reference>> {
    if let Some(n) = annotation(desc, CONTAINERD_IMAGE_NAME) {
        return Ok(vec![parse_tag(archive, n)?]);
    }
    match annotation(desc, REF_NAME) {
        Some(n) if n.contains('/') || n.contains(':') => Ok(vec![parse_tag(archive, n)?]),
        _ => Ok(Vec::new()),
    }
}

fn load_oci(layout: &Layout, archive: &TarIndex, added: &mut Added<'_>) -> Result<Vec<Stored>> {
    let what = archive.what().to_string();
    if archive.contains(OCI_LAYOUT) {
        let v: Value = read_json(archive, OCI_LAYOUT)?;
        if v.get("imageLayoutVersion").and_then(Value::as_str) != Some("1.0.0") {
            return Err(Error::InvalidInput(format!(
                "{what}: unsupported oci-layout {v}"
            )));
        }
    }
    let index: ImageIndex = read_json(archive, INDEX_JSON)?;
    if index.manifests().is_empty() {
        return Err(Error::InvalidInput(format!(
            "{what}: index.json lists no image"
        )));
    }
    // Walk every entry down to its layers, reading and verifying the JSON blobs on the way, so
    // that a missing or corrupt blob is found before anything is stored.
    let mut blobs: Vec<(Digest, u64)> = Vec::new();
    let mut seen = HashSet::new();
    let mut todo: Vec<Descriptor> = index.manifests().clone();
    // An entry berth saved as the OCI equivalent of the manifest the image came as names that
    // original (ORIGINAL): loaded from it, the image keeps its digest.
    let mut tops: Vec<Descriptor> = Vec::new();
    for d in index.manifests() {
        let original = annotation(d, ORIGINAL)
            .and_then(|o| Digest::parse(o).ok())
            .filter(|o| archive.contains(&blob_path(o)));
        let Some(o) = original else {
            tops.push(bare(d));
            continue;
        };
        let data = archive.read_small(&blob_path(&o), MAX_JSON_BLOB)?;
        let v: Value = serde_json::from_slice(&data)
            .map_err(|e| Error::corrupt(format!("{} in {what}", blob_path(&o)), e))?;
        let media = match v.get("mediaType").and_then(Value::as_str) {
            Some(m) => MediaType::from(m),
            None if v.get("manifests").is_some() => MediaType::ImageIndex,
            None => MediaType::ImageManifest,
        };
        let mut top = Descriptor::new(media, data.len() as u64, &o);
        top.set_platform(d.platform().clone());
        todo.push(top.clone());
        tops.push(top);
    }
    while let Some(d) = todo.pop() {
        let digest = Digest::try_from(d.digest())?;
        if !seen.insert(digest.clone()) {
            continue;
        }
        let name = blob_path(&digest);
        let (_, size) = archive.open(&name)?;
        if size != d.size() {
            return Err(Error::corrupt(
                format!("{name} in {what}"),
                format!("it is {size} bytes, its descriptor says {}", d.size()),
            ));
        }
        blobs.push((digest.clone(), size));
        let is_config = matches!(d.media_type(), MediaType::ImageConfig)
            || matches!(d.media_type(), MediaType::Other(s) if s == image::DOCKER_CONFIG);
        if !is_json_type(d.media_type()) && !is_config {
            continue;
        }
        let data = archive.read_small(&name, MAX_JSON_BLOB)?;
        if Digest::sha256_of(&data) != digest
            && digest.algorithm() == crate::digest::Algorithm::Sha256
        {
            return Err(Error::corrupt(
                format!("{name} in {what}"),
                format!("its content hashes to {}", Digest::sha256_of(&data)),
            ));
        }
        let v: Value = serde_json::from_slice(&data)
            .map_err(|e| Error::corrupt(format!("{name} in {what}"), e))?;
        if is_config {
            check_config(&v)
                .map_err(|why| Error::corrupt(format!("config {name} in {what}"), why))?;
        } else if v.get("manifests").is_some() {
            let i: ImageIndex = serde_json::from_value(v)
                .map_err(|e| Error::corrupt(format!("image index {name} in {what}"), e))?;
            todo.extend(i.manifests().iter().cloned());
        } else {
            let m: ImageManifest = serde_json::from_value(v)
                .map_err(|e| Error::corrupt(format!("manifest {name} in {what}"), e))?;
            todo.push(m.config().clone());
            todo.extend(m.layers().iter().cloned());
        }
    }
    let mut stored: Vec<Stored> = Vec::new();
    for (d, top) in index.manifests().iter().zip(tops) {
        stored.push(Stored {
            descriptor: top,
            names: oci_names(archive, d)?,
        });
    }
    for (digest, _) in &blobs {
        if layout.has_blob(digest) {
            continue;
        }
        let (mut section, _) = archive.open(&blob_path(digest))?;
        let (d, _) = layout.put_blob(&mut section, Some(digest))?;
        added.note(&d);
    }
    Ok(stored)
}
