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

Examples:
  img-prune                          # dangling images, unused blobs and snapshots
  img-prune -a                       # and every image no container uses
  img-prune -a --filter until=24h    # ... created more than a day ago
  img-prune --layout DIR             # in another OCI layout";

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

pub fn run(cli: Cli) -> Result<()> {
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
}
