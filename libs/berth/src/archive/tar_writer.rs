//! A tar writer that streams entries whose size is known up front, telling a failure to read the
//! source (a corrupt blob: the archive is bad) from a failure to write the output (a full disk, a
//! closed pipe), which the `tar` crate's builder reports alike.
//!
//! Written to a file, an entry can also be streamed before its size is known: its header is
//! written with size 0 and rewritten in place (`pwrite`) once the data is through, which saves
//! reading a compressed layer twice.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;

use crate::error::{Error, Result};

pub(super) struct TarWriter<W: Write> {
    out: W,
    /// Names the output in errors: a file name or "stdout".
    dest: String,
    /// Bytes written so far: where the next header goes.
    offset: u64,
    /// The file `out` writes to, from offset 0, when it is one: headers can be rewritten.
    file: Option<File>,
}

fn header(path: &str, size: u64, mode: u32, kind: tar::EntryType) -> Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path)
        .map_err(|e| Error::InvalidInput(format!("archive entry {path}: {e}")))?;
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    // A fixed time, so that the same images always give the same archive.
    h.set_mtime(0);
    h.set_entry_type(kind);
    h.set_cksum();
    Ok(h)
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W, dest: impl Into<String>) -> Self {
        TarWriter {
            out,
            dest: dest.into(),
            offset: 0,
            file: None,
        }
    }

    /// A writer into `out`, which writes to `file` from its start (`file` is another handle on
    /// it), so that [`TarWriter::stream_unsized`] can rewrite headers.
    pub fn with_file(out: W, dest: impl Into<String>, file: File) -> Self {
        TarWriter {
            file: Some(file),
            ..TarWriter::new(out, dest)
        }
    }

    /// Whether entries can be streamed before their size is known.
    pub fn can_patch(&self) -> bool {
        self.file.is_some()
    }

    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.out
            .write_all(data)
            .map_err(|e| Error::stream(format!("write {}", self.dest), e))?;
        self.offset += data.len() as u64;
        Ok(())
    }

    /// Writes an entry of whatever `src` holds, to its end, and returns its size; only when
    /// [`TarWriter::can_patch`].
    pub fn stream_unsized(&mut self, path: &str, src: &mut dyn Read, what: &str) -> Result<u64> {
        let at = self.offset;
        let h = header(path, 0, 0o644, tar::EntryType::Regular)?;
        self.write(h.as_bytes())?;
        let mut buf = vec![0u8; 256 << 10];
        let mut size = 0u64;
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::corrupt(what.to_string(), e)),
            };
            self.write(&buf[..n])?;
            size += n as u64;
        }
        self.pad(size)?;
        let h = header(path, size, 0o644, tar::EntryType::Regular)?;
        let write_err = |e: io::Error| Error::stream(format!("write {}", self.dest), e);
        self.out.flush().map_err(write_err)?;
        let file = self.file.as_ref().expect("stream_unsized needs can_patch");
        file.write_all_at(h.as_bytes(), at).map_err(write_err)?;
        Ok(size)
    }

    pub fn dir(&mut self, path: &str) -> Result<()> {
        let h = header(path, 0, 0o755, tar::EntryType::Directory)?;
        self.write(h.as_bytes())
    }

    pub fn file(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let h = header(path, data.len() as u64, 0o644, tar::EntryType::Regular)?;
        self.write(h.as_bytes())?;
        self.write(data)?;
        self.pad(data.len() as u64)
    }

    /// Writes an entry of exactly `size` bytes read from `src`; a source that ends early or has
    /// more is an error naming `what`.
    pub fn stream(&mut self, path: &str, size: u64, src: &mut dyn Read, what: &str) -> Result<()> {
        let h = header(path, size, 0o644, tar::EntryType::Regular)?;
        self.write(h.as_bytes())?;
        let mut buf = vec![0u8; 256 << 10];
        let mut left = size;
        let bad = |e: io::Error| Error::corrupt(what.to_string(), e);
        while left > 0 {
            let want = buf.len().min(left as usize);
            let n = match src.read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(Error::corrupt(
                        what.to_string(),
                        format!("it ended {left} bytes short of its size {size}"),
                    ))
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(bad(e)),
            };
            self.write(&buf[..n])?;
            left -= n as u64;
        }
        // Reading to the end lets a verifying source check its digest.
        match src.read(&mut buf[..1]) {
            Ok(0) => {}
            Ok(_) => {
                return Err(Error::corrupt(
                    what.to_string(),
                    format!("it is longer than its size {size}"),
                ))
            }
            Err(e) => return Err(bad(e)),
        }
        self.pad(size)
    }

    fn pad(&mut self, size: u64) -> Result<()> {
        let rem = (size % 512) as usize;
        if rem != 0 {
            self.write(&[0u8; 512][..512 - rem])?;
        }
        Ok(())
    }

    /// Writes the end-of-archive marker and returns the output.
    pub fn finish(mut self) -> Result<W> {
        self.write(&[0u8; 1024])?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_tar_reads_back() {
        let mut w = TarWriter::new(Vec::new(), "test");
        w.dir("blobs/").unwrap();
        w.file("a.json", b"{}").unwrap();
        w.stream("blobs/x", 700, &mut &[7u8; 700][..], "x").unwrap();
        let out = w.finish().unwrap();
        assert_eq!(out.len() % 512, 0);
        let mut ar = tar::Archive::new(&out[..]);
        let got: Vec<(String, Vec<u8>)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (e.path().unwrap().to_string_lossy().into_owned(), data)
            })
            .collect();
        assert_eq!(got[0].0, "blobs/");
        assert_eq!(got[1], ("a.json".into(), b"{}".to_vec()));
        assert_eq!(got[2], ("blobs/x".into(), vec![7u8; 700]));
    }

    #[test]
    fn headers_are_patched_in_a_file() {
        let f = tempfile::tempfile().unwrap();
        let mut w = TarWriter::with_file(
            io::BufWriter::new(f.try_clone().unwrap()),
            "test",
            f.try_clone().unwrap(),
        );
        w.file("a", b"x").unwrap();
        let n = w.stream_unsized("b", &mut &[5u8; 1000][..], "b").unwrap();
        assert_eq!(n, 1000);
        w.file("c", b"yz").unwrap();
        w.finish().unwrap().flush().unwrap();
        let mut ar = tar::Archive::new(&f);
        io::Seek::rewind(&mut &f).unwrap();
        let got: Vec<(String, usize)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let mut d = Vec::new();
                e.read_to_end(&mut d).unwrap();
                (e.path().unwrap().to_string_lossy().into_owned(), d.len())
            })
            .collect();
        assert_eq!(
            got,
            vec![("a".into(), 1), ("b".into(), 1000), ("c".into(), 2)]
        );
    }

    #[test]
    fn a_source_of_the_wrong_size_is_an_error() {
        let mut w = TarWriter::new(Vec::new(), "test");
        let err = w
            .stream("x", 10, &mut &[1u8; 5][..], "layer x")
            .unwrap_err();
        assert!(err.to_string().contains("5 bytes short"), "{err}");
        let mut w = TarWriter::new(Vec::new(), "test");
        let err = w.stream("x", 4, &mut &[1u8; 5][..], "layer x").unwrap_err();
        assert!(err.to_string().contains("longer than"), "{err}");
    }
}
