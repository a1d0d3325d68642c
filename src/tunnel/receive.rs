//! What a receiver of tunnel packets checks, for decapsulation and translation alike, on
//! whole frames and on socket payloads: its policy, the outer packet's acceptance when the
//! walk reaches the tunnel header ([`accept`], by its [`Underlay`]), and the checks after
//! the walk ([`validate`]). What the walk keeps of each layer is `layout`'s.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use super::config::{SourcePolicy, check_source_v4, check_source_v6, check_vsid};
use super::geneve::{self, UnderstoodOptions};
use super::layout::{Inner, Outer, OuterFacts, OuterIp};
use crate::packet::{Record, RecordFrame, Tunnel};
use crate::wire::ethernet::EtherType;
use crate::wire::ipv4::IpProtocol;
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

/// The VXLAN-GPE P bit: a next-protocol byte says what follows the header.
const VXLAN_GPE_P: u8 = 0x04;
/// The VXLAN-GPE version bits (only version 0 is defined).
const VXLAN_GPE_VERSION: u8 = 0x30;
/// The VXLAN-GPE O bit: an OAM packet.
const VXLAN_GPE_OAM: u8 = 0x01;
/// VXLAN-GPE's next protocol for Ethernet.
const VXLAN_GPE_ETHERNET: u8 = 3;

/// Where a received tunnel header's outer packet is described: the outer stack the walk
/// recorded (whole frames), or the socket's report (payloads). Each runs its own checks
/// of the outer packet; the tunnel's and the inner frame's are shared.
pub(crate) trait Underlay<'a>: Record<'a> {
    /// What translation keeps of its header once accepted (nothing for a payload).
    type Header: Copy;
    /// The checks of the outer packet, for a tunnel header `at` bytes in, in the order
    /// a receiver trusts its headers; its header and what decapsulation reports of it.
    ///
    /// # Errors
    /// The first check that fails.
    fn accept(&self, at: usize, policy: ReceivePolicy) -> Result<(Self::Header, OuterFacts)>;
    /// Why the walk found no tunnel header in it (an outer fragment, an IPv6 extension
    /// header, no tunnel at all), said where the walk ends without one.
    fn no_tunnel(&self) -> Error;
}

/// A tunnel header whose outer packet passed the receiver's checks
/// ([`accept`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Accepted<'a, H> {
    /// The tunnel header.
    pub tunnel: Tunnel<'a>,
    /// The outer header, for translation.
    pub header: H,
    /// What decapsulation reports of the outer packet.
    pub outer: OuterFacts,
    /// Length of the inner frame: the tunnel header's payload.
    pub inner_len: usize,
    /// Offset of the tunnel header in the frame (or payload).
    pub at: usize,
}

/// A received tunnel packet: outer packet, accepted tunnel, inner stack.
///
/// The outer packet is checked when the walk reaches the tunnel header, before the
/// inner stack is walked: a packet the receiver refuses ends there, and what the later
/// steps need of the outer packet is one value (`accepted`), not the views it came from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Received<'a, K, U: Underlay<'a> = Outer<'a>> {
    /// What the receiver accepts.
    pub policy: ReceivePolicy,
    /// The outer packet.
    pub outer: U,
    /// The tunnel, once its outer packet is accepted.
    pub accepted: Option<Accepted<'a, U::Header>>,
    /// The inner stack.
    pub inner: Inner<K>,
}

impl<'a, K: Default, U: Underlay<'a>> Received<'a, K, U> {
    /// Nothing received yet from `outer`.
    #[inline(always)]
    pub fn new(policy: ReceivePolicy, outer: U) -> Self {
        Received {
            policy,
            outer,
            accepted: None,
            inner: Inner::default(),
        }
    }
}

impl<'a, K: Record<'a>, U: Underlay<'a>> RecordFrame<'a> for Received<'a, K, U> {
    type Outer = U;
    type Inner = Inner<K>;
    #[inline(always)]
    fn outer(&mut self) -> &mut U {
        &mut self.outer
    }
    #[inline(always)]
    fn tunnel(&mut self, at: usize, tunnel: Tunnel<'a>) -> Result<()> {
        self.accepted = Some(accept(&self.outer, at, tunnel, self.policy)?);
        Ok(())
    }
    #[inline(always)]
    fn no_tunnel(&mut self) -> Result<()> {
        Err(self.outer.no_tunnel())
    }
    #[inline(always)]
    fn inner(&mut self) -> &mut Inner<K> {
        &mut self.inner
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
/// the inner frame counts) unless `checks` says they are made, then the receiver's own
/// checks of the tunnel (`of_tunnel`: translation's refusal of a segment NVGRE reserves;
/// none for decapsulation), then the inner Ethernet header (untagged for NVGRE).
// The receiver's checks handed in, not a second function for the tunnel's part: with
// `validate` made of the two, LLVM laid out decapsulation of socket payloads anew (186.2
// -> 198.2 instructions per packet, benches/instructions.sh).
#[inline(always)]
pub(crate) fn validate<'a, K, U: Underlay<'a>>(
    received: &Received<'a, K, U>,
    error: Option<Error>,
    checks: GeneveChecks<'_>,
    of_tunnel: impl FnOnce(Tunnel<'a>) -> Result<()>,
) -> Result<Accepted<'a, U::Header>> {
    let Some(accepted) = received.accepted else {
        // Not accepted: the walk ended with why (a malformed outer stack, `accept`'s
        // refusal, a fragment or no tunnel at all: `RecordFrame::no_tunnel`).
        return Err(super::no_tunnel(error, None, 0));
    };
    if let (Tunnel::Geneve(h), GeneveChecks::Pending(understood)) = (accepted.tunnel, checks) {
        geneve::check(&h, understood).map_err(|e| e.at(accepted.at))?;
    }
    of_tunnel(accepted.tunnel)?;
    validate_inner(accepted.tunnel, &received.inner, error)?;
    Ok(accepted)
}

/// The inner frame's checks: its Ethernet header decoded (its IP header, for Geneve's
/// IP payloads), and no tag in NVGRE.
#[inline(always)]
fn validate_inner<K>(tunnel: Tunnel<'_>, inner: &Inner<K>, error: Option<Error>) -> Result<()> {
    // The payload is a tenant's Ethernet frame, or IP packet (Geneve's IP payloads): its
    // first header must decode. An Ethernet header decoded settles it (an IP payload
    // has none), before the protocol type is read again: geneve_decap 133.3 -> 129.3,
    // decap 101.3 -> 100.3 instructions per packet, mixed 178.0 -> 178.3, 129.2 ->
    // 130.3. Not reading it at all (the walk records an IP payload's IP header only)
    // measured the same but payload 200.2 -> 222.6 (registers moved in its loop).
    let ip_payload = || match tunnel {
        Tunnel::Geneve(h) => h.protocol() != EtherType::TRANSPARENT_ETHERNET_BRIDGING,
        _ => false,
    };
    if !(inner.ethernet || ip_payload() && inner.ip.is_some()) {
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
