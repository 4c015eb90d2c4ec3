//! Issue 15, items 6 and 12 as a commit shows them, side by side with Docker 20.10 where a
//! private dockerd runs: what `img-commit CONTAINER` records of the container (Container,
//! ContainerConfig, Config.Image, Config.Hostname, the config as the container's with --change
//! applied), and a container's GraphDriver.Data.LowerDir listing its init layer first.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::docker::Dockerd;
use crate::support::rig::Rig;

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

/// What a commit of container `id` shows: the fields Docker's commit sets from the container.
struct Committed {
    container: Value,
    container_config: Value,
    config: Value,
}

fn committed(inspect: &Value) -> Committed {
    Committed {
        container: inspect["Container"].clone(),
        container_config: inspect["ContainerConfig"].clone(),
        config: inspect["Config"].clone(),
    }
}

/// Checks one side's commit of the container `id` (run as `touch /x` from `exp:1`, an image
/// with an ONBUILD trigger), with `CMD ["/y"]` applied.
fn check(side: &str, c: &Committed, id: &str) {
    let short = &id[..12];
    assert_eq!(c.container, id, "{side}: Container is the container's ID");
    let cc = &c.container_config;
    assert_eq!(
        cc["Cmd"],
        serde_json::json!(["touch", "/x"]),
        "{side}: {cc}"
    );
    assert_eq!(cc["Image"], "exp:1", "{side}: {cc}");
    assert_eq!(cc["Hostname"], short, "{side}: {cc}");
    assert_eq!(cc["Env"], serde_json::json!(["A=1"]), "{side}: {cc}");
    let cfg = &c.config;
    assert_eq!(
        cfg["Cmd"],
        serde_json::json!(["/y"]),
        "{side}: --change: {cfg}"
    );
    assert_eq!(cfg["Image"], "exp:1", "{side}: {cfg}");
    assert_eq!(cfg["Hostname"], short, "{side}: {cfg}");
    assert_eq!(cfg["Env"], serde_json::json!(["A=1"]), "{side}: {cfg}");
    assert_eq!(cfg["AttachStdout"], true, "{side}: {cfg}");
    // The image's ONBUILD triggers: not the container's, so not the commit's.
    assert_eq!(cc["OnBuild"], Value::Null, "{side}: {cc}");
    assert_eq!(cfg["OnBuild"], Value::Null, "{side}: {cfg}");
}

#[test]
fn a_commit_records_the_container_and_its_config_as_docker() {
    require_root!();
    let rig = Rig::with_image("exp:1");
    let tarball = rig.env.path("busybox.tar");
    let onbuild = ["-c", "ONBUILD RUN true"];
    rig.env
        .run(
            "img-import",
            &[onbuild[0], onbuild[1], tarball.to_str().unwrap(), "exp:1"],
        )
        .ok();
    let run = ["--network", "none", "-e", "A=1", "exp:1", "touch", "/x"];
    let mut args = vec!["--name", "c1"];
    args.extend_from_slice(&run);
    rig.run(&args).ok();
    let id = rig.inspect("c1")["Id"].as_str().unwrap().to_string();
    let made = rig
        .t("img-commit", &["-c", r#"CMD ["/y"]"#, "c1", "out:1"], 60)
        .ok()
        .json();
    let ours = rig.env.run("img-inspect", &["out:1"]).ok().json()[0].clone();
    assert_eq!(ours["Id"], made["id"]);
    let c = committed(&ours);
    check("berth", &c, &id);

    // The container's GraphDriver: its init layer first (Docker's `<id>-init/diff`), then the
    // image's layers, top first.
    let ctr = rig.inspect("c1");
    let lower: Vec<String> = ctr["GraphDriver"]["Data"]["LowerDir"]
        .as_str()
        .unwrap()
        .split(':')
        .map(str::to_string)
        .collect();
    let dir = rig.env.root.join("containers").join(&id);
    assert_eq!(
        lower[0],
        dir.join("init").display().to_string(),
        "{lower:?}"
    );
    assert!(std::path::Path::new(&lower[0]).join(".dockerenv").exists());
    let image_layers = ours["RootFS"]["Layers"].as_array().unwrap().len() - 1;
    assert_eq!(lower.len(), 1 + image_layers, "{lower:?}");
    assert!(
        lower[1..].iter().all(|l| l.contains("/snapshots/")),
        "{lower:?}"
    );

    let docker = match Dockerd::start() {
        Ok(d) => d,
        Err(why) => {
            crate::skip!("the Docker half: no Docker daemon: {why}");
        }
    };
    docker
        .docker(&[
            "import",
            onbuild[0],
            onbuild[1],
            tarball.to_str().unwrap(),
            "exp:1",
        ])
        .ok();
    let mut args = vec!["run", "--name", "c1"];
    args.extend_from_slice(&run);
    docker.docker(&args).ok();
    let did = docker
        .docker(&["inspect", "--format", "{{.Id}}", "c1"])
        .ok()
        .stdout
        .trim()
        .to_string();
    docker
        .docker(&["commit", "-c", r#"CMD ["/y"]"#, "c1", "out:1"])
        .ok();
    let theirs = docker.docker(&["image", "inspect", "out:1"]).ok().json()[0].clone();
    let d = committed(&theirs);
    check("docker", &d, &did);
    assert_eq!(keys(&c.container_config), keys(&d.container_config));
    assert_eq!(keys(&c.config), keys(&d.config));
    // The keys whose values do not depend on the machine or the ID agree.
    for k in [
        "User",
        "Tty",
        "OpenStdin",
        "AttachStdin",
        "WorkingDir",
        "Entrypoint",
    ] {
        assert_eq!(c.container_config[k], d.container_config[k], "{k}");
        assert_eq!(c.config[k], d.config[k], "{k}");
    }
    docker.docker(&["rm", "-f", "c1"]).ok();
}
