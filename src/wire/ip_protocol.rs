//! The IP protocol number: what IPv4 carries, or IPv6's next header. One open set for
//! both headers.

use core::fmt;

/// The protocol carried by IPv4, or IPv6's next header (IANA "Assigned Internet
/// Protocol Numbers"). An open set. `Debug` prints the constant's name
/// (`IpProtocol::UDP`) or the number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpProtocol(pub u8);

impl From<u8> for IpProtocol {
    #[inline]
    fn from(value: u8) -> Self {
        IpProtocol(value)
    }
}

impl From<IpProtocol> for u8 {
    #[inline]
    fn from(value: IpProtocol) -> Self {
        value.0
    }
}

impl fmt::Debug for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Self::ICMP => "ICMP",
            Self::TCP => "TCP",
            Self::UDP => "UDP",
            Self::GRE => "GRE",
            Self::IPV6_FRAGMENT => "IPV6_FRAGMENT",
            Self::ICMPV6 => "ICMPV6",
            IpProtocol(other) => return write!(f, "IpProtocol({other})"),
        };
        write!(f, "IpProtocol::{name}")
    }
}

impl IpProtocol {
    /// Internet Control Message Protocol.
    pub const ICMP: IpProtocol = IpProtocol(1);
    /// Transmission Control Protocol.
    pub const TCP: IpProtocol = IpProtocol(6);
    /// User Datagram Protocol.
    pub const UDP: IpProtocol = IpProtocol(17);
    /// Generic Routing Encapsulation, which carries NVGRE.
    pub const GRE: IpProtocol = IpProtocol(47);
    /// IPv6's fragment header (RFC 8200 section 4.5).
    pub const IPV6_FRAGMENT: IpProtocol = IpProtocol(44);
    /// ICMP for IPv6 (RFC 4443).
    pub const ICMPV6: IpProtocol = IpProtocol(58);
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
