//! Searching a registry: the catalog API filtered by a term, and Docker Hub's search API.

use serde_json::{json, Value};
use ureq::http::{Method, StatusCode};

use super::client::{urlencode, Client, ReqBody};
use crate::error::{Error, Result};

/// One search result, shaped as `docker search --format json` prints it.
pub fn result_row(name: &str, description: &str, stars: u64, official: bool) -> Value {
    json!({
        "Name": name,
        "Description": description,
        "StarCount": stars,
        "IsOfficial": official,
        "IsAutomated": false,
    })
}

/// Repositories whose name contains `term`, at most `limit`. Docker Hub is searched with its
/// search API; other registries through `/v2/_catalog`, page by page.
pub fn search(client: &Client, term: &str, limit: usize) -> Result<Vec<Value>> {
    if client.domain == "docker.io" {
        return hub_search(client, term, limit);
    }
    let mut out = Vec::new();
    let mut last: Option<String> = None;
    let scopes = vec!["registry:catalog:*".to_string()];
    // Bounded: at most 100 pages of 1000.
    for _ in 0..100 {
        let mut path = "/v2/_catalog?n=1000".to_string();
        if let Some(l) = &last {
            path.push_str(&format!("&last={}", urlencode(l)));
        }
        let mut resp = client.send(Method::GET, &path, &[], &ReqBody::Empty, &scopes)?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(client.err(
                "GET /v2/_catalog",
                "this registry does not offer the catalog API",
            ));
        }
        if !resp.status().is_success() {
            return Err(client.unexpected("GET /v2/_catalog", resp));
        }
        let v: Value = resp
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_json()
            .map_err(|e| client.err("GET /v2/_catalog", e))?;
        let repos: Vec<String> = v
            .get("repositories")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let page_len = repos.len();
        for r in &repos {
            if r.contains(term) {
                out.push(result_row(r, "", 0, false));
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
        if page_len < 1000 {
            break;
        }
        last = repos.last().cloned();
    }
    Ok(out)
}

fn hub_search(client: &Client, term: &str, limit: usize) -> Result<Vec<Value>> {
    let url = format!(
        "https://index.docker.io/v1/search?q={}&n={}",
        urlencode(term),
        limit.min(100)
    );
    let mut resp = client.send(Method::GET, &url, &[], &ReqBody::Empty, &[])?;
    if !resp.status().is_success() {
        return Err(client.unexpected("Docker Hub search", resp));
    }
    let v: Value = resp
        .body_mut()
        .with_config()
        .limit(16 << 20)
        .read_json()
        .map_err(|e| Error::Registry(format!("docker.io: search: {e}")))?;
    Ok(v.get("results")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .take(limit)
                .map(|r| {
                    result_row(
                        r.get("name").and_then(Value::as_str).unwrap_or(""),
                        r.get("description").and_then(Value::as_str).unwrap_or(""),
                        r.get("star_count").and_then(Value::as_u64).unwrap_or(0),
                        r.get("is_official")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}
