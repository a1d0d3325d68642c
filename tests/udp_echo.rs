//! `examples/udp_echo` end to end on loopback: a VXLAN payload sent from a UDP socket
//! comes back decapsulated, swapped and encapsulated again, through the payload API on
//! both sides; what the source policy refuses gets no answer.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tunnelwire::packet::TunnelKind;
use tunnelwire::tunnel::ecn::Ecn;
use tunnelwire::tunnel::{
    DecapConfig, Decapsulator, Encapsulator, HEADROOM, SocketOuter, SourcePolicy, TunnelConfig,
};
use tunnelwire::wire::Vni;

/// Starts the example on `listen`, to answer `count` frames.
fn start(listen: SocketAddr, count: u64) -> Child {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--example", "udp_echo"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success());
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/udp_echo");
    Command::new(Path::new(&bin))
        .args([
            "--listen",
            &listen.to_string(),
            "--count",
            &count.to_string(),
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// An inner Ethernet frame from MAC ...:01 to ...:02.
fn inner_frame() -> Vec<u8> {
    let mut frame = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5];
    frame.extend_from_slice(b"tunnelwire payload API");
    frame
}

/// Sends `frame` in VNI 77 from `socket` to `to` and waits for the answer's inner frame.
fn exchange(socket: &UdpSocket, to: SocketAddr, frame: &[u8]) -> Option<Vec<u8>> {
    let local = socket.local_addr().unwrap();
    let mut config = TunnelConfig::vxlan(Vni::new(77).unwrap(), local.ip(), to.ip());
    config.sources = SourcePolicy::AllowLoopback;
    let mut encap = Encapsulator::new(config).unwrap();
    let mut buf = vec![0u8; HEADROOM + frame.len()];
    buf[HEADROOM..].copy_from_slice(frame);
    let end = buf.len();
    let sent = encap.encapsulate_payload(&mut buf, HEADROOM..end).unwrap();
    socket.send_to(&buf[sent.payload], to).unwrap();

    let mut answer = [0u8; 2048];
    let (len, from) = socket.recv_from(&mut answer).ok()?;
    assert_eq!(from, to);
    let decap = Decapsulator::new(DecapConfig {
        sources: SourcePolicy::AllowLoopback,
        ..DecapConfig::default()
    });
    let outer = SocketOuter {
        src: from.ip(),
        dst: local.ip(),
        ecn: Ecn::NotEct,
    };
    let found = decap
        .decapsulate_payload(&mut answer[..len], TunnelKind::Vxlan, &outer)
        .unwrap();
    assert_eq!(found.segment(), 77);
    Some(answer[found.inner].to_vec())
}

#[test]
fn vxlan_over_a_udp_socket_comes_back_through_the_payload_api() {
    let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 47891));
    let mut echo = start(listen, 1);
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    // The responder may not be listening yet: try until it answers.
    let frame = inner_frame();
    let answer = (0..25).find_map(|_| exchange(&socket, listen, &frame));
    let _ = echo.wait();
    let answer = answer.expect("udp_echo answered");
    let mut expected = frame.clone();
    expected[..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2]);
    assert_eq!(answer, expected);
}

#[test]
fn a_frame_too_short_for_ethernet_gets_no_answer() {
    let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 47892));
    let mut echo = start(listen, 1);
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    // A VXLAN header with the I flag and VNI 77, then 10 bytes: no Ethernet frame.
    let mut short = vec![0x08, 0, 0, 0, 0, 0, 77, 0];
    short.extend_from_slice(&[0u8; 10]);
    let mut buf = [0u8; 64];
    for _ in 0..5 {
        socket.send_to(&short, listen).unwrap();
        assert!(
            socket.recv_from(&mut buf).is_err(),
            "a malformed frame was answered"
        );
    }
    // A good one ends the responder.
    let frame = inner_frame();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    assert!(exchange(&socket, listen, &frame).is_some());
    let _ = echo.wait();
}
