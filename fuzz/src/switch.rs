//! The switch core's invariants under arbitrary input, for a fuzz target (`switch`, which
//! hands its raw input to [`switch`]) and for `tests/switch_invariants.rs`, which drives
//! [`run`] from proptest on stable. One switch is fed a sequence of (time step, ingress,
//! bytes), some records first driving the control plane's API (a remote removed or added
//! back, its flood membership changed, an EVPN entry put in or withdrawn); after every
//! frame:
//! - nothing panics;
//! - no segment learns past its limit (EVPN entries are outside it);
//! - `remotes()` lists the live remotes under the ids they were given, nothing goes to a
//!   removed remote, no MAC entry points at one, and floods reach only flooding remotes;
//! - every EVPN entry stays where it was put until withdrawn or its remote removed:
//!   learning never moves it;
//! - nothing leaves by its ingress port or goes back to the remote that sent it;
//! - nothing crosses between two remotes of one encapsulation;
//! - nothing reaches an isolated port from another isolated port;
//! - every copy to a remote is a tunnel frame of the right kind and segment to its address.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use tunnelwire::packet::Decoder;
use tunnelwire::switch::{
    ConfigError, Ingress, Location, Origin, PortConfig, PortId, RemoteConfig, RemoteId,
    SegmentConfig, Switch, SwitchConfig, Verdict,
};
use tunnelwire::tunnel::{Encapsulator, HEADROOM, TunnelConfig, TunnelKind};
use tunnelwire::wire::{MacAddr, VlanId, Vni, Vsid};

/// The switch's own underlay address.
pub const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
/// Most addresses each segment learns.
pub const MAC_LIMIT: usize = 6;
/// How long learned addresses live.
pub const AGEING: Duration = Duration::from_secs(5);
/// Local ports of the switch under test.
pub const PORTS: usize = 6;
/// Segments: NVGRE reserves VSIDs below 4096. 5003 has no segment.
pub const SEGMENTS: [u32; 3] = [5001, 5002, 5003];
/// Tunnel senders: the four remotes of both segments and a stranger.
pub const SENDERS: [Ipv4Addr; 5] = [
    Ipv4Addr::new(10, 0, 0, 1),
    Ipv4Addr::new(10, 0, 0, 2),
    Ipv4Addr::new(10, 0, 0, 3),
    Ipv4Addr::new(10, 0, 0, 4),
    Ipv4Addr::new(10, 0, 0, 9),
];
/// The encapsulations a tunnel frame may be sent in, by a record's choice.
pub const KINDS: [TunnelKind; 3] = [TunnelKind::Vxlan, TunnelKind::Nvgre, TunnelKind::Geneve];

/// Remotes the switch is built with; [`Control`] names them by their place among these,
/// which is also the slot each starts in.
pub const REMOTES: usize = 8;

/// One frame of a run: how far the clock moves first, what the control plane does
/// first, where the frame enters (a port's index below [`PORTS`], or `None` for the
/// underlay), and its bytes.
#[derive(Debug, Clone)]
pub struct Input {
    /// Milliseconds the clock moves before the frame.
    pub step_ms: u64,
    /// A control-plane operation before the frame, if any.
    pub control: Option<Control>,
    /// The ingress port's index, or `None` for a tunnel frame.
    pub port: Option<usize>,
    /// The frame.
    pub bytes: Vec<u8>,
}

/// What a control plane does between frames. Slots and remotes are below [`REMOTES`];
/// MAC `n` is `02:00:00:00:00:0n`, as the frames' pool has them.
#[derive(Debug, Clone, Copy)]
pub enum Control {
    /// Removes the remote in this slot (a removed one: a second withdrawal).
    Remove(usize),
    /// Adds back this built remote (one still there: refused as a duplicate).
    Add(usize),
    /// Puts the remote in this slot on its flood list, or takes it off.
    Flood(usize, bool),
    /// Puts MAC `n` at the remote in this slot as an EVPN entry of its segment.
    Evpn(usize, u8),
    /// Withdraws the EVPN entry of MAC `n` in segment `SEGMENTS[i]`.
    Withdraw(usize, u8),
}

/// What the checks know of the switch: whether each port is isolated, each remote as
/// built, what each remote slot holds, and the EVPN entries put in.
struct Layout {
    isolated: Vec<bool>,
    built: Vec<(Ipv4Addr, TunnelKind, u32)>,
    slots: Vec<Slot>,
    /// Where each EVPN entry was put: (VNI, MAC number) -> remote.
    evpn: BTreeMap<(u32, u8), RemoteId>,
}

/// A remote slot of the switch, as the checks follow it.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The last id given there.
    id: RemoteId,
    /// Whether that remote is still there.
    live: bool,
    /// Which built remote it is.
    built: usize,
}

impl Layout {
    /// The address, encapsulation and segment of `id`, which must be live.
    fn remote(&self, id: RemoteId) -> (Ipv4Addr, TunnelKind, u32) {
        let slot = self.slots[id.index()];
        assert!(slot.live && slot.id == id, "{id:?} was removed");
        self.built[slot.built]
    }

    /// The live remote in slot `index`, if any.
    fn live(&self, index: usize) -> Option<RemoteId> {
        self.slots
            .get(index)
            .filter(|slot| slot.live)
            .map(|slot| slot.id)
    }
}

/// Segments 5001 and 5002; ports 0-1 access 5001, 2-3 access 5001 isolated, 4 trunk
/// (VID 10 -> 5001, 20 -> 5002), 5 access 5002 isolated; in both segments VXLAN remotes
/// 10.0.0.1 and 10.0.0.2, the NVGRE remote 10.0.0.3 and the Geneve remote 10.0.0.4: a
/// three-way gateway.
fn build() -> (Switch, Layout) {
    let mut switch = Switch::new(SwitchConfig::new(LOCAL));
    let vni = |n: u32| Vni::new(n).unwrap();
    let [a, b, _] = SEGMENTS;
    for n in [a, b] {
        let mut segment = SegmentConfig::new(vni(n));
        segment.mac_limit = MAC_LIMIT;
        segment.ageing = AGEING;
        switch.add_segment(segment).unwrap();
    }
    let mut isolated = Vec::new();
    let vid = |n| VlanId::usable(n).unwrap();
    let ports = [
        (PortConfig::access(vni(a)), false),
        (PortConfig::access(vni(a)), false),
        (PortConfig::access(vni(a)), true),
        (PortConfig::access(vni(a)), true),
        (
            PortConfig::trunk(vec![(vid(10), vni(a)), (vid(20), vni(b))]),
            false,
        ),
        (PortConfig::access(vni(b)), true),
    ];
    for (mut port, private) in ports {
        port.isolated = private;
        switch.add_port(port).unwrap();
        isolated.push(private);
    }
    let (mut built, mut slots) = (Vec::new(), Vec::new());
    for n in [a, b] {
        for (ip, kind) in [
            (SENDERS[0], TunnelKind::Vxlan),
            (SENDERS[1], TunnelKind::Vxlan),
            (SENDERS[2], TunnelKind::Nvgre),
            (SENDERS[3], TunnelKind::Geneve),
        ] {
            let id = switch
                .add_remote(vni(n), RemoteConfig::new(ip, kind))
                .unwrap();
            assert_eq!(id.index(), built.len());
            slots.push(Slot {
                id,
                live: true,
                built: built.len(),
            });
            built.push((ip, kind, n));
        }
    }
    assert_eq!(built.len(), REMOTES);
    let layout = Layout {
        isolated,
        built,
        slots,
        evpn: BTreeMap::new(),
    };
    (switch, layout)
}

fn mac(n: u8) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, 0, n])
}

/// Does `control` to the switch, checking each answer against the layout, and follows
/// it in the layout.
fn apply(switch: &mut Switch, layout: &mut Layout, control: Control) {
    let vni = |n: u32| Vni::new(n).unwrap();
    match control {
        Control::Remove(index) => {
            let Some(slot) = layout.slots.get_mut(index) else {
                return;
            };
            assert_eq!(switch.remove_remote(slot.id), slot.live, "removal");
            let id = slot.id;
            slot.live = false;
            layout.evpn.retain(|_, at| *at != id);
        }
        Control::Add(index) => {
            let (ip, kind, segment) = layout.built[index];
            let there = switch.find_remote(vni(segment), ip.into(), kind);
            let added = switch.add_remote(vni(segment), RemoteConfig::new(ip, kind));
            let Ok(id) = added else {
                assert!(there.is_some(), "refused: {added:?}");
                assert_eq!(added, Err(ConfigError::DuplicateRemote(ip.into())));
                return;
            };
            assert!(there.is_none(), "added twice");
            let fresh = Slot {
                id,
                live: true,
                built: index,
            };
            match layout.slots.get_mut(id.index()) {
                Some(slot) => {
                    assert!(!slot.live, "a live remote's slot given away");
                    assert_ne!(slot.id, id, "an id given twice");
                    *slot = fresh;
                }
                None => {
                    assert_eq!(id.index(), layout.slots.len(), "slots in order");
                    layout.slots.push(fresh);
                }
            }
        }
        Control::Flood(index, flood) => {
            let Some(slot) = layout.slots.get(index) else {
                return;
            };
            let set = switch.set_flood(slot.id, flood);
            if slot.live {
                assert_eq!(set, Ok(()));
                assert_eq!(switch.floods_to(slot.id), Some(flood));
            } else {
                assert_eq!(set, Err(ConfigError::UnknownRemote(slot.id)));
            }
        }
        Control::Evpn(index, n) => {
            let Some(slot) = layout.slots.get(index).copied() else {
                return;
            };
            let segment = layout.built[slot.built].2;
            let at = Location::Remote(slot.id);
            let added = switch.add_entry(vni(segment), mac(n), at, Origin::Evpn);
            if slot.live {
                // No static entry in this switch outranks it.
                assert_eq!(added, Ok(true));
                layout.evpn.insert((segment, n), slot.id);
            } else {
                assert_eq!(added, Err(ConfigError::NotInSegment));
            }
        }
        Control::Withdraw(segment, n) => {
            let segment = SEGMENTS[segment % SEGMENTS.len()];
            let removed = switch.remove_entry(vni(segment), mac(n), Origin::Evpn);
            assert_eq!(removed, layout.evpn.remove(&(segment, n)).is_some());
        }
    }
}

/// The checks of the remotes and entries against the layout.
fn check_table(switch: &Switch, layout: &Layout, now: Duration) {
    let listed: Vec<_> = switch.remotes().map(|(id, ..)| id).collect();
    let live: Vec<_> = (0..layout.slots.len())
        .filter_map(|i| layout.live(i))
        .collect();
    assert_eq!(listed, live, "remotes() lists the live remotes");
    for (id, vni, ip, kind) in switch.remotes() {
        let (built_ip, built_kind, segment) = layout.remote(id);
        assert_eq!(
            (vni.get(), ip, kind),
            (segment, built_ip.into(), built_kind)
        );
        assert!(id.index() < switch.remote_slots());
    }
    for entry in switch.mac_table().iter() {
        if let Location::Remote(id) = entry.location {
            layout.remote(id);
        }
    }
    for (segment, _) in switch.segments() {
        let learned = switch.mac_table().origin_len(segment, Origin::Learned);
        assert!(learned <= MAC_LIMIT, "MAC limit");
    }
    for (&(segment, n), &id) in &layout.evpn {
        let entry = switch
            .fdb(now)
            .find(|e| e.vni.get() == segment && e.mac == mac(n));
        let held = entry.map(|e| (e.location, e.origin));
        assert_eq!(
            held,
            Some((Location::Remote(id), Origin::Evpn)),
            "EVPN entry"
        );
    }
}

/// `inner` encapsulated in `kind` as `sender` would send it to the switch, in segment
/// `segment`.
pub fn tunnel_frame(inner: &[u8], sender: Ipv4Addr, segment: u32, kind: TunnelKind) -> Vec<u8> {
    let config = match kind {
        TunnelKind::Nvgre => TunnelConfig::nvgre(Vsid::new(segment).unwrap(), sender, LOCAL),
        TunnelKind::Vxlan => TunnelConfig::vxlan(Vni::new(segment).unwrap(), sender, LOCAL),
        TunnelKind::Geneve => TunnelConfig::geneve(Vni::new(segment).unwrap(), sender, LOCAL),
    };
    let mut buf = vec![0u8; HEADROOM + inner.len()];
    buf[HEADROOM..].copy_from_slice(inner);
    let whole = HEADROOM..buf.len();
    // Frames the encapsulator refuses (shorter than Ethernet, say) go in unwrapped.
    match Encapsulator::new(config)
        .unwrap()
        .encapsulate(&mut buf, whole)
    {
        Ok(range) => buf[range].to_vec(),
        Err(_) => inner.to_vec(),
    }
}

/// The fuzz target: reads `data` as records of four head bytes and a body, then [`run`]s
/// them. Head: the time step (in 50 ms units; 255 jumps past the ageing time), where the
/// frame enters (low 3 bits: a port below [`PORTS`], else the underlay; high 5 bits: 27
/// to 31 a [`Control`] first, its arguments from the next byte), how the body is sent
/// (bit 0: as is; else encapsulated, bits 1 and 6 the kind (VXLAN, NVGRE, Geneve, modulo
/// 3), bits 2-3 and 7 the sender, bits 4-5 the segment), and the body's length.
pub fn switch(data: &[u8]) {
    let mut inputs = Vec::new();
    let mut rest = data;
    while let [step, at, how, len, tail @ ..] = rest {
        let (body, next) = tail.split_at(usize::from(*len).min(tail.len()));
        rest = next;
        let step_ms = match step {
            255 => AGEING.as_millis() as u64 + 1,
            n => u64::from(*n) * 50,
        };
        let port = Some(usize::from(at & 7)).filter(|&p| p < PORTS);
        let (slot, n) = (usize::from(how & 7), how >> 3 & 7);
        let control = match at >> 3 {
            27 => Some(Control::Remove(slot)),
            28 => Some(Control::Add(slot)),
            29 => Some(Control::Flood(slot, n & 1 == 1)),
            30 => Some(Control::Evpn(slot, n)),
            31 => Some(Control::Withdraw(slot, n)),
            _ => None,
        };
        let bytes = if port.is_some() || how & 1 == 1 {
            body.to_vec()
        } else {
            let sender = SENDERS[usize::from(how >> 2 & 3 | how >> 5 & 4) % SENDERS.len()];
            let segment = SEGMENTS[usize::from(how >> 4 & 3) % SEGMENTS.len()];
            let kind = KINDS[usize::from(how >> 1 & 1 | how >> 5 & 2) % KINDS.len()];
            tunnel_frame(body, sender, segment, kind)
        };
        inputs.push(Input {
            step_ms,
            control,
            port,
            bytes,
        });
    }
    run(&inputs);
}

/// Feeds `inputs` to a fresh switch, checking every invariant after each frame.
///
/// # Panics
/// When an invariant fails.
pub fn run(inputs: &[Input]) {
    let (mut switch, mut layout) = build();
    let ports: Vec<PortId> = switch.ports().collect();
    let mut now = Duration::ZERO;
    let mut buf = vec![0u8; HEADROOM + 2048];
    let mut out = vec![0u8; HEADROOM + 2048];
    for input in inputs {
        now += Duration::from_millis(input.step_ms);
        if let Some(control) = input.control {
            apply(&mut switch, &mut layout, control);
        }
        let len = input.bytes.len().min(2048);
        let range = HEADROOM..HEADROOM + len;
        buf[range.clone()].copy_from_slice(&input.bytes[..len]);
        let ingress = match input.port {
            Some(index) => Ingress::Port(ports[index]),
            None => Ingress::Underlay,
        };
        let verdict = switch.receive(now, ingress, &mut buf, range);
        check_table(&switch, &layout, now);
        let Verdict::Forward(forward) = verdict else {
            continue;
        };
        if let Ingress::Port(port) = ingress {
            assert_eq!(forward.source, Location::Port(port));
        }
        for egress in switch.targets().to_vec() {
            assert_ne!(egress, forward.source, "left by its ingress");
            if let (Location::Remote(to), true) = (egress, forward.flood) {
                assert_eq!(switch.floods_to(to), Some(true), "flooded to a non-member");
            }
            match (forward.source, egress) {
                (Location::Remote(a), Location::Remote(b)) => {
                    let (from, to) = (layout.remote(a).1, layout.remote(b).1);
                    assert_ne!(from, to, "split horizon");
                }
                (Location::Port(a), Location::Port(b)) => {
                    let both = layout.isolated[a.index()] && layout.isolated[b.index()];
                    assert!(!both, "isolated port to isolated port");
                }
                _ => {}
            }
            let inner = &buf[forward.frame.clone()];
            let Ok(sent) = switch.emit_copy(&forward, egress, inner, &mut out) else {
                continue;
            };
            if let Location::Remote(remote) = egress {
                let (ip, kind, segment) = layout.remote(remote);
                let (frame, _) = Decoder::new().decode_partial(&out[sent]);
                assert_eq!(frame.outer.ipv4.map(|ip| ip.dst_addr()), Some(ip));
                let tunnel = frame.tunnel.expect("a tunnel frame");
                assert_eq!(tunnel.segment(), segment);
                assert_eq!(tunnel.kind(), kind, "the remote's own encapsulation");
            }
        }
    }
}
