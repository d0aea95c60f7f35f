//! The libp2p side: the allowlist gate, the composed [`NetworkBehaviour`] and the swarm builder.

use super::NetError;
use libp2p::core::{Endpoint, transport::PortUse};
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId, Swarm, SwarmBuilder, noise, ping, tcp, yamux};
use std::collections::{HashMap, VecDeque};
use std::task::{Context, Poll};
use std::time::Duration;

/// How long a connection with no open stream survives. Frame streams are opened as soon as a
/// connection is up and then stay open, so this only reaps duplicate or unused connections.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);

/// Ping every 10 s; a ping unanswered for 20 s closes the connection (detects dead peers whose
/// TCP connection is half-open), which then triggers a reconnection.
const PING_INTERVAL: Duration = Duration::from_secs(10);
const PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Bound on the not-yet-polled refusals the gate keeps (a flood of strangers cannot grow it).
const MAX_QUEUED_REFUSALS: usize = 1024;

/// Something the gate reports to the swarm task.
#[derive(Debug)]
pub(crate) enum GateEvent {
    /// A connection with an unconfigured peer id was closed right after the handshake.
    Refused {
        peer_id: PeerId,
        addr: Option<Multiaddr>,
    },
}

/// The reason a [`ConnectionDenied`] carries.
#[derive(Debug, thiserror::Error)]
#[error("peer {0} is not a configured relay")]
struct NotConfigured(PeerId);

/// Admits only configured peer ids, on both inbound and outbound connections, right after the
/// Noise handshake authenticated them and before any handler (so any protocol stream) exists.
/// It also tells the swarm where configured peers live.
pub(crate) struct Gate {
    allowed: HashMap<PeerId, Multiaddr>,
    refused: VecDeque<GateEvent>,
}

impl Gate {
    pub(crate) fn new(allowed: HashMap<PeerId, Multiaddr>) -> Self {
        Gate {
            allowed,
            refused: VecDeque::new(),
        }
    }

    fn admit(&mut self, peer: PeerId, addr: &Multiaddr) -> Result<(), ConnectionDenied> {
        if self.allowed.contains_key(&peer) {
            return Ok(());
        }
        if self.refused.len() < MAX_QUEUED_REFUSALS {
            self.refused.push_back(GateEvent::Refused {
                peer_id: peer,
                addr: Some(addr.clone()),
            });
        }
        Err(ConnectionDenied::new(NotConfigured(peer)))
    }
}

impl NetworkBehaviour for Gate {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = GateEvent;

    fn handle_established_inbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        peer: PeerId,
        _local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.admit(peer, remote_addr)?;
        Ok(dummy::ConnectionHandler)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        _effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        let known = maybe_peer.and_then(|p| self.allowed.get(&p));
        Ok(match known {
            Some(addr) if !addresses.contains(addr) => vec![addr.clone()],
            _ => Vec::new(),
        })
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.admit(peer, addr)?;
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, _event: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _peer_id: PeerId,
        _connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _cx: &mut Context<'_>) -> Poll<ToSwarm<GateEvent, THandlerInEvent<Self>>> {
        // The swarm polls behaviours again after every connection event, so no waker is needed.
        match self.refused.pop_front() {
            Some(ev) => Poll::Ready(ToSwarm::GenerateEvent(ev)),
            None => Poll::Pending,
        }
    }
}

/// The composed behaviour. `gate` comes first: the derived `handle_established_*` calls the
/// fields in order and stops at the first refusal, so nothing else ever sees a stranger.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    pub(crate) gate: Gate,
    pub(crate) stream: libp2p_stream::Behaviour,
    pub(crate) ping: ping::Behaviour,
}

/// Builds the TCP + Noise + Yamux swarm for `keypair`, admitting only `allowed` peers.
pub(crate) fn build_swarm(
    keypair: libp2p::identity::Keypair,
    allowed: HashMap<PeerId, Multiaddr>,
) -> Result<Swarm<Behaviour>, NetError> {
    let swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_behaviour(|_| Behaviour {
            gate: Gate::new(allowed),
            stream: libp2p_stream::Behaviour::new(),
            ping: ping::Behaviour::new(
                ping::Config::new()
                    .with_interval(PING_INTERVAL)
                    .with_timeout(PING_TIMEOUT),
            ),
        })
        .map_err(|never: std::convert::Infallible| -> NetError { match never {} })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();
    Ok(swarm)
}
