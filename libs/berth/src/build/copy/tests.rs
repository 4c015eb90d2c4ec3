use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::time::Duration;

use super::*;

struct T {
    _tmp: tempfile::TempDir,
    ctx_dir: PathBuf,
    cache: PathBuf,
}

fn t() -> T {
    let tmp = tempfile::tempdir().unwrap();
    let ctx_dir = tmp.path().join("ctx");
    fs::create_dir(&ctx_dir).unwrap();
    let cache = tmp.path().join("state/stat-cache");
    T {
        _tmp: tmp,
        ctx_dir,
        cache,
    }
}

impl T {
    fn file(&self, rel: &str, content: &str) -> &Self {
        let p = self.ctx_dir.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, content).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        self
    }
    fn ctx(&self) -> Context {
        self.ctx_ignoring(&[])
    }
    fn ctx_ignoring(&self, pats: &[&str]) -> Context {
        Context::open(
            &self.ctx_dir,
            Matcher::new(pats).unwrap(),
            self.cache.clone(),
        )
        .unwrap()
    }
}

fn op(sources: &[&str], dest: &str) -> CopyOp {
    CopyOp {
        sources: sources.iter().map(|s| s.to_string()).collect(),
        dest: dest.to_string(),
        ..Default::default()
    }
}

fn paths(p: &CopyPlan) -> Vec<String> {
    p.entries()
        .into_iter()
        .map(|(p, k)| format!("{k} {p}"))
        .collect()
}

/// (name, type, mode, uid, gid, mtime, content or link target)
type Ent = (String, char, u32, u64, u64, u64, Vec<u8>);

fn tar_of(p: &CopyPlan) -> Vec<u8> {
    let mut out = Vec::new();
    p.write_tar(&mut out).unwrap();
    out
}

fn read_tar(data: &[u8]) -> Vec<Ent> {
    let mut a = tar::Archive::new(data);
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let k = match h.entry_type() {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Regular => 'f',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            _ => '?',
        };
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut body = Vec::new();
        if k == 'l' || k == 'h' {
            body = e
                .link_name()
                .unwrap()
                .unwrap()
                .to_string_lossy()
                .into_owned()
                .into_bytes();
        } else {
            e.read_to_end(&mut body).unwrap();
        }
        out.push((
            name,
            k,
            h.mode().unwrap(),
            h.uid().unwrap(),
            h.gid().unwrap(),
            h.mtime().unwrap(),
            body,
        ));
    }
    out
}

fn err_of(r: Result<CopyPlan>) -> String {
    r.map(|p| format!("unexpected success: {:?}", paths(&p)))
        .unwrap_or_else(|e| e.to_string())
}

#[test]
fn glob_is_go_filepath_match() {
    for (p, s, want) in [
        ("abc", "abc", true),
        ("*", "abc", true),
        ("*c", "abc", true),
        ("a*", "a", true),
        ("a*", "abc", true),
        ("a*/b", "abc/b", true),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
        ("a*b?c*x", "abxbbxdbxebxczzx", true),
        ("a*b?c*x", "abxbbxdbxebxczzy", false),
        ("ab[c]", "abc", true),
        ("ab[b-d]", "abc", true),
        ("ab[e-g]", "abc", false),
        ("ab[^c]", "abc", false),
        ("ab[^b-d]", "abe", true),
        ("a\\*b", "a*b", true),
        ("a\\*b", "ab", false),
        ("a?b", "a☺b", true),
        ("a???b", "a☺b", false),
        ("*x", "xxx", true),
    ] {
        assert_eq!(glob_match(p, s).unwrap(), want, "{p} {s}");
    }
    for p in ["[", "[^", "a[", "[]a]", "\\", "[x-]", "[z-a]"] {
        assert!(glob_match(p, "x").is_err(), "{p} should be a bad pattern");
    }
    assert!(has_wildcards("a*"));
    assert!(!has_wildcards("a\\*"));
}

#[test]
fn file_to_file_and_into_dir() {
    let t = t();
    t.file("a", "A");
    let c = t.ctx();
    let p = plan(&op(&["a"], "/b"), From::Context(&c), None).unwrap();
    assert_eq!(paths(&p), ["f b"]);
    let p = plan(&op(&["a"], "/b/"), From::Context(&c), None).unwrap();
    assert_eq!(paths(&p), ["d b", "f b/a"]);
    let ents = read_tar(&tar_of(&p));
    assert_eq!(ents[0].0, "b/");
    assert_eq!(
        (ents[0].2, ents[0].3),
        (0o755, 0),
        "created parent: 0755 root"
    );
    assert_eq!(ents[1].0, "b/a");
    assert_eq!(ents[1].6, b"A");
    assert_eq!((ents[1].2, ents[1].3, ents[1].4), (0o644, 0, 0));
    assert!(p.history_source().starts_with("file:"));
}

#[test]
fn dir_copies_contents_and_dot_copies_all() {
    let t = t();
    t.file("dir/x", "1").file("dir/sub/y", "2").file("top", "3");
    let c = t.ctx();
    let p = plan(&op(&["dir"], "/d"), From::Context(&c), None).unwrap();
    assert_eq!(paths(&p), ["d d", "d d/sub", "f d/sub/y", "f d/x"]);
    assert!(p.history_source().starts_with("dir:"));
    // Docker 20.10 legacy (checked with `docker save`): the directory made for the contents is
    // 0755 whatever the source directory's mode; a subdirectory keeps its own.
    fs::set_permissions(t.ctx_dir.join("dir"), fs::Permissions::from_mode(0o711)).unwrap();
    fs::set_permissions(t.ctx_dir.join("dir/sub"), fs::Permissions::from_mode(0o700)).unwrap();
    let ents = read_tar(&tar_of(
        &plan(&op(&["dir"], "/d"), From::Context(&c), None).unwrap(),
    ));
    assert_eq!((ents[0].0.as_str(), ents[0].2), ("d/", 0o755));
    assert_eq!((ents[1].0.as_str(), ents[1].2), ("d/sub/", 0o700));
    fs::set_permissions(t.ctx_dir.join("dir"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(t.ctx_dir.join("dir/sub"), fs::Permissions::from_mode(0o755)).unwrap();
    let p = plan(&op(&["."], "/"), From::Context(&c), None).unwrap();
    assert_eq!(
        paths(&p),
        ["d dir", "d dir/sub", "f dir/sub/y", "f dir/x", "f top"]
    );
    // Several sources: the history says multi.
    let p = plan(&op(&["top", "dir"], "/m/"), From::Context(&c), None).unwrap();
    assert!(p.history_source().starts_with("multi:"));
}

#[test]
fn wildcards_in_order_and_ignored_files_invisible() {
    let t = t();
    t.file("a2", "")
        .file("a1", "")
        .file("b", "")
        .file("sub/a3", "")
        .file("ign", "");
    let c = t.ctx_ignoring(&["a2", "ign"]);
    let p = plan(&op(&["a*"], "/d/"), From::Context(&c), None).unwrap();
    assert_eq!(paths(&p), ["d d", "f d/a1"]);
    let p = plan(&op(&["*/a?"], "/d/"), From::Context(&c), None).unwrap();
    assert_eq!(paths(&p), ["d d", "f d/a3"]);
    let e = err_of(plan(&op(&["ign"], "/d/"), From::Context(&c), None));
    assert!(
        e.contains("not found in build context or excluded by .dockerignore"),
        "{e}"
    );
    assert!(e.contains("ign"), "{e}");
    let p = plan(&op(&["."], "/"), From::Context(&c), None).unwrap();
    assert_eq!(paths(&p), ["f a1", "f b", "d sub", "f sub/a3"]);
    // An ignored directory with an exception inside: only what is re-included.
    t.file("keepdir/keep", "").file("keepdir/drop", "");
    let c = t.ctx_ignoring(&["keepdir", "!keepdir/keep"]);
    let p = plan(&op(&["keepdir"], "/k"), From::Context(&c), None).unwrap();
    assert_eq!(paths(&p), ["d k", "f k/keep"]);
    let c = t.ctx_ignoring(&["a2", "ign"]);
    // Nothing matched at all: Docker's error.
    let e = err_of(plan(&op(&["zz*"], "/d/"), From::Context(&c), None));
    assert!(e.contains("no source files were specified"), "{e}");
}

#[test]
fn several_sources_need_a_dir_dest() {
    let t = t();
    t.file("a", "").file("b", "");
    let c = t.ctx();
    let e = err_of(plan(&op(&["a", "b"], "/d"), From::Context(&c), None));
    assert!(e.contains("must be a directory and end with a /"), "{e}");
    let e = err_of(plan(&op(&["?"], "/d"), From::Context(&c), None));
    assert!(e.contains("must be a directory"), "{e}");
    // An existing directory of the base is enough (BuildKit).
    let base = tempfile::tempdir().unwrap();
    fs::create_dir(base.path().join("d")).unwrap();
    let p = plan(&op(&["a", "b"], "/d"), From::Context(&c), Some(base.path())).unwrap();
    assert_eq!(paths(&p), ["d d", "f d/a", "f d/b"]);
}

#[test]
fn dest_existing_dir_and_symlink_in_base() {
    let t = t();
    t.file("a", "A");
    let c = t.ctx();
    let base = tempfile::tempdir().unwrap();
    fs::create_dir_all(base.path().join("etc")).unwrap();
    fs::set_permissions(base.path().join("etc"), fs::Permissions::from_mode(0o711)).unwrap();
    fs::create_dir_all(base.path().join("srv/app")).unwrap();
    symlink("/srv/app", base.path().join("app")).unwrap();
    symlink("../../../../srv", base.path().join("up")).unwrap();
    // Existing directory without a trailing slash: into it, its metadata kept.
    let p = plan(&op(&["a"], "/etc"), From::Context(&c), Some(base.path())).unwrap();
    assert_eq!(paths(&p), ["d etc", "f etc/a"]);
    let ents = read_tar(&tar_of(&p));
    assert_eq!(ents[0].2, 0o711, "the base's directory kept as it is");
    // Through an absolute symlink, resolved in the base's root, not the host's.
    let p = plan(&op(&["a"], "/app/"), From::Context(&c), Some(base.path())).unwrap();
    assert_eq!(paths(&p), ["d srv", "d srv/app", "f srv/app/a"]);
    let p = plan(
        &op(&["a"], "/up/app/x"),
        From::Context(&c),
        Some(base.path()),
    )
    .unwrap();
    assert_eq!(paths(&p), ["d srv", "d srv/app", "f srv/app/x"]);
    // A dest ending in '/' that is a file of the base.
    fs::write(base.path().join("file"), "").unwrap();
    let e = err_of(plan(
        &op(&["a"], "/file/"),
        From::Context(&c),
        Some(base.path()),
    ));
    assert!(e.contains("/file/ is not a directory"), "{e}");
    // --link ignores the base.
    let mut o = op(&["a"], "/app/");
    o.link = true;
    let p = plan(&o, From::Context(&c), Some(base.path())).unwrap();
    assert_eq!(paths(&p), ["d app", "f app/a"]);
    // A missing dest without '/' is the file's new name; parents made.
    let p = plan(
        &op(&["a"], "/new/dir/f"),
        From::Context(&c),
        Some(base.path()),
    )
    .unwrap();
    assert_eq!(paths(&p), ["d new", "d new/dir", "f new/dir/f"]);
}

#[test]
fn heredocs() {
    let t = t();
    let c = t.ctx();
    let mut o = op(&[], "/etc/motd");
    o.heredocs = vec![("EOF".into(), "hello\n".into())];
    let p = plan(&o, From::Context(&c), None).unwrap();
    assert_eq!(paths(&p), ["d etc", "f etc/motd"]);
    let ents = read_tar(&tar_of(&p));
    assert_eq!(ents[1].6, b"hello\n");
    assert_eq!(ents[1].2, 0o644);
    let mut o = op(&[], "/x/");
    o.heredocs = vec![("one".into(), "1".into()), ("two".into(), "2".into())];
    o.chmod = Some(0o755);
    let p = plan(&o, From::Context(&c), None).unwrap();
    assert_eq!(paths(&p), ["d x", "f x/one", "f x/two"]);
    assert_eq!(read_tar(&tar_of(&p))[2].2, 0o755);
    let d1 = p.digest().unwrap();
    o.heredocs[1].1 = "3".into();
    assert_ne!(
        plan(&o, From::Context(&c), None).unwrap().digest().unwrap(),
        d1
    );
}

#[test]
fn escapes_refused_and_symlinks_copied_as_links() {
    let t = t();
    t.file("d/f", "x");
    symlink("/etc/passwd", t.ctx_dir.join("d/passwd")).unwrap();
    symlink("/etc", t.ctx_dir.join("etclink")).unwrap();
    symlink("../..", t.ctx_dir.join("uplink")).unwrap();
    symlink("d/f", t.ctx_dir.join("inlink")).unwrap();
    let c = t.ctx();
    let e = err_of(plan(&op(&["../x"], "/"), From::Context(&c), None));
    assert!(
        e.contains("outside the build context") && e.contains("../x"),
        "{e}"
    );
    for src in ["etclink/passwd", "uplink/etc/passwd"] {
        let e = err_of(plan(&op(&[src], "/x"), From::Context(&c), None));
        assert!(e.contains("outside the build context"), "{src}: {e}");
    }
    // A source that is itself a symlink leading out is copied as that link, not followed.
    for (src, target) in [("etclink", "/etc"), ("d/passwd", "/etc/passwd")] {
        let p = plan(&op(&[src], "/x"), From::Context(&c), None).unwrap();
        let ents = read_tar(&tar_of(&p));
        let l = ents.iter().find(|e| e.0 == "x").unwrap();
        assert_eq!((l.1, &l.6[..]), ('l', target.as_bytes()), "{src}");
    }
    // Inside a copied directory a symlink is a symlink, its target untouched.
    let p = plan(&op(&["d"], "/x"), From::Context(&c), None).unwrap();
    let ents = read_tar(&tar_of(&p));
    let l = ents.iter().find(|e| e.0 == "x/passwd").unwrap();
    assert_eq!((l.1, &l.6[..]), ('l', &b"/etc/passwd"[..]));
    // A source that is a symlink inside the context is followed, named as written.
    let p = plan(&op(&["inlink"], "/y/"), From::Context(&c), None).unwrap();
    let ents = read_tar(&tar_of(&p));
    assert_eq!(
        (ents[1].0.as_str(), ents[1].1, &ents[1].6[..]),
        ("y/inlink", 'f', &b"x"[..])
    );
    // `COPY . .` copies every link as a link.
    let p = plan(&op(&["."], "/"), From::Context(&c), None).unwrap();
    let ents = read_tar(&tar_of(&p));
    for n in ["etclink", "uplink", "inlink"] {
        assert_eq!(ents.iter().find(|e| e.0 == n).unwrap().1, 'l', "{n}");
    }
}

#[test]
fn hard_links_stay_links() {
    let t = t();
    t.file("d/a", "same");
    fs::hard_link(t.ctx_dir.join("d/a"), t.ctx_dir.join("d/b")).unwrap();
    let c = t.ctx();
    let p = plan(&op(&["d"], "/x"), From::Context(&c), None).unwrap();
    let ents = read_tar(&tar_of(&p));
    let b = ents.iter().find(|e| e.0 == "x/b").unwrap();
    assert_eq!((b.1, &b.6[..]), ('h', &b"x/a"[..]));
}

fn digest_of(t: &T, ignore: &[&str]) -> Digest {
    let c = t.ctx_ignoring(ignore);
    plan(&op(&["."], "/app/"), From::Context(&c), None)
        .unwrap()
        .digest()
        .unwrap()
}

#[test]
fn merkle_digest_stable_and_sensitive() {
    let t = t();
    t.file("a", "A").file("s/b", "B").file("s/ign", "I");
    let d0 = digest_of(&t, &["s/ign"]);
    // touch: same.
    std::thread::sleep(Duration::from_millis(20));
    fs::write(t.ctx_dir.join("a"), "A").unwrap();
    assert_eq!(digest_of(&t, &["s/ign"]), d0, "touch");
    // Another umask for this process: same.
    let old = rustix::process::umask(Mode::from_raw_mode(0o077));
    let d_umask = digest_of(&t, &["s/ign"]);
    rustix::process::umask(old);
    assert_eq!(d_umask, d0, "umask");
    // Renamed and moved context: same.
    let moved = t._tmp.path().join("elsewhere/renamed");
    fs::create_dir_all(moved.parent().unwrap()).unwrap();
    fs::rename(&t.ctx_dir, &moved).unwrap();
    let c = Context::open(&moved, Matcher::new(&["s/ign"]).unwrap(), t.cache.clone()).unwrap();
    let d_moved = plan(&op(&["."], "/app/"), From::Context(&c), None)
        .unwrap()
        .digest()
        .unwrap();
    assert_eq!(d_moved, d0, "renamed context");
    fs::rename(&moved, &t.ctx_dir).unwrap();
    // Unignoring a file, chmod, content, added, removed: different.
    assert_ne!(digest_of(&t, &[]), d0, "unignored");
    fs::set_permissions(t.ctx_dir.join("a"), fs::Permissions::from_mode(0o600)).unwrap();
    let d_chmod = digest_of(&t, &["s/ign"]);
    assert_ne!(d_chmod, d0, "chmod");
    fs::set_permissions(t.ctx_dir.join("a"), fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(digest_of(&t, &["s/ign"]), d0, "chmod back");
    fs::write(t.ctx_dir.join("s/b"), "C").unwrap();
    assert_ne!(digest_of(&t, &["s/ign"]), d0, "content");
    fs::write(t.ctx_dir.join("s/b"), "B").unwrap();
    assert_eq!(digest_of(&t, &["s/ign"]), d0, "content back");
    t.file("s/new", "");
    assert_ne!(digest_of(&t, &["s/ign"]), d0, "added");
    fs::remove_file(t.ctx_dir.join("s/new")).unwrap();
    fs::remove_file(t.ctx_dir.join("a")).unwrap();
    assert_ne!(digest_of(&t, &["s/ign"]), d0, "removed");
    t.file("a", "A");
    assert_eq!(digest_of(&t, &["s/ign"]), d0, "restored");
    // chown (root only).
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::chown(t.ctx_dir.join("a"), Some(1), Some(1)).unwrap();
        assert_ne!(digest_of(&t, &["s/ign"]), d0, "chown");
    }
    // Options count.
    let c = t.ctx_ignoring(&["s/ign"]);
    let mut o = op(&["."], "/app/");
    o.chown = Some((1, 1));
    assert_ne!(
        plan(&o, From::Context(&c), None).unwrap().digest().unwrap(),
        d0
    );
    let o = op(&["."], "/other/");
    assert_ne!(
        plan(&o, From::Context(&c), None).unwrap().digest().unwrap(),
        d0
    );
}

#[test]
fn stat_cache_hits_read_nothing() {
    let t = t();
    for i in 0..20 {
        t.file(&format!("f{i}"), &format!("{i}"));
    }
    std::thread::sleep(Duration::from_millis(150));
    let c = t.ctx();
    let d1 = plan(&op(&["."], "/"), From::Context(&c), None)
        .unwrap()
        .digest();
    assert_eq!(c.files_hashed(), 20);
    let d2 = plan(&op(&["."], "/"), From::Context(&c), None)
        .unwrap()
        .digest();
    assert_eq!(c.files_hashed(), 20, "second plan: all hits");
    assert_eq!(d1, d2);
    c.save().unwrap();
    assert!(t.cache.exists());
    // A new build (new Context) loads the cache: nothing read.
    let c = t.ctx();
    assert_eq!(c.cache_len(), 20);
    let d3 = plan(&op(&["."], "/"), From::Context(&c), None)
        .unwrap()
        .digest();
    assert_eq!((c.files_hashed(), &d3), (0, &d1));
    // `COPY f1 .` visits only f1.
    let c = Context::open(&t.ctx_dir, Matcher::default(), t._tmp.path().join("other")).unwrap();
    plan(&op(&["f1"], "/"), From::Context(&c), None).unwrap();
    assert_eq!(c.files_hashed(), 1);
    // touch: read again, same digest; a file just written is racy and read each time.
    let c = t.ctx();
    fs::write(t.ctx_dir.join("f3"), "3").unwrap();
    let d4 = plan(&op(&["."], "/"), From::Context(&c), None)
        .unwrap()
        .digest();
    assert_eq!((c.files_hashed(), &d4), (1, &d1));
    // A corrupt cache file is an empty cache.
    fs::write(&t.cache, b"garbage").unwrap();
    assert_eq!(t.ctx().cache_len(), 0);
}

#[test]
fn tar_is_deterministic_sorted_and_clamped() {
    let t = t();
    t.file("z", "z")
        .file("a/b", "b")
        .file("a-b", "x")
        .file("m", "m");
    let c = t.ctx();
    let mut o = op(&["."], "/");
    let p = plan(&o, From::Context(&c), None).unwrap();
    let t1 = tar_of(&p);
    let t2 = tar_of(&plan(&o, From::Context(&c), None).unwrap());
    assert_eq!(t1, t2, "byte-identical");
    let names: Vec<String> = read_tar(&t1).into_iter().map(|e| e.0).collect();
    assert_eq!(names, ["a/", "a/b", "a-b", "m", "z"]);
    // Entries carry no user or group names, mtimes as the files'.
    let mut a = tar::Archive::new(&t1[..]);
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        assert_eq!(e.header().username().unwrap(), Some(""));
        assert!(e.header().mtime().unwrap() > 1_000_000_000);
    }
    o.mtime_clamp = Some(1000);
    let p = plan(&o, From::Context(&c), None).unwrap();
    for e in read_tar(&tar_of(&p)) {
        assert_eq!(e.5, 1000, "{}", e.0);
    }
}

#[test]
fn chown_chmod_parents_exclude() {
    let t = t();
    t.file("src/a/x.txt", "1")
        .file("src/a/y.go", "2")
        .file("other/z.txt", "3");
    let c = t.ctx();
    let mut o = op(&["src"], "/new/d");
    o.chown = Some((1000, 1001));
    o.chmod = Some(0o750);
    let p = plan(&o, From::Context(&c), None).unwrap();
    let ents = read_tar(&tar_of(&p));
    for e in &ents {
        assert_eq!((e.3, e.4), (1000, 1001), "{}", e.0);
    }
    let new = ents.iter().find(|e| e.0 == "new/").unwrap();
    assert_eq!(new.2, 0o755, "made parent");
    let f = ents.iter().find(|e| e.0 == "new/d/a/x.txt").unwrap();
    assert_eq!(f.2, 0o750);
    // --parents, with the ./ pivot.
    let mut o = op(&["src/a/x.txt", "src/./a/y.go", "other"], "/p/");
    o.parents = true;
    let p = plan(&o, From::Context(&c), None).unwrap();
    assert_eq!(
        paths(&p),
        [
            "d p",
            "d p/a",
            "f p/a/y.go",
            "d p/other",
            "f p/other/z.txt",
            "d p/src",
            "d p/src/a",
            "f p/src/a/x.txt"
        ]
    );
    // --exclude.
    let mut o = op(&["src", "other"], "/e/");
    o.exclude = vec!["*.txt".into(), "a/*.txt".into()];
    let p = plan(&o, From::Context(&c), None).unwrap();
    assert_eq!(paths(&p), ["d e", "d e/a", "f e/a/y.go"]);
    let with = p.digest();
    o.exclude.clear();
    assert_ne!(plan(&o, From::Context(&c), None).unwrap().digest(), with);
}

#[test]
fn from_dir_keeps_owners_and_has_no_digest() {
    let stage = tempfile::tempdir().unwrap();
    fs::create_dir_all(stage.path().join("usr/bin")).unwrap();
    fs::write(stage.path().join("usr/bin/tool"), "bin").unwrap();
    symlink("usr/bin", stage.path().join("bin")).unwrap();
    symlink("/usr/bin/tool", stage.path().join("abs")).unwrap();
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::chown(stage.path().join("usr/bin/tool"), Some(7), Some(8)).unwrap();
    }
    let want_uid = fs::symlink_metadata(stage.path().join("usr/bin/tool")).unwrap();
    let want_uid = std::os::unix::fs::MetadataExt::uid(&want_uid) as u64;
    // An absolute symlink in an image resolves inside the image.
    let p = plan(&op(&["/abs"], "/t"), From::Dir(stage.path()), None).unwrap();
    assert!(p.digest().is_none());
    let ents = read_tar(&tar_of(&p));
    assert_eq!(
        (ents[0].0.as_str(), ents[0].3, &ents[0].6[..]),
        ("t", want_uid, &b"bin"[..])
    );
    let p = plan(&op(&["/bin/"], "/x/"), From::Dir(stage.path()), None).unwrap();
    assert_eq!(paths(&p), ["d x", "f x/tool"]);
}

#[test]
fn add_extracts_local_tars_safely() {
    let t = t();
    let tarball = crate::layer::tarball(&[("dir/a", b"A"), ("b", b"B")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tarball).unwrap();
    fs::write(t.ctx_dir.join("x.tar.gz"), gz.finish().unwrap()).unwrap();
    fs::write(t.ctx_dir.join("plain.tar"), &tarball).unwrap();
    fs::write(t.ctx_dir.join("notatar.gz"), b"hello").unwrap();
    let c = t.ctx();
    let mut o = op(&["x.tar.gz"], "/opt");
    o.add = true;
    let p = plan(&o, From::Context(&c), None).unwrap();
    let ents = read_tar(&tar_of(&p));
    let names: Vec<&str> = ents.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names, ["opt/", "opt/dir/a", "opt/b"]);
    assert_eq!(ents[1].6, b"A");
    // COPY never extracts; a file that is not a tar is copied as is.
    let p = plan(&op(&["x.tar.gz"], "/opt"), From::Context(&c), None).unwrap();
    assert_eq!(paths(&p), ["f opt"]);
    o.sources = vec!["notatar.gz".into()];
    assert_eq!(
        paths(&plan(&o, From::Context(&c), None).unwrap()),
        ["f opt"]
    );
    // Entries that climb out, or whiteouts, are refused.
    for bad_name in ["../../etc/evil", "d/.wh.victim"] {
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        let name = bad_name.as_bytes();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        let mut b = tar::Builder::new(Vec::new());
        b.append(&h, &b"x"[..]).unwrap();
        fs::write(t.ctx_dir.join("evil.tar"), b.into_inner().unwrap()).unwrap();
        let mut o = op(&["evil.tar"], "/opt/");
        o.add = true;
        let p = plan(&o, From::Context(&c), None).unwrap();
        let mut out = Vec::new();
        let e = p.write_tar(&mut out).unwrap_err().to_string();
        assert!(
            e.contains(bad_name.trim_start_matches("../../")) || e.contains(".wh."),
            "{e}"
        );
    }
}

/// A one-shot HTTP server on 127.0.0.1 answering every request with `body`.
fn serve(body: &'static [u8], headers: &'static str) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for _ in 0..4 {
            let Ok((mut s, _)) = l.accept() else { return };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{headers}Connection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(body);
        }
    });
    format!("http://{addr}")
}

#[test]
fn add_fetches_urls() {
    let t = t();
    let c = t.ctx();
    let base = serve(
        b"remote\n",
        "Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\n",
    );
    let mut o = op(&[&format!("{base}/files/tool.sh?x=1")], "/dl/");
    o.add = true;
    let p = plan(&o, From::Context(&c), None).unwrap();
    let ents = read_tar(&tar_of(&p));
    assert_eq!(ents[1].0, "dl/tool.sh");
    assert_eq!(
        (ents[1].2, ents[1].5, &ents[1].6[..]),
        (0o600, 1445412480, &b"remote\n"[..])
    );
    let want = format!("sha256:{}", hex(&sha(b"remote\n")));
    o.checksum = Some(want.clone());
    plan(&o, From::Context(&c), None).unwrap();
    let wrong = format!("sha256:{}", "0".repeat(64));
    o.checksum = Some(wrong.clone());
    let e = err_of(plan(&o, From::Context(&c), None));
    assert!(e.contains(&wrong) && e.contains(&want), "{e}");
    // No file name and a dest ending in '/': Docker's error.
    let mut o = op(&[&format!("{base}/")], "/dl/");
    o.add = true;
    let e = err_of(plan(&o, From::Context(&c), None));
    assert!(e.contains("cannot determine filename"), "{e}");
    let e = err_of(plan(
        &op(&[&format!("{base}/x")], "/dl/"),
        From::Context(&c),
        None,
    ));
    assert!(e.contains("source can't be a URL for COPY"), "{e}");
}

#[test]
fn write_layer_stores_the_tar() {
    let t = t();
    t.file("a", "A").file("d/b", "B");
    let c = t.ctx();
    let p = plan(&op(&["."], "/app/"), From::Context(&c), None).unwrap();
    let tar = tar_of(&p);
    let l = tempfile::tempdir().unwrap();
    let layout = Layout::open_or_create(l.path()).unwrap();
    let n = p.write_layer(&layout, Codec::Gzip).unwrap();
    assert_eq!(n.diff_id, Digest::sha256_of(&tar));
    let n2 = p.write_layer(&layout, Codec::Gzip).unwrap();
    assert_eq!(
        n2.descriptor.digest(),
        n.descriptor.digest(),
        "same blob twice"
    );
}

#[test]
fn whiteout_names_refused() {
    let t = t();
    t.file("d/.wh.x", "");
    let c = t.ctx();
    let e = err_of(plan(&op(&["d"], "/x"), From::Context(&c), None));
    assert!(e.contains(".wh.") && e.contains("d/.wh.x"), "{e}");
}

/// `BERTH_COPY_BENCH=DIR cargo test -p berth --lib build::copy::tests::bench -- --ignored --nocapture`:
/// plan() of DIR cold (empty stat cache) and warm (cache saved and reloaded), and write_layer.
#[test]
#[ignore]
fn bench() {
    let Ok(dir) = std::env::var("BERTH_COPY_BENCH") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("stat-cache");
    let o = op(&["."], "/data/");
    let time = |f: &mut dyn FnMut()| {
        let t = std::time::Instant::now();
        f();
        t.elapsed().as_secs_f64()
    };
    let c = Context::open(&dir, Matcher::default(), cache.clone()).unwrap();
    let mut p = None;
    let cold = time(&mut || p = Some(plan(&o, From::Context(&c), None).unwrap()));
    let hashed = c.files_hashed();
    let save = time(&mut || c.save().unwrap());
    let mut warm = Vec::new();
    let loops: usize = std::env::var("BERTH_COPY_BENCH_WARM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    for _ in 0..loops {
        let mut c2 = None;
        let load = time(&mut || {
            c2 = Some(Context::open(&dir, Matcher::default(), cache.clone()).unwrap())
        });
        let c2 = c2.unwrap();
        let t = time(&mut || {
            plan(&o, From::Context(&c2), None).unwrap();
        });
        assert_eq!(c2.files_hashed(), 0);
        warm.push((load, t));
    }
    if loops > 5 {
        return;
    }
    let l = tempfile::tempdir().unwrap();
    let layout = Layout::open_or_create(l.path()).unwrap();
    let p = p.unwrap();
    let mut n = None;
    let gz = time(&mut || n = Some(p.write_layer(&layout, Codec::Gzip).unwrap()));
    let zs = time(&mut || {
        p.write_layer(&layout, Codec::Zstd).unwrap();
    });
    let mut sink = io::sink();
    let raw = time(&mut || p.write_tar(&mut sink).unwrap());
    eprintln!(
        "cold plan {cold:.3}s ({hashed} files hashed), save {save:.4}s ({} entries), warm (load, plan) {warm:.4?}, \
         write_tar {raw:.3}s, write_layer gzip {gz:.3}s zstd {zs:.3}s, {} bytes",
        c.cache_len(),
        n.unwrap().uncompressed_size
    );
}

/// Side by side with Docker: `BERTH_COPY_PROBE=CTX` with `CTX/steps` holding one COPY per line
/// (`[--chown=U:G] SRC… DEST`, from scratch), prints each step's layer entries as
/// `T NAME MODE UID GID LINK`, each layer applied (with tar) to a base directory for the next.
#[test]
#[ignore]
fn docker_probe() {
    let Ok(dir) = std::env::var("BERTH_COPY_PROBE") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let base = tempfile::tempdir().unwrap();
    let steps = fs::read_to_string(dir.join("steps")).unwrap();
    let c = Context::open(&dir, Matcher::default(), base.path().join("../probe-cache")).unwrap();
    for line in steps.lines().filter(|l| !l.trim().is_empty()) {
        let mut words: Vec<&str> = line.split_whitespace().collect();
        let mut o = CopyOp::default();
        if let Some(ch) = words[0].strip_prefix("--chown=") {
            let (u, g) = ch.split_once(':').unwrap();
            o.chown = Some((u.parse().unwrap(), g.parse().unwrap()));
            words.remove(0);
        }
        let dest = words.pop().unwrap();
        o.dest = if dest.starts_with('/') {
            dest.to_string()
        } else {
            format!("/{dest}")
        };
        o.sources = words.iter().map(|s| s.to_string()).collect();
        println!("== {line}");
        match plan(&o, From::Context(&c), Some(base.path())) {
            Ok(p) => {
                let tar = tar_of(&p);
                for e in read_tar(&tar) {
                    let name = e.0.trim_end_matches('/');
                    let t = if e.1 == 'h' { 'h' } else { e.1 };
                    let link = if matches!(t, 'l' | 'h') {
                        String::from_utf8_lossy(&e.6).into_owned()
                    } else {
                        String::new()
                    };
                    println!("   {t} {name} {:o} {} {} {link}", e.2, e.3, e.4);
                }
                let mut child = std::process::Command::new("tar")
                    .args(["-xf", "-", "--numeric-owner", "-C"])
                    .arg(base.path())
                    .stdin(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                child.stdin.take().unwrap().write_all(&tar).unwrap();
                assert!(child.wait().unwrap().success());
            }
            Err(e) => println!("   error: {e}"),
        }
    }
}

#[test]
fn xattrs_in_digest_and_tar() {
    let t = t();
    t.file("f", "x");
    let path = t.ctx_dir.join("f");
    let before = digest_of(&t, &[]);
    if rfs::setxattr(&path, "user.berth", b"v1", rfs::XattrFlags::empty()).is_err() {
        eprintln!("skipped: no user xattrs on this file system");
        return;
    }
    let with = digest_of(&t, &[]);
    assert_ne!(with, before, "an xattr changes the digest");
    let c = t.ctx();
    let tar = tar_of(&plan(&op(&["f"], "/f"), From::Context(&c), None).unwrap());
    let mut a = tar::Archive::new(&tar[..]);
    let mut e = a.entries().unwrap().next().unwrap().unwrap();
    let x: Vec<(String, Vec<u8>)> = e
        .pax_extensions()
        .unwrap()
        .unwrap()
        .map(|p| {
            let p = p.unwrap();
            (p.key().unwrap().to_string(), p.value_bytes().to_vec())
        })
        .collect();
    assert_eq!(x, [("SCHILY.xattr.user.berth".to_string(), b"v1".to_vec())]);
    assert_eq!(e.path().unwrap().to_str(), Some("f"));
    let mut body = String::new();
    e.read_to_string(&mut body).unwrap();
    assert_eq!(body, "x");
}
