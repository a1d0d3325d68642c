//! Geneve's per-packet encapsulation: option bytes the caller adds to a packet, and IP
//! payloads (protocol types 0x0800 and 0x86DD, as AWS's Gateway Load Balancer sends
//! them), beside the template's fixed options.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::ops::Range;

use super::Encapsulation;
use super::encap::Encapsulator;
use super::inner_vlan;
use crate::checksum;
use crate::wire::ethernet::EtherType;
use crate::wire::geneve::{self, GeneveHeader, GeneveOptionIter};
use crate::wire::udp::{self, UdpDatagram};
use crate::{Error, ErrorKind, Layer, Result};

impl Encapsulator {
    /// Encapsulates the Ethernet frame at `buf[inner]` in Geneve as
    /// [`encapsulate`](Self::encapsulate) does, with `options` (whole options as on the
    /// wire, which the caller vouches for: checked in debug builds only) after the
    /// configured ones; the C bit is set when one of them is critical. The headroom
    /// needed grows by `options.len()`.
    ///
    /// ```
    /// use core::net::Ipv4Addr;
    /// use tunnelwire::packet::{Decoder, Tunnel};
    /// use tunnelwire::tunnel::{Encapsulator, TunnelConfig, MAX_HEADROOM};
    /// use tunnelwire::wire::{GeneveOptions, Vni};
    ///
    /// let (us, them) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    /// let mut encap = Encapsulator::new(TunnelConfig::geneve(Vni::new(42)?, us, them))?;
    /// let mut options = GeneveOptions::new();
    /// options.push(0x0102, 0x80, &[0, 1, 0, 2])?; // OVN's logical ports, for this packet
    /// let mut buf = vec![0u8; MAX_HEADROOM + 60];
    /// let inner = MAX_HEADROOM..MAX_HEADROOM + 60;
    /// let frame = encap.encapsulate_with_options(&mut buf, inner, options.as_bytes())?;
    /// assert_eq!(frame.len(), 50 + 8 + 60);
    /// let Some(Tunnel::Geneve(header)) = Decoder::new().decode(&buf[frame])?.tunnel else {
    ///     panic!("a Geneve frame");
    /// };
    /// assert!(header.critical() && header.options().next().unwrap().class() == 0x0102);
    /// # Ok::<(), tunnelwire::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`encapsulate`](Self::encapsulate); `Unsupported` for an encapsulator that is
    /// not Geneve's; `OutOfRange` when the options would pass 252 bytes (or are not
    /// whole 4-byte words).
    #[inline]
    pub fn encapsulate_with_options(
        &mut self,
        buf: &mut [u8],
        inner: Range<usize>,
        options: &[u8],
    ) -> Result<Range<usize>> {
        self.encapsulate_geneve(buf, inner, options, None)
    }

    /// Encapsulates the IPv4 or IPv6 packet at `buf[inner]` in Geneve of protocol type
    /// 0x0800 or 0x86DD (by its version), with `options` as
    /// [`encapsulate_with_options`](Self::encapsulate_with_options) takes them (empty
    /// for none). The flow hash, DSCP and ECN come from the packet; there is no
    /// Ethernet header, so no tag to strip.
    ///
    /// # Errors
    /// As [`encapsulate_with_options`](Self::encapsulate_with_options); `Version` (layer
    /// IPv4) for a packet whose version is neither 4 nor 6, a malformed IP header.
    #[inline]
    pub fn encapsulate_ip(
        &mut self,
        buf: &mut [u8],
        inner: Range<usize>,
        options: &[u8],
    ) -> Result<Range<usize>> {
        let ethertype = match buf.get(inner.start).map(|first| first >> 4) {
            Some(6) => EtherType::IPV6,
            Some(4) => EtherType::IPV4,
            found => {
                return Err(Error::new(
                    Layer::Ipv4,
                    ErrorKind::Version {
                        found: found.unwrap_or_default(),
                        expected: 4,
                    },
                ));
            }
        };
        self.encapsulate_geneve(buf, inner, options, Some(ethertype))
    }

    /// Geneve with per-packet `options` around an Ethernet frame (`ip` none) or an IP
    /// packet of that EtherType.
    // Cannot overflow or index out of range: offsets of headers inside the checked
    // buffer, options of at most 252 bytes.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    fn encapsulate_geneve(
        &mut self,
        buf: &mut [u8],
        inner: Range<usize>,
        options: &[u8],
        ip: Option<EtherType>,
    ) -> Result<Range<usize>> {
        let Encapsulation::Geneve(_) = self.config().encapsulation else {
            // Named by what was asked, so a count of refusals by reason tells them apart.
            let asked = match ip {
                Some(_) => "an IP payload (no inner Ethernet) on VXLAN or NVGRE",
                None => "per-packet Geneve options on VXLAN or NVGRE",
            };
            return Err(Error::new(Layer::Tunnel, ErrorKind::Unsupported(asked)));
        };
        debug_assert!(
            options.len() % 4 == 0 && geneve::check_options(options).is_ok(),
            "per-packet Geneve options are whole options"
        );
        let options_len = self.config().geneve_options.len() + options.len();
        if options_len > geneve::MAX_OPTIONS_LEN || options.len() % 4 != 0 {
            return Err(Error::new(
                Layer::Geneve,
                ErrorKind::OutOfRange {
                    field: "options length (whole 4-byte words, at most 252 bytes)",
                    value: u32::try_from(options_len).unwrap_or(u32::MAX),
                },
            ));
        }
        let room = self.overhead() + options.len();
        let walked = self.walk(buf, inner.clone(), ip)?;
        let ip_overhead = room - self.layout::<0, false>().ip_at;
        let prepared = self.prepare::<0, false>(walked, inner.clone(), room, ip_overhead)?;
        let inner_start = prepared.inner_start;
        let start = inner_start - room;
        // Checked: nothing has moved yet, so an error above leaves the frame as it was.
        inner_vlan::strip(buf, inner.start, prepared.strip_len);
        buf[inner_start - options.len()..inner_start].copy_from_slice(options);
        self.write_any(buf, start, prepared.patch);
        // The header's first word as this packet has it: the options' length, C, the
        // protocol type.
        let at = start + self.tunnel_offset();
        let first_word = |buf: &[u8]| {
            [
                u16::from_be_bytes([buf[at], buf[at + 1]]),
                u16::from_be_bytes([buf[at + 2], buf[at + 3]]),
            ]
        };
        let template_word = first_word(buf);
        let mut header = GeneveHeader::new_unchecked(&mut buf[at..inner_start]);
        let critical = header.critical() || GeneveOptionIter::new(options).any(|o| o.is_critical());
        header.set_options_len(options_len);
        header.set_flags(false, critical, 0);
        header.set_protocol(ip.unwrap_or(EtherType::TRANSPARENT_ETHERNET_BRIDGING));
        let packet_word = first_word(buf);
        let frame = start..inner.end;
        self.finish::<0, false>(buf, frame.clone(), prepared.sum);
        // `finish` summed the template's first word into the UDP checksum, and the
        // per-packet options with the inner frame: the word's change is updated in
        // (RFC 1624), as when the segment changes.
        let checksum_at = at - 2;
        let sent = u16::from_be_bytes([buf[checksum_at], buf[checksum_at + 1]]);
        if sent != 0 && template_word != packet_word {
            let updated = checksum::update_words(sent, template_word, packet_word);
            // RFC 768: a computed zero is sent as all ones.
            let updated = if updated == 0 { 0xffff } else { updated };
            UdpDatagram::new_unchecked(&mut buf[at - udp::HEADER_LEN..at]).set_checksum(updated);
        }
        Ok(frame)
    }
}
