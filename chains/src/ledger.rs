//! The bridge ledger, the same on both chains: accounts with balances from genesis, transfers,
//! `BridgeOut` into the chain's escrow, and `BridgeIn` verified by the chain's own light client
//! of the other chain and applied at most once per transfer id.
//!
//! Applying a transaction has two halves so that a chain can check signatures and proofs when a
//! transaction is submitted and apply it cheaply when a block is built:
//! [`Ledger::check`] (signatures, proof verification; no state change) and [`Ledger::apply`]
//! (nonces, balances, duplicates; changes state only on success). [`Ledger::execute`] does both.

use crate::error::VerifyError;
use crate::keys::{SigFault, verify_account};
use crate::model::{LearnedSets, VerifiedTransfer};
use crate::tx::{BridgeTransfer, Tx, TxBody, signed_bytes};
use crate::types::{Address, Amount, ChainId, ChainKind, Epoch, ExportIndex, TransferId, TxId};
use crate::{algorand, resdb};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

/// One account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Balance.
    pub balance: Amount,
    /// The highest nonce used so far (0: none); the next transaction must use a larger one.
    pub last_nonce: u64,
}

/// Why a transaction was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LedgerError {
    /// The transaction bytes did not decode.
    #[error("malformed transaction: {0}")]
    Decode(#[from] crate::codec::DecodeError),
    /// The payer's key type is not this chain's account type.
    #[error("{0} accounts cannot sign on a {1} chain")]
    WrongScheme(Address, ChainKind),
    /// The signature is missing, malformed or wrong.
    #[error("bad signature")]
    BadSignature,
    /// A high-S ECDSA signature.
    #[error("malleable high-s signature")]
    MalleableSignature,
    /// A `BridgeIn` must not carry a signature.
    #[error("bridge-in carries no signature")]
    UnexpectedSignature,
    /// The nonce is not above the payer's last nonce.
    #[error("stale nonce {got}, last used {last}")]
    StaleNonce {
        /// The payer's last nonce.
        last: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// The payer cannot cover the amount.
    #[error("insufficient funds: balance {balance}, amount {amount}")]
    InsufficientFunds {
        /// The payer's balance.
        balance: Amount,
        /// The amount.
        amount: Amount,
    },
    /// Amounts must be positive.
    #[error("zero amount")]
    ZeroAmount,
    /// No light client for that chain (a `BridgeOut` to it could never be minted).
    #[error("unknown destination chain {0}")]
    UnknownDestination(ChainId),
    /// The recipient's key type is not the destination chain's account type.
    #[error("recipient {0} is not a {1} account")]
    RecipientKind(Address, ChainKind),
    /// No light client for the transfer's source chain.
    #[error("unknown source chain {0}")]
    UnknownSource(ChainId),
    /// The proof did not verify.
    #[error("proof refused: {0}")]
    Proof(#[from] VerifyError),
    /// The transfer was already applied (submitting it again is harmless).
    #[error("transfer {0} already applied")]
    AlreadyApplied(TransferId),
    /// A balance or total would overflow.
    #[error("amount overflow")]
    Overflow,
}

impl LedgerError {
    /// Whether the refusal may go away by itself: a `BridgeIn` whose proof needs a validator set
    /// this chain's light client has not learned yet (an earlier transfer, still to be applied,
    /// carries it). See [`VerifyError::is_transient`].
    pub fn is_transient(&self) -> bool {
        matches!(self, LedgerError::Proof(e) if e.is_transient())
    }
}

/// A light client of another chain, either kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerClient {
    /// Of an Algorand-style chain.
    Algorand(algorand::LightClient),
    /// Of a ResDB-style chain.
    Resdb(resdb::LightClient),
}

impl PeerClient {
    /// The followed chain's kind.
    pub fn kind(&self) -> ChainKind {
        match self {
            PeerClient::Algorand(_) => ChainKind::Algorand,
            PeerClient::Resdb(_) => ChainKind::Resdb,
        }
    }

    /// The followed chain's id.
    pub fn chain_id(&self) -> &ChainId {
        match self {
            PeerClient::Algorand(c) => &c.params.genesis_id,
            PeerClient::Resdb(c) => &c.params.chain_id,
        }
    }

    /// The newest epoch with a verified set.
    pub fn latest_epoch(&self) -> Epoch {
        match self {
            PeerClient::Algorand(c) => c.latest_epoch(),
            PeerClient::Resdb(c) => c.latest_epoch(),
        }
    }

    /// Verify exported entry `k` of the followed chain (pure).
    pub fn verify_export(
        &self,
        k: ExportIndex,
        payload: &[u8],
        proof: &[u8],
    ) -> Result<VerifiedTransfer, VerifyError> {
        match self {
            PeerClient::Algorand(c) => c.verify_export(k, payload, proof),
            PeerClient::Resdb(c) => c.verify_export(k, payload, proof),
        }
    }

    /// Adopt sets learned by a verification.
    pub fn adopt(&mut self, learned: &LearnedSets) {
        match self {
            PeerClient::Algorand(c) => c.adopt(learned),
            PeerClient::Resdb(c) => c.adopt(learned),
        }
    }
}

/// Verify exported entry `k` of the chain `client` follows: decode the proof, follow any epoch
/// transitions it carries (adjacently), check the certificate, the inclusion proof, the stream
/// index, the destination and the payload. Pure; adopt [`VerifiedTransfer::learned`] with
/// [`PeerClient::adopt`] to move the client forward.
pub fn verify_export(
    client: &PeerClient,
    k: ExportIndex,
    payload: &[u8],
    proof: &[u8],
) -> Result<VerifiedTransfer, VerifyError> {
    client.verify_export(k, payload, proof)
}

/// The source block timestamp (ms) an export proof of a `kind` chain names: decoded, not
/// verified. For proofs a chain has already verified and applied (the `BridgeIn` records of its
/// blocks), e.g. to measure how long a transfer took from source finality to destination commit.
pub fn export_timestamp_ms(kind: ChainKind, proof: &[u8]) -> Result<u64, VerifyError> {
    use crate::model::{ExportProof, Model};
    Ok(match kind {
        ChainKind::Algorand => algorand::Algorand::timestamp_ms(
            &ExportProof::<algorand::Algorand>::from_bytes(proof)?.header,
        ),
        ChainKind::Resdb => {
            resdb::Resdb::timestamp_ms(&ExportProof::<resdb::Resdb>::from_bytes(proof)?.header)
        }
    })
}

/// A light client shared behind a lock that adopts every validator set a verified entry teaches:
/// what a relay's `EntryVerifier` wraps (its `verify` takes `&self`). Entries may arrive in any
/// order; each one that verifies moves the client forward, so later entries need shorter proofs.
#[derive(Debug)]
pub struct FollowingVerifier {
    client: std::sync::Mutex<PeerClient>,
}

impl FollowingVerifier {
    /// Wrap a light client.
    pub fn new(client: PeerClient) -> Self {
        FollowingVerifier {
            client: std::sync::Mutex::new(client),
        }
    }

    /// Verify entry `k` (see [`verify_export`]) and adopt the sets it teaches.
    pub fn verify(
        &self,
        k: ExportIndex,
        payload: &[u8],
        proof: &[u8],
    ) -> Result<VerifiedTransfer, VerifyError> {
        // A poisoned lock only means another verification panicked mid-way; the client itself
        // is only ever replaced by a fully verified state, so it is still sound to use.
        let mut c = self
            .client
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let v = c.verify_export(k, payload, proof)?;
        c.adopt(&v.learned);
        Ok(v)
    }

    /// The newest epoch the client has a verified set for.
    pub fn latest_epoch(&self) -> Epoch {
        self.client
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .latest_epoch()
    }
}

/// A transaction whose signature (or proof) has been checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checked {
    /// The transaction id.
    pub id: TxId,
    /// The transaction.
    pub tx: Tx,
    /// For a `BridgeIn`: the verified transfer.
    pub verified: Option<VerifiedTransfer>,
}

/// The bridge ledger of one chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    kind: ChainKind,
    chain: ChainId,
    accounts: BTreeMap<Address, Account>,
    escrowed: BTreeMap<ChainId, Amount>,
    minted: BTreeMap<ChainId, Amount>,
    applied: BTreeSet<TransferId>,
    next_export: ExportIndex,
    peers: BTreeMap<ChainId, PeerClient>,
}

fn account_kind(a: &Address) -> ChainKind {
    match a {
        Address::Ed25519(_) => ChainKind::Algorand,
        Address::Secp256k1(_) => ChainKind::Resdb,
    }
}

impl Ledger {
    /// A ledger at genesis with the given balances (later entries for the same address add up).
    pub fn genesis(
        kind: ChainKind,
        chain: ChainId,
        balances: impl IntoIterator<Item = (Address, Amount)>,
    ) -> Self {
        let mut accounts: BTreeMap<Address, Account> = BTreeMap::new();
        for (a, v) in balances {
            let acc = accounts.entry(a).or_default();
            acc.balance = Amount(acc.balance.0.saturating_add(v.0));
        }
        Ledger {
            kind,
            chain,
            accounts,
            escrowed: BTreeMap::new(),
            minted: BTreeMap::new(),
            applied: BTreeSet::new(),
            next_export: ExportIndex(0),
            peers: BTreeMap::new(),
        }
    }

    /// Install the light client of another chain.
    pub fn add_peer(&mut self, peer: PeerClient) {
        self.peers.insert(peer.chain_id().clone(), peer);
    }

    /// This chain's kind.
    pub fn kind(&self) -> ChainKind {
        self.kind
    }

    /// This chain's id.
    pub fn chain_id(&self) -> &ChainId {
        &self.chain
    }

    /// An account.
    pub fn account(&self, a: &Address) -> Option<Account> {
        self.accounts.get(a).copied()
    }

    /// All accounts.
    pub fn accounts(&self) -> &BTreeMap<Address, Account> {
        &self.accounts
    }

    /// Total escrowed for transfers to `dest`.
    pub fn escrowed(&self, dest: &ChainId) -> Amount {
        self.escrowed.get(dest).copied().unwrap_or_default()
    }

    /// Total minted for transfers from `source`.
    pub fn minted(&self, source: &ChainId) -> Amount {
        self.minted.get(source).copied().unwrap_or_default()
    }

    /// Whether a transfer was applied here.
    pub fn is_applied(&self, id: &TransferId) -> bool {
        self.applied.contains(id)
    }

    /// Number of transfers applied here.
    pub fn applied_count(&self) -> usize {
        self.applied.len()
    }

    /// The index the next `BridgeOut` will get.
    pub fn next_export(&self) -> ExportIndex {
        self.next_export
    }

    /// The light client of `chain`.
    pub fn peer(&self, chain: &ChainId) -> Option<&PeerClient> {
        self.peers.get(chain)
    }

    /// Check a transaction's signature, or verify a `BridgeIn`'s proof. No state changes.
    pub fn check(&self, tx: Tx) -> Result<Checked, LedgerError> {
        let id = tx.id(self.kind, &self.chain);
        let verified = match &tx.body {
            TxBody::Transfer { from, .. } | TxBody::BridgeOut { from, .. } => {
                if account_kind(from) != self.kind {
                    return Err(LedgerError::WrongScheme(*from, self.kind));
                }
                let sig: &[u8; 64] = tx
                    .sig
                    .as_slice()
                    .try_into()
                    .map_err(|_| LedgerError::BadSignature)?;
                let msg = signed_bytes(self.kind, &self.chain, &tx.body);
                verify_account(from, &msg, sig).map_err(|f| match f {
                    SigFault::Bad => LedgerError::BadSignature,
                    SigFault::Malleable => LedgerError::MalleableSignature,
                })?;
                None
            }
            TxBody::BridgeIn { k, payload, proof } => {
                if !tx.sig.is_empty() {
                    return Err(LedgerError::UnexpectedSignature);
                }
                let claimed = BridgeTransfer::from_bytes(payload)?;
                let peer = self
                    .peers
                    .get(&claimed.source_chain)
                    .ok_or_else(|| LedgerError::UnknownSource(claimed.source_chain.clone()))?;
                let v = peer.verify_export(*k, payload, proof)?;
                if self.applied.contains(&v.id) {
                    return Err(LedgerError::AlreadyApplied(v.id));
                }
                Some(v)
            }
        };
        Ok(Checked { id, tx, verified })
    }

    /// Apply a checked transaction. On error nothing changed. Returns the export index a
    /// `BridgeOut` was assigned.
    pub fn apply(&mut self, c: &Checked) -> Result<Option<ExportIndex>, LedgerError> {
        match (&c.tx.body, &c.verified) {
            (
                TxBody::Transfer {
                    from,
                    to,
                    amount,
                    nonce,
                },
                _,
            ) => {
                let payer = self.debit_check(from, *amount, *nonce)?;
                let payee_before = if from == to {
                    payer.balance.0.saturating_sub(amount.0)
                } else {
                    self.account(to).unwrap_or_default().balance.0
                };
                let payee_after = payee_before
                    .checked_add(amount.0)
                    .ok_or(LedgerError::Overflow)?;
                self.debit(from, *amount, *nonce);
                self.accounts.entry(*to).or_default().balance = Amount(payee_after);
                Ok(None)
            }
            (
                TxBody::BridgeOut {
                    from,
                    dest_chain,
                    recipient,
                    amount,
                    nonce,
                },
                _,
            ) => {
                let peer = self
                    .peers
                    .get(dest_chain)
                    .ok_or_else(|| LedgerError::UnknownDestination(dest_chain.clone()))?;
                if account_kind(recipient) != peer.kind() {
                    return Err(LedgerError::RecipientKind(*recipient, peer.kind()));
                }
                self.debit_check(from, *amount, *nonce)?;
                let esc = self
                    .escrowed(dest_chain)
                    .0
                    .checked_add(amount.0)
                    .ok_or(LedgerError::Overflow)?;
                self.debit(from, *amount, *nonce);
                self.escrowed.insert(dest_chain.clone(), Amount(esc));
                let k = self.next_export;
                self.next_export = ExportIndex(k.0.saturating_add(1));
                Ok(Some(k))
            }
            (TxBody::BridgeIn { .. }, Some(v)) => {
                if self.applied.contains(&v.id) {
                    return Err(LedgerError::AlreadyApplied(v.id));
                }
                let t = &v.transfer;
                let bal = self
                    .account(&t.recipient)
                    .unwrap_or_default()
                    .balance
                    .0
                    .checked_add(t.amount.0)
                    .ok_or(LedgerError::Overflow)?;
                let minted = self
                    .minted(&t.source_chain)
                    .0
                    .checked_add(t.amount.0)
                    .ok_or(LedgerError::Overflow)?;
                self.applied.insert(v.id);
                self.accounts.entry(t.recipient).or_default().balance = Amount(bal);
                self.minted.insert(t.source_chain.clone(), Amount(minted));
                if let Some(p) = self.peers.get_mut(&t.source_chain) {
                    p.adopt(&v.learned);
                }
                Ok(None)
            }
            (TxBody::BridgeIn { .. }, None) => {
                // Only `check` builds a `Checked`, and it always verifies a BridgeIn.
                Err(LedgerError::Proof(VerifyError::NotBridgeOut))
            }
        }
    }

    /// [`Ledger::check`] then [`Ledger::apply`].
    pub fn execute(&mut self, tx: Tx) -> Result<(TxId, Option<ExportIndex>), LedgerError> {
        let c = self.check(tx)?;
        let k = self.apply(&c)?;
        Ok((c.id, k))
    }

    fn debit_check(
        &self,
        from: &Address,
        amount: Amount,
        nonce: u64,
    ) -> Result<Account, LedgerError> {
        if amount.0 == 0 {
            return Err(LedgerError::ZeroAmount);
        }
        let acc = self.account(from).unwrap_or_default();
        if nonce <= acc.last_nonce {
            return Err(LedgerError::StaleNonce {
                last: acc.last_nonce,
                got: nonce,
            });
        }
        if acc.balance < amount {
            return Err(LedgerError::InsufficientFunds {
                balance: acc.balance,
                amount,
            });
        }
        Ok(acc)
    }

    fn debit(&mut self, from: &Address, amount: Amount, nonce: u64) {
        let acc = self.accounts.entry(*from).or_default();
        acc.balance = Amount(acc.balance.0.saturating_sub(amount.0));
        acc.last_nonce = nonce;
    }
}
