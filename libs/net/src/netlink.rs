//! Links, addresses and routes through rtnetlink, over one synchronous `NETLINK_ROUTE` socket.
//!
//! Every request carries `NLM_F_ACK` and a fresh sequence number; the answer is read until the
//! kernel's ack (or error) for that sequence number, or `NLMSG_DONE` for a dump. Messages with
//! another sequence number (a late answer to an earlier request) are skipped.

use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

use netlink_packet_core::{
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE,
    NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::{Error, Result};

/// How long one read of the socket may wait for the kernel: it answers at once, so a timeout
/// means something is badly wrong, and it must not hang a container start.
const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// Netlink's own message types (noop, error, done, overrun) are below this.
const NLMSG_MIN_TYPE: u16 = 0x10;

/// A network interface as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The interface index.
    pub index: u32,
    /// The interface name.
    pub name: String,
    /// The link kind (`IFLA_INFO_KIND`): "bridge", "veth", ...; `None` for physical and loopback.
    pub kind: Option<String>,
    /// The hardware address, when it is an Ethernet one.
    pub mac: Option<[u8; 6]>,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// The index of the bridge (or bond) the link is attached to.
    pub master: Option<u32>,
    /// The MTU.
    pub mtu: Option<u32>,
}

impl Link {
    fn from_message(msg: &LinkMessage) -> Link {
        let mut link = Link {
            index: msg.header.index,
            name: String::new(),
            kind: None,
            mac: None,
            up: msg.header.flags.contains(LinkFlags::Up),
            master: None,
            mtu: None,
        };
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(name) => link.name = name.clone(),
                LinkAttribute::Address(a) => link.mac = <[u8; 6]>::try_from(a.as_slice()).ok(),
                LinkAttribute::Controller(m) if *m != 0 => link.master = Some(*m),
                LinkAttribute::Mtu(m) => link.mtu = Some(*m),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        if let LinkInfo::Kind(kind) = info {
                            link.kind = Some(kind.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        link
    }
}

/// One `NETLINK_ROUTE` socket, bound to the network namespace it was created in.
pub struct Netlink {
    socket: Socket,
    seq: u32,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netlink")
            .field("fd", &self.socket.as_raw_fd())
            .field("seq", &self.seq)
            .finish()
    }
}

fn nl_err(what: impl Into<String>, source: std::io::Error) -> Error {
    Error::Netlink {
        what: what.into(),
        source,
    }
}

fn errno(e: &Error) -> Option<i32> {
    match e {
        Error::Netlink { source, .. } => source.raw_os_error(),
        _ => None,
    }
}

fn new_socket() -> Result<Socket> {
    let mut socket =
        Socket::new(NETLINK_ROUTE).map_err(|e| nl_err("opening a NETLINK_ROUTE socket", e))?;
    socket
        .bind_auto()
        .map_err(|e| nl_err("binding the netlink socket", e))?;
    socket
        .connect(&SocketAddr::new(0, 0))
        .map_err(|e| nl_err("connecting the netlink socket", e))?;
    nix::sys::socket::setsockopt(
        &socket.as_fd(),
        nix::sys::socket::sockopt::ReceiveTimeout,
        &nix::sys::time::TimeVal::new(RECV_TIMEOUT.as_secs() as _, 0),
    )
    .map_err(|e| nl_err("setting the netlink socket's receive timeout", e.into()))?;
    Ok(socket)
}

/// Interface names are 1 to 15 bytes (IFNAMSIZ less the NUL), without '/', ':' or whitespace.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "{name:?} is not a valid interface name"
        )))
    }
}

fn family(addr: IpAddr) -> AddressFamily {
    match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

impl Netlink {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink> {
        Ok(Netlink {
            socket: new_socket()?,
            seq: 0,
        })
    }

    /// Opens a socket inside the network namespace `netns` (e.g. an fd of `/proc/PID/ns/net`).
    ///
    /// A short-lived thread enters the namespace, creates the socket and ends: the socket stays
    /// bound to that namespace, and the calling thread's own namespace is never changed.
    pub fn open_in(netns: BorrowedFd) -> Result<Netlink> {
        let socket = std::thread::scope(|s| {
            s.spawn(|| {
                nix::sched::setns(netns, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| nl_err("entering the network namespace", e.into()))?;
                new_socket()
            })
            .join()
            .unwrap_or_else(|_| {
                Err(nl_err(
                    "opening a netlink socket in a namespace",
                    std::io::Error::other("the thread panicked"),
                ))
            })
        })?;
        Ok(Netlink { socket, seq: 0 })
    }

    /// Sends one request (with `NLM_F_REQUEST | NLM_F_ACK | flags`) and returns the messages the
    /// kernel answered with before its ack, or before `NLMSG_DONE` for a dump. An error from the
    /// kernel becomes `Error::Netlink` naming `what`.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        what: &str,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf);
        let sent = self
            .socket
            .send(&buf, 0)
            .map_err(|e| nl_err(format!("{what}: sending"), e))?;
        if sent != buf.len() {
            return Err(nl_err(
                format!("{what}: sending"),
                std::io::Error::other("short write"),
            ));
        }

        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut answers = Vec::new();
        let mut interrupted = false;
        loop {
            let (data, _) = self
                .socket
                .recv_from_full()
                .map_err(|e| nl_err(format!("{what}: reading the kernel's answer"), e))?;
            let mut offset = 0;
            while offset < data.len() {
                let chunk = &data[offset..];
                let (len, reply_seq, kind) = match NetlinkBuffer::new_checked(chunk) {
                    Ok(b) => (b.length() as usize, b.sequence_number(), b.message_type()),
                    Err(e) => {
                        return Err(Error::NetlinkDecode {
                            what: format!("{what}: a malformed answer"),
                            source: e,
                        })
                    }
                };
                // Messages are 4-byte aligned in a datagram.
                offset += (len + 3) & !3;
                if reply_seq != seq {
                    continue;
                }
                let reply = match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&chunk[..len])
                {
                    Ok(r) => r,
                    // An entry of a dump this library cannot decode (a link kind newer than it,
                    // say) is left out rather than failing the whole listing.
                    Err(_) if dump && kind >= NLMSG_MIN_TYPE => continue,
                    Err(e) => {
                        return Err(Error::NetlinkDecode {
                            what: format!("{what}: a malformed answer"),
                            source: e,
                        })
                    }
                };
                interrupted |= reply.header.flags & NLM_F_DUMP_INTR != 0;
                match reply.payload {
                    NetlinkPayload::Error(err) => match err.code {
                        None => return Ok(answers),
                        Some(code) => {
                            return Err(nl_err(
                                what,
                                std::io::Error::from_raw_os_error(-code.get()),
                            ))
                        }
                    },
                    NetlinkPayload::Done(done) => {
                        if done.code < 0 {
                            return Err(nl_err(
                                what,
                                std::io::Error::from_raw_os_error(-done.code),
                            ));
                        }
                        if interrupted {
                            // The set changed while the kernel dumped it: the dump may be
                            // inconsistent; `dump` asks again.
                            return Err(nl_err(
                                what,
                                std::io::Error::from_raw_os_error(libc::EINTR),
                            ));
                        }
                        return Ok(answers);
                    }
                    // A plain request is answered by its message, then the ack: keep reading.
                    NetlinkPayload::InnerMessage(m) => answers.push(m),
                    NetlinkPayload::Overrun(_) => {
                        return Err(nl_err(
                            what,
                            std::io::Error::from_raw_os_error(libc::ENOBUFS),
                        ))
                    }
                    NetlinkPayload::Noop => {}
                    _ => {}
                }
            }
        }
    }

    /// A dump request, asked again (a few times) when the kernel says it was interrupted by a
    /// change.
    fn dump(&mut self, msg: RouteNetlinkMessage, what: &str) -> Result<Vec<RouteNetlinkMessage>> {
        let mut tries = 0;
        loop {
            match self.request(msg.clone(), NLM_F_DUMP, what) {
                Err(e) if errno(&e) == Some(libc::EINTR) && tries < 3 => tries += 1,
                other => return other,
            }
        }
    }

    /// The link named `name`, or `None` when there is none.
    pub fn link(&mut self, name: &str) -> Result<Option<Link>> {
        check_name(name)?;
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(
            RouteNetlinkMessage::GetLink(msg),
            0,
            &format!("link {name}"),
        ) {
            Ok(answers) => Ok(answers.iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(Link::from_message(l)),
                _ => None,
            })),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn link_required(&mut self, name: &str) -> Result<Link> {
        self.link(name)?.ok_or_else(|| {
            nl_err(
                format!("link {name}"),
                std::io::Error::from_raw_os_error(libc::ENODEV),
            )
        })
    }

    /// Every link in the namespace.
    pub fn links(&mut self) -> Result<Vec<Link>> {
        let answers = self.dump(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            "listing links",
        )?;
        Ok(answers
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(Link::from_message(l)),
                _ => None,
            })
            .collect())
    }

    /// Creates the bridge `name` unless it exists, brings it up, and returns it. A link of that
    /// name that is not a bridge is an `Error::Conflict`.
    pub fn ensure_bridge(&mut self, name: &str) -> Result<Link> {
        check_name(name)?;
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        match self.request(
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("creating bridge {name}"),
        ) {
            Ok(_) => {}
            Err(e) if errno(&e) == Some(libc::EEXIST) => {}
            Err(e) => return Err(e),
        }
        let link = self.link_required(name)?;
        if link.kind.as_deref() != Some("bridge") {
            return Err(Error::Conflict(format!(
                "{name} exists and is not a bridge (kind {})",
                link.kind.as_deref().unwrap_or("none")
            )));
        }
        if link.up {
            return Ok(link);
        }
        self.set_up(name)?;
        self.link_required(name)
    }

    /// Creates a veth pair: `host` stays in this socket's namespace (attached to the bridge
    /// `master` if given, and brought up); its peer is created directly in `peer_netns`, named
    /// `peer`, with the hardware address `peer_mac` if given. The peer is left down.
    pub fn create_veth(
        &mut self,
        host: &str,
        peer: &str,
        peer_netns: BorrowedFd,
        peer_mac: Option<[u8; 6]>,
        master: Option<&str>,
    ) -> Result<()> {
        check_name(host)?;
        check_name(peer)?;
        let master_index = match master {
            Some(m) => Some(self.link_required(m)?.index),
            None => None,
        };
        let mut peer_msg = LinkMessage::default();
        peer_msg
            .attributes
            .push(LinkAttribute::IfName(peer.to_string()));
        peer_msg
            .attributes
            .push(LinkAttribute::NetNsFd(peer_netns.as_raw_fd()));
        if let Some(mac) = peer_mac {
            peer_msg
                .attributes
                .push(LinkAttribute::Address(mac.to_vec()));
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(host.to_string()));
        if let Some(index) = master_index {
            msg.attributes.push(LinkAttribute::Controller(index));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        self.request(
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("creating veth {host} (peer {peer})"),
        )?;
        if let Err(e) = self.set_up(host) {
            // Do not leave a half-made pair behind; deleting one end deletes both.
            let _ = self.delete_link(host);
            return Err(e);
        }
        Ok(())
    }

    /// Brings the link `name` up.
    pub fn set_up(&mut self, name: &str) -> Result<()> {
        check_name(name)?;
        let mut msg = LinkMessage::default();
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        self.request(
            RouteNetlinkMessage::SetLink(msg),
            0,
            &format!("bringing {name} up"),
        )?;
        Ok(())
    }

    /// Adds `addr/prefix` to the link `link`; an address already there is fine.
    pub fn add_address(&mut self, link: &str, addr: IpAddr, prefix: u8) -> Result<()> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(Error::InvalidInput(format!(
                "{addr}/{prefix}: prefix longer than {max}"
            )));
        }
        let index = self.link_required(link)?.index;
        let mut msg = AddressMessage::default();
        msg.header.family = family(addr);
        msg.header.prefix_len = prefix;
        msg.header.scope = AddressScope::Universe;
        msg.header.index = index;
        if addr.is_ipv4() {
            msg.attributes.push(AddressAttribute::Local(addr));
        }
        msg.attributes.push(AddressAttribute::Address(addr));
        match self.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("adding {addr}/{prefix} to {link}"),
        ) {
            Ok(_) => Ok(()),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The addresses (with their prefix lengths) of the link `link`, IPv4 and IPv6.
    pub fn addresses(&mut self, link: &str) -> Result<Vec<(IpAddr, u8)>> {
        let index = self.link_required(link)?.index;
        let answers = self.dump(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            &format!("listing the addresses of {link}"),
        )?;
        let mut out = Vec::new();
        for m in &answers {
            let RouteNetlinkMessage::NewAddress(a) = m else {
                continue;
            };
            if a.header.index != index {
                continue;
            }
            // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on a
            // point-to-point link and the same as IFA_LOCAL otherwise (IPv6 has only IFA_ADDRESS).
            let mut local = None;
            let mut address = None;
            for attr in &a.attributes {
                match attr {
                    AddressAttribute::Local(ip) => local = Some(*ip),
                    AddressAttribute::Address(ip) => address = Some(*ip),
                    _ => {}
                }
            }
            if let Some(ip) = local.or(address) {
                out.push((ip, a.header.prefix_len));
            }
        }
        Ok(out)
    }

    /// Adds a default route through `gateway` (IPv4 or IPv6) in the main table; one already
    /// there is fine.
    pub fn add_default_route(&mut self, gateway: IpAddr) -> Result<()> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = family(gateway);
        msg.header.destination_prefix_length = 0;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes.push(RouteAttribute::Gateway(match gateway {
            IpAddr::V4(a) => RouteAddress::Inet(a),
            IpAddr::V6(a) => RouteAddress::Inet6(a),
        }));
        match self.request(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("adding a default route via {gateway}"),
        ) {
            Ok(_) => Ok(()),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Deletes the link `name` (both ends, for a veth); `false` if there was none.
    pub fn delete_link(&mut self, name: &str) -> Result<bool> {
        check_name(name)?;
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(
            RouteNetlinkMessage::DelLink(msg),
            0,
            &format!("deleting link {name}"),
        ) {
            Ok(_) => Ok(true),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
