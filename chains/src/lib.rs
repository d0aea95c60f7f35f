//! `chains`: the two chain models the relayer bridges, their certificates and light clients, the
//! bridge ledger both run, deterministic devnet engines, and the adapter traits a relay uses.
//!
//! Both models use real cryptography: an **Algorand-style** chain (SHA-512/256 headers finalized
//! by stake-weighted ed25519 cert-step votes, `Σ stake · 1500 ≥ 1112 · total`) and a
//! **ResDB-style** chain (PBFT batches finalized by `2f + 1` of `3f + 1` replica signatures,
//! secp256k1 ECDSA low-S or ed25519). Everything hashed or signed uses one hand-written,
//! deterministic encoding per chain, specified byte for byte in `docs/CHAINS.md` with test
//! vectors that `docs/verify_example.py` re-verifies independently.
//!
//! # Layout
//!
//! | module | what |
//! |---|---|
//! | [`types`] | newtypes: [`types::Height`], [`types::Epoch`], [`types::Amount`], [`types::Hash32`], [`types::ChainId`], [`types::Address`], ids |
//! | [`codec`] | the encoding primitives ([`codec::Writer`], [`codec::Reader`]; readers never panic) |
//! | [`keys`] | hashing, devnet key derivation, ed25519 and ECDSA (low-S) signing and checks |
//! | [`merkle`] | domain-separated Merkle trees and inclusion proofs |
//! | [`algorand`] | the Algorand-style model: validator set, header, certificate, [`algorand::verify_certificate`] |
//! | [`resdb`] | the ResDB-style model: replica set, batch header, commit certificate, [`resdb::verify_commit`] |
//! | [`model`] | what both share: the [`model::Model`] trait, [`model::Block`], epoch [`model::Transition`]s, the [`model::LightClient`], [`model::ExportProof`] and the [`model::Exporter`] |
//! | [`tx`] | ledger transactions, transaction records (tree leaves), the [`tx::BridgeTransfer`] payload |
//! | [`ledger`] | the bridge ledger ([`ledger::Ledger`]), [`ledger::PeerClient`] and [`ledger::verify_export`] |
//! | [`error`] | [`error::VerifyError`]: one variant per refused check |
//! | [`engine`] | devnet engines ([`engine::Engine`]); [`engine::AnyBlock`], [`engine::AnyExporter`], [`engine::PeerSpec`] |
//! | [`adapter`] | the relay's chain interface ([`adapter::ChainFollower`], [`adapter::ChainSubmitter`]) and [`adapter::MemChain`] |
//! | `devnet` | the devnet chain process (JSON-RPC server) and its client; `devnet::request_id`, the HTTP layer (with its WebSocket proxy) both JSON-RPC servers (this one and the relay's) put in front of jsonrpsee |
//!
//! # Contract
//!
//! - **Finality.** A block is final iff its certificate verifies under the validator set of the
//!   block's epoch (`⌊(height − 1) / epoch length⌋`). A light client knows epoch 0's set from
//!   configuration and learns set `e + 1` only from the certified last block of epoch `e`
//!   (adjacent verification); a block from an epoch it cannot reach is refused.
//! - **Export.** A chain's export stream is a pure function of its finalized blocks: entry `k`
//!   (dense from 0, BridgeOuts in block order) is `(k, payload, proof)`, identical at every relay;
//!   see [`model::Exporter`] (or [`engine::AnyExporter`] over [`engine::AnyBlock`]s). The stream index is assigned by the block and covered by the
//!   certificate, so a verifier checks it rather than trusting the relay.
//! - **Verification.** [`ledger::verify_export`]`(client, k, payload, proof)` is pure and is what
//!   both a relay (before acknowledging or broadcasting an entry) and the destination ledger
//!   (before applying a `BridgeIn`) call. It returns a [`model::VerifiedTransfer`]; epoch sets the
//!   proof taught are adopted with [`ledger::PeerClient::adopt`] ([`ledger::FollowingVerifier`]
//!   does both behind a lock, for a relay's `&self` verifier). A relay-side
//!   `EntryVerifier` adapter wraps it: `client.verify_export(entry.k, &entry.payload,
//!   &entry.proof).map(|_| ()).map_err(|e| ProofError(e.to_string()))`. A refusal with
//!   [`error::VerifyError::is_transient`] (an epoch the client cannot reach yet: the entry
//!   arrived more than [`model::EXPORT_WINDOW`] entries ahead of what it has verified) means
//!   "retry after earlier entries", not "forged".
//! - **Ledger.** A transfer id (`SHA-256("BRIDGE-TRANSFER" ‖ source chain ‖ tx id)`) is applied at
//!   most once; per direction, escrowed on the source equals minted on the destination once quiet.
//! - **No panics on input.** Decoders and verifiers return errors for any bytes; nothing here
//!   reads the clock or randomness, and nothing hashed iterates a `HashMap`.
//!
//! # Devnet engine API
//!
//! [`engine::Engine`] is `Algorand(..)` or `Resdb(..)` over one generic
//! [`engine::ChainEngine`]; the server can treat both alike:
//!
//! ```text
//! Engine::new(cfg: EngineConfig, peers: &[PeerSpec]) -> Result<Engine, EngineError>
//! engine.submit(tx_bytes: &[u8]) -> Result<TxId, EngineError>    // decode + signature/proof check, queue
//! engine.produce_block(timestamp_ms: u64) -> Result<AnyBlock, EngineError> // apply + certify (online validators)
//! engine.block(height) -> Option<AnyBlock>;  engine.block_view(height) -> Option<BlockView>
//! engine.account(&Address) -> Option<Account>;  engine.tx_status(&TxId) -> Option<TxStatus>
//! engine.validator_set(epoch) -> Option<AnySet>;  engine.status() -> EngineStatus
//! engine.set_offline(BTreeSet<u64>);  engine.schedule_validators(Vec<ValidatorSpec>)
//! engine.export_all() -> Result<Vec<ExportEntry>, EngineError>
//! engine.peer_spec() -> Result<PeerSpec, EngineError>  // what the other chain needs for its light client
//! engine.to_state_bytes() / Engine::from_state_bytes(..)   // the whole state (serde)
//! ```
//!
//! All keys derive from `EngineConfig::seed` ([`keys::derive_secret`]); account `i`'s key is
//! [`engine::EngineConfig::account_key`]. Blocks are a pure function of the config and the
//! inputs (transactions, timestamps, offline sets, scheduled validator sets). Transactions the
//! ledger refuses at block time are dropped with status `rejected`; resubmitting a pending or
//! committed transaction returns its id again; a `BridgeIn` for an already-applied transfer is
//! refused with [`ledger::LedgerError::AlreadyApplied`] (harmless: the transfer is in).

pub mod adapter;
pub mod algorand;
pub mod codec;
pub mod devnet;
pub mod engine;
pub mod error;
pub mod keys;
pub mod ledger;
pub mod merkle;
pub mod model;
pub mod resdb;
pub mod tx;
pub mod types;

pub use error::VerifyError;
pub use ledger::{FollowingVerifier, PeerClient, verify_export};
pub use model::{ExportEntry, VerifiedTransfer};
