//! An arm: one side of a comparison (tunnelwire or its floor), with its workload, and
//! the loop each path runs over it, one function per path and arm.

use super::*;

/// The bytes a pass changes in a workload item, as they were: put back before the item
/// is handled again (both arms alike), so every pass handles the same shapes.
#[derive(Clone, Debug)]
pub struct Restore {
    at: usize,
    bytes: Vec<u8>,
    range: Range<usize>,
}

impl Restore {
    #[inline(always)]
    pub(super) fn apply(&self, buf: &mut [u8], range: &mut Range<usize>) {
        buf[self.at..self.at + self.bytes.len()].copy_from_slice(&self.bytes);
        *range = self.range.clone();
    }
}

/// One side of a comparison: the workload's state and which code runs over it.
#[derive(Clone)]
pub struct Arm {
    pub(super) path: Path,
    pub(super) ours: bool,
    pub(super) frames: Vec<Vec<u8>>,
    pub(super) buffers: Vec<(Vec<u8>, Range<usize>)>,
    pub(super) payloads: Vec<(Vec<u8>, Range<usize>, SocketOuter)>,
    pub(super) decoder: Decoder,
    pub(super) encapsulator: Encapsulator,
    pub(super) decapsulator: Decapsulator,
    pub(super) translator: Translator,
    pub(super) floor50: floors::Encap<50>,
    pub(super) floor42: floors::Encap<42>,
    pub(super) floor70: floors::Encap6<70>,
    pub(super) floor62: floors::Encap6<62>,
    /// Geneve with OVN's option (`floor50` is Geneve's without options on that path).
    pub(super) floor58: floors::Encap<58>,
    pub(super) mixed: bool,
    pub(super) restores: Vec<Option<Restore>>,
}

impl Arm {
    pub fn new(path: Path, ours: bool) -> Self {
        Self::with(path, ours, false)
    }

    pub fn with(path: Path, ours: bool, mixed: bool) -> Self {
        let nvgre = matches!(
            path,
            Path::EncapNvgre | Path::DecodeNvgre | Path::ValuesNvgre | Path::EncapNvgre6
        );
        let frames = match path {
            Path::DecodeVxlan | Path::DecodeNvgre | Path::ValuesVxlan | Path::ValuesNvgre
                if mixed =>
            {
                mixed_tunnel_frames(nvgre)
            }
            Path::DecodeVxlan | Path::DecodeNvgre | Path::ValuesVxlan | Path::ValuesNvgre => {
                tunnel_frames(nvgre)
            }
            Path::DecodeGeneve | Path::ValuesGeneve => geneve_frames(mixed),
            _ => Vec::new(),
        };
        let buffers = match path {
            Path::EncapVxlan | Path::EncapNvgre | Path::EncapGeneve | Path::EncapGeneveOvn
                if mixed =>
            {
                mixed_inner_buffers()
            }
            Path::Decap if mixed => mixed_decap_buffers(),
            Path::DecapGeneve if mixed => geneve::mixed_geneve_decap_buffers(),
            Path::Translate if mixed => mixed_vxlan_buffers(),
            Path::EncapVxlan
            | Path::EncapNvgre
            | Path::EncapVxlan6
            | Path::EncapNvgre6
            | Path::EncapGeneve
            | Path::EncapGeneveOvn => inner_buffers(),
            Path::Decap | Path::Translate => vxlan_buffers(),
            Path::DecapGeneve => geneve_buffers(),
            Path::Decap6 | Path::Translate6 => vxlan6_buffers(),
            _ => Vec::new(),
        };
        let payloads = match path {
            Path::Payload => vxlan_payloads(),
            _ => Vec::new(),
        };
        let encapsulator = Encapsulator::new(match path {
            Path::EncapVxlan6 | Path::EncapNvgre6 => config6(nvgre),
            Path::Payload => TunnelConfig {
                mtu: MTU,
                ..TunnelConfig::vxlan(Vni::new(NEXT_VNI).unwrap(), SRC, NEXT)
            },
            Path::EncapGeneve => geneve_config(false),
            Path::EncapGeneveOvn => geneve_config(true),
            _ => config(nvgre),
        })
        .unwrap();
        let templates = |config: TunnelConfig| {
            let mut encap = Encapsulator::new(config).unwrap();
            let (mut buf, inner) = inner_buffers().swap_remove(0);
            let frame = encap.encapsulate(&mut buf, inner.clone()).unwrap();
            buf[frame.start..inner.start].to_vec()
        };
        Arm {
            path,
            ours,
            frames: one_frame(frames),
            buffers: one_frame(buffers),
            payloads: one_frame(payloads),
            decoder: Decoder::new(),
            encapsulator,
            decapsulator: match path {
                Path::DecapGeneve => geneve_decapsulator(),
                _ => Decapsulator::default(),
            },
            translator: Translator::new(TranslateConfig {
                mtu: MTU,
                ..TranslateConfig::default()
            })
            .unwrap(),
            floor50: floors::Encap::new(
                &templates(match path {
                    Path::EncapGeneve => geneve_config(false),
                    _ => config(false),
                }),
                MTU,
            ),
            floor42: floors::Encap::new(&templates(config(true)), MTU),
            floor70: floors::Encap6::new(&templates(config6(false)), MTU),
            floor62: floors::Encap6::new(&templates(config6(true)), MTU),
            floor58: floors::Encap::new(&templates(geneve_config(true)), MTU),
            mixed,
            restores: Vec::new(),
        }
        .with_restores()
    }

    /// On the mixed workload, what each item's pass changes (found by running
    /// tunnelwire once on a copy): put back before each pass, by both arms.
    fn with_restores(mut self) -> Self {
        if !self.mixed || self.buffers.is_empty() {
            return self;
        }
        let mut copy = self.clone();
        copy.ours = true;
        copy.mixed = false;
        copy.pass();
        self.restores = self
            .buffers
            .iter()
            .zip(&copy.buffers)
            .map(|((before, range), (after, _))| {
                // Encapsulation rewrites the headroom alike each pass: only a change to
                // the inner frame (tags stripped) needs putting back.
                let from = match self.path {
                    Path::EncapVxlan
                    | Path::EncapNvgre
                    | Path::EncapGeneve
                    | Path::EncapGeneveOvn => range.start,
                    _ => 0,
                };
                let lo = (from..before.len()).find(|&i| before[i] != after[i])?;
                let hi = (lo..before.len()).rfind(|&i| before[i] != after[i])? + 1;
                Some(Restore {
                    at: lo,
                    bytes: before[lo..hi].to_vec(),
                    range: range.clone(),
                })
            })
            .collect();
        self
    }

    /// Runs every frame once; returns a digest of the results.
    pub fn pass(&mut self) -> u64 {
        match (self.path, self.ours) {
            (Path::DecodeVxlan | Path::DecodeNvgre, true) => self.run_decode_ours(),
            (Path::ValuesVxlan | Path::ValuesNvgre, true) => self.run_values_ours(),
            (
                Path::DecodeVxlan | Path::DecodeNvgre | Path::ValuesVxlan | Path::ValuesNvgre,
                false,
            ) => self.run_decode_floor(),
            (Path::EncapVxlan | Path::EncapNvgre, true) if self.mixed => {
                self.run_encap_ours::<true>()
            }
            (Path::EncapVxlan, false) if self.mixed => self.run_encap_floor_vxlan::<true>(),
            (Path::EncapNvgre, false) if self.mixed => self.run_encap_floor_nvgre::<true>(),
            (Path::Decap, true) if self.mixed => self.run_decap_ours::<true>(),
            (Path::Decap, false) if self.mixed => self.run_decap_floor::<true>(),
            (Path::Translate, true) if self.mixed => self.run_translate_ours::<true>(),
            (Path::Translate, false) if self.mixed => self.run_translate_floor::<true>(),
            (Path::EncapVxlan | Path::EncapNvgre, true) => self.run_encap_ours::<false>(),
            (Path::EncapVxlan, false) => self.run_encap_floor_vxlan::<false>(),
            (Path::EncapNvgre, false) => self.run_encap_floor_nvgre::<false>(),
            // IPv4 or IPv6, tunnelwire's code is the same: so is its loop.
            (Path::Decap, true) => self.run_decap_ours::<false>(),
            (Path::Decap, false) => self.run_decap_floor::<false>(),
            (Path::Translate, true) => self.run_translate_ours::<false>(),
            (Path::Translate, false) => self.run_translate_floor::<false>(),
            (Path::EncapVxlan6 | Path::EncapNvgre6, true) => self.run_encap_ours::<false>(),
            (Path::EncapVxlan6, false) => self.run_encap_floor_vxlan6(),
            (Path::EncapNvgre6, false) => self.run_encap_floor_nvgre6(),
            (Path::Decap6, true) => self.run_decap_ours::<false>(),
            (Path::Decap6, false) => self.run_decap6_floor(),
            (Path::Translate6, true) => self.run_translate_ours::<false>(),
            (Path::Translate6, false) => self.run_translate6_floor(),
            (Path::Payload, true) => self.run_payload_ours(),
            (Path::Payload, false) => self.run_payload_floor(),
            (Path::DecodeGeneve, true) => self.run_geneve_decode_ours(),
            (Path::ValuesGeneve, true) => self.run_geneve_values_ours(),
            (Path::DecodeGeneve | Path::ValuesGeneve, false) => self.run_geneve_decode_floor(),
            // Geneve without options is written by VXLAN's layout in both arms.
            (Path::EncapGeneve | Path::EncapGeneveOvn, true) if self.mixed => {
                self.run_encap_ours::<true>()
            }
            (Path::EncapGeneve, false) if self.mixed => self.run_encap_floor_vxlan::<true>(),
            (Path::EncapGeneveOvn, false) if self.mixed => self.run_encap_floor_ovn::<true>(),
            (Path::EncapGeneve | Path::EncapGeneveOvn, true) => self.run_encap_ours::<false>(),
            (Path::EncapGeneve, false) => self.run_encap_floor_vxlan::<false>(),
            (Path::EncapGeneveOvn, false) => self.run_encap_floor_ovn::<false>(),
            (Path::DecapGeneve, true) if self.mixed => self.run_decap_ours::<true>(),
            (Path::DecapGeneve, false) if self.mixed => self.run_geneve_decap_floor::<true>(),
            (Path::DecapGeneve, true) => self.run_decap_ours::<false>(),
            (Path::DecapGeneve, false) => self.run_geneve_decap_floor::<false>(),
        }
    }

    // One function per path and arm, never inlined, so each is compiled on its own: in
    // one function, the register allocation of one path's loop moved with changes to
    // another's (benches/profile.sh lists these `run_` functions).

    #[inline(never)]
    fn run_decode_ours(&mut self) -> u64 {
        let mut acc = 0u64;
        for frame in &self.frames {
            acc ^=
                decode_tunnelwire(&self.decoder, black_box(frame)).map_or(0, |v| values_digest(&v));
        }
        acc
    }

    #[inline(never)]
    fn run_values_ours(&mut self) -> u64 {
        let mut acc = 0u64;
        for frame in &self.frames {
            acc ^= decode_values_tunnelwire(&self.decoder, black_box(frame))
                .map_or(0, |v| values_digest(&v));
        }
        acc
    }

    #[inline(never)]
    fn run_decode_floor(&mut self) -> u64 {
        let mut acc = 0u64;
        for frame in &self.frames {
            acc ^= floors::decode(black_box(frame)).map_or(0, |v| values_digest(&v));
        }
        acc
    }

    #[inline(never)]
    fn run_encap_ours<const MIXED: bool>(&mut self) -> u64 {
        let mut acc = 0u64;
        if MIXED {
            self.restore_all();
        }
        let frames = self
            .buffers
            .iter_mut()
            .map(|(buf, inner)| (black_box(buf.as_mut_slice()), inner.clone()));
        self.encapsulator.encapsulate_each(frames, |_, out| {
            acc ^= out.map_or(0, |r| r.start as u64);
        });
        acc
    }

    #[inline(never)]
    fn run_encap_floor_vxlan<const MIXED: bool>(&mut self) -> u64 {
        let mut acc = 0u64;
        if MIXED {
            self.restore_all();
        }
        for (buf, inner) in &mut self.buffers {
            let out = self.floor50.encapsulate(black_box(buf), inner.clone());
            acc ^= out.map_or(0, |r| r.start as u64);
        }
        acc
    }

    #[inline(never)]
    fn run_encap_floor_nvgre<const MIXED: bool>(&mut self) -> u64 {
        let mut acc = 0u64;
        if MIXED {
            self.restore_all();
        }
        for (buf, inner) in &mut self.buffers {
            let out = self.floor42.encapsulate(black_box(buf), inner.clone());
            acc ^= out.map_or(0, |r| r.start as u64);
        }
        acc
    }

    /// Puts back what the last pass changed in every item, before a pass: the
    /// decapsulation and encapsulation loops' restores, apart from the loop, as
    /// `decapsulate_each` and `encapsulate_each` take their frames from an iterator that
    /// they compile into one loop per code (the restores inside it, `decapsulate_each`'s
    /// `next` was called out of line: 184 -> 191 instructions per packet on the mixed
    /// workload). Both arms alike.
    #[inline(always)]
    pub(super) fn restore_all(&mut self) {
        for ((buf, range), restore) in self.buffers.iter_mut().zip(&self.restores) {
            if let Some(restore) = restore {
                restore.apply(buf, range);
            }
        }
    }

    #[inline(never)]
    fn run_decap_ours<const MIXED: bool>(&mut self) -> u64 {
        let mut acc = 0u64;
        if MIXED {
            self.restore_all();
        }
        let frames = self
            .buffers
            .iter_mut()
            .map(|(buf, frame)| black_box(&mut buf[frame.clone()]));
        self.decapsulator.decapsulate_each(frames, |_, out| {
            acc ^= out.map_or(0, |d| u64::from(d.segment()) ^ d.inner.start as u64);
        });
        acc
    }

    #[inline(never)]
    fn run_decap_floor<const MIXED: bool>(&mut self) -> u64 {
        let mut acc = 0u64;
        if MIXED {
            self.restore_all();
        }
        for (buf, frame) in &mut self.buffers {
            let out = floors::decapsulate(black_box(&mut buf[frame.clone()]));
            acc ^= out.map_or(0, |(_, segment, _, _, inner, ..)| {
                u64::from(segment) ^ inner.start as u64
            });
        }
        acc
    }

    #[inline(never)]
    fn run_translate_ours<const MIXED: bool>(&mut self) -> u64 {
        let mut acc = 0u64;
        for (i, (buf, frame)) in self.buffers.iter_mut().enumerate() {
            if MIXED {
                if let Some(restore) = &self.restores[i] {
                    restore.apply(buf, frame);
                }
            }
            let t = &self.translator;
            let nvgre = t.translate(black_box(buf), frame.clone(), TunnelKind::Nvgre);
            if let Ok(nvgre) = nvgre {
                if let Ok(back) = t.translate(buf, nvgre, TunnelKind::Vxlan) {
                    acc ^= back.start as u64;
                    *frame = back;
                }
            }
        }
        acc
    }

    #[inline(never)]
    fn run_translate_floor<const MIXED: bool>(&mut self) -> u64 {
        let mut acc = 0u64;
        let mtu = usize::from(MTU);
        for (i, (buf, frame)) in self.buffers.iter_mut().enumerate() {
            if MIXED {
                if let Some(restore) = &self.restores[i] {
                    restore.apply(buf, frame);
                }
            }
            let nvgre = floors::translate(black_box(buf), frame.clone(), true, mtu);
            if let Some(nvgre) = nvgre {
                if let Some(back) = floors::translate(buf, nvgre, false, mtu) {
                    acc ^= back.start as u64;
                    *frame = back;
                }
            }
        }
        acc
    }

    #[inline(never)]
    fn run_encap_floor_vxlan6(&mut self) -> u64 {
        let mut acc = 0u64;
        for (buf, inner) in &mut self.buffers {
            let out = self.floor70.encapsulate(black_box(buf), inner.clone());
            acc ^= out.map_or(0, |r| r.start as u64);
        }
        acc
    }

    #[inline(never)]
    fn run_encap_floor_nvgre6(&mut self) -> u64 {
        let mut acc = 0u64;
        for (buf, inner) in &mut self.buffers {
            let out = self.floor62.encapsulate(black_box(buf), inner.clone());
            acc ^= out.map_or(0, |r| r.start as u64);
        }
        acc
    }

    #[inline(never)]
    fn run_decap6_floor(&mut self) -> u64 {
        let mut acc = 0u64;
        for (buf, frame) in &mut self.buffers {
            let out = floors::decapsulate6(black_box(&mut buf[frame.clone()]));
            acc ^= out.map_or(0, |(_, segment, _, _, inner, ..)| {
                u64::from(segment) ^ inner.start as u64
            });
        }
        acc
    }

    #[inline(never)]
    fn run_translate6_floor(&mut self) -> u64 {
        let mut acc = 0u64;
        let mtu = usize::from(MTU);
        for (buf, frame) in &mut self.buffers {
            let nvgre = floors::translate6(black_box(buf), frame.clone(), true, mtu);
            if let Some(nvgre) = nvgre {
                if let Some(back) = floors::translate6(buf, nvgre, false, mtu) {
                    acc ^= back.start as u64;
                    *frame = back;
                }
            }
        }
        acc
    }

    #[inline(never)]
    fn run_payload_ours(&mut self) -> u64 {
        let mut acc = 0u64;
        for (buf, payload, outer) in &mut self.payloads {
            if let Ok(sent) = payload_tunnelwire(
                &self.decapsulator,
                &mut self.encapsulator,
                black_box(buf),
                payload.clone(),
                outer,
            ) {
                acc ^= payload_digest(&sent);
            }
        }
        acc
    }

    #[inline(never)]
    fn run_payload_floor(&mut self) -> u64 {
        let mut acc = 0u64;
        let mtu = usize::from(MTU);
        for (buf, payload, outer) in &mut self.payloads {
            let (src, dst, ecn) = (&outer.src, &outer.dst, outer.ecn.bits());
            let sent = floors::payload(
                black_box(buf),
                payload.clone(),
                src,
                dst,
                ecn,
                &NEXT_VXLAN,
                mtu,
            );
            if let Some((payload, port, traffic_class)) = sent {
                acc ^= payload_digest(&PayloadHeaders {
                    payload,
                    source_port: Some(port),
                    traffic_class,
                    flow_label: 0,
                });
            }
        }
        acc
    }
}

/// The workload as measured or, with `FRAME=i` in the environment, its `i`th item in
/// every place (benches/per_frame.sh: what each frame costs, tunnelwire and floor).
fn one_frame<T: Clone>(items: Vec<T>) -> Vec<T> {
    match std::env::var("FRAME")
        .ok()
        .and_then(|i| i.parse::<usize>().ok())
    {
        Some(i) if i < items.len() => vec![items[i].clone(); items.len()],
        _ => items,
    }
}
