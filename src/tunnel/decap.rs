//! Decapsulation: validate the outer layers, apply RFC 6040 to ECN, find the inner frame.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::net::IpAddr;
use core::ops::Range;

use super::config::SourcePolicy;
use super::ecn::{self, Ecn, EcnAlarm};
use super::geneve::UnderstoodOptions;
use super::inner_vlan::{self, InnerVlanPolicy};
use super::layout::{InnerIp, Outer};
use super::receive::{
    Accepted, Checksums, GeneveChecks, ReceivePolicy, Received, Underlay, validate,
};
use super::{Encapsulation, TunnelKind};
use crate::checksum;
use crate::packet::{Decoder, Depth, Tunnel};
use crate::wire::ethernet::EtherType;
use crate::wire::ipv4::{self, Ipv4Packet};
use crate::wire::ipv6::Ipv6Packet;
use crate::{Error, Result};

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
/// packet reads or tests them; any other settings are read per packet. Either way the
/// checks and results are the same. Both codes are inlined where it is called, and
/// which one runs is one test per packet: where the compiler sees which (a decapsulator
/// built in the function that uses it), the other goes.
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
    // copy of the settings holding them was built on the stack per packet. Measured in
    // the benches' loops (the decapsulator a field of a struct): decapsulation 145 ->
    // 144 instructions per packet, mixed 197 -> 187, Geneve 184 -> 177, its mixed
    // workload 275 -> 256. Both paths side by side in a loop cost it registers: with the
    // defaults' alone (a decapsulator the compiler knows) the first is 134. The
    // configured path out of line brought the result back through memory (256-290).
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
    /// marked critical that is not in
    /// [`geneve_understood`](DecapConfig::geneve_understood) (RFC 8926 section 3.5);
    /// `NotTenantFrame` for Geneve's O bit; `UnsupportedFrame` for a Geneve protocol type
    /// other than 0x6558, 0x0800 and 0x86DD; `NotTunnel`; `Fragment` for an outer
    /// fragment; `UnsupportedFrame` for an IPv6 extension header before UDP or GRE;
    /// `BadChecksum` for a wrong outer IPv4 header checksum or UDP checksum;
    /// `ZeroChecksum` for a zero UDP checksum over IPv6 unless
    /// [`udp6_zero_checksum_rx`](DecapConfig::udp6_zero_checksum_rx); `BadAddress` for an
    /// outer source that cannot be a VTEP ([`SourcePolicy`]); `ReservedVsid`;
    /// `NotEthernet` or `NotTenantFrame` for VXLAN-GPE carrying something else, OAM or an
    /// unknown version; `InnerVlanTag` under [`InnerVlanPolicy::Reject`], and for any
    /// tagged NVGRE payload (RFC 7637 section 3.2); `EcnDrop` for CE over Not-ECT.
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

    /// [`decapsulate`](Self::decapsulate) of each frame in turn, each result handed to
    /// `then` with its frame: the same checks and results, for a loop over a batch of
    /// frames (a `recvmmsg`, a NIC's burst). The settings' code is chosen once for the
    /// batch rather than per frame (see [`Decapsulator`]): each of the two codes gets a
    /// loop of its own, `then` inlined in both, so the loop that runs holds only the
    /// chosen one.
    ///
    /// The iterator's `next` and `then` are compiled into both loops: keep them small
    /// (what a frame needs before its turn is best done before the batch).
    ///
    /// ```
    /// use tunnelwire::tunnel::Decapsulator;
    ///
    /// let mut batch = vec![vec![0u8; 60], vec![0u8; 14]]; // as received
    /// let mut refused = 0;
    /// Decapsulator::default().decapsulate_each(batch.iter_mut().map(Vec::as_mut_slice), |frame, found| {
    ///     match found {
    ///         Ok(found) => { let _inner = &frame[found.inner]; } // forward it
    ///         Err(_) => refused += 1,
    ///     }
    /// });
    /// assert_eq!(refused, 2); // neither is a tunnel frame
    /// ```
    // Measured in the benches' loops, a decapsulator in a struct (instructions per
    // packet, benches/instructions.sh): decapsulate per frame 144, Geneve 179; each
    // 134 and 168, as with the defaults' code alone. Once the express walk skipped the
    // inner IP header where RFC 6040 has nothing to do, fewer registers were at stake:
    // per frame 122, mixed 150, Geneve 157, mixed 204; each 120, 146, 153, 201.
    #[inline(always)]
    pub fn decapsulate_each<'f>(
        &self,
        frames: impl IntoIterator<Item = &'f mut [u8]>,
        then: impl FnMut(&'f mut [u8], Result<Decapsulated>),
    ) {
        self.with_config(
            #[inline(always)]
            |config, understood| config.decapsulate_each(understood, frames, then),
        )
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

    /// Decapsulates a packet that starts without an Ethernet header, at a header of
    /// `ethertype`: an IPv4 or IPv6 packet, or a VLAN tag before one, as a capture's
    /// record holds it after a link header that is not Ethernet's (Linux's cooked header
    /// of `tcpdump -i any`, raw IP: `pcap::Record::content`, of feature `pcap`, finds the
    /// packet and its EtherType).
    /// The checks, the ECN combination and the result are those of
    /// [`decapsulate`](Self::decapsulate); offsets and the inner range count from
    /// `packet[0]`. By the general walk, every frame: for captures and tools, not a data
    /// plane's per-packet path.
    ///
    /// # Errors
    /// As [`decapsulate`](Self::decapsulate); `NotTunnel` for an `ethertype` other than
    /// IPv4, IPv6 and a VLAN TPID.
    #[inline]
    pub fn decapsulate_ip(&self, packet: &mut [u8], ethertype: EtherType) -> Result<Decapsulated> {
        let found = self.with_config(|config, understood| {
            config.examine_general(packet, Some(ethertype), understood)
        })?;
        Ok(found.rewrite(packet))
    }

    /// [`decapsulate_ip`](Self::decapsulate_ip) without changing a byte, as
    /// [`inspect`](Self::inspect) is to [`decapsulate`](Self::decapsulate).
    ///
    /// # Errors
    /// As [`decapsulate_ip`](Self::decapsulate_ip).
    #[inline]
    pub fn inspect_ip(&self, packet: &[u8], ethertype: EtherType) -> Result<Decapsulated> {
        self.with_config(|config, understood| {
            config.examine_general(packet, Some(ethertype), understood)
        })
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
    /// [`Decapsulator::decapsulate_each`] by these settings.
    #[inline(always)]
    fn decapsulate_each<'f>(
        &self,
        understood: &UnderstoodOptions,
        frames: impl IntoIterator<Item = &'f mut [u8]>,
        mut then: impl FnMut(&'f mut [u8], Result<Decapsulated>),
    ) {
        for frame in frames {
            let found = self.examine(frame, understood).map(|f| f.rewrite(frame));
            then(frame, found);
        }
    }

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
            Some(understood),
            self.inner_vlan == InnerVlanPolicy::Reject,
            self.apply_ecn,
            // Inlined in each of the walk's arms, which then know their tunnel: left to
            // the optimiser, it was called out of line (decapsulation 146 -> 173
            // instructions per packet).
            #[inline(always)]
            |received, error, checks| self.conclude_with(&received, error, checks),
        );
        match express {
            Some(examined) => examined,
            None => self.examine_general(frame, None, understood),
        }
    }

    /// [`examine`](Self::examine) of any frame: the general walk, every error named;
    /// with `ip`, of a frame that starts without Ethernet, at a header of that EtherType.
    #[inline(always)]
    pub(crate) fn examine_general(
        &self,
        frame: &[u8],
        ip: Option<EtherType>,
        understood: &UnderstoodOptions,
    ) -> Result<Examined> {
        let mut received = Received::<()>::new(self.policy(), Outer::default());
        // The inner transport is not needed: ECN lives in the IP header.
        let error = self
            .decoder
            .walk(frame, ip, &mut received, Depth::InnerIp)
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
        } = validate(received, error, checks, |_| Ok(()))?;
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
