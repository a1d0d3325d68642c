//! Batched datagram I/O: `recvmmsg` and `sendmmsg`, up to [`BATCH`] messages per system
//! call, with every structure the kernel reads or fills on the stack (nothing allocated
//! per call).
//!
//! A packet received or sent costs the kernel the same work either way; what a batch
//! saves is the entry into the kernel and the wakeup per packet, which is most of what a
//! 64-byte frame costs the driver itself.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;

/// Messages per system call, each way.
pub const BATCH: usize = 64;

/// Room for the control messages asked for per datagram (an `int` traffic class or a
/// TOS byte, and `UDP_GRO`'s `int`: 24 bytes each with its header), aligned as control
/// messages must be.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct ControlBuffer([u8; 64]);

/// What `recvmmsg` reported of one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Datagram {
    /// Bytes written into its slot.
    pub len: usize,
    /// The sender's address; `None` for an address family other than IPv4 and IPv6.
    pub peer: Option<IpAddr>,
    /// The outer TOS or traffic class byte (`IP_TOS` / `IPV6_TCLASS` control message),
    /// when the socket was asked for it and the kernel sent it.
    pub traffic_class: Option<u8>,
    /// For a UDP socket with `UDP_GRO`: the length of each datagram the kernel coalesced
    /// into this one (the last may be shorter); `None` for a single datagram.
    pub segment_size: Option<u16>,
}

/// Receives up to one datagram into each of `slots` (as many as are waiting, at most
/// [`BATCH`]) and fills `out` with what each one was; returns how many arrived.
///
/// # Errors
/// `WouldBlock` when none is waiting; what the socket reports.
pub(super) fn recv_batch<'a>(
    fd: BorrowedFd<'_>,
    slots: impl Iterator<Item = &'a mut [u8]>,
    out: &mut [Datagram; BATCH],
) -> io::Result<usize> {
    // SAFETY (for the three): plain C structures, for which all-zero bytes are valid.
    let mut headers: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
    let mut iovecs: [libc::iovec; BATCH] = unsafe { zeroed() };
    let mut peers: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
    let mut controls = [ControlBuffer([0; 64]); BATCH];
    let mut count: usize = 0;
    for ((((slot, header), iovec), peer), control) in slots
        .zip(&mut headers)
        .zip(&mut iovecs)
        .zip(&mut peers)
        .zip(&mut controls)
    {
        *iovec = libc::iovec {
            iov_base: slot.as_mut_ptr().cast(),
            iov_len: slot.len(),
        };
        header.msg_hdr.msg_iov = iovec;
        header.msg_hdr.msg_iovlen = 1;
        header.msg_hdr.msg_name = ptr::from_mut(peer).cast();
        header.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        header.msg_hdr.msg_control = control.0.as_mut_ptr().cast();
        header.msg_hdr.msg_controllen = control.0.len();
        count = count.saturating_add(1); // at most BATCH
    }
    // SAFETY: the first `count` headers point at live slots, addresses and control
    // buffers that outlive the call, each with its true length; the kernel writes
    // within those lengths and no timeout is passed.
    let received = unsafe {
        libc::recvmmsg(
            fd.as_raw_fd(),
            headers.as_mut_ptr(),
            count as libc::c_uint,
            libc::MSG_DONTWAIT,
            ptr::null_mut(),
        )
    };
    // A negative count is an error; anything else is at most `count`.
    let received = usize::try_from(received).map_err(|_| io::Error::last_os_error())?;
    for ((header, peer), slot) in headers
        .iter()
        .zip(&peers)
        .zip(out.iter_mut())
        .take(received)
    {
        let (traffic_class, segment_size) = control_messages(&header.msg_hdr);
        *slot = Datagram {
            len: header.msg_len as usize,
            peer: peer_ip(peer),
            traffic_class,
            segment_size,
        };
    }
    Ok(received)
}

/// Sends each of `packets` (at most [`BATCH`] are taken) to `to` in one `sendmmsg`;
/// returns how many, from the front, the socket took.
///
/// # Errors
/// What the socket reports for the first packet (a full send buffer is `WouldBlock`).
pub(super) fn send_batch<'a>(
    fd: BorrowedFd<'_>,
    to: IpAddr,
    packets: impl Iterator<Item = &'a [u8]>,
) -> io::Result<usize> {
    // Port 0: a raw socket takes the protocol there, and 0 means its own.
    let (mut address, address_len) = sockaddr(SocketAddr::new(to, 0));
    // SAFETY (for both): plain C structures, for which all-zero bytes are valid.
    let mut headers: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
    let mut iovecs: [libc::iovec; BATCH] = unsafe { zeroed() };
    let mut count: usize = 0;
    for ((packet, header), iovec) in packets.zip(&mut headers).zip(&mut iovecs) {
        *iovec = libc::iovec {
            // The kernel only reads through it (sendmmsg).
            iov_base: packet.as_ptr().cast_mut().cast(),
            iov_len: packet.len(),
        };
        header.msg_hdr.msg_iov = iovec;
        header.msg_hdr.msg_iovlen = 1;
        header.msg_hdr.msg_name = ptr::from_mut(&mut address).cast();
        header.msg_hdr.msg_namelen = address_len;
        count = count.saturating_add(1); // at most BATCH
    }
    if count == 0 {
        return Ok(0);
    }
    // SAFETY: the first `count` headers point at live packets and the one address, each
    // with its true length, all outliving the call; the kernel only writes `msg_len`.
    let sent = unsafe {
        libc::sendmmsg(
            fd.as_raw_fd(),
            headers.as_mut_ptr(),
            count as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    };
    usize::try_from(sent).map_err(|_| io::Error::last_os_error())
}

/// `SOL_UDP`'s `UDP_GRO`, which the libc crate does not name.
pub(super) const UDP_GRO: libc::c_int = 104;

/// The TOS byte (IPv4) or traffic class (IPv6), and the coalesced datagrams' size
/// (`UDP_GRO`), among a received message's control messages.
fn control_messages(message: &libc::msghdr) -> (Option<u8>, Option<u16>) {
    let (mut class, mut segment) = (None, None);
    // SAFETY: the kernel set msg_control/msg_controllen to the control messages it wrote
    // into our buffer; CMSG_FIRSTHDR/CMSG_NXTHDR stay within them, and each data read is
    // bounded by the header's own length.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(message);
        while !cmsg.is_null() {
            let header = &*cmsg;
            let data = libc::CMSG_DATA(cmsg);
            let data_len = (header.cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
            let int = size_of::<libc::c_int>();
            match (header.cmsg_level, header.cmsg_type) {
                (libc::IPPROTO_IP, libc::IP_TOS) if data_len >= 1 => class = Some(*data),
                (libc::IPPROTO_IPV6, libc::IPV6_TCLASS) if data_len >= int => {
                    class = Some(ptr::read_unaligned(data.cast::<libc::c_int>()) as u8);
                }
                (libc::SOL_UDP, UDP_GRO) if data_len >= int => {
                    let size = ptr::read_unaligned(data.cast::<libc::c_int>());
                    segment = u16::try_from(size).ok().filter(|&size| size > 0);
                }
                _ => {}
            }
            cmsg = libc::CMSG_NXTHDR(message, cmsg);
        }
    }
    (class, segment)
}

/// The address a datagram came from.
fn peer_ip(peer: &libc::sockaddr_storage) -> Option<IpAddr> {
    match libc::c_int::from(peer.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large
            // and aligned enough for.
            let v4 = unsafe { &*ptr::from_ref(peer).cast::<libc::sockaddr_in>() };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for a sockaddr_in6.
            let v6 = unsafe { &*ptr::from_ref(peer).cast::<libc::sockaddr_in6>() };
            Some(IpAddr::V6(Ipv6Addr::from(v6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

/// `address` as a C socket address, with its length.
fn sockaddr(address: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: plain C structure, for which all-zero bytes are valid.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match address {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large and aligned enough for any address.
            let sin = unsafe { &mut *ptr::from_mut(&mut storage).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            // SAFETY: as above.
            let sin6 = unsafe { &mut *ptr::from_mut(&mut storage).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            sin6.sin6_scope_id = v6.scope_id();
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}
