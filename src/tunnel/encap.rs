//! In-place encapsulation: outer headers written into headroom in front of the frame.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::net::{IpAddr, Ipv4Addr};
use core::ops::Range;

use super::Encapsulation;
use super::config::TunnelConfig;
use super::express::express_inner;
use super::flow::{FlowHash, FlowKey};
use super::ident::IdentCounter;
use super::inner_vlan;
use super::layout::Inner;
use super::outer_rules::{FlowIdRule, FlowLabelRule, OuterTos};
use super::{MAX_HEADROOM, NVGRE_OVERHEAD, NVGRE6_OVERHEAD, VXLAN_OVERHEAD, VXLAN6_OVERHEAD};
use crate::checksum;
use crate::packet::{self, Depth};
use crate::wire::ethernet::{self, EtherType, EthernetRepr};
use crate::wire::geneve::GeneveRepr;
use crate::wire::ipv4::{self, IpProtocol, Ipv4Packet, Ipv4Repr};
use crate::wire::ipv6::{self, Ipv6Packet, Ipv6Repr};
use crate::wire::nvgre::{self, NvgreHeader, NvgreRepr};
use crate::wire::udp::{self, UdpDatagram, UdpRepr};
use crate::wire::vlan::{self, VlanRepr};
use crate::wire::vxlan::{self, VxlanRepr};
use crate::{Error, ErrorKind, Layer, Result};

/// The per-packet fields of the outer headers.
#[derive(Clone, Copy)]
pub(super) struct Patch {
    /// DSCP and ECN: the IPv4 TOS byte or the IPv6 traffic class.
    pub tos: u8,
    /// Outer IP packet length: IPv4 total length, or IPv6 payload length plus 40.
    pub ip_len: u16,
    /// IPv4 header checksum (unused over IPv6).
    pub checksum: u16,
    /// The flow's hash: the VXLAN UDP source port, the NVGRE FlowID or the IPv6 flow
    /// label, worked out by the layout that writes it.
    pub hash: FlowHash,
}

/// An inner frame checked and measured for encapsulation, nothing moved yet.
pub(super) struct Prepared {
    /// Where the inner frame starts once its tags are stripped.
    pub inner_start: usize,
    /// Bytes of tags to strip at the inner frame's start.
    pub strip_len: usize,
    /// The outer fields of this packet.
    pub patch: Patch,
    /// The IPv4 header's folded sum without the ID (for `finish`).
    pub sum: u16,
}

/// The overhead of Geneve with one option of 4 data bytes (OVN's) over untagged IPv4:
/// VXLAN's, and the option's 8 bytes. No other layout over IPv4 or IPv6 has it but a
/// tagged Geneve header with a data-less option, which `fixed_layout` leaves out.
const GENEVE_ONE_OPTION: usize = VXLAN_OVERHEAD + 8;

/// Encapsulates frames for one tunnel.
///
/// The outer headers are built once, at [`new`](Self::new), into a template; each
/// packet copies the template and patches the few fields that vary (lengths, DSCP/ECN,
/// IPv4 ID, UDP source port, FlowID or IPv6 flow label). The IPv4 checksum is the
/// template's sum plus those fields (RFC 1624 arithmetic), not a fresh sum over the
/// header. Over IPv6 the UDP checksum covers the whole datagram and is computed per
/// packet (RFC 8200 section 8.1), unless the settings send it as zero.
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
/// let inner = HEADROOM..HEADROOM + 64;
/// let frame = encap.encapsulate(&mut buf, inner.clone())?;
/// assert_eq!(frame, inner.start - 54..inner.end);
/// // The VXLAN header, where a UDP socket's payload would start.
/// assert_eq!(encap.tunnel_offset(), 54 - 8);
/// # Ok::<(), tunnelwire::Error>(())
/// ```
///
/// Over IPv6 the same, 20 bytes longer:
///
/// ```
/// use core::net::Ipv6Addr;
/// use tunnelwire::packet::Decoder;
/// use tunnelwire::tunnel::{Encapsulator, TunnelConfig, HEADROOM};
/// use tunnelwire::wire::Vni;
///
/// let (us, them): (Ipv6Addr, Ipv6Addr) = ("fd00::1".parse()?, "fd00::2".parse()?);
/// let mut encap = Encapsulator::new(TunnelConfig::vxlan(Vni::new(42)?, us, them))?;
/// let mut buf = vec![0u8; HEADROOM + 64];
/// buf[HEADROOM..HEADROOM + 12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
/// let frame = encap.encapsulate(&mut buf, HEADROOM..HEADROOM + 64)?;
/// assert_eq!(frame.len(), 70 + 64);
/// let decoded = Decoder::new().decode(&buf[frame])?;
/// let (ip, udp) = (decoded.outer.ipv6.unwrap(), decoded.outer.udp().unwrap());
/// assert_eq!((ip.src_addr(), ip.hop_limit()), (us, 64));
/// assert!(ip.flow_label() != 0); // from the flow hash (RFC 6438)
/// assert!(udp.verify_checksum_ipv6(us, them)); // computed (RFC 8200 section 8.1)
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Encapsulator {
    config: TunnelConfig,
    template: [u8; MAX_HEADROOM],
    overhead: usize,
    /// The overhead when one of the fixed layouts writes the headers (every one but
    /// Geneve with options, whose length no constant names: 0).
    fixed_layout: usize,
    ip_offset: usize,
    /// Where the tunnel header starts: VXLAN's or Geneve's right after UDP, GRE's after
    /// the IP header.
    tunnel_at: usize,
    /// Folded sum of the template's IPv4 header, its total length, TOS, ID and checksum
    /// being zero.
    ip_sum: u16,
    /// How the outer TOS byte (or IPv6 traffic class) is made.
    tos: OuterTos,
    /// How the NVGRE FlowID is made.
    flow_id: FlowIdRule,
    /// How the IPv6 flow label is made.
    flow_label: FlowLabelRule,
    /// The settings ask for work after the headers are written ([`finish`](Self::finish)):
    /// DF clear, or a UDP checksum.
    finish_after: bool,
    /// The VXLAN UDP checksum is sent (not zero).
    udp_checksum: bool,
    /// Folded sum of what the VXLAN UDP checksum covers that never changes: the
    /// pseudo-header's addresses and protocol, the destination port, the VXLAN header.
    udp_sum: u16,
    ident: IdentCounter,
}

impl Encapsulator {
    /// Builds the outer-header template for `config`.
    ///
    /// # Errors
    /// As [`TunnelConfig::validate`].
    // Cannot overflow or index out of range: offsets of headers inside the template (326
    // bytes) or the checked buffer.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    pub fn new(config: TunnelConfig) -> Result<Self> {
        config.validate()?;
        let mut template = [0u8; MAX_HEADROOM];
        let mut at = 0;
        let ip_ethertype = match config.dst_ip {
            IpAddr::V4(_) => EtherType::IPV4,
            IpAddr::V6(_) => EtherType::IPV6,
        };
        let ethertype = match config.outer_vlan {
            Some(_) => EtherType::VLAN,
            None => ip_ethertype,
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
                ethertype: ip_ethertype,
            }
            .emit(&mut template[at..])?;
            at += vlan::HEADER_LEN;
        }
        let ip_offset = at;
        let protocol = match config.encapsulation {
            Encapsulation::Vxlan(_) | Encapsulation::Geneve(_) => IpProtocol::UDP,
            Encapsulation::Nvgre(_) => IpProtocol::GRE,
        };
        let mut ip_sum = 0;
        // IPv6 has no ID field: its placeholder counter is never asked (`finish` takes an
        // ID over IPv4 only).
        let mut ident = IdentCounter::for_tuple(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED, 0);
        match (config.src_ip, config.dst_ip) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let mut ip = Ipv4Repr::new(src, dst, protocol, 0);
                ip.ttl = config.ttl;
                ip.dont_frag = config.dont_frag;
                ip.emit(&mut template[at..])?;
                Ipv4Packet::new_unchecked(&mut template[at..]).set_total_len(0);
                ip_sum = checksum::sum(&template[at..at + ipv4::HEADER_LEN]);
                ident = IdentCounter::for_tuple(src, dst, protocol.0);
                at += ipv4::HEADER_LEN;
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                // Traffic class, flow label and payload length are patched per packet.
                let mut ip = Ipv6Repr::new(src, dst, protocol, 0);
                ip.hop_limit = config.ttl;
                ip.emit(&mut template[at..])?;
                at += ipv6::HEADER_LEN;
            }
            // `validate` refused mixed families.
            _ => return Err(Error::new(Layer::Tunnel, ErrorKind::MixedFamilies)),
        }
        let tunnel_at = match config.encapsulation {
            Encapsulation::Nvgre(_) => at,
            Encapsulation::Vxlan(_) | Encapsulation::Geneve(_) => at + udp::HEADER_LEN,
        };
        match config.encapsulation {
            Encapsulation::Vxlan(vni) => {
                UdpRepr::new(0, config.vxlan_port, 0).emit(&mut template[at..])?;
                UdpDatagram::new_unchecked(&mut template[at..]).set_len(0);
                VxlanRepr::new(vni).emit(&mut template[tunnel_at..])?;
                at = tunnel_at + vxlan::HEADER_LEN;
            }
            Encapsulation::Nvgre(vsid) => {
                NvgreRepr::new(vsid, 0).emit(&mut template[at..])?;
                at += nvgre::HEADER_LEN;
            }
            Encapsulation::Geneve(vni) => {
                UdpRepr::new(0, config.geneve_port, 0).emit(&mut template[at..])?;
                UdpDatagram::new_unchecked(&mut template[at..]).set_len(0);
                let header = GeneveRepr::new(vni, EtherType::TRANSPARENT_ETHERNET_BRIDGING)
                    .with_options(config.geneve_options);
                header.emit(&mut template[tunnel_at..])?;
                at = tunnel_at + header.buffer_len();
            }
        }
        let vxlan = !matches!(config.encapsulation, Encapsulation::Nvgre(_));
        let udp_checksum = vxlan
            && match config.dst_ip {
                IpAddr::V4(_) => config.udp_checksum,
                IpAddr::V6(_) => !config.udp6_zero_checksum_tx,
            };
        let dont_frag = config.dont_frag || config.dst_ip.is_ipv6();
        // The template's UDP and VXLAN or Geneve headers (source port, length and
        // checksum zero; Geneve's options) and the pseudo-header without its length.
        let udp_sum = match (vxlan, config.src_ip, config.dst_ip) {
            (true, IpAddr::V4(src), IpAddr::V4(dst)) => {
                checksum::pseudo_header_ipv4(src, dst, IpProtocol::UDP.0, 0)
            }
            (true, IpAddr::V6(src), IpAddr::V6(dst)) => {
                checksum::pseudo_header_ipv6(src, dst, IpProtocol::UDP.0, 0)
            }
            _ => 0,
        };
        let udp_sum = checksum::combine(
            udp_sum,
            checksum::sum(&template[tunnel_at.saturating_sub(udp::HEADER_LEN)..at]),
        );
        let ovn_shape =
            at == GENEVE_ONE_OPTION && config.outer_vlan.is_none() && config.dst_ip.is_ipv4();
        Ok(Encapsulator {
            config,
            template,
            overhead: at,
            fixed_layout: match config.encapsulation {
                // OVN's shape (one option of 4 data bytes, untagged IPv4) has a layout
                // of its own; other options none.
                Encapsulation::Geneve(_) if !config.geneve_options.is_empty() && !ovn_shape => 0,
                _ => at,
            },
            ip_offset,
            tunnel_at,
            ip_sum,
            tos: OuterTos::new(config.dscp, config.ecn),
            flow_id: FlowIdRule::new(config.flow_id),
            flow_label: FlowLabelRule::new(config.flow_label),
            finish_after: !dont_frag || udp_checksum,
            udp_checksum,
            udp_sum,
            ident,
        })
    }

    /// The settings this encapsulator was built with.
    pub fn config(&self) -> &TunnelConfig {
        &self.config
    }

    /// Bytes of outer headers it writes: 42, 46, 50 or 54 over IPv4 (NVGRE, NVGRE with
    /// an outer VLAN tag, VXLAN or Geneve, VXLAN or Geneve with a tag), 20 more over
    /// IPv6, plus the configured Geneve options.
    pub fn overhead(&self) -> usize {
        self.overhead
    }

    /// Where the tunnel header (VXLAN, Geneve, or GRE for NVGRE) starts in a frame this
    /// encapsulator wrote: what a program that owns its sockets hands to a UDP socket
    /// (VXLAN, Geneve) or a raw GRE socket (NVGRE) starts here. See
    /// [`encapsulate_payload`](Self::encapsulate_payload) to write only that part.
    pub fn tunnel_offset(&self) -> usize {
        self.tunnel_at
    }

    /// Encapsulates the Ethernet frame at `buf[inner]` in place: the outer headers go
    /// into the [`overhead`](Self::overhead) bytes in front of it. Returns the range of
    /// the encapsulated frame in `buf`. The inner frame is not copied and nothing is
    /// allocated; under [`InnerVlanPolicy::Strip`](super::InnerVlanPolicy::Strip) (the
    /// default) its VLAN tags are removed by moving its MAC addresses over them.
    ///
    /// # Errors
    /// `RangeOutsideBuffer` when `inner` is not inside `buf`; `Truncated` (layer
    /// Ethernet) when the inner frame is shorter than an Ethernet header; `Headroom`
    /// when fewer than `overhead` bytes precede it; `InnerVlanTag` when the inner frame
    /// is tagged and the policy rejects it (or it has more tags than can be stripped);
    /// `ExceedsMtu` when the outer IP packet would be larger than the underlay MTU
    /// (VTEPs must not fragment).
    // Always inlined, like `Decoder::decode`: a per-packet entry point belongs in the
    // caller's loop, where its result stays in registers and the caller's constants fold
    // (measured: 37 to 98 fewer instructions per packet than a call). A caller that wants
    // one copy of it wraps it in a function of its own.
    #[inline(always)]
    // Cannot overflow or index out of range: offsets of headers inside the template (74
    // bytes) or the checked buffer.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    pub fn encapsulate(&mut self, buf: &mut [u8], inner: Range<usize>) -> Result<Range<usize>> {
        let prepared = self.prepare(buf, inner.clone(), self.overhead, 0, None)?;
        let inner_start = prepared.inner_start;
        let start = inner_start - self.overhead;
        // Checked: nothing has moved yet, so an error above leaves the frame as it was.
        inner_vlan::strip(buf, inner.start, prepared.strip_len);
        let patch = &prepared.patch;
        // One layout per overhead, so the template copy and every field offset are
        // constants: no `memcpy` call and no bounds check per field. Picked by tunnel
        // first, then overhead: two compares for an untagged IPv4 layout, where a `match`
        // on the overhead alone became a jump table (8 more instructions per packet).
        const VXLAN_TAGGED: usize = VXLAN_OVERHEAD + vlan::HEADER_LEN;
        const NVGRE_TAGGED: usize = NVGRE_OVERHEAD + vlan::HEADER_LEN;
        const VXLAN6_TAGGED: usize = VXLAN6_OVERHEAD + vlan::HEADER_LEN;
        const NVGRE6_TAGGED: usize = NVGRE6_OVERHEAD + vlan::HEADER_LEN;
        // Matched on the overhead itself, which the headroom check bounded: the layouts
        // need no bounds check of their own. Geneve without options has VXLAN's layouts,
        // with OVN's one option its own; with other options, none fixed: decided at
        // construction (`fixed_layout`).
        if let Encapsulation::Nvgre(_) = self.config.encapsulation {
            match self.overhead {
                NVGRE_OVERHEAD => self.write::<NVGRE_OVERHEAD>(buf, inner_start, patch),
                NVGRE_TAGGED => self.write::<NVGRE_TAGGED>(buf, inner_start, patch),
                NVGRE6_OVERHEAD => self.write::<NVGRE6_OVERHEAD>(buf, inner_start, patch),
                _ => self.write::<NVGRE6_TAGGED>(buf, inner_start, patch),
            }
        } else if self.overhead == VXLAN_OVERHEAD {
            // The common layout first, in one compare: a match over five made it a jump
            // table (10 instructions per packet more).
            self.write::<VXLAN_OVERHEAD>(buf, inner_start, patch);
        } else if self.fixed_layout == 0 {
            self.write_any(buf, start, prepared.patch);
        } else {
            match self.overhead {
                VXLAN_TAGGED => self.write::<VXLAN_TAGGED>(buf, inner_start, patch),
                VXLAN6_OVERHEAD => self.write::<VXLAN6_OVERHEAD>(buf, inner_start, patch),
                VXLAN6_TAGGED => self.write::<VXLAN6_TAGGED>(buf, inner_start, patch),
                _ => self.write::<GENEVE_ONE_OPTION>(buf, inner_start, patch),
            }
        }
        // With the defaults over IPv4 (DF set, no UDP checksum) nothing follows: one
        // test.
        if self.finish_after {
            self.finish(buf, start..inner.end, prepared.sum);
        }
        Ok(start..inner.end)
    }

    /// What encapsulation decides before anything moves, for a header of `room` bytes
    /// in front of the inner frame `buf[inner]` (`extra` of them per-packet Geneve
    /// options, past the overhead): its tags, flow hash, outer TOS and length, and the
    /// checks on them. The inner frame is Ethernet, or with `ip` an IP packet of that
    /// EtherType.
    #[inline(always)]
    // Cannot overflow: offsets and lengths inside the checked buffer.
    #[allow(clippy::arithmetic_side_effects)]
    pub(super) fn prepare(
        &self,
        buf: &[u8],
        inner: Range<usize>,
        room: usize,
        extra: usize,
        ip: Option<EtherType>,
    ) -> Result<Prepared> {
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
        // malformed header past Ethernet ends it where it is (the frame is a tenant's to
        // send), but a frame too short for its Ethernet header is no frame at all, and
        // an IP payload without a valid IP header no packet.
        // The common frame (untagged IPv4 without options) by the express walk.
        let mut inner_stack = Inner::<FlowKey>::default();
        let walked = match ip {
            None if express_inner(inner_frame, 0, Depth::InnerTransport, &mut inner_stack) => {
                Ok(())
            }
            None => packet::walk(inner_frame, &mut inner_stack),
            Some(ethertype) => packet::walk_from_ip(inner_frame, ethertype, &mut inner_stack),
        };
        if let Err(error) = walked {
            if !inner_stack.ethernet && inner_stack.ip.is_none() {
                return Err(error);
            }
        }
        let key = inner_stack.also;
        let hash = key.hash_as(self.config.symmetric_hash);
        let inner_tos = inner_stack.ip.map_or(0, |ip| ip.tos);
        let strip_len = self.config.inner_vlan.strip_len(inner_stack.tags)?;
        let inner_start = inner.start + strip_len;
        if inner_start < room {
            return Err(Error::new(
                Layer::Tunnel,
                ErrorKind::Headroom {
                    needed: room,
                    available: inner_start,
                },
            ));
        }
        let ip_len = self.overhead - self.ip_offset + extra + (inner.end - inner_start);
        if ip_len > usize::from(self.config.mtu) {
            return Err(Error::new(
                Layer::Tunnel,
                ErrorKind::ExceedsMtu {
                    len: ip_len,
                    mtu: self.config.mtu,
                },
            ));
        }
        let tos = self.tos.apply(inner_tos);
        let sum = checksum::combine(
            checksum::combine(self.ip_sum, ip_len as u16),
            u16::from(tos),
        );
        Ok(Prepared {
            inner_start,
            strip_len,
            patch: Patch {
                tos,
                ip_len: ip_len as u16,
                checksum: checksum::finish(sum),
                hash,
            },
            sum,
        })
    }

    /// The template's tunnel header (VXLAN, GRE, or Geneve with its options), for
    /// payloads.
    #[inline(always)]
    pub(super) fn tunnel_template(&self) -> &[u8] {
        self.template
            .get(self.tunnel_at..self.overhead)
            .unwrap_or_default()
    }

    /// The NVGRE FlowID for a flow with this hash.
    #[inline(always)]
    pub(super) fn flow_id_for(&self, hash: FlowHash) -> u8 {
        self.flow_id.for_hash(hash)
    }

    /// The IPv6 flow label for a flow with this hash (computed whatever the family).
    #[inline(always)]
    pub(super) fn flow_label_for(&self, hash: FlowHash) -> u32 {
        self.flow_label.for_hash(hash)
    }

    /// What follows the outer headers when the settings ask for it: without DF (IPv4
    /// only), the IPv4 ID (with its share of the checksum, `sum` being the rest of it;
    /// with DF the ID is the template's 0), and the VXLAN UDP checksum, over the
    /// encapsulated `frame`.
    #[inline(always)]
    // Cannot overflow or index out of range: offsets of headers inside the encapsulated
    // frame.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    pub(super) fn finish(&mut self, buf: &mut [u8], frame: Range<usize>, sum: u16) {
        if !self.config.dont_frag && self.config.dst_ip.is_ipv4() {
            let ip_at = frame.start + self.ip_offset;
            let mut ip = Ipv4Packet::new_unchecked(&mut buf[ip_at..ip_at + ipv4::HEADER_LEN]);
            let ident = self.ident.next();
            ip.set_ident(ident);
            ip.set_checksum(checksum::finish(checksum::combine(sum, ident)));
        }
        if self.udp_checksum {
            let inner_at = frame.start + self.overhead;
            let l4 = frame.start + self.tunnel_at - udp::HEADER_LEN;
            let (headers, inner) = buf[..frame.end].split_at_mut(inner_at);
            let mut udp = UdpDatagram::new_unchecked(&mut headers[l4..]);
            let value = self.udp_checksum_for(udp.src_port(), udp.len(), inner);
            udp.set_checksum(value);
        }
    }

    /// The VXLAN UDP checksum of a packet from this source port, of this UDP length,
    /// around the `inner` frame: the template's share (summed once), the packet's fields
    /// (its length twice: in the pseudo-header and the UDP header) and the inner frame,
    /// which starts at an even offset from the UDP header. A computed 0 is sent as all
    /// ones (RFC 768).
    #[inline(always)]
    fn udp_checksum_for(&self, port: u16, udp_len: u16, inner: &[u8]) -> u16 {
        let fields = checksum::combine(port, checksum::combine(udp_len, udp_len));
        let sum = checksum::combine(self.udp_sum, fields);
        match checksum::finish(checksum::combine(sum, checksum::sum(inner))) {
            0 => 0xffff,
            value => value,
        }
    }

    /// Writes the `N`-byte outer headers just before `buf[inner_start..]`: the template,
    /// patched.
    #[inline(always)]
    // Cannot overflow or index out of range: offsets of headers inside the template (74
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
        // N names the layout: IPv6 makes it 20 bytes longer, an outer tag 4, VXLAN 8.
        let v6 = N >= NVGRE6_OVERHEAD;
        let tagged = N == VXLAN_OVERHEAD + vlan::HEADER_LEN
            || N == NVGRE_OVERHEAD + vlan::HEADER_LEN
            || N == VXLAN6_OVERHEAD + vlan::HEADER_LEN
            || N == NVGRE6_OVERHEAD + vlan::HEADER_LEN;
        let vxlan = N == VXLAN_OVERHEAD
            || N == GENEVE_ONE_OPTION
            || N == VXLAN_OVERHEAD + vlan::HEADER_LEN
            || N == VXLAN6_OVERHEAD
            || N == VXLAN6_OVERHEAD + vlan::HEADER_LEN;
        let ip_at = if tagged {
            ethernet::HEADER_LEN + vlan::HEADER_LEN
        } else {
            ethernet::HEADER_LEN
        };
        let ip_header_len = if v6 {
            ipv6::HEADER_LEN
        } else {
            ipv4::HEADER_LEN
        };
        let (_, rest) = header.split_at_mut(ip_at);
        let (ip_header, l4) = rest.split_at_mut(ip_header_len);
        if v6 {
            let label = self.flow_label.for_hash(patch.hash);
            let mut ip = Ipv6Packet::new_unchecked(ip_header);
            ip.set_ver_tc_flow(6 << 28 | u32::from(patch.tos) << 20 | label);
            ip.set_payload_len(patch.ip_len - ipv6::HEADER_LEN as u16);
        } else {
            let mut ip = Ipv4Packet::new_unchecked(ip_header);
            ip.set_dscp_ecn(patch.tos >> 2, patch.tos);
            ip.set_total_len(patch.ip_len);
            ip.set_checksum(patch.checksum);
        }
        if vxlan {
            let mut udp = UdpDatagram::new_unchecked(l4);
            udp.set_src_port(patch.hash.source_port(self.config.source_ports));
            udp.set_len(patch.ip_len - ip_header_len as u16);
        } else {
            NvgreHeader::new_unchecked(l4).set_flow_id(self.flow_id.for_hash(patch.hash));
        }
    }

    /// Writes the outer headers at `buf[start..]`, the template patched, for any layout:
    /// Geneve with options, whose length no constant names.
    #[inline]
    // Cannot overflow or index out of range: offsets of headers inside the template and
    // the checked buffer.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    pub(super) fn write_any(&self, buf: &mut [u8], start: usize, patch: Patch) {
        let header = &mut buf[start..start + self.overhead];
        header.copy_from_slice(&self.template[..self.overhead]);
        let (ip_header, l4) = header[self.ip_offset..].split_at_mut(self.config.ip_header_len());
        if self.config.dst_ip.is_ipv6() {
            let label = self.flow_label.for_hash(patch.hash);
            let mut ip = Ipv6Packet::new_unchecked(ip_header);
            ip.set_ver_tc_flow(6 << 28 | u32::from(patch.tos) << 20 | label);
            ip.set_payload_len(patch.ip_len - ipv6::HEADER_LEN as u16);
        } else {
            let mut ip = Ipv4Packet::new_unchecked(ip_header);
            ip.set_dscp_ecn(patch.tos >> 2, patch.tos);
            ip.set_total_len(patch.ip_len);
            ip.set_checksum(patch.checksum);
        }
        let mut udp = UdpDatagram::new_unchecked(l4);
        udp.set_src_port(patch.hash.source_port(self.config.source_ports));
        udp.set_len(patch.ip_len - self.config.ip_header_len() as u16);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Decoder;
    use crate::tunnel::MAX_HEADROOM;
    use crate::tunnel::OuterVlan;
    use crate::wire::{GeneveOptions, VlanId, Vni};
    use core::net::Ipv6Addr;
    use std::vec;

    /// The VXLAN or Geneve UDP checksum, written from the template's share summed once,
    /// verifies over the whole datagram in every layout that sends one (Geneve without
    /// options, with the template's, with per-packet ones besides), for inner frames of
    /// every length parity, with DF clear over IPv4 too.
    #[test]
    fn udp_checksums_verify_in_every_layout() {
        let mut ovn = GeneveOptions::new();
        ovn.push(0x0102, 0x80, &[0, 1, 0, 2]).unwrap();
        let mut gwlb = GeneveOptions::new();
        gwlb.push(0x0108, 1, &[9; 8]).unwrap();
        gwlb.push(0x0108, 3, &[7; 4]).unwrap();
        let v4 = (
            IpAddr::from(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::from(Ipv4Addr::new(10, 0, 0, 2)),
        );
        let v6: (Ipv6Addr, Ipv6Addr) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
        let v6 = (IpAddr::from(v6.0), IpAddr::from(v6.1));
        for (src, dst) in [v4, v6] {
            for tagged in [false, true] {
                for (len, shape) in [14, 60, 61, 1001]
                    .into_iter()
                    .flat_map(|len| (0..4).map(move |shape| (len, shape)))
                {
                    let vni = Vni::new(77).unwrap();
                    let mut config = match shape {
                        0 => TunnelConfig::vxlan(vni, src, dst),
                        _ => TunnelConfig::geneve(vni, src, dst),
                    };
                    if shape >= 2 {
                        config.geneve_options = ovn;
                    }
                    let per_packet = if shape == 3 { gwlb.as_bytes() } else { &[] };
                    config.udp_checksum = true;
                    config.dont_frag = len % 2 == 0;
                    config.outer_vlan = tagged.then(|| OuterVlan {
                        vid: VlanId::usable(5).unwrap(),
                        pcp: 0,
                    });
                    let mut encapsulator = Encapsulator::new(config).unwrap();
                    let mut buf = vec![0u8; MAX_HEADROOM + len];
                    for (i, byte) in buf[MAX_HEADROOM..].iter_mut().enumerate() {
                        *byte = (i * 7 + 3) as u8;
                    }
                    let inner = MAX_HEADROOM..MAX_HEADROOM + len;
                    let frame = if shape == 3 {
                        encapsulator.encapsulate_with_options(&mut buf, inner, per_packet)
                    } else {
                        encapsulator.encapsulate(&mut buf, inner)
                    }
                    .unwrap();
                    let overhead = encapsulator.overhead() + per_packet.len();
                    assert_eq!(frame.len(), overhead + len);
                    let decoded = Decoder::new().decode(&buf[frame]).unwrap();
                    assert_eq!(decoded.inner.offset, overhead);
                    let tunnel = decoded.tunnel.unwrap();
                    assert_eq!(decoded.tunnel_offset, encapsulator.tunnel_offset());
                    if let crate::packet::Tunnel::Geneve(header) = tunnel {
                        let want = usize::from(shape >= 2) * 8 + per_packet.len();
                        assert_eq!(header.options_len(), want);
                        assert_eq!(header.critical(), shape >= 2);
                    }
                    let udp = decoded.outer.udp().unwrap();
                    assert_ne!(udp.checksum(), 0);
                    let verifies = match (decoded.outer.ipv4, decoded.outer.ipv6) {
                        (Some(ip), _) => {
                            assert!(ip.verify_checksum());
                            udp.verify_checksum(ip.src_addr(), ip.dst_addr())
                        }
                        (_, Some(ip)) => udp.verify_checksum_ipv6(ip.src_addr(), ip.dst_addr()),
                        _ => false,
                    };
                    assert!(verifies, "{src} tagged {tagged} len {len} shape {shape}");
                }
            }
        }
    }
}
