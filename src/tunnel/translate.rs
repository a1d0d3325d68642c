//! Translation among VXLAN, NVGRE and Geneve in place, over IPv4 or IPv6 (the family is
//! kept).
//!
//! The inner frame stays where it is. Only the outer Ethernet and IP headers move, by
//! the difference between the two tunnel headers (VXLAN's UDP header: 8 bytes; Geneve's
//! UDP header and options), plus the inner VLAN tags when they are stripped. Translating
//! to the same encapsulation rewrites the outer headers the same way, so every output is
//! a frame built by the same rules (lengths consistent, source port or FlowID from the
//! flow hash). Geneve's options are dropped (a critical one not declared understood
//! refuses the frame, as on decapsulation); toward Geneve the translator's own options
//! are written.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::ops::Range;

use super::config::{FlowId, SourcePolicy, check_udp_ports, check_vsid};
use super::flow::{FlowKey, PortRange};
use super::geneve::UnderstoodOptions;
use super::inner_vlan::{self, InnerVlanPolicy};
use super::layout::{Outer, OuterIp};
use super::receive::{Accepted, Checksums, GeneveChecks, ReceivePolicy, Received, validate};
use super::{Encapsulation, TunnelKind};
use crate::checksum;
use crate::packet::{Decoder, Depth, Tunnel};
use crate::wire::ethernet::EtherType;
use crate::wire::geneve::{self, GeneveOptions};
use crate::wire::ipv4::IpProtocol;
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::nvgre::{self, NvgreRepr, Vsid};
use crate::wire::udp::{self, UdpRepr};
use crate::wire::vxlan::{self, Vni, VxlanRepr};
use crate::{Error, ErrorKind, Layer, Result};

mod express;
mod express6;
// The outer headers' writing: moved, rewritten, Geneve's written with its options.
mod rewrite;
use rewrite::{GeneveTo, Ipv4Rewrite, fill_udp_checksum, move_outer_headers, put};

/// Translation settings, what a [`Translator`] is built from: the VXLAN side's ports and
/// checksum, the flow hash, and the policies shared with encapsulation and decapsulation.
///
/// ```
/// use core::net::Ipv4Addr;
/// use tunnelwire::packet::{Decoder, TunnelKind};
/// use tunnelwire::tunnel::{Encapsulator, FlowId, TranslateConfig, Translator, TunnelConfig, HEADROOM};
/// use tunnelwire::wire::Vni;
///
/// let mut buf = [0u8; HEADROOM + 60];
/// let config = TunnelConfig::vxlan(Vni::new(4242)?, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
/// let vxlan = Encapsulator::new(config)?.encapsulate(&mut buf, HEADROOM..HEADROOM + 60)?;
///
/// // To a Linux gretap peer with `key 0x109200`: VSID 4242, FlowID 0.
/// let translator = Translator::new(TranslateConfig { flow_id: FlowId::Fixed(0), ..TranslateConfig::default() })?;
/// let nvgre = translator.translate(&mut buf, vxlan, TunnelKind::Nvgre)?;
/// assert_eq!(nvgre.len(), 42 + 60);
/// let decoded = Decoder::new().decode(&buf[nvgre])?;
/// assert_eq!(decoded.tunnel.map(|t| t.segment()), Some(4242));
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TranslateConfig {
    /// Recognises tunnel frames: VXLAN ports, reserved-bits policy.
    pub decoder: Decoder,
    /// Checksum verification of received frames, as for decapsulation: a frame whose
    /// outer IPv4 or non-zero UDP checksum is wrong is refused, so translating to NVGRE
    /// (which has no checksum) cannot launder corruption. Default: verify.
    pub checksums: Checksums,
    /// Which outer sources are VTEPs, as for decapsulation. Default: only addresses
    /// that can be one.
    pub sources: SourcePolicy,
    /// Take VXLAN over IPv6 with a zero UDP checksum, as for decapsulation. Default off.
    pub udp6_zero_checksum_rx: bool,
    /// VXLAN destination port of translated frames. Default 4789.
    pub vxlan_port: u16,
    /// Geneve destination port of translated frames. Default 6081.
    pub geneve_port: u16,
    /// The options of translated Geneve frames (those of a Geneve frame translated are
    /// dropped). Default none.
    pub geneve_options: GeneveOptions,
    /// The critical Geneve options this translator understands: a frame with any other
    /// is refused (RFC 8926 section 3.5), as on decapsulation. Default none.
    pub geneve_understood: UnderstoodOptions,
    /// VXLAN and Geneve source ports, by flow hash. Default 49152-65535.
    pub source_ports: PortRange,
    /// Compute the UDP checksum of new VXLAN and Geneve frames over IPv4. Default off.
    pub udp_checksum: bool,
    /// Send new VXLAN and Geneve frames over IPv6 with a zero UDP checksum, as an encapsulator's
    /// `udp6_zero_checksum_tx`. Default off: computed (RFC 8200 section 8.1).
    pub udp6_zero_checksum_tx: bool,
    /// Hash both directions of a flow alike. Default off.
    pub symmetric_hash: bool,
    /// NVGRE FlowID of translated frames. Default from the flow hash.
    pub flow_id: FlowId,
    /// Inner VLAN tags. Default strip (RFC 7637 section 3.2, RFC 7348 section 6.1);
    /// `Keep` is refused towards NVGRE.
    pub inner_vlan: InnerVlanPolicy,
    /// Underlay MTU: translation fails when the packet would exceed it. Default 1500.
    pub mtu: u16,
}

impl TranslateConfig {
    /// The defaults, as a constant: what the express path of a [`Translator`] built
    /// from them reads instead of its settings.
    const DEFAULT: TranslateConfig = TranslateConfig {
        decoder: Decoder::DEFAULT,
        checksums: Checksums::Verify,
        sources: SourcePolicy::RoutableOnly,
        udp6_zero_checksum_rx: false,
        vxlan_port: vxlan::PORT,
        geneve_port: geneve::PORT,
        geneve_options: GeneveOptions::new(),
        geneve_understood: UnderstoodOptions::NONE,
        source_ports: PortRange::DYNAMIC,
        udp_checksum: false,
        udp6_zero_checksum_tx: false,
        symmetric_hash: false,
        flow_id: FlowId::Hash,
        inner_vlan: InnerVlanPolicy::Strip,
        mtu: 1500,
    };
}

impl Default for TranslateConfig {
    #[inline]
    fn default() -> Self {
        TranslateConfig::DEFAULT
    }
}

/// The targets of [`Translator::translate_other`], as constants.
const TO_VXLAN: u8 = 0;
const TO_NVGRE: u8 = 1;
const TO_GENEVE: u8 = 2;

/// Bytes of the received tunnel header (with UDP for VXLAN and Geneve, and Geneve's
/// options) between the outer IP header and the inner frame.
#[inline(always)]
#[allow(clippy::arithmetic_side_effects)] // at most 8 + 260
fn received_len(tunnel: &Tunnel<'_>) -> usize {
    match tunnel {
        Tunnel::Vxlan(_) => udp::HEADER_LEN + vxlan::HEADER_LEN,
        Tunnel::Nvgre(_) => nvgre::HEADER_LEN,
        Tunnel::Geneve(h) => udp::HEADER_LEN + h.header_len(),
    }
}

/// The segment of a received tunnel header as both kinds name it (the same 24 bits, no
/// check needed).
#[inline(always)]
fn segment(tunnel: Tunnel<'_>) -> (Vni, Vsid) {
    match tunnel.encapsulation() {
        Encapsulation::Vxlan(vni) => (vni, Vsid::from(vni)),
        Encapsulation::Nvgre(vsid) => (Vni::from(vsid), vsid),
        Encapsulation::Geneve(vni) => (vni, Vsid::from(vni)),
    }
}

impl TranslateConfig {
    /// Bytes of the `to` tunnel header this translator writes, with UDP and options.
    #[inline(always)]
    #[allow(clippy::arithmetic_side_effects)] // at most 8 + 260
    fn written_len(&self, to: TunnelKind) -> usize {
        match to {
            TunnelKind::Vxlan => udp::HEADER_LEN + vxlan::HEADER_LEN,
            TunnelKind::Nvgre => nvgre::HEADER_LEN,
            TunnelKind::Geneve => udp::HEADER_LEN + geneve::HEADER_LEN + self.geneve_options.len(),
        }
    }
}

/// Translates tunnel frames among VXLAN, NVGRE and Geneve in place, by its
/// [`TranslateConfig`], checked when it is built.
///
/// The per-packet code of its express paths (the common frames) is chosen once, when it
/// is built: with the default settings the settings are constants there; with any other
/// settings they read them per packet. The MTU and the Geneve settings do not enter the
/// choice: those paths read the MTU from the translator and never the Geneve settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translator {
    config: TranslateConfig,
    /// Its settings are the defaults wherever the express path reads them.
    defaults: bool,
}

impl Translator {
    /// A translator with these settings.
    ///
    /// # Errors
    /// `OutOfRange` for settings that cannot be sent: a VXLAN or Geneve port 0, a source
    /// port range containing 0.
    pub fn new(config: TranslateConfig) -> Result<Self> {
        check_udp_ports("VXLAN port", config.vxlan_port, config.source_ports)?;
        check_udp_ports("Geneve port", config.geneve_port, config.source_ports)?;
        // The settings the express path does not read (it declines Geneve targets and
        // frames; the MTU it reads from the translator) are left out of the choice.
        let defaults = TranslateConfig {
            geneve_port: geneve::PORT,
            geneve_options: GeneveOptions::new(),
            geneve_understood: UnderstoodOptions::NONE,
            mtu: TranslateConfig::DEFAULT.mtu,
            ..config
        } == TranslateConfig::DEFAULT;
        Ok(Translator { config, defaults })
    }

    /// A translator that reads its settings per packet, whatever they are: what the
    /// tests compare the chosen path with.
    #[cfg(test)]
    pub(crate) fn configured(config: TranslateConfig) -> Self {
        Translator {
            config,
            defaults: false,
        }
    }

    /// True when its express path runs with the defaults as constants.
    #[cfg(test)]
    pub(crate) fn runs_defaults(&self) -> bool {
        self.defaults
    }

    /// Its settings.
    #[inline]
    pub fn config(&self) -> &TranslateConfig {
        &self.config
    }

    /// Rewrites the VXLAN, NVGRE or Geneve frame at `buf[frame]` as the `to`
    /// encapsulation, in place, and returns its new range. The outer family, addresses,
    /// TTL or hop limit, DSCP/ECN, and IPv4 ID and options or IPv6 flow label are kept;
    /// VNI = VSID; the FlowID or source port comes from the inner flow's hash. Geneve's
    /// options are dropped, and [`geneve_options`](TranslateConfig::geneve_options)
    /// written toward Geneve. A longer tunnel header needs the difference as headroom
    /// before `frame.start`: 8 bytes for NVGRE -> VXLAN or Geneve, plus the translator's
    /// Geneve options. Ethernet padding after the outer IP packet is dropped. The frame passes
    /// the same checks as for decapsulation first.
    ///
    /// # Errors
    /// As [`Decapsulator::decapsulate`](super::Decapsulator::decapsulate) for the frame's
    /// checks; `ReservedVsid` for a VNI that is a reserved VSID when translating to NVGRE
    /// (RFC 7637 section 3.2: such a frame is dropped, not given a made-up VSID);
    /// `InnerVlanTag` for inner tags the policy refuses (or `Keep` towards NVGRE);
    /// `Headroom`; `ExceedsMtu`.
    // Always inlined, like `Decoder::decode`: a per-packet entry point belongs in the
    // caller's loop, where its result stays in registers and the caller's constants fold
    // (measured: 37 to 98 fewer instructions per packet than a call). A caller that wants
    // one copy of it wraps it in a function of its own.
    #[inline(always)]
    pub fn translate(
        &self,
        buf: &mut [u8],
        frame: Range<usize>,
        to: TunnelKind,
    ) -> Result<Range<usize>> {
        // Each path a copy of the express path, its settings constants or read.
        if self.defaults {
            self.config.translate::<true>(buf, frame, to)
        } else {
            self.config.translate::<false>(buf, frame, to)
        }
    }
}

impl Default for Translator {
    /// The default settings (which can be sent).
    #[inline]
    fn default() -> Self {
        Translator {
            config: TranslateConfig::DEFAULT,
            defaults: true,
        }
    }
}

impl TranslateConfig {
    /// [`Translator::translate`], the settings checked when the translator was built;
    /// with `DEFAULTS`, the express paths read the defaults (constants) for every
    /// setting but the MTU, as the translator found the settings they read to be.
    // Always inlined, as `Translator::translate`.
    #[inline(always)]
    // Cannot overflow or index out of range: offsets of headers inside the checked frame
    // and its headroom.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    pub(crate) fn translate<const DEFAULTS: bool>(
        &self,
        buf: &mut [u8],
        frame: Range<usize>,
        to: TunnelKind,
    ) -> Result<Range<usize>> {
        let express = if DEFAULTS { &Self::DEFAULT } else { self };
        let policy = express.receive_policy();
        // The common frame in straight-line code; any other, and every error, by the
        // general path.
        if let Some(translated) =
            express.translate_express_or_refused::<false>(buf, frame.clone(), to, policy, self.mtu)
        {
            return translated;
        }
        // One copy per target, each with its target a constant, as the inlined general
        // path had it (one copy taking the target as a value, before `express6`:
        // translate6 1074 -> 1094 instructions per packet); and one per outer family, so
        // that the IPv4 one carries no `express6` (translate+mixed 304 -> 301, translate
        // 278 -> 275, translate6 805 -> 807 instructions per packet; the family told
        // inside one copy instead: 306, 278 and 815).
        let v6 = buf
            .get(frame.clone())
            .and_then(|bytes| bytes.get(12..14))
            .is_some_and(|ethertype| ethertype == [0x86, 0xdd]);
        // The cold path's range comes back in registers and its error, if any, apart:
        // a `Result` came back through memory, where the express path's met it (the
        // common frame's range stored and loaded again).
        let mut refused = None;
        let translated = match (to, v6) {
            (TunnelKind::Vxlan, false) => {
                self.translate_other::<TO_VXLAN, false, DEFAULTS>(buf, frame, &mut refused)
            }
            (TunnelKind::Nvgre, false) => {
                self.translate_other::<TO_NVGRE, false, DEFAULTS>(buf, frame, &mut refused)
            }
            (TunnelKind::Geneve, false) => {
                self.translate_other::<TO_GENEVE, false, DEFAULTS>(buf, frame, &mut refused)
            }
            (TunnelKind::Vxlan, true) => {
                self.translate_other::<TO_VXLAN, true, DEFAULTS>(buf, frame, &mut refused)
            }
            (TunnelKind::Nvgre, true) => {
                self.translate_other::<TO_NVGRE, true, DEFAULTS>(buf, frame, &mut refused)
            }
            (TunnelKind::Geneve, true) => {
                self.translate_other::<TO_GENEVE, true, DEFAULTS>(buf, frame, &mut refused)
            }
        };
        match refused {
            None => Ok(translated),
            Some(error) => Err(error),
        }
    }

    /// The checks of received frames, as for decapsulation.
    // Made from the settings where it is used, the cold path's too, not handed to it: the
    // loop of the express path no longer holds it for the call (translate+mixed 301 ->
    // 293, translate 275 -> 269 instructions per packet; translate6 807 either way; with
    // one cold copy for both families, 304, 271 and 814).
    #[inline(always)]
    fn receive_policy(&self) -> ReceivePolicy {
        ReceivePolicy {
            checksums: self.checksums,
            sources: self.sources,
            udp6_zero_checksum: self.udp6_zero_checksum_rx,
        }
    }

    /// [`translate`](Self::translate) of the frames the express path declines, of an
    /// outer IPv6 header (`V6`) or any other: the common frame over IPv6 by its own
    /// express path (`express6`), the other inner frames over IPv4 by the express walk's
    /// (`NEXT`), any other frame by the general walk. With `DEFAULTS`, the express
    /// paths read the defaults as [`translate`](Self::translate)'s does. The translated
    /// range, or the error in `refused` (the range then meaningless).
    // Out of line and cold: inlined in `translate`, the general path lengthened the
    // common frame's (translate 284 -> 302 instructions per packet); not marked cold,
    // `translate` did not lay out the express path as its straight line (284 -> 322).
    // Out of line, the general path of an IPv6 frame cost more (translate6 998 -> 1074;
    // LLVM inlines its helpers differently), which `express6` more than makes up for.
    // Decapsulation's
    // express walk here (`Decoder::express`: the outer stack in straight-line code, the
    // inner stack alone by the general walk) cost more than the whole general walk:
    // translate+mixed 374 -> 387.
    #[cold]
    #[inline(never)]
    fn translate_other<const TO: u8, const V6: bool, const DEFAULTS: bool>(
        &self,
        buf: &mut [u8],
        frame: Range<usize>,
        refused: &mut Option<Error>,
    ) -> Range<usize> {
        self.translate_other_result::<TO, V6, DEFAULTS>(buf, frame)
            .unwrap_or_else(|error| {
                *refused = Some(error);
                0..0
            })
    }

    /// [`translate_other`](Self::translate_other) as a `Result`.
    #[inline(always)]
    fn translate_other_result<const TO: u8, const V6: bool, const DEFAULTS: bool>(
        &self,
        buf: &mut [u8],
        frame: Range<usize>,
    ) -> Result<Range<usize>> {
        let express = if DEFAULTS { &Self::DEFAULT } else { self };
        // The same values either way: the settings that differ are not the policy's.
        let policy = express.receive_policy();
        let to = match TO {
            TO_VXLAN => TunnelKind::Vxlan,
            TO_NVGRE => TunnelKind::Nvgre,
            _ => TunnelKind::Geneve,
        };
        if V6 {
            if let Some(translated) =
                express.translate_express6(buf, frame.clone(), to, policy, self.mtu)
            {
                return Ok(translated);
            }
            return self.translate_general_apart(buf, frame, to, policy);
        }
        // Any other inner frame after the common outer stack over IPv4 (the next shapes,
        // tagged or IPv6, in straight-line code) by the express walk too. (When one copy
        // took both families, the IPv4 ones first: measured at 30d9117, translate+mixed
        // 326 -> 323 and translate6 857 -> 853 instructions per packet.)
        if let Some(translated) =
            express.translate_express_or_refused::<true>(buf, frame.clone(), to, policy, self.mtu)
        {
            return translated;
        }
        self.translate_general_apart(buf, frame, to, policy)
    }

    /// [`translate_general`](Self::translate_general), out of line.
    // Apart from the express paths tried before it, which it shared one register
    // allocation with: translate6 854 -> 806 instructions per packet (translate+mixed
    // 309 -> 310, its malformed frames now walked by the express path; with `express6`
    // tried first, 308 and 850).
    #[cold]
    #[inline(never)]
    fn translate_general_apart(
        &self,
        buf: &mut [u8],
        frame: Range<usize>,
        to: TunnelKind,
        policy: ReceivePolicy,
    ) -> Result<Range<usize>> {
        self.translate_general(buf, frame, to, policy)
    }

    /// [`translate`](Self::translate) of any frame, after the settings' checks: the
    /// general walk, every error named.
    #[inline(always)]
    // Cannot overflow or index out of range: offsets of headers inside the checked frame
    // and its headroom.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    pub(super) fn translate_general(
        &self,
        buf: &mut [u8],
        frame: Range<usize>,
        to: TunnelKind,
        policy: ReceivePolicy,
    ) -> Result<Range<usize>> {
        let Some(bytes) = buf.get(frame.clone()) else {
            return Err(Error::new(
                Layer::Tunnel,
                ErrorKind::RangeOutsideBuffer {
                    end: frame.end,
                    len: buf.len(),
                },
            ));
        };
        let mut received = Received::<FlowKey>::new(policy, Outer::default());
        let error = self
            .decoder
            .walk(bytes, None, &mut received, Depth::InnerTransport)
            .err();
        let Accepted {
            tunnel,
            header: ip,
            inner_len,
            ..
        } = validate(
            &received,
            error,
            GeneveChecks::Pending(&self.geneve_understood),
            // A segment NVGRE reserves is refused once the tunnel header is checked,
            // before anything of the inner frame counts: the express paths refuse it
            // without walking the inner frame (`Decoder::express_common`).
            |tunnel| match to {
                TunnelKind::Nvgre => check_vsid(segment(tunnel).1),
                _ => Ok(()),
            },
        )?;
        let (vni, vsid) = segment(tunnel);
        let inner = received.inner;
        let key = inner.also;
        let hash = key.hash_as(self.symmetric_hash);
        // What a Geneve frame carries: an IP packet has no Ethernet header for VXLAN or
        // NVGRE to carry, and keeps its protocol type toward Geneve.
        let payload_type = match tunnel {
            Tunnel::Geneve(h) => h.protocol(),
            _ => EtherType::TRANSPARENT_ETHERNET_BRIDGING,
        };
        if payload_type != EtherType::TRANSPARENT_ETHERNET_BRIDGING && to != TunnelKind::Geneve {
            return Err(Error::new(
                Layer::Tunnel,
                ErrorKind::UnsupportedFrame(
                    "a Geneve IP payload toward VXLAN or NVGRE (they carry Ethernet)",
                ),
            ));
        }
        if to == TunnelKind::Nvgre {
            // RFC 7637 section 3.2: NVGRE carries no inner tags; a frame that would keep
            // them is refused, as decapsulation refuses a tagged NVGRE payload.
            // A TPID whose tag is cut short counts: the far end would drop it as tagged.
            let tagged = inner.tags.any();
            if self.inner_vlan == InnerVlanPolicy::Keep && tagged {
                return Err(Error::new(Layer::Tunnel, ErrorKind::InnerVlanTag));
            }
        }
        let strip_len = self.inner_vlan.strip_len(inner.tags)?;
        let header_len = match ip {
            OuterIp::V4(ip) => ip.header_len(),
            OuterIp::V6(_) => ipv6::HEADER_LEN,
        };
        let inner_at = frame.start + inner.offset;
        let l4 = inner.offset - received_len(&tunnel);
        let end = inner_at + inner_len;

        // Everything is checked before the first byte moves: an error leaves the frame
        // as it was.
        let inner_start = inner_at + strip_len;
        let written = self.written_len(to);
        let total = header_len + written + (end - inner_start);
        if total > usize::from(self.mtu) {
            return Err(Error::new(
                Layer::Tunnel,
                ErrorKind::ExceedsMtu {
                    len: total,
                    mtu: self.mtu,
                },
            ));
        }
        // The outer headers and the new tunnel header end where the inner frame starts:
        // they need that much room in front of it (Geneve's options may need more than
        // the frame's own headers and its headroom hold).
        let Some(start) = inner_start.checked_sub(l4 + written) else {
            return Err(Error::new(
                Layer::Tunnel,
                ErrorKind::Headroom {
                    needed: frame.start + l4 + written - inner_start,
                    available: frame.start,
                },
            ));
        };
        let new_l4 = start + l4;
        let protocol = match to {
            TunnelKind::Vxlan | TunnelKind::Geneve => IpProtocol::UDP,
            TunnelKind::Nvgre => IpProtocol::GRE,
        };
        // What is read of the outer header is read before anything moves: the IPv4
        // fields to rewrite, and the addresses' share of a new UDP checksum's
        // pseudo-header, the same sum for either family.
        let (rewrite, udp_checksum) = match ip {
            OuterIp::V4(ip) => (
                Some(Ipv4Rewrite::new(&ip, protocol, total)),
                self.udp_checksum
                    .then(|| checksum::pseudo_header_ipv4(ip.src_addr(), ip.dst_addr(), 0, 0)),
            ),
            OuterIp::V6(ip) => (
                None,
                (!self.udp6_zero_checksum_tx)
                    .then(|| checksum::pseudo_header_ipv6(ip.src_addr(), ip.dst_addr(), 0, 0)),
            ),
        };
        inner_vlan::strip(buf, inner_at, strip_len);
        move_outer_headers(buf, frame.start, start, l4);
        let ip_at = start + l4 - header_len;
        match rewrite {
            Some(rewrite) => rewrite.apply(&mut buf[ip_at..]),
            None => {
                let mut moved = Ipv6Packet::new_unchecked(&mut buf[ip_at..]);
                moved.set_payload_len((total - ipv6::HEADER_LEN) as u16);
                moved.set_next_header(protocol);
            }
        }
        match to {
            TunnelKind::Nvgre => {
                let flow_id = self.flow_id.for_hash(hash);
                put::<{ nvgre::HEADER_LEN }>(buf, new_l4, |h| {
                    NvgreRepr::new(vsid, flow_id).emit(h)
                })?;
            }
            TunnelKind::Vxlan => {
                let payload_len = (vxlan::HEADER_LEN + end - inner_start) as u16;
                let port = hash.source_port(self.source_ports);
                put::<{ udp::HEADER_LEN + vxlan::HEADER_LEN }>(buf, new_l4, |h| {
                    let (udp_header, vxlan_header) = h.split_at_mut(udp::HEADER_LEN);
                    UdpRepr::new(port, self.vxlan_port, payload_len).emit(udp_header)?;
                    VxlanRepr::new(vni).emit(vxlan_header)
                })?;
                if let Some(addresses) = udp_checksum {
                    fill_udp_checksum(&mut buf[new_l4..end], addresses);
                }
            }
            TunnelKind::Geneve => {
                let port = hash.source_port(self.source_ports);
                let header = GeneveTo {
                    vni,
                    protocol: payload_type,
                    source_port: port,
                    udp_checksum,
                };
                self.write_geneve(&mut buf[new_l4..end], header)?;
            }
        }
        Ok(start..end)
    }
}

#[cfg(test)]
mod tests;
