//! The express decode held to the general walk: tunnel frames of every shape the walk
//! decodes, mutated where its tests look, decoded both ways with identical records and
//! errors.

use super::*;
use crate::packet::{Depth, Frame, ReservedPolicy, Stack, TunnelPorts};
use crate::test_rng::Rng;
use crate::wire::ethernet::EtherType;
use crate::wire::ipv6::Ipv6Packet;
use crate::wire::vlan::VlanTag;
use std::vec::Vec;

/// The inner frame's link and IP layers: untagged, or after one or two tags (now and
/// then three); IPv4 without options (most), with options, or IPv6; a fragment now and
/// then; UDP, TCP or ICMP, the lengths consistent; or an ARP frame.
fn inner_frame(rng: &mut Rng) -> Vec<u8> {
    let mut frame = Vec::from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
    for _ in 0..[0, 0, 0, 0, 1, 1, 2, 3][rng.below(8)] {
        frame.extend_from_slice(&[0x81, 0x00, 0, rng.below(200) as u8 + 1]);
    }
    let payload = rng.below(40);
    match rng.below(10) {
        0 => {
            frame.extend_from_slice(&[0x08, 0x06]);
            frame.extend((0..28).map(|_| rng.next() as u8));
        }
        1 => {
            let next = [17, 6, 44][rng.below(3)];
            frame.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, payload as u8, next, 64]);
            frame.extend((0..32).map(|_| rng.next() as u8));
            frame.extend(transport(rng, next, payload));
        }
        _ => {
            let options = if rng.below(8) == 0 { 4 } else { 0 };
            let protocol = [17, 17, 6, 1][rng.below(4)];
            let total = (20 + options + payload) as u16;
            frame.extend_from_slice(&[0x08, 0x00, 0x45 + options as u8 / 4, rng.next() as u8]);
            frame.extend_from_slice(&total.to_be_bytes());
            let flags = [0x40, 0x40, 0x40, 0x20, 0x00][rng.below(5)];
            let offset = if rng.below(10) == 0 { 1 } else { 0 };
            frame.extend_from_slice(&[0, 1, flags, offset, 64, protocol, 0, 0]);
            frame.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, rng.next() as u8]);
            frame.extend((0..options).map(|_| 1));
            frame.extend(transport(rng, protocol, payload));
        }
    }
    frame
}

/// `len` bytes of an IP payload of `protocol`: UDP's length consistent when it fits.
fn transport(rng: &mut Rng, protocol: u8, len: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    if protocol == 17 && len >= 8 {
        bytes[4..6].copy_from_slice(&(len as u16).to_be_bytes());
    }
    bytes
}

/// A tunnel frame: untagged outer Ethernet (now and then tagged), IPv4 without options
/// (now and then with), then VXLAN on 4789 or 8472, NVGRE, or Geneve on 6081 (no
/// options, OVN's, or two; an IP payload now and then), carrying `inner_frame`.
fn tunnel_frame(rng: &mut Rng) -> Vec<u8> {
    let mut inner = inner_frame(rng);
    let mut frame = Vec::from([2, 0, 0, 0, 0, 9, 2, 0, 0, 0, 0, 8]);
    if rng.below(10) == 0 {
        frame.extend_from_slice(&[0x81, 0x00, 0, 7]);
    }
    let options = if rng.below(10) == 0 { 4 } else { 0 };
    let kind = rng.below(3);
    let tunnel = match kind {
        0 => {
            let port: u16 = [4789, 4789, 8472][rng.below(3)];
            let reserved = if rng.below(4) == 0 { 1 } else { 0 };
            let mut header = Vec::from([0xc0, 0x00]);
            header.extend_from_slice(&port.to_be_bytes());
            header.extend_from_slice(&[0, 0, 0, 0, 0x08, 0, 0, reserved]);
            header.extend_from_slice(&(rng.next() as u32).to_be_bytes());
            header
        }
        1 => {
            let mut header = Vec::from([0x20, 0x00, 0x65, 0x58]);
            header.extend_from_slice(&(rng.next() as u32).to_be_bytes());
            header
        }
        _ => {
            let area: &[u8] = [
                &[][..],
                &[1, 2, 0x80, 1, 0, 1, 0, 2][..],
                &[
                    1, 2, 0x80, 1, 0, 1, 0, 2, 1, 8, 1, 2, 7, 7, 7, 7, 7, 7, 7, 7,
                ][..],
            ][rng.below(3)];
            let mut protocol = [0x65, 0x58];
            let ethertype = [inner[12], inner[13]];
            if rng.below(4) == 0 && (ethertype == [0x08, 0x00] || ethertype == [0x86, 0xdd]) {
                protocol = ethertype;
                inner.drain(..14);
            }
            let mut header = Vec::from([0xc0, 0x00, 0x17, 0xc1, 0, 0, 0, 0]);
            header.extend_from_slice(&[area.len() as u8 / 4, 0, protocol[0], protocol[1]]);
            header.extend_from_slice(&(rng.next() as u32).to_be_bytes());
            header.extend_from_slice(area);
            header
        }
    };
    let total = (20 + options + tunnel.len() + inner.len()) as u16;
    frame.extend_from_slice(&[0x08, 0x00, 0x45 + options as u8 / 4, 0]);
    frame.extend_from_slice(&total.to_be_bytes());
    let protocol = if kind == 1 { 47 } else { 17 };
    frame.extend_from_slice(&[0, 1, 0x40, 0, 64, protocol, 0, 0]);
    frame.extend_from_slice(&[10, 99, 0, 1, 10, 99, 0, 2]);
    frame.extend((0..options).map(|_| 1));
    let udp_at = frame.len();
    frame.extend_from_slice(&tunnel);
    if kind != 1 {
        let len = (tunnel.len() + inner.len()) as u16;
        frame[udp_at + 4..udp_at + 6].copy_from_slice(&len.to_be_bytes());
    }
    frame.extend_from_slice(&inner);
    frame
}

/// The test's frames: as built, or (half of them) with up to three bits of their first
/// 110 bytes flipped, one in ten cut short.
fn frames(count: usize) -> impl Iterator<Item = Vec<u8>> {
    let mut rng = Rng(0xdec0_de00_e4b2_0001);
    (0..count).map(move |_| {
        let mut frame = tunnel_frame(&mut rng);
        if rng.below(2) == 0 {
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(110.min(frame.len()));
                frame[at] ^= 1 << rng.below(8);
            }
        }
        if rng.below(10) == 0 {
            frame.truncate(rng.below(frame.len()));
        }
        frame
    })
}

/// The decoders the frames meet: the defaults, and each setting moved (VXLAN's second
/// port and reserved bits refused, a port in both sets).
fn decoders() -> [Decoder; 3] {
    [
        Decoder::default(),
        Decoder {
            vxlan_ports: TunnelPorts::from_slice(&[8472, 4789]).unwrap(),
            vxlan_reserved: ReservedPolicy::Reject,
            ..Decoder::default()
        },
        Decoder {
            geneve_ports: TunnelPorts::from_slice(&[6081, 4789]).unwrap(),
            ..Decoder::default()
        },
    ]
}

/// Where a view lies: its first byte's offset from the frame's, and its length.
fn span(frame: &[u8], view: &[u8]) -> (usize, usize) {
    (view.as_ptr() as usize - frame.as_ptr() as usize, view.len())
}

/// One call a walk made: the method, its offset or index, and where its view lies.
type Call = (&'static str, usize, (usize, usize));

/// Every call a walk makes of a stack's recorder, in order.
struct Calls<'a> {
    frame: &'a [u8],
    calls: Vec<Call>,
}

impl<'a> Record<'a> for Calls<'a> {
    fn start(&mut self, at: usize) {
        self.calls.push(("start", at, (0, 0)));
    }
    fn ethernet(&mut self, eth: EthernetFrame<&'a [u8]>) {
        let span = span(self.frame, eth.into_inner());
        self.calls.push(("ethernet", 0, span));
    }
    fn no_ethernet(&mut self, ethertype: EtherType) {
        self.calls.push(("no_ethernet", ethertype.0.into(), (0, 0)));
    }
    fn tag_follows(&mut self) {
        self.calls.push(("tag_follows", 0, (0, 0)));
    }
    fn vlan(&mut self, index: usize, tag: VlanTag<&'a [u8]>) {
        let span = span(self.frame, tag.into_inner());
        self.calls.push(("vlan", index, span));
    }
    fn ipv4(&mut self, at: usize, ip: Ipv4Packet<&'a [u8]>) {
        let span = span(self.frame, ip.into_inner());
        self.calls.push(("ipv4", at, span));
    }
    fn ipv6(&mut self, at: usize, ip: Ipv6Packet<&'a [u8]>) {
        let span = span(self.frame, ip.into_inner());
        self.calls.push(("ipv6", at, span));
    }
    fn transport(&mut self, transport: Transport<'a>) {
        self.calls.push(match transport {
            Transport::Udp(udp) => ("udp", 0, span(self.frame, udp.into_inner())),
            Transport::Tcp { src_port, dst_port } => ("tcp", 0, (src_port.into(), dst_port.into())),
        });
    }
}

/// Every call a walk makes of a whole frame's recorders; a tunnel whose segment is a
/// multiple of 5 refused, and a frame without a tunnel now and then.
struct FrameCalls<'a> {
    outer: Calls<'a>,
    tunnel: Vec<Call>,
    inner: Calls<'a>,
    refuse_no_tunnel: bool,
}

impl<'a> FrameCalls<'a> {
    fn new(frame: &'a [u8], refuse_no_tunnel: bool) -> Self {
        let calls = || Calls {
            frame,
            calls: Vec::new(),
        };
        FrameCalls {
            outer: calls(),
            tunnel: Vec::new(),
            inner: calls(),
            refuse_no_tunnel,
        }
    }

    /// The calls, in the order the walk made them.
    fn all(self) -> [Vec<Call>; 3] {
        [self.outer.calls, self.tunnel, self.inner.calls]
    }
}

impl<'a> RecordFrame<'a> for FrameCalls<'a> {
    type Outer = Calls<'a>;
    type Inner = Calls<'a>;
    fn outer(&mut self) -> &mut Calls<'a> {
        &mut self.outer
    }
    fn tunnel(&mut self, at: usize, tunnel: Tunnel<'a>) -> Result<()> {
        let view = match tunnel {
            Tunnel::Vxlan(header) => ("vxlan", header.into_inner()),
            Tunnel::Nvgre(header) => ("nvgre", header.into_inner()),
            Tunnel::Geneve(header) => ("geneve", header.into_inner()),
        };
        self.tunnel
            .push((view.0, at, span(self.outer.frame, view.1)));
        if tunnel.segment() % 5 == 0 {
            return Err(crate::Error::new(
                crate::error::Layer::Vxlan,
                crate::error::ErrorKind::NotTunnel,
            ));
        }
        Ok(())
    }
    fn no_tunnel(&mut self) -> Result<()> {
        self.tunnel.push(("no_tunnel", 0, (0, 0)));
        if self.refuse_no_tunnel {
            return Err(crate::Error::new(
                crate::error::Layer::Udp,
                crate::error::ErrorKind::NotTunnel,
            ));
        }
        Ok(())
    }
    fn inner(&mut self) -> &mut Calls<'a> {
        &mut self.inner
    }
}

/// Wherever the express decode takes a frame, whole or to its inner stack, the decoder
/// records and returns what the general walk (the engine's, without shortcuts) does:
/// the same `Frame` and error, the same recorder calls with the same views.
#[test]
fn the_express_decode_is_the_general_walk() {
    let decoders = decoders();
    let (mut taken, mut common, mut tried) = (0, 0, 0);
    for (i, bytes) in frames(60_000).enumerate() {
        for decoder in &decoders {
            tried += 1;
            let mut general = Frame::default();
            let error = decoder
                .walk(&bytes, None, &mut general, Depth::InnerTransport)
                .err();
            assert_eq!(
                decoder.decode_partial(&bytes),
                (general, error),
                "{decoder:?}: {bytes:02x?}"
            );
            let refuse = i % 7 == 0;
            let mut general = FrameCalls::new(&bytes, refuse);
            let error = decoder
                .walk(&bytes, None, &mut general, Depth::InnerTransport)
                .err();
            let mut decoded = FrameCalls::new(&bytes, refuse);
            let decoded_error = decoder.decode_with(&bytes, &mut decoded).err();
            assert_eq!(decoded_error, error, "{decoder:?}: {bytes:02x?}");
            assert_eq!(decoded.all(), general.all(), "{decoder:?}: {bytes:02x?}");
            let mut express = Frame::default();
            if decoder.express_decode(&bytes, &mut express).is_some() {
                taken += 1;
                // The inner stack taken by the express walk too, not the general one.
                common += usize::from(matches!(
                    express.inner,
                    Stack {
                        ethernet: Some(_),
                        vlans: [None, None],
                        ipv4: Some(_),
                        transport: Some(_),
                        ..
                    }
                ));
            }
        }
    }
    // Most frames are taken by the express walk, and many of those fall back to the
    // general walk for their inner stack: neither comparison is vacuous.
    assert!(taken > tried / 4, "{taken} of {tried} taken");
    assert!(
        common > taken / 10 && taken - common > taken / 10,
        "{common} of {taken} wholly express"
    );
}
