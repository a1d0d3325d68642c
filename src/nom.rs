//! nom-compatible parsers (feature `nom`), for users who compose their own protocols on
//! top of ours with nom's combinators. The rest of the crate does not use nom, and the
//! default API names no nom type, so a nom major release is not a breaking change
//! there.
//!
//! Each parser is the header's `parse` (`crate::wire::*::parse`) as a nom parser whose
//! error is this crate's [`Error`]: the layer, kind and offset survive composition.
//!
//! ```
//! use nom::Parser;
//! use nom::sequence::pair;
//! use tunnelwire::nom::{ethernet, vlan};
//!
//! // An 802.1Q-tagged frame: Ethernet then one tag, composed with nom.
//! let bytes = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0x00, 0x00, 0x64, 0x08, 0x00, 0x45];
//! let (rest, (eth, tag)) = pair(ethernet, vlan).parse(&bytes[..])?;
//! assert_eq!((eth.ethertype().0, tag.vid().get(), rest), (0x8100, 100, &[0x45][..]));
//! # Ok::<(), nom::Err<tunnelwire::Error>>(())
//! ```

use crate::error::{Error, ErrorKind, Layer};
use crate::wire::{
    EthernetFrame, GeneveHeader, Ipv4Packet, Ipv6Packet, NvgreHeader, UdpDatagram, VlanTag,
    VxlanHeader,
};

/// Result of a nom parser in this crate: the rest of the input and a validated view.
pub type IResult<I, O> = nom::IResult<I, O, Error>;

/// Lets nom combinators produce our error, so the layer and offset survive composition.
impl<I> nom::error::ParseError<I> for Error {
    fn from_error_kind(_input: I, kind: nom::error::ErrorKind) -> Self {
        let code = nom::error::error_to_u32(&kind);
        Error::new(Layer::Frame, ErrorKind::Combinator(code))
    }

    /// The first, innermost error is the one that names the header; keep it.
    fn append(_input: I, _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

macro_rules! nom_parser {
    ($(#[$doc:meta])* $name:ident, $module:ident, $view:ident) => {
        $(#[$doc])*
        ///
        /// # Errors
        /// The header's own, as a nom `Error`.
        #[inline]
        pub fn $name(input: &[u8]) -> IResult<&[u8], $view<&[u8]>> {
            crate::wire::$module::parse(input).map_err(nom::Err::Error)
        }
    };
}

nom_parser!(
    /// An Ethernet header; the rest is its payload.
    ethernet, ethernet, EthernetFrame
);
nom_parser!(
    /// A VLAN tag; the rest is what follows it.
    vlan, vlan, VlanTag
);
nom_parser!(
    /// An IPv4 packet, cut at its total length; the rest is its payload.
    ipv4, ipv4, Ipv4Packet
);
nom_parser!(
    /// An IPv6 packet, cut at its payload length; the rest is its payload.
    ipv6, ipv6, Ipv6Packet
);
nom_parser!(
    /// A UDP datagram, cut at its length; the rest is its payload.
    udp, udp, UdpDatagram
);
nom_parser!(
    /// A VXLAN header; the rest is the inner frame.
    vxlan, vxlan, VxlanHeader
);
nom_parser!(
    /// An NVGRE header; the rest is the inner frame.
    nvgre, nvgre, NvgreHeader
);
nom_parser!(
    /// A Geneve header and its options; the rest is its payload.
    geneve, geneve, GeneveHeader
);
