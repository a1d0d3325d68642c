//! What is dropped, refused or held back, and counted: foreign remotes, underlay MTU,
//! malformed frames, the ingress port, short output buffers, unsent copies, bad settings.

use super::*;

#[test]
fn tunnel_frames_from_anyone_but_the_segment_remotes_are_dropped() {
    let mut lab = Lab::new();
    let hello = frame(MacAddr::BROADCAST, mac(7), 60);
    let stranger = Ipv4Addr::new(10, 0, 0, 9);
    for (from, kind, segment) in [
        (stranger, TunnelKind::Vxlan, 5042),
        (NV1, TunnelKind::Nvgre, 5043), // a remote of 5042 only
        (VX1, TunnelKind::Nvgre, 5042), // the right address, the wrong encapsulation
    ] {
        let (verdict, out) = lab.send_tunnel(0, from, kind, segment, &hello);
        assert_eq!(
            (verdict, out.len()),
            (Verdict::Drop(Reason::UnknownSource), 0)
        );
    }
    let (verdict, _) = lab.send_tunnel(0, VX1, TunnelKind::Vxlan, 5044, &hello);
    assert_eq!(verdict, Verdict::Drop(Reason::UnknownSource));
    assert_eq!(lab.switch.underlay_counters().get(Reason::UnknownSource), 4);
    assert!(
        lab.switch.fdb(secs(0)).next().is_none(),
        "nothing learned from them"
    );
    assert!(matches!(
        lab.send_tunnel(0, VX1, TunnelKind::Vxlan, 5043, &hello).0,
        Verdict::Forward(_)
    ));
}

#[test]
fn frames_whose_outer_packet_exceeds_the_underlay_mtu_are_dropped() {
    let mut lab = Lab::new();
    lab.send_tunnel(
        0,
        VX1,
        TunnelKind::Vxlan,
        5042,
        &frame(MacAddr::BROADCAST, mac(7), 60),
    );
    lab.send_tunnel(
        0,
        NV1,
        TunnelKind::Nvgre,
        5042,
        &frame(MacAddr::BROADCAST, mac(8), 60),
    );
    // VXLAN: 20 + 8 + 8 + inner <= 1500; NVGRE: 20 + 8 + inner <= 1500.
    let (_, out) = lab.send_port(1, 0, &frame(mac(7), mac(1), 1464));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1.len(), 14 + 1500);
    let (verdict, out) = lab.send_port(1, 0, &frame(mac(7), mac(1), 1465));
    assert!(matches!(verdict, Verdict::Forward(_)) && out.is_empty());
    assert_eq!(lab.switch.remote_counters(lab.vx1).get(Reason::Mtu), 1);
    assert_eq!(lab.send_port(1, 0, &frame(mac(8), mac(1), 1472)).1.len(), 1);
    assert_eq!(lab.send_port(1, 0, &frame(mac(8), mac(1), 1473)).1.len(), 0);
    assert_eq!(lab.switch.remote_counters(lab.nv1).get(Reason::Mtu), 1);
    let segment = lab.switch.segment_id(vni(5042)).unwrap();
    assert_eq!(lab.switch.segment_counters(segment).get(Reason::Mtu), 2);
}

#[test]
fn malformed_frames_are_dropped_and_counted() {
    let mut lab = Lab::new();
    assert_eq!(
        lab.send_port(0, 0, &[0u8; 13]).0,
        Verdict::Drop(Reason::Malformed)
    );
    assert_eq!(
        lab.send_port(
            0,
            4,
            &[0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x81, 0, 0]
        )
        .0,
        Verdict::Drop(Reason::Malformed)
    );
    let multicast_source = frame(MacAddr::BROADCAST, MacAddr([0x01, 0, 0x5e, 0, 0, 1]), 60);
    assert_eq!(
        lab.send_port(0, 0, &multicast_source).0,
        Verdict::Drop(Reason::Malformed)
    );
    assert_eq!(
        lab.switch
            .port_counters(lab.ports[0])
            .get(Reason::Malformed),
        2
    );
    let mut wire = encapsulate(
        VX1.into(),
        LOCAL.into(),
        TunnelKind::Vxlan,
        5042,
        &frame(MacAddr::BROADCAST, mac(7), 60),
    );
    wire[42] = 0; // VXLAN without the I flag
    assert_eq!(
        lab.send(0, Ingress::Underlay, &wire).0,
        Verdict::Drop(Reason::Malformed)
    );
    // Encapsulation refuses a 10-byte inner frame: a 14-byte one, cut to 10 with the
    // outer lengths and checksum to match.
    let mut short = encapsulate(
        VX1.into(),
        LOCAL.into(),
        TunnelKind::Vxlan,
        5042,
        &[0u8; 14],
    );
    short.truncate(short.len() - 4);
    let mut ip = crate::wire::Ipv4Packet::new_unchecked(&mut short[14..]);
    ip.set_total_len(ip.total_len() - 4);
    ip.fill_checksum();
    let mut udp = crate::wire::UdpDatagram::new_unchecked(&mut short[34..]);
    udp.set_len(udp.len() - 4);
    assert_eq!(
        lab.send(0, Ingress::Underlay, &short).0,
        Verdict::Drop(Reason::Malformed)
    );
    assert_eq!(lab.switch.underlay_counters().get(Reason::Malformed), 2);
    assert_eq!(lab.switch.underlay_counters().frames_in, 2);
}

#[test]
fn nothing_goes_back_out_of_its_ingress() {
    let mut lab = Lab::new();
    lab.send_port(0, 0, &frame(MacAddr::BROADCAST, mac(1), 60));
    lab.send_port(0, 0, &frame(MacAddr::BROADCAST, mac(2), 60));
    assert_eq!(
        lab.send_port(0, 0, &frame(mac(2), mac(1), 60)),
        (Verdict::Filtered, Vec::new())
    );
    lab.send_tunnel(
        0,
        VX1,
        TunnelKind::Vxlan,
        5042,
        &frame(MacAddr::BROADCAST, mac(7), 60),
    );
    assert_eq!(
        lab.send_tunnel(
            0,
            VX1,
            TunnelKind::Vxlan,
            5042,
            &frame(MacAddr::BROADCAST, mac(7), 60)
        )
        .1
        .iter()
        .filter(|(e, _)| *e == Location::Remote(lab.vx1))
        .count(),
        0
    );
    // A segment with one port and no remote has nowhere to flood.
    let mut switch = Switch::new(SwitchConfig::new(LOCAL));
    switch.add_segment(SegmentConfig::new(vni(1))).unwrap();
    let port = switch.add_port(PortConfig::access(vni(1))).unwrap();
    let mut buf = frame(MacAddr::BROADCAST, mac(1), 60);
    assert_eq!(
        switch.receive(secs(0), Ingress::Port(port), &mut buf, 0..60),
        Verdict::Filtered
    );
}

#[test]
fn short_output_buffers_are_counted_as_no_buffer() {
    let mut lab = Lab::new();
    let mut buf = frame(MacAddr::BROADCAST, mac(1), 60);
    let Verdict::Forward(forward) =
        lab.switch
            .receive(secs(0), Ingress::Port(lab.ports[0]), &mut buf, 0..60)
    else {
        panic!("forwarded");
    };
    // No headroom in front of the frame: neither a tag nor outer headers fit.
    let vx1 = Location::Remote(lab.vx1);
    assert_eq!(
        lab.switch.emit(&forward, vx1, &mut buf, 0..60),
        Err(Reason::NoBuffer)
    );
    assert_eq!(
        lab.switch.emit(&forward, lab.port(4), &mut buf, 0..60),
        Err(Reason::NoBuffer)
    );
    let mut small = [0u8; HEADROOM + 59];
    assert_eq!(
        lab.switch.emit_copy(
            &forward,
            lab.port(1),
            &frame(MacAddr::BROADCAST, mac(1), 60),
            &mut small
        ),
        Err(Reason::NoBuffer)
    );
    assert_eq!(lab.switch.remote_counters(lab.vx1).get(Reason::NoBuffer), 1);
    assert_eq!(
        lab.switch.port_counters(lab.ports[4]).get(Reason::NoBuffer),
        1
    );
    // A frame range the receive buffer does not hold.
    let mut tiny = [0u8; 10];
    let verdict = lab
        .switch
        .receive(secs(0), Ingress::Port(lab.ports[2]), &mut tiny, 0..60);
    assert_eq!(verdict, Verdict::Drop(Reason::NoBuffer));
    assert_eq!(
        lab.switch.port_counters(lab.ports[2]).get(Reason::NoBuffer),
        1
    );
    lab.switch.count_write_failed(lab.port(1));
    assert_eq!(
        lab.switch
            .port_counters(lab.ports[1])
            .get(Reason::WriteFailed),
        1
    );
}

#[test]
fn a_copy_counts_as_sent_only_once_the_caller_says_it_left() {
    let mut lab = Lab::new();
    let mut buf = std::vec![0u8; HEADROOM + 60];
    buf[HEADROOM..].copy_from_slice(&frame(MacAddr::BROADCAST, mac(1), 60));
    let whole = HEADROOM..buf.len();
    let Verdict::Forward(forward) =
        lab.switch
            .receive(secs(0), Ingress::Port(lab.ports[0]), &mut buf, whole)
    else {
        panic!("forwarded");
    };
    let (vx1, vx2) = (Location::Remote(lab.vx1), Location::Remote(lab.vx2));
    let mut out = std::vec![0u8; HEADROOM + 2048];
    let inner = buf[forward.frame.clone()].to_vec();
    let sent = lab
        .switch
        .emit_copy(&forward, vx1, &inner, &mut out)
        .unwrap();
    lab.switch.count_sent(&forward, vx1, sent.len());
    // Written, but the operating system refused it.
    lab.switch
        .emit_copy(&forward, vx2, &inner, &mut out)
        .unwrap();
    lab.switch.count_write_failed(vx2);
    let sent_by = |c: &Counters| (c.frames_out, c.bytes_out, c.get(Reason::WriteFailed));
    assert_eq!(sent_by(lab.switch.remote_counters(lab.vx1)), (1, 110, 0));
    assert_eq!(sent_by(lab.switch.remote_counters(lab.vx2)), (0, 0, 1));
    let segment = lab.switch.segment_id(vni(5042)).unwrap();
    assert_eq!(sent_by(lab.switch.segment_counters(segment)), (1, 60, 1));
}

#[test]
fn bad_settings_are_refused() {
    let mut switch = Switch::new(SwitchConfig::new(LOCAL));
    switch.add_segment(SegmentConfig::new(vni(5001))).unwrap();
    assert_eq!(
        switch.add_segment(SegmentConfig::new(vni(5001))),
        Err(ConfigError::DuplicateSegment(5001))
    );
    assert_eq!(
        switch.add_port(PortConfig::access(vni(5002))),
        Err(ConfigError::UnknownSegment(5002))
    );
    let twice = PortConfig::trunk(std::vec![(vid(5), vni(5001)), (vid(6), vni(5001))]);
    assert_eq!(switch.add_port(twice), Err(ConfigError::DuplicateVlan(6)));
    let remote = RemoteConfig::new(VX1, TunnelKind::Vxlan);
    switch.add_remote(vni(5001), remote).unwrap();
    assert_eq!(
        switch.add_remote(vni(5001), remote),
        Err(ConfigError::DuplicateRemote(VX1.into()))
    );
    assert_eq!(
        switch.add_remote(vni(5002), remote),
        Err(ConfigError::UnknownSegment(5002))
    );
    switch
        .add_remote(vni(5001), RemoteConfig::new(VX1, TunnelKind::Nvgre))
        .unwrap();
}
