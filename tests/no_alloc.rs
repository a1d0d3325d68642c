//! Decoding, encapsulation, decapsulation and translation allocate nothing, over IPv4
//! and IPv6 underlays, whole frames and socket payloads: a counting global allocator
//! watches them work on every frame of the committed captures. Reading a capture
//! (feature `pcap`) allocates nothing per record.

use std::fs::File;

use pcap_file::pcap::PcapReader;
use tunnelwire::packet::Decoder;
use tunnelwire::tunnel::ecn::Ecn;
use tunnelwire::tunnel::{
    Decapsulator, Encapsulation, Encapsulator, HEADROOM, OuterVlan, SocketOuter, TranslateConfig,
    Translator, TunnelConfig, TunnelKind,
};
use tunnelwire::wire::{GeneveOptions, VlanId, Vni, Vsid};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations;

fn captured_frames() -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    for name in ["sample", "edge", "kernel", "malformed"] {
        let path = format!("{}/tests/data/{name}.pcap", env!("CARGO_MANIFEST_DIR"));
        let mut reader = PcapReader::new(File::open(path).unwrap()).unwrap();
        while let Some(packet) = reader.next_packet() {
            frames.push(packet.unwrap().data.into_owned());
        }
    }
    assert!(frames.len() > 100);
    frames
}

#[test]
fn decoding_every_captured_frame_allocates_nothing() {
    let frames = captured_frames();
    let decoder = Decoder::new();
    let before = allocations();
    let mut decoded = 0;
    let mut errors = 0;
    for frame in &frames {
        let (frame, error) = decoder.decode_partial(frame);
        decoded += usize::from(frame.outer.ethernet.is_some());
        errors += usize::from(error.is_some());
        // Formatting an error's message must not allocate either.
        if let Some(error) = error {
            use std::fmt::Write;
            let mut sink = FixedSink(0);
            write!(sink, "{error}").unwrap();
            assert!(sink.0 > 0);
        }
    }
    assert_eq!(allocations() - before, 0, "decode allocated");
    assert!(
        decoded > 100 && errors > 10,
        "the frames were really decoded"
    );
}

/// A `fmt::Write` that only counts bytes, so formatting is observed without a String.
struct FixedSink(usize);

impl std::fmt::Write for FixedSink {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

#[test]
fn the_tunnel_engine_allocates_nothing_per_packet() {
    let frames = captured_frames();
    let (src, dst): (std::net::Ipv4Addr, std::net::Ipv4Addr) =
        ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
    let mut vxlan = Encapsulator::new(TunnelConfig {
        udp_checksum: true,
        mtu: 9000,
        ..TunnelConfig::vxlan(Vni::new(4200).unwrap(), src, dst)
    })
    .unwrap();
    let mut nvgre = Encapsulator::new(TunnelConfig {
        mtu: 9000,
        ..TunnelConfig::nvgre(Vsid::new(4242).unwrap(), src, dst)
    })
    .unwrap();
    // Geneve with an AWS GWLB option in the template and one more per packet.
    let mut geneve = Encapsulator::new(TunnelConfig {
        mtu: 9000,
        geneve_options: gwlb_option(1),
        ..TunnelConfig::geneve(Vni::new(4300).unwrap(), src, dst)
    })
    .unwrap();
    let per_packet = gwlb_option(3);
    let decap = Decapsulator::default();
    let translator = Translator::new(TranslateConfig {
        mtu: 9000,
        ..TranslateConfig::default()
    })
    .unwrap();
    let mut buf = vec![0u8; HEADROOM + 8 + 2048];
    let before = allocations();
    let mut done = 0;
    for frame in frames.iter().filter(|f| f.len() <= 2048) {
        for encap in [&mut vxlan, &mut nvgre, &mut geneve] {
            let inner = HEADROOM + 8..HEADROOM + 8 + frame.len();
            buf[inner.clone()].copy_from_slice(frame);
            // A frame with more VLAN tags than can be stripped is refused.
            let sent = match encap.config().encapsulation {
                Encapsulation::Geneve(_) => {
                    encap.encapsulate_with_options(&mut buf, inner, per_packet.as_bytes())
                }
                _ => encap.encapsulate(&mut buf, inner),
            };
            let Ok(outer) = sent else {
                continue;
            };
            // Each kind to the next: VXLAN -> NVGRE -> Geneve -> VXLAN.
            let to = match encap.config().encapsulation {
                Encapsulation::Vxlan(_) => TunnelKind::Nvgre,
                Encapsulation::Nvgre(_) => TunnelKind::Geneve,
                Encapsulation::Geneve(_) => TunnelKind::Vxlan,
            };
            // Inner frames too short for Ethernet (from malformed.pcap) encapsulate but
            // do not translate: translation checks the frame as decapsulation does.
            let Ok(translated) = translator.translate(&mut buf, outer, to) else {
                continue;
            };
            let out = decap.decapsulate(&mut buf[translated.clone()]);
            done += usize::from(out.is_ok());
        }
    }
    assert_eq!(allocations() - before, 0, "the tunnel engine allocated");
    assert!(done > 150, "the frames were really processed: {done}");
}

/// An AWS Gateway Load Balancer option (class 0x0108, not critical) of this type.
fn gwlb_option(option_type: u8) -> GeneveOptions {
    let mut options = GeneveOptions::new();
    options.push(0x0108, option_type, &[7; 8]).unwrap();
    options
}

#[test]
fn over_ipv6_and_as_socket_payloads_the_tunnel_engine_allocates_nothing_per_packet() {
    let frames = captured_frames();
    let (src, dst): (std::net::Ipv6Addr, std::net::Ipv6Addr) =
        ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
    // VXLAN with its UDP checksum computed over the IPv6 pseudo-header (the default), and
    // NVGRE behind an outer tag.
    let mut vxlan = Encapsulator::new(TunnelConfig {
        mtu: 9000,
        ..TunnelConfig::vxlan(Vni::new(4200).unwrap(), src, dst)
    })
    .unwrap();
    let mut nvgre = Encapsulator::new(TunnelConfig {
        mtu: 9000,
        outer_vlan: Some(OuterVlan {
            vid: VlanId::usable(7).unwrap(),
            pcp: 0,
        }),
        ..TunnelConfig::nvgre(Vsid::new(4242).unwrap(), src, dst)
    })
    .unwrap();
    let mut geneve = Encapsulator::new(TunnelConfig {
        mtu: 9000,
        geneve_options: gwlb_option(2),
        ..TunnelConfig::geneve(Vni::new(4300).unwrap(), src, dst)
    })
    .unwrap();
    let decap = Decapsulator::default();
    let translator = Translator::new(TranslateConfig {
        mtu: 9000,
        ..TranslateConfig::default()
    })
    .unwrap();
    let mut buf = vec![0u8; HEADROOM + 8 + 2048];
    let before = allocations();
    let (mut frames_done, mut payloads_done) = (0, 0);
    for frame in frames.iter().filter(|f| f.len() <= 2048) {
        for encap in [&mut vxlan, &mut nvgre, &mut geneve] {
            let inner = HEADROOM + 8..HEADROOM + 8 + frame.len();
            let kind = encap.config().encapsulation.kind();
            let to = match kind {
                TunnelKind::Vxlan => TunnelKind::Nvgre,
                TunnelKind::Nvgre => TunnelKind::Geneve,
                TunnelKind::Geneve => TunnelKind::Vxlan,
            };
            // Whole frames: encapsulation, translation, decapsulation.
            buf[inner.clone()].copy_from_slice(frame);
            // A frame with more VLAN tags than can be stripped, or too short for
            // Ethernet, is refused.
            if let Ok(outer) = encap.encapsulate(&mut buf, inner.clone()) {
                if let Ok(translated) = translator.translate(&mut buf, outer, to) {
                    frames_done += usize::from(decap.decapsulate(&mut buf[translated]).is_ok());
                }
            }
            // Socket payloads: the tunnel header onward, and what the socket reports.
            buf[inner.clone()].copy_from_slice(frame);
            let Ok(sent) = encap.encapsulate_payload(&mut buf, inner) else {
                continue;
            };
            let outer = SocketOuter {
                src: src.into(),
                dst: dst.into(),
                ecn: Ecn::from_bits(sent.traffic_class),
            };
            let payload = &mut buf[sent.payload];
            let seen = decap.inspect_payload(payload, kind, &outer);
            let got = decap.decapsulate_payload(payload, kind, &outer);
            payloads_done += usize::from(seen.is_ok() && got.is_ok());
        }
    }
    assert_eq!(allocations() - before, 0, "the tunnel engine allocated");
    assert!(
        frames_done > 150 && payloads_done > 150,
        "the frames were really processed: {frames_done} frames, {payloads_done} payloads"
    );
}

/// A capture's bytes played `rounds` times after `head`, as a `Read`: a long file
/// without the disk.
#[cfg(feature = "pcap")]
struct Replay<'a> {
    head: &'a [u8],
    body: &'a [u8],
    at: usize,
    rounds: usize,
}

#[cfg(feature = "pcap")]
impl std::io::Read for Replay<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.head.is_empty() {
            return self.head.read(buf);
        }
        if self.at == self.body.len() {
            if self.rounds == 0 {
                return Ok(0);
            }
            (self.at, self.rounds) = (0, self.rounds - 1);
        }
        let n = (&self.body[self.at..]).read(buf)?;
        self.at += n;
        Ok(n)
    }
}

#[cfg(feature = "pcap")]
#[test]
fn reading_a_capture_allocates_nothing_per_record() {
    use tunnelwire::pcap::Reader;

    // Memory stays flat however long the file: after the first round, in which the
    // reader's buffer grows to the longest record, a thousand more allocate nothing.
    const ROUNDS: usize = 1000;
    for name in ["kernel.pcap", "kernel.pcapng"] {
        let file =
            std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        // pcap: the file header once, then its records over and over; pcapng: whole
        // sections over and over.
        let (head, body) = file.split_at(if name.ends_with(".pcap") { 24 } else { 0 });
        let mut in_file = 0;
        let mut reader = Reader::new(&file[..]).unwrap();
        while reader.next_record().unwrap().is_some() {
            in_file += 1;
        }
        let mut reader = Reader::new(Replay {
            head,
            body,
            at: 0,
            rounds: ROUNDS,
        })
        .unwrap();
        for _ in 0..in_file {
            reader.next_record().unwrap().unwrap();
        }
        let before = allocations();
        let (mut records, mut bytes) = (0, 0);
        while let Some(record) = reader.next_record().unwrap() {
            records += 1;
            bytes += record.data.len();
        }
        assert_eq!(allocations() - before, 0, "{name}: reading allocated");
        assert_eq!(records, in_file * ROUNDS, "{name}");
        assert!(
            bytes > 20_000 * ROUNDS,
            "{name}: the records were really read"
        );
    }
}
