//! berth's container networking, as a library the tools call (Docker's libnetwork and Podman's
//! netavark do this job in a daemon or a helper binary; berth does it in-process):
//!
//! - `netlink`: links, addresses and routes through rtnetlink (bridges, veth pairs, a peer moved
//!   into a container's network namespace), never by running `ip`.
//! - `firewall`: berth's own nftables table (`inet berth`), driven through nft's JSON interface:
//!   masquerade, isolation between networks, published ports (DNAT in prerouting and output).
//! - `sysctl`: forwarding and `route_localnet`.
//! - `ipam`: address leases per network, under a lock, never handing an address out twice.
//! - `ports`: `-p`/`--publish` specs.
//! - `hosts`: `/etc/hosts` and `/etc/resolv.conf` contents.

pub mod error;
pub mod firewall;
pub mod hosts;
pub mod netlink;
pub mod ports;
pub mod store;
pub mod subnet;
pub mod sysctl;

pub use error::{Error, Result};
