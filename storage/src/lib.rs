//! `storage`: durable relay state behind a small trait.
//!
//! Placeholder until the storage work lands: a sled store and an in-memory store with crash
//! semantics, both checked by one conformance suite.
