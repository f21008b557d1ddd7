//! Shared pieces of message bodies: OpenFlow 1.4+ properties (TLVs padded to
//! 8 bytes) and fixed-width NUL-padded strings.

use crate::ofp::codec::{Reader, Writer};
use crate::ofp::error::{BadProperty, OfpError};

/// An OpenFlow 1.4+ property kept as sent: its type and its payload (the
/// bytes after the 4-byte property header, padding excluded). Experimenter
/// properties keep their experimenter id and type at the payload's start.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Property {
    pub ty: u16,
    pub data: Vec<u8>,
}

/// The error for an experimenter property (type 0xffff) of a property list
/// that knows none, as Open vSwitch's `ofpprop_pull` and
/// `OFPPROP_UNKNOWN` give it: OFPBPC_BAD_LEN under the 8 bytes of
/// experimenter id and type, BAD_EXPERIMENTER for id 0, else BAD_EXP_TYPE.
pub fn unknown_experimenter(payload: &[u8]) -> OfpError {
    match payload.get(..4) {
        _ if payload.len() < 8 => BadProperty::BadLen.into(),
        Some([0, 0, 0, 0]) => BadProperty::BadExperimenter.into(),
        _ => BadProperty::BadExpType.into(),
    }
}

/// Reads every property in `r` as `(type, payload)`.
///
/// A property shorter than its header, or whose padded length runs past the
/// end, is OFPBPC_BAD_LEN, as Open vSwitch's `ofpprop_pull` has it.
pub fn parse_props<'a>(r: &mut Reader<'a>) -> Result<Vec<(u16, &'a [u8])>, OfpError> {
    let bad_len = || OfpError::BadProperty(BadProperty::BadLen);
    let mut out = Vec::new();
    while !r.is_empty() {
        if r.remaining() < 4 {
            return Err(bad_len());
        }
        let ty = r.u16()?;
        let len = usize::from(r.u16()?);
        if len < 4 || len.next_multiple_of(8) - 4 > r.remaining() {
            return Err(bad_len());
        }
        let data = r.bytes(len - 4)?;
        r.skip(len.next_multiple_of(8) - len)?;
        out.push((ty, data));
    }
    Ok(out)
}

/// Writes one property, padding it to 8 bytes.
pub fn put_prop(w: &mut Writer, ty: u16, data: &[u8]) {
    let m = w.mark();
    // Payloads that would overflow the 16-bit length cannot be sent; the
    // message-level length check rejects the message anyway.
    let len = u16::try_from(4 + data.len()).unwrap_or(u16::MAX);
    w.u16(ty).u16(len).bytes(data);
    w.pad_from(m, 8);
}

/// Writes properties kept as sent.
pub fn put_props(w: &mut Writer, props: &[Property]) {
    for p in props {
        put_prop(w, p.ty, &p.data);
    }
}

/// Reads a NUL-padded string field of `n` bytes: the bytes before the first
/// NUL, at most `n - 1` of them (the last byte is always a terminator, as
/// Open vSwitch reads it), decoded as UTF-8. Invalid UTF-8 is replaced
/// (U+FFFD), so such a name does not survive a round trip byte for byte.
pub fn get_str(r: &mut Reader<'_>, n: usize) -> Result<String, OfpError> {
    let b = r.bytes(n)?;
    let b = &b[..n.saturating_sub(1)];
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    Ok(String::from_utf8_lossy(&b[..end]).into_owned())
}

/// Writes `s` into an `n`-byte NUL-padded field, cut to at most `n - 1`
/// bytes at a character boundary (so that the field stays valid UTF-8).
pub fn put_str(w: &mut Writer, s: &str, n: usize) {
    let mut take = s.len().min(n.saturating_sub(1));
    while !s.is_char_boundary(take) {
        take -= 1;
    }
    w.bytes(&s.as_bytes()[..take]).zeros(n - take);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn props_round_trip_with_padding() {
        let mut w = Writer::new();
        put_prop(&mut w, 7, &[1, 2, 3]);
        put_prop(&mut w, 0xffff, &[0; 8]);
        assert_eq!(w.len(), 8 + 16);
        let mut r = Reader::new(w.as_slice());
        let props = parse_props(&mut r).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(props, vec![(7, &[1u8, 2, 3][..]), (0xffff, &[0u8; 8][..])]);
    }

    #[test]
    fn bad_props() {
        let bad = OfpError::BadProperty(BadProperty::BadLen);
        for b in [
            &[0u8, 1, 0][..],
            &[0, 1, 0, 2, 0, 0, 0, 0],
            &[0, 1, 0, 12, 0, 0, 0, 0],
        ] {
            assert_eq!(parse_props(&mut Reader::new(b)), Err(bad), "{b:?}");
        }
    }

    #[test]
    fn strings_are_cut_and_terminated() {
        let mut w = Writer::new();
        put_str(&mut w, "abcdefgh", 4);
        assert_eq!(w.as_slice(), b"abc\0");
        let mut w = Writer::new();
        put_str(&mut w, "ab\u{e9}", 4);
        assert_eq!(w.as_slice(), b"ab\0\0");
        assert_eq!(get_str(&mut Reader::new(b"abcd"), 4), Ok("abc".to_string()));
        assert_eq!(get_str(&mut Reader::new(b"a\0cd"), 4), Ok("a".to_string()));
    }
}
