//! Containers are made, listed, inspected and renamed: ctr-create, ctr-ls, ctr-inspect and
//! ctr-rename over an imported busybox image, and the config.json ctr-create writes runs under
//! runc as it is.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{run, Env};

const IMAGE: &str = "localhost/ctr-test:1";

/// A root with the busybox image imported; returns the image ID.
fn with_image(env: &Env) -> String {
    env.import_busybox(IMAGE)["id"]
        .as_str()
        .expect("img-import prints the id")
        .to_string()
}

fn containers_dir(env: &Env) -> PathBuf {
    env.root.join("containers")
}

/// The container directories (64-hex names) under the root.
fn container_dirs(env: &Env) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(containers_dir(env))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.len() == 64)
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn create(env: &Env, args: &[&str]) -> (String, String) {
    let out = env.run("ctr-create", args).ok();
    let v = out.json();
    (
        v["id"].as_str().unwrap().to_string(),
        v["name"].as_str().unwrap().to_string(),
    )
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn ctr_create_makes_a_record_and_a_bundle() {
    require_root!();
    let env = Env::new();
    let image_id = with_image(&env);
    let (id, name) = create(
        &env,
        &[
            "--name", "one", "-e", "A=1", "-l", "tier=web", "-w", "/tmp", IMAGE, "sh", "-c",
            "echo hi",
        ],
    );
    assert_eq!(name, "one");
    assert_eq!(id.len(), 64);
    let dir = containers_dir(&env).join(&id);
    for f in [
        "config.json",
        "state.json",
        "hostname",
        "hosts",
        "resolv.conf",
        "rootfs",
        "upper",
        "work",
    ] {
        assert!(dir.join(f).exists(), "{f} is missing");
    }
    assert!(dir.join(format!("{id}-json.log")).is_file());
    assert_eq!(
        std::fs::read_to_string(dir.join("hostname")).unwrap(),
        format!("{}\n", &id[..12])
    );
    let hosts = std::fs::read_to_string(dir.join("hosts")).unwrap();
    assert!(hosts.starts_with("127.0.0.1\tlocalhost\n"), "{hosts}");
    let resolv = std::fs::read_to_string(dir.join("resolv.conf")).unwrap();
    assert!(resolv.contains("nameserver"), "{resolv}");
    assert!(!resolv.contains("nameserver 127."), "{resolv}");

    let spec = read_json(&dir.join("config.json"));
    assert_eq!(
        spec["process"]["args"],
        serde_json::json!(["sh", "-c", "echo hi"])
    );
    assert_eq!(spec["process"]["cwd"], "/tmp");
    assert_eq!(spec["root"]["path"], "rootfs");
    assert_eq!(spec["hostname"], &id[..12]);
    assert_eq!(spec["linux"]["cgroupsPath"], format!("/berth/{id}"));
    let env_list: Vec<&str> = spec["process"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(env_list.contains(&"A=1"));
    assert!(env_list.contains(&"HOME=/root"));
    assert!(env_list.iter().any(|e| e.starts_with("PATH=")));

    let rec = read_json(&dir.join("state.json"));
    assert_eq!(rec["State"]["Status"], "created");
    assert_eq!(rec["Image"], image_id.as_str());
    assert_eq!(rec["Config"]["Image"], IMAGE);
    assert_eq!(rec["Config"]["Labels"]["tier"], "web");
    assert_eq!(rec["GraphDriver"]["Name"], "overlay");
    let lower = rec["GraphDriver"]["Lower"].as_array().unwrap();
    assert!(!lower.is_empty());
    for l in lower {
        let p = Path::new(l.as_str().unwrap());
        assert!(
            p.starts_with(env.root.join("snapshots")) && p.is_dir(),
            "{p:?}"
        );
    }
}

#[test]
fn ctr_ls_and_ctr_inspect_show_created_containers() {
    require_root!();
    let env = Env::new();
    let image_id = with_image(&env);
    let (id, _) = create(&env, &["--name", "web", IMAGE, "httpd", "-f"]);
    let (id2, auto_name) = create(&env, &[IMAGE, "sh"]);
    assert!(auto_name.contains('_'), "a Docker-like name: {auto_name}");

    // Only running containers by default.
    assert_eq!(env.run("ctr-ls", &[]).ok().stdout, "");
    let rows = env.run("ctr-ls", &["-a"]).ok().json_lines();
    assert_eq!(rows.len(), 2);
    // Newest first.
    assert_eq!(rows[0]["ID"], &id2[..12]);
    let web = &rows[1];
    assert_eq!(web["Names"], "web");
    assert_eq!(web["Status"], "Created");
    assert_eq!(web["State"], "created");
    assert_eq!(web["Image"], IMAGE);
    assert_eq!(web["Command"], "\"httpd -f\"");
    assert!(web["RunningFor"].as_str().unwrap().ends_with("ago"));
    let q = env.run("ctr-ls", &["-aq", "--no-trunc"]).ok();
    assert_eq!(q.lines(), vec![id2.as_str(), id.as_str()]);
    let f = env
        .run("ctr-ls", &["--filter", "name=we", "--format", "{{.Names}}"])
        .ok();
    assert_eq!(f.stdout, "", "name filters keep the running-only default");
    let f = env
        .run(
            "ctr-ls",
            &[
                "-a",
                "--filter",
                "name=^web$",
                "--format",
                "{{.Names}} {{.Status}}",
            ],
        )
        .ok();
    assert_eq!(f.stdout, "web Created\n");
    let f = env
        .run("ctr-ls", &["--filter", "status=created", "-q"])
        .ok();
    assert_eq!(f.lines().len(), 2);
    let f = env
        .run(
            "ctr-ls",
            &["-a", "--filter", &format!("ancestor={image_id}"), "-q"],
        )
        .ok();
    assert_eq!(f.lines().len(), 2);
    let l = env.run("ctr-ls", &["-l", "--format", "{{.ID}}"]).ok();
    assert_eq!(l.stdout.trim(), &id2[..12]);
    let t = env.run("ctr-ls", &["-a", "--format", "table"]).ok();
    assert!(t.stdout.starts_with("CONTAINER ID"), "{}", t.stdout);
    env.run("ctr-ls", &["--filter", "status=bogus"])
        .fails_with(2, "status");

    // Inspect by name, by ID prefix, and a missing one: found ones are printed, exit 1.
    let out = env.run("ctr-inspect", &["web", &id2[..8], "nope"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stderr.contains("no such container: nope"), "{out:#?}");
    let arr = out.json();
    let arr = arr.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    let c = &arr[0];
    assert_eq!(c["Id"], id.as_str());
    assert_eq!(c["Name"], "/web");
    assert_eq!(c["Path"], "httpd");
    assert_eq!(c["Args"], serde_json::json!(["-f"]));
    assert_eq!(c["State"]["Status"], "created");
    assert_eq!(c["Image"], image_id.as_str());
    assert_eq!(c["Platform"], "linux");
    assert_eq!(c["Driver"], "overlay");
    assert_eq!(c["HostConfig"]["NetworkMode"], "bridge");
    // Created, not started: on the default network, no address yet (as Docker).
    let net = &c["NetworkSettings"];
    assert_eq!(net["IPAddress"], "", "{net:#}");
    assert!(net["Networks"]["bridge"].is_object(), "{net:#}");
    assert_eq!(c["Config"]["Cmd"], serde_json::json!(["httpd", "-f"]));
    assert!(c["GraphDriver"]["Data"]["LowerDir"]
        .as_str()
        .unwrap()
        .contains("/snapshots/"));
    assert!(c["LogPath"].as_str().unwrap().ends_with("-json.log"));
    assert!(c["NetworkSettings"]["Networks"].is_object());
    assert_eq!(arr[1]["Id"], id2.as_str());
    let f = env
        .run(
            "ctr-inspect",
            &["--format", "{{.Name}} {{.State.Status}}", "web"],
        )
        .ok();
    assert_eq!(f.stdout, "/web created\n");
}

#[test]
fn names_are_unique_and_renames_follow_dockers_rules() {
    require_root!();
    let env = Env::new();
    with_image(&env);
    let (id, _) = create(&env, &["--name", "one", IMAGE, "true"]);
    let before = container_dirs(&env);
    let out = env.run("ctr-create", &["--name", "one", IMAGE, "true"]);
    out.fails_with(
        1,
        &format!(
            "Conflict. The container name \"/one\" is already in use by container \"{id}\". \
             You have to remove (or rename) that container to be able to reuse that name."
        ),
    );
    assert_eq!(
        container_dirs(&env),
        before,
        "a refused create leaves nothing"
    );
    env.run("ctr-create", &["--name", "_bad", IMAGE, "true"])
        .fails_with(1, "Invalid container name (_bad)");

    let (id2, _) = create(&env, &["--name", "two", IMAGE, "true"]);
    let r = env.run("ctr-rename", &["one", "uno"]).ok().json();
    assert_eq!(r["id"], id.as_str());
    assert_eq!(r["name"], "uno");
    env.run("ctr-inspect", &["one"])
        .fails_with(1, "no such container: one");
    let f = env
        .run("ctr-inspect", &["--format", "{{.Name}}", &id[..10]])
        .ok();
    assert_eq!(f.stdout, "/uno\n");
    env.run("ctr-rename", &["uno", "two"])
        .fails_with(1, &format!("already in use by container \"{id2}\""));
    env.run("ctr-rename", &["uno", "uno"])
        .fails_with(1, "same name");
    env.run("ctr-rename", &["uno", "a/b"])
        .fails_with(1, "Invalid container name");
    env.run("ctr-rename", &["nope", "x"])
        .fails_with(1, "no such container: nope");
    // The freed name can be reused.
    create(&env, &["--name", "one", IMAGE, "true"]);
}

#[test]
fn bad_input_leaves_nothing_behind() {
    require_root!();
    let env = Env::new();
    with_image(&env);
    // (--pull never: an image not in the store would be pulled, from Docker Hub here.)
    let out = env.run(
        "ctr-create",
        &["--pull", "never", "--name", "x", "no-such-image:1", "true"],
    );
    out.fails_with(1, "no such image: no-such-image:1");
    assert!(container_dirs(&env).is_empty());
    env.run("ctr-create", &["--network", "nosuchnet", IMAGE, "true"])
        .fails_with(1, "network nosuchnet not found");
    env.run(
        "ctr-create",
        &["--network", "host", "--ip", "10.1.2.3", IMAGE, "true"],
    )
    .fails_with(1, "user-defined networks only");
    env.run("ctr-create", &[IMAGE])
        .fails_with(1, "no command specified");
    env.run("ctr-create", &["-u", "nosuchuser", IMAGE, "true"])
        .fails_with(1, "unable to find user nosuchuser");
    env.run(
        "ctr-create",
        &["--ulimit", "nofile=99999999", IMAGE, "true"],
    )
    .fails_with(1, "hard limit");
    assert!(container_dirs(&env).is_empty());
}

#[test]
fn ctr_create_reads_the_image_from_the_previous_tool() {
    require_root!();
    let env = Env::new();
    let imported = env.import_busybox(IMAGE);
    let out = env
        .run_stdin(
            "ctr-create",
            &["-", "echo", "hi"],
            imported.to_string().as_bytes(),
        )
        .ok();
    let id = out.json()["id"].as_str().unwrap().to_string();
    let c = env.run("ctr-inspect", &[&id]).ok().json();
    assert_eq!(c[0]["Image"], imported["id"]);
}

#[test]
fn a_running_record_whose_process_is_gone_is_shown_exited() {
    require_root!();
    let env = Env::new();
    with_image(&env);
    let (id, _) = create(&env, &["--name", "ghost", IMAGE, "true"]);
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let path = containers_dir(&env).join(&id).join("state.json");
    let mut rec = read_json(&path);
    rec["State"]["Status"] = "running".into();
    rec["State"]["Running"] = true.into();
    rec["State"]["Pid"] = pid.into();
    rec["State"]["StartedAt"] = "2026-01-01T00:00:00Z".into();
    std::fs::write(&path, serde_json::to_vec(&rec).unwrap()).unwrap();
    assert_eq!(env.run("ctr-ls", &["-q"]).ok().stdout, "");
    let rows = env.run("ctr-ls", &["-a"]).ok().json_lines();
    assert_eq!(rows[0]["State"], "exited");
    assert!(
        rows[0]["Status"].as_str().unwrap().starts_with("Exited ("),
        "{rows:?}"
    );
    let c = env.run("ctr-inspect", &["ghost"]).ok().json();
    assert_eq!(c[0]["State"]["Status"], "exited");
    assert_eq!(c[0]["State"]["Running"], false);
}

/// The config.json ctr-create writes is a bundle runc runs as it is, once the overlay is mounted.
#[test]
fn runc_runs_the_bundle() {
    require_root!();
    require_program!("runc");
    let env = Env::new();
    with_image(&env);
    let (id, _) = create(
        &env,
        &[
            "--runtime",
            "runc",
            "-u",
            "nobody",
            "-h",
            "boxed",
            IMAGE,
            "sh",
            "-c",
            "echo hello; id -u; hostname; cat /etc/hostname",
        ],
    );
    let dir = containers_dir(&env).join(&id);
    let rec = read_json(&dir.join("state.json"));
    let lower: Vec<&str> = rec["GraphDriver"]["Lower"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        dir.join("upper").display(),
        dir.join("work").display()
    );
    let rootfs = dir.join("rootfs");
    let m = run(Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &opts])
        .arg(&rootfs));
    if m.code != 0 {
        crate::skip!("overlayfs cannot be mounted here: {}", m.stderr);
    }
    let state = env.path("runc-state");
    let out = run(Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle"])
        .arg(&dir)
        .arg(format!("berth-e2e-{}", &id[..12]))
        .stdin(std::process::Stdio::null()));
    let _ = run(Command::new("umount").arg(&rootfs));
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.stdout, "hello\n65534\nboxed\nboxed\n");
}
