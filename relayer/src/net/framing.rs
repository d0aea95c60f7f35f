//! The byte format of a frame stream, and an async decoder that refuses oversized frames.
//!
//! A frame stream is opened by one relay (the *writer*) on a Yamux substream negotiated for
//! [`PROTOCOL`](super::PROTOCOL). The accepting relay (the *reader*) first writes the single byte
//! [`READY`] so the writer knows the stream was really taken (libp2p may drop an inbound stream
//! it has no room for); after that only the writer sends, a sequence of frames:
//!
//! ```text
//! frame := length: u32 big-endian | payload: length bytes
//! ```
//!
//! A reader refuses a length above its limit as soon as it has read the 4-byte prefix, before
//! allocating or reading the payload. An end of stream between two frames is a clean close;
//! inside a frame it is [`FrameError::Truncated`].

use bytes::Bytes;
use futures::{AsyncRead, AsyncReadExt};
use std::io;

/// Length of the frame header (the big-endian `u32` payload length).
pub const HEADER_LEN: usize = 4;

/// The byte the accepting side writes once, right after accepting a frame stream.
pub const READY: u8 = 0x01;

/// The largest payload a header can describe.
pub const MAX_ENCODABLE: usize = u32::MAX as usize;

/// How much of an announced payload is allocated up front; the buffer then grows (doubling) as
/// bytes actually arrive, so a peer announcing a large frame and stalling holds little memory.
const INITIAL_ALLOC: usize = 1 << 20;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The header announces more than the reader's limit. Nothing was allocated for it.
    #[error("frame length {len} exceeds the limit of {max} bytes")]
    TooLarge {
        /// The announced payload length.
        len: usize,
        /// The reader's limit.
        max: usize,
    },
    /// The stream ended inside a frame (header or payload).
    #[error("stream ended inside a frame: got {got} of {expected} bytes")]
    Truncated {
        /// Bytes expected for the part being read (header or payload).
        expected: usize,
        /// Bytes received before the end.
        got: usize,
    },
    /// The underlying stream failed (reset, connection closed, ...).
    #[error("stream i/o error: {0}")]
    Io(#[from] io::Error),
}

/// The header for a payload of `len` bytes, or `None` if `len` does not fit in a `u32`.
pub fn encode_header(len: usize) -> Option<[u8; HEADER_LEN]> {
    u32::try_from(len).ok().map(u32::to_be_bytes)
}

/// Appends one encoded frame (header and payload) to `buf`.
///
/// Returns `false`, leaving `buf` untouched, if the payload is longer than [`MAX_ENCODABLE`].
pub fn encode_into(buf: &mut Vec<u8>, payload: &[u8]) -> bool {
    let Some(header) = encode_header(payload.len()) else {
        return false;
    };
    buf.reserve(HEADER_LEN + payload.len());
    buf.extend_from_slice(&header);
    buf.extend_from_slice(payload);
    true
}

/// Checks a decoded header against `max`, returning the payload length.
pub fn check_header(header: [u8; HEADER_LEN], max: usize) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(header);
    match usize::try_from(len) {
        Ok(len) if len <= max => Ok(len),
        // On targets where usize < u32 the length cannot be represented: too large as well.
        Ok(len) => Err(FrameError::TooLarge { len, max }),
        Err(_) => Err(FrameError::TooLarge {
            len: usize::MAX,
            max,
        }),
    }
}

/// Reads the next frame of at most `max` payload bytes.
///
/// Returns `Ok(None)` on a clean end of stream (between frames). Never panics on any input.
pub async fn read_frame<R>(reader: &mut R, max: usize) -> Result<Option<Bytes>, FrameError>
where
    R: AsyncRead + Unpin,
{
    let mut header = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        let n = reader.read(&mut header[got..]).await?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(FrameError::Truncated {
                expected: HEADER_LEN,
                got,
            });
        }
        got += n;
    }
    let len = check_header(header, max)?;
    let mut payload = vec![0u8; len.min(INITIAL_ALLOC)];
    let mut filled = 0;
    while filled < len {
        if filled == payload.len() {
            let grown = payload.len().saturating_mul(2).clamp(1, len);
            payload.resize(grown, 0);
        }
        let n = reader.read(&mut payload[filled..]).await?;
        if n == 0 {
            return Err(FrameError::Truncated {
                expected: len,
                got: filled,
            });
        }
        filled += n;
    }
    Ok(Some(Bytes::from(payload)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::io::Cursor;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    fn encode_all(frames: &[&[u8]]) -> Vec<u8> {
        let mut buf = Vec::new();
        for f in frames {
            assert!(encode_into(&mut buf, f));
        }
        buf
    }

    #[test]
    fn round_trip_and_clean_end() {
        let big = vec![7u8; 3 << 20];
        let bytes = encode_all(&[b"hello", b"", &big, b"x"]);
        let mut r = Cursor::new(bytes);
        block_on(async {
            let max = 4 << 20;
            assert_eq!(
                read_frame(&mut r, max).await.unwrap().unwrap(),
                &b"hello"[..]
            );
            assert_eq!(read_frame(&mut r, max).await.unwrap().unwrap(), &b""[..]);
            assert_eq!(read_frame(&mut r, max).await.unwrap().unwrap(), &big[..]);
            assert_eq!(read_frame(&mut r, max).await.unwrap().unwrap(), &b"x"[..]);
            assert!(read_frame(&mut r, max).await.unwrap().is_none());
        });
    }

    #[test]
    fn header_is_big_endian_u32() {
        assert_eq!(encode_header(0x0102_0304), Some([1, 2, 3, 4]));
        assert_eq!(encode_header(MAX_ENCODABLE), Some([0xff; 4]));
        #[cfg(target_pointer_width = "64")]
        assert_eq!(encode_header(MAX_ENCODABLE + 1), None);
    }

    #[test]
    fn limit_is_inclusive() {
        let bytes = encode_all(&[&[1u8; 10]]);
        block_on(async {
            assert!(
                read_frame(&mut Cursor::new(bytes.clone()), 10)
                    .await
                    .is_ok()
            );
            assert!(matches!(
                read_frame(&mut Cursor::new(bytes), 9).await,
                Err(FrameError::TooLarge { len: 10, max: 9 })
            ));
        });
    }

    /// Yields its bytes, then fails every further read: a decoder that tried to read (or wait
    /// for) the payload of an oversized frame would report `Io`, not `TooLarge`.
    struct HeaderThenFail(Vec<u8>);

    impl AsyncRead for HeaderThenFail {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            if self.0.is_empty() {
                return Poll::Ready(Err(io::Error::other("payload must not be read")));
            }
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0.drain(..n);
            Poll::Ready(Ok(n))
        }
    }

    #[test]
    fn oversized_length_is_refused_before_reading_the_payload() {
        block_on(async {
            let mut r = HeaderThenFail(vec![0xff, 0xff, 0xff, 0xff]);
            match read_frame(&mut r, 64 << 20).await {
                Err(FrameError::TooLarge { len, max }) => {
                    assert_eq!(len, u32::MAX as usize);
                    assert_eq!(max, 64 << 20);
                }
                other => panic!("expected TooLarge, got {other:?}"),
            }
        });
    }

    #[test]
    fn truncation_is_reported() {
        block_on(async {
            let r = read_frame(&mut Cursor::new(vec![0u8, 0]), 100).await;
            assert!(matches!(
                r,
                Err(FrameError::Truncated {
                    expected: 4,
                    got: 2
                })
            ));
            let r = read_frame(&mut Cursor::new(vec![0, 0, 0, 5, 1, 2]), 100).await;
            assert!(matches!(
                r,
                Err(FrameError::Truncated {
                    expected: 5,
                    got: 2
                })
            ));
        });
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics(input in proptest::collection::vec(proptest::num::u8::ANY, 0..64), max in 0usize..32) {
            block_on(async {
                let mut r = Cursor::new(input);
                // Decode until the input is exhausted or invalid; the point is not to panic.
                for _ in 0..64 {
                    match read_frame(&mut r, max).await {
                        Ok(Some(f)) => assert!(f.len() <= max),
                        Ok(None) | Err(_) => break,
                    }
                }
            });
        }
    }
}
