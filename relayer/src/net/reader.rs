//! Inbound side: accepts frame streams and runs one reader task per peer, which decodes frames
//! and hands them to the event channel.

use super::NetEvent;
use super::framing::{self, FrameError, READY};
use super::peers::{PeerLink, PeerTable, Task};
use futures::io::BufReader;
use futures::{AsyncWriteExt, StreamExt};
use libp2p::{PeerId, Stream};
use libp2p_stream::IncomingStreams;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Read buffer per inbound stream (small frames are decoded from it without extra reads).
const READ_BUFFER: usize = 64 << 10;

/// Accepts inbound frame streams until aborted. A new stream from a peer replaces (stops) that
/// peer's previous reader: a writer only opens a new stream once its old one is dead to it.
pub(crate) async fn accept_loop(
    mut incoming: IncomingStreams,
    table: Arc<PeerTable>,
    events: mpsc::Sender<NetEvent>,
    max_frame: usize,
) {
    // Dropping this map (when this task is aborted) aborts every reader.
    let mut readers: HashMap<PeerId, Task> = HashMap::new();
    while let Some((peer, stream)) = incoming.next().await {
        let Some(link) = table.by_peer_id(&peer).cloned() else {
            // Cannot happen (the gate refuses strangers before any stream), but never trust it.
            tracing::warn!(%peer, "frame stream from an unconfigured peer dropped");
            continue;
        };
        let previous = readers.remove(&peer);
        let task = Task::spawn(read_stream(
            link,
            stream,
            events.clone(),
            max_frame,
            previous,
        ));
        readers.insert(peer, task);
    }
}

/// Reads frames from one inbound stream until it ends, fails or carries a bad frame.
async fn read_stream(
    link: Arc<PeerLink>,
    mut stream: Stream,
    events: mpsc::Sender<NetEvent>,
    max_frame: usize,
    previous: Option<Task>,
) {
    // Finish the old stream's reader first, so frames are delivered in sending order.
    if let Some(previous) = previous {
        previous.stop().await;
    }
    if let Err(e) = async {
        stream.write_all(&[READY]).await?;
        stream.flush().await
    }
    .await
    {
        tracing::debug!(peer = %link.node, error = %e, "cannot acknowledge frame stream");
        return;
    }
    let mut reader = BufReader::with_capacity(READ_BUFFER, stream);
    let mut reading = link.reading();
    loop {
        match framing::read_frame(&mut reader, max_frame).await {
            Ok(Some(bytes)) => {
                // Paused by the consumer: the frame is held here and nothing more is read, so
                // Yamux flow control stops the peer's writer and its frames wait in its queue.
                if reading.wait_for(|on| *on).await.is_err() {
                    return;
                }
                link.record_in(bytes.len());
                let from = link.node;
                // If nobody listens any more, keep draining the stream rather than resetting
                // it (which would only make the peer reopen it).
                let _ = events.send(NetEvent::Frame { from, bytes }).await;
            }
            Ok(None) => {
                tracing::debug!(peer = %link.node, "frame stream ended");
                return;
            }
            Err(e @ FrameError::TooLarge { .. }) => {
                tracing::warn!(peer = %link.node, error = %e, "bad frame, resetting the stream");
                // Dropping the stream without closing it makes Yamux reset it.
                drop(reader);
                let from = link.node;
                let reason = e.to_string();
                let _ = events.send(NetEvent::BadFrame { from, reason }).await;
                return;
            }
            Err(e) => {
                // A broken connection or a writer cut off mid-frame: not the peer's fault.
                tracing::debug!(peer = %link.node, error = %e, "frame stream broken");
                return;
            }
        }
    }
}
