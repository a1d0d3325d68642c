//! The encapsulation floor over IPv4: a template of the outer headers, written in front of
//! the inner frame.

use super::*;

/// A hand-written encapsulator: the outer headers tunnelwire writes for the benchmark's
/// settings (no outer tag, DF set so ID 0, DSCP 0, ECN copied, no UDP checksum, inner
/// tags stripped), as a template with its IPv4 header's sum: VXLAN and Geneve without
/// options (`LEN` 50), NVGRE (42), Geneve with options fixed in the template (50 plus
/// their length: OVN's one option, 58).
#[derive(Clone)]
pub struct Encap<const LEN: usize> {
    template: [u8; LEN],
    /// The template IPv4 header's sum, unfolded, of its words in the machine's byte
    /// order (RFC 1071: the sum is the same in either order, its bytes swapped).
    ip_sum: u32,
    mtu: usize,
}

impl<const LEN: usize> Encap<LEN> {
    /// The layout has UDP (VXLAN, Geneve with or without options): every length but
    /// NVGRE's 42, whose GRE header takes the FlowID instead.
    const UDP: bool = LEN != 42;

    /// From the header bytes tunnelwire wrote for one frame: lengths, TOS, checksum,
    /// port and FlowID zeroed.
    pub fn new(written: &[u8], mtu: u16) -> Self {
        let mut template: [u8; LEN] = written.try_into().unwrap();
        template[15] = 0;
        template[16..18].fill(0);
        template[24..26].fill(0);
        if Self::UDP {
            template[34..36].fill(0);
            template[38..40].fill(0);
        } else {
            template[41] = 0;
        }
        let ip_sum = template[14..34]
            .chunks(2)
            .map(|w| u32::from(u16::from_ne_bytes([w[0], w[1]])))
            .sum();
        Encap {
            template,
            ip_sum,
            mtu: usize::from(mtu),
        }
    }

    /// Encapsulates `buf[inner]` in place; `None` where tunnelwire fails.
    #[inline(always)]
    pub fn encapsulate(&self, buf: &mut [u8], inner: Range<usize>) -> Option<Range<usize>> {
        let frame = buf.get(inner.clone())?;
        if let Some(walked) = walk_common(frame, true) {
            return self.write(buf, inner, &walked, 0);
        }
        // The mixed workloads' other common shapes by walks of their own, not the
        // general walk out of line (its result through memory): one 802.1Q tag, with a
        // write of its own (sharing the general one: 2 to 5 more on the mixed
        // workloads), then untagged IPv6, sharing the general write (a write of its
        // own cost the clean workload 1 to 3).
        if let Some(walked) = walk_tagged(frame, true) {
            return self.write(buf, inner, &walked, 4);
        }
        let (walked, strip) = match walk_ipv6(frame) {
            Some(walked) => (walked, 0),
            None => {
                let walked = walk_declined(frame, true)?;
                (walked, walked.strip_len()?)
            }
        };
        self.write(buf, inner, &walked, strip)
    }

    /// The outer headers for a walked inner frame, its tags (`strip` bytes) stripped.
    #[inline(always)]
    fn write(
        &self,
        buf: &mut [u8],
        inner: Range<usize>,
        walked: &Walked,
        strip: usize,
    ) -> Option<Range<usize>> {
        let inner_start = inner.start + strip;
        let start = inner_start.checked_sub(LEN)?;
        let ip_len = LEN - 14 + (inner.end - inner_start);
        if ip_len > self.mtu {
            return None;
        }
        let hash = walked.hash();
        let ecn = walked.tos & 0x03;
        if strip != 0 {
            strip_tags(buf, inner.start, inner_start);
        }
        let header: &mut [u8; LEN] = buf.get_mut(start..inner_start)?.try_into().unwrap();
        *header = self.template;
        header[15] = ecn;
        let ip_len_bytes = (ip_len as u16).to_be_bytes();
        header[16..18].copy_from_slice(&ip_len_bytes);
        // The sum in the machine's byte order, as the words lie in memory (the length
        // as just written, the ECN as the TOS byte's), so the checksum is stored
        // without a swap. At most 12 * 0xffff, within 32 bits: folded in one add of
        // the sum and its halves swapped, whose upper half is then high + low + the
        // carry out of low + high (RFC 1071's end-around carry), as two folds give it.
        let sum = self.ip_sum
            + u32::from(u16::from_ne_bytes(ip_len_bytes))
            + u32::from(u16::from_ne_bytes([0, ecn]));
        let sum = sum.wrapping_add(sum.rotate_left(16)) >> 16;
        header[24..26].copy_from_slice(&(!(sum as u16)).to_ne_bytes());
        if Self::UDP {
            header[34..36].copy_from_slice(&source_port(hash).to_be_bytes());
            header[38..40].copy_from_slice(&((ip_len - 20) as u16).to_be_bytes());
        } else {
            header[41] = (hash >> 24) as u8;
        }
        Some(start..inner.end)
    }
}
