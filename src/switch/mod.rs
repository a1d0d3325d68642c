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
mod forward;
pub mod mac_table;

pub use config::{
    ConfigError, PortConfig, PortMode, RemoteConfig, SegmentConfig, SwitchConfig, is_vtep_address,
};
pub use counters::{Counters, Reason};
pub use forward::{Forward, Verdict};
pub use mac_table::{Learned, Limits, MacEntry, MacTable, Origin};

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::net::IpAddr;
use core::time::Duration;

use crate::packet::{TunnelPorts, VxlanPorts};
use crate::tunnel::{Decapsulator, Encapsulator, SocketOuter, TunnelConfig, TunnelKind};
use crate::wire::ethernet::MacAddr;
use crate::wire::nvgre::Vsid;
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

/// One entry of the forwarding database, as [`Switch::fdb`] lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdbEntry {
    /// Its segment.
    pub vni: Vni,
    /// The address.
    pub mac: MacAddr,
    /// Where frames for it go.
    pub location: Location,
    /// Learned, static or EVPN.
    pub origin: Origin,
    /// Pinned: never aged, never moved by learning; true for static and EVPN entries
    /// (`origin.is_pinned()`). Kept from before origins, for readers that only ask
    /// whether traffic can change an entry; `origin` says who put it there.
    pub is_static: bool,
    /// Time since it was last seen (zero for pinned entries).
    pub age: Duration,
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
        let mut decapsulator = Decapsulator::default();
        decapsulator.decoder.vxlan_ports = VxlanPorts::new(config.vxlan_port);
        decapsulator.decoder.geneve_ports = TunnelPorts::new(config.geneve_port);
        Switch {
            table: MacTable::new(config.hash_seed),
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

    /// Adds a remote VTEP to segment `vni`; it is on the flood list if `config.flood`.
    /// Its packets leave from the local address of its family, so the underlay MTU
    /// leaves 20 bytes less for its frames over IPv6. It may be added at any time,
    /// frames flowing or not; it takes the slot of a removed remote if there is one
    /// (see [`RemoteId`]), with counters from zero.
    ///
    /// # Errors
    /// `UnknownSegment`; `NotUnicast` for an address no VTEP can have
    /// ([`is_vtep_address`]); `NoLocalAddress` when the switch has no local address of
    /// its family; `LocalAddress` for the switch's own; `DuplicateRemote` when the
    /// segment has this address with this encapsulation already; `Tunnel` when the
    /// encapsulator refuses the settings.
    pub fn add_remote(&mut self, vni: Vni, config: RemoteConfig) -> Result<RemoteId, ConfigError> {
        let segment = self.segment_id(vni)?;
        if !is_vtep_address(config.ip) {
            return Err(ConfigError::NotUnicast(config.ip));
        }
        let Some(local) = self.config.local_ip_for(config.ip) else {
            return Err(ConfigError::NoLocalAddress(config.ip));
        };
        if local == config.ip {
            return Err(ConfigError::LocalAddress(config.ip));
        }
        if self.find_remote(vni, config.ip, config.kind).is_some() {
            return Err(ConfigError::DuplicateRemote(config.ip));
        }
        let mut tunnel = match config.kind {
            TunnelKind::Vxlan => TunnelConfig::vxlan(vni, local, config.ip),
            TunnelKind::Nvgre => {
                let vsid = Vsid::new(vni.get()).map_err(ConfigError::Tunnel)?;
                TunnelConfig::nvgre(vsid, local, config.ip)
            }
            // No options: the switch carries Ethernet frames and no metadata.
            TunnelKind::Geneve => TunnelConfig::geneve(vni, local, config.ip),
        };
        tunnel.mtu = self.config.mtu;
        tunnel.vxlan_port = self.config.vxlan_port;
        tunnel.geneve_port = self.config.geneve_port;
        tunnel.source_ports = self.config.source_ports;
        let encapsulator = Encapsulator::new(tunnel).map_err(ConfigError::Tunnel)?;
        let (slot, generation) = match self.free_remotes.pop() {
            Some(slot) => {
                let held = RemoteId {
                    slot,
                    generation: 0,
                }
                .of(&self.remotes);
                (slot, held.generation.wrapping_add(1))
            }
            None => {
                let slot = u16::try_from(self.remotes.len()).map_err(|_| ConfigError::TooMany)?;
                (slot, 0)
            }
        };
        let id = RemoteId { slot, generation };
        let remote = Remote {
            generation,
            live: true,
            segment,
            ip: config.ip,
            kind: config.kind,
            flood: config.flood,
            encapsulator,
            counters: Counters::default(),
        };
        match self.remotes.get_mut(id.index()) {
            Some(freed) => *freed = remote,
            None => self.remotes.push(remote),
        }
        segment.of_mut(&mut self.segments).remotes.push(id);
        self.reserve_targets();
        Ok(id)
    }

    /// Removes a remote, at any time: off its segment's flood list, and every MAC entry
    /// pointing at it goes (learned, static or EVPN), so nothing is sent to it again and
    /// tunnel frames from it are `unknown_source`. The other remotes keep their ids; its
    /// slot goes to a later remote (see [`RemoteId`]). Its counters go with it (they
    /// read as zero, and the next remote in its slot starts from zero): its frames stay
    /// counted in its segment's counters, a copy the driver reports sent after the
    /// removal ([`count_sent`](Self::count_sent)) counts for the segment only, and
    /// [`emit`](Self::emit) refuses to write one as `write_failed`.
    /// Move events already queued may still name it. True if it was there; false for
    /// an id removed already (a withdrawal seen twice is no error).
    pub fn remove_remote(&mut self, remote: RemoteId) -> bool {
        let Some(removed) = self.remote_mut(remote) else {
            return false;
        };
        removed.live = false;
        let segment = removed.segment;
        segment
            .of_mut(&mut self.segments)
            .remotes
            .retain(|&r| r != remote);
        let location = Location::Remote(remote);
        self.table.sweep(|entry| entry.location == location);
        self.free_remotes.push(remote.slot);
        true
    }

    /// The remote of segment `vni` at `ip` speaking `kind`, if there is one: a control
    /// plane withdrawing a route knows the remote by these, not by its id.
    pub fn find_remote(&self, vni: Vni, ip: IpAddr, kind: TunnelKind) -> Option<RemoteId> {
        let segment = self.segment_id(vni).ok()?;
        segment
            .of(&self.segments)
            .remotes
            .iter()
            .copied()
            .find(|r| r.of(&self.remotes).ip == ip && r.of(&self.remotes).kind == kind)
    }

    /// Puts a remote on its segment's flood list, or takes it off, at any time: what a
    /// control plane does as inclusive multicast (EVPN type-3) routes come and go.
    ///
    /// # Errors
    /// `UnknownRemote` for a removed remote or one from another switch.
    pub fn set_flood(&mut self, remote: RemoteId, flood: bool) -> Result<(), ConfigError> {
        let Some(found) = self.remote_mut(remote) else {
            return Err(ConfigError::UnknownRemote(remote));
        };
        found.flood = flood;
        Ok(())
    }

    /// Pins `mac` in segment `vni` to a port or remote of that segment: never aged,
    /// never moved by learning, not refused by the segment's limit.
    /// [`add_entry`](Self::add_entry) with [`Origin::Static`].
    ///
    /// # Errors
    /// `UnknownSegment`; `NotInSegment` when the port or remote is not part of it.
    pub fn add_static(
        &mut self,
        vni: Vni,
        mac: MacAddr,
        location: Location,
    ) -> Result<(), ConfigError> {
        // Nothing outranks a static entry: it is always put in.
        self.add_entry(vni, mac, location, Origin::Static)
            .map(|_| ())
    }

    /// Puts an entry of `origin`, static or EVPN, for `mac` in segment `vni` at a port
    /// or remote of that segment, at any time. Both are never aged and never moved by
    /// learning. It replaces a learned entry for the address, or one of its own origin
    /// (an EVPN route for a MAC that moved); a static entry outranks an EVPN one, which
    /// then leaves the static entry in place and returns false (nothing of it is kept:
    /// should the static entry go, the control plane adds its route again). An EVPN
    /// entry goes with [`remove_entry`](Self::remove_entry) or with its remote.
    ///
    /// The segment's `mac_limit` does not refuse either, and EVPN entries do not count
    /// towards it: the limit stops traffic from growing the table, and learned entries
    /// stay bounded by it however many routes come in, so remote routes never stop this
    /// switch learning (and advertising) its own hosts. EVPN entries are bounded where
    /// they come from: each VTEP advertises what its own limit let it learn, and a BGP
    /// daemon caps the routes it takes from a peer.
    ///
    /// # Errors
    /// `UnknownSegment`; `NotInSegment` when the port or remote is not part of it (a
    /// removed remote is part of nothing); `LearnedOrigin` for [`Origin::Learned`],
    /// which only traffic puts in.
    pub fn add_entry(
        &mut self,
        vni: Vni,
        mac: MacAddr,
        location: Location,
        origin: Origin,
    ) -> Result<bool, ConfigError> {
        let segment = self.segment_id(vni)?;
        if !origin.is_pinned() {
            return Err(ConfigError::LearnedOrigin);
        }
        let member = match location {
            Location::Port(port) => segment
                .of(&self.segments)
                .members
                .iter()
                .any(|&(p, _)| p == port),
            Location::Remote(remote) => self.remote(remote).is_some_and(|r| r.segment == segment),
        };
        if !member {
            return Err(ConfigError::NotInSegment);
        }
        Ok(self.table.pin(segment, mac, location, origin))
    }

    /// Removes the entry of `mac` in segment `vni` if it has `origin`; true if it went.
    /// A withdrawn route's entry goes, never a static entry that outranked it, nor a
    /// learned one for the same address.
    pub fn remove_entry(&mut self, vni: Vni, mac: MacAddr, origin: Origin) -> bool {
        match self.by_vni.get(&vni.get()) {
            Some(&segment) => self.table.remove_origin(segment, mac, origin),
            None => false,
        }
    }

    /// Removes the entry of `mac` in segment `vni`, whatever its origin; true if there
    /// was one.
    pub fn remove_mac(&mut self, vni: Vni, mac: MacAddr) -> bool {
        match self.by_vni.get(&vni.get()) {
            Some(&segment) => self.table.remove(segment, mac),
            None => false,
        }
    }

    /// Removes every learned entry older than its segment's ageing time at `now`;
    /// returns how many went. Expired entries are already ignored by forwarding and
    /// [`fdb`](Self::fdb); this frees their places towards the segment's limit.
    pub fn age(&mut self, now: Duration) -> usize {
        let now = nanos(now);
        let segments = &self.segments;
        self.table
            .sweep(|entry| entry.is_expired(now, entry.segment.of(segments).ageing))
    }

    /// The forwarding database at `now`: every entry that has not aged out.
    pub fn fdb(&self, now: Duration) -> impl Iterator<Item = FdbEntry> + '_ {
        let now = nanos(now);
        self.table.iter().filter_map(move |entry| {
            let segment = entry.segment.of(&self.segments);
            (!entry.is_expired(now, segment.ageing)).then(|| FdbEntry {
                vni: segment.vni,
                mac: entry.mac,
                location: entry.location,
                origin: entry.origin,
                is_static: entry.origin.is_pinned(),
                age: if entry.origin.is_pinned() {
                    Duration::ZERO
                } else {
                    Duration::from_nanos(now.saturating_sub(entry.last_seen))
                },
            })
        })
    }

    /// The MAC table itself (expired entries included until [`age`](Self::age)).
    pub fn mac_table(&self) -> &MacTable {
        &self.table
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

    /// The remotes, removed ones left out: id, segment VNI, address and encapsulation,
    /// in the order of their slots (the order added, as long as none was removed).
    pub fn remotes(&self) -> impl Iterator<Item = (RemoteId, Vni, IpAddr, TunnelKind)> + '_ {
        self.remotes
            .iter()
            .enumerate()
            .filter(|(_, r)| r.live)
            .map(|(slot, r)| {
                let vni = r.segment.of(&self.segments).vni;
                let id = RemoteId {
                    slot: slot as u16,
                    generation: r.generation,
                };
                (id, vni, r.ip, r.kind)
            })
    }

    /// Slots for remotes: every remote's [`index`](RemoteId::index) is below it, and a
    /// driver's per-remote lists need this length.
    pub fn remote_slots(&self) -> usize {
        self.remotes.len()
    }

    /// Whether a remote is on its segment's flood list; `None` for a removed remote or
    /// one from another switch.
    pub fn floods_to(&self, remote: RemoteId) -> Option<bool> {
        self.remote(remote).map(|r| r.flood)
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

    /// A remote's counters; all zero for a removed remote, whose counters went with it
    /// (see [`remove_remote`](Self::remove_remote)), or an id from another switch.
    pub fn remote_counters(&self, remote: RemoteId) -> &Counters {
        self.remote(remote)
            .map_or(&Counters::ZERO, |found| &found.counters)
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

    /// The live remote `id` names, if it does.
    fn remote(&self, id: RemoteId) -> Option<&Remote> {
        self.remotes
            .get(id.index())
            .filter(|r| r.live && r.generation == id.generation)
    }

    /// As [`remote`](Self::remote), mutably.
    fn remote_mut(&mut self, id: RemoteId) -> Option<&mut Remote> {
        self.remotes
            .get_mut(id.index())
            .filter(|r| r.live && r.generation == id.generation)
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
