//! Every forwarding rule, on a fake clock: the lab every test builds on here, the tests by
//! subject in the files beside it.

use core::net::{Ipv4Addr, Ipv6Addr};
use std::vec::Vec;

use super::*;
use crate::packet::Decoder;
use crate::tunnel::{HEADROOM, TunnelConfig};
use crate::wire::nvgre::Vsid;

mod control_plane;
mod drops;
mod dual_stack;
mod forwarding;
mod geneve;
mod mac_limits;

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
const VX1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const VX2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const NV1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);

fn vni(n: u32) -> Vni {
    Vni::new(n).unwrap()
}

fn vid(n: u16) -> VlanId {
    VlanId::usable(n).unwrap()
}

fn mac(n: u32) -> MacAddr {
    let [a, b, c, d] = n.to_be_bytes();
    MacAddr([0x02, 0, a, b, c, d])
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// An untagged Ethernet frame of `len` bytes.
fn frame(dst: MacAddr, src: MacAddr, len: usize) -> Vec<u8> {
    let mut bytes = std::vec![0u8; len];
    bytes[..6].copy_from_slice(&dst.0);
    bytes[6..12].copy_from_slice(&src.0);
    bytes[12..14].copy_from_slice(&[0x08, 0x06]);
    for (i, b) in bytes[14..].iter_mut().enumerate() {
        *b = i as u8;
    }
    bytes
}

/// The frame with an 802.1Q tag.
fn tagged(bytes: &[u8], vid: u16) -> Vec<u8> {
    let mut out = bytes[..12].to_vec();
    out.extend_from_slice(&[0x81, 0x00]);
    out.extend_from_slice(&vid.to_be_bytes());
    out.extend_from_slice(&bytes[12..]);
    out
}

/// A switch at 10.0.0.100 with segments 5042 and 5043 (NVGRE reserves VSIDs below 4096):
/// - ports 0 and 1: access 5042; 2 and 3: access 5042, isolated; 4: trunk 100->5042, 200->5043;
/// - remotes of 5042: VXLAN 10.0.0.1, VXLAN 10.0.0.2, NVGRE 10.0.0.3; of 5043: VXLAN 10.0.0.1.
struct Lab {
    switch: Switch,
    ports: Vec<PortId>,
    vx1: RemoteId,
    vx2: RemoteId,
    nv1: RemoteId,
    vx1_43: RemoteId,
}

impl Lab {
    fn new() -> Self {
        Self::with_segment(|_| {})
    }

    fn with_segment(adjust: impl Fn(&mut SegmentConfig)) -> Self {
        let mut switch = Switch::new(SwitchConfig::new(LOCAL));
        for n in [5042, 5043] {
            let mut segment = SegmentConfig::new(vni(n));
            adjust(&mut segment);
            switch.add_segment(segment).unwrap();
        }
        let mut ports = Vec::new();
        for isolated in [false, false, true, true] {
            let mut port = PortConfig::access(vni(5042));
            port.isolated = isolated;
            ports.push(switch.add_port(port).unwrap());
        }
        let trunk = PortConfig::trunk(std::vec![(vid(200), vni(5043)), (vid(100), vni(5042))]);
        ports.push(switch.add_port(trunk).unwrap());
        let remote = |ip, kind| RemoteConfig::new(ip, kind);
        let vx1 = switch
            .add_remote(vni(5042), remote(VX1, TunnelKind::Vxlan))
            .unwrap();
        let vx2 = switch
            .add_remote(vni(5042), remote(VX2, TunnelKind::Vxlan))
            .unwrap();
        let nv1 = switch
            .add_remote(vni(5042), remote(NV1, TunnelKind::Nvgre))
            .unwrap();
        let vx1_43 = switch
            .add_remote(vni(5043), remote(VX1, TunnelKind::Vxlan))
            .unwrap();
        Lab {
            switch,
            ports,
            vx1,
            vx2,
            nv1,
            vx1_43,
        }
    }

    /// Sends `bytes` in from `ingress` at `now`; returns the verdict and each copy sent.
    fn send(
        &mut self,
        now: u64,
        ingress: Ingress,
        bytes: &[u8],
    ) -> (Verdict, Vec<(Egress, Vec<u8>)>) {
        let mut buf = std::vec![0u8; HEADROOM + bytes.len()];
        buf[HEADROOM..].copy_from_slice(bytes);
        let whole = HEADROOM..buf.len();
        let verdict = self.switch.receive(secs(now), ingress, &mut buf, whole);
        let mut out = Vec::new();
        if let Verdict::Forward(forward) = &verdict {
            for egress in self.switch.targets().to_vec() {
                let mut copy = std::vec![0u8; HEADROOM + 2048];
                let inner = &buf[forward.frame.clone()];
                if let Ok(range) = self.switch.emit_copy(forward, egress, inner, &mut copy) {
                    // The test's sends never fail.
                    self.switch.count_sent(forward, egress, range.len());
                    out.push((egress, copy[range].to_vec()));
                }
            }
        }
        (verdict, out)
    }

    fn send_port(
        &mut self,
        now: u64,
        port: usize,
        bytes: &[u8],
    ) -> (Verdict, Vec<(Egress, Vec<u8>)>) {
        self.send(now, Ingress::Port(self.ports[port]), bytes)
    }

    /// Encapsulates `inner` as remote `from` would towards this switch, then sends it in.
    fn send_tunnel(
        &mut self,
        now: u64,
        from: Ipv4Addr,
        kind: TunnelKind,
        segment: u32,
        inner: &[u8],
    ) -> (Verdict, Vec<(Egress, Vec<u8>)>) {
        let wire = encapsulate(from.into(), LOCAL.into(), kind, segment, inner);
        self.send(now, Ingress::Underlay, &wire)
    }

    fn targets_of(&self, out: &[(Egress, Vec<u8>)]) -> Vec<Egress> {
        out.iter().map(|(egress, _)| *egress).collect()
    }

    fn port(&self, n: usize) -> Egress {
        Location::Port(self.ports[n])
    }
}

/// `inner` as a whole tunnel frame from `from` to `to` (both IPv4 or both IPv6).
fn encapsulate(from: IpAddr, to: IpAddr, kind: TunnelKind, segment: u32, inner: &[u8]) -> Vec<u8> {
    let mut config = match kind {
        TunnelKind::Vxlan => TunnelConfig::vxlan(vni(segment), from, to),
        TunnelKind::Nvgre => TunnelConfig::nvgre(Vsid::new(segment).unwrap(), from, to),
        TunnelKind::Geneve => TunnelConfig::geneve(vni(segment), from, to),
    };
    config.mtu = 9000;
    // Send tagged inner frames as they are, to see the switch refuse them.
    if kind == TunnelKind::Vxlan {
        config.inner_vlan = crate::tunnel::InnerVlanPolicy::Keep;
    }
    let mut buf = std::vec![0u8; HEADROOM + inner.len()];
    buf[HEADROOM..].copy_from_slice(inner);
    let whole = HEADROOM..buf.len();
    let range = Encapsulator::new(config)
        .unwrap()
        .encapsulate(&mut buf, whole)
        .unwrap();
    buf[range].to_vec()
}

/// The remote address, encapsulation, segment and inner frame of a tunnel frame from
/// the IPv4 switch at LOCAL.
fn open_tunnel(bytes: &[u8]) -> (Ipv4Addr, TunnelKind, u32, Vec<u8>) {
    let (from, to, kind, segment, inner) = open_tunnel_of_either_family(bytes);
    assert_eq!(from, LOCAL);
    let IpAddr::V4(to) = to else {
        panic!("sent over IPv6")
    };
    (to, kind, segment, inner)
}

/// The outer source and destination, encapsulation, segment and inner frame of a tunnel
/// frame over IPv4 or IPv6.
fn open_tunnel_of_either_family(bytes: &[u8]) -> (IpAddr, IpAddr, TunnelKind, u32, Vec<u8>) {
    let frame = Decoder::new().decode(bytes).unwrap();
    let (from, to) = match (frame.outer.ipv4, frame.outer.ipv6) {
        (Some(ip), None) => (IpAddr::V4(ip.src_addr()), IpAddr::V4(ip.dst_addr())),
        (None, Some(ip)) => (IpAddr::V6(ip.src_addr()), IpAddr::V6(ip.dst_addr())),
        _ => panic!("one outer IP header"),
    };
    let tunnel = frame.tunnel.unwrap();
    let kind = tunnel.kind();
    (
        from,
        to,
        kind,
        tunnel.segment(),
        bytes[frame.inner.offset..].to_vec(),
    )
}
