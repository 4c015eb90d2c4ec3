//! Snapshots: each layer unpacked once into `$ROOT/snapshots/<chainid>`, with overlayfs
//! whiteouts, read-only, shared by every image and container that uses it (DESIGN.md §4), as
//! containerd's overlay snapshotter keeps them. A snapshot is written under a temporary name and
//! renamed into place when complete, so one that exists is whole; the missing layers of an image
//! are unpacked in parallel.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, XattrFlags};

use crate::archive::tar_reader::short_name;
use crate::digest::{Algorithm, Digest};
use crate::error::{Error, IoContext, Result};
use crate::image::Image;
use crate::store::{Layout, Owner};
use crate::unpack::{self, Applied, Dest, LayerRef, Whiteouts};

/// The chain IDs of a stack of layers: the first is its diffID, each next one the sha256 of
/// "PARENT DIFFID", as the OCI image spec defines them.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(parent) => {
                let mut h = Algorithm::Sha256.hasher();
                h.update(format!("{parent} {d}").as_bytes());
                h.finish()
            }
        };
        out.push(next);
    }
    out
}

/// The snapshot directory of a root.
#[derive(Debug, Clone)]
pub struct Snapshots {
    dir: PathBuf,
}

/// The prefix of a snapshot being made: `.tmp-<chainid hex>-<owner>` (see [`Owner`]).
const TEMP_PREFIX: &str = ".tmp-";

/// The owner of a temporary snapshot directory name, if `name` is one.
pub fn temp_owner(name: &str) -> Option<Owner> {
    let (_, token) = name.strip_prefix(TEMP_PREFIX)?.rsplit_once('-')?;
    Owner::parse(token)
}

impl Snapshots {
    /// `dir` (`$ROOT/snapshots`), made if missing. What writers that are gone left in it is
    /// removed ([`Snapshots::sweep_stale`]).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Snapshots> {
        let snaps = Snapshots::open_only(dir)?;
        snaps.sweep_stale();
        Ok(snaps)
    }

    /// [`Snapshots::open`] without the sweep.
    pub fn open_only(dir: impl Into<PathBuf>) -> Result<Snapshots> {
        let dir = dir.into();
        crate::root::private_dir(&dir)?;
        Ok(Snapshots { dir })
    }

    /// Removes the temporary snapshot directories of processes that are gone (a pull or an
    /// unpack that was killed), and returns them. A readdir of the snapshot directory; each one
    /// is first renamed to a name of this process, so that two sweepers never remove the same
    /// tree and one killed while removing leaves a name the next sweeper recognises.
    pub fn sweep_stale(&self) -> Vec<(PathBuf, u64)> {
        let mut out = Vec::new();
        if !Owner::can_tell() {
            return out;
        }
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return out;
        };
        let me = Owner::me().token();
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if temp_owner(name).is_none_or(|o| o.alive()) {
                continue;
            }
            // Its maker may live where we cannot see its pid: then it holds the lock.
            let Ok(held) = File::open(e.path()) else {
                continue;
            };
            if rfs::flock(&held, rfs::FlockOperation::NonBlockingLockExclusive).is_err() {
                continue;
            }
            let rest = &name[TEMP_PREFIX.len()..];
            let claimed = self
                .dir
                .join(format!("{TEMP_PREFIX}{}-{me}", rest.replace('-', ".")));
            // Another sweeper may have claimed it first: then it is theirs to remove.
            if std::fs::rename(e.path(), &claimed).is_err() {
                continue;
            }
            let bytes = crate::gc::usage(&claimed, &mut Default::default());
            if std::fs::remove_dir_all(&claimed).is_ok() {
                out.push((e.path(), bytes));
            }
        }
        out
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the snapshot of `chain` lives.
    pub fn path(&self, chain: &Digest) -> PathBuf {
        self.dir.join(chain.hex())
    }

    pub fn exists(&self, chain: &Digest) -> bool {
        self.path(chain).is_dir()
    }

    /// What making the snapshots of `image` takes: its layers, their chain IDs, which are
    /// missing and the temporary directories they are unpacked into.
    pub fn plan(&self, image: &Image) -> Result<Plan> {
        Ok(self.plan_layers(unpack::layers_of(image)?))
    }

    /// [`Snapshots::plan`] for layers known before their image is stored (during a pull).
    pub fn plan_layers(&self, layers: Vec<LayerRef>) -> Plan {
        let diff_ids: Vec<Digest> = layers.iter().map(|l| l.diff_id.clone()).collect();
        let chains = chain_ids(&diff_ids);
        let missing: Vec<usize> = (0..layers.len())
            .filter(|&i| !self.exists(&chains[i]))
            .collect();
        let temps = missing
            .iter()
            .map(|&i| {
                self.dir.join(format!(
                    "{TEMP_PREFIX}{}-{}",
                    chains[i].hex(),
                    Owner::me().token()
                ))
            })
            .collect();
        Plan {
            layers,
            chains,
            missing,
            temps,
            held: Default::default(),
        }
    }

    /// The snapshots of `image`, bottom layer first (overlayfs wants them top first: reverse),
    /// unpacking the missing ones from the store, `jobs` at a time.
    pub fn ensure(&self, layout: &Layout, image: &Image, jobs: usize) -> Result<Vec<PathBuf>> {
        // One at a time in a process: the temporary directories are named by the process
        // (another process's are told apart, and waited on by their lock), so two threads making
        // the same snapshot (img-build's stages) would take each other's.
        static ONE: Mutex<()> = Mutex::new(());
        let _one = ONE.lock().unwrap_or_else(|p| p.into_inner());
        let plan = self.plan(image)?;
        let results: Mutex<Vec<Option<Result<Applied>>>> =
            Mutex::new((0..plan.missing.len()).map(|_| None).collect());
        let next = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..jobs.clamp(1, plan.missing.len().max(1)) {
                s.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    if k >= plan.missing.len() {
                        break;
                    }
                    let r = plan.unpack_from_store(layout, k);
                    results.lock().expect("no panics while locked")[k] = Some(r);
                });
            }
        });
        let results = results.into_inner().expect("no panics while locked");
        let mut applied = Vec::new();
        for r in results {
            match r.expect("every layer was tried") {
                Ok(a) => applied.push(a),
                Err(e) => {
                    plan.cleanup();
                    return Err(e);
                }
            }
        }
        let dirs = self.finish(&plan, &applied)?;
        plan.record_sizes(layout, &applied);
        Ok(dirs)
    }

    /// Completes a plan whose missing layers are all unpacked (`applied[k]` for `missing[k]`):
    /// hard links to lower layers are copied up, then each snapshot is renamed into place, in
    /// chain order. Returns the snapshot directories, bottom first.
    pub fn finish(&self, plan: &Plan, applied: &[Applied]) -> Result<Vec<PathBuf>> {
        let r = self.finish_inner(plan, applied);
        if r.is_err() {
            plan.cleanup();
        }
        r
    }

    fn finish_inner(&self, plan: &Plan, applied: &[Applied]) -> Result<Vec<PathBuf>> {
        let dir_of = |i: usize| -> PathBuf {
            match plan.missing.iter().position(|&m| m == i) {
                Some(k) => plan.temps[k].clone(),
                None => self.path(&plan.chains[i]),
            }
        };
        for (k, &i) in plan.missing.iter().enumerate() {
            let lowers: Vec<PathBuf> = (0..i).rev().map(dir_of).collect();
            // Links to one lower file are one file: copied up once, the others linked to it
            // (a layer of many links to one big file does not multiply it).
            let mut first: HashMap<&Path, &Path> = HashMap::new();
            for (link, target) in &applied[k].lower_links {
                let done = first.get(target.as_path()).copied();
                let r = match done {
                    Some(copy) => link_up(&plan.temps[k], link, copy),
                    None => copy_up(&plan.temps[k], link, &lowers, target),
                };
                if done.is_none() && r.is_ok() {
                    first.insert(target, link);
                }
                r.map_err(|e| {
                    Error::InvalidInput(format!(
                        "layer {}: hard link {} to {} in a lower layer: {e}",
                        plan.layers[i].digest,
                        short_name(link.as_os_str().as_bytes()),
                        short_name(target.as_os_str().as_bytes()),
                    ))
                })?;
            }
        }
        if !plan.missing.is_empty() {
            let top = File::open(&self.dir).with_path("open", &self.dir)?;
            rfs::syncfs(&top).map_err(|e| Error::io("sync", &self.dir, e.into()))?;
        }
        for (k, &i) in plan.missing.iter().enumerate() {
            let fin = self.path(&plan.chains[i]);
            if let Err(e) = std::fs::rename(&plan.temps[k], &fin) {
                // Another process made the same snapshot first: keep theirs.
                if fin.is_dir() {
                    let _ = std::fs::remove_dir_all(&plan.temps[k]);
                } else {
                    return Err(Error::io("rename snapshot into", &fin, e));
                }
            }
        }
        crate::store::sync_dir(&self.dir)?;
        Ok(plan.chains.iter().map(|c| self.path(c)).collect())
    }
}

/// See [`Snapshots::plan`].
#[derive(Debug, Clone)]
pub struct Plan {
    pub layers: Vec<LayerRef>,
    pub chains: Vec<Digest>,
    /// Indexes (into `layers`) of the layers without a snapshot.
    pub missing: Vec<usize>,
    /// Where each missing layer is unpacked before it is complete.
    pub temps: Vec<PathBuf>,
    /// The temporary directories, open and locked (`flock`) while this plan lives: a sweeper
    /// that cannot see our pid (another pid namespace) still sees the lock.
    held: std::sync::Arc<Mutex<Vec<File>>>,
}

impl Plan {
    /// The position in `missing` of the layer with this blob digest, if it needs unpacking.
    pub fn missing_index(&self, digest: &Digest) -> Option<usize> {
        self.missing
            .iter()
            .position(|&i| &self.layers[i].digest == digest)
    }

    /// Records the uncompressed sizes of the layers unpacked (`applied[k]` for `missing[k]`),
    /// for img-ls, img-inspect and img-history ([`crate::image::layer_sizes`]).
    pub fn record_sizes(&self, layout: &Layout, applied: &[Applied]) {
        for (k, a) in applied.iter().enumerate() {
            if let Some(&i) = self.missing.get(k) {
                crate::image::record_layer_size(layout, &self.layers[i].diff_id, a.size);
            }
        }
    }

    /// Unpacks missing layer `k` from its stored blob.
    pub fn unpack_from_store(&self, layout: &Layout, k: usize) -> Result<Applied> {
        let mut dest = self.fresh_temp(k)?;
        unpack::apply_stored(
            layout,
            &self.layers[self.missing[k]],
            &mut dest,
            Whiteouts::Overlay,
        )
    }

    /// An empty temporary directory for missing layer `k`.
    pub fn fresh_temp(&self, k: usize) -> Result<Dest> {
        let dir = &self.temps[k];
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir(dir).with_path("create directory", dir)?;
        // Best effort: a file system without flock leaves the pid check alone.
        let f = File::open(dir).with_path("open", dir)?;
        if rfs::flock(&f, rfs::FlockOperation::NonBlockingLockExclusive).is_ok() {
            self.held.lock().expect("no panics while locked").push(f);
        }
        Dest::open(dir)
    }

    /// Removes the temporary directories.
    pub fn cleanup(&self) {
        for t in &self.temps {
            let _ = std::fs::remove_dir_all(t);
        }
    }
}

/// Links `link` in `upper` to `copy`, a file already copied up there.
fn link_up(upper: &Path, link: &Path, copy: &Path) -> io::Result<()> {
    let up = Dest::open(upper).map_err(io::Error::other)?;
    let split = |p: &Path| -> io::Result<(OwnedFd, std::ffi::OsString)> {
        let name = p
            .file_name()
            .ok_or_else(|| io::Error::other("a link without a name"))?;
        let dir = up.open_in(
            p.parent().unwrap_or(Path::new("")),
            OFlags::PATH | OFlags::DIRECTORY,
        )?;
        Ok((dir, name.to_os_string()))
    };
    let (cdir, cname) = split(copy)?;
    let (ldir, lname) = split(link)?;
    let _ = rfs::unlinkat(&ldir, &lname, AtFlags::empty());
    rfs::linkat(&cdir, &cname, &ldir, &lname, AtFlags::empty())?;
    Ok(())
}

/// Copies `len` bytes of `from` into `to` keeping the holes: only the data segments the file
/// system reports (SEEK_DATA, SEEK_HOLE) are copied, and the length is set last.
fn copy_sparse(from: &File, to: &File, len: u64) -> io::Result<()> {
    use rustix::fs::SeekFrom;
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 256 << 10];
    let mut off = 0u64;
    while off < len {
        let data = match rfs::seek(from, SeekFrom::Data(off)) {
            Ok(d) => d,
            Err(rustix::io::Errno::NXIO) => break, // Only a hole is left.
            Err(e) => return Err(e.into()),
        };
        let end = rfs::seek(from, SeekFrom::Hole(data))?.min(len);
        let mut p = data;
        while p < end {
            let want = buf.len().min((end - p) as usize);
            let n = from.read_at(&mut buf[..want], p)?;
            if n == 0 {
                break;
            }
            to.write_all_at(&buf[..n], p)?;
            p += n as u64;
        }
        off = end.max(data + 1);
    }
    to.set_len(len)
}

/// Copies `target` from the first of `lowers` (top first) that has it to `link` in `upper`, as
/// overlayfs would copy it up: content, owner, mode, extended attributes and times.
fn copy_up(upper: &Path, link: &Path, lowers: &[PathBuf], target: &Path) -> io::Result<()> {
    for lower in lowers {
        let dest = Dest::open(lower).map_err(io::Error::other)?;
        let fd = match dest.open_in(target, OFlags::PATH | OFlags::NOFOLLOW) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let st = rfs::fstat(&fd)?;
        let ft = FileType::from_raw_mode(st.st_mode);
        if ft == FileType::CharacterDevice && st.st_rdev == 0 {
            break; // A whiteout: removed in this lower layer.
        }
        if ft != FileType::RegularFile {
            return Err(io::Error::other("the target is not a regular file"));
        }
        let src = dest.open_in(target, OFlags::RDONLY | OFlags::NOFOLLOW)?;
        let up = Dest::open(upper).map_err(io::Error::other)?;
        let (parent, name) = (link.parent().unwrap_or(Path::new("")), link.file_name());
        let name = name.ok_or_else(|| io::Error::other("a link without a name"))?;
        let pfd = up.open_in(parent, OFlags::PATH | OFlags::DIRECTORY)?;
        let _ = rfs::unlinkat(&pfd, name, AtFlags::empty());
        let out = rfs::openat(
            &pfd,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?;
        let from = File::from(src);
        let to = File::from(out);
        copy_sparse(&from, &to, st.st_size as u64)?;
        rfs::fchown(
            &to,
            Some(rfs::Uid::from_raw(st.st_uid)),
            Some(rfs::Gid::from_raw(st.st_gid)),
        )?;
        rfs::fchmod(&to, Mode::from_raw_mode(st.st_mode & 0o7777))?;
        let mut names = vec![0u8; 64 << 10];
        let n = rfs::flistxattr(&from, &mut names[..]).unwrap_or(0);
        for xname in names[..n].split(|b| *b == 0).filter(|s| !s.is_empty()) {
            let xname = std::ffi::OsStr::from_bytes(xname);
            let mut value = vec![0u8; 64 << 10];
            if let Ok(len) = rfs::fgetxattr(&from, xname, &mut value[..]) {
                let _ = rfs::fsetxattr(to.as_fd(), xname, &value[..len], XattrFlags::empty());
            }
        }
        let times = rfs::Timestamps {
            last_access: rfs::Timespec {
                tv_sec: st.st_atime as _,
                tv_nsec: st.st_atime_nsec as _,
            },
            last_modification: rfs::Timespec {
                tv_sec: st.st_mtime as _,
                tv_nsec: st.st_mtime_nsec as _,
            },
        };
        rfs::futimens(&to, &times)?;
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        "no lower layer has it",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_temporaries_go_and_live_ones_stay() {
        if !Owner::can_tell() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("snapshots");
        std::fs::create_dir(&dir).unwrap();
        let me = Owner::me();
        let mk = |name: &str| {
            let p = dir.join(name);
            std::fs::create_dir_all(p.join("usr/bin")).unwrap();
            std::fs::write(p.join("usr/bin/x"), [1u8; 5000]).unwrap();
            p
        };
        let dead = mk(".tmp-aaaa-999999999_5");
        let legacy = mk(".tmp-bbbb-999999999");
        let reused = mk(&format!(".tmp-cccc-{}_{}", me.pid, me.start + 1));
        let half_swept = mk(".tmp-dddd.999999999_5-999999998_7");
        let live = mk(&format!(".tmp-eeee-{}", me.token()));
        let done = mk("ffff");
        let locked = mk(".tmp-hhhh-999999999_5");
        let lock = File::open(&locked).unwrap();
        rfs::flock(&lock, rfs::FlockOperation::NonBlockingLockExclusive).unwrap();
        let snaps = Snapshots::open_only(&dir).unwrap();
        let mut swept: Vec<PathBuf> = snaps
            .sweep_stale()
            .into_iter()
            .map(|(p, n)| {
                assert!(n >= 5000, "{n}");
                p
            })
            .collect();
        swept.sort();
        assert_eq!(swept, [dead, legacy, reused, half_swept]);
        let left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left.len(), 3, "{left:?}");
        assert!(live.exists() && done.exists() && locked.exists());
        drop(lock);
        // Opening sweeps.
        let late = mk(".tmp-gggg-999999999_5");
        Snapshots::open(&dir).unwrap();
        assert!(!late.exists() && !locked.exists());
    }

    #[test]
    fn chain_ids_follow_the_spec() {
        let a = Digest::sha256_of(b"a");
        let b = Digest::sha256_of(b"b");
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        assert_eq!(ids[1], Digest::sha256_of(format!("{a} {b}").as_bytes()));
        assert!(chain_ids(&[]).is_empty());
    }

    #[test]
    fn links_to_a_lower_file_are_copied_up_once_and_stay_sparse() {
        use std::os::unix::fs::{FileExt, MetadataExt};
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        std::fs::create_dir(&src).unwrap();
        let f = File::create(src.join("big")).unwrap();
        f.set_len(1 << 30).unwrap();
        f.write_all_at(b"middle", 512 << 20).unwrap();
        let out = std::process::Command::new("tar")
            .args(["--sparse", "--format=gnu", "-c", "-f", "-", "-C"])
            .arg(&src)
            .arg("big")
            .output()
            .expect("GNU tar");
        assert!(out.status.success());
        let lower = out.stdout;
        let mut b = tar::Builder::new(Vec::new());
        for i in 0..5 {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Link);
            h.set_size(0);
            h.set_mode(0o644);
            b.append_link(&mut h, format!("l{i}"), "big").unwrap();
        }
        let upper = b.into_inner().unwrap();
        let layer = |tar: &[u8]| LayerRef {
            digest: Digest::sha256_of(tar),
            size: tar.len() as u64,
            diff_id: Digest::sha256_of(tar),
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            compression: Some(crate::layer::Compression::None),
        };
        let snaps = Snapshots::open(t.path().join("snapshots")).unwrap();
        let plan = snaps.plan_layers(vec![layer(&lower), layer(&upper)]);
        let mut applied = Vec::new();
        for (k, tar) in [&lower, &upper].into_iter().enumerate() {
            let mut d = plan.fresh_temp(k).unwrap();
            applied.push(unpack::apply(&mut d, &tar[..], Whiteouts::Overlay, "layer").unwrap());
        }
        assert_eq!(applied[1].lower_links.len(), 5);
        let dirs = snaps.finish(&plan, &applied).unwrap();
        let first = std::fs::metadata(dirs[1].join("l0")).unwrap();
        assert_eq!(first.len(), 1 << 30);
        assert_eq!(first.nlink(), 5, "one copy, linked five times");
        assert!(first.blocks() * 512 < 1 << 20, "{} blocks", first.blocks());
        for i in 1..5 {
            let md = std::fs::metadata(dirs[1].join(format!("l{i}"))).unwrap();
            assert_eq!(md.ino(), first.ino());
        }
        let mut got = [0u8; 6];
        File::open(dirs[1].join("l3"))
            .unwrap()
            .read_exact_at(&mut got, 512 << 20)
            .unwrap();
        assert_eq!(&got, b"middle");
    }
}
