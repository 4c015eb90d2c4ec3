//! img-inspect: show images in detail, as `docker image inspect`.

use berth::image;
use berth::output;
use berth::Result;
use berth_cli::{expand_stdin, ImageArgs};
use clap::{CommandFactory, Parser};

const AFTER: &str = "\
Prints a JSON array shaped as Docker 20.10's `docker image inspect` prints it (Id, RepoTags,
RepoDigests, Parent, Comment, Created, Container, ContainerConfig, DockerVersion, Author, Config,
Architecture, Os, Size, VirtualSize, GraphDriver, RootFS, Metadata), or with --format a Go
template executed for each image. Size and VirtualSize are uncompressed, as Docker counts them.
RepoDigests lists the repositories the image was pulled from or pushed to (none for an image
only imported, committed, loaded or tagged here). GraphDriver shows the snapshot directories
(UpperDir: the top layer, LowerDir: the others) once the layers are unpacked.

Examples:
  img-inspect busybox
  img-inspect --format '{{.Id}} {{.RepoTags}}' busybox
  img-inspect --format '{{json .Config}}' busybox
  img-import rootfs.tar app:1 | img-inspect -
  img-inspect oci:/tmp/layout:app:1";

/// Display detailed information on one or more images
#[derive(Parser, Debug)]
#[command(name = "img-inspect", version, after_help = AFTER)]
pub struct Cli {
    /// Images: references, image IDs (or unique prefixes), digests, oci:DIR[:REF], or - for
    /// the JSON a previous tool printed
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,

    /// Format the output with a Go template (json for the JSON array)
    #[arg(short, long)]
    pub format: Option<String>,

    #[command(flatten)]
    pub image: ImageArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let names = expand_stdin(cli.images)?;
    let default = cli.image.layout()?;
    let root = cli.image.root.root();
    let snapshots = root.dir().join("snapshots");
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &names {
        match image::open_named(&default, name) {
            Ok((layout, catalog, idx)) => {
                let img = catalog.items[idx]
                    .image
                    .as_ref()
                    .expect("open_named checks the image");
                // GraphDriver shows the root's snapshots for images of the root's store only.
                let in_store = layout.dir() == root.images_dir();
                let snaps = in_store.then_some(snapshots.as_path());
                found.push(image::inspect(&layout, &catalog, img, snaps));
            }
            Err(e) => errors.push(e),
        }
    }
    // As Docker: what was found is printed, then every miss is an error.
    output::print_inspected(cli.format.as_deref(), found)?;
    berth_cli::all_errors("img-inspect", errors)
}
