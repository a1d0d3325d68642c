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
    match FIGURE_4[cell(inner, outer)] >> 2 & 0x03 {
        ALARM_UNEXPECTED => Some(EcnAlarm::Unexpected),
        ALARM_QUESTIONABLE => Some(EcnAlarm::Questionable),
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
    let entry = FIGURE_4[cell(inner, outer)];
    if entry & DROP != 0 {
        return Err(Error::new(Layer::Tunnel, ErrorKind::EcnDrop));
    }
    Ok(Ecn::from_bits(entry))
}

/// Figure 4's cell for an inner and outer ECN: one index of [`FIGURE_4`].
#[inline(always)]
const fn cell(inner: Ecn, outer: Ecn) -> usize {
    (inner.bits() << 2 | outer.bits()) as usize
}

/// A [`FIGURE_4`] entry's drop bit: the packet is dropped.
const DROP: u8 = 0x10;
/// A [`FIGURE_4`] entry's alarm (bits 2-3) for Figure 4's "(!!!)": unexpected.
const ALARM_UNEXPECTED: u8 = 1;
/// A [`FIGURE_4`] entry's alarm (bits 2-3) for Figure 4's "(!)": questionable.
const ALARM_QUESTIONABLE: u8 = 2;

/// RFC 6040 Figure 4 as 16 entries, one per cell (inner ECN << 2 | outer ECN): the inner
/// ECN after decapsulation in the low 2 bits, the alarm above them, then [`DROP`]. Read per
/// packet as one load: as a `match` the compiler made it a jump on the inner ECN, which
/// varies from packet to packet and so was mispredicted on most of them (the payload path
/// ran 1.85 times its floor in time, 1.38 in instructions).
const FIGURE_4: [u8; 16] = {
    let mut table = [0; 16];
    let mut index = 0;
    while index < 16 {
        let (inner, outer) = (
            Ecn::from_bits((index >> 2) as u8),
            Ecn::from_bits(index as u8),
        );
        let combined = match (inner, outer) {
            (Ecn::NotEct, Ecn::Ce) => None,
            (Ecn::NotEct, _) => Some(Ecn::NotEct),
            (_, Ecn::Ce) | (Ecn::Ce, _) => Some(Ecn::Ce),
            (Ecn::Ect0, Ecn::Ect1) | (Ecn::Ect1, _) => Some(Ecn::Ect1),
            (Ecn::Ect0, _) => Some(Ecn::Ect0),
        };
        let alarm = match (inner, outer) {
            (Ecn::NotEct, Ecn::Ect0 | Ecn::Ect1 | Ecn::Ce) | (Ecn::Ce, Ecn::Ect1) => {
                ALARM_UNEXPECTED
            }
            (Ecn::Ect1, Ecn::Ect0) => ALARM_QUESTIONABLE,
            _ => 0,
        };
        table[index] = match combined {
            Some(ecn) => ecn.bits() | alarm << 2,
            None => DROP | alarm << 2,
        };
        index += 1;
    }
    table
};

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
