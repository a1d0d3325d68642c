use super::*;
use std::vec::Vec;

/// OVN's option (critical) and an AWS GWLB one, then a one-byte payload.
static HEADER: [u8; 29] = [
    0x05, 0x40, 0x65, 0x58, 0x00, 0x00, 0x2a, 0x00, // 5 words of options, C
    0x01, 0x02, 0x80, 0x01, 0x00, 0x01, 0x00, 0x02, // class 0x0102 type 0x80, 1 word
    0x01, 0x08, 0x01, 0x02, 1, 2, 3, 4, 5, 6, 7, 8, // class 0x0108 type 1, 2 words
    0xaa,
];

#[test]
fn deconstruct() {
    let header = GeneveHeader::new_checked(&HEADER[..]).unwrap();
    assert_eq!(header.version(), 0);
    assert_eq!((header.options_len(), header.header_len()), (20, 28));
    assert!(!header.oam() && header.critical());
    assert_eq!(header.protocol(), EtherType::TRANSPARENT_ETHERNET_BRIDGING);
    assert_eq!(header.vni().get(), 42);
    assert_eq!(header.payload(), &[0xaa]);
    let options: Vec<_> = header.options().collect();
    assert_eq!(options.len(), 2);
    assert_eq!(
        (options[0].class(), options[0].option_type()),
        (0x0102, 0x80)
    );
    assert!(options[0].is_critical() && !options[1].is_critical());
    assert_eq!(options[0].data(), &[0, 1, 0, 2]);
    assert_eq!(options[1].data(), &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(options[1].as_bytes(), &HEADER[16..28]);
}

#[test]
fn construct_with_the_builder() {
    let mut options = GeneveOptions::new();
    options.push(0x0102, 0x80, &[0, 1, 0, 2]).unwrap();
    options
        .push(0x0108, 0x01, &[1, 2, 3, 4, 5, 6, 7, 8])
        .unwrap();
    let repr = GeneveRepr::new(
        Vni::new(42).unwrap(),
        EtherType::TRANSPARENT_ETHERNET_BRIDGING,
    )
    .with_options(options);
    assert_eq!(repr.buffer_len(), 28);
    let mut out = [0xffu8; 28];
    repr.emit(&mut out).unwrap();
    assert_eq!(out, HEADER[..28]);
    assert!(repr.emit(&mut [0u8; 27]).is_err());
}

#[test]
fn reserved_bits_and_flags_round_trip() {
    let mut bytes = HEADER;
    bytes[1] = 0xff; // O, C and every reserved bit
    bytes[7] = 0x5a;
    bytes[11] |= 0xe0; // an option's reserved bits
    let header = GeneveHeader::new_checked(&bytes[..]).unwrap();
    assert!(header.oam() && header.reserved1() == 0x3f);
    assert_eq!(header.options().next().unwrap().reserved(), 7);
    let repr = GeneveRepr::parse(&header);
    let mut out = [0u8; 28];
    repr.emit(&mut out).unwrap();
    assert_eq!(out, bytes[..28]);
}

#[test]
fn version_other_than_zero_is_an_error() {
    let mut bytes = HEADER;
    bytes[0] |= 0x40;
    let error = GeneveHeader::new_checked(&bytes[..]).unwrap_err();
    assert_eq!(
        (error.layer, error.kind),
        (
            Layer::Geneve,
            ErrorKind::Version {
                found: 1,
                expected: 0
            }
        )
    );
}

#[test]
fn options_past_the_packet_name_opt_len() {
    let error = GeneveHeader::new_checked(&HEADER[..27]).unwrap_err();
    assert_eq!(
        error.kind,
        ErrorKind::LengthOverrun {
            field: "Opt Len",
            needed: 28,
            available: 27
        }
    );
    assert!(matches!(
        GeneveHeader::new_checked(&HEADER[..7]).unwrap_err().kind,
        ErrorKind::Truncated { needed: 8, .. }
    ));
}

#[test]
fn an_option_past_the_options_area_names_the_option_length() {
    let mut bytes = HEADER;
    bytes[19] = 0x03; // the second option claims 3 words: 4 bytes past the area
    let error = GeneveHeader::new_checked(&bytes[..]).unwrap_err();
    assert_eq!(
        error.kind,
        ErrorKind::LengthOverrun {
            field: "option Length",
            needed: 16,
            available: 12
        }
    );
    // The iterator over unchecked bytes stops there instead of failing.
    assert_eq!(GeneveOptionIter::new(&bytes[8..28]).count(), 1);
    assert!(GeneveOptions::from_bytes(&bytes[8..28]).is_err());
    // A one-word area cannot hold an option with data.
    assert!(check_options(&[0, 0, 0, 1]).is_err());
    assert!(check_options(&[0, 0, 0, 0]).is_ok());
}

#[test]
fn the_builder_refuses_what_the_wire_cannot_say() {
    let mut options = GeneveOptions::new();
    assert!(options.push(1, 1, &[0; 3]).is_err());
    assert!(options.push(1, 1, &[0; 128]).is_err());
    options.push(1, 1, &[0; 124]).unwrap();
    options.push(1, 1, &[0; 120]).unwrap();
    assert_eq!(options.len(), 252);
    assert!(options.push(1, 1, &[]).is_err());
    assert_eq!(options.len(), 252);
    assert!(!options.has_critical());
    assert!(GeneveOptions::from_bytes(&[0; 253]).is_err());
    assert!(GeneveOptions::from_bytes(&[0; 6]).is_err());
    let again = GeneveOptions::from_bytes(options.as_bytes()).unwrap();
    assert_eq!(again, options);
}

#[test]
fn an_empty_options_area_parses() {
    let bytes = [0x00, 0x00, 0x08, 0x00, 0x00, 0x10, 0x92, 0x00, 0x45];
    let header = GeneveHeader::new_checked(&bytes[..]).unwrap();
    assert_eq!(header.protocol(), EtherType::IPV4);
    assert_eq!(header.options().count(), 0);
    assert_eq!(header.payload(), &[0x45]);
    let repr = GeneveRepr::parse(&header);
    assert_eq!(
        repr,
        GeneveRepr::new(Vni::new(4242).unwrap(), EtherType::IPV4)
    );
    assert_eq!(
        std::string::ToString::to_string(&repr),
        "Geneve vni 4242 protocol 0x0800 options 0 bytes"
    );
}
