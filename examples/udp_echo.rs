//! A VXLAN responder on a plain UDP socket, through the socket-payload API: what a
//! userspace VTEP, proxy or load balancer that owns its sockets does.
//!
//! ```text
//! udp_echo [--listen ADDR:PORT] [--count N]
//! ```
//!
//! Each datagram is the VXLAN header onward (the kernel took the IP and UDP headers off
//! and checked them). It is decapsulated with `Decapsulator::decapsulate_payload`, the
//! sender's address standing for the outer source (so the VTEP-source policy applies:
//! loopback is allowed here, by setting, since both ends share the host); the inner
//! frame goes back to its sender with its MAC addresses swapped, encapsulated with
//! `Encapsulator::encapsulate_payload` in the same VNI, to the address and port it came
//! from. One line per frame on standard error.
//!
//! The reply leaves from the listening socket's port. A VTEP sending to many flows would
//! send each from the flow's source port that `encapsulate_payload` returns (ECMP
//! entropy, RFC 7348 section 5), through a raw socket or a socket per port; it is
//! printed here.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;

use clap::Parser;
use tunnelwire::packet::TunnelKind;
use tunnelwire::tunnel::ecn::Ecn;
use tunnelwire::tunnel::{
    DecapConfig, Decapsulator, Encapsulation, Encapsulator, HEADROOM, SocketOuter, SourcePolicy,
    TunnelConfig,
};
use tunnelwire::wire::ethernet;

/// Answers VXLAN datagrams on a UDP socket: each inner frame goes back to its sender,
/// MAC addresses swapped, in the same VNI.
#[derive(Parser)]
#[command(name = "udp_echo", version)]
struct Args {
    /// Address and port to receive VXLAN on (IPv4 or IPv6)
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:4789")]
    listen: SocketAddr,
    /// Stop after answering this many frames (default: never)
    #[arg(long, value_name = "N")]
    count: Option<u64>,
}

/// The largest UDP payload, behind the headroom the reply's tunnel header goes into.
const BUFFER_LEN: usize = HEADROOM + 65_535;

fn main() -> ExitCode {
    let args = Args::parse();
    match serve(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("udp_echo: {error}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &Args) -> io::Result<()> {
    let socket = UdpSocket::bind(args.listen)?;
    let local = socket.local_addr()?;
    eprintln!("udp_echo: VXLAN on {local}");
    let decapsulator = Decapsulator::new(DecapConfig {
        sources: SourcePolicy::AllowLoopback,
        ..DecapConfig::default()
    });
    // One buffer for every datagram: received after the headroom, so the reply's tunnel
    // header fits in front of the inner frame without a copy.
    let mut buf = vec![0u8; BUFFER_LEN];
    let mut answered = 0;
    while args.count.is_none_or(|count| answered < count) {
        let (len, peer) = socket.recv_from(&mut buf[HEADROOM..])?;
        let payload = HEADROOM..HEADROOM + len;
        // The outer ECN would come from IP_RECVTOS; a std socket does not report it.
        let outer = SocketOuter {
            src: peer.ip(),
            dst: local.ip(),
            ecn: Ecn::NotEct,
        };
        let found = match decapsulator.decapsulate_payload(
            &mut buf[payload.clone()],
            TunnelKind::Vxlan,
            &outer,
        ) {
            Ok(found) => found,
            Err(error) => {
                eprintln!("udp_echo: from {peer}: dropped: {error}");
                continue;
            }
        };
        let inner = payload.start + found.inner.start..payload.start + found.inner.end;
        swap_macs(&mut buf[inner.clone()]);
        let reply = match reply_to(found.encapsulation, local, peer)
            .and_then(|mut encap| encap.encapsulate_payload(&mut buf, inner))
        {
            Ok(reply) => reply,
            Err(error) => {
                eprintln!("udp_echo: to {peer}: not sent: {error}");
                continue;
            }
        };
        socket.send_to(&buf[reply.payload.clone()], peer)?;
        answered += 1;
        eprintln!(
            "udp_echo: {peer}: VNI {}, {} bytes back (flow source port {:?}, traffic class {:#04x})",
            found.segment(),
            reply.payload.len(),
            reply.source_port,
            reply.traffic_class,
        );
    }
    Ok(())
}

/// An encapsulator for a reply from `local` to `peer` in the segment the request used.
fn reply_to(
    encapsulation: Encapsulation,
    local: SocketAddr,
    peer: SocketAddr,
) -> tunnelwire::Result<Encapsulator> {
    let mut config = TunnelConfig::new(encapsulation, local.ip(), peer.ip());
    config.sources = SourcePolicy::AllowLoopback;
    // A reply is at most as long as the request: the socket layer enforces the path MTU.
    config.mtu = u16::MAX;
    Encapsulator::new(config)
}

/// Swaps an Ethernet frame's destination and source MAC addresses.
fn swap_macs(frame: &mut [u8]) {
    let (dst, rest) = frame.split_at_mut(ethernet::ADDRS_LEN / 2);
    dst.swap_with_slice(&mut rest[..ethernet::ADDRS_LEN / 2]);
}
