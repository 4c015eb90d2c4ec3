//! img-import: make a one-layer image from a root filesystem tarball, as `docker image import`.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use berth::config::Config;
use berth::image::{self, ImageConfig, Platform};
use berth::oci_spec::image::{HistoryBuilder, RootFs};
use berth::reference::{ImageName, Reference};
use berth::store::Layout;
use berth::{Error, Result};
use berth_cli::ImageArgs;
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  tar -C rootfs -c . | img-import - busybox:local
  img-import --change 'CMD [\"/bin/sh\"]' --change 'ENV LANG=C.UTF-8' rootfs.tar.gz app:1
  img-import rootfs.tar oci:/tmp/layout:app:1      # into another OCI layout

Prints {\"ref\",\"digest\",\"id\"}: the normalised reference (null when none was given), the
manifest digest and the image ID (the config digest).";

/// Import a root filesystem tarball as a one-layer image
#[derive(Parser, Debug)]
#[command(name = "img-import", version, after_help = AFTER)]
#[command(
    long_about = "Import the contents of a tarball (plain, gzip or zstd) as an image with one \
layer, as `docker image import` does. The tarball is read once, as a stream: it is checked to be a \
tar archive, hashed and stored as a gzip layer. `--change` applies Dockerfile instructions to the \
image's config."
)]
pub struct Cli {
    /// The tarball to import, or - for stdin
    #[arg(value_name = "FILE|-")]
    pub file: String,

    /// Tag the image as REF (or oci:DIR:REF to write into another OCI layout)
    #[arg(value_name = "REF")]
    pub reference: Option<String>,

    /// Apply a Dockerfile instruction to the image config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
    /// ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR); may be repeated
    #[arg(short = 'c', long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,

    /// Set the commit message (the history comment)
    #[arg(short = 'm', long)]
    pub message: Option<String>,

    /// Set the platform of the image (OS/ARCH[/VARIANT]) [default: this host's]
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,

    #[command(flatten)]
    pub image: ImageArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let platform = match &cli.platform {
        Some(p) => p.parse::<Platform>()?,
        None => Platform::host(),
    };
    // Validate everything from the command line before reading or writing anything.
    let (layout, tag) = match cli.reference.as_deref().map(ImageName::parse).transpose()? {
        None => (cli.image.layout_for_write()?, None),
        Some(ImageName::Reference(r)) => {
            if r.digest().is_some() {
                return Err(Error::InvalidInput(format!(
                    "cannot tag an image with a digest reference: {r}"
                )));
            }
            (
                cli.image.layout_for_write()?,
                Some(TagName::Reference(r.with_default_tag())),
            )
        }
        Some(ImageName::Layout { dir, reference }) => {
            (Layout::open_or_create(&dir)?, reference.map(TagName::Raw))
        }
    };
    let mut run_config = Config::default();
    berth::change::apply(&mut run_config, &cli.changes)?;

    let (input, source): (Box<dyn Read>, String) = if cli.file == "-" {
        (Box::new(std::io::stdin().lock()), "-".into())
    } else {
        let path = PathBuf::from(&cli.file);
        let f = File::open(&path).map_err(|e| Error::io("open", &path, e))?;
        if f.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(Error::InvalidInput(format!(
                "{} is a directory, not a tarball (tar it first: tar -C DIR -c . | img-import - REF)",
                path.display()
            )));
        }
        (Box::new(f), cli.file.clone())
    };
    let _guard = layout.writer_guard()?;
    let layer = berth::layer::import_tar(&layout, input, &source)?;

    let now = image::now_rfc3339();
    let comment = cli
        .message
        .clone()
        .unwrap_or_else(|| format!("Imported from {source}"));
    let history = HistoryBuilder::default()
        .created(now.clone())
        .created_by("")
        .comment(comment)
        .build()
        .map_err(|e| Error::InvalidInput(format!("history: {e}")))?;
    let mut config = ImageConfig {
        created: Some(now),
        architecture: platform.architecture,
        os: platform.os,
        variant: platform.variant,
        config: Some(Some(run_config)),
        rootfs: Some(RootFs::default()),
        history: Some(vec![history]),
        ..ImageConfig::default()
    };
    config.push_diff_id(&layer.diff_id);
    let (manifest, id) = image::write_image(&layout, &config, vec![layer.descriptor])?;

    let ref_out = match &tag {
        None => {
            image::add_untagged(&layout, &manifest)?;
            serde_json::Value::Null
        }
        Some(TagName::Reference(r)) => {
            image::tag(&layout, r, &manifest)?;
            json!(r.to_string())
        }
        Some(TagName::Raw(name)) => {
            image::tag_raw(&layout, name, &manifest)?;
            json!(name)
        }
    };
    berth::output::print_json(&json!({
        "ref": ref_out,
        "digest": manifest.digest().to_string(),
        "id": id.to_string(),
    }))
}

enum TagName {
    Reference(Reference),
    /// A name in a foreign layout, kept verbatim as skopeo does.
    Raw(String),
}
