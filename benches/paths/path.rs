//! The paths the benchmarks measure, by name, and what each has (a mixed workload, a
//! differential run).

use super::*;

/// What a path measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    DecodeVxlan,
    DecodeNvgre,
    EncapVxlan,
    EncapNvgre,
    Decap,
    Translate,
    EncapVxlan6,
    EncapNvgre6,
    Decap6,
    Translate6,
    /// Receive to send through socket payloads: `decapsulate_payload` of a VXLAN payload,
    /// then `encapsulate_payload` of its inner frame towards another VTEP.
    Payload,
    /// Geneve over IPv4 (`geneve.rs`): decode, encapsulation without options and with
    /// OVN's option, decapsulation (OVN's option understood).
    DecodeGeneve,
    EncapGeneve,
    EncapGeneveOvn,
    DecapGeneve,
    /// The decode paths again, tunnelwire's values read by a recorder of the bench's own
    /// (`values.rs`, by `Decoder::decode_with`) instead of from a `Frame`; the same
    /// floors.
    ValuesVxlan,
    ValuesNvgre,
    ValuesGeneve,
}

impl Path {
    pub const ALL: [Path; 18] = [
        Path::DecodeVxlan,
        Path::DecodeNvgre,
        Path::EncapVxlan,
        Path::EncapNvgre,
        Path::Decap,
        Path::Translate,
        Path::EncapVxlan6,
        Path::EncapNvgre6,
        Path::Decap6,
        Path::Translate6,
        Path::Payload,
        Path::DecodeGeneve,
        Path::EncapGeneve,
        Path::EncapGeneveOvn,
        Path::DecapGeneve,
        Path::ValuesVxlan,
        Path::ValuesNvgre,
        Path::ValuesGeneve,
    ];

    /// The criterion group's name.
    pub fn name(self) -> &'static str {
        match self {
            Path::DecodeVxlan => "vxlan_stack",
            Path::DecodeNvgre => "nvgre_stack",
            Path::EncapVxlan => "vxlan_encap",
            Path::EncapNvgre => "nvgre_encap",
            Path::Decap => "decap",
            Path::Translate => "translate",
            Path::EncapVxlan6 => "vxlan6_encap",
            Path::EncapNvgre6 => "nvgre6_encap",
            Path::Decap6 => "decap6",
            Path::Translate6 => "translate6",
            Path::Payload => "payload",
            Path::DecodeGeneve => "geneve_stack",
            Path::EncapGeneve => "geneve_encap",
            Path::EncapGeneveOvn => "geneve_ovn_encap",
            Path::DecapGeneve => "geneve_decap",
            Path::ValuesVxlan => "vxlan_values",
            Path::ValuesNvgre => "nvgre_values",
            Path::ValuesGeneve => "geneve_values",
        }
    }

    pub fn from_name(name: &str) -> Option<Path> {
        Path::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Packets one pass handles (translation counts each direction).
    pub fn packets_per_pass(self) -> usize {
        match self {
            Path::Translate | Path::Translate6 => 2 * FRAMES,
            _ => FRAMES,
        }
    }

    /// The tunnelwire arm and the floor on the clean workload, checked to agree.
    pub fn arms(self) -> (Arm, Arm) {
        self.arms_on(false)
    }

    /// The tunnelwire arm and the floor on the clean or the mixed workload, checked to
    /// agree.
    pub fn arms_on(self, mixed: bool) -> (Arm, Arm) {
        let (ours, floor) = (Arm::with(self, true, mixed), Arm::with(self, false, mixed));
        ours.clone().check_against(&mut floor.clone());
        (ours, floor)
    }

    /// True for the paths with a differential run on mutated frames: all but the
    /// decode paths by recorder, whose values the decode paths' run compares already.
    pub fn has_differential(self) -> bool {
        !matches!(
            self,
            Path::ValuesVxlan | Path::ValuesNvgre | Path::ValuesGeneve
        )
    }

    /// True for the paths with a mixed workload (the IPv4 underlay's).
    pub fn has_mixed(self) -> bool {
        matches!(
            self,
            Path::DecodeVxlan
                | Path::DecodeNvgre
                | Path::EncapVxlan
                | Path::EncapNvgre
                | Path::Decap
                | Path::Translate
                | Path::DecodeGeneve
                | Path::EncapGeneve
                | Path::EncapGeneveOvn
                | Path::DecapGeneve
                | Path::ValuesVxlan
                | Path::ValuesNvgre
                | Path::ValuesGeneve
        )
    }

    /// True for the decode paths, by `Frame` or by recorder.
    pub fn decodes(self) -> bool {
        matches!(
            self,
            Path::DecodeVxlan
                | Path::DecodeNvgre
                | Path::DecodeGeneve
                | Path::ValuesVxlan
                | Path::ValuesNvgre
                | Path::ValuesGeneve
        )
    }
}

/// A path and its workload from a name: `decap` (the clean workload) or `decap+mixed`.
pub fn parse_bench(name: &str) -> Option<(Path, bool)> {
    match name.strip_suffix("+mixed") {
        Some(path) => Path::from_name(path)
            .filter(|p| p.has_mixed())
            .map(|p| (p, true)),
        None => Path::from_name(name).map(|p| (p, false)),
    }
}
