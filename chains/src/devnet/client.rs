//! The client of a devnet chain endpoint, over jsonrpsee's HTTP client (requests, long polls)
//! and its WebSocket client (block subscriptions).
//!
//! [`DevnetClient`] wraps every `chain_` method with typed results and implements the relay's
//! adapter traits ([`ChainFollower`], [`ChainSubmitter`]); [`BlockFollower`] turns the
//! `chain_waitForBlock` long poll into "the next finalized block, in order, from height h".
//! Blocks are always rebuilt from their canonical bytes, never from the decoded JSON.

use std::marker::PhantomData;
use std::time::Duration;

use jsonrpsee::core::client::{ClientT, Subscription, SubscriptionClientT};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};

use super::api::{AccountView, BlockView, ChainStatus, TxState, TxStatusView, ValidatorSetView};
use crate::adapter::{AdapterError, ChainFollower, ChainSubmitter};
use crate::algorand::Algorand;
use crate::codec::DecodeError;
use crate::engine::{AnyBlock, TxStatus};
use crate::model::{Block, Model};
use crate::resdb::Resdb;
use crate::tx::Tx;
use crate::types::{Address, ChainKind, Epoch, Hash32, Height, TransferId, TxId};

/// Long-poll wait used by [`BlockFollower`] (well below the server's maximum).
const FOLLOW_WAIT_MS: u64 = 5_000;
/// Request timeout: above the longest long poll.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(70);

/// Why a call to a devnet chain endpoint failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The call failed: transport, or a JSON-RPC error from the chain (bad input, refused tx).
    #[error("rpc: {0}")]
    Rpc(#[from] jsonrpsee::core::ClientError),
    /// The chain returned bytes that do not decode.
    #[error("malformed data from the chain: {0}")]
    Decode(#[from] DecodeError),
    /// The endpoint serves another chain model.
    #[error("the endpoint serves a {got} chain, expected {expected}")]
    WrongKind {
        /// The model the caller expected.
        expected: ChainKind,
        /// The model the endpoint serves.
        got: ChainKind,
    },
    /// The endpoint URL is not `http://…`.
    #[error("bad endpoint url {0:?}: expected http://host:port")]
    BadUrl(String),
    /// The chain returned a block other than the one asked for.
    #[error("asked for block {asked}, got {got}")]
    WrongHeight {
        /// The height asked for.
        asked: u64,
        /// The height received.
        got: u64,
    },
}

impl ClientError {
    /// The JSON-RPC error code, if the chain answered with an error.
    pub fn rpc_code(&self) -> Option<i32> {
        match self {
            ClientError::Rpc(jsonrpsee::core::ClientError::Call(e)) => Some(e.code()),
            _ => None,
        }
    }
}

/// A client of one devnet chain endpoint (one validator).
#[derive(Debug, Clone)]
pub struct DevnetClient {
    url: String,
    http: HttpClient,
}

impl DevnetClient {
    /// A client of `url` (`http://host:port`, as printed by the chain process). Connects lazily.
    pub fn new(url: &str) -> Result<Self, ClientError> {
        if !url.starts_with("http://") {
            return Err(ClientError::BadUrl(url.to_owned()));
        }
        let http = HttpClientBuilder::default()
            .request_timeout(REQUEST_TIMEOUT)
            .max_response_size(64 << 20)
            .max_request_size(8 << 20)
            .build(url)?;
        Ok(Self {
            url: url.to_owned(),
            http,
        })
    }

    /// The endpoint URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `chain_status`.
    pub async fn status(&self) -> Result<ChainStatus, ClientError> {
        Ok(self.http.request("chain_status", rpc_params![]).await?)
    }

    /// `chain_getBlock`: the certified block at `height`, `None` if not yet produced.
    pub async fn block(&self, height: Height) -> Result<Option<BlockView>, ClientError> {
        let b: Option<BlockView> = self
            .http
            .request("chain_getBlock", rpc_params![height.0])
            .await?;
        check_height(b, height.0)
    }

    /// `chain_waitForBlock`: block `after + 1`, waiting up to `timeout` for it.
    pub async fn wait_for_block(
        &self,
        after: Height,
        timeout: Duration,
    ) -> Result<Option<BlockView>, ClientError> {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let b: Option<BlockView> = self
            .http
            .request("chain_waitForBlock", rpc_params![after.0, ms])
            .await?;
        check_height(b, after.0.saturating_add(1))
    }

    /// `chain_submitTransaction`: the transaction's id once the chain accepted it.
    pub async fn submit(&self, tx: &Tx) -> Result<TxId, ClientError> {
        self.submit_raw(&tx.to_bytes()).await
    }

    /// `chain_submitTransaction` with already encoded bytes.
    pub async fn submit_raw(&self, tx: &[u8]) -> Result<TxId, ClientError> {
        let id: String = self
            .http
            .request("chain_submitTransaction", rpc_params![hex::encode(tx)])
            .await?;
        Ok(TxId(Hash32::from_hex(&id)?))
    }

    /// `chain_getTransaction`: `None` if the chain does not know the id.
    pub async fn transaction(&self, id: &TxId) -> Result<Option<TxStatusView>, ClientError> {
        Ok(self
            .http
            .request("chain_getTransaction", rpc_params![id.0.to_hex()])
            .await?)
    }

    /// Whether transaction `id` is in a certified block: its height if so.
    pub async fn committed_at(&self, id: &TxId) -> Result<Option<Height>, ClientError> {
        Ok(self.transaction(id).await?.and_then(|t| match t.status {
            TxState::Committed => t.height.map(Height),
            TxState::Pending | TxState::Rejected => None,
        }))
    }

    /// `chain_getAccount`: `None` if the account does not exist.
    pub async fn account(&self, address: &Address) -> Result<Option<AccountView>, ClientError> {
        Ok(self
            .http
            .request("chain_getAccount", rpc_params![address.to_text()])
            .await?)
    }

    /// `chain_isTransferApplied`: whether this chain minted bridge transfer `id`.
    pub async fn transfer_applied(&self, id: &TransferId) -> Result<bool, ClientError> {
        Ok(self
            .http
            .request("chain_isTransferApplied", rpc_params![id.0.to_hex()])
            .await?)
    }

    /// `chain_getValidatorSet`: `None` if the epoch's set is not yet committed.
    pub async fn validator_set(
        &self,
        epoch: Epoch,
    ) -> Result<Option<ValidatorSetView>, ClientError> {
        Ok(self
            .http
            .request("chain_getValidatorSet", rpc_params![epoch.0])
            .await?)
    }

    /// The typed validator set of `epoch` of a model-`M` chain.
    pub async fn validator_set_of<M: Model>(
        &self,
        epoch: Epoch,
    ) -> Result<Option<M::Set>, ClientError> {
        match self.validator_set(epoch).await? {
            None => Ok(None),
            Some(v) => Ok(Some(v.to_set::<M>()?)),
        }
    }

    /// `chain_subscribeBlocks` over WebSocket: every certified block above `after`
    /// (`None`: above the current tip), in order.
    pub async fn subscribe_blocks(
        &self,
        after: Option<Height>,
    ) -> Result<BlockSubscription, ClientError> {
        let ws_url = format!("ws://{}", self.url.trim_start_matches("http://"));
        let ws = WsClientBuilder::default()
            .max_response_size(64 << 20)
            .build(&ws_url)
            .await?;
        let sub = ws
            .subscribe(
                "chain_subscribeBlocks",
                rpc_params![after.map(|h| h.0)],
                "chain_unsubscribeBlocks",
            )
            .await?;
        Ok(BlockSubscription { _ws: ws, sub })
    }

    /// A follower of this chain's finalized blocks from `from` (inclusive), as model `M`.
    pub async fn follow<M: Model>(&self, from: Height) -> Result<BlockFollower<M>, ClientError> {
        let status = self.status().await?;
        if status.kind != M::KIND {
            return Err(ClientError::WrongKind {
                expected: M::KIND,
                got: status.kind,
            });
        }
        Ok(BlockFollower {
            client: self.clone(),
            next: Height(from.0.max(1)),
            _model: PhantomData,
        })
    }
}

fn check_height(b: Option<BlockView>, asked: u64) -> Result<Option<BlockView>, ClientError> {
    match b {
        Some(v) if v.height != asked => Err(ClientError::WrongHeight {
            asked,
            got: v.height,
        }),
        other => Ok(other),
    }
}

/// A live `chain_subscribeBlocks` subscription.
#[derive(Debug)]
pub struct BlockSubscription {
    _ws: WsClient,
    sub: Subscription<BlockView>,
}

impl BlockSubscription {
    /// The next block; `None` when the subscription ended (the chain stopped or the connection
    /// dropped).
    pub async fn next(&mut self) -> Option<Result<BlockView, ClientError>> {
        self.sub
            .next()
            .await
            .map(|r| r.map_err(|e| ClientError::Rpc(jsonrpsee::core::ClientError::ParseError(e))))
    }
}

/// Follows a chain's finalized blocks in height order, rebuilding each typed block from its
/// canonical bytes. It does not verify certificates: that is the caller's light client's job.
#[derive(Debug)]
pub struct BlockFollower<M: Model> {
    client: DevnetClient,
    next: Height,
    _model: PhantomData<fn() -> M>,
}

impl<M: Model> BlockFollower<M> {
    /// The height the next call returns.
    pub fn next_height(&self) -> Height {
        self.next
    }

    /// The next finalized block, waiting for it as long as it takes. Cancel-safe: dropping the
    /// future loses nothing.
    pub async fn next_block(&mut self) -> Result<Block<M>, ClientError> {
        loop {
            if let Some(b) = self
                .poll_next(Duration::from_millis(FOLLOW_WAIT_MS))
                .await?
            {
                return Ok(b);
            }
        }
    }

    /// The next finalized block if it is certified within `wait`.
    pub async fn poll_next(&mut self, wait: Duration) -> Result<Option<Block<M>>, ClientError> {
        let after = Height(self.next.0.saturating_sub(1));
        let Some(view) = self.client.wait_for_block(after, wait).await? else {
            return Ok(None);
        };
        let block = view.to_block::<M>()?;
        if block.height() != self.next {
            return Err(ClientError::WrongHeight {
                asked: self.next.0,
                got: block.height().0,
            });
        }
        self.next = Height(self.next.0.saturating_add(1));
        Ok(Some(block))
    }
}

/// How long [`ChainFollower::blocks_from`] waits for block `from` before answering "none yet".
const ADAPTER_WAIT: Duration = Duration::from_millis(500);
/// Most blocks one [`ChainFollower::blocks_from`] call fetches.
const ADAPTER_MAX_BLOCKS: usize = 64;

impl ClientError {
    /// The adapter's view: a refusal of the request itself is final (`Rejected`), anything else
    /// (including a proof the chain cannot verify yet, [`super::NOT_YET_VERIFIABLE_CODE`])
    /// may pass on retry (`Unavailable`).
    fn into_adapter(self) -> AdapterError {
        match &self {
            ClientError::Rpc(jsonrpsee::core::ClientError::Call(e))
                if e.code() == jsonrpsee::types::error::INVALID_PARAMS_CODE =>
            {
                AdapterError::Rejected(e.message().to_owned())
            }
            _ => AdapterError::Unavailable(self.to_string()),
        }
    }
}

impl DevnetClient {
    /// `block` as the adapter's [`AnyBlock`], decoded from the canonical bytes.
    fn any_block(view: &BlockView) -> Result<AnyBlock, ClientError> {
        Ok(match view.kind {
            ChainKind::Algorand => AnyBlock::Algorand(view.to_block::<Algorand>()?),
            ChainKind::Resdb => AnyBlock::Resdb(view.to_block::<Resdb>()?),
        })
    }

    async fn blocks_from_inner(
        &self,
        from: Height,
        max: usize,
    ) -> Result<Vec<AnyBlock>, ClientError> {
        let from = Height(from.0.max(1));
        let max = max.min(ADAPTER_MAX_BLOCKS);
        if max == 0 {
            return Ok(Vec::new());
        }
        let Some(first) = self
            .wait_for_block(Height(from.0 - 1), ADAPTER_WAIT)
            .await?
        else {
            return Ok(Vec::new());
        };
        let mut out = vec![Self::any_block(&first)?];
        let mut h = from.0;
        while out.len() < max {
            h += 1;
            match self.block(Height(h)).await? {
                Some(v) => out.push(Self::any_block(&v)?),
                None => break,
            }
        }
        Ok(out)
    }
}

impl ChainFollower for DevnetClient {
    async fn finalized_height(&self) -> Result<Height, AdapterError> {
        self.status()
            .await
            .map(|s| Height(s.height))
            .map_err(ClientError::into_adapter)
    }

    /// Waits up to half a second for block `from`; then returns it and the blocks after it that
    /// are already final (at most `max`, and at most 64 per call).
    async fn blocks_from(&self, from: Height, max: usize) -> Result<Vec<AnyBlock>, AdapterError> {
        self.blocks_from_inner(from, max)
            .await
            .map_err(ClientError::into_adapter)
    }
}

impl ChainSubmitter for DevnetClient {
    async fn submit(&self, tx: &Tx) -> Result<TxId, AdapterError> {
        self.submit_raw(&tx.to_bytes())
            .await
            .map_err(ClientError::into_adapter)
    }

    async fn tx_status(&self, id: TxId) -> Result<Option<TxStatus>, AdapterError> {
        let view = self
            .transaction(&id)
            .await
            .map_err(ClientError::into_adapter)?;
        Ok(view.map(|v| match (v.status, v.height) {
            (TxState::Committed, Some(h)) => TxStatus::Committed { height: Height(h) },
            (TxState::Rejected, _) => TxStatus::Rejected {
                reason: v.reason.unwrap_or_default(),
            },
            _ => TxStatus::Pending,
        }))
    }

    async fn transfer_applied(&self, id: TransferId) -> Result<bool, AdapterError> {
        DevnetClient::transfer_applied(self, &id)
            .await
            .map_err(ClientError::into_adapter)
    }
}
