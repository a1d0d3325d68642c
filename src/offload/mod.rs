//! Sans-IO segmentation and coalescing of super-frames, for data planes that batch: what
//! a TAP device with `IFF_VNET_HDR` (or a virtio-net device) and the kernel's TSO, USO and
//! GRO exchange, done in software on caller buffers, without an allocator.
//!
//! - [`VirtioNetHdr`] (`virtio_net.rs`): the 10-byte `virtio_net_hdr` in front of each
//!   frame, little-endian.
//! - [`Segmenter`] and [`complete_checksum`] (`segment.rs`): a super-frame read from the
//!   TAP device (TCP over IPv4 or IPv6, or UDP with USO) taken apart into frames of at most
//!   `gso_size` payload bytes, checksums computed; a frame's partial checksum finished.
//! - [`Coalescer`] (`coalesce.rs`): TCP segments and UDP datagrams (decapsulated inner
//!   frames) merged per flow into super-frames to write to the TAP device with one
//!   header each.
//! - `join.rs`: which frames may be coalesced and which segment may join which
//!   super-frame, the rules [`Coalescer`] applies.
//! - `frame.rs`: where the layers of a TCP or UDP frame are, shared by the two.
//!
//! ## Example: a TCP super-frame segmented, then coalesced back
//!
//! ```
//! use tunnelwire::offload::{Coalescer, Flags, GsoType, Segmenter, VirtioNetHdr};
//!
//! // Ethernet, IPv4 (DF) and TCP (ACK) around 3000 payload bytes; the TCP checksum field
//! // holds the pseudo-header's sum, as the kernel leaves it with NEEDS_CSUM.
//! let mut frame = vec![0u8; 54 + 3000];
//! frame[12..14].copy_from_slice(&[0x08, 0x00]);
//! frame[14..24].copy_from_slice(&[0x45, 0, 0x0b, 0xe0, 0, 1, 0x40, 0, 64, 6]);
//! frame[24..26].copy_from_slice(&[0x1b, 0x15]); // the IPv4 header checksum
//! frame[26..34].copy_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
//! frame[46..48].copy_from_slice(&[0x50, 0x10]);
//! frame[50..52].copy_from_slice(&[0x1f, 0xd5]);
//! let hdr = VirtioNetHdr {
//!     flags: Flags::NEEDS_CSUM,
//!     gso_type: GsoType::TCPV4,
//!     hdr_len: 54,
//!     gso_size: 1000,
//!     csum_start: 34,
//!     csum_offset: 16,
//! };
//!
//! let mut segmenter = Segmenter::new(&frame, &hdr)?;
//! assert_eq!(segmenter.count(), 3);
//! let mut storage = vec![0u8; 8 * tunnelwire::offload::MAX_SUPER_FRAME_LEN];
//! let mut coalescer: Coalescer = Coalescer::new(&mut storage);
//! let mut out = [0u8; 1054];
//! let mut written = Vec::new();
//! while let Some(len) = segmenter.next_into(&mut out) {
//!     coalescer.push(&out[..len?], |emit| written.push((emit.hdr, emit.frame.to_vec())));
//! }
//! coalescer.flush(|emit| written.push((emit.hdr, emit.frame.to_vec())));
//! assert_eq!(written, [(hdr, frame)]);
//! # Ok::<(), tunnelwire::Error>(())
//! ```

mod coalesce;
pub(crate) mod frame;
mod join;
mod segment;
mod virtio_net;

pub use coalesce::{Coalescer, Emit, MAX_SUPER_FRAME_LEN, Outcome};
pub use join::Pass;
pub use segment::{Segmenter, complete_checksum};
pub use virtio_net::{Flags, GsoType, HEADER_LEN, VirtioNetHdr};
