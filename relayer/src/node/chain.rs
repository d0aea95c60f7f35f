//! The two tasks that talk to the validator beside the relay: the follower (finalized blocks,
//! in order, from a height) and the submitter (`BridgeIn` transactions, retried until the chain
//! answers). Both report to the driver through one channel of [`ChainEvent`]s and never block
//! it.

use chains::adapter::{AdapterError, ChainFollower, ChainSubmitter};
use chains::devnet::client::DevnetClient;
use chains::engine::AnyBlock;
use chains::tx::Tx;
use chains::types::{Height, TransferId};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

/// Blocks fetched per call.
const FOLLOW_CHUNK: usize = 64;
/// Concurrent submissions in flight.
const SUBMIT_PARALLEL: usize = 32;
/// First retry delay after a chain error; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest retry delay.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What the chain tasks tell the driver.
#[derive(Debug)]
pub enum ChainEvent {
    /// The chain's finalized height when the follower started.
    Tip(Height),
    /// The next finalized block.
    Block(Box<AnyBlock>),
    /// The chain answered (a poll found no new block).
    Alive,
    /// A call failed; the task retries.
    Error(String),
    /// The chain refused a `BridgeIn` for a transfer it has not applied.
    Rejected {
        /// The transfer.
        id: TransferId,
        /// The chain's reason.
        reason: String,
    },
}

/// One `BridgeIn` to submit.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The transfer it applies.
    pub id: TransferId,
    /// The transaction.
    pub tx: Tx,
}

fn backoff(d: Duration) -> Duration {
    (d * 2).min(MAX_BACKOFF)
}

/// Follows finalized blocks from `from`; ends when the driver drops its receiver.
pub fn spawn_follower(
    client: DevnetClient,
    from: Height,
    events: mpsc::Sender<ChainEvent>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut delay = MIN_BACKOFF;
        loop {
            match ChainFollower::finalized_height(&client).await {
                Ok(h) => {
                    if events.send(ChainEvent::Tip(h)).await.is_err() {
                        return;
                    }
                    break;
                }
                Err(e) => {
                    if events.send(ChainEvent::Error(e.to_string())).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(delay).await;
                    delay = backoff(delay);
                }
            }
        }
        let mut next = Height(from.0.max(1));
        let mut delay = MIN_BACKOFF;
        loop {
            let ev = match ChainFollower::blocks_from(&client, next, FOLLOW_CHUNK).await {
                Ok(blocks) if blocks.is_empty() => {
                    delay = MIN_BACKOFF;
                    vec![ChainEvent::Alive]
                }
                Ok(blocks) => {
                    delay = MIN_BACKOFF;
                    let mut out = Vec::with_capacity(blocks.len());
                    for b in blocks {
                        if b.height() != next {
                            out.push(ChainEvent::Error(format!(
                                "chain returned block {} when {next} was next",
                                b.height()
                            )));
                            break;
                        }
                        next = Height(next.0 + 1);
                        out.push(ChainEvent::Block(Box::new(b)));
                    }
                    out
                }
                Err(e) => {
                    tokio::time::sleep(delay).await;
                    delay = backoff(delay);
                    vec![ChainEvent::Error(e.to_string())]
                }
            };
            for e in ev {
                if events.send(e).await.is_err() {
                    return;
                }
            }
        }
    })
}

/// Submits every [`Submission`] it is given, retrying while the chain is unreachable; ends when
/// the driver drops the sender.
pub fn spawn_submitter(
    client: DevnetClient,
    mut queue: mpsc::UnboundedReceiver<Submission>,
    events: mpsc::Sender<ChainEvent>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let permits = Arc::new(Semaphore::new(SUBMIT_PARALLEL));
        while let Some(s) = queue.recv().await {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let client = client.clone();
            let events = events.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let mut delay = MIN_BACKOFF;
                loop {
                    match ChainSubmitter::submit(&client, &s.tx).await {
                        Ok(_) => return,
                        Err(AdapterError::Rejected(reason)) => {
                            // Refused: fine if the transfer is already applied (another relay's
                            // copy won); otherwise report it.
                            match ChainSubmitter::transfer_applied(&client, s.id).await {
                                Ok(true) => {}
                                _ => {
                                    let _ = events
                                        .send(ChainEvent::Rejected { id: s.id, reason })
                                        .await;
                                }
                            }
                            return;
                        }
                        Err(e @ AdapterError::Unavailable(_)) => {
                            if events.send(ChainEvent::Error(e.to_string())).await.is_err() {
                                return;
                            }
                            tokio::time::sleep(delay).await;
                            delay = backoff(delay);
                        }
                    }
                }
            });
        }
    })
}
