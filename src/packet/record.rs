//! Recorders: what a walk keeps of the layers it validates. The walk hands each valid
//! header to a recorder as it meets it; [`Stack`] and [`Frame`] keep every view, the
//! tunnel engine's recorders only what they read, and a caller's own (run by
//! [`Decoder::decode_with`]) what it needs.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

#[cfg(doc)]
use super::Decoder;
use super::{Frame, Stack, Transport, Tunnel};
use crate::error::Result;
use crate::wire::ethernet::{EtherType, EthernetFrame};
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::Ipv6Packet;
use crate::wire::vlan::VlanTag;

/// What a walk down one stack keeps of each layer it validates, in the order it meets
/// them: each method is called with a header that is valid, and only then. [`Stack`]
/// keeps every view; the tunnel engine keeps only what it reads (where the inner IP
/// header is, its ECN, the flow key), so a per-packet path stores nothing it does not
/// use. Every method defaults to keeping nothing.
///
/// A recorder of your own, run by [`Decoder::decode_with`], keeps plain values where a
/// [`Frame`] keeps an `Option` of a view per layer: nothing is stored, or tested after
/// the walk, that the caller does not read.
pub trait Record<'a> {
    /// The stack starts `at` bytes into the frame (called before anything is checked).
    #[inline(always)]
    fn start(&mut self, _at: usize) {}
    /// A valid Ethernet header.
    #[inline(always)]
    fn ethernet(&mut self, _eth: EthernetFrame<&'a [u8]>) {}
    /// The stack has no Ethernet header: what carried it (a Geneve protocol type, a
    /// capture's link header) gave its first header this EtherType (called after
    /// `start`, before anything is checked).
    #[inline(always)]
    fn no_ethernet(&mut self, _ethertype: EtherType) {}
    /// A VLAN TPID was read: a tag follows (decoded next, unless it is cut short or a
    /// third one).
    #[inline(always)]
    fn tag_follows(&mut self) {}
    /// The `index`-th valid VLAN tag (0 for the outermost).
    #[inline(always)]
    fn vlan(&mut self, _index: usize, _tag: VlanTag<&'a [u8]>) {}
    /// A valid IPv4 header `at` bytes into the frame.
    #[inline(always)]
    fn ipv4(&mut self, _at: usize, _ip: Ipv4Packet<&'a [u8]>) {}
    /// A valid IPv6 header `at` bytes into the frame.
    #[inline(always)]
    fn ipv6(&mut self, _at: usize, _ip: Ipv6Packet<&'a [u8]>) {}
    /// The transport header.
    #[inline(always)]
    fn transport(&mut self, _transport: Transport<'a>) {}
}

/// Playing a decoded stack back.
impl<'a> Stack<'a> {
    /// Plays the decoded layers back into a recorder, as the walk that decoded them did
    /// (the flow key is its one user, and it needs no `tag_follows`).
    #[inline(always)]
    pub(crate) fn replay(&self, record: &mut impl Record<'a>) {
        record.start(self.offset);
        if let Some(eth) = self.ethernet {
            record.ethernet(eth);
        } else if let Some(ethertype) = self.first_ethertype {
            record.no_ethernet(ethertype);
        }
        for (index, tag) in self.vlans.iter().flatten().enumerate() {
            record.vlan(index, *tag);
        }
        if let Some(ip) = self.ipv4 {
            record.ipv4(self.l3_offset(), ip);
        } else if let Some(ip) = self.ipv6 {
            record.ipv6(self.l3_offset(), ip);
        }
        if let Some(transport) = self.transport {
            record.transport(transport);
        }
    }
}

/// Keeps nothing.
impl Record<'_> for () {}

/// A stack keeps every view.
impl<'a> Record<'a> for Stack<'a> {
    #[inline(always)]
    fn start(&mut self, at: usize) {
        self.offset = at;
    }
    #[inline(always)]
    fn ethernet(&mut self, eth: EthernetFrame<&'a [u8]>) {
        self.ethernet = Some(eth);
    }
    #[inline(always)]
    fn no_ethernet(&mut self, ethertype: EtherType) {
        self.first_ethertype = Some(ethertype);
    }
    #[inline(always)]
    fn vlan(&mut self, index: usize, tag: VlanTag<&'a [u8]>) {
        if let Some(slot) = self.vlans.get_mut(index) {
            *slot = Some(tag);
        }
    }
    #[inline(always)]
    fn ipv4(&mut self, _at: usize, ip: Ipv4Packet<&'a [u8]>) {
        self.ipv4 = Some(ip);
    }
    #[inline(always)]
    fn ipv6(&mut self, _at: usize, ip: Ipv6Packet<&'a [u8]>) {
        self.ipv6 = Some(ip);
    }
    #[inline(always)]
    fn transport(&mut self, transport: Transport<'a>) {
        self.transport = Some(transport);
    }
}

/// What a walk over a whole frame keeps: a recorder for each stack, and the tunnel.
pub trait RecordFrame<'a> {
    /// Keeps the outer stack.
    type Outer: Record<'a>;
    /// Keeps the inner stack.
    type Inner: Record<'a>;
    /// The outer stack's recorder.
    fn outer(&mut self) -> &mut Self::Outer;
    /// A valid tunnel header `at` bytes into the frame, before the inner stack is
    /// walked. An error ends the walk with it: a recorder that checks the outer stack
    /// (the tunnel engine's) refuses a frame here, before anything inside is read.
    ///
    /// # Errors
    /// What the recorder refuses.
    fn tunnel(&mut self, at: usize, tunnel: Tunnel<'a>) -> Result<()>;
    /// The outer stack ended without a tunnel header (no VXLAN port, not GRE, an outer
    /// fragment, a payload the walk does not decode). An error ends the walk with it: a
    /// recorder that wants a tunnel says why here, while what it recorded of the outer
    /// stack is at hand, so nothing of the outer stack is kept across the inner walk for
    /// a reason worked out after it.
    ///
    /// # Errors
    /// What the recorder refuses. The default refuses nothing.
    #[inline(always)]
    fn no_tunnel(&mut self) -> Result<()> {
        Ok(())
    }
    /// The inner stack's recorder.
    fn inner(&mut self) -> &mut Self::Inner;
}

/// A frame keeps every view.
impl<'a> RecordFrame<'a> for Frame<'a> {
    type Outer = Stack<'a>;
    type Inner = Stack<'a>;
    #[inline(always)]
    fn outer(&mut self) -> &mut Stack<'a> {
        &mut self.outer
    }
    #[inline(always)]
    fn tunnel(&mut self, at: usize, tunnel: Tunnel<'a>) -> Result<()> {
        self.tunnel = Some(tunnel);
        self.tunnel_offset = at;
        Ok(())
    }
    #[inline(always)]
    fn inner(&mut self) -> &mut Stack<'a> {
        &mut self.inner
    }
}
