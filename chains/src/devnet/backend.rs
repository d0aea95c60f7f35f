//! The engine behind a devnet chain server, and its persistence.
//!
//! [`Backend`] wraps the deterministic devnet [`Engine`] and renders its answers as the
//! [`api`](super::api) views. [`BlockLog`] makes the chain survive restarts: the engine's blocks
//! are a pure function of its config and inputs, so the log stores, per block, exactly those
//! inputs — the timestamp, the offline validators and the transactions the block committed — plus
//! the block's hash. Opening a directory replays the log into a fresh engine and checks every
//! rebuilt hash, so a restarted chain continues with the very same blocks. Transactions still
//! pending at a stop are not kept (they were never certified; clients resubmit).
//!
//! Store layout (one `storage` store per chain directory):
//!
//! | tree | key | value |
//! |---|---|---|
//! | `devnet_meta` | `engine` | JSON of the engine config and the peer spec |
//! | `devnet_blocks` | `u64_key(height)` | postcard [`BlockRecord`] |

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use storage::{SledStore, Store, WriteBatch, u64_from_key, u64_key};

use super::api::{
    AccountView, BlockView, SignerKeys, TxState, TxStatusView, ValidatorSetView, render_block,
    render_set,
};
use super::config::{DevnetConfig, DevnetError, peer_of as peer_kind};
use crate::engine::{
    AnyBlock, AnySet, ChainEngine, DevModel, Engine, EngineConfig, PeerSpec, TxStatus,
};
use crate::keys::AccountKey;
use crate::tx::Tx;
use crate::types::{Address, ChainId, ChainKind, Epoch, Hash32, Height, TransferId, TxId};

const META_TREE: &str = "devnet_meta";
const META_ENGINE_KEY: &[u8] = b"engine";
const BLOCKS_TREE: &str = "devnet_blocks";
/// Records read per scan while replaying.
const REPLAY_CHUNK: usize = 256;

/// What the load generator needs to build valid transactions.
#[derive(Debug, Clone)]
pub(crate) struct LoadSetup {
    pub(crate) kind: ChainKind,
    pub(crate) chain: ChainId,
    /// The peer chain, destination of the generated `BridgeOut`s.
    pub(crate) dest_chain: ChainId,
    /// Funded accounts whose keys the devnet holds, with their last used nonce.
    pub(crate) accounts: Vec<(AccountKey, u64)>,
    /// Accounts on the peer chain (recipients of `BridgeOut`s).
    pub(crate) recipients: Vec<Address>,
}

/// The inputs of one produced block: enough to rebuild it exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BlockRecord {
    timestamp: u64,
    offline: Vec<u64>,
    hash: Hash32,
    /// Encoded transactions, in block order.
    txs: Vec<Vec<u8>>,
}

/// What is stored under `devnet_meta/engine`: everything the engine derives from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredSetup {
    engine: EngineConfig,
    peer: PeerSpec,
}

/// The devnet engine plus what the server needs around it.
#[derive(Debug)]
pub(crate) struct Backend {
    engine: Engine,
    offline: BTreeSet<u64>,
    peer: PeerSpec,
    last_timestamp: u64,
    /// Whether the last block attempt lacked a quorum (to log it once, not every interval).
    stalled: bool,
}

/// The persistent log of produced blocks, owned by the block producer.
#[derive(Debug)]
pub(crate) struct BlockLog {
    store: SledStore,
}

impl BlockLog {
    /// Appends `record` as block `height` and makes it durable.
    pub(crate) fn append(
        &mut self,
        height: Height,
        record: &BlockRecord,
    ) -> Result<(), DevnetError> {
        let bytes = postcard::to_allocvec(record)
            .map_err(|e| DevnetError::State(format!("cannot encode block {height}: {e}")))?;
        let mut b = WriteBatch::new();
        b.put(BLOCKS_TREE, &u64_key(height.0), &bytes);
        self.store.apply(b)?;
        self.store.flush()?;
        Ok(())
    }
}

/// The engine config a devnet chain runs with.
fn engine_config(
    config: &DevnetConfig,
    kind: ChainKind,
    chain: &str,
    validators: usize,
) -> Result<EngineConfig, DevnetError> {
    let chain_id = ChainId::new(chain).map_err(|e| DevnetError::Config {
        setting: "--chain-id",
        reason: format!("{chain:?}: {e}"),
    })?;
    Ok(EngineConfig::devnet(
        kind,
        chain_id,
        &config.seed,
        validators as u64,
        config.accounts,
    ))
}

fn engine_err(e: impl std::fmt::Display) -> DevnetError {
    DevnetError::Engine(e.to_string())
}

impl DevnetConfig {
    /// The specs of this chain and of its peer chain (identity, rules, genesis set): what a relay
    /// of this chain needs to export its blocks, and what it needs to verify the peer's entries.
    pub fn specs(&self) -> Result<(PeerSpec, PeerSpec), DevnetError> {
        let own = engine_config(self, self.kind, &self.chain_id(), self.validators)?;
        let peer = engine_config(
            self,
            peer_kind(self.kind),
            &self.peer_chain_id(),
            self.peer_validators(),
        )?;
        Ok((
            own.peer_spec().map_err(engine_err)?,
            peer.peer_spec().map_err(engine_err)?,
        ))
    }
}

impl Backend {
    /// Builds the engine for `config`; with a directory, restores it by replaying the block log.
    pub(crate) fn open(config: &DevnetConfig) -> Result<(Backend, Option<BlockLog>), DevnetError> {
        let own = engine_config(config, config.kind, &config.chain_id(), config.validators)?;
        let peer_cfg = engine_config(
            config,
            peer_kind(config.kind),
            &config.peer_chain_id(),
            config.peer_validators(),
        )?;
        let peer = peer_cfg.peer_spec().map_err(engine_err)?;
        let engine = Engine::new(own.clone(), std::slice::from_ref(&peer)).map_err(engine_err)?;
        let mut backend = Backend {
            engine,
            offline: config.offline.iter().map(|v| *v as u64).collect(),
            peer: peer.clone(),
            last_timestamp: 0,
            stalled: false,
        };
        let Some(dir) = &config.dir else {
            backend.engine.set_offline(backend.offline.clone());
            return Ok((backend, None));
        };
        std::fs::create_dir_all(dir)
            .map_err(|e| DevnetError::State(format!("cannot create {}: {e}", dir.display())))?;
        let mut store = SledStore::open(dir)?;
        let setup = StoredSetup { engine: own, peer };
        match store.get(META_TREE, META_ENGINE_KEY)? {
            Some(bytes) => {
                let stored: StoredSetup = serde_json::from_slice(&bytes).map_err(|e| {
                    DevnetError::State(format!("unreadable chain setup in {}: {e}", dir.display()))
                })?;
                if stored != setup {
                    return Err(DevnetError::State(format!(
                        "{} holds a {} chain {:?} with {} validators (seed {:?}); the flags describe a {} chain {:?} with {} validators (seed {:?}) — use the same flags or another --dir",
                        dir.display(),
                        stored.engine.kind,
                        stored.engine.chain_id.as_str(),
                        stored.engine.validators.len(),
                        stored.engine.seed,
                        setup.engine.kind,
                        setup.engine.chain_id.as_str(),
                        setup.engine.validators.len(),
                        setup.engine.seed,
                    )));
                }
            }
            None => {
                let json = serde_json::to_vec(&setup).map_err(|e| {
                    DevnetError::State(format!("cannot encode the chain setup: {e}"))
                })?;
                let mut b = WriteBatch::new();
                b.put(META_TREE, META_ENGINE_KEY, &json);
                store.apply(b)?;
                store.flush()?;
            }
        }
        backend.replay(&store)?;
        backend.engine.set_offline(backend.offline.clone());
        Ok((backend, Some(BlockLog { store })))
    }

    /// Rebuilds every logged block, checking each hash.
    fn replay(&mut self, store: &SledStore) -> Result<(), DevnetError> {
        let mut from = u64_key(1).to_vec();
        loop {
            let chunk = store.scan(BLOCKS_TREE, &from, REPLAY_CHUNK)?;
            let Some((last_key, _)) = chunk.last() else {
                return Ok(());
            };
            let next = u64_from_key(last_key)?.saturating_add(1);
            for (key, value) in &chunk {
                let height = u64_from_key(key)?;
                let expected = self.engine.height().0.saturating_add(1);
                if height != expected {
                    return Err(DevnetError::State(format!(
                        "block log jumps from {} to {height}",
                        expected - 1
                    )));
                }
                let record: BlockRecord = postcard::from_bytes(value).map_err(|e| {
                    DevnetError::State(format!("block {height} in the log is damaged: {e}"))
                })?;
                for tx in &record.txs {
                    self.engine.submit(tx).map_err(|e| {
                        DevnetError::State(format!("replaying block {height}: {e}"))
                    })?;
                }
                self.engine
                    .set_offline(record.offline.iter().copied().collect());
                let block = self
                    .engine
                    .produce_block(record.timestamp)
                    .map_err(|e| DevnetError::State(format!("replaying block {height}: {e}")))?;
                let hash = any_hash(&block);
                if hash != record.hash {
                    return Err(DevnetError::State(format!(
                        "replayed block {height} has hash {hash}, the log says {}",
                        record.hash
                    )));
                }
                self.last_timestamp = record.timestamp;
            }
            from = u64_key(next).to_vec();
        }
    }

    pub(crate) fn chain_id(&self) -> &ChainId {
        &self.engine.config().chain_id
    }

    pub(crate) fn tip(&self) -> Height {
        self.engine.height()
    }

    pub(crate) fn epoch_length(&self) -> u64 {
        self.engine.config().epoch_length
    }

    pub(crate) fn pending(&self) -> usize {
        self.engine.status().pending
    }

    /// Checks (signature or proof) and queues a transaction.
    pub(crate) fn submit(&mut self, tx: Tx) -> Result<TxId, crate::engine::EngineError> {
        self.engine.submit_tx(tx)
    }

    /// Produces and certifies the next block. `Ok(None)`: the online validators have no quorum
    /// (the chain stalls, as a real one would). The record is what the block log stores.
    pub(crate) fn produce_block(&mut self) -> Result<Option<(Height, BlockRecord)>, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let timestamp = now.max(self.last_timestamp);
        match self.engine.produce_block(timestamp) {
            Ok(block) => {
                self.stalled = false;
                self.last_timestamp = timestamp;
                let record = BlockRecord {
                    timestamp,
                    offline: self.offline.iter().copied().collect(),
                    hash: any_hash(&block),
                    txs: block.txns().iter().map(|r| r.tx.to_bytes()).collect(),
                };
                Ok(Some((block.height(), record)))
            }
            Err(crate::engine::EngineError::NoQuorum { online, need }) => {
                if !self.stalled {
                    tracing::warn!(
                        online,
                        need,
                        "too few online validators to certify; the chain stalls"
                    );
                    self.stalled = true;
                }
                Ok(None)
            }
            Err(e) => Err(e.to_string()),
        }
    }

    pub(crate) fn block_view(&self, h: Height) -> Result<Option<BlockView>, String> {
        fn view<M: DevModel + SignerKeys>(
            e: &ChainEngine<M>,
            h: Height,
        ) -> Result<Option<BlockView>, String> {
            let Some(block) = e.block(h) else {
                return Ok(None);
            };
            let epoch = Epoch::of(h, e.config().epoch_length);
            let set = e
                .validator_set(epoch)
                .ok_or_else(|| format!("no validator set for epoch {epoch}"))?;
            render_block(e.params(), set, block)
                .map(Some)
                .map_err(|e| e.to_string())
        }
        match &self.engine {
            Engine::Algorand(e) => view(e, h),
            Engine::Resdb(e) => view(e, h),
        }
    }

    pub(crate) fn tx_view(&self, id: &TxId) -> Result<Option<TxStatusView>, String> {
        let Some(status) = self.engine.tx_status(id) else {
            return Ok(None);
        };
        let mut view = TxStatusView {
            id: *id,
            status: TxState::Pending,
            height: None,
            index: None,
            record: None,
            reason: None,
        };
        match status {
            TxStatus::Pending => {}
            TxStatus::Rejected { reason } => {
                view.status = TxState::Rejected;
                view.reason = Some(reason);
            }
            TxStatus::Committed { height } => {
                view.status = TxState::Committed;
                view.height = Some(height.0);
                let kind = self.engine.kind();
                let chain = self.chain_id();
                if let Some(block) = self.engine.block(height) {
                    let found = block
                        .txns()
                        .iter()
                        .enumerate()
                        .find(|(_, r)| r.tx.id(kind, chain) == *id);
                    if let Some((i, r)) = found {
                        view.index = u32::try_from(i).ok();
                        view.record = Some(r.clone());
                    }
                }
            }
        }
        Ok(Some(view))
    }

    pub(crate) fn account_view(&self, a: &Address) -> Result<Option<AccountView>, String> {
        Ok(self.engine.account(a).map(|acc| AccountView {
            address: a.to_text(),
            balance: acc.balance.0,
            nonce: acc.last_nonce,
        }))
    }

    pub(crate) fn validator_set_view(&self, e: Epoch) -> Result<Option<ValidatorSetView>, String> {
        let rendered = match self.engine.validator_set(e) {
            None => return Ok(None),
            Some(AnySet::Algorand(s)) => render_set::<crate::algorand::Algorand>(&s),
            Some(AnySet::Resdb(s)) => render_set::<crate::resdb::Resdb>(&s),
        };
        rendered.map(Some).map_err(|e| e.to_string())
    }

    pub(crate) fn escrowed(&self) -> u64 {
        self.engine.ledger().escrowed(self.peer.chain_id()).0
    }

    pub(crate) fn minted(&self) -> u64 {
        self.engine.ledger().minted(self.peer.chain_id()).0
    }

    pub(crate) fn applied_transfers(&self) -> u64 {
        self.engine.ledger().applied_count() as u64
    }

    pub(crate) fn transfer_applied(&self, id: &TransferId) -> bool {
        self.engine.ledger().is_applied(id)
    }

    pub(crate) fn load_setup(&self) -> LoadSetup {
        let cfg = self.engine.config();
        let peer_kind = peer_kind(cfg.kind);
        LoadSetup {
            kind: cfg.kind,
            chain: cfg.chain_id.clone(),
            dest_chain: self.peer.chain_id().clone(),
            accounts: (0..cfg.accounts)
                .map(|i| {
                    let key = cfg.account_key(i);
                    let nonce = self
                        .engine
                        .account(&key.address())
                        .map_or(0, |a| a.last_nonce);
                    (key, nonce)
                })
                .collect(),
            recipients: (0..cfg.accounts)
                .map(|i| AccountKey::devnet(peer_kind, &cfg.seed, i).address())
                .collect(),
        }
    }
}

fn any_hash(b: &AnyBlock) -> Hash32 {
    match b {
        AnyBlock::Algorand(b) => b.hash(),
        AnyBlock::Resdb(b) => b.hash(),
    }
}
