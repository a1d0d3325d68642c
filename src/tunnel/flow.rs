//! The flow hash: ECMP entropy for the VXLAN UDP source port (RFC 7348 section 5) and the
//! NVGRE FlowID (RFC 7637 section 3.2).
//!
//! # The function (stable: "tunnelwire flow hash v2")
//!
//! The key is packed into four 64-bit words, each absent field being zero:
//!
//! ```text
//! w0 = destination MAC (48 bits, big-endian) | EtherType (0 for an 802.3 length) << 48
//! w1 = source MAC                            | VLAN ID (first tag) << 48
//! w2 = IPv4 source << 32 | IPv4 destination
//!      or, for IPv6, digest(source) << 32 | digest(destination)
//! w3 = IP protocol (IPv6: next header) << 32 | source port << 16 | destination port
//!      | IPv6 flow label << 40
//! ```
//!
//! With `fold(a, b)` = the low 64 bits XOR the high 64 bits of the 128-bit product `a * b`:
//!
//! ```text
//! h = fold(w0 ^ K0, w1 ^ K1) ^ fold(w2 ^ K2, w3 ^ K3)
//! hash = fold(h, K4)
//! digest(a) = low 32 bits of (d ^ d >> 32), d = fold(a >> 64 ^ K5, a & (2^64 - 1) ^ K6)
//! ```
//!
//! with the constants below and `a` an IPv6 address as a big-endian 128-bit number. IP
//! addresses and protocol always count; TCP/UDP ports only when they follow the IP header
//! directly and the packet is not an IPv4 fragment, so every fragment of a datagram
//! (later fragments carry no ports; IPv6 fragments stop at the fragment header, whose
//! next-header value they all share) hashes alike. The IPv6 flow label (RFC 6437) counts
//! too, except in the symmetric hash, since the two directions of a flow label it
//! independently.
//!
//! An IEEE 802.3 frame (STP, CDP, LLC) has a length where the EtherType would be: it
//! counts as 0, so the frames of one such flow, which differ in length, hash alike. A
//! stack without Ethernet (an IP payload of Geneve) has no MACs and no EtherType.
//!
//! v2 adds IPv6 to v1; frames that are not IPv6 hash exactly as under v1. The source port is `lo + (hash >> 32) * (hi - lo + 1) >>
//! 32` (a multiply-shift range reduction, even over any range, from the high 32 bits);
//! the FlowID is bits 24-31 of the hash, independent of the bits the port uses.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::packet::{self, Record, Stack, Transport};
use crate::wire::ethernet::MacAddr;
use crate::wire::ethernet::{EtherType, EthernetFrame};
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::Ipv6Packet;
use crate::wire::vlan::VlanTag;
use crate::{Error, ErrorKind, Layer};

const K0: u64 = 0x9e37_79b9_7f4a_7c15;
const K1: u64 = 0xbf58_476d_1ce4_e5b9;
const K2: u64 = 0x94d0_49bb_1331_11eb;
const K3: u64 = 0xd6e8_feb8_6659_fd93;
const K4: u64 = 0xa076_1d64_78bd_642f;
const K5: u64 = 0xe703_7ed1_a0b4_28db;
const K6: u64 = 0x8ebc_6af0_9c88_c6e3;

/// Where the IPv6 flow label sits in w3.
const FLOW_LABEL_SHIFT: u32 = 40;

/// Mask of a MAC address in the low 48 bits of a key word.
const MAC: u64 = 0xffff_ffff_ffff;

/// The fields of a frame that identify its flow, packed as the four words the hash
/// reads (see the module documentation): building a key is a few loads, with no
/// intermediate structure in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    words: [u64; 4],
}

impl FlowKey {
    /// A key from its fields. `ethertype` is the one after the tags, `vlan` the first
    /// tag's VLAN ID (0 without one), `ipv4` the addresses and protocol, `ports` the TCP
    /// or UDP ports (to be left out for fragments).
    #[inline]
    pub fn new(
        dst_mac: MacAddr,
        src_mac: MacAddr,
        ethertype: u16,
        vlan: u16,
        ipv4: Option<(Ipv4Addr, Ipv4Addr, u8)>,
        ports: Option<(u16, u16)>,
    ) -> Self {
        let mac = |m: MacAddr| {
            let b = m.octets();
            u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
        };
        let mut key = FlowKey {
            words: [
                mac(dst_mac) | u64::from(ethertype) << 48,
                mac(src_mac) | u64::from(vlan) << 48,
                0,
                0,
            ],
        };
        if let Some((src, dst, protocol)) = ipv4 {
            key.words[2] = u64::from(u32::from(src)) << 32 | u64::from(u32::from(dst));
            key.words[3] = u64::from(protocol) << 32;
        }
        key.set_ports(ports);
        key
    }

    #[inline]
    fn set_ports(&mut self, ports: Option<(u16, u16)>) {
        if let Some((src, dst)) = ports {
            self.words[3] = self.words[3] & !0xffff_ffff | u64::from(src) << 16 | u64::from(dst);
        }
    }

    /// As [`new`](Self::new), for IPv6: `ipv6` is the addresses, the next header and the
    /// flow label.
    #[inline]
    pub fn new_ipv6(
        dst_mac: MacAddr,
        src_mac: MacAddr,
        vlan: u16,
        ipv6: (Ipv6Addr, Ipv6Addr, u8, u32),
        ports: Option<(u16, u16)>,
    ) -> Self {
        let (src, dst, next_header, flow_label) = ipv6;
        let mut key = Self::new(dst_mac, src_mac, 0x86dd, vlan, None, None);
        key.words[2] = digest(src.to_bits()) << 32 | digest(dst.to_bits());
        key.words[3] =
            u64::from(next_header) << 32 | u64::from(flow_label & 0xf_ffff) << FLOW_LABEL_SHIFT;
        key.set_ports(ports);
        key
    }

    /// The key of a decoded stack.
    #[inline(always)]
    pub fn from_stack(stack: &Stack<'_>) -> Self {
        let mut key = FlowKey::default();
        stack.replay(&mut key);
        key
    }

    /// The key of an Ethernet frame, decoded as far as it goes.
    #[inline]
    pub fn from_frame(frame: &[u8]) -> Self {
        let mut key = FlowKey::default();
        // A malformed header ends the key where it is, as it ends the decode.
        let _ = packet::walk(frame, &mut key);
        key
    }

    /// The key of an IP packet without Ethernet (a Geneve payload of protocol type
    /// `ethertype`, 0x0800 or 0x86DD): no MACs and no EtherType, the rest as for a frame.
    #[inline]
    pub fn from_ip_packet(packet: &[u8], ethertype: EtherType) -> Self {
        let mut key = FlowKey::default();
        // A malformed header ends the key where it is, as it ends the decode.
        let _ = packet::walk_from_ip(packet, ethertype, &mut key);
        key
    }

    /// The same key for both directions: the MACs, and the address-port endpoints, in
    /// ascending order; the IPv6 flow label left out.
    #[inline]
    pub fn symmetric(self) -> Self {
        let [mut w0, mut w1, mut w2, mut w3] = self.words;
        w3 &= !(0xf_ffff << FLOW_LABEL_SHIFT);
        let (dst_mac, src_mac) = (w0 & MAC, w1 & MAC);
        if src_mac > dst_mac {
            w0 = w0 & !MAC | src_mac;
            w1 = w1 & !MAC | dst_mac;
        }
        let src = (w2 >> 32, (w3 >> 16) & 0xffff);
        let dst = (w2 & 0xffff_ffff, w3 & 0xffff);
        if src > dst {
            w2 = w2.rotate_left(32);
            w3 = w3 & !0xffff_ffff | src.1 | dst.1 << 16;
        }
        FlowKey {
            words: [w0, w1, w2, w3],
        }
    }

    /// Hashes the key, or its [`symmetric`](Self::symmetric) form when asked: the one
    /// setting encapsulation and translation share.
    #[inline]
    pub(crate) fn hash_as(self, symmetric: bool) -> FlowHash {
        if symmetric { self.symmetric() } else { self }.hash()
    }

    /// Hashes the key (see the module documentation for the function).
    #[inline]
    pub fn hash(&self) -> FlowHash {
        let [w0, w1, w2, w3] = self.words;
        FlowHash(fold(fold(w0 ^ K0, w1 ^ K1) ^ fold(w2 ^ K2, w3 ^ K3), K4))
    }
}

/// The EtherType as the key holds it: 0 for an IEEE 802.3 length.
#[inline(always)]
fn ethertype_key(ethertype: EtherType) -> u64 {
    // Without a branch: all ones from 1536 on, zero below.
    u64::from(ethertype.0) & u64::from(!ethertype.is_length()).wrapping_neg()
}

/// 32 bits standing for an IPv6 address in the key.
/// The key is built as the decoder walks the stack, read straight from each validated
/// header: 8-byte loads take both MACs (two loads) and both IPv4 addresses (one); going
/// through `MacAddr` and `Ipv4Addr` measured 2 ns slower per frame.
// Cannot overflow or index out of range: fixed offsets inside checked headers.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
impl<'a> Record<'a> for FlowKey {
    #[inline(always)]
    fn ethernet(&mut self, eth: EthernetFrame<&'a [u8]>) {
        // A checked Ethernet view holds at least the 14-byte header.
        let header = eth.into_inner();
        self.words[0] = be64(&header[0..8]) >> 16 | ethertype_key(eth.ethertype()) << 48;
        self.words[1] = be64(&header[4..12]) & MAC;
    }
    #[inline(always)]
    fn vlan(&mut self, index: usize, tag: VlanTag<&'a [u8]>) {
        // The EtherType is the one after the last tag; the VLAN ID the first tag's.
        self.words[0] = self.words[0] & MAC | ethertype_key(tag.ethertype()) << 48;
        if index == 0 {
            self.words[1] |= u64::from(tag.vid().get()) << 48;
        }
    }
    #[inline(always)]
    fn ipv4(&mut self, _at: usize, ip: Ipv4Packet<&'a [u8]>) {
        // Source and destination addresses are bytes 12..20 of a checked header.
        self.words[2] = be64(&ip.into_inner()[12..20]);
        self.words[3] = u64::from(ip.protocol().0) << 32;
    }
    #[inline(always)]
    fn ipv6(&mut self, _at: usize, ip: Ipv6Packet<&'a [u8]>) {
        let header = ip.into_inner();
        let address = |at: usize| {
            (u128::from(be64(&header[at..])) << 64) | u128::from(be64(&header[at + 8..]))
        };
        // Addresses are bytes 8..40 of a checked 40-byte header.
        self.words[2] = digest(address(8)) << 32 | digest(address(24));
        self.words[3] =
            u64::from(ip.next_header().0) << 32 | u64::from(ip.flow_label()) << FLOW_LABEL_SHIFT;
    }
    #[inline(always)]
    fn transport(&mut self, transport: Transport<'a>) {
        // The IP recorder left the ports' 32 bits zero. UDP's ports are its first four
        // bytes, the word as the key packs them: one load.
        let ports = match transport {
            Transport::Udp(udp) => udp
                .into_inner()
                .first_chunk::<4>()
                .map_or(0, |ports| u32::from_be_bytes(*ports)),
            Transport::Tcp { src_port, dst_port } => {
                u32::from(src_port) << 16 | u32::from(dst_port)
            }
        };
        self.words[3] |= u64::from(ports);
    }
}

/// The big-endian u64 at the start of `bytes` (at least 8 bytes long).
#[inline(always)]
#[allow(clippy::indexing_slicing)] // callers pass at least 8 bytes
fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

#[inline]
fn digest(address: u128) -> u64 {
    let d = fold((address >> 64) as u64 ^ K5, address as u64 ^ K6);
    (d ^ d >> 32) & 0xffff_ffff
}

/// Folded multiply: both halves of the 128-bit product, XORed.
#[inline]
// Cannot overflow or index out of range: fixed offsets inside checked headers;
// multiply-shift of 32-bit values in 64 bits.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// A flow's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowHash(pub u64);

impl FlowHash {
    /// A UDP source port inside `range`, the same for every packet of the flow.
    #[inline]
    // Cannot overflow or index out of range: fixed offsets inside checked headers;
    // multiply-shift of 32-bit values in 64 bits.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    pub fn source_port(self, range: PortRange) -> u16 {
        let span = u64::from(range.hi - range.lo) + 1;
        range.lo + (((self.0 >> 32) * span) >> 32) as u16
    }

    /// An NVGRE FlowID.
    #[inline]
    pub const fn flow_id(self) -> u8 {
        (self.0 >> 24) as u8
    }

    /// The bits of an IPv6 flow label.
    pub const FLOW_LABEL_MASK: u32 = 0xf_ffff;

    /// An IPv6 flow label (RFC 6438): 20 bits of the hash, never 0, which means "no
    /// label" (RFC 6437 section 2).
    #[inline]
    pub const fn flow_label(self) -> u32 {
        let label = self.0 as u32 & Self::FLOW_LABEL_MASK;
        label | (label == 0) as u32
    }
}

/// An inclusive range of UDP source ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    lo: u16,
    hi: u16,
}

impl PortRange {
    /// The IANA dynamic range, 49152-65535: the default (RFC 7348 section 5 recommends it).
    pub const DYNAMIC: PortRange = PortRange {
        lo: 49152,
        hi: 65535,
    };
    /// Linux's default ephemeral range, 32768-60999 (`ip_local_port_range`).
    pub const LINUX: PortRange = PortRange {
        lo: 32768,
        hi: 60999,
    };

    /// The ports `lo..=hi`.
    ///
    /// # Errors
    /// `OutOfRange` when `lo > hi`.
    pub const fn new(lo: u16, hi: u16) -> Result<Self, Error> {
        if lo > hi {
            return Err(Error::new(
                Layer::Udp,
                ErrorKind::OutOfRange {
                    field: "source port range low end",
                    value: lo as u32,
                },
            ));
        }
        Ok(PortRange { lo, hi })
    }

    /// Lowest port.
    pub const fn lo(self) -> u16 {
        self.lo
    }

    /// Highest port.
    pub const fn hi(self) -> u16 {
        self.hi
    }
}

impl Default for PortRange {
    /// [`PortRange::DYNAMIC`].
    fn default() -> Self {
        Self::DYNAMIC
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ieee_802_3_frames_of_one_flow_hash_alike_whatever_their_length() {
        // STP: to the bridge group address, the type field a length.
        let stp = |len: u16| {
            let mut frame = std::vec![0x01, 0x80, 0xc2, 0, 0, 0, 0x02, 0, 0, 0, 0, 1];
            frame.extend_from_slice(&len.to_be_bytes());
            frame.resize(14 + usize::from(len), 0x42);
            frame
        };
        let hash = |frame: &[u8]| FlowKey::from_frame(frame).hash();
        assert_eq!(hash(&stp(38)), hash(&stp(39)));
        // A type field of 1536 and up is an EtherType, and counts.
        let mut typed = stp(38);
        typed[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
        assert_ne!(hash(&typed), hash(&stp(38)));
        // Behind a tag too.
        let tagged = |len: u16| {
            let mut frame = stp(len);
            frame.splice(12..12, [0x81, 0x00, 0x00, 0x0a]);
            frame
        };
        assert_eq!(hash(&tagged(38)), hash(&tagged(60)));
        assert_ne!(hash(&tagged(38)), hash(&stp(38)));
    }
}
