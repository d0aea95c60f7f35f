//! The files of a devnet: both chains' spec files, every relay's keys (0600) and commented
//! configuration. A relay's configuration here is exactly what an operator would write for
//! `picsou-relay start`.

use crate::keys;
use chains::devnet::DevnetConfig;
use chains::types::ChainKind;
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

/// One relay of the devnet.
#[derive(Debug, Clone)]
pub struct RelayFiles {
    /// e.g. `a0`.
    pub name: String,
    /// `"a"` or `"b"`.
    pub side: &'static str,
    /// Index in the cluster.
    pub index: usize,
    /// Its configuration file.
    pub config: PathBuf,
    /// Its JSON-RPC address.
    pub rpc: SocketAddr,
    /// Its libp2p address.
    pub p2p: String,
    /// Its peer id.
    pub peer_id: String,
    /// Its batch public key (hex).
    pub batch_key: String,
    /// Its validator's endpoint.
    pub endpoint: String,
}

impl RelayFiles {
    /// `http://` URL of its JSON-RPC.
    pub fn rpc_url(&self) -> String {
        format!("http://{}", self.rpc)
    }
}

/// Distinct free loopback TCP ports: all are held bound until every one is chosen, so the OS
/// cannot hand the same port out twice (another process may still take one before its relay
/// binds it; the relay then fails to start and says so).
pub fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let held = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    held.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

/// The chain settings of a devnet pair: chain A is Algorand-style, chain B ResDB-style.
pub fn chain_config(kind: ChainKind, own: usize, peer: usize) -> DevnetConfig {
    let mut c = DevnetConfig::new(kind, own, SocketAddr::from(([127, 0, 0, 1], 0)));
    c.peer_validators = Some(peer);
    c
}

/// Writes both spec files into `dir`; returns their paths (A, B).
pub fn write_specs(dir: &Path, n_a: usize, n_b: usize) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (spec_a, _) = chain_config(ChainKind::Algorand, n_a, n_b).specs()?;
    let (spec_b, _) = chain_config(ChainKind::Resdb, n_b, n_a).specs()?;
    let pa = dir.join("chain-a.json");
    let pb = dir.join("chain-b.json");
    std::fs::write(&pa, serde_json::to_string_pretty(&spec_a)?)?;
    std::fs::write(&pb, serde_json::to_string_pretty(&spec_b)?)?;
    Ok((pa, pb))
}

/// Which ports relays listen on.
#[derive(Debug, Clone, Copy)]
pub enum Ports {
    /// Free ports chosen now (the devnet).
    Free,
    /// Fixed, predictable ports (`init`): relay `a<i>` takes libp2p `7100 + i` and JSON-RPC
    /// `8100 + i`; relay `b<i>` takes `7200 + i` and `8200 + i`.
    Fixed,
}

/// Generates keys and configurations for `n_a + n_b` relays whose validators serve
/// `endpoints_a` and `endpoints_b`.
pub fn write_relays(
    dir: &Path,
    endpoints_a: &[String],
    endpoints_b: &[String],
    protocol: &str,
    ports: Ports,
) -> anyhow::Result<Vec<RelayFiles>> {
    let mut relays = Vec::new();
    let mut free = match ports {
        Ports::Free => free_ports(2 * (endpoints_a.len() + endpoints_b.len()))?,
        Ports::Fixed => Vec::new(),
    }
    .into_iter();
    let mut port = |side: &str, index: usize, rpc: bool| -> anyhow::Result<u16> {
        match ports {
            Ports::Free => free
                .next()
                .ok_or_else(|| anyhow::anyhow!("ran out of ports")),
            Ports::Fixed => {
                let base = match (side, rpc) {
                    ("a", false) => 7100,
                    ("b", false) => 7200,
                    ("a", true) => 8100,
                    _ => 8200,
                };
                u16::try_from(base + index).map_err(|_| anyhow::anyhow!("port out of range"))
            }
        }
    };
    for (side, endpoints) in [("a", endpoints_a), ("b", endpoints_b)] {
        for (index, endpoint) in endpoints.iter().enumerate() {
            let name = format!("{side}{index}");
            let id_secret = keys::random_secret();
            let batch_secret = keys::random_secret();
            keys::write_secret(&dir.join(format!("keys/{name}.identity")), &id_secret)?;
            keys::write_secret(&dir.join(format!("keys/{name}.batch")), &batch_secret)?;
            relays.push(RelayFiles {
                name: name.clone(),
                side,
                index,
                config: dir.join(format!("{name}.toml")),
                rpc: SocketAddr::from(([127, 0, 0, 1], port(side, index, true)?)),
                p2p: format!("/ip4/127.0.0.1/tcp/{}", port(side, index, false)?),
                peer_id: keys::identity_of(&id_secret)
                    .public()
                    .to_peer_id()
                    .to_string(),
                batch_key: hex::encode(
                    ed25519_dalek::SigningKey::from_bytes(&batch_secret)
                        .verifying_key()
                        .as_bytes(),
                ),
                endpoint: endpoint.clone(),
            });
        }
    }
    for r in &relays {
        std::fs::write(&r.config, render_config(r, &relays, protocol))?;
    }
    Ok(relays)
}

/// A commented configuration for relay `me` among `all`.
pub fn render_config(me: &RelayFiles, all: &[RelayFiles], protocol: &str) -> String {
    let (own_spec, peer_spec) = if me.side == "a" {
        ("chain-a.json", "chain-b.json")
    } else {
        ("chain-b.json", "chain-a.json")
    };
    let mut s = String::new();
    let _ = write!(
        s,
        r#"# picsou-relay configuration for relay {name}.
# Every field can be overridden from the environment as PICSOU_<SECTION>__<FIELD>,
# e.g. PICSOU_RPC__LISTEN=127.0.0.1:9000. Relative paths are relative to this file.

[relay]
# Which cluster this relay belongs to: "a" or "b" (each cluster is one chain's validator set).
side = "{side}"
# Index of this relay in its cluster: the index of the validator it runs beside.
index = {index}
# Cross-cluster protocol: picsou (default), ost, ata, ll or otu. Every relay must agree.
protocol = "{protocol}"
# The relay's database (sled). Back it up while the relay is stopped.
data_dir = "data/{name}"

[keys]
# libp2p identity (its peer id is this relay's network name) and batch-signing key:
# ed25519 secrets as hex, mode 0600 or the relay refuses to start.
identity = "keys/{name}.identity"
batch = "keys/{name}.batch"

[network]
# libp2p listen addresses (TCP + Noise + Yamux). Only the relays listed below may connect.
listen = ["{p2p}"]

[rpc]
# JSON-RPC (HTTP and WebSocket), GET /health, /ready and /metrics, on one port.
listen = "{rpc}"
# Serve admin_setLogLevel (only honoured when listen is a loopback address).
admin = true

[chain]
# JSON-RPC endpoint of the validator this relay runs beside.
endpoint = "{endpoint}"
# The chain's identity, rules and genesis validator set.
spec = "{own_spec}"

[peer_chain]
# The other chain's identity and genesis set: the relay's light client of it starts here.
spec = "{peer_spec}"

[log]
# A tracing filter ("info", "debug", "relayer=debug,info") and "text" or "json".
level = "info"
format = "text"

# Fault bounds per cluster, in stake units (default: u = r = floor((total - 1) / 3)).
# [clusters.a]
# u = 1
# r = 1

# Every relay of both clusters, including this one.
"#,
        name = me.name,
        side = me.side,
        index = me.index,
        p2p = me.p2p,
        rpc = me.rpc,
        endpoint = me.endpoint,
    );
    for r in all {
        let _ = write!(
            s,
            "\n[[relays]]\nside = \"{}\"\nindex = {}\npeer_id = \"{}\"\nbatch_key = \"{}\"\naddr = \"{}\"\nstake = 1\n",
            r.side, r.index, r.peer_id, r.batch_key, r.p2p
        );
    }
    s
}
