//! img-save: write images to a tar archive, as `docker image save`.

use std::path::PathBuf;

use berth::archive::{self, Format, Output};
use berth::Result;
use berth_cli::{expand_stdin, ImageArgs};
use clap::{CommandFactory, Parser, ValueEnum};
use serde_json::json;

const AFTER: &str = "\
Examples:
  img-save busybox:latest -o busybox.tar && docker load -i busybox.tar
  img-save busybox | docker load
  img-save -z app:1 app:2 -o app.tar.gz          # both tags, layers shared, gzipped
  img-save --format oci-archive busybox -o bb.tar && skopeo inspect oci-archive:bb.tar

A repository name alone (busybox) saves every tag of it; an image ID saves the image without a
name, as docker save does. The docker-archive format is the one Docker 25 and later write: an OCI
image layout with uncompressed layers plus Docker's manifest.json, which every docker load reads.
The oci-archive format holds the images' blobs as stored, so manifest digests stay the same.

With -o, prints {\"file\",\"format\",\"images\":[{\"ref\",\"digest\",\"id\"}]}; without, stdout is the
archive (never a terminal).";

/// Save one or more images to a tar archive (streamed to stdout by default)
#[derive(Parser, Debug)]
#[command(name = "img-save", version, after_help = AFTER)]
pub struct Cli {
    /// The images: references, image IDs (or unique prefixes), digests, oci:DIR[:REF], or - for
    /// the JSON a previous tool printed
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,

    /// Write to FILE instead of stdout (through a temporary file: FILE appears only when complete)
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// The archive format
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = FormatArg::DockerArchive)]
    pub format: FormatArg,

    /// Compress the archive with gzip
    #[arg(short = 'z', long)]
    pub gzip: bool,

    #[command(flatten)]
    pub image: ImageArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// What docker save writes and docker load reads
    DockerArchive,
    /// An OCI image layout in a tar (skopeo's oci-archive:)
    OciArchive,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let queries = expand_stdin(cli.images)?;
    let layout = cli.image.layout()?;
    let images = archive::select(&layout, &queries)?;
    let (format, format_name) = match cli.format {
        FormatArg::DockerArchive => (Format::Docker, "docker-archive"),
        FormatArg::OciArchive => (Format::Oci, "oci-archive"),
    };
    let output = match &cli.output {
        Some(p) => Output::File(p.clone()),
        None => Output::Stdout,
    };
    archive::save(&images, format, cli.gzip, &output)?;
    let Some(file) = cli.output else {
        return Ok(());
    };
    let mut saved = Vec::new();
    for s in &images {
        let names: Vec<Option<String>> = if s.names.is_empty() {
            vec![None]
        } else {
            s.names.iter().map(|n| Some(n.to_string())).collect()
        };
        for n in names {
            saved.push(json!({
                "ref": n,
                "digest": s.image.digest.to_string(),
                "id": s.image.id().to_string(),
            }));
        }
    }
    berth::output::print_json(&json!({
        "file": file,
        "format": format_name,
        "images": saved,
    }))
}
