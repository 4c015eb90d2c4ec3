//! Volumes, as Docker's `local` driver keeps them: `$ROOT/volumes/<name>/_data` holds the data,
//! `$ROOT/volumes/<name>/volume.json` the record (Docker's `docker volume inspect` shape)
//! ([`store`]). Also the parsing of `-v`, `--mount` and `--tmpfs` ([`grammar`]), and what a
//! container's mounts become: the runtime's `config.json` mounts and Docker's `Mounts` record
//! ([`plan`]).
//!
//! Filling a new volume from the image copies the image's content at the mount's destination,
//! its layers merged as overlayfs would show them ([`merged::fill_from_layers`]).
//!
//! This module does not know containers: which volumes are in use comes in as [`Users`], from
//! `container::orchestrate`, which also holds the containers' lock around these operations.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::record::MountPoint;
use crate::root::Root;

pub mod grammar;
pub mod merged;
pub mod plan;
pub mod store;

pub use grammar::*;
pub use merged::fill_from_layers;
pub use plan::*;
pub use store::*;

/// Which volumes are in use: a volume's name → the IDs of the containers that mount it.
pub type Users = HashMap<String, Vec<String>>;

/// `vol-rm`: removes a volume no container uses (`force` only hides "no such volume": a
/// volume in use is refused all the same, as Docker). The caller holds the containers' lock;
/// `users` is asked once the volume is found.
pub fn remove(
    root: &Root,
    name: &str,
    force: bool,
    users: &dyn Fn() -> Result<Users>,
) -> Result<()> {
    let vols = Volumes::open(root)?;
    if let Err(e) = vols.get(name) {
        return if force { Ok(()) } else { Err(e) };
    }
    if let Some(ids) = users()?.get(name) {
        return Err(Error::Conflict(format!(
            "remove {name}: volume is in use - [{}]",
            ids.join(", ")
        )));
    }
    vols.remove(name)
}

/// `vol-prune`: removes unused anonymous volumes (all unused ones with `all`); their names.
/// The caller holds the containers' lock.
pub fn prune(root: &Root, all: bool, users: &dyn Fn() -> Result<Users>) -> Result<Vec<String>> {
    let vols = Volumes::open(root)?;
    let used = users()?;
    let mut out = Vec::new();
    for v in vols.list()? {
        if used.contains_key(&v.name) || !(all || v.is_anonymous()) {
            continue;
        }
        vols.remove(&v.name)?;
        out.push(v.name);
    }
    Ok(out)
}

/// Removes the anonymous volumes among a removed container's `mounts` that no other container
/// uses (`ctr-rm -v`). The caller holds the containers' lock.
pub fn remove_anonymous(
    root: &Root,
    mounts: &[MountPoint],
    users: &dyn Fn() -> Result<Users>,
) -> Result<()> {
    let vols = Volumes::open(root)?;
    // Every container's record is read only when there is a volume to ask about.
    let any = mounts
        .iter()
        .any(|m| m.kind == "volume" && !m.name.is_empty());
    let used = if any { users()? } else { Users::new() };
    for m in mounts {
        let n = m.name.as_str();
        if m.kind != "volume" {
            continue;
        }
        if used.contains_key(n) {
            continue;
        }
        if vols.get(n).is_ok_and(|v| v.is_anonymous()) {
            vols.remove(n)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_users() -> Result<Users> {
        Ok(Users::new())
    }
    use rustix::fs::{self as rfs, AtFlags, FileType, Mode, Timespec, Timestamps};
    use serde_json::{json, Map};
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::path::{Path, PathBuf};

    #[test]
    fn v_is_parsed_as_docker() {
        let r = parse_volume("/host/dir:/data:ro").unwrap();
        assert_eq!(
            (r.kind, r.source.as_str(), r.target.as_str(), r.readonly),
            (Kind::Bind, "/host/dir", "/data", true)
        );
        let r = parse_volume("myvol:/data/").unwrap();
        assert_eq!(
            (r.kind, r.source.as_str(), r.target.as_str(), r.readonly),
            (Kind::Volume, "myvol", "/data", false)
        );
        let r = parse_volume("/anon").unwrap();
        assert_eq!((r.kind, r.source.as_str()), (Kind::Volume, ""));
        for bad in [
            "a:b:c:d",
            "vol:rel",
            "vol:/x:bogus",
            "/x:/",
            "./x:/y",
            ":/y",
            "x:/y",
        ] {
            assert!(parse_volume(bad).is_err(), "{bad}");
        }
        let e = parse_volume("./x:/y").unwrap_err().to_string();
        assert!(e.contains("invalid characters"), "{e}");
    }

    #[test]
    fn mount_is_parsed_as_docker() {
        let r = parse_mount("type=bind,source=/,target=/h,readonly").unwrap();
        assert_eq!(
            (r.kind, r.source.as_str(), r.target.as_str(), r.readonly),
            (Kind::Bind, "/", "/h", true)
        );
        assert_eq!(
            r.origin,
            Origin::Mount(Box::new(
                serde_json::from_value(
                    json!({"Type": "bind", "Source": "/", "Target": "/h", "ReadOnly": true})
                )
                .unwrap()
            ))
        );
        let r = parse_mount("src=data,dst=/d").unwrap();
        assert_eq!(
            (r.kind, r.source.as_str(), r.readonly),
            (Kind::Volume, "data", false)
        );
        let r = parse_mount("type=tmpfs,target=/t,tmpfs-size=1m").unwrap();
        assert_eq!(r.tmpfs_opts, ["size=1m"]);
        assert!(parse_mount("type=bind,source=/no/such/dir/x,target=/h").is_err());
        assert!(parse_mount("type=bind,target=/h").is_err());
        assert!(parse_mount("type=nfs,target=/h").is_err());
        assert!(parse_mount("type=volume,source=v").is_err());
        assert!(parse_mount("type=volume,target=/x,bogus=1").is_err());
        let t = parse_tmpfs("/run:size=64m,mode=1777").unwrap();
        assert_eq!((t.target.as_str(), t.tmpfs_opts.len()), ("/run", 2));
        let e = parse_all(&["v1:/d".into()], &["type=tmpfs,dst=/d".into()], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("Duplicate mount point: /d"), "{e}");
    }

    #[test]
    fn volumes_are_made_listed_and_removed() {
        let t = tempfile::tempdir().unwrap();
        let root = Root::new(Some(t.path().to_path_buf()));
        let vols = Volumes::open(&root).unwrap();
        let (v, new) = vols.create(Some("data"), Map::new()).unwrap();
        assert!(new && v.driver == "local" && v.scope == "local");
        assert!(Path::new(&v.mountpoint).is_dir());
        assert!(!vols.create(Some("data"), Map::new()).unwrap().1);
        assert!(vols.create(Some("bad/name"), Map::new()).is_err());
        let mut l = Map::new();
        l.insert(ANONYMOUS_LABEL.into(), json!(""));
        let (a, _) = vols.create(None, l).unwrap();
        assert_eq!(a.name.len(), 64);
        assert_eq!(vols.list().unwrap().len(), 2);
        assert_eq!(
            prune(&root, false, &no_users).unwrap(),
            vec![a.name.clone()]
        );
        assert!(remove(&root, "nope", false, &no_users).is_err());
        assert!(remove(&root, "nope", true, &no_users).is_ok());
        remove(&root, "data", false, &no_users).unwrap();
        assert!(vols.list().unwrap().is_empty());
    }

    #[test]
    fn fill_resolves_in_the_merged_image() {
        let t = tempfile::tempdir().unwrap();
        let l0 = t.path().join("l0");
        let l1 = t.path().join("l1");
        fs::create_dir_all(l0.join("etc/sub")).unwrap();
        fs::write(l0.join("etc/sub/f"), "low").unwrap();
        fs::create_dir_all(l1.join("data")).unwrap();
        fs::write(l1.join("data/x"), "top").unwrap();
        symlink("../../../../etc", l1.join("link")).unwrap();
        symlink("sub/f", l1.join("data/ln")).unwrap();
        let layers = vec![l0, l1];
        let d = t.path().join("v1");
        fs::create_dir(&d).unwrap();
        fill_from_layers(&layers, "/data", &d).unwrap();
        assert_eq!(fs::read_to_string(d.join("x")).unwrap(), "top");
        assert_eq!(fs::read_link(d.join("ln")).unwrap(), Path::new("sub/f"));
        // The symlink resolves inside the image (its `..` stop at the image's root, and the
        // directory it names is in a lower layer): the host's /etc is never read.
        let d2 = t.path().join("v2");
        fs::create_dir(&d2).unwrap();
        fill_from_layers(&layers, "/link", &d2).unwrap();
        assert!(!d2.join("passwd").exists());
        assert_eq!(fs::read_to_string(d2.join("sub/f")).unwrap(), "low");
        let d3 = t.path().join("v3");
        fs::create_dir(&d3).unwrap();
        fill_from_layers(&layers, "/etc", &d3).unwrap();
        assert_eq!(fs::read_to_string(d3.join("sub/f")).unwrap(), "low");
        // Nothing there: nothing copied.
        let d4 = t.path().join("v4");
        fs::create_dir(&d4).unwrap();
        fill_from_layers(&layers, "/data/x", &d4).unwrap();
        fill_from_layers(&layers, "/nope", &d4).unwrap();
        assert_eq!(fs::read_dir(&d4).unwrap().count(), 0);
    }

    #[test]
    fn fill_merges_layers_with_whiteouts_and_opaque_directories() {
        use std::os::unix::fs::MetadataExt;
        let t = tempfile::tempdir().unwrap();
        let l = |i: usize| t.path().join(format!("l{i}"));
        let w = |p: PathBuf, s: &str| {
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, s).unwrap();
        };
        // Bottom layer.
        for f in ["a", "b", "keep/k", "gone/g", "opq/old", "ovl/o"] {
            w(l(0).join("data").join(f), "0");
        }
        fs::set_permissions(l(0).join("data/keep"), fs::Permissions::from_mode(0o700)).unwrap();
        let old = Timespec {
            tv_sec: 1_000_000_000,
            tv_nsec: 0,
        };
        let times = Timestamps {
            last_access: old,
            last_modification: old,
        };
        rfs::utimensat(rfs::CWD, l(0).join("data/keep/k"), &times, AtFlags::empty()).unwrap();
        // Middle layer: a replaced, b and gone whited out, opq made opaque, c new.
        w(l(1).join("data/a"), "1");
        w(l(1).join("data/.wh.b"), "");
        w(l(1).join("data/.wh.gone"), "");
        w(l(1).join("data/opq/.wh..wh..opq"), "");
        w(l(1).join("data/opq/new"), "1");
        w(l(1).join("data/c"), "1");
        // Top layer: more in keep; overlayfs-style whiteout and opaque dir where root can.
        w(l(2).join("data/keep/k2"), "2");
        // The top-most directory's mode wins.
        fs::set_permissions(l(2).join("data/keep"), fs::Permissions::from_mode(0o750)).unwrap();
        let root = rustix::process::geteuid().is_root();
        if root {
            rfs::mknodat(
                rfs::CWD,
                l(2).join("data/c"),
                FileType::CharacterDevice,
                Mode::from_raw_mode(0o600),
                rfs::makedev(0, 0),
            )
            .unwrap();
            w(l(2).join("data/ovl/n"), "2");
            rfs::setxattr(
                l(2).join("data/ovl"),
                "trusted.overlay.opaque",
                b"y",
                rfs::XattrFlags::empty(),
            )
            .unwrap();
        }
        let d = t.path().join("vol");
        fs::create_dir(&d).unwrap();
        fill_from_layers(&[l(0), l(1), l(2)], "/data", &d).unwrap();
        let read = |p: &str| fs::read_to_string(d.join(p)).ok();
        assert_eq!(read("a").as_deref(), Some("1"));
        assert_eq!(read("b"), None);
        assert!(!d.join("gone").exists());
        assert_eq!(read("keep/k").as_deref(), Some("0"));
        assert_eq!(read("keep/k2").as_deref(), Some("2"));
        assert_eq!(read("opq/new").as_deref(), Some("1"));
        assert_eq!(read("opq/old"), None);
        let mut names: Vec<String> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert!(names.iter().all(|n| !n.starts_with(".wh.")), "{names:?}");
        assert!(!d.join("opq/.wh..wh..opq").exists());
        assert_eq!(fs::metadata(d.join("keep")).unwrap().mode() & 0o7777, 0o750);
        assert_eq!(
            fs::metadata(d.join("keep/k")).unwrap().mtime(),
            1_000_000_000
        );
        if root {
            assert_eq!(read("c"), None);
            assert_eq!(read("ovl/n").as_deref(), Some("2"));
            assert_eq!(read("ovl/o"), None);
            assert_eq!(names, ["a", "keep", "opq", "ovl"]);
        } else {
            assert_eq!(read("c").as_deref(), Some("1"));
            assert_eq!(names, ["a", "c", "keep", "opq", "ovl"]);
        }
    }
}
