//! The packets the tests build (frames, VXLAN and NVGRE payloads) and read (an outer IPv4
//! packet, by byte offsets), and the checks of what the VTEP sent.

use std::net::Ipv4Addr;

/// IEEE 802 local experimental EtherType: no stack answers it.
const EXPERIMENTAL: [u8; 2] = [0x88, 0xb5];

/// An IPv4 packet as the test reads it, by byte offsets of RFC 791 (not the crate's views).
#[derive(Debug)]
pub(crate) struct Ipv4 {
    bytes: Vec<u8>,
}

impl Ipv4 {
    pub(crate) fn parse(bytes: Vec<u8>) -> Ipv4 {
        assert_eq!(bytes[0] >> 4, 4, "not IPv4: {bytes:02x?}");
        Ipv4 { bytes }
    }
    fn header_len(&self) -> usize {
        usize::from(self.bytes[0] & 0x0f) * 4
    }
    pub(crate) fn tos(&self) -> u8 {
        self.bytes[1]
    }
    fn total_len(&self) -> usize {
        usize::from(u16::from_be_bytes([self.bytes[2], self.bytes[3]]))
    }
    pub(crate) fn dont_fragment(&self) -> bool {
        self.bytes[6] & 0x40 != 0
    }
    pub(crate) fn ttl(&self) -> u8 {
        self.bytes[8]
    }
    fn protocol(&self) -> u8 {
        self.bytes[9]
    }
    pub(crate) fn source(&self) -> Ipv4Addr {
        Ipv4Addr::new(
            self.bytes[12],
            self.bytes[13],
            self.bytes[14],
            self.bytes[15],
        )
    }
    pub(crate) fn destination(&self) -> Ipv4Addr {
        Ipv4Addr::new(
            self.bytes[16],
            self.bytes[17],
            self.bytes[18],
            self.bytes[19],
        )
    }
    pub(crate) fn checksum_ok(&self) -> bool {
        internet_checksum(&self.bytes[..self.header_len()]) == 0
    }
    pub(crate) fn payload(&self) -> &[u8] {
        &self.bytes[self.header_len()..]
    }
    /// The UDP source port, destination port, length and checksum, and its payload.
    fn udp(&self) -> (u16, u16, usize, u16, &[u8]) {
        let udp = self.payload();
        let word = |i: usize| u16::from_be_bytes([udp[i], udp[i + 1]]);
        (word(0), word(2), usize::from(word(4)), word(6), &udp[8..])
    }
}

/// RFC 1071: zero over a header whose checksum is right.
pub(crate) fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

pub(crate) fn mac(last: u8) -> [u8; 6] {
    [0x02, 0, 0, 0, 0, last]
}

pub(crate) const BROADCAST: [u8; 6] = [0xff; 6];

/// An Ethernet frame of `len` bytes whose payload says `tag`, so each test frame is unique.
pub(crate) fn frame(dst: [u8; 6], src: [u8; 6], tag: u8, len: usize) -> Vec<u8> {
    let mut frame = Vec::with_capacity(len);
    frame.extend_from_slice(&dst);
    frame.extend_from_slice(&src);
    frame.extend_from_slice(&EXPERIMENTAL);
    frame.extend((0..len - 14).map(|i| tag ^ i as u8));
    frame
}

/// A VXLAN header (RFC 7348: I flag, VNI) and the inner frame.
pub(crate) fn vxlan(vni: u32, inner: &[u8]) -> Vec<u8> {
    let vni = vni.to_be_bytes();
    let mut packet = vec![0x08, 0, 0, 0, vni[1], vni[2], vni[3], 0];
    packet.extend_from_slice(inner);
    packet
}

/// An NVGRE header (RFC 7637: K set, protocol 0x6558, VSID and FlowID) and the inner frame.
pub(crate) fn nvgre(vsid: u32, flow_id: u8, inner: &[u8]) -> Vec<u8> {
    let vsid = vsid.to_be_bytes();
    let mut packet = vec![0x20, 0x00, 0x65, 0x58, vsid[1], vsid[2], vsid[3], flow_id];
    packet.extend_from_slice(inner);
    packet
}

/// Checks a VXLAN packet the VTEP sent: outer IPv4 and UDP, then VXLAN; returns the
/// UDP source port and the inner frame.
pub(crate) fn check_vxlan(packet: &Ipv4, from: Ipv4Addr, to: Ipv4Addr, vni: u32) -> (u16, Vec<u8>) {
    assert_eq!((packet.source(), packet.destination()), (from, to));
    assert_eq!(packet.protocol(), 17);
    assert!(packet.checksum_ok(), "outer IPv4 checksum");
    assert!(packet.dont_fragment(), "VTEPs set DF");
    assert_eq!(packet.total_len(), packet.bytes.len());
    let (source_port, destination_port, len, checksum, payload) = packet.udp();
    assert_eq!(destination_port, 4789);
    assert!(
        (49152..=65535).contains(&source_port),
        "source port {source_port} is outside the flow-hash range"
    );
    assert_eq!(len, packet.payload().len());
    // The engine writes none over IPv4; the UDP socket vtep sends VXLAN through adds
    // one (a segmented send needs it), left to the device to finish: a capture between
    // namespaces shows the pseudo-header's sum, which a NIC (or a receiving kernel that
    // trusts a veth) completes.
    let udp_bytes = packet.payload();
    let pseudo = tunnelwire::checksum::pseudo_header_ipv4(from, to, 17, udp_bytes.len() as u16);
    let sum = tunnelwire::checksum::combine(pseudo, tunnelwire::checksum::sum(udp_bytes));
    assert!(
        checksum == 0 || sum == 0xffff || checksum == pseudo,
        "UDP checksum {checksum:#06x} neither absent, good nor partial"
    );
    assert_eq!(&payload[..8], &vxlan(vni, &[])[..], "VXLAN header");
    (source_port, payload[8..].to_vec())
}

/// Checks an NVGRE packet the VTEP sent; returns the inner frame.
pub(crate) fn check_nvgre(packet: &Ipv4, from: Ipv4Addr, to: Ipv4Addr, vsid: u32) -> Vec<u8> {
    assert_eq!((packet.source(), packet.destination()), (from, to));
    assert_eq!(packet.protocol(), 47);
    assert!(packet.checksum_ok(), "outer IPv4 checksum");
    assert_eq!(packet.total_len(), packet.bytes.len());
    let gre = packet.payload();
    assert_eq!(&gre[..7], &nvgre(vsid, 0, &[])[..7], "NVGRE header");
    gre[8..].to_vec()
}

pub(crate) fn is_vxlan_to(port: u16) -> impl Fn(&Ipv4) -> bool {
    move |packet| packet.protocol() == 17 && packet.udp().1 == port
}

pub(crate) fn carries(inner: &[u8]) -> impl Fn(&Ipv4) -> bool + '_ {
    move |packet| packet.bytes.ends_with(inner)
}
