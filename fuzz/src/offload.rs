//! The `offload` target's invariants: a `virtio_net_hdr` (the input's first 10 bytes)
//! and a super-frame (the rest). Shared with `tests/offload.rs`, which replays the seeds
//! on stable.
//!
//! - Every entry point takes any bytes without a panic, and refuses with an error of the
//!   bytes (never a usage error: the buffers given are long enough).
//! - A super-frame the segmenter takes makes `count()` segments, each within
//!   `max_segment_len()` and `gso_size` payload bytes, its IP length fields and (for UDP)
//!   its UDP length matching its length, its IPv4 header and TCP or UDP checksums
//!   verifying under a sum written here (the crate's `verify_checksum` always passes under
//!   `cfg(fuzzing)`), its headers those of the super-frame but for the fields
//!   segmentation rewrites; the payloads, end to end, are the super-frame's.
//! - The segments of a TCP super-frame pushed through a coalescer come out with their
//!   payload whole and in order; when the super-frame is one the coalescer may rebuild
//!   (ACK with at most PSH, no IPv4 options, two segments or more), they come out as one
//!   super-frame: the original's bytes with the IPv4 header checksum corrected and the
//!   pseudo-header's sum in the TCP checksum field, under the header the kernel expects.
//! - `complete_checksum` of a frame with `NEEDS_CSUM` and no GSO leaves a checksum that,
//!   with the pseudo-header's sum the field held, verifies.

use tunnelwire::offload::{
    Coalescer, Flags, GsoType, MAX_SUPER_FRAME_LEN, Segmenter, VirtioNetHdr, complete_checksum,
};

/// RFC 1071, 16 bits at a time, unfolded.
fn ones_sum(data: &[u8]) -> u64 {
    data.chunks(2)
        .map(|pair| u64::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum()
}

fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Where a frame's layers are, read here independently of the crate.
#[derive(Debug, Clone, Copy)]
struct Shape {
    v6: bool,
    tcp: bool,
    l3: usize,
    l4: usize,
    payload: usize,
    end: usize,
}

/// The layers of a frame the segmenter accepted (so they are all there).
fn shape(frame: &[u8]) -> Shape {
    let tagged = matches!(frame[12..14], [0x81, 0x00] | [0x88, 0xa8] | [0x91, 0x00]);
    let l3 = if tagged { 18 } else { 14 };
    let v6 = frame[l3 - 2..l3] == [0x86, 0xdd];
    let (l4, end, protocol) = if v6 {
        let payload_len = usize::from(u16::from_be_bytes([frame[l3 + 4], frame[l3 + 5]]));
        (l3 + 40, l3 + 40 + payload_len, frame[l3 + 6])
    } else {
        let total = usize::from(u16::from_be_bytes([frame[l3 + 2], frame[l3 + 3]]));
        (
            l3 + usize::from(frame[l3] & 0x0f) * 4,
            l3 + total,
            frame[l3 + 9],
        )
    };
    let tcp = protocol == 6;
    let header = if tcp {
        usize::from(frame[l4 + 12] >> 4) * 4
    } else {
        8
    };
    Shape {
        v6,
        tcp,
        l3,
        l4,
        payload: l4 + header,
        end,
    }
}

/// The sum of the pseudo-header for a transport of `len` bytes.
fn pseudo(frame: &[u8], s: Shape, len: usize) -> u64 {
    let addresses = if s.v6 {
        &frame[s.l3 + 8..s.l3 + 40]
    } else {
        &frame[s.l3 + 12..s.l3 + 20]
    };
    ones_sum(addresses) + if s.tcp { 6 } else { 17 } + len as u64
}

/// True when the IPv4 header checksum (if any) and the transport checksum verify.
fn verifies(frame: &[u8], s: Shape) -> bool {
    let ip = s.v6 || fold(ones_sum(&frame[s.l3..s.l4])) == 0xffff;
    let transport = &frame[s.l4..s.end];
    ip && fold(pseudo(frame, s, transport.len()) + ones_sum(transport)) == 0xffff
}

fn be16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap())
}

/// The check of the `offload` target.
pub fn offload(data: &[u8]) {
    let (head, frame) = data.split_at(data.len().min(10));
    let mut storage = vec![0u8; MAX_SUPER_FRAME_LEN];
    let mut coalescer = Coalescer::<1>::new(&mut storage);
    // Any frame is pushed without a panic; whatever is written is the frame or a super-frame.
    coalescer.push(frame, |_| ());
    coalescer.flush(|_| ());
    let hdr = match VirtioNetHdr::parse(head) {
        Ok(hdr) => hdr,
        Err(e) => return assert!(!e.kind.is_usage(), "{e}"),
    };
    let mut completed = frame.to_vec();
    match complete_checksum(&mut completed, &hdr) {
        Ok(()) if hdr.needs_csum() => {
            let (start, at) = (usize::from(hdr.csum_start), hdr.checksum_at());
            let held = u64::from(be16(frame, at));
            assert_eq!(
                fold(ones_sum(&completed[start..]) + held),
                0xffff,
                "completed checksum"
            );
        }
        Ok(()) => assert_eq!(completed, frame, "nothing to complete"),
        Err(e) => assert!(!e.kind.is_usage(), "{e}"),
    }
    let mut segmenter = match Segmenter::new(frame, &hdr) {
        Ok(segmenter) => segmenter,
        Err(e) => return assert!(!e.kind.is_usage(), "{e}"),
    };
    let s = shape(frame);
    let gso = usize::from(hdr.gso_size);
    let count = segmenter.count();
    assert_eq!(count, (s.end - s.payload).div_ceil(gso).max(1));
    let mut out = vec![0u8; segmenter.max_segment_len()];
    let mut segments: Vec<Vec<u8>> = Vec::new();
    while let Some(len) = segmenter.next_into(&mut out) {
        let segment = out[..len.expect("max_segment_len takes every segment")].to_vec();
        let i = segments.len();
        let ss = Shape {
            end: segment.len(),
            ..s
        };
        assert!(
            segment.len() - s.payload <= gso,
            "segment {i} over gso_size"
        );
        assert_eq!(
            segment[..s.l3],
            frame[..s.l3],
            "segment {i}'s Ethernet header"
        );
        assert!(verifies(&segment, ss), "segment {i}'s checksums");
        if s.v6 {
            assert_eq!(usize::from(be16(&segment, s.l3 + 4)), segment.len() - s.l4);
            assert_eq!(segment[s.l3..s.l3 + 4], frame[s.l3..s.l3 + 4]);
            assert_eq!(segment[s.l3 + 6..s.l4], frame[s.l3 + 6..s.l4]);
        } else {
            assert_eq!(usize::from(be16(&segment, s.l3 + 2)), segment.len() - s.l3);
            assert_eq!(
                be16(&segment, s.l3 + 4),
                be16(frame, s.l3 + 4).wrapping_add(i as u16)
            );
            assert_eq!(segment[s.l3 + 6..s.l3 + 10], frame[s.l3 + 6..s.l3 + 10]);
            assert_eq!(segment[s.l3 + 12..s.l4], frame[s.l3 + 12..s.l4]);
        }
        if s.tcp {
            let sent = i * gso;
            assert_eq!(
                be32(&segment, s.l4 + 4),
                be32(frame, s.l4 + 4).wrapping_add(sent as u32)
            );
            let flags = frame[s.l4 + 13];
            let mut want = flags;
            if i + 1 < count {
                want &= !0x09; // FIN and PSH on the last only
            }
            if i > 0 {
                want &= !0x80; // CWR on the first only
            }
            assert_eq!(segment[s.l4 + 13], want, "segment {i}'s flags");
            assert_eq!(segment[s.l4 + 8..s.l4 + 13], frame[s.l4 + 8..s.l4 + 13]);
            assert_eq!(segment[s.l4 + 14..s.l4 + 16], frame[s.l4 + 14..s.l4 + 16]);
            assert_eq!(segment[s.l4 + 18..s.payload], frame[s.l4 + 18..s.payload]);
        } else {
            assert_eq!(usize::from(be16(&segment, s.l4 + 4)), segment.len() - s.l4);
        }
        segments.push(segment);
    }
    assert_eq!(segments.len(), count);
    let payload: Vec<u8> = segments
        .iter()
        .flat_map(|g| g[s.payload..].to_vec())
        .collect();
    assert_eq!(payload, frame[s.payload..s.end], "the payloads, end to end");
    coalesce_back(frame, &hdr, s, &segments);
}

/// The segments of a TCP super-frame, or the datagrams of a UDP one, coalesced again.
fn coalesce_back(frame: &[u8], hdr: &VirtioNetHdr, s: Shape, segments: &[Vec<u8>]) {
    let mut storage = vec![0u8; MAX_SUPER_FRAME_LEN];
    let mut coalescer = Coalescer::<1>::new(&mut storage);
    let mut written = Vec::new();
    for segment in segments {
        coalescer.push(segment, |e| written.push((e.hdr, e.frame.to_vec())));
    }
    coalescer.flush(|e| written.push((e.hdr, e.frame.to_vec())));
    let payload: Vec<u8> = written
        .iter()
        .flat_map(|(_, f)| f[s.payload..].to_vec())
        .collect();
    assert_eq!(
        payload,
        frame[s.payload..s.end],
        "coalesced payloads, end to end"
    );
    // TCP: only ACK, and PSH, come back as one super-frame; UDP has no flags.
    let plain = !s.tcp || {
        let flags = frame[s.l4 + 13];
        flags & 0x10 != 0 && flags & !0x18 == 0
    };
    let rebuildable = plain && (s.v6 || s.l4 - s.l3 == 20) && segments.len() >= 2;
    if !rebuildable {
        return;
    }
    let mut expected = frame[..s.end].to_vec();
    if !s.v6 {
        expected[s.l3 + 10..s.l3 + 12].copy_from_slice(&[0, 0]);
        let check = !fold(ones_sum(&expected[s.l3..s.l4]));
        expected[s.l3 + 10..s.l3 + 12].copy_from_slice(&check.to_be_bytes());
    }
    // The checksum field: TCP's at 16, UDP's at 6 (whose length covers the whole run).
    let checksum_at = if s.tcp { 16 } else { 6 };
    if !s.tcp {
        let length = (s.end - s.l4) as u16;
        expected[s.l4 + 4..s.l4 + 6].copy_from_slice(&length.to_be_bytes());
    }
    let partial = fold(pseudo(&expected, s, s.end - s.l4));
    expected[s.l4 + checksum_at..s.l4 + checksum_at + 2].copy_from_slice(&partial.to_be_bytes());
    let gso_type = match (s.tcp, s.v6) {
        (false, _) => GsoType::UDP_L4,
        (true, true) => GsoType::TCPV6,
        (true, false) => GsoType::TCPV4,
    };
    let want = VirtioNetHdr {
        flags: Flags::NEEDS_CSUM,
        gso_type,
        hdr_len: s.payload as u16,
        gso_size: hdr.gso_size,
        csum_start: s.l4 as u16,
        csum_offset: checksum_at as u16,
    };
    assert_eq!(written, [(want, expected)], "one super-frame, the original");
}
