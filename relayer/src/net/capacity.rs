//! The raw capacity of one long-lived [`crate::net`] stream between two relays on loopback: the
//! reference limit the benchmarks compare protocol goodput against.
//!
//! [`measure`] starts two relays (`A0` sends, `A1` receives), each with its own swarm (TCP +
//! Noise + Yamux on `127.0.0.1`), waits until they are connected, then has `A0` push frames of
//! one size to `A1` through [`super::Net::send`] for a fixed time, keeping at most
//! [`CapacityProbe::window_bytes`] in flight (sent but not yet received) so that the sender never
//! overruns its queue and nothing is dropped. The result counts the frames `A1` received during
//! that time.
//!
//! [`measure_with`] does the same but lets the caller build each frame on the sending side and
//! handle each frame on the receiving side (e.g. sealing and opening signed batches), so that
//! per-frame work is measured together with the transport.
//!
//! Both ends run as tasks of the caller's tokio runtime, like the relays of a benchmark: on a
//! multi-threaded runtime the sending and receiving connections run on different workers.

use super::{NetConfig, NetError, NetEvent, PeerConfig};
use crate::types::{NodeId, Side};
use bytes::Bytes;
use libp2p::Multiaddr;
use libp2p::identity::Keypair;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long the two relays may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// If the receiver counts nothing for this long while frames are in flight, the run fails.
const STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What to measure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapacityProbe {
    /// Bytes per frame (the payload of one `Net::send`).
    pub frame_len: usize,
    /// How long to send.
    pub duration: Duration,
    /// Most payload bytes in flight at once (at least four frames are always allowed).
    pub window_bytes: usize,
}

impl CapacityProbe {
    /// A probe of `frame_len`-byte frames for `duration`, with a 32 MiB in-flight window.
    pub fn new(frame_len: usize, duration: Duration) -> Self {
        CapacityProbe {
            frame_len,
            duration,
            window_bytes: 32 << 20,
        }
    }

    fn window_frames(&self) -> u64 {
        (self.window_bytes / self.frame_len.max(1)).max(4) as u64
    }
}

/// What one measurement found.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamCapacity {
    /// Bytes per frame.
    pub frame_len: usize,
    /// Frames the receiver got while the sender was sending.
    pub frames: u64,
    /// Seconds the sender was sending.
    pub secs: f64,
    /// Frames the network layer dropped (should be zero: the window prevents it).
    pub dropped: u64,
}

impl StreamCapacity {
    /// Frames per second received.
    pub fn frames_per_s(&self) -> f64 {
        if self.secs > 0.0 {
            self.frames as f64 / self.secs
        } else {
            0.0
        }
    }

    /// Frame payload bytes per second received.
    pub fn bytes_per_s(&self) -> f64 {
        self.frames_per_s() * self.frame_len as f64
    }
}

/// Why a measurement failed.
#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    /// A relay's network layer could not start or send.
    #[error("network: {0}")]
    Net(#[from] NetError),
    /// The two relays did not connect in time.
    #[error("the two relays did not connect within {0:?}")]
    NotConnected(Duration),
    /// A listener reported no address.
    #[error("relay A1 reported no listen address")]
    NoAddress,
    /// Frames were in flight but none arrived for a long time.
    #[error("no frame arrived for {0:?} with frames in flight")]
    Stalled(Duration),
    /// The probe cannot run.
    #[error("invalid probe: {0}")]
    Invalid(String),
}

/// Measures raw frames: every frame is the same `frame_len` bytes, the receiver only counts.
pub async fn measure(probe: &CapacityProbe) -> Result<StreamCapacity, CapacityError> {
    let frame = Bytes::from(vec![0xab; probe.frame_len]);
    measure_with(probe, move || frame.clone(), |_| true).await
}

/// Measures with per-frame work: `make` builds each frame on the sending side (its length should
/// be about `probe.frame_len`, which only sizes the window and the report), `check` handles each
/// frame on the receiving side and says whether it was valid. An invalid frame fails nothing but
/// is not counted.
pub async fn measure_with<M, C>(
    probe: &CapacityProbe,
    mut make: M,
    mut check: C,
) -> Result<StreamCapacity, CapacityError>
where
    M: FnMut() -> Bytes,
    C: FnMut(&Bytes) -> bool + Send + 'static,
{
    if probe.frame_len == 0 || probe.duration.is_zero() {
        return Err(CapacityError::Invalid(
            "frame length and duration must be positive".into(),
        ));
    }
    let a0 = NodeId::new(Side::A, 0);
    let a1 = NodeId::new(Side::A, 1);
    let k0 = Keypair::generate_ed25519();
    let k1 = Keypair::generate_ed25519();
    let any_port: Multiaddr = "/ip4/127.0.0.1/tcp/0"
        .parse()
        .map_err(|e| CapacityError::Invalid(format!("{e}")))?;
    // A1 never dials A0 (only the smaller node id dials), so A0's address is never used.
    let never_dialed: Multiaddr = "/ip4/127.0.0.1/tcp/1"
        .parse()
        .map_err(|e| CapacityError::Invalid(format!("{e}")))?;

    let cfg1 = NetConfig::new(
        a1,
        k1.clone(),
        vec![any_port.clone()],
        vec![PeerConfig {
            node: a0,
            peer_id: k0.public().to_peer_id(),
            addr: never_dialed,
        }],
    );
    let (net1, mut rx1) = super::start(cfg1).await?;
    let addr1 = net1
        .listen_addrs()
        .await
        .into_iter()
        .next()
        .ok_or(CapacityError::NoAddress)?;
    let cfg0 = NetConfig::new(
        a0,
        k0,
        vec![any_port],
        vec![PeerConfig {
            node: a1,
            peer_id: k1.public().to_peer_id(),
            addr: addr1,
        }],
    );
    let (net0, _rx0) = super::start(cfg0).await?;

    let result = async {
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        while !net0.connected().contains(&a1) {
            if Instant::now() > deadline {
                return Err(CapacityError::NotConnected(CONNECT_TIMEOUT));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        let arrived = Arc::new(AtomicU64::new(0));
        let counted = Arc::new(AtomicU64::new(0));
        let progress = Arc::new(Notify::new());
        let counting = Arc::new(AtomicBool::new(true));
        let receiver = {
            let (arrived, counted, progress, counting) = (
                arrived.clone(),
                counted.clone(),
                progress.clone(),
                counting.clone(),
            );
            tokio::spawn(async move {
                while let Some(ev) = rx1.recv().await {
                    if let NetEvent::Frame { bytes, .. } = ev {
                        let ok = check(&bytes);
                        arrived.fetch_add(1, Ordering::Relaxed);
                        if ok && counting.load(Ordering::Relaxed) {
                            counted.fetch_add(1, Ordering::Relaxed);
                        }
                        progress.notify_one();
                    }
                }
            })
        };

        let window = probe.window_frames();
        let start = Instant::now();
        let mut sent = 0u64;
        let mut last_progress = (Instant::now(), 0u64);
        let outcome = loop {
            if start.elapsed() >= probe.duration {
                break Ok(());
            }
            let got = arrived.load(Ordering::Relaxed);
            if got != last_progress.1 {
                last_progress = (Instant::now(), got);
            } else if sent > got && last_progress.0.elapsed() > STALL_TIMEOUT {
                break Err(CapacityError::Stalled(STALL_TIMEOUT));
            }
            if sent - got < window {
                if let Err(e) = net0.send(a1, make()) {
                    break Err(e.into());
                }
                sent += 1;
                if sent.is_multiple_of(1024) {
                    tokio::task::yield_now().await;
                }
            } else {
                let _ = tokio::time::timeout(Duration::from_millis(5), progress.notified()).await;
            }
        };
        counting.store(false, Ordering::Relaxed);
        let secs = start.elapsed().as_secs_f64();
        receiver.abort();
        outcome?;
        let dropped = net0.stats().get(&a1).map_or(0, |s| s.dropped);
        Ok(StreamCapacity {
            frame_len: probe.frame_len,
            frames: counted.load(Ordering::Relaxed),
            secs,
            dropped,
        })
    }
    .await;
    net0.shutdown().await;
    net1.shutdown().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn frames_flow_and_are_counted() {
        let probe = CapacityProbe::new(64 << 10, Duration::from_millis(300));
        let cap = measure(&probe).await.unwrap();
        assert!(cap.frames > 0, "{cap:?}");
        assert_eq!(cap.dropped, 0);
        assert!(cap.bytes_per_s() > 0.0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn frames_the_receiver_refuses_are_not_counted() {
        let probe = CapacityProbe::new(1000, Duration::from_millis(200));
        let cap = measure_with(&probe, || Bytes::from(vec![1u8; 1000]), |_| false)
            .await
            .unwrap();
        assert_eq!(cap.frames, 0);
    }

    #[tokio::test]
    async fn a_zero_probe_is_refused() {
        let probe = CapacityProbe::new(0, Duration::from_secs(1));
        assert!(matches!(
            measure(&probe).await,
            Err(CapacityError::Invalid(_))
        ));
    }
}
