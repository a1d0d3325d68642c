//! The test's own endpoints: the host behind a TAP port (a packet socket on the device)
//! and a remote VTEP's raw socket.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::ARRIVES;
use crate::namespace::{if_index, readable, sockaddr};
use crate::packets::Ipv4;

const ETH_P_ALL: u16 = 0x0003;
/// The socket option that hands a packet socket each frame's VLAN tag.
const PACKET_AUXDATA: libc::c_int = 8;

/// A packet socket on one device: the host behind a TAP port.
pub(crate) struct Host {
    fd: OwnedFd,
}

impl Host {
    pub(crate) fn on(device: &str) -> Host {
        // SAFETY: socket() takes no pointers.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(ETH_P_ALL.to_be()),
            )
        };
        assert!(fd >= 0, "packet socket: {}", io::Error::last_os_error());
        // SAFETY: just created, owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: sockaddr_ll is plain data.
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_protocol = ETH_P_ALL.to_be();
        address.sll_ifindex = if_index(device) as i32;
        // SAFETY: the address lives through the call and its size is passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const address).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        assert!(rc >= 0, "bind to {device}: {}", io::Error::last_os_error());
        let on: libc::c_int = 1;
        // SAFETY: PACKET_AUXDATA reads one c_int, whose size is passed.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_PACKET,
                PACKET_AUXDATA,
                (&raw const on).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert!(rc >= 0, "PACKET_AUXDATA: {}", io::Error::last_os_error());
        Host { fd }
    }

    /// Sends a frame out of the device: the TAP's reader (the VTEP) gets it.
    pub(crate) fn send(&self, frame: &[u8]) {
        // SAFETY: the frame lives through the call.
        let sent =
            unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        assert_eq!(sent, frame.len() as isize, "{}", io::Error::last_os_error());
    }

    /// The next frame the device received (written to the TAP), not one it sent, with
    /// its 802.1Q tag back in place (the kernel takes it off into the packet's metadata).
    pub(crate) fn recv(&self, wait: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            if !readable(self.fd.as_fd(), left) {
                return None;
            }
            let mut frame = vec![0u8; 65_536];
            let mut iov = libc::iovec {
                iov_base: frame.as_mut_ptr().cast(),
                iov_len: frame.len(),
            };
            // SAFETY: sockaddr_ll and msghdr are plain data.
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut control = [0u64; 16];
            // SAFETY: as above.
            let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
            message.msg_name = (&raw mut from).cast();
            message.msg_namelen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            message.msg_iov = &mut iov;
            message.msg_iovlen = 1;
            message.msg_control = control.as_mut_ptr().cast();
            message.msg_controllen = size_of_val(&control);
            // SAFETY: every buffer the message points to is writable for its length.
            let len =
                unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut message, libc::MSG_DONTWAIT) };
            if len < 0 || from.sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            frame.truncate(len as usize);
            // SAFETY: walks the control messages recvmsg wrote, within msg_controllen.
            let mut header = unsafe { libc::CMSG_FIRSTHDR(&message) };
            while !header.is_null() {
                // SAFETY: a control message header inside the buffer.
                let (level, kind) = unsafe { ((*header).cmsg_level, (*header).cmsg_type) };
                if (level, kind) == (libc::SOL_PACKET, PACKET_AUXDATA) {
                    // SAFETY: PACKET_AUXDATA carries a tpacket_auxdata.
                    let aux: libc::tpacket_auxdata =
                        unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(header).cast()) };
                    if aux.tp_status & libc::TP_STATUS_VLAN_VALID != 0 {
                        let tpid = if aux.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                            aux.tp_vlan_tpid
                        } else {
                            0x8100
                        };
                        let tag = [tpid.to_be_bytes(), aux.tp_vlan_tci.to_be_bytes()].concat();
                        frame.splice(12..12, tag);
                    }
                }
                // SAFETY: as CMSG_FIRSTHDR.
                header = unsafe { libc::CMSG_NXTHDR(&message, header) };
            }
            return Some(frame);
        }
    }

    /// Waits for `frame` to come out of the TAP, skipping others.
    pub(crate) fn expect(&self, frame: &[u8], what: &str) {
        let deadline = Instant::now() + ARRIVES;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.recv(left) {
                Some(received) if received == frame => return,
                Some(_) => {}
                None => break,
            }
        }
        panic!("{what}: the frame never came out of the TAP");
    }
}

/// A raw socket of one protocol bound to a peer's address, IPv4 or IPv6: sends a payload
/// (the kernel writes the IP header) and receives, over IPv4, whole IPv4 packets, over
/// IPv6 the payloads (an AF_INET6 raw socket hands no IPv6 header over).
pub(crate) struct RawPeer {
    pub(crate) fd: OwnedFd,
}

/// `ip`, port 0, as the sockaddr of its family.
fn socket_address(ip: IpAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data, for which all-zero bytes are valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match ip {
        IpAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large and aligned enough for any sockaddr.
            unsafe { std::ptr::write((&raw mut storage).cast(), sockaddr(v4, 0)) };
            size_of::<libc::sockaddr_in>()
        }
        IpAddr::V6(v6) => {
            // SAFETY: sockaddr_in6 is plain data.
            let mut address: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            address.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            address.sin6_addr.s6_addr = v6.octets();
            // SAFETY: as above.
            unsafe { std::ptr::write((&raw mut storage).cast(), address) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

impl RawPeer {
    pub(crate) fn open(protocol: libc::c_int, local: impl Into<IpAddr>) -> RawPeer {
        let local = local.into();
        let family = if local.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        // SAFETY: socket() takes no pointers.
        let fd = unsafe { libc::socket(family, libc::SOCK_RAW | libc::SOCK_CLOEXEC, protocol) };
        assert!(fd >= 0, "raw socket: {}", io::Error::last_os_error());
        // SAFETY: just created, owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let (address, len) = socket_address(local);
        // SAFETY: the address lives through the call and its size is passed.
        let rc = unsafe { libc::bind(fd.as_raw_fd(), (&raw const address).cast(), len) };
        assert!(
            rc >= 0,
            "bind raw to {local}: {}",
            io::Error::last_os_error()
        );
        RawPeer { fd }
    }

    pub(crate) fn send_to(&self, payload: &[u8], to: impl Into<IpAddr>) {
        let (address, len) = socket_address(to.into());
        // SAFETY: payload and address live through the call.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                payload.as_ptr().cast(),
                payload.len(),
                0,
                (&raw const address).cast(),
                len,
            )
        };
        assert_eq!(
            sent,
            payload.len() as isize,
            "{}",
            io::Error::last_os_error()
        );
    }

    /// The next IPv4 packet for which `wanted` holds, within `wait`.
    pub(crate) fn recv(&self, wait: Duration, wanted: impl Fn(&Ipv4) -> bool) -> Option<Ipv4> {
        self.recv_bytes(wait, |bytes| wanted(&Ipv4::parse(bytes.to_vec())))
            .map(Ipv4::parse)
    }

    /// The next packet (IPv4) or payload (IPv6) for which `wanted` holds, within `wait`.
    pub(crate) fn recv_bytes(
        &self,
        wait: Duration,
        wanted: impl Fn(&[u8]) -> bool,
    ) -> Option<Vec<u8>> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            if !readable(self.fd.as_fd(), left) {
                return None;
            }
            let mut packet = vec![0u8; 65_536];
            // SAFETY: the buffer is writable for its length.
            let len = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    packet.as_mut_ptr().cast(),
                    packet.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if len < 0 {
                continue;
            }
            packet.truncate(len as usize);
            if wanted(&packet) {
                return Some(packet);
            }
        }
    }
}
