//! img-load: load images from a tar archive, as `docker image load`.

use std::path::PathBuf;

use berth::archive::{self, Input};
use berth::Result;
use berth_cli::ImageArgs;
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  img-load -i busybox.tar
  docker save busybox | img-load
  img-load -q -i app.tar.gz | img-tag - app:stable

Reads what docker save writes (Docker 25+'s OCI layout with manifest.json, and the <id>/layer.tar
layout of older versions) and OCI archives (skopeo's oci-archive:, img-save --format oci-archive),
plain, gzip or zstd. Loading keeps the digests it is given: an OCI archive's manifests and blobs
are stored byte for byte. A docker archive has no manifest of compressed layers: an image the store
already has (the same config, so the same layers; pulled or loaded before) keeps its manifest and
is only tagged, so its names never move to another manifest; any other gets a new manifest with
its layers gzip-compressed as img-import stores them (the same archive, the same digest), each
checked against its diffID in the image config. A bad archive changes nothing in the store.
A compressed archive may expand to at most the larger of BERTH_LAYER_MAX_BYTES (default 1G) and
BERTH_LAYER_MAX_RATIO (default 100) times its compressed size, or it is refused as a bomb.

Prints one {\"ref\",\"digest\",\"id\"} line per name loaded (ref null for an image without one).";

/// Load images from a tar archive (read from stdin by default)
#[derive(Parser, Debug)]
#[command(name = "img-load", version, after_help = AFTER)]
pub struct Cli {
    /// Read the archive from FILE instead of stdin (- is stdin)
    #[arg(short = 'i', long, value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// Do not say "Loaded image: …" on stderr
    #[arg(short = 'q', long)]
    pub quiet: bool,

    #[command(flatten)]
    pub image: ImageArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let layout = cli.image.layout_for_write()?;
    let _guard = layout.writer_guard()?;
    let input = match cli.input {
        Some(p) if p.as_os_str() != "-" => Input::File(p),
        _ => Input::Stdin,
    };
    let loaded = archive::load(&layout, &input)?;
    for l in &loaded {
        if !cli.quiet {
            match (&l.reference, &l.id) {
                (Some(r), _) => eprintln!("Loaded image: {}", r.familiar_string()),
                (None, Some(id)) => eprintln!("Loaded image ID: {id}"),
                (None, None) => eprintln!("Loaded image: {}", l.digest),
            }
        }
        berth::output::print_json(&json!({
            "ref": l.reference.as_ref().map(|r| r.to_string()),
            "digest": l.digest.to_string(),
            "id": l.id.as_ref().map(|d| d.to_string()),
        }))?;
    }
    Ok(())
}
