//! The registry client: the OCI distribution spec over `ureq`.
pub mod auth;
pub mod blobs;
pub mod client;
pub mod deadline;
pub mod media;
pub mod pull;
pub mod push;
pub mod search;

pub use auth::{Credentials, DockerConfig};
pub use client::{Client, Options};
