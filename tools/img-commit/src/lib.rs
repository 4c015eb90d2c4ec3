//! img-commit: a new image from a container's changes, or the changes in a directory, as
//! `docker commit`.

use std::path::PathBuf;

use berth::commit::{self, Commit, FromContainer};
use berth::container::{status, Containers};
use berth_cli::{one_name, Codec, ImageArgs};

use berth::reference::{ImageName, Reference};
use berth::{Error, Result};
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  img-commit web myapp:1                     # the container's changes, paused meanwhile
  img-commit -c 'CMD [\"/app\"]' -m 'add app' web myapp:2
  img-commit --upper ./upper --base debian:bookworm myapp:1
  img-commit --upper ./upper --base - -c 'CMD [\"/app\"]' -m 'add app' myapp:2 < pulled.json
  img-commit --upper ./changes tools:1         # FROM scratch

With a CONTAINER (a name, ID or unique ID prefix), the layer is the container's changes (its
overlay upper directory), the base its image, and the new image's config is the container's
(Cmd, Entrypoint, Env, WorkingDir, User, Labels, ExposedPorts, Volumes, StopSignal, Hostname,
Image as it was named at run, ...) with the --change instructions applied; the image records
the container's ID (Container) and its config (ContainerConfig), as docker commit does. A
running container is paused while its changes are read (--pause=false: not).

--upper is an overlayfs upper directory (or any directory of changes): its files become the new
layer; overlayfs whiteouts (0/0 character devices) and opaque directories (trusted.overlay.opaque)
become OCI whiteouts. The layer is the same for the same change (sorted entries, no access or
change times), gzip-compressed on every core, or zstd with --compression zstd. No change (an
empty directory; a container that changed nothing) makes no layer, only a history entry marked
empty_layer, as docker commit does. What the runtime mounted (/etc/hosts, /etc/hostname,
/etc/resolv.conf, /dev, /proc, /sys) and the contents of volumes are not part of a container's
changes. Prints {\"ref\",\"digest\",\"id\",\"layer\",\"diff_id\"} (layer and diff_id null when
no layer was made); with no REPOSITORY the image is untagged.";

/// Create a new image from a container's changes, or a directory of changes on top of an image
#[derive(Parser, Debug)]
#[command(name = "img-commit", version, after_help = AFTER,
    override_usage = "img-commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]\n       img-commit [OPTIONS] --upper DIR [REPOSITORY[:TAG]]")]
pub struct Cli {
    /// The container to commit (without --upper), or the image's name REPOSITORY[:TAG] (with
    /// --upper)
    #[arg(value_name = "CONTAINER")]
    pub first: Option<String>,

    /// Name the image REPOSITORY[:TAG]
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub second: Option<String>,

    /// The directory of changes (an overlayfs upper directory), instead of a container
    #[arg(long, value_name = "DIR")]
    pub upper: Option<PathBuf>,

    /// Pause the container while its changes are read
    #[arg(short, long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set,
        num_args = 0..=1, default_missing_value = "true")]
    pub pause: bool,

    /// The image the changes apply to, or - for the JSON a previous tool printed [default: none,
    /// FROM scratch]
    #[arg(long, value_name = "IMAGE")]
    pub base: Option<String>,

    /// Author (e.g. "Jane Doe <jane@example.com>")
    #[arg(short, long)]
    pub author: Option<String>,

    /// Commit message (the history comment)
    #[arg(short, long)]
    pub message: Option<String>,

    /// Apply a Dockerfile instruction to the image config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
    /// ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR); may be repeated
    #[arg(short = 'c', long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,

    /// Compression of the new layer
    #[arg(long, value_enum, default_value_t = Codec::Gzip)]
    pub compression: Codec,

    #[command(flatten)]
    pub image: ImageArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(mut cli: Cli) -> Result<()> {
    let (container, reference) = match (&cli.upper, cli.first.take(), cli.second.take()) {
        (Some(_), r, None) => (None, r),
        (Some(_), Some(_), Some(_)) | (Some(_), None, Some(_)) => {
            return Err(Error::Usage(
                "with --upper DIR, give only the image's name REPOSITORY[:TAG]".into(),
            ))
        }
        (None, Some(c), r) => (Some(c), r),
        (None, None, _) => {
            return Err(Error::Usage(
                "give a CONTAINER to commit, or --upper DIR".into(),
            ))
        }
    };
    let root = cli.image.root.root();
    let container = match container {
        None => None,
        Some(name) => {
            let name = one_name(name)?;
            let store = Containers::open(root.containers_dir())?;
            let c = berth::container::refresh(&store.find(&name)?);
            if cli.base.is_some() {
                return Err(Error::Usage(format!(
                    "--base: a commit of container {name} is based on the container's image"
                )));
            }
            cli.base = Some(c.image.clone());
            cli.upper = Some(PathBuf::from(berth::container::rootfs::upper(&c)?));
            Some(c)
        }
    };
    let upper = cli.upper.clone().expect("set above");
    // Everything from the command line is checked before anything is written.
    let tag: Option<Reference> =
        match reference.as_deref().map(ImageName::parse).transpose()? {
            None => None,
            Some(ImageName::Reference(r)) if r.digest().is_none() => Some(r.with_default_tag()),
            Some(ImageName::Reference(r)) => {
                return Err(Error::InvalidInput(format!(
                    "cannot tag an image with a digest reference: {r}"
                )))
            }
            Some(ImageName::Layout { .. }) => return Err(Error::InvalidInput(
                "img-commit writes to the store or --layout DIR; name the image REPOSITORY[:TAG]"
                    .into(),
            )),
        };
    let layout = cli.image.layout_for_write()?;
    // Held from reading the base image to tagging the new one, so that no img-rm or prune deletes
    // the base's layers in between.
    let _guard = layout.writer_guard()?;
    let base = match (&cli.base, &container) {
        (None, _) => None,
        (Some(b), Some(_)) => Some(b.clone()),
        (Some(b), None) => Some(one_name(b.clone())?),
    };
    let from_container = container.as_ref().map(|c| FromContainer {
        id: &c.id,
        config: &c.config,
        // As docker commit: the container's command.
        command: std::iter::once(c.path.clone())
            .chain(c.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" "),
        pause: cli.pause && c.state.status == status::RUNNING,
        lower: berth::container::rootfs::lower_dirs(c),
    });
    let done = commit::commit(
        &root,
        &layout,
        &Commit {
            upper: &upper,
            base: base.as_deref(),
            container: from_container,
            author: cli.author.as_deref(),
            message: cli.message.as_deref(),
            changes: &cli.changes,
            compression: cli.compression.into(),
            tag: tag.as_ref(),
        },
    )?;
    berth::output::print_json(&json!({
        "ref": tag.map(|r| r.to_string()),
        "digest": done.manifest.digest().to_string(),
        "id": done.id.to_string(),
        "layer": done.layer.as_ref().map(|l| l.descriptor.digest().to_string()),
        "diff_id": done.layer.as_ref().map(|l| l.diff_id.to_string()),
    }))
}
