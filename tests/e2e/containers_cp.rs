//! `ctr-cp` end to end (issue 6): Docker's path rules in and out of running and stopped
//! containers, tar streams on stdin and stdout, and a hostile container swapping a directory for
//! a symlink to `/` while the host copies. As root; every child process is bounded in time.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::rig::{self, timed_bytes as timed};
use crate::support::Out;

const IMAGE: &str = "bbcp:1";

/// The shared rig with busybox as `IMAGE`; every container is removed when it drops.
struct Rig(rig::Rig);

impl std::ops::Deref for Rig {
    type Target = rig::Rig;
    fn deref(&self) -> &rig::Rig {
        &self.0
    }
}

impl Rig {
    fn new() -> Rig {
        Rig(rig::Rig::with_image(IMAGE))
    }

    fn t(&self, tool: &str, args: &[&str]) -> Out {
        timed(self.env.cmd(tool).args(args), None, 60).0
    }

    fn cp(&self, args: &[&str]) -> Out {
        self.t("ctr-cp", args)
    }

    /// A detached container running `script`; its ID.
    fn detach(&self, name: &str, script: &str) -> String {
        let out = self
            .t(
                "ctr-run",
                &["-d", "--name", name, IMAGE, "sh", "-c", script],
            )
            .ok();
        out.json()["id"].as_str().expect("id").to_string()
    }

    /// Waits until the container's own script has written `path` (ctr-run -d returns as soon
    /// as its process has started).
    fn wait_for_file(&self, name: &str, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.t("ctr-exec", &[name, "test", "-s", path]).code != 0 {
            assert!(Instant::now() < deadline, "{path} never appeared in {name}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn exec(&self, name: &str, script: &str) -> String {
        self.t("ctr-exec", &[name, "sh", "-c", script]).ok().stdout
    }
}

const SETUP: &str = "mkdir -p /www /src/sub /dst && echo hello > /www/index.html && \
    echo one > /src/a && echo two > /src/sub/b && chown 123:456 /src/a && \
    touch -d @1000000000 /src/a && ln -s /www /link && echo setup-done > /ready; ";

#[test]
fn classic_web_server_page_out_and_back() {
    require_root!();
    let rig = Rig::new();
    rig.detach(
        "web",
        "mkdir -p /www && echo '<h1>old</h1>' > /www/index.html && exec httpd -f -p 80 -h /www",
    );
    rig.wait_for_file("web", "/www/index.html");
    let host = rig.env.tmp.path().join("page");
    fs::create_dir(&host).unwrap();
    let h = host.to_str().unwrap();
    rig.cp(&["web:/www/index.html", h]).ok();
    let file = host.join("index.html");
    assert_eq!(fs::read_to_string(&file).unwrap(), "<h1>old</h1>\n");
    fs::write(&file, "<h1>new</h1>\n").unwrap();
    rig.cp(&[file.to_str().unwrap(), "web:/www/index.html"])
        .ok();
    assert_eq!(rig.exec("web", "cat /www/index.html"), "<h1>new</h1>\n");
    assert!(rig.exec("web", "ps").contains("httpd"));
}

fn path_rules(rig: &Rig, c: &str, stop: bool) {
    if stop {
        rig.t("ctr-stop", &["-t", "1", c]).ok();
    }
    let host = rig.env.tmp.path().join(format!("host-{c}"));
    fs::create_dir(&host).unwrap();
    let hp = |p: &str| host.join(p).to_str().unwrap().to_string();
    let cc = |p: &str| format!("{c}:{p}");

    // Out: a file into a directory, keeping owner, mode and mtime.
    rig.cp(&[&cc("/src/a"), &hp("")]).ok();
    let md = fs::metadata(host.join("a")).unwrap();
    assert_eq!((md.uid(), md.gid(), md.mtime()), (123, 456, 1000000000));
    // A file onto a file, and under a new name.
    fs::write(host.join("f"), "x").unwrap();
    rig.cp(&[&cc("/src/a"), &hp("f")]).ok();
    assert_eq!(fs::read_to_string(host.join("f")).unwrap(), "one\n");
    rig.cp(&[&cc("/src/a"), &hp("new")]).ok();
    assert_eq!(fs::read_to_string(host.join("new")).unwrap(), "one\n");
    // A file to a missing directory.
    let e = rig.cp(&[&cc("/src/a"), &format!("{}/", hp("nodir"))]);
    assert_ne!(e.code, 0);
    assert!(e.stderr.contains("no such directory"), "{e:?}");
    // A missing parent.
    let e = rig.cp(&[&cc("/src/a"), &hp("no/such")]);
    assert_ne!(e.code, 0);
    assert!(e.stderr.contains("no"), "{e:?}");
    // A directory into an existing one, as a new one, its contents.
    rig.cp(&[&cc("/src"), &hp("")]).ok();
    assert_eq!(fs::read_to_string(host.join("src/sub/b")).unwrap(), "two\n");
    rig.cp(&[&cc("/src"), &hp("copy")]).ok();
    assert_eq!(
        fs::read_to_string(host.join("copy/sub/b")).unwrap(),
        "two\n"
    );
    fs::create_dir(host.join("contents")).unwrap();
    rig.cp(&[&cc("/src/."), &hp("contents")]).ok();
    assert_eq!(
        fs::read_to_string(host.join("contents/a")).unwrap(),
        "one\n"
    );
    // A directory onto a file.
    assert_ne!(rig.cp(&[&cc("/src"), &hp("f")]).code, 0);
    // A missing source.
    let e = rig.cp(&[&cc("/nothing"), &hp("")]);
    assert!(
        e.stderr
            .contains("Could not find the file /nothing in container"),
        "{e:?}"
    );
    // A symlink, and -L.
    rig.cp(&[&cc("/link"), &hp("l1")]).ok();
    assert!(fs::symlink_metadata(host.join("l1")).unwrap().is_symlink());
    rig.cp(&["-L", &cc("/link"), &hp("l2")]).ok();
    assert!(host.join("l2/index.html").is_file());

    // In: a file into a directory (root-owned), onto a file, with -a.
    rig.cp(&[&hp("a"), &cc("/dst")]).ok();
    rig.cp(&[&hp("new"), &cc("/dst/a")]).ok();
    rig.cp(&["-a", &hp("a"), &cc("/dst/kept")]).ok();
    rig.cp(&[&hp("src"), &cc("/dst")]).ok();
    rig.cp(&[&hp("src"), &cc("/dst/named")]).ok();
    rig.cp(&[&format!("{}/.", hp("src")), &cc("/dst/named")])
        .ok();
    let e = rig.cp(&[&hp("a"), &cc("/dst/missing/")]);
    assert!(e.stderr.contains("no such directory"), "{e:?}");
    let e = rig.cp(&[&hp("a"), &cc("/no/such/x")]);
    assert!(e.stderr.contains("does not exist"), "{e:?}");
    // Through a symlink inside the container: lands in /www.
    rig.cp(&[&hp("a"), &cc("/link/")]).ok();
    // Look at it back out (works stopped or running).
    let back = host.join("back");
    fs::create_dir(&back).unwrap();
    rig.cp(&[&cc("/dst"), back.to_str().unwrap()]).ok();
    rig.cp(&[&cc("/www/a"), back.to_str().unwrap()]).ok();
    let m = |p: &str| fs::metadata(back.join(p)).unwrap();
    assert_eq!((m("dst/a").uid(), m("dst/a").gid()), (0, 0));
    assert_eq!((m("dst/kept").uid(), m("dst/kept").gid()), (123, 456));
    assert_eq!(m("dst/kept").mtime(), 1000000000);
    assert_eq!(
        fs::read_to_string(back.join("dst/src/sub/b")).unwrap(),
        "two\n"
    );
    assert_eq!(
        fs::read_to_string(back.join("dst/named/sub/b")).unwrap(),
        "two\n"
    );
    assert_eq!(
        fs::read_to_string(back.join("dst/named/a")).unwrap(),
        "one\n"
    );
    assert_eq!(fs::read_to_string(back.join("a")).unwrap(), "one\n");
    assert!(!back.join("dst/missing").exists());
}

#[test]
fn a_read_only_rootfs_refuses_copies_in_but_not_into_its_volumes() {
    require_root!();
    let rig = Rig::new();
    let out = rig
        .t(
            "ctr-create",
            &[
                "--name",
                "ro",
                "--read-only",
                "-v",
                "/data",
                IMAGE,
                "sleep",
                "1000",
            ],
        )
        .ok();
    // Removed when the rig drops, as every container of its root.
    out.json()["id"].as_str().unwrap();
    let f = rig.env.tmp.path().join("f.txt");
    fs::write(&f, "x\n").unwrap();
    let fs_ = f.to_str().unwrap();
    // Created (never started), then running: the same answer either way.
    for started in [false, true] {
        rig.cp(&[fs_, "ro:/f.txt"])
            .fails_with(1, "container rootfs is marked read-only");
        rig.cp(&[fs_, "ro:/data/"]).ok();
        if started {
            assert_eq!(rig.exec("ro", "cat /data/f.txt"), "x\n");
        } else {
            rig.t("ctr-start", &["ro"]).ok();
        }
    }
    // Copying out of a read-only container is fine.
    let out_dir = rig.env.tmp.path().join("out");
    rig.cp(&["ro:/data/f.txt", out_dir.to_str().unwrap()]).ok();
    assert_eq!(fs::read_to_string(out_dir).unwrap(), "x\n");
}

#[test]
fn path_rules_running_and_stopped() {
    require_root!();
    let rig = Rig::new();
    for (name, stop) in [("live", false), ("dead", true)] {
        rig.detach(name, &format!("{SETUP} sleep 1000"));
        rig.wait_for_file(name, "/ready");
        path_rules(&rig, name, stop);
    }
}

#[test]
fn tar_streams_in_and_out() {
    require_root!();
    let rig = Rig::new();
    rig.detach("s", "mkdir -p /in && echo hi > /in/x && sleep 1000");
    rig.wait_for_file("s", "/in/x");
    let (o, tar) = timed(rig.env.cmd("ctr-cp").args(["s:/in", "-"]), None, 60);
    assert_eq!(o.code, 0, "{o:?}");
    let mut names: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["in/", "in/x"]);
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o640);
    h.set_uid(7);
    b.append_data(&mut h, "y", &b"yo\n"[..]).unwrap();
    // A file named like a whiteout is a file here (docker cp has no whiteouts): x stays.
    let mut w = tar::Header::new_gnu();
    w.set_size(0);
    w.set_mode(0o644);
    b.append_data(&mut w, ".wh.x", &b""[..]).unwrap();
    let data = b.into_inner().unwrap();
    let (o, _) = timed(rig.env.cmd("ctr-cp").args(["-", "s:/in"]), Some(&data), 60);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        rig.exec(
            "s",
            "cat /in/y; stat -c '%a %u' /in/y; cat /in/x; ls -a /in | grep -c wh"
        ),
        "yo\n640 0\nhi\n1\n"
    );
    // Into a file: an error.
    let (o, _) = timed(
        rig.env.cmd("ctr-cp").args(["-", "s:/in/x"]),
        Some(&data),
        60,
    );
    assert_ne!(o.code, 0);
}

#[test]
fn a_container_swapping_a_symlink_to_root_reads_and_writes_only_itself() {
    require_root!();
    let rig = Rig::new();
    let canary_name = format!("berth-canary-{}", std::process::id());
    let canary = Path::new("/").join(&canary_name);
    rig.detach("evil", "mkdir -p /d && echo inside > /d/f && sleep 1000");
    rig.wait_for_file("evil", "/d/f");
    fs::write(&canary, "HOST-SECRET").unwrap();
    timed(
        rig.env.cmd("ctr-exec").args([
            "-d",
            "evil",
            "sh",
            "-c",
            "while true; do mv /d /d.x; ln -s / /d; rm /d; mv /d.x /d; done",
        ]),
        None,
        30,
    );
    let host = rig.env.tmp.path().join("evil-out");
    let payload = rig.env.tmp.path().join("payload");
    fs::create_dir(&payload).unwrap();
    fs::write(payload.join(&canary_name), "FROM-HOST").unwrap();
    let wrote = payload.join(format!("{canary_name}.new"));
    fs::write(&wrote, "x").unwrap();
    for i in 0..50 {
        let dir = host.join(i.to_string());
        fs::create_dir_all(&dir).unwrap();
        let _ = rig.cp(&["evil:/d", dir.to_str().unwrap()]);
        let _ = rig.cp(&["evil:/d/.", dir.to_str().unwrap()]);
        let (_, tar) = timed(rig.env.cmd("ctr-cp").args(["evil:/d/", "-"]), None, 30);
        assert!(
            !tar.windows(11).any(|w| w == b"HOST-SECRET"),
            "the host's canary was read"
        );
        let _ = rig.cp(&[wrote.to_str().unwrap(), "evil:/d/"]);
        let _ = rig.cp(&[wrote.to_str().unwrap(), "evil:/d"]);
    }
    let out = Command::new("grep")
        .args(["-rl", "HOST-SECRET", host.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.stdout.is_empty(), "the canary leaked: {out:?}");
    assert!(
        !Path::new("/").join(format!("{canary_name}.new")).exists(),
        "a file was written into the host's /"
    );
    assert_eq!(fs::read_to_string(&canary).unwrap(), "HOST-SECRET");
    let _ = fs::remove_file(&canary);
    // The copies did reach the container's own /d (or its root, through its own symlink).
    let seen = rig.exec(
        "evil",
        &format!("ls /d /d.x / 2>/dev/null | grep -c {canary_name}.new || true"),
    );
    assert_ne!(seen.trim(), "0", "no copy ever landed inside the container");
}

/// Copies through a container's mounts, running then stopped: a named volume nested under an
/// image directory, a bind, a read-only bind and a tmpfs.
fn through_mounts(rig: &Rig, c: &str, stop: bool, h: &Path, r: &Path, vol_data: &Path) {
    let tmp = rig.env.tmp.path().join(format!("through-{c}-{stop}"));
    fs::create_dir_all(&tmp).unwrap();
    let f = tmp.join("f.txt");
    fs::write(&f, format!("payload {stop}\n")).unwrap();
    let fs_ = f.to_str().unwrap();
    let tag = if stop { "stopped" } else { "running" };
    if stop {
        rig.t("ctr-stop", &["-t", "1", c]).ok();
    }
    let id = rig.t("ctr-inspect", &[c]).ok().json()[0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let upper = rig.env.root.join("containers").join(&id).join("upper");

    // Into the volume: its host directory gets it, the container's own layer does not.
    rig.cp(&[fs_, &format!("{c}:/srv/data/{tag}")]).ok();
    assert_eq!(
        fs::read_to_string(vol_data.join(tag)).unwrap(),
        format!("payload {stop}\n")
    );
    assert!(!upper.join("srv/data").join(tag).exists());
    // Into a directory of the bind.
    rig.cp(&[fs_, &format!("{c}:/h/sub/")]).ok();
    assert_eq!(
        fs::read_to_string(h.join("sub/f.txt")).unwrap(),
        format!("payload {stop}\n")
    );
    // The bind's symlink to the top resolves in the container, never on the host.
    let canary = format!("berth-cp-mount-{}-{tag}", std::process::id());
    let cf = tmp.join(&canary);
    fs::write(&cf, "x").unwrap();
    rig.cp(&[cf.to_str().unwrap(), &format!("{c}:/h/esc/")])
        .ok();
    assert!(
        !Path::new("/tmp").join(&canary).exists(),
        "wrote on the host"
    );
    assert!(!h.join("tmp").exists());
    // Out of the bind and the volume: a file, and a directory whose subtree holds the mount.
    let out = tmp.join("out");
    fs::create_dir(&out).unwrap();
    rig.cp(&[&format!("{c}:/h/host-file"), out.to_str().unwrap()])
        .ok();
    assert_eq!(
        fs::read_to_string(out.join("host-file")).unwrap(),
        "from host\n"
    );
    rig.cp(&[&format!("{c}:/srv"), out.to_str().unwrap()]).ok();
    assert_eq!(
        fs::read_to_string(out.join("srv/data").join(tag)).unwrap(),
        format!("payload {stop}\n")
    );
    assert_eq!(
        fs::read_to_string(out.join("srv/data/seed")).unwrap(),
        "seed\n"
    );
    assert_eq!(
        fs::read_to_string(out.join("srv/image-file")).unwrap(),
        "in the image\n"
    );
    // Read-only: refused, nothing written, whichever way the copy comes.
    rig.cp(&[fs_, &format!("{c}:/r/x")])
        .fails_with(1, "/r is a read-only mount");
    rig.cp(&[fs_, &format!("{c}:/r/")])
        .fails_with(1, "mounted volume is marked read-only");
    let (o, _) = timed(
        rig.env.cmd("ctr-cp").args(["-", &format!("{c}:/r")]),
        Some(&tar_of("x", b"data")),
        60,
    );
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("read-only"), "{o:?}");
    assert_eq!(fs::read_dir(r).unwrap().count(), 1, "the ro bind changed");
    // Out of a read-only mount is fine.
    rig.cp(&[&format!("{c}:/r/ro-file"), out.to_str().unwrap()])
        .ok();
    // tmpfs: reached while running, refused once stopped.
    if stop {
        rig.cp(&[fs_, &format!("{c}:/t/")]).fails_with(1, "tmpfs");
        rig.cp(&[&format!("{c}:/t/f.txt"), out.to_str().unwrap()])
            .fails_with(1, "tmpfs");
    } else {
        rig.cp(&[fs_, &format!("{c}:/t/")]).ok();
        assert_eq!(rig.exec(c, "cat /t/f.txt"), "payload false\n");
        let t_out = tmp.join("t-out");
        rig.cp(&[&format!("{c}:/t/f.txt"), t_out.to_str().unwrap()])
            .ok();
        assert_eq!(fs::read_to_string(&t_out).unwrap(), "payload false\n");
        // The container sees what was copied into its volume.
        assert_eq!(rig.exec(c, "cat /srv/data/running"), "payload false\n");
        assert!(!upper.join("t/f.txt").exists());
    }
}

fn tar_of(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, name, data).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn copies_go_through_volumes_and_bind_mounts_running_and_stopped() {
    require_root!();
    let rig = Rig::new();
    let h = rig.env.tmp.path().join("bind-rw");
    let r = rig.env.tmp.path().join("bind-ro");
    fs::create_dir_all(h.join("sub")).unwrap();
    fs::create_dir_all(&r).unwrap();
    fs::write(h.join("host-file"), "from host\n").unwrap();
    fs::write(r.join("ro-file"), "ro\n").unwrap();
    std::os::unix::fs::symlink("../../../../../../../tmp", h.join("esc")).unwrap();
    let hv = format!("{}:/h", h.display());
    let rv = format!("type=bind,source={},target=/r,readonly", r.display());
    let script = "mkdir -p /srv && echo 'in the image' > /srv/image-file && \
        echo seed > /srv/data/seed && echo ready > /ready && sleep 1000";
    let out = rig
        .t(
            "ctr-run",
            &[
                "-d",
                "--name",
                "m",
                "--network",
                "none",
                "-v",
                "cpvol:/srv/data",
                "-v",
                &hv,
                "--mount",
                &rv,
                "--tmpfs",
                "/t",
                IMAGE,
                "sh",
                "-c",
                script,
            ],
        )
        .ok();
    out.json()["id"].as_str().expect("id");
    rig.wait_for_file("m", "/ready");
    let vol_data = rig.env.root.join("volumes/cpvol/_data");
    through_mounts(&rig, "m", false, &h, &r, &vol_data);
    through_mounts(&rig, "m", true, &h, &r, &vol_data);
}
