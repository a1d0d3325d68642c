//! The `header` target: one header's view, `Repr` round trip and refusals, chosen by the
//! input's first byte.

use std::fmt::{Debug, Display};

use tunnelwire::packet::ReservedPolicy;
use tunnelwire::wire::{
    EtherType, EthernetFrame, EthernetRepr, GeneveHeader, GeneveRepr, Ipv4Packet, Ipv4Repr,
    Ipv6Packet, Ipv6Repr, NvgreHeader, NvgreRepr, UdpDatagram, UdpRepr, VlanRepr, VlanTag,
    VxlanHeader, VxlanRepr, udp, vxlan,
};
use tunnelwire::{ErrorKind, Layer, Result};

use super::check_error;

/// One header, chosen by the first byte: a view through `new_checked` (or an error of
/// that layer at offset 0), its `Repr` emitted over the header's bytes gives them back,
/// parses again to the same `Repr`, and refuses a buffer one byte short.
pub fn header(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    match selector % 8 {
        0 => check_header(
            bytes,
            Layer::Ethernet,
            |b| EthernetFrame::new_checked(b).map(|v| EthernetRepr::parse(&v)),
            |r, b| r.emit(b),
            |r| r.buffer_len(),
        ),
        1 => check_header(
            bytes,
            Layer::Vlan,
            |b| VlanTag::new_checked(b).map(|v| VlanRepr::parse(&v)),
            |r, b| r.emit(b),
            |r| r.buffer_len(),
        ),
        2 => {
            if let Ok(view) = Ipv4Packet::new_checked(bytes) {
                assert_eq!(view.version(), 4);
                assert_eq!(
                    view.payload().len(),
                    usize::from(view.total_len()) - view.header_len()
                );
                let repr = Ipv4Repr::parse(&view);
                assert_eq!(repr.options.as_slice(), view.options());
                assert_eq!(usize::from(repr.payload_len), view.payload().len());
            }
            check_header(
                bytes,
                Layer::Ipv4,
                |b| Ipv4Packet::new_checked(b).map(|v| Ipv4Repr::parse(&v)),
                |r, b| r.emit(b),
                |r| r.buffer_len(),
            );
        }
        3 => {
            if let Ok(view) = Ipv6Packet::new_checked(bytes) {
                assert_eq!(view.version(), 6);
                assert_eq!(view.payload().len(), usize::from(view.payload_len()));
            }
            check_header(
                bytes,
                Layer::Ipv6,
                |b| Ipv6Packet::new_checked(b).map(|v| Ipv6Repr::parse(&v)),
                |r, b| r.emit(b),
                |r| r.buffer_len(),
            );
        }
        4 => {
            if let Ok(view) = UdpDatagram::new_checked(bytes) {
                assert_eq!(
                    view.payload().len() + udp::HEADER_LEN,
                    usize::from(view.len())
                );
                assert_eq!(view.is_empty(), view.payload().is_empty());
            }
            check_header(
                bytes,
                Layer::Udp,
                |b| UdpDatagram::new_checked(b).map(|v| UdpRepr::parse(&v)),
                |r, b| r.emit(b),
                |r| r.buffer_len(),
            );
        }
        5 => {
            if let Ok(view) = VxlanHeader::new_checked(bytes) {
                let strict = view.check_reserved(ReservedPolicy::Reject);
                let clean =
                    view.flags() == vxlan::FLAG_I && view.reserved1() == 0 && view.reserved2() == 0;
                assert_eq!(strict.is_ok(), clean, "{strict:?}");
                assert!(view.check_reserved(ReservedPolicy::Ignore).is_ok());
            }
            check_header(
                bytes,
                Layer::Vxlan,
                |b| VxlanHeader::new_checked(b).map(|v| VxlanRepr::parse(&v)),
                |r, b| r.emit(b),
                |r| r.buffer_len(),
            );
        }
        6 => {
            if let Ok(view) = GeneveHeader::new_checked(bytes) {
                assert_eq!(view.version(), 0);
                assert_eq!(view.payload().len(), bytes.len() - view.header_len());
                let options: usize = view.options().map(|o| o.as_bytes().len()).sum();
                assert_eq!(options, view.options_len(), "the options fill their area");
                for option in view.options() {
                    assert_eq!(option.data().len() % 4, 0);
                    assert_eq!(option.is_critical(), option.option_type() & 0x80 != 0);
                }
            }
            check_header(
                bytes,
                Layer::Geneve,
                |b| GeneveHeader::new_checked(b).map(|v| GeneveRepr::parse(&v)),
                |r, b| r.emit(b),
                |r| r.buffer_len(),
            );
        }
        _ => {
            if let Ok(view) = NvgreHeader::new_checked(bytes) {
                assert_eq!(view.protocol(), EtherType::TRANSPARENT_ETHERNET_BRIDGING);
                assert_eq!(view.version(), 0);
                assert_eq!(
                    view.key(),
                    view.vsid().get() << 8 | u32::from(view.flow_id())
                );
            }
            check_header(
                bytes,
                Layer::Nvgre,
                |b| NvgreHeader::new_checked(b).map(|v| NvgreRepr::parse(&v)),
                |r, b| r.emit(b),
                |r| r.buffer_len(),
            );
        }
    }
}

/// The round trip of one header: `parse` is `new_checked` then `Repr::parse`.
fn check_header<R: PartialEq + Debug + Display>(
    bytes: &[u8],
    layer: Layer,
    parse: impl Fn(&[u8]) -> Result<R>,
    emit: impl Fn(&R, &mut [u8]) -> Result<()>,
    buffer_len: impl Fn(&R) -> usize,
) {
    let repr = match parse(bytes) {
        Ok(repr) => repr,
        Err(error) => {
            assert_eq!((error.layer, error.offset), (layer, 0), "{error:?}");
            check_error(&error, bytes.len());
            return;
        }
    };
    let len = buffer_len(&repr);
    assert!(
        len <= bytes.len(),
        "a {len}-byte header in {} bytes",
        bytes.len()
    );
    // Every header byte inverted first, so emit must write each one back.
    let mut copy = bytes.to_vec();
    copy[..len].iter_mut().for_each(|b| *b = !*b);
    emit(&repr, &mut copy).expect("a parsed header emits");
    assert_eq!(copy, bytes, "emit did not give back the header's bytes");
    assert_eq!(parse(&copy).expect("emitted header parses"), repr);
    let short = emit(&repr, &mut copy[..len - 1]).expect_err("emit into a short buffer");
    assert!(
        matches!(short.kind, ErrorKind::BufferTooSmall { needed, .. } if needed == len),
        "{short:?}"
    );
    assert!(!repr.to_string().is_empty());
}
