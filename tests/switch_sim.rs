//! A simulated network: several switch cores wired together in memory through their
//! tunnels, with hosts on access, trunk and isolated ports exchanging ARP- and ping-like
//! traffic on a fake clock. A fixed topology checks a conversation frame by frame; a
//! proptest over random topologies and traffic checks that every frame reaches exactly
//! the hosts it should, once, never loops, and never leaves by its ingress.
#![cfg(feature = "switch")]

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::Duration;

use proptest::prelude::*;
use tunnelwire::packet::Decoder;
use tunnelwire::switch::{
    Ingress, Location, PortConfig, PortId, RemoteConfig, SegmentConfig, Switch, SwitchConfig,
    Verdict,
};
use tunnelwire::tunnel::{HEADROOM, TunnelKind};
use tunnelwire::wire::{IpProtocol, Ipv4Packet, Ipv4Repr, MacAddr, VlanId, Vni};

/// Segments of the simulated overlay and the VID each has on trunk ports.
const SEGMENTS: [(u32, u16); 2] = [(5010, 100), (5020, 200)];

/// Which encapsulations a switch speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// VXLAN to every other VXLAN switch and to the gateway.
    Vxlan,
    /// NVGRE to every other NVGRE switch and to the gateway.
    Nvgre,
    /// VXLAN to the VXLAN switches, NVGRE to the NVGRE switches.
    Gateway,
}

/// A host's attachment: which switch and port, its segment, and the VID on a trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Host {
    mac: MacAddr,
    switch: usize,
    port: PortId,
    segment: usize,
    vid: Option<u16>,
    isolated: bool,
}

/// How a port is set up: access to a segment (maybe isolated), or a trunk with a host on
/// each listed segment.
#[derive(Debug, Clone)]
enum PortPlan {
    Access { segment: usize, isolated: bool },
    Trunk { segments: Vec<usize> },
}

struct Node {
    switch: Switch,
    ip: Ipv4Addr,
    /// Remote id -> (its address, its encapsulation).
    remotes: Vec<(Ipv4Addr, TunnelKind)>,
}

struct Net {
    nodes: Vec<Node>,
    hosts: Vec<Host>,
    now: Duration,
    next_id: u32,
}

fn ip_of(switch: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, switch as u8 + 1)
}

impl Net {
    /// Builds the switches of `roles`, each with the ports of its plan.
    fn new(roles: &[Role], plans: &[Vec<PortPlan>]) -> Net {
        let mut nodes = Vec::new();
        let mut hosts = Vec::new();
        for (index, role) in roles.iter().enumerate() {
            let ip = ip_of(index);
            let mut config = SwitchConfig::new(ip);
            config.hash_seed = index as u64;
            let mut switch = Switch::new(config);
            let mut remotes = Vec::new();
            for (vni, _) in SEGMENTS {
                let vni = Vni::new(vni).unwrap();
                switch.add_segment(SegmentConfig::new(vni)).unwrap();
                for (other, other_role) in roles.iter().enumerate() {
                    let kind = match (role, other_role) {
                        _ if other == index => continue,
                        (Role::Vxlan, Role::Vxlan | Role::Gateway)
                        | (Role::Gateway, Role::Vxlan) => TunnelKind::Vxlan,
                        (Role::Nvgre, Role::Nvgre | Role::Gateway)
                        | (Role::Gateway, Role::Nvgre) => TunnelKind::Nvgre,
                        _ => continue,
                    };
                    let remote = RemoteConfig::new(ip_of(other), kind);
                    let id = switch.add_remote(vni, remote).unwrap();
                    assert_eq!(id.index(), remotes.len());
                    remotes.push((ip_of(other), kind));
                }
            }
            for plan in &plans[index] {
                let (config, attached): (PortConfig, Vec<(usize, Option<u16>, bool)>) = match plan {
                    PortPlan::Access { segment, isolated } => {
                        let mut port = PortConfig::access(Vni::new(SEGMENTS[*segment].0).unwrap());
                        port.isolated = *isolated;
                        (port, vec![(*segment, None, *isolated)])
                    }
                    PortPlan::Trunk { segments } => {
                        let map = segments
                            .iter()
                            .map(|&s| {
                                let (vni, vid) = SEGMENTS[s];
                                (VlanId::usable(vid).unwrap(), Vni::new(vni).unwrap())
                            })
                            .collect();
                        let hosts = segments
                            .iter()
                            .map(|&s| (s, Some(SEGMENTS[s].1), false))
                            .collect();
                        (PortConfig::trunk(map), hosts)
                    }
                };
                let port = switch.add_port(config).unwrap();
                for (segment, vid, isolated) in attached {
                    let n = hosts.len() as u8;
                    hosts.push(Host {
                        mac: MacAddr([0x02, 0xaa, 0, 0, index as u8, n]),
                        switch: index,
                        port,
                        segment,
                        vid,
                        isolated,
                    });
                }
            }
            nodes.push(Node {
                switch,
                ip,
                remotes,
            });
        }
        Net {
            nodes,
            hosts,
            now: Duration::ZERO,
            next_id: 0,
        }
    }

    /// An untagged frame from host `from` to `dst`, carrying a fresh id.
    fn frame(&mut self, from: usize, dst: MacAddr, len: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; len];
        bytes[..6].copy_from_slice(&dst.0);
        bytes[6..12].copy_from_slice(&self.hosts[from].mac.0);
        if dst.is_broadcast() {
            // ARP-like: the id where the sender's protocol address would be.
            bytes[12..14].copy_from_slice(&[0x08, 0x06]);
            bytes[28..32].copy_from_slice(&self.next_id.to_be_bytes());
        } else {
            // Ping-like: IPv4 carrying ICMP, the id in the ICMP header.
            bytes[12..14].copy_from_slice(&[0x08, 0x00]);
            let (a, b) = (from as u8, dst.0[5]);
            let ip_len = (len - 14 - 20) as u16;
            let src = Ipv4Addr::new(192, 168, 0, a);
            let repr = Ipv4Repr::new(src, Ipv4Addr::new(192, 168, 0, b), IpProtocol::ICMP, ip_len);
            repr.emit(&mut bytes[14..]).unwrap();
            Ipv4Packet::new_unchecked(&mut bytes[14..]).fill_checksum();
            bytes[34] = 8;
            bytes[38..42].copy_from_slice(&self.next_id.to_be_bytes());
        }
        self.next_id += 1;
        bytes
    }

    /// Host `from` sends `frame` (untagged; tagged here for a trunk host). Returns every
    /// copy each host received, untagged, after checking its tag.
    fn send(&mut self, from: usize, frame: &[u8]) -> BTreeMap<usize, Vec<Vec<u8>>> {
        self.now += Duration::from_millis(100);
        let host = self.hosts[from];
        let mut wire = frame.to_vec();
        if let Some(vid) = host.vid {
            wire = tag(frame, vid);
        }
        let mut queue = VecDeque::from([(host.switch, Ingress::Port(host.port), wire)]);
        let mut received: BTreeMap<usize, Vec<Vec<u8>>> = BTreeMap::new();
        let mut steps = 0;
        let mut buf = vec![0u8; HEADROOM + 2048];
        let mut out = vec![0u8; HEADROOM + 2048];
        let ips: Vec<Ipv4Addr> = self.nodes.iter().map(|n| n.ip).collect();
        while let Some((at, ingress, bytes)) = queue.pop_front() {
            steps += 1;
            assert!(
                steps <= 4 * self.nodes.len() * self.nodes.len(),
                "a forwarding loop"
            );
            let node = &mut self.nodes[at];
            let range = HEADROOM..HEADROOM + bytes.len();
            buf[range.clone()].copy_from_slice(&bytes);
            // The remote the frame came from, to check it never goes back there.
            let from_remote = match ingress {
                Ingress::Underlay => {
                    let outer = Decoder::new().decode(&bytes).unwrap().outer.ipv4.unwrap();
                    assert_eq!(outer.dst_addr(), node.ip);
                    Some(outer.src_addr())
                }
                Ingress::Port(_) => None,
                Ingress::Socket { .. } => unreachable!("the simulated wires carry whole frames"),
            };
            let Verdict::Forward(forward) = node.switch.receive(self.now, ingress, &mut buf, range)
            else {
                continue;
            };
            for egress in node.switch.targets().to_vec() {
                let inner = &buf[forward.frame.clone()];
                let sent = node
                    .switch
                    .emit_copy(&forward, egress, inner, &mut out)
                    .unwrap();
                let copy = out[sent].to_vec();
                match egress {
                    Location::Port(port) => {
                        assert_ne!(ingress, Ingress::Port(port), "left by its ingress port");
                        let vid = tag_of(&copy);
                        let Some(to) = self
                            .hosts
                            .iter()
                            .position(|h| h.switch == at && h.port == port && h.vid == vid)
                        else {
                            panic!("switch {at} port {port:?}: a frame tagged {vid:?} for no host");
                        };
                        let untagged = if vid.is_some() { untag(&copy) } else { copy };
                        received.entry(to).or_default().push(untagged);
                    }
                    Location::Remote(remote) => {
                        let (ip, _) = node.remotes[remote.index()];
                        assert_ne!(Some(ip), from_remote, "left by its ingress remote");
                        let next = ips.iter().position(|&n| n == ip).unwrap();
                        queue.push_back((next, Ingress::Underlay, copy));
                    }
                }
            }
        }
        received
    }

    /// May `a` and `b` exchange frames? Same segment, and not two isolated ports of one
    /// switch.
    fn reachable(&self, a: usize, b: usize) -> bool {
        let (a, b) = (self.hosts[a], self.hosts[b]);
        a.segment == b.segment && !(a.switch == b.switch && a.isolated && b.isolated)
    }
}

fn tag(frame: &[u8], vid: u16) -> Vec<u8> {
    [
        &frame[..12],
        &[0x81, 0x00],
        &vid.to_be_bytes(),
        &frame[12..],
    ]
    .concat()
}

fn tag_of(frame: &[u8]) -> Option<u16> {
    (frame[12..14] == [0x81, 0x00]).then(|| u16::from_be_bytes([frame[14], frame[15]]) & 0x0fff)
}

fn untag(frame: &[u8]) -> Vec<u8> {
    [&frame[..12], &frame[16..]].concat()
}

/// Checks one frame's deliveries: `exclusive` lists the hosts that must get exactly one
/// copy and nobody else may; `must` hosts must get one copy while other hosts of the
/// segment may get one too (a flooded unknown unicast).
fn check_deliveries(
    net: &Net,
    from: usize,
    frame: &[u8],
    received: &BTreeMap<usize, Vec<Vec<u8>>>,
    must: &[usize],
    exclusive: bool,
) {
    assert!(
        !received.contains_key(&from),
        "the sender got its own frame back"
    );
    for &host in must {
        assert_eq!(
            received.get(&host).map(Vec::len),
            Some(1),
            "host {host}: {received:?}"
        );
    }
    for (&host, copies) in received {
        assert_eq!(copies.len(), 1, "host {host} got {} copies", copies.len());
        assert_eq!(copies[0], frame, "host {host} got a changed frame");
        assert!(
            net.reachable(from, host),
            "host {host} is not reachable from {from}"
        );
        assert!(
            !exclusive || must.contains(&host),
            "host {host} got a unicast for another"
        );
    }
}

#[test]
fn arp_and_ping_between_hosts_across_vxlan_nvgre_and_the_gateway() {
    // Switch 0: VXLAN; 1: the gateway; 2: NVGRE.
    let plans = vec![
        vec![
            PortPlan::Access {
                segment: 0,
                isolated: false,
            },
            PortPlan::Trunk {
                segments: vec![0, 1],
            },
        ],
        vec![
            PortPlan::Access {
                segment: 0,
                isolated: true,
            },
            PortPlan::Access {
                segment: 0,
                isolated: true,
            },
        ],
        vec![PortPlan::Access {
            segment: 0,
            isolated: false,
        }],
    ];
    let mut net = Net::new(&[Role::Vxlan, Role::Gateway, Role::Nvgre], &plans);
    // Hosts: 0 (sw0 access 10), 1 (sw0 trunk vid 100 -> 10), 2 (sw0 trunk vid 200 -> 20),
    // 3 and 4 (sw1, isolated, 10), 5 (sw2, 10).
    assert_eq!(net.hosts.len(), 6);
    let in_segment_10 = [1, 3, 4, 5];
    // ARP request from host 0: every host of segment 10 but itself, once.
    let request = net.frame(0, MacAddr::BROADCAST, 60);
    let got = net.send(0, &request);
    check_deliveries(&net, 0, &request, &got, &in_segment_10, true);
    // ARP reply from host 5 (NVGRE, behind the gateway): to host 0 only, learned.
    let reply = net.frame(5, net.hosts[0].mac, 60);
    let got = net.send(5, &reply);
    check_deliveries(&net, 5, &reply, &got, &[0], true);
    // Ping there and back: unicast both ways, nobody else.
    for _ in 0..3 {
        let echo = net.frame(0, net.hosts[5].mac, 98);
        let got = net.send(0, &echo);
        check_deliveries(&net, 0, &echo, &got, &[5], true);
        let answer = net.frame(5, net.hosts[0].mac, 98);
        let got = net.send(5, &answer);
        check_deliveries(&net, 5, &answer, &got, &[0], true);
    }
    // Isolated host 3 broadcasts: reaches everyone in 10 but its isolated neighbour 4.
    let hello = net.frame(3, MacAddr::BROADCAST, 60);
    let got = net.send(3, &hello);
    check_deliveries(&net, 3, &hello, &got, &[0, 1, 5], true);
    // Host 2 is alone in segment 20: its broadcast reaches nobody.
    let lonely = net.frame(2, MacAddr::BROADCAST, 60);
    assert!(net.send(2, &lonely).is_empty());
}

fn role() -> impl Strategy<Value = Vec<Role>> {
    (1..=3usize, 0..=2usize, any::<bool>()).prop_map(|(vxlan, nvgre, gateway)| {
        let mut roles = vec![Role::Vxlan; vxlan];
        // NVGRE switches reach the VXLAN ones through the gateway; a gateway without
        // NVGRE peers is one more VXLAN switch.
        if nvgre > 0 || gateway {
            roles.push(Role::Gateway);
        }
        roles.extend(std::iter::repeat_n(Role::Nvgre, nvgre));
        roles
    })
}

fn port_plan() -> impl Strategy<Value = PortPlan> {
    prop_oneof![
        3 => (0..SEGMENTS.len(), any::<bool>())
            .prop_map(|(segment, isolated)| PortPlan::Access { segment, isolated }),
        1 => prop::sample::subsequence(vec![0, 1], 1..=2)
            .prop_map(|segments| PortPlan::Trunk { segments }),
    ]
}

/// Traffic: (sender, destination) where destination is `None` for a broadcast, or a
/// host index (taken modulo the number of hosts), or a MAC nobody has.
fn traffic() -> impl Strategy<Value = Vec<(usize, Option<usize>)>> {
    prop::collection::vec(
        (any::<usize>(), prop::option::weighted(0.7, any::<usize>())),
        1..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_frame_reaches_exactly_its_hosts_once_without_loops(
        roles in role(),
        plans in prop::collection::vec(prop::collection::vec(port_plan(), 0..=3), 6),
        traffic in traffic(),
    ) {
        let plans = plans[..roles.len()].to_vec();
        let mut net = Net::new(&roles, &plans);
        prop_assume!(net.hosts.len() >= 2);
        let count = net.hosts.len();
        // Hosts that broadcast are known to every switch of their segment from then on.
        let mut announced = vec![false; count];
        for (sender, destination) in traffic {
            let from = sender % count;
            match destination {
                None => {
                    let frame = net.frame(from, MacAddr::BROADCAST, 60);
                    let got = net.send(from, &frame);
                    let must: Vec<_> = (0..count)
                        .filter(|&h| h != from && net.reachable(from, h))
                        .collect();
                    check_deliveries(&net, from, &frame, &got, &must, true);
                    announced[from] = true;
                }
                Some(to) => {
                    let to = to % (count + 1);
                    let dst = if to == count {
                        MacAddr([0x02, 0xbb, 0, 0, 0, 1])
                    } else {
                        net.hosts[to].mac
                    };
                    let frame = net.frame(from, dst, 98);
                    let got = net.send(from, &frame);
                    let target = (to < count && to != from && net.reachable(from, to)).then_some(to);
                    let must: Vec<_> = target.into_iter().collect();
                    // A host every switch has learned gets its unicast alone.
                    let exclusive = to < count
                        && announced[to]
                        && net.hosts[to].segment == net.hosts[from].segment;
                    check_deliveries(&net, from, &frame, &got, &must, exclusive);
                }
            }
        }
    }
}
