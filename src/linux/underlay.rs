//! The underlay sockets: UDP on the VXLAN port, raw IPv4 protocol 47 for NVGRE.
//!
//! The switch core takes and gives whole tunnel frames (outer Ethernet, IPv4, then UDP
//! and VXLAN or GRE), as a packet capture shows them. The sockets carry less: a UDP
//! socket the VXLAN header and what follows, a raw socket the IPv4 packet. Receiving,
//! the missing outer headers are written into the headroom in front of what the socket
//! gave, from the addresses it reported; sending, the leading headers are skipped.
//!
//! Both tunnels are sent through raw sockets with `IP_HDRINCL`: the kernel sends the IPv4
//! packet the tunnel engine built (DF set, TTL, DSCP and the RFC 6040 ECN copy, and for
//! VXLAN the UDP source port from the flow hash, RFC 7348 section 5's ECMP entropy) and
//! only fills in the IPv4 checksum, total length and, when zero, the ID. A UDP socket
//! would write its own IPv4 and UDP headers: one source port for every flow, and the
//! socket's DSCP and ECN instead of the inner packet's.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

// The crate is no_std; this driver is not.
use std::prelude::rust_2024::*;

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::sys::socket::{MsgFlags, SockaddrIn, recvfrom, sendto};

use crate::tunnel::{HEADROOM, TunnelKind};
use crate::wire::{
    EtherType, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr, MacAddr, UdpRepr, ethernet, ipv4,
    udp,
};

/// Bytes in front of a UDP payload that the core expects: Ethernet, IPv4, UDP.
const UDP_HEADERS: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN + udp::HEADER_LEN;
/// Where a received VXLAN datagram's frame starts: its outer headers end at the headroom's end.
const VXLAN_START: usize = HEADROOM - UDP_HEADERS;
/// Where a received GRE packet's frame starts: an outer Ethernet header before it.
const NVGRE_START: usize = HEADROOM - ethernet::HEADER_LEN;

/// The driver's underlay: a VXLAN UDP socket (receiving), a raw socket sending the VXLAN
/// packets as built and, with NVGRE on, a raw GRE socket.
#[derive(Debug)]
pub struct Underlay {
    local_ip: Ipv4Addr,
    vxlan_port: u16,
    udp: UdpSocket,
    vxlan_out: OwnedFd,
    gre: Option<OwnedFd>,
}

impl Underlay {
    /// Opens the UDP socket on `local_ip:vxlan_port`, the raw socket that sends VXLAN
    /// and, if `nvgre`, the raw GRE socket.
    ///
    /// # Errors
    /// The port is taken, the address is not local, or raw sockets are not allowed
    /// (CAP_NET_RAW).
    pub fn open(local_ip: Ipv4Addr, vxlan_port: u16, nvgre: bool) -> io::Result<Underlay> {
        let udp = UdpSocket::bind(SocketAddrV4::new(local_ip, vxlan_port))?;
        udp.set_nonblocking(true)?;
        // IPPROTO_RAW: a send-only socket for any protocol; it receives nothing.
        let vxlan_out = raw_socket(local_ip, libc::IPPROTO_RAW)?;
        let gre = if nvgre {
            Some(raw_socket(local_ip, libc::IPPROTO_GRE)?)
        } else {
            None
        };
        Ok(Underlay {
            local_ip,
            vxlan_port,
            udp,
            vxlan_out,
            gre,
        })
    }

    /// The UDP socket's descriptor, to poll.
    pub fn udp_fd(&self) -> BorrowedFd<'_> {
        self.udp.as_fd()
    }

    /// The raw GRE socket's descriptor, to poll, when NVGRE is on.
    pub fn gre_fd(&self) -> Option<BorrowedFd<'_>> {
        self.gre.as_ref().map(|fd| fd.as_fd())
    }

    /// Receives one VXLAN datagram into `buf` after [`HEADROOM`] bytes and writes the
    /// outer Ethernet, IPv4 and UDP headers in front of it. Returns the whole tunnel
    /// frame's range in `buf`.
    ///
    /// # Errors
    /// `WouldBlock` when nothing is waiting; what the socket reports.
    pub fn recv_vxlan(&self, buf: &mut [u8]) -> io::Result<std::ops::Range<usize>> {
        let room = buf.get_mut(HEADROOM..).ok_or_else(no_headroom)?;
        let (len, from) = self.udp.recv_from(room)?;
        let std::net::SocketAddr::V4(from) = from else {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "not IPv4"));
        };
        // At most 65507 bytes arrive over IPv4: the lengths fit in 16 bits.
        let (Ok(payload_len), Some(end)) = (u16::try_from(len), HEADROOM.checked_add(len)) else {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "oversized"));
        };
        let Some(udp_len) = payload_len.checked_add(udp::HEADER_LEN as u16) else {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "oversized"));
        };
        let frame = buf.get_mut(VXLAN_START..).ok_or_else(no_headroom)?;
        write_ethernet(frame);
        let packet = frame
            .get_mut(ethernet::HEADER_LEN..)
            .ok_or_else(no_headroom)?;
        let mut ip = Ipv4Repr::new(*from.ip(), self.local_ip, IpProtocol::UDP, udp_len);
        ip.dont_frag = true;
        ip.emit(&mut *packet).map_err(invalid)?;
        Ipv4Packet::new_unchecked(&mut *packet).fill_checksum();
        let datagram = packet.get_mut(ipv4::HEADER_LEN..).ok_or_else(no_headroom)?;
        // Checksum zero: the kernel verified the datagram's own already.
        UdpRepr::new(from.port(), self.vxlan_port, payload_len)
            .emit(datagram)
            .map_err(invalid)?;
        Ok(VXLAN_START..end)
    }

    /// Receives one GRE packet (the raw socket gives the IPv4 header with it) into `buf`
    /// after [`HEADROOM`] - 14 bytes and writes an outer Ethernet header in front of
    /// it. Returns the whole tunnel frame's range in `buf`.
    ///
    /// # Errors
    /// `WouldBlock` when nothing is waiting (or NVGRE is off); what the socket reports.
    pub fn recv_nvgre(&self, buf: &mut [u8]) -> io::Result<std::ops::Range<usize>> {
        let Some(gre) = &self.gre else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let room = buf.get_mut(HEADROOM..).ok_or_else(no_headroom)?;
        let (len, _) = recvfrom::<SockaddrIn>(gre.as_raw_fd(), room)?;
        // No overflow: the packet lies inside `buf`.
        let end = HEADROOM.checked_add(len).ok_or_else(no_headroom)?;
        write_ethernet(buf.get_mut(NVGRE_START..).ok_or_else(no_headroom)?);
        Ok(NVGRE_START..end)
    }

    /// Sends a tunnel frame the switch wrote (outer Ethernet first) to `remote`.
    ///
    /// # Errors
    /// What the socket reports: a full buffer, no route, a packet over the route's MTU.
    pub fn send(&self, remote: Ipv4Addr, kind: TunnelKind, frame: &[u8]) -> io::Result<()> {
        let socket = match kind {
            TunnelKind::Vxlan => &self.vxlan_out,
            TunnelKind::Nvgre => self
                .gre
                .as_ref()
                .ok_or_else(|| io::Error::new(io::ErrorKind::Unsupported, "NVGRE is off"))?,
        };
        // The IPv4 packet as the tunnel engine built it, after the outer Ethernet header.
        let packet = frame.get(ethernet::HEADER_LEN..).ok_or_else(short)?;
        let to = SockaddrIn::from(SocketAddrV4::new(remote, 0));
        sendto(socket.as_raw_fd(), packet, &to, MsgFlags::empty())
            .map(drop)
            .map_err(io::Error::from)
    }
}

fn write_ethernet(buf: &mut [u8]) {
    // The core reads no outer addresses: zero MACs say "came from a socket".
    let header = EthernetRepr {
        dst_addr: MacAddr([0; 6]),
        src_addr: MacAddr([0; 6]),
        ethertype: EtherType::IPV4,
    };
    // The buffer always has the room: callers pass what lies after the headroom start.
    let _ = header.emit(buf);
}

fn invalid(error: crate::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error.to_string())
}

fn no_headroom() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "buffer without the headroom")
}

fn short() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "frame shorter than its outer headers",
    )
}

/// A non-blocking raw IPv4 socket for `protocol`, bound to `local_ip`, with IP_HDRINCL.
fn raw_socket(local_ip: Ipv4Addr, protocol: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket() takes no pointers; a non-negative result is a new descriptor.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            protocol,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let on: libc::c_int = 1;
    // SAFETY: IP_HDRINCL reads one c_int from the pointer, whose size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_HDRINCL,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let local = SockaddrIn::from(SocketAddrV4::new(local_ip, 0));
    nix::sys::socket::bind(fd.as_raw_fd(), &local)?;
    Ok(fd)
}
