//! End-to-end tests: the built tools run as a user would run them, asserting what the user would
//! check (stdout JSON, files, exit codes, stderr).

#[macro_use]
mod support;

mod build_cache;
mod build_e2e;
mod build_emit;
mod build_features;
mod build_steps;
mod cli;
mod commit;
mod containers;
mod containers_cp;
mod containers_create;
mod containers_hardening;
mod containers_hostfd;
mod containers_index;
mod containers_tools;
mod health;
mod image_golden;
mod import;
mod inspect_golden;
mod interop;
mod layers;
mod list_inspect;
mod logs_rotate;
mod network;
mod network_tools;
mod parity_commit;
mod parity_fs;
mod parity_img;
mod parity_ls;
mod parity_meta;
mod parity_msgs;
mod parity_run;
mod parity_sig;
mod permissions;
mod prune;
mod registry;
mod registry_auth;
mod registry_infra;
mod registry_limits;
mod restart;
mod run_flags;
mod run_ns;
mod runtime_cli;
mod runtime_cli_pod;
mod runtime_containerd;
mod save_load;
mod snapshots;
mod store;
mod store_races;
mod tag_rm;
mod unpack;
mod volumes;
