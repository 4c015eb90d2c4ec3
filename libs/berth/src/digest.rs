//! Content digests (`sha256:<hex>`, `sha512:<hex>`): parsing, streaming hashing, and a reader that
//! verifies what it reads.
//!
//! Every blob berth stores or fetches is addressed by its digest, so a digest is only ever built
//! from a validated string or from bytes we hashed ourselves.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256, Sha512};

/// The hash algorithms OCI content may be addressed with. sha256 is what berth writes; sha512 is
/// accepted on read because the image spec registers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    /// The name used in digests and in `blobs/<alg>/` directories.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of the hex encoding of this algorithm's output.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    pub fn hasher(self) -> Hasher {
        match self {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Box::new(Sha512::new())),
        }
    }
}

/// Why a string is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("invalid digest {0:?}: expected ALGORITHM:HEX, such as sha256:<64 hex digits>")]
    Format(String),
    #[error("invalid digest {0:?}: unsupported algorithm {1:?} (sha256 and sha512 are supported)")]
    Algorithm(String, String),
    #[error("invalid digest {0:?}: {1} needs {2} lower-case hex digits")]
    Hex(String, &'static str, usize),
}

/// A validated content digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// Parses `ALG:HEX`, checking the algorithm and the exact hex length (lower case only, as
    /// go-digest requires).
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        let (alg, hex) = s
            .split_once(':')
            .ok_or_else(|| DigestError::Format(s.to_string()))?;
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            "" => return Err(DigestError::Format(s.to_string())),
            other => return Err(DigestError::Algorithm(s.to_string(), other.to_string())),
        };
        if hex.len() != algorithm.hex_len() || !hex.bytes().all(is_lower_hex) {
            return Err(DigestError::Hex(
                s.to_string(),
                algorithm.as_str(),
                algorithm.hex_len(),
            ));
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_string(),
        })
    }

    /// The sha256 digest of `data`.
    pub fn sha256_of(data: &[u8]) -> Digest {
        let mut h = Algorithm::Sha256.hasher();
        h.update(data);
        h.finish()
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex part, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex digits, as Docker shows an IMAGE ID.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// Whether `s` looks like a (possibly short) hex ID: only lower-case hex digits.
pub fn is_hex_id(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_lower_hex)
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl From<&Digest> for oci_spec::image::Digest {
    fn from(d: &Digest) -> Self {
        // A Digest we validated is always a valid OCI digest.
        oci_spec::image::Digest::from_str(&d.to_string()).expect("validated digest")
    }
}

impl TryFrom<&oci_spec::image::Digest> for Digest {
    type Error = DigestError;
    fn try_from(d: &oci_spec::image::Digest) -> Result<Self, Self::Error> {
        Digest::parse(d.as_ref())
    }
}

/// An incremental hasher for one algorithm.
#[derive(Clone)]
pub enum Hasher {
    Sha256(Sha256),
    Sha512(Box<Sha512>),
}

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    pub fn finish(self) -> Digest {
        let (algorithm, bytes) = match self {
            Hasher::Sha256(h) => (Algorithm::Sha256, h.finalize().to_vec()),
            Hasher::Sha512(h) => (Algorithm::Sha512, h.finalize().to_vec()),
        };
        Digest {
            algorithm,
            hex: to_hex(&bytes),
        }
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// A writer that hashes and counts everything written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W, algorithm: Algorithm) -> Self {
        HashingWriter {
            inner,
            hasher: algorithm.hasher(),
            size: 0,
        }
    }

    /// The digest and size of what was written, and the inner writer.
    pub fn finish(self) -> (Digest, u64, W) {
        (self.hasher.finish(), self.size, self.inner)
    }

    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    size: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R, algorithm: Algorithm) -> Self {
        HashingReader {
            inner,
            hasher: algorithm.hasher(),
            size: 0,
        }
    }

    /// The digest and size of what was read so far.
    pub fn finish(self) -> (Digest, u64) {
        (self.hasher.finish(), self.size)
    }

    pub fn size(&self) -> u64 {
        self.size
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// A reader that checks, when its input ends, that what was read has the expected digest (and
/// size, when known). A mismatch is an `InvalidData` error from the final `read`, so a consumer
/// that streams to the end can never accept corrupt content silently.
pub struct VerifyingReader<R> {
    inner: HashingReader<R>,
    expected: Digest,
    expected_size: Option<u64>,
    verified: bool,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, expected: Digest, expected_size: Option<u64>) -> Self {
        let alg = expected.algorithm();
        VerifyingReader {
            inner: HashingReader::new(inner, alg),
            expected,
            expected_size,
            verified: false,
        }
    }

    /// Whether the whole input has been read and matched.
    pub fn verified(&self) -> bool {
        self.verified
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.verified || buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        let size = self.inner.size();
        if let Some(want) = self.expected_size {
            if size > want {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "content of {} is longer than its declared size {want}",
                        self.expected
                    ),
                ));
            }
        }
        if n == 0 {
            if let Some(want) = self.expected_size {
                if size != want {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "content of {} is {size} bytes, but its declared size is {want}",
                            self.expected
                        ),
                    ));
                }
            }
            let got = self.inner.hasher.clone().finish();
            if got != self.expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "digest mismatch: expected {}, content hashes to {got}",
                        self.expected
                    ),
                ));
            }
            self.verified = true;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_and_displays() {
        let d = Digest::parse(EMPTY).unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.to_string(), EMPTY);
        assert_eq!(d.short(), "e3b0c44298fc");
        assert_eq!(Digest::sha256_of(b""), d);
    }

    #[test]
    fn rejects_bad_digests() {
        for bad in [
            "",
            "sha256",
            ":abc",
            "sha256:abc",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            &EMPTY.to_uppercase(),
            &format!("{EMPTY}0"),
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn sha512_accepted() {
        let mut h = Algorithm::Sha512.hasher();
        h.update(b"abc");
        let d = h.finish();
        assert_eq!(d.hex().len(), 128);
        assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
    }

    #[test]
    fn verifying_reader_accepts_and_refuses() {
        let data = b"hello world".to_vec();
        let good = Digest::sha256_of(&data);
        let mut out = Vec::new();
        let mut r = VerifyingReader::new(&data[..], good.clone(), Some(11));
        r.read_to_end(&mut out).unwrap();
        assert!(r.verified());
        assert_eq!(out, data);

        let mut r = VerifyingReader::new(&b"hello worle"[..], good.clone(), None);
        let err = r.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("digest mismatch"), "{err}");

        let mut r = VerifyingReader::new(&data[..], good.clone(), Some(5));
        assert!(r.read_to_end(&mut Vec::new()).is_err());
        let mut r = VerifyingReader::new(&data[..], good, Some(50));
        assert!(r.read_to_end(&mut Vec::new()).is_err());
    }

    #[test]
    fn hashing_writer_counts() {
        let mut w = HashingWriter::new(Vec::new(), Algorithm::Sha256);
        w.write_all(b"hello ").unwrap();
        w.write_all(b"world").unwrap();
        let (d, n, v) = w.finish();
        assert_eq!(n, 11);
        assert_eq!(d, Digest::sha256_of(b"hello world"));
        assert_eq!(v, b"hello world");
    }
}
