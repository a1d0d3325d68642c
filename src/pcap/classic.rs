//! The pcap format (libpcap's, before pcapng): a 24-byte file header, then records of a
//! 16-byte header and the captured bytes. Both byte orders, micro- and nanosecond
//! timestamps.

use std::io::Read;
use std::time::Duration;

use super::error::{Error, Unrecognised};
use super::input::{Buffer, ByteOrder, Input, Region};
use super::{Found, LinkType};

/// The magic number of microsecond files, as written in big-endian ones.
const MICROSECONDS: [u8; 4] = [0xa1, 0xb2, 0xc3, 0xd4];
/// The magic number of nanosecond files, as written in big-endian ones.
const NANOSECONDS: [u8; 4] = [0xa1, 0xb2, 0x3c, 0x4d];
/// The file header after its magic number.
const HEADER_REST: u64 = 20;

/// What a pcap's timestamps count below the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resolution {
    /// Microseconds (magic number 0xa1b2c3d4).
    Microsecond,
    /// Nanoseconds (magic number 0xa1b23c4d).
    Nanosecond,
}

impl Resolution {
    fn magic(self) -> [u8; 4] {
        match self {
            Resolution::Microsecond => MICROSECONDS,
            Resolution::Nanosecond => NANOSECONDS,
        }
    }
}

/// A pcap file header, every field kept, so that a file written with it begins as the
/// file it was read from did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PcapHeader {
    /// The byte order of every field of the file.
    pub byte_order: ByteOrder,
    /// What the timestamps count below the second.
    pub resolution: Resolution,
    /// Format version, 2 for every file libpcap has written since 1998.
    pub version_major: u16,
    /// Format minor version, 4.
    pub version_minor: u16,
    /// `thiszone`: a time zone offset nobody sets (0).
    pub thiszone: i32,
    /// `sigfigs`: timestamp accuracy, always 0.
    pub sigfigs: u32,
    /// The most bytes kept of a frame (`tcpdump -s`).
    pub snaplen: u32,
    /// The link type of every record.
    pub link_type: LinkType,
    /// The upper 16 bits of the link-type field: an optional FCS length announcement and
    /// reserved bits, kept as read.
    pub link_info: u16,
}

impl PcapHeader {
    /// A header for new files: version 2.4, little-endian, snap length 262144 (libpcap's
    /// largest).
    pub const fn new(link_type: LinkType, resolution: Resolution) -> Self {
        PcapHeader {
            byte_order: ByteOrder::Little,
            resolution,
            version_major: 2,
            version_minor: 4,
            thiszone: 0,
            sigfigs: 0,
            snaplen: 262_144,
            link_type,
            link_info: 0,
        }
    }

    /// The 24 bytes of the header in a file.
    pub(super) fn to_bytes(self) -> [u8; 24] {
        let order = self.byte_order;
        let magic = match order {
            ByteOrder::Big => self.resolution.magic(),
            ByteOrder::Little => {
                let [a, b, c, d] = self.resolution.magic();
                [d, c, b, a]
            }
        };
        let link = (u32::from(self.link_info) << 16) | u32::from(self.link_type.0);
        let fields: [&[u8]; 7] = [
            &magic,
            &order.u16_bytes(self.version_major),
            &order.u16_bytes(self.version_minor),
            &order.u32_bytes(self.thiszone as u32),
            &order.u32_bytes(self.sigfigs),
            &order.u32_bytes(self.snaplen),
            &order.u32_bytes(link),
        ];
        let mut bytes = [0; 24];
        for (slot, byte) in bytes.iter_mut().zip(fields.into_iter().flatten()) {
            *slot = *byte;
        }
        bytes
    }

    /// The timestamp fields of a record at `timestamp`: seconds and units below them, or
    /// `None` past the seconds field's 2106.
    pub(super) fn timestamp_fields(&self, timestamp: Duration) -> Option<(u32, u32)> {
        let seconds = u32::try_from(timestamp.as_secs()).ok()?;
        Some(match self.resolution {
            Resolution::Microsecond => (seconds, timestamp.subsec_micros()),
            Resolution::Nanosecond => (seconds, timestamp.subsec_nanos()),
        })
    }
}

/// Reads the file header after `magic`; an input that is not pcap says so.
pub(super) fn header<R: Read>(input: &mut Input<R>, magic: [u8; 4]) -> Result<PcapHeader, Error> {
    let reversed = {
        let [a, b, c, d] = magic;
        [d, c, b, a]
    };
    let (byte_order, resolution) = match (magic, reversed) {
        (MICROSECONDS, _) => (ByteOrder::Big, Resolution::Microsecond),
        (_, MICROSECONDS) => (ByteOrder::Little, Resolution::Microsecond),
        (NANOSECONDS, _) => (ByteOrder::Big, Resolution::Nanosecond),
        (_, NANOSECONDS) => (ByteOrder::Little, Resolution::Nanosecond),
        _ => {
            return Err(Error::NotACapture(Unrecognised::Magic(u32::from_be_bytes(
                magic,
            ))));
        }
    };
    let mut fields = Region::new(input, "pcap file header", 0, HEADER_REST, byte_order);
    let read = |fields: &mut Region<'_, R>| -> Result<PcapHeader, Error> {
        let version_major = fields.u16()?;
        let version_minor = fields.u16()?;
        let thiszone = fields.u32()? as i32;
        let sigfigs = fields.u32()?;
        let snaplen = fields.u32()?;
        let link = fields.u32()?;
        Ok(PcapHeader {
            byte_order,
            resolution,
            version_major,
            version_minor,
            thiszone,
            sigfigs,
            snaplen,
            link_type: LinkType(link as u16),
            link_info: (link >> 16) as u16,
        })
    };
    read(&mut fields).map_err(|e| match e {
        Error::Truncated { .. } => Error::NotACapture(Unrecognised::ShortHeader),
        e => e,
    })
}

/// Reads the next record into `buffer`; `None` at the end of the input.
pub(super) fn next<R: Read>(
    input: &mut Input<R>,
    header: &PcapHeader,
    buffer: &mut Buffer,
    limit: usize,
) -> Result<Option<Found>, Error> {
    let start = input.offset();
    let mut seconds = [0; 4];
    let got = input.fill(&mut seconds)?;
    let order = header.byte_order;
    let mut record = Region::new(input, "pcap record", start, u64::MAX, order);
    match got {
        0 => return Ok(None),
        4 => {}
        _ => return Err(record.cut()),
    }
    let units = record.u32()?;
    let captured = record.u32()?;
    let orig_len = record.u32()?;
    record.data(buffer, captured, limit)?;
    let fraction = match header.resolution {
        Resolution::Microsecond => Duration::from_micros(u64::from(units)),
        Resolution::Nanosecond => Duration::from_nanos(u64::from(units)),
    };
    Ok(Some(Found {
        // Units may count past a second in a file that breaks the rule: they carry over.
        timestamp: Duration::from_secs(u64::from(order.u32(seconds))).saturating_add(fraction),
        orig_len,
        interface: 0,
        link_type: header.link_type,
    }))
}
