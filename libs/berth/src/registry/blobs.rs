//! Blobs of a pull: downloaded in parallel into the store, each streamed through its digest,
//! kept as a partial file (locked by its writer) when cut and resumed with a Range request,
//! published under its digest only once verified; a layer may be unpacked as it arrives.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};

use berth_fsutil::FlockArg;
use oci_spec::image::Descriptor;
use ureq::http::{Method, StatusCode};

use super::client::{Client, ReqBody};
use super::deadline::{is_timeout, ureq_timeout, Watchdog};
use super::media::IMAGE_CONFIG_TYPES;
use super::pull::{repo_scope, Progress, PullOptions, Quiet};
use crate::digest::{Digest, Hasher};
use crate::error::{Error, IoContext, Result};
use crate::snapshot::Plan;
use crate::store::Layout;
use crate::unpack::{self, Applied, Whiteouts};

/// Downloads every blob not in the store yet, `max_concurrent` at a time.
pub fn download_all(
    client: &Client,
    layout: &Layout,
    repo: &str,
    blobs: &[Descriptor],
    opts: &PullOptions<'_>,
    unpack: Option<(&Plan, &Mutex<Vec<Option<Applied>>>)>,
) -> Result<()> {
    let queue: Mutex<Vec<&Descriptor>> = Mutex::new(blobs.iter().rev().collect());
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let workers = opts.max_concurrent.clamp(1, 16).min(blobs.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                if first_error.lock().expect("lock").is_some() {
                    return;
                }
                let Some(d) = queue.lock().expect("lock").pop() else {
                    return;
                };
                if let Err(e) = fetch_maybe_unpacking(client, layout, repo, d, opts, unpack) {
                    first_error.lock().expect("lock").get_or_insert(e);
                    return;
                }
            });
        }
    });
    match first_error.into_inner().expect("lock") {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A download that another thread reads while it is written: the reader follows the partial
/// file up to what has been written; a download that starts over from zero makes the reader
/// fail (the caller falls back to the stored blob); the reader sees the end only once the
/// blob's digest has been checked.
#[derive(Default)]
pub struct Tap {
    state: Mutex<TapState>,
    changed: Condvar,
}

#[derive(Default)]
struct TapState {
    file: Option<File>,
    written: u64,
    generation: u64,
    done: Option<bool>,
}

impl Tap {
    fn update(&self, f: impl FnOnce(&mut TapState)) {
        f(&mut self.state.lock().expect("tap lock"));
        self.changed.notify_all();
    }

    fn attach(&self, file: File) {
        self.update(|s| s.file = Some(file));
    }

    fn wrote(&self, total: u64) {
        self.update(|s| s.written = total);
    }

    fn reset(&self) {
        self.update(|s| {
            s.generation += 1;
            s.written = 0;
        });
    }

    fn end(&self, ok: bool) {
        self.update(|s| s.done = Some(ok));
    }

    /// A reader of the download, from its first byte.
    pub fn follow(&self) -> Follow<'_> {
        Follow {
            tap: self,
            file: None,
            pos: 0,
            generation: 0,
        }
    }
}

/// See [`Tap::follow`].
pub struct Follow<'t> {
    tap: &'t Tap,
    file: Option<File>,
    pos: u64,
    generation: u64,
}

impl Read for Follow<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let gone = |why: &str| std::io::Error::other(why.to_string());
        let mut st = self.tap.state.lock().expect("tap lock");
        loop {
            if st.generation != self.generation {
                return Err(gone("the download started over"));
            }
            if self.file.is_none() {
                if let Some(f) = &st.file {
                    self.file = Some(f.try_clone()?);
                }
            }
            if let (Some(f), true) = (&self.file, self.pos < st.written) {
                let n = buf.len().min((st.written - self.pos) as usize);
                drop(st);
                let n = f.read_at(&mut buf[..n], self.pos)?;
                self.pos += n as u64;
                return Ok(n);
            }
            match st.done {
                Some(true) => return Ok(0),
                Some(false) => return Err(gone("the download failed")),
                None => st = self.tap.changed.wait(st).expect("tap lock"),
            }
        }
    }
}

/// Downloads one blob; when it is a layer `unpack` wants, unpacks it on the way (into the
/// plan's temporary directory) and records the result.
fn fetch_maybe_unpacking(
    client: &Client,
    layout: &Layout,
    repo: &str,
    d: &Descriptor,
    opts: &PullOptions<'_>,
    unpack: Option<(&Plan, &Mutex<Vec<Option<Applied>>>)>,
) -> Result<()> {
    let digest = Digest::try_from(d.digest())?;
    // Docker shows no line for an image's config, only for its layers.
    if IMAGE_CONFIG_TYPES.contains(&d.media_type().to_string().as_str()) {
        return fetch_blob(client, layout, repo, d, &Quiet, None);
    }
    let wanted = unpack.and_then(|(p, out)| p.missing_index(&digest).map(|k| (p, out, k)));
    let Some((plan, out, k)) = wanted.filter(|_| !layout.has_blob(&digest)) else {
        let had = layout.has_blob(&digest);
        fetch_blob(client, layout, repo, d, opts.progress, None)?;
        if !had && wanted.is_none() {
            opts.progress.complete(&digest);
        }
        return Ok(());
    };
    let tap = Tap::default();
    let (fetched, applied) = std::thread::scope(|s| {
        let unpacker = s.spawn(|| -> Option<Applied> {
            let mut dest = plan.fresh_temp(k).ok()?;
            let layer = &plan.layers[plan.missing[k]];
            opts.progress.extracting(&digest);
            let applied =
                unpack::apply_stream(tap.follow(), layer, &mut dest, Whiteouts::Overlay).ok()?;
            opts.progress.complete(&digest);
            Some(applied)
        });
        let fetched = fetch_blob(client, layout, repo, d, opts.progress, Some(&tap));
        (fetched, unpacker.join().ok().flatten())
    });
    if fetched.is_ok() {
        out.lock().expect("lock")[k] = applied;
    }
    fetched
}

/// Where a blob being downloaded waits until it is complete and verified.
pub fn partial_path(layout: &Layout, digest: &Digest) -> PathBuf {
    layout.dir().join(format!(
        ".berth-partial-{}-{}",
        digest.algorithm().as_str(),
        digest.hex()
    ))
}

/// Downloads one blob into the store, resuming a partial download, verifying the digest.
/// With a `tap`, another thread can read the download as it is written (see [`Tap`]).
pub fn fetch_blob(
    client: &Client,
    layout: &Layout,
    repo: &str,
    desc: &Descriptor,
    progress: &dyn Progress,
    tap: Option<&Tap>,
) -> Result<()> {
    let r = fetch_blob_inner(client, layout, repo, desc, progress, tap);
    if let Some(t) = tap {
        t.end(r.is_ok());
    }
    r
}

fn fetch_blob_inner(
    client: &Client,
    layout: &Layout,
    repo: &str,
    desc: &Descriptor,
    progress: &dyn Progress,
    tap: Option<&Tap>,
) -> Result<()> {
    let digest = Digest::try_from(desc.digest())?;
    let size = desc.size();
    if layout.has_blob(&digest) {
        progress.done(&digest, true);
        return Ok(());
    }
    let part = partial_path(layout, &digest);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&part)
        .with_path("open", &part)?;
    // Another process downloading the same blob holds this lock; wait for it.
    let mut file = berth_fsutil::lock_file(file, &part, FlockArg::LockExclusive)?;
    if layout.has_blob(&digest) {
        let _ = fs::remove_file(&part);
        progress.done(&digest, true);
        return Ok(());
    }
    if let Some(t) = tap {
        t.attach(file.try_clone().with_path("open", &part)?);
    }
    let reset = |tap: Option<&Tap>| {
        if let Some(t) = tap {
            t.reset();
        }
    };
    let path = format!("/v2/{repo}/blobs/{digest}");
    let what = format!("blob {digest}");
    let scopes = [repo_scope(repo, "pull")];
    let mut restarted = false;
    let mut attempts = 0;
    // A config is small (capped): all of it within the request deadline. Layers, of any size,
    // must keep moving instead (see `Deadlines`).
    let small = IMAGE_CONFIG_TYPES.contains(&desc.media_type().to_string().as_str());
    loop {
        let mut oversized = false;
        let mut have = file.metadata().with_path("stat", &part)?.len();
        if have > size {
            reset(tap);
            file.set_len(0).with_path("truncate", &part)?;
            have = 0;
        }
        let mut hasher = digest.algorithm().hasher();
        if have > 0 {
            hash_prefix(&mut file, have, &mut hasher).with_path("read", &part)?;
        }
        if let Some(t) = tap {
            t.wrote(have);
        }
        progress.start(&digest, size, have);
        let range = format!("bytes={have}-");
        let headers: Vec<(&str, &str)> = if have > 0 {
            vec![("Range", range.as_str())]
        } else {
            vec![]
        };
        let result = if have == size && size > 0 {
            Ok(())
        } else {
            let sent = if small {
                client.send(Method::GET, &path, &headers, &ReqBody::Empty, &scopes)
            } else {
                client.send_stream(Method::GET, &path, &headers, &scopes)
            };
            sent.and_then(|mut resp| {
                    let status = resp.status();
                    if status == StatusCode::PARTIAL_CONTENT && have > 0 {
                        // Appending where we stopped.
                    } else if status.is_success() {
                        if have > 0 {
                            reset(tap);
                        }
                        file.set_len(0).with_path("truncate", &part)?;
                        hasher = digest.algorithm().hasher();
                        have = 0;
                    } else if status == StatusCode::NOT_FOUND {
                        return Err(client.err(&what, "the registry has no such blob (404)"));
                    } else {
                        return Err(client.unexpected(&format!("GET {what}"), resp));
                    }
                    let mut more = || {
                        oversized = true;
                        client.err(
                            &what,
                            format!("the registry sends more than the {size} bytes the manifest declares, refused"),
                        )
                    };
                    let length = resp
                        .headers()
                        .get("content-length")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    if length.is_some_and(|l| l > size - have) {
                        return Err(more());
                    }
                    file.seek(SeekFrom::Start(have)).with_path("seek", &part)?;
                    // One byte past the declared size is enough to know it lies.
                    let mut reader = resp.body_mut().with_config().limit(size - have + 1).reader();
                    let mut buf = vec![0u8; 256 << 10];
                    let mut got = have;
                    let mut watchdog = Watchdog::new(&client.deadlines);
                    loop {
                        let n = match reader.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => n,
                            Err(e) if is_timeout(&e) => {
                                let why = match ureq_timeout(&e) {
                                    Some(t) if small => client.timed_out(t),
                                    _ => watchdog.silent(),
                                };
                                return Err(client.err(&format!("GET {what}"), why));
                            }
                            Err(e) => return Err(Error::stream(format!("download {what}"), e)),
                        };
                        got += n as u64;
                        if got > size {
                            return Err(more());
                        }
                        if !small {
                            watchdog
                                .moved(n as u64)
                                .map_err(|why| client.err(&format!("GET {what}"), why))?;
                        }
                        hasher.update(&buf[..n]);
                        file.write_all(&buf[..n]).with_path("write", &part)?;
                        if let Some(t) = tap {
                            t.wrote(got);
                        }
                        progress.advance(&digest, n as u64);
                    }
                    if got < size {
                        return Err(Error::stream(
                            format!("download {what}"),
                            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("the body ended after {got} of {size} bytes")),
                        ));
                    }
                    Ok(())
                })
        };
        match result {
            Ok(()) => {
                let got = hasher.finish();
                if got != digest {
                    // Bad bytes never become a blob. A resumed download may have resumed onto
                    // bad bytes: start once from zero before giving up.
                    reset(tap);
                    file.set_len(0).with_path("truncate", &part)?;
                    if !restarted {
                        restarted = true;
                        continue;
                    }
                    let _ = fs::remove_file(&part);
                    return Err(client.err(
                        &what,
                        format!("the registry sent content that hashes to {got}"),
                    ));
                }
                berth_fsutil::publish(&file, &part, &layout.blob_path(&digest), 0o644)?;
                progress.done(&digest, false);
                return Ok(());
            }
            // A cut connection: keep what arrived and resume from there.
            Err(Error::Stream { .. } | Error::Io { .. }) if attempts < client.retries => {
                attempts += 1;
                let _ = file.sync_data();
                std::thread::sleep(std::time::Duration::from_millis(250 << attempts.min(4)));
                continue;
            }
            Err(e @ Error::Stream { .. }) => return Err(client.err(&what, e)),
            Err(e) => {
                // Content over what the manifest declares is no start of the blob.
                if oversized {
                    reset(tap);
                    let _ = fs::remove_file(&part);
                }
                return Err(e);
            }
        }
    }
}

fn hash_prefix(f: &mut File, len: u64, hasher: &mut Hasher) -> std::io::Result<()> {
    f.seek(SeekFrom::Start(0))?;
    let mut r = (&mut *f).take(len);
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
    }
}
