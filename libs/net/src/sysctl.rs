//! Kernel parameters under `/proc/sys`: forwarding and `route_localnet`.
//!
//! `/proc/sys/net` shows the network namespace of the thread that opens it, so these act on the
//! calling thread's namespace.

use crate::error::IoContext;
use crate::Result;

/// The file under `/proc/sys` for `key`: dots become slashes (`net.ipv4.ip_forward`), unless the
/// key already uses slashes (`net/ipv4/conf/eth0.100/route_localnet`), where dots stay, as in
/// sysctl(8).
fn path(key: &str) -> String {
    if key.contains('/') {
        format!("/proc/sys/{}", key.trim_start_matches('/'))
    } else {
        format!("/proc/sys/{}", key.replace('.', "/"))
    }
}

/// Writes `value` to the kernel parameter `key` (`net.ipv4.ip_forward`), only if it differs.
pub fn set(key: &str, value: &str) -> Result<()> {
    let path = path(key);
    let current = std::fs::read_to_string(&path).with_path("reading", &path)?;
    if current.trim() == value.trim() {
        return Ok(());
    }
    std::fs::write(&path, value).with_path("writing", &path)
}

/// Turns on IPv4 forwarding, and IPv6 forwarding too when `v6`.
pub fn enable_forwarding(v6: bool) -> Result<()> {
    set("net.ipv4.ip_forward", "1")?;
    if v6 {
        set("net.ipv6.conf.all.forwarding", "1")?;
    }
    Ok(())
}

/// Lets packets from 127.0.0.0/8 be routed out of `bridge`: a connection to a published port on
/// 127.0.0.1, DNATed to a container, leaves through the bridge with a loopback source.
pub fn route_localnet(bridge: &str) -> Result<()> {
    if bridge.is_empty() || bridge.contains('/') || bridge == "." || bridge == ".." {
        return Err(crate::Error::InvalidInput(format!(
            "{bridge:?} is not an interface name"
        )));
    }
    set(&format!("net/ipv4/conf/{bridge}/route_localnet"), "1")
}

#[cfg(test)]
mod tests {
    use super::path;

    #[test]
    fn keys_become_paths() {
        assert_eq!(path("net.ipv4.ip_forward"), "/proc/sys/net/ipv4/ip_forward");
        assert_eq!(
            path("net/ipv4/conf/eth0.100/route_localnet"),
            "/proc/sys/net/ipv4/conf/eth0.100/route_localnet"
        );
    }
}
