//! The `encapsulate` target: settings drawn for `TunnelConfig`, `validate`'s address
//! rules, the outer headers as the config says, and decapsulation back to the inner frame.

use core::net::IpAddr;

use arbitrary::Arbitrary;
use tunnelwire::packet::{Stack, Tunnel};
use tunnelwire::tunnel::flow::FlowHash;
use tunnelwire::tunnel::{
    Checksums, DecapConfig, Decapsulator, Dscp, EcnMode, Encapsulation, Encapsulator, FlowId,
    FlowLabel, InnerVlanPolicy, OuterVlan, PortRange, SourcePolicy, TunnelConfig,
};
use tunnelwire::wire::{
    EtherType, GeneveRepr, MacAddr, NvgreRepr, VlanId, Vni, Vsid, VxlanRepr, ethernet, geneve,
    ipv4, vlan,
};
use tunnelwire::{AddressField, ErrorKind, Layer, Result};

use super::shared::{
    InnerVlan, check_tunnel_udp, decoder_for, drawn_options, flow_hash, strip_tags, understanding,
};
use super::{ENCAP_SETTINGS_LEN, split};
use crate::payload;
use crate::underlay::{
    DrawnAddress, OuterIp, can_be_vtep, carrier, ipv4_checksum_ok, outer_tos,
    unspecified_destination,
};

/// Tunnel settings drawn by `arbitrary`, each field mapped onto mostly valid values so
/// most inputs get past `validate` and a few do not.
#[derive(Debug, Arbitrary)]
pub(super) struct EncapSettings {
    /// VXLAN, NVGRE or Geneve, by its value modulo 3.
    kind: u8,
    /// A Geneve option of the template.
    geneve_option: Option<(u16, u8, u8)>,
    segment: u32,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    outer_vlan: Option<(u16, u8)>,
    family: u8,
    src_ip: DrawnAddress,
    dst_ip: DrawnAddress,
    allow_loopback: bool,
    ttl: u8,
    dont_frag: bool,
    dscp: Option<u8>,
    ecn_compatibility: bool,
    fixed_flow_id: Option<u8>,
    fixed_flow_label: Option<u32>,
    inner_vlan: InnerVlan,
    vxlan_port: u16,
    source_ports: (u16, u16),
    udp_checksum: bool,
    udp6_zero_checksum_tx: bool,
    symmetric_hash: bool,
    mtu: u16,
    headroom: u8,
}

impl EncapSettings {
    /// The config, or the error of a value that cannot even be built (a segment over 24
    /// bits).
    fn config(&self) -> Result<TunnelConfig> {
        let segment = self.segment % (Vni::MAX + 0x100);
        let encapsulation = match self.kind % 3 {
            0 => Encapsulation::Vxlan(Vni::new(segment)?),
            1 => Encapsulation::Nvgre(Vsid::new(segment)?),
            _ => Encapsulation::Geneve(Vni::new(segment)?),
        };
        // IPv4 or IPv6, about evenly; one in eight of two families, which `validate`
        // refuses.
        let (src_v6, dst_v6) = match self.family % 16 {
            0 => (false, true),
            1 => (true, false),
            2..=8 => (false, false),
            _ => (true, true),
        };
        let (lo, hi) = self.source_ports;
        Ok(TunnelConfig {
            encapsulation,
            src_mac: MacAddr(self.src_mac),
            dst_mac: MacAddr(self.dst_mac),
            outer_vlan: match self.outer_vlan {
                Some((vid, pcp)) => Some(OuterVlan {
                    vid: VlanId::new(vid % 4096)?,
                    pcp: pcp % 9,
                }),
                None => None,
            },
            src_ip: self.src_ip.address(src_v6),
            dst_ip: self.dst_ip.address(dst_v6),
            sources: if self.allow_loopback {
                SourcePolicy::AllowLoopback
            } else {
                SourcePolicy::RoutableOnly
            },
            ttl: self.ttl,
            dont_frag: self.dont_frag,
            dscp: self.dscp.map_or(Dscp::CopyInner, |d| Dscp::Fixed(d % 65)),
            ecn: if self.ecn_compatibility {
                EcnMode::Compatibility
            } else {
                EcnMode::Normal
            },
            flow_id: self.fixed_flow_id.map_or(FlowId::Hash, FlowId::Fixed),
            // A few past 20 bits, which `validate` refuses.
            flow_label: self
                .fixed_flow_label
                .map_or(FlowLabel::Hash, |label| FlowLabel::Fixed(label % 0x10_0100)),
            inner_vlan: self.inner_vlan.into(),
            vxlan_port: self.vxlan_port,
            geneve_port: geneve::PORT,
            geneve_options: drawn_options(self.geneve_option, true),
            source_ports: PortRange::new(lo.min(hi), lo.max(hi))?,
            udp_checksum: self.udp_checksum,
            udp6_zero_checksum_tx: self.udp6_zero_checksum_tx,
            symmetric_hash: self.symmetric_hash,
            mtu: self.mtu,
        })
    }

    /// Where the inner frame starts: usually with room to spare, sometimes short.
    fn inner_at(&self) -> usize {
        if self.headroom & 3 == 0 {
            usize::from(self.headroom >> 2)
        } else {
            tunnelwire::tunnel::HEADROOM + 8
        }
    }
}

/// Encapsulation with settings drawn from the input, then decapsulation: `validate`
/// refuses the addresses exactly as the rules say, and the config is refused by
/// `Encapsulator::new` exactly when `validate` refuses it; a refused frame leaves the
/// buffer as it was; otherwise the outer headers carry the settings over the configured
/// family, the checksums sum right, and decapsulation gives back the inner frame byte for
/// byte (its tags stripped under `Strip`), from the whole frame and from its socket
/// payload alike. `encapsulate_payload` writes the tail of the frame
/// (`payload::check_payload_encap`); `encapsulate_each`, the same frame in a batch.
pub fn encapsulate(data: &[u8]) {
    let (settings, inner): (EncapSettings, _) = split(data, ENCAP_SETTINGS_LEN);
    let config = match settings.config() {
        Ok(config) => config,
        Err(error) => {
            assert!(
                matches!(error.kind, ErrorKind::OutOfRange { .. }),
                "{error:?}"
            );
            return;
        }
    };
    let validated = config.validate();
    check_address_rules(&config, validated);
    let mut encap = match (Encapsulator::new(config), validated) {
        (Ok(encap), Ok(())) => encap,
        (Err(a), Err(b)) => {
            assert_eq!(a, b);
            return;
        }
        (a, b) => panic!("Encapsulator::new gave {a:?}, validate {b:?}"),
    };
    assert_eq!(encap.config(), &config);
    let at = settings.inner_at();
    let mut buf = vec![0x5a; at];
    buf.extend_from_slice(inner);
    let before = buf.clone();
    let (stack, _) = Stack::decode(inner);
    let tags = stack.vlan_tags().count();
    let strip_len = match config.inner_vlan {
        InnerVlanPolicy::Strip => tags * vlan::HEADER_LEN,
        _ => 0,
    };
    let end = buf.len();
    // The same frame in a batch, by an encapsulator in the same state.
    let mut batched = encap.clone();
    let result = encap.encapsulate(&mut buf, at..end);
    let mut batch = [before.clone()];
    let mut handed = Vec::new();
    batched.encapsulate_each(
        batch
            .iter_mut()
            .map(|bytes| (bytes.as_mut_slice(), at..end)),
        |bytes, result| handed.push((result, bytes.to_vec())),
    );
    let mut alone = buf.clone();
    // Over IPv4 with DF clear each frame takes the next ID of its tuple, counted by the
    // whole process (RFC 6864): the batch's frame has the one after, and its header
    // checksum follows. Those four bytes aside.
    if let (Ok(out), IpAddr::V4(_), false, [(_, bytes)]) =
        (&result, config.src_ip, config.dont_frag, &mut handed[..])
    {
        let ip_at = out.start + config.outer_vlan.map_or(0, |_| vlan::HEADER_LEN) + 14;
        for written in [&mut alone, bytes] {
            assert!(ipv4_checksum_ok(&written[ip_at..ip_at + ipv4::HEADER_LEN]));
            written[ip_at + 4..ip_at + 6].fill(0);
            written[ip_at + 10..ip_at + 12].fill(0);
        }
    }
    assert_eq!(
        handed,
        [(result.clone(), alone)],
        "a batch encapsulated otherwise"
    );
    let out = match result {
        Ok(out) => out,
        Err(error) => {
            assert_eq!(buf, before, "a refused encapsulation changed the buffer");
            match error.kind {
                // Room for the outer headers before the inner frame, its tags stripped.
                ErrorKind::Headroom { needed, available } => {
                    assert_eq!((needed, available), (encap.overhead(), at + strip_len));
                    assert!(available < needed);
                }
                // The outer IP packet that would have been sent, over the MTU.
                ErrorKind::ExceedsMtu { len, mtu } => {
                    let tag_len = config.outer_vlan.map_or(0, |_| vlan::HEADER_LEN);
                    let ip_len =
                        encap.overhead() - ethernet::HEADER_LEN - tag_len + inner.len() - strip_len;
                    assert_eq!((len, mtu), (ip_len, config.mtu));
                    assert!(len > usize::from(mtu));
                }
                // Bytes too few for an Ethernet header are no frame to send.
                ErrorKind::Truncated { .. } => {
                    assert!(inner.len() < ethernet::HEADER_LEN && error.layer == Layer::Ethernet)
                }
                // Tagged: a decoded tag, or a TPID whose tag is cut short (it counts).
                ErrorKind::InnerVlanTag => assert!(
                    (tags > 0 || stack.ethertype().is_some_and(|t| t.is_vlan_tpid()))
                        && config.inner_vlan != InnerVlanPolicy::Keep
                ),
                _ => panic!("encapsulation refused: {error:?}"),
            }
            payload::check_payload_encap(&mut encap, &before, at..end, Err(error), strip_len);
            return;
        }
    };
    let expected = match config.inner_vlan {
        InnerVlanPolicy::Strip => strip_tags(inner, tags),
        _ => inner.to_vec(),
    };
    assert_eq!(out.end, buf.len());
    assert_eq!(out.len(), encap.overhead() + expected.len());
    let frame = &buf[out.clone()];
    assert_eq!(&frame[encap.overhead()..], &expected[..]);
    let hash = flow_hash(inner, config.symmetric_hash);
    check_outer_headers(&config, frame, encap.overhead(), &stack, hash);
    payload::check_payload_encap(
        &mut encap,
        &before,
        at..end,
        Ok((out.clone(), &buf)),
        strip_len,
    );

    let decap = Decapsulator::new(DecapConfig {
        decoder: decoder_for(&config),
        checksums: Checksums::Verify,
        sources: config.sources,
        udp6_zero_checksum_rx: config.udp6_zero_checksum_tx,
        inner_vlan: InnerVlanPolicy::Keep,
        apply_ecn: true,
        geneve_understood: understanding(&config.geneve_options),
    });
    let mut copy = frame.to_vec();
    let got = decap
        .decapsulate(&mut copy)
        .unwrap_or_else(|error| panic!("decapsulation refused our own frame: {error:?}"));
    assert_eq!(
        &copy[got.inner.clone()],
        &expected[..],
        "inner frame changed"
    );
    assert_eq!(got.encapsulation, config.encapsulation);
    assert_eq!(
        (got.outer_src, got.outer_dst),
        (config.src_ip, config.dst_ip)
    );
    assert_eq!(got.ecn_alarm, None, "our own ECN marking raised an alarm");
    payload::check_payload_decap(&decap, frame, &Ok((got, copy)));
}

/// `validate` refuses the addresses exactly as the rules say, the first rule broken
/// first: two families (`MixedFamilies`), a source that cannot be a VTEP under the
/// policy, an unspecified destination; as a setting, with no byte offset. Nothing else
/// about an address is refused (a multicast destination floods to a group, RFC 7348
/// section 4.2).
fn check_address_rules(config: &TunnelConfig, validated: Result<()>) {
    let (src, dst) = (config.src_ip, config.dst_ip);
    let broken = if src.is_ipv4() != dst.is_ipv4() {
        Some(ErrorKind::MixedFamilies)
    } else if !can_be_vtep(src, config.sources) {
        Some(ErrorKind::BadAddress {
            field: AddressField::Source,
            address: src,
        })
    } else if unspecified_destination(dst) {
        Some(ErrorKind::BadAddress {
            field: AddressField::Destination,
            address: dst,
        })
    } else {
        None
    };
    match (broken, validated) {
        (Some(kind), Err(error)) => {
            assert_eq!((error.layer, error.kind), (Layer::Tunnel, kind));
            assert!(
                !error.has_offset(),
                "a setting's error at a byte: {error:?}"
            );
        }
        (Some(kind), Ok(())) => panic!("validate took what breaks a rule: {kind:?}"),
        (None, Err(error)) => assert!(
            !matches!(
                error.kind,
                ErrorKind::BadAddress { .. } | ErrorKind::MixedFamilies
            ),
            "validate refused addresses that break no rule: {error:?}"
        ),
        (None, Ok(())) => {}
    }
}

/// The outer headers of an encapsulated frame say what the config says, over its family:
/// MACs, tag, addresses, lengths that end with the frame and fit the MTU, the outer TOS or
/// traffic class by the DSCP and ECN rules; IPv4 with a right checksum, TTL and DF (ID 0
/// when set); IPv6 with the hop limit and the flow label (the fixed one, or 20 bits of
/// the flow hash and never 0), no extension header; VXLAN with its ports (the source
/// from the flow hash) and a checksum that sums right unless sent as zero; NVGRE with its
/// FlowID.
fn check_outer_headers(
    config: &TunnelConfig,
    frame: &[u8],
    overhead: usize,
    inner: &Stack<'_>,
    hash: FlowHash,
) {
    let (decoded, _) = decoder_for(config).decode_partial(frame);
    let outer = decoded.outer;
    let eth = outer.ethernet.expect("outer Ethernet");
    assert_eq!(
        (eth.src_addr(), eth.dst_addr()),
        (config.src_mac, config.dst_mac)
    );
    let tag = outer.vlans[0].map(|t| (t.vid(), t.pcp()));
    assert_eq!(tag, config.outer_vlan.map(|v| (v.vid, v.pcp)));
    let ip = OuterIp::of(&outer).expect("an outer IP header");
    assert_eq!((ip.src(), ip.dst()), (config.src_ip, config.dst_ip));
    assert_eq!(outer.l3_offset() + ip.packet_len(), frame.len());
    assert!(ip.packet_len() <= usize::from(config.mtu));
    let tos = outer_tos(config.dscp, config.ecn, inner.traffic_class());
    assert_eq!(ip.traffic_class(), tos);
    let nvgre = matches!(config.encapsulation, Encapsulation::Nvgre(_));
    assert_eq!(ip.protocol(), carrier(nvgre), "not UDP or GRE next");
    match ip {
        OuterIp::V4(v4) => {
            assert_eq!(v4.header_len(), ipv4::HEADER_LEN);
            assert!(ipv4_checksum_ok(ip.header()));
            assert_eq!((v4.ttl(), v4.dont_frag()), (config.ttl, config.dont_frag));
            if config.dont_frag {
                assert_eq!(v4.ident(), 0, "an atomic datagram has ID 0 (RFC 6864)");
            }
        }
        OuterIp::V6(v6) => {
            assert_eq!(v6.version(), 6);
            assert_eq!(v6.hop_limit(), config.ttl);
            let label = v6.flow_label();
            match config.flow_label {
                FlowLabel::Fixed(fixed) => assert_eq!(label, fixed),
                // RFC 6438: 20 bits of the flow hash, but never 0, which is "no label"
                // (RFC 6437 section 2).
                FlowLabel::Hash => {
                    let bits = hash.0 as u32 & 0xf_ffff;
                    assert_ne!(label, 0, "a hashed flow label of 0");
                    assert!(
                        label == bits || bits == 0,
                        "flow label {label:#x} of {hash:?}"
                    );
                }
            }
        }
    }
    let tunnel = decoded.tunnel.expect("our own frame decodes to a tunnel");
    assert_eq!(tunnel.encapsulation(), config.encapsulation);
    assert_eq!(decoded.inner.offset, overhead);
    let check_udp = |udp, port| {
        let source_port = hash.source_port(config.source_ports);
        let zero = (!config.udp_checksum, config.udp6_zero_checksum_tx);
        check_tunnel_udp(frame, &ip, udp, port, source_port, zero);
    };
    match tunnel {
        Tunnel::Vxlan(h) => {
            assert_eq!(VxlanRepr::parse(&h), VxlanRepr::new(h.vni()));
            check_udp(outer.udp().expect("VXLAN over UDP"), config.vxlan_port);
        }
        Tunnel::Nvgre(h) => {
            let flow_id = match config.flow_id {
                FlowId::Fixed(id) => id,
                FlowId::Hash => hash.flow_id(),
            };
            assert_eq!(NvgreRepr::parse(&h), NvgreRepr::new(h.vsid(), flow_id));
        }
        Tunnel::Geneve(h) => {
            let expected = GeneveRepr::new(h.vni(), EtherType::TRANSPARENT_ETHERNET_BRIDGING)
                .with_options(config.geneve_options);
            assert_eq!(GeneveRepr::parse(&h), expected);
            check_udp(outer.udp().expect("Geneve over UDP"), config.geneve_port);
        }
    }
}
