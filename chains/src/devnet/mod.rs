//! The devnet chain process and its client.
//!
//! A devnet chain simulates the whole validator set of one chain model in one process: it holds
//! every validator key, orders submitted transactions into a block every interval, has every
//! online validator sign it, and serves one JSON-RPC endpoint per validator (HTTP and WebSocket
//! on the same port). Relays talk to it over a real local connection, exactly as they would to a
//! real node.
//!
//! # Layout
//!
//! - `config`: [`DevnetConfig`] and its validation; [`DevnetError`].
//! - `server`: [`start`] and [`RunningChain`]: endpoints, block producer, method table.
//! - `backend`: the engine behind the server, with its persistence in a `storage` store.
//! - `load`: the `--load` transaction generator.
//! - [`params`]: JSON-RPC parameter parsing (also used by the relay's server).
//! - [`request_id`]: the id screen both JSON-RPC servers put in front of jsonrpsee (requests
//!   whose `id` jsonrpsee cannot hold get `-32600`); `ws_screen`: its WebSocket proxy.
//! - [`api`]: the JSON shapes of every result, shared with the client.
//! - [`client`]: [`client::DevnetClient`] and [`client::BlockFollower`].
//! - [`ports`]: free loopback ports for the relays a devnet or a test starts.
//!
//! # Ports
//!
//! With `listen = host:P` and `P > 0`, validator `i` serves on `host:P+i`; with `P = 0` every
//! endpoint gets a free port, and the printed [`Announcement`] lists them in validator order.

pub mod api;
mod backend;
pub mod client;
mod config;
mod load;
pub mod params;
pub mod ports;
pub mod request_id;
mod server;
mod ws_screen;

pub use config::{
    DEFAULT_ACCOUNTS, DevnetConfig, DevnetError, MAX_ACCOUNTS, MAX_BLOCK_INTERVAL, MAX_LOAD_TPS,
    MAX_VALIDATORS, default_chain_id,
};
pub use server::{
    Announcement, DEFAULT_WAIT_MS, MAX_WAIT_MS, NOT_YET_VERIFIABLE_CODE, RunningChain, start,
};
