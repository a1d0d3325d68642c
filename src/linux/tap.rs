//! TAP devices through /dev/net/tun: the switch's local ports.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

// The crate is no_std; this driver is not.
use std::format;
use std::prelude::rust_2024::*;

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

/// Bytes of the `virtio_net_hdr` in front of every frame read from or written to a
/// [`Tap`] (the legacy header, without `num_buffers`).
pub const VNET_HDR_LEN: usize = 10;

/// The offloads a [`Tap`] asks the kernel for (`TUNSETOFFLOAD`): frames may arrive with
/// their TCP or UDP checksum left partial (`TUN_F_CSUM`), and as TCP super-frames over
/// IPv4 and IPv6 (TSO, CWR included: `TUN_F_TSO_ECN`). The driver segments and
/// completes them in software.
const OFFLOADS: libc::c_uint =
    libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6 | libc::TUN_F_TSO_ECN;
/// UDP super-frames (USO), asked for as well on kernels that have them (6.2 and later).
const OFFLOADS_USO: libc::c_uint = libc::TUN_F_USO4 | libc::TUN_F_USO6;

/// A TAP device: Ethernet frames in and out, each behind a `virtio_net_hdr`
/// ([`VNET_HDR_LEN`] bytes: `IFF_VNET_HDR`), without packet information headers. With the
/// header the kernel hands over TCP super-frames of up to 64 KiB and frames whose
/// checksum is left to finish (see `OFFLOADS` in the source), and takes them back: what
/// lets a userspace switch move a TCP stream at a system call per 64 KiB.
///
/// The device lives as long as this value (it is not made persistent), so it disappears
/// when the driver stops, even after it was moved to another network namespace, where
/// it keeps working.
#[derive(Debug)]
pub struct Tap {
    file: File,
    name: String,
}

impl Tap {
    /// Creates (or attaches to) the TAP device `name`, sets its MTU and brings it up.
    ///
    /// # Errors
    /// A name longer than 15 bytes, no permission (CAP_NET_ADMIN), or a device of that
    /// name that is not a TAP.
    pub fn create(name: &str, mtu: u16) -> io::Result<Tap> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")?;
        let mut request = ifreq(name)?;
        request.ifr_ifru.ifru_flags =
            (libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as libc::c_short;
        // SAFETY: TUNSETIFF reads an ifreq, which `request` is, and lives through the call.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &request) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: TUNSETOFFLOAD takes its argument by value, no pointer.
        let offload = |flags: libc::c_uint| unsafe {
            libc::ioctl(file.as_raw_fd(), libc::TUNSETOFFLOAD, flags)
        };
        // A kernel without USO refuses the whole set: ask again without it.
        if offload(OFFLOADS | OFFLOADS_USO) < 0 && offload(OFFLOADS) < 0 {
            return Err(io::Error::last_os_error());
        }
        let control = control_socket()?;
        let mut request = ifreq(name)?;
        request.ifr_ifru.ifru_mtu = libc::c_int::from(mtu);
        // SAFETY: SIOCSIFMTU reads an ifreq naming the device and carrying the MTU.
        if unsafe { libc::ioctl(control.as_raw_fd(), libc::SIOCSIFMTU, &request) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut request = ifreq(name)?;
        // SAFETY: SIOCGIFFLAGS fills the flags of the ifreq it is given.
        if unsafe { libc::ioctl(control.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the union's flags member was just written by SIOCGIFFLAGS.
        unsafe { request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
        // SAFETY: SIOCSIFFLAGS reads an ifreq naming the device and carrying its flags.
        if unsafe { libc::ioctl(control.as_raw_fd(), libc::SIOCSIFFLAGS, &request) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Tap {
            file,
            name: name.to_owned(),
        })
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads one frame into `buf` and its virtio-net header into `header`; returns the
    /// frame's length. `WouldBlock` when there is none.
    ///
    /// # Errors
    /// `WouldBlock`; `InvalidData` for a read shorter than the header; what the device
    /// reports.
    pub fn recv(&self, header: &mut [u8; VNET_HDR_LEN], buf: &mut [u8]) -> io::Result<usize> {
        let read =
            (&self.file).read_vectored(&mut [IoSliceMut::new(header), IoSliceMut::new(buf)])?;
        read.checked_sub(VNET_HDR_LEN).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "a read without its virtio-net header",
            )
        })
    }

    /// Writes one frame behind its virtio-net header (all zero: a whole frame whose
    /// checksums are complete).
    ///
    /// # Errors
    /// What the device reports (for instance when it is down, its queue is full, or the
    /// header does not fit the frame).
    pub fn send(&self, header: &[u8; VNET_HDR_LEN], frame: &[u8]) -> io::Result<()> {
        (&self.file)
            .write_vectored(&[IoSlice::new(header), IoSlice::new(frame)])
            .map(drop)
    }
}

impl AsFd for Tap {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// An ifreq naming `name`, every other byte zero.
fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {name:?} (1 to 15 bytes)"),
        ));
    }
    // SAFETY: ifreq is plain data (a name and a union of integers and addresses), for
    // which all-zero bytes are a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(name.bytes()) {
        *slot = byte as libc::c_char;
    }
    Ok(request)
}

/// A datagram socket to hand interface ioctls to.
fn control_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket() takes no pointers; a non-negative result is a new descriptor that
    // nothing else owns.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
