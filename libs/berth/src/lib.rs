//! berth's core library: everything the tools share.
//!
//! Modules by concept: [`reference`] and [`digest`] name content, [`store`] is the OCI image
//! layout on disk, [`image`] reads and writes images in it (their configs typed as
//! [`image::ImageConfig`], the run config as Docker's [`config::Config`]), [`layer`] makes layers,
//! [`change`] applies Dockerfile-style `--change` instructions, [`commit`] makes an image from a
//! directory of changes, [`output`] and [`template`] print results, [`cli`] holds what every
//! tool's `main` shares.
pub mod archive;
pub mod build;
pub mod bundle;
pub mod change;
pub mod commit;
pub mod compress;
pub mod config;
pub mod container;
pub mod diff;
pub mod digest;
pub mod dockerignore;
pub mod error;
pub mod filter;
pub mod gc;
pub mod image;
pub mod layer;
pub mod network;
pub mod output;
pub mod progress;
pub mod record;
pub mod reference;
pub mod registry;
pub mod root;
pub mod seccomp;
pub mod snapshot;
pub mod store;
pub mod unpack;
pub mod volume;

pub use berth_net;
/// Go's text/template for `--format` (its own crate, re-exported so `berth::template::…` paths stay).
pub use berth_template as template;
pub use error::{Error, Result};
pub use oci_spec;
