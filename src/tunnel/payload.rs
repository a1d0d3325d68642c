//! Socket payloads: the tunnel header onward, as a UDP socket (VXLAN) or a raw GRE
//! socket (NVGRE) hands them to a program that owns its sockets, and as it sends them.
//!
//! The kernel has taken the outer IP and UDP headers off (and verified their checksums);
//! what it reports of them (the peer's address, the local address, the outer ECN from
//! `IP_RECVTOS` / `IPV6_RECVTCLASS`) comes in as a [`SocketOuter`]. Decapsulation then
//! runs the same checks as on a whole frame, from the same code: the VTEP-source policy,
//! the tunnel header's (VSID, VXLAN-GPE), the inner frame's, RFC 6040's ECN.
//!
//! ```
//! use core::net::{IpAddr, Ipv4Addr};
//! use tunnelwire::packet::TunnelKind;
//! use tunnelwire::tunnel::{
//!     DecapConfig, Decapsulator, Encapsulator, SocketOuter, SourcePolicy, TunnelConfig, HEADROOM,
//! };
//! use tunnelwire::tunnel::ecn::Ecn;
//! use tunnelwire::wire::Vni;
//!
//! let (us, peer) = (Ipv4Addr::LOCALHOST, Ipv4Addr::new(127, 0, 0, 2));
//! let mut config = TunnelConfig::vxlan(Vni::new(42)?, us, peer);
//! config.sources = SourcePolicy::AllowLoopback; // both ends on `lo`
//! let mut encap = Encapsulator::new(config)?;
//!
//! // Sending: the VXLAN header goes in front of the frame; the UDP socket adds the rest.
//! let mut buf = [0u8; HEADROOM + 60];
//! buf[HEADROOM..HEADROOM + 12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
//! let sent = encap.encapsulate_payload(&mut buf, HEADROOM..HEADROOM + 60)?;
//! assert_eq!(sent.payload.len(), 8 + 60);
//! let source_port = sent.source_port.unwrap(); // bind or send from this port (ECMP)
//! assert!((49152..=65535).contains(&source_port));
//!
//! // Receiving what a UDP socket gave, with the addresses it reported.
//! let decap = Decapsulator::new(DecapConfig { sources: SourcePolicy::AllowLoopback, ..DecapConfig::default() });
//! let outer = SocketOuter { src: IpAddr::V4(us), dst: IpAddr::V4(peer), ecn: Ecn::NotEct };
//! let found = decap.decapsulate_payload(&mut buf[sent.payload], TunnelKind::Vxlan, &outer)?;
//! assert_eq!((found.segment(), found.inner), (42, 8..68));
//! # Ok::<(), tunnelwire::Error>(())
//! ```

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::net::{IpAddr, Ipv4Addr};
use core::ops::Range;

use super::config::{check_source, check_source_v4, check_vsid};
use super::decap::{DecapConfig, Decapsulated, Decapsulator, Examined};
use super::ecn::Ecn;
use super::encap::{Encapsulator, GENEVE_ONE_OPTION, Path, Walked};
use super::express::{express_inner, untagged};
use super::geneve::{UnderstoodOptions, common_options_len};
use super::inner_vlan;
use super::layout::Inner;
use super::layout::OuterFacts;
use super::receive::{Accepted, GeneveChecks, ReceivePolicy, Received, Underlay};
use super::{NVGRE_OVERHEAD, NVGRE6_OVERHEAD, TUNNEL_HEADER_LEN, TunnelKind};
use super::{VXLAN_OVERHEAD, VXLAN6_OVERHEAD};
use crate::packet::{Depth, Record, Tunnel};
use crate::wire::geneve::{self, GeneveHeader};
use crate::wire::nvgre::{self, NvgreHeader};
use crate::{AddressField, Error, ErrorKind, Layer, Result};

/// What a socket reports of the outer packet a payload came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SocketOuter {
    /// The peer's address: the sending VTEP (`recvfrom`'s address). An IPv4-mapped
    /// IPv6 address, as a socket of both families reports an IPv4 peer, stands for the
    /// IPv4 address.
    pub src: IpAddr,
    /// The local address the packet was sent to (`IP_PKTINFO` / `IPV6_PKTINFO`, or the
    /// address the socket is bound to).
    pub dst: IpAddr,
    /// The outer ECN field (the low two bits of `IP_RECVTOS` / `IPV6_RECVTCLASS`;
    /// `Ecn::NotEct` when the socket does not report it).
    pub ecn: Ecn,
}

impl SocketOuter {
    /// What decapsulation reports of the outer packet, for the report most sockets give
    /// (both addresses IPv4), its source checked under `policy`; `None` for any other
    /// report. [`other_facts`](Self::other_facts) comes to the same for this one: here it
    /// is without the canonical forms and the family test (the payload path measured 238
    /// instructions per packet through `other_facts` alone, 232 with this first).
    #[inline(always)]
    fn ipv4_facts(&self, policy: ReceivePolicy) -> Option<Result<OuterFacts>> {
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (self.src, self.dst) else {
            return None;
        };
        // New addresses from the four bytes, not copies of the reported ones: a copy
        // carries the `IpAddr`'s 12 bytes past an IPv4 address, which the optimiser
        // wrote to the stack in pieces and read back as words (payload: 211 instructions
        // per packet and 1.31-1.32 times its floor's time with copies, 203 and 1.20-1.23
        // so).
        let facts = OuterFacts {
            src: IpAddr::V4(Ipv4Addr::from_bits(src.to_bits())),
            dst: IpAddr::V4(Ipv4Addr::from_bits(dst.to_bits())),
            ecn: self.ecn,
        };
        Some(check_source_v4(AddressField::OuterSource, src, policy.sources).map(|()| facts))
    }

    /// What decapsulation reports of the outer packet, for any report, its families and
    /// source checked under `policy`. Out of line and cold: the bytes of the addresses
    /// it reads (IPv6, mapped addresses) were loaded and spilled for every packet,
    /// wherever it was inlined (payload 229 -> 206 instructions per packet).
    #[cold]
    #[inline(never)]
    fn other_facts(&self, policy: ReceivePolicy) -> Result<OuterFacts> {
        // A socket of both families (bound to [::]) reports IPv4 peers as IPv4-mapped
        // addresses (::ffff:a.b.c.d): the packet was IPv4, judged and reported as such.
        let facts = OuterFacts {
            src: self.src.to_canonical(),
            dst: self.dst.to_canonical(),
            ecn: self.ecn,
        };
        // One packet has one family: a report of two is the caller's mistake.
        if facts.src.is_ipv4() != facts.dst.is_ipv4() {
            return Err(Error::new(Layer::Tunnel, ErrorKind::MixedFamilies));
        }
        check_source(AddressField::OuterSource, facts.src, policy.sources)?;
        Ok(facts)
    }
}

/// A socket payload has no outer stack to walk.
impl Record<'_> for &SocketOuter {}

/// The outer packet as the socket reported it: the kernel checked its headers and
/// checksums, so what is left is the source policy. Taken by reference: the walk that
/// carries it holds a pointer, where the 35-byte value (two `IpAddr` of alignment 1)
/// was split into its bytes, copied and spilled one by one (the payload path measured
/// 325 instructions per packet by value, 259 by reference).
impl Underlay<'_> for &SocketOuter {
    type Header = ();

    #[inline(always)]
    fn accept(&self, _at: usize, policy: ReceivePolicy) -> Result<((), OuterFacts)> {
        // Returned from inside the `if`: a `match` of both results measured 210
        // instructions per packet against 204.
        if let Some(facts) = self.ipv4_facts(policy) {
            return facts.map(|facts| ((), facts));
        }
        self.other_facts(policy).map(|facts| ((), facts))
    }

    // The walk of a payload starts at its tunnel header: never called.
    #[cold]
    fn no_tunnel(&self) -> Error {
        super::no_tunnel(None, None, 0)
    }
}

impl Decapsulator {
    /// Decapsulates a socket payload: `payload` starts with the `kind` tunnel header
    /// (the VXLAN header a UDP socket gives, or the GRE header after the IP header a raw
    /// GRE socket gives), and `outer` says what the socket reported of the outer packet.
    /// The checks, the ECN combination and the result are those of
    /// [`decapsulate`](Self::decapsulate), minus what the kernel already did (IP and UDP
    /// headers and checksums); offsets and the inner range count from `payload[0]`.
    ///
    /// # Errors
    /// As [`decapsulate`](Self::decapsulate): `BadAddress` for a peer that cannot be a
    /// VTEP under [`sources`](DecapConfig::sources), a malformed tunnel header or inner
    /// Ethernet header, `ReservedVsid`, VXLAN-GPE's refusals, `InnerVlanTag`, `EcnDrop`.
    #[inline(always)]
    pub fn decapsulate_payload(
        &self,
        payload: &mut [u8],
        kind: TunnelKind,
        outer: &SocketOuter,
    ) -> Result<Decapsulated> {
        // `outer` by reference: taken by value, the caller's report was copied to the
        // stack before the walk (the cold check of other families reads it through a
        // pointer, and the payload's writes might have reached the caller's copy): the
        // payload path measured 202.9 instructions per packet and 1.28-1.34 times its
        // floor's time so, 200.2 and 1.25-1.27 by reference.
        // The settings read per packet, whatever path the decapsulator chose: a program
        // relaying payloads has an encapsulator's path choice in the same loop, and the
        // two choices together cost the loop its registers (the payload path measured
        // 311 instructions per packet with this one, 242 without).
        let config = self.config();
        let found = config.examine_payload(payload, kind, outer, &config.geneve_understood)?;
        Ok(found.rewrite(payload))
    }

    /// [`decapsulate_payload`](Self::decapsulate_payload) without changing a byte, as
    /// [`inspect`](Self::inspect) is to [`decapsulate`](Self::decapsulate).
    ///
    /// # Errors
    /// As [`decapsulate_payload`](Self::decapsulate_payload).
    #[inline]
    pub fn inspect_payload(
        &self,
        payload: &[u8],
        kind: TunnelKind,
        outer: &SocketOuter,
    ) -> Result<Decapsulated> {
        let config = self.config();
        config
            .examine_payload(payload, kind, outer, &config.geneve_understood)
            .map(Examined::found)
    }
}

impl DecapConfig {
    /// [`DecapConfig::examine`] of a socket payload: the common payload by the express
    /// walk, any other, and every error, by the general one.
    #[inline(always)]
    fn examine_payload(
        &self,
        payload: &[u8],
        kind: TunnelKind,
        outer: &SocketOuter,
        understood: &UnderstoodOptions,
    ) -> Result<Examined> {
        if let Some(examined) = self.express_payload(payload, kind, outer, understood) {
            return examined;
        }
        // The general walk in place: in a function of its own, however inlined, the
        // payload path measured 213 instructions per packet against 204.
        let mut received = Received::<(), &SocketOuter>::new(self.policy(), outer);
        let error = self
            .decoder
            .walk_payload(payload, kind, &mut received, Depth::InnerIp)
            .err();
        self.conclude(&received, error, understood)
    }

    /// The express walk of a payload (as `Decoder::express` of a whole frame): a VXLAN
    /// header without VXLAN-GPE's P bit, an NVGRE header, or Geneve's common header
    /// (an Ethernet payload, and no options or the first of `understood` alone), the
    /// socket's report IPv4 and accepted, an untagged inner Ethernet frame, all recorded
    /// as the general walk records them and concluded; `None` for any other payload (the
    /// general walk then decides). The inner IP header is walked only where RFC 6040 has
    /// something to do (ECN combined and an outer ECN not Not-ECT), and only without
    /// options; with none to do, the inner frame counts to its Ethernet header. Measured
    /// 232 -> 229 instructions per packet on the payload path (the addresses' other
    /// checks still inlined), 204 in the end. The general walk stays inlined after it:
    /// out of line, its result came back through memory (276). Geneve's payloads were
    /// all the general walk's until stop 44: a throwaway loop of `decapsulate_payload`
    /// under callgrind, Geneve without options 161 -> 39 instructions per payload, with
    /// OVN's option 189 -> 50.
    #[inline(always)]
    fn express_payload(
        &self,
        payload: &[u8],
        kind: TunnelKind,
        outer: &SocketOuter,
        understood: &UnderstoodOptions,
    ) -> Option<Result<Examined>> {
        let (&[flags, ..], after_header) = payload.split_first_chunk::<TUNNEL_HEADER_LEN>()?;
        // The tunnel, the inner frame and its offset in the payload.
        let (tunnel, inner_frame, offset) = match kind {
            TunnelKind::Vxlan => (
                Tunnel::Vxlan(self.decoder.express_vxlan(flags, payload)?),
                after_header,
                TUNNEL_HEADER_LEN,
            ),
            TunnelKind::Nvgre => {
                let (_, nvgre) = nvgre::parse(payload).ok()?;
                check_vsid(nvgre.vsid()).ok()?;
                (Tunnel::Nvgre(nvgre), after_header, TUNNEL_HEADER_LEN)
            }
            // The receiver's checks made by the same tests (the O bit clear, no critical
            // option but a declared one): the general walk's of any other header.
            TunnelKind::Geneve => {
                let options_len = payload
                    .first_chunk()
                    .and_then(|head| common_options_len(head, understood))?;
                let offset = geneve::HEADER_LEN.checked_add(options_len)?;
                let header = GeneveHeader::new_unchecked(payload);
                (Tunnel::Geneve(header), payload.get(offset..)?, offset)
            }
        };
        let facts = outer.ipv4_facts(self.policy())?.ok()?;
        let mut inner = Inner::<()>::default();
        if self.apply_ecn && outer.ecn != Ecn::NotEct {
            if !express_inner(inner_frame, offset, Depth::InnerIp, &mut inner) {
                return None;
            }
        } else if !untagged(inner_frame, offset, &mut inner) {
            return None;
        }
        let received = Received {
            policy: self.policy(),
            outer,
            accepted: Some(Accepted {
                tunnel,
                header: (),
                outer: facts,
                inner_len: inner_frame.len(),
                at: 0,
            }),
            inner,
        };
        Some(self.conclude_with(&received, None, GeneveChecks::Made))
    }
}

/// What a program sending an encapsulated payload needs besides its bytes. The outer
/// IP and UDP headers are the socket's to write, so the settings about them (DF, the UDP
/// checksum over IPv4 or IPv6) are the socket's too (`IP_MTU_DISCOVER`,
/// `UDP_NO_CHECK6_TX`); likewise on receive, the kernel has checked the checksums.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PayloadHeaders {
    /// Where the payload (the tunnel header onward) lies in the buffer.
    pub payload: Range<usize>,
    /// VXLAN: the UDP source port of this flow (RFC 7348 section 5's ECMP entropy), to
    /// send from. `None` for NVGRE, whose FlowID is already in the GRE header.
    pub source_port: Option<u16>,
    /// The outer DSCP and ECN (RFC 6040 copy) as the IPv4 TOS byte or the IPv6 traffic
    /// class, for `IP_TOS` / `IPV6_TCLASS`.
    pub traffic_class: u8,
    /// The IPv6 flow label of this flow (RFC 6438), for `IPV6_FLOWINFO`; 0 over IPv4.
    pub flow_label: u32,
}

impl Encapsulator {
    /// Encapsulates the Ethernet frame at `buf[inner]` as a socket payload: only the
    /// tunnel header (VXLAN, or GRE with the key) goes in front of it, and what the
    /// socket needs to send it comes back with its range. The checks (inner frame,
    /// tags, headroom, the underlay MTU for the whole outer packet) and the flow hash
    /// are those of [`encapsulate`](Self::encapsulate).
    ///
    /// # Errors
    /// As [`encapsulate`](Self::encapsulate), with a headroom of 8 bytes.
    #[inline(always)]
    pub fn encapsulate_payload(
        &mut self,
        buf: &mut [u8],
        inner: Range<usize>,
    ) -> Result<PayloadHeaders> {
        // As `encapsulate`: one walk, then the code of the encapsulator's path.
        let walked = self.walk(buf, inner.clone(), None)?;
        match self.path_for(walked) {
            Path::Vxlan => self.payload_as::<VXLAN_OVERHEAD, true>(buf, inner, walked),
            Path::Nvgre => self.payload_as::<NVGRE_OVERHEAD, true>(buf, inner, walked),
            Path::Vxlan6 => self.payload_as::<VXLAN6_OVERHEAD, true>(buf, inner, walked),
            Path::Nvgre6 => self.payload_as::<NVGRE6_OVERHEAD, true>(buf, inner, walked),
            Path::GeneveOvn => self.payload_as::<GENEVE_ONE_OPTION, true>(buf, inner, walked),
            Path::Configured => self.payload_as::<0, false>(buf, inner, walked),
        }
    }

    /// [`encapsulate_payload`](Self::encapsulate_payload) in the layout and under the
    /// rules of [`layout`](Self::layout) and [`rules`](Self::rules).
    #[inline(always)]
    // Cannot overflow: offsets inside the layout, and the headroom was checked.
    #[allow(clippy::arithmetic_side_effects)]
    fn payload_as<const N: usize, const DEFAULTS: bool>(
        &mut self,
        buf: &mut [u8],
        inner: Range<usize>,
        walked: Walked,
    ) -> Result<PayloadHeaders> {
        let layout = self.layout::<N, DEFAULTS>();
        let rules = self.rules::<N, DEFAULTS>();
        let room = layout.len - layout.tunnel_at;
        // The MTU bounds the whole outer packet, the headers the socket adds included.
        let ip_overhead = layout.len - layout.ip_at;
        let prepared = self.prepare::<N, DEFAULTS>(walked, inner.clone(), room, ip_overhead)?;
        let start = prepared.inner_start - room;
        inner_vlan::strip(buf, inner.start, prepared.strip_len);
        let hash = prepared.patch.hash;
        let template = self.template(layout.tunnel_at..layout.len);
        // There: the headroom was checked.
        if let Some(header) = buf.get_mut(start..prepared.inner_start) {
            // The 8-byte headers (VXLAN, GRE, Geneve without options) as one value, a
            // copy of constant size; Geneve's options make a longer one.
            match (
                <&[u8; TUNNEL_HEADER_LEN]>::try_from(template),
                header.first_chunk_mut(),
            ) {
                (Ok(fixed), Some(to)) => *to = *fixed,
                _ => header.copy_from_slice(template),
            }
            if !layout.udp {
                NvgreHeader::new_unchecked(header).set_flow_id(rules.flow_id.for_hash(hash));
            }
        }
        Ok(PayloadHeaders {
            payload: start..inner.end,
            source_port: layout.udp.then(|| hash.source_port(rules.source_ports)),
            traffic_class: prepared.patch.tos,
            flow_label: if layout.v6 {
                rules.flow_label.for_hash(hash)
            } else {
                0
            },
        })
    }
}

#[cfg(test)]
mod tests;
