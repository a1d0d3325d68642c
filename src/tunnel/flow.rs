//! The flow hash: ECMP entropy for the VXLAN UDP source port (RFC 7348 section 5) and the
//! NVGRE FlowID (RFC 7637 section 3.2).
//!
//! # The function (stable: "tunnelwire flow hash v1")
//!
//! The key is packed into four 64-bit words, each absent field being zero:
//!
//! ```text
//! w0 = destination MAC (48 bits, big-endian) | EtherType << 48
//! w1 = source MAC                            | VLAN ID (first tag) << 48
//! w2 = IPv4 source << 32 | IPv4 destination
//! w3 = IP protocol << 32 | source port << 16 | destination port
//! ```
//!
//! With `fold(a, b)` = the low 64 bits XOR the high 64 bits of the 128-bit product `a * b`:
//!
//! ```text
//! h = fold(w0 ^ K0, w1 ^ K1) ^ fold(w2 ^ K2, w3 ^ K3)
//! hash = fold(h, K4)
//! ```
//!
//! with the constants below. IPv4 addresses and protocol always count; TCP/UDP ports only
//! when the packet is not a fragment, so every fragment of a datagram (later fragments
//! carry no ports) hashes alike. The source port is `lo + (hash >> 32) * (hi - lo + 1) >>
//! 32` (a multiply-shift range reduction, even over any range, from the high 32 bits);
//! the FlowID is bits 24-31 of the hash, independent of the bits the port uses.

use core::net::Ipv4Addr;

use crate::packet::Stack;
use crate::wire::ethernet::MacAddr;
use crate::{Error, ErrorKind, Layer};

const K0: u64 = 0x9e37_79b9_7f4a_7c15;
const K1: u64 = 0xbf58_476d_1ce4_e5b9;
const K2: u64 = 0x94d0_49bb_1331_11eb;
const K3: u64 = 0xd6e8_feb8_6659_fd93;
const K4: u64 = 0xa076_1d64_78bd_642f;

/// The fields of an inner frame that identify its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    /// Destination MAC.
    pub dst_mac: MacAddr,
    /// Source MAC.
    pub src_mac: MacAddr,
    /// EtherType after the tags.
    pub ethertype: u16,
    /// VLAN ID of the first tag (0 without one).
    pub vlan: u16,
    /// IPv4 source and destination, and protocol.
    pub ipv4: Option<(Ipv4Addr, Ipv4Addr, u8)>,
    /// TCP or UDP ports (absent for fragments).
    pub ports: Option<(u16, u16)>,
}

impl FlowKey {
    /// The key of a decoded stack.
    #[inline]
    pub fn from_stack(stack: &Stack<'_>) -> Self {
        let mut key = FlowKey::default();
        if let Some(eth) = stack.ethernet {
            key.dst_mac = eth.dst_addr();
            key.src_mac = eth.src_addr();
        }
        key.ethertype = stack.ethertype().map_or(0, |t| t.0);
        key.vlan = stack.vlans[0].map_or(0, |tag| tag.vid().get());
        key.ipv4 = stack
            .ipv4
            .map(|ip| (ip.src_addr(), ip.dst_addr(), ip.protocol().0));
        key.ports = stack.ports();
        key
    }

    /// The key of an Ethernet frame, decoded as far as it goes.
    #[inline]
    pub fn from_frame(frame: &[u8]) -> Self {
        Self::from_stack(&Stack::decode(frame).0)
    }

    /// The same key for both directions: MACs, and address-port endpoints, in order.
    #[inline]
    pub fn symmetric(mut self) -> Self {
        if self.src_mac > self.dst_mac {
            core::mem::swap(&mut self.src_mac, &mut self.dst_mac);
        }
        if let Some((src, dst, proto)) = self.ipv4 {
            let (sport, dport) = self.ports.unwrap_or((0, 0));
            if (src, sport) > (dst, dport) {
                self.ipv4 = Some((dst, src, proto));
                self.ports = self.ports.map(|(s, d)| (d, s));
            }
        }
        self
    }

    /// Hashes the key (see the module documentation for the function).
    #[inline]
    pub fn hash(&self) -> FlowHash {
        let mac = |m: MacAddr| {
            let b = m.octets();
            u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
        };
        let w0 = mac(self.dst_mac) | u64::from(self.ethertype) << 48;
        let w1 = mac(self.src_mac) | u64::from(self.vlan) << 48;
        let (w2, proto) = self.ipv4.map_or((0, 0), |(src, dst, proto)| {
            (
                u64::from(u32::from(src)) << 32 | u64::from(u32::from(dst)),
                proto,
            )
        });
        let (sport, dport) = self.ports.unwrap_or((0, 0));
        let w3 = u64::from(proto) << 32 | u64::from(sport) << 16 | u64::from(dport);
        FlowHash(fold(fold(w0 ^ K0, w1 ^ K1) ^ fold(w2 ^ K2, w3 ^ K3), K4))
    }
}

/// Folded multiply: both halves of the 128-bit product, XORed.
#[inline]
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
    pub fn source_port(self, range: PortRange) -> u16 {
        let span = u64::from(range.hi - range.lo) + 1;
        range.lo + (((self.0 >> 32) * span) >> 32) as u16
    }

    /// An NVGRE FlowID.
    #[inline]
    pub fn flow_id(self) -> u8 {
        (self.0 >> 24) as u8
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

/// Hashes an Ethernet frame's flow: [`FlowKey::from_frame`] then [`FlowKey::hash`],
/// made symmetric first when asked.
#[inline]
pub fn hash_frame(frame: &[u8], symmetric: bool) -> FlowHash {
    let key = FlowKey::from_frame(frame);
    if symmetric { key.symmetric() } else { key }.hash()
}
