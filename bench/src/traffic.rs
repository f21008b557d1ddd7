//! Generated traffic: one Ethernet/IPv4 UDP or TCP frame per flow, with
//! valid checksums, flows told apart by addresses and ports.

use anyhow::{bail, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Udp,
    Tcp,
    Mix,
}

/// One frame for each of `flows` flows, each `size` bytes long.
pub fn generate(flows: u32, size: usize, kind: Kind) -> Result<Vec<Vec<u8>>> {
    let min = 14 + 20 + if kind == Kind::Udp { 8 } else { 20 };
    if size < min || size > 9000 {
        bail!("--size must be between {min} and 9000 bytes for this traffic, not {size}");
    }
    Ok((0..flows).map(|f| frame(f, size, kind)).collect())
}

/// The frame of flow `f`: source 10.1.x.y and destination 10.2.x.y walk
/// through the flow number, ports too, so every flow has its own 5-tuple.
pub fn frame(f: u32, size: usize, kind: Kind) -> Vec<u8> {
    let tcp = match kind {
        Kind::Udp => false,
        Kind::Tcp => true,
        Kind::Mix => f % 2 == 1,
    };
    let mut b = vec![0u8; size];
    b[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    b[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    b[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut b[14..];
    let ip_len = (size - 14) as u16;
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[8] = 64;
    ip[9] = if tcp { 6 } else { 17 };
    let src = 0x0a01_0000u32 | (f & 0xffff);
    let dst = 0x0a02_0000u32 | ((f >> 8) & 0xffff);
    ip[12..16].copy_from_slice(&src.to_be_bytes());
    ip[16..20].copy_from_slice(&dst.to_be_bytes());
    let c = checksum(&ip[..20], 0);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let sport = 1024 + (f % 60000) as u16;
    let dport = 1 + ((f / 60000) % 65535) as u16;
    let l4 = &mut b[34..];
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    let l4_len = l4.len();
    if tcp {
        l4[12] = 5 << 4;
        l4[13] = 0x10; // ACK
        l4[14..16].copy_from_slice(&8192u16.to_be_bytes());
    } else {
        l4[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
    }
    let pseudo = pseudo_sum(src, dst, if tcp { 6 } else { 17 }, l4_len as u16);
    let c = checksum(&b[34..], pseudo);
    let at = if tcp { 34 + 16 } else { 34 + 6 };
    let c = if !tcp && c == 0 { 0xffff } else { c };
    b[at..at + 2].copy_from_slice(&c.to_be_bytes());
    b
}

fn pseudo_sum(src: u32, dst: u32, proto: u8, len: u16) -> u32 {
    (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto as u32 + len as u32
}

fn checksum(data: &[u8], seed: u32) -> u16 {
    let mut sum = seed;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += w as u32;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_distinct_and_checksums_verify() {
        let frames = generate(1000, 64, Kind::Mix).unwrap_or_default();
        assert_eq!(frames.len(), 1000);
        let mut tuples = std::collections::HashSet::new();
        for f in &frames {
            assert_eq!(f.len(), 64);
            assert_eq!(checksum(&f[14..34], 0), 0, "IPv4 header checksum");
            let src = u32::from_be_bytes([f[26], f[27], f[28], f[29]]);
            let dst = u32::from_be_bytes([f[30], f[31], f[32], f[33]]);
            assert_eq!(
                checksum(&f[34..], pseudo_sum(src, dst, f[23], (f.len() - 34) as u16)),
                0,
                "L4 checksum"
            );
            tuples.insert((
                src,
                dst,
                f[23],
                u16::from_be_bytes([f[34], f[35]]),
                u16::from_be_bytes([f[36], f[37]]),
            ));
        }
        assert_eq!(tuples.len(), 1000);
        assert!(generate(1, 20, Kind::Udp).is_err());
    }
}
