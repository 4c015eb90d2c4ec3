//! What img-pull refuses and how long it waits: artifacts (a config that is not an image's)
//! and layers of unknown media types are refused before any blob is fetched, from the fake
//! registry and from a real one; configs over the cap and bodies longer than their manifest
//! declares are refused without being read to the end; a registry that trickles or stalls
//! makes the pull fail within the configured deadline, while a slow but steady one does not.
//! A refused pull tags nothing, stores nothing of the refused blob, leaves no partial file and
//! makes no snapshot.

use std::time::{Duration, Instant};

use crate::registry_auth::{
    assert_nothing_half_written, assert_pulled, blobs_verified, fake_image, partials, says_timeout,
    tags, User,
};
use crate::support::fake_registry::{
    with_config_size, with_config_type, with_layer_type, Behaviour, Blob, FakeImage, FakeRegistry,
    Fault, Match, Platform,
};
use crate::support::http::request;
use crate::support::{run, Out, Registry};

/// Asserts that a refused pull changed nothing a user would see: no tag in index.json, an
/// empty img-ls, none of `absent` stored, no partial download, no snapshot.
fn assert_refused_cleanly(user: &User, absent: &[&str]) {
    assert_nothing_half_written(user, absent);
    let images = user.env.images();
    assert!(partials(&images).is_empty(), "{:?}", partials(&images));
    let ls = user.run("img-ls", &["--format", "json"]).ok();
    assert!(ls.stdout.trim().is_empty(), "img-ls lists nothing: {ls:?}");
    let snapshots = user.env.root.join("snapshots");
    let made: Vec<_> = std::fs::read_dir(&snapshots)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(made.is_empty(), "no snapshot is made: {made:?}");
}

/// Runs img-pull with the registry deadline set to `secs` seconds; returns what it did and how
/// long it took.
fn pull_with_deadline(user: &User, secs: &str, reference: &str) -> (Out, Duration) {
    let start = Instant::now();
    let out = run(user
        .cmd("img-pull")
        .env("BERTH_REGISTRY_TIMEOUT", secs)
        .arg(reference));
    (out, start.elapsed())
}

// ---------------------------------------------------------------------------------------------
// What is not an image.

#[test]
fn pull_refuses_artifacts_before_fetching_a_blob() {
    for (config_type, class) in [
        ("application/vnd.cncf.helm.config.v1+json", "unknown"),
        ("application/vnd.oci.empty.v1+json", "unknown"),
        ("application/vnd.docker.plugin.v1+json", "plugin"),
    ] {
        let image = with_config_type(fake_image("artifact/x"), config_type);
        let fake = FakeRegistry::start(image.clone(), Behaviour::normal());
        let user = User::new();
        let out = user
            .run("img-pull", &[&fake.reference(&image)])
            .fails_with(1, &format!("encountered remote \"{config_type}\"({class})"));
        assert!(out.stderr.starts_with("img-pull: error: "), "{out:?}");
        assert!(out.stderr.contains(&fake.addr()), "{out:?}");
        assert!(
            out.stderr.contains(&image.manifests[0].config.digest),
            "{out:?}"
        );
        assert!(out.stdout.is_empty());
        assert!(
            fake.requests_to("/blobs/").is_empty(),
            "no blob of an artifact is fetched: {:#?}",
            fake.requests_to("/blobs/")
        );
        assert!(blobs_verified(&user.env.images()).is_empty());
        assert_refused_cleanly(&user, &[]);
    }
}

#[test]
fn pull_refuses_a_layer_of_an_unknown_media_type() {
    for bad in [
        "application/vnd.oci.image.layer.v1.tar+bzip2",
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
        "application/octet-stream",
    ] {
        let image = with_layer_type(fake_image("odd/layer"), 1, bad);
        let fake = FakeRegistry::start(image.clone(), Behaviour::normal());
        let user = User::new();
        let out = user
            .run("img-pull", &[&fake.reference(&image)])
            .fails_with(1, &format!("unsupported media type \"{bad}\""));
        assert!(
            out.stderr
                .contains(&format!("layer {}", image.layers()[1].digest)),
            "{out:?}"
        );
        assert!(fake.requests_to("/blobs/").is_empty(), "checked up front");
        assert!(blobs_verified(&user.env.images()).is_empty());
        assert_refused_cleanly(&user, &[]);
    }
}

/// Pushes `image` (one manifest) to a real registry over plain HTTP, as a client would:
/// monolithic blob uploads, then the manifest under `tag`.
fn push_raw(addr: &str, repo: &str, tag: &str, image: &FakeImage) {
    for b in image.all_blobs() {
        let r = request(
            addr,
            "POST",
            &format!("/v2/{repo}/blobs/uploads/"),
            &[],
            &[],
        );
        assert_eq!(r.status, 202, "start an upload: {}", r.text());
        let loc = r.header("location").expect("a Location").to_string();
        let target = match loc.split_once("://") {
            Some((_, rest)) => rest[rest.find('/').unwrap()..].to_string(),
            None => loc,
        };
        let sep = if target.contains('?') { '&' } else { '?' };
        let r = request(
            addr,
            "PUT",
            &format!("{target}{sep}digest={}", b.digest),
            &[("Content-Type", "application/octet-stream")],
            &b.data,
        );
        assert_eq!(r.status, 201, "upload {}: {}", b.digest, r.text());
    }
    let m = &image.manifests[0].manifest;
    let r = request(
        addr,
        "PUT",
        &format!("/v2/{repo}/manifests/{tag}"),
        &[("Content-Type", m.media_type.as_str())],
        &m.data,
    );
    assert_eq!(r.status, 201, "PUT the manifest: {}", r.text());
}

#[test]
fn pull_refuses_an_artifact_from_a_real_registry() {
    require_program!("docker-registry");
    let reg = Registry::start();
    let addr = reg.addr();
    let image = fake_image("real/app");
    let artifact = with_config_type(
        fake_image("real/chart"),
        "application/vnd.cncf.helm.config.v1+json",
    );
    push_raw(&addr, "real/app", "1", &image);
    push_raw(&addr, "real/chart", "1", &artifact);
    let user = User::new();
    let out = user
        .run("img-pull", &[&format!("{addr}/real/chart:1")])
        .fails_with(
            1,
            "encountered remote \"application/vnd.cncf.helm.config.v1+json\"(unknown)",
        );
    assert!(out.stderr.contains("not an image"), "{out:?}");
    assert!(blobs_verified(&user.env.images()).is_empty());
    assert_refused_cleanly(&user, &[]);
    // The same push of an image pulls: the refusal is about the artifact.
    let out = user.run("img-pull", &[&format!("{addr}/real/app:1")]).ok();
    assert_eq!(out.json()["digest"], image.digest());
    assert_eq!(tags(&user.env.images()), vec![format!("{addr}/real/app:1")]);
}

// ---------------------------------------------------------------------------------------------
// Sizes.

#[test]
fn pull_refuses_a_config_over_the_cap_without_fetching_it() {
    let image = with_config_size(fake_image("big/config"), (4 << 20) + 1);
    let config = image.manifests[0].config.digest.clone();
    let fake = FakeRegistry::start(image.clone(), Behaviour::normal());
    let user = User::new();
    let out = user
        .run("img-pull", &[&fake.reference(&image)])
        .fails_with(1, "more than the 4 MiB a config may be");
    assert!(out.stderr.contains(&config), "{out:?}");
    assert!(
        fake.requests_to("/blobs/").is_empty(),
        "nothing is downloaded"
    );
    assert!(blobs_verified(&user.env.images()).is_empty());
    assert_refused_cleanly(&user, &[]);
}

#[test]
fn pull_refuses_blobs_longer_than_declared() {
    let image = fake_image("long/blobs");
    let m = &image.manifests[0];
    let blobs: Vec<&Blob> = vec![&m.config, &m.layers[0], &m.layers[1]];
    for b in blobs {
        for fault in [
            Fault::Oversend { extra: 1 },
            Fault::OversendUnframed { extra: 8 << 20 },
        ] {
            let fake = FakeRegistry::start(
                image.clone(),
                Behaviour::normal().always(Match::Blob(b.digest.clone()), fault.clone()),
            );
            let user = User::new();
            let out = user
                .run("img-pull", &["--no-unpack", &fake.reference(&image)])
                .fails_with(
                    1,
                    &format!(
                        "sends more than the {} bytes the manifest declares",
                        b.size()
                    ),
                );
            assert!(out.stderr.contains(&b.digest), "{fault:?}: {out:?}");
            // Other blobs may have been stored, verified; this one is not, nor a partial.
            assert_refused_cleanly(&user, &[&b.digest]);
        }
    }
}

#[test]
fn pull_refuses_a_manifest_longer_than_its_index_declares() {
    let tars = fake_image("x/y").manifests[0].tars.clone();
    let image = FakeImage::multi_platform(
        "long/manifest",
        "1",
        vec![
            (Platform::linux_amd64(), tars.clone()),
            (Platform::linux_arm64(), tars),
        ],
    );
    let child = image.for_arch("amd64").manifest.clone();
    for fault in [
        Fault::Oversend { extra: 1 },
        Fault::OversendUnframed { extra: 8 << 20 },
    ] {
        let fake = FakeRegistry::start(
            image.clone(),
            Behaviour::normal().always(Match::Manifest(child.digest.clone()), fault.clone()),
        );
        let user = User::new();
        let out = user
            .run(
                "img-pull",
                &["--platform", "linux/amd64", &fake.reference(&image)],
            )
            .fails_with(
                1,
                &format!(
                    "sends more than the {} bytes the index declares",
                    child.size()
                ),
            );
        assert!(out.stderr.contains(&child.digest), "{fault:?}: {out:?}");
        assert!(fake.requests_to("/blobs/").is_empty());
        assert_refused_cleanly(&user, &[]);
    }
}

// ---------------------------------------------------------------------------------------------
// Deadlines.

#[test]
fn a_trickling_layer_fails_once_a_window_moves_too_little() {
    let image = fake_image("slow/trickle");
    let layer = image.layers()[1].digest.clone();
    let fake = FakeRegistry::start(
        image.clone(),
        Behaviour::normal().always(
            Match::Blob(layer.clone()),
            Fault::Trickle {
                every: Duration::from_millis(400),
            },
        ),
    );
    let user = User::new();
    let (out, took) = pull_with_deadline(&user, "2", &fake.reference(&image));
    eprintln!("trickle (a byte every 0.4 s, BERTH_REGISTRY_TIMEOUT=2): failed after {took:?}");
    let out = out.fails_with(1, "stalled: ");
    assert!(out.stderr.contains(" bytes in "), "{out:?}");
    assert!(
        out.stderr.contains(&fake.addr()),
        "names the registry: {out:?}"
    );
    assert!(out.stderr.contains(&layer), "names the blob: {out:?}");
    assert_nothing_half_written(&user, &[&layer]);
    // One request: a stall is not retried.
    assert_eq!(fake.requests_to(&layer).len(), 1, "{:#?}", fake.requests());
}

#[test]
fn small_requests_have_a_deadline_in_all() {
    // A manifest, a config: each byte comes well within the read timeout, but the whole does
    // not come within the deadline.
    let image = fake_image("slow/small");
    let config = image.manifests[0].config.digest.clone();
    for (when, what) in [
        (Match::AnyManifest, "manifest slow/small:1".to_string()),
        (Match::Blob(config.clone()), config.clone()),
    ] {
        let fake = FakeRegistry::start(
            image.clone(),
            Behaviour::normal().always(
                when,
                Fault::Trickle {
                    every: Duration::from_millis(300),
                },
            ),
        );
        let user = User::new();
        let (out, took) = pull_with_deadline(&user, "2", &fake.reference(&image));
        eprintln!("trickled {what}: failed after {took:?}");
        let out = out.fails_with(1, "timed out: the request was not over within 2 s");
        assert!(out.stderr.contains(&what), "{out:?}");
        assert!(says_timeout(&out.stderr));
        // What arrived of a config may stay as a partial file to resume from, as for any
        // interrupted download; nothing is tagged or stored under its digest.
        assert_nothing_half_written(&user, &[&config]);
    }
}

#[test]
fn a_slow_but_steady_pull_succeeds() {
    let image = fake_image("slow/steady");
    let layer = image.layers()[1].digest.clone();
    let fake = FakeRegistry::start(
        image.clone(),
        Behaviour::normal().always(
            Match::Blob(layer),
            Fault::Throttle {
                bytes_per_sec: 100 << 10,
            },
        ),
    );
    let user = User::new();
    // About 5 s for the 512 KiB layer at 100 KiB/s, more than twice the deadline of 2 s.
    let (out, took) = pull_with_deadline(&user, "2", &fake.reference(&image));
    eprintln!("steady 100 KiB/s: pulled in {took:?}");
    assert_pulled(&user, &fake, &image, &out.ok());
}

// ---------------------------------------------------------------------------------------------
// Credentials and redirects.

#[test]
fn a_redirect_to_http_on_the_same_host_and_port_carries_no_credentials() {
    require_program!("openssl");
    let image = fake_image("tls/redirect");
    let (same, downgraded) = (
        image.layers()[0].digest.clone(),
        image.layers()[1].digest.clone(),
    );
    let fake = FakeRegistry::start_tls(image.clone(), Behaviour::normal());
    assert!(fake.url().starts_with("https://"));
    let plain = format!("http://{}", fake.addr());
    // One layer is sent to the same origin (credentials go along), the other to plain HTTP on
    // the same host and port (they must not: they would cross the network in clear).
    fake.set_behaviour(
        Behaviour::normal()
            .basic_auth("alice", "pw")
            .first(
                1,
                Match::Blob(same.clone()),
                Fault::Redirect {
                    status: 307,
                    to: fake.url(),
                },
            )
            .first(
                1,
                Match::Blob(downgraded.clone()),
                Fault::Redirect {
                    status: 307,
                    to: plain,
                },
            ),
    );
    let user = User::new();
    let out = user
        .run(
            "img-pull",
            &[
                "--tls-verify=false",
                "--creds",
                "alice:pw",
                &fake.reference(&image),
            ],
        )
        .ok();
    assert_pulled(&user, &fake, &image, &out);

    let reqs = fake.requests();
    let followed = |digest: &str, secure: bool| -> Vec<_> {
        reqs.iter()
            .filter(|r| {
                r.path.ends_with(digest) && r.query.contains("sig=berth-test") && r.secure == secure
            })
            .collect()
    };
    let to_https = followed(&same, true);
    assert!(!to_https.is_empty(), "the redirect was followed: {reqs:#?}");
    assert!(
        to_https.iter().all(|r| r.has_auth()),
        "the same origin gets the credentials: {to_https:#?}"
    );
    let to_http = followed(&downgraded, false);
    assert!(!to_http.is_empty(), "the redirect was followed: {reqs:#?}");
    assert!(
        to_http.iter().all(|r| !r.has_auth()),
        "no Authorization header goes over plain HTTP: {to_http:#?}"
    );
    assert!(
        reqs.iter().filter(|r| !r.secure).all(|r| !r.has_auth()),
        "nothing in clear carries credentials: {reqs:#?}"
    );
}

#[test]
fn without_ports_in_the_urls_https_to_http_carries_no_credentials_either() {
    require_program!("openssl");
    let image = fake_image("tls/portless");
    let (same, downgraded) = (
        image.layers()[0].digest.clone(),
        image.layers()[1].digest.clone(),
    );
    // The registry at https://127.0.0.1 (443) and plain http://127.0.0.1 (80): the default
    // ports, never written in the URLs.
    let auth = Behaviour::normal().basic_auth("alice", "pw");
    let Some(plain) = FakeRegistry::start_on(80, image.clone(), auth.clone(), false) else {
        skip!("cannot listen on 127.0.0.1:80");
    };
    let Some(secure) = FakeRegistry::start_on(443, image.clone(), auth.clone(), true) else {
        skip!("cannot listen on 127.0.0.1:443");
    };
    let redirect = |to: &str| Fault::Redirect {
        status: 307,
        to: to.to_string(),
    };
    // https://127.0.0.1:443 is https://127.0.0.1 (credentials go along); http://127.0.0.1 is
    // not (they must not).
    secure.set_behaviour(
        auth.first(
            1,
            Match::Blob(same.clone()),
            redirect("https://127.0.0.1:443"),
        )
        .first(
            1,
            Match::Blob(downgraded.clone()),
            redirect("http://127.0.0.1"),
        ),
    );
    let user = User::new();
    let reference = "127.0.0.1/tls/portless:1";
    let out = user
        .run(
            "img-pull",
            &["--tls-verify=false", "--creds", "alice:pw", reference],
        )
        .ok();
    assert_eq!(out.json()["digest"], image.digest());
    assert_eq!(tags(&user.env.images()), vec![reference.to_string()]);

    let followed = |fake: &FakeRegistry, digest: &str| -> Vec<_> {
        fake.requests()
            .into_iter()
            .filter(|r| r.path.ends_with(digest) && r.query.contains("sig=berth-test"))
            .collect()
    };
    let kept = followed(&secure, &same);
    assert!(!kept.is_empty(), "followed: {:#?}", secure.requests());
    assert!(
        kept.iter().all(|r| r.secure && r.has_auth()),
        "the same origin gets the credentials: {kept:#?}"
    );
    let dropped = followed(&plain, &downgraded);
    assert!(!dropped.is_empty(), "followed: {:#?}", plain.requests());
    assert!(
        plain.requests().iter().all(|r| !r.has_auth()),
        "no Authorization header goes over plain HTTP: {:#?}",
        plain.requests()
    );
}
