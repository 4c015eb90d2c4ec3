//! img-ls: list images, as `docker image ls`.

use std::collections::HashMap;

use berth::filter::{parse_bool, path_match, Filters, Label};
use berth::image::{self, Catalog, Image, Item};
use berth::output::{self, col, Column, Format};
use berth::reference::Reference;
use berth::{Error, Result};
use berth_cli::ImageArgs;
use clap::{CommandFactory, Parser};
use serde_json::{json, Value};

const AFTER: &str = "\
Filters (-f, repeatable; all must match):
  reference=PATTERN   name[:tag] matches a glob (busybox, 'local*', '*/app:1.*')
  dangling=true|false untagged images only, or tagged only
  label=KEY[=VALUE]   images with this label
  before=IMAGE        images created before IMAGE
  since=IMAGE         images created after IMAGE

Output: a table on a terminal, JSON Lines otherwise (fields as `docker image ls --format json`:
Repository, Tag, Digest, ID, CreatedAt, CreatedSince, Size, …). --format json|table|TEMPLATE,
where TEMPLATE is a Go template: --format '{{.Repository}}:{{.Tag}}'. SIZE is uncompressed, as
Docker counts it; DIGEST is the registry's digest for the row's repository, <none> for a name
that was never pulled or pushed.

With --build-cache, the build cache's records instead, as `docker buildx du --verbose`, most
recently used first: JSON Lines {\"key\",\"stage\",\"line\",\"instruction\",\"layer\",\"size\",
\"created\",\"last_used\",\"reclaimable\"} (size: the step's layer as stored, 0 for a metadata
step; reclaimable: img-prune --build-cache without -a would remove it), or a table on a
terminal. Records whose blobs are gone are not listed.

Examples:
  img-ls
  img-ls --build-cache
  img-ls busybox
  img-ls -q --filter dangling=true | xargs img-rm";

/// List images
#[derive(Parser, Debug)]
#[command(name = "img-ls", version, after_help = AFTER)]
pub struct Cli {
    /// Only images of this repository (and tag)
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub repository: Option<String>,

    /// Only print image IDs (one line per row, as docker images -q: an ID per tag)
    #[arg(short, long)]
    pub quiet: bool,

    /// Show digests
    #[arg(long)]
    pub digests: bool,

    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,

    /// Show all images (berth keeps no intermediate images, so this changes nothing)
    #[arg(short, long)]
    pub all: bool,

    /// Filter output (see below)
    #[arg(short, long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,

    /// Output format: json, table, table TEMPLATE, or a Go TEMPLATE
    #[arg(long)]
    pub format: Option<String>,

    /// List the build cache's records, not images
    #[arg(long, conflicts_with_all = ["repository", "quiet", "digests", "filters"])]
    pub build_cache: bool,

    #[command(flatten)]
    pub image: ImageArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

const KEYS: &str = "reference, dangling, label, before, since";

/// Checks one filter as Docker's image filters are checked.
fn check(k: &str, v: &str) -> Result<()> {
    match k {
        "reference" | "label" | "before" | "since" => Ok(()),
        "dangling" if parse_bool(v).is_some() => Ok(()),
        "dangling" => Err(Error::Usage(format!(
            "invalid filter {:?}: dangling takes true or false",
            format!("{k}={v}")
        ))),
        other => Err(Error::Usage(format!(
            "invalid filter {other:?}: supported are {KEYS}"
        ))),
    }
}

/// Docker's reference filter: the pattern matches the familiar `name:tag`, or the familiar name
/// alone when the pattern has no tag.
fn reference_matches(pattern: &str, r: &Reference) -> bool {
    path_match(pattern, &r.familiar_string())
        || (!pattern.contains(':') && path_match(pattern, &r.familiar_name()))
        || path_match(pattern, &r.to_string())
}

/// `--build-cache`: the records, as JSON Lines or a table.
fn list_build_cache(cli: &Cli) -> Result<()> {
    let layout = cli.image.layout()?;
    let records = berth::build::cache::BuildCache::open(&layout)?.live()?;
    let used = berth::gc::used_records(&layout, &records)?;
    let format = Format::parse(cli.format.as_deref()).resolve();
    let table = matches!(format, Format::Table(_));
    let rows: Vec<Value> = records
        .iter()
        .map(|r| {
            let mut row = json!({
                "key": r.key.to_string(),
                "stage": r.stage,
                "line": r.line,
                "instruction": r.inputs.instruction,
                "layer": r.layer.as_ref().map(|l| l.digest().to_string()),
                "size": r.size(),
                "created": r.created,
                "last_used": r.last_used,
                "reclaimable": !used.contains(&r.key),
            });
            if table {
                let instruction = if cli.no_trunc {
                    r.inputs.instruction.clone()
                } else {
                    truncate(&r.inputs.instruction, 40)
                };
                let extra = json!({
                    "ID": if cli.no_trunc { r.key.hex() } else { r.key.short() },
                    "Instruction": instruction,
                    "Size": output::human_size(r.size()),
                    "CreatedSince": output::since(Some(&r.created)),
                    "LastUsedSince": output::since(Some(&r.last_used)),
                });
                if let (Some(row), Value::Object(extra)) = (row.as_object_mut(), extra) {
                    row.extend(extra);
                }
            }
            row
        })
        .collect();
    let columns = [
        col("CACHE ID", "ID"),
        col("STAGE", "stage"),
        col("LINE", "line"),
        col("INSTRUCTION", "Instruction"),
        col("SIZE", "Size"),
        col("CREATED", "CreatedSince"),
        col("LAST USED", "LastUsedSince"),
        col("RECLAIMABLE", "reclaimable"),
    ];
    output::print_list(&rows, &columns, format)
}

/// `s` cut to `n` characters, the last one an ellipsis, as Docker truncates commands.
fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut out: String = s.chars().take(n - 1).collect();
    out.push('…');
    out
}

pub fn run(cli: Cli) -> Result<()> {
    if cli.build_cache {
        return list_build_cache(&cli);
    }
    let filters = Filters::parse_usage(&cli.filters, check)?;
    let wanted: Option<Reference> = cli
        .repository
        .as_deref()
        .map(Reference::parse)
        .transpose()?;
    let layout = cli.image.layout()?;
    let catalog = Catalog::load(&layout)?;
    let created_of = |q: &str| -> Result<String> {
        let item = catalog.find(q)?;
        Ok(item
            .image
            .as_ref()
            .ok()
            .and_then(|i| i.created())
            .unwrap_or("")
            .to_string())
    };
    let mut bounds = Vec::new();
    for (k, q) in filters.iter() {
        match k {
            "before" => bounds.push((true, created_of(q)?)),
            "since" => bounds.push((false, created_of(q)?)),
            _ => {}
        }
    }
    let mut listed: Vec<(&Item, &Image)> = Vec::new();
    for item in &catalog.items {
        let img = match &item.image {
            Ok(i) => i,
            Err(e) => {
                // A name left pointing at blobs that are gone (or damaged): said, with how to
                // remove it, rather than listed with made-up fields.
                let (what, handle) = match item.entry.familiar() {
                    Some(n) => (n.clone(), n),
                    None => (
                        format!("untagged image {}", item.entry.digest),
                        item.entry.digest.to_string(),
                    ),
                };
                berth_cli::warn(
                    "img-ls",
                    format!("skipping {what}: {e} (img-rm {handle} removes it)"),
                );
                continue;
            }
        };
        let r = item.entry.reference.as_ref();
        if let Some(w) = &wanted {
            let Some(r) = r else { continue };
            if r.name() != w.name() || w.tag().is_some_and(|t| Some(t) != r.tag()) {
                continue;
            }
        }
        let created = img.created().unwrap_or("");
        let keep = filters.iter().all(|(k, v)| match k {
            "reference" => r.is_some_and(|r| reference_matches(v, r)),
            "dangling" => Some(item.entry.name.is_none()) == parse_bool(v),
            "label" => {
                let label = Label::parse(v);
                let labels = img.run_config().labels.as_ref().and_then(Option::as_ref);
                match labels.and_then(|l| l.get(&label.key)) {
                    Some(have) => label.matches(Some(have)),
                    None => false,
                }
            }
            _ => true,
        }) && bounds.iter().all(|(before, t)| {
            if *before {
                created < t.as_str()
            } else {
                created > t.as_str()
            }
        });
        if keep {
            listed.push((item, img));
        }
    }
    // Newest first, as Docker lists them.
    listed.sort_by(|a, b| b.1.created().cmp(&a.1.created()));

    let id_of = |img: &Image| {
        if cli.no_trunc {
            img.id().to_string()
        } else {
            img.id().short().to_string()
        }
    };
    if cli.quiet {
        // One line per row, as `docker images -q`: an image with two tags is listed twice.
        let out: String = listed.iter().map(|(_, img)| id_of(img) + "\n").collect();
        return output::write_stdout(out.as_bytes());
    }
    // Uncompressed, as Docker counts them; measured once per image.
    let mut sizes: HashMap<&berth::digest::Digest, u64> = HashMap::new();
    for (_, img) in &listed {
        if !sizes.contains_key(img.id()) {
            sizes.insert(img.id(), image::image_size(&layout, img));
        }
    }
    let rows: Vec<Value> = listed
        .iter()
        .map(|(item, img)| {
            let r = item.entry.reference.as_ref();
            let (repo, tag) = match (r, &item.entry.name) {
                (Some(r), _) => (r.familiar_name(), r.tag().unwrap_or("<none>").to_string()),
                (None, Some(n)) => (n.clone(), "<none>".into()),
                (None, None) => ("<none>".into(), "<none>".into()),
            };
            // Docker's DIGEST: the digest a registry has for this row's repository (pulled or
            // pushed), <none> for a name that never met one.
            let digest = match r {
                Some(r) => r
                    .digest()
                    .cloned()
                    .or_else(|| {
                        image::recorded_repo_digests(&layout, &item.entry.original_digest())
                            .into_iter()
                            .find(|d| d.name() == r.name())
                            .and_then(|d| d.digest().cloned())
                    })
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "<none>".into()),
                None => "<none>".into(),
            };
            let size = output::human_size(sizes[img.id()]);
            json!({
                "Containers": "N/A",
                "CreatedAt": output::go_time(img.created()),
                "CreatedSince": output::since(img.created()),
                "Digest": digest,
                "ID": id_of(img),
                "Repository": repo,
                "SharedSize": "N/A",
                "Size": size,
                "Tag": tag,
                "UniqueSize": "N/A",
                "VirtualSize": size,
            })
        })
        .collect();
    let mut columns: Vec<Column> = vec![col("REPOSITORY", "Repository"), col("TAG", "Tag")];
    if cli.digests {
        columns.push(col("DIGEST", "Digest"));
    }
    columns.extend([
        col("IMAGE ID", "ID"),
        col("CREATED", "CreatedSince"),
        col("SIZE", "Size"),
    ]);
    output::print_list(&rows, &columns, Format::parse(cli.format.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_as_go_path_match() {
        assert!(path_match("busy*", "busybox"));
        assert!(path_match("*/app", "me/app"));
        assert!(!path_match("*", "me/app"));
        assert!(path_match("b?sybox:*", "busybox:latest"));
        assert!(!path_match("alpine", "busybox"));
    }

    #[test]
    fn truncates_long_instructions() {
        assert_eq!(truncate("RUN echo", 40), "RUN echo");
        let long = "RUN apt-get update && apt-get install -y curl";
        assert_eq!(truncate(long, 12), "RUN apt-get…");
        assert_eq!(truncate(long, 12).chars().count(), 12);
    }

    #[test]
    fn reference_filter() {
        let r = Reference::parse_with_default_tag("busybox:1.36").unwrap();
        assert!(reference_matches("busybox", &r));
        assert!(reference_matches("busybox:1.*", &r));
        assert!(!reference_matches("busybox:latest", &r));
        assert!(reference_matches("docker.io/library/busybox:1.36", &r));
    }
}
