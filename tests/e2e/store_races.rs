//! The store under races and kills: a name never points at blobs that are gone, `kill -9` at any
//! moment of a writer leaves a valid store whose leftovers the next writer removes (and never a
//! live writer's), and eight writers at once lose no tag.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth::digest::Digest;
use serde_json::Value;

use crate::support::{run, Env, Out, Registry};

/// xorshift64*: a fixed-seed generator, so that a failing run can be replayed with
/// `BERTH_RACE_SEED`.
struct Rng(u64);

impl Rng {
    fn seeded(test: &str) -> Rng {
        let seed = std::env::var("BERTH_RACE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x005e_ed0f_be27);
        eprintln!("{test}: seed {seed} (set BERTH_RACE_SEED to replay another)");
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}

/// A directory of `files` files of `size` incompressible bytes each.
fn random_tree(dir: &Path, files: usize, size: usize, rng: &mut Rng) -> PathBuf {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    for i in 0..files {
        std::fs::write(dir.join(format!("data/f{i}")), rng.bytes(size)).unwrap();
    }
    dir.to_path_buf()
}

/// `dir` as a tarball at `out`.
fn tar_of(dir: &Path, out: &Path) -> PathBuf {
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    b.mode(tar::HeaderMode::Deterministic);
    b.append_dir_all(".", dir).unwrap();
    b.into_inner().unwrap().sync_all().unwrap();
    out.to_path_buf()
}

fn read_json(path: &Path) -> Value {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&data).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Asserts that the store is valid as a user would check it: index.json parses, every blob hashes
/// to its name, every entry's manifest, config and layers are there, and img-ls and img-inspect
/// work without a warning. Returns the names in the index, as img-ls shows them.
fn check_store(env: &Env, when: &str) -> BTreeSet<String> {
    let images = env.images();
    if !images.join("index.json").exists() {
        return BTreeSet::new();
    }
    let index = read_json(&images.join("index.json"));
    assert_eq!(index["schemaVersion"], 2, "{when}: {index}");
    let blobs = images.join("blobs/sha256");
    if let Ok(rd) = std::fs::read_dir(&blobs) {
        for e in rd {
            let e = e.unwrap();
            let data = std::fs::read(e.path()).unwrap();
            assert_eq!(
                Digest::sha256_of(&data).hex(),
                e.file_name().to_string_lossy(),
                "{when}: a blob that exists is whole"
            );
        }
    }
    let has = |d: &Value| blobs.join(&d.as_str().unwrap()[7..]).is_file();
    let mut named = Vec::new();
    for m in index["manifests"].as_array().unwrap() {
        assert!(has(&m["digest"]), "{when}: a dangling entry {m}");
        let manifest = read_json(&blobs.join(&m["digest"].as_str().unwrap()[7..]));
        assert!(has(&manifest["config"]["digest"]), "{when}: no config: {m}");
        for l in manifest["layers"].as_array().unwrap() {
            assert!(has(&l["digest"]), "{when}: no layer {l} of {m}");
        }
        if let Some(n) = m["annotations"]["org.opencontainers.image.ref.name"].as_str() {
            named.push(n.to_string());
        }
    }
    let ls = env.run("img-ls", &["--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(ls.code, 0, "{when}: {ls:?}");
    assert!(!ls.stderr.contains("warning"), "{when}: {ls:?}");
    for n in &named {
        env.run("img-inspect", &[n]).ok();
    }
    ls.lines()
        .into_iter()
        .filter(|l| !l.contains("<none>"))
        .map(str::to_string)
        .collect()
}

/// Temporary files and directories in the store: anything in the layout but its own files, and
/// snapshot directories being made.
fn leftovers(env: &Env) -> Vec<String> {
    let keep = [
        "oci-layout",
        "index.json",
        "index.json.lock",
        "blobs",
        ".berth-gc.lock",
        // Records kept next to the index: layer sizes, registries' digests (issue 15).
        ".berth-sizes",
        ".berth-repo-digests",
    ];
    let mut out = Vec::new();
    let list = |dir: PathBuf| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    out.extend(
        list(env.images())
            .into_iter()
            .filter(|n| !keep.contains(&n.as_str())),
    );
    // A record's temporary (a writer killed while writing it) is a leftover too.
    for dir in [".berth-sizes", ".berth-repo-digests"] {
        out.extend(
            list(env.images().join(dir))
                .into_iter()
                .filter(|n| n.starts_with('.'))
                .map(|n| format!("{dir}/{n}")),
        );
    }
    out.extend(
        list(env.root.join("snapshots"))
            .into_iter()
            .filter(|n| n.starts_with('.'))
            .map(|n| format!("snapshots/{n}")),
    );
    out.sort();
    out
}

/// A temporary name in the layout, once one appears (a writer has started its blob).
fn wait_for_temp(env: &Env, child: &mut Child) -> String {
    for _ in 0..3000 {
        if let Some(n) = leftovers(env)
            .into_iter()
            .find(|n| n.starts_with(".berth-"))
        {
            return n;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the writer ended early"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no temporary file appeared: {:?}", leftovers(env));
}

#[test]
fn a_name_left_pointing_at_missing_blobs_is_listed_and_removed() {
    let env = Env::new();
    let img = env.import_busybox("old:1");
    env.run("img-tag", &["old:1", "old:2"]).ok();
    env.run("img-tag", &["old:1", "old:3"]).ok();
    let blob = |d: &Value| {
        env.images()
            .join("blobs/sha256")
            .join(&d.as_str().unwrap()[7..])
    };
    // What an older berth could leave after a pull raced an img-rm: names, no manifest.
    std::fs::remove_file(blob(&img["digest"])).unwrap();

    let ls = env.run("img-ls", &[]).ok();
    assert!(ls.stdout.is_empty(), "{ls:?}");
    for n in ["old:1", "old:2", "old:3"] {
        assert!(
            ls.stderr.contains(&format!("skipping {n}: ")),
            "img-ls says which: {ls:?}"
        );
        assert!(
            ls.stderr.contains(&format!("(img-rm {n} removes it)")),
            "{ls:?}"
        );
    }
    env.run("img-inspect", &["old:1"]).fails_with(1, "missing");
    env.run("img-tag", &["old:1", "new:1"])
        .fails_with(1, "missing");

    let out = env.run("img-rm", &["old:1"]).ok().json();
    assert_eq!(out["untagged"], serde_json::json!(["old:1"]));
    let out = env.run("img-rm", &["-f", "old:2"]).ok().json();
    assert_eq!(out["untagged"], serde_json::json!(["old:2"]));
    // The last name goes with its entry; by digest, every name would have gone.
    let out = env
        .run("img-rm", &["-f", img["digest"].as_str().unwrap()])
        .ok()
        .json();
    assert_eq!(out["untagged"], serde_json::json!(["old:3"]));
    assert_eq!(out["deleted"], serde_json::json!([img["digest"]]));
    let index = read_json(&env.images().join("index.json"));
    assert_eq!(index["manifests"], serde_json::json!([]));
    let ls = env.run("img-ls", &[]).ok();
    assert!(ls.stderr.is_empty(), "{ls:?}");
    // Its config and layer, which nothing names now, go with a prune.
    let pruned = env.run("img-prune", &[]).ok().json();
    assert_eq!(pruned["blobs"].as_array().unwrap().len(), 2, "{pruned}");

    // A config gone: the manifest still says which layer was its, and it goes too.
    let img = env.import_busybox("half:1");
    let before = env.store_state().1;
    std::fs::remove_file(blob(&img["id"])).unwrap();
    env.run("img-ls", &[]).ok();
    let out = env.run("img-rm", &["-f", "half:1"]).ok().json();
    assert_eq!(out["untagged"], serde_json::json!(["half:1"]));
    assert_eq!(env.store_state().1, Vec::<String>::new(), "was {before:?}");
}

/// Pushes an image with `files` random files of `size` bytes as `REGISTRY/name` and returns the
/// reference.
fn push_random(reg: &Registry, name: &str, files: usize, size: usize, rng: &mut Rng) -> String {
    let src = Env::new();
    let tree = random_tree(&src.path("tree"), files, size, rng);
    let tar = tar_of(&tree, &src.path("layer.tar"));
    src.run("img-import", &[tar.to_str().unwrap(), "src:1"])
        .ok();
    let dest = format!("{}/{name}", reg.addr());
    src.run("img-push", &["src:1", &dest]).ok();
    dest
}

#[test]
fn pull_racing_rm_never_leaves_a_dangling_name() {
    require_program!("docker-registry");
    let reg = Registry::start();
    let mut rng = Rng::seeded("pull_racing_rm");
    let remote = push_random(&reg, "race/pullrm:1", 2, 200_000, &mut rng);
    let env = Env::new();
    env.run("img-pull", &["-q", "--no-unpack", &remote]).ok();
    let (mut kept, mut removed) = (0, 0);
    for i in 0..12 {
        let pull = env
            .cmd("img-pull")
            .args(["-q", "--no-unpack", &remote])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if i % 2 == 1 {
            std::thread::sleep(Duration::from_micros(rng.below(20_000)));
        }
        let rm = env.run("img-rm", &["-f", &remote]);
        assert!(
            rm.code == 0 || rm.stderr.contains("no such image"),
            "{rm:?}"
        );
        let out = pull.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a pull is not disturbed by an img-rm: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let names = check_store(&env, &format!("round {i}"));
        if names.is_empty() {
            removed += 1;
        } else {
            kept += 1;
        }
        // Whatever happened, the name can be removed and pulled again.
        let _ = env.run("img-rm", &["-f", &remote]);
        env.run("img-pull", &["-q", "--no-unpack", &remote]).ok();
    }
    eprintln!("pull_racing_rm: the name stayed {kept} times, was removed {removed} times");
    env.run("img-prune", &[]).ok();
    check_store(&env, "at the end");
}

#[test]
fn a_live_writers_temporary_files_survive_other_writers_and_a_dead_ones_do_not() {
    let env = Env::new();
    let mut rng = Rng::seeded("live_writers");
    let tree = random_tree(&env.path("tree"), 4, 500_000, &mut rng);
    let data = std::fs::read(tar_of(&tree, &env.path("layer.tar"))).unwrap();
    let small = tar_of(
        &random_tree(&env.path("small"), 1, 1000, &mut rng),
        &env.path("s.tar"),
    );

    // A writer that is alive and slow: its stdin is half written.
    let mut slow = env
        .cmd("img-import")
        .args(["-", "slow:1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = slow.stdin.take().unwrap();
    stdin.write_all(&data[..data.len() / 2]).unwrap();
    stdin.flush().unwrap();
    let temp = wait_for_temp(&env, &mut slow);
    // Other writers come and go meanwhile; each sweeps what dead writers left.
    env.run("img-import", &[small.to_str().unwrap(), "other:1"])
        .ok();
    env.run(
        "img-commit",
        &["--upper", tree.to_str().unwrap(), "other:2"],
    )
    .ok();
    assert!(
        env.images().join(&temp).exists(),
        "a live writer's {temp} stays"
    );
    stdin.write_all(&data[data.len() / 2..]).unwrap();
    drop(stdin);
    let out = slow.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(leftovers(&env), Vec::<String>::new());

    // The same writer killed: the next writer removes what it left.
    let mut killed = env
        .cmd("img-import")
        .args(["-", "killed:1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = killed.stdin.take().unwrap();
    stdin.write_all(&data[..data.len() / 2]).unwrap();
    stdin.flush().unwrap();
    let temp = wait_for_temp(&env, &mut killed);
    killed.kill().unwrap();
    killed.wait().unwrap();
    drop(stdin);
    // Readers leave it alone; a writer removes it.
    env.run("img-ls", &[]).ok();
    assert!(env.images().join(&temp).exists());
    env.run("img-import", &[small.to_str().unwrap(), "other:3"])
        .ok();
    assert_eq!(leftovers(&env), Vec::<String>::new());
    let names = check_store(&env, "at the end");
    assert!(
        names.contains("slow:1") && !names.contains("killed:1"),
        "{names:?}"
    );
}

/// One tool the kill test interrupts: how to run it, and how to undo a successful run so that
/// the next one has work to do again.
struct Victim {
    tool: &'static str,
    args: Vec<String>,
    name: String,
}

#[test]
fn kill_9_at_random_moments_leaves_a_valid_store_and_no_leftovers_after_a_rerun() {
    require_program!("docker-registry");
    const KILLS: usize = 15;
    let started = Instant::now();
    let mut rng = Rng::seeded("kill_9");
    let reg = Registry::start();
    let remote = push_random(&reg, "kill/pull:1", 8, 1_000_000, &mut rng);

    let inputs = Env::new();
    let tree = random_tree(&inputs.path("tree"), 12, 1_000_000, &mut rng);
    let tar = tar_of(&tree, &inputs.path("layer.tar"));
    // An archive of an image of its own (other blobs than the import's), gzipped so that the
    // load spools it.
    let other = random_tree(&inputs.path("other"), 12, 1_000_000, &mut rng);
    let other_tar = tar_of(&other, &inputs.path("other.tar"));
    inputs
        .run("img-import", &[other_tar.to_str().unwrap(), "kill/load:1"])
        .ok();
    let archive = inputs.path("archive.tar.gz");
    inputs
        .run(
            "img-save",
            &["-z", "kill/load:1", "-o", archive.to_str().unwrap()],
        )
        .ok();

    let s = |p: &Path| p.to_str().unwrap().to_string();
    let victims = [
        Victim {
            tool: "img-pull",
            args: vec!["-q".into(), remote.clone()],
            name: remote.clone(),
        },
        Victim {
            tool: "img-import",
            args: vec![s(&tar), "kill/import:1".into()],
            name: "kill/import:1".into(),
        },
        Victim {
            tool: "img-commit",
            args: vec!["--upper".into(), s(&tree), "kill/commit:1".into()],
            name: "kill/commit:1".into(),
        },
        Victim {
            tool: "img-load",
            args: vec!["-q".into(), "-i".into(), s(&archive)],
            name: "kill/load:1".into(),
        },
    ];
    let mut report = Vec::new();
    for v in &victims {
        let env = Env::new();
        let rerun = |when: &str| {
            let out = env.run(
                v.tool,
                &v.args.iter().map(String::as_str).collect::<Vec<_>>(),
            );
            assert_eq!(out.code, 0, "{} {when}: {out:?}", v.tool);
            assert_eq!(leftovers(&env), Vec::<String>::new(), "{} {when}", v.tool);
            let names = check_store(&env, &format!("{} {when}", v.tool));
            assert!(names.contains(&v.name), "{} {when}: {names:?}", v.tool);
        };
        let reset = || {
            env.run("img-rm", &["-f", &v.name]).ok();
            let pruned = env.run("img-prune", &["-a"]).ok().json();
            assert_eq!(pruned["leftovers"], serde_json::json!([]), "{pruned}");
        };
        // One full run sets the span the kills are spread over; a run from a clean store that
        // ends before its kill shortens it.
        let t = Instant::now();
        rerun("first");
        let mut span = t.elapsed().as_micros() as u64;
        reset();
        let (mut landed, mut tries, mut clean) = (0, 0, true);
        while landed < KILLS && tries < 3 * KILLS {
            tries += 1;
            let delay = rng.below(span);
            let t = Instant::now();
            let mut child = env
                .cmd(v.tool)
                .args(&v.args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_micros(delay));
            if let Some(status) = child.try_wait().unwrap() {
                // Too late: it finished, and must have succeeded.
                assert!(status.success(), "{} try {tries}: {status}", v.tool);
                if clean {
                    span = span.min(t.elapsed().as_micros() as u64);
                }
                assert_eq!(leftovers(&env), Vec::<String>::new(), "{}", v.tool);
                check_store(&env, &format!("{} finished (try {tries})", v.tool));
                reset();
                clean = true;
                continue;
            }
            child.kill().unwrap();
            child.wait().unwrap();
            landed += 1;
            let when = format!("killed after {delay} µs (try {tries})");
            check_store(&env, &when);
            // A kill now and then lands on the leftovers of the previous one.
            clean = landed % 3 != 2;
            if clean {
                rerun(&format!("rerun after being {when}"));
                reset();
            }
        }
        assert_eq!(landed, KILLS, "{}: the kills came too late", v.tool);
        rerun("at the end");
        report.push(format!(
            "{}: {landed} kills in {tries} runs, within {} ms",
            v.tool,
            span / 1000
        ));
    }
    eprintln!(
        "kill_9: {} in {:.1} s",
        report.join("; "),
        started.elapsed().as_secs_f64()
    );
}

/// What one worker of the concurrency test did: a name created or removed by a command that
/// succeeded, and when that command ran.
#[derive(Debug, Clone)]
struct Event {
    name: String,
    created: bool,
    start: Duration,
    end: Duration,
}

#[test]
fn eight_writers_at_once_lose_no_name() {
    require_program!("docker-registry");
    const ROUNDS: usize = 25;
    let started = Instant::now();
    let mut rng = Rng::seeded("eight_writers");
    let reg = Registry::start();
    let remote = push_random(&reg, "race/pulled:1", 2, 300_000, &mut rng);
    let env = Env::new();
    let tree = random_tree(&env.path("tree"), 2, 300_000, &mut rng);
    let tar = tar_of(&tree, &env.path("layer.tar"));
    let src = Env::new();
    let other = tar_of(
        &random_tree(&src.path("o"), 2, 300_000, &mut rng),
        &src.path("o.tar"),
    );
    src.run("img-import", &[other.to_str().unwrap(), "race/loaded:1"])
        .ok();
    let archive = env.path("archive.tar");
    src.run(
        "img-save",
        &["race/loaded:1", "-o", archive.to_str().unwrap()],
    )
    .ok();
    let familiar_remote = remote.clone();

    let events: Mutex<Vec<Event>> = Mutex::new(Vec::new());
    let counts: Mutex<BTreeMap<&str, (usize, usize)>> = Mutex::new(BTreeMap::new());
    let seeds: Vec<u64> = (0..8).map(|_| rng.next()).collect();
    let all_names = |i: usize| -> Vec<String> {
        vec![
            familiar_remote.clone(),
            format!("race/import:{i}"),
            format!("race/commit:{i}"),
            format!("race/tag:{i}"),
            "race/loaded:1".into(),
        ]
    };
    std::thread::scope(|s| {
        for (w, seed) in seeds.iter().enumerate() {
            let (env, events, counts) = (&env, &events, &counts);
            let (remote, tar, tree, archive) = (&remote, &tar, &tree, &archive);
            let all_names = &all_names;
            s.spawn(move || {
                let mut rng = Rng(*seed | 1);
                for i in 0..ROUNDS {
                    // Taggers, removers and the pruner are quick: spread them over the writers'
                    // run rather than have them finish before the first pull.
                    if (4..=6).contains(&w) {
                        std::thread::sleep(Duration::from_millis(rng.below(150)));
                    }
                    let (tool, args): (&str, Vec<String>) = match w {
                        0 | 1 => ("img-pull", vec!["-q".into(), remote.clone()]),
                        2 => (
                            "img-import",
                            vec![tar.to_str().unwrap().into(), format!("race/import:{i}")],
                        ),
                        3 => (
                            "img-commit",
                            vec![
                                "--upper".into(),
                                tree.to_str().unwrap().into(),
                                format!("race/commit:{i}"),
                            ],
                        ),
                        4 => {
                            let from = match rng.below(3) {
                                0 => remote.clone(),
                                1 => format!("race/import:{}", rng.below(i as u64 + 1)),
                                _ => "race/loaded:1".into(),
                            };
                            ("img-tag", vec![from, format!("race/tag:{i}")])
                        }
                        5 => {
                            // Half the time the pulled name, which two pullers keep taking.
                            let names = all_names(rng.below(i as u64 + 1) as usize);
                            let n = match rng.below(2 * names.len() as u64) as usize {
                                k if k < names.len() => names[k].clone(),
                                _ => remote.clone(),
                            };
                            ("img-rm", vec!["-f".into(), n])
                        }
                        6 => (
                            "img-prune",
                            if i % 2 == 0 {
                                vec![]
                            } else {
                                vec!["-a".into()]
                            },
                        ),
                        _ => (
                            "img-load",
                            vec!["-q".into(), "-i".into(), archive.to_str().unwrap().into()],
                        ),
                    };
                    let start = started.elapsed();
                    let out: Out = run(env.cmd(tool).args(&args));
                    let end = started.elapsed();
                    let ok = out.code == 0;
                    {
                        let mut c = counts.lock().unwrap();
                        let e = c.entry(tool).or_default();
                        if ok {
                            e.0 += 1;
                        } else {
                            e.1 += 1;
                        }
                    }
                    if !ok {
                        // A failure must be a clear one, and only one a race explains: a name
                        // that an img-rm removed first.
                        assert!(
                            out.stderr.contains(": error: ")
                                && out.stderr.contains("no such image"),
                            "{tool} {args:?}: {out:?}"
                        );
                        assert!(matches!(tool, "img-tag" | "img-rm"), "{tool}: {out:?}");
                        continue;
                    }
                    let mut ev = events.lock().unwrap();
                    let mut push = |name: String, created: bool| {
                        ev.push(Event {
                            name,
                            created,
                            start,
                            end,
                        })
                    };
                    match tool {
                        "img-rm" => {
                            for n in out.json()["untagged"].as_array().unwrap() {
                                push(n.as_str().unwrap().to_string(), false);
                            }
                        }
                        // A prune removes unused images with their names (issue 15, item 7).
                        "img-prune" => {
                            for n in out.json()["untagged"].as_array().unwrap() {
                                push(n.as_str().unwrap().to_string(), false);
                            }
                        }
                        "img-load" => push("race/loaded:1".into(), true),
                        "img-tag" => push(args[1].clone(), true),
                        "img-pull" => push(remote.clone(), true),
                        _ => push(args.last().unwrap().clone(), true),
                    }
                }
            });
        }
    });
    let events = events.into_inner().unwrap();
    let names = check_store(&env, "after the race");
    // A name must be there when a command created it and no removal of it may have come after
    // (none ended after that creation started); it must be gone when a removal came after every
    // creation of it.
    let by_name: BTreeSet<&str> = events.iter().map(|e| e.name.as_str()).collect();
    let (mut must_have, mut must_not) = (0, 0);
    for n in by_name {
        let of: Vec<&Event> = events.iter().filter(|e| e.name == n).collect();
        let created = of.iter().filter(|e| e.created);
        let removed = of.iter().filter(|e| !e.created);
        if created
            .clone()
            .any(|c| removed.clone().all(|r| r.end < c.start))
        {
            assert!(
                names.contains(n),
                "{n} was created and not removed: {of:#?}"
            );
            must_have += 1;
        } else if removed
            .clone()
            .any(|r| created.clone().all(|c| c.end < r.start))
        {
            assert!(
                !names.contains(n),
                "{n} was removed after it was created: {of:#?}"
            );
            must_not += 1;
        }
    }
    // Nothing half-written stays once the writers are done and the next one has swept.
    env.run("img-import", &[tar.to_str().unwrap(), "race/last:1"])
        .ok();
    assert_eq!(leftovers(&env), Vec::<String>::new());
    env.run("img-prune", &["-a"]).ok();
    check_store(&env, "after a last prune");
    let counts = counts.into_inner().unwrap();
    let total: usize = counts.values().map(|(a, b)| a + b).sum();
    eprintln!(
        "eight_writers: {total} commands ({}) in {:.1} s; {must_have} names checked present, {must_not} absent",
        counts
            .iter()
            .map(|(t, (ok, failed))| format!("{t} {ok} ok {failed} failed"))
            .collect::<Vec<_>>()
            .join(", "),
        started.elapsed().as_secs_f64()
    );
}
