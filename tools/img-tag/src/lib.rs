//! img-tag: give an image another name, as `docker image tag`.

use berth::image;
use berth::reference::{ImageName, Reference};
use berth::{Error, Result};
use berth_cli::{one_name, ImageArgs};
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  img-tag busybox localhost:5000/tools/busybox:1.36
  img-tag 3f57d9401f8d myimage:v2          # by image ID prefix
  img-import rootfs.tar | img-tag - app:latest

Prints {\"ref\",\"digest\",\"id\"} for the new name. A name that pointed at another image moves;
that image stays, untagged, until it is removed or pruned.";

/// Create a tag TARGET that refers to SOURCE
#[derive(Parser, Debug)]
#[command(name = "img-tag", version, after_help = AFTER)]
pub struct Cli {
    /// The image: a reference, an image ID (or unique prefix), a digest, or - for the JSON a
    /// previous tool printed
    #[arg(value_name = "SOURCE")]
    pub source: String,

    /// The new name, as Docker normalises it (busybox → docker.io/library/busybox:latest)
    #[arg(value_name = "TARGET")]
    pub target: String,

    #[command(flatten)]
    pub image: ImageArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let target = match ImageName::parse(&cli.target)? {
        ImageName::Reference(r) => r,
        ImageName::Layout { .. } => {
            return Err(Error::InvalidInput(format!(
                "{}: img-tag names images within one layout; use img-save/img-load or skopeo copy to copy between layouts",
                cli.target
            )))
        }
    };
    if target.digest().is_some() {
        return Err(Error::InvalidInput(format!(
            "refusing to create a tag with a digest reference: {}",
            cli.target
        )));
    }
    let target: Reference = target.with_default_tag();
    let source = one_name(cli.source)?;
    let (layout, catalog, idx) = image::open_named(&cli.image.layout()?, &source)?;
    let item = &catalog.items[idx];
    let img = item.image.as_ref().expect("open_named checks the image");
    image::tag(&layout, &target, &item.entry.descriptor)?;
    berth::output::print_json(&json!({
        "ref": target.to_string(),
        "digest": img.digest.to_string(),
        "id": img.id().to_string(),
    }))
}
