//! A container's `/etc/hosts` and `/etc/resolv.conf`, as Docker writes them.

use std::net::IpAddr;

use crate::error::{Error, Result};

/// Docker's hosts file head: loopback and the IPv6 names.
pub const DEFAULT_HOSTS: &str = "127.0.0.1\tlocalhost\n\
::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\n\
ff00::0\tip6-mcastprefix\n\
ff02::1\tip6-allnodes\n\
ff02::2\tip6-allrouters\n";

/// The line that starts the part berth keeps current as containers join and leave a network.
pub const MEMBERS_MARK: &str = "# berth: other containers on the same networks\n";

/// An `--add-host NAME:IP` entry (`host-gateway` as the IP: the network's gateway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraHost {
    pub name: String,
    pub ip: String,
}

/// Reads `NAME:IP` (the IP may be IPv6, and `host-gateway`), or Docker's newer `NAME=IP`.
pub fn parse_add_host(s: &str) -> Result<ExtraHost> {
    let bad = |why: &str| Error::InvalidInput(format!("invalid --add-host {s:?}: {why}"));
    let (name, ip) = s
        .split_once('=')
        .or_else(|| s.split_once(':'))
        .ok_or_else(|| bad("expected NAME:IP"))?;
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(bad("the name is empty or has spaces"));
    }
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if ip != "host-gateway" && ip.parse::<IpAddr>().is_err() {
        return Err(bad("not an IP address (or host-gateway)"));
    }
    Ok(ExtraHost {
        name: name.into(),
        ip: ip.into(),
    })
}

/// A container's hosts file: Docker's head, the `--add-host` entries (`ExtraHosts`, as
/// `NAME:IP`, `host-gateway` already replaced), the container's own addresses with its hostname,
/// then (after [`MEMBERS_MARK`]) the other members of its user-defined networks with their
/// names and aliases, so that they resolve by name without a DNS server.
pub fn hosts_file(
    extra: &[ExtraHost],
    own: &[(IpAddr, String)],
    members: &[(IpAddr, Vec<String>)],
) -> String {
    let mut s = String::from(DEFAULT_HOSTS);
    for e in extra {
        s.push_str(&format!("{}\t{}\n", e.ip, e.name));
    }
    for (ip, names) in own {
        s.push_str(&format!("{ip}\t{names}\n"));
    }
    if !members.is_empty() {
        s.push_str(MEMBERS_MARK);
        for (ip, names) in members {
            s.push_str(&format!("{ip}\t{}\n", names.join(" ")));
        }
    }
    s
}

/// The host's resolv.conf for a container with its own network namespace, as Docker filters it:
/// loopback name servers (which would be the container's own) are removed, and when none is
/// left, Docker's defaults (Google's public DNS) are used. `--dns` replaces the name servers,
/// `--dns-search` the search domains (`.` for none), `--dns-option` the options.
pub fn resolv_conf(host: &str, dns: &[String], search: &[String], options: &[String]) -> String {
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if !dns.is_empty() {
                    continue;
                }
                let addr = words.next().unwrap_or("");
                let ip = addr.split('%').next().unwrap_or("");
                if ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
                    continue;
                }
                servers += 1;
            }
            Some("search") | Some("domain") if !search.is_empty() => continue,
            Some("options") if !options.is_empty() => continue,
            _ => {}
        }
        out.push_str(line);
        out.push('\n');
    }
    for d in dns {
        out.push_str(&format!("nameserver {d}\n"));
        servers += 1;
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    let search: Vec<&String> = search.iter().filter(|s| s.as_str() != ".").collect();
    if !search.is_empty() {
        out.push_str(&format!(
            "search {}\n",
            search
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_has_head_extras_own_and_members() {
        let extra = vec![parse_add_host("db:10.0.0.5").unwrap()];
        let own = vec![("172.18.0.2".parse().unwrap(), "web".to_string())];
        let members = vec![(
            "172.18.0.3".parse().unwrap(),
            vec![
                "api".to_string(),
                "backend".to_string(),
                "0123456789ab".to_string(),
            ],
        )];
        let h = hosts_file(&extra, &own, &members);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost"));
        assert!(h.contains("10.0.0.5\tdb\n"));
        assert!(h.contains("172.18.0.2\tweb\n"));
        assert!(h.ends_with(&format!(
            "{MEMBERS_MARK}172.18.0.3\tapi backend 0123456789ab\n"
        )));
        assert!(!hosts_file(&[], &own, &[]).contains(MEMBERS_MARK));
    }

    #[test]
    fn add_host_forms() {
        assert_eq!(parse_add_host("a:1.2.3.4").unwrap().ip, "1.2.3.4");
        assert_eq!(parse_add_host("a=1.2.3.4").unwrap().name, "a");
        assert_eq!(parse_add_host("v6:::1").unwrap().ip, "::1");
        assert_eq!(parse_add_host("v6=[fd00::1]").unwrap().ip, "fd00::1");
        assert_eq!(
            parse_add_host("gw:host-gateway").unwrap().ip,
            "host-gateway"
        );
        assert!(parse_add_host("nohost").is_err());
        assert!(parse_add_host("a:notanip").is_err());
        assert!(parse_add_host(":1.2.3.4").is_err());
    }

    #[test]
    fn resolv_conf_filtered_and_overridden_as_docker() {
        let host = "nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp\noptions edns0\n";
        assert_eq!(
            resolv_conf(host, &[], &[], &[]),
            "nameserver 10.0.0.2\nsearch corp\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf("nameserver 127.0.0.53\n", &[], &[], &[]),
            "nameserver 127.0.0.53\n".replace("nameserver 127.0.0.53\n", "")
                + "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert_eq!(
            resolv_conf("", &[], &[], &[]),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        let r = resolv_conf(
            host,
            &["1.1.1.1".into()],
            &["a.example".into(), "b.example".into()],
            &["ndots:2".into()],
        );
        assert_eq!(
            r,
            "nameserver 1.1.1.1\nsearch a.example b.example\noptions ndots:2\n"
        );
        assert_eq!(
            resolv_conf(host, &[], &[".".into()], &[]),
            "nameserver 10.0.0.2\noptions edns0\n"
        );
    }
}
