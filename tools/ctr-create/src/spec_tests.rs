//! The library's container spec ([`berth::container::spec`]) built from command lines as
//! ctr-create parses them: here, where the clap side of the options lives.

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use berth::bundle::DEFAULT_PATH;
    use berth::config::Config;
    use berth::container::spec::*;
    use berth::Result;
    use clap::Parser;
    use serde_json::{json, Value};

    use crate::args::CreateArgs;

    #[derive(Parser)]
    #[command(disable_help_flag = true)]
    struct T {
        #[command(flatten)]
        a: CreateArgs,
    }

    fn args(argv: &[&str]) -> CreateOptions {
        T::try_parse_from(std::iter::once("ctr-create").chain(argv.iter().copied()))
            .unwrap()
            .a
            .into()
    }

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nstaff:x:50:www\n";

    fn image() -> Value {
        json!({
            "Env": ["PATH=/usr/bin:/bin", "LANG=C"],
            "Entrypoint": ["/entry"],
            "Cmd": ["serve", "--port", "80"],
            "WorkingDir": "/app",
            "Labels": {"from": "image"},
        })
    }

    fn make(argv: &[&str], img: &Value) -> Result<Built> {
        let a = args(argv);
        let flags = Flags::parse(&a, &|_| {})?;
        let img: Config = serde_json::from_value(img.clone()).unwrap();
        build(
            &a,
            &flags,
            &Input {
                id: ID,
                dir: Path::new("/var/lib/berth/containers/x"),
                image_name: &a.image,
                image_config: &img,
                passwd: PASSWD,
                group: GROUP,
                mounts: &[],
            },
        )
    }

    fn spec_json(b: &Built) -> Value {
        serde_json::to_value(&b.spec).unwrap()
    }

    fn set(v: &Value) -> BTreeSet<String> {
        v.as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn entrypoint_and_cmd_precedence() {
        let img = image();
        let b = make(&["app"], &img).unwrap();
        assert_eq!(b.path, "/entry");
        assert_eq!(b.args, vec!["serve", "--port", "80"]);
        let b = make(&["app", "other", "-x"], &img).unwrap();
        assert_eq!(
            (b.path.as_str(), b.args.clone()),
            ("/entry", vec!["other".into(), "-x".into()])
        );
        // --entrypoint drops the image's Cmd, as Docker.
        let b = make(&["--entrypoint", "/bin/sh", "app"], &img).unwrap();
        assert_eq!((b.path.as_str(), b.args.len()), ("/bin/sh", 0));
        assert_eq!(b.config.cmd, Some(None));
        let b = make(&["--entrypoint", "", "app", "ls", "-l"], &img).unwrap();
        assert_eq!(b.path, "ls");
        assert_eq!(b.config.entrypoint, Some(None));
        assert_eq!(spec_json(&b)["process"]["args"], json!(["ls", "-l"]));
        let e = make(&["--entrypoint", "", "app"], &img).unwrap_err();
        assert!(e.to_string().contains("no command specified"), "{e}");
    }

    #[test]
    fn environment_as_docker() {
        std::env::set_var("BERTH_SPEC_TEST_HOST", "from-host");
        let b = make(
            &[
                "-t",
                "-e",
                "LANG=en",
                "-e",
                "BERTH_SPEC_TEST_HOST",
                "-e",
                "BERTH_SPEC_TEST_UNSET_X",
                "-h",
                "box",
                "app",
            ],
            &image(),
        )
        .unwrap();
        let env = set(&spec_json(&b)["process"]["env"]);
        for want in [
            "PATH=/usr/bin:/bin",
            "HOSTNAME=box",
            "TERM=xterm",
            "LANG=en",
            "BERTH_SPEC_TEST_HOST=from-host",
            "HOME=/root",
        ] {
            assert!(env.contains(want), "{want} missing from {env:?}");
        }
        assert!(!env.iter().any(|e| e.starts_with("BERTH_SPEC_TEST_UNSET_X")));
        assert_eq!(env.iter().filter(|e| e.starts_with("PATH=")).count(), 1);
        assert_eq!(
            b.config.env,
            Some(Some(vec![
                "LANG=en".to_string(),
                "BERTH_SPEC_TEST_HOST=from-host".into(),
                "PATH=/usr/bin:/bin".into()
            ]))
        );
        // No PATH in the image: Docker's default.
        let b = make(&["app"], &json!({"Cmd": ["sh"]})).unwrap();
        let env = set(&spec_json(&b)["process"]["env"]);
        assert!(env.contains(DEFAULT_PATH));
        assert!(env.contains(&format!("HOSTNAME={}", &ID[..12])));
        assert!(!env.iter().any(|e| e.starts_with("TERM=")));
        assert_eq!(spec_json(&b)["process"]["cwd"], "/");
        assert!(make(&["-e", "=x", "app"], &image()).is_err());
    }

    #[test]
    fn users_resolve_in_the_image() {
        let b = make(&["-u", "www", "app"], &image()).unwrap();
        let p = &spec_json(&b)["process"];
        assert_eq!(
            p["user"],
            json!({"uid": 33, "gid": 33, "umask": 0o022, "additionalGids": [33, 50]})
        );
        assert!(set(&p["env"]).contains("HOME=/var/www"));
        // Not root: nothing effective or permitted, as moby.
        assert!(p["capabilities"]["effective"].is_null());
        assert!(p["capabilities"]["permitted"].is_null());
        assert_eq!(set(&p["capabilities"]["bounding"]).len(), 14);
        assert_eq!(b.config.user.as_deref(), Some("www"));
        let b = make(&["-u", "1000:50", "app"], &image()).unwrap();
        assert_eq!(
            spec_json(&b)["process"]["user"],
            json!({"uid": 1000, "gid": 50, "umask": 0o022, "additionalGids": [50]})
        );
        let img = json!({"Cmd": ["x"], "User": "www"});
        let b = make(&["app"], &img).unwrap();
        assert_eq!(spec_json(&b)["process"]["user"]["uid"], 33);
        assert!(make(&["-u", "nobody", "app"], &image())
            .unwrap_err()
            .to_string()
            .contains("unable to find user nobody"));
    }

    #[test]
    fn capabilities_add_drop_all() {
        let caps = |argv: &[&str]| {
            let b = make(argv, &image()).unwrap();
            set(&spec_json(&b)["process"]["capabilities"]["bounding"])
        };
        let d = caps(&["app"]);
        assert_eq!(d, DEFAULT_CAPS.iter().map(|s| s.to_string()).collect());
        let c = caps(&["--cap-add", "sys_admin", "--cap-drop", "CAP_CHOWN", "app"]);
        assert!(c.contains("CAP_SYS_ADMIN") && !c.contains("CAP_CHOWN") && c.len() == 14);
        let c = caps(&["--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "app"]);
        assert_eq!(c, ["CAP_NET_ADMIN".to_string()].into());
        let c = caps(&["--cap-add", "all", "--cap-drop", "MKNOD", "app"]);
        assert_eq!(c.len(), known_caps().len() - 1);
        assert!(!c.contains("CAP_MKNOD"));
        let b = make(&["--cap-add", "ALL", "app"], &image()).unwrap();
        let p = &spec_json(&b)["process"]["capabilities"];
        assert_eq!(set(&p["effective"]), set(&p["bounding"]));
        assert!(p["inheritable"].is_null() && p["ambient"].is_null());
        assert!(make(&["--cap-add", "FLY", "app"], &image())
            .unwrap_err()
            .to_string()
            .contains("unknown capability"));
    }

    #[test]
    fn privileged_and_defaults() {
        let b = make(&["app"], &image()).unwrap();
        let s = spec_json(&b);
        assert_eq!(s["linux"]["maskedPaths"], json!(MASKED_PATHS));
        assert_eq!(s["linux"]["readonlyPaths"], json!(READONLY_PATHS));
        assert_eq!(s["linux"]["cgroupsPath"], format!("/berth/{ID}"));
        assert_eq!(
            s["linux"]["resources"]["devices"][0],
            json!({"allow": false, "access": "rwm"})
        );
        let ns: Vec<&str> = s["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["mount", "network", "uts", "pid", "ipc", "cgroup"]);
        let dests: Vec<&str> = s["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/dev/shm",
                "/etc/resolv.conf",
                "/etc/hostname",
                "/etc/hosts"
            ]
        );
        assert_eq!(
            s["mounts"][7]["source"],
            "/var/lib/berth/containers/x/resolv.conf"
        );
        assert!(set(&s["mounts"][3]["options"]).contains("ro"));
        assert_eq!(s["root"], json!({"path": "rootfs", "readonly": false}));
        assert_eq!(s["hostname"], &ID[..12]);
        assert_eq!(s["process"]["oomScoreAdj"], 0);
        assert_eq!(s["process"]["cwd"], "/app");
        assert_eq!(b.host_config.network_mode, "bridge");
        assert_eq!(
            b.config.labels,
            Some(Some([("from".to_string(), "image".to_string())].into()))
        );

        let b = make(
            &["--privileged", "--read-only", "--network", "host", "app"],
            &image(),
        )
        .unwrap();
        let s = spec_json(&b);
        assert!(s["linux"]["maskedPaths"].is_null() && s["linux"]["readonlyPaths"].is_null());
        assert!(s["linux"]["seccomp"].is_null());
        assert_eq!(
            set(&s["process"]["capabilities"]["bounding"]).len(),
            known_caps().len()
        );
        assert!(!set(&s["mounts"][3]["options"]).contains("ro"));
        assert_eq!(
            s["linux"]["resources"]["devices"],
            json!([{"allow": true, "access": "rwm"}])
        );
        assert!(!s["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "network"));
        assert_eq!(s["root"]["readonly"], true);
        assert!(b.host_config.privileged);
    }

    #[test]
    fn ulimits_within_the_hard_limit() {
        let b = make(&["--ulimit", "nofile=1024:2048", "app"], &image()).unwrap();
        let limits = spec_json(&b)["process"]["rlimits"].clone();
        let of = |l: &Value, name: &str| -> Value {
            l.as_array()
                .unwrap()
                .iter()
                .find(|r| r["type"] == name)
                .cloned()
                .unwrap_or(Value::Null)
        };
        assert_eq!(
            of(&limits, "RLIMIT_NOFILE"),
            json!({"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048})
        );
        // The other resources keep Docker's defaults; every resource appears once.
        let n = limits.as_array().unwrap().len();
        assert!(n >= 15, "{limits}");
        let names: BTreeSet<String> = limits
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["type"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names.len(), n, "{limits}");
        let hard_of = |res| rustix::process::getrlimit(res).maximum.unwrap_or(u64::MAX);
        let core_hard = hard_of(rustix::process::Resource::Core);
        assert_eq!(
            of(&limits, "RLIMIT_CORE"),
            json!({"type": "RLIMIT_CORE", "soft": core_hard, "hard": core_hard})
        );
        assert_eq!(
            serde_json::to_value(&b.host_config.ulimits).unwrap(),
            json!([{"Name": "nofile", "Hard": 2048, "Soft": 1024}])
        );
        let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .maximum
            .unwrap_or(u64::MAX);
        if hard < u64::MAX - 1 {
            let e = make(
                &["--ulimit", &format!("nofile={}", hard + 1), "app"],
                &image(),
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains("hard limit"), "{e}");
        }
        // Without --ulimit: Docker's defaults, clamped to this process's hard limits.
        let d = spec_json(&make(&["app"], &image()).unwrap())["process"]["rlimits"].clone();
        let nofile = 1u64 << 20;
        let nofile = nofile.min(hard_of(rustix::process::Resource::Nofile));
        assert_eq!(
            of(&d, "RLIMIT_NOFILE"),
            json!({"type": "RLIMIT_NOFILE", "soft": nofile, "hard": nofile})
        );
        let stack_hard = hard_of(rustix::process::Resource::Stack);
        assert_eq!(
            of(&d, "RLIMIT_STACK"),
            json!({"type": "RLIMIT_STACK", "soft": (8u64 << 20).min(stack_hard), "hard": stack_hard})
        );
        assert_eq!(
            of(&d, "RLIMIT_NICE"),
            json!({"type": "RLIMIT_NICE", "soft": 0, "hard": 0})
        );
        // Docker records only the user's ulimits.
        assert_eq!(
            serde_json::to_value(make(&["app"], &image()).unwrap().host_config.ulimits).unwrap(),
            json!([])
        );
        assert!(make(&["--ulimit", "nofile=10:5", "app"], &image()).is_err());
        assert!(make(&["--ulimit", "bogus=1", "app"], &image()).is_err());
    }

    #[test]
    fn resource_units() {
        assert_eq!(parse_bytes("512").unwrap(), 512);
        assert_eq!(parse_bytes("64k").unwrap(), 65536);
        assert_eq!(parse_bytes("100m").unwrap(), 100 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1.5GB").unwrap(), 3 << 29);
        assert!(parse_bytes("10x").is_err() && parse_bytes("").is_err());
        assert_eq!(parse_cpus("1.5").unwrap(), 1_500_000_000);
        assert_eq!(parse_cpus("0.01").unwrap(), 10_000_000);
        assert!(parse_cpus("a").is_err() && parse_cpus("1.2.3").is_err());
        assert_eq!(parse_cpus("-1").unwrap(), -1_000_000_000);
        assert!(parse_cpus("--1").is_err() && parse_cpus("-").is_err());
        let e = nano_cpus("-1").unwrap_err().to_string();
        assert!(
            e.contains("invalid --cpus -1: range of CPUs is from 0.01 to"),
            "{e}"
        );

        let b = make(
            &[
                "-m",
                "100m",
                "--cpus",
                "0.5",
                "--pids-limit",
                "64",
                "-c",
                "512",
                "app",
            ],
            &image(),
        )
        .unwrap();
        let r = &spec_json(&b)["linux"]["resources"];
        assert_eq!(r["memory"], json!({"limit": 100 << 20, "swap": 200 << 20}));
        assert_eq!(
            r["cpu"],
            json!({"shares": 512, "quota": 50000, "period": 100000})
        );
        assert_eq!(r["pids"], json!({"limit": 64}));
        assert_eq!(b.host_config.memory_swap, 200 << 20);
        assert_eq!(b.host_config.nano_cpus, 500_000_000);
        let b = make(&["-m", "100m", "--memory-swap", "-1", "app"], &image()).unwrap();
        assert_eq!(spec_json(&b)["linux"]["resources"]["memory"]["swap"], -1);
        assert!(make(&["-m", "1m", "app"], &image()).is_err());
        assert!(make(&["--memory-swap", "1g", "app"], &image()).is_err());
        assert!(make(&["--cpus", "1000", "app"], &image()).is_err());
    }

    #[test]
    fn resource_flags_make_dockers_spec_and_host_config() {
        let b = make(
            &[
                "-m",
                "64m",
                "--memory-reservation",
                "32m",
                "--memory-swappiness",
                "10",
                "--oom-kill-disable",
                "--oom-score-adj",
                "300",
                "--cpuset-cpus",
                "0",
                "--cpuset-mems",
                "0",
                "--cpu-period",
                "50000",
                "--cpu-quota",
                "25000",
                "--cidfile",
                "/tmp/x.cid",
                "--volumes-from",
                "other:ro",
                "-a",
                "stdout",
                "app",
            ],
            &image(),
        )
        .unwrap();
        let s = spec_json(&b);
        let r = &s["linux"]["resources"];
        assert_eq!(
            r["memory"],
            json!({"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20,
                   "swappiness": 10, "disableOOMKiller": true})
        );
        assert_eq!(
            r["cpu"],
            json!({"quota": 25000, "period": 50000, "cpus": "0", "mems": "0"})
        );
        assert_eq!(s["process"]["oomScoreAdj"], 300);
        let hc = serde_json::to_value(&b.host_config).unwrap();
        for (k, v) in [
            ("MemoryReservation", json!(32 << 20)),
            ("MemorySwappiness", json!(10)),
            ("OomKillDisable", json!(true)),
            ("OomScoreAdj", json!(300)),
            ("CpusetCpus", json!("0")),
            ("CpusetMems", json!("0")),
            ("CpuPeriod", json!(50000)),
            ("CpuQuota", json!(25000)),
            ("ContainerIDFile", json!("/tmp/x.cid")),
            ("VolumesFrom", json!(["other:ro"])),
        ] {
            assert_eq!(hc[k], v, "{k}");
        }
        let c = serde_json::to_value(&b.config).unwrap();
        assert_eq!(
            [&c["AttachStdin"], &c["AttachStdout"], &c["AttachStderr"]],
            [&json!(false), &json!(true), &json!(false)]
        );
        // No flags: only what Docker writes by default.
        let b = make(&["app"], &image()).unwrap();
        let s = spec_json(&b);
        assert_eq!(s["linux"]["resources"].get("memory"), None);
        assert_eq!(s["linux"]["resources"].get("blockIO"), None);
        assert_eq!(s["process"]["oomScoreAdj"], 0);
        assert_eq!(b.host_config.oom_kill_disable, Some(false));
        assert_eq!(b.host_config.memory_swappiness, None);

        // A kernel without swap accounting: memory alone, and Docker's warning.
        let a = args(&["-m", "64m", "app"]);
        let mut flags = Flags::parse(&a, &|_| {}).unwrap();
        let host = resources::Host {
            cpus: "0".into(),
            mems: "0".into(),
            blkio_weight: false,
            swap_limit: false,
        };
        let warned = std::cell::RefCell::new(String::new());
        flags.fit_swap_to(&host, &|w| warned.borrow_mut().push_str(w));
        assert_eq!(flags.memory_swap, -1);
        assert!(warned.borrow().contains("Memory limited without swap"));
    }

    #[test]
    fn flags_refused_clearly() {
        // Docker's network flag conflicts (a network name itself is looked up by create).
        let e = make(&["--network", "container:a", "-p", "80", "app"], &image()).unwrap_err();
        assert!(e.to_string().contains("port publishing"), "{e}");
        let e = make(&["--ip", "10.0.0.2", "app"], &image()).unwrap_err();
        assert!(e.to_string().contains("user-defined networks only"), "{e}");
        let e = make(
            &[
                "--network",
                "host",
                "--mac-address",
                "02:42:00:00:00:01",
                "app",
            ],
            &image(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("mac-address"), "{e}");
        assert!(make(&["--network", "container:", "app"], &image()).is_err());
        assert!(make(&["-p", "99999:80", "app"], &image()).is_err());
        assert!(make(&["--runtime", "zzz", "app"], &image()).is_err());
        assert!(make(&["--security-opt", "bogus", "app"], &image()).is_err());
        assert!(make(&["-w", "rel", "app"], &image()).is_err());
        assert!(make(&["--stop-signal", "SIGNOPE", "app"], &image()).is_err());
        let b = make(
            &[
                "--security-opt",
                "no-new-privileges",
                "--stop-signal",
                "SIGINT",
                "--stop-timeout",
                "3",
                "app",
            ],
            &image(),
        )
        .unwrap();
        assert_eq!(spec_json(&b)["process"]["noNewPrivileges"], true);
        assert_eq!(b.config.stop_signal.as_deref(), Some("SIGINT"));
        assert_eq!(b.config.stop_timeout, Some(3));
        let warned = std::cell::RefCell::new(Vec::new());
        let a = args(&["--security-opt", "label=disable", "app"]);
        Flags::parse(&a, &|w| warned.borrow_mut().push(w.to_string())).unwrap();
        assert_eq!(warned.borrow().len(), 1);
        let f = Flags::parse(
            &args(&["--security-opt", "seccomp=unconfined", "app"]),
            &|_| {},
        )
        .unwrap();
        assert_eq!(f.seccomp, Seccomp::Unconfined);
    }
}
