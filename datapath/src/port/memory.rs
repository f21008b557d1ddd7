//! In-memory port for tests and the benchmark: receive replays preloaded
//! frames (optionally in a loop), send counts and optionally keeps copies.
//!
//! The port is handed to the datapath; a [`MemoryHandle`] taken beforehand
//! stays with the test to read what was sent or to inject more frames.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam::queue::SegQueue;
use parking_lot::Mutex;

use super::{Port, PortError, PortStats};
use crate::packet::{Packet, PacketBatch, PacketMeta};

/// A frame the port sent, as seen at send time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentFrame {
    pub data: Vec<u8>,
    pub meta: PacketMeta,
}

/// State shared between the port and its handles.
#[derive(Default)]
struct Shared {
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    /// Frames sent while the capture was full.
    missed: AtomicU64,
    captured: Mutex<VecDeque<SentFrame>>,
    injected: SegQueue<Vec<u8>>,
}

/// A cloneable view of a [`MemoryPort`] that outlives giving the port away.
#[derive(Clone)]
pub struct MemoryHandle {
    shared: Arc<Shared>,
}

impl MemoryHandle {
    /// Packets sent through the port so far.
    pub fn tx_packets(&self) -> u64 {
        self.shared.tx_packets.load(Ordering::Relaxed)
    }

    /// Bytes sent through the port so far.
    pub fn tx_bytes(&self) -> u64 {
        self.shared.tx_bytes.load(Ordering::Relaxed)
    }

    /// Copies of the captured frames, oldest first (the capture keeps them).
    pub fn sent(&self) -> Vec<SentFrame> {
        self.shared.captured.lock().iter().cloned().collect()
    }

    /// Removes and returns the captured frames, making room for more.
    pub fn take_sent(&self) -> Vec<SentFrame> {
        self.shared.captured.lock().drain(..).collect()
    }

    /// Frames sent while the capture was full, and therefore not kept.
    pub fn missed(&self) -> u64 {
        self.shared.missed.load(Ordering::Relaxed)
    }

    /// Queues `frame` to be received by the port's next `recv`, ahead of the
    /// preloaded frames. Allocates: meant for tests, not the benchmark.
    pub fn inject(&self, frame: &[u8]) {
        self.shared.injected.push(frame.to_vec());
    }
}

/// An in-memory port. See the module docs.
pub struct MemoryPort {
    name: String,
    in_port: u32,
    /// All preloaded frames back to back, so replay walks memory in order.
    data: Vec<u8>,
    /// (offset, len) of each preloaded frame in `data`.
    spans: Vec<(usize, usize)>,
    /// Index of the next frame to receive in the current pass.
    pos: usize,
    /// Passes left, the current one included; `u64::MAX` = forever.
    passes_left: u64,
    /// Captured frames kept at most; 0 turns capture off (count only).
    capture_limit: usize,
    stats: PortStats,
    shared: Arc<Shared>,
}

impl MemoryPort {
    /// A port with no frames to receive that counts what it sends.
    /// Received packets get `in_port` as their metadata.
    pub fn new(name: impl Into<String>, in_port: u32) -> MemoryPort {
        MemoryPort {
            name: name.into(),
            in_port,
            data: Vec::new(),
            spans: Vec::new(),
            pos: 0,
            passes_left: 1,
            capture_limit: 0,
            stats: PortStats::default(),
            shared: Arc::new(Shared::default()),
        }
    }

    /// Appends frames to receive (played once unless [`MemoryPort::replay`]).
    pub fn with_frames<I, F>(mut self, frames: I) -> MemoryPort
    where
        I: IntoIterator<Item = F>,
        F: AsRef<[u8]>,
    {
        for f in frames {
            let f = f.as_ref();
            self.spans.push((self.data.len(), f.len()));
            self.data.extend_from_slice(f);
        }
        self
    }

    /// Plays the preloaded frames `passes` times in all (0: never), from the start.
    pub fn replay(mut self, passes: u64) -> MemoryPort {
        self.set_passes(passes);
        self
    }

    /// Plays the preloaded frames in a loop without end.
    pub fn replay_forever(mut self) -> MemoryPort {
        self.set_passes(u64::MAX);
        self
    }

    /// Keeps copies of up to `limit` sent frames for [`MemoryHandle::sent`];
    /// 0 (the default) only counts, which is what the benchmark wants.
    pub fn with_capture(mut self, limit: usize) -> MemoryPort {
        self.capture_limit = limit;
        self
    }

    /// A port receiving the frames of a pcap or pcapng file (Ethernet).
    pub fn from_pcap(
        name: impl Into<String>,
        path: impl AsRef<Path>,
        in_port: u32,
    ) -> Result<MemoryPort, PortError> {
        let name = name.into();
        let frames = super::pcap::read_frames(path.as_ref()).map_err(|e| match e {
            PortError::Io { source, .. } => PortError::io(&name, source),
            PortError::Config { reason, .. } => PortError::config(&name, reason),
            other => other,
        })?;
        Ok(MemoryPort::new(name, in_port).with_frames(frames))
    }

    /// A handle for reading what was sent and injecting frames.
    pub fn handle(&self) -> MemoryHandle {
        MemoryHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Number of preloaded frames (one pass).
    pub fn frame_count(&self) -> usize {
        self.spans.len()
    }

    /// True once every pass is done and nothing injected waits.
    pub fn is_exhausted(&self) -> bool {
        let replay_done = self.spans.is_empty()
            || self.passes_left == 0
            || (self.pos >= self.spans.len() && self.passes_left == 1);
        replay_done && self.shared.injected.is_empty()
    }

    fn set_passes(&mut self, passes: u64) {
        self.pos = 0;
        self.passes_left = passes;
    }
}

impl Port for MemoryPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn recv(&mut self, batch: &mut PacketBatch) -> Result<usize, PortError> {
        let mut n = 0usize;
        let mut bytes = 0u64;
        let mut dropped = 0u64;

        // Injected frames are rare (tests only); one atomic check otherwise.
        while !self.shared.injected.is_empty() {
            let Some(p) = batch.next_free() else { break };
            let Some(frame) = self.shared.injected.pop() else {
                break;
            };
            if p.set_frame(&frame) {
                p.meta.in_port = self.in_port;
                batch.commit();
                n += 1;
                bytes += frame.len() as u64;
            } else {
                dropped += 1;
            }
        }

        let total = self.spans.len();
        while total > 0 && self.passes_left > 0 {
            if self.pos >= total {
                if self.passes_left != u64::MAX {
                    self.passes_left -= 1;
                    if self.passes_left == 0 {
                        break;
                    }
                }
                self.pos = 0;
            }
            let Some(p) = batch.next_free() else { break };
            let (off, len) = self.spans[self.pos];
            self.pos += 1;
            if p.set_frame(&self.data[off..off + len]) {
                p.meta.in_port = self.in_port;
                batch.commit();
                n += 1;
                bytes += len as u64;
            } else {
                dropped += 1;
            }
        }

        self.stats.rx_packets += n as u64;
        self.stats.rx_bytes += bytes;
        self.stats.rx_dropped += dropped;
        Ok(n)
    }

    fn send(&mut self, packets: &[Packet]) -> Result<usize, PortError> {
        let n = packets.len() as u64;
        let bytes: u64 = packets.iter().map(|p| p.len() as u64).sum();
        self.stats.tx_packets += n;
        self.stats.tx_bytes += bytes;
        // One relaxed add per batch keeps the handle's view current cheaply.
        self.shared.tx_packets.fetch_add(n, Ordering::Relaxed);
        self.shared.tx_bytes.fetch_add(bytes, Ordering::Relaxed);

        if self.capture_limit > 0 && !packets.is_empty() {
            let mut q = self.shared.captured.lock();
            let mut missed = 0u64;
            for p in packets {
                if q.len() < self.capture_limit {
                    q.push_back(SentFrame {
                        data: p.data().to_vec(),
                        meta: p.meta,
                    });
                } else {
                    missed += 1;
                }
            }
            drop(q);
            if missed > 0 {
                self.shared.missed.fetch_add(missed, Ordering::Relaxed);
            }
        }
        Ok(packets.len())
    }

    fn stats(&self) -> PortStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::BATCH_SIZE;

    fn frame(i: u8, len: usize) -> Vec<u8> {
        let mut f = vec![i; len];
        f[12] = 0x88;
        f[13] = 0xb5;
        f
    }

    #[test]
    fn replays_frames_in_order_with_in_port() {
        let frames: Vec<Vec<u8>> = (0..5).map(|i| frame(i, 60 + i as usize)).collect();
        let mut port = MemoryPort::new("m0", 7).with_frames(&frames).replay(3);
        let mut batch = PacketBatch::new();
        let mut got = Vec::new();
        loop {
            batch.clear();
            let n = port.recv(&mut batch).unwrap();
            if n == 0 {
                break;
            }
            for p in batch.packets() {
                assert_eq!(p.meta.in_port, 7);
                got.push(p.data().to_vec());
            }
        }
        assert_eq!(got.len(), 15);
        for (i, g) in got.iter().enumerate() {
            assert_eq!(g, &frames[i % 5]);
        }
        assert!(port.is_exhausted());
        let s = port.stats();
        assert_eq!(s.rx_packets, 15);
        assert_eq!(s.rx_bytes, 3 * (60 + 61 + 62 + 63 + 64));
    }

    #[test]
    fn replay_fills_batches_and_respects_partial_batches() {
        let mut port = MemoryPort::new("m0", 1)
            .with_frames([frame(1, 64)])
            .replay_forever();
        let mut batch = PacketBatch::new();
        assert!(batch.push_frame(&frame(9, 60), PacketMeta::default()));
        assert_eq!(port.recv(&mut batch).unwrap(), BATCH_SIZE - 1);
        assert_eq!(batch.packets()[0].data(), &frame(9, 60)[..]);
        assert_eq!(
            port.recv(&mut batch).unwrap(),
            0,
            "full batch takes nothing"
        );
        for _ in 0..100 {
            batch.clear();
            assert_eq!(port.recv(&mut batch).unwrap(), BATCH_SIZE);
        }
        assert!(!port.is_exhausted());
    }

    #[test]
    fn zero_passes_and_no_frames_receive_nothing() {
        let mut batch = PacketBatch::new();
        let mut p = MemoryPort::new("a", 1)
            .with_frames([frame(1, 60)])
            .replay(0);
        assert_eq!(p.recv(&mut batch).unwrap(), 0);
        assert!(p.is_exhausted());
        let mut p = MemoryPort::new("b", 1).replay_forever();
        assert_eq!(p.recv(&mut batch).unwrap(), 0);
    }

    #[test]
    fn oversized_frames_are_dropped_and_counted() {
        let mut port =
            MemoryPort::new("m", 1).with_frames([frame(1, 60), frame(2, 5000), frame(3, 60)]);
        let mut batch = PacketBatch::new();
        assert_eq!(port.recv(&mut batch).unwrap(), 2);
        assert_eq!(port.stats().rx_dropped, 1);
        assert_eq!(batch.packets()[1].data(), &frame(3, 60)[..]);
    }

    #[test]
    fn send_counts_and_captures_up_to_the_limit() {
        let mut port = MemoryPort::new("m", 1).with_capture(3);
        let h = port.handle();
        let mut pkts: Vec<Packet> = (0..5).map(|i| Packet::from_slice(&frame(i, 70))).collect();
        pkts[1].meta.in_port = 42;
        assert_eq!(port.send(&pkts).unwrap(), 5);
        assert_eq!(h.tx_packets(), 5);
        assert_eq!(h.tx_bytes(), 350);
        assert_eq!(h.missed(), 2);
        let sent = h.take_sent();
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[0].data, frame(0, 70));
        assert_eq!(sent[1].meta.in_port, 42);
        assert_eq!(sent[2].data, frame(2, 70));
        // Draining makes room again.
        assert_eq!(port.send(&pkts[4..]).unwrap(), 1);
        assert_eq!(h.sent()[0].data, frame(4, 70));
        let s = port.stats();
        assert_eq!((s.tx_packets, s.tx_bytes), (6, 420));
    }

    #[test]
    fn send_without_capture_only_counts() {
        let mut port = MemoryPort::new("m", 1);
        let h = port.handle();
        let pkts = vec![Packet::from_slice(&frame(1, 60)); 4];
        port.send(&pkts).unwrap();
        assert_eq!(h.tx_packets(), 4);
        assert!(h.sent().is_empty());
        assert_eq!(h.missed(), 0);
    }

    #[test]
    fn round_trip_through_a_handle_after_giving_the_port_away() {
        let port = MemoryPort::new("m", 3).with_capture(16);
        let h = port.handle();
        let mut boxed: Box<dyn Port> = Box::new(port);
        h.inject(&frame(5, 80));
        let mut batch = PacketBatch::new();
        assert_eq!(boxed.recv(&mut batch).unwrap(), 1);
        assert_eq!(batch.packets()[0].meta.in_port, 3);
        boxed.send(batch.packets()).unwrap();
        assert_eq!(h.sent()[0].data, frame(5, 80));
        assert_eq!(boxed.stats().rx_packets, 1);
    }

    /// Throughput smoke check: `cargo test --release -p oxvs-datapath --lib
    /// memory::tests::throughput -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn throughput() {
        let frames: Vec<Vec<u8>> = (0..64).map(|i| frame(i, 64)).collect();
        let mut rx = MemoryPort::new("rx", 1)
            .with_frames(&frames)
            .replay_forever();
        let mut tx = MemoryPort::new("tx", 2);
        let mut batch = PacketBatch::new();
        let n = 50_000_000u64;
        let t = std::time::Instant::now();
        let mut done = 0u64;
        while done < n {
            batch.clear();
            let got = rx.recv(&mut batch).unwrap();
            tx.send(batch.packets()).unwrap();
            done += got as u64;
        }
        let secs = t.elapsed().as_secs_f64();
        println!("memory rx+tx: {:.1} Mpps", done as f64 / secs / 1e6);
        assert_eq!(tx.handle().tx_packets(), done);
    }
}
