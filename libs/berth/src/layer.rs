//! Layers: recognising compression, and turning a tar stream into a stored layer blob.
//!
//! A layer is made in one pass: the input is decompressed, hashed (its diffID), checked entry by
//! entry as a tar archive, and gzip-compressed into a blob that is hashed again (its digest).
//! Nothing is held in memory beyond the stream buffers.

use std::io::{self, BufRead, BufReader, Read, Write};

use oci_spec::image::{Descriptor, MediaType};

use crate::archive::tar_reader::TarReader;
use crate::compress::ParGzWriter;
use crate::digest::{Algorithm, Digest, HashingReader};
use crate::error::{Error, Result};
use crate::store::Layout;

/// How a layer's bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Recognises compression by its magic bytes; anything else is taken as uncompressed. A
    /// zstd stream may begin with a skippable frame (magic 0x184D2A50 to 0x184D2A5F).
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
            || (head.len() >= 4 && head[0] & 0xf0 == 0x50 && head[1..4] == [0x2a, 0x4d, 0x18])
        {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Compression::None => "an uncompressed tar",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// Docker's uncompressed layer type, which tools have also put on compressed layers.
const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// The layer media types berth unpacks, with the compression each one says (`None`: Docker's
/// plain `…rootfs.diff.tar`, which tools have put on compressed layers too, so its content
/// decides, as containerd does). One list for the puller's check and the unpacker.
pub const LAYER_TYPES: [(&str, Option<Compression>); 10] = [
    (
        "application/vnd.oci.image.layer.v1.tar",
        Some(Compression::None),
    ),
    (
        "application/vnd.oci.image.layer.v1.tar+gzip",
        Some(Compression::Gzip),
    ),
    (
        "application/vnd.oci.image.layer.v1.tar+zstd",
        Some(Compression::Zstd),
    ),
    (
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        Some(Compression::None),
    ),
    (
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        Some(Compression::Gzip),
    ),
    (
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        Some(Compression::Zstd),
    ),
    (
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        Some(Compression::Gzip),
    ),
    (
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        Some(Compression::Gzip),
    ),
    (DOCKER_LAYER_TAR, None),
    ("application/vnd.docker.image.rootfs.foreign.diff.tar", None),
];

/// Whether berth unpacks layers of `media_type`.
pub fn is_layer_type(media_type: &str) -> bool {
    LAYER_TYPES.iter().any(|(t, _)| *t == media_type)
}

/// The compression a layer's media type says, as containerd and Docker read it: `Ok(None)` where
/// the content decides (see `LAYER_TYPES`); an error for a media type that is not a layer (an
/// attestation, a Helm chart, an encrypted layer, text): such a blob is not unpacked.
pub fn layer_compression(media_type: &str, digest: &Digest) -> Result<Option<Compression>> {
    match LAYER_TYPES.iter().find(|(t, _)| *t == media_type) {
        Some((_, c)) => Ok(*c),
        None => Err(Error::InvalidInput(format!(
            "layer {digest}: media type {media_type:?} is not an image layer: refusing to unpack it \
             (layers are tar archives, plain, gzip or zstd: application/vnd.oci.image.layer.v1.tar[+gzip|+zstd] \
             or application/vnd.docker.image.rootfs.diff.tar[.gzip])"
        ))),
    }
}

/// Names compressions berth does not read, so that the error says what the input is.
fn unsupported_compression(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"BZh") {
        Some("bzip2")
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some("xz")
    } else {
        None
    }
}

/// Wraps `input` in the decompressor its first bytes call for.
pub fn decompress<'a>(input: impl Read + 'a, what: &str) -> Result<Box<dyn Read + 'a>> {
    decompress_as(input, None, "", what)
}

/// Wraps `input` in the decompressor `expected` names (from the media type `media_type`),
/// checking that the content begins as that compression does: a mismatch is an error. With no
/// expectation, the first bytes decide.
pub fn decompress_as<'a>(
    input: impl Read + 'a,
    expected: Option<Compression>,
    media_type: &str,
    what: &str,
) -> Result<Box<dyn Read + 'a>> {
    let mut r = BufReader::with_capacity(256 << 10, input);
    let head = r
        .fill_buf()
        .map_err(|e| Error::stream(format!("read {what}"), e))?
        .to_vec();
    let unsupported = unsupported_compression(&head);
    let found = Compression::detect(&head);
    if let Some(want) = expected.filter(|w| *w != found || unsupported.is_some()) {
        return Err(Error::InvalidInput(format!(
            "{what}: its media type {media_type} says {}, but its content is {}",
            want.name(),
            unsupported.unwrap_or(if found == Compression::None {
                "not compressed that way"
            } else {
                found.name()
            })
        )));
    }
    if let Some(name) = unsupported {
        return Err(Error::InvalidInput(format!(
            "{what}: {name} compression is not supported (use gzip, zstd or none)"
        )));
    }
    Ok(match found {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(r)
                .map_err(|e| Error::stream(format!("read {what}"), e))?,
        ),
    })
}

/// How far one layer may expand: max(`max_bytes`, `ratio` × its compressed size) bytes of tar
/// stream. Sparse files' holes are not in the stream and do not count. A layer past it is
/// refused as a decompression bomb as soon as it gets there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpansionLimit {
    pub max_bytes: u64,
    pub ratio: u64,
}

/// Environment variables that raise (or lower) [`ExpansionLimit`].
pub const ENV_MAX_BYTES: &str = "BERTH_LAYER_MAX_BYTES";
pub const ENV_MAX_RATIO: &str = "BERTH_LAYER_MAX_RATIO";

impl Default for ExpansionLimit {
    fn default() -> Self {
        ExpansionLimit {
            max_bytes: 1 << 30,
            ratio: 100,
        }
    }
}

impl ExpansionLimit {
    /// The default, changed by `BERTH_LAYER_MAX_BYTES` and `BERTH_LAYER_MAX_RATIO`.
    pub fn from_env() -> Result<ExpansionLimit> {
        let mut l = ExpansionLimit::default();
        if let Ok(v) = std::env::var(ENV_MAX_BYTES) {
            // Docker's sizes (`4G`, `512m`, `1.5g`), as `--memory` reads them.
            let bytes = crate::container::spec::parse_bytes(&v).ok();
            l.max_bytes = bytes.and_then(|n| u64::try_from(n).ok()).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{ENV_MAX_BYTES}={v:?}: not a size in bytes (such as 4G)"
                ))
            })?;
        }
        if let Ok(v) = std::env::var(ENV_MAX_RATIO) {
            l.ratio = v.trim().parse().map_err(|_| {
                Error::InvalidInput(format!("{ENV_MAX_RATIO}={v:?}: not a whole number"))
            })?;
        }
        Ok(l)
    }

    /// The most bytes a layer of `compressed` bytes may expand to.
    pub fn for_size(&self, compressed: u64) -> u64 {
        self.max_bytes.max(self.ratio.saturating_mul(compressed))
    }

    /// The error for `what` (`compressed` bytes) past the limit.
    pub fn exceeded(&self, what: &str, compressed: u64) -> Error {
        Error::InvalidInput(format!(
            "{what}: refusing a decompression bomb: it expands to more than {} bytes \
             (the larger of {ENV_MAX_BYTES}={} and {ENV_MAX_RATIO}={} times its {compressed} \
             compressed bytes); set those to allow it",
            self.for_size(compressed),
            self.max_bytes,
            self.ratio
        ))
    }
}

/// A layer just stored: its descriptor (for the manifest) and diffID (for the config).
#[derive(Debug, Clone)]
pub struct NewLayer {
    pub descriptor: Descriptor,
    pub diff_id: Digest,
    /// Size of the uncompressed tar.
    pub uncompressed_size: u64,
}

/// Copies everything read through it into a writer as well.
struct Tee<R, W> {
    reader: R,
    sink: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.reader.read(buf)?;
        self.sink.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Stores a tar stream (plain, gzip or zstd) as a gzip layer blob. The input must be a tar
/// archive: anything else is refused and nothing is stored. `what` names the input in errors.
pub fn import_tar(layout: &Layout, input: impl Read, what: &str) -> Result<NewLayer> {
    store_tar(layout, input, what, Codec::Gzip)
}

/// How a layer made here is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// gzip on every core (pigz-style independent members), as Docker and every registry read
    #[default]
    Gzip,
    /// zstd (smaller and faster to unpack; needs Docker 23+ or containerd 1.5+ to read)
    Zstd,
}

/// The compressor a layer blob is written through.
enum Sink<'a> {
    Gzip(ParGzWriter<crate::store::BlobWriter<'a>>),
    Zstd(zstd::stream::write::Encoder<'static, crate::store::BlobWriter<'a>>),
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Gzip(w) => w.write(buf),
            Sink::Zstd(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Gzip(w) => w.flush(),
            Sink::Zstd(w) => w.flush(),
        }
    }
}

impl<'a> Sink<'a> {
    fn finish(self) -> io::Result<crate::store::BlobWriter<'a>> {
        match self {
            Sink::Gzip(w) => w.finish(),
            Sink::Zstd(w) => w.finish(),
        }
    }
}

/// [`import_tar`] with a choice of compression.
pub fn store_tar(layout: &Layout, input: impl Read, what: &str, codec: Codec) -> Result<NewLayer> {
    let plain = decompress(input, what)?;
    let blob = layout.blob_writer()?;
    let sink = match codec {
        Codec::Gzip => Sink::Gzip(ParGzWriter::new(blob, 6)),
        Codec::Zstd => Sink::Zstd(
            zstd::stream::write::Encoder::new(blob, 3)
                .map_err(|e| Error::stream("compress layer", e))?,
        ),
    };
    let mut tee = Tee {
        reader: HashingReader::new(plain, Algorithm::Sha256),
        sink,
    };
    let not_tar = |e: io::Error| -> Error {
        if e.kind() == io::ErrorKind::InvalidData
            || e.kind() == io::ErrorKind::UnexpectedEof
            || e.kind() == io::ErrorKind::Other
        {
            Error::InvalidInput(format!("{what} is not a tar archive: {e}"))
        } else {
            Error::stream(format!("read {what}"), e)
        }
    };
    let mut entries = 0u64;
    {
        let mut r = TarReader::new(&mut tee);
        while r.next_entry().map_err(not_tar)?.is_some() {
            // Reading the data validates that the archive is complete.
            io::copy(&mut r, &mut io::sink()).map_err(not_tar)?;
            entries += 1;
        }
    }
    // The end-of-archive blocks and any padding after them belong to the layer too.
    io::copy(&mut tee, &mut io::sink()).map_err(|e| Error::stream(format!("read {what}"), e))?;
    let (diff_id, uncompressed_size) = tee.reader.finish();
    if uncompressed_size == 0 {
        return Err(Error::InvalidInput(format!(
            "{what} is empty, not a tar archive"
        )));
    }
    if entries == 0 && uncompressed_size < 1024 {
        return Err(Error::InvalidInput(format!(
            "{what} is not a tar archive: it has no entries and no end-of-archive marker"
        )));
    }
    let blob = tee
        .sink
        .finish()
        .map_err(|e| Error::stream("compress layer", e))?;
    let (digest, size) = blob.commit(None)?;
    Ok(NewLayer {
        descriptor: Descriptor::new(
            match codec {
                Codec::Gzip => MediaType::ImageLayerGzip,
                Codec::Zstd => MediaType::ImageLayerZstd,
            },
            size,
            &digest,
        ),
        diff_id,
        uncompressed_size,
    })
}

/// A tar of regular files, for unit tests across the library.
#[cfg(test)]
pub(crate) fn tarball(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> (tempfile::TempDir, Layout) {
        let t = tempfile::tempdir().unwrap();
        let l = Layout::open_or_create(t.path()).unwrap();
        (t, l)
    }

    #[test]
    fn same_layer_from_plain_gzip_and_zstd() {
        let (_t, l) = layout();
        let tar = tarball(&[("etc/hostname", b"box\n"), ("bin/sh", b"#!")]);
        let plain = import_tar(&l, &tar[..], "plain").unwrap();
        assert_eq!(plain.diff_id, Digest::sha256_of(&tar));
        assert_eq!(plain.uncompressed_size, tar.len() as u64);

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let from_gz = import_tar(&l, &gz[..], "gz").unwrap();
        assert_eq!(from_gz.diff_id, plain.diff_id);

        let zst = zstd::encode_all(&tar[..], 3).unwrap();
        let from_zst = import_tar(&l, &zst[..], "zst").unwrap();
        assert_eq!(from_zst.diff_id, plain.diff_id);
        assert_eq!(from_zst.descriptor.digest(), plain.descriptor.digest());

        // The stored blob decompresses to the original tar.
        let d = Digest::try_from(plain.descriptor.digest()).unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(l.open_blob(&d).unwrap())
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, tar);
    }

    #[test]
    fn refuses_what_is_not_a_tarball() {
        let (_t, l) = layout();
        let before = l.all_blobs().unwrap();
        for (input, why) in [
            (&b""[..], "is empty"),
            (&b"hello, I am a text file\n"[..], "not a tar archive"),
            (&[b'x'; 4096][..], "not a tar archive"),
            (&b"BZh91AY&SY"[..], "bzip2"),
        ] {
            let err = import_tar(&l, input, "input").unwrap_err().to_string();
            assert!(err.contains(why), "{err}");
        }
        let mut truncated = tarball(&[("big", &[7u8; 5000])]);
        truncated.truncate(2048);
        let err = import_tar(&l, &truncated[..], "cut")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a tar archive"), "{err}");
        assert_eq!(l.all_blobs().unwrap(), before, "nothing stored");
    }
}
