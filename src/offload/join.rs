//! Which frames may be coalesced, and which segment may join which super-frame: the
//! rules [`Coalescer`](super::Coalescer) applies (its module docs list them), apart from
//! the slots it keeps.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use super::frame::{self, Family, Layout, Transport, tcp, udp_field};
use crate::checksum;
use crate::wire::{ipv4, ipv6};

/// The longest IP length a super-frame may reach (IPv4 total length, IPv6 payload length).
pub(crate) const MAX_IP_LEN: usize = u16::MAX as usize;

/// Why a frame was passed on rather than coalesced: a value-free reason to count by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Pass {
    /// Not TCP or UDP over IPv4 or IPv6 behind Ethernet and at most one tag, or
    /// malformed (fragments and IPv6 extension headers included).
    NotTcp,
    /// IPv4 options.
    IpOptions,
    /// SYN, FIN, RST, URG, ECE or CWR set, or ACK clear.
    Flags,
    /// PSH set on a segment that starts no super-frame: it would be one alone.
    Push,
    /// No payload (a pure acknowledgment).
    NoPayload,
    /// The IPv4 header checksum or the TCP or UDP checksum does not verify.
    BadChecksum,
    /// A UDP datagram over IPv4 without a checksum (0): a super-frame would give it one.
    NoChecksum,
    /// Bytes after the IP packet (Ethernet padding).
    Padding,
    /// Longer than a slot.
    TooLong,
}

/// An open super-frame: where its layers are and what the next segment must say.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Open {
    pub layout: Layout,
    /// Bytes of the slot in use.
    pub len: usize,
    /// The first segment's payload length: no later one may be longer.
    pub gso_size: usize,
    /// Segments in it so far.
    pub segments: u16,
    /// The sequence number the next segment must have.
    pub next_seq: u32,
    /// When it was opened, to find the oldest.
    pub opened: u64,
    /// The number of its first segment among the pushed frames.
    pub first: u64,
}

/// A TCP segment or UDP datagram that may be coalesced.
pub(crate) struct Segment<'f> {
    pub frame: &'f [u8],
    pub layout: Layout,
    /// Its sequence number (TCP; 0 for UDP).
    pub seq: u32,
    /// PSH is set: it closes the super-frame it joins (TCP).
    pub psh: bool,
}

/// Reads `frame` as a TCP segment or UDP datagram that may be coalesced, or says why not
/// (with its layout when it is one of a flow); `capacity` is the longest frame a slot
/// takes.
pub(crate) fn classify(
    frame: &[u8],
    capacity: usize,
) -> Result<Segment<'_>, (Pass, Option<Layout>)> {
    let Ok(layout) = frame::parse(frame) else {
        return Err((Pass::NotTcp, None));
    };
    let refuse = |pass| Err((pass, Some(layout)));
    if layout.end != frame.len() {
        return refuse(Pass::Padding);
    }
    let ip = frame.get(layout.l3..layout.l4).unwrap_or_default();
    if layout.family == Family::V4 && ip.len() != ipv4::HEADER_LEN {
        return refuse(Pass::IpOptions);
    }
    let is_tcp = layout.transport == Transport::Tcp;
    let flags = frame
        .get(layout.l4.saturating_add(tcp::FLAGS))
        .copied()
        .unwrap_or(0);
    let forbidden = tcp::SYN | tcp::FIN | tcp::RST | tcp::URG | tcp::ECE | tcp::CWR;
    if is_tcp && (flags & forbidden != 0 || flags & tcp::ACK_FLAG == 0) {
        return refuse(Pass::Flags);
    }
    let udp_checksum = frame::get_u16(frame, frame::shift(udp_field::CHECKSUM, layout.l4));
    if !is_tcp && layout.family == Family::V4 && udp_checksum == 0 {
        return refuse(Pass::NoChecksum);
    }
    if layout.payload_len() == 0 {
        return refuse(Pass::NoPayload);
    }
    // Not bypassed under `cfg(fuzzing)`: a segment merged under a wrong checksum would
    // be vouched for by the super-frame's NEEDS_CSUM.
    let ip_ok = layout.family == Family::V6 || checksum::sum(ip) == 0xffff;
    let transport = frame.get(layout.l4..).unwrap_or_default();
    let pseudo = frame::pseudo_header_sum(frame, &layout, transport.len());
    if !ip_ok || checksum::combine(pseudo, checksum::sum(transport)) != 0xffff {
        return refuse(Pass::BadChecksum);
    }
    if frame.len() > capacity {
        return refuse(Pass::TooLong);
    }
    Ok(Segment {
        frame,
        layout,
        seq: if is_tcp {
            frame::get_u32(frame, frame::shift(tcp::SEQ, layout.l4))
        } else {
            0
        },
        psh: is_tcp && flags & tcp::PSH != 0,
    })
}

/// True when `segment`, of the flow of the open super-frame `open` whose bytes start
/// `head`, may join it in a slot of `capacity` bytes.
pub(crate) fn can_join(head: &[u8], open: &Open, segment: &Segment<'_>, capacity: usize) -> bool {
    let (frame, layout) = (segment.frame, &segment.layout);
    let byte = |bytes: &[u8], at: usize| bytes.get(layout.l3.saturating_add(at)).copied();
    let ip_matches = match layout.family {
        Family::V4 => {
            let dont_frag = byte(frame, 6).is_some_and(|b| b & 0x40 != 0);
            let next_id =
                frame::get_u16(head, frame::shift(4..6, layout.l3)).wrapping_add(open.segments);
            byte(frame, 1) == byte(head, 1)
                && byte(frame, 6).map(|b| b >> 5) == byte(head, 6).map(|b| b >> 5)
                && byte(frame, 8) == byte(head, 8)
                && (dont_frag || frame::get_u16(frame, frame::shift(4..6, layout.l3)) == next_id)
        }
        Family::V6 => {
            frame.get(layout.l3..layout.l3.saturating_add(4))
                == head.get(layout.l3..layout.l3.saturating_add(4))
                && byte(frame, 7) == byte(head, 7)
        }
    };
    // Ack number, data offset, flags but PSH, window: bytes 8 to 16 of the header.
    let tcp_fixed = |bytes: &[u8]| {
        let mut fixed = [0u8; 8];
        if let Some(src) = bytes.get(frame::shift(tcp::ACK.start..tcp::WINDOW.end, layout.l4)) {
            fixed.copy_from_slice(src);
        }
        if let Some(flags) = fixed.get_mut(tcp::FLAGS - tcp::ACK.start) {
            *flags &= !tcp::PSH;
        }
        fixed
    };
    let payload_len = layout.payload_len();
    // Sums of lengths below 2^17: no overflow.
    let ip_len = open
        .len
        .saturating_add(payload_len)
        .saturating_sub(match layout.family {
            Family::V4 => layout.l3,
            Family::V6 => layout.l3.saturating_add(ipv6::HEADER_LEN),
        });
    // UDP: the flow's ports are its whole header but the length and checksum.
    let tcp_matches = layout.transport == Transport::Udp
        || (tcp_fixed(frame) == tcp_fixed(head)
            && frame.get(layout.l4.saturating_add(tcp::HEADER_LEN)..layout.payload)
                == head.get(layout.l4.saturating_add(tcp::HEADER_LEN)..layout.payload)
            && segment.seq == open.next_seq);
    ip_matches
        && open.layout.payload == layout.payload
        && open.layout.transport == layout.transport
        && tcp_matches
        && payload_len <= open.gso_size
        && ip_len <= MAX_IP_LEN
        && open.len.saturating_add(payload_len) <= capacity
        && open.segments < u16::MAX
}

/// What tells a flow apart in a frame: the Ethernet header with its tag, the addresses,
/// the ports.
pub(crate) type FlowKey<'b> = (Option<&'b [u8]>, Option<&'b [u8]>, Option<&'b [u8]>);

/// The flow key of a frame laid out as `layout` says.
pub(crate) fn flow_key<'b>(bytes: &'b [u8], layout: &Layout) -> FlowKey<'b> {
    let addresses = match layout.family {
        Family::V4 => 12..20,
        Family::V6 => 8..40,
    };
    (
        bytes.get(..layout.l3),
        bytes.get(frame::shift(addresses, layout.l3)),
        bytes.get(layout.l4..layout.l4.saturating_add(4)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ethernet, a VLAN tag with `vid`, IPv4, TCP from port 7, 10 payload bytes.
    fn tagged(vid: u8) -> std::vec::Vec<u8> {
        let mut f = std::vec![0u8; 18 + 20 + 20 + 10];
        f[12..16].copy_from_slice(&[0x81, 0x00, 0, vid]);
        f[16..18].copy_from_slice(&[0x08, 0x00]);
        f[18] = 0x45;
        f[21] = 50;
        f[27] = 6;
        f[39] = 7;
        f[50] = 0x50;
        f[51] = tcp::ACK_FLAG;
        f
    }

    #[test]
    fn the_vlan_tag_is_part_of_the_flow() {
        let (a, b) = (tagged(1), tagged(2));
        let layout = frame::parse(&a).unwrap();
        assert_eq!(flow_key(&a, &layout), flow_key(&tagged(1), &layout));
        assert_ne!(flow_key(&a, &layout), flow_key(&b, &layout));
    }

    #[test]
    fn a_bad_checksum_is_refused_with_the_flow_it_belongs_to() {
        // Neither checksum was filled in.
        let f = tagged(1);
        let refused = classify(&f, 1000).err().unwrap();
        assert_eq!(
            refused,
            (Pass::BadChecksum, Some(frame::parse(&f).unwrap()))
        );
        assert_eq!(
            classify(&f, 10).err().unwrap().0,
            Pass::BadChecksum,
            "checked before the length"
        );
    }
}
