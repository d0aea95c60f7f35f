//! Deterministic in-process devnet engines: one per chain kind, holding every validator key
//! (derived from a seed), ordering submitted transactions into certified blocks, and applying
//! them to the bridge ledger.
//!
//! The engine is a plain state machine: it reads no clock (block timestamps are arguments) and no
//! randomness, so its blocks are a pure function of its config and inputs. Its whole state is
//! serde-serializable for persistence.

use crate::algorand::{self, Algorand};
use crate::codec::{Writer, decode_all};
use crate::keys::{AccountKey, derive_secret, sha512_256};
use crate::ledger::{Account, Checked, Ledger, LedgerError, PeerClient};
use crate::model::{Block, ExportEntry, ExportError, Exporter, Model, SignedMessage};
use crate::resdb::{self, KeyScheme, ReplicaSigner, Resdb};
use crate::tx::{Tx, TxBody, TxRecord, transfer_id};
use crate::types::{
    Address, Amount, ChainId, ChainKind, Epoch, Hash32, Height, Stake, TransferId, TxId,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use thiserror::Error;

/// One devnet validator: which derived key it uses, its stake (Algorand-style) and key scheme
/// (ResDB-style).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorSpec {
    /// Index of the derived key (`derive_secret(seed, "<kind>/validator", key_index)`); also
    /// the ResDB-style replica id.
    pub key_index: u64,
    /// Stake (ignored by the ResDB-style chain; must be positive on the Algorand-style chain).
    #[serde(default = "default_stake")]
    pub stake: u64,
    /// Key scheme (ignored by the Algorand-style chain, always ed25519).
    #[serde(default)]
    pub scheme: KeyScheme,
}

fn default_stake() -> u64 {
    100
}

/// A devnet chain's configuration. Everything (keys, genesis) derives from it deterministically.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Chain kind.
    pub kind: ChainKind,
    /// Chain id (the Algorand-style genesis id).
    pub chain_id: ChainId,
    /// Seed all keys derive from.
    pub seed: String,
    /// Blocks per epoch (≥ 1).
    pub epoch_length: u64,
    /// The genesis validators.
    pub validators: Vec<ValidatorSpec>,
    /// Number of devnet accounts (`AccountKey::devnet(kind, seed, i)` for `i < accounts`).
    pub accounts: u64,
    /// Genesis balance of each devnet account.
    pub initial_balance: Amount,
    /// Most transactions per block.
    #[serde(default = "default_max_block_txs")]
    pub max_block_txs: usize,
}

fn default_max_block_txs() -> usize {
    20_000
}

impl EngineConfig {
    /// A devnet config with `n` validators (stake 100 each; secp256k1 replicas), `accounts`
    /// accounts of `1_000_000` each, and epochs of 100 blocks.
    pub fn devnet(kind: ChainKind, chain_id: ChainId, seed: &str, n: u64, accounts: u64) -> Self {
        EngineConfig {
            kind,
            chain_id,
            seed: seed.to_owned(),
            epoch_length: 100,
            validators: (0..n)
                .map(|i| ValidatorSpec {
                    key_index: i,
                    stake: 100,
                    scheme: KeyScheme::Secp256k1,
                })
                .collect(),
            accounts,
            initial_balance: Amount(1_000_000),
            max_block_txs: default_max_block_txs(),
        }
    }

    /// The signing key of devnet account `i`.
    pub fn account_key(&self, i: u64) -> AccountKey {
        AccountKey::devnet(self.kind, &self.seed, i)
    }

    /// A signed `BridgeOut` of `amount` from devnet account `account` of this chain to the
    /// same-numbered account of `dst`, with `nonce`, and the id of the transfer it makes.
    pub fn bridge_out(
        &self,
        dst: &EngineConfig,
        account: u64,
        amount: u64,
        nonce: u64,
    ) -> (Tx, TransferId) {
        let key = self.account_key(account);
        let body = TxBody::BridgeOut {
            from: key.address(),
            dest_chain: dst.chain_id.clone(),
            recipient: dst.account_key(account).address(),
            amount: Amount(amount),
            nonce,
        };
        let tx = Tx::sign(self.kind, &self.chain_id, body, &key);
        let id = transfer_id(&self.chain_id, &tx.id(self.kind, &self.chain_id));
        (tx, id)
    }

    fn genesis_balances(&self) -> Vec<(Address, Amount)> {
        (0..self.accounts)
            .map(|i| (self.account_key(i).address(), self.initial_balance))
            .collect()
    }

    /// What another chain needs to host a light client of this one.
    pub fn peer_spec(&self) -> Result<PeerSpec, EngineError> {
        Ok(match self.kind {
            ChainKind::Algorand => PeerSpec::Algorand {
                params: self.algorand_params()?,
                genesis: algorand_set(self, Epoch(0), &self.validators)?,
            },
            ChainKind::Resdb => PeerSpec::Resdb {
                params: resdb::Params {
                    chain_id: self.chain_id.clone(),
                    epoch_length: self.epoch_length,
                },
                genesis: resdb_set(self, Epoch(0), &self.validators)?,
            },
        })
    }

    fn algorand_params(&self) -> Result<algorand::Params, EngineError> {
        let set = algorand_set(self, Epoch(0), &self.validators)?;
        let mut w = Writer::with_prefix(b"GE");
        self.chain_id.encode(&mut w);
        w.u64(self.epoch_length);
        set.encode(&mut w);
        let balances = self.genesis_balances();
        w.count(balances.len());
        for (a, v) in &balances {
            a.encode(&mut w);
            w.u64(v.0);
        }
        Ok(algorand::Params {
            genesis_id: self.chain_id.clone(),
            genesis_hash: sha512_256(&[w.as_slice()]),
            epoch_length: self.epoch_length,
        })
    }
}

/// A chain's identity and genesis validator set: what a light client of it starts from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerSpec {
    /// An Algorand-style chain.
    Algorand {
        /// Identity and rules.
        params: algorand::Params,
        /// Epoch-0 validators.
        genesis: algorand::ValidatorSet,
    },
    /// A ResDB-style chain.
    Resdb {
        /// Identity and rules.
        params: resdb::Params,
        /// Epoch-0 replicas.
        genesis: resdb::ReplicaSet,
    },
}

impl PeerSpec {
    /// The chain's kind.
    pub fn kind(&self) -> ChainKind {
        match self {
            PeerSpec::Algorand { .. } => ChainKind::Algorand,
            PeerSpec::Resdb { .. } => ChainKind::Resdb,
        }
    }

    /// The followed chain's id.
    pub fn chain_id(&self) -> &ChainId {
        match self {
            PeerSpec::Algorand { params, .. } => &params.genesis_id,
            PeerSpec::Resdb { params, .. } => &params.chain_id,
        }
    }

    /// A light client of that chain, living on `local_chain`.
    pub fn light_client(&self, local_chain: ChainId) -> PeerClient {
        match self {
            PeerSpec::Algorand { params, genesis } => PeerClient::Algorand(
                algorand::LightClient::new(params.clone(), local_chain, genesis.clone()),
            ),
            PeerSpec::Resdb { params, genesis } => PeerClient::Resdb(resdb::LightClient::new(
                params.clone(),
                local_chain,
                genesis.clone(),
            )),
        }
    }
}

fn validator_secret(cfg: &EngineConfig, key_index: u64) -> [u8; 32] {
    let label = match cfg.kind {
        ChainKind::Algorand => "algorand/validator",
        ChainKind::Resdb => "resdb/validator",
    };
    derive_secret(&cfg.seed, label, key_index)
}

fn algorand_set(
    cfg: &EngineConfig,
    epoch: Epoch,
    specs: &[ValidatorSpec],
) -> Result<algorand::ValidatorSet, EngineError> {
    let v = specs
        .iter()
        .map(|s| algorand::Validator {
            vote_key: ed25519_dalek::SigningKey::from_bytes(&validator_secret(cfg, s.key_index))
                .verifying_key()
                .to_bytes(),
            stake: Stake(s.stake),
        })
        .collect();
    algorand::ValidatorSet::new(epoch, v).map_err(|e| EngineError::Config(e.to_string()))
}

fn resdb_set(
    cfg: &EngineConfig,
    epoch: Epoch,
    specs: &[ValidatorSpec],
) -> Result<resdb::ReplicaSet, EngineError> {
    let mut v = Vec::with_capacity(specs.len());
    for s in specs {
        let id = u32::try_from(s.key_index)
            .map_err(|_| EngineError::Config("replica key index above u32".into()))?;
        v.push(resdb::Replica {
            id,
            key: ReplicaSigner::from_secret(s.scheme, validator_secret(cfg, s.key_index)).public(),
        });
    }
    resdb::ReplicaSet::new(epoch, v).map_err(|e| EngineError::Config(e.to_string()))
}

/// Why an engine call failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EngineError {
    /// The configuration is unusable.
    #[error("invalid config: {0}")]
    Config(String),
    /// The transaction was refused at submission.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Too few online validators to certify a block.
    #[error("no quorum: online weight {online}, need {need}")]
    NoQuorum {
        /// Online stake or replica count.
        online: u64,
        /// Needed.
        need: u64,
    },
    /// A peer spec was for this engine's own chain, or a peer is missing.
    #[error("bad peer: {0}")]
    Peer(String),
    /// Export failed (an engine bug if it happens).
    #[error(transparent)]
    Export(#[from] ExportError),
}

impl EngineError {
    /// Whether a refused submission may pass later (see [`LedgerError::is_transient`]).
    pub fn is_transient(&self) -> bool {
        matches!(self, EngineError::Ledger(e) if e.is_transient())
    }
}

/// A submitted transaction's fate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TxStatus {
    /// Waiting for a block.
    Pending,
    /// In the certified block at `height`.
    Committed {
        /// The block.
        height: Height,
    },
    /// Dropped when building a block.
    Rejected {
        /// Why.
        reason: String,
    },
}

/// An engine's summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineStatus {
    /// Chain kind.
    pub kind: ChainKind,
    /// Chain id.
    pub chain_id: ChainId,
    /// Height of the newest block (0: none yet).
    pub height: Height,
    /// Hash of the newest header (zero if none).
    pub tip_hash: Hash32,
    /// Current epoch (of the next block).
    pub epoch: Epoch,
    /// Transactions waiting.
    pub pending: usize,
    /// Transactions committed so far.
    pub committed_txs: u64,
    /// `BridgeOut`s exported so far (the next export index).
    pub exported: u64,
    /// Key indices of validators marked offline.
    pub offline: Vec<u64>,
}

/// The per-model half of an engine: headers and certificates.
pub trait DevModel: Model {
    /// The validator set of `epoch` from specs.
    fn make_set(
        cfg: &EngineConfig,
        epoch: Epoch,
        specs: &[ValidatorSpec],
    ) -> Result<Self::Set, EngineError>;
    /// This model's params from the config.
    fn make_params(cfg: &EngineConfig) -> Result<Self::Params, EngineError>;
    /// Whether the online validators of `set` can certify (checked before a block is built).
    fn check_quorum(
        set: &Self::Set,
        specs: &[ValidatorSpec],
        offline: &BTreeSet<u64>,
    ) -> Result<(), EngineError>;
    /// Build and certify the header of the next block.
    fn seal(ctx: SealContext<'_, Self>) -> Result<(Self::Header, Self::Cert), EngineError>;
}

/// Everything [`DevModel::seal`] needs.
#[derive(Debug)]
pub struct SealContext<'a, M: Model> {
    /// The engine config.
    pub cfg: &'a EngineConfig,
    /// The chain params.
    pub params: &'a M::Params,
    /// The set of this block's epoch.
    pub set: &'a M::Set,
    /// The specs of that set.
    pub specs: &'a [ValidatorSpec],
    /// Key indices offline.
    pub offline: &'a BTreeSet<u64>,
    /// The previous header.
    pub prev: Option<&'a M::Header>,
    /// The new block's height.
    pub height: Height,
    /// Its transaction root.
    pub tx_root: Hash32,
    /// Its transaction count.
    pub tx_count: u32,
    /// Transactions committed up to and including it.
    pub txn_counter: u64,
    /// Its timestamp.
    pub timestamp: u64,
    /// The next set's hash, on the last block of an epoch.
    pub next_set: Option<Hash32>,
}

fn online_specs<'a>(
    specs: &'a [ValidatorSpec],
    offline: &'a BTreeSet<u64>,
) -> impl Iterator<Item = &'a ValidatorSpec> {
    specs.iter().filter(|s| !offline.contains(&s.key_index))
}

impl DevModel for Algorand {
    fn make_set(
        cfg: &EngineConfig,
        epoch: Epoch,
        specs: &[ValidatorSpec],
    ) -> Result<algorand::ValidatorSet, EngineError> {
        algorand_set(cfg, epoch, specs)
    }

    fn make_params(cfg: &EngineConfig) -> Result<algorand::Params, EngineError> {
        cfg.algorand_params()
    }

    fn check_quorum(
        set: &algorand::ValidatorSet,
        specs: &[ValidatorSpec],
        offline: &BTreeSet<u64>,
    ) -> Result<(), EngineError> {
        let online: u64 = online_specs(specs, offline)
            .map(|s| s.stake)
            .fold(0u64, u64::saturating_add);
        let need = set.threshold();
        if online < need || online == 0 {
            return Err(EngineError::NoQuorum { online, need });
        }
        Ok(())
    }

    fn seal(
        ctx: SealContext<'_, Self>,
    ) -> Result<(algorand::Header, algorand::Certificate), EngineError> {
        let keys: Vec<ed25519_dalek::SigningKey> = online_specs(ctx.specs, ctx.offline)
            .map(|s| ed25519_dalek::SigningKey::from_bytes(&validator_secret(ctx.cfg, s.key_index)))
            .collect();
        let online: u64 = online_specs(ctx.specs, ctx.offline)
            .map(|s| s.stake)
            .fold(0u64, u64::saturating_add);
        let need = ctx.set.threshold();
        if online < need || keys.is_empty() {
            return Err(EngineError::NoQuorum { online, need });
        }
        let (prev, prev_seed) = match ctx.prev {
            Some(h) => (h.hash(), h.seed),
            None => (Hash32::ZERO, ctx.params.genesis_hash),
        };
        let header = algorand::Header {
            round: ctx.height,
            prev,
            seed: algorand::next_seed(&prev_seed, ctx.height),
            txn_root: ctx.tx_root,
            timestamp: ctx.timestamp,
            genesis_id: ctx.params.genesis_id.clone(),
            genesis_hash: ctx.params.genesis_hash,
            proto: "picsou-devnet/1".into(),
            txn_counter: ctx.txn_counter,
            next_validators: ctx.next_set,
        };
        let n = keys.len();
        let proposer = keys[(ctx.height.0 % n as u64) as usize]
            .verifying_key()
            .to_bytes();
        let cert = algorand::certify(&header, proposer, &keys);
        Ok((header, cert))
    }
}

impl DevModel for Resdb {
    fn make_set(
        cfg: &EngineConfig,
        epoch: Epoch,
        specs: &[ValidatorSpec],
    ) -> Result<resdb::ReplicaSet, EngineError> {
        resdb_set(cfg, epoch, specs)
    }

    fn make_params(cfg: &EngineConfig) -> Result<resdb::Params, EngineError> {
        Ok(resdb::Params {
            chain_id: cfg.chain_id.clone(),
            epoch_length: cfg.epoch_length,
        })
    }

    fn check_quorum(
        set: &resdb::ReplicaSet,
        specs: &[ValidatorSpec],
        offline: &BTreeSet<u64>,
    ) -> Result<(), EngineError> {
        let online = online_specs(specs, offline).count() as u64;
        let need = set.quorum() as u64;
        if online < need {
            return Err(EngineError::NoQuorum { online, need });
        }
        Ok(())
    }

    fn seal(
        ctx: SealContext<'_, Self>,
    ) -> Result<(resdb::BatchHeader, resdb::CommitCert), EngineError> {
        let signers: Vec<(u32, ReplicaSigner)> = online_specs(ctx.specs, ctx.offline)
            .map(|s| {
                (
                    u32::try_from(s.key_index).unwrap_or(u32::MAX),
                    ReplicaSigner::from_secret(s.scheme, validator_secret(ctx.cfg, s.key_index)),
                )
            })
            .collect();
        let need = ctx.set.quorum() as u64;
        if (signers.len() as u64) < need {
            return Err(EngineError::NoQuorum {
                online: signers.len() as u64,
                need,
            });
        }
        // View change: the lowest view (from the previous one) whose primary is online.
        let n = ctx.set.replicas().len() as u64;
        let start = ctx.prev.map_or(0, |h| h.view);
        let online_ids: BTreeSet<u32> = signers.iter().map(|(id, _)| *id).collect();
        let view = (start..start.saturating_add(n))
            .find(|v| online_ids.contains(&ctx.set.primary(*v)))
            .unwrap_or(start);
        let header = resdb::BatchHeader {
            seq: ctx.height,
            view,
            primary: ctx.set.primary(view),
            prev_hash: ctx.prev.map_or(Hash32::ZERO, |h| h.digest()),
            epoch: Epoch::of(ctx.height, ctx.cfg.epoch_length),
            timestamp: ctx.timestamp,
            request_count: ctx.tx_count,
            request_root: ctx.tx_root,
            next_replicas: ctx.next_set,
        };
        let refs: Vec<(u32, &ReplicaSigner)> = signers.iter().map(|(id, s)| (*id, s)).collect();
        let cert = resdb::certify(&ctx.cfg.chain_id, &header, &refs);
        Ok((header, cert))
    }
}

/// A devnet engine for one chain model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct ChainEngine<M: DevModel> {
    cfg: EngineConfig,
    params: M::Params,
    sets: BTreeMap<Epoch, M::Set>,
    specs: BTreeMap<Epoch, Vec<ValidatorSpec>>,
    scheduled: Option<Vec<ValidatorSpec>>,
    offline: BTreeSet<u64>,
    ledger: Ledger,
    blocks: Vec<Block<M>>,
    pending: VecDeque<Checked>,
    pending_ids: BTreeSet<TxId>,
    statuses: BTreeMap<TxId, TxStatus>,
    txn_counter: u64,
}

impl<M: DevModel> ChainEngine<M> {
    /// A fresh chain at genesis, hosting light clients of `peers`.
    pub fn new(cfg: EngineConfig, peers: &[PeerSpec]) -> Result<Self, EngineError> {
        if cfg.kind != M::KIND {
            return Err(EngineError::Config(
                "config kind differs from engine kind".into(),
            ));
        }
        if cfg.epoch_length == 0 {
            return Err(EngineError::Config(
                "epoch length must be at least 1".into(),
            ));
        }
        let params = M::make_params(&cfg)?;
        let genesis = M::make_set(&cfg, Epoch(0), &cfg.validators)?;
        let mut ledger = Ledger::genesis(cfg.kind, cfg.chain_id.clone(), cfg.genesis_balances());
        for p in peers {
            if p.chain_id() == &cfg.chain_id {
                return Err(EngineError::Peer("a chain cannot be its own peer".into()));
            }
            ledger.add_peer(p.light_client(cfg.chain_id.clone()));
        }
        Ok(ChainEngine {
            sets: BTreeMap::from([(Epoch(0), genesis)]),
            specs: BTreeMap::from([(Epoch(0), cfg.validators.clone())]),
            cfg,
            params,
            scheduled: None,
            offline: BTreeSet::new(),
            ledger,
            blocks: Vec::new(),
            pending: VecDeque::new(),
            pending_ids: BTreeSet::new(),
            statuses: BTreeMap::new(),
            txn_counter: 0,
        })
    }

    /// The chain params (what light clients are configured with).
    pub fn params(&self) -> &M::Params {
        &self.params
    }

    /// The config.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// The ledger state.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// All blocks, from height 1.
    pub fn blocks(&self) -> &[Block<M>] {
        &self.blocks
    }

    /// The block at `height`.
    pub fn block(&self, height: Height) -> Option<&Block<M>> {
        let i = usize::try_from(height.0.checked_sub(1)?).ok()?;
        self.blocks.get(i)
    }

    /// The validator set of `epoch`, once decided.
    pub fn validator_set(&self, epoch: Epoch) -> Option<&M::Set> {
        self.sets.get(&epoch)
    }

    /// Height of the newest block.
    pub fn height(&self) -> Height {
        Height(self.blocks.len() as u64)
    }

    /// Submit encoded transaction bytes (see [`Tx::from_bytes`]): decoded, signature or proof
    /// checked, queued. Resubmitting a pending or committed transaction returns its id again.
    pub fn submit(&mut self, tx_bytes: &[u8]) -> Result<TxId, EngineError> {
        let tx = Tx::from_bytes(tx_bytes).map_err(LedgerError::from)?;
        self.submit_tx(tx)
    }

    /// Submit a decoded transaction (see [`ChainEngine::submit`]).
    pub fn submit_tx(&mut self, tx: Tx) -> Result<TxId, EngineError> {
        let id = tx.id(self.cfg.kind, &self.cfg.chain_id);
        if self.pending_ids.contains(&id)
            || matches!(self.statuses.get(&id), Some(TxStatus::Committed { .. }))
        {
            return Ok(id);
        }
        let checked = self.ledger.check(tx)?;
        self.pending_ids.insert(id);
        self.statuses.insert(id, TxStatus::Pending);
        self.pending.push_back(checked);
        Ok(id)
    }

    /// A transaction's status.
    pub fn tx_status(&self, id: &TxId) -> Option<&TxStatus> {
        self.statuses.get(id)
    }

    /// Mark validators (by key index) offline: they stop signing.
    pub fn set_offline(&mut self, offline: BTreeSet<u64>) {
        self.offline = offline;
    }

    /// Use `specs` as the validator set from the next epoch on (committed by the last block of
    /// the current epoch).
    pub fn schedule_validators(&mut self, specs: Vec<ValidatorSpec>) -> Result<(), EngineError> {
        M::make_set(&self.cfg, Epoch(0), &specs)?;
        self.scheduled = Some(specs);
        Ok(())
    }

    /// Order the pending transactions (up to `max_block_txs`) into the next block, apply them,
    /// and certify it with every online validator. Transactions the ledger refuses are dropped
    /// (status `rejected`). Fails, changing nothing, if the online validators cannot certify.
    pub fn produce_block(&mut self, timestamp_ms: u64) -> Result<&Block<M>, EngineError> {
        let height = Height(self.height().0.saturating_add(1));
        let len = self.cfg.epoch_length;
        let epoch = Epoch::of(height, len);
        let (set, specs) = match (self.sets.get(&epoch), self.specs.get(&epoch)) {
            (Some(s), Some(p)) => (s.clone(), p.clone()),
            _ => return Err(EngineError::Config("no validator set for the epoch".into())),
        };
        let next = if height.is_epoch_end(len) {
            let specs = self.scheduled.clone().unwrap_or_else(|| specs.clone());
            let set = M::make_set(&self.cfg, Epoch(epoch.0.saturating_add(1)), &specs)?;
            Some((set, specs))
        } else {
            None
        };
        // Fail before touching any state if the online validators cannot certify; after this
        // check sealing cannot fail, so the ledger is updated in place.
        M::check_quorum(&set, &specs, &self.offline)?;
        let take = self.pending.len().min(self.cfg.max_block_txs);
        let mut records = Vec::with_capacity(take);
        let mut outcomes = Vec::with_capacity(take);
        for c in self.pending.iter().take(take) {
            match self.ledger.apply(c) {
                Ok(export) => {
                    records.push(TxRecord {
                        tx: c.tx.clone(),
                        export,
                    });
                    outcomes.push((c.id, None));
                }
                Err(e) => outcomes.push((c.id, Some(e.to_string()))),
            }
        }
        let tree = crate::merkle::Tree::<M::Hasher>::new(
            records
                .iter()
                .map(|r| <M::Hasher as crate::merkle::MerkleHasher>::leaf(&r.to_bytes()))
                .collect(),
        );
        let txn_counter = self.txn_counter.saturating_add(records.len() as u64);
        let (header, cert) = M::seal(SealContext {
            cfg: &self.cfg,
            params: &self.params,
            set: &set,
            specs: &specs,
            offline: &self.offline,
            prev: self.blocks.last().map(|b| &b.header),
            height,
            tx_root: tree.root(),
            tx_count: u32::try_from(records.len()).unwrap_or(u32::MAX),
            txn_counter,
            timestamp: timestamp_ms,
            next_set: next.as_ref().map(|(s, _)| M::set_hash(s)),
        })?;
        self.txn_counter = txn_counter;
        for _ in 0..take {
            if let Some(c) = self.pending.pop_front() {
                self.pending_ids.remove(&c.id);
            }
        }
        for (id, fail) in outcomes {
            let st = match fail {
                None => TxStatus::Committed { height },
                Some(reason) => TxStatus::Rejected { reason },
            };
            self.statuses.insert(id, st);
        }
        let next_set = next.map(|(set, specs)| {
            let e = M::set_epoch(&set);
            self.sets.insert(e, set.clone());
            self.specs.insert(e, specs);
            self.scheduled = None;
            set
        });
        self.blocks.push(Block {
            header,
            cert,
            txns: records,
            next_set,
        });
        let last = self.blocks.len() - 1;
        Ok(&self.blocks[last])
    }

    /// The chain's export stream so far (entries `(k, payload, proof)` for every `BridgeOut`).
    pub fn export_all(&self) -> Result<Vec<ExportEntry>, EngineError> {
        Ok(Exporter::<M>::export_all(&self.params, &self.blocks)?)
    }

    /// Summary.
    pub fn status(&self) -> EngineStatus {
        let height = self.height();
        EngineStatus {
            kind: self.cfg.kind,
            chain_id: self.cfg.chain_id.clone(),
            height,
            tip_hash: self.blocks.last().map_or(Hash32::ZERO, Block::hash),
            epoch: Epoch::of(Height(height.0.saturating_add(1)), self.cfg.epoch_length),
            pending: self.pending.len(),
            committed_txs: self.txn_counter,
            exported: self.ledger.next_export().0,
            offline: self.offline.iter().copied().collect(),
        }
    }
}

/// A block of either model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnyBlock {
    /// Algorand-style.
    Algorand(algorand::Block),
    /// ResDB-style.
    Resdb(resdb::Block),
}

/// A block with the bytes an independent verifier needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockView {
    /// Height.
    pub height: Height,
    /// Header hash (Algorand-style) or batch digest (ResDB-style).
    pub hash: Hash32,
    /// The canonical header bytes.
    #[serde(with = "crate::types::hex_vec")]
    pub header: Vec<u8>,
    /// The canonical certificate bytes.
    #[serde(with = "crate::types::hex_vec")]
    pub cert: Vec<u8>,
    /// Each certificate signature with the exact bytes it covers.
    pub signed: Vec<SignedMessage>,
}

impl AnyBlock {
    /// Height.
    pub fn height(&self) -> Height {
        match self {
            AnyBlock::Algorand(b) => b.height(),
            AnyBlock::Resdb(b) => b.height(),
        }
    }

    /// The header's timestamp (milliseconds since the Unix epoch on the devnets).
    pub fn timestamp_ms(&self) -> u64 {
        match self {
            AnyBlock::Algorand(b) => b.header.timestamp,
            AnyBlock::Resdb(b) => b.header.timestamp,
        }
    }

    /// The transaction records.
    pub fn txns(&self) -> &[TxRecord] {
        match self {
            AnyBlock::Algorand(b) => &b.txns,
            AnyBlock::Resdb(b) => &b.txns,
        }
    }
}

/// The [`Exporter`] of either model: turns a chain's finalized blocks, pushed in height order
/// from 1, into its export stream (what a relay does with the blocks its validator finalizes).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnyExporter {
    /// Algorand-style.
    Algorand(Exporter<Algorand>),
    /// ResDB-style.
    Resdb(Exporter<Resdb>),
}

impl AnyExporter {
    /// An exporter for the chain `spec` describes.
    pub fn new(spec: &PeerSpec) -> Self {
        match spec {
            PeerSpec::Algorand { params, .. } => AnyExporter::Algorand(Exporter::new(params)),
            PeerSpec::Resdb { params, .. } => AnyExporter::Resdb(Exporter::new(params)),
        }
    }

    /// Push the next finalized block; its entries in order.
    pub fn push_block(&mut self, block: &AnyBlock) -> Result<Vec<ExportEntry>, ExportError> {
        match (self, block) {
            (AnyExporter::Algorand(x), AnyBlock::Algorand(b)) => x.push_block(b),
            (AnyExporter::Resdb(x), AnyBlock::Resdb(b)) => x.push_block(b),
            _ => Err(ExportError::WrongKind),
        }
    }

    /// The next height expected.
    pub fn next_height(&self) -> Height {
        match self {
            AnyExporter::Algorand(x) => x.next_height(),
            AnyExporter::Resdb(x) => x.next_height(),
        }
    }

    /// The next stream index.
    pub fn next_index(&self) -> crate::types::ExportIndex {
        match self {
            AnyExporter::Algorand(x) => x.next_index(),
            AnyExporter::Resdb(x) => x.next_index(),
        }
    }
}

/// A validator set of either model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnySet {
    /// Algorand-style.
    Algorand(algorand::ValidatorSet),
    /// ResDB-style.
    Resdb(resdb::ReplicaSet),
}

/// A devnet engine of either kind: one API for the devnet chain server.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// Algorand-style.
    Algorand(Box<ChainEngine<Algorand>>),
    /// ResDB-style.
    Resdb(Box<ChainEngine<Resdb>>),
}

macro_rules! each {
    ($self:expr, $e:ident => $body:expr) => {
        match $self {
            Engine::Algorand($e) => $body,
            Engine::Resdb($e) => $body,
        }
    };
}

impl Engine {
    /// A fresh chain at genesis (kind from the config), hosting light clients of `peers`.
    pub fn new(cfg: EngineConfig, peers: &[PeerSpec]) -> Result<Engine, EngineError> {
        Ok(match cfg.kind {
            ChainKind::Algorand => Engine::Algorand(Box::new(ChainEngine::new(cfg, peers)?)),
            ChainKind::Resdb => Engine::Resdb(Box::new(ChainEngine::new(cfg, peers)?)),
        })
    }

    /// Chain kind.
    pub fn kind(&self) -> ChainKind {
        match self {
            Engine::Algorand(_) => ChainKind::Algorand,
            Engine::Resdb(_) => ChainKind::Resdb,
        }
    }

    /// The config.
    pub fn config(&self) -> &EngineConfig {
        each!(self, e => e.config())
    }

    /// What another chain needs to host a light client of this one.
    pub fn peer_spec(&self) -> Result<PeerSpec, EngineError> {
        self.config().peer_spec()
    }

    /// Submit encoded transaction bytes; returns the transaction id.
    pub fn submit(&mut self, tx_bytes: &[u8]) -> Result<TxId, EngineError> {
        each!(self, e => e.submit(tx_bytes))
    }

    /// Submit a decoded transaction.
    pub fn submit_tx(&mut self, tx: Tx) -> Result<TxId, EngineError> {
        each!(self, e => e.submit_tx(tx))
    }

    /// Build, apply and certify the next block.
    pub fn produce_block(&mut self, timestamp_ms: u64) -> Result<AnyBlock, EngineError> {
        Ok(match self {
            Engine::Algorand(e) => AnyBlock::Algorand(e.produce_block(timestamp_ms)?.clone()),
            Engine::Resdb(e) => AnyBlock::Resdb(e.produce_block(timestamp_ms)?.clone()),
        })
    }

    /// The block at `height` (from 1).
    pub fn block(&self, height: Height) -> Option<AnyBlock> {
        match self {
            Engine::Algorand(e) => e.block(height).cloned().map(AnyBlock::Algorand),
            Engine::Resdb(e) => e.block(height).cloned().map(AnyBlock::Resdb),
        }
    }

    /// The block at `height` with its canonical header, certificate and signed bytes.
    pub fn block_view(&self, height: Height) -> Option<BlockView> {
        fn view<M: DevModel>(e: &ChainEngine<M>, height: Height) -> Option<BlockView> {
            let b = e.block(height)?;
            Some(BlockView {
                height,
                hash: b.hash(),
                header: b.encoded_header(),
                cert: b.encoded_cert(),
                signed: b.signed_messages(e.params()),
            })
        }
        each!(self, e => view(e, height))
    }

    /// Height of the newest block.
    pub fn height(&self) -> Height {
        each!(self, e => e.height())
    }

    /// An account.
    pub fn account(&self, addr: &Address) -> Option<Account> {
        each!(self, e => e.ledger().account(addr))
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        each!(self, e => e.ledger())
    }

    /// The validator set of `epoch`.
    pub fn validator_set(&self, epoch: Epoch) -> Option<AnySet> {
        match self {
            Engine::Algorand(e) => e.validator_set(epoch).cloned().map(AnySet::Algorand),
            Engine::Resdb(e) => e.validator_set(epoch).cloned().map(AnySet::Resdb),
        }
    }

    /// A transaction's status.
    pub fn tx_status(&self, id: &TxId) -> Option<TxStatus> {
        each!(self, e => e.tx_status(id).cloned())
    }

    /// Mark validators offline (by key index).
    pub fn set_offline(&mut self, offline: BTreeSet<u64>) {
        each!(self, e => e.set_offline(offline))
    }

    /// Change the validator set from the next epoch on.
    pub fn schedule_validators(&mut self, specs: Vec<ValidatorSpec>) -> Result<(), EngineError> {
        each!(self, e => e.schedule_validators(specs))
    }

    /// The export stream so far.
    pub fn export_all(&self) -> Result<Vec<ExportEntry>, EngineError> {
        each!(self, e => e.export_all())
    }

    /// Summary.
    pub fn status(&self) -> EngineStatus {
        each!(self, e => e.status())
    }

    /// Serialize the whole state (postcard).
    pub fn to_state_bytes(&self) -> Result<Vec<u8>, EngineError> {
        postcard::to_allocvec(self).map_err(|e| EngineError::Config(e.to_string()))
    }

    /// Restore from [`Engine::to_state_bytes`].
    pub fn from_state_bytes(b: &[u8]) -> Result<Engine, EngineError> {
        postcard::from_bytes(b).map_err(|e| EngineError::Config(e.to_string()))
    }
}

/// Decode transaction bytes (for servers that want to inspect before submitting).
pub fn decode_tx(b: &[u8]) -> Result<Tx, EngineError> {
    decode_all(b, Tx::decode).map_err(|e| EngineError::Ledger(LedgerError::Decode(e)))
}
