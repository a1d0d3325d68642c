//! The run loop's side of EVPN: reports applied between turns, and the driver's
//! per-remote lists (the outbox's sending sockets, the control socket's names) rebuilt
//! when routes added or removed remotes.

// Reached by a control plane's input (routes from other hosts): no unchecked indexing,
// no arithmetic that could overflow.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]
#![forbid(unsafe_code)]

// The crate is no_std; this driver is not.
use std::prelude::rust_2024::*;
use std::{eprintln, vec};

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::Vtep;

impl Vtep {
    /// Applies what gobgpd reported.
    pub(super) fn evpn_poll(&mut self) {
        let Some(evpn) = &mut self.evpn else {
            return;
        };
        // The `ctl evpn` listing is rebuilt once a second at most (`evpn_tick`): rebuilt
        // per report, n routes arriving in small batches cost O(n^2) (a quarter of
        // vtep's time at 56,000 routes).
        let changed = evpn.poll(&mut self.switch);
        if changed {
            self.refresh_remotes();
        }
    }

    /// Advertises the MACs newly learned on local ports, withdraws those gone.
    pub(super) fn evpn_tick(&mut self, now: Duration) {
        let Some(evpn) = &mut self.evpn else {
            return;
        };
        let changed = evpn.tick(&mut self.switch, now);
        if let Some(lines) = evpn.lines_if_changed() {
            self.names.evpn = Some(lines);
        }
        if changed {
            self.refresh_remotes();
        }
    }

    /// Rebuilds the per-remote lists, indexed by remote slot, after remotes came or
    /// went: a sending socket for each new address and none for an address gone, the
    /// outbox's sockets (the underlay's list is sorted by address, so an insertion or a
    /// removal moves the others), and the control socket's names.
    fn refresh_remotes(&mut self) {
        let slots = self.switch.remote_slots();
        let mut senders = vec![usize::MAX; slots];
        // A freed slot keeps no name: nothing lists it.
        let mut names = vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED); slots];
        let remotes: Vec<_> = self.switch.remotes().collect();
        // Called between turns, with nothing queued: no send holds an index that moves.
        // Sorted, so a thousand VTEPs cost a search each, not a scan.
        let mut in_use: Vec<IpAddr> = remotes.iter().map(|&(_, _, ip, _)| ip).collect();
        in_use.sort_unstable();
        self.underlay
            .retain_remotes(|ip| in_use.binary_search(&ip).is_ok());
        for &(_, vni, ip, _) in &remotes {
            if let Err(error) = self.underlay.add_remote(ip) {
                eprintln!("vtep: evpn: segment {vni}: no socket to send to remote {ip}: {error}");
            }
        }
        for (id, _, ip, _) in remotes {
            if let Some(sender) = senders.get_mut(id.index()) {
                *sender = self.underlay.sender(ip).unwrap_or(usize::MAX);
            }
            if let Some(name) = names.get_mut(id.index()) {
                *name = ip;
            }
        }
        self.outbox.set_remote_senders(senders);
        self.names.remotes = names;
    }
}
