//! `--mount` (`berth::volume::parse_mount`): never panics; what it accepts has a clean absolute
//! target other than `/`, a source as its type requires, and the Docker `Mounts` record it
//! keeps names the same type, source and target.
#![no_main]

use berth::volume::{parse_mount, valid_name, Kind, Origin};
use libfuzzer_sys::fuzz_target;

fn clean_abs(p: &str) -> bool {
    p == "/"
        || (p.starts_with('/')
            && !p.ends_with('/')
            && p[1..]
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".."))
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(r) = parse_mount(s) else {
        return;
    };
    assert!(
        r.target.starts_with('/') && r.target != "/" && clean_abs(&r.target),
        "{s:?}: target {:?}",
        r.target
    );
    let kind = match r.kind {
        Kind::Bind => {
            assert!(clean_abs(&r.source), "{s:?}: bind source {:?}", r.source);
            "bind"
        }
        Kind::Volume => {
            assert!(
                r.source.is_empty() || valid_name(&r.source),
                "{s:?}: {:?}",
                r.source
            );
            "volume"
        }
        Kind::Tmpfs => {
            assert!(r.source.is_empty(), "{s:?}: tmpfs with a source");
            "tmpfs"
        }
    };
    let Origin::Mount(m) = &r.origin else {
        panic!("{s:?}: origin {:?}", r.origin)
    };
    assert_eq!(m["Type"], kind, "{s:?}");
    assert_eq!(m["Target"], r.target.as_str(), "{s:?}");
    match m.get("Source") {
        Some(src) => assert_eq!(src, r.source.as_str(), "{s:?}"),
        None => assert!(r.source.is_empty(), "{s:?}"),
    }
    assert_eq!(m.get("ReadOnly").is_some(), r.readonly, "{s:?}");
});
