//! The spec and the record made by the namespace, device, sysctl and init flags
//! (`berth::container::spec::ns`), from command lines as ctr-create parses them.

#[cfg(test)]
mod tests {
    use std::path::Path;

    use berth::config::Config;
    use berth::container::spec::*;
    use berth::{Error, Result};
    use clap::Parser;
    use serde_json::{json, Value};

    use crate::args::CreateArgs;

    #[derive(Parser)]
    #[command(disable_help_flag = true)]
    struct T {
        #[command(flatten)]
        a: CreateArgs,
    }

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const DIR: &str = "/var/lib/berth/containers/x";

    fn make(argv: &[&str]) -> Result<Built> {
        let a: CreateOptions =
            T::try_parse_from(["ctr-create"].iter().chain(argv).chain(&["img", "sh"]))
                .unwrap()
                .a
                .into();
        let flags = Flags::parse(&a, &|_| {})?;
        build(
            &a,
            &flags,
            &Input {
                id: ID,
                dir: Path::new(DIR),
                image_name: &a.image,
                image_config: &Config::default(),
                passwd: "",
                group: "",
                mounts: &[],
            },
        )
    }

    fn spec(b: &Built) -> Value {
        b.spec_json.clone()
    }

    fn hc(b: &Built) -> Value {
        serde_json::to_value(&b.host_config).unwrap()
    }

    fn namespaces(b: &Built) -> Vec<String> {
        spec(b)["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap().to_string())
            .collect()
    }

    fn mount_at(b: &Built, dest: &str) -> Option<Value> {
        spec(b)["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == dest)
            .cloned()
    }

    #[test]
    fn defaults_are_docker_s() {
        let b = make(&[]).unwrap();
        let h = hc(&b);
        assert_eq!(h["IpcMode"], "private");
        assert_eq!(h["PidMode"], "");
        assert_eq!(h["UTSMode"], "");
        assert_eq!(h["UsernsMode"], "");
        assert_eq!(h["ShmSize"], 67108864);
        assert_eq!(h["Devices"], json!([]));
        assert_eq!(h["DeviceCgroupRules"], Value::Null);
        assert_eq!(h["CgroupParent"], "");
        assert!(h.get("Init").is_none() && h.get("Sysctls").is_none(), "{h}");
        assert_eq!(b.config.domainname.as_deref(), Some(""));
        for n in ["pid", "ipc", "uts", "cgroup", "mount", "network"] {
            assert!(namespaces(&b).contains(&n.to_string()), "{n}");
        }
        let shm = mount_at(&b, "/dev/shm").unwrap();
        assert_eq!(shm["type"], "tmpfs");
        assert!(shm["options"]
            .as_array()
            .unwrap()
            .contains(&json!("size=67108864")));
        assert_eq!(spec(&b)["linux"]["cgroupsPath"], format!("/berth/{ID}"));
        assert!(spec(&b).get("domainname").is_none());
    }

    #[test]
    fn init_runs_docker_init_mounted_read_only() {
        if !["/usr/bin/tini-static", "/usr/bin/docker-init"]
            .iter()
            .any(|p| Path::new(p).exists())
        {
            eprintln!("skipped: tini is not installed");
            return;
        }
        let b = make(&["--init"]).unwrap();
        assert_eq!(
            spec(&b)["process"]["args"],
            json!(["/sbin/docker-init", "--", "sh"])
        );
        let m = mount_at(&b, "/sbin/docker-init").unwrap();
        assert_eq!(m["type"], "bind");
        assert_eq!(m["options"], json!(["bind", "ro"]));
        assert!(Path::new(m["source"].as_str().unwrap()).is_file());
        // Docker's Path and Args are the command's, not the init's.
        assert_eq!((b.path.as_str(), b.args.len()), ("sh", 0));
        assert_eq!(hc(&b)["Init"], true);
    }

    #[test]
    fn devices_make_nodes_and_allow_rules() {
        let b = make(&[
            "--device",
            "/dev/null:/dev/n:rw",
            "--device-cgroup-rule",
            "c 1:3 mr",
            "--device-cgroup-rule",
            "b *:* r",
        ])
        .unwrap();
        let s = spec(&b);
        let devs = s["linux"]["devices"].as_array().unwrap();
        let n = devs.iter().find(|d| d["path"] == "/dev/n").unwrap();
        assert_eq!(
            (&n["type"], &n["major"], &n["minor"]),
            (&json!("c"), &json!(1), &json!(3))
        );
        let rules = s["linux"]["resources"]["devices"].as_array().unwrap();
        let tail: Vec<&Value> = rules.iter().rev().take(3).collect();
        assert_eq!(
            tail[2],
            &json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"})
        );
        assert_eq!(
            tail[1],
            &json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "mr"})
        );
        assert_eq!(tail[0], &json!({"allow": true, "type": "b", "access": "r"}));
        let h = hc(&b);
        assert_eq!(
            h["Devices"],
            json!([{"PathOnHost": "/dev/null", "PathInContainer": "/dev/n", "CgroupPermissions": "rw"}])
        );
        assert_eq!(h["DeviceCgroupRules"], json!(["c 1:3 mr", "b *:* r"]));
    }

    #[test]
    fn privileged_ignores_devices_but_records_them() {
        let b = make(&[
            "--privileged",
            "--device",
            "/dev/null:/dev/n",
            "--device-cgroup-rule",
            "c 1:3 r",
        ])
        .unwrap();
        let s = spec(&b);
        let devs = s["linux"]["devices"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!devs.iter().any(|d| d["path"] == "/dev/n"), "{devs:?}");
        assert_eq!(
            s["linux"]["resources"]["devices"],
            json!([{"allow": true, "access": "rwm"}])
        );
        assert_eq!(hc(&b)["Devices"][0]["PathInContainer"], "/dev/n");
        assert_eq!(hc(&b)["DeviceCgroupRules"], json!(["c 1:3 r"]));
    }

    #[test]
    fn bad_devices_are_docker_s_errors() {
        match make(&["--device", "/nonexistent"]) {
            Err(Error::InvalidInput(m)) => assert_eq!(
                m,
                "error gathering device information while adding custom device \
                 \"/nonexistent\": no such file or directory"
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            make(&["--device-cgroup-rule", "c 1:3 xx"]),
            Err(Error::Usage(m)) if m == "invalid device cgroup format 'c 1:3 xx'"
        ));
    }

    #[test]
    fn host_namespaces_are_left_out() {
        let b = make(&[
            "--pid",
            "host",
            "--ipc",
            "host",
            "--uts",
            "host",
            "--cgroupns",
            "host",
        ])
        .unwrap();
        let ns = namespaces(&b);
        for n in ["pid", "ipc", "uts", "cgroup"] {
            assert!(!ns.contains(&n.to_string()), "{n}: {ns:?}");
        }
        assert!(spec(&b).get("hostname").is_none());
        let shm = mount_at(&b, "/dev/shm").unwrap();
        assert_eq!(
            (&shm["type"], &shm["source"]),
            (&json!("bind"), &json!("/dev/shm"))
        );
        let h = hc(&b);
        assert_eq!(
            (
                &h["PidMode"],
                &h["IpcMode"],
                &h["UTSMode"],
                &h["CgroupnsMode"]
            ),
            (
                &json!("host"),
                &json!("host"),
                &json!("host"),
                &json!("host")
            )
        );
        // --pid host keeps Docker's masked paths.
        assert!(spec(&b)["linux"]["maskedPaths"].as_array().unwrap().len() > 5);
    }

    #[test]
    fn ipc_modes_make_dev_shm() {
        let b = make(&["--ipc", "none"]).unwrap();
        assert!(mount_at(&b, "/dev/shm").is_none());
        assert!(namespaces(&b).contains(&"ipc".to_string()));
        let b = make(&["--ipc", "shareable", "--shm-size", "1m"]).unwrap();
        let shm = mount_at(&b, "/dev/shm").unwrap();
        assert_eq!(shm["source"], format!("{DIR}/shm"));
        assert_eq!(shm["options"], json!(["rbind", "rprivate"]));
        assert_eq!(hc(&b)["ShmSize"], 1048576);
        let b = make(&["--shm-size", "128m"]).unwrap();
        let shm = mount_at(&b, "/dev/shm").unwrap();
        assert!(shm["options"]
            .as_array()
            .unwrap()
            .contains(&json!("size=134217728")));
        assert_eq!(hc(&b)["ShmSize"], 134217728);
    }

    #[test]
    fn sysctls_domainname_cgroup_parent_userns() {
        let b = make(&[
            "--sysctl",
            "kernel.msgmax=1000",
            "--sysctl",
            "net.core.somaxconn=100",
            "--domainname",
            "example.org",
            "--cgroup-parent",
            "/mypar",
            "--userns",
            "host",
        ])
        .unwrap();
        let s = spec(&b);
        assert_eq!(s["linux"]["sysctl"]["kernel.msgmax"], "1000");
        assert_eq!(s["linux"]["sysctl"]["net.core.somaxconn"], "100");
        // Docker's own stay.
        assert_eq!(
            s["linux"]["sysctl"]["net.ipv4.ip_unprivileged_port_start"],
            "0"
        );
        assert_eq!(s["domainname"], "example.org");
        assert_eq!(s["linux"]["sysctl"]["kernel.domainname"], "example.org");
        assert_eq!(s["linux"]["cgroupsPath"], format!("/mypar/{ID}"));
        let h = hc(&b);
        assert_eq!(
            h["Sysctls"],
            json!({"kernel.msgmax": "1000", "net.core.somaxconn": "100"})
        );
        assert_eq!(h["CgroupParent"], "/mypar");
        assert_eq!(h["UsernsMode"], "host");
        assert_eq!(b.config.domainname.as_deref(), Some("example.org"));
        assert!(matches!(
            make(&["--sysctl", "kernel.foo=1"]),
            Err(Error::Usage(m)) if m == "sysctl 'kernel.foo=1' is not allowed"
        ));
    }

    #[test]
    fn security_opts_are_checked_as_docker() {
        let b = make(&["--security-opt", "systempaths=unconfined"]).unwrap();
        let s = spec(&b);
        assert!(s["linux"].get("maskedPaths").is_none(), "{s}");
        assert!(s["linux"].get("readonlyPaths").is_none(), "{s}");
        let h = hc(&b);
        assert_eq!(
            (&h["MaskedPaths"], &h["ReadonlyPaths"], &h["SecurityOpt"]),
            (&json!([]), &json!([]), &Value::Null)
        );
        for (opt, usage, msg) in [
            ("foo", true, "Invalid --security-opt: \"foo\""),
            ("seccomp=", true, "Invalid --security-opt: \"seccomp=\""),
            (
                "seccomp=/nonexistent",
                true,
                "opening seccomp profile (/nonexistent) failed: open /nonexistent: no such \
                 file or directory",
            ),
            ("foo=bar", false, "invalid --security-opt 2: \"foo=bar\""),
            (
                "systempaths=foo",
                false,
                "invalid --security-opt 2: \"systempaths=foo\"",
            ),
            (
                "no-new-privileges=maybe",
                false,
                "invalid --security-opt 2: \"no-new-privileges=maybe\"",
            ),
        ] {
            match (make(&["--security-opt", opt]), usage) {
                (Err(Error::Usage(m)), true) | (Err(Error::InvalidInput(m)), false) => {
                    assert_eq!(m, msg)
                }
                (other, _) => panic!("{opt}: {other:?}"),
            }
        }
        for ok in [
            "label=disable",
            "label=user:u",
            "apparmor=unconfined",
            "no-new-privileges:false",
        ] {
            let b = make(&["--security-opt", ok]).unwrap();
            assert_eq!(hc(&b)["SecurityOpt"], json!([ok]));
        }
    }
}
