//! The underlay sockets, for an IPv4 local address, an IPv6 one or both: per address a
//! UDP socket receiving VXLAN, with NVGRE on a raw GRE socket receiving NVGRE; for an
//! IPv4 address the pool of UDP sockets VXLAN leaves from ([`UdpSenders`]); and per
//! remote a raw IP socket sending the rest.
//!
//! Receiving, the switch core takes what the sockets give as it is: a socket payload
//! (the tunnel header onward) with the sender, the local address and the outer ECN
//! (`IP_RECVTOS` / `IPV6_RECVTCLASS`, or the IPv4 header an AF_INET raw socket hands
//! over), decapsulated by the tunnel engine's payload path ([`Ingress::Socket`]). A run
//! of one sender's datagrams the kernel coalesced (`UDP_GRO`) comes as one payload with
//! the datagrams' size.
//!
//! Sending, VXLAN over IPv4 goes through the pool, which writes what the engine chose
//! (see [`UdpSenders`]); NVGRE, VXLAN over IPv6 and any frame the pool cannot carry go
//! through raw sockets that take the IP header as built (IPPROTO_RAW, header included):
//! the tunnel engine's DF, TTL or hop limit, DSCP and RFC 6040 ECN copy, IPv6 flow label
//! from the flow hash, and for VXLAN the UDP source port from the flow hash (RFC 7348
//! section 5's ECMP entropy) and, over IPv6, the UDP checksum.
//!
//! Each remote address has a sending socket of its own, because the kernel charges a
//! packet to its socket's send buffer until the packet leaves: one waiting for a neighbour
//! that never answers ARP or neighbour discovery (a dead remote) holds its share for the 3
//! seconds resolution takes to fail. Measured with one socket per family shared by every
//! remote (tests/interop.sh, scenario h): a flood of 2000 unknown unicasts filled it
//! behind the dead remote, and each live remote got 256 of them, `write_failed` 1744.
//! With a socket each, only the dead remote's own buffer fills: its copies are the only
//! ones refused (`write_failed`), and the live remotes get every frame.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

// The crate is no_std; this driver is not.
use std::prelude::rust_2024::*;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::udp_gso::UdpSenders;
use super::{mmsg, sockets};
use crate::switch::Ingress;
use crate::tunnel::ecn::Ecn;
use crate::tunnel::{HEADROOM, PortRange, SocketOuter, TunnelKind};
use crate::wire::ethernet;

/// One receiving socket: VXLAN over UDP or NVGRE over raw GRE, of one local address.
#[derive(Debug)]
pub struct Receiver {
    fd: OwnedFd,
    kind: TunnelKind,
    local_ip: IpAddr,
}

/// A payload a [`Receiver`] put in a buffer, as the switch core takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Where the payload (the tunnel header onward) lies in the buffer.
    pub payload: Range<usize>,
    /// VXLAN or NVGRE.
    pub kind: TunnelKind,
    /// What the socket reported of the outer packet.
    pub outer: SocketOuter,
    /// Set when the kernel coalesced several datagrams of one sender into this payload
    /// (`UDP_GRO`): the length of each (the last may be shorter), each a payload of its
    /// own with the same outer report.
    pub segment_size: Option<u16>,
}

impl Received {
    /// The ingress to hand the payload to the switch with.
    pub fn ingress(&self) -> Ingress {
        Ingress::Socket {
            kind: self.kind,
            outer: self.outer,
        }
    }
}

impl Receiver {
    /// The descriptor, to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// VXLAN (a UDP socket) or NVGRE (a raw GRE socket).
    pub fn kind(&self) -> TunnelKind {
        self.kind
    }

    /// The local address it is bound to.
    pub fn local_ip(&self) -> IpAddr {
        self.local_ip
    }

    /// Receives up to [`BATCH`](super::BATCH) datagrams or GRE packets in one system call, one
    /// into each `slot_len` slot of `buf` after [`HEADROOM`] bytes (so each inner frame
    /// can be sent on in place), and appends to `out` where each payload lies in `buf`,
    /// with what the socket reported of its outer packet. A packet the kernel should not
    /// have handed over (no sender, a raw IPv4 packet without a whole header) is skipped.
    ///
    /// # Errors
    /// `WouldBlock` when nothing is waiting; `InvalidInput` for slots without the
    /// headroom; what the socket reports.
    pub fn recv_batch(
        &self,
        buf: &mut [u8],
        slot_len: usize,
        out: &mut Vec<Received>,
    ) -> io::Result<()> {
        if slot_len <= HEADROOM {
            return Err(no_headroom());
        }
        let slots = buf
            .chunks_exact_mut(slot_len)
            .filter_map(|slot| slot.get_mut(HEADROOM..));
        let mut datagrams = [mmsg::Datagram {
            len: 0,
            peer: None,
            traffic_class: None,
            segment_size: None,
        }; mmsg::BATCH];
        let received = mmsg::recv_batch(self.fd.as_fd(), slots, &mut datagrams)?;
        for (index, datagram) in datagrams.iter().enumerate().take(received) {
            // No overflow: every slot lies inside `buf`.
            let start = index.saturating_mul(slot_len).saturating_add(HEADROOM);
            let end = start.saturating_add(datagram.len);
            if let Some(received) =
                self.received(buf.get(start..end).unwrap_or_default(), start, datagram)
            {
                out.push(received);
            }
        }
        Ok(())
    }

    /// What the switch core takes of one packet at `start` in the buffer.
    fn received(&self, packet: &[u8], start: usize, datagram: &mmsg::Datagram) -> Option<Received> {
        let src = datagram.peer?;
        // Only the traffic class was asked for; without it the outer packet was Not-ECT.
        let mut ecn = datagram.traffic_class.map_or(Ecn::NotEct, Ecn::from_bits);
        let mut payload = start..start.saturating_add(packet.len());
        if let (TunnelKind::Nvgre, IpAddr::V4(_)) = (self.kind, self.local_ip) {
            // An AF_INET raw socket hands the IPv4 header over: its TOS byte holds the
            // outer ECN, and the GRE header starts after its IHL words.
            let (&first, &tos) = (packet.first()?, packet.get(1)?);
            let header_len = usize::from(first & 0x0f).saturating_mul(4);
            if first >> 4 != 4 || header_len < 20 || header_len > packet.len() {
                return None;
            }
            ecn = Ecn::from_bits(tos);
            payload.start = payload.start.saturating_add(header_len);
        }
        Some(Received {
            payload,
            kind: self.kind,
            outer: SocketOuter {
                src,
                dst: self.local_ip,
                ecn,
            },
            segment_size: datagram.segment_size,
        })
    }
}

/// The driver's underlay: the receiving sockets of each local address, and a raw socket
/// per remote sending what the switch encapsulates for it.
#[derive(Debug)]
pub struct Underlay {
    receivers: Vec<Receiver>,
    local_ipv4: Option<Ipv4Addr>,
    local_ipv6: Option<Ipv6Addr>,
    /// Each remote's sending socket, sorted by address.
    senders: Vec<(IpAddr, OwnedFd)>,
    /// The pool VXLAN over IPv4 leaves from, segmented (see [`UdpSenders`]).
    udp: Option<UdpSenders>,
}

impl Underlay {
    /// Opens, for each local address given, the UDP socket on its `vxlan_port`, the UDP
    /// socket on `geneve_port` if given, and, if `nvgre`, the raw GRE socket; remotes get
    /// their sending sockets from [`add_remote`](Self::add_remote).
    ///
    /// # Errors
    /// A port is taken, an address is not local (an IPv6 one still tentative, before
    /// duplicate address detection ends, counts as not local), or raw sockets are not
    /// allowed (CAP_NET_RAW).
    pub fn open(
        local_ipv4: Option<Ipv4Addr>,
        local_ipv6: Option<Ipv6Addr>,
        vxlan_port: u16,
        geneve_port: Option<u16>,
        nvgre: bool,
    ) -> io::Result<Underlay> {
        let locals = [local_ipv4.map(IpAddr::V4), local_ipv6.map(IpAddr::V6)];
        let mut receivers = Vec::new();
        for local_ip in locals.into_iter().flatten() {
            receivers.push(Receiver {
                fd: sockets::udp(local_ip, vxlan_port)?,
                kind: TunnelKind::Vxlan,
                local_ip,
            });
            if let Some(port) = geneve_port {
                receivers.push(Receiver {
                    fd: sockets::udp(local_ip, port)?,
                    kind: TunnelKind::Geneve,
                    local_ip,
                });
            }
            if nvgre {
                receivers.push(Receiver {
                    fd: sockets::gre(local_ip)?,
                    kind: TunnelKind::Nvgre,
                    local_ip,
                });
            }
        }
        Ok(Underlay {
            receivers,
            local_ipv4,
            local_ipv6,
            senders: Vec::new(),
            udp: local_ipv4.map(UdpSenders::open).transpose()?,
        })
    }

    /// Opens the socket that sends to `remote`, from the local address of its family;
    /// nothing for a remote that has one already.
    ///
    /// # Errors
    /// `Unsupported` when there is no local address of `remote`'s family; raw sockets
    /// not allowed (CAP_NET_RAW).
    pub fn add_remote(&mut self, remote: IpAddr) -> io::Result<()> {
        let Err(at) = self.senders.binary_search_by_key(&remote, |&(ip, _)| ip) else {
            return Ok(());
        };
        let local = match remote {
            IpAddr::V4(_) => self.local_ipv4.map(IpAddr::V4),
            IpAddr::V6(_) => self.local_ipv6.map(IpAddr::V6),
        };
        let local = local.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                "no local address of the remote's family",
            )
        })?;
        self.senders.insert(at, (remote, sockets::sender(local)?));
        Ok(())
    }

    /// Closes the sending sockets of the remotes `in_use` says no longer are (routes
    /// withdrawn): with EVPN, remotes come and go for as long as vtep runs, and a socket
    /// kept for each one ever seen would only grow. The indices of the others move:
    /// [`sender`](Self::sender) gives them anew.
    #[cfg(feature = "evpn")]
    pub fn retain_remotes(&mut self, in_use: impl Fn(IpAddr) -> bool) {
        self.senders.retain(|&(remote, _)| in_use(remote));
    }

    /// The UDP source ports VXLAN remotes must choose from ([`UdpSenders::ports`]):
    /// the IPv4 pool's, or any dynamic port when there is no IPv4 address.
    pub fn source_ports(&self) -> PortRange {
        self.udp
            .as_ref()
            .map_or(PortRange::DYNAMIC, UdpSenders::ports)
    }

    /// The pool VXLAN over IPv4 leaves from; `None` without an IPv4 address.
    pub fn udp_senders(&self) -> Option<&UdpSenders> {
        self.udp.as_ref()
    }

    /// The receiving sockets: per local address, IPv4 first, VXLAN, Geneve, then NVGRE.
    pub fn receivers(&self) -> &[Receiver] {
        &self.receivers
    }

    /// The index of `remote`'s sending socket, for [`send_batch`](Self::send_batch);
    /// `None` for a remote never [added](Self::add_remote).
    pub fn sender(&self, remote: IpAddr) -> Option<usize> {
        self.senders
            .binary_search_by_key(&remote, |&(ip, _)| ip)
            .ok()
    }

    /// Sends tunnel frames the switch wrote (outer Ethernet first, then an IP header of
    /// the remote's family) to the remote of sending socket `sender`, up to
    /// [`BATCH`](super::BATCH) of them in one system call; returns how many, from the front, the
    /// socket took. A frame shorter than its outer Ethernet header is sent empty, and
    /// refused.
    ///
    /// # Errors
    /// `NotFound` for an index [`sender`](Self::sender) did not give; what the socket
    /// reports for the first frame: its buffer full (`WouldBlock`: this remote's packets
    /// wait for it), no route, a packet over the route's MTU.
    pub fn send_batch<'a>(
        &self,
        sender: usize,
        frames: impl Iterator<Item = &'a [u8]>,
    ) -> io::Result<usize> {
        let (remote, fd) = self.senders.get(sender).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "not a remote of the underlay")
        })?;
        // The IP packet as the tunnel engine built it, after the outer Ethernet header.
        let packets = frames.map(|frame| frame.get(ethernet::HEADER_LEN..).unwrap_or_default());
        mmsg::send_batch(fd.as_fd(), *remote, packets)
    }
}

fn no_headroom() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "buffer without the headroom")
}
