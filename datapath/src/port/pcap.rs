//! Pcap file ports: [`PcapRxPort`] replays a capture (classic pcap or
//! pcapng, Ethernet only) as if it arrived on a port; [`PcapTxPort`] writes
//! what the datapath sends to a classic pcap that tcpdump and Wireshark read.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use pcap_file::pcap::{PcapHeader, PcapReader};
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::{DataLink, Endianness, TsResolution};

use super::{Port, PortError, PortStats};
use crate::packet::{Packet, PacketBatch};

/// First four bytes of a pcapng file (the section header block type).
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// Snap length written in our pcap header: as tcpdump's default, so
/// oversized (GSO) frames are kept whole.
const TX_SNAPLEN: u32 = 262_144;

/// What reading one record gave.
enum Record<'a> {
    /// Borrowed from the reader's buffer in practice (pcap-file 2 borrows).
    Frame(Cow<'a, [u8]>),
    /// A record that carries no Ethernet frame (other block, other link type).
    Skip,
    End,
    Error(String),
}

/// A classic pcap or pcapng reader behind one interface.
enum Source {
    Pcap(PcapReader<File>),
    PcapNg {
        reader: PcapNgReader<File>,
        /// Link type of each interface of the current section, by id.
        links: Vec<DataLink>,
    },
}

impl Source {
    fn open(path: &Path) -> Result<Source, String> {
        let mut file = File::open(path).map_err(|e| format!("open {}: {e}", path.display()))?;
        let mut magic = [0u8; 4];
        file.read_exact(&mut magic)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .map_err(|e| format!("read {}: {e}", path.display()))?;
        if magic == PCAPNG_MAGIC {
            let reader = PcapNgReader::new(file).map_err(|e| format!("{}: {e}", path.display()))?;
            // Opening consumed only the section header: the interface
            // blocks come through next_block.
            Ok(Source::PcapNg {
                reader,
                links: Vec::new(),
            })
        } else {
            let reader = PcapReader::new(file).map_err(|e| format!("{}: {e}", path.display()))?;
            let link = reader.header().datalink;
            if link != DataLink::ETHERNET {
                return Err(format!(
                    "{}: link type {link:?} is not Ethernet",
                    path.display()
                ));
            }
            Ok(Source::Pcap(reader))
        }
    }

    fn next(&mut self) -> Record<'_> {
        match self {
            Source::Pcap(r) => match r.next_packet() {
                None => Record::End,
                Some(Ok(p)) => Record::Frame(p.data),
                Some(Err(e)) => Record::Error(e.to_string()),
            },
            Source::PcapNg { reader, links } => match reader.next_block() {
                None => Record::End,
                Some(Err(e)) => Record::Error(e.to_string()),
                Some(Ok(block)) => match block {
                    Block::SectionHeader(_) => {
                        links.clear();
                        Record::Skip
                    }
                    Block::InterfaceDescription(idb) => {
                        links.push(idb.linktype);
                        Record::Skip
                    }
                    Block::EnhancedPacket(epb) => {
                        let link = links.get(epb.interface_id as usize).copied();
                        match (link, epb.data) {
                            (Some(DataLink::ETHERNET), d) => Record::Frame(d),
                            _ => Record::Skip,
                        }
                    }
                    Block::SimplePacket(spb) => match (links.first().copied(), spb.data) {
                        (Some(DataLink::ETHERNET), d) => Record::Frame(d),
                        _ => Record::Skip,
                    },
                    Block::Packet(pb) => {
                        let link = links.get(pb.interface_id as usize).copied();
                        match (link, pb.data) {
                            (Some(DataLink::ETHERNET), d) => Record::Frame(d),
                            _ => Record::Skip,
                        }
                    }
                    _ => Record::Skip,
                },
            },
        }
    }
}

/// Reads every Ethernet frame of a pcap or pcapng file (for
/// [`super::memory::MemoryPort::from_pcap`]). A damaged tail ends the list.
pub fn read_frames(path: &Path) -> Result<Vec<Vec<u8>>, PortError> {
    let name = path.display().to_string();
    let mut src = Source::open(path).map_err(|r| PortError::config(&name, r))?;
    let mut frames = Vec::new();
    loop {
        match src.next() {
            Record::Frame(f) => frames.push(f.into_owned()),
            Record::Skip => {}
            Record::End => break,
            Record::Error(e) => {
                tracing::warn!(file = %name, error = %e, "pcap ends with a damaged record");
                break;
            }
        }
    }
    Ok(frames)
}

/// Receives the frames of a capture file, once. See the module docs.
pub struct PcapRxPort {
    name: String,
    path: PathBuf,
    in_port: u32,
    source: Source,
    exhausted: bool,
    stats: PortStats,
}

impl PcapRxPort {
    /// Opens `path` (pcap or pcapng); received packets get `in_port`. The
    /// port is named after the path.
    pub fn open(path: impl AsRef<Path>, in_port: u32) -> Result<PcapRxPort, PortError> {
        let path = path.as_ref().to_path_buf();
        let name = path.display().to_string();
        let source = Source::open(&path).map_err(|r| PortError::config(&name, r))?;
        Ok(PcapRxPort {
            name,
            path,
            in_port,
            source,
            exhausted: false,
            stats: PortStats::default(),
        })
    }

    /// Renames the port (the default is the file's path).
    pub fn named(mut self, name: impl Into<String>) -> PcapRxPort {
        self.name = name.into();
        self
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True once the whole file was read (or its damaged tail reached).
    pub fn is_exhausted(&self) -> bool {
        self.exhausted
    }
}

impl Port for PcapRxPort {
    fn name(&self) -> &str {
        &self.name
    }

    /// End of file is `Ok(0)` for ever, not `Down`: a replay that has ended
    /// is a quiet port, and the datapath should keep the port's flows.
    fn recv(&mut self, batch: &mut PacketBatch) -> Result<usize, PortError> {
        let mut n = 0;
        while !self.exhausted {
            let Some(p) = batch.next_free() else { break };
            match self.source.next() {
                Record::Frame(f) => {
                    if p.set_frame(&f) {
                        p.meta.in_port = self.in_port;
                        batch.commit();
                        n += 1;
                        self.stats.rx_packets += 1;
                        self.stats.rx_bytes += f.len() as u64;
                    } else {
                        self.stats.rx_dropped += 1;
                    }
                }
                Record::Skip => {}
                Record::End => self.exhausted = true,
                Record::Error(e) => {
                    tracing::warn!(port = %self.name, error = %e, "pcap ends with a damaged record");
                    self.stats.rx_errors += 1;
                    self.exhausted = true;
                }
            }
        }
        Ok(n)
    }

    /// A file being read takes no output: everything is dropped.
    fn send(&mut self, packets: &[Packet]) -> Result<usize, PortError> {
        self.stats.tx_dropped += packets.len() as u64;
        Ok(0)
    }

    fn stats(&self) -> PortStats {
        self.stats
    }
}

/// Writes sent frames to a classic pcap file (Ethernet, microseconds,
/// native byte order, which every reader accepts).
pub struct PcapTxPort {
    name: String,
    path: PathBuf,
    // Records are written by hand rather than through `PcapWriter`, which
    // in pcap-file 2 gives no access to its writer for `flush()`.
    out: BufWriter<File>,
    stats: PortStats,
}

impl PcapTxPort {
    /// Creates (or truncates) `path` and writes the pcap header. The port is
    /// named after the path.
    pub fn create(path: impl AsRef<Path>) -> Result<PcapTxPort, PortError> {
        let path = path.as_ref().to_path_buf();
        let name = path.display().to_string();
        let file = File::create(&path).map_err(|e| PortError::io(&name, e))?;
        let mut out = BufWriter::new(file);
        let header = PcapHeader {
            snaplen: TX_SNAPLEN,
            datalink: DataLink::ETHERNET,
            ts_resolution: TsResolution::MicroSecond,
            endianness: Endianness::native(),
            ..PcapHeader::default()
        };
        header
            .write_to(&mut out)
            .map_err(|e| PortError::io(&name, pcap_io_error(e)))?;
        Ok(PcapTxPort {
            name,
            path,
            out,
            stats: PortStats::default(),
        })
    }

    /// Renames the port (the default is the file's path).
    pub fn named(mut self, name: impl Into<String>) -> PcapTxPort {
        self.name = name.into();
        self
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Pushes buffered packets to the file so readers see them.
    pub fn flush(&mut self) -> Result<(), PortError> {
        self.out.flush().map_err(|e| PortError::io(&self.name, e))
    }

    fn write_record(&mut self, ts: Duration, frame: &[u8]) -> std::io::Result<()> {
        let keep = frame.len().min(TX_SNAPLEN as usize);
        let orig_len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        // A pcap timestamp's seconds are 32 bits; wrap rather than fail.
        let secs = ts.as_secs() as u32;
        let mut hdr = [0u8; 16];
        hdr[0..4].copy_from_slice(&secs.to_ne_bytes());
        hdr[4..8].copy_from_slice(&ts.subsec_micros().to_ne_bytes());
        hdr[8..12].copy_from_slice(&(keep as u32).to_ne_bytes());
        hdr[12..16].copy_from_slice(&orig_len.to_ne_bytes());
        self.out.write_all(&hdr)?;
        self.out.write_all(&frame[..keep])
    }
}

impl Port for PcapTxPort {
    fn name(&self) -> &str {
        &self.name
    }

    /// A file being written gives no input.
    fn recv(&mut self, _batch: &mut PacketBatch) -> Result<usize, PortError> {
        Ok(0)
    }

    fn send(&mut self, packets: &[Packet]) -> Result<usize, PortError> {
        // One timestamp per batch: the packets left together.
        let ts = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        for (i, p) in packets.iter().enumerate() {
            if let Err(e) = self.write_record(ts, p.data()) {
                // Stop at the first failure: it is almost always the disk
                // (full, gone) and would repeat for every packet.
                self.stats.tx_errors += 1;
                self.stats.tx_dropped += (packets.len() - i) as u64;
                return Err(PortError::io(&self.name, e));
            }
            self.stats.tx_packets += 1;
            self.stats.tx_bytes += p.len() as u64;
        }
        Ok(packets.len())
    }

    fn stats(&self) -> PortStats {
        self.stats
    }
}

impl Drop for PcapTxPort {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!(port = %self.name, error = %e, "pcap flush on close failed");
        }
    }
}

fn pcap_io_error(e: pcap_file::PcapError) -> std::io::Error {
    match e {
        pcap_file::PcapError::IoError(e) => e,
        other => std::io::Error::other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{PacketMeta, BATCH_SIZE};
    use pcap_file::pcap::{PcapPacket, PcapWriter};
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
    use pcap_file::pcapng::PcapNgWriter;

    fn frame(i: usize) -> Vec<u8> {
        let len = 60 + (i * 37) % 1400;
        let mut f: Vec<u8> = (0..len).map(|b| (b * 7 + i) as u8).collect();
        f[12] = 0x88;
        f[13] = 0xb5;
        f
    }

    fn drain(port: &mut PcapRxPort) -> Vec<(Vec<u8>, u32)> {
        let mut batch = PacketBatch::new();
        let mut out = Vec::new();
        loop {
            batch.clear();
            let n = port.recv(&mut batch).unwrap();
            if n == 0 {
                return out;
            }
            out.extend(
                batch
                    .packets()
                    .iter()
                    .map(|p| (p.data().to_vec(), p.meta.in_port)),
            );
        }
    }

    #[test]
    fn tx_port_writes_a_pcap_that_pcap_file_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.pcap");
        let frames: Vec<Vec<u8>> = (0..70).map(frame).collect();
        let mut port = PcapTxPort::create(&path).unwrap();
        for chunk in frames.chunks(BATCH_SIZE) {
            let pkts: Vec<Packet> = chunk.iter().map(|f| Packet::from_slice(f)).collect();
            assert_eq!(port.send(&pkts).unwrap(), chunk.len());
        }
        port.flush().unwrap();
        assert_eq!(port.stats().tx_packets, 70);

        // Flushed: readable while the port is still open.
        let mut r = PcapReader::new(File::open(&path).unwrap()).unwrap();
        assert_eq!(r.header().datalink, DataLink::ETHERNET);
        let mut got = Vec::new();
        while let Some(p) = r.next_packet() {
            let p = p.unwrap();
            assert_eq!(p.orig_len as usize, p.data.len());
            got.push(p.data.into_owned());
        }
        assert_eq!(got, frames);
    }

    #[test]
    fn tx_port_flushes_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drop.pcap");
        {
            let mut port = PcapTxPort::create(&path).unwrap();
            port.send(&[Packet::from_slice(&frame(1))]).unwrap();
        }
        let mut rx = PcapRxPort::open(&path, 9).unwrap();
        assert_eq!(drain(&mut rx), vec![(frame(1), 9)]);
    }

    #[test]
    fn rx_port_reads_classic_pcap_then_stays_quiet() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.pcap");
        let frames: Vec<Vec<u8>> = (0..40).map(frame).collect();
        {
            let mut w = PcapWriter::new(File::create(&path).unwrap()).unwrap();
            for f in &frames {
                w.write_packet(&PcapPacket::new(Duration::from_secs(1), f.len() as u32, f))
                    .unwrap();
            }
        }
        let mut port = PcapRxPort::open(&path, 5).unwrap();
        assert!(!port.is_exhausted());
        let got = drain(&mut port);
        assert!(port.is_exhausted());
        assert_eq!(got.len(), 40);
        for (g, f) in got.iter().zip(&frames) {
            assert_eq!(&g.0, f);
            assert_eq!(g.1, 5);
        }
        let mut batch = PacketBatch::new();
        for _ in 0..3 {
            assert_eq!(port.recv(&mut batch).unwrap(), 0, "end of file is Ok(0)");
        }
        assert_eq!(port.stats().rx_packets, 40);
        assert_eq!(port.stats().rx_errors, 0);
    }

    #[test]
    fn rx_port_reads_pcapng_and_skips_other_link_types() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.pcapng");
        {
            let mut w = PcapNgWriter::new(File::create(&path).unwrap()).unwrap();
            w.write_pcapng_block(InterfaceDescriptionBlock::new(DataLink::ETHERNET, 65535))
                .unwrap();
            w.write_pcapng_block(InterfaceDescriptionBlock::new(DataLink::RAW, 65535))
                .unwrap();
            for i in 0..6u32 {
                let f = frame(i as usize);
                let epb = EnhancedPacketBlock {
                    interface_id: i % 2,
                    timestamp: Duration::from_secs(1),
                    original_len: f.len() as u32,
                    data: std::borrow::Cow::Owned(f),
                    options: vec![],
                };
                w.write_pcapng_block(epb).unwrap();
            }
        }
        let mut port = PcapRxPort::open(&path, 2).unwrap();
        let got = drain(&mut port);
        let want: Vec<(Vec<u8>, u32)> = [0, 2, 4].iter().map(|&i| (frame(i), 2)).collect();
        assert_eq!(got, want);
        assert!(port.is_exhausted());
        let mem = crate::port::MemoryPort::from_pcap("m", &path, 1).unwrap();
        assert_eq!(mem.frame_count(), 3);
    }

    #[test]
    fn damaged_tail_ends_the_replay_without_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.pcap");
        {
            let mut port = PcapTxPort::create(&path).unwrap();
            let pkts: Vec<Packet> = (0..3).map(|i| Packet::from_slice(&frame(i))).collect();
            port.send(&pkts).unwrap();
        }
        let len = std::fs::metadata(&path).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 5).unwrap();
        let mut port = PcapRxPort::open(&path, 1).unwrap();
        let got = drain(&mut port);
        assert_eq!(got.len(), 2);
        assert!(port.is_exhausted());
        assert_eq!(port.stats().rx_errors, 1);
        assert_eq!(read_frames(&path).unwrap().len(), 2);
    }

    #[test]
    fn rejects_non_ethernet_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raw.pcap");
        {
            let header = PcapHeader {
                datalink: DataLink::RAW,
                ..PcapHeader::default()
            };
            PcapWriter::with_header(File::create(&path).unwrap(), header).unwrap();
        }
        assert!(matches!(
            PcapRxPort::open(&path, 1),
            Err(PortError::Config { .. })
        ));
        let junk = dir.path().join("junk");
        std::fs::write(&junk, b"not a capture file at all, no").unwrap();
        assert!(PcapRxPort::open(&junk, 1).is_err());
        assert!(PcapRxPort::open(dir.path().join("missing"), 1).is_err());
        std::fs::write(&junk, b"ab").unwrap();
        assert!(PcapRxPort::open(&junk, 1).is_err());
    }

    #[test]
    fn rx_port_sends_nothing_and_tx_port_receives_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pcap");
        let mut tx = PcapTxPort::create(&path).unwrap().named("pcap-out");
        assert_eq!(tx.name(), "pcap-out");
        let mut batch = PacketBatch::new();
        assert_eq!(tx.recv(&mut batch).unwrap(), 0);
        drop(tx);
        let mut rx = PcapRxPort::open(&path, 1).unwrap();
        assert_eq!(rx.send(&[Packet::from_slice(&frame(0))]).unwrap(), 0);
        assert_eq!(rx.stats().tx_dropped, 1);
        assert!(batch.push_frame(&frame(0), PacketMeta::default()));
    }
}
