//! The files of a devnet: both chains' spec files, every relay's keys (0600) and commented
//! configuration. A relay's configuration here is exactly what an operator would write for
//! `picsou-relay start`.

use crate::keys;
use anyhow::Context as _;
use chains::devnet::DevnetConfig;
use chains::types::ChainKind;
use std::fmt::Write as _;
use std::net::SocketAddr;
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
    /// The same, as a socket address.
    pub p2p_socket: SocketAddr,
    /// The libp2p address the other cluster's relays are given for it: `p2p`, or in a chaos
    /// devnet the address of the cutting proxy in front of it.
    pub cross_p2p: String,
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

/// Distinct free loopback TCP ports for the relays (see [`chains::devnet::ports`]).
pub fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    chains::devnet::ports::free_loopback_ports(n).context("choosing loopback ports for the relays")
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
    write_relays_with(dir, endpoints_a, endpoints_b, protocol, ports, None)
}

/// [`write_relays`], where `cross` (if given) holds, for every relay in order (`a0…`, then
/// `b0…`), the address the other cluster's relays must dial instead of its own: the chaos
/// devnet's cutting proxy. Relays of the same cluster always dial each other directly.
pub fn write_relays_with(
    dir: &Path,
    endpoints_a: &[String],
    endpoints_b: &[String],
    protocol: &str,
    ports: Ports,
    cross: Option<&[SocketAddr]>,
) -> anyhow::Result<Vec<RelayFiles>> {
    let n = endpoints_a.len() + endpoints_b.len();
    if let Some(c) = cross
        && c.len() != n
    {
        anyhow::bail!("{} proxy addresses for {n} relays", c.len());
    }
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
            let p2p_socket = SocketAddr::from(([127, 0, 0, 1], port(side, index, false)?));
            let p2p = format!("/ip4/127.0.0.1/tcp/{}", p2p_socket.port());
            let cross_p2p = match cross {
                Some(c) => format!(
                    "/ip4/{}/tcp/{}",
                    c[relays.len()].ip(),
                    c[relays.len()].port()
                ),
                None => p2p.clone(),
            };
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
                p2p,
                p2p_socket,
                cross_p2p,
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
        // The other cluster's relays are reached through `cross_p2p` (a proxy in a chaos devnet).
        let addr = if r.side == me.side {
            &r.p2p
        } else {
            &r.cross_p2p
        };
        let _ = write!(
            s,
            "\n[[relays]]\nside = \"{}\"\nindex = {}\npeer_id = \"{}\"\nbatch_key = \"{}\"\naddr = \"{}\"\nstake = 1\n",
            r.side, r.index, r.peer_id, r.batch_key, addr
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_other_cluster_is_given_the_proxy_addresses() {
        let dir = tempfile::tempdir().unwrap();
        let ea: Vec<String> = (0..2)
            .map(|i| format!("http://127.0.0.1:{}", 9000 + i))
            .collect();
        let eb: Vec<String> = (0..2)
            .map(|i| format!("http://127.0.0.1:{}", 9100 + i))
            .collect();
        let proxies: Vec<SocketAddr> = (0..4)
            .map(|i| SocketAddr::from(([127, 0, 0, 1], 6000 + i)))
            .collect();
        let relays =
            write_relays_with(dir.path(), &ea, &eb, "picsou", Ports::Fixed, Some(&proxies))
                .unwrap();
        assert_eq!(relays[2].p2p, "/ip4/127.0.0.1/tcp/7200");
        assert_eq!(relays[2].cross_p2p, "/ip4/127.0.0.1/tcp/6002");
        let a0 = std::fs::read_to_string(&relays[0].config).unwrap();
        // a0 reaches a1 directly and b0, b1 through their proxies.
        assert!(a0.contains("addr = \"/ip4/127.0.0.1/tcp/7101\""), "{a0}");
        assert!(a0.contains("addr = \"/ip4/127.0.0.1/tcp/6002\""), "{a0}");
        assert!(a0.contains("addr = \"/ip4/127.0.0.1/tcp/6003\""), "{a0}");
        assert!(!a0.contains("tcp/7200\""), "{a0}");
        // It still listens on its own port.
        assert!(
            a0.contains("listen = [\"/ip4/127.0.0.1/tcp/7100\"]"),
            "{a0}"
        );
        let b1 = std::fs::read_to_string(&relays[3].config).unwrap();
        assert!(b1.contains("addr = \"/ip4/127.0.0.1/tcp/6000\""), "{b1}");
        assert!(b1.contains("addr = \"/ip4/127.0.0.1/tcp/7200\""), "{b1}");

        // Without proxies every relay is given every other relay's own address.
        let plain = tempfile::tempdir().unwrap();
        let relays = write_relays(plain.path(), &ea, &eb, "picsou", Ports::Fixed).unwrap();
        let a0 = std::fs::read_to_string(&relays[0].config).unwrap();
        assert!(a0.contains("addr = \"/ip4/127.0.0.1/tcp/7200\""), "{a0}");
        assert!(
            write_relays_with(
                plain.path(),
                &ea,
                &eb,
                "picsou",
                Ports::Fixed,
                Some(&proxies[..3])
            )
            .is_err()
        );
    }
}
