//! img-unpack: the flattened root filesystem of an image, checked against `umoci unpack` entry
//! by entry; a corpus of hostile layers that must not write outside the target; a bundle that
//! `runc run` runs; and the command line (non-empty DIR, a missing image, `-`).

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::support::fake_registry::{sha256, tar_of, FakeImage};
use crate::support::oci::{
    blob_path, image, write_layout, Entry, Layer, TarBuilder, OCI_LAYER_TAR, OCI_LAYER_ZSTD,
};
use crate::support::{busybox_rootfs, debian_tarball, run, Compression, Env, Out};

// ---------------------------------------------------------------------------------------------
// A tree walker: every entry of a directory with what `ls -l`, `stat`, `getfattr` and a content
// hash would show.

#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    kind: &'static str,
    /// Permission bits with setuid, setgid and sticky.
    mode: u32,
    uid: u32,
    gid: u32,
    /// Size of a regular file (0 for the rest, whose st_size is the file system's business).
    size: u64,
    /// sha256 of a regular file's content.
    content: Option<String>,
    /// A symlink's target.
    link: Option<String>,
    /// Major and minor of a device node.
    rdev: Option<(u32, u32)>,
    xattrs: BTreeMap<String, String>,
    mtime: (i64, i64),
    /// For a file with other hard links: the first path (in sorted order) of its inode.
    inode_group: Option<String>,
}

fn escape(v: &[u8]) -> String {
    v.iter()
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect()
}

fn xattrs(p: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut names = vec![0u8; 64 << 10];
    let n = match rustix::fs::llistxattr(p, &mut names[..]) {
        Ok(n) => n,
        Err(rustix::io::Errno::NOTSUP) => return out,
        Err(e) => panic!("llistxattr {}: {e}", p.display()),
    };
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name).unwrap();
        let mut v = vec![0u8; 64 << 10];
        let len = rustix::fs::lgetxattr(p, name, &mut v[..])
            .unwrap_or_else(|e| panic!("lgetxattr {} {name}: {e}", p.display()));
        out.insert(name.to_string(), escape(&v[..len]));
    }
    out
}

fn node(p: &Path) -> (Node, (u64, u64), u64) {
    let md = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let ft = md.file_type();
    let kind = if ft.is_dir() {
        "dir"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_file() {
        "file"
    } else if ft.is_char_device() {
        "char"
    } else if ft.is_block_device() {
        "block"
    } else if ft.is_fifo() {
        "fifo"
    } else {
        "socket"
    };
    let n = Node {
        kind,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        size: if ft.is_file() { md.len() } else { 0 },
        content: ft.is_file().then(|| sha256(&std::fs::read(p).unwrap())),
        link: ft.is_symlink().then(|| {
            std::fs::read_link(p)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        }),
        rdev: (ft.is_char_device() || ft.is_block_device()).then(|| {
            let d = md.rdev();
            (rustix::fs::major(d), rustix::fs::minor(d))
        }),
        xattrs: xattrs(p),
        mtime: (md.mtime(), md.mtime_nsec()),
        inode_group: None,
    };
    (n, (md.dev(), md.ino()), md.nlink())
}

/// Every entry under `root` (itself as "."), by relative path; `skip` (relative) is left out.
fn tree_except(root: &Path, skip: Option<&Path>) -> BTreeMap<String, Node> {
    fn walk(base: &Path, dir: &Path, skip: Option<&Path>, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(base).unwrap().to_path_buf();
            if Some(rel.as_path()) == skip {
                continue;
            }
            let is_dir = std::fs::symlink_metadata(&p).unwrap().is_dir();
            out.push(rel);
            if is_dir {
                walk(base, &p, skip, out);
            }
        }
    }
    let mut paths = vec![PathBuf::from(".")];
    walk(root, root, skip, &mut paths);
    paths.sort();
    let mut inodes: BTreeMap<(u64, u64), String> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for rel in paths {
        let (mut n, ino, nlink) = node(&root.join(&rel));
        let rel = rel.to_string_lossy().into_owned();
        if n.kind != "dir" && nlink > 1 {
            n.inode_group = Some(inodes.entry(ino).or_insert_with(|| rel.clone()).clone());
        }
        out.insert(rel, n);
    }
    out
}

fn tree(root: &Path) -> BTreeMap<String, Node> {
    tree_except(root, None)
}

/// The differences between two trees, one line each: what a person diffing `ls -lR`, `stat`
/// and `getfattr -d` of both would see.
fn differences(a: &BTreeMap<String, Node>, b: &BTreeMap<String, Node>) -> Vec<String> {
    let mut out = Vec::new();
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        match (a.get(k), b.get(k)) {
            (Some(x), None) => out.push(format!("{k}: only in the first ({})", x.kind)),
            (None, Some(y)) => out.push(format!("{k}: only in the second ({})", y.kind)),
            (Some(x), Some(y)) if x != y => {
                let mut d = Vec::new();
                macro_rules! cmp {
                    ($($f:ident),*) => {$(
                        if x.$f != y.$f {
                            d.push(format!("{} {:?} vs {:?}", stringify!($f), x.$f, y.$f));
                        }
                    )*};
                }
                cmp!(
                    kind,
                    mode,
                    uid,
                    gid,
                    size,
                    content,
                    link,
                    rdev,
                    xattrs,
                    mtime,
                    inode_group
                );
                out.push(format!("{k}: {}", d.join("; ")));
            }
            _ => {}
        }
    }
    out
}

fn assert_same_tree(what: &str, a: &BTreeMap<String, Node>, b: &BTreeMap<String, Node>) {
    let d = differences(a, b);
    assert!(
        d.is_empty(),
        "{what}: {} differences (first 40):\n{}",
        d.len(),
        d.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn oci_name(layout: &Path, tag: &str) -> String {
    format!("oci:{}:{tag}", layout.display())
}

fn img_unpack(env: &Env, layout: &Path, tag: &str, dir: &Path) -> Out {
    env.run(
        "img-unpack",
        &[&oci_name(layout, tag), dir.to_str().unwrap()],
    )
}

/// `umoci unpack` of `layout:tag` into the bundle `bundle`; its root filesystem.
fn umoci_unpack(layout: &Path, tag: &str, bundle: &Path) -> PathBuf {
    let out = run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:{tag}", layout.display()))
        .arg(bundle));
    assert_eq!(out.code, 0, "umoci unpack: {out:#?}");
    bundle.join("rootfs")
}

/// security.capability, VFS_CAP_REVISION_2 with the effective bit: cap_net_raw=ep.
const CAP_NET_RAW: [u8; 20] = [
    0x01, 0, 0, 0x02, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

const OLD: u64 = 946_684_800; // 2000-01-01

fn pax_long_dir() -> String {
    format!("deep/{}/{}", "p".repeat(60), "q".repeat(60))
}

fn pax_long_file() -> String {
    format!("{}/a-file-whose-name-only-pax-can-hold", pax_long_dir())
}

fn gnu_long_file() -> String {
    format!("gnu/{}", "g".repeat(150))
}

fn long_target(c: &str, n: usize) -> String {
    format!("/{}/{}", c.repeat(n), c.repeat(n))
}

/// The lower layer: every kind of entry, owners, modes, xattrs, long names.
fn everything_lower() -> Vec<u8> {
    let d = |m| Entry::mode(m);
    let mut t = TarBuilder::new();
    t.dir("./", d(0o755))
        .dir("bin/", d(0o755))
        .file("bin/busybox", b"#!not really busybox\n", d(0o755))
        .symlink("bin/sh", "busybox")
        .file("bin/su", b"setuid\n", d(0o4755))
        .file("bin/wall", b"setgid\n", d(0o2755).owner(0, 5))
        .file(
            "bin/ping",
            b"capable\n",
            d(0o755).xattr("security.capability", &CAP_NET_RAW),
        )
        .hardlink("bin/su-again", "bin/su")
        .dir("etc/", d(0o755))
        .file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", d(0o644))
        .file("etc/shadow", b"root:*:1::::::\n", d(0o640).owner(0, 42))
        .symlink("etc/os-release", "../usr/lib/os-release")
        .dir("usr/", d(0o755))
        .dir("usr/lib/", d(0o755))
        .file("usr/lib/os-release", b"ID=berth-test\n", d(0o644))
        .dir("tmp/", d(0o1777))
        .dir("home/", d(0o755))
        .dir("home/user/", d(0o700).owner(1000, 1000))
        .file(
            "home/user/notes",
            b"hello\n",
            d(0o640)
                .owner(1000, 1000)
                .xattr("user.comment", b"a note")
                .xattr("user.empty", b""),
        )
        .dir("var/", d(0o755).xattr("user.dir", b"on a directory"))
        .dir("var/mail/", d(0o2775).owner(0, 8))
        .dir("dev/", d(0o755))
        .char_dev("dev/null", 1, 3, d(0o666))
        .char_dev("dev/tty0", 4, 0, d(0o620).owner(0, 5))
        .fifo("dev/initctl", d(0o600))
        .symlink("abs-link", "/etc/passwd")
        .symlink("dangling", "/nonexistent/target")
        .dir("lower/", d(0o755))
        .file(
            "lower/target",
            b"in the lower layer\n",
            d(0o600).owner(1000, 1000),
        )
        .dir("gone/", d(0o755))
        .file("gone/a", b"a", d(0o644))
        .dir("gone/sub/", d(0o755))
        .file("gone/sub/b", b"b", d(0o644))
        .file("gonefile", b"gone", d(0o644))
        .dir("opq/", d(0o755))
        .file("opq/old", b"old", d(0o644))
        .dir("opq/olddir/", d(0o755))
        .file("opq/olddir/x", b"x", d(0o644))
        .dir("swap/", d(0o755))
        .file("swap/child", b"child", d(0o644))
        .file("file-becomes-dir", b"file", d(0o644))
        // Long names: PAX path records, GNU long-name entries, long link targets both ways.
        .dir("deep/", d(0o755))
        .dir(&format!("deep/{}/", "p".repeat(60)), d(0o755));
    let dir = pax_long_dir();
    t.dir(&dir, d(0o755).pax("path", dir.as_bytes()));
    let file = pax_long_file();
    t.file(
        &file,
        b"pax long name\n",
        d(0o644).pax("path", file.as_bytes()),
    )
    .dir("gnu/", d(0o755))
    .file(&gnu_long_file(), b"gnu long name\n", d(0o644));
    let gnu_target = long_target("k", 70);
    t.symlink("gnu-long-link", &gnu_target);
    let pax_target = long_target("x", 90);
    t.entry(
        tar::EntryType::Symlink,
        "pax-long-link",
        Some(&pax_target),
        b"",
        &d(0o777).pax("linkpath", pax_target.as_bytes()),
        None,
    );
    // A file with a nanosecond mtime.
    t.file(
        "nsec",
        b"ns",
        d(0o644).pax("mtime", b"1600000000.123456789"),
    );
    // A directory whose entry comes after its children's, with an old mtime that must stick.
    t.file("late/child", b"child", d(0o644))
        .dir("late/sub/", d(0o755).mtime(OLD))
        .file("late/sub/grandchild", b"gc", d(0o644))
        .dir("late/", d(0o750).mtime(OLD));
    t.finish()
}

/// The upper layer: whiteouts, an opaque directory keeping this layer's files, a hard link to
/// the lower layer, replaced files and changed types.
fn everything_upper() -> Vec<u8> {
    let d = |m| Entry::mode(m);
    let mut t = TarBuilder::new();
    t.dir("./", d(0o755).mtime(1_700_000_000))
        .file(".wh.gonefile", b"", d(0o644))
        .file(".wh.gone", b"", d(0o644))
        .dir("opq/", d(0o755).mtime(1_700_000_000))
        .file("opq/new-before-marker", b"new1", d(0o644))
        .file("opq/.wh..wh..opq", b"", d(0o644))
        .file("opq/new-after-marker", b"new2", d(0o644))
        .hardlink("hard-to-lower", "lower/target")
        .dir("etc/", d(0o755).mtime(1_700_000_000))
        .file(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n",
            d(0o644),
        )
        .dir("bin/", d(0o755).mtime(1_700_000_000))
        .file("bin/sh", b"#!a shell now, not a link\n", d(0o755))
        .dir("home/", d(0o755))
        .dir(
            "home/user/",
            d(0o700).owner(1000, 1000).mtime(1_700_000_000),
        )
        .file(
            "home/user/notes",
            b"changed\n",
            d(0o600).owner(1000, 1000).xattr("user.comment", b"changed"),
        )
        .file("swap", b"a file where a directory was", d(0o644))
        .dir("file-becomes-dir/", d(0o711))
        .file("file-becomes-dir/inside", b"in", d(0o644))
        .hardlink("lower/second-name", "hard-to-lower");
    t.finish()
}

fn everything_image(tag: &str, l1: Compression, l2: Compression) -> FakeImage {
    image(
        tag,
        vec![
            Layer::new(everything_lower(), l1),
            Layer::new(everything_upper(), l2),
        ],
        |_| {},
    )
}

// ---------------------------------------------------------------------------------------------
// 1. The same trees as umoci.

#[test]
fn every_kind_of_entry_unpacks_as_umoci_unpacks_it() {
    require_root!();
    require_program!("umoci");
    let env = Env::new();
    let layout = env.path("layout");
    let img = everything_image("everything", Compression::Gzip, Compression::Gzip);
    write_layout(&layout, &[&img]);

    let dir = env.path("rootfs");
    let out = img_unpack(&env, &layout, "everything", &dir).ok().json();
    assert_eq!(out["layers"], 2);
    assert_eq!(out["ref"], "everything");
    let ours = tree(&dir);
    let theirs = tree(&umoci_unpack(&layout, "everything", &env.path("bundle")));

    // What a user would check by hand.
    let at = |p: &str| {
        ours.get(p)
            .unwrap_or_else(|| panic!("{p} is missing from the unpacked tree"))
    };
    for gone in [
        "gone",
        "gone/a",
        "gonefile",
        "opq/old",
        "opq/olddir",
        "swap/child",
    ] {
        assert!(!ours.contains_key(gone), "{gone} should be whited out");
    }
    assert_eq!(at("opq/new-before-marker").content, Some(sha256(b"new1")));
    assert_eq!(at("opq/new-after-marker").content, Some(sha256(b"new2")));
    assert_eq!(at("swap").kind, "file");
    assert_eq!(at("file-becomes-dir").kind, "dir");
    assert_eq!(at("bin/sh").kind, "file");
    assert_eq!(at("bin/su").mode, 0o4755);
    assert_eq!((at("bin/wall").mode, at("bin/wall").gid), (0o2755, 5));
    assert_eq!(at("bin/su-again").inode_group, Some("bin/su".to_string()));
    assert_eq!(at("tmp").mode, 0o1777);
    assert_eq!((at("var/mail").mode, at("var/mail").gid), (0o2775, 8));
    let home = at("home/user");
    assert_eq!((home.mode, home.uid, home.gid), (0o700, 1000, 1000));
    let notes = at("home/user/notes");
    assert_eq!((notes.mode, notes.uid, notes.gid), (0o600, 1000, 1000));
    assert_eq!(
        notes.xattrs.get("user.comment").map(String::as_str),
        Some("changed")
    );
    assert_eq!(
        at("var").xattrs.get("user.dir").map(String::as_str),
        Some("on a directory")
    );
    assert_eq!(
        at("bin/ping").xattrs.get("security.capability"),
        Some(&escape(&CAP_NET_RAW))
    );
    assert_eq!(at("dev/null").kind, "char");
    assert_eq!(at("dev/null").rdev, Some((1, 3)));
    assert_eq!((at("dev/tty0").rdev, at("dev/tty0").gid), (Some((4, 0)), 5));
    assert_eq!(at("dev/initctl").kind, "fifo");
    // Hard links to a file of the lower layer, and to a link to it.
    assert_eq!(
        at("hard-to-lower").inode_group,
        Some("hard-to-lower".to_string())
    );
    assert_eq!(
        at("lower/target").inode_group,
        Some("hard-to-lower".to_string())
    );
    assert_eq!(
        at("lower/second-name").inode_group,
        Some("hard-to-lower".to_string())
    );
    assert_eq!(
        at("lower/target").content,
        Some(sha256(b"in the lower layer\n"))
    );
    assert_eq!(at("abs-link").link.as_deref(), Some("/etc/passwd"));
    assert_eq!(at("dangling").link.as_deref(), Some("/nonexistent/target"));
    assert_eq!(
        at(&pax_long_file()).content,
        Some(sha256(b"pax long name\n"))
    );
    assert_eq!(
        at(&gnu_long_file()).content,
        Some(sha256(b"gnu long name\n"))
    );
    assert_eq!(at("gnu-long-link").link, Some(long_target("k", 70)));
    assert_eq!(at("pax-long-link").link, Some(long_target("x", 90)));
    assert_eq!(at("nsec").mtime, (1_600_000_000, 123_456_789));
    assert_eq!(
        at("late").mtime,
        (OLD as i64, 0),
        "the late directory's mtime"
    );
    assert_eq!(at("late").mode, 0o750);
    assert_eq!(at("late/sub").mtime, (OLD as i64, 0));
    assert_eq!(at("etc").mtime, (1_700_000_000, 0));

    assert_same_tree("img-unpack vs umoci unpack", &ours, &theirs);
}

/// Compared with img-unpack's own gzip unpack, which the test above proves equal to umoci's:
/// umoci 0.4.7 (Debian bookworm) refuses `tar+zstd` layers ("blob is not correct mediatype"),
/// so it cannot be the reference here. A layer whose bytes are not what its media type says
/// (zstd said to be gzip, gzip said to be plain, ...) is refused, naming both, and leaves no
/// directory behind.
#[test]
fn zstd_uncompressed_and_mislabelled_layers() {
    require_root!();
    let env = Env::new();
    let layout = env.path("layout");
    let gz = everything_image("gzip", Compression::Gzip, Compression::Gzip);
    let zstd = everything_image("zstd", Compression::Zstd, Compression::Zstd);
    let plain = everything_image("plain", Compression::None, Compression::None);
    let mixed = everything_image("mixed", Compression::Zstd, Compression::None);
    let gzip_type = crate::support::fake_registry::OCI_LAYER_GZIP;
    let specs = [
        (
            Compression::Zstd,
            gzip_type,
            "says gzip, but its content is zstd",
        ),
        (
            Compression::Gzip,
            OCI_LAYER_TAR,
            "says an uncompressed tar, but its content is gzip",
        ),
        (
            Compression::None,
            OCI_LAYER_ZSTD,
            "says zstd, but its content is not compressed that way",
        ),
        (
            Compression::None,
            gzip_type,
            "says gzip, but its content is not compressed that way",
        ),
    ];
    let lying: Vec<FakeImage> = specs
        .iter()
        .enumerate()
        .map(|(i, (c, mt, _))| {
            let upper = Layer::new(everything_upper(), *c).lying(mt);
            image(
                &format!("lying{i}"),
                vec![Layer::gzip(everything_lower()), upper],
                |_| {},
            )
        })
        .collect();
    let mut all = vec![&gz, &zstd, &plain, &mixed];
    all.extend(lying.iter());
    write_layout(&layout, &all);
    let reference = env.path("gzip");
    img_unpack(&env, &layout, "gzip", &reference).ok();
    let reference = tree(&reference);
    for tag in ["zstd", "plain", "mixed"] {
        let dir = env.path(tag);
        img_unpack(&env, &layout, tag, &dir).ok();
        assert_same_tree(&format!("{tag} vs gzip"), &tree(&dir), &reference);
    }
    for (i, (_, mt, why)) in specs.into_iter().enumerate() {
        let tag = format!("lying{i}");
        let dir = env.path(&tag);
        let layer = &lying[i].manifests[0].layers[1].digest;
        let out = img_unpack(&env, &layout, &tag, &dir).fails_with(1, why);
        assert!(
            out.stderr.contains(mt) && out.stderr.contains(layer.as_str()),
            "{out:#?}"
        );
        assert!(!dir.exists(), "{tag}: nothing is left behind");
    }
}

#[test]
fn debian_unpacks_as_umoci_unpacks_it() {
    require_root!();
    require_program!("umoci");
    let Some(tarball) = debian_tarball() else {
        skip!("could not debootstrap a Debian root filesystem here");
    };
    let env = Env::new();
    env.run(
        "img-import",
        &[
            "-c",
            "CMD [\"/bin/bash\"]",
            tarball.to_str().unwrap(),
            "debian:bookworm",
        ],
    )
    .ok();
    let dir = env.path("rootfs");
    env.run("img-unpack", &["debian:bookworm", dir.to_str().unwrap()])
        .ok();
    let ours = tree(&dir);
    let theirs = tree(&umoci_unpack(
        &env.images(),
        "docker.io/library/debian:bookworm",
        &env.path("bundle"),
    ));
    assert!(ours.len() > 5000, "{} entries", ours.len());
    assert_eq!(ours["usr/bin/passwd"].mode, 0o4755);
    assert!(ours["etc/os-release"].link.is_some());
    assert_same_tree("debian: img-unpack vs umoci unpack", &ours, &theirs);
}

// ---------------------------------------------------------------------------------------------
// 2. Hostile layers: refused, or contained in the target; nothing outside it changes.

/// Checks the target (given the outside directory's host path) after a contained case.
type Check = Box<dyn Fn(&Path, &str)>;

/// Changes a written layout (its directory, the image) before img-unpack runs.
type Tamper = Box<dyn FnOnce(&Path, &FakeImage)>;

/// What must become of a hostile image.
enum Expect {
    /// img-unpack fails (exit 1) and stderr says each of these.
    Refused(Vec<String>),
    /// img-unpack succeeds and the check (on the target, given the outside directory's host
    /// path) passes: the entry landed inside.
    Contained(Check),
}

struct Case {
    name: &'static str,
    layers: Vec<Vec<u8>>,
    config: Box<dyn FnOnce(&mut Value)>,
    /// Changes the written layout (layout dir, image) before img-unpack runs.
    tamper: Tamper,
    expect: Expect,
}

/// A file on the host, outside every test directory, that no layer may create.
const HOST_FILE: &str = "/etc/berth-e2e-hostile";

fn refused(fragments: &[&str]) -> Expect {
    Expect::Refused(fragments.iter().map(|s| s.to_string()).collect())
}

fn contained(check: impl Fn(&Path, &str) + 'static) -> Expect {
    Expect::Contained(Box::new(check))
}

/// `host` (an absolute path) as seen inside `target`.
fn inside(target: &Path, host: &str) -> PathBuf {
    target.join(host.trim_start_matches('/'))
}

fn content(p: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .into_owned()
}

/// Opens `rel` under `root` one component at a time, never following a symlink (a path string
/// could be longer than the kernel takes).
fn open_beneath(root: &Path, rel: &str) -> rustix::io::Result<std::os::fd::OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    let mut cur = rustix::fs::open(root, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?;
    for c in rel.split('/').filter(|c| !c.is_empty()) {
        cur = rustix::fs::openat(&cur, c, OFlags::PATH | OFlags::NOFOLLOW, Mode::empty())?;
    }
    Ok(cur)
}

fn is_symlink(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
}

fn one(build: impl FnOnce(&mut TarBuilder)) -> Vec<u8> {
    let mut t = TarBuilder::new();
    build(&mut t);
    t.finish()
}

fn case(name: &'static str, layers: Vec<Vec<u8>>, expect: Expect) -> Case {
    Case {
        name,
        layers,
        config: Box::new(|_| {}),
        tamper: Box::new(|_, _| {}),
        expect,
    }
}

/// The corpus. `out` is the host path of a directory outside the target holding `file`,
/// `dir/file` and `etc/passwd`; beside it, `outside-file`.
fn hostile_cases(out: &str) -> Vec<Case> {
    let f = |m| Entry::mode(m);
    let out_file = format!("{out}/file");
    let out_dir = format!("{out}/dir");
    vec![
        case(
            "absolute path",
            vec![one(|t| {
                t.file(HOST_FILE, b"pwned", f(0o644));
            })],
            contained(|t, _| assert_eq!(content(&inside(t, HOST_FILE)), "pwned")),
        ),
        case(
            "dot-dot path",
            vec![one(|t| {
                t.file("../outside-file", b"pwned", f(0o644));
            })],
            refused(&["\"../outside-file\"", "climbs out"]),
        ),
        case(
            "dot-dot in the middle",
            vec![one(|t| {
                t.file("a/../../outside-file", b"pwned", f(0o644));
            })],
            refused(&["\"a/../../outside-file\"", "climbs out"]),
        ),
        case(
            "absolute symlink, then a file through it",
            vec![one(|t| {
                t.symlink("esc", out).file("esc/pwned", b"pwned", f(0o644));
            })],
            contained(|t, out| {
                assert!(is_symlink(&t.join("esc")));
                assert_eq!(content(&inside(t, out).join("pwned")), "pwned");
            }),
        ),
        case(
            "symlink climbing up, then a file through it",
            vec![one(|t| {
                t.symlink("up", "../../..")
                    .file("up/pwned", b"pwned", f(0o644));
            })],
            contained(|t, _| assert_eq!(content(&t.join("pwned")), "pwned")),
        ),
        case(
            "symlink chain planted by one layer, written through by the next",
            vec![
                one(|t| {
                    t.symlink("c1", "c2").symlink("c2", out);
                }),
                one(|t| {
                    t.file("c1/pwned", b"pwned", f(0o644))
                        .file("c1/file", b"pwned", f(0o644));
                }),
            ],
            contained(|t, out| {
                assert_eq!(content(&inside(t, out).join("pwned")), "pwned");
                assert_eq!(content(&inside(t, out).join("file")), "pwned");
            }),
        ),
        case(
            "hard link to /etc/passwd",
            vec![one(|t| {
                t.hardlink("passwd", "/etc/passwd");
            })],
            refused(&["\"passwd\"", "does not exist"]),
        ),
        case(
            "hard link to /etc/passwd when the image has its own",
            vec![one(|t| {
                t.file("etc/passwd", b"root:x:0:0::/:/bin/sh\n", f(0o644))
                    .hardlink("passwd", "/etc/passwd");
            })],
            contained(|t, _| {
                let a = std::fs::metadata(t.join("passwd")).unwrap();
                let b = std::fs::metadata(t.join("etc/passwd")).unwrap();
                assert_eq!(a.ino(), b.ino(), "linked to the image's own /etc/passwd");
            }),
        ),
        case(
            "hard link climbing out",
            vec![one(|t| {
                t.hardlink("h", "../../outside-file");
            })],
            refused(&["\"h\"", "climbs out"]),
        ),
        case(
            "hard link through a planted symlink",
            vec![
                one(|t| {
                    t.symlink("esc", out);
                }),
                one(|t| {
                    t.hardlink("h", "esc/file");
                }),
            ],
            refused(&["\"h\"", "does not exist"]),
        ),
        case(
            "hard link to a symlink pointing outside, then a file written to the link",
            vec![
                one(|t| {
                    t.symlink("s", &out_file).hardlink("h", "s");
                }),
                one(|t| {
                    t.file("h", b"pwned", f(0o644));
                }),
            ],
            contained(|t, _| {
                assert_eq!(content(&t.join("h")), "pwned");
                assert!(is_symlink(&t.join("s")));
            }),
        ),
        case(
            "whiteout climbing out",
            vec![one(|t| {
                t.file("../.wh.outside-file", b"", f(0o644));
            })],
            refused(&["\"../.wh.outside-file\"", "climbs out"]),
        ),
        case(
            "whiteout through a planted symlink",
            vec![
                one(|t| {
                    t.symlink("link", out);
                }),
                one(|t| {
                    t.file("link/.wh.file", b"", f(0o644))
                        .file("link/dir/.wh.file", b"", f(0o644));
                }),
            ],
            contained(|t, _| assert!(is_symlink(&t.join("link")))),
        ),
        case(
            "opaque whiteout in a symlinked directory",
            vec![
                one(|t| {
                    t.symlink("link", out);
                }),
                one(|t| {
                    t.file("link/.wh..wh..opq", b"", f(0o644));
                }),
            ],
            contained(|t, _| assert!(is_symlink(&t.join("link")))),
        ),
        case(
            "directory entry over a symlink pointing outside, then files under it",
            vec![
                one(|t| {
                    t.symlink("d", out).symlink("d2", out);
                }),
                one(|t| {
                    t.dir("d/", f(0o755))
                        .file("d/file", b"pwned", f(0o644))
                        .dir("d2/", f(0o755))
                        .dir("d2/dir/", f(0o700))
                        .file("d2/dir/file", b"pwned", f(0o644));
                }),
            ],
            contained(|t, _| {
                assert!(std::fs::symlink_metadata(t.join("d")).unwrap().is_dir());
                assert_eq!(content(&t.join("d/file")), "pwned");
                assert_eq!(content(&t.join("d2/dir/file")), "pwned");
            }),
        ),
        case(
            "file entry over a symlink to an outside file",
            vec![
                one(|t| {
                    t.symlink("f", &out_file);
                }),
                one(|t| {
                    t.file("f", b"pwned", f(0o600));
                }),
            ],
            contained(|t, _| {
                assert!(!is_symlink(&t.join("f")));
                assert_eq!(content(&t.join("f")), "pwned");
            }),
        ),
        case(
            "device node named through a symlink",
            vec![
                one(|t| {
                    t.symlink("devs", &out_dir);
                }),
                one(|t| {
                    t.char_dev("devs/null", 1, 3, f(0o666))
                        .fifo("devs/fifo", f(0o600));
                }),
            ],
            contained(|t, out| {
                let p = inside(t, out).join("dir/null");
                let md = std::fs::symlink_metadata(&p).unwrap();
                assert!(md.file_type().is_char_device(), "{}", p.display());
            }),
        ),
        case(
            "symlink entry named through a symlink",
            vec![
                one(|t| {
                    t.symlink("esc", out);
                }),
                one(|t| {
                    t.symlink("esc/file", "/etc/shadow");
                }),
            ],
            contained(|t, out| {
                let p = inside(t, out).join("file");
                assert_eq!(std::fs::read_link(p).unwrap(), Path::new("/etc/shadow"));
            }),
        ),
        case(
            "trusted.overlay.opaque in a flattened unpack",
            vec![
                one(|t| {
                    t.file("d/old", b"old", f(0o644));
                }),
                one(|t| {
                    t.dir(
                        "d/",
                        f(0o755)
                            .xattr("trusted.overlay.opaque", b"y")
                            .xattr("trusted.overlay.redirect", b"/etc"),
                    );
                }),
            ],
            contained(|t, _| {
                assert_eq!(
                    content(&t.join("d/old")),
                    "old",
                    "the xattr whited nothing out"
                );
                let x = xattrs(&t.join("d"));
                assert!(
                    x.keys().all(|k| !k.starts_with("trusted.overlay.")),
                    "{x:?}"
                );
            }),
        ),
        case(
            "absurdly long name",
            vec![one(|t| {
                let name = format!("x/{}", "n".repeat(5000));
                t.file(&name, b"long", f(0o644).pax("path", name.as_bytes()));
            })],
            refused(&["nnnnnnnnnnnnnnnn", "too long"]),
        ),
        case(
            "a name longer than PATH_MAX, a hard link and a whiteout as deep",
            vec![
                one(|t| {
                    let deep = "d/".repeat(3000);
                    for (name, data) in [("x", &b"deep"[..]), ("gone", b"g")] {
                        let name = format!("{deep}{name}");
                        t.file(&name, data, f(0o644).pax("path", name.as_bytes()));
                    }
                    let (name, target) = (format!("{deep}hard"), format!("{deep}x"));
                    let e = f(0o644)
                        .pax("path", name.as_bytes())
                        .pax("linkpath", target.as_bytes());
                    t.entry(tar::EntryType::Link, &name, Some(&target), b"", &e, None);
                }),
                one(|t| {
                    let name = format!("{}.wh.gone", "d/".repeat(3000));
                    t.file(&name, b"", f(0o644).pax("path", name.as_bytes()));
                }),
            ],
            contained(|t, _| {
                let deep = "d/".repeat(3000);
                let x = open_beneath(t, &format!("{deep}x")).unwrap();
                let hard = open_beneath(t, &format!("{deep}hard")).unwrap();
                let (x, hard) = (
                    rustix::fs::fstat(&x).unwrap(),
                    rustix::fs::fstat(&hard).unwrap(),
                );
                assert_eq!((x.st_ino, x.st_size, x.st_nlink), (hard.st_ino, 4, 2));
                assert!(open_beneath(t, &format!("{deep}gone")).is_err());
            }),
        ),
        case(
            "a directory replaced by a symlink to the root later in its layer",
            vec![one(|t| {
                t.dir("d", f(0o700).owner(1234, 1234))
                    .file("d/f", b"x", f(0o644))
                    .symlink("d", "/");
            })],
            contained(|t, _| {
                let md = std::fs::symlink_metadata(t).unwrap();
                assert_eq!(
                    (md.mode() & 0o7777, md.uid()),
                    (0o755, 0),
                    "the root is left alone"
                );
                assert!(is_symlink(&t.join("d")));
            }),
        ),
        case(
            "a GNU long name header of 1 GiB",
            vec![{
                let mut h = tar::Header::new_gnu();
                h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
                h.set_entry_type(tar::EntryType::new(b'L'));
                h.set_size(1 << 30);
                h.set_cksum();
                let mut tar = h.as_bytes().to_vec();
                tar.resize(64 << 10, b'n');
                tar
            }],
            refused(&["GNU long name header of 1073741824 bytes, more than the 1048576 allowed"]),
        ),
        case(
            "truncated tar",
            vec![{
                let t = one(|t| {
                    t.file("a", &[b'a'; 2000], f(0o644))
                        .file("b", b"b", f(0o644));
                });
                t[..512 + 1000].to_vec()
            }],
            refused(&["\"a\"", "ends inside"]),
        ),
        {
            let mut c = case(
                "layer content that does not match its digest",
                vec![tar_of(&[("a", b"a")])],
                refused(&[]),
            );
            c.tamper = Box::new(|layout, img| {
                let l = &img.layers()[0];
                std::fs::write(
                    blob_path(layout, &l.digest),
                    crate::support::fake_registry::gzip(&tar_of(&[("a", b"b")])),
                )
                .unwrap();
            });
            c
        },
        {
            let mut c = case(
                "layer content that does not match the config's diffID",
                vec![tar_of(&[("a", b"a")])],
                refused(&["diffID"]),
            );
            c.config = Box::new(|cfg| {
                cfg["rootfs"]["diff_ids"][0] = json!(sha256(b"something else"));
            });
            c
        },
    ]
}

#[test]
fn hostile_layers_never_write_outside_the_target() {
    require_root!();
    let env = Env::new();
    let host_passwd = std::fs::symlink_metadata("/etc/passwd").unwrap();
    let host_passwd_content = std::fs::read("/etc/passwd").unwrap();
    let n = hostile_cases("/x").len();
    assert!(n >= 15, "{n} cases");
    let mut failures = Vec::new();
    for i in 0..n {
        let dir = env.path(&format!("case-{i}"));
        let outside = dir.join("outside");
        std::fs::create_dir_all(outside.join("dir")).unwrap();
        std::fs::create_dir_all(outside.join("etc")).unwrap();
        std::fs::write(outside.join("file"), "sentinel").unwrap();
        std::fs::write(outside.join("dir/file"), "sentinel").unwrap();
        std::fs::write(outside.join("etc/passwd"), "sentinel").unwrap();
        std::fs::write(dir.join("outside-file"), "sentinel").unwrap();
        let target = dir.join("target");
        std::fs::create_dir(&target).unwrap();
        let c = hostile_cases(outside.to_str().unwrap()).swap_remove(i);
        let layers = c.layers.into_iter().map(Layer::gzip).collect();
        let img = image("hostile", layers, c.config);
        let layout = dir.join("layout");
        write_layout(&layout, &[&img]);
        (c.tamper)(&layout, &img);

        let before = tree_except(&dir, Some(Path::new("target")));
        let out = img_unpack(&env, &layout, "hostile", &target);
        let after = tree_except(&dir, Some(Path::new("target")));
        eprintln!(
            "case {i} ({}): exit {}: {}",
            c.name,
            out.code,
            out.stderr.trim().chars().take(300).collect::<String>()
        );
        let changed = differences(&before, &after);
        assert!(
            changed.is_empty(),
            "case {i} ({}): changed outside the target:\n{}\n{out:#?}",
            c.name,
            changed.join("\n")
        );
        assert!(
            !Path::new(HOST_FILE).exists(),
            "case {}: {HOST_FILE}",
            c.name
        );
        match c.expect {
            Expect::Refused(fragments) => {
                let mut fragments = fragments;
                if c.name.contains("digest") {
                    fragments.push(img.layers()[0].digest.clone());
                }
                let ok = out.code == 1
                    && out.stderr.contains("img-unpack: error: ")
                    && fragments.iter().all(|f| out.stderr.contains(f.as_str()));
                if !ok {
                    failures.push(format!(
                        "case {i} ({}): expected refusal mentioning {fragments:?}, got {out:#?}",
                        c.name
                    ));
                }
            }
            Expect::Contained(check) => {
                if out.code != 0 {
                    failures.push(format!(
                        "case {i} ({}): expected success, got {out:#?}",
                        c.name
                    ));
                    continue;
                }
                check(&target, outside.to_str().unwrap());
            }
        }
    }
    let now = std::fs::symlink_metadata("/etc/passwd").unwrap();
    assert_eq!(
        (now.ino(), now.nlink(), now.mtime(), now.mtime_nsec()),
        (
            host_passwd.ino(),
            host_passwd.nlink(),
            host_passwd.mtime(),
            host_passwd.mtime_nsec()
        )
    );
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), host_passwd_content);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---------------------------------------------------------------------------------------------
// 3. A bundle runc runs.

/// A busybox image whose config sets Env, WorkingDir, User (a name, resolved from the image's
/// /etc/passwd and /etc/group) and a Cmd that prints what the process sees.
fn busybox_app_image(env: &Env) -> FakeImage {
    use std::os::unix::fs::chown;
    let rootfs = busybox_rootfs(&env.path("bb-rootfs"));
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\napp:x:1000:\nextra:x:2000:app\n",
    )
    .unwrap();
    for d in ["work", "home/app"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
        chown(rootfs.join(d), Some(1000), Some(1000)).unwrap();
    }
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all(".", &rootfs).unwrap();
    let tar = b.into_inner().unwrap();
    image("app", vec![Layer::gzip(tar)], |cfg| {
        cfg["config"] = json!({
            "Env": ["PATH=/bin", "GREETING=hello from the image"],
            "WorkingDir": "/work",
            "User": "app",
            "Cmd": ["sh", "-c", "echo \"$GREETING\"; id -u; id -g; id -G; pwd; echo \"$HOME\"; touch ./written"],
        });
    })
}

#[test]
fn a_bundle_runs_the_images_command_under_runc() {
    require_root!();
    require_program!("runc");
    let env = Env::new();
    let layout = env.path("layout");
    write_layout(&layout, &[&busybox_app_image(&env)]);
    let bundle = env.path("bundle");
    let out = env
        .run(
            "img-unpack",
            &[
                "--bundle",
                &oci_name(&layout, "app"),
                bundle.to_str().unwrap(),
            ],
        )
        .ok()
        .json();
    assert_eq!(
        out["rootfs"].as_str().unwrap(),
        std::fs::canonicalize(&bundle)
            .unwrap()
            .join("rootfs")
            .to_str()
            .unwrap()
    );
    assert!(bundle.join("rootfs/bin/busybox").is_file());

    let cfg: Value = serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap())
        .expect("config.json is JSON");
    let process = &cfg["process"];
    assert_eq!(process["cwd"], "/work");
    assert_eq!(process["user"]["uid"], 1000);
    assert_eq!(process["user"]["gid"], 1000);
    assert_eq!(process["user"]["additionalGids"], json!([2000]));
    let envs: Vec<&str> = process["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(envs.contains(&"PATH=/bin"), "{envs:?}");
    assert!(envs.contains(&"GREETING=hello from the image"), "{envs:?}");
    assert!(envs.contains(&"HOME=/home/app"), "{envs:?}");
    assert_eq!(process["args"][0], "sh");
    assert_eq!(cfg["root"]["path"], "rootfs");

    let state = env.path("runc-state");
    let id = format!("berth-e2e-{}", std::process::id());
    let ran = run(Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id));
    let _ = run(Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["delete", "--force", &id]));
    assert_eq!(ran.code, 0, "runc run: {ran:#?}");
    assert_eq!(
        ran.stdout,
        "hello from the image\n1000\n1000\n1000 2000\n/work\n/home/app\n"
    );
    let written = std::fs::metadata(bundle.join("rootfs/work/written")).unwrap();
    assert_eq!((written.uid(), written.gid()), (1000, 1000));
}

// ---------------------------------------------------------------------------------------------
// 4. The command line.

#[test]
fn a_non_empty_directory_is_refused_and_left_alone() {
    let env = Env::new();
    env.import_busybox("busybox:unpack");
    let dir = env.path("full");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("mine"), "keep me").unwrap();
    env.run("img-unpack", &["busybox:unpack", dir.to_str().unwrap()])
        .fails_with(1, "not empty");
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["mine"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("mine")).unwrap(),
        "keep me"
    );
    // --bundle too.
    env.run(
        "img-unpack",
        &["--bundle", "busybox:unpack", dir.to_str().unwrap()],
    )
    .fails_with(1, "not empty");
    assert!(!dir.join("rootfs").exists());
}

#[test]
fn a_missing_image_is_an_error_and_makes_no_directory() {
    let env = Env::new();
    env.import_busybox("busybox:unpack");
    let dir = env.path("rootfs");
    env.run("img-unpack", &["nosuch:tag", dir.to_str().unwrap()])
        .fails_with(1, "nosuch");
    assert!(!dir.exists(), "nothing is created for a missing image");
    let layout = env.path("layout");
    write_layout(
        &layout,
        &[&image(
            "v1",
            vec![Layer::gzip(tar_of(&[("a", b"a")]))],
            |_| {},
        )],
    );
    img_unpack(&env, &layout, "v2", &dir).fails_with(1, "v2");
    assert!(!dir.exists());
    // The one that is there unpacks, though its tar leaves uid, gid and mtime blank (read as
    // 0, as Go's archive/tar reads them).
    img_unpack(&env, &layout, "v1", &dir).ok();
    assert_eq!(std::fs::read(dir.join("a")).unwrap(), b"a");
}

#[test]
fn dash_reads_the_previous_tools_json() {
    let env = Env::new();
    let imported = env.import_busybox("busybox:piped");
    let dir = env.path("rootfs");
    let out = env
        .run_stdin(
            "img-unpack",
            &["-", dir.to_str().unwrap()],
            imported.to_string().as_bytes(),
        )
        .ok()
        .json();
    assert_eq!(out["id"], imported["id"]);
    assert_eq!(out["ref"], "docker.io/library/busybox:piped");
    assert_eq!(out["layers"], 1);
    let original = busybox_rootfs(&env.path("busybox.rootfs"));
    assert_eq!(
        std::fs::read(dir.join("bin/busybox")).unwrap(),
        std::fs::read(original.join("bin/busybox")).unwrap()
    );
    assert_eq!(
        std::fs::read_link(dir.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("var/www/index.html")).unwrap(),
        "hello from berth\n"
    );
}
