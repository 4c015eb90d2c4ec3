//! The containers' index (`$ROOT/containers/.index`, issue 14 item 8): names and running
//! containers are found by path, not by reading every record, and the index stays right through
//! a create that died half-way, a rename, a lost index and concurrent creates.

use std::collections::BTreeSet;
use std::process::Stdio;

use crate::containers::{Rig, IMAGE};

fn create(rig: &Rig, args: &[&str]) -> String {
    let mut a = args.to_vec();
    a.extend_from_slice(&[IMAGE, "true"]);
    let out = rig.t("ctr-create", &a, 60).ok();
    out.json()["id"].as_str().expect("id").to_string()
}

fn inspect_id(rig: &Rig, name: &str) -> Option<String> {
    let out = rig.t("ctr-inspect", &["--format", "{{.Id}}", name], 20);
    (out.code == 0).then(|| out.stdout.trim().to_string())
}

#[test]
fn the_index_survives_a_create_that_died_and_a_rename() {
    require_root!();
    let rig = Rig::new();
    let index = rig.root.join("containers/.index");
    let a = create(&rig, &["--name", "web"]);
    assert!(index.join("complete").exists(), "the index is made");
    assert_eq!(inspect_id(&rig, "web").as_deref(), Some(a.as_str()));

    // A create killed after it linked its name and before it wrote its record: the link is
    // stale, the name is free, the directory is a leftover as before.
    let ghost = "ab".repeat(32);
    std::fs::create_dir(rig.root.join("containers").join(&ghost)).unwrap();
    std::os::unix::fs::symlink(&ghost, index.join("names/db")).unwrap();
    std::fs::write(index.join("live").join(&ghost), "999999 1 0 0\n").unwrap();
    assert_eq!(inspect_id(&rig, "db"), None);
    let b = create(&rig, &["--name", "db"]);
    assert_eq!(inspect_id(&rig, "db").as_deref(), Some(b.as_str()));
    assert!(
        !index.join("live").join(&ghost).exists(),
        "a stale entry is dropped by the next command that looks"
    );

    // A rename moves the name: the old one is free, the new one taken.
    rig.t("ctr-rename", &["web", "api"], 20).ok();
    assert_eq!(inspect_id(&rig, "web"), None);
    assert_eq!(inspect_id(&rig, "api").as_deref(), Some(a.as_str()));
    rig.t("ctr-create", &["--name", "api", IMAGE, "true"], 60)
        .fails_with(1, "is already in use by container");
    let c = create(&rig, &["--name", "web"]);
    assert_ne!(c, a);

    // An index lost (or from another boot) is made again from the records.
    std::fs::remove_dir_all(&index).unwrap();
    rig.t("ctr-create", &["--name", "db", IMAGE, "true"], 60)
        .fails_with(1, "is already in use by container");
    assert_eq!(inspect_id(&rig, "api").as_deref(), Some(a.as_str()));
    std::fs::write(index.join("complete"), "another boot\n").unwrap();
    assert_eq!(inspect_id(&rig, &a[..12]).as_deref(), Some(a.as_str()));
    assert_ne!(
        std::fs::read_to_string(index.join("complete")).unwrap(),
        "another boot\n"
    );
    let ls = rig.t("ctr-ls", &["-a", "--format", "{{.Names}}"], 20).ok();
    let names: BTreeSet<&str> = ls.stdout.lines().collect();
    assert_eq!(names, BTreeSet::from(["api", "db", "web"]), "{ls:?}");
}

#[test]
fn names_stay_unique_under_concurrent_creates() {
    require_root!();
    let rig = Rig::new();
    // Eight creates of one name at once: one wins, seven are refused.
    let spawn = |args: &[&str]| {
        rig.cmd("ctr-create")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children: Vec<_> = (0..8)
        .map(|_| spawn(&["--name", "same", IMAGE, "true"]))
        .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let won = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(won, 1, "exactly one create of the name wins");
    for o in outs.iter().filter(|o| !o.status.success()) {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("is already in use by container"), "{err}");
    }
    // Eight without a name at once: eight names, all different.
    let children: Vec<_> = (0..8).map(|_| spawn(&[IMAGE, "true"])).collect();
    let mut names = BTreeSet::new();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{o:?}");
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        names.insert(v["name"].as_str().unwrap().to_string());
    }
    assert_eq!(names.len(), 8, "{names:?}");
    assert_eq!(rig.ids().len(), 9);
}
