//! The Internet checksum (RFC 1071) pieces that ports, segmentation and
//! traffic tools share: a ones-complement sum over big-endian 16-bit words,
//! and its fold to 16 bits.

/// Adds `data` to a ones-complement sum as big-endian 16-bit words (an odd
/// last byte is padded with zero), without folding. `data` must start on a
/// 16-bit boundary of what is being summed.
pub fn ones_sum(mut sum: u64, data: &[u8]) -> u64 {
    // 32-bit words into a 64-bit accumulator: the carries are folded at the
    // end, which gives the same 16-bit result twice as fast.
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        sum += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    let mut tail = [0u8; 4];
    tail[..rest.len()].copy_from_slice(rest);
    sum + u64::from(u32::from_be_bytes(tail))
}

/// Folds a sum's carries back in: the 16-bit ones-complement sum.
pub fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_sixteen_bit_words() {
        for len in 0..40usize {
            let d: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let mut want: u64 = 0;
            for c in d.chunks(2) {
                want += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
            }
            assert_eq!(fold(ones_sum(5, &d)), fold(want + 5), "len {len}");
        }
    }
}
