//! The check that a tunnelwire arm and its floor agree, frame by frame, before anything
//! is timed or counted.

use super::*;

impl Arm {
    /// Asserts that this arm (tunnelwire) and `floor` compute the same results and
    /// leave byte-identical buffers, frame by frame, on fresh copies of the workload.
    pub(super) fn check_against(mut self, floor: &mut Arm) {
        let clean = !self.mixed;
        match self.path {
            Path::DecodeVxlan
            | Path::DecodeNvgre
            | Path::DecodeGeneve
            | Path::ValuesVxlan
            | Path::ValuesNvgre
            | Path::ValuesGeneve => {
                for frame in &self.frames {
                    let outcome = self.compare_decode(frame);
                    assert!(
                        outcome == Outcome::Accepted || self.mixed && outcome == Outcome::Refused
                    );
                }
            }
            Path::EncapVxlan | Path::EncapNvgre | Path::EncapGeneve | Path::EncapGeneveOvn => {
                for (buf, inner) in self.buffers.clone() {
                    let (outcome, _) = self.compare_encap(&buf, inner);
                    assert!(
                        outcome == Outcome::Accepted || self.mixed && outcome == Outcome::Refused
                    );
                }
            }
            Path::Decap | Path::DecapGeneve => {
                for (buf, frame) in &self.buffers {
                    let mut buf = buf.clone();
                    // Clean workload: CE on the outer header for some frames, so RFC 6040
                    // rewrites here (the mixed workload has its own).
                    let at = frame.start + 14;
                    if clean && buf[at + 5] % 4 == 0 {
                        let mut ip = Ipv4Packet::new_unchecked(&mut buf[at..]);
                        ip.set_dscp_ecn(0, 3);
                        ip.fill_checksum();
                    }
                    let (outcome, _) = self.compare_decap(&buf[frame.clone()]);
                    assert!(outcome == Outcome::Accepted || outcome == Outcome::Refused);
                }
            }
            Path::Translate => {
                for (buf, frame) in &self.buffers {
                    let (outcome, _) = self.compare_translate(buf, frame.clone(), true);
                    assert!(
                        outcome == Outcome::Accepted || self.mixed && outcome == Outcome::Refused
                    );
                }
            }
            Path::EncapVxlan6 | Path::EncapNvgre6 => {
                for ((a, inner), (b, _)) in self.buffers.iter_mut().zip(&mut floor.buffers) {
                    let ours = self.encapsulator.encapsulate(a, inner.clone()).unwrap();
                    let theirs = if self.path == Path::EncapVxlan6 {
                        floor.floor70.encapsulate(b, inner.clone())
                    } else {
                        floor.floor62.encapsulate(b, inner.clone())
                    };
                    assert_eq!(Some(ours.clone()), theirs);
                    assert!(a == b, "byte-identical encapsulation (whole buffer)");
                }
            }
            Path::Decap6 => {
                for ((a, frame), (b, _)) in self.buffers.iter_mut().zip(&mut floor.buffers) {
                    // CE on the outer header for some frames, so RFC 6040 rewrites.
                    for buf in [&mut *a, &mut *b] {
                        if buf[frame.start + 14 + 3] % 4 == 0 {
                            buf[frame.start + 15] |= 0x30;
                        }
                    }
                    let ours = self.decapsulator.decapsulate(&mut a[frame.clone()]);
                    let theirs = floors::decapsulate6(&mut b[frame.clone()]);
                    let ours = ours.ok().map(|d| found6(&d));
                    assert_eq!(ours, theirs);
                    assert_eq!(a, b, "byte-identical decapsulation");
                }
                let frames: Vec<Vec<u8>> = vxlan6_buffers()
                    .into_iter()
                    .map(|(buf, frame)| buf[frame].to_vec())
                    .collect();
                for frame in frames.iter().flat_map(|f| mutations6(f)) {
                    let (mut a, mut b) = (frame.clone(), frame.clone());
                    let ours = self.decapsulator.decapsulate(&mut a);
                    let theirs = floors::decapsulate6(&mut b);
                    if let Some(found) = theirs {
                        let ours = ours.expect("tunnelwire takes what the floor takes");
                        let ours = found6(&ours);
                        assert_eq!(ours, found);
                        assert_eq!(a, b, "byte-identical decapsulation");
                    } else {
                        // Refused alike.
                        assert!(ours.is_err(), "the floor refused");
                    }
                }
            }
            Path::Translate6 => {
                let mtu = usize::from(MTU);
                for ((a, frame), (b, _)) in self.buffers.iter_mut().zip(&mut floor.buffers) {
                    let t = &self.translator;
                    let ours = t.translate(a, frame.clone(), TunnelKind::Nvgre).unwrap();
                    let theirs = floors::translate6(b, frame.clone(), true, mtu);
                    assert_eq!(Some(ours.clone()), theirs);
                    assert!(a == b, "byte-identical to NVGRE (whole buffer)");
                    let back = t.translate(a, ours.clone(), TunnelKind::Vxlan).unwrap();
                    assert_eq!(Some(back.clone()), floors::translate6(b, ours, false, mtu));
                    assert!(a == b, "byte-identical back to VXLAN (whole buffer)");
                }
                let frames: Vec<Vec<u8>> = vxlan6_buffers()
                    .into_iter()
                    .map(|(buf, frame)| buf[frame].to_vec())
                    .collect();
                for frame in frames.iter().flat_map(|f| mutations6(f)) {
                    let (mut a, mut b, len) = (frame.clone(), frame.clone(), frame.len());
                    let ours = self.translator.translate(&mut a, 0..len, TunnelKind::Nvgre);
                    let theirs = floors::translate6(&mut b, 0..len, true, mtu);
                    if let Some(range) = theirs {
                        let ours = ours.expect("tunnelwire takes what the floor takes");
                        assert_eq!(ours, range);
                        assert_eq!(a, b, "byte-identical translation");
                    } else {
                        assert!(ours.is_err(), "the floor refused");
                    }
                }
            }
            Path::Payload => {
                let mtu = usize::from(MTU);
                for ((a, payload, outer), (b, _, _)) in
                    self.payloads.iter_mut().zip(&mut floor.payloads)
                {
                    // CE from the socket for some payloads, so RFC 6040 rewrites.
                    let outer = match a[payload.start + 8 + 14 + 3] % 4 {
                        0 => SocketOuter {
                            ecn: Ecn::Ce,
                            ..*outer
                        },
                        _ => *outer,
                    };
                    let ours = payload_tunnelwire(
                        &self.decapsulator,
                        &mut self.encapsulator,
                        a,
                        payload.clone(),
                        &outer,
                    )
                    .ok();
                    let (src, dst, ecn) = (&outer.src, &outer.dst, outer.ecn.bits());
                    let theirs =
                        floors::payload(b, payload.clone(), src, dst, ecn, &NEXT_VXLAN, mtu);
                    let theirs = theirs.map(|(payload, port, traffic_class)| PayloadHeaders {
                        payload,
                        source_port: Some(port),
                        traffic_class,
                        flow_label: 0,
                    });
                    assert_eq!(ours, theirs);
                    assert_eq!(a, b, "byte-identical payloads");
                }
                // And each payload's result against tunnelwire's whole-frame paths on the
                // same frame.
                let frames = vxlan_buffers();
                for ((mut buf, payload, outer), (mut whole, frame)) in
                    vxlan_payloads().into_iter().zip(frames)
                {
                    let sent = payload_tunnelwire(
                        &self.decapsulator,
                        &mut self.encapsulator,
                        &mut buf,
                        payload,
                        &outer,
                    )
                    .unwrap();
                    let found = self
                        .decapsulator
                        .decapsulate(&mut whole[frame.clone()])
                        .unwrap();
                    let inner = frame.start + found.inner.start..frame.start + found.inner.end;
                    let resent = self.encapsulator.encapsulate(&mut whole, inner).unwrap();
                    assert_eq!(sent.payload.end, resent.end);
                    assert_eq!(
                        buf[sent.payload.clone()],
                        whole[resent.start + 42..resent.end]
                    );
                    let ip =
                        Ipv4Packet::new_checked(&whole[resent.start + 14..resent.end]).unwrap();
                    let udp =
                        UdpDatagram::new_checked(&whole[resent.start + 34..resent.end]).unwrap();
                    assert_eq!(sent.source_port, Some(udp.src_port()));
                    assert_eq!(sent.traffic_class, ip.dscp() << 2 | ip.ecn());
                    assert_eq!(sent.flow_label, 0);
                }
            }
        }
    }
}

/// Copies of a VXLAN-over-IPv6 frame, each changed where the receiver's checks look: every
/// byte of the outer headers flipped in its low or high bit (mostly a UDP checksum that
/// no longer verifies), and, with the checksum made right again, every kind of source
/// that cannot be a VTEP and one that can, a zero checksum, the outer ECN codepoints,
/// VXLAN-GPE payloads and an inner tag.
pub fn mutations6(frame: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for at in 0..70 {
        for bit in [0x01, 0x80] {
            let mut m = frame.to_vec();
            m[at] ^= bit;
            out.push(m);
        }
    }
    let fixed = |change: &dyn Fn(&mut Vec<u8>)| {
        let mut m = frame.to_vec();
        change(&mut m);
        let src = Ipv6Addr::from(<[u8; 16]>::try_from(&m[22..38]).unwrap());
        let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&m[38..54]).unwrap());
        let len = usize::from(u16::from_be_bytes([m[58], m[59]]));
        UdpDatagram::new_unchecked(&mut m[54..54 + len]).fill_checksum_ipv6(src, dst);
        m
    };
    for source in [
        "::",
        "::1",
        "ff02::1",
        "ff0e::5",
        "::ffff:10.0.0.1",
        "fe80::1",
        "::2",
    ] {
        let source: Ipv6Addr = source.parse().unwrap();
        out.push(fixed(&|m| m[22..38].copy_from_slice(&source.octets())));
    }
    let mut zero = frame.to_vec();
    zero[60..62].fill(0);
    out.push(zero);
    for ecn in 0..4u8 {
        let mut m = frame.to_vec();
        m[15] = m[15] & !0x30 | ecn << 4;
        out.push(m);
    }
    for (flags, next_protocol) in [(0x0c, 3), (0x0c, 1), (0x2c, 3), (0x0d, 3)] {
        out.push(fixed(&|m| {
            m[62] = flags;
            m[65] = next_protocol;
        }));
    }
    out.push(fixed(&|m| {
        m[70 + 12..70 + 14].copy_from_slice(&[0x81, 0x00])
    }));
    out
}
