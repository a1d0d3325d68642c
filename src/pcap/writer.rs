//! Writing pcap: the file header, then one record per frame.

use std::io::{self, Write};
use std::time::Duration;

use super::classic::PcapHeader;

/// Writes a pcap file, record by record, to any [`std::io::Write`]: wrap a file in a
/// [`std::io::BufWriter`], since each record is two writes.
pub struct Writer<W> {
    output: W,
    header: PcapHeader,
}

impl<W: Write> Writer<W> {
    /// Writes the file header.
    ///
    /// # Errors
    /// The output's own.
    pub fn new(mut output: W, header: PcapHeader) -> io::Result<Self> {
        output.write_all(&header.to_bytes())?;
        Ok(Writer { output, header })
    }

    /// Writes one record: `data` as captured, from a frame of `orig_len` bytes on the
    /// wire (more than `data.len()` for a frame the capture cut), seen at `timestamp`
    /// (since 1970), kept to the header's resolution.
    ///
    /// # Errors
    /// `InvalidInput` for a timestamp past pcap's 2106 or `data` over 4 GiB, else the
    /// output's own.
    pub fn write(&mut self, timestamp: Duration, orig_len: u32, data: &[u8]) -> io::Result<()> {
        let invalid = |what| io::Error::new(io::ErrorKind::InvalidInput, what);
        let (seconds, units) = self
            .header
            .timestamp_fields(timestamp)
            .ok_or_else(|| invalid("a pcap timestamp ends in 2106"))?;
        let captured =
            u32::try_from(data.len()).map_err(|_| invalid("a pcap record holds under 4 GiB"))?;
        let order = self.header.byte_order;
        let head = [seconds, units, captured, orig_len].map(|field| order.u32_bytes(field));
        self.output.write_all(head.as_flattened())?;
        self.output.write_all(data)
    }

    /// The output, for the caller to flush or close: dropping a `BufWriter` loses the
    /// error of its last write.
    pub fn into_inner(self) -> W {
        self.output
    }
}
