//! Layer extraction (`berth::layer::decompress` then `berth::unpack::apply`, the public entry
//! points `img-unpack` uses): whatever the bytes, applying them as a layer to an empty
//! directory returns (Ok or an error) without panicking, and touches nothing outside that
//! directory: the directory beside it and its file keep their names, links, contents and
//! metadata, and no new name appears beside it. (Absolute names and symlinks to `/` are
//! resolved inside the target by the library; a check of `/` itself would see other
//! processes' files on a shared machine.)
//!
//! The whiteout mode (apply, overlay, keep) is chosen by the input's length, so that every
//! seed runs in one mode and the fuzzer's variations reach the others.
#![no_main]

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use berth::layer::decompress;
use berth::unpack::{apply, Dest, Whiteouts};
use libfuzzer_sys::fuzz_target;

fn names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// What must not change: (nlink, mode, uid, gid, size, mtime, ctime).
fn stamp(p: &Path) -> (u64, u32, u32, u32, u64, i64, i64, i64) {
    let m = fs::symlink_metadata(p).unwrap_or_else(|e| panic!("stat {}: {e}", p.display()));
    (
        m.nlink(),
        m.mode(),
        m.uid(),
        m.gid(),
        m.size(),
        m.mtime(),
        m.ctime(),
        m.ctime_nsec(),
    )
}

fuzz_target!(|data: &[u8]| {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let root = tmp.path().join("root");
    let beside = tmp.path().join("beside");
    let canary = beside.join("canary");
    fs::create_dir(&root).unwrap();
    fs::create_dir(&beside).unwrap();
    fs::write(&canary, b"canary").unwrap();
    let (beside0, canary0) = (stamp(&beside), stamp(&canary));

    let whiteouts = match data.len() % 3 {
        0 => Whiteouts::Apply,
        1 => Whiteouts::Overlay,
        _ => Whiteouts::Keep,
    };
    let mut dest = Dest::open(&root).expect("open the target");
    if let Ok(tar) = decompress(data, "fuzz layer") {
        let _ = apply(&mut dest, tar, whiteouts, "fuzz layer");
    }

    let expected: BTreeSet<String> = ["beside", "root"].map(String::from).into();
    assert_eq!(
        names(tmp.path()),
        expected,
        "a name appeared beside the target"
    );
    assert_eq!(names(&beside), ["canary".to_string()].into());
    assert_eq!(
        stamp(&beside),
        beside0,
        "the directory beside the target changed"
    );
    assert_eq!(
        stamp(&canary),
        canary0,
        "the file beside the target changed"
    );
    assert_eq!(fs::read(&canary).unwrap(), b"canary");
    assert!(
        fs::symlink_metadata(&root).unwrap().is_dir(),
        "the target was replaced"
    );

    // Whatever the layer made (modes 000, immutable-free), removing it must work.
    drop(dest);
    make_writable(&root);
    tmp.close().expect("remove the temporary directory");
});

/// Directories made unreadable or unwritable by the layer (mode 000) are removable by root
/// anyway; for a non-root run, give them back their owner's rights first.
fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(m) = fs::symlink_metadata(dir) else {
        return;
    };
    if !m.is_dir() {
        return;
    }
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            make_writable(&e.path());
        }
    }
}
