//! `-v`/`--volume` (`berth::volume::parse_volume`) and `--tmpfs` (`parse_tmpfs`): never panic;
//! what they accept has a clean absolute target other than `/`, a clean absolute bind source or
//! a valid volume name, and a `-v` spec rebuilt from what was parsed parses to the same mount.
#![no_main]

use berth::volume::{parse_tmpfs, parse_volume, valid_name, Kind, Request};
use libfuzzer_sys::fuzz_target;

/// Absolute, not `/`, no empty, `.` or `..` component, no trailing `/`.
fn clean_target(t: &str) -> bool {
    t.starts_with('/') && t != "/" && clean_abs(t)
}

fn clean_abs(p: &str) -> bool {
    p == "/"
        || (p.starts_with('/')
            && !p.ends_with('/')
            && p[1..]
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".."))
}

fn check(spec: &str, r: &Request) {
    assert!(clean_target(&r.target), "{spec:?}: target {:?}", r.target);
    match r.kind {
        Kind::Bind => assert!(clean_abs(&r.source), "{spec:?}: source {:?}", r.source),
        Kind::Volume => assert!(
            r.source.is_empty() || valid_name(&r.source),
            "{spec:?}: volume name {:?}",
            r.source
        ),
        Kind::Tmpfs => assert!(r.source.is_empty()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = parse_volume(s) {
        check(s, &r);
        assert_ne!(r.kind, Kind::Tmpfs);
        let mut again = if r.source.is_empty() {
            r.target.clone()
        } else {
            format!("{}:{}", r.source, r.target)
        };
        if !r.mode.is_empty() {
            again = format!("{again}:{}", r.mode);
        }
        let r2 = parse_volume(&again)
            .unwrap_or_else(|e| panic!("{s:?} parsed, its rebuilt form {again:?} did not: {e}"));
        assert_eq!(
            (r2.kind, &r2.source, &r2.target, r2.readonly, r2.nocopy),
            (r.kind, &r.source, &r.target, r.readonly, r.nocopy),
            "{s:?} and {again:?} differ"
        );
    }
    if let Ok(r) = parse_tmpfs(s) {
        check(s, &r);
        assert_eq!(r.kind, Kind::Tmpfs);
    }
});
