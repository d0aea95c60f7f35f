//! The swarm task: owns the libp2p [`Swarm`], tracks which peers are connected, dials, and
//! reports connection-level events. It never touches frame payloads and never awaits a peer.

use super::behaviour::{self, Behaviour, BehaviourEvent, GateEvent};
use super::dialer::Dialer;
use super::peers::{PeerTable, Task};
use super::{NetError, NetEvent, PROTOCOL, reader, writer};
use futures::StreamExt;
use libp2p::core::transport::ListenerId;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{DialError, SwarmEvent};
use libp2p::{Multiaddr, Swarm, TransportError, ping};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// How long [`super::start`] waits for its listeners to report their bound addresses.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(5);
/// At shutdown, how long to wait for connections to close gracefully.
const CLOSE_GRACE: Duration = Duration::from_millis(500);
/// Connection events kept while the application does not read its receiver; beyond this,
/// further `Refused` events are dropped (connection events are always kept).
const MAX_PENDING_EVENTS: usize = 4096;

/// Requests from [`super::Net`] handles.
#[derive(Debug)]
pub(crate) enum Command {
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    Shutdown,
}

/// What one turn of the swarm loop woke up for.
#[expect(
    clippy::large_enum_variant,
    reason = "a short-lived stack value, one per loop turn; boxing would allocate per event"
)]
enum Step {
    Swarm(SwarmEvent<BehaviourEvent>),
    Command(Option<Command>),
    Dial,
    Emitted,
}

pub(crate) struct Driver {
    swarm: Swarm<Behaviour>,
    table: Arc<PeerTable>,
    dialer: Dialer,
    events: mpsc::Sender<NetEvent>,
    /// Connection-level events waiting for room in `events`.
    pending: VecDeque<NetEvent>,
    events_closed: bool,
    /// Writers and the acceptor (which owns the readers); all aborted when dropped.
    tasks: Vec<Task>,
}

impl Driver {
    /// Builds the swarm, starts listening and spawns the per-peer writers and the acceptor.
    /// Returns once every listener reported its bound address.
    pub(crate) async fn start(
        cfg: super::NetConfig,
        table: Arc<PeerTable>,
        events: mpsc::Sender<NetEvent>,
    ) -> Result<Driver, NetError> {
        let mut swarm = behaviour::build_swarm(cfg.keypair, table.allowlist())?;
        let mut listeners = Vec::new();
        for addr in cfg.listen {
            let id = swarm
                .listen_on(addr.clone())
                .map_err(|e| NetError::Listen {
                    addr: addr.clone(),
                    // `TransportError::Other` displays as nothing; its cause is the reason.
                    reason: match e {
                        TransportError::Other(io) => io.to_string(),
                        unsupported => unsupported.to_string(),
                    },
                })?;
            listeners.push((id, addr));
        }

        let mut control = swarm.behaviour().stream.new_control();
        let incoming = control
            .accept(PROTOCOL)
            .map_err(|e| NetError::Transport(e.to_string()))?;
        let max_frame = cfg.max_frame;
        let mut tasks = vec![Task::spawn(reader::accept_loop(
            incoming,
            table.clone(),
            events.clone(),
            max_frame,
        ))];
        for link in table.links() {
            let control = swarm.behaviour().stream.new_control();
            tasks.push(Task::spawn(writer::run(link.clone(), control)));
        }

        let dialer = Dialer::new(cfg.me, table.links().map(|l| l.node), Instant::now());
        let mut driver = Driver {
            swarm,
            table,
            dialer,
            events,
            pending: VecDeque::new(),
            events_closed: false,
            tasks,
        };
        driver.wait_listening(listeners).await?;
        Ok(driver)
    }

    async fn wait_listening(
        &mut self,
        mut waiting: Vec<(ListenerId, Multiaddr)>,
    ) -> Result<(), NetError> {
        let deadline = Instant::now() + LISTEN_TIMEOUT;
        while let Some((_, first)) = waiting.first() {
            let first = first.clone();
            let event = tokio::time::timeout_at(deadline, self.swarm.select_next_some())
                .await
                .map_err(|_| NetError::Listen {
                    addr: first,
                    reason: "no bound address reported in time".to_owned(),
                })?;
            match &event {
                SwarmEvent::NewListenAddr { listener_id, .. } => {
                    waiting.retain(|(id, _)| id != listener_id);
                }
                SwarmEvent::ListenerClosed {
                    listener_id,
                    reason,
                    ..
                } => {
                    if let Some(i) = waiting.iter().position(|(id, _)| id == listener_id) {
                        let (_, addr) = waiting.swap_remove(i);
                        let reason = match reason {
                            Ok(()) => "listener closed".to_owned(),
                            Err(e) => e.to_string(),
                        };
                        return Err(NetError::Listen { addr, reason });
                    }
                }
                _ => {}
            }
            self.on_swarm_event(event);
        }
        Ok(())
    }

    /// The swarm loop. Ends on [`Command::Shutdown`] or when every `Net` handle is gone.
    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        done: watch::Sender<bool>,
    ) {
        loop {
            let next_dial = self.dialer.next_deadline();
            let wake_at = next_dial.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let can_emit = !self.pending.is_empty() && !self.events_closed;
            let step = tokio::select! {
                event = self.swarm.select_next_some() => Step::Swarm(event),
                command = commands.recv() => Step::Command(command),
                () = tokio::time::sleep_until(wake_at), if next_dial.is_some() => Step::Dial,
                permit = self.events.reserve(), if can_emit => {
                    match permit {
                        Ok(permit) => {
                            if let Some(event) = self.pending.pop_front() {
                                permit.send(event);
                            }
                        }
                        Err(_) => {
                            self.events_closed = true;
                            self.pending.clear();
                        }
                    }
                    Step::Emitted
                }
            };
            match step {
                Step::Swarm(event) => self.on_swarm_event(event),
                Step::Command(Some(Command::ListenAddrs(reply))) => {
                    let _ = reply.send(self.swarm.listeners().cloned().collect());
                }
                Step::Command(Some(Command::Shutdown) | None) => break,
                Step::Dial => self.dial_due(),
                Step::Emitted => {}
            }
        }
        self.close().await;
        let _ = done.send(true);
    }

    /// Stops every task, then closes connections (briefly waiting for a graceful close).
    async fn close(mut self) {
        for task in self.tasks.drain(..) {
            task.stop().await;
        }
        let peers: Vec<_> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        let deadline = Instant::now() + CLOSE_GRACE;
        while self.swarm.connected_peers().next().is_some() {
            match tokio::time::timeout_at(deadline, self.swarm.select_next_some()).await {
                Ok(_) => {}
                Err(_) => break,
            }
        }
        for link in self.table.links() {
            link.set_connected(false);
        }
        // Dropping the swarm closes the listeners and whatever connection is left.
    }

    fn emit(&mut self, event: NetEvent) {
        if self.events_closed {
            return;
        }
        if matches!(event, NetEvent::Refused { .. }) && self.pending.len() >= MAX_PENDING_EVENTS {
            tracing::debug!(?event, "event queue full, dropping");
            return;
        }
        self.pending.push_back(event);
    }

    fn dial_due(&mut self) {
        let now = Instant::now();
        for node in self.dialer.due(now) {
            let Some(link) = self.table.get(node) else {
                continue;
            };
            let opts = DialOpts::peer_id(link.peer_id)
                .addresses(vec![link.addr.clone()])
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            let conn = opts.connection_id();
            match self.swarm.dial(opts) {
                Ok(()) => {
                    tracing::trace!(peer = %node, addr = %link.addr, "dialing");
                    self.dialer.dialing(node, conn);
                }
                Err(DialError::DialPeerConditionFalse(_))
                    if self.swarm.is_connected(&link.peer_id) =>
                {
                    self.dialer.connected(node);
                }
                Err(e) => {
                    tracing::debug!(peer = %node, error = %e, "cannot dial");
                    self.dialer.failed(node, None, now);
                }
            }
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                endpoint,
                ..
            } => {
                let Some(link) = self.table.by_peer_id(&peer_id).cloned() else {
                    return;
                };
                self.dialer.connected(link.node);
                if num_established.get() == 1 {
                    tracing::debug!(peer = %link.node, ?endpoint, "connected");
                    link.set_connected(true);
                    self.emit(NetEvent::Connected(link.node));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                ..
            } => {
                let Some(link) = self.table.by_peer_id(&peer_id).cloned() else {
                    return;
                };
                if num_established == 0 {
                    tracing::debug!(peer = %link.node, ?cause, "disconnected");
                    link.set_connected(false);
                    self.dialer.disconnected(link.node, Instant::now());
                    self.emit(NetEvent::Disconnected(link.node));
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                if let DialError::WrongPeerId { obtained, address } = &error {
                    tracing::warn!(%obtained, %address, "reached an unexpected peer id, refused");
                    // The dialed address ends with the *expected* peer id: drop that part.
                    let mut addr = address.clone();
                    if let Some(Protocol::P2p(_)) = addr.iter().last() {
                        addr.pop();
                    }
                    self.emit(NetEvent::Refused {
                        peer_id: *obtained,
                        addr: Some(addr),
                    });
                }
                let node = peer_id
                    .and_then(|p| self.table.by_peer_id(&p))
                    .map(|l| l.node);
                if let Some(node) = node {
                    tracing::debug!(peer = %node, %error, "dial failed");
                    self.dialer
                        .failed(node, Some(connection_id), Instant::now());
                }
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => {
                tracing::debug!(%send_back_addr, %error, "inbound connection failed");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gate(GateEvent::Refused { peer_id, addr })) => {
                tracing::warn!(%peer_id, ?addr, "connection from an unconfigured peer refused");
                self.emit(NetEvent::Refused { peer_id, addr });
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event {
                peer,
                connection,
                result: Err(failure),
            })) if !matches!(failure, ping::Failure::Unsupported) => {
                tracing::debug!(%peer, %failure, "ping failed, closing the connection");
                self.swarm.close_connection(connection);
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::debug!(%address, "listening");
            }
            SwarmEvent::ListenerClosed {
                addresses, reason, ..
            } => {
                tracing::warn!(?addresses, ?reason, "listener closed");
            }
            _ => {}
        }
    }
}
