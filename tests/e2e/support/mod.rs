//! Test support shared by every end-to-end test: a fresh root per test, the built binaries,
//! fixture root filesystems (busybox-static, and a cached debootstrap'd Debian), a loopback
//! `docker-registry` that stops when the test ends (plain, TLS, htpasswd or token auth:
//! `registry_auth`), and a fake registry that misbehaves on purpose (`fake_registry`).
//!
//! Tests that need something this machine lacks (root, skopeo, umoci, debootstrap) skip with a
//! message, unless `BERTH_TESTS_REQUIRE_ALL=1` (set by CI) turns every such skip into a failure,
//! so that a missing install step can never make CI green by skipping.

#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

pub mod docker;
pub mod fake_registry;
pub mod http;
pub mod oci;
pub mod proxy;
pub mod registry_auth;
pub mod rig;

pub use registry_auth::{Registry, RegistryOptions, TokenAuth};

/// The directory holding the built tools: `BERTH_BIN_DIR`, or the `target/<profile>` this test
/// binary was built into, where each tool is made a link to the multicall binary `berth` (as
/// `make links` does) the first time it is asked for.
pub fn bin_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(d) = std::env::var_os("BERTH_BIN_DIR") {
            return PathBuf::from(d);
        }
        let exe = std::env::current_exe().expect("current exe");
        // target/<profile>/deps/e2e-<hash>
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target dir")
            .to_path_buf();
        link_tools(&dir);
        dir
    })
    .clone()
}

/// Makes `DIR/TOOL` a link to `berth` beside it for every tool, replacing what an older build
/// left there (the tools were once separate binaries). The monitor is found the same way, as
/// `berth-monitor` beside the binary. Nothing is done before `berth` is built (`bin` says so).
fn link_tools(dir: &Path) {
    if !dir.join("berth").exists() {
        return;
    }
    for tool in berth_multicall::TOOLS {
        let link = dir.join(tool.name);
        if std::fs::read_link(&link).is_ok_and(|t| t == Path::new("berth")) {
            continue;
        }
        // Made aside and renamed over, so that a concurrent run never sees no tool.
        let tmp = dir.join(format!(".{}.{}.tmp", tool.name, std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink("berth", &tmp)
            .and_then(|()| std::fs::rename(&tmp, &link))
            .unwrap_or_else(|e| panic!("link {} to berth: {e}", link.display()));
    }
}

pub fn bin(tool: &str) -> PathBuf {
    let p = bin_dir().join(tool);
    assert!(
        p.exists(),
        "{} is not built: run `cargo build --workspace --bins` first (or `make test`)",
        p.display()
    );
    p
}

/// Skips the test (returns from it) with a message, or fails it under BERTH_TESTS_REQUIRE_ALL.
#[macro_export]
macro_rules! skip {
    ($($why:tt)*) => {{
        let why = format!($($why)*);
        if std::env::var_os("BERTH_TESTS_REQUIRE_ALL").is_some_and(|v| v == "1") {
            panic!("required by BERTH_TESTS_REQUIRE_ALL=1 but unavailable: {why}");
        }
        eprintln!("SKIPPED: {why}");
        return;
    }};
}

/// A private dockerd for a side-by-side test, or the test returns: a machine where dockerd cannot
/// run (no kernel support, no cgroups) skips the Docker half even under BERTH_TESTS_REQUIRE_ALL,
/// as these checks are asked for "where Docker is available".
#[macro_export]
macro_rules! require_dockerd {
    () => {
        match $crate::support::docker::Dockerd::start() {
            Ok(d) => d,
            Err(why) => {
                eprintln!("SKIPPED: no Docker daemon: {why}");
                return;
            }
        }
    };
}

/// Skips unless running as root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::support::is_root() {
            $crate::skip!("this test needs root");
        }
    };
}

/// Skips unless `prog` is on PATH.
#[macro_export]
macro_rules! require_program {
    ($prog:expr) => {
        if !$crate::support::have($prog) {
            $crate::skip!("{} is not installed", $prog);
        }
    };
}

pub fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

pub fn have(prog: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
        .unwrap_or(false)
}

/// What a tool printed and how it exited.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(self) -> Out {
        assert_eq!(self.code, 0, "expected success, got {self:#?}");
        self
    }

    /// Asserts exit code 1 and that stderr says `fragment`, in `TOOL: error: …` form.
    pub fn fails_with(self, code: i32, fragment: &str) -> Out {
        assert_eq!(self.code, code, "expected exit {code}, got {self:#?}");
        assert!(
            self.stderr.contains(fragment),
            "stderr should mention {fragment:?}: {self:#?}"
        );
        assert!(
            self.stderr.contains(": error: "),
            "errors read TOOL: error: …: {self:#?}"
        );
        self
    }

    /// stdout as one JSON value.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {:?}", self.stdout))
    }

    /// stdout as JSON Lines.
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
            .collect()
    }

    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// A fresh berth root for one test, removed when the test ends.
pub struct Env {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        let tmp = tempfile::Builder::new()
            .prefix("berth-e2e-")
            .tempdir()
            .expect("tempdir");
        let root = tmp.path().join("root");
        Env { tmp, root }
    }

    /// A path inside this test's temporary directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    pub fn images(&self) -> PathBuf {
        self.root.join("images")
    }

    /// A blob of the store, by digest (`sha256:…`).
    pub fn blob(&self, digest: &str) -> Vec<u8> {
        let hex = digest.strip_prefix("sha256:").unwrap();
        std::fs::read(self.images().join("blobs/sha256").join(hex)).unwrap()
    }

    /// An image's config as stored (the blob its ID names), by the name img-inspect takes.
    pub fn config_of(&self, name: &str) -> serde_json::Value {
        let id = self.run("img-inspect", &[name]).ok().json()[0]["Id"]
            .as_str()
            .unwrap()
            .to_string();
        serde_json::from_slice(&self.blob(&id)).unwrap()
    }

    /// A command for `tool` with this root. The first container or network tool a test runs
    /// moves its thread into a network namespace of its own ([`own_network_namespace`]).
    pub fn cmd(&self, tool: &str) -> Command {
        if (tool.starts_with("ctr-") || tool.starts_with("net-"))
            && is_root()
            && !in_own_network_namespace()
        {
            own_network_namespace();
        }
        let mut c = Command::new(bin(tool));
        c.env("BERTH_ROOT", &self.root)
            .env_remove("XDG_DATA_HOME")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, tool: &str, args: &[&str]) -> Out {
        run(self.cmd(tool).args(args))
    }

    /// Runs with `input` on stdin.
    pub fn run_stdin(&self, tool: &str, args: &[&str], input: &[u8]) -> Out {
        run_with_stdin(self.cmd(tool).args(args), input)
    }

    /// Imports the busybox fixture as `reference` and returns img-import's JSON.
    pub fn import_busybox(&self, reference: &str) -> Value {
        let tarball = busybox_tarball(&self.path("busybox.tar"), Compression::None);
        self.run("img-import", &[tarball.to_str().unwrap(), reference])
            .ok()
            .json()
    }

    /// A snapshot of the store: index.json and the blob names, to check that a failure changed
    /// nothing.
    pub fn store_state(&self) -> (Vec<u8>, Vec<String>) {
        let index = std::fs::read(self.images().join("index.json")).unwrap_or_default();
        let mut blobs: Vec<String> = std::fs::read_dir(self.images().join("blobs/sha256"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        blobs.sort();
        (index, blobs)
    }
}

pub fn run(c: &mut Command) -> Out {
    let out = c.output().unwrap_or_else(|e| panic!("running {c:?}: {e}"));
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Where Debian's busybox-static puts its binary.
pub fn busybox_binary() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("busybox is not installed: apt-get install busybox-static");
}

/// A busybox root filesystem: /bin/busybox with a symlink per applet, /etc/passwd and group,
/// and the usual empty directories.
pub fn busybox_rootfs(dir: &Path) -> PathBuf {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let bb = busybox_binary();
    for d in ["bin", "etc", "tmp", "root", "proc", "sys", "dev", "var/www"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::copy(&bb, dir.join("bin/busybox")).unwrap();
    std::fs::set_permissions(
        dir.join("bin/busybox"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(dir.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let list = run(Command::new(&bb).arg("--list"));
    for applet in list
        .stdout
        .lines()
        .filter(|a| !a.is_empty() && *a != "busybox")
    {
        let _ = symlink("busybox", dir.join("bin").join(applet));
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(dir.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    std::fs::write(dir.join("var/www/index.html"), "hello from berth\n").unwrap();
    dir.to_path_buf()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// The busybox root filesystem as a tarball at `path`, in a fixed order and with fixed mtimes
/// so the same fixture always gives the same digest.
pub fn busybox_tarball(path: &Path, compression: Compression) -> PathBuf {
    let rootfs = busybox_rootfs(&path.with_extension("rootfs"));
    let mut b = tar::Builder::new(Vec::new());
    b.mode(tar::HeaderMode::Deterministic);
    b.follow_symlinks(false);
    let mut paths: Vec<PathBuf> = Vec::new();
    collect(&rootfs, &rootfs, &mut paths);
    paths.sort();
    for rel in paths {
        b.append_path_with_name(rootfs.join(&rel), &rel).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let data = match compression {
        Compression::None => tar,
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&tar).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => zstd::encode_all(&tar[..], 3).unwrap(),
    };
    std::fs::write(path, data).unwrap();
    path.to_path_buf()
}

fn collect(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        out.push(p.strip_prefix(base).unwrap().to_path_buf());
        if e.file_type().unwrap().is_dir() {
            collect(base, &p, out);
        }
    }
}

/// A minimal Debian bookworm root filesystem as a gzip tarball, made once with debootstrap and
/// cached (in `BERTH_TEST_CACHE`, default /var/cache/berth-tests) for later runs. None when this
/// machine cannot make one (not root, no debootstrap, no mirror).
pub fn debian_tarball() -> Option<PathBuf> {
    static TARBALL: OnceLock<Option<PathBuf>> = OnceLock::new();
    TARBALL
        .get_or_init(|| {
            let cache = std::env::var_os("BERTH_TEST_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/var/cache/berth-tests"));
            let tarball = cache.join("bookworm-minbase.tar.gz");
            if tarball.exists() {
                return Some(tarball);
            }
            if !is_root() || !have("debootstrap") {
                return None;
            }
            std::fs::create_dir_all(&cache).ok()?;
            let dir = cache.join("bookworm.tmp");
            let _ = std::fs::remove_dir_all(&dir);
            let out = run(Command::new("debootstrap")
                .args(["--variant=minbase", "bookworm"])
                .arg(&dir));
            if out.code != 0 {
                eprintln!("debootstrap failed: {}", out.stderr);
                return None;
            }
            let tmp = cache.join("bookworm-minbase.tar.gz.tmp");
            let out = run(Command::new("tar")
                .arg("-C")
                .arg(&dir)
                .args(["--numeric-owner", "--xattrs", "-czf"])
                .arg(&tmp)
                .arg("."));
            let _ = std::fs::remove_dir_all(&dir);
            if out.code != 0 {
                eprintln!("tar failed: {}", out.stderr);
                return None;
            }
            std::fs::rename(&tmp, &tarball).ok()?;
            Some(tarball)
        })
        .clone()
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs a command with `input` on its stdin (written from a thread, so a tool that answers before
/// it has read everything cannot deadlock the test) and collects its output.
pub fn run_with_stdin(c: &mut Command, input: &[u8]) -> Out {
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("writer");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Moves the calling test thread, and every process it starts from now on (tools, monitors,
/// containers), into a network namespace of its own with `lo` up: bridges, nftables rules and
/// traffic stay there, and tests do not see each other's ports. Namespaces are per thread, and
/// each test runs on a thread of its own.
pub fn own_network_namespace() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
    let st = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .expect("ip link set lo up");
    assert!(st.success(), "ip link set lo up failed");
}

/// Whether this thread is in another network namespace than the process's main thread (which
/// stays in the one the tests started in). Threads a test spawns inherit its namespace.
pub fn in_own_network_namespace() -> bool {
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &str| std::fs::metadata(p).map(|m| m.ino()).unwrap_or(0);
    ino("/proc/thread-self/ns/net") != ino("/proc/self/ns/net")
}

/// Every entry under `root`: (relative path, `dir`, `link TARGET` or `file DIGEST`), sorted, to
/// compare two unpacked trees.
pub fn file_tree(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            let ft = e.file_type().unwrap();
            let what = if ft.is_symlink() {
                format!("link {}", std::fs::read_link(&p).unwrap().display())
            } else if ft.is_dir() {
                walk(base, &p, out);
                "dir".to_string()
            } else {
                format!(
                    "file {}",
                    berth::digest::Digest::sha256_of(&std::fs::read(&p).unwrap())
                )
            };
            out.push((rel, what));
        }
    }
    walk(root, root, &mut out);
    out.sort();
    out
}

/// An OCI layout in `dir` holding one image for linux/amd64 and one for linux/arm64 (busybox, a
/// label and a history entry per platform) under an index tagged `multi`: (index digest, amd64
/// image ID, arm64 image ID).
pub fn two_platform_layout(env: &Env, dir: &Path) -> (String, String, String) {
    let layout = berth::store::Layout::open_or_create(dir).unwrap();
    let tar = busybox_tarball(&env.path("mp.tar"), Compression::None);
    let layer =
        berth::layer::import_tar(&layout, std::fs::File::open(&tar).unwrap(), "mp").unwrap();
    let mut children = Vec::new();
    let mut ids = Vec::new();
    for arch in ["amd64", "arm64"] {
        let config = serde_json::json!({
            "architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
            "config": {"Cmd": ["sh"], "Labels": {"arch": arch}},
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id.to_string()]},
            "history": [{"created": "2024-01-01T00:00:00Z", "created_by": format!("build {arch}")}]
        });
        let (desc, id) = berth::image::write_image(
            &layout,
            &berth::image::ImageConfig::from_value(config).unwrap(),
            vec![layer.descriptor.clone()],
        )
        .unwrap();
        let mut d = desc;
        d.set_platform(
            serde_json::from_value(serde_json::json!({"os": "linux", "architecture": arch}))
                .unwrap(),
        );
        children.push(d);
        ids.push(id.to_string());
    }
    let index = berth::oci_spec::image::ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(berth::oci_spec::image::MediaType::ImageIndex)
        .manifests(children)
        .build()
        .unwrap();
    let bytes = serde_json::to_vec(&index).unwrap();
    let digest = layout.put_blob_bytes(&bytes).unwrap();
    let desc = berth::oci_spec::image::Descriptor::new(
        berth::oci_spec::image::MediaType::ImageIndex,
        bytes.len() as u64,
        &digest,
    );
    berth::image::tag_raw(&layout, "multi", &desc).unwrap();
    (digest.to_string(), ids[0].clone(), ids[1].clone())
}
