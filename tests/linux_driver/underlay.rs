//! [`Underlay`] alone: the sockets of both tunnels over both families, receiving (with the
//! outer ECN, coalesced) and sending what the engine built.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsFd;

use tunnelwire::linux::{Received, Underlay};
use tunnelwire::tunnel::ecn::Ecn;
use tunnelwire::tunnel::{Encapsulator, HEADROOM, SocketOuter, TunnelConfig, TunnelKind};
use tunnelwire::wire::{Vni, Vsid};

use crate::namespace::{assert_pollable, isolated6, readable, set_int_option};
use crate::packets::{BROADCAST, frame, is_vxlan_to, mac, nvgre, vxlan};
use crate::peers::{Host, RawPeer};
use crate::{ARRIVES, NVGRE_PEER, NVGRE_PEER6, VNI, VTEP, VTEP6, VXLAN_PEER, VXLAN_PEER6};

#[test]
fn the_underlay_receives_socket_payloads_of_both_families_with_their_outer_ecn() {
    isolated6("underlay-receive", || {
        let underlay = Underlay::open(Some(VTEP), Some(VTEP6), 8472, None, true).unwrap();
        let receivers = underlay.receivers();
        let layout: Vec<_> = receivers.iter().map(|r| (r.kind(), r.local_ip())).collect();
        let (v4, v6) = (IpAddr::V4(VTEP), IpAddr::V6(VTEP6));
        assert_eq!(
            layout,
            [
                (TunnelKind::Vxlan, v4),
                (TunnelKind::Nvgre, v4),
                (TunnelKind::Vxlan, v6),
                (TunnelKind::Nvgre, v6)
            ]
        );
        let mut buf = vec![0xaa; HEADROOM + 2048];
        for receiver in receivers {
            assert_pollable(receiver.fd(), "a receiving socket");
            let error = recv_one(receiver, &mut buf).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
        }
        let [vxlan4, nvgre4, vxlan6, nvgre6] = receivers else {
            panic!("four sockets")
        };
        let expect = |receiver: &tunnelwire::linux::Receiver,
                      buf: &mut [u8],
                      sent: &[u8],
                      from: IpAddr,
                      ip_header: usize,
                      ecn: Ecn| {
            assert!(readable(receiver.fd(), ARRIVES), "nothing to receive");
            let received = recv_one(receiver, buf).unwrap();
            let start = HEADROOM + ip_header;
            assert_eq!(
                received,
                Received {
                    payload: start..start + sent.len(),
                    kind: receiver.kind(),
                    outer: SocketOuter {
                        src: from,
                        dst: receiver.local_ip(),
                        ecn
                    },
                    segment_size: None,
                }
            );
            assert_eq!(&buf[received.payload], sent);
            let error = recv_one(receiver, buf).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::WouldBlock, "one packet");
        };

        // VXLAN over IPv4 with DSCP 46 and ECT(0): the ECN bits are the outer ECN.
        let peer = UdpSocket::bind(SocketAddrV4::new(VXLAN_PEER, 50123)).unwrap();
        set_int_option(peer.as_fd(), libc::IPPROTO_IP, libc::IP_TOS, 0xb8 | 0x02);
        let datagram = vxlan(VNI, &frame(BROADCAST, mac(1), 0x33, 60));
        peer.send_to(&datagram, SocketAddrV4::new(VTEP, 8472))
            .unwrap();
        assert!(readable(vxlan4.fd(), ARRIVES));
        let error = recv_one(vxlan4, &mut buf[..HEADROOM]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "no headroom");
        expect(vxlan4, &mut buf, &datagram, VXLAN_PEER.into(), 0, Ecn::Ect0);

        // Three datagrams sent as one segmented send (UDP_SEGMENT): the socket takes them
        // coalesced (UDP_GRO), one payload with the datagrams' size.
        let run: Vec<u8> = [1u8, 2, 3]
            .iter()
            .flat_map(|&n| vxlan(VNI, &frame(BROADCAST, mac(n), 0x33, 60)))
            .collect();
        let size = datagram.len();
        set_int_option(peer.as_fd(), libc::SOL_UDP, 103, size as libc::c_int); // UDP_SEGMENT
        peer.send_to(&run, SocketAddrV4::new(VTEP, 8472)).unwrap();
        set_int_option(peer.as_fd(), libc::SOL_UDP, 103, 0);
        assert!(readable(vxlan4.fd(), ARRIVES));
        let received = recv_one(vxlan4, &mut buf).unwrap();
        assert_eq!(
            received.segment_size,
            Some(size as u16),
            "coalesced, with their size"
        );
        assert_eq!(&buf[received.payload], &run[..]);

        // VXLAN over IPv6, marked CE.
        let peer6 = UdpSocket::bind(SocketAddrV6::new(VXLAN_PEER6, 50124, 0, 0)).unwrap();
        set_int_option(peer6.as_fd(), libc::IPPROTO_IPV6, libc::IPV6_TCLASS, 0x03);
        peer6
            .send_to(&datagram, SocketAddrV6::new(VTEP6, 8472, 0, 0))
            .unwrap();
        expect(vxlan6, &mut buf, &datagram, VXLAN_PEER6.into(), 0, Ecn::Ce);

        // NVGRE over IPv4, ECT(1): the raw socket hands the IPv4 header over, skipped.
        let gre = nvgre(VNI, 7, &frame(BROADCAST, mac(3), 0x44, 60));
        let gre_peer = RawPeer::open(libc::IPPROTO_GRE, NVGRE_PEER);
        set_int_option(gre_peer.fd.as_fd(), libc::IPPROTO_IP, libc::IP_TOS, 0x01);
        gre_peer.send_to(&gre, VTEP);
        expect(nvgre4, &mut buf, &gre, NVGRE_PEER.into(), 20, Ecn::Ect1);

        // NVGRE over IPv6, ECT(0): no IPv6 header to skip.
        let gre_peer6 = RawPeer::open(libc::IPPROTO_GRE, NVGRE_PEER6);
        set_int_option(
            gre_peer6.fd.as_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_TCLASS,
            0x02,
        );
        gre_peer6.send_to(&gre, VTEP6);
        expect(nvgre6, &mut buf, &gre, NVGRE_PEER6.into(), 0, Ecn::Ect0);

        // VXLAN only: no GRE sockets.
        let vxlan_only = Underlay::open(Some(VTEP), None, 4790, None, false).unwrap();
        let kinds: Vec<_> = vxlan_only.receivers().iter().map(|r| r.kind()).collect();
        assert_eq!(kinds, [TunnelKind::Vxlan]);
    });
}

/// One payload received through the batch receive, with `buf` as its only slot.
fn recv_one(receiver: &tunnelwire::linux::Receiver, buf: &mut [u8]) -> io::Result<Received> {
    let mut received = Vec::new();
    let slot = buf.len();
    receiver.recv_batch(buf, slot, &mut received)?;
    assert!(received.len() <= 1, "one slot, at most one payload");
    received
        .pop()
        .ok_or_else(|| io::Error::other("a packet the receiver skipped"))
}

/// One frame sent to `remote` through the batch send.
fn send_one(underlay: &Underlay, remote: IpAddr, frame: &[u8]) -> io::Result<()> {
    let sender = underlay
        .sender(remote)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "not a remote"))?;
    assert_eq!(underlay.send_batch(sender, std::iter::once(frame))?, 1);
    Ok(())
}

/// An outer Ethernet header and IPv4 header as the tunnel engine writes them, then
/// `payload`: DF, TTL 33, DSCP 46 with ECT(0), no ID or checksum (the kernel's).
fn outer(to: Ipv4Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x0e; 12];
    frame.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + payload.len()) as u16;
    frame.extend_from_slice(&[0x45, 0xba]);
    frame.extend_from_slice(&total.to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0x40, 0, 33, protocol, 0, 0]);
    frame.extend_from_slice(&VTEP.octets());
    frame.extend_from_slice(&to.octets());
    frame.extend_from_slice(payload);
    frame
}

#[test]
fn the_underlay_sends_both_tunnels_as_built_over_both_families() {
    isolated6("underlay-send", || {
        let mut underlay = Underlay::open(Some(VTEP), Some(VTEP6), 4789, None, true).unwrap();
        // Each remote sends through a socket of its own; a second add changes nothing.
        for remote in [VXLAN_PEER, NVGRE_PEER, VXLAN_PEER] {
            underlay.add_remote(remote.into()).unwrap();
        }
        for remote in [VXLAN_PEER6, NVGRE_PEER6] {
            underlay.add_remote(remote.into()).unwrap();
        }
        let vxlan_peer = UdpSocket::bind(SocketAddrV4::new(VXLAN_PEER, 4789)).unwrap();
        vxlan_peer.set_read_timeout(Some(ARRIVES)).unwrap();
        let vxlan_raw = RawPeer::open(libc::IPPROTO_UDP, VXLAN_PEER);
        let gre_peer = RawPeer::open(libc::IPPROTO_GRE, NVGRE_PEER);

        let inner = frame(mac(2), mac(1), 0x55, 80);
        let datagram = vxlan(VNI, &inner);
        let mut udp = Vec::new();
        udp.extend_from_slice(&61234u16.to_be_bytes());
        udp.extend_from_slice(&4789u16.to_be_bytes());
        udp.extend_from_slice(&((8 + datagram.len()) as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(&datagram);
        send_one(&underlay, VXLAN_PEER.into(), &outer(VXLAN_PEER, 17, &udp)).unwrap();
        let packet = vxlan_raw
            .recv(ARRIVES, is_vxlan_to(4789))
            .expect("the VXLAN packet arrives");
        assert_eq!((packet.source(), packet.destination()), (VTEP, VXLAN_PEER));
        assert!(packet.checksum_ok(), "the kernel fills the checksum");
        assert!(packet.dont_fragment());
        assert_eq!(
            (packet.ttl(), packet.tos()),
            (33, 0xba),
            "as built, not the socket's"
        );
        assert_eq!(packet.payload(), &udp[..]);
        let mut received = [0u8; 2048];
        let (len, from) = vxlan_peer.recv_from(&mut received).unwrap();
        assert_eq!(
            from,
            SocketAddrV4::new(VTEP, 61234).into(),
            "the flow-hash port"
        );
        assert_eq!(&received[..len], &datagram[..]);

        let gre = nvgre(VNI, 9, &inner);
        send_one(&underlay, NVGRE_PEER.into(), &outer(NVGRE_PEER, 47, &gre)).unwrap();
        let packet = gre_peer
            .recv(ARRIVES, |_| true)
            .expect("the NVGRE packet arrives");
        assert_eq!((packet.source(), packet.destination()), (VTEP, NVGRE_PEER));
        assert!(packet.checksum_ok());
        assert_eq!((packet.ttl(), packet.tos()), (33, 0xba));
        assert_eq!(packet.payload(), &gre[..]);

        // Over IPv6 the kernel sends the header exactly as the engine built it (the
        // capture on loopback shows the same bytes), and the UDP checksum the engine
        // computed is one the peer's kernel accepts.
        let lo = Host::on("lo");
        let vxlan_peer6 = UdpSocket::bind(SocketAddrV6::new(VXLAN_PEER6, 4789, 0, 0)).unwrap();
        vxlan_peer6.set_read_timeout(Some(ARRIVES)).unwrap();
        let vni = Vni::new(VNI).unwrap();
        let built = built_by_engine(TunnelConfig::vxlan(vni, VTEP6, VXLAN_PEER6), &inner);
        send_one(&underlay, VXLAN_PEER6.into(), &built).unwrap();
        lo.expect(&built, "the IPv6 VXLAN packet, byte for byte");
        let (len, from) = vxlan_peer6.recv_from(&mut received).unwrap();
        let source_port = u16::from_be_bytes([built[54], built[55]]);
        assert_eq!(from, SocketAddrV6::new(VTEP6, source_port, 0, 0).into());
        assert_eq!(&received[..len], &built[62..], "the VXLAN header onward");

        let gre_peer6 = RawPeer::open(libc::IPPROTO_GRE, NVGRE_PEER6);
        let vsid = Vsid::new(VNI).unwrap();
        let built = built_by_engine(TunnelConfig::nvgre(vsid, VTEP6, NVGRE_PEER6), &inner);
        send_one(&underlay, NVGRE_PEER6.into(), &built).unwrap();
        lo.expect(&built, "the IPv6 NVGRE packet, byte for byte");
        let payload = gre_peer6.recv_bytes(ARRIVES, |_| true);
        assert_eq!(
            payload.as_deref(),
            Some(&built[54..]),
            "the GRE header onward"
        );

        let error = send_one(&underlay, VXLAN_PEER.into(), &[0; 13]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        let stranger = Ipv4Addr::new(10, 99, 0, 9);
        let error = send_one(&underlay, stranger.into(), &built).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound, "not a remote");
        // No IPv6 local address, nothing to send IPv6 with.
        let mut ipv4_only = Underlay::open(Some(VTEP), None, 4790, None, false).unwrap();
        let error = ipv4_only.add_remote(VXLAN_PEER6.into()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::Unsupported);
    });
}

/// `inner` encapsulated by the tunnel engine as `config` says: a whole frame.
fn built_by_engine(config: TunnelConfig, inner: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; HEADROOM + inner.len()];
    buf[HEADROOM..].copy_from_slice(inner);
    let whole = HEADROOM..buf.len();
    let range = Encapsulator::new(config)
        .unwrap()
        .encapsulate(&mut buf, whole)
        .unwrap();
    buf[range].to_vec()
}
