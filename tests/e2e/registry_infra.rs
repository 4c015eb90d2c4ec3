//! The registry test infrastructure proves itself: the real registry in each mode (plain, TLS,
//! htpasswd, token auth with JWTs it verifies) takes a push from skopeo and serves it back, and
//! refuses wrong credentials; the fake registry serves what it should and misbehaves exactly as
//! told, checked with a raw TCP client, curl and skopeo.

use std::io::Read;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::fake_registry::{
    gzip, noise, sha256, tar_of, Behaviour, FakeImage, FakeRegistry, Fault, Match, Platform, Rule,
    MANIFEST_LIMIT, OCI_INDEX, OCI_MANIFEST,
};
use crate::support::http::{self, basic_auth, exchange, get, request};
use crate::support::registry_auth::{decode_jwt, fetch_token, JwtAlg};
use crate::support::{run, Env, Out, Registry, RegistryOptions, TokenAuth};

// ---------------------------------------------------------------------------------------------
// The real registry.

/// skopeo with no stored credentials in reach (an empty auth file).
fn skopeo(env: &Env, args: &[&str]) -> Out {
    let auth = env.path("skopeo-auth.json");
    if !auth.exists() {
        std::fs::write(&auth, "{}").unwrap();
    }
    run(Command::new("skopeo")
        .env("REGISTRY_AUTH_FILE", &auth)
        .args(args))
}

/// Imports busybox as `docker.io/library/busybox:1` in `env` and returns (its digest, the
/// skopeo source naming it in the store's OCI layout).
fn busybox_source(env: &Env) -> (String, String) {
    let a = env.import_busybox("busybox:1");
    let src = format!("oci:{}:docker.io/library/busybox:1", env.images().display());
    (a["digest"].as_str().unwrap().to_string(), src)
}

macro_rules! require_registry_tools {
    () => {
        require_program!("docker-registry");
        require_program!("skopeo");
        require_program!("openssl");
    };
}

#[test]
fn plain_registry_takes_a_push_and_serves_it_back() {
    require_registry_tools!();
    let reg = Registry::start();
    assert_eq!(reg.url(), format!("http://127.0.0.1:{}", reg.port));
    let env = Env::new();
    let (digest, src) = busybox_source(&env);
    let dest = format!("docker://{}/infra/plain:1", reg.addr());
    skopeo(&env, &["copy", "--dest-tls-verify=false", &src, &dest]).ok();
    let i = skopeo(&env, &["inspect", "--tls-verify=false", &dest])
        .ok()
        .json();
    assert_eq!(i["Digest"], digest);
    assert!(
        reg.data_dir()
            .join("docker/registry/v2/repositories/infra/plain")
            .is_dir(),
        "data_dir() is where the registry stores"
    );
}

#[test]
fn tls_registry_with_htpasswd() {
    require_registry_tools!();
    require_program!("htpasswd");
    let reg = Registry::start_with(RegistryOptions::default().tls().htpasswd("alice", "s3cret"));
    assert!(reg.url().starts_with("https://127.0.0.1:"));
    assert!(reg.cert_dir().join("ca.crt").is_file());
    assert!(reg
        .certs_d()
        .join(format!("localhost:{}", reg.port))
        .join("ca.crt")
        .is_file());
    let env = Env::new();
    let (digest, src) = busybox_source(&env);
    let cert_dir = reg.cert_dir();
    let cert_dir = cert_dir.to_str().unwrap();
    let dest = format!("docker://{}/infra/tls:1", reg.addr());

    skopeo(
        &env,
        &[
            "copy",
            "--dest-cert-dir",
            cert_dir,
            "--dest-creds",
            "alice:s3cret",
            &src,
            &dest,
        ],
    )
    .ok();
    let i = skopeo(
        &env,
        &[
            "inspect",
            "--cert-dir",
            cert_dir,
            "--creds",
            "alice:s3cret",
            &dest,
        ],
    )
    .ok()
    .json();
    assert_eq!(i["Digest"], digest);

    // The certificate also names localhost.
    let local = reg.certs_d().join(format!("localhost:{}", reg.port));
    let i = skopeo(
        &env,
        &[
            "inspect",
            "--cert-dir",
            local.to_str().unwrap(),
            "--creds",
            "alice:s3cret",
            &format!("docker://localhost:{}/infra/tls:1", reg.port),
        ],
    )
    .ok()
    .json();
    assert_eq!(i["Digest"], digest);

    // Wrong password: 401.
    let bad = skopeo(
        &env,
        &[
            "inspect",
            "--cert-dir",
            cert_dir,
            "--creds",
            "alice:wrong",
            &dest,
        ],
    );
    assert_ne!(bad.code, 0);
    assert!(
        bad.stderr.contains("401") || bad.stderr.contains("unauthorized"),
        "{bad:?}"
    );
    // No credentials: refused too.
    let anon = skopeo(
        &env,
        &["inspect", "--cert-dir", cert_dir, "--no-creds", &dest],
    );
    assert_ne!(anon.code, 0, "{anon:?}");
    // Without the CA the certificate is not trusted: it really is TLS with a private CA.
    let untrusted = skopeo(&env, &["inspect", "--creds", "alice:s3cret", &dest]);
    assert_ne!(untrusted.code, 0);
    assert!(untrusted.stderr.contains("certificate"), "{untrusted:?}");
}

#[test]
fn htpasswd_over_plain_http() {
    require_registry_tools!();
    require_program!("htpasswd");
    let reg = Registry::start_with(RegistryOptions::default().htpasswd("bob", "pw"));
    assert_eq!(reg.credentials(), Some(("bob".into(), "pw".into())));
    let r = get(&reg.addr(), "/v2/", &[]);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"berth-test\"")
    );
    let ok = get(
        &reg.addr(),
        "/v2/",
        &[("Authorization", &basic_auth("bob", "pw"))],
    );
    assert_eq!(ok.status, 200);
    let bad = get(
        &reg.addr(),
        "/v2/",
        &[("Authorization", &basic_auth("bob", "nope"))],
    );
    assert_eq!(bad.status, 401);

    let env = Env::new();
    let (digest, src) = busybox_source(&env);
    let dest = format!("docker://{}/infra/basic:1", reg.addr());
    skopeo(
        &env,
        &[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "bob:pw",
            &src,
            &dest,
        ],
    )
    .ok();
    let i = skopeo(
        &env,
        &["inspect", "--tls-verify=false", "--creds", "bob:pw", &dest],
    )
    .ok()
    .json();
    assert_eq!(i["Digest"], digest);
}

#[test]
fn token_auth_with_es256_jwts() {
    require_registry_tools!();
    let reg = Registry::start_with(RegistryOptions::default().token(TokenAuth::new("carol", "pw")));
    let issuer = reg.token_issuer().unwrap();
    let env = Env::new();
    let (digest, src) = busybox_source(&env);
    let dest = format!("docker://{}/infra/token:1", reg.addr());
    skopeo(
        &env,
        &[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "carol:pw",
            &src,
            &dest,
        ],
    )
    .ok();
    let i = skopeo(
        &env,
        &[
            "inspect",
            "--tls-verify=false",
            "--creds",
            "carol:pw",
            &dest,
        ],
    )
    .ok()
    .json();
    assert_eq!(i["Digest"], digest);

    let reqs = issuer.requests();
    assert!(
        reqs.iter().any(|r| r.status == 200
            && r.authorization
            && r.user.as_deref() == Some("carol")
            && r.service.as_deref() == Some("berth-test-registry")
            && r.scopes
                .iter()
                .any(|s| s == "repository:infra/token:pull,push")),
        "the push asked for pull,push with credentials: {reqs:#?}"
    );

    // Wrong password: the issuer says 401, and so does skopeo.
    let before = issuer.requests().len();
    let bad = skopeo(
        &env,
        &[
            "inspect",
            "--tls-verify=false",
            "--creds",
            "carol:bad",
            &dest,
        ],
    );
    assert_ne!(bad.code, 0);
    assert!(
        bad.stderr.contains("401") || bad.stderr.contains("unauthorized"),
        "{bad:?}"
    );
    assert!(issuer.requests()[before..].iter().any(|r| r.status == 401));

    // Anonymous: a token with no access, which the registry refuses.
    let anon = skopeo(
        &env,
        &["inspect", "--tls-verify=false", "--no-creds", &dest],
    );
    assert_ne!(anon.code, 0, "{anon:?}");
    let last = issuer.requests().pop().unwrap();
    assert!(!last.authorization);
    assert_eq!(last.granted, json!([]));
}

#[test]
fn the_registry_verifies_the_jwts() {
    require_registry_tools!();
    let reg = Registry::start_with(RegistryOptions::default().token(TokenAuth::new("dave", "pw")));
    let issuer = reg.token_issuer().unwrap();
    let addr = reg.addr();

    let r = get(&addr, "/v2/", &[]);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate").unwrap(),
        format!(
            "Bearer realm=\"{}\",service=\"berth-test-registry\"",
            issuer.realm()
        )
    );
    let r = get(&addr, "/v2/some/repo/tags/list", &[]);
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("scope=\"repository:some/repo:pull\""),
        "{r:?}"
    );

    let t = fetch_token(issuer, &["repository:some/repo:pull"], Some(("dave", "pw")));
    assert_eq!(t.status, 200);
    let body = t.json();
    let token = body["token"].as_str().unwrap().to_string();
    assert_eq!(body["access_token"], body["token"]);
    assert_eq!(body["expires_in"], 300);
    assert!(body["issued_at"].as_str().unwrap().ends_with('Z'));
    let (header, claims) = decode_jwt(&token);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(
        header["x5c"].as_array().unwrap().len(),
        2,
        "signer and intermediate"
    );
    assert_eq!(
        claims["aud"], "berth-test-registry",
        "aud is a string in 2.8"
    );
    assert_eq!(claims["iss"], "berth-test-issuer");
    assert_eq!(claims["sub"], "dave");
    assert_eq!(
        claims["access"],
        json!([{"type": "repository", "name": "some/repo", "actions": ["pull"]}])
    );

    let with = |tok: &str| {
        get(
            &addr,
            "/v2/some/repo/tags/list",
            &[("Authorization", &format!("Bearer {tok}"))],
        )
    };
    // A good token passes auth (the repository does not exist: 404, not 401).
    let ok = with(&token);
    assert_eq!(ok.status, 404, "{ok:?}\n{}", reg.log());
    assert!(ok.text().contains("NAME_UNKNOWN"));

    // A tampered signature, an expired token, another audience, or no access: 401.
    let mut tampered = token.clone().into_bytes();
    let n = tampered.len() - 5;
    tampered[n] = if tampered[n] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let pull = json!([{"type": "repository", "name": "some/repo", "actions": ["pull"]}]);
    let expired = issuer.sign(&issuer.claims("dave", pull.clone(), -120));
    let mut other_aud = issuer.claims("dave", pull.clone(), 300);
    other_aud["aud"] = json!("someone-else");
    let other_aud = issuer.sign(&other_aud);
    let no_access = issuer.sign(&issuer.claims("dave", json!([]), 300));
    for (what, tok, error) in [
        ("tampered", &tampered, "invalid_token"),
        ("expired", &expired, "invalid_token"),
        ("other audience", &other_aud, "invalid_token"),
        ("no access", &no_access, "insufficient_scope"),
    ] {
        let r = with(tok);
        assert_eq!(r.status, 401, "{what}: {r:?}");
        assert!(
            r.header("www-authenticate").unwrap().contains(error),
            "{what}: {r:?}"
        );
    }
    // A freshly signed one with the same claims passes: the checks above are the reasons.
    assert_eq!(
        with(&issuer.sign(&issuer.claims("dave", pull, 300))).status,
        404
    );

    // Wrong credentials at the issuer.
    let t = fetch_token(
        issuer,
        &["repository:some/repo:pull"],
        Some(("dave", "nope")),
    );
    assert_eq!(t.status, 401);

    // The OAuth2 form (POST), and its refresh token.
    let form = "grant_type=password&username=dave&password=pw&service=berth-test-registry&scope=repository%3Asome%2Frepo%3Apull&client_id=berth";
    let p = request(
        &issuer.addr(),
        "POST",
        "/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    assert_eq!(p.status, 200, "{p:?}");
    let refresh = p.json()["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(with(p.json()["access_token"].as_str().unwrap()).status, 404);
    let form = format!(
        "grant_type=refresh_token&refresh_token={}&service=berth-test-registry&scope=repository%3Asome%2Frepo%3Apull",
        http::percent_encode(&refresh)
    );
    let p = request(
        &issuer.addr(),
        "POST",
        "/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    assert_eq!(p.status, 200, "{p:?}");
    assert_eq!(with(p.json()["access_token"].as_str().unwrap()).status, 404);
    let posts: Vec<_> = issuer
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[1].grant_type.as_deref(), Some("refresh_token"));
}

#[test]
fn token_auth_over_tls_with_rs256_and_anonymous_pull() {
    require_registry_tools!();
    let reg = Registry::start_with(
        RegistryOptions::default().tls().token(
            TokenAuth::new("erin", "pw")
                .alg(JwtAlg::Rs256)
                .anonymous_pull(true),
        ),
    );
    let issuer = reg.token_issuer().unwrap();
    let env = Env::new();
    let (digest, src) = busybox_source(&env);
    let cert_dir = reg.cert_dir();
    let cert_dir = cert_dir.to_str().unwrap();
    let dest = format!("docker://{}/infra/rs256:1", reg.addr());

    // Anonymous push: refused (the token only grants pull).
    let anon_push = skopeo(
        &env,
        &[
            "copy",
            "--dest-cert-dir",
            cert_dir,
            "--dest-no-creds",
            &src,
            &dest,
        ],
    );
    assert_ne!(anon_push.code, 0, "{anon_push:?}");

    skopeo(
        &env,
        &[
            "copy",
            "--dest-cert-dir",
            cert_dir,
            "--dest-creds",
            "erin:pw",
            &src,
            &dest,
        ],
    )
    .ok();
    let tok = issuer
        .requests()
        .into_iter()
        .find(|r| r.status == 200 && r.authorization)
        .expect("an authorised token request");
    assert_eq!(
        tok.granted,
        json!([{"type": "repository", "name": "infra/rs256", "actions": ["pull", "push"]}])
    );

    // Anonymous pull works.
    let i = skopeo(
        &env,
        &["inspect", "--cert-dir", cert_dir, "--no-creds", &dest],
    )
    .ok()
    .json();
    assert_eq!(i["Digest"], digest);
    let last = issuer.requests().pop().unwrap();
    assert!(!last.authorization);
    assert_eq!(
        last.granted,
        json!([{"type": "repository", "name": "infra/rs256", "actions": ["pull"]}])
    );
    let t = fetch_token(issuer, &["repository:x:pull"], None);
    assert_eq!(
        decode_jwt(t.json()["token"].as_str().unwrap()).0["alg"],
        "RS256"
    );
}

#[test]
fn ecdsa_signatures_convert_from_der() {
    use crate::support::registry_auth::{ecdsa_der_to_raw, rfc3339};
    // r with a leading 0x00 (high bit set), s short (leading zero bytes dropped by DER).
    let mut der = vec![0x30, 0x00, 0x02, 33, 0x00];
    der.extend([0x80; 32]);
    der.extend([0x02, 31]);
    der.extend([0x01; 31]);
    der[1] = (der.len() - 2) as u8;
    let raw = ecdsa_der_to_raw(&der);
    assert_eq!(raw.len(), 64);
    assert_eq!(&raw[..32], &[0x80; 32]);
    assert_eq!(raw[32], 0);
    assert_eq!(&raw[33..], &[0x01; 31]);
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(rfc3339(1_709_210_096), "2024-02-29T12:34:56Z");
}

// ---------------------------------------------------------------------------------------------
// The fake registry.

fn small_image(repo: &str) -> FakeImage {
    FakeImage::new(
        repo,
        "1",
        vec![
            tar_of(&[
                ("etc/hello", b"hello\n"),
                ("bin/tool", b"#!/bin/sh\necho hi\n"),
            ]),
            tar_of(&[("data/noise", &noise(300 << 10, 1))]),
        ],
    )
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn blob_path(img: &FakeImage, digest: &str) -> String {
    format!("/v2/{}/blobs/{digest}", img.repo)
}

#[test]
fn fake_serves_an_image_with_right_digests() {
    let img = small_image("fake/app");
    let fake = FakeRegistry::start(img.clone(), Behaviour::normal());
    let a = fake.addr();

    let v2 = get(&a, "/v2/", &[]);
    assert_eq!(v2.status, 200);
    assert_eq!(
        v2.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );

    let m = get(&a, "/v2/fake/app/manifests/1", &[]);
    assert_eq!(m.status, 200);
    assert_eq!(m.header("content-type"), Some(OCI_MANIFEST));
    assert_eq!(m.header("docker-content-digest"), Some(img.digest()));
    assert_eq!(sha256(&m.body), img.digest());
    let manifest = m.json();
    assert_eq!(manifest["config"]["digest"], img.manifests[0].config.digest);
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 2);
    // By digest too, and HEAD has the headers and no body.
    let by_digest = get(&a, &format!("/v2/fake/app/manifests/{}", img.digest()), &[]);
    assert_eq!(by_digest.body, m.body);
    let head = request(&a, "HEAD", "/v2/fake/app/manifests/1", &[], &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-length").unwrap(),
        m.body.len().to_string()
    );
    assert_eq!(head.header("docker-content-digest"), Some(img.digest()));

    // Every blob, with its digest and size as the manifest says.
    let config = get(&a, &blob_path(&img, &img.manifests[0].config.digest), &[]);
    assert_eq!(sha256(&config.body), img.manifests[0].config.digest);
    let config: Value = config.json();
    assert_eq!(config["architecture"], "amd64");
    for (i, desc) in manifest["layers"].as_array().unwrap().iter().enumerate() {
        let d = desc["digest"].as_str().unwrap();
        let r = get(&a, &blob_path(&img, d), &[]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("docker-content-digest"), Some(d));
        assert_eq!(sha256(&r.body), d);
        assert_eq!(r.body.len() as u64, desc["size"].as_u64().unwrap());
        let tar = gunzip(&r.body);
        assert_eq!(tar, img.manifests[0].tars[i]);
        assert_eq!(sha256(&tar), config["rootfs"]["diff_ids"][i]);
    }
    let mut entries = tar::Archive::new(&img.manifests[0].tars[0][..]);
    let names: Vec<String> = entries
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["etc/", "etc/hello", "bin/", "bin/tool"]);

    // Range requests on blobs: 206 with Content-Range; past the end: 416.
    let layer = &img.layers()[1];
    let r = get(
        &a,
        &blob_path(&img, &layer.digest),
        &[("Range", "bytes=1000-1999")],
    );
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("content-range").unwrap(),
        format!("bytes 1000-1999/{}", layer.size())
    );
    assert_eq!(r.body, layer.data[1000..2000]);
    let r = get(
        &a,
        &blob_path(&img, &layer.digest),
        &[("Range", "bytes=5000-")],
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.body, layer.data[5000..]);
    let r = get(
        &a,
        &blob_path(&img, &layer.digest),
        &[("Range", &format!("bytes={}-", layer.size()))],
    );
    assert_eq!(r.status, 416);

    // Unknown things: the OCI error codes.
    let r = get(&a, &blob_path(&img, &sha256(b"nope")), &[]);
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["errors"][0]["code"], "BLOB_UNKNOWN");
    assert_eq!(
        get(&a, "/v2/fake/app/manifests/2", &[]).json()["errors"][0]["code"],
        "MANIFEST_UNKNOWN"
    );
    assert_eq!(
        get(&a, "/v2/fake/other/manifests/1", &[]).json()["errors"][0]["code"],
        "NAME_UNKNOWN"
    );
    assert_eq!(
        get(&a, "/v2/fake/app/tags/list", &[]).json(),
        json!({"name": "fake/app", "tags": ["1"]})
    );
    assert_eq!(
        request(&a, "POST", "/v2/fake/app/blobs/uploads/", &[], &[]).status,
        405
    );

    // Everything was recorded, headers included.
    let reqs = fake.requests();
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].path, "/v2/");
    assert!(reqs.iter().any(|r| r.method == "HEAD"));
    let ranged = fake.requests_to(&layer.digest);
    assert_eq!(ranged[0].header("range"), None);
    assert_eq!(ranged[0].status, 200);
    assert_eq!(ranged[1].header("range"), Some("bytes=1000-1999"));
    assert_eq!(ranged[1].status, 206);
}

#[test]
fn fake_serves_a_multi_platform_index() {
    let img = FakeImage::multi_platform(
        "fake/multi",
        "latest",
        vec![
            (
                Platform::linux_amd64(),
                vec![tar_of(&[("arch", b"amd64\n")])],
            ),
            (
                Platform::linux_arm64(),
                vec![tar_of(&[("arch", b"arm64\n")])],
            ),
        ],
    );
    let fake = FakeRegistry::start(img.clone(), Behaviour::normal());
    let a = fake.addr();
    let idx = get(&a, "/v2/fake/multi/manifests/latest", &[]);
    assert_eq!(idx.header("content-type"), Some(OCI_INDEX));
    assert_eq!(sha256(&idx.body), img.digest());
    let idx = idx.json();
    let list = idx["manifests"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        list[0]["platform"],
        json!({"architecture": "amd64", "os": "linux"})
    );
    assert_eq!(
        list[1]["platform"],
        json!({"architecture": "arm64", "os": "linux", "variant": "v8"})
    );
    for (desc, arch) in list.iter().zip(["amd64", "arm64"]) {
        let d = desc["digest"].as_str().unwrap();
        let m = get(&a, &format!("/v2/fake/multi/manifests/{d}"), &[]);
        assert_eq!(m.header("content-type"), Some(OCI_MANIFEST));
        assert_eq!(sha256(&m.body), d);
        assert_eq!(m.body.len() as u64, desc["size"].as_u64().unwrap());
        let cfg = m.json()["config"]["digest"].as_str().unwrap().to_string();
        let cfg = get(&a, &blob_path(&img, &cfg), &[]).json();
        assert_eq!(cfg["architecture"], arch);
        assert_eq!(img.for_arch(arch).manifest.digest, d);
    }
}

#[test]
fn fake_wrong_content_and_wrong_digest_header() {
    let img = small_image("fake/wrong");
    let layer = img.layers()[0].clone();
    let fake = FakeRegistry::start(
        img.clone(),
        Behaviour::normal()
            .always(Match::Blob(layer.digest.clone()), Fault::WrongContent)
            .always(Match::Manifest("1".into()), Fault::WrongContent)
            .always(
                Match::Blob(img.manifests[0].config.digest.clone()),
                Fault::WrongDigestHeader,
            ),
    );
    let a = fake.addr();
    let r = get(&a, &blob_path(&img, &layer.digest), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("docker-content-digest"),
        Some(layer.digest.as_str())
    );
    assert_eq!(r.body.len(), layer.size(), "same length");
    assert_ne!(sha256(&r.body), layer.digest, "other bytes");

    let m = get(&a, "/v2/fake/wrong/manifests/1", &[]);
    assert_eq!(m.header("docker-content-digest"), Some(img.digest()));
    assert_eq!(m.body.len(), img.top().size());
    assert_ne!(sha256(&m.body), img.digest());
    let _: Value = m.json(); // still JSON
                             // By digest it is served right (the rule names the tag).
    let ok = get(
        &a,
        &format!("/v2/fake/wrong/manifests/{}", img.digest()),
        &[],
    );
    assert_eq!(sha256(&ok.body), img.digest());

    let c = get(&a, &blob_path(&img, &img.manifests[0].config.digest), &[]);
    assert_eq!(
        sha256(&c.body),
        img.manifests[0].config.digest,
        "right bytes"
    );
    assert_ne!(
        c.header("docker-content-digest"),
        Some(img.manifests[0].config.digest.as_str()),
        "wrong header"
    );
    assert_eq!(fake.requests()[0].fault, Some(Fault::WrongContent));
}

#[test]
fn fake_cuts_bodies_short() {
    let img = small_image("fake/cut");
    let layer = img.layers()[1].clone();
    let fake = FakeRegistry::start(
        img.clone(),
        Behaviour::normal().first(1, Match::AnyBlob, Fault::CutShort),
    );
    let ex = exchange(
        &fake.addr(),
        "GET",
        &blob_path(&img, &layer.digest),
        &[],
        &[],
        Duration::from_secs(10),
    );
    assert!(!ex.timed_out, "the server closes the connection");
    let r = ex.response().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-length").unwrap(),
        layer.size().to_string()
    );
    assert!(!r.complete);
    assert_eq!(r.body, layer.data[..layer.size() / 2]);
    // Only the first time; a resumed range request then completes it.
    let rest = get(
        &fake.addr(),
        &blob_path(&img, &layer.digest),
        &[("Range", &format!("bytes={}-", r.body.len()))],
    );
    assert_eq!(rest.status, 206);
    let mut whole = r.body.clone();
    whole.extend_from_slice(&rest.body);
    assert_eq!(sha256(&whole), layer.digest);
}

#[test]
fn fake_fails_the_first_k_times() {
    let img = small_image("fake/flaky");
    let fake = FakeRegistry::start(
        img.clone(),
        Behaviour::normal().rule(
            Rule::new(Match::AnyManifest, Fault::Status(500))
                .method("GET")
                .times(2),
        ),
    );
    let a = fake.addr();
    // HEAD is not counted by a GET rule.
    assert_eq!(
        request(&a, "HEAD", "/v2/fake/flaky/manifests/1", &[], &[]).status,
        200
    );
    let statuses: Vec<u16> = (0..4)
        .map(|_| get(&a, "/v2/fake/flaky/manifests/1", &[]).status)
        .collect();
    assert_eq!(statuses, [500, 500, 200, 200]);
    let r = fake.requests_to("/manifests/");
    assert_eq!(
        r.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 500, 500, 200, 200]
    );
    assert_eq!(r[1].fault, Some(Fault::Status(500)));
    let body = get(&a, "/v2/", &[]);
    assert_eq!(body.status, 200, "other paths are untouched");
}

#[test]
fn fake_redirects_blobs_to_another_server() {
    let img = small_image("fake/redir");
    let storage = FakeRegistry::start(img.clone(), Behaviour::normal());
    let front = FakeRegistry::start(
        img.clone(),
        Behaviour::normal()
            .basic_auth("u", "p")
            .always(Match::AnyBlob, Fault::redirect_to(&storage)),
    );
    let layer = &img.layers()[0];
    let path = blob_path(&img, &layer.digest);
    let auth = basic_auth("u", "p");
    let r = get(&front.addr(), &path, &[("Authorization", &auth)]);
    assert_eq!(r.status, 307);
    let location = r.header("location").unwrap().to_string();
    assert_eq!(location, format!("{}{path}?sig=berth-test", storage.url()));
    // Followed as a careful client does, without the credentials.
    let target = location.strip_prefix(&storage.url()).unwrap();
    let r = get(&storage.addr(), target, &[]);
    assert_eq!(sha256(&r.body), layer.digest);
    let seen = storage.requests();
    assert_eq!(seen.len(), 1);
    assert!(!seen[0].has_auth());
    assert_eq!(seen[0].query, "sig=berth-test");

    // With curl: -L drops the credentials for another host:port; --location-trusted keeps them,
    // and the second server records that.
    if !crate::support::have("curl") {
        skip!("curl is not installed");
    }
    storage.clear_requests();
    let url = format!("{}{path}", front.url());
    let out = run(Command::new("curl").args(["-sSfL", "-u", "u:p", "-o", "/dev/null", &url]));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!storage.requests()[0].has_auth());
    storage.clear_requests();
    let out = run(Command::new("curl").args([
        "-sSf",
        "--location-trusted",
        "-u",
        "u:p",
        "-o",
        "/dev/null",
        &url,
    ]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        storage.requests()[0].header("authorization"),
        Some(auth.as_str())
    );
}

#[test]
fn fake_serves_an_oversized_manifest() {
    let img = small_image("fake/huge");
    let fake = FakeRegistry::start(
        img.clone(),
        Behaviour::normal().always(Match::AnyManifest, Fault::HugeManifest),
    );
    let m = get(&fake.addr(), "/v2/fake/huge/manifests/1", &[]);
    assert_eq!(m.status, 200);
    assert!(m.body.len() > MANIFEST_LIMIT);
    assert_eq!(
        m.header("content-length").unwrap(),
        m.body.len().to_string()
    );
    assert_eq!(m.header("docker-content-digest").unwrap(), sha256(&m.body));
    assert_eq!(m.json()["config"]["digest"], img.manifests[0].config.digest);
}

#[test]
fn fake_stalls() {
    let img = small_image("fake/stall");
    let layer = img.layers()[1].clone();
    let fake = FakeRegistry::start(
        img.clone(),
        Behaviour::normal()
            .always(Match::AnyManifest, Fault::Stall)
            .always(Match::AnyBlob, Fault::StallBody),
    );
    let t = Duration::from_millis(700);
    let ex = exchange(
        &fake.addr(),
        "GET",
        "/v2/fake/stall/manifests/1",
        &[],
        &[],
        t,
    );
    assert!(ex.timed_out);
    assert!(ex.raw.is_empty(), "not a byte");
    assert!(ex.elapsed >= t);

    let ex = exchange(
        &fake.addr(),
        "GET",
        &blob_path(&img, &layer.digest),
        &[],
        &[],
        t,
    );
    assert!(ex.timed_out);
    let r = ex.response().expect("the head came");
    assert_eq!(r.status, 200);
    assert!(!r.complete);
    assert_eq!(r.body.len(), layer.size() / 2);
    // Both were recorded when they came.
    assert_eq!(fake.requests().len(), 2);

    // Dropping the fake ends a stalled connection.
    let mut s = std::net::TcpStream::connect(fake.addr()).unwrap();
    std::io::Write::write_all(
        &mut s,
        b"GET /v2/fake/stall/manifests/1 HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    drop(fake);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(s.read(&mut buf).unwrap_or(0), 0, "closed");
}

#[test]
fn fake_requires_bearer_or_basic_auth() {
    let img = small_image("fake/auth");
    let fake = FakeRegistry::start(
        img.clone(),
        Behaviour::normal().bearer_auth("u", "p", false),
    );
    let a = fake.addr();
    let r = get(&a, "/v2/", &[]);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate").unwrap(),
        format!(
            "Bearer realm=\"{}/token\",service=\"fake-registry\"",
            fake.url()
        )
    );
    let r = get(&a, "/v2/fake/auth/manifests/1", &[]);
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .ends_with(",scope=\"repository:fake/auth:pull\""));
    assert_eq!(
        get(
            &a,
            "/token?service=fake-registry",
            &[("Authorization", &basic_auth("u", "x"))]
        )
        .status,
        401
    );
    assert_eq!(
        get(&a, "/token?service=fake-registry", &[]).status,
        401,
        "no anonymous"
    );
    let t = get(
        &a,
        "/token?service=fake-registry&scope=repository%3Afake%2Fauth%3Apull",
        &[("Authorization", &basic_auth("u", "p"))],
    );
    assert_eq!(t.status, 200);
    let token = t.json()["token"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {token}");
    let r = get(
        &a,
        "/v2/fake/auth/manifests/1",
        &[("Authorization", &bearer)],
    );
    assert_eq!(r.status, 200);
    let r = get(
        &a,
        "/v2/fake/auth/manifests/1",
        &[("Authorization", "Bearer forged")],
    );
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("invalid_token"));
    let token_req = fake.requests_to("/token").pop().unwrap();
    assert_eq!(
        token_req.query,
        "service=fake-registry&scope=repository%3Afake%2Fauth%3Apull"
    );

    fake.set_behaviour(Behaviour::normal().basic_auth("u", "p"));
    let r = get(&a, "/v2/", &[]);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"fake-registry\"")
    );
    assert_eq!(
        get(&a, "/v2/", &[("Authorization", &basic_auth("u", "p"))]).status,
        200
    );
}

#[test]
fn fake_rejects_non_http_bytes() {
    let img = small_image("fake/tls");
    let fake = FakeRegistry::start(img, Behaviour::normal());
    // The start of a TLS ClientHello, as a client probing for HTTPS sends.
    let mut s = std::net::TcpStream::connect(fake.addr()).unwrap();
    std::io::Write::write_all(&mut s, &[0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00]).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(got.starts_with(b"HTTP/1.1 400 "), "{got:?}");
}

#[test]
fn skopeo_pulls_from_the_fake() {
    require_program!("skopeo");
    let env = Env::new();
    let img = FakeImage::multi_platform(
        "fake/skopeo",
        "2",
        vec![
            (
                Platform::linux_amd64(),
                vec![tar_of(&[("arch", b"amd64\n")])],
            ),
            (
                Platform::linux_arm64(),
                vec![tar_of(&[("arch", b"arm64\n")])],
            ),
        ],
    );
    let fake = FakeRegistry::start(
        img.clone(),
        Behaviour::normal().bearer_auth("u", "p", false),
    );
    let src = format!("docker://{}", fake.reference(&img));
    let dir = env.path("oci");
    let out = skopeo(
        &env,
        &[
            "--override-arch",
            "arm64",
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            "u:p",
            &src,
            &format!("oci:{}:arm", dir.display()),
        ],
    );
    assert_eq!(out.code, 0, "{out:?}\n{:#?}", fake.requests());
    let arm = img.for_arch("arm64");
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], arm.manifest.digest);
    let layer = dir.join("blobs/sha256").join(&arm.layers[0].digest[7..]);
    assert_eq!(std::fs::read(layer).unwrap(), gzip(&arm.tars[0]));

    // And the faults are real to a real client: a corrupted layer is refused.
    let bad = FakeRegistry::start(
        small_image("fake/bad"),
        Behaviour::normal().always(Match::AnyBlob, Fault::WrongContent),
    );
    let out = skopeo(
        &env,
        &[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{}/fake/bad:1", bad.addr()),
            &format!("oci:{}:bad", env.path("oci2").display()),
        ],
    );
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.to_lowercase().contains("digest did not match"),
        "{out:?}"
    );
}

#[test]
fn fake_answers_expect_100_continue() {
    use std::io::Write;
    let fake = FakeRegistry::start(small_image("fake/expect"), Behaviour::normal());
    let mut s = std::net::TcpStream::connect(fake.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"POST /v2/fake/expect/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 25];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.starts_with(b"HTTP/1.1 405 "), "{rest:?}");
}
