//! The `rpc_params` check: the JSON-RPC parameter parser both servers use
//! (`chains::devnet::params`), on the `params` text of a request.
//!
//! Input: `selector ‖ params`; `selector % METHODS.len()` picks a method's parameter names
//! ([`METHODS`], every parameter list either server registers), `params` is the raw JSON text
//! (invalid UTF-8 is replaced, as a server would never pass it on).
//!
//! Properties (any violation panics, which the fuzzer reports):
//! - nothing panics;
//! - every refusal is `-32602 invalid params`, starts with `invalid params: `, names the
//!   parameter it is about, and stays short however long the input is (values are never echoed
//!   at length);
//! - what is accepted is what was sent: an integer is the JSON number, bytes re-encode to the
//!   hex given, a 32-byte id parses back from its own hex.

use chains::devnet::params::{Args, describe, parse_hash32};
use jsonrpsee::types::error::INVALID_PARAMS_CODE;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use serde_json::Value;

/// The parameter lists of the methods of the relay's and the devnet chain's servers.
pub const METHODS: [(&str, &[&str]); 12] = [
    ("no_params", &[]),
    ("chain_getBlock", &["height"]),
    ("chain_waitForBlock", &["after_height", "timeout_ms"]),
    ("chain_subscribeBlocks", &["after_height"]),
    ("chain_submitTransaction", &["tx"]),
    ("chain_getTransaction", &["id"]),
    ("chain_getAccount", &["address"]),
    ("chain_isTransferApplied", &["transfer_id"]),
    ("chain_getValidatorSet", &["epoch"]),
    ("bridge_listTransfers", &["filter", "cursor", "limit"]),
    ("bridge_getTransferBySourceTx", &["tx_id"]),
    ("admin_setLogLevel", &["directive"]),
];

/// The selector byte of method `name`.
pub fn selector(name: &str) -> u8 {
    let i = METHODS
        .iter()
        .position(|(m, _)| *m == name)
        .unwrap_or_else(|| panic!("unknown method {name}"));
    u8::try_from(i).unwrap_or_else(|_| panic!("selector {i} does not fit in a byte"))
}

/// Longest refusal message accepted, whatever the input's length.
pub const MAX_MESSAGE: usize = 600;

/// Longest description of a value accepted: `describe` quotes at most 24 characters of a
/// string, and one character escapes to at most 10 bytes (`\u{10ffff}`), so a short string of
/// control characters or U+FFFD legitimately takes more than 64 bytes, but never more than this.
pub const MAX_DESCRIBE: usize = 256;

/// Runs the whole check on one input.
pub fn check(data: &[u8]) {
    let Some((&sel, raw)) = data.split_first() else {
        return;
    };
    let (_, names) = METHODS[usize::from(sel) % METHODS.len()];
    let text = String::from_utf8_lossy(raw);
    let params = Params::new(Some(&text));
    let args = match Args::parse(&params, names) {
        Ok(a) => a,
        Err(e) => {
            refusal(&e, None);
            return;
        }
    };
    // One past the last parameter too: accessors must refuse it, not panic.
    for i in 0..=names.len() {
        let name = names.get(i).copied();
        let value = args.value(i).cloned();
        if let Some(v) = &value {
            let d = describe(v);
            assert!(
                d.len() <= MAX_DESCRIBE,
                "describe() echoes a value at length ({} bytes): {d}",
                d.len()
            );
        }
        match args.u64(i) {
            Ok(n) => assert_eq!(value.as_ref().and_then(Value::as_u64), Some(n)),
            Err(e) => refusal(&e, name),
        }
        match args.opt_u64(i) {
            Ok(Some(n)) => assert_eq!(value.as_ref().and_then(Value::as_u64), Some(n)),
            Ok(None) => assert!(value.is_none(), "a given value read as absent"),
            Err(e) => refusal(&e, name),
        }
        match args.str(i) {
            Ok(s) => assert_eq!(value.as_ref().and_then(Value::as_str), Some(s)),
            Err(e) => refusal(&e, name),
        }
        match args.opt_str(i) {
            Ok(Some(s)) => assert_eq!(value.as_ref().and_then(Value::as_str), Some(s)),
            Ok(None) => assert!(value.is_none(), "a given value read as absent"),
            Err(e) => refusal(&e, name),
        }
        match args.hex(i) {
            Ok(bytes) => {
                let given = value.as_ref().and_then(Value::as_str).unwrap_or_default();
                let digits = given.strip_prefix("0x").unwrap_or(given);
                assert_eq!(hex::encode(&bytes), digits.to_ascii_lowercase());
            }
            Err(e) => refusal(&e, name),
        }
        match args.hash32(i) {
            Ok(id) => assert_eq!(parse_hash32(&hex::encode(id)), Ok(id)),
            Err(e) => refusal(&e, name),
        }
    }
}

/// A refusal is `-32602`, short, and names the parameter (`name`) it is about.
fn refusal(e: &ErrorObjectOwned, name: Option<&str>) {
    assert_eq!(e.code(), INVALID_PARAMS_CODE, "{}", e.message());
    let msg = e.message();
    assert!(
        msg.starts_with("invalid params: "),
        "refusal without the prefix: {msg}"
    );
    assert!(
        msg.len() <= MAX_MESSAGE,
        "a {}-byte refusal echoes the input: {}…",
        msg.len(),
        msg.chars().take(120).collect::<String>()
    );
    if let Some(name) = name {
        assert!(
            msg.contains(&format!("`{name}`")),
            "refusal does not name `{name}`: {msg}"
        );
    }
}
