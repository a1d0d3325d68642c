//! Opening the underlay's sockets, of either family: UDP receiving VXLAN, raw GRE
//! receiving NVGRE, and raw IP sending both as the tunnel engine built them. Every one
//! is non-blocking and close-on-exec, bound to the local address it serves.

// The crate is no_std; this driver is not.
use std::prelude::rust_2024::*;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::sys::socket::{SockaddrStorage, setsockopt, sockopt};

/// A UDP socket on `local:port` that reports each datagram's outer ECN (`IP_RECVTOS`,
/// `IPV6_RECVTCLASS`) and takes datagrams the kernel coalesced (`UDP_GRO`: on a link
/// that does GRO, a run of one sender's datagrams arrives as one, their size reported).
/// An IPv6 one takes IPv6 only: an IPv4 local address has sockets of its own.
pub(super) fn udp(local: IpAddr, port: u16) -> io::Result<OwnedFd> {
    let fd = open(local, libc::SOCK_DGRAM, libc::IPPROTO_UDP)?;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads an int of the size given. A kernel without UDP_GRO
    // (before 5.0) refuses it: datagrams then come one by one.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_UDP,
            super::mmsg::UDP_GRO,
            std::ptr::from_ref(&on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    match local {
        IpAddr::V4(_) => setsockopt(&fd, sockopt::IpRecvTos, &true)?,
        IpAddr::V6(_) => {
            setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
            setsockopt(&fd, sockopt::Ipv6RecvTClass, &true)?;
        }
    }
    bind(&fd, local, port)?;
    Ok(fd)
}

/// A raw socket receiving IP protocol 47 (GRE) sent to `local`. An IPv4 one hands the
/// IPv4 header too, whose ECN bits are the outer ECN; an IPv6 one hands the GRE header
/// on, and reports the traffic class (`IPV6_RECVTCLASS`).
pub(super) fn gre(local: IpAddr) -> io::Result<OwnedFd> {
    let fd = open(local, libc::SOCK_RAW, libc::IPPROTO_GRE)?;
    if local.is_ipv6() {
        setsockopt(&fd, sockopt::Ipv6RecvTClass, &true)?;
    }
    bind(&fd, local, 0)?;
    Ok(fd)
}

/// A send-only raw socket that sends whole IP packets of any protocol from `local` (one
/// per remote: see the underlay's module docs):
/// IPPROTO_RAW implies `IP_HDRINCL` (IPv4) and `IPV6_HDRINCL` (IPv6), so the kernel
/// sends the header the tunnel engine wrote (over IPv4 it fills in only the checksum,
/// the total length and a zero ID). It receives nothing.
pub(super) fn sender(local: IpAddr) -> io::Result<OwnedFd> {
    let fd = open(local, libc::SOCK_RAW, libc::IPPROTO_RAW)?;
    bind(&fd, local, 0)?;
    Ok(fd)
}

/// A new socket of `local`'s family.
fn open(local: IpAddr, kind: libc::c_int, protocol: libc::c_int) -> io::Result<OwnedFd> {
    let family = match local {
        IpAddr::V4(_) => libc::AF_INET,
        IpAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: socket() takes no pointers; a non-negative result is a new descriptor.
    let fd = unsafe {
        libc::socket(
            family,
            kind | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            protocol,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn bind(fd: &OwnedFd, local: IpAddr, port: u16) -> io::Result<()> {
    let address = SockaddrStorage::from(SocketAddr::new(local, port));
    nix::sys::socket::bind(fd.as_raw_fd(), &address)?;
    Ok(())
}
