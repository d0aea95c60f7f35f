//! The per-peer writer task: keeps one frame stream open to its peer while it is connected and
//! drains the peer's queue into it, in order, coalescing small frames into larger writes.

use super::PROTOCOL;
use super::framing::{self, READY};
use super::peers::{Backoff, LinkState, PeerLink};
use bytes::Bytes;
use futures::io::{ReadHalf, WriteHalf};
use futures::{AsyncReadExt, AsyncWriteExt, FutureExt};
use libp2p::{PeerId, Stream};
use libp2p_stream::Control;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Opening a stream (negotiation plus the peer's READY byte) must finish within this.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Delay before reopening after a failed open or a broken stream: doubles up to the max.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// Frames taken from the queue per write round.
const BATCH_BYTES: usize = 256 << 10;
/// Frames at least this large are written straight from their buffer instead of being copied
/// into the coalescing buffer.
const DIRECT_WRITE: usize = 64 << 10;

/// Runs until aborted (at shutdown) or until the link's state sender is gone.
pub(crate) async fn run(link: Arc<PeerLink>, mut control: Control) {
    let mut state = link.subscribe();
    let mut retry = Backoff::new(RETRY_MIN, RETRY_MAX);
    let mut batch = Vec::new();
    let mut scratch = Vec::new();
    loop {
        let Some(generation) = wait_connected(&mut state).await else {
            return;
        };
        match open(&mut control, link.peer_id).await {
            Ok(stream) => {
                tracing::debug!(peer = %link.node, "frame stream open");
                retry.reset();
                let end = pump(
                    &link,
                    stream,
                    generation,
                    &mut state,
                    &mut batch,
                    &mut scratch,
                );
                match end.await {
                    PumpEnd::Superseded => continue,
                    PumpEnd::Broken(reason) => {
                        tracing::debug!(peer = %link.node, %reason, "frame stream closed");
                    }
                }
            }
            Err(e) => {
                tracing::debug!(peer = %link.node, error = %e, "cannot open frame stream");
            }
        }
        // Wait before reopening, unless the link changes meanwhile (then act on it at once).
        let delay = retry.next_delay();
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            changed = state.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// Waits until the peer is connected; returns the connection epoch. `None` if the link is gone.
async fn wait_connected(state: &mut watch::Receiver<LinkState>) -> Option<u64> {
    loop {
        let s = *state.borrow_and_update();
        if s.connected {
            return Some(s.generation);
        }
        state.changed().await.ok()?;
    }
}

/// Opens a frame stream and waits for the peer's READY byte.
async fn open(control: &mut Control, peer: PeerId) -> io::Result<Stream> {
    let attempt = async {
        let mut stream = control
            .open_stream(peer, PROTOCOL)
            .await
            .map_err(io::Error::other)?;
        let mut ready = [0u8; 1];
        stream.read_exact(&mut ready).await?;
        if ready[0] != READY {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("expected READY byte, got {:#04x}", ready[0]),
            ));
        }
        Ok(stream)
    };
    tokio::time::timeout(OPEN_TIMEOUT, attempt)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "opening the frame stream"))?
}

enum PumpEnd {
    /// The link went down or reconnected: the stream belongs to a dead connection.
    Superseded,
    /// The stream failed or the peer closed it.
    Broken(String),
}

/// Drains the queue into `stream` until the stream breaks or the link changes epoch.
async fn pump(
    link: &PeerLink,
    stream: Stream,
    generation: u64,
    state: &mut watch::Receiver<LinkState>,
    batch: &mut Vec<Bytes>,
    scratch: &mut Vec<u8>,
) -> PumpEnd {
    let (reader, mut writer) = stream.split();
    // The peer sends nothing after READY: any read completing means it closed or reset.
    let mut closed = pin!(watch_closed(reader).fuse());
    loop {
        batch.clear();
        let bytes = link.take_batch(BATCH_BYTES, batch);
        if batch.is_empty() {
            if let Err(e) = writer.flush().await {
                return PumpEnd::Broken(e.to_string());
            }
            tokio::select! {
                () = link.queued() => continue,
                reason = &mut closed => return PumpEnd::Broken(reason),
                changed = state.changed() => {
                    if changed.is_err() {
                        return PumpEnd::Superseded;
                    }
                    let s = *state.borrow_and_update();
                    if !s.connected || s.generation != generation {
                        return PumpEnd::Superseded;
                    }
                    continue;
                }
            }
        }
        let frames = batch.len();
        match write_batch(&mut writer, batch, scratch).await {
            Ok(()) => link.record_out(frames, bytes),
            Err(e) => {
                // Some of these may have reached the peer; none will be retried (at most once).
                link.record_dropped(frames);
                return PumpEnd::Broken(e.to_string());
            }
        }
    }
}

async fn watch_closed(mut reader: ReadHalf<Stream>) -> String {
    let mut byte = [0u8; 1];
    match reader.read(&mut byte).await {
        Ok(0) => "closed by the peer".to_owned(),
        Ok(_) => "peer wrote on its frame stream".to_owned(),
        Err(e) => e.to_string(),
    }
}

/// Writes `batch` as frames: small ones are coalesced in `scratch`, large ones written directly.
async fn write_batch(
    writer: &mut WriteHalf<Stream>,
    batch: &[Bytes],
    scratch: &mut Vec<u8>,
) -> io::Result<()> {
    scratch.clear();
    for frame in batch {
        let header = framing::encode_header(frame.len()).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "frame longer than u32::MAX")
        })?;
        scratch.extend_from_slice(&header);
        if frame.len() >= DIRECT_WRITE {
            writer.write_all(scratch).await?;
            scratch.clear();
            writer.write_all(frame).await?;
        } else {
            scratch.extend_from_slice(frame);
        }
    }
    if !scratch.is_empty() {
        writer.write_all(scratch).await?;
    }
    Ok(())
}
