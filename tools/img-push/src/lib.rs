//! img-push: upload an image to a registry, as `docker image push`.

use berth::image;
use berth::reference::Reference;
use berth::registry::{push, Client};
use berth::{Error, Result};
use berth_cli::{one_name, ImageArgs, ProgressArgs, RegistryArgs};
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Blobs the registry has already are skipped (HEAD); blobs that another repository of the same
registry holds (by what the store knows) are mounted instead of uploaded; small blobs go up in
one request, large ones in 16 MiB chunks. Then the manifest, and for a multi-platform image
every platform's manifest and the index.

Prints {\"ref\",\"digest\"}.

Examples:
  img-push 127.0.0.1:5000/busybox:1
  img-push busybox:local 127.0.0.1:5000/tools/busybox:1   # push under another name
  img-import rootfs.tar app:1 | img-push - 127.0.0.1:5000/app:1";

/// Upload an image to a registry
#[derive(Parser, Debug)]
#[command(name = "img-push", version, after_help = AFTER)]
pub struct Cli {
    /// The image to push: a reference (which names the destination too), an ID, or -
    #[arg(value_name = "IMAGE")]
    pub image_name: String,

    /// Where to push it, when not to IMAGE's own name: REGISTRY/REPOSITORY[:TAG]
    #[arg(value_name = "DEST")]
    pub dest: Option<String>,

    /// Upload at most N blobs at once
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub max_concurrent: usize,

    #[command(flatten)]
    pub progress: ProgressArgs,

    #[command(flatten)]
    pub registry: RegistryArgs,

    #[command(flatten)]
    pub image: ImageArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let source = one_name(cli.image_name)?;
    let dest = match (&cli.dest, Reference::parse(&source)) {
        (Some(d), _) => Reference::parse(d)?.with_default_tag(),
        (None, Ok(r)) => r.with_default_tag(),
        (None, Err(_)) => {
            return Err(Error::Usage(format!(
                "{source} is not a name to push to: give a DEST (REGISTRY/REPOSITORY[:TAG])"
            )))
        }
    };
    if dest.digest().is_some() {
        return Err(Error::InvalidInput(format!(
            "cannot push to a digest reference: {dest}"
        )));
    }
    let (layout, catalog, idx) = image::open_named(&cli.image.layout()?, &source)?;
    let item = &catalog.items[idx];
    let client = Client::new(dest.domain(), &cli.registry.options()?)?;
    let reporter = cli.progress.reporter("Push");
    let pushed = push::push(
        &client,
        &layout,
        &catalog,
        &item.entry.descriptor,
        &dest,
        cli.max_concurrent,
        reporter.as_ref(),
    )?;
    let digest = pushed.digest.map(|d| d.to_string());
    berth::output::print_json(&json!({
        "ref": dest.to_string(),
        "digest": digest,
        "uploaded": pushed.uploaded.len(),
        "mounted": pushed.mounted.len(),
        "skipped": pushed.skipped.len(),
    }))
}
