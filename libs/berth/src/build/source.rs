//! The build input read from stdin (`img-build -`), as `docker build -` reads it: docker/cli's
//! `GetContextFromReader` peeks at the first 512 bytes, and a compressed stream or a valid tar
//! header means a tar of the build context; anything else is a lone Dockerfile, with no context.
//!
//! A context tar (plain, gzip or zstd, told by their magic bytes; bzip2 and xz are refused) is
//! extracted with [`crate::unpack`], so no entry lands outside the temporary directory whatever
//! its name or the symlinks before it say, into a directory under the caller's `tmp_parent`,
//! removed when the [`Input`] is dropped. `.wh.` names are ordinary files there.
//!
//! Differences from Docker, on purpose: Docker's CLI sends a lone Dockerfile as a context that
//! holds only that Dockerfile (so `COPY . /` copies it); BuildKit gives it an empty context. Here
//! it has none, and a step that needs one says "no build context". Docker takes an uncompressed
//! stream for a Dockerfile when its first tar entry is a PAX header (Go's `tar.Reader` cannot
//! read the PAX record from the 512 bytes it peeked at); here a header whose checksum is right is
//! a tar whatever its type.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::layer::{decompress, Compression};
use crate::unpack::{apply, Dest, Whiteouts};

/// The largest Dockerfile read (from stdin or from the context): 16 MiB, far above any real one.
pub const DOCKERFILE_LIMIT: u64 = 16 << 20;

/// What stdin held.
#[derive(Debug)]
pub enum Input {
    /// A build context extracted from a tar into `dir`, its Dockerfile inside (read it with
    /// [`Input::dockerfile`], which resolves inside `dir`). `guard` removes `dir` when dropped.
    Context {
        dir: PathBuf,
        /// Tar entries written.
        entries: u64,
        /// Bytes of file content written.
        bytes: u64,
        guard: tempfile::TempDir,
    },
    /// A lone Dockerfile's text: the build has no context.
    Dockerfile(String),
}

impl Input {
    /// The context directory, if there is one.
    pub fn context(&self) -> Option<&Path> {
        match self {
            Input::Context { dir, .. } => Some(dir),
            Input::Dockerfile(_) => None,
        }
    }

    /// The Dockerfile's text: the lone one, or `name` (relative to the context; None:
    /// `Dockerfile`, then `dockerfile` as Docker falls back) read inside the context, symlinks
    /// resolved in it. `name` is ignored for a lone Dockerfile, as docker/cli does.
    pub fn dockerfile(&self, name: Option<&str>) -> Result<String> {
        let dir = match self {
            Input::Dockerfile(text) => return Ok(text.clone()),
            Input::Context { dir, .. } => dir,
        };
        let dest = Dest::open(dir)?;
        let names: &[&str] = match name {
            Some(n) => &[n],
            None => &["Dockerfile", "dockerfile"],
        };
        let mut first_err = None;
        for n in names {
            let rel = PathBuf::from(n.trim_start_matches('/'));
            match dest.read_file(&rel, DOCKERFILE_LIMIT + 1) {
                Ok(bytes) => return text_of(bytes, &format!("Dockerfile {n} in the context")),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    first_err.get_or_insert(*n);
                }
                Err(e) => {
                    return Err(Error::stream(
                        format!("read Dockerfile {n} in the context from stdin"),
                        e,
                    ))
                }
            }
        }
        Err(Error::InvalidInput(format!(
            "Cannot locate specified Dockerfile: {} (not in the context tar read from stdin)",
            first_err.unwrap_or("Dockerfile")
        )))
    }
}

/// Reads the build input from `r`: a context tar extracted under `tmp_parent`, or a Dockerfile.
pub fn from_stdin(r: impl Read, tmp_parent: &Path) -> Result<Input> {
    let mut r = r;
    let mut head = Vec::with_capacity(512);
    (&mut r)
        .take(512)
        .read_to_end(&mut head)
        .map_err(|e| Error::stream("read the build input from stdin", e))?;
    if head.is_empty() {
        return Err(Error::InvalidInput(
            "stdin is empty: expected a Dockerfile or a tar of the build context".into(),
        ));
    }
    let all = io::Cursor::new(head).chain(r);
    if !is_archive(all.get_ref().0.get_ref()) {
        let mut bytes = Vec::new();
        all.take(DOCKERFILE_LIMIT + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::stream("read the Dockerfile from stdin", e))?;
        return Ok(Input::Dockerfile(text_of(
            bytes,
            "the Dockerfile on stdin",
        )?));
    }
    let what = "build context tar on stdin";
    let dir = tempfile::Builder::new()
        .prefix("build-context-")
        .tempdir_in(tmp_parent)
        .map_err(|e| Error::io("make a directory in", tmp_parent, e))?;
    let tar = decompress(all, what)?;
    let mut dest = Dest::open(dir.path())?;
    let applied = apply(&mut dest, tar, Whiteouts::Keep, what)?;
    Ok(Input::Context {
        dir: dir.path().to_path_buf(),
        entries: applied.entries,
        bytes: applied.bytes,
        guard: dir,
    })
}

/// docker/cli's `IsArchive`: compressed (any compression Docker knows, so that bzip2 and xz get
/// a clear "not supported" rather than parse as a Dockerfile), or a full tar header whose
/// checksum is right (an all-zero block, an empty tar, is not).
fn is_archive(head: &[u8]) -> bool {
    if Compression::detect(head) != Compression::None
        || head.starts_with(b"BZh")
        || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
    {
        return true;
    }
    let Ok(h) = <&[u8; 512]>::try_from(head) else {
        return false;
    };
    if h.iter().all(|b| *b == 0) {
        return false;
    }
    let field = &h[148..156];
    let digits: String = field
        .iter()
        .map(|b| *b as char)
        .filter(|c| !matches!(c, ' ' | '\0'))
        .collect();
    let Ok(want) = i64::from_str_radix(&digits, 8) else {
        return false;
    };
    // The checksum field counts as eight spaces; old tars summed signed bytes.
    let (mut unsigned, mut signed) = (8 * i64::from(b' '), 8 * i64::from(b' '));
    for b in h[..148].iter().chain(&h[156..]) {
        unsigned += i64::from(*b);
        signed += i64::from(*b as i8);
    }
    !digits.is_empty() && (want == unsigned || want == signed)
}

fn text_of(bytes: Vec<u8>, what: &str) -> Result<String> {
    if bytes.len() as u64 > DOCKERFILE_LIMIT {
        return Err(Error::InvalidInput(format!(
            "{what} is larger than {} MiB",
            DOCKERFILE_LIMIT >> 20
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        Error::InvalidInput(format!(
            "{what} is not UTF-8 text (byte {} is not; a tar's first header may be damaged)",
            e.utf8_error().valid_up_to()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    /// A tar with a Dockerfile, a file in a directory (uid 1000), a `.wh.` name and a symlink
    /// to a host file.
    fn context_tar() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |name: &str, data: &[u8], mode: u32| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(mode);
            h.set_uid(1000);
            h.set_gid(1000);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, data).unwrap();
        };
        add("Dockerfile", b"FROM busybox\nCOPY . /x\n", 0o644);
        add("sub/run.sh", b"#!/bin/sh\necho hi\n", 0o755);
        add(".wh.keep", b"not a whiteout here", 0o600);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, "passwd", "/etc/passwd").unwrap();
        b.into_inner().unwrap()
    }

    fn check_context(input: &Input) {
        let dir = input.context().expect("a context");
        assert_eq!(
            std::fs::read_to_string(dir.join("sub/run.sh")).unwrap(),
            "#!/bin/sh\necho hi\n"
        );
        let m = std::fs::metadata(dir.join("sub/run.sh")).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o755);
        if rustix::process::geteuid().is_root() {
            assert_eq!((m.uid(), m.gid()), (1000, 1000));
        }
        assert!(dir.join(".wh.keep").is_file());
        assert_eq!(
            std::fs::read_link(dir.join("passwd")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert_eq!(input.dockerfile(None).unwrap(), "FROM busybox\nCOPY . /x\n");
        assert_eq!(
            input.dockerfile(Some("Dockerfile")).unwrap(),
            "FROM busybox\nCOPY . /x\n"
        );
    }

    #[test]
    fn plain_gzip_and_zstd_tars_are_contexts() {
        let tmp = tempfile::tempdir().unwrap();
        let tar = context_tar();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&tar[..], 3).unwrap();
        for (what, bytes) in [("plain", &tar), ("gzip", &gz), ("zstd", &zst)] {
            let input =
                from_stdin(&bytes[..], tmp.path()).unwrap_or_else(|e| panic!("{what}: {e}"));
            check_context(&input);
            let dir = input.context().unwrap().to_path_buf();
            assert!(dir.starts_with(tmp.path()), "{what}: {dir:?}");
            drop(input);
            assert!(!dir.exists(), "{what}: the context is removed on drop");
        }
    }

    #[test]
    fn a_lone_dockerfile_has_no_context() {
        let tmp = tempfile::tempdir().unwrap();
        let text = "FROM busybox\nRUN echo hi\n";
        let input = from_stdin(text.as_bytes(), tmp.path()).unwrap();
        assert!(input.context().is_none());
        assert_eq!(input.dockerfile(None).unwrap(), text);
        assert_eq!(input.dockerfile(Some("other")).unwrap(), text);
        // A long Dockerfile (past the 512 bytes peeked at) is read whole.
        let long = format!("FROM busybox\n{}", "RUN true\n".repeat(200));
        let input = from_stdin(long.as_bytes(), tmp.path()).unwrap();
        assert_eq!(input.dockerfile(None).unwrap(), long);
        // Nothing was extracted.
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn bad_input_is_a_clear_error_and_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let e = from_stdin(&b""[..], tmp.path()).unwrap_err().to_string();
        assert!(e.contains("stdin is empty"), "{e}");
        let e = from_stdin(&b"FROM x\n\xff\xfe"[..], tmp.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("not UTF-8"), "{e}");
        let e = from_stdin(&b"BZh91AY&SY"[..], tmp.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("bzip2") && e.contains("not supported"), "{e}");
        // A cut gzip stream: an error, and the temporary directory is gone.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&context_tar()).unwrap();
        let gz = gz.finish().unwrap();
        assert!(from_stdin(&gz[..gz.len() / 2], tmp.path()).is_err());
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
        // An empty tar (zero blocks) is not an archive: it is taken as text, as docker/cli.
        assert!(!is_archive(&[0u8; 512]));
    }

    #[test]
    fn entries_never_land_outside_the_context() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        // A symlink to a host directory, then a file written through it.
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "link", &outside).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        b.append_data(&mut h, "link/escaped", &b"x"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        // An absolute name (the tar crate refuses to write one: set the bytes).
        h.as_old_mut().name[..4].copy_from_slice(b"/abs");
        h.set_cksum();
        b.append(&h, &b"y"[..]).unwrap();
        let tar = b.into_inner().unwrap();
        let input = from_stdin(&tar[..], tmp.path()).unwrap();
        assert!(!outside.join("escaped").exists());
        let dir = input.context().unwrap();
        assert!(dir
            .join(outside.strip_prefix("/").unwrap())
            .join("escaped")
            .is_file());
        assert!(dir.join("abs").is_file());
        // A Dockerfile named through a symlink out of the context is read inside it.
        std::fs::write(outside.join("Dockerfile"), "FROM host\n").unwrap();
        let e = input
            .dockerfile(Some("link/Dockerfile"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("Cannot locate specified Dockerfile"), "{e}");
        let e = input.dockerfile(None).unwrap_err().to_string();
        assert!(
            e.contains("Cannot locate specified Dockerfile: Dockerfile"),
            "{e}"
        );
    }

    #[test]
    fn lowercase_dockerfile_is_the_fallback() {
        let tmp = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(13);
        h.set_mode(0o644);
        b.append_data(&mut h, "dockerfile", &b"FROM scratch\n"[..])
            .unwrap();
        let input = from_stdin(&b.into_inner().unwrap()[..], tmp.path()).unwrap();
        assert_eq!(input.dockerfile(None).unwrap(), "FROM scratch\n");
        assert!(input.dockerfile(Some("Dockerfile")).is_err());
    }
}
