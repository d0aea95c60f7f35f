//! The deterministic byte encoding shared by both chain models (primitives only).
//!
//! Everything hashed or signed is written with [`Writer`] and read back with [`Reader`]; the
//! rules are specified byte for byte in `docs/CHAINS.md`:
//!
//! - `u8`: one byte; `u32`, `u64`: fixed-width big-endian;
//! - fixed-size arrays (keys, hashes, signatures): the raw bytes, no length;
//! - byte strings and text: `u32` length, then the bytes;
//! - `Option<T>`: `0x00`, or `0x01` then `T`;
//! - lists: `u32` count, then each item.
//!
//! A [`Reader`] never panics and never allocates more than the input could justify: every length
//! and count is checked against the bytes that remain.

use thiserror::Error;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input ended early.
    #[error("unexpected end of input")]
    Eof,
    /// Bytes remained after the value.
    #[error("{0} trailing bytes")]
    Trailing(usize),
    /// A tag byte had no meaning here.
    #[error("unknown tag {0:#04x}")]
    BadTag(u8),
    /// A length or count was larger than allowed.
    #[error("length {0} over the limit")]
    TooLong(u64),
    /// Text was not valid UTF-8.
    #[error("text is not utf-8")]
    BadUtf8,
    /// Hex text was malformed.
    #[error("malformed hex")]
    BadHex,
    /// A fixed-size value had the wrong length.
    #[error("wrong length")]
    BadLength,
    /// A chain id was empty, too long, or not printable ASCII.
    #[error("invalid chain id")]
    BadChainId,
    /// A public key was not a valid curve point.
    #[error("invalid public key")]
    BadKey,
    /// A structural rule of the value was broken (e.g. unsorted validator set).
    #[error("invalid value: {0}")]
    Invalid(&'static str),
}

/// Appends values in the canonical encoding.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Writer::default()
    }

    /// A writer starting with `prefix` (a domain-separation tag).
    pub fn with_prefix(prefix: &[u8]) -> Self {
        Writer {
            buf: prefix.to_vec(),
        }
    }

    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// Four bytes, big-endian.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Eight bytes, big-endian.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Raw bytes, no length (fixed-size fields).
    pub fn raw(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }

    /// `u32` length then the bytes.
    ///
    /// Lengths above `u32::MAX` cannot occur for values this crate builds (transactions and
    /// blocks are far smaller); they are saturated, which makes such a value undecodable rather
    /// than ambiguous.
    pub fn bytes(&mut self, v: &[u8]) {
        self.u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        self.raw(v);
    }

    /// Text as a byte string.
    pub fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }

    /// A list count.
    pub fn count(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }

    /// `0x00`, or `0x01` followed by whatever `f` writes.
    pub fn option<T>(&mut self, v: Option<&T>, f: impl FnOnce(&mut Self, &T)) {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                f(self, x);
            }
        }
    }

    /// The bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// The finished encoding.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads values in the canonical encoding from untrusted bytes.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Read from `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Fixed number of raw bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Eof);
        }
        let (a, b) = self.rest.split_at(n);
        self.rest = b;
        Ok(a)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    /// Four bytes, big-endian.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Eight bytes, big-endian.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// A length-prefixed byte string of at most `max` bytes.
    pub fn bytes(&mut self, max: usize) -> Result<&'a [u8], DecodeError> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(DecodeError::TooLong(n as u64));
        }
        self.take(n)
    }

    /// A length-prefixed UTF-8 string of at most `max` bytes.
    pub fn string(&mut self, max: usize) -> Result<String, DecodeError> {
        let b = self.bytes(max)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| DecodeError::BadUtf8)
    }

    /// A list count, checked against the remaining input (each item takes at least
    /// `min_item` bytes) and against `max`.
    pub fn count(&mut self, min_item: usize, max: usize) -> Result<usize, DecodeError> {
        let n = self.u32()? as usize;
        if n > max || n.saturating_mul(min_item.max(1)) > self.rest.len() {
            return Err(DecodeError::TooLong(n as u64));
        }
        Ok(n)
    }

    /// An option: `0x00` → `None`, `0x01` → `Some(f(..))`.
    pub fn option<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => f(self).map(Some),
            t => Err(DecodeError::BadTag(t)),
        }
    }

    /// Succeeds iff every byte was read.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing(self.rest.len()))
        }
    }
}

/// Decode a whole value with `f`, refusing trailing bytes.
pub fn decode_all<'a, T>(
    bytes: &'a [u8],
    f: impl FnOnce(&mut Reader<'a>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let mut r = Reader::new(bytes);
    let v = f(&mut r)?;
    r.finish()?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_round_trip() {
        let mut w = Writer::with_prefix(b"XY");
        w.u8(7);
        w.u32(0x0102_0304);
        w.u64(5);
        w.bytes(b"abc");
        w.option(Some(&9u64), |w, v| w.u64(*v));
        w.option::<u64>(None, |w, v| w.u64(*v));
        let b = w.finish();
        assert_eq!(
            hex::encode(&b),
            "5859070102030400000000000000050000000361626301000000000000000900"
        );
        let mut r = Reader::new(&b[2..]);
        assert_eq!(r.u8().unwrap(), 7);
        assert_eq!(r.u32().unwrap(), 0x0102_0304);
        assert_eq!(r.u64().unwrap(), 5);
        assert_eq!(r.bytes(10).unwrap(), b"abc");
        assert_eq!(r.option(|r| r.u64()).unwrap(), Some(9));
        assert_eq!(r.option(|r| r.u64()).unwrap(), None);
        r.finish().unwrap();
    }

    #[test]
    fn huge_counts_are_refused_without_allocating() {
        let b = [0xff, 0xff, 0xff, 0xff, 1, 2];
        assert!(matches!(
            Reader::new(&b).count(1, usize::MAX),
            Err(DecodeError::TooLong(_))
        ));
        assert!(matches!(
            Reader::new(&b).bytes(usize::MAX),
            Err(DecodeError::Eof)
        ));
    }
}
