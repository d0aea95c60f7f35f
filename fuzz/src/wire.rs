//! The `wire_open` check: what a peer relay can send, from the first byte of a frame stream to a
//! decoded [`Batch`].
//!
//! Input: `chunk ‖ stream`. `stream` is the bytes a writer sends on a frame stream; it is read
//! with [`framing::read_frame`] under the relay's real frame limit ([`wire::MAX_BATCH_LEN`]),
//! `chunk` (1..=255) bytes per read so partial reads are exercised. Every frame is then handled
//! as the node driver handles it, with [`wire::open`], and once more with its body re-signed by
//! the sender's key (when its head decodes, so that it can be signed), so that what `open` does
//! after the signature check is reached by mutated bodies too.
//!
//! Properties (any violation panics, which the fuzzer reports):
//! - nothing panics;
//! - frames never exceed the limit, and re-encoding the frames read reproduces the stream read
//!   so far (the whole stream on a clean end);
//! - a batch that opens seals again to the same batch (`open(seal(b)) == b`), with
//!   [`wire::sealed_len`] equal to the sealed length;
//! - a body that [`wire::body_digest`] accepts, correctly signed, is refused only for its
//!   envelope (sender, recipient), never for its layout or signature; a body it refuses is
//!   refused by `open` as undecodable.

use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use bytes::Bytes;
use ed25519_dalek::{Signer, SigningKey};
use futures::executor::block_on;
use futures::io::{AsyncRead, BufReader};
use relayer::net::framing::{self, FrameError};
use relayer::protocol::Batch;
use relayer::types::{NodeId, Side};
use relayer::wire::{self, WireError};

/// The relay that sealed every seed batch (the authenticated sender of the stream).
pub fn sender() -> NodeId {
    NodeId::new(Side::A, 0)
}

/// The relay reading the stream.
pub fn me() -> NodeId {
    NodeId::new(Side::B, 1)
}

/// The sender's batch-signing key (deterministic, so seeds and the check agree).
pub fn sender_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| wire::key_from_seed(b"fuzz/wire/A0"))
}

/// The frame limit a relay reads with (the default `NetConfig::max_frame`).
pub const MAX_FRAME: usize = wire::MAX_BATCH_LEN;

/// An in-memory stream that hands out at most `chunk` bytes per read.
#[derive(Debug)]
struct Chunked<'a> {
    rest: &'a [u8],
    chunk: usize,
}

impl AsyncRead for Chunked<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        let n = buf.len().min(self.chunk).min(self.rest.len());
        let (now, later) = self.rest.split_at(n);
        buf[..n].copy_from_slice(now);
        self.rest = later;
        Poll::Ready(Ok(n))
    }
}

/// Runs the whole check on one input.
pub fn check(data: &[u8]) {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    for frame in read_frames(stream, usize::from(chunk).max(1)) {
        open_frame(&frame);
        open_resigned_body(&frame);
    }
}

/// Reads every frame of `stream`, checking the framing properties; returns the frames read
/// before the end or the first error.
fn read_frames(stream: &[u8], chunk: usize) -> Vec<Bytes> {
    let mut reader = BufReader::with_capacity(
        chunk.saturating_mul(3),
        Chunked {
            rest: stream,
            chunk,
        },
    );
    let mut frames = Vec::new();
    let mut encoded = Vec::new();
    block_on(async {
        loop {
            match framing::read_frame(&mut reader, MAX_FRAME).await {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= MAX_FRAME, "frame above the limit");
                    assert!(
                        framing::encode_into(&mut encoded, &frame),
                        "frame re-encodes"
                    );
                    assert!(
                        stream.starts_with(&encoded),
                        "re-encoded frames differ from the stream"
                    );
                    frames.push(frame);
                }
                Ok(None) => {
                    assert_eq!(encoded, stream, "a clean end must consume the whole stream");
                    break;
                }
                Err(FrameError::TooLarge { len, max }) => {
                    assert!(len > max, "TooLarge for {len} ≤ {max}");
                    break;
                }
                Err(FrameError::Truncated { expected, got }) => {
                    assert!(got < expected, "Truncated with {got} of {expected}");
                    break;
                }
                Err(FrameError::Io(e)) => panic!("an in-memory stream cannot fail: {e}"),
            }
        }
    });
    frames
}

/// `open` as the node driver calls it, plus the round trip of whatever opened.
fn open_frame(frame: &Bytes) {
    let key = sender_key().verifying_key();
    if let Ok(batch) = wire::open(frame, sender(), &key, me()) {
        assert_round_trip(&batch);
    }
}

/// The frame's body (what follows the version byte, up to the signature) signed correctly, so
/// that only its envelope can be refused.
fn open_resigned_body(frame: &[u8]) {
    let body = frame
        .get(1..frame.len().saturating_sub(wire::SIGNATURE_LEN))
        .unwrap_or(frame);
    if 1 + body.len() + wire::SIGNATURE_LEN > wire::MAX_BATCH_LEN {
        return;
    }
    let key = sender_key().verifying_key();
    let Some(sealed) = sign_body(body) else {
        // Unsignable: `open` must refuse it as undecodable, whatever signature it carries.
        let mut unsigned = vec![wire::VERSION];
        unsigned.extend_from_slice(body);
        unsigned.extend_from_slice(&[0; wire::SIGNATURE_LEN]);
        match wire::open(&Bytes::from(unsigned), sender(), &key, me()) {
            Err(WireError::Decode(_)) => return,
            other => panic!("a body without a digest opened as {other:?}"),
        }
    };
    match wire::open(&Bytes::from(sealed), sender(), &key, me()) {
        Ok(batch) => assert_round_trip(&batch),
        Err(WireError::WrongSender { .. } | WireError::WrongRecipient(_)) => {}
        Err(e) => panic!("a correctly signed body was refused for its layout: {e}"),
    }
}

/// `VERSION ‖ body ‖ sign("PICSOU-BATCH" ‖ VERSION ‖ body_digest(body))`, as [`wire::seal`]
/// lays it out; `None` if the body has no digest (its head does not decode or its payloads do
/// not fill it).
pub fn sign_body(body: &[u8]) -> Option<Vec<u8>> {
    let digest = wire::body_digest(body).ok()?;
    let signature = sender_key().sign(&wire::signed_message(wire::VERSION, &digest));
    let mut out = Vec::with_capacity(1 + body.len() + wire::SIGNATURE_LEN);
    out.push(wire::VERSION);
    out.extend_from_slice(body);
    out.extend_from_slice(&signature.to_bytes());
    Some(out)
}

fn assert_round_trip(batch: &Batch) {
    let sealed = Bytes::from(wire::seal(sender(), me(), batch, sender_key()));
    assert_eq!(
        sealed.len(),
        wire::sealed_len(sender(), me(), batch),
        "sealed_len disagrees with seal"
    );
    let key = sender_key().verifying_key();
    match wire::open(&sealed, sender(), &key, me()) {
        Ok(again) => assert_eq!(&again, batch, "open(seal(batch)) != batch"),
        Err(e) => panic!("a sealed batch does not open: {e}"),
    }
}
