//! `chains`: the two chain models the relayer bridges.
//!
//! Placeholder until the chain models land (see the shared design's CHAINS.md).
