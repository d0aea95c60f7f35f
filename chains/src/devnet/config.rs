//! The devnet chain process's settings and their validation.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::types::{ChainId, ChainKind};

/// Most validators one devnet chain process simulates.
pub const MAX_VALIDATORS: usize = 128;
/// Longest block interval accepted.
pub const MAX_BLOCK_INTERVAL: Duration = Duration::from_secs(60);
/// Highest `--load` accepted (transactions per second).
pub const MAX_LOAD_TPS: u32 = 1_000_000;

/// Funded devnet accounts per chain unless set otherwise.
pub const DEFAULT_ACCOUNTS: u64 = 64;
/// Most devnet accounts per chain.
pub const MAX_ACCOUNTS: u64 = 100_000;

/// The chain id used when none is given.
pub fn default_chain_id(kind: ChainKind) -> &'static str {
    match kind {
        ChainKind::Algorand => "algorand-devnet",
        ChainKind::Resdb => "resdb-devnet",
    }
}

/// The other chain model.
pub(crate) fn peer_of(kind: ChainKind) -> ChainKind {
    match kind {
        ChainKind::Algorand => ChainKind::Resdb,
        ChainKind::Resdb => ChainKind::Algorand,
    }
}

/// Why a devnet chain could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevnetError {
    /// A setting is out of range or inconsistent.
    #[error("invalid setting {setting}: {reason}")]
    Config {
        /// The setting, named as on the command line (`--offline`).
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An endpoint could not listen.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The IO error (in the message, so not a separate source).
        reason: std::io::Error,
    },
    /// The state directory could not be opened or read. The message includes the storage
    /// error's, so it is not repeated as a source.
    #[error("state directory: {0}")]
    Storage(storage::StorageError),
    /// The persisted state does not match these settings or is damaged.
    #[error("persisted state: {0}")]
    State(String),
    /// The chain engine refused to start or to produce a block.
    #[error("chain engine: {0}")]
    Engine(String),
    /// An RPC method could not be registered (a bug).
    #[error("rpc registration: {0}")]
    Register(String),
}

impl From<storage::StorageError> for DevnetError {
    fn from(e: storage::StorageError) -> Self {
        DevnetError::Storage(e)
    }
}

/// How to run one devnet chain: which model, how many validators, where to listen.
#[derive(Debug, Clone)]
pub struct DevnetConfig {
    /// The chain model.
    pub kind: ChainKind,
    /// Number of validators (each gets one endpoint).
    pub validators: usize,
    /// Address of validator 0's endpoint. With port `P > 0`, validator `i` listens on `P + i`;
    /// with port 0 every endpoint gets a free port chosen by the OS.
    pub listen: SocketAddr,
    /// Time between blocks.
    pub block_interval: Duration,
    /// Random valid transactions submitted per second by the process itself (0: none).
    pub load_tps: u32,
    /// Validators that do not sign (their endpoints still serve).
    pub offline: BTreeSet<usize>,
    /// Where the chain keeps its state; `None` keeps it in memory only.
    pub dir: Option<PathBuf>,
    /// Seed of every devnet key (validators and accounts).
    pub seed: String,
    /// This chain's id; `None`: `algorand-devnet` or `resdb-devnet`.
    pub chain_id: Option<String>,
    /// The peer chain (the other model) whose transfers this chain accepts and to which its
    /// `BridgeOut`s go; `None`: the other model's default id.
    pub peer_chain_id: Option<String>,
    /// The peer chain's validator count (it must match the peer process); `None`: the same as
    /// `validators` (at least 4 for a resdb peer).
    pub peer_validators: Option<usize>,
    /// Funded devnet accounts on each chain (the peer must use the same number).
    pub accounts: u64,
}

impl DevnetConfig {
    /// Defaults for everything but the model, the validator count and the address: 200 ms
    /// blocks, no load, everyone online, in memory, seed `picsou-devnet`.
    pub fn new(kind: ChainKind, validators: usize, listen: SocketAddr) -> Self {
        Self {
            kind,
            validators,
            listen,
            block_interval: Duration::from_millis(200),
            load_tps: 0,
            offline: BTreeSet::new(),
            dir: None,
            seed: "picsou-devnet".to_owned(),
            chain_id: None,
            peer_chain_id: None,
            peer_validators: None,
            accounts: DEFAULT_ACCOUNTS,
        }
    }

    /// This chain's id.
    pub fn chain_id(&self) -> String {
        self.chain_id
            .clone()
            .unwrap_or_else(|| default_chain_id(self.kind).to_owned())
    }

    /// The peer chain's id.
    pub fn peer_chain_id(&self) -> String {
        self.peer_chain_id
            .clone()
            .unwrap_or_else(|| default_chain_id(peer_of(self.kind)).to_owned())
    }

    /// The peer chain's validator count.
    pub fn peer_validators(&self) -> usize {
        self.peer_validators.unwrap_or(match peer_of(self.kind) {
            ChainKind::Resdb => self.validators.max(4),
            ChainKind::Algorand => self.validators,
        })
    }

    /// Checks every setting; the error names the command-line flag.
    pub fn validate(&self) -> Result<(), DevnetError> {
        let bad = |setting, reason: String| Err(DevnetError::Config { setting, reason });
        if self.validators == 0 || self.validators > MAX_VALIDATORS {
            return bad(
                "--validators",
                format!("must be 1 to {MAX_VALIDATORS}, got {}", self.validators),
            );
        }
        if self.kind == ChainKind::Resdb && self.validators < 4 {
            return bad(
                "--validators",
                format!(
                    "a resdb chain needs n = 3f+1 ≥ 4 replicas, got {}",
                    self.validators
                ),
            );
        }
        let port = usize::from(self.listen.port());
        if port != 0 && port + self.validators - 1 > usize::from(u16::MAX) {
            return bad(
                "--listen",
                format!(
                    "ports {port}..{} do not fit below 65536 (use port 0 for free ports)",
                    port + self.validators - 1
                ),
            );
        }
        if self.block_interval.is_zero() || self.block_interval > MAX_BLOCK_INTERVAL {
            return bad(
                "--block-interval-ms",
                format!(
                    "must be 1 to {} ms, got {} ms",
                    MAX_BLOCK_INTERVAL.as_millis(),
                    self.block_interval.as_millis()
                ),
            );
        }
        if self.load_tps > MAX_LOAD_TPS {
            return bad(
                "--load",
                format!("must be at most {MAX_LOAD_TPS}, got {}", self.load_tps),
            );
        }
        if let Some(v) = self.offline.iter().find(|v| **v >= self.validators) {
            return bad(
                "--offline",
                format!(
                    "validator {v} does not exist (validators are 0..{})",
                    self.validators - 1
                ),
            );
        }
        if self.seed.is_empty() {
            return bad("--seed", "must not be empty".to_owned());
        }
        if let Err(e) = ChainId::new(self.chain_id()) {
            return bad(
                "--chain-id",
                format!(
                    "{:?}: {e} (1 to 64 printable ascii characters)",
                    self.chain_id()
                ),
            );
        }
        if let Err(e) = ChainId::new(self.peer_chain_id()) {
            return bad(
                "--peer-chain-id",
                format!(
                    "{:?}: {e} (1 to 64 printable ascii characters)",
                    self.peer_chain_id()
                ),
            );
        }
        if self.chain_id() == self.peer_chain_id() {
            return bad(
                "--peer-chain-id",
                format!("must differ from the chain's own id {:?}", self.chain_id()),
            );
        }
        let peer = self.peer_validators();
        let peer_min = if peer_of(self.kind) == ChainKind::Resdb {
            4
        } else {
            1
        };
        if peer < peer_min || peer > MAX_VALIDATORS {
            return bad(
                "--peer-validators",
                format!("must be {peer_min} to {MAX_VALIDATORS}, got {peer}"),
            );
        }
        if self.accounts < 2 || self.accounts > MAX_ACCOUNTS {
            return bad(
                "--accounts",
                format!("must be 2 to {MAX_ACCOUNTS}, got {}", self.accounts),
            );
        }
        Ok(())
    }

    /// The address of validator `i`'s endpoint (port 0 stays 0: the OS picks).
    pub(crate) fn endpoint_addr(&self, i: usize) -> SocketAddr {
        let mut addr = self.listen;
        if addr.port() != 0 {
            // validate() checked that every port fits.
            let port = usize::from(addr.port()) + i;
            addr.set_port(u16::try_from(port).unwrap_or(u16::MAX));
        }
        addr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> DevnetConfig {
        DevnetConfig::new(
            ChainKind::Algorand,
            4,
            "127.0.0.1:9000".parse().expect("address"),
        )
    }

    fn setting(c: &DevnetConfig) -> &'static str {
        match c.validate() {
            Err(DevnetError::Config { setting, .. }) => setting,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_valid_and_ports_are_consecutive() {
        let c = cfg();
        assert!(c.validate().is_ok());
        assert_eq!(c.endpoint_addr(3).port(), 9003);
    }

    #[test]
    fn each_bad_setting_is_named() {
        let mut c = cfg();
        c.validators = 0;
        assert_eq!(setting(&c), "--validators");
        let mut c = cfg();
        c.kind = ChainKind::Resdb;
        c.validators = 3;
        assert_eq!(setting(&c), "--validators");
        let mut c = cfg();
        c.listen = "127.0.0.1:65534".parse().expect("address");
        assert_eq!(setting(&c), "--listen");
        let mut c = cfg();
        c.block_interval = Duration::ZERO;
        assert_eq!(setting(&c), "--block-interval-ms");
        let mut c = cfg();
        c.offline.insert(4);
        assert_eq!(setting(&c), "--offline");
        let mut c = cfg();
        c.load_tps = MAX_LOAD_TPS + 1;
        assert_eq!(setting(&c), "--load");
        let mut c = cfg();
        c.chain_id = Some("has space".into());
        assert_eq!(setting(&c), "--chain-id");
        let mut c = cfg();
        c.peer_chain_id = Some("algorand-devnet".into());
        assert_eq!(setting(&c), "--peer-chain-id");
        let mut c = cfg();
        c.peer_validators = Some(3);
        assert_eq!(setting(&c), "--peer-validators");
        let mut c = cfg();
        c.accounts = 1;
        assert_eq!(setting(&c), "--accounts");
    }
}
