//! Throughput of `relayer::net` between two relays on loopback, compared with opening a new
//! libp2p stream per message.
//!
//! ```text
//! CARGO_TARGET_DIR=/tmp/target-net cargo run --release -p relayer --example net_throughput
//! ```
//!
//! Optional argument: seconds per measurement (default 3).

use anyhow::{Context as _, Result};
use futures::{AsyncWriteExt, StreamExt};
use libp2p::identity::Keypair;
use libp2p::swarm::SwarmEvent;
use libp2p::{StreamProtocol, Swarm, SwarmBuilder, noise, tcp, yamux};
use relayer::net::capacity::{self, CapacityProbe};
use relayer::net::framing;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Row {
    mode: String,
    size: usize,
    frames: u64,
    secs: f64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let secs: f64 = match std::env::args().nth(1) {
        Some(s) => s.parse().context("seconds per measurement")?,
        None => 3.0,
    };
    let dur = Duration::from_secs_f64(secs);
    let mut rows = Vec::new();
    for size in [100, 1 << 20] {
        rows.push(long_lived(size, dur).await?);
    }
    for in_flight in [1, 64] {
        rows.push(stream_per_message(100, dur, in_flight).await?);
    }

    println!();
    println!(
        "{:<38} {:>8} {:>12} {:>10}",
        "mode", "frame", "frames/s", "MB/s"
    );
    for r in &rows {
        let size = if r.size >= 1 << 20 {
            format!("{} MiB", r.size >> 20)
        } else {
            format!("{} B", r.size)
        };
        let fps = r.frames as f64 / r.secs;
        let mbps = fps * r.size as f64 / 1e6;
        println!("{:<38} {:>8} {:>12.0} {:>10.1}", r.mode, size, fps, mbps);
    }
    Ok(())
}

/// A0 sends `size`-byte frames to A1 through `relayer::net` for `dur`
/// ([`relayer::net::capacity`], the reference limit `picsou-relay bench` uses).
async fn long_lived(size: usize, dur: Duration) -> Result<Row> {
    let cap = capacity::measure(&CapacityProbe::new(size, dur)).await?;
    if cap.dropped > 0 {
        eprintln!("warning: {} frames dropped", cap.dropped);
    }
    Ok(Row {
        mode: "long-lived stream (relayer::net)".to_owned(),
        size,
        frames: cap.frames,
        secs: cap.secs,
    })
}

const PER_MESSAGE: StreamProtocol = StreamProtocol::new("/picsou/bench-per-message/1.0.0");

fn bare_swarm(key: Keypair) -> Result<Swarm<libp2p_stream::Behaviour>> {
    Ok(SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_behaviour(|_| libp2p_stream::Behaviour::new())?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build())
}

/// Same transport (TCP + Noise + Yamux), but every `size`-byte message gets its own stream
/// (open, negotiate, write one frame, close), with `in_flight` concurrent senders.
async fn stream_per_message(size: usize, dur: Duration, in_flight: usize) -> Result<Row> {
    let server_key = Keypair::generate_ed25519();
    let server_id = server_key.public().to_peer_id();
    let mut server = bare_swarm(server_key)?;
    let mut incoming = server
        .behaviour()
        .new_control()
        .accept(PER_MESSAGE)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    server.listen_on("/ip4/127.0.0.1/tcp/0".parse()?)?;
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = server.select_next_some().await {
            break address;
        }
    };
    let server_task = tokio::spawn(async move {
        loop {
            server.select_next_some().await;
        }
    });

    let received = Arc::new(AtomicU64::new(0));
    let counting = Arc::new(AtomicBool::new(true));
    let acceptor = {
        let (received, counting) = (received.clone(), counting.clone());
        tokio::spawn(async move {
            while let Some((_, mut stream)) = incoming.next().await {
                let (received, counting) = (received.clone(), counting.clone());
                tokio::spawn(async move {
                    if let Ok(Some(_)) = framing::read_frame(&mut stream, 1 << 20).await
                        && counting.load(Ordering::Relaxed)
                    {
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        })
    };

    let mut client = bare_swarm(Keypair::generate_ed25519())?;
    client.dial(addr)?;
    loop {
        if let SwarmEvent::ConnectionEstablished { .. } = client.select_next_some().await {
            break;
        }
    }
    let control = client.behaviour().new_control();
    let client_task = tokio::spawn(async move {
        loop {
            client.select_next_some().await;
        }
    });

    let mut msg = Vec::new();
    framing::encode_into(&mut msg, &vec![0xcd; size]);
    let msg = Arc::new(msg);
    let start = Instant::now();
    let mut senders = Vec::new();
    for _ in 0..in_flight {
        let mut control = control.clone();
        let msg = msg.clone();
        senders.push(tokio::spawn(async move {
            while start.elapsed() < dur {
                let Ok(mut stream) = control.open_stream(server_id, PER_MESSAGE).await else {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                };
                if stream.write_all(&msg).await.is_ok() {
                    let _ = stream.close().await;
                }
            }
        }));
    }
    for s in senders {
        s.await?;
    }
    counting.store(false, Ordering::Relaxed);
    let secs = start.elapsed().as_secs_f64();
    let frames = received.load(Ordering::Relaxed);
    client_task.abort();
    server_task.abort();
    acceptor.abort();
    Ok(Row {
        mode: format!("new stream per message ({in_flight} in flight)"),
        size,
        frames,
        secs,
    })
}
