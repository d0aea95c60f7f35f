//! [`NodeConfig`]: everything one relay needs to start, already parsed and checked (the binary
//! turns a TOML file into one; tests build one directly), and [`StartOptions`]: what a test may
//! add to it.

use crate::protocol::{ClusterConfig, Params, Protocol, ProtocolKind, Setup};
use crate::types::{NodeId, Side};
use chains::engine::PeerSpec;
use ed25519_dalek::{SigningKey, VerifyingKey};
use libp2p::{Multiaddr, PeerId};
use std::path::PathBuf;
use std::sync::Arc;

/// Wraps the protocol core a relay runs, between the core and the driver: whatever the wrapper's
/// `poll_transmit` yields is sealed with the relay's own batch key and sent. Production relays
/// never set one; tests use it to make a relay misbehave on purpose (`node::byzantine`, built
/// only with the `byzantine` feature), so its lies carry its valid signature, as a real
/// Byzantine relay's would.
pub trait CoreWrapper: Send + Sync + std::fmt::Debug {
    /// The core the relay will run instead of `core` (set up with `setup`).
    fn wrap(&self, setup: &Setup, core: Box<dyn Protocol>) -> Box<dyn Protocol>;
}

/// What [`crate::node::start_with`] takes besides the configuration. The default is what
/// [`crate::node::start`] uses: nothing added.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Wraps the protocol core (tests only; see [`CoreWrapper`]).
    pub wrap_core: Option<Arc<dyn CoreWrapper>>,
}

/// Another relay, of either cluster.
#[derive(Debug, Clone)]
pub struct RelayPeer {
    /// Its name.
    pub node: NodeId,
    /// Its libp2p identity.
    pub peer_id: PeerId,
    /// Where to reach it.
    pub addr: Multiaddr,
    /// The key its batches are signed with.
    pub batch_key: VerifyingKey,
}

/// One relay's resolved configuration.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This relay (its side and its index, which is its validator's index).
    pub me: NodeId,
    /// Which cross-cluster protocol to run (every relay of both clusters must agree).
    pub protocol: ProtocolKind,
    /// Protocol tuning.
    pub params: Params,
    /// Cluster A's stakes and fault bounds.
    pub cluster_a: ClusterConfig,
    /// Cluster B's stakes and fault bounds.
    pub cluster_b: ClusterConfig,
    /// Membership epoch.
    pub epoch: u64,
    /// libp2p identity.
    pub identity: libp2p::identity::Keypair,
    /// Batch-signing key.
    pub batch_key: SigningKey,
    /// libp2p listen addresses.
    pub listen: Vec<Multiaddr>,
    /// Every other relay of both clusters.
    pub peers: Vec<RelayPeer>,
    /// The database directory.
    pub data_dir: PathBuf,
    /// JSON-RPC endpoint of the validator beside this relay.
    pub chain_endpoint: String,
    /// This relay's chain: identity, rules, genesis set.
    pub own_chain: PeerSpec,
    /// The other chain: what this relay's light client of it starts from.
    pub peer_chain: PeerSpec,
}

impl NodeConfig {
    /// This relay's cluster.
    pub fn local(&self) -> &ClusterConfig {
        match self.me.side {
            Side::A => &self.cluster_a,
            Side::B => &self.cluster_b,
        }
    }

    /// The other cluster.
    pub fn remote(&self) -> &ClusterConfig {
        match self.me.side {
            Side::A => &self.cluster_b,
            Side::B => &self.cluster_a,
        }
    }

    /// Checks what the node relies on: clusters valid, this relay and every peer inside them,
    /// every other relay configured exactly once, two different chains.
    pub fn validate(&self) -> Result<(), String> {
        self.cluster_a.validate().map_err(|e| e.to_string())?;
        self.cluster_b.validate().map_err(|e| e.to_string())?;
        if self.cluster_a.side != Side::A || self.cluster_b.side != Side::B {
            return Err("cluster_a must be side A and cluster_b side B".into());
        }
        let in_cluster = |n: NodeId| {
            let c = if n.side == Side::A {
                &self.cluster_a
            } else {
                &self.cluster_b
            };
            n.index.as_usize() < c.n()
        };
        if !in_cluster(self.me) {
            return Err(format!("this relay {} is outside its cluster", self.me));
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &self.peers {
            if p.node == self.me {
                return Err(format!("relay {} lists itself as a peer", self.me));
            }
            if !in_cluster(p.node) {
                return Err(format!("peer {} is outside its cluster", p.node));
            }
            if !seen.insert(p.node) {
                return Err(format!("peer {} is listed twice", p.node));
            }
        }
        let expected = self.cluster_a.n() + self.cluster_b.n() - 1;
        if seen.len() != expected {
            return Err(format!(
                "{} peers configured, expected every other relay ({expected})",
                seen.len()
            ));
        }
        if self.own_chain.chain_id() == self.peer_chain.chain_id() {
            return Err("own_chain and peer_chain have the same chain id".into());
        }
        Ok(())
    }
}
