//! Published ports: `-p`/`--publish` specs as Docker reads them, Docker's `PortBindings` shape,
//! and host port reservations (a bound socket held while the container runs, so that no other
//! container or process takes the port; the traffic itself is DNAT'ed in the kernel).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::OwnedFd;
use std::str::FromStr;

use nix::sys::socket::{
    bind, getsockname, socket, AddressFamily, SockFlag, SockType, SockaddrIn, SockaddrIn6,
    SockaddrStorage,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use crate::firewall::Proto;

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

impl FromStr for Proto {
    type Err = Error;
    fn from_str(s: &str) -> Result<Proto> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" | "" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            "sctp" => Err(Error::InvalidInput(
                "sctp ports are not supported (tcp and udp are)".into(),
            )),
            _ => Err(Error::InvalidInput(format!(
                "invalid protocol {s:?}: expected tcp or udp"
            ))),
        }
    }
}

/// A container port: `80/tcp`, the key of Docker's `ExposedPorts`, `PortBindings` and `Ports`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port {
    pub port: u16,
    pub proto: Proto,
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.proto)
    }
}

impl FromStr for Port {
    type Err = Error;
    /// `80`, `80/tcp`, `53/udp`.
    fn from_str(s: &str) -> Result<Port> {
        let (p, proto) = s.split_once('/').unwrap_or((s, "tcp"));
        Ok(Port {
            port: port_number(p, s)?,
            proto: proto.parse()?,
        })
    }
}

fn port_number(p: &str, spec: &str) -> Result<u16> {
    // Digits only, as Go's ParseUint: Rust's parse also takes a leading '+'.
    let digits = !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    match p.parse::<u16>() {
        Ok(n) if n > 0 && digits => Ok(n),
        _ => Err(Error::InvalidInput(format!(
            "invalid port {p:?} in {spec:?}: expected a number from 1 to 65535"
        ))),
    }
}

fn port_range(p: &str, spec: &str) -> Result<(u16, u16)> {
    match p.split_once('-') {
        None => {
            let n = port_number(p, spec)?;
            Ok((n, n))
        }
        Some((a, b)) => {
            let (a, b) = (port_number(a, spec)?, port_number(b, spec)?);
            if b < a {
                return Err(Error::InvalidInput(format!(
                    "invalid port range {p:?} in {spec:?}: the end is before the start"
                )));
            }
            Ok((a, b))
        }
    }
}

/// One host binding of a container port, as Docker's `HostConfig.PortBindings` holds it:
/// `HostIp` "" for every address, `HostPort` "" for any free port, or a number, or a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Binding {
    pub host_ip: String,
    pub host_port: String,
}

/// Docker's `PortBindings`: `{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`.
pub type PortBindings = BTreeMap<String, Vec<Binding>>;

/// Reads one `-p` value: `[IP:][HOST[-END]:]CTR[-END][/PROTO]`, IPv6 addresses in brackets, and
/// adds its bindings to `out`. Ranges pair up port by port; a host range with one container
/// port means "the first free port of that range".
pub fn parse_publish(spec: &str, out: &mut PortBindings) -> Result<()> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.parse::<Proto>()?),
        None => (spec, Proto::Tcp),
    };
    let (ip, rest) = if let Some(after) = rest.strip_prefix('[') {
        let (ip, rest) = after.split_once("]:").ok_or_else(|| {
            Error::InvalidInput(format!(
                "invalid publish spec {spec:?}: unclosed [ around the IP"
            ))
        })?;
        (Some(ip), rest)
    } else {
        (None, rest)
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, ctr) = match (ip, parts.as_slice()) {
        (None, [c]) => (None, None, *c),
        (None, [h, c]) => (None, Some(*h), *c),
        (None, [i, h, c]) => (Some(*i), Some(*h), *c),
        (Some(i), [h, c]) => (Some(i), Some(*h), *c),
        _ => {
            return Err(Error::InvalidInput(format!(
                "invalid publish spec {spec:?}: expected [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]"
            )))
        }
    };
    let host_ip = match ip {
        None | Some("") => String::new(),
        Some(i) => i
            .parse::<IpAddr>()
            .map_err(|_| {
                Error::InvalidInput(format!("invalid IP address {i:?} in publish spec {spec:?}"))
            })?
            .to_string(),
    };
    let ctr = port_range(ctr, spec)?;
    let host = match host {
        None | Some("") => None,
        Some(h) => Some(port_range(h, spec)?),
    };
    let n = (ctr.1 - ctr.0) as u32 + 1;
    let mut add = |port: u16, host_port: String| {
        let key = Port { port, proto }.to_string();
        let b = Binding {
            host_ip: host_ip.clone(),
            host_port,
        };
        let list = out.entry(key).or_default();
        if !list.contains(&b) {
            list.push(b);
        }
    };
    match host {
        None => (ctr.0..=ctr.1).for_each(|p| add(p, String::new())),
        Some((a, b)) if a == b && n == 1 => add(ctr.0, a.to_string()),
        Some((a, b)) if n == 1 => add(ctr.0, format!("{a}-{b}")),
        Some((a, b)) if (b - a) as u32 + 1 == n => {
            for (i, p) in (ctr.0..=ctr.1).enumerate() {
                add(p, (a + i as u16).to_string());
            }
        }
        Some(_) => {
            return Err(Error::InvalidInput(format!(
                "invalid publish spec {spec:?}: the host and container port ranges differ in length"
            )))
        }
    }
    Ok(())
}

/// A host port held for a container: the socket stays bound (not listening) while it lives.
#[derive(Debug)]
pub struct Reservation {
    pub port: Port,
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub socket: OwnedFd,
}

/// Binds `host_ip` and a port of `binding` (a number, a range: the first free one, or "": any
/// free port) for `port.proto`, without SO_REUSEADDR, so that the port is refused to anyone else
/// while the socket lives. An address in use is a `Conflict` that names the port.
pub fn reserve(port: Port, binding: &Binding) -> Result<Reservation> {
    let host_ip: IpAddr = if binding.host_ip.is_empty() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        binding.host_ip.parse().map_err(|_| {
            Error::InvalidInput(format!("invalid host IP {:?} for {port}", binding.host_ip))
        })?
    };
    let range = if binding.host_port.is_empty() {
        (0, 0)
    } else {
        port_range(&binding.host_port, &binding.host_port)?
    };
    let mut last = None;
    for p in range.0..=range.1 {
        match bind_port(host_ip, p, port.proto) {
            Ok((socket, got)) => {
                return Ok(Reservation {
                    port,
                    host_ip,
                    host_port: got,
                    socket,
                })
            }
            Err(e) => last = Some(e),
        }
    }
    let e = last.expect("a range has a port");
    let what = if range.0 == range.1 {
        format!("{host_ip}:{}", range.0)
    } else {
        format!("{host_ip}:{}-{}", range.0, range.1)
    };
    Err(if e == nix::errno::Errno::EADDRINUSE {
        Error::Conflict(format!(
            "cannot publish {port} on {what}: the host port is already in use (by another \
             container or a process listening on it)"
        ))
    } else {
        Error::Conflict(format!("cannot publish {port} on {what}: bind: {e}"))
    })
}

fn bind_port(ip: IpAddr, port: u16, proto: Proto) -> nix::Result<(OwnedFd, u16)> {
    let ty = match proto {
        Proto::Tcp => SockType::Stream,
        Proto::Udp => SockType::Datagram,
    };
    let family = match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = socket(family, ty, SockFlag::SOCK_CLOEXEC, None)?;
    let sa = SocketAddr::new(ip, port);
    match sa {
        SocketAddr::V4(a) => bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::from(a))?,
        SocketAddr::V6(a) => bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn6::from(a))?,
    }
    let got: SockaddrStorage = getsockname(std::os::fd::AsRawFd::as_raw_fd(&fd))?;
    let got = got
        .as_sockaddr_in()
        .map(|a| a.port())
        .or_else(|| got.as_sockaddr_in6().map(|a| a.port()))
        .unwrap_or(port);
    Ok((fd, got))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(specs: &[&str]) -> Result<PortBindings> {
        let mut out = PortBindings::new();
        for s in specs {
            parse_publish(s, &mut out)?;
        }
        Ok(out)
    }

    fn b(ip: &str, port: &str) -> Binding {
        Binding {
            host_ip: ip.into(),
            host_port: port.into(),
        }
    }

    #[test]
    fn publish_specs_as_docker_reads_them() {
        let p = parse(&[
            "8080:80",
            "127.0.0.1:9000:90/udp",
            "7000",
            "[::1]:5353:53/udp",
        ])
        .unwrap();
        assert_eq!(p["80/tcp"], vec![b("", "8080")]);
        assert_eq!(p["90/udp"], vec![b("127.0.0.1", "9000")]);
        assert_eq!(p["7000/tcp"], vec![b("", "")]);
        assert_eq!(p["53/udp"], vec![b("::1", "5353")]);
        let p = parse(&["8000-8002:80-82", "127.0.0.1::443"]).unwrap();
        assert_eq!(p["80/tcp"], vec![b("", "8000")]);
        assert_eq!(p["82/tcp"], vec![b("", "8002")]);
        assert_eq!(p["443/tcp"], vec![b("127.0.0.1", "")]);
        let p = parse(&["9000-9010:80", "3000-3001"]).unwrap();
        assert_eq!(p["80/tcp"], vec![b("", "9000-9010")]);
        assert_eq!(p["3001/tcp"], vec![b("", "")]);
        // The same spec twice is one binding; two host ports for one container port are two.
        let p = parse(&["8080:80", "8080:80", "8081:80"]).unwrap();
        assert_eq!(p["80/tcp"], vec![b("", "8080"), b("", "8081")]);
    }

    #[test]
    fn bad_publish_specs_are_named() {
        for (spec, needle) in [
            ("8000-8002:80-81", "ranges differ"),
            ("0:80", "invalid port"),
            ("70000:80", "invalid port"),
            ("8080:80/sctp", "sctp"),
            ("8080:80/icmp", "protocol"),
            ("nope:8080:80", "invalid IP"),
            ("1:2:3:4", "expected"),
            ("82-80", "end is before"),
            ("[::1:80:80", "unclosed"),
        ] {
            let e = parse(&[spec]).unwrap_err().to_string();
            assert!(e.contains(needle), "{spec}: {e}");
        }
        // Digits only, as Go's ParseUint (Rust's parse takes a leading '+').
        for bad in ["+80/tcp", "+80", "8+0", " 80"] {
            assert!(bad.parse::<Port>().is_err(), "{bad}");
        }
        for bad in ["+8080:80", "8080:+80", "8080:80-+81"] {
            assert!(parse(&[bad]).is_err(), "{bad}");
        }
        assert_eq!("53/udp".parse::<Port>().unwrap().to_string(), "53/udp");
        assert_eq!("80".parse::<Port>().unwrap().to_string(), "80/tcp");
    }

    #[test]
    fn reservations_hold_the_port() {
        let port: Port = "80/tcp".parse().unwrap();
        let any = reserve(port, &b("127.0.0.1", "")).unwrap();
        assert!(any.host_port > 0);
        let fixed = any.host_port.to_string();
        let e = reserve(port, &b("127.0.0.1", &fixed))
            .unwrap_err()
            .to_string();
        assert!(e.contains(&fixed) && e.contains("already in use"), "{e}");
        // A range moves on to the next free port.
        let next = any.host_port.checked_add(1).unwrap();
        let r = reserve(port, &b("127.0.0.1", &format!("{fixed}-{next}")));
        if let Ok(r) = r {
            assert_eq!(r.host_port, next);
        }
        // A listening process on the port is refused too.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let lp = l.local_addr().unwrap().port().to_string();
        assert!(reserve(port, &b("127.0.0.1", &lp)).is_err());
        // UDP is its own space.
        let u: Port = "80/udp".parse().unwrap();
        let r = reserve(u, &b("127.0.0.1", &lp)).unwrap();
        assert_eq!(r.host_port.to_string(), lp);
        drop(any);
        assert!(reserve(port, &b("127.0.0.1", &fixed)).is_ok());
    }
}
