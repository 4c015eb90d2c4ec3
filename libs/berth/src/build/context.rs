//! The build context, read in place: never copied, never sent anywhere.
//!
//! A [`Context`] holds a descriptor of the context directory (every path is resolved from it, never
//! as a string joined to the directory's name), the `.dockerignore` matcher, and the **stat cache**:
//! like git's index, (device, inode, size, mtime, ctime) → the content's sha256 (and a digest of its
//! extended attributes), so a rebuild with unchanged files never reads them again. The cache is not
//! keyed by path, so renaming or moving the context keeps its hits; `touch` changes mtime and ctime,
//! so the file is read again, and gives the same digest.
//!
//! Racy entries (git's "racy clean" problem): file times come from a coarse clock, so a file
//! written again within the same tick as it was hashed, with the same size, would keep its times.
//! An entry is only trusted when the file's ctime is at least [`RACY_NS`] older than the moment the
//! file was hashed; a younger one is hashed again (and then recorded with a later time).
//!
//! On disk (`$ROOT/build/stat-cache`): the magic `BERTHSC1`, then fixed 112-byte records (device,
//! inode, size, mtime ns, ctime ns, hashed-at ns, content sha256, xattrs sha256), little-endian.
//! Loaded once per build; 3,000 entries are 336 kB, read in about a millisecond. A missing or
//! corrupt file is an empty cache (it is only a cache). [`Context::save`] writes it atomically
//! (temporary file and rename; the last writer wins).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rustix::fs::{self as rfs, Mode, OFlags, Stat};
use sha2::{Digest as _, Sha256};

use crate::dockerignore::Matcher;
use crate::error::{Error, Result};

/// How much older than the moment of hashing a file's ctime must be for its cache entry to be
/// trusted (see the module docs).
pub const RACY_NS: i64 = 100_000_000;

const MAGIC: &[u8; 8] = b"BERTHSC1";
const RECORD: usize = 112;
/// Entries kept at most (those used by the last build first, then the most recently hashed).
const MAX_ENTRIES: usize = 1 << 18;

/// A file's digests: sha256 of its content, and sha256 of its (allowed) extended attributes
/// (all zeros when it has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileDigest {
    pub content: [u8; 32],
    pub xattrs: [u8; 32],
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
    hashed_ns: i64,
    digest: FileDigest,
    used: bool,
}

#[derive(Debug, Default)]
struct Cache {
    map: HashMap<(u64, u64), Entry>,
    dirty: bool,
}

/// The build context (see the module docs). `Send + Sync`: stages COPY from it on several threads.
pub struct Context {
    dir: PathBuf,
    fd: OwnedFd,
    ignore: Matcher,
    cache_path: PathBuf,
    cache: Mutex<Cache>,
    hashed: AtomicU64,
}

pub(crate) fn mtime_ns(st: &Stat) -> i64 {
    st.st_mtime
        .saturating_mul(1_000_000_000)
        .saturating_add(st.st_mtime_nsec as i64)
}

pub(crate) fn ctime_ns(st: &Stat) -> i64 {
    st.st_ctime
        .saturating_mul(1_000_000_000)
        .saturating_add(st.st_ctime_nsec as i64)
}

fn now_ns() -> i64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(t.as_nanos()).unwrap_or(i64::MAX)
}

/// Extended attributes a layer may carry: the ones berth's unpacker applies (user.*, trusted.*
/// but overlayfs's own, security.capability, POSIX ACLs).
pub(crate) fn xattr_allowed(name: &[u8]) -> bool {
    !(name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay."))
        && (name.starts_with(b"user.")
            || name.starts_with(b"trusted.")
            || name == b"security.capability"
            || name.starts_with(b"system.posix_acl"))
}

/// The allowed extended attributes of the object behind `fd` (any descriptor, `O_PATH` too),
/// sorted by name. A file system without xattrs has none.
pub(crate) fn read_xattrs(fd: &impl AsRawFd) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let mut names = vec![0u8; 16 << 10];
    let n = match rfs::listxattr(path.as_str(), &mut names[..]) {
        Ok(n) => n,
        Err(rustix::io::Errno::NOTSUP) | Err(rustix::io::Errno::PERM) => 0,
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if !xattr_allowed(name) {
            continue;
        }
        let mut value = vec![0u8; 64 << 10];
        let cname = std::ffi::CString::new(name).map_err(io::Error::other)?;
        match rfs::getxattr(path.as_str(), cname.as_c_str(), &mut value[..]) {
            Ok(len) => {
                value.truncate(len);
                out.push((name.to_vec(), value));
            }
            // Removed meanwhile, or not readable without privileges (trusted.*).
            Err(rustix::io::Errno::NODATA) | Err(rustix::io::Errno::PERM) => {}
            Err(e) => return Err(e.into()),
        }
    }
    out.sort();
    Ok(out)
}

/// sha256 of extended attributes (name, value pairs, each length-prefixed); zeros for none.
pub(crate) fn xattrs_digest(x: &[(Vec<u8>, Vec<u8>)]) -> [u8; 32] {
    if x.is_empty() {
        return [0; 32];
    }
    let mut h = Sha256::new();
    for (n, v) in x {
        h.update((n.len() as u64).to_le_bytes());
        h.update(n);
        h.update((v.len() as u64).to_le_bytes());
        h.update(v);
    }
    h.finalize().into()
}

impl Context {
    /// `dir`: the context directory. `ignore`: from `dockerignore::load(dir, dockerfile)`.
    /// `stat_cache`: the file where the stat cache persists ($ROOT/build/stat-cache; made on save).
    pub fn open(dir: &Path, ignore: Matcher, stat_cache: PathBuf) -> Result<Context> {
        let fd = rfs::open(
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("open the build context", dir, io::Error::from(e)))?;
        let map = load(&stat_cache);
        Ok(Context {
            dir: dir.to_path_buf(),
            fd,
            ignore,
            cache_path: stat_cache,
            cache: Mutex::new(Cache { map, dirty: false }),
            hashed: AtomicU64::new(0),
        })
    }

    /// The context directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// An `O_PATH` descriptor of the context directory: paths inside are resolved from it.
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// The `.dockerignore` rules: what they exclude is not in the context.
    pub fn ignore(&self) -> &Matcher {
        &self.ignore
    }

    /// How many files this context has read and hashed (stat-cache misses).
    pub fn files_hashed(&self) -> u64 {
        self.hashed.load(Ordering::Relaxed)
    }

    /// Entries in the stat cache.
    pub fn cache_len(&self) -> usize {
        self.lock().map.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The digests of the regular file `name` in the directory `dir` (status `st`, not followed):
    /// from the stat cache when its entry still matches, else read and hashed (and recorded).
    pub fn file_digest(&self, dir: impl AsFd, name: &Path, st: &Stat) -> io::Result<FileDigest> {
        self.file_digest_by(st, || {
            rfs::openat(
                dir,
                name,
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(io::Error::from)
        })
    }

    /// [`Context::file_digest`] of the file that `open` opens for reading (status `st`).
    pub fn file_digest_by(
        &self,
        st: &Stat,
        open: impl FnOnce() -> io::Result<OwnedFd>,
    ) -> io::Result<FileDigest> {
        let key = (st.st_dev, st.st_ino);
        let (m, c) = (mtime_ns(st), ctime_ns(st));
        {
            let mut cache = self.lock();
            if let Some(e) = cache.map.get_mut(&key) {
                if e.size == st.st_size as u64
                    && e.mtime_ns == m
                    && e.ctime_ns == c
                    && c < e.hashed_ns.saturating_sub(RACY_NS)
                {
                    e.used = true;
                    return Ok(e.digest);
                }
            }
        }
        let hashed_ns = now_ns();
        let mut f = File::from(open()?);
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        let x = read_xattrs(&f)?;
        let digest = FileDigest {
            content: h.finalize().into(),
            xattrs: xattrs_digest(&x),
        };
        self.hashed.fetch_add(1, Ordering::Relaxed);
        let after = rfs::fstat(&f)?;
        // Changed while it was read: use what was read, but do not remember it.
        if (after.st_dev, after.st_ino) == key
            && after.st_size == st.st_size
            && mtime_ns(&after) == m
            && ctime_ns(&after) == c
        {
            let mut cache = self.lock();
            cache.map.insert(
                key,
                Entry {
                    size: st.st_size as u64,
                    mtime_ns: m,
                    ctime_ns: c,
                    hashed_ns,
                    digest,
                    used: true,
                },
            );
            cache.dirty = true;
        }
        Ok(digest)
    }

    /// Persists the stat cache (atomically; last writer wins). Called once at the end of a build.
    pub fn save(&self) -> Result<()> {
        let mut cache = self.lock();
        if !cache.dirty {
            return Ok(());
        }
        let mut entries: Vec<(&(u64, u64), &Entry)> = cache.map.iter().collect();
        if entries.len() > MAX_ENTRIES {
            entries
                .sort_by_key(|(_, e)| (std::cmp::Reverse(e.used), std::cmp::Reverse(e.hashed_ns)));
            entries.truncate(MAX_ENTRIES);
        }
        let mut out = Vec::with_capacity(MAGIC.len() + entries.len() * RECORD);
        out.extend_from_slice(MAGIC);
        for ((dev, ino), e) in entries {
            out.extend_from_slice(&dev.to_le_bytes());
            out.extend_from_slice(&ino.to_le_bytes());
            out.extend_from_slice(&e.size.to_le_bytes());
            out.extend_from_slice(&e.mtime_ns.to_le_bytes());
            out.extend_from_slice(&e.ctime_ns.to_le_bytes());
            out.extend_from_slice(&e.hashed_ns.to_le_bytes());
            out.extend_from_slice(&e.digest.content);
            out.extend_from_slice(&e.digest.xattrs);
        }
        let dir = self
            .cache_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = self
            .cache_path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "stat cache {}: not a file name",
                    self.cache_path.display()
                ))
            })?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        berth_fsutil::write_atomic(
            dir,
            name,
            &out,
            &berth_fsutil::Atomic {
                mode: 0o600,
                temp_prefix: ".stat-cache.",
                durable: false,
            },
        )
        .map_err(|e| Error::io(e.action, &e.path, e.source))?;
        cache.dirty = false;
        Ok(())
    }
}

fn load(path: &Path) -> HashMap<(u64, u64), Entry> {
    let mut map = HashMap::new();
    let Ok(data) = std::fs::read(path) else {
        return map;
    };
    if !data.starts_with(MAGIC) || !(data.len() - MAGIC.len()).is_multiple_of(RECORD) {
        return map;
    }
    let u = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
    let i = |b: &[u8]| i64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
    map.reserve((data.len() - MAGIC.len()) / RECORD);
    for r in data[MAGIC.len()..].chunks_exact(RECORD) {
        let mut content = [0u8; 32];
        content.copy_from_slice(&r[48..80]);
        let mut xattrs = [0u8; 32];
        xattrs.copy_from_slice(&r[80..112]);
        map.insert(
            (u(&r[0..8]), u(&r[8..16])),
            Entry {
                size: u(&r[16..24]),
                mtime_ns: i(&r[24..32]),
                ctime_ns: i(&r[32..40]),
                hashed_ns: i(&r[40..48]),
                digest: FileDigest { content, xattrs },
                used: false,
            },
        );
    }
    map
}
