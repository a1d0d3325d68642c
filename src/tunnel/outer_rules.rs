//! The settings that make per-packet outer fields, each settled once into a rule that
//! costs a mask and an OR per packet: the TOS byte (or IPv6 traffic class), the NVGRE
//! FlowID and the IPv6 flow label.

use super::config::{Dscp, FlowId, FlowLabel};
use super::ecn::EcnMode;
use super::flow::FlowHash;

/// The outer TOS byte's rule, [`Dscp`] and [`EcnMode`] settled once: the bits it takes
/// from the inner TOS (or traffic class) and the bits it sets. An inner frame that is not
/// IP counts as TOS 0: DSCP 0 under `CopyInner`, Not-ECT (RFC 6040 section 4.1).
#[derive(Debug, Clone, Copy)]
pub(super) struct OuterTos {
    /// Bits set whatever the inner frame: a fixed DSCP.
    fixed: u8,
    /// Bits copied from the inner TOS: its DSCP under `CopyInner`, its ECN in normal mode.
    copied: u8,
}

impl OuterTos {
    pub(super) fn new(dscp: Dscp, ecn: EcnMode) -> Self {
        let (fixed, copied_dscp) = match dscp {
            Dscp::Fixed(dscp) => (dscp << 2, 0),
            Dscp::CopyInner => (0, 0xfc),
        };
        let copied_ecn = match ecn {
            EcnMode::Normal => 0x03,
            EcnMode::Compatibility => 0,
        };
        OuterTos {
            fixed,
            copied: copied_dscp | copied_ecn,
        }
    }

    /// The outer TOS for an inner one.
    #[inline(always)]
    pub(super) fn apply(self, inner_tos: u8) -> u8 {
        self.fixed | inner_tos & self.copied
    }
}

/// The NVGRE FlowID's rule, [`FlowId`] settled once: the hash's FlowID bits it takes,
/// and the bits it sets.
#[derive(Debug, Clone, Copy)]
pub(super) struct FlowIdRule {
    /// Bits set whatever the flow: a fixed FlowID.
    fixed: u8,
    /// Bits taken from the flow hash's FlowID: all of them under `FlowId::Hash`.
    hashed: u8,
}

impl FlowIdRule {
    pub(super) fn new(flow_id: FlowId) -> Self {
        match flow_id {
            FlowId::Hash => FlowIdRule {
                fixed: 0,
                hashed: 0xff,
            },
            FlowId::Fixed(id) => FlowIdRule {
                fixed: id,
                hashed: 0,
            },
        }
    }

    /// The FlowID for a flow with this hash.
    #[inline(always)]
    pub(super) fn for_hash(self, hash: FlowHash) -> u8 {
        self.fixed | hash.flow_id() & self.hashed
    }
}

/// The IPv6 flow label's rule, [`FlowLabel`] settled once, as [`FlowIdRule`].
#[derive(Debug, Clone, Copy)]
pub(super) struct FlowLabelRule {
    /// Bits set whatever the flow: a fixed label.
    fixed: u32,
    /// Bits taken from the flow hash's label: all 20 under `FlowLabel::Hash`.
    hashed: u32,
}

impl FlowLabelRule {
    pub(super) fn new(flow_label: FlowLabel) -> Self {
        match flow_label {
            FlowLabel::Hash => FlowLabelRule {
                fixed: 0,
                hashed: FlowHash::FLOW_LABEL_MASK,
            },
            FlowLabel::Fixed(label) => FlowLabelRule {
                fixed: label,
                hashed: 0,
            },
        }
    }

    /// The flow label for a flow with this hash.
    #[inline(always)]
    pub(super) fn for_hash(self, hash: FlowHash) -> u32 {
        self.fixed | hash.flow_label() & self.hashed
    }
}
