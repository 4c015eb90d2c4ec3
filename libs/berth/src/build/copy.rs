//! COPY and ADD: which files a step selects ([`plan`]), the digest that keys its cache
//! ([`CopyPlan::digest`]), and the layer it writes ([`CopyPlan::write_layer`]), straight from the
//! context or a stage's root file system: no container, no copy of the context.
//!
//! Path rules are Docker's (moby `builder/dockerfile/copy.go`, BuildKit `dockerfile2llb` and
//! fsutil's copy):
//! - sources are relative to the context (a leading `/` or `./` is dropped), cleaned; one that
//!   climbs out of the context (`../x`, or a symlink leading out) is an error naming it;
//! - wildcards are Go's `filepath.Match` (`*` `?` `[…]` `\`), matched per path component, in
//!   lexical order; `.dockerignore`d files are invisible (a missing source is "not found in build
//!   context or excluded by .dockerignore");
//! - a source that is a symlink is followed (inside the context); symlinks below a copied
//!   directory are copied as links, never followed;
//! - a directory copies its contents; a file goes to `dest/NAME` when `dest` ends in `/` or is an
//!   existing directory of the base, else to `dest`; several sources (after wildcards) need a
//!   `dest` ending in `/` or an existing directory;
//! - `dest` is resolved in the base's root as Docker does (symlinks followed, never out of it);
//!   missing parents are made 0755, owned by `--chown` (Docker legacy's `MkdirAllAndChownNew`),
//!   existing ones are written with their metadata from the base;
//! - files from the context are owned by 0:0, from another stage (`--from`) keep their owners,
//!   `--chown` sets both; `--chmod` sets the permission bits of files and directories copied;
//! - ADD extracts a local tar (plain, gzip, zstd; Docker also reads bzip2 and xz, refused here with
//!   an error naming the file) into `dest`, and fetches an http(s) URL (mode 0600, mtime from
//!   `Last-Modified`, else 0; `--checksum` verified).
//!
//! One deliberate difference, kept because the issue asks for it: Docker resolves a source that
//! is a symlink *scoped* to the context (`lb -> /x` reads `CONTEXT/x`, `up -> ../..` the context
//! root); here a source whose symlinks lead out of the context (an absolute target, `..` above it)
//! is an error naming it. Checked side by side with Docker 20.10 (`BERTH_COPY_PROBE`, `docker
//! save`): 21 COPY steps gave the same layer entries (type, name, mode, owner, link target).
//!
//! A layer entry named `.wh.*` would be read as a whiteout by every unpacker; such a source is
//! refused with an error naming it (Docker writes it and deletes files of the base by accident).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::context::{read_xattrs, xattrs_digest, Context};
use crate::digest::Digest;
use crate::dockerignore::Matcher;
use crate::error::{Error, Result};
use crate::layer::{Codec, NewLayer};
use crate::store::Layout;

#[cfg(test)]
mod tests;

/// One COPY or ADD, as the builder expanded it.
#[derive(Debug, Clone, Default)]
pub struct CopyOp {
    /// ADD: local tars are extracted, URLs fetched
    pub add: bool,
    /// expanded; relative to the context (or to `From::Dir`'s root)
    pub sources: Vec<String>,
    /// `COPY <<EOF /dest`: (file name, content)
    pub heredocs: Vec<(String, String)>,
    /// expanded; absolute (builder joined WORKDIR); trailing '/' kept
    pub dest: String,
    /// resolved by the builder against the image's passwd/group
    pub chown: Option<(u32, u32)>,
    /// `--chmod=755`
    pub chmod: Option<u32>,
    /// `--parents`
    pub parents: bool,
    /// `--exclude=PATTERN` (dockerignore-like patterns)
    pub exclude: Vec<String>,
    /// `--link`: the layer does not depend on the base
    pub link: bool,
    /// `ADD --checksum=sha256:…`
    pub checksum: Option<String>,
    /// SOURCE_DATE_EPOCH: every mtime in the layer is it (as buildah's --timestamp)
    pub mtime_clamp: Option<i64>,
}

/// Where the sources are.
#[derive(Clone, Copy)]
pub enum From<'a> {
    Context(&'a Context),
    /// A merged root filesystem (a stage's or image's, mounted read-only by the builder): `COPY --from`.
    Dir(&'a Path),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    Symlink(Vec<u8>),
    Fifo,
    Char(u64),
    Block(u64),
}

/// Where an entry's bytes (and xattrs) come from when the layer is written.
#[derive(Debug, Clone)]
enum Data {
    None,
    /// `rel` below the source root `root` (an index into `CopyPlan::roots`; empty: the root).
    Fs {
        root: usize,
        rel: PathBuf,
    },
    /// A heredoc's content.
    Heredoc(usize),
    /// A fetched URL.
    Download(usize),
}

#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: i64,
    data: Data,
    /// (device, inode) of a regular file with several links: later ones become hard links.
    link_key: Option<(u64, u64)>,
    /// A parent directory made or kept for the destination: a source's own entry replaces it.
    weak: bool,
}

#[derive(Debug)]
enum Segment {
    Tree(BTreeMap<String, Node>),
    /// A local tar extracted into `dest` (a layer path, "" for the root).
    Archive {
        data: Data,
        dest: String,
    },
}

/// What [`plan`] found: the entries of the layer, and the step's digest.
#[derive(Debug)]
pub struct CopyPlan {
    roots: Vec<OwnedFd>,
    segments: Vec<Segment>,
    heredocs: Vec<Vec<u8>>,
    downloads: Vec<File>,
    digest: Option<Digest>,
    history: String,
    chown: Option<(u32, u32)>,
    clamp: Option<i64>,
    /// Context sources: every file's record by its path in the context (sorted), for
    /// `--explain` to say which file made a step miss.
    listing: Vec<(String, String)>,
}

fn hex(b: &[u8]) -> String {
    crate::digest::to_hex(b)
}

fn sha(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Go's `path.Clean` components of a `/`-path (`..` above the start kept as "..").
fn components(p: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if matches!(out.last(), Some(l) if l != "..") {
                    out.pop();
                } else {
                    out.push("..".into());
                }
            }
            c => out.push(c.to_string()),
        }
    }
    out
}

/// Go's `containsWildcards` (Unix): `*`, `?` or `[` not escaped by `\`.
pub fn has_wildcards(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// Go's `filepath.Match` of one path component (`*` and `?` never match `/`). A malformed
/// pattern is an error.
pub fn glob_match(pattern: &str, name: &str) -> std::result::Result<bool, String> {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = name.chars().collect();
    // Validate the whole pattern first, as Go reports ErrBadPattern even when the match fails early.
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return Err(format!("bad pattern {pattern:?}: trailing backslash"));
                }
                i += 2;
            }
            '[' => {
                let (_, next) = class(&p, i + 1, None).ok_or(format!(
                    "bad pattern {pattern:?}: unterminated or malformed [...]"
                ))?;
                i = next;
            }
            _ => i += 1,
        }
    }
    Ok(glob_at(&p, 0, &s, 0))
}

/// Parses a class starting after `[` at `i`; with `c`, whether it matches. Returns (matched,
/// index after `]`).
fn class(p: &[char], mut i: usize, c: Option<char>) -> Option<(bool, usize)> {
    let mut negated = false;
    if i < p.len() && p[i] == '^' {
        negated = true;
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        if i >= p.len() {
            return None;
        }
        if p[i] == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let mut lo = p[i];
        if lo == '\\' {
            i += 1;
            lo = *p.get(i)?;
        } else if lo == '-' || lo == ']' {
            return None;
        }
        i += 1;
        let mut hi = lo;
        if i < p.len() && p[i] == '-' {
            i += 1;
            hi = *p.get(i)?;
            if hi == '\\' {
                i += 1;
                hi = *p.get(i)?;
            } else if hi == '-' || hi == ']' {
                return None;
            }
            i += 1;
            if hi < lo {
                return None;
            }
        }
        if let Some(c) = c {
            if lo <= c && c <= hi {
                matched = true;
            }
        }
    }
    Some((matched != negated, i))
}

fn glob_at(p: &[char], pi: usize, s: &[char], si: usize) -> bool {
    if pi == p.len() {
        return si == s.len();
    }
    match p[pi] {
        '*' => {
            let mut k = si;
            loop {
                if glob_at(p, pi + 1, s, k) {
                    return true;
                }
                if k >= s.len() || s[k] == '/' {
                    return false;
                }
                k += 1;
            }
        }
        '?' => si < s.len() && s[si] != '/' && glob_at(p, pi + 1, s, si + 1),
        '[' => {
            if si >= s.len() || s[si] == '/' {
                return false;
            }
            match class(p, pi + 1, Some(s[si])) {
                Some((true, next)) => glob_at(p, next, s, si + 1),
                _ => false,
            }
        }
        '\\' => {
            pi + 1 < p.len() && si < s.len() && p[pi + 1] == s[si] && glob_at(p, pi + 2, s, si + 1)
        }
        c => si < s.len() && s[si] == c && glob_at(p, pi + 1, s, si + 1),
    }
}

#[derive(Debug)]
enum Resolve {
    /// Climbed out of the root (only where that is refused).
    Outside,
    /// A component that is not a directory, a loop, another error.
    Io(io::Error),
}

impl std::convert::From<io::Error> for Resolve {
    fn from(e: io::Error) -> Self {
        Resolve::Io(e)
    }
}

impl std::convert::From<Errno> for Resolve {
    fn from(e: Errno) -> Self {
        Resolve::Io(e.into())
    }
}

/// A path resolved inside a root: its components (no symlinks), and the object if it exists.
struct Resolved {
    comps: Vec<String>,
    found: Option<(OwnedFd, Stat)>,
}

/// Resolves `comps` inside the directory `root` one component at a time, as the kernel's
/// `RESOLVE_IN_ROOT` (`beneath == false`: `..` and absolute symlinks stop at the root) or
/// `RESOLVE_BENEATH` (`beneath`: leaving the root is [`Resolve::Outside`]) would, following every
/// symlink (the last one too), and keeping the resolved path. A missing component ends the walk:
/// the rest is appended as written.
fn resolve(
    root: &OwnedFd,
    comps: &[String],
    beneath: bool,
) -> std::result::Result<Resolved, Resolve> {
    let mut todo: VecDeque<String> = comps.iter().cloned().collect();
    let mut path: Vec<String> = Vec::new();
    let mut fds: Vec<OwnedFd> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop_front() {
        if c == "." || c.is_empty() {
            continue;
        }
        if c == ".." {
            if path.pop().is_none() {
                if beneath {
                    return Err(Resolve::Outside);
                }
            } else {
                fds.pop();
            }
            continue;
        }
        let cur = fds.last().unwrap_or(root);
        let fd = match rfs::openat(
            cur,
            c.as_str(),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => {
                path.push(c);
                let mut rest: Vec<String> = todo.into_iter().collect();
                let tail = components(&rest.join("/"));
                rest.clear();
                for t in tail {
                    if t == ".." {
                        if path.pop().is_none() && beneath {
                            return Err(Resolve::Outside);
                        }
                    } else {
                        path.push(t);
                    }
                }
                return Ok(Resolved {
                    comps: path,
                    found: None,
                });
            }
            Err(e) => return Err(e.into()),
        };
        let st = rfs::fstat(&fd)?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => {
                links += 1;
                if links > 40 {
                    return Err(Resolve::Io(Errno::LOOP.into()));
                }
                let target = rfs::readlinkat(&fd, "", Vec::new())?;
                let target = String::from_utf8_lossy(target.as_bytes()).into_owned();
                if target.starts_with('/') {
                    if beneath {
                        return Err(Resolve::Outside);
                    }
                    path.clear();
                    fds.clear();
                }
                for t in target.split('/').rev() {
                    todo.push_front(t.to_string());
                }
            }
            FileType::Directory => {
                path.push(c);
                fds.push(fd);
            }
            _ if todo.iter().all(|t| t.is_empty() || t == ".") => {
                path.push(c);
                return Ok(Resolved {
                    comps: path,
                    found: Some((fd, st)),
                });
            }
            _ => return Err(Resolve::Io(Errno::NOTDIR.into())),
        }
    }
    let found = match fds.pop() {
        Some(fd) => {
            let st = rfs::fstat(&fd)?;
            (fd, st)
        }
        None => {
            let fd = rfs::openat(root, ".", OFlags::PATH | OFlags::CLOEXEC, Mode::empty())?;
            let st = rfs::fstat(&fd)?;
            (fd, st)
        }
    };
    Ok(Resolved {
        comps: path,
        found: Some(found),
    })
}

/// A tree key: `/` as NUL, so that entries sort as a depth-first walk of sorted directories
/// (`a`, `a/b`, `a-b`), as Docker's and BuildKit's walks write them.
fn key(path: &str) -> String {
    path.replace('/', "\0")
}

fn unkey(k: &str) -> String {
    k.replace('\0', "/")
}

fn join(comps: &[String]) -> String {
    comps.join("/")
}

fn join2(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

fn ftype(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

fn is_whiteout(name: &str) -> bool {
    name.starts_with(".wh.")
}

/// Opens `rel` below `root` with no symlink anywhere and never out of it.
fn open_below(root: &OwnedFd, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    let p: &Path = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    berth_runtime::rootfs::openat2_retrying(
        root,
        p,
        flags | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(io::Error::from)
}

/// Reopens what an `O_PATH` descriptor names, for reading.
fn reopen(fd: &OwnedFd, flags: OFlags) -> io::Result<OwnedFd> {
    let p = format!("/proc/self/fd/{}", fd.as_raw_fd());
    rfs::open(p.as_str(), flags | OFlags::CLOEXEC, Mode::empty()).map_err(io::Error::from)
}

/// One selected source.
struct Info {
    root: usize,
    st: Stat,
    /// The last component of the path as written (a symlink's own name).
    name: String,
    /// The resolved path, relative to the source file system's root.
    resolved: String,
    /// Components kept below `dest` with `--parents`.
    kept: Vec<String>,
    /// The source argument it came from.
    arg: String,
}

struct Planner<'a> {
    op: &'a CopyOp,
    ctx: Option<&'a Context>,
    src_root: OwnedFd,
    what: &'static str,
    base: Option<OwnedFd>,
    exclude: Matcher,
    plan: CopyPlan,
    tree: BTreeMap<String, Node>,
    /// Canonical records of each source, for the digest and the history line.
    records: Vec<serde_json::Value>,
    history: Vec<String>,
}

fn bad(msg: String) -> Error {
    Error::InvalidInput(msg)
}

/// Resolves sources with Docker's rules (see the module docs), and for `From::Context` computes
/// the Merkle digest of what is selected. `base`: the target image's merged root (None for
/// scratch) to resolve `dest` as Docker does.
pub fn plan(op: &CopyOp, from: From, base: Option<&Path>) -> Result<CopyPlan> {
    let what = if op.add { "ADD" } else { "COPY" };
    let (ctx, src_root) = match from {
        From::Context(c) => (
            Some(c),
            c.fd()
                .try_clone()
                .map_err(|e| Error::io("open the build context", c.dir(), e))?,
        ),
        From::Dir(d) => (
            None,
            rfs::open(
                d,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| Error::io("open", d, e.into()))?,
        ),
    };
    let base = match base {
        Some(b) if !op.link => Some(
            rfs::open(
                b,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| Error::io("open", b, e.into()))?,
        ),
        _ => None,
    };
    if op.sources.is_empty() && op.heredocs.is_empty() {
        return Err(bad(format!("{what} needs at least one source")));
    }
    if op.dest.is_empty() {
        return Err(bad(format!("{what} needs a destination")));
    }
    if let Some(c) = &op.checksum {
        if !c.starts_with("sha256:") || Digest::parse(c).is_err() {
            return Err(bad(format!(
                "{what} --checksum={c}: not a sha256 digest (sha256:<64 hex digits>)"
            )));
        }
        if !op.add || op.sources.iter().any(|s| !is_url(s)) {
            return Err(bad(format!(
                "{what} --checksum={c}: a checksum is only for ADD of http(s) URLs"
            )));
        }
    }
    let exclude = Matcher::new(&op.exclude)?;
    let mut p = Planner {
        op,
        ctx,
        src_root,
        what,
        base,
        exclude,
        plan: CopyPlan {
            roots: Vec::new(),
            segments: Vec::new(),
            heredocs: Vec::new(),
            downloads: Vec::new(),
            digest: None,
            history: String::new(),
            chown: op.chown,
            clamp: op.mtime_clamp,
            listing: Vec::new(),
        },
        tree: BTreeMap::new(),
        records: Vec::new(),
        history: Vec::new(),
    };
    p.run()?;
    Ok(p.finish())
}

/// A record written by hand, as a JSON value (it is valid JSON by construction).
fn parse(record: &str) -> serde_json::Value {
    serde_json::from_str(record).unwrap_or(serde_json::Value::Null)
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

impl Planner<'_> {
    fn owner(&self, st: &Stat) -> (u32, u32) {
        match (self.op.chown, self.ctx) {
            (Some(o), _) => o,
            (None, Some(_)) => (0, 0),
            (None, None) => (st.st_uid, st.st_gid),
        }
    }

    fn mode(&self, st: &Stat) -> u32 {
        let m = st.st_mode & 0o7777;
        match (self.op.chmod, ftype(st)) {
            (Some(c), FileType::RegularFile | FileType::Directory) => c & 0o7777,
            _ => m,
        }
    }

    fn run(&mut self) -> Result<()> {
        let op = self.op;
        let dest_comps = components(&op.dest);
        if dest_comps.first().map(|c| c == "..").unwrap_or(false) {
            return Err(bad(format!(
                "{} {}: destination outside the root",
                self.what, op.dest
            )));
        }
        let dest_slash = op.dest.ends_with('/') || op.dest.ends_with("/.") || op.dest == ".";
        // The destination in the base, resolved as Docker does.
        let (dest, dest_found) = match &self.base {
            Some(b) if !dest_comps.is_empty() => match resolve(b, &dest_comps, false) {
                Ok(r) => (r.comps, r.found.map(|(_, st)| st)),
                Err(Resolve::Io(e)) => {
                    return Err(bad(format!("{} destination {}: {e}", self.what, op.dest)))
                }
                Err(Resolve::Outside) => unreachable!("in-root resolution never leaves the root"),
            },
            _ => (dest_comps.clone(), None),
        };
        let dest_is_dir = dest.is_empty()
            || dest_found
                .as_ref()
                .map(|st| ftype(st) == FileType::Directory)
                .unwrap_or(false);
        let dest_path = join(&dest);
        if dest_slash && !dest_is_dir && dest_found.is_some() {
            // Docker legacy: `mkdir …: not a directory`.
            return Err(bad(format!(
                "{} failed: destination {} is not a directory in the image",
                self.what, op.dest
            )));
        }

        // Sources.
        let mut infos = Vec::new();
        let mut urls = Vec::new();
        for arg in &op.sources {
            if is_url(arg) {
                if !op.add {
                    return Err(bad(format!(
                        "{} {arg}: source can't be a URL for COPY",
                        self.what
                    )));
                }
                urls.push(arg.clone());
                continue;
            }
            self.select(arg, &mut infos)?;
        }
        if infos.is_empty() && urls.is_empty() && op.heredocs.is_empty() {
            return Err(bad(format!(
                "{} failed: no source files were specified",
                self.what
            )));
        }
        let count = infos.len() + urls.len() + op.heredocs.len();
        if count > 1 && !dest_slash && !dest_is_dir {
            return Err(bad(format!(
                "When using {} with more than one source file, the destination must be a directory and end with a /",
                self.what
            )));
        }
        let into_dir = dest_slash || dest_is_dir || op.parents;

        for info in infos {
            let arg = info.arg.clone();
            let is_dir = ftype(&info.st) == FileType::Directory;
            if is_dir {
                let target: Vec<String> = if op.parents {
                    dest.iter().chain(info.kept.iter()).cloned().collect()
                } else {
                    dest.clone()
                };
                let target_path = join(&target);
                self.ensure_parents(&target)?;
                let (_, rec) = self.walk_root(&info, &target_path)?;
                // The directory the contents go to keeps its metadata if the base has it, else
                // is made 0755, owned by --chown (Docker legacy: not the source directory's mode).
                let node = match self.base_dir(&target_path)? {
                    Some(n) => n,
                    None => self.created_dir(),
                };
                if !target.is_empty() {
                    self.put(&target_path, node)?;
                }
                self.history.push(format!("dir:{}", rec.1));
                self.records
                    .push(json!({"source": arg, "path": info.resolved, "node": parse(&rec.0)}));
                continue;
            }
            // A file (or a symlink's target, a device).
            let fd_root = info.root;
            if op.add && ftype(&info.st) == FileType::RegularFile {
                let fd = &self.plan.roots[fd_root];
                if is_archive(fd, &info.arg)? {
                    let d = self.file_record(&info)?;
                    self.ensure_parents(&dest)?;
                    if !dest.is_empty() && !dest_is_dir {
                        let n = self.created_dir();
                        self.put(&dest_path, n)?;
                    }
                    let tree = std::mem::take(&mut self.tree);
                    self.plan.segments.push(Segment::Tree(tree));
                    self.plan.segments.push(Segment::Archive {
                        data: Data::Fs {
                            root: fd_root,
                            rel: PathBuf::new(),
                        },
                        dest: dest_path.clone(),
                    });
                    self.history.push(format!("file:{}", d.1));
                    self.records.push(
                        json!({"source": arg, "path": info.resolved, "extract": true, "node": parse(&d.0)}),
                    );
                    continue;
                }
            }
            let target: Vec<String> = if op.parents {
                dest.iter().chain(info.kept.iter()).cloned().collect()
            } else if into_dir {
                dest.iter().cloned().chain([info.name.clone()]).collect()
            } else {
                dest.clone()
            };
            if target.is_empty() {
                return Err(bad(format!(
                    "{} {arg}: cannot copy a file onto /",
                    self.what
                )));
            }
            let tpath = join(&target);
            if is_whiteout(target.last().map(|s| s.as_str()).unwrap_or("")) {
                return Err(bad(format!(
                    "{} {arg}: refusing to write {tpath}: a name starting with .wh. is a whiteout in a layer",
                    self.what
                )));
            }
            self.ensure_parents(&target[..target.len() - 1])?;
            let rec = self.file_record(&info)?;
            let link = if ftype(&info.st) == FileType::Symlink {
                let fd = &self.plan.roots[fd_root];
                Some(
                    rfs::readlinkat(fd, "", Vec::new())
                        .map_err(|e| Error::io("read the link", &info.resolved, e.into()))?
                        .into_bytes(),
                )
            } else {
                None
            };
            let node = self.node_of(
                &info.st,
                Data::Fs {
                    root: fd_root,
                    rel: PathBuf::new(),
                },
                link,
            );
            self.put(&tpath, node)?;
            self.history.push(format!("file:{}", rec.1));
            self.records
                .push(json!({"source": arg, "path": info.resolved, "node": parse(&rec.0)}));
        }

        for (i, (name, content)) in op.heredocs.iter().enumerate() {
            let target: Vec<String> = if into_dir || op.heredocs.len() > 1 || !op.sources.is_empty()
            {
                dest.iter().cloned().chain([name.clone()]).collect()
            } else {
                dest.clone()
            };
            if target.is_empty() || name.contains('/') || is_whiteout(name) {
                return Err(bad(format!(
                    "{} <<{name}: not a usable file name",
                    self.what
                )));
            }
            self.ensure_parents(&target[..target.len() - 1])?;
            let (uid, gid) = self.op.chown.unwrap_or((0, 0));
            let node = Node {
                kind: Kind::File,
                mode: self.op.chmod.unwrap_or(0o644) & 0o7777,
                uid,
                gid,
                size: content.len() as u64,
                mtime: 0,
                data: Data::Heredoc(i),
                link_key: None,
                weak: false,
            };
            self.plan.heredocs.push(content.as_bytes().to_vec());
            self.put(&join(&target), node)?;
            let h = hex(&sha(content.as_bytes()));
            self.history.push(format!("file:{h}"));
            self.records.push(json!({"heredoc": name, "sha256": h}));
        }

        for url in urls {
            self.fetch(&url, &dest, dest_slash, dest_is_dir)?;
        }
        Ok(())
    }

    /// A directory made for the destination: 0755, owned by `--chown` (or root).
    fn created_dir(&self) -> Node {
        let (uid, gid) = self.op.chown.unwrap_or((0, 0));
        Node {
            kind: Kind::Dir,
            mode: 0o755,
            uid,
            gid,
            size: 0,
            mtime: 0,
            data: Data::None,
            link_key: None,
            weak: true,
        }
    }

    /// The directory `path` of the base (no symlink on the way), as a weak node.
    fn base_dir(&self, path: &str) -> Result<Option<Node>> {
        let Some(b) = &self.base else {
            return Ok(None);
        };
        let st = if path.is_empty() {
            rfs::fstat(b).ok()
        } else {
            open_below(b, Path::new(path), OFlags::PATH | OFlags::NOFOLLOW)
                .ok()
                .and_then(|fd| rfs::fstat(&fd).ok())
        };
        Ok(st
            .filter(|st| ftype(st) == FileType::Directory)
            .map(|st| Node {
                kind: Kind::Dir,
                mode: st.st_mode & 0o7777,
                uid: st.st_uid,
                gid: st.st_gid,
                size: 0,
                mtime: st.st_mtime,
                data: Data::None,
                link_key: None,
                weak: true,
            }))
    }

    /// Every directory from the root down to `comps` (included) has an entry: the base's if it
    /// has that directory, else a created one.
    fn ensure_parents(&mut self, comps: &[String]) -> Result<()> {
        for i in 1..=comps.len() {
            let p = join(&comps[..i]);
            if self.tree.contains_key(&key(&p)) {
                continue;
            }
            let node = match self.base_dir(&p)? {
                Some(n) => n,
                None => self.created_dir(),
            };
            self.tree.insert(key(&p), node);
        }
        Ok(())
    }

    fn put(&mut self, path: &str, node: Node) -> Result<()> {
        let k = key(path);
        match self.tree.get(&k) {
            Some(old) if old.kind == Kind::Dir && node.kind == Kind::Dir => {
                if !node.weak || old.weak {
                    self.tree.insert(k, node);
                }
            }
            Some(old) if (old.kind == Kind::Dir) != (node.kind == Kind::Dir) => {
                let below = format!("{k}\0");
                let has_children = self
                    .tree
                    .range(below.clone()..)
                    .next()
                    .map(|(c, _)| c.starts_with(&below))
                    .unwrap_or(false);
                if old.kind == Kind::Dir && has_children {
                    return Err(bad(format!(
                        "{}: cannot copy a file onto /{path}: a directory copied by the same step",
                        self.what
                    )));
                }
                self.tree.insert(k, node);
            }
            _ => {
                self.tree.insert(k, node);
            }
        }
        Ok(())
    }

    fn node_of(&self, st: &Stat, data: Data, link: Option<Vec<u8>>) -> Node {
        let (uid, gid) = self.owner(st);
        let kind = match ftype(st) {
            FileType::Directory => Kind::Dir,
            FileType::Symlink => Kind::Symlink(link.unwrap_or_default()),
            FileType::Fifo => Kind::Fifo,
            FileType::CharacterDevice => Kind::Char(st.st_rdev),
            FileType::BlockDevice => Kind::Block(st.st_rdev),
            _ => Kind::File,
        };
        let is_file = kind == Kind::File;
        Node {
            size: if is_file { st.st_size as u64 } else { 0 },
            link_key: (is_file && st.st_nlink > 1).then_some((st.st_dev, st.st_ino)),
            kind,
            mode: self.mode(st),
            uid,
            gid,
            mtime: st.st_mtime,
            data,
            weak: false,
        }
    }

    /// The sources an argument selects, in order.
    fn select(&mut self, arg: &str, out: &mut Vec<Info>) -> Result<()> {
        let trimmed = arg.strip_prefix('/').unwrap_or(arg);
        let trimmed = trimmed.strip_prefix("./").unwrap_or(trimmed);
        // `--parents`: `a/./b/c` keeps `b/c` below dest.
        let pivot = if self.op.parents {
            trimmed.find("/./").map(|i| components(&trimmed[..i]).len())
        } else {
            None
        };
        let comps = components(trimmed);
        if comps.first().map(|c| c == "..").unwrap_or(false) {
            return Err(bad(format!(
                "{} failed: forbidden path outside the build context: {arg}",
                self.what
            )));
        }
        let matches: Vec<Vec<String>> = if has_wildcards(trimmed) {
            let mut found = Vec::new();
            self.expand(&comps, 0, Vec::new(), &mut found)?;
            found
        } else {
            vec![comps.clone()]
        };
        let wildcard = has_wildcards(trimmed);
        for m in matches {
            let typed = join(&m);
            let not_found = || {
                bad(format!(
                    "{} failed: file not found in build context or excluded by .dockerignore: stat {typed}: file does not exist",
                    self.what
                ))
            };
            let r = match resolve(&self.src_root, &m, self.ctx.is_some()) {
                Ok(r) => r,
                // A source that is itself a symlink leading out of the context is copied as
                // the link it is, never followed out.
                Err(Resolve::Outside) if self.own_link(&m).is_some() => {
                    let (fd, st) = self.own_link(&m).expect("checked");
                    Resolved {
                        comps: m.clone(),
                        found: Some((fd, st)),
                    }
                }
                Err(Resolve::Outside) => {
                    return Err(bad(format!(
                        "{} failed: forbidden path outside the build context: {arg} (a symlink on the way leads out of it)",
                        self.what
                    )))
                }
                Err(Resolve::Io(e)) => return Err(bad(format!("{} failed: {typed}: {e}", self.what))),
            };
            let Some((fd, st)) = r.found else {
                if wildcard {
                    continue;
                }
                return Err(not_found());
            };
            let resolved = join(&r.comps);
            if let Some(c) = self.ctx {
                // Ignored is invisible; an ignored directory with an exception for something
                // inside is still there (its walk keeps only what is re-included).
                let is_dir = ftype(&st) == FileType::Directory;
                let hidden = |p: &str| {
                    !p.is_empty()
                        && c.ignore().matches(p)
                        && (!is_dir || c.ignore().can_skip_dir(p))
                };
                if hidden(&typed) || hidden(&resolved) {
                    return Err(not_found());
                }
            }
            let kept = match pivot {
                Some(d) => m.get(d..).map(|s| s.to_vec()).unwrap_or_default(),
                None => m.clone(),
            };
            self.plan.roots.push(fd);
            out.push(Info {
                root: self.plan.roots.len() - 1,
                st,
                name: m.last().cloned().unwrap_or_default(),
                resolved,
                kept,
                arg: arg.to_string(),
            });
        }
        Ok(())
    }

    /// The symlink `m` names itself (its parent resolved inside the root, no symlink followed
    /// for its last component), if it is one.
    fn own_link(&self, m: &[String]) -> Option<(OwnedFd, Stat)> {
        let (last, parent) = m.split_last()?;
        let r = resolve(&self.src_root, parent, self.ctx.is_some()).ok()?;
        if !r.comps.iter().eq(parent.iter()) {
            // A symlink on the way to the parent: not the source's own link.
            return None;
        }
        let dir = match r.found {
            Some((fd, _)) => fd,
            None if parent.is_empty() => rfs::openat(
                &self.src_root,
                ".",
                OFlags::PATH | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ok()?,
            None => return None,
        };
        let fd = rfs::openat(
            &dir,
            last.as_str(),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let st = rfs::fstat(&fd).ok()?;
        (FileType::from_raw_mode(st.st_mode) == FileType::Symlink).then_some((fd, st))
    }

    /// Expands wildcards component by component from `at` (matches of `pattern[i]` in `at`).
    fn expand(
        &self,
        pattern: &[String],
        i: usize,
        at: Vec<String>,
        out: &mut Vec<Vec<String>>,
    ) -> Result<()> {
        if i == pattern.len() {
            out.push(at);
            return Ok(());
        }
        let pc = &pattern[i];
        if !has_wildcards(pc) {
            let mut next = at;
            next.push(unescape(pc));
            return self.expand(pattern, i + 1, next, out);
        }
        let dir = match open_below(
            &self.src_root,
            Path::new(&join(&at)),
            OFlags::RDONLY | OFlags::DIRECTORY,
        ) {
            Ok(d) => d,
            Err(_) => return Ok(()),
        };
        let mut names = Vec::new();
        for e in rfs::Dir::read_from(&dir).map_err(|e| Error::io("read", join(&at), e.into()))? {
            let e = e.map_err(|e| Error::io("read", join(&at), e.into()))?;
            let n = e.file_name().to_bytes();
            if n == b"." || n == b".." {
                continue;
            }
            names.push(String::from_utf8_lossy(n).into_owned());
        }
        names.sort();
        for n in names {
            match glob_match(pc, &n) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => return Err(bad(format!("{} {}: {e}", self.what, join(pattern)))),
            }
            let mut next = at.clone();
            next.push(n);
            if let Some(c) = self.ctx {
                if c.ignore().matches(&join(&next)) {
                    continue;
                }
            }
            self.expand(pattern, i + 1, next, out)?;
        }
        Ok(())
    }

    /// The record of a file source (for the digest) and its node digest (hex).
    fn file_record(&mut self, info: &Info) -> Result<(String, String)> {
        let fd = &self.plan.roots[info.root];
        let r = self.record_of(fd, Path::new(""), &info.st, None, &info.name)?;
        if self.ctx.is_some() {
            self.plan.listing.push((info.resolved.clone(), r.0.clone()));
        }
        Ok(r)
    }

    /// A node's canonical record: (record, its sha256 hex). `dir_digest` for directories.
    fn record_of(
        &self,
        parent: &OwnedFd,
        name: &Path,
        st: &Stat,
        dir_digest: Option<String>,
        display: &str,
    ) -> Result<(String, String)> {
        let Some(ctx) = self.ctx else {
            // From another stage: no content digest (the builder keys on the stage's image).
            let r = json!({"name": display, "mode": st.st_mode, "size": st.st_size}).to_string();
            let h = hex(&sha(r.as_bytes()));
            return Ok((r, h));
        };
        let t = ftype(st);
        let (content, xattrs, link) = match t {
            FileType::RegularFile => {
                let d = if name.as_os_str().is_empty() {
                    ctx.file_digest_by(st, || reopen(parent, OFlags::RDONLY | OFlags::NONBLOCK))
                } else {
                    ctx.file_digest(parent, name, st)
                }
                .map_err(|e| Error::io("read", display, e))?;
                (hex(&d.content), hex(&d.xattrs), String::new())
            }
            FileType::Symlink => {
                let l = rfs::readlinkat(parent, name, Vec::new())
                    .map_err(|e| Error::io("read link", display, e.into()))?;
                (
                    String::new(),
                    String::new(),
                    String::from_utf8_lossy(l.as_bytes()).into_owned(),
                )
            }
            FileType::Directory => {
                let fd = if name.as_os_str().is_empty() {
                    parent
                        .try_clone()
                        .map_err(|e| Error::io("open", display, e))?
                } else {
                    rfs::openat(
                        parent,
                        name,
                        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(|e| Error::io("open", display, e.into()))?
                };
                let x = read_xattrs(&fd).map_err(|e| Error::io("read xattrs of", display, e))?;
                (
                    dir_digest.unwrap_or_default(),
                    hex(&xattrs_digest(&x)),
                    String::new(),
                )
            }
            _ => (format!("rdev:{}", st.st_rdev), String::new(), String::new()),
        };
        let kind = match t {
            FileType::Directory => "dir",
            FileType::RegularFile => "file",
            FileType::Symlink => "symlink",
            FileType::Fifo => "fifo",
            FileType::CharacterDevice => "char",
            FileType::BlockDevice => "block",
            _ => "other",
        };
        // Canonical JSON written by hand (fixed key order, serde_json's string escaping): this
        // runs for every file of every COPY, cached or not.
        let q = |v: &str| serde_json::to_string(v).unwrap_or_default();
        let r = format!(
            "{{\"name\":{},\"type\":\"{kind}\",\"mode\":{},\"uid\":{},\"gid\":{},\"size\":{},\"link\":{},\"xattrs\":\"{xattrs}\",\"digest\":{}}}",
            q(display),
            st.st_mode & 0o7777,
            st.st_uid,
            st.st_gid,
            if t == FileType::RegularFile { st.st_size as u64 } else { 0 },
            q(&link),
            q(&content),
        );
        let h = hex(&sha(r.as_bytes()));
        Ok((r, h))
    }

    /// Walks a directory source into `target` (a layer path). Returns the node for the target
    /// directory itself and its record.
    fn walk_root(&mut self, info: &Info, target: &str) -> Result<(Node, (String, String))> {
        let root = info.root;
        let dirfd = reopen(&self.plan.roots[root], OFlags::RDONLY | OFlags::DIRECTORY)
            .map_err(|e| Error::io("open", &info.resolved, e))?;
        let digest = self.walk(root, &dirfd, "", &info.resolved, target)?;
        let node = self.node_of(
            &info.st,
            Data::Fs {
                root,
                rel: PathBuf::new(),
            },
            None,
        );
        let fd = self.plan.roots[root]
            .try_clone()
            .map_err(|e| Error::io("open", &info.resolved, e))?;
        let rec = self.record_of(&fd, Path::new(""), &info.st, Some(digest), &info.name)?;
        Ok((node, rec))
    }

    /// Walks the directory `dir` (at `rel` below source root `root`, `ctx_rel` below the context
    /// for the ignore rules) into the layer directory `target`. Returns the digest of its entries.
    fn walk(
        &mut self,
        root: usize,
        dir: &OwnedFd,
        rel: &str,
        ctx_rel: &str,
        target: &str,
    ) -> Result<String> {
        let display = |n: &str| join2(ctx_rel, n);
        let mut names: Vec<Vec<u8>> = Vec::new();
        for e in rfs::Dir::read_from(dir).map_err(|e| Error::io("read", display(""), e.into()))? {
            let e = e.map_err(|e| Error::io("read", display(""), e.into()))?;
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(n.to_vec());
            }
        }
        names.sort();
        let mut h = Sha256::new();
        for n in names {
            let name = String::from_utf8_lossy(&n).into_owned();
            let child_rel = join2(rel, &name);
            let child_ctx = join2(ctx_rel, &name);
            let child_target = join2(target, &name);
            let st = match rfs::statat(dir, OsStr::from_bytes(&n), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(Error::io("stat", child_ctx, e.into())),
            };
            let is_dir = ftype(&st) == FileType::Directory;
            let ignored = self
                .ctx
                .map(|c| c.ignore().matches(&child_ctx))
                .unwrap_or(false);
            let excluded = !self.op.exclude.is_empty() && self.exclude.matches(&child_rel);
            if ignored || excluded {
                let skip = !is_dir
                    || (ignored
                        && self
                            .ctx
                            .map(|c| c.ignore().can_skip_dir(&child_ctx))
                            .unwrap_or(true))
                    || (excluded && self.exclude.can_skip_dir(&child_rel))
                    || (ignored && excluded);
                if skip {
                    continue;
                }
                // Excluded, but an exception may re-include something inside: walk it, and keep
                // the directory only if something is.
                let sub = rfs::openat(
                    dir,
                    OsStr::from_bytes(&n),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| Error::io("open", &child_ctx, e.into()))?;
                let before = self.tree.len();
                let d = self.walk(root, &sub, &child_rel, &child_ctx, &child_target)?;
                if self.tree.len() > before {
                    let node = self.node_of(
                        &st,
                        Data::Fs {
                            root,
                            rel: PathBuf::from(&child_rel),
                        },
                        None,
                    );
                    self.put(&child_target, node)?;
                    let (r, _) =
                        self.record_of(dir, Path::new(OsStr::from_bytes(&n)), &st, Some(d), &name)?;
                    h.update(r.as_bytes());
                    h.update(b"\n");
                }
                continue;
            }
            if ftype(&st) == FileType::Socket {
                continue;
            }
            if is_whiteout(&name) {
                return Err(bad(format!(
                    "{} failed: refusing to copy {child_ctx}: a name starting with .wh. is a whiteout in a layer",
                    self.what
                )));
            }
            let digest = if is_dir {
                let sub = rfs::openat(
                    dir,
                    OsStr::from_bytes(&n),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| Error::io("open", &child_ctx, e.into()))?;
                Some(self.walk(root, &sub, &child_rel, &child_ctx, &child_target)?)
            } else {
                None
            };
            let link = if ftype(&st) == FileType::Symlink {
                Some(
                    rfs::readlinkat(dir, OsStr::from_bytes(&n), Vec::new())
                        .map_err(|e| Error::io("read link", &child_ctx, e.into()))?
                        .into_bytes(),
                )
            } else {
                None
            };
            let node = self.node_of(
                &st,
                Data::Fs {
                    root,
                    rel: PathBuf::from(&child_rel),
                },
                link,
            );
            self.put(&child_target, node)?;
            if self.ctx.is_some() {
                let (r, _) =
                    self.record_of(dir, Path::new(OsStr::from_bytes(&n)), &st, digest, &name)?;
                h.update(r.as_bytes());
                h.update(b"\n");
                self.plan.listing.push((child_ctx.clone(), r));
            }
        }
        Ok(hex(&h.finalize()))
    }

    /// ADD of an http(s) URL: fetched now (its content is part of the digest).
    fn fetch(
        &mut self,
        url: &str,
        dest: &[String],
        dest_slash: bool,
        dest_is_dir: bool,
    ) -> Result<()> {
        let resp = ureq::get(url)
            .call()
            .map_err(|e| bad(format!("{} {url}: {e}", self.what)))?;
        // Docker's `getFilenameForDownload`: the URL path's last segment, else the
        // Content-Disposition filename.
        let disposition = resp
            .headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .and_then(disposition_file_name);
        let last_modified = resp
            .headers()
            .get("last-modified")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
            .map(|t| t.timestamp())
            .unwrap_or(0);
        let mut file =
            tempfile::tempfile().map_err(|e| Error::stream("create a temporary file", e))?;
        let mut body = resp.into_body().into_reader();
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 256 << 10];
        let mut size = 0u64;
        loop {
            let n = body
                .read(&mut buf)
                .map_err(|e| bad(format!("{} {url}: {e}", self.what)))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            file.write_all(&buf[..n])
                .map_err(|e| Error::stream("write a temporary file", e))?;
            size += n as u64;
        }
        let got = format!("sha256:{}", hex(&h.finalize()));
        if let Some(want) = &self.op.checksum {
            if *want != got {
                return Err(bad(format!(
                    "{} {url}: checksum mismatch: expected {want}, got {got}",
                    self.what
                )));
            }
        }
        file.rewind()
            .map_err(|e| Error::stream("rewind a temporary file", e))?;
        let name = url_file_name(url).or(disposition);
        let target: Vec<String> = if dest_slash {
            let Some(n) = name.clone() else {
                return Err(bad(format!(
                    "{} {url}: cannot determine filename for source {url}",
                    self.what
                )));
            };
            dest.iter().cloned().chain([n]).collect()
        } else if dest_is_dir {
            dest.iter()
                .cloned()
                .chain([name.clone().unwrap_or_else(|| "__unnamed__".into())])
                .collect()
        } else {
            dest.to_vec()
        };
        if target.is_empty() || is_whiteout(target.last().map(|s| s.as_str()).unwrap_or("")) {
            return Err(bad(format!(
                "{} {url}: not a usable destination {}",
                self.what, self.op.dest
            )));
        }
        self.ensure_parents(&target[..target.len() - 1])?;
        let (uid, gid) = self.op.chown.unwrap_or((0, 0));
        self.plan.downloads.push(file);
        let node = Node {
            kind: Kind::File,
            mode: self.op.chmod.unwrap_or(0o600) & 0o7777,
            uid,
            gid,
            size,
            mtime: last_modified,
            data: Data::Download(self.plan.downloads.len() - 1),
            link_key: None,
            weak: false,
        };
        self.put(&join(&target), node)?;
        self.history.push(format!("file:{}", &got[7..]));
        self.records
            .push(json!({"url": url, "sha256": got, "name": name, "mtime": last_modified}));
        Ok(())
    }

    fn finish(mut self) -> CopyPlan {
        let tree = std::mem::take(&mut self.tree);
        self.plan.segments.push(Segment::Tree(tree));
        self.plan
            .segments
            .retain(|s| !matches!(s, Segment::Tree(t) if t.is_empty()));
        self.plan.history = if self.history.len() == 1 {
            self.history.remove(0)
        } else {
            format!("multi:{}", hex(&sha(self.history.join(",").as_bytes())))
        };
        if self.ctx.is_some() {
            let op = self.op;
            let doc = json!({
                "v": 1,
                "add": op.add,
                "sources": self.records,
                "dest": op.dest,
                "chown": op.chown.map(|(u, g)| format!("{u}:{g}")),
                "chmod": op.chmod,
                "parents": op.parents,
                "exclude": op.exclude,
                "link": op.link,
                "checksum": op.checksum,
            });
            let d = sha(doc.to_string().as_bytes());
            self.plan.digest = Digest::parse(&format!("sha256:{}", hex(&d))).ok();
        }
        self.plan
    }
}

/// Go's `%`-decoding of a URL path's last segment, as `getFilenameForDownload` (None: no name).
fn url_file_name(url: &str) -> Option<String> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
    let path = path.split(['?', '#']).next().unwrap_or("");
    if path.is_empty() || path.ends_with('/') {
        return None;
    }
    let last = path.rsplit('/').next().unwrap_or("");
    let b = last.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&last[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    let s = String::from_utf8_lossy(&out).into_owned();
    (!s.is_empty() && s != "." && s != ".." && !s.contains('/')).then_some(s)
}

/// The `filename` parameter of a Content-Disposition header, its base name (None if absent or
/// naming a directory).
fn disposition_file_name(v: &str) -> Option<String> {
    let p = v.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("filename")).then(|| v.trim().trim_matches('"').to_string())
    })?;
    if p.is_empty() || p.ends_with('/') {
        return None;
    }
    let base = p.rsplit('/').next().unwrap_or("").to_string();
    (!base.is_empty() && base != "." && base != "..").then_some(base)
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut esc = false;
    for c in s.chars() {
        if c == '\\' && !esc {
            esc = true;
            continue;
        }
        esc = false;
        out.push(c);
    }
    out
}

/// Whether the file behind the `O_PATH` descriptor `fd` is a tar archive ADD extracts, as
/// Docker's `isArchivePath`: it decompresses and its first tar header reads.
fn is_archive(fd: &OwnedFd, what: &str) -> Result<bool> {
    let f = File::from(
        reopen(fd, OFlags::RDONLY | OFlags::NONBLOCK).map_err(|e| Error::io("open", what, e))?,
    );
    let mut r = io::BufReader::new(f);
    let head = io::BufRead::fill_buf(&mut r)
        .map_err(|e| Error::io("read", what, e))?
        .to_vec();
    if head.starts_with(b"BZh") || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Err(bad(format!(
            "ADD {what}: bzip2 and xz archives are not extracted here (Docker does): recompress it with gzip or zstd, or COPY it"
        )));
    }
    let plain = match crate::layer::decompress(r, what) {
        Ok(p) => p,
        Err(_) => return Ok(false),
    };
    let mut a = tar::Archive::new(plain);
    let ok = match a.entries() {
        Ok(mut e) => matches!(e.next(), Some(Ok(_))),
        Err(_) => false,
    };
    Ok(ok)
}

impl CopyPlan {
    /// Context sources: sha256 of canonical JSON of a Merkle tree of the selected sources plus
    /// the options. `From::Dir`: None (the builder keys on the source stage's image instead).
    pub fn digest(&self) -> Option<Digest> {
        self.digest.clone()
    }

    /// Context sources: each file's record (name, type, mode, owner, size, link, xattrs and
    /// content digest) by its path in the context, sorted by path.
    pub fn listing(&self) -> Vec<(String, String)> {
        let mut l = self.listing.clone();
        l.sort();
        l.dedup();
        l
    }

    /// For the legacy history line `COPY file:<hex> in /dest ` / `dir:<hex>` / `multi:<hex>`.
    pub fn history_source(&self) -> String {
        self.history.clone()
    }

    /// Entries the layer will hold, as `(path, kind)` (tests and `--explain`).
    pub fn entries(&self) -> Vec<(String, char)> {
        let mut out = Vec::new();
        for s in &self.segments {
            match s {
                Segment::Tree(t) => {
                    for (k, n) in t {
                        let p = unkey(k);
                        let c = match n.kind {
                            Kind::Dir => 'd',
                            Kind::File => 'f',
                            Kind::Symlink(_) => 'l',
                            _ => 'c',
                        };
                        out.push((p, c));
                    }
                }
                Segment::Archive { dest, .. } => out.push((dest.clone(), 'a')),
            }
        }
        out
    }

    /// Writes the layer: a deterministic tar streamed through compression into `layout`.
    pub fn write_layer(&self, layout: &Layout, codec: Codec) -> Result<NewLayer> {
        let (r, w) = io::pipe().map_err(|e| Error::stream("make a pipe", e))?;
        std::thread::scope(|s| {
            let writer = s.spawn(move || self.write_tar(w));
            let stored = crate::layer::store_tar(layout, r, "the COPY layer", codec);
            let written = writer.join().unwrap_or_else(|_| {
                Err(Error::stream(
                    "write the layer",
                    io::Error::other("panicked"),
                ))
            });
            written?;
            stored
        })
    }

    /// Writes the layer's tar to `out`.
    pub fn write_tar(&self, out: impl Write) -> Result<()> {
        let mut b = tar::Builder::new(io::BufWriter::with_capacity(1 << 20, out));
        let mut links: HashMap<(u64, u64), String> = HashMap::new();
        for seg in &self.segments {
            match seg {
                Segment::Tree(t) => {
                    for (k, node) in t {
                        self.write_node(&mut b, &unkey(k), node, &mut links)?;
                    }
                }
                Segment::Archive { data, dest } => self.extract(&mut b, data, dest)?,
            }
        }
        let w = b
            .into_inner()
            .map_err(|e| Error::stream("write the layer", e))?;
        w.into_inner()
            .map_err(|e| Error::stream("write the layer", e.into_error()))?
            .flush()
            .map_err(|e| Error::stream("write the layer", e))
    }

    fn mtime(&self, t: i64) -> u64 {
        // With a build timestamp every entry gets it: the sources' mtimes are not in the
        // step's cache key, so they must not be in its layer either (a touched file hits the
        // cache; a cold build from a checkout with other mtimes gives the same layer).
        let t = self.clamp.unwrap_or(t);
        t.max(0) as u64
    }

    fn header(&self, node: &Node, kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(node.mode);
        h.set_uid(node.uid.into());
        h.set_gid(node.gid.into());
        h.set_mtime(self.mtime(node.mtime));
        h.set_size(size);
        h
    }

    fn open_data(&self, data: &Data, what: &str) -> Result<Option<OwnedFd>> {
        match data {
            Data::Fs { root, rel } if rel.as_os_str().is_empty() => Ok(Some(
                self.roots[*root]
                    .try_clone()
                    .map_err(|e| Error::io("open", what, e))?,
            )),
            Data::Fs { root, rel } => {
                let fd = open_below(&self.roots[*root], rel, OFlags::PATH | OFlags::NOFOLLOW)
                    .map_err(|e| Error::io("open", what, e))?;
                Ok(Some(fd))
            }
            _ => Ok(None),
        }
    }

    fn write_node<W: Write>(
        &self,
        b: &mut tar::Builder<W>,
        path: &str,
        node: &Node,
        links: &mut HashMap<(u64, u64), String>,
    ) -> Result<()> {
        let err = |e: io::Error| Error::stream(format!("write /{path} to the layer"), e);
        if let Some(key) = node.link_key {
            if let Some(first) = links.get(&key) {
                let mut h = self.header(node, tar::EntryType::Link, 0);
                return b.append_link(&mut h, path, first).map_err(err);
            }
            links.insert(key, path.to_string());
        }
        let fd = match (&node.kind, &node.data) {
            // A regular file below a source root: opened for reading at once.
            (Kind::File, Data::Fs { root, rel }) if !rel.as_os_str().is_empty() => Some(
                open_below(
                    &self.roots[*root],
                    rel,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK,
                )
                .map_err(|e| Error::io("open", path, e))?,
            ),
            _ => self.open_data(&node.data, path)?,
        };
        if let Some(fd) = &fd {
            if matches!(node.kind, Kind::File | Kind::Dir) {
                let x = read_xattrs(fd).map_err(|e| Error::io("read xattrs of", path, e))?;
                if !x.is_empty() {
                    let mut pax = Vec::new();
                    for (n, v) in &x {
                        let mut rec = b"SCHILY.xattr.".to_vec();
                        rec.extend_from_slice(n);
                        rec.push(b'=');
                        rec.extend_from_slice(v);
                        rec.push(b'\n');
                        // "LEN rec": LEN counts itself.
                        let mut len = rec.len() + 2;
                        while format!("{len} ").len() + rec.len() != len {
                            len = format!("{len} ").len() + rec.len();
                        }
                        pax.extend_from_slice(format!("{len} ").as_bytes());
                        pax.extend_from_slice(&rec);
                    }
                    let mut h = tar::Header::new_ustar();
                    h.set_entry_type(tar::EntryType::XHeader);
                    h.set_size(pax.len() as u64);
                    h.set_mode(0o644);
                    h.set_mtime(self.mtime(node.mtime));
                    let short = format!("PaxHeaders/{}", path.rsplit('/').next().unwrap_or(path));
                    h.set_path(&short[..short.len().min(99)]).map_err(err)?;
                    h.set_cksum();
                    b.append(&h, &pax[..]).map_err(err)?;
                }
            }
        }
        match &node.kind {
            Kind::Dir => {
                let mut h = self.header(node, tar::EntryType::Directory, 0);
                b.append_data(&mut h, format!("{path}/"), io::empty())
                    .map_err(err)
            }
            Kind::File => {
                let size = node.size;
                let mut h = self.header(node, tar::EntryType::Regular, size);
                let reader: Box<dyn Read> = match &node.data {
                    Data::Fs { rel, .. } if !rel.as_os_str().is_empty() => Box::new(File::from(
                        fd.ok_or_else(|| err(io::Error::other("no source")))?,
                    )),
                    Data::Fs { .. } => {
                        let fd = fd
                            .as_ref()
                            .ok_or_else(|| err(io::Error::other("no source")))?;
                        Box::new(File::from(
                            reopen(fd, OFlags::RDONLY | OFlags::NONBLOCK)
                                .map_err(|e| Error::io("open", path, e))?,
                        ))
                    }
                    Data::Heredoc(i) => Box::new(&self.heredocs[*i][..]),
                    Data::Download(i) => Box::new(
                        self.downloads[*i]
                            .try_clone()
                            .map_err(|e| Error::stream("reopen a download", e))?,
                    ),
                    Data::None => Box::new(io::empty()),
                };
                // Exactly `size` bytes, whatever the file does meanwhile.
                let data = reader.take(size).chain(io::repeat(0)).take(size);
                b.append_data(&mut h, path, data).map_err(err)
            }
            Kind::Symlink(target) => {
                let mut h = self.header(node, tar::EntryType::Symlink, 0);
                b.append_link(&mut h, path, OsStr::from_bytes(target))
                    .map_err(err)
            }
            Kind::Fifo | Kind::Char(_) | Kind::Block(_) => {
                let (kind, rdev) = match node.kind {
                    Kind::Fifo => (tar::EntryType::Fifo, 0),
                    Kind::Char(r) => (tar::EntryType::Char, r),
                    Kind::Block(r) => (tar::EntryType::Block, r),
                    _ => unreachable!(),
                };
                let mut h = self.header(node, kind, 0);
                h.set_device_major(rfs::major(rdev)).map_err(err)?;
                h.set_device_minor(rfs::minor(rdev)).map_err(err)?;
                b.append_data(&mut h, path, io::empty()).map_err(err)
            }
        }
    }

    /// ADD of a local tar: its entries rebased under `dest`, owners kept (or `--chown`), mtimes
    /// clamped; names that climb out, whiteouts and hard links out of the archive are refused.
    fn extract<W: Write>(&self, b: &mut tar::Builder<W>, data: &Data, dest: &str) -> Result<()> {
        let fd = self
            .open_data(data, dest)?
            .ok_or_else(|| bad("ADD: no archive".into()))?;
        let f = File::from(
            reopen(&fd, OFlags::RDONLY | OFlags::NONBLOCK)
                .map_err(|e| Error::io("open", dest, e))?,
        );
        let what = "the archive ADD extracts";
        let plain = crate::layer::decompress(f, what)?;
        let mut a = tar::Archive::new(plain);
        let rd = |e: io::Error| bad(format!("ADD: {what}: {e}"));
        for e in a.entries().map_err(rd)? {
            let mut e = e.map_err(rd)?;
            let raw = e.path().map_err(rd)?.into_owned();
            let Some(clean) = crate::unpack::clean(&raw) else {
                return Err(bad(format!(
                    "ADD: {what}: entry {} climbs out of the destination",
                    raw.display()
                )));
            };
            let clean = clean.to_string_lossy().into_owned();
            if clean.split('/').any(is_whiteout) {
                return Err(bad(format!(
                    "ADD: {what}: entry {clean}: a name starting with .wh. would be a whiteout in the layer"
                )));
            }
            let name = join2(dest, &clean);
            let hdr = e.header().clone();
            let kind = hdr.entry_type();
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(hdr.mode().map_err(rd)? & 0o7777);
            let (uid, gid) = match self.chown {
                Some(o) => o,
                None => (hdr.uid().unwrap_or(0) as u32, hdr.gid().unwrap_or(0) as u32),
            };
            h.set_uid(uid.into());
            h.set_gid(gid.into());
            h.set_mtime(self.mtime(hdr.mtime().unwrap_or(0) as i64));
            let err = |x: io::Error| Error::stream(format!("write /{name} to the layer"), x);
            match kind {
                tar::EntryType::Directory => {
                    h.set_size(0);
                    let n = if name.is_empty() {
                        "./".to_string()
                    } else {
                        format!("{name}/")
                    };
                    b.append_data(&mut h, n, io::empty()).map_err(err)?;
                }
                tar::EntryType::Regular
                | tar::EntryType::Continuous
                | tar::EntryType::GNUSparse => {
                    if name.is_empty() {
                        return Err(bad(format!(
                            "ADD: {what}: a file entry names the destination itself"
                        )));
                    }
                    h.set_entry_type(tar::EntryType::Regular);
                    let size = e.size();
                    h.set_size(size);
                    b.append_data(&mut h, &name, (&mut e).take(size))
                        .map_err(err)?;
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = e
                        .link_name()
                        .map_err(rd)?
                        .map(|t| t.into_owned())
                        .unwrap_or_default();
                    h.set_size(0);
                    let target = if kind == tar::EntryType::Link {
                        let Some(t) = crate::unpack::clean(&target) else {
                            return Err(bad(format!(
                                "ADD: {what}: hard link {clean} points out of the archive: {}",
                                target.display()
                            )));
                        };
                        PathBuf::from(join2(dest, &t.to_string_lossy()))
                    } else {
                        target
                    };
                    b.append_link(&mut h, &name, target).map_err(err)?;
                }
                tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                    h.set_size(0);
                    h.set_device_major(hdr.device_major().ok().flatten().unwrap_or(0))
                        .map_err(err)?;
                    h.set_device_minor(hdr.device_minor().ok().flatten().unwrap_or(0))
                        .map_err(err)?;
                    b.append_data(&mut h, &name, io::empty()).map_err(err)?;
                }
                // PAX and GNU long-name records are read by the tar crate; others are skipped.
                _ => {}
            }
        }
        Ok(())
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<CopyPlan>();
    is::<Context>();
}
