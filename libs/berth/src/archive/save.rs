//! Writing archives: choosing the images (`select`), then a docker archive or an OCI archive of
//! them (`save`), to a file (by temporary file and rename) or to stdout, gzipped on request.

use std::collections::{HashMap, HashSet};
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use oci_spec::image::{Descriptor, ImageIndexBuilder, ImageManifestBuilder, MediaType};
use serde_json::Value;

use super::tar_writer::TarWriter;
use super::{
    bare, blob_path, DockerManifest, CONTAINERD_IMAGE_NAME, INDEX_JSON, MANIFEST_JSON, OCI_LAYOUT,
    OCI_LAYOUT_CONTENT,
};
use crate::compress::ParGzWriter;
use crate::digest::{Algorithm, Digest, HashingReader};
use crate::error::{Error, IoContext, Result};
use crate::image::{self, Catalog, Image, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST};
use crate::layer;
use crate::reference::{ImageName, Reference};
use crate::store::{annotate, annotation, Layout, ORIGINAL, REF_NAME};

/// The kind of archive to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// What `docker save` writes and `docker load` reads.
    Docker,
    /// An OCI image layout in a tar, as skopeo's `oci-archive:` transport reads it.
    Oci,
}

/// Where the archive goes.
#[derive(Debug, Clone)]
pub enum Output {
    /// Written to a temporary file beside it and renamed into place when complete.
    File(PathBuf),
    Stdout,
}

/// An image to save and the names to record for it.
#[derive(Debug, Clone)]
pub struct Selected {
    pub layout: Layout,
    /// The image's `index.json` entry: a manifest, or an index for a multi-platform image.
    pub descriptor: Descriptor,
    /// The image itself (this host's platform, for a multi-platform image).
    pub image: Image,
    /// The tags to record; empty for an image named by ID or digest, as `docker save` does.
    pub names: Vec<Reference>,
}

/// Resolves what the user named to images, as `docker save` does: `name:tag` is that tag, a
/// repository name alone is every tag of it, an ID or digest is the image without a name, and
/// `oci:DIR[:REF]` an image in another layout. An image named twice is saved once, with both names.
pub fn select(default: &Layout, queries: &[String]) -> Result<Vec<Selected>> {
    let mut out: Vec<Selected> = Vec::new();
    for q in queries {
        for sel in select_one(default, q)? {
            match out.iter_mut().find(|s| s.image.id() == sel.image.id()) {
                Some(s) => {
                    for n in sel.names {
                        if !s.names.contains(&n) {
                            s.names.push(n);
                        }
                    }
                }
                None => out.push(sel),
            }
        }
    }
    Ok(out)
}

fn select_one(default: &Layout, query: &str) -> Result<Vec<Selected>> {
    let parsed = ImageName::parse(query).ok();
    if let Some(ImageName::Reference(r)) = &parsed {
        if r.tag().is_none() && r.digest().is_none() {
            let catalog = Catalog::load(default)?;
            let mut all = Vec::new();
            for item in &catalog.items {
                let Some(er) = &item.entry.reference else {
                    continue;
                };
                if er.name() != r.name() || er.tag().is_none() {
                    continue;
                }
                let img = item
                    .image
                    .as_ref()
                    .map_err(|e| Error::corrupt(format!("image {}", er.familiar_string()), e))?;
                all.push(Selected {
                    layout: default.clone(),
                    descriptor: item.entry.descriptor.clone(),
                    image: img.clone(),
                    names: vec![er.clone()],
                });
            }
            if !all.is_empty() {
                return Ok(all);
            }
        }
    }
    let (layout, catalog, idx) = image::open_named(default, query)?;
    let item = &catalog.items[idx];
    let img = item.image.as_ref().expect("open_named checks the image");
    let by_name = match &parsed {
        Some(ImageName::Reference(r)) => {
            r.digest().is_none()
                && item.entry.reference.as_ref() == Some(&r.clone().with_default_tag())
        }
        // In another layout, a name that is a reference (not skopeo's bare tag) is kept.
        Some(ImageName::Layout {
            reference: Some(_), ..
        }) => item
            .entry
            .name
            .as_deref()
            .is_some_and(|n| n.contains('/') || n.contains(':')),
        _ => false,
    };
    let names = match (&item.entry.reference, by_name) {
        (Some(r), true) if r.tag().is_some() => vec![r.clone()],
        _ => Vec::new(),
    };
    Ok(vec![Selected {
        layout,
        descriptor: item.entry.descriptor.clone(),
        image: img.clone(),
        names,
    }])
}

/// Writes `images` as an archive of `format` to `output`, gzipped when `gzip`. Nothing is left
/// at a file output when this fails.
pub fn save(images: &[Selected], format: Format, gzip: bool, output: &Output) -> Result<()> {
    if images.is_empty() {
        return Err(Error::Usage("no image to save".into()));
    }
    match output {
        Output::Stdout => {
            let stdout = io::stdout();
            if stdout.is_terminal() {
                return Err(Error::InvalidInput(
                    "cowardly refusing to write an archive to a terminal: use -o FILE or redirect stdout"
                        .into(),
                ));
            }
            let out = BufWriter::with_capacity(1 << 20, stdout.lock());
            let mut out = write_archive(images, format, gzip, out, "stdout")?;
            out.flush().map_err(|e| Error::stream("write stdout", e))
        }
        Output::File(path) => save_to_file(images, format, gzip, path),
    }
}

fn save_to_file(images: &[Selected], format: Format, gzip: bool, path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::InvalidInput(format!("{}: not a file name", path.display())))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.to_string_lossy()))
        .tempfile_in(dir)
        .with_path("create a temporary file in", dir)?;
    let dest = path.display().to_string();
    let out = BufWriter::with_capacity(1 << 20, tmp.as_file());
    let out = if gzip {
        write_archive(images, format, gzip, out, &dest)?
    } else {
        // A plain archive in a file: layers can be written in one pass (see TarWriter).
        let file = tmp.as_file().try_clone().with_path("open", tmp.path())?;
        let tw = TarWriter::with_file(out, dest.as_str(), file);
        write_entries(images, format, tw)?
    };
    out.into_inner()
        .map_err(|e| Error::io("write", path, e.into_error()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .with_path("set permissions of", tmp.path())?;
    }
    tmp.as_file().sync_all().with_path("sync", path)?;
    tmp.persist(path)
        .map_err(|e| Error::io("rename into place", path, e.error))?;
    Ok(())
}

fn write_archive<W: Write>(
    images: &[Selected],
    format: Format,
    gzip: bool,
    out: W,
    dest: &str,
) -> Result<W> {
    if gzip {
        let gz = ParGzWriter::new(out, 6);
        let gz = write_tar(images, format, gz, dest)?;
        gz.finish()
            .map_err(|e| Error::stream(format!("write {dest}"), e))
    } else {
        write_tar(images, format, out, dest)
    }
}

fn write_tar<W: Write>(images: &[Selected], format: Format, out: W, dest: &str) -> Result<W> {
    write_entries(images, format, TarWriter::new(out, dest))
}

fn write_entries<W: Write>(images: &[Selected], format: Format, mut tw: TarWriter<W>) -> Result<W> {
    match format {
        Format::Docker => write_docker(&mut tw, images)?,
        Format::Oci => write_oci(&mut tw, images)?,
    }
    tw.finish()
}

/// A layer to write uncompressed: where its blob is, and what it must uncompress to.
struct PlainLayer<'a> {
    layout: &'a Layout,
    blob: &'a Descriptor,
    diff_id: Digest,
}

impl PlainLayer<'_> {
    fn what(&self) -> String {
        format!("layer {}", self.blob.digest())
    }

    /// The layer uncompressed, hashed as it is read.
    fn open(&self) -> Result<HashingReader<Box<dyn Read + '_>>> {
        let digest = Digest::try_from(self.blob.digest())?;
        let blob = self
            .layout
            .open_blob_verified(&digest, Some(self.blob.size()))?;
        let plain = layer::decompress(blob, &self.what())?;
        Ok(HashingReader::new(plain, Algorithm::Sha256))
    }

    fn check(&self, got: &Digest) -> Result<()> {
        if *got != self.diff_id {
            return Err(Error::corrupt(
                self.what(),
                format!(
                    "it uncompresses to {got}, but the image config says its diffID is {}",
                    self.diff_id
                ),
            ));
        }
        Ok(())
    }

    /// Reads the layer through once for its uncompressed size, which a tar header needs before
    /// the data, checking its digest and diffID on the way.
    fn measure(&self) -> Result<u64> {
        let mut r = self.open()?;
        io::copy(&mut r, &mut io::sink()).map_err(|e| Error::corrupt(self.what(), e))?;
        let (d, n) = r.finish();
        self.check(&d)?;
        Ok(n)
    }
}

/// Measures the layers on as many threads as there are cores.
fn measure_all(layers: &[PlainLayer<'_>]) -> Result<Vec<u64>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut sizes = Vec::with_capacity(layers.len());
    for chunk in layers.chunks(threads) {
        let got: Vec<Result<u64>> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk.iter().map(|l| s.spawn(|| l.measure())).collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("measuring a layer does not panic"))
                .collect()
        });
        for g in got {
            sizes.push(g?);
        }
    }
    Ok(sizes)
}

/// The docker archive, as Docker 25+ writes it: an OCI layout with uncompressed layers, plus
/// `manifest.json` and `repositories` for `docker load`.
fn write_docker<W: Write>(tw: &mut TarWriter<W>, images: &[Selected]) -> Result<()> {
    let mut layers: Vec<PlainLayer<'_>> = Vec::new();
    let mut seen = HashSet::new();
    for s in images {
        let diff_ids = s.image.diff_ids();
        let blobs = s.image.manifest.layers();
        if diff_ids.len() != blobs.len() {
            return Err(Error::corrupt(
                format!("image {}", s.image.id()),
                format!(
                    "its manifest has {} layers but its config {} diffIDs",
                    blobs.len(),
                    diff_ids.len()
                ),
            ));
        }
        for (d, blob) in diff_ids.iter().zip(blobs) {
            let diff_id = Digest::parse(d)?;
            if seen.insert(diff_id.clone()) {
                layers.push(PlainLayer {
                    layout: &s.layout,
                    blob,
                    diff_id,
                });
            }
        }
    }
    // Configs are read before anything is written, so a missing one fails early.
    let configs: Vec<Vec<u8>> = images
        .iter()
        .map(|s| s.layout.read_blob(&s.image.config_digest))
        .collect::<Result<_>>()?;
    tw.dir("blobs/")?;
    tw.dir("blobs/sha256/")?;
    let sizes = if tw.can_patch() {
        let mut sizes = Vec::new();
        for l in &layers {
            let mut r = l.open()?;
            sizes.push(tw.stream_unsized(&blob_path(&l.diff_id), &mut r, &l.what())?);
            l.check(&r.finish().0)?;
        }
        sizes
    } else {
        let sizes = measure_all(&layers)?;
        for (l, size) in layers.iter().zip(&sizes) {
            let mut r = l.open()?;
            tw.stream(&blob_path(&l.diff_id), *size, &mut r, &l.what())?;
            l.check(&r.finish().0)?;
        }
        sizes
    };
    let size_of: HashMap<&Digest, u64> = layers
        .iter()
        .map(|l| &l.diff_id)
        .zip(sizes.iter().copied())
        .collect();

    let mut index = Vec::new();
    let mut manifest_json = Vec::new();
    // Docker's `repositories`: repository → tag → the hex of the top layer's diffID.
    let mut repositories: IndexMap<String, IndexMap<String, String>> = IndexMap::new();
    for (s, config) in images.iter().zip(&configs) {
        let config_digest = &s.image.config_digest;
        tw.file(&blob_path(config_digest), config)?;
        let diff_ids: Vec<Digest> = s
            .image
            .diff_ids()
            .iter()
            .map(|d| Digest::parse(d))
            .collect::<std::result::Result<_, _>>()?;
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(
                MediaType::ImageConfig,
                config.len() as u64,
                config_digest,
            ))
            .layers(
                diff_ids
                    .iter()
                    .map(|d| Descriptor::new(MediaType::ImageLayer, size_of[d], d))
                    .collect::<Vec<_>>(),
            )
            .build()
            .map_err(|e| Error::InvalidInput(format!("manifest: {e}")))?;
        let bytes = serde_json::to_vec(&manifest).expect("manifest serialises");
        let digest = Digest::sha256_of(&bytes);
        tw.file(&blob_path(&digest), &bytes)?;
        let desc = Descriptor::new(MediaType::ImageManifest, bytes.len() as u64, &digest);

        let tags: Vec<&Reference> = s.names.iter().filter(|n| n.tag().is_some()).collect();
        if tags.is_empty() {
            index.push(desc.clone());
        }
        for n in &tags {
            // As Docker 25+: the full name for containerd, the tag alone as the OCI ref name.
            let d = annotate(&desc, CONTAINERD_IMAGE_NAME, &n.to_string());
            index.push(annotate(&d, REF_NAME, n.tag().unwrap_or("latest")));
            if let Some(top) = diff_ids.last() {
                repositories.entry(n.familiar_name()).or_default().insert(
                    n.tag().unwrap_or("latest").to_string(),
                    top.hex().to_string(),
                );
            }
        }
        let repo_tags: Vec<String> = tags.iter().map(|n| n.familiar_string()).collect();
        manifest_json.push(DockerManifest {
            config: blob_path(config_digest),
            repo_tags: (!repo_tags.is_empty()).then_some(repo_tags),
            layers: diff_ids.iter().map(blob_path).collect(),
        });
    }
    write_index(tw, index)?;
    tw.file(
        MANIFEST_JSON,
        &serde_json::to_vec(&manifest_json).expect("manifest.json serialises"),
    )?;
    tw.file(OCI_LAYOUT, OCI_LAYOUT_CONTENT.as_bytes())?;
    tw.file(
        "repositories",
        &serde_json::to_vec(&repositories).expect("JSON serialises"),
    )
}

fn write_index<W: Write>(tw: &mut TarWriter<W>, manifests: Vec<Descriptor>) -> Result<()> {
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .map_err(|e| Error::InvalidInput(format!("index: {e}")))?;
    // Annotations are a HashMap: sorted keys keep the archive byte-for-byte reproducible.
    let index = serde_json::to_value(&index).expect("index serialises");
    tw.file(INDEX_JSON, &image::canonical_json(&index))
}

/// The OCI archive: the images' blobs as stored (compressed layers, the same manifests and so
/// the same digests), named by their full reference in `index.json`.
fn write_oci<W: Write>(tw: &mut TarWriter<W>, images: &[Selected]) -> Result<()> {
    let mut blobs: Vec<(&Layout, Descriptor)> = Vec::new();
    let mut seen = HashSet::new();
    for s in images {
        // The entry (an OCI manifest skopeo and umoci read) and the manifest it stands for (the
        // registry's, which keeps the image's digest when the archive is loaded again).
        let original = image::original_descriptor(&s.layout, &s.descriptor)?;
        for d in reachable(&s.layout, &s.descriptor)?
            .into_iter()
            .chain(reachable(&s.layout, &original)?)
        {
            if seen.insert(d.digest().clone()) {
                blobs.push((&s.layout, d));
            }
        }
    }
    tw.dir("blobs/")?;
    tw.dir("blobs/sha256/")?;
    for (layout, d) in &blobs {
        let digest = Digest::try_from(d.digest())?;
        let mut r = layout.open_blob_verified(&digest, Some(d.size()))?;
        tw.stream(
            &blob_path(&digest),
            d.size(),
            &mut r,
            &format!("blob {digest}"),
        )?;
    }
    let mut index = Vec::new();
    for s in images {
        let mut desc = bare(&s.descriptor);
        if let Some(o) = annotation(&s.descriptor, ORIGINAL) {
            desc = annotate(&desc, ORIGINAL, o);
        }
        if s.names.is_empty() {
            index.push(desc.clone());
        }
        for n in &s.names {
            let name = n.to_string();
            index.push(annotate(
                &annotate(&desc, CONTAINERD_IMAGE_NAME, &name),
                REF_NAME,
                &name,
            ));
        }
    }
    write_index(tw, index)?;
    tw.file(OCI_LAYOUT, OCI_LAYOUT_CONTENT.as_bytes())
}

/// Every blob an index entry needs, each present in the layout; a missing one is an error
/// before anything is written.
fn reachable(layout: &Layout, top: &Descriptor) -> Result<Vec<Descriptor>> {
    let mut out = Vec::new();
    let mut todo = vec![top.clone()];
    while let Some(d) = todo.pop() {
        let digest = Digest::try_from(d.digest())?;
        if !layout.has_blob(&digest) {
            return Err(Error::BlobMissing(digest));
        }
        let is_json = matches!(
            d.media_type(),
            MediaType::ImageManifest | MediaType::ImageIndex
        ) || matches!(d.media_type(), MediaType::Other(m) if m == DOCKER_MANIFEST || m == DOCKER_MANIFEST_LIST);
        if is_json {
            let v: Value = layout.read_json(&digest)?;
            if v.get("manifests").is_some() {
                let i: oci_spec::image::ImageIndex = serde_json::from_value(v)
                    .map_err(|e| Error::corrupt(format!("image index {digest}"), e))?;
                todo.extend(i.manifests().iter().cloned());
            } else {
                let m: oci_spec::image::ImageManifest = serde_json::from_value(v)
                    .map_err(|e| Error::corrupt(format!("manifest {digest}"), e))?;
                todo.push(m.config().clone());
                todo.extend(m.layers().iter().cloned());
            }
        }
        out.push(d);
    }
    Ok(out)
}
