//! The relay's TOML configuration file: its shape, environment overrides, and the checks that
//! turn it into a [`relayer::node::NodeConfig`].
//!
//! Every problem found is reported at once, each naming the file, the field and what is wrong.
//! Unknown fields are refused. Environment variables `PICSOU_<SECTION>__<FIELD>` (e.g.
//! `PICSOU_RPC__LISTEN=127.0.0.1:9000`) override a field of a section before checking; the value
//! is read as a TOML value when it parses as one (numbers, booleans, arrays), else as a string.
//! Relative paths are relative to the file's directory.

use crate::keys;
use chains::engine::PeerSpec;
use relayer::node::{NodeConfig, RelayPeer};
use relayer::protocol::{ClusterConfig, Params, ProtocolKind};
use relayer::types::{NodeId, Side, Stake};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// `[relay]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelaySection {
    /// `"a"` or `"b"`.
    pub side: String,
    /// Index in the cluster (= the validator's index).
    pub index: u32,
    /// Protocol name.
    #[serde(default = "default_protocol")]
    pub protocol: String,
    /// Database directory.
    pub data_dir: PathBuf,
}

fn default_protocol() -> String {
    "picsou".into()
}

/// `[keys]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysSection {
    /// libp2p identity key file (0600).
    pub identity: PathBuf,
    /// Batch-signing key file (0600).
    pub batch: PathBuf,
}

/// `[network]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// libp2p listen multiaddresses.
    pub listen: Vec<String>,
}

/// `[rpc]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpcSection {
    /// JSON-RPC, health and metrics address.
    #[serde(default = "default_rpc")]
    pub listen: String,
    /// Also serve `admin_*` methods (only honoured on a loopback address).
    #[serde(default = "default_true")]
    pub admin: bool,
}

fn default_rpc() -> String {
    "127.0.0.1:8545".into()
}
fn default_true() -> bool {
    true
}

impl Default for RpcSection {
    fn default() -> Self {
        RpcSection {
            listen: default_rpc(),
            admin: true,
        }
    }
}

/// `[chain]`: the validator beside this relay.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSection {
    /// Its JSON-RPC endpoint.
    pub endpoint: String,
    /// The chain's spec file (JSON: identity, rules, genesis set).
    pub spec: PathBuf,
}

/// `[peer_chain]`: the other chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerChainSection {
    /// Its spec file (what the light client starts from).
    pub spec: PathBuf,
}

/// `[log]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// A tracing filter directive, e.g. `info` or `relayer=debug,info`.
    #[serde(default = "default_level")]
    pub level: String,
    /// `text` or `json`.
    #[serde(default = "default_format")]
    pub format: String,
}

fn default_level() -> String {
    "info".into()
}
fn default_format() -> String {
    "text".into()
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            level: default_level(),
            format: default_format(),
        }
    }
}

/// `[clusters.a]` / `[clusters.b]`: fault bounds in stake units (default: BFT, ⌊(Δ−1)/3⌋).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundsSection {
    /// Most stake that may fail.
    pub u: Option<u64>,
    /// Most stake that may be Byzantine.
    pub r: Option<u64>,
}

/// `[clusters]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClustersSection {
    /// Cluster A.
    #[serde(default)]
    pub a: BoundsSection,
    /// Cluster B.
    #[serde(default)]
    pub b: BoundsSection,
}

/// One `[[relays]]` entry: a relay of either cluster (including this one).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayEntry {
    /// `"a"` or `"b"`.
    pub side: String,
    /// Index in its cluster.
    pub index: u32,
    /// libp2p peer id.
    pub peer_id: String,
    /// Batch-signing public key, 64 hex digits.
    pub batch_key: String,
    /// libp2p address.
    pub addr: String,
    /// Stake (its validator's weight, in relay units).
    #[serde(default = "default_stake")]
    pub stake: u64,
}

fn default_stake() -> u64 {
    1
}

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileConfig {
    /// `[relay]`.
    pub relay: RelaySection,
    /// `[keys]`.
    pub keys: KeysSection,
    /// `[network]`.
    pub network: NetworkSection,
    /// `[rpc]`.
    pub rpc: RpcSection,
    /// `[chain]`.
    pub chain: ChainSection,
    /// `[peer_chain]`.
    pub peer_chain: PeerChainSection,
    /// `[log]`.
    pub log: LogSection,
    /// `[clusters]`.
    pub clusters: ClustersSection,
    /// `[[relays]]`.
    pub relays: Vec<RelayEntry>,
}

/// One problem with a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted field path, e.g. `rpc.listen` or `relays[3].peer_id`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Every problem found in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The file.
    pub file: PathBuf,
    /// The problems, in file order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{}: {n} problem{}",
            self.file.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  {}: {}: {}", self.file.display(), p.field, p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Collects problems.
#[derive(Debug, Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            field: field.into(),
            message: message.into(),
        });
    }
}

const SECTIONS: [&str; 9] = [
    "relay",
    "keys",
    "network",
    "rpc",
    "chain",
    "peer_chain",
    "log",
    "clusters",
    "relays",
];

/// Applies `PICSOU_SECTION__FIELD` overrides from `vars` to a parsed table.
fn apply_env(
    table: &mut toml::Table,
    vars: impl Iterator<Item = (String, String)>,
    p: &mut Problems,
) {
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix("PICSOU_") else {
            continue;
        };
        let Some((section, field)) = rest.split_once("__") else {
            continue;
        };
        let (section, field) = (section.to_lowercase(), field.to_lowercase());
        if !SECTIONS.contains(&section.as_str()) || section == "relays" {
            p.add(
                name.clone(),
                format!("environment override names unknown section {section:?}"),
            );
            continue;
        }
        let parsed = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.clone()));
        let entry = table
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match entry {
            toml::Value::Table(t) => {
                t.insert(field, parsed);
            }
            _ => p.add(
                section,
                "is not a table, cannot apply an environment override",
            ),
        }
    }
}

fn section<T: DeserializeOwned>(
    table: &toml::Table,
    name: &str,
    required: bool,
    p: &mut Problems,
) -> Option<T> {
    let value = match table.get(name) {
        Some(v) => v.clone(),
        None if required => {
            p.add(name, "missing section");
            return None;
        }
        None => toml::Value::Table(toml::Table::new()),
    };
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(e) => {
            let message = e.inner().message().trim().to_owned();
            p.add(field_path(name, e.path(), &message), message);
            None
        }
    }
}

/// Where a deserialization problem is: `section.field` (or `section.list[i]`) for a bad value;
/// the enclosing table for a missing or unknown field, which the message names.
fn field_path(section: &str, path: &serde_path_to_error::Path, message: &str) -> String {
    use serde_path_to_error::Segment;
    let mut segments: Vec<&Segment> = path.iter().collect();
    if message.starts_with("unknown field") {
        segments.pop();
    }
    let mut out = section.to_owned();
    for s in segments {
        if !matches!(s, Segment::Seq { .. }) {
            out.push('.');
        }
        out.push_str(&s.to_string());
    }
    out
}

/// Reads a file, applies environment overrides and checks its shape (not yet the files it
/// names). All shape problems are reported together.
pub fn parse(
    path: &Path,
    text: &str,
    env: impl Iterator<Item = (String, String)>,
) -> Result<FileConfig, ConfigErrors> {
    let errors = |problems| ConfigErrors {
        file: path.to_owned(),
        problems,
    };
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        errors(vec![Problem {
            field: "(syntax)".into(),
            message: e.to_string().trim().replace('\n', " "),
        }])
    })?;
    let mut p = Problems::default();
    apply_env(&mut table, env, &mut p);
    for key in table.keys() {
        if !SECTIONS.contains(&key.as_str()) {
            p.add(
                key.clone(),
                format!("unknown section (expected one of {})", SECTIONS.join(", ")),
            );
        }
    }
    let relay = section::<RelaySection>(&table, "relay", true, &mut p);
    let keys = section::<KeysSection>(&table, "keys", true, &mut p);
    let network = section::<NetworkSection>(&table, "network", true, &mut p);
    let rpc = section::<RpcSection>(&table, "rpc", false, &mut p);
    let chain = section::<ChainSection>(&table, "chain", true, &mut p);
    let peer_chain = section::<PeerChainSection>(&table, "peer_chain", true, &mut p);
    let log = section::<LogSection>(&table, "log", false, &mut p);
    let clusters = section::<ClustersSection>(&table, "clusters", false, &mut p);
    let mut relays = Vec::new();
    match table.get("relays") {
        Some(toml::Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match serde_path_to_error::deserialize::<_, RelayEntry>(item.clone()) {
                    Ok(r) => relays.push(r),
                    Err(e) => {
                        let message = e.inner().message().trim().to_owned();
                        p.add(
                            field_path(&format!("relays[{i}]"), e.path(), &message),
                            message,
                        );
                    }
                }
            }
        }
        Some(_) => p.add("relays", "must be an array of tables ([[relays]])"),
        None => p.add(
            "relays",
            "missing: list every relay of both clusters as [[relays]]",
        ),
    }
    match (relay, keys, network, rpc, chain, peer_chain, log, clusters) {
        (
            Some(relay),
            Some(keys),
            Some(network),
            Some(rpc),
            Some(chain),
            Some(peer_chain),
            Some(log),
            Some(clusters),
        ) if p.0.is_empty() => Ok(FileConfig {
            relay,
            keys,
            network,
            rpc,
            chain,
            peer_chain,
            log,
            clusters,
            relays,
        }),
        _ => Err(errors(p.0)),
    }
}

fn side(s: &str) -> Option<Side> {
    match s {
        "a" | "A" => Some(Side::A),
        "b" | "B" => Some(Side::B),
        _ => None,
    }
}

/// A checked configuration: what `start` runs.
#[derive(Debug)]
pub struct Resolved {
    /// For the node.
    pub node: NodeConfig,
    /// JSON-RPC address.
    pub rpc: SocketAddr,
    /// Serve admin methods.
    pub admin: bool,
    /// Log settings.
    pub log: LogSection,
}

/// Checks everything the file names (keys, spec files, addresses, the relay list) and builds the
/// node's configuration. All problems are reported together.
pub fn resolve(path: &Path, f: &FileConfig) -> Result<Resolved, ConfigErrors> {
    let base = path.parent().unwrap_or(Path::new("."));
    let at = |p: &Path| {
        if p.is_absolute() {
            p.to_owned()
        } else {
            base.join(p)
        }
    };
    let mut p = Problems::default();

    let me_side = side(&f.relay.side);
    if me_side.is_none() {
        p.add(
            "relay.side",
            format!("{:?} is not \"a\" or \"b\"", f.relay.side),
        );
    }
    let protocol = f.relay.protocol.parse::<ProtocolKind>();
    if let Err(e) = &protocol {
        p.add("relay.protocol", e.clone());
    }
    let identity = keys::read_identity(&at(&f.keys.identity))
        .map_err(|e| p.add("keys.identity", e.to_string()))
        .ok();
    let batch_key = keys::read_batch_key(&at(&f.keys.batch))
        .map_err(|e| p.add("keys.batch", e.to_string()))
        .ok();
    let mut listen = Vec::new();
    for (i, a) in f.network.listen.iter().enumerate() {
        match a.parse::<libp2p::Multiaddr>() {
            Ok(m) => listen.push(m),
            Err(e) => p.add(format!("network.listen[{i}]"), format!("{a:?}: {e}")),
        }
    }
    if f.network.listen.is_empty() {
        p.add(
            "network.listen",
            "empty: give at least one address, e.g. \"/ip4/127.0.0.1/tcp/7100\"",
        );
    }
    let rpc = f
        .rpc
        .listen
        .parse::<SocketAddr>()
        .map_err(|e| {
            p.add(
                "rpc.listen",
                format!("{:?}: {e} (expected host:port)", f.rpc.listen),
            )
        })
        .ok();
    if !f.chain.endpoint.starts_with("http://") {
        p.add(
            "chain.endpoint",
            format!("{:?}: expected http://host:port", f.chain.endpoint),
        );
    }
    let own_chain = read_spec(&at(&f.chain.spec))
        .map_err(|e| p.add("chain.spec", e))
        .ok();
    let peer_chain = read_spec(&at(&f.peer_chain.spec))
        .map_err(|e| p.add("peer_chain.spec", e))
        .ok();
    if f.log.format != "text" && f.log.format != "json" {
        p.add(
            "log.format",
            format!("{:?} is not \"text\" or \"json\"", f.log.format),
        );
    }
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&f.log.level) {
        p.add("log.level", format!("{:?}: {e}", f.log.level));
    }

    // The relay list: every relay of both clusters, indices dense from 0 per side.
    let mut stakes: [Vec<Option<u64>>; 2] = [Vec::new(), Vec::new()];
    let mut peers = Vec::new();
    let mut my_entry = None;
    for (i, r) in f.relays.iter().enumerate() {
        let field = |name: &str| format!("relays[{i}].{name}");
        let Some(s) = side(&r.side) else {
            p.add(field("side"), format!("{:?} is not \"a\" or \"b\"", r.side));
            continue;
        };
        let node = NodeId::new(s, r.index);
        let list = &mut stakes[usize::from(s == Side::B)];
        let idx = r.index as usize;
        if idx >= 1024 {
            p.add(field("index"), "above 1023");
            continue;
        }
        if list.len() <= idx {
            list.resize(idx + 1, None);
        }
        if list[idx].is_some() {
            p.add(field("index"), format!("relay {node} is listed twice"));
            continue;
        }
        if r.stake == 0 {
            p.add(field("stake"), "must be positive");
        }
        list[idx] = Some(r.stake);
        let peer_id = r
            .peer_id
            .parse::<libp2p::PeerId>()
            .map_err(|e| p.add(field("peer_id"), format!("{:?}: {e}", r.peer_id)))
            .ok();
        let key = keys::parse_public_key(&r.batch_key)
            .map_err(|e| p.add(field("batch_key"), e))
            .ok();
        let addr = r
            .addr
            .parse::<libp2p::Multiaddr>()
            .map_err(|e| p.add(field("addr"), format!("{:?}: {e}", r.addr)))
            .ok();
        if Some(s) == me_side && r.index == f.relay.index {
            my_entry = Some((i, peer_id, key));
            continue;
        }
        if let (Some(peer_id), Some(batch_key), Some(addr)) = (peer_id, key, addr) {
            peers.push(RelayPeer {
                node,
                peer_id,
                addr,
                batch_key,
            });
        }
    }
    for (s, list) in stakes.iter().enumerate() {
        let name = if s == 0 { "a" } else { "b" };
        if list.is_empty() {
            p.add("relays", format!("no relay of cluster {name}"));
        }
        for (i, v) in list.iter().enumerate() {
            if v.is_none() {
                p.add(
                    "relays",
                    format!("cluster {name} has no relay with index {i} (indices must be 0..n)"),
                );
            }
        }
    }
    match (&my_entry, me_side) {
        (None, Some(_)) => p.add(
            "relays",
            format!(
                "this relay ({}{}) is not in the list",
                f.relay.side, f.relay.index
            ),
        ),
        (Some((i, peer_id, key)), _) => {
            if let (Some(id), Some(identity)) = (peer_id, &identity)
                && *id != identity.public().to_peer_id()
            {
                p.add(
                    format!("relays[{i}].peer_id"),
                    "does not match keys.identity",
                );
            }
            if let (Some(k), Some(bk)) = (key, &batch_key)
                && *k != bk.verifying_key()
            {
                p.add(
                    format!("relays[{i}].batch_key"),
                    "does not match keys.batch",
                );
            }
        }
        _ => {}
    }
    let cluster = |s: Side, list: &[Option<u64>], b: &BoundsSection, p: &mut Problems| {
        let stakes: Vec<Stake> = list.iter().map(|v| Stake(v.unwrap_or(1))).collect();
        let total: u64 = stakes.iter().map(|s| s.0).sum();
        let f = total.saturating_sub(1) / 3;
        let c = ClusterConfig {
            side: s,
            stakes,
            u: Stake(b.u.unwrap_or(f)),
            r: Stake(b.r.unwrap_or(b.u.unwrap_or(f).min(f))),
        };
        if !list.is_empty()
            && let Err(e) = c.validate()
        {
            p.add(
                format!("clusters.{}", if s == Side::A { "a" } else { "b" }),
                e.to_string(),
            );
        }
        c
    };
    let cluster_a = cluster(Side::A, &stakes[0], &f.clusters.a, &mut p);
    let cluster_b = cluster(Side::B, &stakes[1], &f.clusters.b, &mut p);
    if let (Some(a), Some(b)) = (&own_chain, &peer_chain)
        && a.chain_id() == b.chain_id()
    {
        p.add("peer_chain.spec", "names the same chain as chain.spec");
    }
    if !p.0.is_empty() {
        return Err(ConfigErrors {
            file: path.to_owned(),
            problems: p.0,
        });
    }
    let (
        Some(me_side),
        Ok(protocol),
        Some(identity),
        Some(batch_key),
        Some(rpc),
        Some(own_chain),
        Some(peer_chain),
    ) = (
        me_side, protocol, identity, batch_key, rpc, own_chain, peer_chain,
    )
    else {
        unreachable!("every missing value above added a problem")
    };
    let node = NodeConfig {
        me: NodeId::new(me_side, f.relay.index),
        protocol,
        params: Params::default(),
        cluster_a,
        cluster_b,
        epoch: 0,
        identity,
        batch_key,
        listen,
        peers,
        data_dir: at(&f.relay.data_dir),
        chain_endpoint: f.chain.endpoint.clone(),
        own_chain,
        peer_chain,
    };
    if let Err(e) = node.validate() {
        return Err(ConfigErrors {
            file: path.to_owned(),
            problems: vec![Problem {
                field: "relays".into(),
                message: e,
            }],
        });
    }
    Ok(Resolved {
        node,
        rpc,
        admin: f.rpc.admin,
        log: f.log.clone(),
    })
}

fn read_spec(path: &Path) -> Result<PeerSpec, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: not a chain spec: {e}", path.display()))
}

/// Reads, overrides from the process environment, and resolves a config file. A problem with
/// a field (or section) that an environment variable set names that variable.
pub fn load(path: &Path) -> Result<Resolved, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
        file: path.to_owned(),
        problems: vec![Problem {
            field: "(file)".into(),
            message: format!("cannot read: {e}"),
        }],
    })?;
    let env: Vec<(String, String)> = std::env::vars().collect();
    parse(path, &text, env.iter().cloned())
        .and_then(|f| resolve(path, &f))
        .map_err(|e| name_overrides(e, &env))
}

/// Appends `(set by PICSOU_…)` to every problem about a field or section an override set.
fn name_overrides(mut errors: ConfigErrors, env: &[(String, String)]) -> ConfigErrors {
    for p in &mut errors.problems {
        let vars: Vec<&str> = env
            .iter()
            .filter_map(|(name, _)| {
                let (section, field) = name.strip_prefix("PICSOU_")?.split_once("__")?;
                let (section, field) = (section.to_lowercase(), field.to_lowercase());
                let dotted = format!("{section}.{field}");
                let about = p.field == section
                    || p.field == dotted
                    || p.field.starts_with(&format!("{dotted}["));
                about.then_some(name.as_str())
            })
            .collect();
        if !vars.is_empty() {
            p.message = format!("{} (set by {})", p.message, vars.join(", "));
        }
    }
    errors
}
