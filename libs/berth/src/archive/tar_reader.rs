//! A streaming tar reader whose memory does not depend on its input.
//!
//! The `tar` crate reads a GNU long name (`L`), long link (`K`) or PAX header (`x`) whole into
//! memory before it looks at it, so a layer that declares a 1 GiB name costs a GiB of memory
//! (more while it is copied around). This reader checks a metadata header's declared size before
//! reading it and refuses one over [`MAX_META`] (1 MiB, the limit of Go's archive/tar, which
//! Docker and containerd read layers with), and refuses more than [`MAX_META_TOTAL`] of them
//! before one real entry.
//!
//! It reads what layers carry: ustar, PAX (`path`, `linkpath`, `size`, `uid`, `gid`, `mtime`,
//! `SCHILY.xattr.*`), GNU long names and links, and sparse files in every form GNU tar writes
//! them (old GNU `S` entries with extension blocks, PAX 0.0, 0.1 and 1.0), whose data segments
//! it reports so that a writer can leave the holes as holes. Numeric fields are octal or
//! base-256; a blank field reads as 0, as Go reads it.

use std::io::{self, Read, Seek, SeekFrom};

/// The largest PAX header, GNU long name or long link accepted (Go's archive/tar limit).
pub const MAX_META: u64 = 1 << 20;
/// The most metadata header bytes accepted before one real entry.
pub const MAX_META_TOTAL: u64 = 4 << 20;
/// The most segments a sparse file may list (a map of 1 MiB at 24 bytes each).
pub const MAX_SPARSE: usize = (1 << 20) / 24;

const BLOCK: u64 = 512;

/// At most this much of a name goes into a message.
const SHORT: usize = 200;

/// `name` for a message: its first 200 bytes, quoted and escaped, with `…` when cut.
pub fn short_name(name: &[u8]) -> String {
    let cut = name.len() > SHORT;
    let s = String::from_utf8_lossy(&name[..name.len().min(SHORT)]);
    if cut {
        format!("{:?}…", s)
    } else {
        format!("{s:?}")
    }
}

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    HardLink,
    Symlink,
    Char,
    Block,
    Dir,
    Fifo,
    /// Any other type flag (a volume label, a vendor extension): its content is skipped.
    Other(u8),
}

/// One entry's header, with its long name, PAX records and sparse map applied.
#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: Kind,
    pub name: Vec<u8>,
    pub link: Vec<u8>,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: i64,
    pub mtime_nsec: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// Bytes of content in the archive (for a sparse file, the data segments only).
    pub size: u64,
    /// A regular file's length: `size`, or more for a sparse file.
    pub real_size: u64,
    /// A sparse file's data segments (offset in the file, length), in order: the content is
    /// their concatenation, and the rest of the file is holes.
    pub sparse: Option<Vec<(u64, u64)>>,
    /// Where the content starts in the stream.
    pub offset: u64,
}

fn bad(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

/// A tar stream, read entry by entry; reading the reader reads the current entry's content.
pub struct TarReader<R> {
    inner: R,
    skip: fn(&mut R, u64) -> io::Result<()>,
    pos: u64,
    /// Content of the current entry not read yet, and the padding after it.
    left: u64,
    pad: u64,
    done: bool,
}

fn skip_reading<R: Read>(r: &mut R, n: u64) -> io::Result<()> {
    let got = io::copy(&mut r.take(n), &mut io::sink())?;
    if got < n {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the archive ends inside an entry",
        ));
    }
    Ok(())
}

fn skip_seeking<R: Seek>(r: &mut R, n: u64) -> io::Result<()> {
    let n = i64::try_from(n).map_err(|_| bad("an entry too large to skip"))?;
    r.seek(SeekFrom::Current(n)).map(drop)
}

impl<R: Read> TarReader<R> {
    pub fn new(inner: R) -> Self {
        TarReader {
            inner,
            skip: skip_reading::<R>,
            pos: 0,
            left: 0,
            pad: 0,
            done: false,
        }
    }

    /// Bytes of the stream consumed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Fills `buf` whole; false when the stream ends before its first byte.
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        let mut n = 0;
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) if n == 0 => return Ok(false),
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the archive ends inside a header",
                    ))
                }
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.pos += n as u64;
        Ok(true)
    }

    fn block(&mut self) -> io::Result<Option<[u8; 512]>> {
        let mut b = [0u8; 512];
        Ok(self.fill(&mut b)?.then_some(b))
    }

    fn skip_rest(&mut self) -> io::Result<()> {
        let n = self.left + self.pad;
        if n > 0 {
            (self.skip)(&mut self.inner, n)?;
            self.pos += n;
        }
        self.left = 0;
        self.pad = 0;
        Ok(())
    }

    /// Reads the `size` bytes of a metadata entry (already checked small) and its padding.
    fn read_meta(&mut self, size: u64) -> io::Result<Vec<u8>> {
        let mut data = vec![0u8; size as usize];
        if !self.fill(&mut data)? && size > 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends inside a header",
            ));
        }
        let pad = padding(size);
        (self.skip)(&mut self.inner, pad)?;
        self.pos += pad;
        Ok(data)
    }

    /// The next entry, or None at the end of the archive. What is left of the current entry's
    /// content is skipped.
    pub fn next_entry(&mut self) -> io::Result<Option<Entry>> {
        if self.done {
            return Ok(None);
        }
        self.skip_rest()?;
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut meta_total = 0u64;
        loop {
            let Some(h) = self.block()? else {
                self.done = true;
                if meta_total > 0 {
                    return Err(bad("the archive ends after headers that describe an entry"));
                }
                return Ok(None);
            };
            if h.iter().all(|b| *b == 0) {
                self.done = true;
                if meta_total > 0 {
                    return Err(bad("the archive ends after headers that describe an entry"));
                }
                return Ok(None);
            }
            check_sum(&h)?;
            let flag = h[156];
            let size = unsigned(&h[124..136], "size")?;
            let what = match flag {
                b'L' => "GNU long name",
                b'K' => "GNU long link",
                b'x' => "PAX",
                b'g' => "PAX global",
                _ => "",
            };
            if !what.is_empty() {
                if size > MAX_META {
                    return Err(bad(format!(
                        "a {what} header of {size} bytes, more than the {MAX_META} allowed"
                    )));
                }
                meta_total += size + BLOCK;
                if meta_total > MAX_META_TOTAL {
                    return Err(bad(format!(
                        "more than {MAX_META_TOTAL} bytes of headers before one entry"
                    )));
                }
                let data = self.read_meta(size)?;
                match flag {
                    b'L' => long_name = Some(until_nul(&data).to_vec()),
                    b'K' => long_link = Some(until_nul(&data).to_vec()),
                    b'x' => parse_pax(&data, &mut pax)?,
                    _ => {} // Global records: no layer writer relies on them; Docker ignores them.
                }
                continue;
            }
            return self.entry(h, size, long_name, long_link, pax).map(Some);
        }
    }

    fn entry(
        &mut self,
        h: [u8; 512],
        mut size: u64,
        long_name: Option<Vec<u8>>,
        long_link: Option<Vec<u8>>,
        pax: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> io::Result<Entry> {
        let flag = h[156];
        let ustar = &h[257..263] == b"ustar\0";
        let gnu = &h[257..263] == b"ustar ";
        let mut name = until_nul(&h[..100]).to_vec();
        if ustar && h[345] != 0 {
            let mut full = until_nul(&h[345..500]).to_vec();
            full.push(b'/');
            full.extend_from_slice(&name);
            name = full;
        }
        if let Some(n) = long_name {
            name = n;
        }
        let mut link = long_link.unwrap_or_else(|| until_nul(&h[157..257]).to_vec());
        let field = |r: std::ops::Range<usize>, what: &str| -> io::Result<i64> {
            number(&h[r], what).map_err(|e| bad(format!("{}: {e}", short_name(&name))))
        };
        let mode = field(100..108, "mode")? as u32 & 0o7777;
        let mut uid = field(108..116, "uid")? as u64;
        let mut gid = field(116..124, "gid")? as u64;
        let mut mtime = field(136..148, "mtime")?;
        let mut mtime_nsec = 0;
        let (dev_major, dev_minor) = if ustar || gnu {
            (
                field(329..337, "devmajor")? as u32,
                field(337..345, "devminor")? as u32,
            )
        } else {
            (0, 0)
        };
        let mut xattrs = Vec::new();
        let get = |k: &[u8]| pax.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v);
        for (k, v) in &pax {
            let text = || std::str::from_utf8(v).ok().map(str::trim);
            let num = || -> io::Result<u64> {
                text()
                    .and_then(|t| t.parse().ok())
                    .ok_or_else(|| bad(format!("a bad PAX record {}", short_name(k))))
            };
            match k.as_slice() {
                b"path" => name = v.clone(),
                b"linkpath" => link = v.clone(),
                b"size" => size = num()?,
                b"uid" => uid = num()?,
                b"gid" => gid = num()?,
                b"mtime" => {
                    (mtime, mtime_nsec) = text()
                        .and_then(parse_pax_time)
                        .ok_or_else(|| bad("a bad PAX record \"mtime\""))?
                }
                _ => {
                    if let Some(x) = k.strip_prefix(b"SCHILY.xattr.") {
                        xattrs.push((x.to_vec(), v.clone()));
                    }
                }
            }
        }
        let mut kind = match flag {
            b'0' | 0 | b'7' | b'S' => Kind::File,
            b'1' => Kind::HardLink,
            b'2' => Kind::Symlink,
            b'3' => Kind::Char,
            b'4' => Kind::Block,
            b'5' | b'D' => Kind::Dir,
            b'6' => Kind::Fifo,
            f => Kind::Other(f),
        };
        if flag == 0 && name.ends_with(b"/") {
            kind = Kind::Dir;
        }
        let mut sparse = None;
        let mut real_size = size;
        if flag == b'S' {
            if !gnu {
                return Err(bad(format!(
                    "{}: a sparse entry without a GNU header",
                    short_name(&name)
                )));
            }
            let mut map = Vec::new();
            sparse_entries(&h[386..482], &mut map)?;
            let mut extended = h[482] != 0;
            let mut ext_blocks = 0u64;
            while extended {
                let b = self
                    .block()?
                    .ok_or_else(|| bad("the archive ends inside a sparse map"))?;
                ext_blocks += 1;
                if ext_blocks * BLOCK > MAX_META {
                    return Err(bad(format!(
                        "{}: a sparse map longer than {MAX_META} bytes",
                        short_name(&name)
                    )));
                }
                sparse_entries(&b[..504], &mut map)?;
                extended = b[504] != 0;
            }
            real_size = unsigned(&h[483..495], "sparse real size")?;
            sparse = Some(map);
        } else if let Some(version) = pax_sparse_version(&get) {
            if let Some(n) = get(b"GNU.sparse.name") {
                name = n.clone();
            }
            if let Some(s) = get(b"GNU.sparse.size").or_else(|| get(b"GNU.sparse.realsize")) {
                real_size = std::str::from_utf8(s)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .ok_or_else(|| bad("a bad GNU.sparse.size record"))?;
            }
            let map = if version == (1, 0) {
                let (map, used) = self.sparse_map_1_0(size)?;
                size -= used;
                map
            } else {
                sparse_map_0_x(&pax)?
            };
            sparse = Some(map);
        }
        if let Some(map) = &sparse {
            check_sparse(map, size, real_size)
                .map_err(|e| bad(format!("{}: {e}", short_name(&name))))?;
        }
        self.left = size;
        self.pad = padding(size);
        // A hard link or a directory carries no content that matters; skip what it has.
        Ok(Entry {
            kind,
            name,
            link,
            mode,
            uid,
            gid,
            mtime,
            mtime_nsec,
            dev_major,
            dev_minor,
            xattrs,
            size,
            real_size,
            sparse,
            offset: self.pos,
        })
    }

    /// Reads a PAX 1.0 sparse map from the start of the content: decimal numbers, one a line
    /// (the count, then offset and length pairs), padded to a block. Returns it and the bytes
    /// it took.
    fn sparse_map_1_0(&mut self, size: u64) -> io::Result<(Vec<(u64, u64)>, u64)> {
        let mut text: Vec<u8> = Vec::new();
        let mut used = 0u64;
        let mut numbers: Vec<u64> = Vec::new();
        let mut want: Option<u64> = None;
        loop {
            if want.is_some_and(|w| numbers.len() as u64 == 2 * w + 1) {
                break;
            }
            if let Some(nl) = text.iter().position(|b| *b == b'\n') {
                let n = std::str::from_utf8(&text[..nl])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| bad("a bad PAX 1.0 sparse map"))?;
                text.drain(..=nl);
                if want.is_none() {
                    if n as usize > MAX_SPARSE {
                        return Err(bad(format!(
                            "a sparse map of {n} segments, more than the {MAX_SPARSE} allowed"
                        )));
                    }
                    want = Some(n);
                }
                numbers.push(n);
                continue;
            }
            if used + BLOCK > size || used >= MAX_META {
                return Err(bad("a bad or too long PAX 1.0 sparse map"));
            }
            let b = self
                .block()?
                .ok_or_else(|| bad("the archive ends inside a sparse map"))?;
            used += BLOCK;
            text.extend_from_slice(&b);
        }
        let map = numbers[1..].chunks(2).map(|p| (p[0], p[1])).collect();
        Ok((map, used))
    }
}

impl<R: Read + Seek> TarReader<R> {
    /// A reader that seeks over the content it skips.
    pub fn seekable(inner: R) -> Self {
        TarReader {
            skip: skip_seeking::<R>,
            ..TarReader::new(inner)
        }
    }
}

impl<R: Read> Read for TarReader<R> {
    /// Reads the current entry's content; an archive that ends inside it is an error
    /// (`UnexpectedEof`).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = loop {
            match self.inner.read(&mut buf[..want]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => break r?,
            }
        };
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends inside an entry's content",
            ));
        }
        self.left -= n as u64;
        self.pos += n as u64;
        Ok(n)
    }
}

fn padding(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

fn until_nul(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|c| *c == 0).unwrap_or(b.len())]
}

fn check_sum(h: &[u8; 512]) -> io::Result<()> {
    let want = number(&h[148..156], "checksum").map_err(|_| bad("not a tar header"))?;
    // The checksum field itself counts as eight spaces.
    let (mut unsigned, mut signed) = (8 * i64::from(b' '), 8 * i64::from(b' '));
    for b in h[..148].iter().chain(&h[156..]) {
        unsigned += i64::from(*b);
        signed += i64::from(*b as i8);
    }
    if want != unsigned && want != signed {
        return Err(bad("a tar header with a bad checksum"));
    }
    Ok(())
}

/// A numeric field: octal text (blank is 0), or base-256 when its first byte has the high bit.
fn number(f: &[u8], what: &str) -> io::Result<i64> {
    if f.first().is_some_and(|b| b & 0x80 != 0) {
        let neg = f[0] & 0x40 != 0;
        let mut v: u64 = u64::from(f[0] & 0x7f);
        if neg {
            v = u64::from(!f[0] & 0x7f);
        }
        for b in &f[1..] {
            let b = if neg { !*b } else { *b };
            if v >> 56 != 0 {
                return Err(bad(format!("the {what} field overflows")));
            }
            v = v << 8 | u64::from(b);
        }
        if v > i64::MAX as u64 {
            return Err(bad(format!("the {what} field overflows")));
        }
        return Ok(if neg { -(v as i64) - 1 } else { v as i64 });
    }
    let blank = |b: &u8| *b == b' ' || *b == 0;
    let start = f.iter().position(|b| !blank(b)).unwrap_or(f.len());
    let t = &f[start..];
    let end = t.iter().position(blank).unwrap_or(t.len());
    if !t[end..].iter().all(blank) {
        return Err(bad(format!("the {what} field is not a number")));
    }
    let mut v: i64 = 0;
    for d in &t[..end] {
        if !(b'0'..=b'7').contains(d) {
            return Err(bad(format!("the {what} field is not a number")));
        }
        v = v
            .checked_mul(8)
            .and_then(|v| v.checked_add(i64::from(d - b'0')))
            .ok_or_else(|| bad(format!("the {what} field overflows")))?;
    }
    Ok(v)
}

fn unsigned(f: &[u8], what: &str) -> io::Result<u64> {
    u64::try_from(number(f, what)?).map_err(|_| bad(format!("a negative {what}")))
}

/// PAX records `LEN KEY=VALUE\n`, appended to `out` in order.
fn parse_pax(mut data: &[u8], out: &mut Vec<(Vec<u8>, Vec<u8>)>) -> io::Result<()> {
    let broken = || bad("a malformed PAX header");
    while !data.is_empty() {
        if data.iter().all(|b| *b == 0) {
            break;
        }
        let sp = data.iter().position(|b| *b == b' ').ok_or_else(broken)?;
        let len: usize = std::str::from_utf8(&data[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(broken)?;
        if len <= sp + 1 || len > data.len() || data[len - 1] != b'\n' {
            return Err(broken());
        }
        let rec = &data[sp + 1..len - 1];
        let eq = rec.iter().position(|b| *b == b'=').ok_or_else(broken)?;
        let (k, v) = (&rec[..eq], &rec[eq + 1..]);
        if (k == b"GNU.sparse.offset" || k == b"GNU.sparse.numbytes")
            && out
                .iter()
                .filter(|(k, _)| k.starts_with(b"GNU.sparse."))
                .count()
                > 2 * MAX_SPARSE
        {
            return Err(bad("a sparse map too long"));
        }
        out.push((k.to_vec(), v.to_vec()));
        data = &data[len..];
    }
    Ok(())
}

/// The GNU PAX sparse version (major, minor) the records describe, if any (Go's rules).
fn pax_sparse_version<'a>(get: &impl Fn(&[u8]) -> Option<&'a Vec<u8>>) -> Option<(u8, u8)> {
    let major = get(b"GNU.sparse.major").map(|v| v.as_slice());
    let minor = get(b"GNU.sparse.minor").map(|v| v.as_slice());
    match (major, minor) {
        (Some(b"0"), Some(b"0")) => Some((0, 0)),
        (Some(b"0"), Some(b"1")) => Some((0, 1)),
        (Some(b"1"), Some(b"0")) => Some((1, 0)),
        (None, None) => (get(b"GNU.sparse.map").is_some() || get(b"GNU.sparse.offset").is_some())
            .then_some((0, 1)),
        _ => None,
    }
}

/// The map of PAX 0.1 (`GNU.sparse.map=off,len,…`) or 0.0 (`GNU.sparse.offset` and
/// `GNU.sparse.numbytes` records in turn).
fn sparse_map_0_x(pax: &[(Vec<u8>, Vec<u8>)]) -> io::Result<Vec<(u64, u64)>> {
    let broken = || bad("a bad GNU sparse map");
    let parse = |v: &[u8]| -> io::Result<u64> {
        std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(broken)
    };
    let mut numbers = Vec::new();
    if let Some((_, v)) = pax.iter().rev().find(|(k, _)| k == b"GNU.sparse.map") {
        if !v.is_empty() {
            for n in v.split(|b| *b == b',') {
                numbers.push(parse(n)?);
            }
        }
    } else {
        let mut expect_offset = true;
        for (k, v) in pax {
            let is_off = k == b"GNU.sparse.offset";
            if !is_off && k != b"GNU.sparse.numbytes" {
                continue;
            }
            if is_off != expect_offset {
                return Err(broken());
            }
            expect_offset = !expect_offset;
            numbers.push(parse(v)?);
        }
    }
    if numbers.len() % 2 != 0 || numbers.len() / 2 > MAX_SPARSE {
        return Err(broken());
    }
    if let Some((_, n)) = pax.iter().rev().find(|(k, _)| k == b"GNU.sparse.numblocks") {
        if parse(n)? != numbers.len() as u64 / 2 {
            return Err(broken());
        }
    }
    Ok(numbers.chunks(2).map(|p| (p[0], p[1])).collect())
}

/// The (offset, length) entries of an old GNU sparse header area (24 bytes each; an empty
/// offset ends the list).
fn sparse_entries(area: &[u8], map: &mut Vec<(u64, u64)>) -> io::Result<()> {
    for e in area.chunks(24) {
        if e[0] == 0 {
            break;
        }
        if map.len() >= MAX_SPARSE {
            return Err(bad("a sparse map too long"));
        }
        map.push((
            unsigned(&e[..12], "sparse offset")?,
            unsigned(&e[12..24], "sparse length")?,
        ));
    }
    Ok(())
}

/// Segments in order, not overlapping, inside the file, and adding up to the content.
fn check_sparse(map: &[(u64, u64)], size: u64, real_size: u64) -> Result<(), String> {
    let mut end = 0u64;
    let mut total = 0u64;
    for &(off, len) in map {
        if off < end {
            return Err("sparse segments out of order or overlapping".into());
        }
        end = off.checked_add(len).ok_or("a sparse segment overflows")?;
        if end > real_size {
            return Err("a sparse segment past the end of the file".into());
        }
        total += len;
    }
    if total != size {
        return Err(format!(
            "the sparse map lists {total} bytes of data but the entry has {size}"
        ));
    }
    Ok(())
}

/// A PAX time: seconds with an optional fraction (`-1.5` is 1.5 s before the epoch).
pub fn parse_pax_time(v: &str) -> Option<(i64, u32)> {
    let (s, frac) = v.split_once('.').unwrap_or((v, ""));
    let secs: i64 = s.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    let ns: u32 = digits.parse().ok()?;
    if s.starts_with('-') && ns > 0 {
        Some((secs - 1, 1_000_000_000 - ns))
    } else {
        Some((secs, ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_octal_base_256_and_blank() {
        assert_eq!(number(b"0000644\0", "m").unwrap(), 0o644);
        assert_eq!(number(b"  644 \0\0", "m").unwrap(), 0o644);
        assert_eq!(number(b"\0\0\0\0\0\0\0\0", "m").unwrap(), 0);
        assert_eq!(number(b"        ", "m").unwrap(), 0);
        assert!(number(b"64 4\0\0\0\0", "m").is_err());
        assert!(number(b"0000899\0", "m").is_err());
        // Base-256: 0x80 then big-endian; 0xff… is negative (two's complement).
        let mut f = [0u8; 12];
        f[0] = 0x80;
        f[8..].copy_from_slice(&(10u32 << 30).to_be_bytes());
        assert_eq!(number(&f, "size").unwrap(), i64::from(10u32 << 30));
        let mut big = [0u8; 12];
        big[0] = 0x80;
        big[4..].copy_from_slice(&(1u64 << 40).to_be_bytes());
        assert_eq!(number(&big, "size").unwrap(), 1 << 40);
        let neg = [0xffu8; 12];
        assert_eq!(number(&neg, "mtime").unwrap(), -1);
        assert!(unsigned(&neg, "size").is_err());
    }

    #[test]
    fn pax_times_and_records() {
        assert_eq!(parse_pax_time("12.5"), Some((12, 500_000_000)));
        assert_eq!(parse_pax_time("-1.25"), Some((-2, 750_000_000)));
        assert_eq!(parse_pax_time("7"), Some((7, 0)));
        assert_eq!(parse_pax_time("1.x"), None);
        let mut out = Vec::new();
        parse_pax(b"11 path=ab\n12 uid=1000\n", &mut out).unwrap();
        assert_eq!(out[0], (b"path".to_vec(), b"ab".to_vec()));
        assert_eq!(out[1], (b"uid".to_vec(), b"1000".to_vec()));
        for broken in [
            &b"99 path=ab\n"[..],
            b"5 a=b\n",
            b"path=ab\n",
            b"10 pathab\n",
        ] {
            assert!(parse_pax(broken, &mut Vec::new()).is_err(), "{broken:?}");
        }
    }

    #[test]
    fn a_bad_checksum_is_refused_and_names_are_cut() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_cksum();
        b.append_data(&mut h, "f", &b"x"[..]).unwrap();
        let mut tar = b.into_inner().unwrap();
        tar[0] = b'g';
        let e = TarReader::new(&tar[..]).next_entry().unwrap_err();
        assert!(e.to_string().contains("checksum"), "{e}");
        let long = vec![b'a'; 1000];
        let s = short_name(&long);
        assert!(s.len() < 210 && s.ends_with('…'), "{s}");
        assert_eq!(short_name(b"ok"), "\"ok\"");
    }

    #[test]
    fn content_is_read_entry_by_entry_and_skipped_when_not_read() {
        let mut b = tar::Builder::new(Vec::new());
        for (n, d) in [
            ("a", &b"first"[..]),
            ("b", &[7u8; 1500][..]),
            ("c", b"third"),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(d.len() as u64);
            h.set_mode(0o600);
            b.append_data(&mut h, n, d).unwrap();
        }
        let tar = b.into_inner().unwrap();
        for seek in [false, true] {
            let cur = std::io::Cursor::new(&tar[..]);
            let mut r = if seek {
                TarReader::seekable(cur)
            } else {
                TarReader::new(cur)
            };
            let a = r.next_entry().unwrap().unwrap();
            assert_eq!((a.name.as_slice(), a.size, a.mode), (&b"a"[..], 5, 0o600));
            let mut s = String::new();
            r.read_to_string(&mut s).unwrap();
            assert_eq!(s, "first");
            let b = r.next_entry().unwrap().unwrap();
            assert_eq!((b.size, b.offset), (1500, 1536));
            let c = r.next_entry().unwrap().unwrap();
            let mut s = String::new();
            r.read_to_string(&mut s).unwrap();
            assert_eq!((c.name.as_slice(), s.as_str()), (&b"c"[..], "third"));
            assert!(r.next_entry().unwrap().is_none());
        }
        // Cut inside the content: an error, not a short file.
        let mut r = TarReader::new(&tar[..512 + 100 + 512 + 700]);
        r.next_entry().unwrap();
        r.next_entry().unwrap();
        let e = io::copy(&mut r, &mut io::sink()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }
}
