//! Kernel tests of netlink, sysctl and firewall, as root. Each test runs in a thread of its own
//! that unshares a network namespace first, so nothing it makes is seen on the host (the `nft`
//! it runs inherits that thread's namespace); the "container" namespaces are made the same way
//! by helper threads and kept alive by a descriptor. Without root each test says so and passes.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use berth_net::firewall::{self, NetRules, PortRule, Proto};
use berth_net::netlink::Netlink;
use berth_net::sysctl;
use nix::sched::{setns, unshare, CloneFlags};

const WAIT: Duration = Duration::from_secs(3);

/// Whether this test can run: root, and allowed to make network namespaces (a restricted
/// container may refuse even root). Says why not.
fn root() -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root (network namespaces, netlink, nft)");
        return false;
    }
    let can = std::thread::spawn(|| unshare(CloneFlags::CLONE_NEWNET))
        .join()
        .unwrap();
    if let Err(e) = can {
        eprintln!("skipped: cannot make a network namespace: {e}");
        return false;
    }
    true
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Runs `f` in a new thread, in a new network namespace with `lo` up.
fn in_new_netns<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
            Netlink::open().unwrap().set_up("lo").unwrap();
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// A new network namespace (made by a helper thread, which ends), with `lo` up, held by the
/// returned descriptor.
fn new_netns() -> OwnedFd {
    std::thread::spawn(|| {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        Netlink::open().unwrap().set_up("lo").unwrap();
        OwnedFd::from(std::fs::File::open("/proc/thread-self/ns/net").unwrap())
    })
    .join()
    .unwrap()
}

/// Runs `f` in a thread inside the namespace `ns`.
fn in_netns<T: Send + 'static>(
    ns: &OwnedFd,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let ns = ns.try_clone().unwrap();
    std::thread::spawn(move || {
        setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
}

fn accept_within(listener: &TcpListener, limit: Duration) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + limit;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(WAIT)).unwrap();
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "no connection within {limit:?}");
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Connects to `to`, sends "ping", expects "pong".
fn ping_pong(to: SocketAddr) -> std::io::Result<()> {
    let mut s = TcpStream::connect_timeout(&to, WAIT)?;
    s.set_read_timeout(Some(WAIT))?;
    s.write_all(b"ping")?;
    let mut buf = [0; 4];
    s.read_exact(&mut buf)?;
    assert_eq!(&buf, b"pong");
    Ok(())
}

/// Answers one ping-pong on `listener`.
fn serve_one(listener: TcpListener) {
    let mut s = accept_within(&listener, WAIT);
    let mut buf = [0; 4];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    s.write_all(b"pong").unwrap();
}

/// A bridge `bridge` with `gw/24` here, and a new namespace with a veth `eth0` on the bridge
/// holding `ctr/24` and a default route through `gw`.
fn bridge_and_container(nl: &mut Netlink, bridge: &str, gw: &str, ctr: &str) -> OwnedFd {
    nl.ensure_bridge(bridge).unwrap();
    nl.add_address(bridge, ip(gw), 24).unwrap();
    let ns = new_netns();
    let host_end = format!("veth{}", ctr.replace('.', ""));
    nl.create_veth(&host_end, "eth0", ns.as_fd(), None, Some(bridge))
        .unwrap();
    let mut inner = Netlink::open_in(ns.as_fd()).unwrap();
    inner.set_up("eth0").unwrap();
    inner.add_address("eth0", ip(ctr), 24).unwrap();
    inner.add_default_route(ip(gw)).unwrap();
    ns
}

#[test]
fn bridge_with_addresses() {
    if !root() {
        return;
    }
    in_new_netns(|| {
        let mut nl = Netlink::open().unwrap();
        assert!(nl.link("berthtest0").unwrap().is_none());
        let br = nl.ensure_bridge("berthtest0").unwrap();
        assert_eq!(br.name, "berthtest0");
        assert_eq!(br.kind.as_deref(), Some("bridge"));
        assert!(br.up);
        assert!(br.mac.is_some());
        assert_eq!(br.mtu, Some(1500));
        // Again: the same bridge.
        assert_eq!(nl.ensure_bridge("berthtest0").unwrap().index, br.index);

        nl.add_address("berthtest0", ip("10.99.0.1"), 24).unwrap();
        nl.add_address("berthtest0", ip("10.99.0.1"), 24).unwrap();
        nl.add_address("berthtest0", ip("fd00:99::1"), 64).unwrap();
        let addrs = nl.addresses("berthtest0").unwrap();
        assert!(addrs.contains(&(ip("10.99.0.1"), 24)), "{addrs:?}");
        assert!(addrs.contains(&(ip("fd00:99::1"), 64)), "{addrs:?}");

        let links = nl.links().unwrap();
        assert!(links
            .iter()
            .any(|l| l.name == "lo" && l.up && l.kind.is_none()));
        assert!(links.iter().any(|l| l.name == "berthtest0"));

        // Errors name the link.
        let err = nl.add_address("nosuchlink", ip("10.0.0.1"), 8).unwrap_err();
        assert!(err.to_string().contains("nosuchlink"), "{err}");
        let err = nl.set_up("nosuchlink").unwrap_err();
        assert!(err.to_string().contains("nosuchlink"), "{err}");

        // A link of that name that is no bridge.
        assert!(matches!(
            nl.ensure_bridge("lo"),
            Err(berth_net::Error::Conflict(_))
        ));

        assert!(matches!(
            nl.link("a-name-far-too-long"),
            Err(berth_net::Error::InvalidInput(_))
        ));

        assert!(nl.delete_link("berthtest0").unwrap());
        assert!(!nl.delete_link("berthtest0").unwrap());
        assert!(nl.link("berthtest0").unwrap().is_none());
    });
}

#[test]
fn veth_into_a_namespace() {
    if !root() {
        return;
    }
    in_new_netns(|| {
        let mut nl = Netlink::open().unwrap();
        let br = nl.ensure_bridge("berth0").unwrap();
        nl.add_address("berth0", ip("10.99.1.1"), 24).unwrap();
        nl.add_address("berth0", ip("fd00:99:1::1"), 64).unwrap();
        let ns = new_netns();
        let mac = [0x02, 0x42, 0x0a, 0x63, 0x01, 0x02];
        nl.create_veth("vethtest0", "eth0", ns.as_fd(), Some(mac), Some("berth0"))
            .unwrap();
        let host = nl.link("vethtest0").unwrap().unwrap();
        assert_eq!(host.kind.as_deref(), Some("veth"));
        assert_eq!(host.master, Some(br.index));
        assert!(host.up);
        // The peer is not here...
        assert!(nl.link("eth0").unwrap().is_none());
        // ...but there.
        let mut inner = Netlink::open_in(ns.as_fd()).unwrap();
        let eth0 = inner.link("eth0").unwrap().unwrap();
        assert_eq!(eth0.mac, Some(mac));
        assert_eq!(eth0.kind.as_deref(), Some("veth"));
        assert!(!eth0.up);
        inner.set_up("eth0").unwrap();
        inner.add_address("eth0", ip("10.99.1.2"), 24).unwrap();
        inner.add_address("eth0", ip("fd00:99:1::2"), 64).unwrap();
        inner.add_default_route(ip("10.99.1.1")).unwrap();
        inner.add_default_route(ip("10.99.1.1")).unwrap();
        inner.add_default_route(ip("fd00:99:1::1")).unwrap();
        let addrs = inner.addresses("eth0").unwrap();
        assert!(addrs.contains(&(ip("10.99.1.2"), 24)), "{addrs:?}");
        // A second veth of the same name is refused, naming it.
        let err = nl
            .create_veth("vethtest0", "eth1", ns.as_fd(), None, None)
            .unwrap_err();
        assert!(err.to_string().contains("vethtest0"), "{err}");

        // The inner namespace reaches a listener on the bridge's address, and one on an
        // address outside its subnet (on lo here) through its default route.
        nl.add_address("lo", ip("10.98.0.1"), 32).unwrap();
        for to in ["10.99.1.1", "10.98.0.1"] {
            let listener = TcpListener::bind((ip(to), 0)).unwrap();
            let port = listener.local_addr().unwrap().port();
            let client = in_netns(&ns, move || ping_pong(SocketAddr::new(ip(to), port)));
            serve_one(listener);
            client.join().unwrap().unwrap();
        }

        // Deleting the host end takes the peer with it.
        assert!(nl.delete_link("vethtest0").unwrap());
        assert!(inner.link("eth0").unwrap().is_none());
    });
}

#[test]
fn firewall_publishes_a_port_on_localhost() {
    if !root() {
        return;
    }
    in_new_netns(|| {
        // Nothing there yet: removal and listing are fine.
        firewall::remove_owner("c1").unwrap();
        assert!(firewall::owners().unwrap().is_empty());
        assert!(firewall::list().unwrap().is_none());

        firewall::ensure_table().unwrap();
        firewall::ensure_table().unwrap();
        let l = firewall::list().unwrap().unwrap();
        assert!(l.is_complete(), "{l:?}");
        assert_eq!(l.rules.len(), 2);

        let mut nl = Netlink::open().unwrap();
        let ns = bridge_and_container(&mut nl, "berth0", "10.99.2.1", "10.99.2.2");
        sysctl::enable_forwarding(true).unwrap();
        let net = NetRules {
            bridge: "berth0".into(),
            subnets: vec![(ip("10.99.2.1"), 24)],
            internal: false,
        };
        firewall::add_network(&net).unwrap();
        firewall::add_network(&net).unwrap();
        let l = firewall::list().unwrap().unwrap();
        assert_eq!(
            l.commented("net:berth0").count(),
            firewall::network_rules(&net).unwrap().len(),
            "add_network twice left one set of rules"
        );
        assert_eq!(
            firewall::network_bridges()
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            ["berth0"]
        );
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/conf/berth0/route_localnet")
                .unwrap()
                .trim(),
            "1"
        );

        let rules = [
            PortRule {
                proto: Proto::Tcp,
                host_ip: None,
                host_port: 18080,
                ctr_ip: ip("10.99.2.2"),
                ctr_port: 8080,
            },
            PortRule {
                proto: Proto::Udp,
                host_ip: Some(ip("127.0.0.1")),
                host_port: 18053,
                ctr_ip: ip("10.99.2.2"),
                ctr_port: 53,
            },
        ];
        firewall::add_ports("c1", &rules).unwrap();
        let l = firewall::list().unwrap().unwrap();
        let c1: Vec<_> = l.commented("ctr:c1").collect();
        assert_eq!(c1.len(), 2);
        assert!(c1.iter().all(|r| r.chain == "ports"));
        assert_eq!(
            firewall::owners().unwrap().into_iter().collect::<Vec<_>>(),
            ["c1"]
        );

        // A real connection: 127.0.0.1:18080 here is 10.99.2.2:8080 in the container.
        for round in 0..2 {
            let (tx, rx) = mpsc::channel();
            let server = in_netns(&ns, move || {
                let listener = TcpListener::bind("10.99.2.2:8080").unwrap();
                tx.send(()).unwrap();
                serve_one(listener);
            });
            rx.recv_timeout(WAIT).unwrap();
            // Through localhost (output chain, route_localnet, masquerade), then through the
            // bridge's own address.
            let to = if round == 0 { "127.0.0.1" } else { "10.99.2.1" };
            ping_pong(SocketAddr::new(ip(to), 18080)).unwrap();
            server.join().unwrap();
        }

        firewall::remove_owner("c1").unwrap();
        firewall::remove_owner("c1").unwrap();
        let l = firewall::list().unwrap().unwrap();
        assert!(l
            .rules
            .iter()
            .all(|r| !r.comment.as_deref().unwrap_or("").starts_with("ctr:")));
        assert!(firewall::owners().unwrap().is_empty());
        // Nothing listens on 18080 here: the port is gone.
        let err = TcpStream::connect_timeout(&"127.0.0.1:18080".parse().unwrap(), WAIT);
        assert!(err.is_err());

        firewall::remove_network("berth0").unwrap();
        assert!(firewall::network_bridges().unwrap().is_empty());
        // The table and its jumps stay.
        assert!(firewall::list().unwrap().unwrap().is_complete());
    });
}

/// Serves one ping-pong on `addr` inside `ns`, in a thread; returns once it listens.
fn serve_in(ns: &OwnedFd, addr: &'static str) -> std::thread::JoinHandle<()> {
    let (tx, rx) = mpsc::channel();
    let server = in_netns(ns, move || {
        let listener = TcpListener::bind(addr).unwrap();
        tx.send(()).unwrap();
        serve_one(listener);
    });
    rx.recv_timeout(WAIT).unwrap();
    server
}

#[test]
fn firewall_isolates_networks_and_hairpins() {
    if !root() {
        return;
    }
    in_new_netns(|| {
        let mut nl = Netlink::open().unwrap();
        sysctl::enable_forwarding(false).unwrap();
        let x = bridge_and_container(&mut nl, "berth0", "10.99.3.1", "10.99.3.2");
        let y = bridge_and_container(&mut nl, "berth0", "10.99.3.1", "10.99.3.3");
        let z = bridge_and_container(&mut nl, "berth1", "10.99.4.1", "10.99.4.2");

        // Before any rule, x reaches z through the host (forwarding is on).
        let server = serve_in(&z, "10.99.4.2:8080");
        in_netns(&x, || ping_pong("10.99.4.2:8080".parse().unwrap()))
            .join()
            .unwrap()
            .unwrap();
        server.join().unwrap();

        for (bridge, subnet) in [("berth0", "10.99.3.0"), ("berth1", "10.99.4.0")] {
            firewall::add_network(&NetRules {
                bridge: bridge.into(),
                subnets: vec![(ip(subnet), 24)],
                internal: false,
            })
            .unwrap();
        }
        // Now the networks are isolated from each other: the SYN is dropped.
        let blocked = in_netns(&x, || {
            TcpStream::connect_timeout(&"10.99.4.2:8080".parse().unwrap(), WAIT / 3)
        });
        let err = blocked.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");

        // Hairpin: x reaches y's published port through the host's address on their bridge.
        firewall::add_ports(
            "y",
            &[PortRule {
                proto: Proto::Tcp,
                host_ip: Some(ip("10.99.3.1")),
                host_port: 18081,
                ctr_ip: ip("10.99.3.3"),
                ctr_port: 8080,
            }],
        )
        .unwrap();
        let server = serve_in(&y, "10.99.3.3:8080");
        in_netns(&x, || ping_pong("10.99.3.1:18081".parse().unwrap()))
            .join()
            .unwrap()
            .unwrap();
        server.join().unwrap();
        // z, on the other network, does not: the DNATed connection would be forwarded from
        // berth1 to berth0, which the isolation rules drop (as Docker's and netavark's do).
        let blocked = in_netns(&z, || {
            TcpStream::connect_timeout(&"10.99.3.1:18081".parse().unwrap(), WAIT / 3)
        });
        let err = blocked.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    });
}
