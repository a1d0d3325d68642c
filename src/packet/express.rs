//! The express walk of the decoder: the common tunnel frame decoded in straight-line
//! code.
//!
//! Nearly every frame a VTEP meets has one shape: an untagged outer Ethernet header,
//! IPv4 without options and not a fragment, VXLAN on one of the decoder's ports or
//! NVGRE, and an untagged inner Ethernet frame carrying IPv4 without options. For that
//! shape the general walk's generality (tags, options, IPv6, Geneve, each error named and
//! placed) costs more than the checks themselves. [`Decoder::express_fill`] tests it
//! with fixed-offset compares and, when every header passes the checks the general walk
//! makes, fills the frame with the views the general walk would; anything else is left
//! to the general walk, which names whatever error there is.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use super::{Decoder, Frame, ReservedPolicy, Transport, Tunnel};

use crate::wire::ethernet::{EtherType, EthernetFrame};
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::udp::UdpDatagram;
use crate::wire::vxlan::VxlanHeader;
use crate::wire::{geneve, nvgre};

/// The big-endian u16 of two bytes.
#[inline(always)]
fn be16(b: [u8; 2]) -> u16 {
    u16::from_be_bytes(b)
}

/// Untagged Ethernet then IPv4 without options whose total length fits, at the start of
/// `frame`: the IPv4 header and the packet cut at its total length, as the general walk
/// takes them.
#[inline(always)]
// Cannot index out of range: fixed offsets inside arrays.
#[allow(clippy::indexing_slicing)]
fn plain_ipv4(frame: &[u8]) -> Option<(&[u8; 20], &[u8])> {
    let (eth, rest) = frame.split_first_chunk::<14>()?;
    let header: &[u8; 20] = rest.first_chunk()?;
    if be16([eth[12], eth[13]]) != 0x0800 || header[0] != 0x45 {
        return None;
    }
    // 20 <= total length <= what there is.
    let packet = rest.get(..usize::from(be16([header[2], header[3]])))?;
    packet.first_chunk::<20>()?;
    Some((header, packet))
}

/// True for an IPv4 fragment (MF set or an offset): its payload is not decoded.
#[inline(always)]
// Cannot index out of range: fixed offsets inside an array.
#[allow(clippy::indexing_slicing)]
fn fragment(header: &[u8; 20]) -> bool {
    be16([header[6], header[7]]) & 0x3fff != 0
}

/// A first look at where the common shape would have its inner frame: the inner
/// EtherType IPv4 and its first byte 0x45, 12 bytes into the inner frame, after NVGRE
/// (42 bytes into the frame) or UDP and VXLAN (50), or (`geneve`) a Geneve header with
/// the options it announces. Frames of other shapes (tagged or IPv6 inner frames, most
/// malformed ones) leave here, before the outer checks that the general walk would make
/// again; a frame of the common shape always passes.
#[inline(always)]
// Cannot overflow: offsets below 50 + 252.
#[allow(clippy::arithmetic_side_effects)]
pub(crate) fn probe(bytes: &[u8], geneve: bool) -> bool {
    let inner_ip = |inner_at: usize| {
        bytes
            .get(inner_at + 12..)
            .and_then(|rest| rest.first_chunk::<3>())
            == Some(&[8, 0, 0x45])
    };
    match bytes.get(23) {
        Some(47) => inner_ip(42),
        Some(17) => {
            inner_ip(50)
                || geneve
                    && bytes
                        .get(42)
                        .is_some_and(|&first| inner_ip(50 + usize::from(first & 0x3f) * 4))
        }
        _ => false,
    }
}

impl Decoder {
    /// [`fill`](Decoder::fill) of a frame of the common shape into an empty `frame`:
    /// true when it was filled; false, with nothing filled, for any other frame.
    #[inline(always)]
    // Cannot overflow or index out of range: fixed offsets inside arrays, offsets of
    // headers inside the frame.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    pub(super) fn express_fill<'a>(&self, bytes: &'a [u8], frame: &mut Frame<'a>) -> bool {
        if !probe(bytes, true) {
            return false;
        }
        let Some((outer, outer_packet)) = plain_ipv4(bytes) else {
            return false;
        };
        if fragment(outer) {
            return false;
        }
        let payload = &outer_packet[20..];
        let (tunnel, outer_udp, inner, tunnel_at, inner_at) = match outer[9] {
            17 => {
                let Some(head) = payload.first_chunk::<16>() else {
                    return false;
                };
                // UDP's length: room for VXLAN, inside the packet.
                let udp_len = usize::from(be16([head[4], head[5]]));
                let Some(datagram) = payload.get(..udp_len) else {
                    return false;
                };
                if udp_len < 16 {
                    return false;
                }
                let udp = Transport::Udp(UdpDatagram::new_unchecked(datagram));
                let port = be16([head[2], head[3]]);
                // VXLAN first, as the general walk: a port in both sets is VXLAN.
                if self.vxlan_ports.contains(port) {
                    // The I flag; reserved bits as the policy says (a VXLAN-GPE P bit is
                    // a reserved bit to the decoder).
                    if head[8] & 0x08 == 0 {
                        return false;
                    }
                    let vxlan = VxlanHeader::new_unchecked(&datagram[8..]);
                    if self.vxlan_reserved == ReservedPolicy::Reject
                        && vxlan.check_reserved(ReservedPolicy::Reject).is_err()
                    {
                        return false;
                    }
                    (Tunnel::Vxlan(vxlan), Some(udp), &datagram[16..], 42, 50)
                } else if self.geneve_ports.contains(port) {
                    // The header and its options as the general walk checks them; an IP
                    // payload (or another protocol type) is the general walk's.
                    let Ok((inner, geneve)) = geneve::parse(&datagram[8..]) else {
                        return false;
                    };
                    if geneve.protocol() != EtherType::TRANSPARENT_ETHERNET_BRIDGING {
                        return false;
                    }
                    let inner_at = 42 + geneve.header_len();
                    (Tunnel::Geneve(geneve), Some(udp), inner, 42, inner_at)
                } else {
                    return false;
                }
            }
            47 => match nvgre::parse(payload) {
                Ok((inner, header)) => (Tunnel::Nvgre(header), None, inner, 34, 42),
                Err(_) => return false,
            },
            _ => return false,
        };
        let Some((inner_header, inner_packet)) = plain_ipv4(inner) else {
            return false;
        };
        let inner_payload = &inner_packet[20..];
        let transport = if fragment(inner_header) {
            None
        } else {
            match inner_header[9] {
                17 => {
                    // A UDP length that does not fit is the general walk's to report.
                    let Some(udp) = inner_payload.first_chunk::<8>() else {
                        return false;
                    };
                    let len = usize::from(be16([udp[4], udp[5]]));
                    match inner_payload.get(..len) {
                        Some(datagram) if len >= 8 => {
                            Some(Transport::Udp(UdpDatagram::new_unchecked(datagram)))
                        }
                        _ => return false,
                    }
                }
                6 => inner_payload.first_chunk::<4>().map(|p| Transport::Tcp {
                    src_port: be16([p[0], p[1]]),
                    dst_port: be16([p[2], p[3]]),
                }),
                _ => None,
            }
        };
        frame.outer.ethernet = Some(EthernetFrame::new_unchecked(bytes));
        frame.outer.ipv4 = Some(Ipv4Packet::new_unchecked(outer_packet));
        frame.outer.transport = outer_udp;
        frame.tunnel = Some(tunnel);
        frame.tunnel_offset = tunnel_at;
        frame.inner.offset = inner_at;
        frame.inner.ethernet = Some(EthernetFrame::new_unchecked(inner));
        frame.inner.ipv4 = Some(Ipv4Packet::new_unchecked(inner_packet));
        frame.inner.transport = transport;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::TunnelPorts;
    use crate::tunnel::test_frames::frames;

    /// Wherever the express walk decodes a frame, the general walk decodes the same
    /// frame, every view alike; and it takes a good share of the frames.
    #[test]
    fn express_decode_is_the_general_one() {
        let decoders = [
            Decoder::default(),
            Decoder {
                vxlan_reserved: ReservedPolicy::Reject,
                vxlan_ports: TunnelPorts::from_slice(&[8472, 4789]).unwrap(),
                ..Decoder::default()
            },
        ];
        let (mut taken, mut tried) = (0, 0);
        for (buf, range) in frames(20_000) {
            let bytes = &buf[range];
            for decoder in &decoders {
                tried += 1;
                let mut express = Frame::default();
                if !decoder.express_fill(bytes, &mut express) {
                    assert_eq!(express, Frame::default(), "declined, nothing filled");
                    continue;
                }
                taken += 1;
                let mut general = Frame::default();
                assert_eq!(
                    decoder.walk(bytes, &mut general, super::super::Depth::InnerTransport),
                    Ok(())
                );
                assert_eq!(express, general, "{bytes:02x?}");
            }
        }
        assert!(taken > tried / 4, "{taken} of {tried} taken");
    }
}
