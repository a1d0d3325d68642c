//! The underlay sockets, for an IPv4 local address, an IPv6 one or both: per address a
//! UDP socket receiving VXLAN, with NVGRE on a raw GRE socket receiving NVGRE, and per
//! remote a raw IP socket sending both.
//!
//! Receiving, the switch core takes what the sockets give as it is: a socket payload
//! (the tunnel header onward) with the sender, the local address and the outer ECN
//! (`IP_RECVTOS` / `IPV6_RECVTCLASS`, or the IPv4 header an AF_INET raw socket hands
//! over), decapsulated by the tunnel engine's payload path ([`Ingress::Socket`]).
//!
//! Sending, both tunnels leave through raw sockets that take the IP header as built
//! (IPPROTO_RAW, header included): the tunnel engine's DF, TTL or hop limit, DSCP and
//! RFC 6040 ECN copy, IPv6 flow label from the flow hash, and for VXLAN the UDP source
//! port from the flow hash (RFC 7348 section 5's ECMP entropy) and, over IPv6, the UDP
//! checksum. A UDP socket would write its own IP and UDP headers: one source port for
//! every flow, and the socket's traffic class instead of the inner packet's.
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

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, sendto};

use super::sockets;
use crate::switch::Ingress;
use crate::tunnel::ecn::Ecn;
use crate::tunnel::{HEADROOM, SocketOuter, TunnelKind};
use crate::wire::ethernet;

/// Room for the one control message asked for (an `int` traffic class or a TOS byte:
/// 24 bytes with its header), aligned as control messages must be.
#[repr(C, align(8))]
struct ControlBuffer([u8; 64]);

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

    /// Receives one datagram or GRE packet into `buf` after [`HEADROOM`] bytes (so the
    /// inner frame can be sent on in place) and returns where its payload lies, with
    /// what the socket reported of the outer packet.
    ///
    /// # Errors
    /// `WouldBlock` when nothing is waiting; `InvalidInput` for a buffer without the
    /// headroom; `InvalidData` for an IPv4 header the kernel should not have handed
    /// over; what the socket reports.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        let room = buf.get_mut(HEADROOM..).ok_or_else(no_headroom)?;
        let mut control = ControlBuffer([0; 64]);
        let mut iov = [IoSliceMut::new(room)];
        let message = recvmsg::<SockaddrStorage>(
            self.fd.as_raw_fd(),
            &mut iov,
            Some(&mut control.0),
            MsgFlags::empty(),
        )?;
        let len = message.bytes;
        let src = message.address.as_ref().and_then(peer_ip);
        // Only the traffic class was asked for; without it the outer packet was Not-ECT.
        let mut ecn = Ecn::NotEct;
        for control in message.cmsgs()? {
            match control {
                ControlMessageOwned::Ipv4Tos(tos) => ecn = Ecn::from_bits(tos),
                ControlMessageOwned::Ipv6TClass(class) => ecn = Ecn::from_bits(class as u8),
                _ => {}
            }
        }
        let src = src.ok_or_else(|| invalid("no sender address"))?;
        // No overflow: the payload lies inside `buf`.
        let end = HEADROOM.checked_add(len).ok_or_else(no_headroom)?;
        let mut start = HEADROOM;
        if let (TunnelKind::Nvgre, IpAddr::V4(_)) = (self.kind, self.local_ip) {
            // An AF_INET raw socket hands the IPv4 header over: its TOS byte holds the
            // outer ECN, and the GRE header starts after its IHL words.
            let header = buf.get(HEADROOM..end).unwrap_or_default();
            let (Some(&first), Some(&tos)) = (header.first(), header.get(1)) else {
                return Err(invalid("a raw packet shorter than an IPv4 header"));
            };
            let header_len = usize::from(first & 0x0f).saturating_mul(4);
            if first >> 4 != 4 || header_len < 20 || header_len > header.len() {
                return Err(invalid("a raw packet without a whole IPv4 header"));
            }
            ecn = Ecn::from_bits(tos);
            start = start.saturating_add(header_len);
        }
        Ok(Received {
            payload: start..end,
            kind: self.kind,
            outer: SocketOuter {
                src,
                dst: self.local_ip,
                ecn,
            },
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
}

impl Underlay {
    /// Opens, for each local address given, the UDP socket on its `vxlan_port` and, if
    /// `nvgre`, the raw GRE socket; remotes get their sending sockets from
    /// [`add_remote`](Self::add_remote).
    ///
    /// # Errors
    /// The port is taken, an address is not local (an IPv6 one still tentative, before
    /// duplicate address detection ends, counts as not local), or raw sockets are not
    /// allowed (CAP_NET_RAW).
    pub fn open(
        local_ipv4: Option<Ipv4Addr>,
        local_ipv6: Option<Ipv6Addr>,
        vxlan_port: u16,
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

    /// The receiving sockets: per local address, IPv4 first, VXLAN then NVGRE.
    pub fn receivers(&self) -> &[Receiver] {
        &self.receivers
    }

    /// Sends a tunnel frame the switch wrote (outer Ethernet first, then an IP header of
    /// `remote`'s family) to `remote`, through its own socket.
    ///
    /// # Errors
    /// `NotFound` for a remote never [added](Self::add_remote); `InvalidInput` for a
    /// frame shorter than an Ethernet header; what the socket reports: its buffer full
    /// (`WouldBlock`: this remote's packets wait for it), no route, a packet over the
    /// route's MTU.
    pub fn send(&self, remote: IpAddr, frame: &[u8]) -> io::Result<()> {
        let sender = self
            .senders
            .binary_search_by_key(&remote, |&(ip, _)| ip)
            .ok()
            .and_then(|at| self.senders.get(at))
            .map(|(_, fd)| fd)
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, "not a remote of the underlay")
            })?;
        // The IP packet as the tunnel engine built it, after the outer Ethernet header.
        let packet = frame.get(ethernet::HEADER_LEN..).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame shorter than its outer headers",
            )
        })?;
        // Port 0: a raw socket's sendto takes the protocol there, and 0 means its own.
        let to = SockaddrStorage::from(SocketAddr::new(remote, 0));
        sendto(sender.as_raw_fd(), packet, &to, MsgFlags::empty())?;
        Ok(())
    }
}

/// The address a datagram came from.
fn peer_ip(address: &SockaddrStorage) -> Option<IpAddr> {
    match (address.as_sockaddr_in(), address.as_sockaddr_in6()) {
        (Some(v4), _) => Some(IpAddr::V4(v4.ip())),
        (_, Some(v6)) => Some(IpAddr::V6(v6.ip())),
        _ => None,
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

fn no_headroom() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "buffer without the headroom")
}
