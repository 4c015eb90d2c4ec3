//! `-p`/`--publish` (`berth_net::ports::parse_publish`): never panics, and what it accepts is
//! well formed: every key is a container port `N/proto` that parses back to itself, every host
//! IP is empty or an address, every host port empty, a port, or an ordered range.
#![no_main]

use std::net::IpAddr;

use berth_net::ports::{parse_publish, Port, PortBindings};
use libfuzzer_sys::fuzz_target;

fn host_port_ok(p: &str) -> bool {
    let n = |s: &str| s.parse::<u16>().is_ok_and(|n| n > 0) && !s.starts_with('+');
    match p.split_once('-') {
        None => p.is_empty() || n(p),
        Some((a, b)) => n(a) && n(b) && a.parse::<u16>().unwrap() <= b.parse::<u16>().unwrap(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    // Several specs, one a line, into one map: as repeated `-p` flags.
    let mut out = PortBindings::new();
    // At most four: a range of 65535 ports is 65535 bindings, and time goes to the map.
    for spec in s.lines().take(4) {
        let mut alone = PortBindings::new();
        match parse_publish(spec, &mut alone) {
            // A refused spec adds nothing.
            Err(_) => assert!(alone.is_empty(), "{spec:?} was refused but added bindings"),
            Ok(()) => {
                assert!(!alone.is_empty(), "{spec:?} was accepted but added nothing");
                parse_publish(spec, &mut out).expect("accepted alone, accepted after others");
            }
        }
    }
    for (key, bindings) in &out {
        let port: Port = key
            .parse()
            .unwrap_or_else(|e| panic!("key {key:?} is not a port: {e}"));
        assert_eq!(&port.to_string(), key);
        assert!(!bindings.is_empty());
        for b in bindings {
            assert!(
                b.host_ip.is_empty() || b.host_ip.parse::<IpAddr>().is_ok(),
                "host IP {:?}",
                b.host_ip
            );
            assert!(host_port_ok(&b.host_port), "host port {:?}", b.host_port);
        }
    }
});
