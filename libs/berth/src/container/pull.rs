//! `ctr-run` and `ctr-create`'s `--pull`: the image is pulled before the container is made, as
//! `docker run` and `docker create` do (`missing`, the default: only when the store lacks it),
//! with Docker's lines on stderr ("Unable to find image 'X' locally", "TAG: Pulling from REPO",
//! the layers, "Digest: …", "Status: …"). The pull is img-pull's ([`crate::registry::pull`]).

use std::str::FromStr;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image::{self, Platform};
use crate::reference::{ImageName, Reference};
use crate::registry::pull::{self, Progress, PullOptions};
use crate::registry::{Client, Options};
use crate::root::Root;

/// When to pull the image (`--pull`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Only when it is not in the store.
    #[default]
    Missing,
    /// Always (the registry's newer image replaces the tag).
    Always,
    /// Never: an image that is not in the store is an error.
    Never,
}

impl FromStr for PullPolicy {
    type Err = Error;
    fn from_str(s: &str) -> Result<PullPolicy> {
        match s {
            "missing" => Ok(PullPolicy::Missing),
            "always" => Ok(PullPolicy::Always),
            "never" => Ok(PullPolicy::Never),
            _ => Err(Error::Usage(format!(
                "invalid pull option: '{s}': must be one of \"always\", \"missing\" or \"never\""
            ))),
        }
    }
}

/// The image's ID when the store has `image` (a reference, an ID or an `oci:` name) for
/// `platform` (any when `None`): as Docker's, an image of another platform counts as missing.
fn local_id(root: &Root, image: &str, platform: Option<&Platform>) -> Result<Option<Digest>> {
    let store = root.images()?;
    match image::open_named(&store, image) {
        Ok((_, catalog, idx)) => Ok(catalog.items[idx]
            .image
            .as_ref()
            .ok()
            .filter(|i| platform.is_none_or(|p| p.matches(i.os(), i.architecture(), None)))
            .map(|i| i.id().clone())),
        Err(Error::ImageNotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The platform (`os/arch`) of `image` in the store, if it is there.
fn local_platform(root: &Root, image: &str) -> Result<Option<String>> {
    let store = root.images()?;
    match image::open_named(&store, image) {
        Ok((_, catalog, idx)) => Ok(catalog.items[idx]
            .image
            .as_ref()
            .ok()
            .map(|i| format!("{}/{}", i.os(), i.architecture()))),
        Err(Error::ImageNotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Makes sure the store has `image` as `policy` asks, pulling it from its registry (`opts`)
/// with `progress` for Docker's lines (the pull's header, layers, digest and status) and `say` for
/// "Unable to find image 'X' locally". A name that cannot be
/// pulled (an image ID, an `oci:` layout) is left for the create to find or not.
pub fn ensure_image(
    root: &Root,
    image: &str,
    policy: PullPolicy,
    opts: &Options,
    progress: &dyn Progress,
    say: &dyn Fn(&str),
) -> Result<()> {
    ensure_image_for(root, image, policy, None, opts, progress, say)
}

/// [`ensure_image`] for `--platform`: an image in the store of another platform is pulled
/// for `platform` (and with `--pull never` is not found), as `docker run --platform` does.
pub fn ensure_image_for(
    root: &Root,
    image: &str,
    policy: PullPolicy,
    platform: Option<&Platform>,
    opts: &Options,
    progress: &dyn Progress,
    say: &dyn Fn(&str),
) -> Result<()> {
    let before = local_id(root, image, platform)?;
    if let (None, PullPolicy::Never, Some(p)) = (&before, policy, platform) {
        if let Some(actual) = local_platform(root, image)? {
            return Err(Error::InvalidInput(format!(
                "image with reference {image} was found but does not match the specified \
                 platform: wanted {p}, actual: {actual}"
            )));
        }
    }
    let pullable =
        !matches!(ImageName::parse(image), Ok(ImageName::Layout { .. })) && !looks_like_id(image);
    match (policy, &before) {
        (PullPolicy::Never, None) => return Err(Error::ImageNotFound(image.to_string())),
        (PullPolicy::Never, Some(_)) | (PullPolicy::Missing, Some(_)) => return Ok(()),
        _ if !pullable => return Ok(()),
        _ => {}
    }
    let reference = Reference::parse(image)?.with_default_tag();
    let shown = reference.familiar_string();
    if before.is_none() {
        say(&format!("Unable to find image '{shown}' locally"));
    }
    let layout = root.images()?;
    let _guard = layout.writer_guard()?;
    let client = Client::new(reference.domain(), opts)?;
    let snapshots = if nix::unistd::geteuid().is_root() {
        Some(root.snapshots()?)
    } else {
        None
    };
    pull::pull(
        &client,
        &layout,
        &reference,
        &PullOptions {
            platform: platform.cloned(),
            all_platforms: false,
            max_concurrent: 3,
            progress,
            snapshots: snapshots.as_ref(),
        },
    )?;
    Ok(())
}

/// Whether `name` is an image ID (`sha256:HEX`, or 12 to 64 hex digits), which Docker looks up
/// but does not pull.
fn looks_like_id(name: &str) -> bool {
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    (name.starts_with("sha256:") || hex.len() >= 12)
        && !hex.is_empty()
        && hex.len() <= 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_and_ids() {
        assert_eq!(
            "missing".parse::<PullPolicy>().unwrap(),
            PullPolicy::Missing
        );
        assert_eq!("always".parse::<PullPolicy>().unwrap(), PullPolicy::Always);
        assert_eq!("never".parse::<PullPolicy>().unwrap(), PullPolicy::Never);
        assert!("sometimes".parse::<PullPolicy>().is_err());
        assert!(looks_like_id("sha256:abc"));
        assert!(looks_like_id("0123456789ab"));
        assert!(!looks_like_id("busybox"));
        assert!(!looks_like_id("abc"));
        assert!(!looks_like_id("localhost:5000/x"));
    }
}
