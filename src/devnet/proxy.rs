//! A cutting TCP proxy: the devnet puts one in front of a listening address so that the
//! connections through it can be severed on demand, for real, at the socket level.
//!
//! A [`Proxy`] accepts on its own loopback port and relays every accepted connection, byte for
//! byte in both directions, to one target address. It understands nothing of what it carries:
//! the Noise handshake of a libp2p connection still authenticates the relay behind it, and a
//! JSON-RPC client still talks to the validator behind it.
//!
//! Contract:
//! - Several proxies may share one [`Cut`]. [`Cut::cut`] closes every connection open through
//!   those proxies at once (both sockets are dropped: each peer sees its stream end) and, until
//!   [`Cut::heal`], every new connection is accepted and closed at once, before a byte of it
//!   is relayed to the target. After `heal` new connections go through again; nothing severed
//!   is resumed.
//! - A connection to the target that cannot be made within [`CONNECT_TIMEOUT`] closes the
//!   accepted connection (the target is down, e.g. a killed relay).
//! - Counters ([`ProxyStats`]) say how many connections went through, were refused while cut,
//!   and were severed by a cut, so a report can show the faults happened.
//! - Dropping a [`Proxy`] stops it and closes every connection through it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// Longest wait for the target to accept a relayed connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A switch shared by proxies: while cut, nothing passes through any of them.
#[derive(Debug, Clone)]
pub struct Cut(Arc<watch::Sender<bool>>);

impl Default for Cut {
    fn default() -> Self {
        Cut(Arc::new(watch::Sender::new(false)))
    }
}

impl Cut {
    /// A switch that lets traffic through.
    pub fn new() -> Self {
        Self::default()
    }

    /// Severs every open connection and refuses new ones until [`Cut::heal`].
    pub fn cut(&self) {
        self.0.send_replace(true);
    }

    /// Lets new connections through again.
    pub fn heal(&self) {
        self.0.send_replace(false);
    }

    /// Whether it is cut now.
    pub fn is_cut(&self) -> bool {
        *self.0.borrow()
    }

    fn watch(&self) -> watch::Receiver<bool> {
        self.0.subscribe()
    }
}

/// What a proxy (or several, summed) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProxyStats {
    /// Connections relayed to the target.
    pub relayed: u64,
    /// Connections accepted while cut, and closed at once.
    pub refused: u64,
    /// Open connections closed by a cut.
    pub severed: u64,
    /// Connections closed because the target did not accept them.
    pub target_down: u64,
}

impl std::ops::Add for ProxyStats {
    type Output = ProxyStats;
    fn add(self, o: ProxyStats) -> ProxyStats {
        ProxyStats {
            relayed: self.relayed + o.relayed,
            refused: self.refused + o.refused,
            severed: self.severed + o.severed,
            target_down: self.target_down + o.target_down,
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    relayed: AtomicU64,
    refused: AtomicU64,
    severed: AtomicU64,
    target_down: AtomicU64,
}

impl Counters {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// A bound proxy port whose target is not known yet (the devnet writes the address into the
/// relays' configurations before it knows every relay's own port).
#[derive(Debug)]
pub struct Bound {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Bound {
    /// Binds a free loopback port.
    pub async fn loopback() -> anyhow::Result<Bound> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        Ok(Bound { listener, addr })
    }

    /// The address clients must use.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Starts relaying to `target`, obeying `cut`.
    pub fn start(self, target: SocketAddr, cut: Cut) -> Proxy {
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(accept_loop(self.listener, target, cut, counters.clone()));
        Proxy {
            addr: self.addr,
            counters,
            task,
        }
    }
}

/// A running proxy.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its counters so far.
    pub fn stats(&self) -> ProxyStats {
        let c = &self.counters;
        ProxyStats {
            relayed: c.relayed.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            severed: c.severed.load(Ordering::Relaxed),
            target_down: c.target_down.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection task.
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, target: SocketAddr, cut: Cut, c: Arc<Counters>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((inbound, _)) = accepted else {
                    // Out of descriptors or similar: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                if cut.is_cut() {
                    Counters::bump(&c.refused);
                    drop(inbound);
                    continue;
                }
                conns.spawn(relay(inbound, target, cut.watch(), c.clone()));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn relay(
    mut inbound: TcpStream,
    target: SocketAddr,
    mut cut: watch::Receiver<bool>,
    c: Arc<Counters>,
) {
    let mut outbound = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await
    {
        Ok(Ok(s)) => s,
        _ => {
            Counters::bump(&c.target_down);
            return;
        }
    };
    // A cut that came while connecting wins: nothing is relayed.
    if *cut.borrow_and_update() {
        Counters::bump(&c.refused);
        return;
    }
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    Counters::bump(&c.relayed);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
        _ = cut.wait_for(|cut| *cut) => Counters::bump(&c.severed),
    }
    // Both sockets are dropped here: each side sees its connection end.
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// An echo server on a free port.
    async fn echo() -> SocketAddr {
        let l = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn roundtrip(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<Vec<u8>> {
        s.write_all(msg).await?;
        let mut buf = vec![0u8; msg.len()];
        tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut buf))
            .await
            .map_err(|_| std::io::Error::other("timeout"))??;
        Ok(buf)
    }

    #[tokio::test]
    async fn relays_then_severs_refuses_and_heals() {
        let target = echo().await;
        let cut = Cut::new();
        let p = Bound::loopback().await.unwrap().start(target, cut.clone());

        let mut s = TcpStream::connect(p.addr()).await.unwrap();
        assert_eq!(roundtrip(&mut s, b"hello").await.unwrap(), b"hello");

        cut.cut();
        // The open connection ends: a read sees EOF (or a reset), never the echo.
        let mut buf = [0u8; 8];
        let _ = s.write_all(b"lost").await;
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("the severed connection ends promptly");
        assert!(matches!(n, Ok(0) | Err(_)), "got {n:?}");

        // A new connection is accepted by the kernel, then closed without reaching the target.
        let mut s2 = TcpStream::connect(p.addr()).await.unwrap();
        assert!(roundtrip(&mut s2, b"nope").await.is_err());

        cut.heal();
        let mut s3 = TcpStream::connect(p.addr()).await.unwrap();
        assert_eq!(roundtrip(&mut s3, b"again").await.unwrap(), b"again");

        let st = p.stats();
        assert_eq!(st.relayed, 2, "{st:?}");
        assert_eq!(st.severed, 1, "{st:?}");
        assert_eq!(st.refused, 1, "{st:?}");
    }

    #[tokio::test]
    async fn a_dead_target_closes_the_connection() {
        // A port nobody listens on: bind, read the port, close.
        let dead = {
            let l = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
            l.local_addr().unwrap()
        };
        let p = Bound::loopback().await.unwrap().start(dead, Cut::new());
        let mut s = TcpStream::connect(p.addr()).await.unwrap();
        assert!(roundtrip(&mut s, b"x").await.is_err());
        assert_eq!(p.stats().target_down, 1);
    }
}
