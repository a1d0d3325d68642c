//! VXLAN over IPv4 sent through UDP sockets with segmentation offload (`UDP_SEGMENT`):
//! a run of datagrams of one flow to one remote leaves in one `sendmsg`, and crosses the
//! sending stack, the veth and the underlay's bridges as one packet, split only where it
//! is received. A raw socket takes one packet per message and walks each through routing
//! and the devices alone: that per-packet walk was most of vtep's CPU.
//!
//! A UDP socket writes its own IP and UDP headers, so what the tunnel engine chose must
//! be what the socket writes:
//! - the source port, from the inner flow's hash (RFC 7348 section 5's ECMP entropy): a
//!   pool of [`PORTS`] sockets bound to consecutive ports, and the switch's encapsulators
//!   told to choose among exactly those ports ([`UdpSenders::ports`]), so each flow
//!   leaves from the socket of the port its hash picked;
//! - the TOS byte (DSCP and the RFC 6040 ECN copy) and the TTL, per message (`IP_TOS`,
//!   `IP_TTL` control messages); DF on every packet (`IP_PMTUDISC_PROBE`, as the engine
//!   sets it). The one difference: the kernel adds a UDP checksum where the engine
//!   writes none over IPv4 (RFC 7348 allows either), as a segmented send without one is
//!   refused (`EINVAL`).
//!
//! A frame whose headers say anything else (another DF bit, a UDP checksum, IP options,
//! a port outside the pool) is sent by the caller's raw socket instead. IPv6 stays on raw
//! sockets: a UDP socket sets a chosen flow label only after the label is registered
//! (`IPV6_FLOWLABEL_MGR`), one by one.
//!
//! The pool is shared by every remote, so each socket's send buffer is made large
//! (`SO_SNDBUFFORCE`, 8 MiB): a dead remote's packets, waiting for a neighbour
//! that never answers, hold at most the neighbour queue's bound (`unres_qlen_bytes`,
//! 208 KiB by default) of it, and live remotes keep the rest.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

// The crate is no_std; this driver is not.
use std::prelude::rust_2024::*;

use std::io;
use std::mem::{size_of, zeroed};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr;

use super::mmsg::BATCH;
use crate::tunnel::PortRange;
use crate::wire::{ethernet, ipv4, udp};

/// Source ports in the pool, one socket each.
pub const PORTS: u16 = 64;
/// Each pool socket's send buffer.
const SEND_BUFFER: libc::c_int = 8 << 20;
/// Where the search for free consecutive ports starts: the IANA dynamic range.
const FIRST_PORT: u16 = 49152;
/// The most payload one segmented send may carry (the IPv4 length field's bound, less
/// the IPv4 and UDP headers).
const MAX_GSO_BYTES: usize = 65_535 - 20 - 8;
/// `SOL_UDP`'s `UDP_SEGMENT`, which the libc crate does not name.
const UDP_SEGMENT: libc::c_int = 103;

/// The pool of UDP sockets VXLAN over IPv4 leaves from.
#[derive(Debug)]
pub struct UdpSenders {
    local: Ipv4Addr,
    first_port: u16,
    sockets: Vec<OwnedFd>,
}

/// The facts of one tunnel frame a pooled socket needs: where its UDP payload lies, and
/// what its IP and UDP headers said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Datagram<'a> {
    pub payload: &'a [u8],
    pub to: Ipv4Addr,
    pub source_port: u16,
    pub dst_port: u16,
    pub tos: u8,
    pub ttl: u8,
}

impl UdpSenders {
    /// Binds [`PORTS`] sockets to consecutive free ports of `local`, searching the
    /// dynamic range from its start.
    ///
    /// # Errors
    /// No run of free ports (every one taken), or the sockets cannot be set up.
    pub fn open(local: Ipv4Addr) -> io::Result<UdpSenders> {
        let mut first = FIRST_PORT;
        loop {
            match Self::bind_run(local, first) {
                Ok(senders) => return Ok(senders),
                Err(error) if error.kind() == io::ErrorKind::AddrInUse => {}
                Err(error) => return Err(error),
            }
            first = first
                .checked_add(PORTS)
                .filter(|first| first.checked_add(PORTS - 1).is_some())
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::AddrInUse,
                        "no run of free UDP source ports in 49152-65535",
                    )
                })?;
        }
    }

    fn bind_run(local: Ipv4Addr, first_port: u16) -> io::Result<UdpSenders> {
        let mut sockets = Vec::with_capacity(usize::from(PORTS));
        for port in first_port..=first_port.saturating_add(PORTS - 1) {
            sockets.push(pooled(local, port)?);
        }
        Ok(UdpSenders {
            local,
            first_port,
            sockets,
        })
    }

    /// The source ports the pool sends from: give them to the encapsulators.
    pub fn ports(&self) -> PortRange {
        // `open` checked the run fits below 65536.
        PortRange::new(self.first_port, self.first_port.saturating_add(PORTS - 1))
            .unwrap_or(PortRange::DYNAMIC)
    }

    /// What a pooled socket needs of a tunnel frame the engine wrote (outer Ethernet,
    /// IPv4, UDP): `None` when its headers say what no pooled socket writes.
    pub(super) fn datagram<'a>(&self, frame: &'a [u8]) -> Option<Datagram<'a>> {
        let ip = frame.get(ethernet::HEADER_LEN..)?;
        let (&[version_ihl, tos], &flags) = (ip.first_chunk::<2>()?, ip.get(6)?);
        let plain = version_ihl == 0x45 && flags & 0xe0 == 0x40 && ip.get(9) == Some(&17);
        let source: [u8; 4] = *ip.get(12..16)?.first_chunk()?;
        if !plain || Ipv4Addr::from(source) != self.local {
            return None;
        }
        let datagram = ip.get(ipv4::HEADER_LEN..)?;
        let word = |at: usize| Some(u16::from_be_bytes(*datagram.get(at..)?.first_chunk()?));
        let (source_port, dst_port, checksum) = (word(0)?, word(2)?, word(6)?);
        let pooled = source_port.checked_sub(self.first_port)? < PORTS;
        (pooled && checksum == 0).then_some(Datagram {
            payload: datagram.get(udp::HEADER_LEN..)?,
            to: Ipv4Addr::from(*ip.get(16..20)?.first_chunk::<4>()?),
            source_port,
            dst_port,
            tos,
            ttl: *ip.get(8)?,
        })
    }

    /// Sends `run` (datagrams that [`can_join`] one another, at most [`BATCH`]) in one
    /// `sendmsg`: segmented by the kernel when there are several.
    ///
    /// # Errors
    /// What the socket reports (a full send buffer is `WouldBlock`); `InvalidInput` for
    /// an empty run or a port outside the pool.
    pub(super) fn send(&self, run: &[Datagram<'_>]) -> io::Result<()> {
        let first = run.first().ok_or_else(|| invalid("an empty run"))?;
        let socket = first
            .source_port
            .checked_sub(self.first_port)
            .and_then(|index| self.sockets.get(usize::from(index)))
            .ok_or_else(|| invalid("a source port outside the pool"))?;
        // SAFETY: plain C structures, for which all-zero bytes are valid.
        let mut iovecs: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut count: usize = 0;
        for (datagram, iovec) in run.iter().zip(&mut iovecs) {
            *iovec = libc::iovec {
                // The kernel only reads through it (sendmsg).
                iov_base: datagram.payload.as_ptr().cast_mut().cast(),
                iov_len: datagram.payload.len(),
            };
            count = count.saturating_add(1); // at most BATCH
        }
        // SAFETY: as above.
        let mut to: libc::sockaddr_in = unsafe { zeroed() };
        to.sin_family = libc::AF_INET as libc::sa_family_t;
        to.sin_port = first.dst_port.to_be();
        to.sin_addr.s_addr = u32::from(first.to).to_be();
        let mut control = Control::default();
        control.push(libc::IPPROTO_IP, libc::IP_TOS, libc::c_int::from(first.tos));
        control.push(libc::IPPROTO_IP, libc::IP_TTL, libc::c_int::from(first.ttl));
        if count > 1 {
            // A u16 by the kernel's definition; every datagram but the last is this long.
            let segment = u16::try_from(first.payload.len()).unwrap_or(u16::MAX);
            control.push(libc::SOL_UDP, UDP_SEGMENT, segment);
        }
        // SAFETY: plain C structure, for which all-zero bytes are valid.
        let mut message: libc::msghdr = unsafe { zeroed() };
        message.msg_name = ptr::from_mut(&mut to).cast();
        message.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        message.msg_iov = iovecs.as_mut_ptr();
        message.msg_iovlen = count;
        message.msg_control = control.bytes.0.as_mut_ptr().cast();
        message.msg_controllen = control.len;
        // SAFETY: every pointer in `message` refers to live memory of the length given
        // beside it, outliving the call; the kernel only reads it.
        let sent = unsafe { libc::sendmsg(socket.as_raw_fd(), &message, libc::MSG_DONTWAIT) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// True when `next` may follow `run` in one segmented send: the same flow's socket,
/// destination and headers, the run's datagram length (only the last may be shorter),
/// and room left.
pub(super) fn can_join(run: &[Datagram<'_>], next: &Datagram<'_>) -> bool {
    let (Some(first), Some(last)) = (run.first(), run.last()) else {
        return true;
    };
    let bytes: usize = run.iter().map(|d| d.payload.len()).sum();
    let size = first.payload.len();
    (
        first.to,
        first.source_port,
        first.dst_port,
        first.tos,
        first.ttl,
    ) == (next.to, next.source_port, next.dst_port, next.tos, next.ttl)
        && last.payload.len() == size
        && next.payload.len() <= size
        && !next.payload.is_empty()
        && run.len() < BATCH
        && bytes.saturating_add(next.payload.len()) <= MAX_GSO_BYTES
}

/// Control messages for one `sendmsg`, aligned as the kernel reads them.
#[repr(C, align(8))]
struct ControlBytes([u8; 96]);

struct Control {
    bytes: ControlBytes,
    len: usize,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            bytes: ControlBytes([0; 96]),
            len: 0,
        }
    }
}

impl Control {
    /// Appends one control message carrying `value`.
    fn push<T: Copy>(&mut self, level: libc::c_int, kind: libc::c_int, value: T) {
        // SAFETY: CMSG_SPACE/CMSG_LEN only compute sizes.
        let (space, len) = unsafe {
            (
                libc::CMSG_SPACE(size_of::<T>() as u32) as usize,
                libc::CMSG_LEN(size_of::<T>() as u32) as usize,
            )
        };
        let Some(room) = self
            .bytes
            .0
            .get_mut(self.len..self.len.saturating_add(space))
        else {
            return;
        };
        // SAFETY: `room` holds a whole control message of `space` bytes at an offset
        // that is a multiple of CMSG_SPACE's alignment, in a buffer aligned to 8.
        unsafe {
            let header = room.as_mut_ptr().cast::<libc::cmsghdr>();
            (*header).cmsg_level = level;
            (*header).cmsg_type = kind;
            (*header).cmsg_len = len as _;
            ptr::write_unaligned(libc::CMSG_DATA(header).cast::<T>(), value);
        }
        self.len = self.len.saturating_add(space);
    }
}

/// A UDP socket bound to `local:port`, set up as the module docs say.
fn pooled(local: Ipv4Addr, port: u16) -> io::Result<OwnedFd> {
    // SAFETY: socket() takes no pointers; a non-negative result is a new descriptor.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            libc::IPPROTO_UDP,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    set(
        &fd,
        libc::IPPROTO_IP,
        libc::IP_MTU_DISCOVER,
        libc::IP_PMTUDISC_PROBE,
    )?;
    // Past the sysctl's cap (root, as vtep runs); a smaller buffer if refused.
    if set(&fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, SEND_BUFFER).is_err() {
        set(&fd, libc::SOL_SOCKET, libc::SO_SNDBUF, SEND_BUFFER)?;
    }
    let address = nix::sys::socket::SockaddrIn::from(std::net::SocketAddrV4::new(local, port));
    nix::sys::socket::bind(fd.as_raw_fd(), &address)?;
    Ok(fd)
}

fn set(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: setsockopt reads an int of the size given.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            ptr::from_ref(&value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}
