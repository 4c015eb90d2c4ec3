//! The registry tools against registries that want credentials, over TLS, and against a fake
//! registry that misbehaves: img-login / img-logout with Basic (htpasswd) and token auth,
//! img-push and img-pull with the stored credentials, certificate checks, and pulls that meet
//! wrong content, cut connections, 5xx, redirects to another host, oversized manifests and
//! stalls. Each asserts what a user would check: exit code, the JSON on stdout, the error on
//! stderr, and what is (and is not) on disk.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::fake_registry::{
    noise, sha256, tar_of, Behaviour, FakeImage, FakeRegistry, Fault, Match, MANIFEST_LIMIT,
};
use crate::support::{run, run_with_stdin, Env, Out, Registry, RegistryOptions, TokenAuth};

// ---------------------------------------------------------------------------------------------
// Helpers.

/// A user of the tools: a berth root and a Docker config directory of their own (DOCKER_CONFIG,
/// with HOME pointing elsewhere in the same temporary directory), so that nothing outside the
/// test is read or written.
pub(crate) struct User {
    pub(crate) env: Env,
    docker: PathBuf,
}

impl User {
    pub(crate) fn new() -> User {
        let env = Env::new();
        let docker = env.path("docker-config");
        User { env, docker }
    }

    /// Another root with the same Docker config (the same person on a fresh store).
    fn fresh_store(&self) -> User {
        User {
            env: Env::new(),
            docker: self.docker.clone(),
        }
    }

    fn config_path(&self) -> PathBuf {
        self.docker.join("config.json")
    }

    fn config(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.config_path()).expect("config.json exists"))
            .expect("config.json is JSON")
    }

    pub(crate) fn cmd(&self, tool: &str) -> Command {
        let mut c = self.env.cmd(tool);
        c.env("DOCKER_CONFIG", &self.docker)
            .env("HOME", self.env.path("home"))
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("BERTH_HTTP_TIMEOUT")
            .env_remove("BERTH_REGISTRY_TIMEOUT");
        c
    }

    pub(crate) fn run(&self, tool: &str, args: &[&str]) -> Out {
        run(self.cmd(tool).args(args))
    }

    fn run_stdin(&self, tool: &str, args: &[&str], input: &[u8]) -> Out {
        run_with_stdin(self.cmd(tool).args(args), input)
    }
}

/// Re-hashes every blob under the layout's `blobs/sha256` and fails on any whose content is not
/// its name. Returns the digests (`sha256:…`) found.
pub(crate) fn blobs_verified(layout: &Path) -> Vec<String> {
    let dir = layout.join("blobs/sha256");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let data = std::fs::read(e.path()).unwrap();
        assert_eq!(
            sha256(&data),
            format!("sha256:{name}"),
            "blob {} holds content of another digest",
            e.path().display()
        );
        out.push(format!("sha256:{name}"));
    }
    out.sort();
    out
}

/// The references tagged in the layout's index.json (none when there is no index).
pub(crate) fn tags(layout: &Path) -> Vec<String> {
    let Ok(data) = std::fs::read(layout.join("index.json")) else {
        return Vec::new();
    };
    let v: Value = serde_json::from_slice(&data).expect("index.json is JSON");
    v["manifests"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|d| d["annotations"]["org.opencontainers.image.ref.name"].as_str())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Files a download left beside the store (`.berth-partial-…`).
pub(crate) fn partials(layout: &Path) -> Vec<String> {
    std::fs::read_dir(layout)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".berth-partial-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether an error says that something timed out.
pub(crate) fn says_timeout(stderr: &str) -> bool {
    stderr.contains("timed out") || stderr.contains("timeout") || stderr.contains("stalled")
}

/// A two-layer image for the fake registry: a small file, and 512 KiB of noise (big enough to
/// be cut in the middle).
pub(crate) fn fake_image(repo: &str) -> FakeImage {
    FakeImage::new(
        repo,
        "1",
        vec![
            tar_of(&[("bin/hello", b"#!/bin/sh\necho hello\n")]),
            tar_of(&[("data/noise.bin", &noise(512 << 10, 7))]),
        ],
    )
}

/// Asserts that a pull from a fake registry stored `image` completely and correctly: the
/// digest printed, every blob of it present and verified, the tag in index.json.
pub(crate) fn assert_pulled(user: &User, fake: &FakeRegistry, image: &FakeImage, out: &Out) {
    let j = out.json();
    assert_eq!(j["ref"], fake.reference(image));
    assert_eq!(j["digest"], image.digest());
    let layers: Vec<&str> = image.layers().iter().map(|b| b.digest.as_str()).collect();
    assert_eq!(
        j["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect::<Vec<_>>(),
        layers
    );
    let stored = blobs_verified(&user.env.images());
    for b in image.all_blobs().chain(image.all_manifests()) {
        assert!(stored.contains(&b.digest), "{} is stored", b.digest);
    }
    assert_eq!(tags(&user.env.images()), vec![fake.reference(image)]);
    assert!(partials(&user.env.images()).is_empty());
}

/// Asserts that a failed pull left no tag, no blob with wrong content, and none of `absent`.
pub(crate) fn assert_nothing_half_written(user: &User, absent: &[&str]) {
    let images = user.env.images();
    assert!(
        tags(&images).is_empty(),
        "a failed pull tags nothing: {:?}",
        tags(&images)
    );
    let stored = blobs_verified(&images);
    for d in absent {
        assert!(!stored.contains(&d.to_string()), "{d} must not be stored");
    }
}

macro_rules! require_registry {
    () => {
        require_program!("docker-registry");
        require_program!("openssl");
    };
}

// ---------------------------------------------------------------------------------------------
// Basic auth over TLS.

#[test]
fn login_push_pull_logout_with_htpasswd_over_tls() {
    require_registry!();
    require_program!("htpasswd");
    let reg = Registry::start_with(RegistryOptions::default().tls().htpasswd("alice", "s3cret"));
    let user = User::new();
    let a = user.env.import_busybox("busybox:1");
    let cert_dir = reg.cert_dir();
    let cert_dir = cert_dir.to_str().unwrap();
    let addr = reg.addr();

    // A wrong password is refused, says so, and stores nothing.
    let bad = user
        .run_stdin(
            "img-login",
            &[
                "--cert-dir",
                cert_dir,
                "-u",
                "alice",
                "--password-stdin",
                &addr,
            ],
            b"wrong\n",
        )
        .fails_with(1, "credentials were refused");
    assert!(bad.stdout.is_empty(), "{bad:?}");
    assert!(!bad.stderr.contains("wrong"), "the password is not echoed");
    assert!(!user.config_path().exists(), "nothing stored");

    // The right one is stored in DOCKER_CONFIG/config.json, mode 0600.
    let ok = user
        .run_stdin(
            "img-login",
            &[
                "--cert-dir",
                cert_dir,
                "-u",
                "alice",
                "--password-stdin",
                &addr,
            ],
            b"s3cret\n",
        )
        .ok()
        .json();
    assert_eq!(ok["registry"], addr);
    assert_eq!(ok["username"], "alice");
    assert_eq!(ok["status"], "Login Succeeded");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(user.config_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "config.json holds secrets");
    }
    {
        use base64::Engine;
        let auth = user.config()["auths"][&addr]["auth"]
            .as_str()
            .expect("auths[HOST].auth")
            .to_string();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth)
            .unwrap();
        assert_eq!(raw, b"alice:s3cret");
    }
    assert!(
        !user.env.path("home").join(".docker").exists(),
        "DOCKER_CONFIG wins over HOME"
    );

    // Push and pull with the stored credentials.
    let dest = format!("{addr}/auth/busybox:1");
    let pushed = user
        .run("img-push", &["--cert-dir", cert_dir, "busybox:1", &dest])
        .ok()
        .json();
    assert_eq!(pushed["digest"], a["digest"]);
    let other = user.fresh_store();
    let pulled = other
        .run("img-pull", &["--cert-dir", cert_dir, &dest])
        .ok()
        .json();
    assert_eq!(pulled["ref"], dest);
    assert_eq!(pulled["digest"], a["digest"]);
    assert_eq!(pulled["id"], a["id"]);
    blobs_verified(&other.env.images());

    // --tls-verify=false without the CA works too, for login and pull.
    let insecure = User::new();
    insecure
        .run_stdin(
            "img-login",
            &[
                "--tls-verify=false",
                "-u",
                "alice",
                "--password-stdin",
                &addr,
            ],
            b"s3cret\n",
        )
        .ok();
    assert!(insecure.config()["auths"][&addr]["auth"].is_string());
    let p = insecure
        .run("img-pull", &["--tls-verify=false", &dest])
        .ok()
        .json();
    assert_eq!(p["digest"], a["digest"]);

    // Neither: the certificate is not trusted, and the error says so.
    let untrusted = user.fresh_store();
    let refused = untrusted
        .run("img-pull", &[&dest])
        .fails_with(1, "certificate");
    assert!(
        refused.stderr.contains("--cert-dir"),
        "the error says what to do: {refused:?}"
    );
    assert!(tags(&untrusted.env.images()).is_empty());
    user.run_stdin(
        "img-login",
        &["-u", "alice", "--password-stdin", &addr],
        b"s3cret\n",
    )
    .fails_with(1, "certificate");

    // Logout forgets them; a pull then fails for want of credentials.
    let out = user.run("img-logout", &[&addr]).ok().json();
    assert_eq!(out["registry"], addr);
    assert_eq!(out["removed"], true);
    assert!(user.config()["auths"].get(&addr).is_none());
    let again = user.run("img-logout", &[&addr]).ok().json();
    assert_eq!(again["removed"], false);
    let after = user.fresh_store();
    let denied = after
        .run("img-pull", &["--cert-dir", cert_dir, &dest])
        .fails_with(1, "authentication");
    assert!(denied.stderr.contains("img-login"), "{denied:?}");
    assert!(tags(&after.env.images()).is_empty());
    assert!(blobs_verified(&after.env.images()).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Token auth.

#[test]
fn login_push_pull_with_token_auth() {
    require_registry!();
    let reg =
        Registry::start_with(RegistryOptions::default().token(TokenAuth::new("tokuser", "tokpw")));
    let issuer = reg.token_issuer().unwrap();
    let user = User::new();
    let a = user.env.import_busybox("busybox:1");
    let addr = reg.addr();

    user.run_stdin(
        "img-login",
        &["-u", "tokuser", "--password-stdin", &addr],
        b"nope\n",
    )
    .fails_with(1, "credentials were refused");
    assert!(!user.config_path().exists());
    let reqs = issuer.requests();
    assert!(
        reqs.iter()
            .any(|r| r.status == 401 && r.user.as_deref() == Some("tokuser")),
        "the issuer refused the wrong password: {reqs:#?}"
    );

    let ok = user
        .run_stdin(
            "img-login",
            &["-u", "tokuser", "--password-stdin", &addr],
            b"tokpw\n",
        )
        .ok()
        .json();
    assert_eq!(ok["status"], "Login Succeeded");
    assert!(user.config()["auths"][&addr]["auth"].is_string());

    let dest = format!("{addr}/tok/app:1");
    let pushed = user.run("img-push", &["busybox:1", &dest]).ok().json();
    assert_eq!(pushed["digest"], a["digest"]);
    let reqs = issuer.requests();
    let push_token = reqs
        .iter()
        .find(|r| {
            r.status == 200
                && r.user.as_deref() == Some("tokuser")
                && r.scopes.iter().any(|s| s == "repository:tok/app:pull,push")
        })
        .unwrap_or_else(|| panic!("a token was asked for push on tok/app: {reqs:#?}"));
    assert_eq!(
        push_token.service.as_deref(),
        Some(issuer.auth.service.as_str())
    );
    assert!(
        push_token.granted.to_string().contains("push"),
        "{push_token:#?}"
    );

    let before = issuer.requests().len();
    let other = user.fresh_store();
    let pulled = other.run("img-pull", &[&dest]).ok().json();
    assert_eq!(pulled["digest"], a["digest"]);
    assert_eq!(pulled["id"], a["id"]);
    blobs_verified(&other.env.images());
    let pull_reqs = &issuer.requests()[before..];
    assert!(
        pull_reqs.iter().any(|r| r.status == 200
            && r.user.as_deref() == Some("tokuser")
            && r.scopes.iter().any(|s| s == "repository:tok/app:pull")),
        "a pull token for tok/app: {pull_reqs:#?}"
    );
    assert!(
        pull_reqs
            .iter()
            .all(|r| r.scopes.iter().all(|s| !s.contains("push"))),
        "a pull asks for no push access: {pull_reqs:#?}"
    );

    // After logout the issuer gives no access and the registry refuses.
    user.run("img-logout", &[&addr]).ok();
    let anon = user.fresh_store();
    anon.run("img-pull", &[&dest])
        .fails_with(1, "authentication");
    assert!(tags(&anon.env.images()).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Pulls from a fake registry that misbehaves.

#[test]
fn pull_refuses_a_blob_with_wrong_content() {
    let image = fake_image("fault/wrong");
    let layer = image.layers()[1].digest.clone();
    let fake = FakeRegistry::start(
        image.clone(),
        Behaviour::normal().always(Match::Blob(layer.clone()), Fault::WrongContent),
    );
    let user = User::new();
    let out = user
        .run("img-pull", &[&fake.reference(&image)])
        .fails_with(1, &layer);
    assert!(out.stderr.contains("hashes to"), "{out:?}");
    assert!(out.stdout.is_empty());
    assert_nothing_half_written(&user, &[&layer, image.digest()]);
    assert!(
        partials(&user.env.images()).is_empty(),
        "bad bytes are not kept"
    );

    // A manifest whose bytes are not the digest the registry declares is refused too.
    let fake = FakeRegistry::start(
        image.clone(),
        Behaviour::normal().always(Match::AnyManifest, Fault::WrongContent),
    );
    let user = User::new();
    let out = user
        .run("img-pull", &[&fake.reference(&image)])
        .fails_with(1, image.digest());
    assert!(out.stderr.contains("hashes to"), "{out:?}");
    assert_nothing_half_written(&user, &[image.digest()]);
    assert!(blobs_verified(&user.env.images()).is_empty());

    // Right bytes under a Docker-Content-Digest that is not theirs: refused for the manifest
    // (nothing else says what the tag's digest is)…
    let fake = FakeRegistry::start(
        image.clone(),
        Behaviour::normal().always(Match::AnyManifest, Fault::WrongDigestHeader),
    );
    let user = User::new();
    let out = user
        .run("img-pull", &[&fake.reference(&image)])
        .fails_with(1, "says its digest is");
    assert!(out.stderr.contains(image.digest()), "{out:?}");
    assert_nothing_half_written(&user, &[image.digest()]);
    // …and harmless on a blob, whose digest the manifest gives and the bytes match.
    let fake = FakeRegistry::start(
        image.clone(),
        Behaviour::normal().always(Match::AnyBlob, Fault::WrongDigestHeader),
    );
    let user = User::new();
    let out = user.run("img-pull", &[&fake.reference(&image)]).ok();
    assert_pulled(&user, &fake, &image, &out);
}

#[test]
fn pull_resumes_a_body_cut_short() {
    let image = fake_image("fault/cut");
    let layer = image.layers()[1].clone();
    let fake = FakeRegistry::start(
        image.clone(),
        Behaviour::normal().first(1, Match::Blob(layer.digest.clone()), Fault::CutShort),
    );
    let user = User::new();
    let out = user.run("img-pull", &[&fake.reference(&image)]).ok();
    assert_pulled(&user, &fake, &image, &out);
    let gets: Vec<_> = fake
        .requests_to(&format!("/blobs/{}", layer.digest))
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    assert_eq!(gets.len(), 2, "one cut, one retry: {gets:#?}");
    let range = gets[1].header("range").expect("the retry resumes");
    let from: usize = range
        .strip_prefix("bytes=")
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("Range {range:?}"));
    assert!(from > 0 && from < layer.size(), "{range}");

    // Cut every time: a clear error, no blob under that digest; the partial download is kept,
    // and the next pull (once the registry behaves) finishes it.
    let fake = FakeRegistry::start(
        image.clone(),
        Behaviour::normal().always(Match::Blob(layer.digest.clone()), Fault::CutShort),
    );
    let user = User::new();
    let out = user
        .run("img-pull", &[&fake.reference(&image)])
        .fails_with(1, &layer.digest);
    assert!(
        out.stderr.contains("disconnected") || out.stderr.contains("ended after"),
        "the error says the connection was cut: {out:?}"
    );
    assert_nothing_half_written(&user, &[&layer.digest]);
    let tries = fake.requests_to(&format!("/blobs/{}", layer.digest)).len();
    assert!(tries >= 3, "retried before giving up: {tries} requests");
    fake.set_behaviour(Behaviour::normal());
    fake.clear_requests();
    let out = user
        .run(
            "img-pull",
            &["--progress", "plain", &fake.reference(&image)],
        )
        .ok();
    assert_pulled(&user, &fake, &image, &out);
    let gets = fake.requests_to(&format!("/blobs/{}", layer.digest));
    assert!(
        gets.iter().all(|r| r.header("range").is_some()),
        "the second pull resumed: {gets:#?}"
    );
}

#[test]
fn pull_retries_server_errors() {
    let image = fake_image("fault/flaky");
    let fake = FakeRegistry::start(
        image.clone(),
        Behaviour::normal()
            .first(2, Match::AnyManifest, Fault::Status(500))
            .first(2, Match::AnyBlob, Fault::Status(503)),
    );
    let user = User::new();
    let out = user.run("img-pull", &[&fake.reference(&image)]).ok();
    assert_pulled(&user, &fake, &image, &out);
    let statuses: Vec<u16> = fake
        .requests_to("/manifests/")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![500, 500, 200]);

    // Always 500: a clear error naming the status, nothing stored.
    let fake = FakeRegistry::start(
        image.clone(),
        Behaviour::normal().always(Match::AnyManifest, Fault::Status(500)),
    );
    let user = User::new();
    user.run("img-pull", &[&fake.reference(&image)])
        .fails_with(1, "500");
    assert_nothing_half_written(&user, &[]);
    assert!(blobs_verified(&user.env.images()).is_empty());
}

#[test]
fn redirect_to_another_host_carries_no_credentials() {
    let image = fake_image("fault/redirect");
    let cdn = FakeRegistry::start(image.clone(), Behaviour::normal());
    let mut behaviour = Behaviour::normal().basic_auth("alice", "pw");
    for layer in image.layers() {
        behaviour = behaviour.always(Match::Blob(layer.digest.clone()), Fault::redirect_to(&cdn));
    }
    let fake = FakeRegistry::start(image.clone(), behaviour);
    let user = User::new();
    let out = user
        .run(
            "img-pull",
            &["--creds", "alice:pw", &fake.reference(&image)],
        )
        .ok();
    assert_pulled(&user, &fake, &image, &out);

    let first = fake.requests();
    assert!(
        first
            .iter()
            .any(|r| r.path.contains("/manifests/") && r.status == 200 && r.has_auth()),
        "the registry itself gets the credentials: {first:#?}"
    );
    let second = cdn.requests();
    for layer in image.layers() {
        assert!(
            second.iter().any(|r| r.path.ends_with(&layer.digest)
                && r.query.contains("sig=berth-test")
                && r.status == 200),
            "{} came from the second host: {second:#?}",
            layer.digest
        );
    }
    assert!(
        second.iter().all(|r| !r.has_auth()),
        "no Authorization header reaches another host: {second:#?}"
    );
}

#[test]
fn pull_refuses_a_manifest_over_the_limit() {
    let image = fake_image("fault/huge");
    let fake = FakeRegistry::start(
        image.clone(),
        Behaviour::normal().always(Match::AnyManifest, Fault::HugeManifest),
    );
    let user = User::new();
    let out = user
        .run("img-pull", &[&fake.reference(&image)])
        .fails_with(1, "larger than");
    assert!(
        out.stderr
            .contains(&format!("{} MiB", MANIFEST_LIMIT >> 20)),
        "{out:?}"
    );
    assert!(!user.env.images().join("index.json").exists() || tags(&user.env.images()).is_empty());
    assert!(
        blobs_verified(&user.env.images()).is_empty(),
        "nothing written"
    );
    assert!(
        fake.requests_to("/blobs/").is_empty(),
        "no blob is fetched for a refused manifest"
    );
}

#[test]
fn a_stalled_registry_times_out() {
    stall_times_out("fault/stall", Fault::Stall);
}

#[test]
fn a_body_that_stalls_times_out() {
    stall_times_out("fault/stallbody", Fault::StallBody);
}

/// A registry that stops answering on one layer (before the headers or in the body): the pull
/// fails with a timeout that names the layer, within the timeout and its retries, and leaves
/// nothing half-written.
fn stall_times_out(name: &str, fault: Fault) {
    let image = fake_image(name);
    let layer = image.layers()[1].digest.clone();
    let fake = FakeRegistry::start(
        image.clone(),
        Behaviour::normal().always(Match::Blob(layer.clone()), fault),
    );
    let user = User::new();
    let start = Instant::now();
    let out = run(user
        .cmd("img-pull")
        .env("BERTH_REGISTRY_TIMEOUT", "2")
        .arg(fake.reference(&image)));
    let took = start.elapsed();
    let out = out.fails_with(1, &layer);
    assert!(says_timeout(&out.stderr), "{out:?}");
    assert!(out.stderr.contains(&layer), "{out:?}");
    assert!(
        took < Duration::from_secs(40),
        "bounded by the timeout and the retries, took {took:?}"
    );
    assert_nothing_half_written(&user, &[&layer]);
}

// ---------------------------------------------------------------------------------------------
// Pushes that fail.

#[test]
fn push_reports_a_failing_manifest_put() {
    let image = fake_image("fault/push");
    // Every blob is already there (HEAD answers 200), so the push goes straight to the
    // manifest, which the registry fails.
    let fake = FakeRegistry::start(
        image.clone(),
        Behaviour::normal().rule(
            crate::support::fake_registry::Rule::new(Match::AnyManifest, Fault::Status(500))
                .method("PUT"),
        ),
    );
    let user = User::new();
    user.run("img-pull", &["-q", &fake.reference(&image)]).ok();
    let before = user.env.store_state();
    let dest = format!("{}/fault/push:2", fake.addr());
    let out = user
        .run("img-push", &[&fake.reference(&image), &dest])
        .fails_with(1, "PUT manifest fault/push:2");
    assert!(out.stderr.contains("500"), "{out:?}");
    assert!(out.stdout.is_empty());
    let puts = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .count();
    assert!(puts >= 2, "a PUT of a manifest is retried on 5xx");
    assert_eq!(
        user.env.store_state(),
        before,
        "a failed push changes nothing here"
    );

    // A registry that refuses uploads: the error names the request and the status.
    let blank = FakeRegistry::start(
        fake_image("elsewhere/x"),
        Behaviour::normal().always(
            Match::PathContains("/blobs/uploads/".into()),
            Fault::Status(500),
        ),
    );
    let out = user
        .run(
            "img-push",
            &[
                &fake.reference(&image),
                &format!("{}/fault/push:1", blank.addr()),
            ],
        )
        .fails_with(1, "/blobs/uploads/");
    assert!(out.stderr.contains("500"), "{out:?}");
}
