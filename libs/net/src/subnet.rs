//! IPv4 subnets in CIDR notation, the addresses in them, and Docker's pools of default subnets.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use crate::error::{Error, Result};

/// An IPv4 subnet: the network address (host bits zero) and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subnet {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    /// `network/prefix`; host bits set in `network` are an error, as Docker's
    /// "invalid subnet: it should be 172.18.0.0/16".
    pub fn new(network: Ipv4Addr, prefix: u8) -> Result<Subnet> {
        if prefix > 30 {
            return Err(Error::InvalidInput(format!(
                "subnet {network}/{prefix}: the prefix must be at most 30 (no room for a gateway \
                 and a container)"
            )));
        }
        let s = Subnet { network, prefix };
        if u32::from(network) & !s.mask() != 0 {
            let fixed = Ipv4Addr::from(u32::from(network) & s.mask());
            return Err(Error::InvalidInput(format!(
                "invalid subnet {network}/{prefix}: host bits are set; did you mean {fixed}/{prefix}?"
            )));
        }
        Ok(s)
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    /// The number of addresses, network and broadcast included.
    pub fn size(&self) -> u64 {
        1u64 << (32 - self.prefix)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }

    /// The `n`th address (0 is the network address).
    pub fn nth(&self, n: u64) -> Option<Ipv4Addr> {
        (n < self.size()).then(|| Ipv4Addr::from(u32::from(self.network) + n as u32))
    }

    /// The broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !self.mask())
    }

    /// The address a container may have: inside, neither the network nor the broadcast address.
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && ip != self.network && ip != self.broadcast()
    }

    /// Docker's default gateway: the first address.
    pub fn first_host(&self) -> Ipv4Addr {
        self.nth(1).expect("prefix ≤ 30")
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = Error;

    fn from_str(s: &str) -> Result<Subnet> {
        let bad = || {
            Error::InvalidInput(format!(
                "invalid subnet {s:?}: expected CIDR, e.g. 172.18.0.0/16"
            ))
        };
        let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        match addr {
            IpAddr::V4(a) if prefix <= 32 => Subnet::new(a, prefix),
            IpAddr::V4(_) => Err(bad()),
            IpAddr::V6(_) => Err(Error::InvalidInput(format!(
                "subnet {s}: IPv6 networks are not supported yet"
            ))),
        }
    }
}

/// Docker's default bridge subnet.
pub const DEFAULT_BRIDGE: &str = "172.17.0.0/16";

/// The subnets handed to user-defined networks without `--subnet`, in order: Docker's default
/// address pools (172.18–31.0.0/16, then 192.168.0.0/16 cut into /20s).
pub fn default_pool() -> impl Iterator<Item = Subnet> {
    let b = (18u8..=31).map(|b| Subnet {
        network: Ipv4Addr::new(172, b, 0, 0),
        prefix: 16,
    });
    let c = (0u8..16).map(|i| Subnet {
        network: Ipv4Addr::new(192, 168, i * 16, 0),
        prefix: 20,
    });
    b.chain(c)
}

/// Docker's MAC address for a container address: 02:42 and the four address bytes.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// `aa:bb:cc:dd:ee:ff` (or with `-`); a multicast address is refused, as the kernel would.
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || Error::InvalidInput(format!("invalid MAC address {s:?}"));
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (m, p) in mac.iter_mut().zip(parts) {
        if p.len() != 2 {
            return Err(bad());
        }
        *m = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if mac[0] & 1 == 1 {
        return Err(Error::InvalidInput(format!(
            "invalid MAC address {s}: a multicast address cannot be an interface's"
        )));
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks_subnets() {
        let s: Subnet = "172.18.0.0/16".parse().unwrap();
        assert_eq!(s.to_string(), "172.18.0.0/16");
        assert_eq!(s.first_host(), Ipv4Addr::new(172, 18, 0, 1));
        assert_eq!(s.broadcast(), Ipv4Addr::new(172, 18, 255, 255));
        assert!(s.is_host(Ipv4Addr::new(172, 18, 3, 4)));
        assert!(!s.is_host(Ipv4Addr::new(172, 18, 255, 255)));
        assert!(!s.is_host(Ipv4Addr::new(172, 19, 0, 2)));
        let e = "172.18.0.1/16".parse::<Subnet>().unwrap_err().to_string();
        assert!(e.contains("172.18.0.0/16"), "{e}");
        assert!("172.18.0.0".parse::<Subnet>().is_err());
        assert!("172.18.0.0/33".parse::<Subnet>().is_err());
        assert!("10.0.0.0/31".parse::<Subnet>().is_err());
        assert!("fd00::/64"
            .parse::<Subnet>()
            .unwrap_err()
            .to_string()
            .contains("IPv6"));
        let a: Subnet = "10.0.0.0/8".parse().unwrap();
        let b: Subnet = "10.1.0.0/16".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!b.overlaps(&"10.2.0.0/16".parse().unwrap()));
    }

    #[test]
    fn pool_and_macs_are_dockers() {
        let pool: Vec<String> = default_pool().map(|s| s.to_string()).collect();
        assert_eq!(pool[0], "172.18.0.0/16");
        assert_eq!(pool[13], "172.31.0.0/16");
        assert_eq!(pool[14], "192.168.0.0/20");
        assert_eq!(pool[15], "192.168.16.0/20");
        assert_eq!(pool.len(), 30);
        assert_eq!(
            format_mac(&mac_for(Ipv4Addr::new(172, 17, 0, 2))),
            "02:42:ac:11:00:02"
        );
        assert_eq!(
            parse_mac("02:42:AC:11:00:02").unwrap(),
            mac_for(Ipv4Addr::new(172, 17, 0, 2))
        );
        assert!(parse_mac("01:00:5e:00:00:01").is_err());
        assert!(parse_mac("02:42:ac:11:00").is_err());
    }
}
