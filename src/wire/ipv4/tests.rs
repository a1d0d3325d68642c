use super::*;

// UDP, ID 0x1234, DF, TTL 64, 10.0.0.1 > 10.0.0.2, 4-byte payload, 2 bytes of padding.
static PACKET: [u8; 26] = [
    0x45, 0xb9, 0x00, 0x18, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x01,
    0x0a, 0x00, 0x00, 0x02, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00,
];

fn with_checksum() -> [u8; 26] {
    let mut bytes = PACKET;
    Ipv4Packet::new_unchecked(&mut bytes[..]).fill_checksum();
    bytes
}

#[test]
fn deconstruct() {
    let bytes = with_checksum();
    let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!(packet.version(), 4);
    assert_eq!(packet.ihl(), 5);
    assert_eq!(packet.dscp(), 0x2e);
    assert_eq!(packet.ecn(), 1);
    assert_eq!(packet.total_len(), 24);
    assert_eq!(packet.ident(), 0x1234);
    assert!(packet.dont_frag() && !packet.more_frags() && !packet.reserved_flag());
    assert_eq!(packet.frag_offset(), 0);
    assert!(!packet.is_fragment());
    assert_eq!(packet.ttl(), 64);
    assert_eq!(packet.protocol(), IpProtocol::UDP);
    assert_eq!(packet.src_addr(), Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(packet.dst_addr(), Ipv4Addr::new(10, 0, 0, 2));
    assert!(packet.verify_checksum());
    assert_eq!(
        packet.payload(),
        &[0xde, 0xad, 0xbe, 0xef],
        "padding is not payload"
    );
}

#[test]
fn corrupted_checksum_fails_verification() {
    let mut bytes = with_checksum();
    bytes[11] ^= 1;
    assert!(
        !Ipv4Packet::new_checked(&bytes[..])
            .unwrap()
            .verify_checksum()
    );
}

#[test]
fn repr_round_trip_keeps_checksum_flags_and_options() {
    // IHL 6: one 4-byte option (NOP NOP NOP EOL), reserved flag and MF set, offset 5,
    // and a deliberately wrong checksum.
    let bytes: [u8; 26] = [
        0x46, 0x00, 0x00, 0x1a, 0xab, 0xcd, 0xa0, 0x05, 0x01, 0x06, 0xbe, 0xef, 0xc0, 0xa8, 0x01,
        0x01, 0xc0, 0xa8, 0x01, 0x02, 0x01, 0x01, 0x01, 0x00, 0x99, 0x98,
    ];
    let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
    let repr = Ipv4Repr::parse(&packet);
    assert_eq!(repr.options.as_slice(), &[1, 1, 1, 0]);
    assert!(repr.reserved_flag && repr.more_frags && packet.is_fragment());
    assert_eq!(repr.frag_offset, 5);
    assert_eq!(repr.payload_len, 2);
    let mut out = [0u8; 24];
    repr.emit(&mut out).unwrap();
    assert_eq!(out, bytes[..24]);
    assert_eq!(repr.buffer_len(), 24);
}

#[test]
fn construct_new_header() {
    let mut repr = Ipv4Repr::new(
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 2),
        IpProtocol::UDP,
        4,
    );
    repr.dscp = 0x2e;
    repr.ecn = 1;
    repr.ident = 0x1234;
    repr.dont_frag = true;
    let mut out = [0u8; 24];
    repr.emit(&mut out).unwrap();
    out[20..24].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    Ipv4Packet::new_unchecked(&mut out[..]).fill_checksum();
    assert_eq!(out, with_checksum()[..24]);
}

#[test]
fn length_fields_are_validated() {
    let mut bytes = PACKET;
    bytes[0] = 0x65;
    assert_eq!(
        Ipv4Packet::new_checked(&bytes[..]).unwrap_err().kind,
        ErrorKind::Version {
            found: 6,
            expected: 4
        }
    );
    bytes[0] = 0x44;
    assert_eq!(
        Ipv4Packet::new_checked(&bytes[..]).unwrap_err().kind,
        ErrorKind::HeaderLength(4)
    );
    bytes[0] = 0x4f;
    assert_eq!(
        Ipv4Packet::new_checked(&bytes[..]).unwrap_err().kind,
        ErrorKind::Truncated {
            needed: 60,
            available: 26,
            by: crate::error::Truncation::LengthField
        }
    );
    bytes[0] = 0x45;
    bytes[3] = 19;
    assert_eq!(
        Ipv4Packet::new_checked(&bytes[..]).unwrap_err().kind,
        ErrorKind::TotalLength {
            total_len: 19,
            header_len: 20
        }
    );
    bytes[3] = 27;
    assert_eq!(
        Ipv4Packet::new_checked(&bytes[..]).unwrap_err().kind,
        ErrorKind::Truncated {
            needed: 27,
            available: 26,
            by: crate::error::Truncation::LengthField
        }
    );
    assert!(Ipv4Packet::new_checked(&PACKET[..19]).is_err());
}

/// The rules `check_len` applies, one after another in the order a reader checks
/// them: what the fast tests and their cold diagnosis must agree with.
fn reference_check(buffer: &[u8]) -> Result<()> {
    crate::wire::require(Layer::Ipv4, buffer, HEADER_LEN)?;
    let (version, ihl) = (buffer[0] >> 4, buffer[0] & 0x0f);
    if version != 4 {
        return Err(Error::new(
            Layer::Ipv4,
            ErrorKind::Version {
                found: version,
                expected: 4,
            },
        ));
    }
    if ihl < 5 {
        return Err(Error::new(Layer::Ipv4, ErrorKind::HeaderLength(ihl)));
    }
    let header_len = usize::from(ihl) * 4;
    require_announced(Layer::Ipv4, buffer, header_len)?;
    let total_len = u16::from_be_bytes([buffer[2], buffer[3]]);
    if usize::from(total_len) < header_len {
        return Err(Error::new(
            Layer::Ipv4,
            ErrorKind::TotalLength {
                total_len,
                header_len: header_len as u8,
            },
        ));
    }
    require_announced(Layer::Ipv4, buffer, usize::from(total_len))
}

#[test]
fn every_first_byte_and_length_gets_the_reference_verdict() {
    let mut bytes = [0u8; 64];
    for first in 0..=u8::MAX {
        for total_len in [0u16, 19, 20, 21, 23, 24, 40, 59, 60, 61, 64, 65, 65535] {
            for len in [0, 1, 19, 20, 21, 24, 40, 59, 60, 61, 64] {
                bytes[0] = first;
                bytes[2..4].copy_from_slice(&total_len.to_be_bytes());
                let buffer = &bytes[..len];
                assert_eq!(
                    Ipv4Packet::new_checked(buffer).map(|_| ()),
                    reference_check(buffer),
                    "first byte {first:#04x}, total length {total_len}, {len} bytes"
                );
            }
        }
    }
}

#[test]
fn emit_rejects_oversized_total_length() {
    let repr = Ipv4Repr::new(
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        IpProtocol::UDP,
        65520,
    );
    assert!(repr.emit(&mut [0u8; 20]).is_err());
}

#[test]
fn nom_parser_cuts_padding() {
    let bytes = with_checksum();
    let (rest, packet) = parse(&bytes).unwrap();
    assert_eq!(rest, &[0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(packet.into_inner().len(), 24);
}
