//! The devnet chain process: one engine, one block producer, one JSON-RPC endpoint per validator.
//!
//! [`start`] restores the state (replaying the block log of a directory), binds every endpoint
//! (so a port clash fails before any block is produced), then starts the block producer (a block every `block_interval`, signed by every online validator,
//! persisted before it is announced), the optional load generator, and the servers. Readers wait
//! on a `watch` of the tip height, so long polls and subscriptions wake the moment a block is
//! certified.
//!
//! Methods (namespace `chain_`, parameters by position or by name):
//!
//! | method | params | result |
//! |---|---|---|
//! | `chain_status` | | chain, kind, this endpoint's validator, tip height, ... |
//! | `chain_getBlock` | `height` | the certified block, or `null` if not yet produced |
//! | `chain_waitForBlock` | `after_height`, `timeout_ms`? | block `after_height + 1`, or `null` on timeout |
//! | `chain_subscribeBlocks` | `after_height`? | WS subscription: every block above `after_height` (`chain_block` notifications) |
//! | `chain_submitTransaction` | `tx` (hex of the encoded transaction) | the transaction id (hex) |
//! | `chain_getTransaction` | `id` (hex) | status and, once committed, height and record; `null` if unknown |
//! | `chain_getAccount` | `address` (`ed25519:<hex>` or `secp256k1:<hex>`) | balance and nonce, `null` if none |
//! | `chain_getValidatorSet` | `epoch` | the validator set of that epoch, `null` if not yet known |
//! | `chain_isTransferApplied` | `transfer_id` (hex) | whether this chain minted that bridge transfer |
//! | `rpc_methods` | | the names of every method above (and the unsubscribe), sorted |
//!
//! `chain_submitTransaction` answers `-32602` for a transaction refused for good, and
//! [`NOT_YET_VERIFIABLE_CODE`] for a `BridgeIn` whose proof needs a validator set this chain has
//! not learned yet (an earlier transfer carries it): that one may pass if submitted again later.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jsonrpsee::server::{
    PendingSubscriptionSink, RpcModule, Server, ServerConfig, ServerHandle, SubscriptionMessage,
};
use jsonrpsee::types::{ErrorObjectOwned, Params, error::INTERNAL_ERROR_CODE};
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::api::{ChainStatus, TxState};
use super::backend::{Backend, BlockLog};
use super::config::{DevnetConfig, DevnetError};
use super::load;
use super::params::{Args, invalid_param};
use crate::tx::Tx;
use crate::types::{Address, ChainKind, Epoch, Hash32, Height, TransferId, TxId};

/// `chain_submitTransaction`'s error code for a refusal that may go away: the proof needs a
/// validator set this chain has not learned yet.
pub const NOT_YET_VERIFIABLE_CODE: i32 = -32001;

/// Longest `timeout_ms` accepted by `chain_waitForBlock`.
pub const MAX_WAIT_MS: u64 = 60_000;
/// `timeout_ms` of `chain_waitForBlock` when none is given.
pub const DEFAULT_WAIT_MS: u64 = 10_000;
/// Rendered blocks kept for readers (every relay reads every block).
const BLOCK_CACHE: usize = 512;
/// Largest request body accepted (a `BridgeIn` carries a proof; 2 MiB of hex is plenty).
const MAX_REQUEST_BYTES: u32 = 4 << 20;

/// What the process prints on start: its chain id, kind and endpoints (validator `i` is
/// `endpoints[i]`).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Announcement {
    /// The chain id.
    pub chain: String,
    /// `algorand` or `resdb`.
    pub kind: ChainKind,
    /// One `http://host:port` per validator; the same address serves WebSocket (`ws://`).
    pub endpoints: Vec<String>,
}

/// State shared by the producer, the load generator and every endpoint.
pub(crate) struct Shared {
    backend: Mutex<Backend>,
    tip: watch::Receiver<u64>,
    announcement: Announcement,
    config: DevnetConfig,
    blocks: Mutex<BTreeMap<u64, Box<RawValue>>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("announcement", &self.announcement)
            .field("tip", &*self.tip.borrow())
            .finish_non_exhaustive()
    }
}

/// An internal (server-side) error; never caused by the request.
fn internal(why: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(
        INTERNAL_ERROR_CODE,
        format!("internal error: {why}"),
        None::<()>,
    )
}

impl Shared {
    /// The engine, or an internal error if a previous holder panicked.
    pub(crate) fn backend(&self) -> Result<MutexGuard<'_, Backend>, ErrorObjectOwned> {
        self.backend
            .lock()
            .map_err(|_| internal("chain engine lock poisoned"))
    }

    /// The rendered certified block at `height`, if produced.
    fn block(&self, height: u64) -> Result<Option<Box<RawValue>>, ErrorObjectOwned> {
        if height == 0 || height > *self.tip.borrow() {
            return Ok(None);
        }
        if let Some(b) = self
            .blocks
            .lock()
            .map_err(|_| internal("block cache lock poisoned"))?
            .get(&height)
        {
            return Ok(Some(b.clone()));
        }
        let rendered = {
            let backend = self.backend()?;
            match backend.block_view(Height(height)).map_err(internal)? {
                None => return Ok(None),
                Some(v) => serde_json::value::to_raw_value(&v).map_err(internal)?,
            }
        };
        let mut cache = self
            .blocks
            .lock()
            .map_err(|_| internal("block cache lock poisoned"))?;
        cache.insert(height, rendered.clone());
        while cache.len() > BLOCK_CACHE {
            cache.pop_first();
        }
        Ok(Some(rendered))
    }
}

/// A running devnet chain. Dropping it does not stop it; call [`RunningChain::stop`].
#[derive(Debug)]
pub struct RunningChain {
    shared: Arc<Shared>,
    servers: Vec<ServerHandle>,
    /// The block producer; `None` once it has been awaited.
    producer: Option<JoinHandle<()>>,
    load: Option<JoinHandle<()>>,
    shutdown: watch::Sender<bool>,
}

impl RunningChain {
    /// The line the process prints on start.
    pub fn announcement(&self) -> &Announcement {
        &self.shared.announcement
    }

    /// The endpoint URLs, validator `i` at index `i`.
    pub fn endpoints(&self) -> &[String] {
        &self.shared.announcement.endpoints
    }

    /// The latest certified height.
    pub fn tip(&self) -> Height {
        Height(*self.shared.tip.borrow())
    }

    /// Waits until the block producer ends on its own, which only happens on a failure (the
    /// reason was logged); returns at once if it already ended.
    pub async fn failed(&mut self) {
        if let Some(producer) = self.producer.as_mut() {
            let _ = producer.await;
            self.producer = None;
        }
    }

    /// Stops producing and serving, and waits for both (every announced block is already
    /// durable).
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in [self.producer, self.load].into_iter().flatten() {
            let _ = t.await;
        }
        for s in &self.servers {
            let _ = s.stop();
        }
        for s in self.servers {
            s.stopped().await;
        }
    }
}

/// Starts a devnet chain: validates `config`, opens (or creates) its state, binds every
/// endpoint, and starts producing blocks.
pub async fn start(config: DevnetConfig) -> Result<RunningChain, DevnetError> {
    config.validate()?;
    // Replaying a long block log is CPU work: keep it off the async threads.
    let opening = config.clone();
    let (backend, log) = tokio::task::spawn_blocking(move || Backend::open(&opening))
        .await
        .map_err(|e| DevnetError::Engine(format!("opening the chain failed: {e}")))??;
    // Bind every endpoint before any block is produced.
    let mut servers = Vec::with_capacity(config.validators);
    let mut endpoints = Vec::with_capacity(config.validators);
    for i in 0..config.validators {
        let addr = config.endpoint_addr(i);
        let server = Server::builder()
            .set_config(
                ServerConfig::builder()
                    .max_request_body_size(MAX_REQUEST_BYTES)
                    .max_response_body_size(64 << 20)
                    .build(),
            )
            .set_http_middleware(
                tower::ServiceBuilder::new()
                    .layer(super::request_id::IdScreenLayer::new(MAX_REQUEST_BYTES)),
            )
            .build(addr)
            .await
            .map_err(|reason| DevnetError::Listen { addr, reason })?;
        let local: SocketAddr = server
            .local_addr()
            .map_err(|reason| DevnetError::Listen { addr, reason })?;
        endpoints.push(format!("http://{local}"));
        servers.push(server);
    }
    let chain = backend.chain_id().to_string();
    let tip0 = backend.tip().0;
    let (tip_tx, tip_rx) = watch::channel(tip0);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        backend: Mutex::new(backend),
        tip: tip_rx,
        announcement: Announcement {
            chain,
            kind: config.kind,
            endpoints,
        },
        config,
        blocks: Mutex::new(BTreeMap::new()),
    });

    let modules = (0..servers.len())
        .map(|validator| {
            rpc_module(Endpoint {
                shared: shared.clone(),
                validator,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let producer = tokio::spawn(produce_blocks(
        shared.clone(),
        log,
        tip_tx,
        shutdown_rx.clone(),
    ));
    let load = (shared.config.load_tps > 0)
        .then(|| tokio::spawn(load::run(shared.clone(), shutdown_rx.clone())));
    let handles = servers
        .into_iter()
        .zip(modules)
        .map(|(server, module)| server.start(module))
        .collect();
    Ok(RunningChain {
        shared,
        servers: handles,
        producer: Some(producer),
        load,
        shutdown: shutdown_tx,
    })
}

impl Shared {
    /// The settings the chain runs with.
    pub(crate) fn config(&self) -> &DevnetConfig {
        &self.config
    }
}

/// The block producer: a block every interval, signed by the online validators, made durable
/// (with a directory), then announced on `tip`. It stops on the first failure (logged); only
/// then does [`RunningChain::failed`] return.
async fn produce_blocks(
    shared: Arc<Shared>,
    mut log: Option<BlockLog>,
    tip: watch::Sender<u64>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(shared.config.block_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        let produced = match shared.backend.lock() {
            Ok(mut backend) => backend.produce_block(),
            Err(_) => Err("chain engine lock poisoned".to_owned()),
        };
        let (height, record) = match produced {
            Ok(Some(p)) => p,
            Ok(None) => continue,
            Err(e) => {
                tracing::error!(error = %e, "block production failed; stopping the block producer");
                return;
            }
        };
        // Durable before announced, and outside the engine lock.
        if let Some(mut l) = log.take() {
            let joined = tokio::task::spawn_blocking(move || {
                let r = l.append(height, &record);
                (l, r)
            })
            .await;
            match joined {
                Ok((l, Ok(()))) => log = Some(l),
                Ok((_, Err(e))) => {
                    tracing::error!(error = %e, %height, "cannot persist block; stopping the block producer");
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, %height, "block persistence task failed; stopping the block producer");
                    return;
                }
            }
        }
        let _ = tip.send(height.0);
    }
}

/// The context of one validator's endpoint.
#[derive(Debug, Clone)]
struct Endpoint {
    shared: Arc<Shared>,
    validator: usize,
}

fn rpc_module(ctx: Endpoint) -> Result<RpcModule<Endpoint>, DevnetError> {
    let reg = |e: jsonrpsee::core::RegisterMethodError| DevnetError::Register(e.to_string());
    let mut m = RpcModule::new(ctx);

    m.register_method("chain_status", |params, ctx, _| {
        Args::parse(&params, &[])?;
        let s = &ctx.shared;
        let backend = s.backend()?;
        let height = *s.tip.borrow();
        let status = ChainStatus {
            chain: s.announcement.chain.clone(),
            kind: s.config.kind,
            validator: ctx.validator,
            online: !s.config.offline.contains(&ctx.validator),
            validators: s.config.validators,
            height,
            block_interval_ms: u64::try_from(s.config.block_interval.as_millis())
                .unwrap_or(u64::MAX),
            pending_transactions: backend.pending(),
            epoch_length: backend.epoch_length(),
            escrowed: backend.escrowed(),
            minted: backend.minted(),
            applied_transfers: backend.applied_transfers(),
        };
        Ok::<_, ErrorObjectOwned>(status)
    })
    .map_err(reg)?;

    m.register_method("chain_getBlock", |params, ctx, _| {
        let a = Args::parse(&params, &["height"])?;
        let h = a.u64(0)?;
        ctx.shared.block(h)
    })
    .map_err(reg)?;

    m.register_async_method("chain_waitForBlock", |params, ctx, _| async move {
        let a = Args::parse(&params, &["after_height", "timeout_ms"])?;
        let after = a.u64(0)?;
        let timeout = a.opt_u64(1)?.unwrap_or(DEFAULT_WAIT_MS);
        if timeout > MAX_WAIT_MS {
            return Err(invalid_param(
                "timeout_ms",
                format!("must be at most {MAX_WAIT_MS}, got {timeout}"),
            ));
        }
        let want = after
            .checked_add(1)
            .ok_or_else(|| invalid_param("after_height", "too large"))?;
        let mut rx = ctx.shared.tip.clone();
        let reached =
            tokio::time::timeout(Duration::from_millis(timeout), rx.wait_for(|t| *t >= want)).await;
        match reached {
            Ok(Ok(_)) => ctx.shared.block(want),
            Ok(Err(_)) => Err(internal("the chain is shutting down")),
            Err(_) => Ok(None),
        }
    })
    .map_err(reg)?;

    m.register_subscription(
        "chain_subscribeBlocks",
        "chain_block",
        "chain_unsubscribeBlocks",
        |params, pending, ctx, _| async move { subscribe_blocks(params, pending, ctx).await },
    )
    .map_err(reg)?;

    m.register_method("chain_submitTransaction", |params, ctx, _| {
        let a = Args::parse(&params, &["tx"])?;
        let bytes = a.hex(0)?;
        let tx = Tx::from_bytes(&bytes)
            .map_err(|e| invalid_param("tx", format!("malformed transaction: {e}")))?;
        let id = ctx.shared.backend()?.submit(tx).map_err(|why| {
            if why.is_transient() {
                ErrorObjectOwned::owned(
                    NOT_YET_VERIFIABLE_CODE,
                    format!("not yet verifiable, submit again later: {why}"),
                    None::<()>,
                )
            } else {
                invalid_param("tx", format!("rejected: {why}"))
            }
        })?;
        Ok::<_, ErrorObjectOwned>(id.0.to_hex())
    })
    .map_err(reg)?;

    m.register_method("chain_getTransaction", |params, ctx, _| {
        let a = Args::parse(&params, &["id"])?;
        let id = TxId(Hash32(a.hash32(0)?));
        let mut view = ctx.shared.backend()?.tx_view(&id).map_err(internal)?;
        // A block is visible only once durable and announced; until then its txs are pending.
        let tip = *ctx.shared.tip.borrow();
        if let Some(v) = view.as_mut()
            && v.height.is_some_and(|h| h > tip)
        {
            v.status = TxState::Pending;
            v.height = None;
            v.index = None;
            v.record = None;
        }
        Ok::<_, ErrorObjectOwned>(view)
    })
    .map_err(reg)?;

    m.register_method("chain_getAccount", |params, ctx, _| {
        let a = Args::parse(&params, &["address"])?;
        let text = a.str(0)?;
        let addr = Address::from_text(text).map_err(|e| {
            invalid_param(
                "address",
                format!("expected ed25519:<64 hex> or secp256k1:<66 hex> ({e})"),
            )
        })?;
        ctx.shared.backend()?.account_view(&addr).map_err(internal)
    })
    .map_err(reg)?;

    m.register_method("chain_isTransferApplied", |params, ctx, _| {
        let a = Args::parse(&params, &["transfer_id"])?;
        let id = TransferId(Hash32(a.hash32(0)?));
        Ok::<_, ErrorObjectOwned>(ctx.shared.backend()?.transfer_applied(&id))
    })
    .map_err(reg)?;

    m.register_method("chain_getValidatorSet", |params, ctx, _| {
        let a = Args::parse(&params, &["epoch"])?;
        let e = Epoch(a.u64(0)?);
        ctx.shared
            .backend()?
            .validator_set_view(e)
            .map_err(internal)
    })
    .map_err(reg)?;

    super::params::register_rpc_methods(&mut m).map_err(reg)?;

    Ok(m)
}

/// `chain_subscribeBlocks(after_height?)`: sends every certified block above `after_height`
/// (default: the current tip), in order, then each new one as it is certified.
async fn subscribe_blocks(
    params: Params<'static>,
    pending: PendingSubscriptionSink,
    ctx: Arc<Endpoint>,
) {
    let after = match Args::parse(&params, &["after_height"]).and_then(|a| a.opt_u64(0)) {
        Ok(v) => v,
        Err(e) => {
            pending.reject(e).await;
            return;
        }
    };
    let mut rx = ctx.shared.tip.clone();
    let mut next = after.unwrap_or_else(|| *rx.borrow()).saturating_add(1);
    let Ok(sink) = pending.accept().await else {
        return;
    };
    loop {
        let tip = *rx.borrow_and_update();
        while next <= tip {
            let block = match ctx.shared.block(next) {
                Ok(Some(b)) => b,
                Ok(None) | Err(_) => return,
            };
            if sink.send(SubscriptionMessage::from(block)).await.is_err() {
                return;
            }
            next += 1;
        }
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { return },
            _ = sink.closed() => return,
        }
    }
}
