//! img-rm: remove images, as `docker image rm`.

use berth::image::{self, Removed};
use berth::Result;
use berth_cli::{expand_stdin, ImageArgs};
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
As `docker rmi`: a name is untagged; when it was the image's last name, the image and the blobs
no other image uses are deleted. An image ID removes the image with all its names, which needs
--force when it has more than one.

Containers: the last name of an image a container uses is untagged only with --force. Then an
image only stopped containers use is deleted (they keep the snapshots they run from), and one a
running container uses stays, untagged. By ID, an image a stopped container uses needs
--force, and one a running container uses is never removed (\"cannot be forced\").

While another berth command is writing to the store (a pull, import, commit or load, which may
be about to use them), the blobs stay, unreachable, until the next img-prune. A name left
pointing at blobs that are gone is removed like any other.

Prints {\"untagged\":[…],\"deleted\":[…]}.

Examples:
  img-rm busybox
  img-rm -f 3f57d9401f8d
  img-ls -q --filter dangling=true | xargs img-rm";

/// Remove one or more images
#[derive(Parser, Debug)]
#[command(name = "img-rm", version, after_help = AFTER)]
pub struct Cli {
    /// Images: references, image IDs (or unique prefixes), digests, or - for the JSON a previous
    /// tool printed
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,

    /// Remove an image that has several names or that a stopped container uses, or untag one
    /// a container uses
    #[arg(short, long)]
    pub force: bool,

    #[command(flatten)]
    pub image: ImageArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let names = expand_stdin(cli.images)?;
    let layout = cli.image.layout()?;
    // Containers use images of the root's store only.
    let users = match cli.image.layout {
        None => image::ImageUsers::of(&cli.image.root.root())?,
        Some(_) => image::ImageUsers::none(),
    };
    let mut all = Removed::default();
    let mut errors = Vec::new();
    for name in &names {
        match image::remove(&layout, name, cli.force, &users) {
            Ok(r) => {
                all.untagged.extend(r.untagged);
                all.deleted.extend(r.deleted);
            }
            Err(e) => errors.push(e),
        }
    }
    berth::output::print_json(&json!(all))?;
    berth_cli::all_errors("img-rm", errors)
}
