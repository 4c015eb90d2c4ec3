//! The image reference parser and normaliser (`berth::reference`), as a property: whatever
//! parses must print (in full, and in Docker's familiar form) to a string that parses again to
//! the same reference, and `oci:DIR[:REF]` names must print back to themselves.
#![no_main]

use berth::reference::{ImageName, Reference};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = Reference::parse(s) {
        let full = r.to_string();
        let again = Reference::parse(&full)
            .unwrap_or_else(|e| panic!("{s:?} parsed, its normal form {full:?} did not: {e}"));
        assert_eq!(again, r, "{s:?} -> {full:?} parsed to another reference");
        assert_eq!(
            again.to_string(),
            full,
            "normal form of {s:?} is not stable"
        );

        // Docker's familiar form names the same image, except where Docker's own FamiliarName
        // is ambiguous: a Docker Hub path whose first element looks like a registry
        // (`docker.io/foo.com/x` is shown as `foo.com/x`, which names another registry or,
        // `docker.io/a_b.c/x`, does not parse at all). Docker does the same.
        let familiar = r.familiar_string();
        let name = r.familiar_name();
        let first = name.split('/').next().unwrap_or_default();
        let looks_like_domain = r.is_docker_hub()
            && name.contains('/')
            && (first == "localhost" || first.contains(['.', ':']));
        if !looks_like_domain {
            match Reference::parse(&familiar) {
                Ok(f) => assert_eq!(
                    f, r,
                    "{s:?}: familiar form {familiar:?} names another image"
                ),
                Err(e) => panic!("{s:?}: familiar form {familiar:?} does not parse: {e}"),
            }
        }

        let tagged = r.clone().with_default_tag();
        assert!(tagged.tag().is_some() || tagged.digest().is_some());
        if let Some(t) = r.tag() {
            assert_eq!(r.with_tag(t).expect("its own tag is valid").tag(), Some(t));
        }
        assert_eq!(
            Reference::parse(&r.without_tag_or_digest().to_string()).ok(),
            Some(r.without_tag_or_digest())
        );
        let json = serde_json::to_string(&r).expect("serialises");
        let back: Reference = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, r);
    }
    if let Ok(n) = ImageName::parse(s) {
        let printed = n.to_string();
        assert_eq!(
            ImageName::parse(&printed).ok(),
            Some(n),
            "{s:?} -> {printed:?} parsed to another name"
        );
    }
});
