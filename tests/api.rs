//! The API a user reaches for: conversions, readable Debug, `?` on a `tunnelwire::Error`,
//! errors to count by, one name for a tunnel, and the read-only decapsulation path.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use tunnelwire::packet::{Decoder, Encapsulation, ReservedPolicy, TunnelKind};
use tunnelwire::tunnel::{Decapsulator, EcnMode, Encapsulator, HEADROOM, TunnelConfig};
use tunnelwire::wire::{EtherType, IpProtocol, MacAddr, Vni, Vsid};
use tunnelwire::{ErrorKind, Truncation};

#[test]
fn segment_ids_convert_from_and_to_integers_and_text() {
    let vni = Vni::try_from(42u32).unwrap();
    assert_eq!(u32::from(vni), 42);
    assert!(Vni::try_from(1 << 24).is_err());
    assert_eq!(Vsid::from(vni).get(), 42);
    assert_eq!(Vni::from(Vsid::new(7).unwrap()).get(), 7);
    assert_eq!("4242".parse::<Vni>().unwrap().get(), 4242);
    assert_eq!("0x1092".parse::<Vsid>().unwrap().get(), 0x1092);
    let err = "lots".parse::<Vni>().unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::OutOfRange { field, .. } if field.starts_with("VNI")),
        "{err}"
    );
    assert_eq!(
        Vni::new(1 << 24).unwrap_err().to_string(),
        "vxlan: VNI (24 bits, at most 16777215) 16777216 is out of range"
    );
}

#[test]
fn open_code_sets_convert_and_debug_by_name() {
    assert_eq!(EtherType::from(0x0800), EtherType::IPV4);
    assert_eq!(u16::from(EtherType::IPV6), 0x86dd);
    assert_eq!(IpProtocol::from(17), IpProtocol::UDP);
    assert_eq!(format!("{:?}", EtherType::IPV4), "EtherType::IPV4");
    assert_eq!(format!("{:?}", EtherType(0x1234)), "EtherType(0x1234)");
    assert_eq!(format!("{:?}", IpProtocol::GRE), "IpProtocol::GRE");
    assert_eq!(format!("{:?}", IpProtocol(200)), "IpProtocol(200)");
}

#[test]
fn question_mark_works_in_a_tunnelwire_result() {
    fn config(mac: &str) -> tunnelwire::Result<TunnelConfig> {
        let mut config = TunnelConfig::vxlan(
            "42".parse()?,
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
        );
        config.src_mac = mac.parse::<MacAddr>()?;
        config.ecn = EcnMode::Normal;
        Ok(config)
    }
    assert!(config("02:00:00:00:00:01").is_ok());
    assert!(config("not a mac").is_err());
}

#[test]
fn errors_count_by_a_value_free_reason() {
    // The 27 malformed frames of tests/data hold many different values but few reasons.
    let bytes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/malformed.pcap"),
    )
    .unwrap();
    let mut reader = pcap_file::pcap::PcapReader::new(&bytes[..]).unwrap();
    let (mut messages, mut reasons) = (BTreeMap::new(), BTreeMap::new());
    while let Some(packet) = reader.next_packet() {
        let packet = packet.unwrap();
        if let (_, Some(error)) = Decoder::new().decode_partial(&packet.data) {
            *messages.entry(error.to_string()).or_insert(0) += 1;
            *reasons.entry(error.kind.name()).or_insert(0) += 1;
        }
    }
    assert!(messages.len() > 20 && reasons.len() < 12, "{reasons:?}");
    // A truncation says whether the header or a length field ran past the buffer.
    let short_total = [
        0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0, 0x45, 0, 0x05, 0xdc, 0, 0, 0, 0, 64, 17,
        0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    let error = Decoder::new().decode(&short_total).unwrap_err();
    assert!(matches!(
        error.kind,
        ErrorKind::Truncated {
            by: Truncation::LengthField,
            ..
        }
    ));
    // A usage error claims no byte offset.
    let error = Encapsulator::new(TunnelConfig {
        ttl: 0,
        ..TunnelConfig::vxlan(
            Vni::new(1).unwrap(),
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
        )
    })
    .unwrap_err();
    assert_eq!(error.to_string(), "tunnel: TTL 0 is out of range");
}

#[test]
fn one_name_for_a_tunnel_and_a_read_only_decapsulation() {
    let config = TunnelConfig::vxlan(
        Vni::new(4242).unwrap(),
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 2),
    );
    let inner = [0x02u8; 64];
    let mut buf = vec![0u8; HEADROOM + inner.len()];
    buf[HEADROOM..].copy_from_slice(&inner);
    let frame = Encapsulator::new(config)
        .unwrap()
        .encapsulate(&mut buf, HEADROOM..HEADROOM + inner.len())
        .unwrap();
    let bytes = &buf[frame];
    let decoded = Decoder {
        vxlan_reserved: ReservedPolicy::Reject,
        ..Decoder::new()
    }
    .decode(bytes)
    .unwrap();
    let tunnel = decoded.tunnel.unwrap();
    assert_eq!(tunnel.kind(), TunnelKind::Vxlan);
    assert_eq!(
        tunnel.encapsulation(),
        Encapsulation::Vxlan(Vni::new(4242).unwrap())
    );
    assert_eq!(tunnel.payload(), &inner[..]);
    // `inspect` reads a `&[u8]`: no copy where nothing is rewritten.
    let found = Decapsulator::default().inspect(bytes).unwrap();
    assert_eq!(found.encapsulation, tunnel.encapsulation());
    assert_eq!(&bytes[found.inner], &inner[..]);
}
