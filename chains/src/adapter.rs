//! The narrow interface a relay uses to talk to the chain beside it, and an in-memory
//! implementation over a devnet [`Engine`] for tests.
//!
//! A relay needs three things from its chain: follow finalized blocks from a height
//! ([`ChainFollower`]), submit a transaction, and ask whether a transaction committed or a
//! transfer was applied ([`ChainSubmitter`]). Methods are `async` (the devnet client speaks
//! JSON-RPC; a real node would speak REST or TCP) and take `&self` so one client can be shared.

use crate::engine::{AnyBlock, Engine, EngineError, TxStatus};
use crate::tx::Tx;
use crate::types::{Height, TransferId, TxId};
use std::future::{Future, ready};
use std::sync::{Arc, Mutex};
use thiserror::Error;

/// Why a chain call failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AdapterError {
    /// The chain could not be reached, answered nonsense, or cannot verify the transaction's
    /// proof yet; retry later.
    #[error("chain unavailable: {0}")]
    Unavailable(String),
    /// The chain refused the transaction (the reason is final for these bytes).
    #[error("rejected: {0}")]
    Rejected(String),
}

/// Follows a chain's finalized blocks.
pub trait ChainFollower: Send + Sync {
    /// The newest finalized height (0 before the first block).
    fn finalized_height(&self) -> impl Future<Output = Result<Height, AdapterError>> + Send;

    /// Finalized blocks `from, from+1, …` (at most `max`; empty if `from` is not final yet).
    fn blocks_from(
        &self,
        from: Height,
        max: usize,
    ) -> impl Future<Output = Result<Vec<AnyBlock>, AdapterError>> + Send;
}

/// Submits transactions to a chain and asks about them.
pub trait ChainSubmitter: Send + Sync {
    /// Submit a transaction; returns its id. Submitting the same bytes again is harmless.
    fn submit(&self, tx: &Tx) -> impl Future<Output = Result<TxId, AdapterError>> + Send;

    /// A transaction's status, if the chain has seen it.
    fn tx_status(
        &self,
        id: TxId,
    ) -> impl Future<Output = Result<Option<TxStatus>, AdapterError>> + Send;

    /// Whether a bridge transfer has been applied (minted) on this chain.
    fn transfer_applied(
        &self,
        id: TransferId,
    ) -> impl Future<Output = Result<bool, AdapterError>> + Send;
}

/// An in-memory chain: a shared devnet engine. Blocks are produced by calling
/// [`MemChain::produce_block`] (tests drive time).
#[derive(Clone, Debug)]
pub struct MemChain {
    engine: Arc<Mutex<Engine>>,
}

impl MemChain {
    /// Wrap an engine.
    pub fn new(engine: Engine) -> Self {
        MemChain {
            engine: Arc::new(Mutex::new(engine)),
        }
    }

    /// Run `f` on the engine.
    pub fn with<R>(&self, f: impl FnOnce(&mut Engine) -> R) -> Result<R, AdapterError> {
        let mut g = self
            .engine
            .lock()
            .map_err(|_| AdapterError::Unavailable("engine lock poisoned".into()))?;
        Ok(f(&mut g))
    }

    /// Produce the next block.
    pub fn produce_block(&self, timestamp_ms: u64) -> Result<AnyBlock, AdapterError> {
        self.with(|e| e.produce_block(timestamp_ms))?
            .map_err(|e| AdapterError::Unavailable(e.to_string()))
    }
}

impl ChainFollower for MemChain {
    fn finalized_height(&self) -> impl Future<Output = Result<Height, AdapterError>> + Send {
        ready(self.with(|e| e.height()))
    }

    fn blocks_from(
        &self,
        from: Height,
        max: usize,
    ) -> impl Future<Output = Result<Vec<AnyBlock>, AdapterError>> + Send {
        ready(self.with(|e| {
            let from = from.0.max(1);
            (from..from.saturating_add(max as u64))
                .map_while(|h| e.block(Height(h)))
                .collect()
        }))
    }
}

impl ChainSubmitter for MemChain {
    fn submit(&self, tx: &Tx) -> impl Future<Output = Result<TxId, AdapterError>> + Send {
        ready(
            self.with(|e| e.submit_tx(tx.clone()))
                .and_then(|r| r.map_err(|e: EngineError| AdapterError::Rejected(e.to_string()))),
        )
    }

    fn tx_status(
        &self,
        id: TxId,
    ) -> impl Future<Output = Result<Option<TxStatus>, AdapterError>> + Send {
        ready(self.with(|e| e.tx_status(&id)))
    }

    fn transfer_applied(
        &self,
        id: TransferId,
    ) -> impl Future<Output = Result<bool, AdapterError>> + Send {
        ready(self.with(|e| e.ledger().is_applied(&id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineConfig;
    use crate::tx::TxBody;
    use crate::types::{Amount, ChainId, ChainKind};
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// Poll a future that is ready at once (the in-memory adapter never waits).
    fn now<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("in-memory adapter future was not ready"),
        }
    }

    #[test]
    fn follow_submit_and_ask() {
        let a = EngineConfig::devnet(ChainKind::Algorand, ChainId::new("a").unwrap(), "s", 4, 2);
        let chain = MemChain::new(Engine::new(a.clone(), &[]).unwrap());
        assert_eq!(now(chain.finalized_height()), Ok(Height(0)));
        let k = a.account_key(0);
        let tx = Tx::sign(
            a.kind,
            &a.chain_id,
            TxBody::Transfer {
                from: k.address(),
                to: a.account_key(1).address(),
                amount: Amount(3),
                nonce: 1,
            },
            &k,
        );
        let id = now(chain.submit(&tx)).unwrap();
        assert_eq!(now(chain.tx_status(id)), Ok(Some(TxStatus::Pending)));
        chain.produce_block(1).unwrap();
        chain.produce_block(2).unwrap();
        assert_eq!(
            now(chain.tx_status(id)),
            Ok(Some(TxStatus::Committed { height: Height(1) }))
        );
        let blocks = now(chain.blocks_from(Height(1), 10)).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[1].height(), Height(2));
        assert!(now(chain.blocks_from(Height(3), 10)).unwrap().is_empty());
        let mut bad = tx.clone();
        if let TxBody::Transfer { nonce, .. } = &mut bad.body {
            *nonce = 2;
        }
        assert!(matches!(
            now(chain.submit(&bad)),
            Err(AdapterError::Rejected(_))
        ));
    }
}
