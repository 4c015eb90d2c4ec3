//! Pushing: every blob the registry lacks goes up (mounted from another repository of the same
//! registry when the store knows one that has it, monolithic when small, in chunks when large),
//! then the manifests, then the index.

use std::collections::HashSet;
use std::sync::Mutex;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};
use ureq::http::{Method, StatusCode};

use super::client::{Client, ReqBody};
use super::pull::Progress;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image::{self, Catalog, DOCKER_MANIFEST_LIST};
use crate::reference::Reference;
use crate::store::Layout;

/// Blobs up to this size go in one request; larger ones in chunks of this size.
pub const CHUNK: u64 = 16 << 20;

/// What a push did.
#[derive(Debug, Clone, Default)]
pub struct Pushed {
    pub digest: Option<Digest>,
    pub uploaded: Vec<Digest>,
    pub mounted: Vec<Digest>,
    pub skipped: Vec<Digest>,
}

fn scope(repo: &str, actions: &str) -> String {
    format!("repository:{repo}:{actions}")
}

/// Pushes the index entry `desc` of `layout` to `dest`.
pub fn push(
    client: &Client,
    layout: &Layout,
    catalog: &Catalog,
    desc: &Descriptor,
    dest: &Reference,
    max_concurrent: usize,
    progress: &dyn Progress,
) -> Result<Pushed> {
    let repo = dest.path().to_string();
    // The manifest the image came as (the registry's, same digest), not its OCI entry.
    let desc = &image::original_descriptor(layout, desc)?;
    let top = Digest::try_from(desc.digest())?;
    let top_bytes = layout.read_blob(&top)?;
    let is_index = matches!(desc.media_type(), MediaType::ImageIndex)
        || desc.media_type().to_string() == DOCKER_MANIFEST_LIST;
    // (manifest descriptor, bytes) in push order: children first, the top last.
    let mut manifests: Vec<(Descriptor, Vec<u8>)> = Vec::new();
    if is_index {
        let index: ImageIndex = serde_json::from_slice(&top_bytes)
            .map_err(|e| Error::corrupt(format!("index {top}"), e))?;
        for child in index.manifests() {
            let d = Digest::try_from(child.digest())?;
            if !layout.has_blob(&d) {
                return Err(Error::InvalidInput(format!(
                    "{dest}: the image index lists {d} for {}, which is not in the store (pull with --all-platforms to push every platform)",
                    child.platform().as_ref().map(|p| format!("{}/{}", p.os(), p.architecture())).unwrap_or_default()
                )));
            }
            manifests.push((child.clone(), layout.read_blob(&d)?));
        }
    }
    manifests.push((desc.clone(), top_bytes));

    let mut blobs: Vec<Descriptor> = Vec::new();
    for (d, bytes) in &manifests {
        let is_child_index = matches!(d.media_type(), MediaType::ImageIndex)
            || d.media_type().to_string() == DOCKER_MANIFEST_LIST;
        if is_child_index {
            continue;
        }
        let m: ImageManifest = serde_json::from_slice(bytes)
            .map_err(|e| Error::corrupt(format!("manifest {}", d.digest()), e))?;
        for b in std::iter::once(m.config()).chain(m.layers().iter()) {
            if !blobs.iter().any(|x| x.digest() == b.digest()) {
                blobs.push(b.clone());
            }
        }
    }

    let result = Mutex::new(Pushed::default());
    let queue = Mutex::new(blobs.iter().rev().collect::<Vec<_>>());
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let workers = max_concurrent.clamp(1, 16).min(blobs.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                if first_error.lock().expect("lock").is_some() {
                    return;
                }
                let Some(b) = queue.lock().expect("lock").pop() else {
                    return;
                };
                match push_blob(client, layout, catalog, &repo, b, progress) {
                    Ok((d, how)) => {
                        let mut r = result.lock().expect("lock");
                        match how {
                            How::Skipped => r.skipped.push(d),
                            How::Mounted => r.mounted.push(d),
                            How::Uploaded => r.uploaded.push(d),
                        }
                    }
                    Err(e) => {
                        first_error.lock().expect("lock").get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().expect("lock") {
        return Err(e);
    }
    let mut pushed = result.into_inner().expect("lock");
    let n = manifests.len();
    for (i, (d, bytes)) in manifests.iter().enumerate() {
        let reference = if i + 1 == n {
            dest.tag()
                .map(str::to_string)
                .unwrap_or_else(|| d.digest().to_string())
        } else {
            d.digest().to_string()
        };
        let digest = put_manifest(client, &repo, &reference, d.media_type().as_ref(), bytes)?;
        if i + 1 == n {
            pushed.digest = Some(digest);
        }
    }
    if let Some(d) = &pushed.digest {
        image::record_repo_digest(layout, &top, dest, d);
    }
    Ok(pushed)
}

enum How {
    Skipped,
    Mounted,
    Uploaded,
}

/// Repositories of the same registry that, by the store, hold `digest`: where to mount from.
fn mount_sources(
    catalog: &Catalog,
    layout: &Layout,
    domain: &str,
    repo: &str,
    digest: &Digest,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for item in &catalog.items {
        let Some(r) = &item.entry.reference else {
            continue;
        };
        if r.domain() != domain || r.path() == repo || !seen.insert(r.path().to_string()) {
            continue;
        }
        if image::blobs_of(layout, &item.entry.descriptor).contains(digest) {
            out.push(r.path().to_string());
        }
    }
    out
}

fn push_blob(
    client: &Client,
    layout: &Layout,
    catalog: &Catalog,
    repo: &str,
    desc: &Descriptor,
    progress: &dyn Progress,
) -> Result<(Digest, How)> {
    let digest = Digest::try_from(desc.digest())?;
    let path = layout.blob_path(&digest);
    if !path.exists() {
        return Err(Error::BlobMissing(digest));
    }
    let size = desc.size();
    let push_scope = vec![scope(repo, "pull,push")];
    // Already there?
    let head = client.send(
        Method::HEAD,
        &format!("/v2/{repo}/blobs/{digest}"),
        &[],
        &ReqBody::Empty,
        &push_scope,
    )?;
    if head.status().is_success() {
        progress.done(&digest, true);
        return Ok((digest, How::Skipped));
    }
    // Mount from a repository that has it.
    let mut location = None;
    for from in mount_sources(catalog, layout, &client.domain, repo, &digest) {
        let scopes = vec![scope(repo, "pull,push"), scope(&from, "pull")];
        let url = format!("/v2/{repo}/blobs/uploads/?mount={digest}&from={from}");
        let resp = client.send(
            Method::POST,
            &url,
            &[("Content-Length", "0")],
            &ReqBody::Empty,
            &scopes,
        )?;
        if resp.status() == StatusCode::CREATED {
            progress.done(&digest, true);
            return Ok((digest, How::Mounted));
        }
        if resp.status() == StatusCode::ACCEPTED {
            location = resp
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .map(str::to_string);
            break;
        }
    }
    let mut location = match location {
        Some(l) => l,
        None => start_upload(client, repo, &push_scope)?,
    };
    progress.start(&digest, size, 0);
    if size > CHUNK {
        let mut offset = 0;
        while offset < size {
            let len = CHUNK.min(size - offset);
            let range = format!("{}-{}", offset, offset + len - 1);
            let resp = client.send(
                Method::PATCH,
                &location,
                &[
                    ("Content-Type", "application/octet-stream"),
                    ("Content-Range", &range),
                ],
                &ReqBody::File {
                    path: &path,
                    offset,
                    len,
                },
                &push_scope,
            )?;
            if resp.status() != StatusCode::ACCEPTED && resp.status() != StatusCode::NO_CONTENT {
                return Err(client.unexpected(&format!("PATCH blob {digest} ({range})"), resp));
            }
            location = resp
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .map(|l| {
                    super::client::resolve_location(&client.url(&location).unwrap_or_default(), l)
                })
                .unwrap_or(location);
            offset += len;
            progress.advance(&digest, len);
        }
        let url = with_digest(&location, &digest);
        let resp = client.send(
            Method::PUT,
            &url,
            &[("Content-Length", "0")],
            &ReqBody::Empty,
            &push_scope,
        )?;
        if resp.status() != StatusCode::CREATED {
            return Err(client.unexpected(&format!("PUT blob {digest}"), resp));
        }
    } else {
        let url = with_digest(&location, &digest);
        let resp = client.send(
            Method::PUT,
            &url,
            &[("Content-Type", "application/octet-stream")],
            &ReqBody::File {
                path: &path,
                offset: 0,
                len: size,
            },
            &push_scope,
        )?;
        if resp.status() != StatusCode::CREATED {
            return Err(client.unexpected(&format!("PUT blob {digest}"), resp));
        }
        progress.advance(&digest, size);
    }
    progress.done(&digest, false);
    Ok((digest, How::Uploaded))
}

fn start_upload(client: &Client, repo: &str, scopes: &[String]) -> Result<String> {
    let resp = client.send(
        Method::POST,
        &format!("/v2/{repo}/blobs/uploads/"),
        &[("Content-Length", "0")],
        &ReqBody::Empty,
        scopes,
    )?;
    if resp.status() != StatusCode::ACCEPTED {
        return Err(client.unexpected(&format!("POST /v2/{repo}/blobs/uploads/"), resp));
    }
    let loc = resp
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .ok_or_else(|| client.err("start upload", "the registry gave no Location"))?;
    Ok(super::client::resolve_location(
        &client.url(&format!("/v2/{repo}/blobs/uploads/"))?,
        loc,
    ))
}

fn with_digest(location: &str, digest: &Digest) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!(
        "{location}{sep}digest={}",
        super::client::urlencode(&digest.to_string())
    )
}

/// Puts a manifest and checks the digest the registry computed.
pub fn put_manifest(
    client: &Client,
    repo: &str,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
) -> Result<Digest> {
    let scopes = vec![scope(repo, "pull,push")];
    let resp = client.send(
        Method::PUT,
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("Content-Type", media_type)],
        &ReqBody::Bytes(bytes),
        &scopes,
    )?;
    if resp.status() != StatusCode::CREATED && !resp.status().is_success() {
        return Err(client.unexpected(
            &format!("PUT manifest {}", super::pull::repo_ref(repo, reference)),
            resp,
        ));
    }
    let ours = Digest::sha256_of(bytes);
    if let Some(theirs) = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| Digest::parse(s).ok())
    {
        if theirs != ours {
            return Err(client.err(
                &format!("PUT manifest {}", super::pull::repo_ref(repo, reference)),
                format!("the registry stored it as {theirs}, but it hashes to {ours}"),
            ));
        }
    }
    Ok(ours)
}
