//! The `translate` target: translation to a drawn kind and back, each output checked as
//! the receiver reads it; a refused translation changes no byte.

use std::ops::Range;

use arbitrary::Arbitrary;
use tunnelwire::packet::{Stack, Tunnel};
use tunnelwire::tunnel::flow::FlowKey;
use tunnelwire::tunnel::{
    DecapConfig, Decapsulated, Decapsulator, FlowId, InnerVlanPolicy, TranslateConfig, Translator,
    TunnelKind,
};
use tunnelwire::wire::{EtherType, GeneveRepr, NvgreRepr, VxlanRepr};
use tunnelwire::{ErrorKind, Result};

use super::shared::{
    InnerVlan, both_checksum_modes, check_tunnel_udp, decoder, drawn_options, flow_hash,
    inner_stack, strip_tags,
};
use super::{SETTINGS_LEN, split};
use crate::underlay::{OuterIp, ReceiveBits, carrier, check_receive_verdict, ipv4_checksum_ok};

#[derive(Debug, Arbitrary)]
pub(super) struct TranslateSettings {
    /// VXLAN, NVGRE or Geneve, by its value modulo 3; the rest of it (divided by 3,
    /// modulo 33) draws the translator's Geneve option: none, or one of 0-31 words (never
    /// critical: the translator's own reader would refuse it). One byte for both: the
    /// settings fill their 16.
    to: u8,
    second_port: bool,
    reject_reserved: bool,
    udp_checksum: bool,
    symmetric_hash: bool,
    fixed_flow_id: Option<u8>,
    inner_vlan: InnerVlan,
    small_mtu: Option<u16>,
    headroom: u8,
    receive: ReceiveBits,
}

/// Translation to the drawn kind, then back to the frame's own kind: the frame is
/// accepted or refused as the receive rules say; each output lies inside the buffer,
/// decapsulates to the original segment and the original inner frame (tags stripped
/// under `Strip`), keeps the outer Ethernet header, tags and IP header but for the
/// lengths, protocol and IPv4 checksum (which stays exactly as right as it was), carries
/// the flow's source port or FlowID and a UDP checksum that sums right unless sent as
/// zero; a refused translation leaves the buffer as it was.
pub fn translate(data: &[u8]) {
    let (settings, frame): (TranslateSettings, _) = split(data, SETTINGS_LEN);
    let _ = both_checksum_modes(|checksums| {
        let translator = Translator::new(TranslateConfig {
            decoder: decoder(settings.second_port, settings.reject_reserved),
            checksums,
            sources: settings.receive.sources(),
            udp6_zero_checksum_rx: settings.receive.udp6_zero_rx(),
            udp_checksum: settings.udp_checksum,
            udp6_zero_checksum_tx: settings.receive.udp6_zero_tx(),
            symmetric_hash: settings.symmetric_hash,
            flow_id: settings.fixed_flow_id.map_or(FlowId::Hash, FlowId::Fixed),
            inner_vlan: settings.inner_vlan.into(),
            mtu: settings.small_mtu.unwrap_or(9000),
            geneve_options: drawn_options(
                (settings.to / 3 % 33)
                    .checked_sub(1)
                    .map(|words| (0x0108, 1, words)),
                false,
            ),
            ..TranslateConfig::default()
        })
        .unwrap();
        let to = [TunnelKind::Vxlan, TunnelKind::Nvgre, TunnelKind::Geneve]
            [usize::from(settings.to % 3)];
        check_translate(&translator, frame, usize::from(settings.headroom % 17), to)
    });
}

/// What the receiving side makes of a frame under the translator's settings: its tunnel
/// and inner frame, tags kept and bytes untouched; it takes a zero UDP checksum over
/// IPv6 when `udp6_zero_checksum_rx` says.
fn reader(translator: &Translator, udp6_zero_checksum_rx: bool) -> Decapsulator {
    Decapsulator::new(DecapConfig {
        decoder: translator.config().decoder,
        checksums: translator.config().checksums,
        sources: translator.config().sources,
        udp6_zero_checksum_rx,
        inner_vlan: InnerVlanPolicy::Keep,
        apply_ecn: false,
        geneve_understood: translator.config().geneve_understood,
    })
}

fn check_translate(
    translator: &Translator,
    frame: &[u8],
    headroom: usize,
    to: TunnelKind,
) -> Result<Vec<u8>> {
    let mut buf = vec![0xa5; headroom];
    buf.extend_from_slice(frame);
    let range = headroom..buf.len();
    let receiver = reader(translator, translator.config().udp6_zero_checksum_rx);
    let seen = receiver.inspect(frame);
    check_receive_verdict(&receiver, frame, &seen);
    let before = buf.clone();
    let out = match translator.translate(&mut buf, range.clone(), to) {
        Ok(out) => out,
        Err(error) => {
            assert_eq!(buf, before, "a refused translation changed the buffer");
            if !error.kind.is_usage() {
                assert!(error.offset <= frame.len(), "{error:?}");
            }
            return Err(error);
        }
    };
    let seen = seen.expect("translated a frame decapsulation refuses");
    let received_inner = &frame[seen.inner.clone()];
    let stack = inner_stack(received_inner, seen.protocol);
    let tags = stack.vlan_tags().count();
    let expected = match translator.config().inner_vlan {
        InnerVlanPolicy::Strip => strip_tags(received_inner, tags),
        _ => received_inner.to_vec(),
    };
    let accepted = AcceptedFrame {
        translator,
        original: frame,
        seen: &seen,
        inner: &expected,
    };
    accepted.check(&buf, out.clone(), to, received_inner);
    assert_eq!(out.end, headroom + seen.inner.end, "the inner frame moved");

    // And back to the frame's own kind, hashing the inner frame as it now is.
    let there = buf.clone();
    match translator.translate(&mut buf, out.clone(), seen.kind()) {
        Ok(back) => {
            accepted.check(&buf, back.clone(), seen.kind(), &expected);
            assert_eq!(back.end, out.end);
        }
        Err(error) => {
            assert_eq!(buf, there, "a refused translation changed the buffer");
            // Room and size differ between the two kinds, and NVGRE refuses to keep tags.
            // A TPID whose tag is cut short counts as a tag.
            let tagged = tags > 0 || stack.ethertype().is_some_and(|t| t.is_vlan_tpid());
            let keeps_tags = translator.config().inner_vlan == InnerVlanPolicy::Keep && tagged;
            // VXLAN or Geneve sent over IPv6 with a zero UDP checksum comes back only to a
            // translator that takes one.
            let sent_zero = to != TunnelKind::Nvgre
                && seen.outer_src.is_ipv6()
                && translator.config().udp6_zero_checksum_tx
                && !translator.config().udp6_zero_checksum_rx;
            assert!(
                matches!(
                    error.kind,
                    ErrorKind::Headroom { .. } | ErrorKind::ExceedsMtu { .. }
                ) || (keeps_tags && error.kind == ErrorKind::InnerVlanTag)
                    || (sent_zero && error.kind == ErrorKind::ZeroChecksum),
                "translated one way but not back: {error:?}"
            );
        }
    }
    Ok(buf)
}

/// A frame the translator accepted: what each of its translations must carry.
struct AcceptedFrame<'a> {
    translator: &'a Translator,
    /// The frame as received.
    original: &'a [u8],
    /// What the receiving side found in it.
    seen: &'a Decapsulated,
    /// Its inner frame once translated: tags stripped under `Strip`.
    inner: &'a [u8],
}

impl AcceptedFrame<'_> {
    /// A translation to `to` at `buf[out]` of a frame whose inner frame was `hashed`:
    /// inside the buffer, of kind `to`, carrying the segment, addresses and inner frame
    /// the original did; the original's outer Ethernet header, tags and IP header but for
    /// what a translation rewrites, with lengths that end with the frame; the flow's
    /// source port or FlowID; a UDP checksum that sums right unless sent as zero.
    fn check(&self, buf: &[u8], out: Range<usize>, to: TunnelKind, hashed: &[u8]) {
        let translator = self.translator;
        assert!(out.start <= out.end && out.end <= buf.len(), "{out:?}");
        let frame = &buf[out.clone()];
        let got = reader(translator, translator.config().udp6_zero_checksum_tx)
            .inspect(frame)
            .unwrap_or_else(|e| panic!("a translated frame does not decapsulate: {e:?}"));
        assert_eq!(got.kind(), to);
        assert_eq!(got.segment(), self.seen.segment());
        assert_eq!(
            (got.outer_src, got.outer_dst),
            (self.seen.outer_src, self.seen.outer_dst)
        );
        assert_eq!(&frame[got.inner.clone()], self.inner);
        assert_eq!(
            got.inner.end,
            frame.len(),
            "padding after the outer packet kept"
        );

        let (stack, _) = Stack::decode(frame);
        let (original, _) = Stack::decode(self.original);
        let l3 = stack.l3_offset();
        assert_eq!(&frame[..l3], &self.original[..original.l3_offset()]);
        let ip = OuterIp::of(&stack).expect("an outer IP header");
        let was = OuterIp::of(&original).expect("an outer IP header");
        assert_eq!(ip.header().len(), was.header().len());
        for (i, (a, b)) in ip.header().iter().zip(was.header()).enumerate() {
            assert!(
                a == b || ip.rewritten_bytes().contains(&i),
                "outer IP header byte {i} changed"
            );
        }
        if let (OuterIp::V4(_), OuterIp::V4(_)) = (ip, was) {
            assert_eq!(
                ipv4_checksum_ok(ip.header()),
                ipv4_checksum_ok(was.header()),
                "the IPv4 checksum is not exactly as right as it was"
            );
        }
        assert_eq!(ip.protocol(), carrier(to == TunnelKind::Nvgre));
        assert_eq!(l3 + ip.packet_len(), frame.len());
        assert!(ip.packet_len() <= usize::from(translator.config().mtu));

        let hash = match self.seen.protocol {
            EtherType::TRANSPARENT_ETHERNET_BRIDGING => {
                flow_hash(hashed, translator.config().symmetric_hash)
            }
            ip => {
                let key = FlowKey::from_ip_packet(hashed, ip);
                if translator.config().symmetric_hash {
                    key.symmetric()
                } else {
                    key
                }
                .hash()
            }
        };
        assert_eq!(got.protocol, self.seen.protocol);
        // The UDP header of VXLAN or Geneve, to the tunnel's `port`.
        let check_udp = |port: u16| {
            let udp = stack.udp().expect("a UDP tunnel over UDP");
            let config = translator.config();
            let source_port = hash.source_port(config.source_ports);
            let zero = (!config.udp_checksum, config.udp6_zero_checksum_tx);
            check_tunnel_udp(frame, &ip, udp, port, source_port, zero);
        };
        match translator.config().decoder.decode_partial(frame).0.tunnel {
            Some(Tunnel::Vxlan(h)) => {
                assert_eq!(VxlanRepr::parse(&h), VxlanRepr::new(h.vni()));
                check_udp(translator.config().vxlan_port);
            }
            Some(Tunnel::Nvgre(h)) => {
                let flow_id = match translator.config().flow_id {
                    FlowId::Fixed(id) => id,
                    FlowId::Hash => hash.flow_id(),
                };
                assert_eq!(NvgreRepr::parse(&h), NvgreRepr::new(h.vsid(), flow_id));
            }
            Some(Tunnel::Geneve(h)) => {
                let expected = GeneveRepr::new(h.vni(), self.seen.protocol)
                    .with_options(translator.config().geneve_options);
                assert_eq!(GeneveRepr::parse(&h), expected);
                check_udp(translator.config().geneve_port);
            }
            None => panic!("a translated frame without a tunnel"),
        }
    }
}
