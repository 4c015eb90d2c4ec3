//! RUN: a build step's command in a berth container, made as `ctr-run` makes one (Docker's
//! default capabilities, masked paths and seccomp profile, berth's monitor and network), from
//! the step's parent image; what it changed in its overlay upper directory becomes the step's
//! layer. BuildKit's `RUN --mount` kinds are made here: cache directories kept between builds
//! under `$ROOT/build/cache-mounts/`, read-only or throw-away binds, tmpfs, and secrets as
//! read-only files (copied to a private directory in /dev/shm for the step) that never reach a
//! layer. The mount points the runtime or the mounts made where the
//! image had none are left out of the layer, as BuildKit's mount stub cleaner does.
//!
//! A command that fails keeps its container (unless told not to) running a shell, so that
//! `ctr-exec -it ID sh` opens the failed step's file system.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use nix::fcntl::{Flock, FlockArg};

use crate::container::changes::runtime_made_with;
use crate::container::create::{create_from, FromImage};
use crate::container::spec::{parse_bytes, CreateOptions};
use crate::container::{lifecycle, orchestrate, rootfs, Containers, Status};
use crate::diff;
use crate::error::{Error, IoContext, Result};
use crate::image::Image;
use crate::layer::{Codec, NewLayer};
use crate::root::Root;
use crate::store::Layout;

/// One RUN step, as the builder asks for it.
pub struct RunOp<'a> {
    pub root: &'a Root,
    pub layout: &'a Layout,
    /// The state before the step: config + manifest written to the store (blobs only, no index
    /// entry; the builder's cache record keeps them alive). Its layers may not have snapshots yet.
    pub image: &'a Image,
    /// The final argv (a shell form already wrapped in SHELL by the builder).
    pub argv: Vec<String>,
    /// The config's Env and the build args in scope, `KEY=VALUE` each.
    pub env: Vec<String>,
    /// The config's User ("" = root).
    pub user: String,
    /// The config's WorkingDir ("" = /); made when missing.
    pub workdir: String,
    /// `bridge` (or `default`, or ""), `none` or `host`.
    pub network: String,
    /// From the `--mount` flags ([`parse_mount`]), sources resolved by the builder.
    pub mounts: Vec<Mount>,
    /// Heredoc content fed on fd 0 (`RUN python3 <<EOF`), else /dev/null.
    pub stdin: Option<Vec<u8>>,
    /// The command's stdout and stderr go here as they come.
    pub output: &'a mut (dyn Write + Send),
    /// SOURCE_DATE_EPOCH: mtimes in the new layer = min(mtime, it).
    pub mtime_clamp: Option<i64>,
    pub codec: Codec,
    /// Keep the container of a failed command (false with --force-rm).
    pub keep_failed: bool,
    /// What the step is (`Dockerfile:12 RUN make`): the container's `berth.build.step` label.
    pub description: String,
}

/// BuildKit's cache mount sharing modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sharing {
    /// Any number of steps use the directory at once (the default).
    #[default]
    Shared,
    /// A step that finds the directory in use gets another one of its own.
    Private,
    /// A step waits until no other uses the directory.
    Locked,
}

/// A mount made ready for a RUN: sources resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// A directory kept between builds (`$ROOT/build/cache-mounts/<sha256 of id>/`); `mode`,
    /// `uid` and `gid` are applied when it is made.
    Cache {
        target: String,
        id: String,
        sharing: Sharing,
        readonly: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// `source`: already resolved, inside a root (the context, a stage's root). Read-write
    /// binds see their writes, which are thrown away after the step (BuildKit's rule).
    Bind {
        target: String,
        source: PathBuf,
        readwrite: bool,
    },
    Tmpfs {
        target: String,
        size: Option<u64>,
    },
    /// The content of `src` as a read-only file at `target` (never in a layer).
    Secret {
        target: String,
        src: PathBuf,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

impl Mount {
    fn target(&self) -> &str {
        match self {
            Mount::Cache { target, .. }
            | Mount::Bind { target, .. }
            | Mount::Tmpfs { target, .. }
            | Mount::Secret { target, .. } => target,
        }
    }
}

/// The kinds of `--mount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MountType {
    #[default]
    Bind,
    Cache,
    Tmpfs,
    Secret,
}

/// A `--mount` flag parsed, not resolved: what BuildKit's `parseMount` keeps. Empty strings
/// are fields not given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MountSpec {
    pub kind: MountType,
    pub target: String,
    /// `source`/`src`: a path in `from` (bind, cache), or a secret's ID.
    pub source: String,
    /// `from`: a stage or image (bind, cache); empty: the context (bind), an empty dir (cache).
    pub from: String,
    /// `id`: a cache's or a secret's ID.
    pub id: String,
    /// `sharing` (cache only; None: shared).
    pub sharing: Option<Sharing>,
    /// BuildKit's default: read-only for bind and secret, read-write for cache and tmpfs.
    pub readonly: bool,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// A secret that must be given (`required`): else a missing one is skipped.
    pub required: bool,
    /// tmpfs `size` in bytes.
    pub size: Option<u64>,
}

impl MountSpec {
    /// A cache's ID: `id`, or the target (BuildKit's default).
    pub fn cache_id(&self) -> String {
        if self.id.is_empty() {
            self.target.clone()
        } else {
            self.id.clone()
        }
    }

    /// A secret's ID: `id` (or `source`), else the target's base name.
    pub fn secret_id(&self) -> String {
        if !self.source.is_empty() {
            return self.source.clone();
        }
        if !self.id.is_empty() {
            return self.id.clone();
        }
        Path::new(&self.target)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// A secret's target: the one given, else `/run/secrets/ID`.
    pub fn secret_target(&self) -> String {
        if self.target.is_empty() {
            format!("/run/secrets/{}", self.secret_id())
        } else {
            self.target.clone()
        }
    }
}

/// One CSV record as Go's `encoding/csv` reads it: fields split at commas, a field in double
/// quotes may hold commas and `""` for a quote.
fn csv_fields(s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => {
                        return Err(Error::InvalidInput(format!(
                            "--mount={s}: failed to parse csv mounts: a quote is not closed"
                        )))
                    }
                }
            }
            match chars.next() {
                None => {
                    out.push(field);
                    return Ok(out);
                }
                Some(',') => {}
                Some(_) => {
                    return Err(Error::InvalidInput(format!(
                    "--mount={s}: failed to parse csv mounts: extraneous text after a quoted field"
                )))
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        out.push(field);
                        return Ok(out);
                    }
                    Some(',') => break,
                    Some('"') => {
                        return Err(Error::InvalidInput(format!(
                            "--mount={s}: failed to parse csv mounts: bare \" in a field"
                        )))
                    }
                    Some(c) => field.push(c),
                }
            }
        }
        out.push(field);
    }
}

fn parse_bool(key: &str, v: &str, flag: &str) -> Result<bool> {
    // Go's strconv.ParseBool.
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(Error::InvalidInput(format!(
            "--mount={flag}: invalid value for {key}: {v}"
        ))),
    }
}

fn parse_u32(key: &str, v: &str, radix: u32, flag: &str) -> Result<u32> {
    u32::from_str_radix(v, radix)
        .map_err(|_| Error::InvalidInput(format!("--mount={flag}: invalid value {v} for {key}")))
}

/// BuildKit's `--mount=type=…,target=…` CSV syntax (its `parseMount` and `validateMount`): type
/// defaults to bind; target/dst/destination; source/src; from; id; sharing=shared|private|locked;
/// ro/readonly/rw/readwrite (alone or `=BOOL`); mode (octal)/uid/gid for cache and secret;
/// required for secrets; size for tmpfs. Keys are case-insensitive. Unresolved: the builder
/// resolves bind `from=`/source and secret IDs into a [`Mount`].
pub fn parse_mount(flag: &str) -> Result<MountSpec> {
    let bad = |why: String| Error::InvalidInput(format!("--mount={flag}: {why}"));
    let mut m = MountSpec::default();
    let mut ro_auto = true;
    let mut sharing_given = false;
    for field in csv_fields(flag)? {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v.to_string())),
            None => (field.to_ascii_lowercase(), None),
        };
        let Some(value) = value else {
            match key.as_str() {
                "readonly" | "ro" => {
                    m.readonly = true;
                    ro_auto = false;
                }
                "readwrite" | "rw" => {
                    m.readonly = false;
                    ro_auto = false;
                }
                "required" if m.kind == MountType::Secret => m.required = true,
                "required" => {
                    return Err(bad(format!(
                        "unexpected key 'required' for mount type '{}'",
                        type_name(m.kind)
                    )))
                }
                _ => {
                    return Err(bad(format!(
                        "invalid field '{field}' must be a key=value pair"
                    )))
                }
            }
            continue;
        };
        match key.as_str() {
            "type" => {
                m.kind = match value.to_ascii_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => {
                        return Err(bad(
                            "type=ssh is not supported: berth forwards no SSH agent".into(),
                        ))
                    }
                    _ => {
                        return Err(bad(format!(
                            "unsupported mount type {value:?} (use bind, cache, tmpfs or secret)"
                        )))
                    }
                }
            }
            "from" => {
                if value.contains('$') && value.len() > value.find('$').unwrap_or(0) + 1 {
                    return Err(bad(
                        "'from' doesn't support variable expansion, define alias stage instead"
                            .into(),
                    ));
                }
                m.from = value
            }
            "source" | "src" => m.source = value,
            "target" | "dst" | "destination" => m.target = value,
            "readonly" | "ro" => {
                m.readonly = parse_bool(&key, &value, flag)?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.readonly = !parse_bool(&key, &value, flag)?;
                ro_auto = false;
            }
            "required" if m.kind == MountType::Secret => {
                m.required = parse_bool(&key, &value, flag)?
            }
            "required" => {
                return Err(bad(format!(
                    "unexpected key 'required' for mount type '{}'",
                    type_name(m.kind)
                )))
            }
            "size" if m.kind == MountType::Tmpfs => {
                let n = parse_bytes(&value)
                    .map_err(|_| bad(format!("invalid value for size: {value}")))?;
                m.size = Some(n as u64);
            }
            "size" => {
                return Err(bad(format!(
                    "unexpected key 'size' for mount type '{}'",
                    type_name(m.kind)
                )))
            }
            "id" => m.id = value,
            "sharing" => {
                sharing_given = true;
                m.sharing = Some(match value.to_ascii_lowercase().as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    _ => {
                        return Err(bad(format!(
                            "unsupported sharing value {value:?} (use shared, private or locked)"
                        )))
                    }
                })
            }
            "mode" => m.mode = Some(parse_u32("mode", &value, 8, flag)?),
            "uid" => m.uid = Some(parse_u32("uid", &value, 10, flag)?),
            "gid" => m.gid = Some(parse_u32("gid", &value, 10, flag)?),
            _ => return Err(bad(format!("unexpected key '{key}' in '{field}'"))),
        }
    }
    // validateMount
    let file_info = matches!(m.kind, MountType::Secret | MountType::Cache);
    if !file_info {
        for (name, given) in [
            ("mode", m.mode.is_some()),
            ("uid", m.uid.is_some()),
            ("gid", m.gid.is_some()),
        ] {
            if given {
                return Err(bad(format!(
                    "{name} not allowed for \"{}\" type mounts",
                    type_name(m.kind)
                )));
            }
        }
    }
    if ro_auto {
        m.readonly = !matches!(m.kind, MountType::Cache | MountType::Tmpfs);
    }
    if m.kind == MountType::Secret {
        if !m.from.is_empty() {
            return Err(bad("secret mount should not have a from".into()));
        }
        if sharing_given {
            return Err(bad("secret mount should not define sharing".into()));
        }
        if m.source.is_empty() && m.target.is_empty() && m.id.is_empty() {
            return Err(bad(
                "invalid secret mount. one of source, target required".into()
            ));
        }
        if !m.source.is_empty() && !m.id.is_empty() {
            return Err(bad("both source and id can't be set".into()));
        }
    }
    if sharing_given && m.kind != MountType::Cache {
        return Err(bad(format!(
            "invalid cache sharing set for {} mount",
            type_name(m.kind)
        )));
    }
    if m.kind != MountType::Secret && m.target.is_empty() {
        return Err(bad("a target is required (target=PATH)".into()));
    }
    Ok(m)
}

fn type_name(t: MountType) -> &'static str {
    match t {
        MountType::Bind => "bind",
        MountType::Cache => "cache",
        MountType::Tmpfs => "tmpfs",
        MountType::Secret => "secret",
    }
}

/// What a RUN made.
#[derive(Debug)]
pub struct RunOutput {
    /// The step's layer; None when nothing changed (as Docker: the history entry is then an
    /// `empty_layer`).
    pub layer: Option<NewLayer>,
    /// Seconds from the start of [`run`] to its end.
    pub seconds: f64,
}

/// The lock of a cache directory in use, held until the step ends.
type CacheLock = Flock<File>;

/// What a step's mounts hold while it runs: the runtime's mounts, the targets (absolute, in the
/// container), the cache locks, the scratch directory of secrets and throw-away binds.
struct Prepared {
    mounts: Vec<oci_spec::runtime::Mount>,
    targets: Vec<PathBuf>,
    _locks: Vec<CacheLock>,
    /// Where the secrets are copied for the step: a private directory in /dev/shm (memory,
    /// as BuildKit's tmpfs), removed when dropped.
    _secrets: Option<tempfile::TempDir>,
}

/// A private (0700) directory for a step's secrets: in /dev/shm when the host has it, so that
/// they never reach a disk; else in `scratch`.
fn secrets_dir(scratch: &Path) -> Result<(Option<tempfile::TempDir>, PathBuf)> {
    if let Ok(d) = tempfile::Builder::new()
        .prefix("berth-secrets-")
        .tempdir_in("/dev/shm")
    {
        let p = d.path().to_path_buf();
        leftover(&p, false, true);
        return Ok((Some(d), p));
    }
    let p = scratch.join("secrets");
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&p)
        .with_path("create directory", &p)?;
    Ok((None, p))
}

fn oci_mount(target: &Path, typ: &str, source: &Path, opts: &[&str]) -> oci_spec::runtime::Mount {
    let mut m = oci_spec::runtime::Mount::default();
    m.set_destination(target.to_path_buf());
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(source.to_path_buf()));
    m.set_options(Some(opts.iter().map(|o| o.to_string()).collect()));
    m
}

/// A mount's target as BuildKit takes it: relative ones are under the working directory;
/// cleaned; `/` is refused.
fn absolute_target(target: &str, workdir: &str) -> Result<PathBuf> {
    let joined = if target.starts_with('/') {
        PathBuf::from(target)
    } else {
        Path::new("/").join(workdir).join(target)
    };
    // Lexically, as Go's filepath.Join: `..` stops at the root.
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    if out == Path::new("/") {
        return Err(Error::InvalidInput(format!(
            "invalid mount target {target:?}: it is the container's root"
        )));
    }
    Ok(out)
}

/// The directory of cache `id` and its lock file.
fn cache_paths(root: &Root, id: &str, instance: usize) -> (PathBuf, PathBuf) {
    let hex = crate::digest::Digest::sha256_of(id.as_bytes())
        .hex()
        .to_string();
    let name = if instance == 0 {
        hex
    } else {
        format!("{hex}.{instance}")
    };
    let dir = root.dir().join("build").join("cache-mounts");
    (dir.join(&name), dir.join(format!("{name}.lock")))
}

/// Makes cache directory `dir` (when missing) with `mode`, `uid` and `gid`: made under a
/// temporary name and renamed, so that a half-made one is never used.
fn make_cache_dir(dir: &Path, mode: u32, uid: u32, gid: u32) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = dir.parent().expect("a cache directory has a parent");
    let tmp = tempfile::Builder::new()
        .prefix(".new-")
        .tempdir_in(parent)
        .with_path("create a directory in", parent)?;
    let path = tmp.path().to_path_buf();
    std::os::unix::fs::chown(&path, Some(uid), Some(gid)).with_path("chown", &path)?;
    fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o7777))
        .with_path("chmod", &path)?;
    match fs::rename(&path, dir) {
        Ok(()) => {
            // Renamed away: nothing left for the guard to remove.
            let _ = tmp.keep();
            Ok(())
        }
        // Another step made it meanwhile: theirs is as good.
        Err(_) if dir.is_dir() => Ok(()),
        Err(e) => Err(Error::io("create cache directory", dir, e)),
    }
}

fn lock_file(path: &Path) -> Result<File> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_path("open", path)
}

/// The directory for cache `id` with `sharing`, and the lock that holds it.
fn cache_dir(
    root: &Root,
    id: &str,
    sharing: Sharing,
    meta: (u32, u32, u32),
) -> Result<(PathBuf, CacheLock)> {
    let base = root.dir().join("build").join("cache-mounts");
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&base)
        .with_path("create directory", &base)?;
    let lock_err = |p: &Path, e: nix::errno::Errno| Error::io("lock", p, e.into());
    let (dir, lock) = match sharing {
        // Shared users hold a shared lock: a locked user waits for them, they for it.
        Sharing::Shared | Sharing::Locked => {
            let (dir, lockp) = cache_paths(root, id, 0);
            let how = if sharing == Sharing::Shared {
                FlockArg::LockShared
            } else {
                FlockArg::LockExclusive
            };
            let lock =
                Flock::lock(lock_file(&lockp)?, how).map_err(|(_, e)| lock_err(&lockp, e))?;
            (dir, lock)
        }
        // The first instance nobody uses (kept for later builds too).
        Sharing::Private => {
            let mut found = None;
            for k in 0..64 {
                let (dir, lockp) = cache_paths(root, id, k);
                match Flock::lock(lock_file(&lockp)?, FlockArg::LockExclusiveNonblock) {
                    Ok(l) => {
                        found = Some((dir, l));
                        break;
                    }
                    Err((_, nix::errno::Errno::EWOULDBLOCK)) => continue,
                    Err((_, e)) => return Err(lock_err(&lockp, e)),
                }
            }
            found.ok_or_else(|| {
                Error::Conflict(format!("cache mount {id}: 64 private instances are in use"))
            })?
        }
    };
    make_cache_dir(&dir, meta.0, meta.1, meta.2)?;
    Ok((dir, lock))
}

/// Overlay's mount data cannot hold these in a path.
fn overlay_safe(p: &Path) -> bool {
    !p.to_string_lossy().contains([',', ':', '\\'])
}

/// A bind source must be what the builder resolved inside its root: an absolute path with no
/// symlink anywhere in it (the runtime mounts it by path, which would follow one out of the
/// context).
fn check_resolved(source: &Path) -> Result<()> {
    let real = fs::canonicalize(source).with_path("mount", source)?;
    if !source.is_absolute() || real != source {
        return Err(Error::InvalidInput(format!(
            "bind mount source {}: not a resolved path (it leads to {})",
            source.display(),
            real.display()
        )));
    }
    Ok(())
}

/// Makes each mount ready: its source on the host, its runtime mount. `scratch` holds what lives
/// only as long as the step (secrets, the writes to read-write binds).
fn prepare_mounts(
    root: &Root,
    mounts: &[Mount],
    workdir: &str,
    scratch: &Path,
) -> Result<Prepared> {
    let mut out = Prepared {
        mounts: Vec::new(),
        targets: Vec::new(),
        _locks: Vec::new(),
        _secrets: None,
    };
    let mut secrets: Option<PathBuf> = None;
    let mut seen = HashSet::new();
    for (k, m) in mounts.iter().enumerate() {
        let target = absolute_target(m.target(), workdir)?;
        if !seen.insert(target.clone()) {
            return Err(Error::InvalidInput(format!(
                "two mounts have the target {}",
                target.display()
            )));
        }
        let mount = match m {
            Mount::Cache {
                id,
                sharing,
                readonly,
                mode,
                uid,
                gid,
                ..
            } => {
                let (dir, lock) = cache_dir(root, id, *sharing, (*mode, *uid, *gid))?;
                out._locks.push(lock);
                let mut opts = vec!["rbind", "rprivate"];
                if *readonly {
                    opts.push("ro");
                }
                oci_mount(&target, "bind", &dir, &opts)
            }
            Mount::Bind {
                source,
                readwrite: false,
                ..
            } => {
                check_resolved(source)?;
                oci_mount(&target, "bind", source, &["rbind", "rprivate", "ro"])
            }
            Mount::Bind {
                source,
                readwrite: true,
                ..
            } => {
                check_resolved(source)?;
                let md = fs::metadata(source).with_path("mount", source)?;
                let here = scratch.join(format!("bind-{k}"));
                if md.is_dir() {
                    // Writes land in an overlay's upper directory, thrown away with `scratch`.
                    if !overlay_safe(source) {
                        return Err(Error::InvalidInput(format!(
                            "{}: a read-write bind mount cannot be made of a path with ',', ':' or '\\'",
                            source.display()
                        )));
                    }
                    let (upper, work) = (here.join("upper"), here.join("work"));
                    for d in [&upper, &work] {
                        fs::create_dir_all(d).with_path("create directory", d)?;
                    }
                    let data = [
                        format!("lowerdir={}", source.display()),
                        format!("upperdir={}", upper.display()),
                        format!("workdir={}", work.display()),
                    ];
                    let opts: Vec<&str> = data.iter().map(String::as_str).collect();
                    oci_mount(&target, "overlay", Path::new("overlay"), &opts)
                } else {
                    // A file: a copy of it.
                    fs::copy(source, &here).with_path("copy", source)?;
                    oci_mount(&target, "bind", &here, &["rbind", "rprivate"])
                }
            }
            Mount::Tmpfs { size, .. } => {
                let size = size.map(|s| format!("size={s}"));
                let mut opts = vec!["nosuid"];
                if let Some(s) = &size {
                    opts.push(s);
                }
                oci_mount(&target, "tmpfs", Path::new("tmpfs"), &opts)
            }
            Mount::Secret {
                src,
                mode,
                uid,
                gid,
                ..
            } => {
                let dir = match &secrets {
                    Some(d) => d.clone(),
                    None => {
                        let (guard, d) = secrets_dir(scratch)?;
                        out._secrets = guard;
                        secrets.insert(d).clone()
                    }
                };
                let file = dir.join(format!("secret-{k}"));
                fs::copy(src, &file).with_path("read the secret", src)?;
                std::os::unix::fs::chown(&file, Some(*uid), Some(*gid))
                    .with_path("chown", &file)?;
                fs::set_permissions(&file, fs::Permissions::from_mode(mode & 0o7777))
                    .with_path("chmod", &file)?;
                oci_mount(&target, "bind", &file, &["rbind", "rprivate", "ro"])
            }
        };
        out.mounts.push(mount);
        out.targets.push(target);
    }
    Ok(out)
}

/// A container name for a step: `build-` and 16 random hex digits (a build's containers are
/// not given Docker's random names).
fn step_name() -> String {
    let mut b = [0u8; 8];
    let ok = File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok();
    if !ok {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = ((t as u64) ^ u64::from(std::process::id())).to_le_bytes();
    }
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("build-{hex}")
}

/// The build containers of this process that are running a step now: an interrupted build
/// ([`abort_running`]) removes them.
static RUNNING: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn running(id: &str, on: bool) {
    let mut r = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
    if on {
        r.push(id.to_string());
    } else {
        r.retain(|x| x != id);
    }
}

/// What an interrupted build must not leave behind: mount points (the builder's read-only
/// views) and directories (secrets' copies, scratch), by path; `true` for a mount point.
static LEFTOVERS: std::sync::Mutex<Vec<(PathBuf, bool)>> = std::sync::Mutex::new(Vec::new());

static ABORTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether [`abort_running`] was called: the build's errors from then on are its doing.
pub fn aborting() -> bool {
    ABORTING.load(std::sync::atomic::Ordering::SeqCst)
}

/// Registers (`on`) or forgets a path [`abort_running`] cleans up: a mount point to unmount, or
/// a directory to remove.
pub fn leftover(path: &Path, mount: bool, on: bool) {
    let mut l = LEFTOVERS.lock().unwrap_or_else(|p| p.into_inner());
    if on {
        l.push((path.to_path_buf(), mount));
    } else {
        l.retain(|(p, m)| !(p == path && *m == mount));
    }
}

/// Kills and removes the containers of the steps running now (img-build was interrupted),
/// unmounts the builder's views and removes the secrets' copies: nothing of an interrupted build
/// keeps running or stays behind. Returns how many containers there were.
pub fn abort_running(root: &Root) -> usize {
    ABORTING.store(true, std::sync::atomic::Ordering::SeqCst);
    let ids: Vec<String> = RUNNING.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for id in &ids {
        let _ = lifecycle::kill(root, id, nix::sys::signal::Signal::SIGKILL);
        let _ = orchestrate::remove_with_volumes(root, id);
    }
    let left: Vec<(PathBuf, bool)> = LEFTOVERS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for (p, mount) in left.iter().filter(|(_, m)| *m) {
        let _ = mount;
        let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
    }
    for (p, _) in left.iter().filter(|(_, m)| !*m) {
        let _ = fs::remove_dir_all(p);
    }
    ids.len()
}

/// Blocks SIGINT, SIGTERM and SIGHUP in this process's threads and waits for them on one of its
/// own: on one, the running steps' containers are killed and removed ([`abort_running`]), and
/// the process exits as a shell reports a process killed by it (128 + the signal). For the tools
/// that run build steps (img-build, img-run); call it before the first thread starts.
pub fn exit_on_interrupt(tool: &'static str, root: &Root) -> Result<()> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(s);
    }
    set.thread_block()
        .map_err(|e| Error::InvalidInput(format!("block signals: {e}")))?;
    let root = root.clone();
    std::thread::spawn(move || {
        if let Ok(sig) = set.wait() {
            let n = abort_running(&root);
            let removed = if n > 0 {
                format!(": removed the {n} container(s) of the running step(s)")
            } else {
                String::new()
            };
            eprintln!("{tool}: interrupted by {sig}{removed}");
            std::process::exit(128 + sig as i32);
        }
    });
    Ok(())
}

/// Runs the step: a berth container from `op.image`, the changes in its upper dir become the
/// layer (None when nothing changed). On an exit code other than 0, an [`Error::RunFailed`] whose
/// message says `exit code N` and, when kept, the kept container and the command that opens it.
pub fn run(op: RunOp) -> Result<RunOutput> {
    let t0 = Instant::now();
    let RunOp {
        root,
        layout,
        image,
        argv,
        env,
        user,
        workdir,
        network,
        mounts,
        stdin,
        output,
        mtime_clamp,
        codec,
        keep_failed,
        description,
    } = op;
    if argv.is_empty() {
        return Err(Error::InvalidInput("RUN: no command".into()));
    }
    if let Some(e) = env.iter().find(|e| !e.contains('=')) {
        return Err(Error::InvalidInput(format!(
            "RUN: environment entry {e:?} has no '='"
        )));
    }
    let network = match network.as_str() {
        "" | "default" | "bridge" => "bridge",
        "none" => "none",
        "host" => "host",
        other => {
            return Err(Error::InvalidInput(format!(
                "RUN --network={other}: use default, none or host"
            )))
        }
    };
    let build_dir = root.dir().join("build");
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&build_dir)
        .with_path("create directory", &build_dir)?;
    // Private (0700): secrets are copied here for the step's life.
    let scratch = tempfile::Builder::new()
        .prefix("run-")
        .tempdir_in(&build_dir)
        .with_path("create a directory in", &build_dir)?;
    leftover(scratch.path(), false, true);
    let prepared = prepare_mounts(root, &mounts, &workdir, scratch.path())?;

    let args = CreateOptions {
        name: Some(step_name()),
        env,
        workdir: (!workdir.is_empty()).then(|| workdir.clone()),
        user: Some(user),
        entrypoint: Some(String::new()),
        interactive: stdin.is_some(),
        labels: vec![format!("berth.build.step={description}")],
        network: network.to_string(),
        image: image.id().to_string(),
        command: argv.clone(),
        // A step's container runs no health check (as BuildKit's): a probe could change the
        // step's files, and so its layer.
        no_healthcheck: true,
        ..CreateOptions::default()
    };
    let from = FromImage {
        layout,
        image,
        extra_mounts: prepared.mounts.clone(),
        durable: false,
    };
    let c = create_from(root, &args, &from, |_| {})?;
    running(&c.id, true);
    let started = lifecycle::run_to_writer(root, &c.id, stdin.as_deref(), output);
    running(&c.id, false);
    let code = match started {
        Ok(code) => code,
        // Not found, not executable: the command's failure, as a shell's 127 and 126.
        Err(Error::Runtime { message, code }) if matches!(code, 126 | 127) => {
            let _ = writeln!(output, "{message}");
            i32::from(code)
        }
        Err(e) => {
            let _ = orchestrate::remove_with_volumes(root, &c.id);
            return Err(e);
        }
    };
    let store = Containers::open(root.containers_dir())?;
    let rec = store.load(&c.id)?;
    let upper = PathBuf::from(rootfs::upper(&rec)?);
    let lower = rootfs::lower_dirs(&rec);
    if code != 0 {
        let shown = argv.join(" ");
        // Docker legacy builder's words; its code is what the build exits with.
        let mut msg =
            format!("The command '{shown}' returned a non-zero code: {code} (exit code {code})");
        let kept = keep_failed
            .then(|| keep(root, &rec.id, &upper, &lower, &prepared.targets))
            .transpose();
        match kept {
            Ok(Some(how)) => msg.push_str(&how),
            Ok(None) => {
                let _ = orchestrate::remove_with_volumes(root, &c.id);
            }
            Err(e) => {
                let _ = orchestrate::remove_with_volumes(root, &c.id);
                msg.push_str(&format!("; the container could not be kept: {e}"));
            }
        }
        return Err(Error::RunFailed {
            message: msg,
            code: code.clamp(1, 255) as u8,
        });
    }
    let made = (|| -> Result<Option<NewLayer>> {
        let skip = runtime_made_with(&upper, &lower, &prepared.targets);
        if diff::is_empty(&upper, &skip)? {
            return Ok(None);
        }
        diff::store_upper(layout, &upper, &skip, codec, mtime_clamp).map(Some)
    })();
    let removed = orchestrate::remove_with_volumes(root, &c.id);
    let layer = made?;
    removed?;
    drop(prepared);
    leftover(scratch.path(), false, false);
    drop(scratch);
    Ok(RunOutput {
        layer,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Whether `rel` (`bin/sh`) is in the container's file system: its upper directory (a whiteout
/// there hides it), else one of its lower ones (top first).
fn has_path(upper: &Path, lower: &[PathBuf], rel: &str) -> bool {
    if let Ok(md) = fs::symlink_metadata(upper.join(rel)) {
        use std::os::unix::fs::FileTypeExt;
        return !(md.file_type().is_char_device() && md.rdev() == 0);
    }
    lower
        .iter()
        .any(|l| fs::symlink_metadata(l.join(rel)).is_ok())
}

/// Keeps a failed step's container for the user: restarted running `/bin/sh` on a terminal
/// with its input held open (as `ctr-run -dit IMAGE sh`), its changes in place and without the
/// step's `--mount`s (no secret stays, no cache stays locked). Without a shell it stays
/// stopped. Returns what to tell the user.
fn keep(
    root: &Root,
    id: &str,
    upper: &Path,
    lower: &[PathBuf],
    targets: &[PathBuf],
) -> Result<String> {
    let short = &id[..12];
    let store = Containers::open(root.containers_dir())?;
    let dir = store.path(id);
    // The build mounts go from its runtime config.
    let path = dir.join("config.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&fs::read(&path).with_path("read", &path)?)
            .map_err(|e| Error::corrupt(format!("{}", path.display()), e))?;
    if let Some(list) = spec["mounts"].as_array_mut() {
        list.retain(|m| {
            !m["destination"]
                .as_str()
                .is_some_and(|d| targets.iter().any(|t| Path::new(d) == t))
        });
    }
    let shell = has_path(upper, lower, "bin/sh");
    if shell {
        spec["process"]["args"] = serde_json::json!(["/bin/sh"]);
        spec["process"]["terminal"] = serde_json::json!(true);
        if let Some(env) = spec["process"]["env"].as_array_mut() {
            if !env
                .iter()
                .any(|e| e.as_str().is_some_and(|e| e.starts_with("TERM=")))
            {
                env.push(serde_json::json!("TERM=xterm"));
            }
        }
    }
    let bytes = serde_json::to_vec_pretty(&spec).expect("JSON serialises");
    crate::store::atomic_write_private(&dir, "config.json", &bytes)?;
    if !shell {
        return Ok(format!(
            "; its container {short} is kept, stopped (the image has no /bin/sh to open it \
             with): `ctr-diff {short}` lists its changes, `ctr-export {short}` gives its files, \
             `ctr-start -a {short}` runs the command again, `ctr-rm {short}` removes it"
        ));
    }
    {
        let _lock = store.lock()?;
        let mut rec = store.load(id)?;
        rec.path = "/bin/sh".into();
        rec.args = Vec::new();
        rec.config.cmd = Some(Some(vec!["/bin/sh".into()]));
        rec.config.tty = Some(true);
        rec.config.open_stdin = Some(true);
        store.save(&rec)?;
    }
    lifecycle::start(root, id, None, "")?;
    let now = store.load(id)?;
    if now.state.status != Status::Running {
        return Err(Error::Runtime {
            message: "its shell did not stay running".into(),
            code: 125,
        });
    }
    Ok(format!(
        "; its container {short} is kept with the step's changes, running a shell: open it with \
         `ctr-exec -it {short} sh`, remove it with `ctr-rm -f {short}`"
    ))
}

#[cfg(test)]
mod tests;
