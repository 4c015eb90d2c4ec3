//! berth's core library: everything the tools share.
pub mod digest;
pub use oci_spec;
