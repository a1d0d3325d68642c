//! Socket payloads: the tunnel header onward, with what the socket reported.

use super::*;

/// Whether a socket's report other than two IPv4 addresses is refused: IPv4-mapped
/// addresses (a socket of both families) as the IPv4 ones they stand for, one family, a
/// VTEP source.
#[cold]
#[inline(never)]
fn other_report_refused(src: &IpAddr, dst: &IpAddr) -> bool {
    let (src, dst) = (src.to_canonical(), dst.to_canonical());
    src.is_ipv4() != dst.is_ipv4()
        || match src {
            IpAddr::V4(v4) => martian(u32::from(v4)),
            IpAddr::V6(v6) => martian6(u128::from(v6)),
        }
}

/// What the payload floor returns, as the bench compares it: the payload sent, its UDP
/// source port, its traffic class.
pub type Sent = (Range<usize>, u16, u8);

/// Hand-written receive-to-send through socket payloads with tunnelwire's defaults: the
/// VXLAN payload at `buf[payload]` from `src` to `dst` with outer ECN `ecn` checked as
/// tunnelwire checks it (IPv4-mapped addresses as the IPv4 ones they stand for, one
/// family, a VTEP source; I flag, VXLAN-GPE, an untagged inner Ethernet header; RFC 6040
/// into an inner IPv4 header), then its inner frame given the VXLAN header `header`
/// towards the next VTEP over IPv4 (headroom, the MTU of the whole outer packet, the flow
/// hash for the source port, the inner ECN copied; no flow label over IPv4).
#[inline(always)]
pub fn payload(
    buf: &mut [u8],
    payload: Range<usize>,
    src: &IpAddr,
    dst: &IpAddr,
    ecn: u8,
    header: &[u8; 8],
    mtu: usize,
) -> Option<Sent> {
    // Both addresses IPv4 (what most sockets report) in line, any other report apart,
    // first: the cold call then clobbers no header value. By reference: the cold path
    // reads the addresses where they are, not from copies.
    let martian_source = match (src, dst) {
        (IpAddr::V4(v4), IpAddr::V4(_)) => martian(u32::from(*v4)),
        _ => other_report_refused(src, dst),
    };
    // Everything read and written through the payload's slice: no bounds check of
    // its own for the header written.
    let bytes = buf.get_mut(payload.clone())?;
    let (_, flags, next_protocol, _) = vxlan(bytes)?;
    if martian_source || vxlan_gpe_refused(flags, next_protocol) {
        return None;
    }
    let inner = &mut bytes[8..];
    // RFC 6040 into the inner IP header as decapsulation does (an inner IPv4 header
    // whose ECN is the outer one already tested before the header is); tags refused;
    // the inner Ethernet header whole.
    ethernet_alarm(inner, ecn)?;
    let (hash, tos) = flow_hash(inner)?;
    if 20 + 16 + inner.len() > mtu {
        return None;
    }
    let at: &mut [u8; 8] = bytes.first_chunk_mut().unwrap();
    *at = *header;
    Some((payload, source_port(hash), tos & 0x03))
}
