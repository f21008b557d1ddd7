//! Packet buffers and batches: a frame with headroom (so push_vlan and encap
//! do not move the payload) plus the datapath metadata that travels with it.
//!
//! Buffers are allocated once and reused: a port fills a [`PacketBatch`] in
//! place, and nothing on the per-packet path allocates.

/// Bytes kept free in front of the frame for pushed headers.
pub const HEADROOM: usize = 128;
/// Default room for frame data (covers 1518-byte frames plus VLAN tags).
pub const DEFAULT_DATA_ROOM: usize = 2048;
/// Packets handled together by a poll thread, as in Open vSwitch.
pub const BATCH_SIZE: usize = 32;

/// Tunnel metadata of a packet received on (or to be sent to) a tunnel port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TunnelMeta {
    pub tun_id: u64,
    pub ipv4_src: u32,
    pub ipv4_dst: u32,
    pub tp_src: u16,
    pub tp_dst: u16,
    pub tos: u8,
    pub ttl: u8,
    pub flags: u16,
}

/// A GSO super-frame's segmentation facts (the virtio_net_hdr a packet
/// socket gave with it): whoever transmits it cuts it into `size`-byte
/// segments, and its L4 checksum field holds only the pseudo-header sum
/// (CHECKSUM_PARTIAL), to be finished over `csum_start..`. `kind` 0 is an
/// ordinary frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gso {
    /// VIRTIO_NET_HDR_GSO_* (TCPV4 1, TCPV6 4, UDP_L4 5; ECN bit 0x80).
    pub kind: u8,
    pub size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl Gso {
    #[inline]
    pub fn is_some(&self) -> bool {
        self.kind != 0
    }
}

impl Gso {
    /// How many frames `frame`, a super-frame with these facts, stands for
    /// on the wire, and their bytes together (each repeats the headers).
    /// An ordinary frame, or one whose headers do not add up, is one.
    pub fn wire_segments(&self, frame: &[u8]) -> (u64, u64) {
        let len = frame.len() as u64;
        if !self.is_some() || self.size == 0 || self.csum_start == 0 {
            return (1, len);
        }
        let l4 = usize::from(self.csum_start);
        let l4_hdr = match self.kind & 0x7f {
            // TCPV4, TCPV6: the header's own length.
            1 | 4 => match frame.get(l4 + 12) {
                Some(b) => usize::from(b >> 4) * 4,
                None => return (1, len),
            },
            // UDP_L4.
            5 => 8,
            // UFO (IP fragments, not segments) or unknown.
            _ => return (1, len),
        };
        let hdr = (l4 + l4_hdr) as u64;
        let Some(payload) = len.checked_sub(hdr) else {
            return (1, len);
        };
        let n = payload.div_ceil(u64::from(self.size)).max(1);
        (n, len + (n - 1) * hdr)
    }
}

/// Largest frame a packet buffer grows to hold (a GSO super-frame: 64 KiB
/// of IP datagram plus link headers).
pub const MAX_FRAME: usize = 65_536 + 64;

/// Metadata that is not in the frame but is part of the flow key (GSO
/// facts aside, which travel with the frame).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketMeta {
    pub in_port: u32,
    pub recirc_id: u32,
    pub dp_hash: u32,
    pub skb_mark: u32,
    pub ct_state: u16,
    pub ct_zone: u16,
    pub ct_mark: u32,
    pub ct_label: u128,
    pub tunnel: TunnelMeta,
    pub gso: Gso,
}

/// One frame in a reusable buffer.
#[derive(Clone)]
pub struct Packet {
    buf: Box<[u8]>,
    start: usize,
    len: usize,
    pub meta: PacketMeta,
}

impl std::fmt::Debug for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packet")
            .field("len", &self.len)
            .field("meta", &self.meta)
            .finish()
    }
}

impl Default for Packet {
    fn default() -> Self {
        Packet::new()
    }
}

impl Packet {
    /// An empty packet with the default room.
    pub fn new() -> Packet {
        Packet::with_room(DEFAULT_DATA_ROOM)
    }

    /// An empty packet able to hold `room` bytes of frame after the headroom.
    pub fn with_room(room: usize) -> Packet {
        Packet {
            buf: vec![0u8; HEADROOM + room].into_boxed_slice(),
            start: HEADROOM,
            len: 0,
            meta: PacketMeta::default(),
        }
    }

    /// A packet holding a copy of `frame` (allocates: for tests and slow paths).
    pub fn from_slice(frame: &[u8]) -> Packet {
        let mut p = Packet::with_room(frame.len().max(DEFAULT_DATA_ROOM));
        // Cannot fail: the room was sized for the frame.
        let _ = p.set_frame(frame);
        p
    }

    /// The frame bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    /// The frame bytes, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Largest frame this buffer can hold with the default headroom.
    pub fn room(&self) -> usize {
        self.buf.len() - HEADROOM
    }

    /// Makes the (empty) buffer able to hold `room` bytes, up to
    /// [`MAX_FRAME`]: the one allocation on the packet path, made the first
    /// time a buffer meets a GSO super-frame; it stays that large after.
    /// Returns false if `room` is beyond `MAX_FRAME`.
    pub fn grow(&mut self, room: usize) -> bool {
        if room <= self.room() {
            return true;
        }
        if room > MAX_FRAME {
            return false;
        }
        self.buf = vec![0u8; HEADROOM + MAX_FRAME].into_boxed_slice();
        self.start = HEADROOM;
        self.len = 0;
        true
    }

    /// Resets the packet for reuse: empty frame, default headroom, zero metadata.
    #[inline]
    pub fn reset(&mut self) {
        self.start = HEADROOM;
        self.len = 0;
        self.meta = PacketMeta::default();
    }

    /// Replaces the frame with a copy of `frame`, keeping the metadata.
    /// Returns false (and leaves the packet empty) if it does not fit.
    #[inline]
    pub fn set_frame(&mut self, frame: &[u8]) -> bool {
        self.start = HEADROOM;
        if frame.len() > self.buf.len() - HEADROOM {
            self.len = 0;
            return false;
        }
        self.buf[HEADROOM..HEADROOM + frame.len()].copy_from_slice(frame);
        self.len = frame.len();
        true
    }

    /// The writable area after the headroom, for ports that receive in place.
    /// Call [`Packet::set_len`] with the number of bytes written.
    #[inline]
    pub fn rx_area(&mut self) -> &mut [u8] {
        self.start = HEADROOM;
        self.len = 0;
        &mut self.buf[HEADROOM..]
    }

    /// Sets the frame length after an in-place receive (clamped to the room).
    #[inline]
    pub fn set_len(&mut self, len: usize) {
        self.len = len.min(self.buf.len() - self.start);
    }

    /// Opens `n` bytes in front of the frame at byte offset `at`, moving the
    /// first `at` bytes forward into the headroom. Returns false if there is
    /// not enough headroom or `at` is past the end.
    pub fn insert_gap(&mut self, at: usize, n: usize) -> bool {
        if n > self.start || at > self.len {
            return false;
        }
        let old = self.start;
        self.start -= n;
        self.buf.copy_within(old..old + at, self.start);
        self.len += n;
        true
    }

    /// Removes `n` bytes at byte offset `at`, closing the gap by moving the
    /// first `at` bytes back. Returns false if the range is out of the frame.
    pub fn remove_gap(&mut self, at: usize, n: usize) -> bool {
        if at.checked_add(n).is_none_or(|end| end > self.len) {
            return false;
        }
        let s = self.start;
        self.buf.copy_within(s..s + at, s + n);
        self.start += n;
        self.len -= n;
        true
    }

    /// Cuts the frame to at most `len` bytes.
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
        }
    }
}

/// Up to [`BATCH_SIZE`] packets whose buffers are reused from batch to batch.
pub struct PacketBatch {
    packets: Vec<Packet>,
    count: usize,
}

impl Default for PacketBatch {
    fn default() -> Self {
        PacketBatch::new()
    }
}

impl PacketBatch {
    /// A batch of [`BATCH_SIZE`] default-sized buffers, all empty.
    pub fn new() -> PacketBatch {
        PacketBatch::with_room(DEFAULT_DATA_ROOM)
    }

    pub fn with_room(room: usize) -> PacketBatch {
        PacketBatch {
            packets: (0..BATCH_SIZE).map(|_| Packet::with_room(room)).collect(),
            count: 0,
        }
    }

    /// Packets currently in the batch.
    #[inline]
    pub fn len(&self) -> usize {
        self.count
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    #[inline]
    pub fn is_full(&self) -> bool {
        self.count == self.packets.len()
    }

    /// Empties the batch (buffers are kept).
    #[inline]
    pub fn clear(&mut self) {
        self.count = 0;
    }

    /// The next free buffer, reset, or None when the batch is full. The
    /// packet counts as part of the batch once [`PacketBatch::commit`] is called.
    #[inline]
    pub fn next_free(&mut self) -> Option<&mut Packet> {
        let p = self.packets.get_mut(self.count)?;
        p.reset();
        Some(p)
    }

    /// Counts the buffer handed out by `next_free` as filled.
    #[inline]
    pub fn commit(&mut self) {
        if self.count < self.packets.len() {
            self.count += 1;
        }
    }

    /// Copies `frame` in as the next packet with the given metadata.
    /// Returns false if the batch is full or the frame does not fit.
    pub fn push_frame(&mut self, frame: &[u8], meta: PacketMeta) -> bool {
        let Some(p) = self.next_free() else {
            return false;
        };
        if meta.gso.is_some() && !p.grow(frame.len()) {
            return false;
        }
        if !p.set_frame(frame) {
            return false;
        }
        p.meta = meta;
        self.commit();
        true
    }

    /// Copies `p` (its first `cut` bytes at most, and its metadata) in as
    /// the next packet. Returns false if the batch is full or it does not fit.
    #[inline]
    pub fn push_copy(&mut self, p: &Packet, cut: usize) -> bool {
        let Some(slot) = self.packets.get_mut(self.count) else {
            return false;
        };
        let len = p.len.min(cut);
        if p.meta.gso.is_some() && !slot.grow(len) {
            return false;
        }
        let Some(dst) = slot.buf.get_mut(HEADROOM..HEADROOM + len) else {
            return false;
        };
        dst.copy_from_slice(&p.data()[..len]);
        slot.start = HEADROOM;
        slot.len = len;
        slot.meta = p.meta;
        self.count += 1;
        true
    }

    #[inline]
    pub fn packets(&self) -> &[Packet] {
        &self.packets[..self.count]
    }

    #[inline]
    pub fn packets_mut(&mut self) -> &mut [Packet] {
        &mut self.packets[..self.count]
    }

    /// Swaps packet `i` with `other` (used to hand a packet to an upcall
    /// without copying, giving the batch a spare buffer back).
    pub fn swap(&mut self, i: usize, other: &mut Packet) {
        if let Some(p) = self.packets.get_mut(i) {
            std::mem::swap(p, other);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_move_the_head_only() {
        let mut p = Packet::from_slice(&[1, 2, 3, 4, 5, 6]);
        assert!(p.insert_gap(2, 4));
        assert_eq!(p.len(), 10);
        assert_eq!(&p.data()[..2], &[1, 2]);
        assert_eq!(&p.data()[6..], &[3, 4, 5, 6]);
        assert!(p.remove_gap(2, 4));
        assert_eq!(p.data(), &[1, 2, 3, 4, 5, 6]);
        assert!(!p.remove_gap(4, 3));
        assert!(!p.insert_gap(7, 1));
        assert!(!p.insert_gap(0, HEADROOM + 1));
    }

    #[test]
    fn batch_reuses_buffers() {
        let mut b = PacketBatch::new();
        for i in 0..BATCH_SIZE {
            assert!(b.push_frame(&[i as u8; 60], PacketMeta::default()));
        }
        assert!(!b.push_frame(&[0; 60], PacketMeta::default()));
        assert!(b.is_full());
        b.clear();
        assert!(b.is_empty());
        assert!(b.push_frame(&[7; 64], PacketMeta::default()));
        assert_eq!(b.packets()[0].data(), &[7; 64]);
    }
}
