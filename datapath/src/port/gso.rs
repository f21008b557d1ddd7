//! Software segmentation of the GSO super-frames a packet socket hands over
//! (with `PACKET_VNET_HDR`) when the sender has TSO/GSO on, as a veth in a
//! container usually has: TCP over IPv4/IPv6 and UDP (GSO_UDP_L4) are cut
//! into `gso_size` segments with their own lengths, IPv4 ids, TCP sequence
//! numbers and flags, and complete checksums, as the kernel's
//! `skb_segment` + checksum help would. The datapath then sees ordinary
//! frames.

use super::af_packet::VnetHdr;
use crate::checksum::{fold, ones_sum};

// virtio_net_hdr gso types.
const GSO_TCPV4: u8 = 1;
const GSO_TCPV6: u8 = 4;
const GSO_UDP_L4: u8 = 5;
const GSO_ECN: u8 = 0x80;

/// Largest super-frame: an IP datagram of 64 KiB plus link headers.
pub const MAX_GSO_FRAME: usize = 65_536 + 14 + 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GsoError {
    #[error("GSO type {0:#x} is not segmented here")]
    Unsupported(u8),
    #[error("GSO frame headers are malformed")]
    Malformed,
    #[error("GSO frame larger than {MAX_GSO_FRAME} bytes")]
    TooLarge,
}

/// One super-frame being cut, segment by segment, into caller buffers.
pub struct Segmenter {
    frame: Vec<u8>,
    len: usize,
    l3: usize,
    l4: usize,
    hdr_len: usize,
    mss: usize,
    v6: bool,
    tcp: bool,
    /// Payload offset of the next segment; `len` when done.
    next: usize,
    index: u32,
    /// The VLAN tag the frame arrived with (put back into every segment).
    pub vlan: Option<(u16, u16)>,
}

impl Default for Segmenter {
    fn default() -> Self {
        Segmenter::new()
    }
}

impl Segmenter {
    /// Allocates the super-frame buffer once.
    pub fn new() -> Segmenter {
        Segmenter {
            frame: vec![0; MAX_GSO_FRAME],
            len: 0,
            l3: 0,
            l4: 0,
            hdr_len: 0,
            mss: 0,
            v6: false,
            tcp: false,
            next: 0,
            index: 0,
            vlan: None,
        }
    }

    /// Forgets the rest of the loaded frame.
    pub fn clear(&mut self) {
        self.next = self.len;
    }

    /// True when every segment of the loaded frame was taken.
    pub fn is_empty(&self) -> bool {
        self.next >= self.len
    }

    /// Takes a super-frame (Ethernet onwards; a VLAN tag the kernel kept
    /// out of the frame goes in `vlan`).
    pub fn load(
        &mut self,
        frame: &[u8],
        hdr: &VnetHdr,
        vlan: Option<(u16, u16)>,
    ) -> Result<(), GsoError> {
        self.next = 0;
        self.len = 0;
        if frame.len() > self.frame.len() {
            return Err(GsoError::TooLarge);
        }
        let (tcp, v6_expected) = match hdr.gso_type & !GSO_ECN {
            GSO_TCPV4 => (true, Some(false)),
            GSO_TCPV6 => (true, Some(true)),
            GSO_UDP_L4 => (false, None),
            t => return Err(GsoError::Unsupported(t)),
        };
        // Link header: Ethernet and any VLAN tags still in the frame.
        let mut l3 = 14;
        let mut ethertype = u16::from_be_bytes([
            *frame.get(12).ok_or(GsoError::Malformed)?,
            *frame.get(13).ok_or(GsoError::Malformed)?,
        ]);
        while matches!(ethertype, 0x8100 | 0x88a8) {
            let b = frame.get(l3 + 2..l3 + 4).ok_or(GsoError::Malformed)?;
            ethertype = u16::from_be_bytes([b[0], b[1]]);
            l3 += 4;
        }
        let v6 = match ethertype {
            0x0800 => false,
            0x86dd => true,
            _ => return Err(GsoError::Malformed),
        };
        if v6_expected.is_some_and(|e| e != v6) {
            return Err(GsoError::Malformed);
        }
        let l4 = if hdr.csum_start != 0 {
            usize::from(hdr.csum_start)
        } else if v6 {
            l3 + 40
        } else {
            l3 + usize::from(frame.get(l3).ok_or(GsoError::Malformed)? & 0x0f) * 4
        };
        let l4_hdr = if tcp {
            usize::from(frame.get(l4 + 12).ok_or(GsoError::Malformed)? >> 4) * 4
        } else {
            8
        };
        let hdr_len = l4 + l4_hdr;
        let mss = usize::from(hdr.gso_size);
        if mss == 0 || hdr_len > frame.len() || l4 < l3 + 20 || (tcp && l4_hdr < 20) {
            return Err(GsoError::Malformed);
        }
        self.frame[..frame.len()].copy_from_slice(frame);
        self.len = frame.len();
        self.l3 = l3;
        self.l4 = l4;
        self.hdr_len = hdr_len;
        self.mss = mss;
        self.v6 = v6;
        self.tcp = tcp;
        self.next = hdr_len;
        self.index = 0;
        self.vlan = vlan;
        Ok(())
    }

    /// Writes the next segment into `out`; returns its length, or None if
    /// none is left or `out` is too small (the segment then stays).
    pub fn next_segment(&mut self, out: &mut [u8]) -> Option<usize> {
        if self.is_empty() {
            return None;
        }
        let chunk = self.mss.min(self.len - self.next);
        let total = self.hdr_len + chunk;
        if total > out.len() {
            return None;
        }
        let last = self.next + chunk >= self.len;
        let first = self.index == 0;
        let (l3, l4, hl) = (self.l3, self.l4, self.hdr_len);
        out[..hl].copy_from_slice(&self.frame[..hl]);
        out[hl..total].copy_from_slice(&self.frame[self.next..self.next + chunk]);
        let l4_len = total - l4;

        if self.v6 {
            let plen = (total - l3 - 40) as u16;
            out[l3 + 4..l3 + 6].copy_from_slice(&plen.to_be_bytes());
        } else {
            let tot = (total - l3) as u16;
            out[l3 + 2..l3 + 4].copy_from_slice(&tot.to_be_bytes());
            let id = u16::from_be_bytes([out[l3 + 4], out[l3 + 5]]).wrapping_add(self.index as u16);
            out[l3 + 4..l3 + 6].copy_from_slice(&id.to_be_bytes());
            out[l3 + 10..l3 + 12].copy_from_slice(&[0, 0]);
            let ihl = l4 - l3;
            let c = !fold(ones_sum(0, &out[l3..l3 + ihl]));
            out[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
        }

        let csum_at = if self.tcp {
            let seq = u32::from_be_bytes([out[l4 + 4], out[l4 + 5], out[l4 + 6], out[l4 + 7]])
                .wrapping_add((self.next - hl) as u32);
            out[l4 + 4..l4 + 8].copy_from_slice(&seq.to_be_bytes());
            let mut flags = out[l4 + 13];
            if !last {
                flags &= !(0x01 | 0x08); // FIN, PSH: the last segment's
            }
            if !first {
                flags &= !0x80; // CWR: the first segment's
            }
            out[l4 + 13] = flags;
            l4 + 16
        } else {
            out[l4 + 4..l4 + 6].copy_from_slice(&(l4_len as u16).to_be_bytes());
            l4 + 6
        };
        out[csum_at..csum_at + 2].copy_from_slice(&[0, 0]);
        let proto: u8 = if self.tcp { 6 } else { 17 };
        let mut sum = if self.v6 {
            ones_sum(0, &out[l3 + 8..l3 + 40])
        } else {
            ones_sum(0, &out[l3 + 12..l3 + 20])
        };
        sum += u64::from(proto) + l4_len as u64;
        let mut c = !fold(ones_sum(sum, &out[l4..total]));
        if !self.tcp && c == 0 {
            c = 0xffff;
        }
        out[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());

        self.next += chunk;
        self.index += 1;
        Some(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};

    fn hdr(gso_type: u8, gso_size: u16, csum_start: u16) -> VnetHdr {
        VnetHdr {
            flags: 1,
            gso_type,
            hdr_len: 0,
            gso_size,
            csum_start,
            csum_offset: 16,
        }
    }

    fn segments(frame: &[u8], h: &VnetHdr) -> Vec<Vec<u8>> {
        let mut s = Segmenter::new();
        s.load(frame, h, None).expect("load");
        let mut out = Vec::new();
        let mut buf = vec![0u8; 9216];
        while let Some(n) = s.next_segment(&mut buf) {
            out.push(buf[..n].to_vec());
        }
        assert!(s.is_empty());
        out
    }

    #[test]
    fn tcp_v4_super_frame_becomes_valid_segments() {
        let payload: Vec<u8> = (0..4000u32).map(|i| (i * 13) as u8).collect();
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(1000, 80, 7777, 64000)
            .psh()
            .fin()
            .ack(5);
        let mut frame = Vec::new();
        b.write(&mut frame, &payload).expect("write");
        let segs = segments(&frame, &hdr(GSO_TCPV4, 1448, 34));
        assert_eq!(segs.len(), 3);
        let mut got = Vec::new();
        let mut id0 = None;
        for (i, s) in segs.iter().enumerate() {
            let p = SlicedPacket::from_ethernet(s).expect("parses");
            let Some(etherparse::NetSlice::Ipv4(ip)) = &p.net else {
                panic!("not ipv4")
            };
            let h = ip.header();
            assert_eq!(h.to_header().calc_header_checksum(), h.header_checksum());
            let id = h.identification();
            assert_eq!(id, id0.get_or_insert(id).wrapping_add(i as u16));
            let Some(TransportSlice::Tcp(t)) = &p.transport else {
                panic!("not tcp")
            };
            assert_eq!(t.sequence_number(), 7777 + (i as u32) * 1448);
            assert_eq!(t.fin(), i == 2);
            assert_eq!(t.psh(), i == 2);
            assert!(t.ack());
            let want = t
                .to_header()
                .calc_checksum_ipv4(&h.to_header(), t.payload())
                .expect("csum");
            assert_eq!(t.checksum(), want, "segment {i}");
            got.extend_from_slice(t.payload());
        }
        assert_eq!(got, payload);
    }

    #[test]
    fn tcp_v6_and_udp_l4() {
        let payload = vec![7u8; 3000];
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv6([1; 16], [2; 16], 64)
            .tcp(1000, 80, 1, 64000);
        let mut frame = Vec::new();
        b.write(&mut frame, &payload).expect("write");
        let segs = segments(&frame, &hdr(GSO_TCPV6, 1000, 54));
        assert_eq!(segs.len(), 3);
        for s in &segs {
            let p = SlicedPacket::from_ethernet(s).expect("parses");
            let Some(etherparse::NetSlice::Ipv6(ip)) = &p.net else {
                panic!("not ipv6")
            };
            let Some(TransportSlice::Tcp(t)) = &p.transport else {
                panic!("not tcp")
            };
            let want = t
                .to_header()
                .calc_checksum_ipv6(&ip.header().to_header(), t.payload())
                .expect("csum");
            assert_eq!(t.checksum(), want);
            assert_eq!(t.payload().len(), 1000);
        }

        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(5000, 6000);
        let mut frame = Vec::new();
        b.write(&mut frame, &vec![1u8; 2500]).expect("write");
        let segs = segments(&frame, &hdr(GSO_UDP_L4, 1200, 34));
        let lens: Vec<usize> = segs
            .iter()
            .map(|s| {
                let p = SlicedPacket::from_ethernet(s).expect("parses");
                let Some(etherparse::NetSlice::Ipv4(ip)) = &p.net else {
                    panic!("not ipv4")
                };
                let Some(TransportSlice::Udp(u)) = &p.transport else {
                    panic!("not udp")
                };
                let want = u
                    .to_header()
                    .calc_checksum_ipv4(&ip.header().to_header(), u.payload())
                    .expect("csum");
                assert_eq!(u.checksum(), want);
                u.payload().len()
            })
            .collect();
        assert_eq!(lens, [1200, 1200, 100]);
    }

    proptest::proptest! {
        /// Whatever the header and bytes claim (a guest can write both
        /// through a tap with a vnet header), cutting never panics and
        /// never writes past the buffer it is given.
        #[test]
        fn arbitrary_frames_and_headers_never_panic(
            frame in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
            kind in proptest::prop_oneof![proptest::prelude::Just(1u8), proptest::prelude::Just(4u8), proptest::prelude::Just(5u8), proptest::prelude::any::<u8>()],
            size in 0u16..2000,
            csum_start in 0u16..200,
            out_len in 0usize..2000,
            ip in 0u8..3,
        ) {
            let mut frame = frame;
            // Mostly IPv4/IPv6 ethertypes, so that loading gets past them.
            if frame.len() >= 15 && ip < 2 {
                let t: u16 = if ip == 0 { 0x0800 } else { 0x86dd };
                frame[12..14].copy_from_slice(&t.to_be_bytes());
                frame[14] = if ip == 0 { 0x45 } else { 0x60 };
            }
            let mut s = Segmenter::new();
            let h = hdr(kind, size, csum_start);
            if s.load(&frame, &h, None).is_ok() {
                let mut out = vec![0u8; out_len];
                let mut n = 0;
                while let Some(len) = s.next_segment(&mut out) {
                    proptest::prop_assert!(len <= out.len());
                    n += 1;
                    proptest::prop_assert!(n <= frame.len());
                }
            }
        }
    }

    #[test]
    fn bad_super_frames_are_refused() {
        let mut s = Segmenter::new();
        assert_eq!(
            s.load(&[0u8; 10], &hdr(GSO_TCPV4, 1000, 34), None),
            Err(GsoError::Malformed)
        );
        assert_eq!(
            s.load(&[0u8; 60], &hdr(3, 1000, 34), None),
            Err(GsoError::Unsupported(3))
        );
        let mut f = vec![0u8; 60];
        f[12] = 0x08;
        f[14] = 0x45;
        assert_eq!(
            s.load(&f, &hdr(GSO_TCPV4, 0, 34), None),
            Err(GsoError::Malformed)
        );
        assert!(s.is_empty());
    }
}
