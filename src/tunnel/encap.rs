//! In-place encapsulation: outer headers written into headroom in front of the frame.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::ops::Range;

use super::Encapsulation;
use super::config::{Dscp, FlowId, TunnelConfig};
use super::ecn::EcnMode;
use super::flow::{FlowHash, FlowKey};
use super::ident::IdentCounter;
use super::inner_vlan;
use super::layout::Inner;
use super::{HEADROOM, NVGRE_OVERHEAD, VXLAN_OVERHEAD};
use crate::checksum;
use crate::packet;
use crate::wire::ethernet::{self, EtherType, EthernetRepr};
use crate::wire::ipv4::{self, IpProtocol, Ipv4Packet, Ipv4Repr};
use crate::wire::nvgre::{self, NvgreHeader, NvgreRepr};
use crate::wire::udp::{self, UdpDatagram, UdpRepr};
use crate::wire::vlan::{self, VlanRepr};
use crate::wire::vxlan::{self, VxlanRepr};
use crate::{Error, ErrorKind, Layer, Result};

/// The outer TOS byte's rule, [`Dscp`] and [`EcnMode`] settled once: the bits it takes
/// from the inner TOS (or traffic class) and the bits it sets. An inner frame that is not
/// IP counts as TOS 0: DSCP 0 under `CopyInner`, Not-ECT (RFC 6040 section 4.1).
#[derive(Debug, Clone, Copy)]
struct OuterTos {
    /// Bits set whatever the inner frame: a fixed DSCP.
    fixed: u8,
    /// Bits copied from the inner TOS: its DSCP under `CopyInner`, its ECN in normal mode.
    copied: u8,
}

impl OuterTos {
    fn new(dscp: Dscp, ecn: EcnMode) -> Self {
        let (fixed, copied_dscp) = match dscp {
            Dscp::Fixed(dscp) => (dscp << 2, 0),
            Dscp::CopyInner => (0, 0xfc),
        };
        let copied_ecn = match ecn {
            EcnMode::Normal => 0x03,
            EcnMode::Compatibility => 0,
        };
        OuterTos {
            fixed,
            copied: copied_dscp | copied_ecn,
        }
    }
}

/// The NVGRE FlowID's rule, [`FlowId`] settled once: the hash's FlowID bits it takes,
/// and the bits it sets.
#[derive(Debug, Clone, Copy)]
struct FlowIdRule {
    /// Bits set whatever the flow: a fixed FlowID.
    fixed: u8,
    /// Bits taken from the flow hash's FlowID: all of them under `FlowId::Hash`.
    hashed: u8,
}

impl FlowIdRule {
    fn new(flow_id: FlowId) -> Self {
        match flow_id {
            FlowId::Hash => FlowIdRule {
                fixed: 0,
                hashed: 0xff,
            },
            FlowId::Fixed(id) => FlowIdRule {
                fixed: id,
                hashed: 0,
            },
        }
    }

    /// The FlowID for a flow with this hash.
    #[inline(always)]
    fn for_hash(self, hash: FlowHash) -> u8 {
        self.fixed | hash.flow_id() & self.hashed
    }
}

/// The per-packet fields of the outer headers.
struct Patch {
    /// DSCP and ECN.
    tos: u8,
    /// Outer IPv4 total length.
    ip_len: u16,
    /// IPv4 header checksum.
    checksum: u16,
    /// The flow's hash: the VXLAN UDP source port or the NVGRE FlowID, worked out by
    /// the layout that writes it.
    hash: FlowHash,
}

/// Encapsulates frames for one tunnel.
///
/// The outer headers are built once, at [`new`](Self::new), into a template; each
/// packet copies the template and patches the few fields that vary (lengths, DSCP/ECN,
/// IPv4 ID, UDP source port or FlowID). The IPv4 checksum is the template's sum plus
/// those fields (RFC 1624 arithmetic), not a fresh sum over the header.
///
/// IPv4 ID policy: with DF set (the default) every packet is an atomic datagram and its
/// ID is 0 (RFC 6864 section 4.1). With DF clear the ID comes from a counter shared by
/// every encapsulator of the process with the same (source, destination, protocol), so
/// IDs stay unique per tuple across encapsulators and clones (RFC 6864 section 4.3).
///
/// ```
/// use core::net::Ipv4Addr;
/// use tunnelwire::tunnel::{Encapsulator, OuterVlan, PortRange, TunnelConfig, HEADROOM};
/// use tunnelwire::wire::{VlanId, Vni};
///
/// let mut config = TunnelConfig::vxlan(Vni::new(42)?, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
/// config.outer_vlan = Some(OuterVlan { vid: VlanId::usable(100)?, pcp: 0 });
/// config.source_ports = PortRange::LINUX;
/// let mut encap = Encapsulator::new(config)?;
/// assert_eq!(encap.overhead(), 54);
///
/// // The inner frame sits behind the headroom; the outer headers go in front of it.
/// let mut buf = vec![0u8; HEADROOM + 64];
/// let frame = encap.encapsulate(&mut buf, HEADROOM..HEADROOM + 64)?;
/// assert_eq!(frame, 0..HEADROOM + 64);
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Encapsulator {
    config: TunnelConfig,
    template: [u8; HEADROOM],
    overhead: usize,
    ip_offset: usize,
    /// Folded sum of the template's IPv4 header, its total length, TOS, ID and checksum
    /// being zero.
    ip_sum: u16,
    /// How the outer TOS byte is made.
    tos: OuterTos,
    /// How the NVGRE FlowID is made.
    flow_id: FlowIdRule,
    /// The settings ask for work after the headers are written ([`finish`](Self::finish)):
    /// DF clear, or a VXLAN UDP checksum.
    finish_after: bool,
    ident: IdentCounter,
}

impl Encapsulator {
    /// Builds the outer-header template for `config`.
    ///
    /// # Errors
    /// As [`TunnelConfig::validate`].
    // Cannot overflow or index out of range: offsets of headers inside the template (54
    // bytes) or the checked buffer.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    pub fn new(config: TunnelConfig) -> Result<Self> {
        config.validate()?;
        let mut template = [0u8; HEADROOM];
        let mut at = 0;
        let ethertype = match config.outer_vlan {
            Some(_) => EtherType::VLAN,
            None => EtherType::IPV4,
        };
        EthernetRepr {
            dst_addr: config.dst_mac,
            src_addr: config.src_mac,
            ethertype,
        }
        .emit(&mut template)?;
        at += ethernet::HEADER_LEN;
        if let Some(tag) = config.outer_vlan {
            VlanRepr {
                pcp: tag.pcp,
                dei: false,
                vid: tag.vid,
                ethertype: EtherType::IPV4,
            }
            .emit(&mut template[at..])?;
            at += vlan::HEADER_LEN;
        }
        let ip_offset = at;
        let protocol = match config.encapsulation {
            Encapsulation::Vxlan(_) => IpProtocol::UDP,
            Encapsulation::Nvgre(_) => IpProtocol::GRE,
        };
        let mut ip = Ipv4Repr::new(config.src_ip, config.dst_ip, protocol, 0);
        ip.ttl = config.ttl;
        ip.dont_frag = config.dont_frag;
        ip.emit(&mut template[at..])?;
        Ipv4Packet::new_unchecked(&mut template[at..]).set_total_len(0);
        at += ipv4::HEADER_LEN;
        match config.encapsulation {
            Encapsulation::Vxlan(vni) => {
                UdpRepr::new(0, config.vxlan_port, 0).emit(&mut template[at..])?;
                UdpDatagram::new_unchecked(&mut template[at..]).set_len(0);
                VxlanRepr::new(vni).emit(&mut template[at + udp::HEADER_LEN..])?;
                at += udp::HEADER_LEN + vxlan::HEADER_LEN;
            }
            Encapsulation::Nvgre(vsid) => {
                NvgreRepr::new(vsid, 0).emit(&mut template[at..])?;
                at += nvgre::HEADER_LEN;
            }
        }
        let ip_sum = checksum::sum(&template[ip_offset..ip_offset + ipv4::HEADER_LEN]);
        Ok(Encapsulator {
            config,
            template,
            overhead: at,
            ip_offset,
            ip_sum,
            tos: OuterTos::new(config.dscp, config.ecn),
            flow_id: FlowIdRule::new(config.flow_id),
            finish_after: !config.dont_frag
                || config.udp_checksum && matches!(config.encapsulation, Encapsulation::Vxlan(_)),
            ident: IdentCounter::for_tuple(config.src_ip, config.dst_ip, protocol.0),
        })
    }

    /// The settings this encapsulator was built with.
    pub fn config(&self) -> &TunnelConfig {
        &self.config
    }

    /// Bytes of outer headers it writes: 42, 46, 50 or 54.
    pub fn overhead(&self) -> usize {
        self.overhead
    }

    /// Encapsulates the Ethernet frame at `buf[inner]` in place: the outer headers go
    /// into the [`overhead`](Self::overhead) bytes in front of it. Returns the range of
    /// the encapsulated frame in `buf`. The inner frame is not copied and nothing is
    /// allocated; under [`InnerVlanPolicy::Strip`](super::InnerVlanPolicy::Strip) (the
    /// default) its VLAN tags are removed by moving its MAC addresses over them.
    ///
    /// # Errors
    /// `Truncated` when `inner` is not inside `buf`; `Headroom` when fewer than
    /// `overhead` bytes precede it; `InnerVlanTag` when the inner frame is tagged and
    /// the policy rejects it (or it has more tags than can be stripped); `ExceedsMtu`
    /// when the outer IPv4 packet would be larger than the underlay MTU (VTEPs must not
    /// fragment).
    // Always inlined, like `Decoder::decode`: a per-packet entry point belongs in the
    // caller's loop, where its result stays in registers and the caller's constants fold
    // (measured: 37 to 98 fewer instructions per packet than a call). A caller that wants
    // one copy of it wraps it in a function of its own.
    #[inline(always)]
    // Cannot overflow or index out of range: offsets of headers inside the template (54
    // bytes) or the checked buffer.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    pub fn encapsulate(&mut self, buf: &mut [u8], inner: Range<usize>) -> Result<Range<usize>> {
        let Some(inner_frame) = buf.get(inner.clone()) else {
            return Err(Error::new(
                Layer::Tunnel,
                ErrorKind::RangeOutsideBuffer {
                    end: inner.end,
                    len: buf.len(),
                },
            ));
        };
        // One walk over the inner stack serves the flow hash, DSCP, ECN and the tags; a
        // malformed header ends it where it is (the frame is a tenant's to send).
        let mut inner_stack = Inner::<FlowKey>::default();
        let _ = packet::walk(inner_frame, &mut inner_stack);
        let key = inner_stack.also;
        let hash = key.hash_as(self.config.symmetric_hash);
        let inner_tos = inner_stack.ip.map_or(0, |ip| ip.tos);
        let strip_len = self.config.inner_vlan.strip_len(inner_stack.tags)?;
        let inner_start = inner.start + strip_len;
        let start = inner_start.checked_sub(self.overhead).ok_or(Error::new(
            Layer::Tunnel,
            ErrorKind::Headroom {
                needed: self.overhead,
                available: inner_start,
            },
        ))?;
        let ip_len = self.overhead - self.ip_offset + (inner.end - inner_start);
        if ip_len > usize::from(self.config.mtu) {
            return Err(Error::new(
                Layer::Tunnel,
                ErrorKind::ExceedsMtu {
                    len: ip_len,
                    mtu: self.config.mtu,
                },
            ));
        }
        let tos = self.tos.fixed | inner_tos & self.tos.copied;
        let sum = checksum::combine(
            checksum::combine(self.ip_sum, ip_len as u16),
            u16::from(tos),
        );
        let patch = Patch {
            tos,
            ip_len: ip_len as u16,
            checksum: checksum::finish(sum),
            hash,
        };
        // Checked: nothing has moved yet, so an error above leaves the frame as it was.
        inner_vlan::strip(buf, inner.start, strip_len);
        // One layout per overhead, so the template copy and every field offset are
        // constants: no `memcpy` call and no bounds check per field.
        match (self.config.encapsulation, self.overhead) {
            (Encapsulation::Vxlan(_), VXLAN_OVERHEAD) => {
                self.write::<VXLAN_OVERHEAD>(buf, inner_start, &patch)
            }
            (Encapsulation::Vxlan(_), _) => self.write::<HEADROOM>(buf, inner_start, &patch),
            (Encapsulation::Nvgre(_), NVGRE_OVERHEAD) => {
                self.write::<NVGRE_OVERHEAD>(buf, inner_start, &patch)
            }
            (Encapsulation::Nvgre(_), _) => {
                self.write::<{ NVGRE_OVERHEAD + vlan::HEADER_LEN }>(buf, inner_start, &patch)
            }
        }
        // With the defaults (DF set, no UDP checksum) nothing follows: one test.
        if self.finish_after {
            self.finish(buf, start..inner.end, sum);
        }
        Ok(start..inner.end)
    }

    /// What follows the outer headers when the settings ask for it: without DF, the IPv4
    /// ID (with its share of the checksum, `sum` being the rest of it; with DF the ID is
    /// the template's 0), and the VXLAN UDP checksum, over the encapsulated `frame`.
    #[inline(always)]
    // Cannot overflow or index out of range: offsets of headers inside the encapsulated
    // frame.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    fn finish(&mut self, buf: &mut [u8], frame: Range<usize>, sum: u16) {
        let ip_at = frame.start + self.ip_offset;
        if !self.config.dont_frag {
            let mut ip = Ipv4Packet::new_unchecked(&mut buf[ip_at..ip_at + ipv4::HEADER_LEN]);
            let ident = self.ident.next();
            ip.set_ident(ident);
            ip.set_checksum(checksum::finish(checksum::combine(sum, ident)));
        }
        if self.config.udp_checksum {
            if let Encapsulation::Vxlan(_) = self.config.encapsulation {
                let l4 = ip_at + ipv4::HEADER_LEN;
                UdpDatagram::new_unchecked(&mut buf[l4..frame.end])
                    .fill_checksum(self.config.src_ip, self.config.dst_ip);
            }
        }
    }

    /// Writes the `N`-byte outer headers just before `buf[inner_start..]`: the template,
    /// patched.
    #[inline(always)]
    // Cannot overflow or index out of range: offsets of headers inside the template (54
    // bytes) or the checked buffer.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    fn write<const N: usize>(&self, buf: &mut [u8], inner_start: usize, patch: &Patch) {
        // The N bytes before the inner frame's start, inside `buf`, and N is at most the
        // template's length: the early returns cannot happen. (Taken as the end of the
        // buffer before `inner_start`, they cost one bounds check: the headroom was
        // checked already.)
        let Some(header) = buf
            .get_mut(..inner_start)
            .and_then(|before| before.last_chunk_mut::<N>())
        else {
            return;
        };
        let Some(template) = self.template.first_chunk::<N>() else {
            return;
        };
        *header = *template;
        // The outer tag, when there is one, makes the layout 4 bytes longer.
        let ip_at = if N == HEADROOM || N == NVGRE_OVERHEAD + vlan::HEADER_LEN {
            ethernet::HEADER_LEN + vlan::HEADER_LEN
        } else {
            ethernet::HEADER_LEN
        };
        let (_, rest) = header.split_at_mut(ip_at);
        let (ip_header, l4) = rest.split_at_mut(ipv4::HEADER_LEN);
        let mut ip = Ipv4Packet::new_unchecked(ip_header);
        ip.set_dscp_ecn(patch.tos >> 2, patch.tos);
        ip.set_total_len(patch.ip_len);
        ip.set_checksum(patch.checksum);
        if N == VXLAN_OVERHEAD || N == HEADROOM {
            let mut udp = UdpDatagram::new_unchecked(l4);
            udp.set_src_port(patch.hash.source_port(self.config.source_ports));
            udp.set_len(patch.ip_len - ipv4::HEADER_LEN as u16);
        } else {
            NvgreHeader::new_unchecked(l4).set_flow_id(self.flow_id.for_hash(patch.hash));
        }
    }

    /// Encapsulates the frame at `frame[inner_start..]` in place; afterwards `frame`
    /// holds exactly the encapsulated frame (the unused headroom is split off, nothing is
    /// copied).
    ///
    /// # Errors
    /// As [`encapsulate`](Self::encapsulate).
    #[cfg(feature = "bytes")]
    #[cfg_attr(docsrs, doc(cfg(feature = "bytes")))]
    pub fn encapsulate_bytes(
        &mut self,
        frame: &mut bytes::BytesMut,
        inner_start: usize,
    ) -> Result<()> {
        use bytes::Buf;
        let end = frame.len();
        let range = self.encapsulate(frame, inner_start..end)?;
        frame.advance(range.start);
        Ok(())
    }
}
