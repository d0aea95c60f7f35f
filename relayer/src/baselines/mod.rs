//! Baseline protocols (OST, ATA, LL, OTU) behind the same [`crate::protocol::Protocol`] trait.
