//! The namespace each test runs in (loopback up with the underlay addresses, IPv6 off on
//! later devices) and the device and descriptor calls the tests make inside it.

use std::ffi::CString;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, UdpSocket};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use crate::{ARRIVES, NVGRE_PEER, NVGRE_PEER6, VTEP, VTEP6, VXLAN_PEER, VXLAN_PEER6};

/// Set to 1, lets a machine without the privileges these tests need skip them.
const SKIP_PRIVILEGED: &str = "TUNNELWIRE_SKIP_PRIVILEGED";

/// Fails `test`, which this machine cannot run, unless the user asked to skip it.
fn cannot_run(test: &str, why: &str) {
    if std::env::var_os(SKIP_PRIVILEGED).is_some_and(|value| value == "1") {
        eprintln!("linux_driver {test}: SKIPPED ({SKIP_PRIVILEGED}=1): {why}");
        return;
    }
    panic!(
        "linux_driver {test}: cannot run here: {why}. It needs root (CAP_SYS_ADMIN, \
         CAP_NET_ADMIN, CAP_NET_RAW) and /dev/net/tun; {SKIP_PRIVILEGED}=1 skips it"
    );
}

/// Whether the kernel has IPv6 (a namespace's own view).
fn has_ipv6() -> bool {
    Path::new("/proc/sys/net/ipv6").exists()
}

/// Runs `body` on a new thread inside a new network namespace with loopback up, the
/// three IPv4 and (where the kernel has IPv6) three IPv6 underlay addresses on it, and
/// IPv6 off on devices created later; fails (or skips, when asked) when the machine
/// cannot.
pub(crate) fn isolated(test: &'static str, body: impl FnOnce() + Send + 'static) {
    let outcome = thread::spawn(move || {
        if let Err(error) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
        {
            return cannot_run(test, &format!("cannot open /dev/net/tun: {error}"));
        }
        // SAFETY: unshare takes no pointers; CLONE_NEWNET moves only this thread.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } < 0 {
            let error = io::Error::last_os_error();
            return cannot_run(test, &format!("cannot create a network namespace: {error}"));
        }
        // Devices created from now on (the TAPs) get no IPv6; loopback keeps it, for the
        // IPv6 underlay. Absent when the kernel has no IPv6: nothing to turn off then.
        let _ = std::fs::write("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
        set_up("lo", true);
        for (label, address) in ["lo:1", "lo:2", "lo:3"]
            .into_iter()
            .zip([VTEP, VXLAN_PEER, NVGRE_PEER])
        {
            add_address(label, address);
        }
        if has_ipv6() {
            for address in [VTEP6, VXLAN_PEER6, NVGRE_PEER6] {
                add_address6(address);
            }
        }
        body();
    })
    .join();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// An ifreq naming `name`.
fn ifreq(name: &str) -> libc::ifreq {
    // SAFETY: ifreq is plain data, for which all-zero bytes are valid.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(name.bytes()) {
        *slot = byte as libc::c_char;
    }
    request
}

/// Any socket will do for interface ioctls.
fn ioctl_socket() -> UdpSocket {
    UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap()
}

pub(crate) fn interface_flags(name: &str) -> libc::c_short {
    let mut request = ifreq(name);
    // SAFETY: SIOCGIFFLAGS fills the ifreq it is given.
    let rc = unsafe { libc::ioctl(ioctl_socket().as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) };
    assert!(
        rc >= 0,
        "SIOCGIFFLAGS {name}: {}",
        io::Error::last_os_error()
    );
    // SAFETY: SIOCGIFFLAGS wrote the flags member.
    unsafe { request.ifr_ifru.ifru_flags }
}

pub(crate) fn set_up(name: &str, up: bool) {
    let mut request = ifreq(name);
    let flags = interface_flags(name);
    let up_flag = libc::IFF_UP as libc::c_short;
    request.ifr_ifru.ifru_flags = if up {
        flags | up_flag
    } else {
        flags & !up_flag
    };
    // SAFETY: SIOCSIFFLAGS reads an ifreq naming the device and carrying its flags.
    let rc = unsafe { libc::ioctl(ioctl_socket().as_raw_fd(), libc::SIOCSIFFLAGS, &request) };
    assert!(
        rc >= 0,
        "SIOCSIFFLAGS {name}: {}",
        io::Error::last_os_error()
    );
}

pub(crate) fn interface_mtu(name: &str) -> libc::c_int {
    let mut request = ifreq(name);
    // SAFETY: SIOCGIFMTU fills the MTU of the ifreq it is given.
    let rc = unsafe { libc::ioctl(ioctl_socket().as_raw_fd(), libc::SIOCGIFMTU, &mut request) };
    assert!(rc >= 0, "SIOCGIFMTU {name}: {}", io::Error::last_os_error());
    // SAFETY: SIOCGIFMTU wrote the MTU member.
    unsafe { request.ifr_ifru.ifru_mtu }
}

pub(crate) fn sockaddr(address: Ipv4Addr, port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(address).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// Adds `address` to the interface alias `label` (`lo:1`).
fn add_address(label: &str, address: Ipv4Addr) {
    let mut request = ifreq(label);
    let addr = sockaddr(address, 0);
    // SAFETY: a sockaddr_in fits the union's sockaddr member, which is as large.
    unsafe {
        std::ptr::write(
            (&raw mut request.ifr_ifru.ifru_addr).cast::<libc::sockaddr_in>(),
            addr,
        )
    };
    // SAFETY: SIOCSIFADDR reads an ifreq naming the alias and carrying the address.
    let rc = unsafe { libc::ioctl(ioctl_socket().as_raw_fd(), libc::SIOCSIFADDR, &request) };
    assert!(
        rc >= 0,
        "SIOCSIFADDR {label}: {}",
        io::Error::last_os_error()
    );
}

/// Adds `address`/128 to loopback and waits until it can be bound to.
fn add_address6(address: Ipv6Addr) {
    let request = libc::in6_ifreq {
        ifr6_addr: libc::in6_addr {
            s6_addr: address.octets(),
        },
        ifr6_prefixlen: 128,
        ifr6_ifindex: if_index("lo") as libc::c_int,
    };
    let socket = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)).unwrap();
    // SAFETY: SIOCSIFADDR on an AF_INET6 socket reads an in6_ifreq, which lives through
    // the call.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFADDR, &request) };
    assert!(rc >= 0, "add {address}: {}", io::Error::last_os_error());
    // A new address is tentative until duplicate address detection has run, which on
    // loopback ends at once, but from a work queue: binding before then fails.
    let deadline = Instant::now() + ARRIVES;
    while UdpSocket::bind((address, 0)).is_err() {
        assert!(Instant::now() < deadline, "{address} stays tentative");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Runs `body` as [`isolated`] does, where the kernel has IPv6; fails (or skips, when
/// asked) elsewhere.
pub(crate) fn isolated6(test: &'static str, body: impl FnOnce() + Send + 'static) {
    isolated(test, move || {
        if has_ipv6() {
            body();
        } else {
            cannot_run(test, "the kernel has no IPv6");
        }
    });
}

/// Sets an integer socket option (a TOS byte or traffic class a peer sends with).
pub(crate) fn set_int_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) {
    // SAFETY: the option reads one c_int, whose size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert!(rc >= 0, "setsockopt: {}", io::Error::last_os_error());
}

pub(crate) fn if_index(name: &str) -> u32 {
    let name = CString::new(name).unwrap();
    // SAFETY: a NUL-terminated name that lives through the call.
    unsafe { libc::if_nametoindex(name.as_ptr()) }
}

/// Deletes a device through rtnetlink (RTM_DELLINK), as `ip link del` does.
pub(crate) fn delete_link(name: &str) {
    let index = if_index(name);
    assert_ne!(index, 0, "{name} does not exist");
    // SAFETY: socket() takes no pointers; a non-negative result is a new descriptor.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    assert!(fd >= 0, "netlink socket: {}", io::Error::last_os_error());
    // SAFETY: just created, owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // nlmsghdr (16 bytes), then ifinfomsg (16 bytes): family, pad, type, index, flags, change.
    let mut message = Vec::new();
    message.extend_from_slice(&32u32.to_ne_bytes());
    message.extend_from_slice(&libc::RTM_DELLINK.to_ne_bytes());
    message.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16).to_ne_bytes());
    message.extend_from_slice(&1u32.to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes());
    message.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
    message.extend_from_slice(&(index as i32).to_ne_bytes());
    message.extend_from_slice(&[0; 8]);
    // SAFETY: the message lives through the call; an unconnected netlink socket sends to
    // the kernel.
    let sent = unsafe { libc::send(fd.as_raw_fd(), message.as_ptr().cast(), message.len(), 0) };
    assert_eq!(sent, 32, "netlink send: {}", io::Error::last_os_error());
    let mut ack = [0u8; 256];
    // SAFETY: `ack` is writable for its length.
    let len = unsafe { libc::recv(fd.as_raw_fd(), ack.as_mut_ptr().cast(), ack.len(), 0) };
    assert!(len >= 20, "netlink ack: {}", io::Error::last_os_error());
    let error = i32::from_ne_bytes(ack[16..20].try_into().unwrap());
    assert_eq!(
        error,
        0,
        "RTM_DELLINK {name}: {}",
        io::Error::from_raw_os_error(-error)
    );
}

/// Asserts the poll loop can use `fd`: non-blocking (a read must never stall the loop)
/// and close-on-exec.
pub(crate) fn assert_pollable(fd: BorrowedFd<'_>, what: &str) {
    // SAFETY: fcntl on a live descriptor.
    let (status, descriptor) = unsafe {
        (
            libc::fcntl(fd.as_raw_fd(), libc::F_GETFL),
            libc::fcntl(fd.as_raw_fd(), libc::F_GETFD),
        )
    };
    assert_ne!(status & libc::O_NONBLOCK, 0, "{what}: O_NONBLOCK");
    assert_ne!(descriptor & libc::FD_CLOEXEC, 0, "{what}: FD_CLOEXEC");
}

/// Waits until `fd` is readable; false on timeout.
pub(crate) fn readable(fd: BorrowedFd<'_>, wait: Duration) -> bool {
    let mut pollfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one live pollfd.
    let ready = unsafe { libc::poll(&mut pollfd, 1, wait.as_millis() as libc::c_int) };
    ready > 0
}
