//! The reference switch: a sans-IO VTEP core (feature `switch`; needs `alloc`, not `std`).
//!
//! A [`Switch`] owns segments (one per VNI), local ports, remote VTEPs and the MAC table.
//! It never reads a clock or touches a socket: the caller hands it `(now, ingress,
//! frame)` and gets a [`Verdict`]; for a frame to forward, it then asks the switch to
//! write each copy ([`Switch::emit`], [`Switch::emit_copy`]) into its own buffers, with
//! headroom for the outer headers, and sends them wherever [`Egress`] says.
//!
//! Frames from tunnels are decapsulated with the [`tunnel`](crate::tunnel) engine,
//! frames to remotes encapsulated with one [`Encapsulator`] per remote: no second parser.
//! The underlay may be IPv4, IPv6 or both: each remote is reached from the local address
//! of its family, and a tunnel frame comes in whole (outer Ethernet first, as a capture
//! or AF_PACKET gives it: [`Ingress::Underlay`]) or as a socket payload (what a UDP or
//! raw GRE socket gives: [`Ingress::Socket`]); after decapsulation both take one path.
//!
//! A control plane (EVPN, an orchestrator) drives the same API between frames, while
//! the switch runs: remotes come and go ([`Switch::add_remote`],
//! [`Switch::remove_remote`]: the other remotes keep their ids), join and leave their
//! segment's flood list ([`Switch::set_flood`]), and MAC entries carry an [`Origin`]
//! (learned, static, EVPN) that decides what may move, age or remove them
//! ([`Switch::add_entry`], [`Switch::remove_entry`]).
//!
//! ```
//! use core::net::Ipv4Addr;
//! use core::time::Duration;
//! use tunnelwire::switch::*;
//! use tunnelwire::tunnel::{TunnelKind, HEADROOM};
//! use tunnelwire::wire::Vni;
//!
//! let vni = Vni::new(42)?;
//! let mut switch = Switch::new(SwitchConfig::new(Ipv4Addr::new(10, 99, 0, 2)));
//! switch.add_segment(SegmentConfig::new(vni))?;
//! let port = switch.add_port(PortConfig::access(vni))?;
//! let remote = switch.add_remote(vni, RemoteConfig::new(Ipv4Addr::new(10, 99, 0, 1), TunnelKind::Vxlan))?;
//!
//! // A broadcast from the port: flooded to the remote by head-end replication.
//! let mut buf = [0u8; HEADROOM + 60];
//! buf[HEADROOM..HEADROOM + 6].copy_from_slice(&[0xff; 6]);
//! buf[HEADROOM + 6..HEADROOM + 12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
//! let frame = HEADROOM..buf.len();
//! let Verdict::Forward(forward) = switch.receive(Duration::ZERO, Ingress::Port(port), &mut buf, frame) else {
//!     panic!("forwarded")
//! };
//! assert_eq!(switch.targets(), [Egress::Remote(remote)]);
//! let sent = switch.emit(&forward, Egress::Remote(remote), &mut buf, forward.frame.clone()).unwrap();
//! assert_eq!(sent.len(), 50 + 60);
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]
#![forbid(unsafe_code)]

mod config;
mod counters;
mod fdb;
mod forward;
pub mod mac_table;
mod remotes;

pub use config::{
    ConfigError, PortConfig, PortMode, RemoteConfig, SegmentConfig, SwitchConfig, is_vtep_address,
};
pub use counters::{Counters, Reason};
pub use fdb::FdbEntry;
pub use forward::{Forward, Verdict};
pub use mac_table::{Learned, Limits, MacEntry, MacTable, Origin};

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::net::IpAddr;
use core::time::Duration;

use crate::packet::{TunnelPorts, VxlanPorts};
use crate::tunnel::{DecapConfig, Decapsulator, Encapsulator, SocketOuter, TunnelKind};
use crate::wire::ethernet::MacAddr;
use crate::wire::vlan::VlanId;
use crate::wire::vxlan::Vni;

macro_rules! index_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub(crate) u16);

        impl $name {
            /// Its position in the order of creation, from 0.
            pub const fn index(self) -> usize {
                self.0 as usize
            }

            fn from_len(len: usize) -> Result<Self, ConfigError> {
                u16::try_from(len).map($name).map_err(|_| ConfigError::TooMany)
            }
        }

        index_of!($name);
    };
}

/// `of` and `of_mut` for an id whose `index` is its place in the switch's list.
macro_rules! index_of {
    ($name:ident) => {
        impl $name {
            /// What this id names in the list that issued it (the switch's, or a
            /// driver's list kept in the same order).
            ///
            /// # Panics
            /// For an id from another switch, as the public methods taking ids say.
            #[allow(clippy::indexing_slicing)] // ids come from this switch, never from frame bytes
            pub(crate) fn of<T>(self, items: &[T]) -> &T {
                &items[self.index()]
            }

            /// As [`of`](Self::of), mutably.
            #[allow(clippy::indexing_slicing)] // ids come from this switch, never from frame bytes
            pub(crate) fn of_mut<T>(self, items: &mut [T]) -> &mut T {
                &mut items[self.index()]
            }
        }
    };
}

index_id!(
    /// A local port of a switch, numbered in the order they were added.
    PortId
);

/// A remote VTEP of one segment: a slot of the switch's list of remotes, and which of
/// the remotes that slot has held.
///
/// Remotes come and go while the switch runs (a control plane mirrors routes), so a
/// slot that [`Switch::remove_remote`] frees is given to a later remote: ids would
/// otherwise run out after 65535 additions, and memory would grow with every one. The
/// other remotes keep their ids. The generation tells the newcomer from the remote
/// that held its slot before, so an id kept past its remote's removal names nothing
/// rather than the newcomer (until the slot's generation wraps, after 65536 reuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RemoteId {
    pub(crate) slot: u16,
    pub(crate) generation: u16,
}

impl RemoteId {
    /// Its slot: below [`Switch::remote_slots`], the same for as long as the remote
    /// lives, and given to a later remote once it is removed. A driver keeps its
    /// per-remote state in lists indexed by it, and replaces a slot's state when
    /// [`Switch::remotes`] shows a new id there.
    pub const fn index(self) -> usize {
        self.slot as usize
    }
}

index_of!(RemoteId);
index_id!(
    /// A segment of a switch, numbered in the order they were added.
    SegmentId
);

/// Where a MAC address lives: behind a local port or a remote VTEP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Location {
    /// A local port.
    Port(PortId),
    /// A remote VTEP.
    Remote(RemoteId),
}

/// Where a frame came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ingress {
    /// A local port: the frame is a plain Ethernet frame.
    Port(PortId),
    /// The underlay: the frame is a whole tunnel frame (outer Ethernet, IPv4 or IPv6,
    /// then UDP and VXLAN or GRE), whichever remote sent it.
    Underlay,
    /// The underlay through a socket: the frame is a socket payload, the `kind` tunnel
    /// header onward (what a UDP socket gives for VXLAN; for NVGRE what a raw GRE socket
    /// gives after the IPv4 header an AF_INET one puts in front), and `outer` is what the
    /// socket reported of the outer packet. The kernel has checked the outer headers;
    /// everything else is checked as for [`Underlay`](Self::Underlay).
    Socket {
        /// VXLAN (a UDP socket) or NVGRE (a raw GRE socket).
        kind: TunnelKind,
        /// The sender, the local address and the outer ECN.
        outer: SocketOuter,
    },
}

/// Where a copy of a frame goes.
pub type Egress = Location;

/// A MAC address that moved: seen at one place, now at another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacMove {
    /// Its segment.
    pub vni: Vni,
    /// The address.
    pub mac: MacAddr,
    /// Where it was.
    pub from: Location,
    /// Where it is now.
    pub to: Location,
}

#[derive(Debug, Clone)]
struct Segment {
    vni: Vni,
    mac_limit: usize,
    ageing: u64,
    /// Local ports in the segment, with the VID a trunk port tags its frames with.
    members: Vec<(PortId, Option<VlanId>)>,
    remotes: Vec<RemoteId>,
    counters: Counters,
}

#[derive(Debug, Clone)]
struct Port {
    /// Access: `(None, segment)`; trunk: `(Some(vid), segment)` per mapping, sorted by VID.
    vlans: Vec<(Option<VlanId>, SegmentId)>,
    isolated: bool,
    /// The longest payload a frame out of it may carry.
    mtu: Option<u16>,
    /// Most addresses learned from it.
    mac_limit: usize,
    counters: Counters,
}

#[derive(Debug, Clone)]
struct Remote {
    /// Which of the remotes its slot has held: its id's generation.
    generation: u16,
    /// False once removed: the slot waits in `free_remotes` for a later remote.
    live: bool,
    segment: SegmentId,
    ip: IpAddr,
    kind: TunnelKind,
    flood: bool,
    encapsulator: Encapsulator,
    counters: Counters,
}

/// The sans-IO VTEP core: segments, ports, remotes and the MAC table.
#[derive(Debug, Clone)]
pub struct Switch {
    config: SwitchConfig,
    segments: Vec<Segment>,
    by_vni: BTreeMap<u32, SegmentId>,
    ports: Vec<Port>,
    /// Indexed by `RemoteId::index`; removed remotes stay until their slot is reused.
    remotes: Vec<Remote>,
    /// Slots of removed remotes, for the next remotes added.
    free_remotes: Vec<u16>,
    table: MacTable,
    decapsulator: Decapsulator,
    /// Where the last forwarded frame goes; its capacity is reserved as ports and remotes
    /// are added, so filling it never allocates.
    targets: Vec<Egress>,
    events: VecDeque<MacMove>,
    events_lost: u64,
    /// Tunnel frames that no remote could be charged with (unknown VNI, undecodable).
    underlay: Counters,
}

impl Switch {
    /// A switch with no segment, port or remote yet.
    pub fn new(config: SwitchConfig) -> Self {
        let mut decap = DecapConfig::default();
        decap.decoder.vxlan_ports = VxlanPorts::new(config.vxlan_port);
        decap.decoder.geneve_ports = TunnelPorts::new(config.geneve_port);
        let decapsulator = Decapsulator::new(decap);
        let mut table = MacTable::new(config.hash_seed);
        table.set_local_moves_evpn(config.local_moves_evpn);
        Switch {
            table,
            events: VecDeque::with_capacity(config.event_capacity),
            config,
            segments: Vec::new(),
            by_vni: BTreeMap::new(),
            ports: Vec::new(),
            remotes: Vec::new(),
            free_remotes: Vec::new(),
            decapsulator,
            targets: Vec::new(),
            events_lost: 0,
            underlay: Counters::default(),
        }
    }

    /// The switch-wide settings.
    pub fn config(&self) -> &SwitchConfig {
        &self.config
    }

    /// Adds a segment.
    ///
    /// # Errors
    /// `DuplicateSegment` if its VNI has one already.
    pub fn add_segment(&mut self, config: SegmentConfig) -> Result<SegmentId, ConfigError> {
        let vni = config.vni.get();
        if self.by_vni.contains_key(&vni) {
            return Err(ConfigError::DuplicateSegment(vni));
        }
        let id = SegmentId::from_len(self.segments.len())?;
        self.segments.push(Segment {
            vni: config.vni,
            mac_limit: config.mac_limit,
            ageing: nanos(config.ageing),
            members: Vec::new(),
            remotes: Vec::new(),
            counters: Counters::default(),
        });
        self.by_vni.insert(vni, id);
        Ok(id)
    }

    /// Adds a local port.
    ///
    /// # Errors
    /// `UnknownSegment` for a VNI without a segment; `DuplicateVlan` when a trunk maps
    /// a VID twice or two VIDs to one segment.
    pub fn add_port(&mut self, config: PortConfig) -> Result<PortId, ConfigError> {
        let id = PortId::from_len(self.ports.len())?;
        let mut vlans = Vec::new();
        match &config.mode {
            PortMode::Access(vni) => vlans.push((None, self.segment_id(*vni)?)),
            PortMode::Trunk(map) => {
                for &(vid, vni) in map {
                    let segment = self.segment_id(vni)?;
                    if vlans.iter().any(|&(v, s)| v == Some(vid) || s == segment) {
                        return Err(ConfigError::DuplicateVlan(vid.get()));
                    }
                    vlans.push((Some(vid), segment));
                }
                vlans.sort_by_key(|&(vid, _)| vid);
            }
        }
        for &(vid, segment) in &vlans {
            segment.of_mut(&mut self.segments).members.push((id, vid));
        }
        self.ports.push(Port {
            vlans,
            isolated: config.isolated,
            mtu: config.mtu,
            mac_limit: config.mac_limit.unwrap_or(usize::MAX),
            counters: Counters::default(),
        });
        self.reserve_targets();
        Ok(id)
    }

    /// The next MAC-move event, oldest first.
    pub fn take_event(&mut self) -> Option<MacMove> {
        self.events.pop_front()
    }

    /// MAC-move events dropped because nobody took them in time.
    pub fn events_lost(&self) -> u64 {
        self.events_lost
    }

    /// The segments, in the order they were added.
    pub fn segments(&self) -> impl Iterator<Item = (SegmentId, Vni)> + '_ {
        self.segments
            .iter()
            .enumerate()
            .map(|(i, s)| (SegmentId(i as u16), s.vni))
    }

    /// The segment of VNI `vni`.
    ///
    /// # Errors
    /// `UnknownSegment` when there is none.
    pub fn segment_id(&self, vni: Vni) -> Result<SegmentId, ConfigError> {
        self.by_vni
            .get(&vni.get())
            .copied()
            .ok_or(ConfigError::UnknownSegment(vni.get()))
    }

    /// The local ports, in the order they were added.
    pub fn ports(&self) -> impl Iterator<Item = PortId> + use<> {
        (0..self.ports.len()).map(|i| PortId(i as u16))
    }

    /// How many local ports there are; their ids are `0..port_count()`.
    pub fn port_count(&self) -> usize {
        self.ports.len()
    }

    /// A port's counters.
    ///
    /// # Panics
    /// If `port` does not belong to this switch.
    pub fn port_counters(&self, port: PortId) -> &Counters {
        &port.of(&self.ports).counters
    }

    /// A segment's counters: every frame that entered it, every copy that left it, and
    /// every refusal in it.
    ///
    /// # Panics
    /// If `segment` does not belong to this switch.
    pub fn segment_counters(&self, segment: SegmentId) -> &Counters {
        &segment.of(&self.segments).counters
    }

    /// Tunnel frames that could not be charged to a remote: undecodable, from an
    /// address that is not a remote of the segment named, or naming a VNI with no
    /// segment.
    pub fn underlay_counters(&self) -> &Counters {
        &self.underlay
    }

    /// Keeps room in `targets` for every port and remote slot, so that filling it never
    /// allocates: a flood goes to every port and remote of a segment at most.
    fn reserve_targets(&mut self) {
        let most = self.ports.len().saturating_add(self.remotes.len());
        self.targets
            .reserve(most.saturating_sub(self.targets.len()));
    }

    fn push_event(&mut self, event: MacMove) {
        if self.events.len() == self.config.event_capacity {
            self.events.pop_front();
            // Wraps, as the counters do.
            self.events_lost = self.events_lost.wrapping_add(1);
        }
        if self.config.event_capacity > 0 {
            self.events.push_back(event);
        }
    }
}

/// A caller's time as nanoseconds; saturates after 584 years.
fn nanos(time: Duration) -> u64 {
    u64::try_from(time.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
