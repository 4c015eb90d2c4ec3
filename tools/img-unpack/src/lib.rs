//! img-unpack: an image's flattened root filesystem in a directory, as `umoci unpack`, or an OCI
//! runtime bundle that `runc run` accepts.

use std::path::{Path, PathBuf};

use berth::error::IoContext;
use berth::unpack::{self, Dest};
use berth::{bundle, image, output, Error, Result};
use berth_cli::{one_name, ImageArgs};
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  img-unpack busybox ./rootfs
  img-pull debian:bookworm | img-unpack - ./debian
  img-unpack --bundle busybox ./bundle && runc run -b ./bundle ctr1

Layers are applied in order: whiteouts remove what lower layers made, hard links, symlinks,
devices, owners (when run as root), modes, times and extended attributes are kept. Every path
is resolved inside DIR with openat2(RESOLVE_IN_ROOT): whatever a layer's tar says, nothing is
written outside DIR. A layer whose content does not match its digest or diffID is an error, and
so is one whose media type is not a tar layer's or whose compression is not the one it names.
Sparse files stay sparse. A layer may expand to at most the larger of BERTH_LAYER_MAX_BYTES
(default 1G) and BERTH_LAYER_MAX_RATIO (default 100) times its compressed size; one that goes
past is refused as a decompression bomb.

DIR must be empty or not exist. Prints {\"ref\",\"id\",\"dir\",\"rootfs\",\"layers\",\"entries\",\"bytes\"}.";

/// Unpack an image's root filesystem into a directory
#[derive(Parser, Debug)]
#[command(name = "img-unpack", version, after_help = AFTER)]
pub struct Cli {
    /// The image: a reference, an image ID (or unique prefix), a digest, oci:DIR[:REF], or -
    /// for the JSON a previous tool printed
    #[arg(value_name = "IMAGE")]
    pub image_name: String,

    /// Where to unpack (created if missing; must be empty)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Write an OCI runtime bundle: DIR/rootfs and DIR/config.json
    #[arg(long)]
    pub bundle: bool,

    #[command(flatten)]
    pub image: ImageArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

/// Makes `dir` (and its parents) and checks it is empty.
fn empty_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_path("create directory", dir)?;
    let mut entries = std::fs::read_dir(dir).with_path("read directory", dir)?;
    if entries.next().is_some() {
        return Err(Error::InvalidInput(format!(
            "{}: the directory is not empty",
            dir.display()
        )));
    }
    Ok(())
}

pub fn run(cli: Cli) -> Result<()> {
    let name = one_name(cli.image_name.clone())?;
    let (layout, catalog, idx) = image::open_named(&cli.image.layout()?, &name)?;
    let img = catalog.items[idx]
        .image
        .as_ref()
        .expect("open_named checks the image");
    let existed = cli.dir.exists();
    empty_dir(&cli.dir)?;
    let r = unpack_into(&cli, &layout, img);
    if r.is_err() {
        // Bad input changes nothing: a half-unpacked tree is not left for anyone to run.
        if existed {
            if let Ok(rd) = std::fs::read_dir(&cli.dir) {
                for e in rd.flatten() {
                    let p = e.path();
                    let _ = if p.is_dir() && !p.is_symlink() {
                        std::fs::remove_dir_all(&p)
                    } else {
                        std::fs::remove_file(&p)
                    };
                }
            }
        } else {
            let _ = std::fs::remove_dir_all(&cli.dir);
        }
    }
    let applied = r?;
    let dir = std::fs::canonicalize(&cli.dir).with_path("resolve", &cli.dir)?;
    output::print_json(&json!({
        "ref": catalog.items[idx].entry.name,
        "id": img.id().to_string(),
        "dir": dir,
        "rootfs": if cli.bundle { dir.join("rootfs") } else { dir.clone() },
        "layers": img.manifest.layers().len(),
        "entries": applied.entries,
        "bytes": applied.bytes,
    }))
}

/// Unpacks `img` into the (empty) DIR, and writes config.json for a bundle.
fn unpack_into(
    cli: &Cli,
    layout: &berth::store::Layout,
    img: &berth::image::Image,
) -> Result<unpack::Applied> {
    let rootfs = if cli.bundle {
        cli.dir.join("rootfs")
    } else {
        cli.dir.clone()
    };
    if cli.bundle {
        std::fs::create_dir(&rootfs).with_path("create directory", &rootfs)?;
    }
    let applied = unpack::unpack_image(layout, img, &rootfs)?;
    if cli.bundle {
        let dest = Dest::open(&rootfs)?;
        let cfg = img.run_config();
        if berth::config::list(&cfg.entrypoint).is_empty()
            && berth::config::list(&cfg.cmd).is_empty()
        {
            eprintln!(
                "img-unpack: warning: the image has no Entrypoint or Cmd; config.json runs sh"
            );
        }
        let spec = bundle::runtime_spec(img, &dest)?;
        let text = serde_json::to_vec_pretty(&spec).expect("a runtime spec serialises");
        berth::store::atomic_write(&cli.dir, "config.json", &text)?;
    }
    Ok(applied)
}
