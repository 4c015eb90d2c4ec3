//! img-prune: remove unused images and what no image needs, as `docker image prune`.

use berth::filter::{parse_bool, PruneFilter};
use berth::gc::{self, PruneImages};
use berth::{output, Error, Result};
use berth_cli::ImageArgs;
use clap::{CommandFactory, Parser};

const AFTER: &str = "\
Removes dangling images (no tag: untagged, or named only by digest) that no container uses, as
`docker image prune`; with -a every image no container uses, tagged or not. An image a
container was created from stays, whether the container runs or not. Then, as always: blobs
no image reaches, snapshots no image or container uses, and what interrupted pulls left.

Filters (--filter, repeatable; all must match):
  until=DURATION|TIMESTAMP   images created before it (10m, 24h, 2026-01-02, a Unix time)
  label=KEY[=VALUE]          images with this label
  label!=KEY[=VALUE]         images without it
  dangling=true|false        false: as -a

Waits for running pulls and imports to finish first (they hold the store's writer lock), so a
blob that is about to be tagged is never removed. Prints
{\"untagged\",\"images\",\"blobs\",\"snapshots\",\"leftovers\",\"reclaimed\",\"total_reclaimed_space\"}:
the names untagged and image IDs deleted (Docker's untagged:/deleted: lines), reclaimed in bytes
and as Docker prints it; on a terminal, Docker's report on stderr.

With --build-cache, as `docker builder prune`, the build cache instead (images stay): the
dangling records (the steps of builds whose result has no tag any more, or that a later edit
replaced; a record is used while a tagged image is its state or the state of a step after it,
or has the layer it added on the same layers below),
with -a every record; then the blobs and snapshots only those records reached.
  --filter until=DURATION|TIMESTAMP   only records not used since (unused-for= is the same)
  --keep-storage SIZE                 stop once the records left hold at most SIZE (their
                                      layers as stored; 512MB, 2GB, binary units as Docker's);
                                      the least recently used go first
Prints {\"cache_records_deleted\",\"space_reclaimed\",\"deleted\",\"blobs\",\"snapshots\",
\"total_reclaimed_space\"}; on a terminal, Docker's report on stderr (\"Deleted build cache
objects:\" and the keys, then \"Total reclaimed space: …\").

Examples:
  img-prune                          # dangling images, unused blobs and snapshots
  img-prune -a                       # and every image no container uses
  img-prune -a --filter until=24h    # ... created more than a day ago
  img-prune --layout DIR             # in another OCI layout
  img-prune --build-cache -a --keep-storage 1GB   # build cache down to 1 GB";

/// Remove unused images, blobs and snapshots
#[derive(Parser, Debug)]
#[command(name = "img-prune", version, after_help = AFTER)]
pub struct Cli {
    /// Remove all images no container uses, not just dangling ones
    #[arg(short, long)]
    pub all: bool,

    /// Do not prompt (accepted for Docker compatibility; img-prune never prompts)
    #[arg(short, long)]
    pub force: bool,

    /// Provide filter values (until=24h, label=KEY[=VALUE], label!=KEY[=VALUE]; see below)
    #[arg(long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,

    /// Remove build cache records (as docker builder prune), not images
    #[arg(long)]
    pub build_cache: bool,

    /// With --build-cache: amount of cache to keep (the most recently used), e.g. 512MB, 2GB
    #[arg(long, value_name = "SIZE", requires = "build_cache")]
    pub keep_storage: Option<String>,

    #[command(flatten)]
    pub image: ImageArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

/// `dangling=` is the image prune's own filter; the others are every prune's.
fn parse_filters(all: bool, filters: &[String]) -> Result<PruneImages> {
    let mut which = PruneImages {
        all,
        filters: Vec::new(),
    };
    let mut rest = Vec::new();
    for f in filters {
        match f.split_once('=') {
            Some(("dangling", v)) => match parse_bool(v) {
                Some(d) => which.all |= !d,
                None => {
                    return Err(Error::Usage(format!(
                        "invalid filter {f:?}: dangling takes true or false"
                    )))
                }
            },
            _ => rest.push(f.clone()),
        }
    }
    which.filters = PruneFilter::parse_all(&rest).map_err(|e| Error::Usage(e.to_string()))?;
    Ok(which)
}

/// A size as Docker's `--keep-storage` reads it (go-units RAMInBytes): a number, an optional
/// space, and an optional unit k, m, g, t or p (times 1024 each), `i` and `b` allowed after it.
fn parse_size(s: &str) -> Result<u64> {
    let bad = || {
        Error::Usage(format!(
            "invalid --keep-storage {s:?}: expected a size such as 512MB, 2GB or 1048576"
        ))
    };
    let t = s.trim_end_matches(['b', 'B']);
    let t = t.strip_suffix(['i', 'I']).unwrap_or(t);
    let (num, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], Some(c.to_ascii_lowercase())),
        _ => (t, None),
    };
    let num = num.strip_suffix(' ').unwrap_or(num);
    if num.is_empty()
        || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || num.starts_with('.')
    {
        return Err(bad());
    }
    let n: f64 = num.parse().map_err(|_| bad())?;
    let shift = match unit {
        None => 0,
        Some('k') => 10,
        Some('m') => 20,
        Some('g') => 30,
        Some('t') => 40,
        Some('p') => 50,
        Some(_) => return Err(bad()),
    };
    Ok((n * (1u64 << shift) as f64) as u64)
}

/// `until=` (or BuildKit's `unused-for=`): the build cache prune's only filter.
fn parse_cache_filters(cli: &Cli) -> Result<gc::PruneCache> {
    let mut which = gc::PruneCache {
        all: cli.all,
        ..gc::PruneCache::default()
    };
    for f in &cli.filters {
        match f.split_once('=') {
            Some(("until" | "unused-for", v)) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                let t = berth::filter::parse_until(v, now)?;
                which.until = Some(which.until.map_or(t, |u| u.min(t)));
            }
            _ => {
                return Err(Error::Usage(format!(
                    "invalid filter {f:?}: the build cache prune takes until=DURATION|TIMESTAMP"
                )))
            }
        }
    }
    which.keep_storage = cli.keep_storage.as_deref().map(parse_size).transpose()?;
    Ok(which)
}

pub fn run(cli: Cli) -> Result<()> {
    if cli.build_cache {
        let which = parse_cache_filters(&cli)?;
        let layout = cli.image.layout()?;
        let root = cli.image.root.root();
        let root = cli.image.layout.is_none().then_some(&root);
        let pruned = gc::prune_build_cache(&layout, root, &which)?;
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprint!("{}", pruned.report());
        }
        return output::print_json(&pruned.to_json());
    }
    let which = parse_filters(cli.all, &cli.filters)?;
    let layout = cli.image.layout()?;
    let root = cli.image.root.root();
    let root = cli.image.layout.is_none().then_some(&root);
    let pruned = gc::prune(&layout, root, &which)?;
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprint!("{}", pruned.report());
    }
    output::print_json(&pruned.to_json())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let w = parse_filters(false, &s(&["dangling=false", "label=a=b"])).unwrap();
        assert!(w.all);
        assert_eq!(
            w.filters,
            [PruneFilter::Label("a".into(), Some("b".into()))]
        );
        assert!(!parse_filters(false, &s(&["dangling=true"])).unwrap().all);
        assert!(parse_filters(false, &s(&["dangling=x"])).is_err());
        assert!(parse_filters(false, &s(&["name=x"])).is_err());
        assert!(parse_filters(false, &s(&["until=soon"])).is_err());
    }

    #[test]
    fn sizes_as_docker_reads_them() {
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_size("512MB").unwrap(), 512 << 20);
        assert_eq!(parse_size("512m").unwrap(), 512 << 20);
        assert_eq!(parse_size("2 GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert_eq!(parse_size("10b").unwrap(), 10);
        for bad in ["", "MB", "-1", "1x", "1.2.3", "1 2"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn build_cache_flags() {
        let cli = |a: &[&str]| Cli::try_parse_from([&["img-prune"], a].concat());
        assert!(
            cli(&["--keep-storage", "1GB"]).is_err(),
            "--keep-storage needs --build-cache"
        );
        let c = cli(&[
            "--build-cache",
            "-a",
            "--keep-storage",
            "1GB",
            "--filter",
            "until=24h",
        ])
        .unwrap();
        let w = parse_cache_filters(&c).unwrap();
        assert!(w.all);
        assert_eq!(w.keep_storage, Some(1 << 30));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!((w.until.unwrap() - (now - 86400)).abs() < 5);
        let c = cli(&["--build-cache", "--filter", "label=a"]).unwrap();
        let e = parse_cache_filters(&c).unwrap_err().to_string();
        assert!(e.contains("takes until="), "{e}");
    }
}
