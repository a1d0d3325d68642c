//! In-place encapsulation: outer headers written into headroom in front of the frame.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::ops::Range;

// Construction: the outer-header template, and the path chosen once for the settings.
mod build;
mod write;

use super::Encapsulation;
use super::config::TunnelConfig;
use super::express::express_inner;
use super::flow::{FlowHash, FlowKey};
use super::ident::IdentCounter;
use super::inner_vlan::{self, InnerTags};
use super::layout::Inner;
use super::outer_rules::Rules;
use super::{MAX_HEADROOM, NVGRE_OVERHEAD, NVGRE6_OVERHEAD, VXLAN_OVERHEAD, VXLAN6_OVERHEAD};
use crate::checksum;
use crate::packet::{self, Depth};
use crate::wire::ethernet::{self, EtherType};
use crate::wire::ipv4;
use crate::wire::ipv6;
use crate::wire::udp;
use crate::wire::vlan;
use crate::{Error, ErrorKind, Layer, Result};

/// The per-packet fields of the outer headers.
#[derive(Clone, Copy)]
pub(super) struct Patch {
    /// DSCP and ECN: the IPv4 TOS byte or the IPv6 traffic class.
    pub tos: u8,
    /// Outer IP packet length: IPv4 total length, or IPv6 payload length plus 40. At
    /// most the MTU, a `u16`; kept whole, as a `u16` the IPv6 payload length was
    /// computed from its two bytes apart (nvgre6_encap: 5 instructions per packet more).
    pub ip_len: usize,
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

/// What encapsulation reads of an inner frame: its flow key, its tags, its IP TOS (or
/// traffic class; 0 when it is not IP).
#[derive(Clone, Copy)]
pub(super) struct Walked {
    key: FlowKey,
    tags: InnerTags,
    tos: u8,
}

/// Where a layout's headers are, and which.
#[derive(Clone, Copy)]
pub(super) struct Layout {
    /// The outer IP header is IPv6.
    pub v6: bool,
    /// The tunnel is on UDP (VXLAN, Geneve), not GRE (NVGRE).
    pub udp: bool,
    /// Where the outer IP header starts.
    pub ip_at: usize,
    /// Where the tunnel header starts.
    pub tunnel_at: usize,
    /// The whole outer headers' length.
    pub len: usize,
}

/// The per-packet code an encapsulator runs, chosen once at construction from its layout
/// and its [`Rules`] (issue 18): under the default settings, the untagged layouts have
/// code of their own, the layout's length and every rule compiled in as constants
/// (`encapsulate_as::<N>`): no setting is read and none is tested per packet.
/// Every other encapsulator reads its rules and picks its layout per packet
/// (`Configured`), as all did before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Path {
    /// VXLAN or Geneve without options over IPv4.
    Vxlan,
    /// NVGRE over IPv4.
    Nvgre,
    /// VXLAN or Geneve without options over IPv6.
    Vxlan6,
    /// NVGRE over IPv6.
    Nvgre6,
    /// Geneve with options of 8 bytes (OVN's one option) over IPv4.
    GeneveOvn,
    /// Any other layout or settings.
    Configured,
}

/// The overhead of Geneve with one option of 4 data bytes (OVN's) over untagged IPv4:
/// VXLAN's, and the option's 8 bytes. No other layout over IPv4 or IPv6 has it but a
/// tagged Geneve header with a data-less option, which `fixed_layout` leaves out.
pub(super) const GENEVE_ONE_OPTION: usize = VXLAN_OVERHEAD + 8;

/// Encapsulates frames for one tunnel.
///
/// The outer headers are built once, at [`new`](Self::new), into a template; each
/// packet copies the template and patches the few fields that vary (lengths, DSCP/ECN,
/// IPv4 ID, UDP source port, FlowID or IPv6 flow label). The IPv4 checksum is the
/// template's sum plus those fields (RFC 1624 arithmetic), not a fresh sum over the
/// header. Over IPv6 the UDP checksum covers the whole datagram and is computed per
/// packet (RFC 8200 section 8.1), unless the settings send it as zero.
///
/// The settings read per packet (the TOS rule, the FlowID and flow label rules, the
/// source ports, the symmetric hash, the inner tag policy, the work after the headers)
/// are settled at `new` too, and with the default ones each untagged layout runs code
/// of its own in which they are constants: nothing is tested per packet for them. Any
/// other encapsulator reads them per packet, with the same results. Which code runs is
/// picked per frame by [`encapsulate`](Self::encapsulate) (a jump), once per batch by
/// [`encapsulate_each`](Self::encapsulate_each).
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
    /// The settings read per packet, settled.
    rules: Rules,
    /// The code each packet runs.
    path: Path,
    /// Folded sum of what the VXLAN UDP checksum covers that never changes: the
    /// pseudo-header's addresses and protocol, the destination port, the VXLAN header.
    udp_sum: u16,
    ident: IdentCounter,
}

impl Encapsulator {
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
    pub fn encapsulate(&mut self, buf: &mut [u8], inner: Range<usize>) -> Result<Range<usize>> {
        // The walk first, whatever the path: one copy of it, the largest part of the
        // code, where a walk per path would inline six.
        let walked = self.walk(buf, inner.clone(), None)?;
        // A jump table (5 instructions per packet): compares in the order of the
        // layouts' use measured 6 more on the first, LLVM making them a jump table all
        // the same, behind a range check.
        match self.path_for(walked) {
            Path::Vxlan => self.encapsulate_as::<VXLAN_OVERHEAD>(buf, inner, walked),
            Path::Nvgre => self.encapsulate_as::<NVGRE_OVERHEAD>(buf, inner, walked),
            Path::Vxlan6 => self.encapsulate_as::<VXLAN6_OVERHEAD>(buf, inner, walked),
            Path::Nvgre6 => self.encapsulate_as::<NVGRE6_OVERHEAD>(buf, inner, walked),
            Path::GeneveOvn => self.encapsulate_as::<GENEVE_ONE_OPTION>(buf, inner, walked),
            Path::Configured => self.encapsulate_configured(buf, inner, walked),
        }
    }

    /// [`encapsulate`](Self::encapsulate) of each frame in turn, each result handed to
    /// `then` with its buffer: the same checks and results, for a loop over a batch of
    /// frames (a read of several from a TAP device, a NIC's burst). The encapsulator's
    /// code is chosen once for the batch rather than per frame (see [`Encapsulator`]):
    /// each choice gets a loop of its own, `then` inlined in each, so the loop that runs
    /// holds only the chosen code, with no jump per frame.
    ///
    /// The iterator's `next` and `then` are compiled into every loop: keep them small
    /// (what a frame needs before its turn is best done before the batch).
    ///
    /// ```
    /// use core::net::Ipv4Addr;
    /// use tunnelwire::tunnel::{Encapsulator, TunnelConfig, HEADROOM};
    /// use tunnelwire::wire::Vni;
    ///
    /// let config = TunnelConfig::vxlan(Vni::new(42)?, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    /// let mut encap = Encapsulator::new(config)?;
    /// let mut batch = vec![vec![0u8; HEADROOM + 60], vec![0u8; HEADROOM + 10]]; // as read
    /// let mut sent = Vec::new();
    /// encap.encapsulate_each(
    ///     batch.iter_mut().map(|buf| {
    ///         let len = buf.len();
    ///         (buf.as_mut_slice(), HEADROOM..len)
    ///     }),
    ///     |buf, frame| match frame {
    ///         Ok(frame) => sent.push(buf[frame].len()), // write it to the underlay
    ///         Err(_) => {} // the second: shorter than an Ethernet header
    ///     },
    /// );
    /// assert_eq!(sent, [50 + 60]);
    /// # Ok::<(), tunnelwire::Error>(())
    /// ```
    #[inline(always)]
    pub fn encapsulate_each<'f>(
        &mut self,
        frames: impl IntoIterator<Item = (&'f mut [u8], Range<usize>)>,
        then: impl FnMut(&'f mut [u8], Result<Range<usize>>),
    ) {
        match self.path {
            Path::Vxlan => self.each_as::<VXLAN_OVERHEAD>(frames, then),
            Path::Nvgre => self.each_as::<NVGRE_OVERHEAD>(frames, then),
            Path::Vxlan6 => self.each_as::<VXLAN6_OVERHEAD>(frames, then),
            Path::Nvgre6 => self.each_as::<NVGRE6_OVERHEAD>(frames, then),
            Path::GeneveOvn => self.each_as::<GENEVE_ONE_OPTION>(frames, then),
            Path::Configured => self.each_as::<0>(frames, then),
        }
    }

    /// [`encapsulate_each`](Self::encapsulate_each) by the code of the untagged layout
    /// of `N` bytes (0: the configured code, for every frame), a tagged frame by the
    /// configured code, as [`path_for`](Self::path_for) picks it.
    #[inline(always)]
    fn each_as<'f, const N: usize>(
        &mut self,
        frames: impl IntoIterator<Item = (&'f mut [u8], Range<usize>)>,
        mut then: impl FnMut(&'f mut [u8], Result<Range<usize>>),
    ) {
        for (buf, inner) in frames {
            let result = match self.walk(buf, inner.clone(), None) {
                Ok(walked) if N != 0 && !walked.tags.any() => {
                    self.encapsulate_as::<N>(buf, inner, walked)
                }
                Ok(walked) => self.encapsulate_configured(buf, inner, walked),
                Err(error) => Err(error),
            };
            then(buf, result);
        }
    }

    /// [`encapsulate`](Self::encapsulate) under the default settings in the untagged
    /// layout of `N` bytes: the rules and the layout are constants.
    #[inline(always)]
    // Cannot overflow: offsets inside the checked buffer.
    #[allow(clippy::arithmetic_side_effects)]
    fn encapsulate_as<const N: usize>(
        &mut self,
        buf: &mut [u8],
        inner: Range<usize>,
        walked: Walked,
    ) -> Result<Range<usize>> {
        let ip_overhead = N - self.layout::<N, true>().ip_at;
        let prepared = self.prepare::<N, true>(walked, inner.clone(), N, ip_overhead)?;
        let inner_start = prepared.inner_start;
        // Checked: nothing has moved yet, so an error above leaves the frame as it was.
        inner_vlan::strip(buf, inner.start, prepared.strip_len);
        self.write::<N, true>(buf, inner_start, &prepared.patch);
        let start = inner_start - N;
        let rules = self.rules::<N, true>();
        if rules.ident || rules.udp_checksum {
            self.finish::<N, true>(buf, start..inner.end, prepared.sum);
        }
        Ok(start..inner.end)
    }

    /// [`encapsulate`](Self::encapsulate) for any layout and settings, read per packet.
    #[inline(always)]
    // Cannot overflow: offsets inside the checked buffer.
    #[allow(clippy::arithmetic_side_effects)]
    fn encapsulate_configured(
        &mut self,
        buf: &mut [u8],
        inner: Range<usize>,
        walked: Walked,
    ) -> Result<Range<usize>> {
        let ip_len = self.overhead - self.ip_offset;
        let prepared = self.prepare::<0, false>(walked, inner.clone(), self.overhead, ip_len)?;
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
                NVGRE_OVERHEAD => self.write::<NVGRE_OVERHEAD, false>(buf, inner_start, patch),
                NVGRE_TAGGED => self.write::<NVGRE_TAGGED, false>(buf, inner_start, patch),
                NVGRE6_OVERHEAD => self.write::<NVGRE6_OVERHEAD, false>(buf, inner_start, patch),
                _ => self.write::<NVGRE6_TAGGED, false>(buf, inner_start, patch),
            }
        } else if self.overhead == VXLAN_OVERHEAD {
            // The common layout first, in one compare: a match over five made it a jump
            // table (10 instructions per packet more).
            self.write::<VXLAN_OVERHEAD, false>(buf, inner_start, patch);
        } else if self.fixed_layout == 0 {
            self.write_any(buf, start, prepared.patch);
        } else {
            // The default paths' layouts first (their tagged inner frames come here),
            // those of an outer VLAN tag (configured settings only) last: OVN Geneve's
            // mixed workload 180.9 -> 179.7 instructions per packet.
            match self.overhead {
                GENEVE_ONE_OPTION => {
                    self.write::<GENEVE_ONE_OPTION, false>(buf, inner_start, patch)
                }
                VXLAN6_OVERHEAD => self.write::<VXLAN6_OVERHEAD, false>(buf, inner_start, patch),
                VXLAN_TAGGED => self.write::<VXLAN_TAGGED, false>(buf, inner_start, patch),
                _ => self.write::<VXLAN6_TAGGED, false>(buf, inner_start, patch),
            }
        }
        if self.rules.ident || self.rules.udp_checksum {
            self.finish::<0, false>(buf, start..inner.end, prepared.sum);
        }
        Ok(start..inner.end)
    }

    /// The code a packet runs, its inner frame `walked`: a tagged frame (rare: tags are
    /// stripped by default) takes the configured path, whose rules are the same, so that
    /// the others strip nothing and need not test it twice (measured: 1 to 2
    /// instructions per packet less on the default paths, 6 on the payload path; 3 to 6
    /// more on the mixed workloads, a fifth of whose frames are tagged).
    #[inline(always)]
    pub(super) fn path_for(&self, walked: Walked) -> Path {
        if walked.tags.any() {
            Path::Configured
        } else {
            self.path
        }
    }

    /// The layout: with `DEFAULTS`, the untagged one of `N` bytes, constants; else this
    /// encapsulator's.
    #[inline(always)]
    // Cannot overflow: header lengths.
    #[allow(clippy::arithmetic_side_effects)]
    pub(super) fn layout<const N: usize, const DEFAULTS: bool>(&self) -> Layout {
        if DEFAULTS {
            let v6 = N >= NVGRE6_OVERHEAD;
            let udp = N != NVGRE_OVERHEAD && N != NVGRE6_OVERHEAD;
            let ip_header_len = if v6 {
                ipv6::HEADER_LEN
            } else {
                ipv4::HEADER_LEN
            };
            Layout {
                v6,
                udp,
                ip_at: ethernet::HEADER_LEN,
                tunnel_at: ethernet::HEADER_LEN
                    + ip_header_len
                    + if udp { udp::HEADER_LEN } else { 0 },
                len: N,
            }
        } else {
            Layout {
                v6: self.config.dst_ip.is_ipv6(),
                udp: !matches!(self.config.encapsulation, Encapsulation::Nvgre(_)),
                ip_at: self.ip_offset,
                tunnel_at: self.tunnel_at,
                len: self.overhead,
            }
        }
    }

    /// The rules: with `DEFAULTS`, the default settings' for the untagged layout of `N`
    /// bytes, constants; else this encapsulator's.
    #[inline(always)]
    pub(super) fn rules<const N: usize, const DEFAULTS: bool>(&self) -> Rules {
        if DEFAULTS {
            // The layout's family and tunnel, by its length.
            const {
                Rules::defaults(
                    N >= NVGRE6_OVERHEAD,
                    N != NVGRE_OVERHEAD && N != NVGRE6_OVERHEAD,
                )
            }
        } else {
            self.rules
        }
    }

    /// Walks the inner frame at `buf[inner]`: Ethernet, or with `ip` an IP packet of that
    /// EtherType. A malformed header past Ethernet ends the walk where it is (the frame
    /// is a tenant's to send), but a frame too short for its Ethernet header is no frame
    /// at all, and an IP payload without a valid IP header no packet.
    ///
    /// # Errors
    /// `RangeOutsideBuffer` when `inner` is not inside `buf`; the walk's error for a
    /// frame without Ethernet (or IP) header.
    #[inline(always)]
    pub(super) fn walk(
        &self,
        buf: &[u8],
        inner: Range<usize>,
        ip: Option<EtherType>,
    ) -> Result<Walked> {
        let Some(inner_frame) = buf.get(inner.clone()) else {
            return Err(Error::new(
                Layer::Tunnel,
                ErrorKind::RangeOutsideBuffer {
                    end: inner.end,
                    len: buf.len(),
                },
            ));
        };
        // One walk over the inner stack serves the flow hash, DSCP, ECN and the tags.
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
        Ok(Walked {
            key: inner_stack.also,
            tags: inner_stack.tags,
            tos: inner_stack.ip.map_or(0, |ip| ip.tos),
        })
    }

    /// What encapsulation decides before anything moves, for a header of `room` bytes
    /// in front of the `walked` inner frame `buf[inner]`, `ip_overhead` of them from the
    /// outer IP header on: its tags, flow hash, outer TOS and length, and the checks on
    /// them, under the rules of [`rules`](Self::rules).
    #[inline(always)]
    // Cannot overflow: offsets and lengths inside the checked buffer.
    #[allow(clippy::arithmetic_side_effects)]
    pub(super) fn prepare<const N: usize, const DEFAULTS: bool>(
        &self,
        walked: Walked,
        inner: Range<usize>,
        room: usize,
        ip_overhead: usize,
    ) -> Result<Prepared> {
        let rules = self.rules::<N, DEFAULTS>();
        let hash = walked.key.hash_as(rules.symmetric_hash);
        let strip_len = rules.inner_vlan.strip_len(walked.tags)?;
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
        let ip_len = ip_overhead + (inner.end - inner_start);
        if ip_len > usize::from(self.config.mtu) {
            return Err(Error::new(
                Layer::Tunnel,
                ErrorKind::ExceedsMtu {
                    len: ip_len,
                    mtu: self.config.mtu,
                },
            ));
        }
        let tos = rules.tos.apply(walked.tos);
        let sum = checksum::combine(
            checksum::combine(self.ip_sum, ip_len as u16),
            u16::from(tos),
        );
        Ok(Prepared {
            inner_start,
            strip_len,
            patch: Patch {
                tos,
                ip_len,
                checksum: checksum::finish(sum),
                hash,
            },
            sum,
        })
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
mod tests;
