//! ECN across a tunnel ([RFC 6040]): copied on encapsulation, combined on decapsulation.
//!
//! [RFC 6040]: https://www.rfc-editor.org/rfc/rfc6040

use crate::{Error, ErrorKind, Layer};

/// The 2-bit ECN field (RFC 3168 section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ecn {
    /// 0b00: not ECN-capable transport.
    NotEct,
    /// 0b01: ECN-capable transport, ECT(1).
    Ect1,
    /// 0b10: ECN-capable transport, ECT(0).
    Ect0,
    /// 0b11: congestion experienced.
    Ce,
}

impl Ecn {
    /// The codepoint of the low two bits of `bits`.
    #[inline]
    pub const fn from_bits(bits: u8) -> Self {
        match bits & 0x03 {
            0 => Ecn::NotEct,
            1 => Ecn::Ect1,
            2 => Ecn::Ect0,
            _ => Ecn::Ce,
        }
    }

    /// The 2-bit value.
    #[inline]
    pub const fn bits(self) -> u8 {
        self as u8
    }
}

/// How the encapsulator sets the outer ECN field (RFC 6040 section 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EcnMode {
    /// Copy the inner ECN field (Not-ECT when the inner frame is not IP). The default.
    #[default]
    Normal,
    /// Always Not-ECT, for decapsulators that predate ECN.
    Compatibility,
}

impl EcnMode {
    /// The outer ECN for an inner one (`None`: the inner frame is not IP).
    #[inline]
    pub const fn outer(self, inner: Option<Ecn>) -> Ecn {
        match (self, inner) {
            (EcnMode::Normal, Some(ecn)) => ecn,
            _ => Ecn::NotEct,
        }
    }
}

/// A combination of inner and outer ECN that RFC 6040 section 4.2 marks for logging:
/// no compliant encapsulator produces it, so it points at a broken or attacking node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EcnAlarm {
    /// A "(!!!)" cell of Figure 4 (Not-ECT inner under ECT(0) or ECT(1) outer; CE inner
    /// under ECT(1) outer): the decapsulator SHOULD log it. The third such cell, CE over
    /// Not-ECT, is a drop: decapsulation fails with `EcnDrop`, which stands for it.
    Unexpected,
    /// The "(!)" cell (ECT(1) inner under ECT(0) outer): it MAY be logged.
    Questionable,
}

/// The RFC 6040 section 4.2 alarm for an inner and outer ECN pair, if any.
#[inline]
pub const fn alarm(inner: Ecn, outer: Ecn) -> Option<EcnAlarm> {
    match (inner, outer) {
        (Ecn::NotEct, Ecn::Ect0 | Ecn::Ect1 | Ecn::Ce) | (Ecn::Ce, Ecn::Ect1) => {
            Some(EcnAlarm::Unexpected)
        }
        (Ecn::Ect1, Ecn::Ect0) => Some(EcnAlarm::Questionable),
        _ => None,
    }
}

/// RFC 6040 section 4.2 (Figure 4): the inner ECN after decapsulation.
///
/// # Errors
/// `EcnDrop` for a CE outer over a Not-ECT inner: the congestion signal cannot be passed
/// on, so the packet must be dropped.
#[inline]
pub const fn decapsulate(inner: Ecn, outer: Ecn) -> Result<Ecn, Error> {
    Ok(match (inner, outer) {
        (Ecn::NotEct, Ecn::Ce) => return Err(Error::new(Layer::Tunnel, ErrorKind::EcnDrop)),
        (Ecn::NotEct, _) => Ecn::NotEct,
        (_, Ecn::Ce) | (Ecn::Ce, _) => Ecn::Ce,
        (Ecn::Ect0, Ecn::Ect1) | (Ecn::Ect1, _) => Ecn::Ect1,
        (Ecn::Ect0, _) => Ecn::Ect0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6040 Figure 4, row by row: inner, then outer Not-ECT, ECT(0), ECT(1), CE.
    #[test]
    fn decapsulation_follows_rfc6040_figure_4() {
        use Ecn::*;
        let table = [
            (NotEct, [Some(NotEct), Some(NotEct), Some(NotEct), None]),
            (Ect0, [Some(Ect0), Some(Ect0), Some(Ect1), Some(Ce)]),
            (Ect1, [Some(Ect1), Some(Ect1), Some(Ect1), Some(Ce)]),
            (Ce, [Some(Ce), Some(Ce), Some(Ce), Some(Ce)]),
        ];
        for (inner, row) in table {
            for (outer, want) in [NotEct, Ect0, Ect1, Ce].into_iter().zip(row) {
                assert_eq!(
                    decapsulate(inner, outer).ok(),
                    want,
                    "inner {inner:?} outer {outer:?}"
                );
            }
        }
    }

    /// The "(!!!)" and "(!)" cells of Figure 4, in the table's order.
    #[test]
    fn alarms_follow_rfc6040_figure_4() {
        use Ecn::*;
        let u = Some(EcnAlarm::Unexpected);
        let table = [
            (NotEct, [None, u, u, u]),
            (Ect0, [None, None, None, None]),
            (Ect1, [None, Some(EcnAlarm::Questionable), None, None]),
            (Ce, [None, None, u, None]),
        ];
        for (inner, row) in table {
            for (outer, want) in [NotEct, Ect0, Ect1, Ce].into_iter().zip(row) {
                assert_eq!(alarm(inner, outer), want, "inner {inner:?} outer {outer:?}");
            }
        }
    }

    #[test]
    fn encapsulation_copies_in_normal_mode_only() {
        assert_eq!(EcnMode::Normal.outer(Some(Ecn::Ce)), Ecn::Ce);
        assert_eq!(EcnMode::Normal.outer(None), Ecn::NotEct);
        assert_eq!(EcnMode::Compatibility.outer(Some(Ecn::Ect0)), Ecn::NotEct);
        for bits in 0..4 {
            assert_eq!(Ecn::from_bits(bits).bits(), bits);
        }
    }
}
