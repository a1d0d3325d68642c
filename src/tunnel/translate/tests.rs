use super::*;
use crate::tunnel::{Encapsulator, HEADROOM, TunnelConfig};
use core::net::Ipv6Addr;
use std::vec;

/// VXLAN over IPv6 to NVGRE and back gives the frame the encapsulator wrote, its UDP
/// checksum included (computed over the IPv6 pseudo-header), or zero when set so.
#[test]
fn ipv6_vxlan_to_nvgre_and_back_is_the_encapsulated_frame() {
    let (src, dst): (Ipv6Addr, Ipv6Addr) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
    let config = TunnelConfig::vxlan(Vni::new(5000).unwrap(), src, dst);
    let mut inner: std::vec::Vec<u8> = (0..200u8).collect();
    inner[..12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
    for zero in [false, true] {
        let mut buf = vec![0u8; HEADROOM + inner.len()];
        buf[HEADROOM..].copy_from_slice(&inner);
        let mut encapsulator = Encapsulator::new(TunnelConfig {
            udp6_zero_checksum_tx: zero,
            ..config
        })
        .unwrap();
        let vxlan = encapsulator
            .encapsulate(&mut buf, HEADROOM..HEADROOM + inner.len())
            .unwrap();
        let sent = buf[vxlan.clone()].to_vec();
        let translator = TranslateConfig {
            udp6_zero_checksum_rx: zero,
            udp6_zero_checksum_tx: zero,
            ..TranslateConfig::default()
        };
        let nvgre = translator
            .translate::<false>(&mut buf, vxlan.clone(), TunnelKind::Nvgre)
            .unwrap();
        assert_eq!(nvgre.len(), sent.len() - 8);
        let back = translator
            .translate::<false>(&mut buf, nvgre, TunnelKind::Vxlan)
            .unwrap();
        assert_eq!(back, vxlan);
        assert_eq!(buf[back], sent[..], "zero checksum: {zero}");
        let checksum = u16::from_be_bytes([sent[14 + 40 + 6], sent[14 + 40 + 7]]);
        assert_eq!(checksum == 0, zero);
    }
}
