//! Issue 15, items 10 and 13: `ctr-ls`'s filters (exited, before, since, volume, network, health),
//! `{{.Label "k"}}`, `-s` and unknown template fields, and `ctr-wait`'s bare exit code, as Docker's.
//! The same steps run on berth and, where the machine has one, on a private dockerd
//! (support::docker): both must give the answers written here, which are what Docker 20.10 gave.

use std::path::Path;

use serde_json::Value;

use crate::support::docker::Dockerd;
use crate::support::rig::{Rig, IMAGE};
use crate::support::Out;

/// One side of the comparison: berth's tools on a rig, or the docker CLI on a private daemon.
enum Side<'a> {
    Berth(&'a Rig),
    Docker(&'a Dockerd),
}

impl Side<'_> {
    fn name(&self) -> &'static str {
        match self {
            Side::Berth(_) => "berth",
            Side::Docker(_) => "docker",
        }
    }

    /// `docker CMD ARGS` or berth's tool for CMD (`ps` → ctr-ls, `run` → ctr-run, …).
    fn t(&self, cmd: &str, args: &[&str]) -> Out {
        match self {
            Side::Berth(rig) => {
                let tool = match cmd {
                    "ps" => "ctr-ls",
                    "run" => "ctr-run",
                    "create" => "ctr-create",
                    "wait" => "ctr-wait",
                    "rm" => "ctr-rm",
                    "inspect" => "ctr-inspect",
                    "volume create" => "vol-create",
                    "volume ls" => "vol-ls",
                    other => panic!("no berth tool for {other}"),
                };
                rig.t(tool, args, 60)
            }
            Side::Docker(d) => {
                let mut all: Vec<&str> = cmd.split(' ').collect();
                all.extend_from_slice(args);
                d.docker(&all)
            }
        }
    }

    /// The names `ps ARGS --format {{.Names}}` lists, in order.
    fn names(&self, args: &[&str]) -> Vec<String> {
        let mut all = args.to_vec();
        all.extend(["--format", "{{.Names}}"]);
        let out = self.t("ps", &all);
        assert_eq!(out.code, 0, "{}: ps {args:?}: {out:#?}", self.name());
        out.stdout.lines().map(str::to_string).collect()
    }
}

/// The same four containers on a side, oldest first: c1 exited 3, c2 exited 0 (label tier=web,
/// volume `data` at /data, 1000 bytes written), c3 created, c4 running on the host network.
fn make_containers(side: &Side) {
    let run = |args: &[&str]| {
        let out = side.t("run", args);
        assert!(out.code == 0 || out.code == 3, "{}: {out:#?}", side.name());
    };
    run(&[
        "--name",
        "c1",
        "--network",
        "none",
        IMAGE,
        "sh",
        "-c",
        "exit 3",
    ]);
    run(&[
        "--name",
        "c2",
        "--network",
        "none",
        "-l",
        "tier=web",
        "-v",
        "data:/data",
        IMAGE,
        "sh",
        "-c",
        "head -c 1000 /dev/zero > /f",
    ]);
    let out = side.t(
        "create",
        &["--name", "c3", "--network", "none", IMAGE, "true"],
    );
    assert_eq!(out.code, 0, "{}: {out:#?}", side.name());
    let out = side.t(
        "run",
        &[
            "-d",
            "--name",
            "c4",
            "--network",
            "host",
            IMAGE,
            "sleep",
            "1000",
        ],
    );
    assert_eq!(out.code, 0, "{}: {out:#?}", side.name());
}

/// Filters and the names Docker lists for them, newest first.
const FILTERS: &[(&[&str], &[&str])] = &[
    (&["-a"], &["c4", "c3", "c2", "c1"]),
    (&[], &["c4"]),
    // exited= lists containers that ran and exited so (c3 never started), and only with -a.
    (&["-a", "--filter", "exited=0"], &["c2"]),
    (&["-a", "--filter", "exited=3"], &["c1"]),
    (
        &["-a", "--filter", "exited=0", "--filter", "exited=3"],
        &["c2", "c1"],
    ),
    (&["--filter", "exited=0"], &[]),
    (
        &["-a", "--filter", "status=exited", "--filter", "exited=3"],
        &["c1"],
    ),
    // before/since: creation order, the container named left out; stopped ones need -a.
    (&["-a", "--filter", "before=c3"], &["c2", "c1"]),
    (&["-a", "--filter", "since=c1"], &["c4", "c3", "c2"]),
    (&["--filter", "since=c1"], &["c4"]),
    (
        &["-a", "--filter", "since=c1", "--filter", "before=c4"],
        &["c3", "c2"],
    ),
    // volume= by name or by mount point.
    (&["-a", "--filter", "volume=data"], &["c2"]),
    (&["-a", "--filter", "volume=/data"], &["c2"]),
    (&["-a", "--filter", "volume=nope"], &[]),
    (&["-a", "--filter", "network=none"], &["c3", "c2", "c1"]),
    (&["-a", "--filter", "network=host"], &["c4"]),
    (
        &["-a", "--filter", "network=host", "--filter", "network=none"],
        &["c4", "c3", "c2", "c1"],
    ),
    // No health check: `none`.
    (
        &["-a", "--filter", "health=none"],
        &["c4", "c3", "c2", "c1"],
    ),
    (&["-a", "--filter", "health=healthy"], &[]),
    (
        &[
            "-a",
            "--filter",
            "health=healthy",
            "--filter",
            "health=none",
        ],
        &["c4", "c3", "c2", "c1"],
    ),
    // -n counts the containers that pass the filters.
    (&["-n", "1", "--filter", "status=exited"], &["c2"]),
    (&["-n", "2", "--filter", "network=none"], &["c3", "c2"]),
    (&["-a", "--filter", "label=tier=web"], &["c2"]),
    // No ports published or exposed here; no swarm tasks; isolation is Windows'.
    (&["-a", "--filter", "publish=80"], &[]),
    (&["-a", "--filter", "expose=80-90/tcp"], &[]),
    (&["-a", "--filter", "is-task=true"], &[]),
    (
        &[
            "-a",
            "--filter",
            "is-task=false",
            "--filter",
            "isolation=default",
        ],
        &["c4", "c3", "c2", "c1"],
    ),
];

/// Templates and what Docker prints for them (`ps -a`).
const TEMPLATES: &[(&str, &str)] = &[
    (
        "{{.Names}} {{.Label \"tier\"}}|{{.Mounts}}|{{.LocalVolumes}}|{{.Networks}}",
        "c4 ||0|host\nc3 ||0|none\nc2 web|data|1|none\nc1 ||0|none\n",
    ),
    (
        "{{.Names}} {{.Command}} {{.State}}",
        "c4 \"sleep 1000\" running\nc3 \"true\" created\n\
         c2 \"sh -c 'head -c 1000…\" exited\nc1 \"sh -c 'exit 3'\" exited\n",
    ),
    (
        "{{if eq (.Label \"tier\") \"web\"}}{{.Names}}{{end}}",
        "\n\nc2\n\n",
    ),
];

/// Bad input and a piece of Docker's message for it.
const ERRORS: &[(&[&str], &str)] = &[
    (
        &["--format", "{{.Foo}}"],
        "template: :1:2: executing \"\" at <.Foo>: can't evaluate field Foo in type \
         *formatter.ContainerContext",
    ),
    (
        &["-a", "--format", "{{.Names}} {{.Label}}"],
        "wrong number of args for Label: want 1 got 0",
    ),
    (
        &["--filter", "exited=abc"],
        "strconv.Atoi: parsing \"abc\": invalid syntax",
    ),
    (
        &["--filter", "health=bogus"],
        "Unrecognised filter value for health: bogus",
    ),
    (&["--filter", "before=nosuch"], "no such container"),
    (&["--filter", "since=nosuch"], "no such container"),
    (
        &["--filter", "publish=0.0.0.0:80"],
        "filter for 'publish' should not contain ':': 0.0.0.0:80",
    ),
];

/// Runs every check on one side; returns `ps -a -s --format {{.Size}}` for c2, and the same
/// for c4, for the sides to be compared.
fn check_side(side: &Side) -> (String, String) {
    let who = side.name();
    for (args, want) in FILTERS {
        assert_eq!(side.names(args), *want, "{who}: ps {args:?}");
    }
    for (template, want) in TEMPLATES {
        let out = side.t("ps", &["-a", "--format", template]);
        assert_eq!(out.code, 0, "{who}: {template}: {out:#?}");
        assert_eq!(out.stdout, *want, "{who}: {template}");
    }
    // A table's header for .Label is the label's last dotted part.
    let out = side.t(
        "ps",
        &[
            "-a",
            "--filter",
            "name=c2",
            "--format",
            "table {{.Names}}\\t{{.Label \"tier\"}}",
        ],
    );
    assert_eq!(
        out.stdout, "NAMES     tier\nc2        web\n",
        "{who}: {out:#?}"
    );
    for (args, fragment) in ERRORS {
        let out = side.t("ps", args);
        assert_ne!(out.code, 0, "{who}: ps {args:?}: {out:#?}");
        assert!(
            out.stderr.contains(fragment),
            "{who}: ps {args:?} should say {fragment:?}: {out:#?}"
        );
        assert_eq!(out.stdout, "", "{who}: ps {args:?}");
    }
    // Docker: an unknown field is an error (exit 1) even when nothing would be listed.
    let out = side.t("ps", &["--filter", "name=nothing", "--format", "{{.Foo}}"]);
    assert_eq!(out.code, 1, "{who}: {out:#?}");

    // -s: the writable layer (c2 wrote 1000 bytes) and the virtual size; .Size asks for it.
    let size = |name: &str, extra: &[&str]| {
        let mut args = vec!["-a", "--filter"];
        let filter = format!("name={name}");
        args.push(&filter);
        args.extend_from_slice(extra);
        args.extend(["--format", "{{.Size}}"]);
        let out = side.t("ps", &args);
        assert_eq!(out.code, 0, "{who}: {out:#?}");
        out.stdout.trim_end().to_string()
    };
    let c2 = size("c2", &["-s"]);
    assert!(c2.starts_with("1kB (virtual "), "{who}: {c2}");
    assert_eq!(size("c2", &[]), c2, "{who}: .Size turns -s on");
    let c4 = size("c4", &["-s"]);
    assert!(c4.starts_with("0B (virtual "), "{who}: {c4}");
    let out = side.t(
        "ps",
        &["-a", "-s", "--filter", "name=c2", "--format", "table"],
    );
    let header = out.stdout.lines().next().unwrap_or_default().to_string();
    assert!(header.ends_with("NAMES     SIZE"), "{who}: {out:#?}");

    // inspect: a missing field of a struct is an error, a missing key of a map is not.
    let out = side.t("inspect", &["--format", "{{.Foo}}", "c2"]);
    assert_eq!(out.code, 1, "{who}: {out:#?}");
    assert!(
        out.stderr.contains("map has no entry for key \"Foo\""),
        "{who}: {out:#?}"
    );
    let out = side.t("inspect", &["--format", "{{.State.Nope}}", "c2"]);
    assert_eq!(out.code, 1, "{who}: {out:#?}");
    let out = side.t(
        "inspect",
        &[
            "--format",
            "{{.Config.Labels.tier}} {{.Config.Labels.nope}} {{.State.Status}}",
            "c2",
        ],
    );
    assert_eq!(out.stdout, "web <no value> exited\n", "{who}: {out:#?}");

    // The volume formatter has .Label too; a field it does not have is an error.
    let out = side.t(
        "volume create",
        &["--label", "com.example.my-tier=db", "lv"],
    );
    assert_eq!(out.code, 0, "{who}: {out:#?}");
    let out = side.t(
        "volume ls",
        &[
            "--format",
            "table {{.Name}}\t{{.Label \"com.example.my-tier\"}}",
        ],
    );
    assert_eq!(
        out.stdout, "VOLUME NAME   my tier\ndata          \nlv            db\n",
        "{who}: {out:#?}"
    );
    let out = side.t("volume ls", &["--format", "{{.Foo}}"]);
    assert_eq!(out.code, 1, "{who}: {out:#?}");
    assert!(
        out.stderr
            .contains("can't evaluate field Foo in type *formatter.volumeContext"),
        "{who}: {out:#?}"
    );

    // wait: the exit code alone, a line per container, in the order given.
    let out = side.t("wait", &["c1", "c2"]);
    assert_eq!(out.code, 0, "{who}: {out:#?}");
    assert_eq!(out.stdout, "3\n0\n", "{who}");
    let out = side.t("wait", &["nosuch"]);
    assert_eq!(out.code, 1, "{who}: {out:#?}");
    assert!(
        out.stderr.to_lowercase().contains("no such container"),
        "{who}: {out:#?}"
    );
    assert_eq!(out.stdout, "", "{who}");
    (c2, c4)
}

#[test]
fn ctr_ls_filters_templates_and_sizes_as_docker() {
    require_root!();
    let rig = Rig::new();
    make_containers(&Side::Berth(&rig));
    let berth = check_side(&Side::Berth(&rig));

    // berth's own: -s in the JSON, and the health of a record that has one.
    let row = rig
        .t(
            "ctr-ls",
            &["-a", "-s", "--filter", "name=c2", "--format", "json"],
            20,
        )
        .ok()
        .json();
    assert_eq!(row["SizeRw"], 1000, "{row}");
    let root_fs = row["SizeRootFs"].as_u64().unwrap();
    assert!(root_fs > 1000, "{row}");
    assert_eq!(row["Size"], berth.0);
    let plain = rig.t("ctr-ls", &["-a", "--format", "json"], 20).ok();
    for row in plain.json_lines() {
        assert_eq!(row["Size"], "0B", "no sizes without -s: {row}");
        assert!(row.get("SizeRw").is_none(), "{row}");
    }
    let c3 = rig
        .t("ctr-ls", &["-aq", "--no-trunc", "--filter", "name=c3"], 20)
        .ok();
    let c3 = c3.stdout.trim().to_string();
    assert!(
        rig.inspect(&c3)["State"].get("Health").is_none(),
        "no health check, no State.Health (as Docker)"
    );
    let state = rig.root.join("containers").join(&c3).join("state.json");
    let mut record: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    record["State"]["Health"] =
        serde_json::json!({"Status": "healthy", "FailingStreak": 0, "Log": []});
    std::fs::write(&state, serde_json::to_vec_pretty(&record).unwrap()).unwrap();
    let rig_side = Side::Berth(&rig);
    assert_eq!(
        rig_side.names(&["-a", "--filter", "health=healthy"]),
        ["c3"]
    );
    assert_eq!(
        rig_side.names(&["-a", "--filter", "health=none"]),
        ["c4", "c2", "c1"]
    );
    assert_eq!(rig.inspect(&c3)["State"]["Health"]["Status"], "healthy");

    // wait: --format json keeps the object; a running container's code once it exits.
    let w = rig
        .t("ctr-wait", &["--format", "json", "c1"], 20)
        .ok()
        .json();
    assert_eq!(w["StatusCode"], 3, "{w}");
    assert_eq!(w["id"].as_str().unwrap().len(), 64, "{w}");
    let id = rig.detach(&[IMAGE, "sh", "-c", "sleep 1; exit 7"]);
    let w = rig.t("ctr-wait", &[&id], 30).ok();
    assert_eq!(w.stdout, "7\n", "{w:?}");

    let docker = require_dockerd!();
    let image = rig.path("bb.tar");
    rig.t("img-save", &[IMAGE, "-o", path_str(&image)], 60).ok();
    docker.docker(&["load", "-i", path_str(&image)]).ok();
    let side = Side::Docker(&docker);
    make_containers(&side);
    let theirs = check_side(&side);
    // The same image and the same writes: the same SIZE.
    assert_eq!(berth, theirs, "berth's SIZE, then Docker's");
    side.t("rm", &["-f", "c4"]);
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}
