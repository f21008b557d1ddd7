//! Bounded byte readers and writers for OpenFlow's big-endian structures.
//!
//! A [`Reader`] never reads past its slice: every accessor returns
//! `Err(Short)` instead, and [`Reader::sub`] hands out a reader bounded to a
//! body length so that a lying length field cannot reach the next message.
//! A [`Writer`] fills in length fields after the body is written.

/// Why bytes could not be decoded at the codec level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("message too short: needed {needed} more bytes, {left} left")]
    Short { needed: usize, left: usize },
    #[error("{0} unexpected trailing bytes")]
    Trailing(usize),
}

/// A cursor over a byte slice.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The unread bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Takes the next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if n > self.remaining() {
            return Err(CodecError::Short {
                needed: n,
                left: self.remaining(),
            });
        }
        let b = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(b)
    }

    /// Takes the next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let b = self.bytes(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    /// A reader over the next `n` bytes (a body whose length a header gave).
    pub fn sub(&mut self, n: usize) -> Result<Reader<'a>, CodecError> {
        Ok(Reader::new(self.bytes(n)?))
    }

    pub fn skip(&mut self, n: usize) -> Result<(), CodecError> {
        self.bytes(n).map(|_| ())
    }

    pub fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u16(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Reads the next u16 without consuming it.
    pub fn peek_u16(&self) -> Result<u16, CodecError> {
        self.clone().u16()
    }

    /// Fails if anything is left.
    pub fn expect_empty(&self) -> Result<(), CodecError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(CodecError::Trailing(n)),
        }
    }
}

/// A growing big-endian byte buffer.
#[derive(Clone, Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

/// Where a length field waits to be filled in, see [`Writer::patch_u16`].
#[derive(Clone, Copy, Debug)]
pub struct Mark(usize);

impl Writer {
    pub fn new() -> Writer {
        Writer {
            buf: Vec::with_capacity(64),
        }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    pub fn u8(&mut self, v: u8) -> &mut Writer {
        self.buf.push(v);
        self
    }

    pub fn u16(&mut self, v: u16) -> &mut Writer {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Writer {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Writer {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn bytes(&mut self, b: &[u8]) -> &mut Writer {
        self.buf.extend_from_slice(b);
        self
    }

    pub fn zeros(&mut self, n: usize) -> &mut Writer {
        self.buf.resize(self.buf.len() + n, 0);
        self
    }

    /// Pads with zeros to a multiple of `align` bytes from `from`.
    pub fn pad_from(&mut self, from: Mark, align: usize) -> &mut Writer {
        let len = self.buf.len() - from.0;
        let pad = (align - len % align) % align;
        self.zeros(pad)
    }

    /// The current position, to patch a length into later.
    pub fn mark(&self) -> Mark {
        Mark(self.buf.len())
    }

    /// Bytes written since `m`.
    pub fn since(&self, m: Mark) -> usize {
        self.buf.len() - m.0
    }

    /// Writes `v` as a u16 at byte offset `at` from `m`.
    pub fn patch_u16(&mut self, m: Mark, at: usize, v: u16) {
        let i = m.0 + at;
        if let Some(dst) = self.buf.get_mut(i..i + 2) {
            dst.copy_from_slice(&v.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_is_bounded() {
        let data = [0, 1, 2, 3, 4, 5];
        let mut r = Reader::new(&data);
        assert_eq!(r.u16(), Ok(1));
        let mut s = r.sub(2).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.u16(), Ok(0x0203));
        assert_eq!(s.u8(), Err(CodecError::Short { needed: 1, left: 0 }));
        assert_eq!(r.remaining(), 2);
        assert_eq!(r.u32(), Err(CodecError::Short { needed: 4, left: 2 }));
        assert_eq!(r.expect_empty(), Err(CodecError::Trailing(2)));
    }

    #[test]
    fn writer_patches_lengths_and_pads() {
        let mut w = Writer::new();
        let m = w.mark();
        w.u16(7).u16(0).bytes(&[1, 2, 3]);
        let n = w.since(m) as u16;
        w.patch_u16(m, 2, n);
        w.pad_from(m, 8);
        assert_eq!(w.as_slice(), &[0, 7, 0, 7, 1, 2, 3, 0]);
    }
}
