//! Decapsulation: validate the outer layers, apply RFC 6040 to ECN, find the inner frame.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::net::IpAddr;
use core::ops::Range;

use super::config::{SourcePolicy, check_source_v4, check_source_v6, check_vsid};
use super::ecn::{self, Ecn, EcnAlarm};
use super::geneve::{self, UnderstoodOptions};
use super::inner_vlan::{self, InnerVlanPolicy};
use super::layout::{Accepted, Inner, InnerIp, Outer, OuterFacts, OuterIp, Received, Underlay};
use super::{Encapsulation, TunnelKind};
use crate::checksum;
use crate::packet::{Decoder, Depth, Tunnel};
use crate::wire::ethernet::EtherType;
use crate::wire::ipv4::{self, IpProtocol, Ipv4Packet};
use crate::wire::ipv6::Ipv6Packet;
use crate::wire::udp;
use crate::{AddressField, Error, ErrorKind, Layer, Result};

/// Who verifies the checksums of received tunnel frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Checksums {
    /// Verify the outer IPv4 header checksum (RFC 1122 section 3.2.1.2) and a non-zero
    /// UDP checksum (RFC 7348 section 5). The default.
    #[default]
    Verify,
    /// Trust them: the NIC already verified them (receive checksum offload) and dropped
    /// what failed. Nothing is summed per packet.
    OffloadedByNic,
}

/// What a receiver of tunnel packets accepts of the outer packet: one policy for
/// decapsulation and translation, whole frames and socket payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ReceivePolicy {
    /// Who verifies the checksums.
    pub checksums: Checksums,
    /// Which outer sources can be a VTEP.
    pub sources: SourcePolicy,
    /// A zero UDP checksum over IPv6 is taken.
    pub udp6_zero_checksum: bool,
}

/// Decapsulation settings: what a [`Decapsulator`] is built from.
///
/// ```
/// use core::net::Ipv4Addr;
/// use tunnelwire::tunnel::{Checksums, DecapConfig, Decapsulator, Encapsulator, TunnelConfig, HEADROOM};
/// use tunnelwire::wire::Vsid;
///
/// let mut buf = [0u8; HEADROOM + 60];
/// buf[HEADROOM..HEADROOM + 12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
/// let config = TunnelConfig::nvgre(Vsid::new(4242)?, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
/// let frame = Encapsulator::new(config)?.encapsulate(&mut buf, HEADROOM..HEADROOM + 60)?;
///
/// // A NIC that verified the checksums already: skip them.
/// let decap = Decapsulator::new(DecapConfig { checksums: Checksums::OffloadedByNic, ..DecapConfig::default() });
/// let found = decap.inspect(&buf[frame.clone()])?; // read-only
/// assert_eq!((found.segment(), found.outer_src), (4242, Ipv4Addr::new(10, 0, 0, 1).into()));
/// assert_eq!(buf[frame][found.inner].len(), 60);
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecapConfig {
    /// VXLAN ports and the reserved-bits policy. Default: port 4789, reserved bits ignored.
    pub decoder: Decoder,
    /// Checksum verification. Default: verify.
    pub checksums: Checksums,
    /// Which outer sources are VTEPs. Default: only addresses that can be one.
    pub sources: SourcePolicy,
    /// Take VXLAN over IPv6 with a zero UDP checksum, as Linux's `udp6zerocsumrx`.
    /// Default off: refused (RFC 8200 section 8.1; RFC 6936 section 5 allows it for
    /// tunnels only by configuration).
    pub udp6_zero_checksum_rx: bool,
    /// Inner 802.1Q tags. Default: reject (RFC 7348 section 6.1, RFC 7637 section 3.2).
    pub inner_vlan: InnerVlanPolicy,
    /// Combine the outer ECN into the inner IPv4 or IPv6 header (RFC 6040). Default on;
    /// off leaves the inner frame byte for byte as received, for tools that must not
    /// change it.
    pub apply_ecn: bool,
    /// The critical Geneve options this receiver processes; a frame with any other
    /// critical option is refused (RFC 8926 section 3.5). Default none.
    pub geneve_understood: UnderstoodOptions,
}

impl DecapConfig {
    /// The defaults, as a constant: what the per-packet code of a [`Decapsulator`] built
    /// from them reads instead of its settings.
    const DEFAULT: DecapConfig = DecapConfig {
        decoder: Decoder::DEFAULT,
        checksums: Checksums::Verify,
        sources: SourcePolicy::RoutableOnly,
        udp6_zero_checksum_rx: false,
        inner_vlan: InnerVlanPolicy::Reject,
        apply_ecn: true,
        geneve_understood: UnderstoodOptions::NONE,
    };
}

impl Default for DecapConfig {
    #[inline]
    fn default() -> Self {
        DecapConfig::DEFAULT
    }
}

/// Decapsulates, and inspects, tunnel frames and socket payloads by its
/// [`DecapConfig`].
///
/// Its per-packet code is chosen once, when it is built: with the defaults (whatever
/// Geneve options it understands), the settings are constants in that code, so no
/// packet reads or tests them (decapsulation measured 145 -> 131 instructions per
/// packet); any other settings are read per packet. Either way the checks and results
/// are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decapsulator {
    config: DecapConfig,
    path: DecapPath,
}

/// The per-packet code a [`Decapsulator`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecapPath {
    /// The defaults, as constants; the understood Geneve options read per packet.
    Defaults,
    /// The settings read per packet.
    Configured,
}

impl Decapsulator {
    /// A decapsulator with these settings.
    #[inline]
    pub fn new(config: DecapConfig) -> Self {
        // Which options are understood matters to Geneve frames alone, which read them
        // where they test the options: left out of the choice.
        let path = if (DecapConfig {
            geneve_understood: UnderstoodOptions::NONE,
            ..config
        } == DecapConfig::DEFAULT)
        {
            DecapPath::Defaults
        } else {
            DecapPath::Configured
        };
        Decapsulator { config, path }
    }

    /// A decapsulator that reads its settings per packet, whatever they are: what the
    /// tests compare the chosen path with.
    #[cfg(test)]
    pub(crate) fn configured(config: DecapConfig) -> Self {
        Decapsulator {
            config,
            path: DecapPath::Configured,
        }
    }

    /// True when it runs the defaults' code (settings as constants).
    #[cfg(test)]
    pub(crate) fn runs_defaults(&self) -> bool {
        self.path == DecapPath::Defaults
    }

    /// Its settings.
    #[inline]
    pub fn config(&self) -> &DecapConfig {
        &self.config
    }

    /// Runs `f` on the settings as the chosen path holds them (the defaults' as
    /// constants, or the configured ones) and on the understood Geneve options, which
    /// it must read from there (those in the settings are the defaults' on the
    /// defaults' path).
    // Always inlined, with everything `f` calls on a packet: the constants fold only
    // where the code that reads them is compiled in place. The options go apart: a
    // copy of the settings holding them was built on the stack per packet.
    #[inline(always)]
    pub(crate) fn with_config<T>(
        &self,
        f: impl FnOnce(&DecapConfig, &UnderstoodOptions) -> T,
    ) -> T {
        let understood = &self.config.geneve_understood;
        match self.path {
            DecapPath::Defaults => f(&DecapConfig::DEFAULT, understood),
            DecapPath::Configured => f(&self.config, understood),
        }
    }
}

impl Default for Decapsulator {
    #[inline]
    fn default() -> Self {
        Decapsulator::new(DecapConfig::default())
    }
}

/// What decapsulation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decapsulated {
    /// The tunnel and its segment (VNI or VSID).
    pub encapsulation: Encapsulation,
    /// What `inner` holds: an Ethernet frame (0x6558, always for VXLAN and NVGRE), or an
    /// IPv4 (0x0800) or IPv6 (0x86DD) packet, as a Geneve header's protocol type says.
    pub protocol: EtherType,
    /// Where the Geneve options sit, in the same buffer as `inner` (read them with
    /// [`GeneveOptionIter`](crate::wire::GeneveOptionIter)); empty for VXLAN, NVGRE and
    /// Geneve without options.
    pub options: Range<usize>,
    /// Outer source address: the sending VTEP.
    pub outer_src: IpAddr,
    /// Outer destination address.
    pub outer_dst: IpAddr,
    /// Where the inner Ethernet frame (or IP packet, by `protocol`) sits in the buffer
    /// handed to `decapsulate` (the whole frame) or `decapsulate_payload` (the payload).
    pub inner: Range<usize>,
    /// An inner/outer ECN combination RFC 6040 section 4.2 says to log, for the caller
    /// to count (`None` when ECN was not combined).
    pub ecn_alarm: Option<EcnAlarm>,
}

impl Decapsulated {
    /// VXLAN, NVGRE or Geneve.
    #[inline]
    pub fn kind(&self) -> TunnelKind {
        self.encapsulation.kind()
    }

    /// The VNI or VSID.
    #[inline]
    pub fn segment(&self) -> u32 {
        self.encapsulation.segment()
    }
}

/// The VXLAN-GPE P bit: a next-protocol byte says what follows the header.
const VXLAN_GPE_P: u8 = 0x04;
/// The VXLAN-GPE version bits (only version 0 is defined).
const VXLAN_GPE_VERSION: u8 = 0x30;
/// The VXLAN-GPE O bit: an OAM packet.
const VXLAN_GPE_OAM: u8 = 0x01;
/// VXLAN-GPE's next protocol for Ethernet.
const VXLAN_GPE_ETHERNET: u8 = 3;

impl Decapsulator {
    /// Validates a VXLAN, NVGRE or Geneve frame, outer Ethernet header first (as a capture,
    /// AF_PACKET or a NIC's queue gives it), over IPv4 or IPv6, and finds its inner
    /// frame. What a UDP or raw GRE socket gives (the tunnel header onward) goes to
    /// [`decapsulate_payload`](Self::decapsulate_payload) instead, which runs the same
    /// checks. Per RFC 6040 the outer ECN is combined into an inner IPv4 header (with an
    /// incremental checksum update) or IPv6 traffic class in place, unless
    /// [`apply_ecn`](DecapConfig::apply_ecn) is off; an inner frame that is not IP passes
    /// unchanged. Inner headers past Ethernet are not validated: a VTEP forwards what it
    /// was given. A Geneve payload of protocol type 0x0800 or 0x86DD is an IP packet,
    /// found as `inner` with its `protocol`; Geneve's options come back as a range.
    ///
    /// # Errors
    /// A malformed outer header, VXLAN, NVGRE or Geneve header, or inner Ethernet header
    /// (inner IP header, for Geneve's IP payloads); `CriticalOption` for a Geneve option
    /// marked critical that is not in [`geneve_understood`](DecapConfig::geneve_understood)
    /// (RFC 8926 section 3.5); `NotTenantFrame` for Geneve's O bit; `UnsupportedFrame`
    /// for a Geneve protocol type other than 0x6558, 0x0800 and 0x86DD;
    /// `NotTunnel`; `Fragment` for an outer fragment; `UnsupportedFrame` for an IPv6
    /// extension header before UDP or GRE; `BadChecksum` for a wrong outer IPv4 header
    /// checksum or UDP checksum; `ZeroChecksum` for a zero UDP checksum over IPv6 unless
    /// [`udp6_zero_checksum_rx`](DecapConfig::udp6_zero_checksum_rx); `BadAddress` for an outer
    /// source that cannot be a VTEP ([`SourcePolicy`]); `ReservedVsid`; `NotEthernet` or
    /// `NotTenantFrame` for VXLAN-GPE carrying something else, OAM or an unknown
    /// version; `InnerVlanTag` under [`InnerVlanPolicy::Reject`], and for any tagged
    /// NVGRE payload (RFC 7637 section 3.2); `EcnDrop` for CE over Not-ECT.
    // Always inlined, like `Decoder::decode`: a per-packet entry point belongs in the
    // caller's loop, where its result stays in registers and the caller's constants fold
    // (measured: 37 to 98 fewer instructions per packet than a call). A caller that wants
    // one copy of it wraps it in a function of its own.
    #[inline(always)]
    pub fn decapsulate(&self, frame: &mut [u8]) -> Result<Decapsulated> {
        let found = self.with_config(
            #[inline(always)]
            |config, understood| config.examine(frame, understood),
        )?;
        Ok(found.rewrite(frame))
    }

    /// Decapsulates without changing a byte: the same checks and result as
    /// [`decapsulate`](Self::decapsulate), for callers that only read (counters,
    /// monitors), except that nothing is rewritten: the inner range covers the frame as
    /// received, with any tags the policy would strip, and RFC 6040's combined ECN is the
    /// caller's to apply ([`ecn::decapsulate`]; `ecn_alarm` is reported as usual).
    ///
    /// # Errors
    /// As [`decapsulate`](Self::decapsulate).
    #[inline]
    pub fn inspect(&self, frame: &[u8]) -> Result<Decapsulated> {
        self.with_config(
            #[inline(always)]
            |config, understood| config.examine(frame, understood),
        )
        .map(Examined::found)
    }

    /// Decapsulates a whole frame and returns the inner frame as a `Bytes` that shares
    /// the frame's memory: no copy.
    ///
    /// # Errors
    /// As [`decapsulate`](Self::decapsulate).
    #[cfg(feature = "bytes")]
    #[cfg_attr(docsrs, doc(cfg(feature = "bytes")))]
    pub fn decapsulate_bytes(
        &self,
        mut frame: bytes::BytesMut,
    ) -> Result<(Decapsulated, bytes::Bytes)> {
        let result = self.decapsulate(&mut frame)?;
        let inner = frame.freeze().slice(result.inner.clone());
        Ok((result, inner))
    }
}

impl DecapConfig {
    /// What the receiver accepts, from the settings.
    #[inline(always)]
    pub(crate) fn policy(&self) -> ReceivePolicy {
        ReceivePolicy {
            checksums: self.checksums,
            sources: self.sources,
            udp6_zero_checksum: self.udp6_zero_checksum_rx,
        }
    }

    /// Everything both paths decide about a whole frame, from the bytes alone.
    #[inline(always)]
    pub(crate) fn examine(&self, frame: &[u8], understood: &UnderstoodOptions) -> Result<Examined> {
        // The common outer stacks by the express walk (VXLAN, NVGRE, Geneve with its
        // checks made in the walk); any other, and every error of the outer stack, by
        // the general one.
        let express = self.decoder.express::<(), _>(
            frame,
            self.policy(),
            Depth::InnerIp,
            Some(understood),
            self.inner_vlan == InnerVlanPolicy::Reject,
            // Inlined in each of the walk's arms, which then know their tunnel: left to
            // the optimiser, it was called out of line (decapsulation 146 -> 173
            // instructions per packet).
            #[inline(always)]
            |received, error, checks| self.conclude_with(&received, error, checks),
        );
        match express {
            Some(examined) => examined,
            None => self.examine_general(frame, understood),
        }
    }

    /// [`examine`](Self::examine) of any frame: the general walk, every error named.
    #[inline(always)]
    pub(crate) fn examine_general(
        &self,
        frame: &[u8],
        understood: &UnderstoodOptions,
    ) -> Result<Examined> {
        let mut received = Received::<()>::new(self.policy(), Outer::default());
        // The inner transport is not needed: ECN lives in the IP header.
        let error = self
            .decoder
            .walk(frame, &mut received, Depth::InnerIp)
            .err();
        self.conclude(&received, error, understood)
    }

    /// What a received tunnel packet amounts to, once its walk ended with `error`:
    /// the checks after the walk, what was found, and what `decapsulate` is to rewrite.
    /// Shared by whole frames and socket payloads.
    #[inline(always)]
    pub(crate) fn conclude<'a, U: Underlay<'a>>(
        &self,
        received: &Received<'a, (), U>,
        error: Option<Error>,
        understood: &UnderstoodOptions,
    ) -> Result<Examined> {
        self.conclude_with(received, error, GeneveChecks::Pending(understood))
    }

    /// [`conclude`](Self::conclude), Geneve's checks still to make or (`Made`) made by
    /// the express walk.
    #[inline(always)]
    #[allow(clippy::arithmetic_side_effects)] // the inner frame's end, inside the frame
    pub(crate) fn conclude_with<'a, U: Underlay<'a>>(
        &self,
        received: &Received<'a, (), U>,
        error: Option<Error>,
        checks: GeneveChecks<'_>,
    ) -> Result<Examined> {
        let Accepted {
            tunnel,
            outer,
            inner_len,
            ..
        } = validate(received, error, checks)?;
        let inner = received.inner;
        let strip_len = self.inner_vlan.strip_len(inner.tags)?;
        let outer_ecn = outer.ecn;
        let (mut ecn_alarm, mut ecn) = (None, None);
        // Equal inner and outer ECN (what encapsulators that copy it send) change
        // nothing and raise no alarm in RFC 6040's table: one compare instead of a
        // lookup.
        if let Some(ip) = inner
            .ip
            .filter(|ip| self.apply_ecn && ip.ecn() != outer_ecn)
        {
            let combined = ecn::decapsulate(ip.ecn(), outer_ecn)?;
            ecn_alarm = ecn::alarm(ip.ecn(), outer_ecn);
            ecn = (combined != ip.ecn()).then_some((ip, combined));
        }
        // `Tunnel::encapsulation` spelled out: left to the optimiser, it was called out
        // of line from the express walk's two conclusions (14 instructions per packet).
        let (encapsulation, protocol, options_len) = match tunnel {
            Tunnel::Vxlan(h) => (
                Encapsulation::Vxlan(h.vni()),
                EtherType::TRANSPARENT_ETHERNET_BRIDGING,
                0,
            ),
            Tunnel::Nvgre(h) => (
                Encapsulation::Nvgre(h.vsid()),
                EtherType::TRANSPARENT_ETHERNET_BRIDGING,
                0,
            ),
            Tunnel::Geneve(h) => (
                Encapsulation::Geneve(h.vni()),
                h.protocol(),
                h.options_len(),
            ),
        };
        let found = Decapsulated {
            encapsulation,
            protocol,
            // The options end where the inner frame starts.
            options: inner.offset - options_len..inner.offset,
            outer_src: outer.src,
            outer_dst: outer.dst,
            inner: inner.offset..inner.offset + inner_len,
            ecn_alarm,
        };
        Ok(Examined {
            found,
            strip_len,
            ecn,
        })
    }
}

/// The checks a received tunnel packet passes when the walk reaches its tunnel header
/// `at` bytes in, in the order a receiver trusts its headers: the outer packet's
/// ([`Underlay::accept`]: for a whole frame the outer IP checksum, a source that can be a
/// VTEP, the UDP checksum), then a tenant segment and payload (VSID, VXLAN-GPE).
/// [`validate`] finishes them after the walk.
// Always inlined, with everything it calls on the frame: a frame passed by reference to
// a function left out of line lives in memory, 250 bytes of stores and loads per packet.
#[inline(always)]
pub(crate) fn accept<'a, U: Underlay<'a>>(
    outer: &U,
    at: usize,
    tunnel: Tunnel<'a>,
    policy: ReceivePolicy,
) -> Result<Accepted<'a, U::Header>> {
    let (header, facts) = outer.accept(at, policy)?;
    let inner_len = match tunnel {
        Tunnel::Vxlan(h) => {
            check_vxlan_gpe(h.flags(), (h.reserved1() & 0xff) as u8).map_err(|e| e.at(at))?;
            h.payload().len()
        }
        Tunnel::Nvgre(h) => {
            check_vsid(h.vsid()).map_err(|e| e.at(at))?;
            h.payload().len()
        }
        // Geneve's own checks wait for `validate`: they need the caller's understood
        // options, which the per-packet policy does not carry (copied with it, they cost
        // every VXLAN and NVGRE packet).
        Tunnel::Geneve(h) => h.payload().len(),
    };
    Ok(Accepted {
        tunnel,
        header,
        outer: facts,
        inner_len,
        at,
    })
}

/// A whole frame's outer stack, as the walk recorded it.
impl<'a> Underlay<'a> for Outer<'a> {
    type Header = OuterIp<'a>;

    #[inline(always)]
    #[allow(clippy::arithmetic_side_effects)] // UDP, when decoded, is 8 bytes before VXLAN
    fn accept(&self, at: usize, policy: ReceivePolicy) -> Result<(OuterIp<'a>, OuterFacts)> {
        let verify = policy.checksums == Checksums::Verify;
        let udp_at = || at - udp::HEADER_LEN;
        match self.ip {
            Some(OuterIp::V4(ip)) => {
                if verify && !ip.verify_checksum() {
                    return Err(
                        Error::new(Layer::Ipv4, ErrorKind::BadChecksum(ip.checksum())).at(self.l3),
                    );
                }
                check_source_v4(AddressField::OuterSource, ip.src_addr(), policy.sources)
                    .map_err(|e| e.at(self.l3))?;
                if let Some(udp) = self.udp {
                    if verify && !udp.verify_checksum(ip.src_addr(), ip.dst_addr()) {
                        return Err(bad_udp_checksum(udp.checksum()).at(udp_at()));
                    }
                }
                let ip = OuterIp::V4(ip);
                Ok((ip, ip.facts()))
            }
            Some(OuterIp::V6(ip)) => {
                check_source_v6(AddressField::OuterSource, ip.src_addr(), policy.sources)
                    .map_err(|e| e.at(self.l3))?;
                if let Some(udp) = self.udp {
                    // RFC 6936 section 5: zero is taken only where configured, checksums
                    // offloaded or not (the NIC passes zero on as "no checksum").
                    if udp.checksum() == 0 {
                        if !policy.udp6_zero_checksum {
                            return Err(
                                Error::new(Layer::Udp, ErrorKind::ZeroChecksum).at(udp_at())
                            );
                        }
                    } else if verify && !udp.verify_checksum_ipv6(ip.src_addr(), ip.dst_addr()) {
                        return Err(bad_udp_checksum(udp.checksum()).at(udp_at()));
                    }
                }
                let ip = OuterIp::V6(ip);
                Ok((ip, ip.facts()))
            }
            // The walk reaches a tunnel header only through an IP header.
            None => Err(Error::new(Layer::Tunnel, ErrorKind::NotTunnel)),
        }
    }

    // Inlined, handing values to the cold path: an outer stack passed by reference to a
    // function left out of line would live in memory for the whole walk.
    #[inline(always)]
    fn no_tunnel(&self) -> Error {
        let ipv6_next = match self.ip {
            Some(OuterIp::V6(ip)) => Some(ip.next_header()),
            _ => None,
        };
        no_tunnel_in_frame(self.fragment(), ipv6_next, self.l3)
    }
}

/// Why a whole frame's outer stack carried no tunnel: an outer fragment, an IPv6
/// extension header (`ipv6_next`) the walk does not go past, or no tunnel at all.
#[cold]
fn no_tunnel_in_frame(fragment: bool, ipv6_next: Option<IpProtocol>, l3: usize) -> Error {
    if let (false, Some(next)) = (fragment, ipv6_next) {
        if is_extension_header(next) {
            return Error::new(
                Layer::Ipv6,
                ErrorKind::UnsupportedFrame("an IPv6 extension header before UDP or GRE"),
            )
            .at(l3);
        }
    }
    let fragment = fragment.then_some(match ipv6_next {
        Some(_) => Layer::Ipv6,
        None => Layer::Ipv4,
    });
    super::no_tunnel(None, fragment, l3)
}

/// A `BadChecksum` error of the UDP header.
#[cold]
fn bad_udp_checksum(checksum: u16) -> Error {
    Error::new(Layer::Udp, ErrorKind::BadChecksum(checksum))
}

/// True for the IPv6 extension headers (RFC 8200 section 4, RFC 7045's list): what a
/// receiver would have to walk past to reach UDP or GRE. (The fragment header is one too;
/// it is refused as a fragment.)
fn is_extension_header(next: IpProtocol) -> bool {
    matches!(
        next.0,
        0 | 43 | 44 | 50 | 51 | 60 | 135 | 139 | 140 | 253 | 254
    )
}

/// Where a received Geneve header's own checks ([`geneve::check`]) stand when the walk
/// is over.
#[derive(Debug, Clone, Copy)]
pub(crate) enum GeneveChecks<'u> {
    /// Still to make, with these understood critical options (the general walk's
    /// frames).
    Pending(&'u UnderstoodOptions),
    /// Made, or none to make: the express walk takes only a Geneve header that passes
    /// them, checked in its one walk of the options (and VXLAN and NVGRE have none).
    Made,
}

/// The checks every received tunnel packet passes, after the walk that ended with
/// `error`: a tunnel whose outer packet was accepted ([`accept`]), Geneve's own checks
/// (the O bit, critical options not understood, the protocol type: before anything of
/// the inner frame counts) unless `checks` says they are made, then the inner Ethernet
/// header (untagged for NVGRE).
#[inline(always)]
pub(crate) fn validate<'a, K, U: Underlay<'a>>(
    received: &Received<'a, K, U>,
    error: Option<Error>,
    checks: GeneveChecks<'_>,
) -> Result<Accepted<'a, U::Header>> {
    let Some(accepted) = received.accepted else {
        // Not accepted: the walk ended with why (a malformed outer stack, `accept`'s
        // refusal, a fragment or no tunnel at all: `RecordFrame::no_tunnel`).
        return Err(super::no_tunnel(error, None, 0));
    };
    if let (Tunnel::Geneve(h), GeneveChecks::Pending(understood)) = (accepted.tunnel, checks) {
        geneve::check(&h, understood).map_err(|e| e.at(accepted.at))?;
    }
    validate_inner(accepted.tunnel, &received.inner, error)?;
    Ok(accepted)
}

/// The inner frame's checks: its Ethernet header decoded (its IP header, for Geneve's
/// IP payloads), and no tag in NVGRE.
#[inline(always)]
fn validate_inner<K>(tunnel: Tunnel<'_>, inner: &Inner<K>, error: Option<Error>) -> Result<()> {
    // The payload is a tenant's Ethernet frame, or IP packet: its first header must
    // decode.
    let ip_payload = match tunnel {
        Tunnel::Geneve(h) => h.protocol() != EtherType::TRANSPARENT_ETHERNET_BRIDGING,
        _ => false,
    };
    let decoded = if ip_payload {
        inner.ip.is_some()
    } else {
        inner.ethernet
    };
    if !decoded {
        return Err(super::no_tunnel(error, None, 0));
    }
    // RFC 7637 section 3.2: "A decapsulating NVE MUST drop the frame if the inner
    // Ethernet frame contains an 802.1Q tag", whatever the policy says for VXLAN.
    if matches!(tunnel, Tunnel::Nvgre(_)) && inner.tags.any() {
        return Err(Error::new(Layer::Tunnel, ErrorKind::InnerVlanTag));
    }
    Ok(())
}

/// VXLAN-GPE (draft-ietf-nvo3-vxlan-gpe): with the P bit set, the header says what it
/// carries. RFC 7348 calls these bits reserved, so without P they are ignored; with it,
/// only version 0 and a next protocol of Ethernet, outside OAM, are a tenant's frame.
#[inline(always)]
fn check_vxlan_gpe(flags: u8, next_protocol: u8) -> Result<()> {
    if flags & VXLAN_GPE_P == 0 {
        return Ok(());
    }
    let not_tenant = |what| Err(Error::new(Layer::Vxlan, ErrorKind::NotTenantFrame(what)));
    if flags & VXLAN_GPE_VERSION != 0 {
        return not_tenant("VXLAN-GPE version other than 0");
    }
    if flags & VXLAN_GPE_OAM != 0 {
        return not_tenant("VXLAN-GPE OAM packet");
    }
    if next_protocol != VXLAN_GPE_ETHERNET {
        return Err(Error::new(
            Layer::Vxlan,
            ErrorKind::NotEthernet(next_protocol),
        ));
    }
    Ok(())
}

/// What decapsulation found, and what it rewrites in place.
pub(crate) struct Examined {
    /// What was found, as `inspect` reports it.
    found: Decapsulated,
    /// Bytes of inner VLAN tags to strip.
    strip_len: usize,
    /// The inner IP header's new ECN, when it changes.
    ecn: Option<(InnerIp, Ecn)>,
}

impl Examined {
    /// Rewrites the packet `bytes` it was found in (ECN, tags): what `decapsulate`
    /// returns.
    #[inline(always)]
    pub(crate) fn rewrite(self, bytes: &mut [u8]) -> Decapsulated {
        let mut found = self.found;
        if let Some((ip, ecn)) = self.ecn {
            ip.set_ecn(bytes, ecn);
        }
        found.inner.start = inner_vlan::strip(bytes, found.inner.start, self.strip_len);
        found
    }

    /// What was found, nothing rewritten.
    #[inline(always)]
    pub(crate) fn found(self) -> Decapsulated {
        self.found
    }
}

impl InnerIp {
    /// Rewrites the ECN bits: in IPv6's traffic class (no checksum covers it), or in the
    /// IPv4 header with an incremental checksum update (RFC 1624), so a checksum that was
    /// wrong stays exactly as wrong.
    #[inline]
    fn set_ecn(self, frame: &mut [u8], ecn: Ecn) {
        // The header was validated where the decode found it: `get_mut` cannot fail.
        let Some(header) = frame.get_mut(self.at..) else {
            return;
        };
        if self.v6 {
            let mut packet = Ipv6Packet::new_unchecked(header);
            packet.set_dscp_ecn(packet.dscp(), ecn.bits());
            return;
        }
        // The fixed header as an array: its fields need no bounds checks.
        let Some(header) = header.first_chunk_mut::<{ ipv4::HEADER_LEN }>() else {
            return;
        };
        let mut packet = Ipv4Packet::new_unchecked(header);
        let old_word = u16::from_be_bytes([0x40 | packet.ihl(), packet.dscp() << 2 | packet.ecn()]);
        packet.set_dscp_ecn(packet.dscp(), ecn.bits());
        let new_word = old_word & !0x03 | u16::from(ecn.bits());
        let updated = checksum::update(packet.checksum(), old_word, new_word);
        packet.set_checksum(updated);
    }
}
