//! Picsou: cross-cluster consistent broadcast with QUACKs (the sans-IO core).
