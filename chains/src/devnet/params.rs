//! Parameter parsing for JSON-RPC methods, shared by the devnet chain's server and the relay's
//! (`rpc` crate).
//!
//! Every method takes its parameters by position (`[a, b]`) or by name (`{"a": .., "b": ..}`).
//! Anything wrong becomes a `-32602 invalid params` error whose message names the parameter, so
//! a caller never has to guess which argument was refused. Values are never echoed back at
//! length.

use jsonrpsee::RpcModule;
use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::types::{ErrorObjectOwned, Params, error::INVALID_PARAMS_CODE};
use serde_json::Value;

/// Registers `rpc_methods` (no parameters): the names of every method `m` answers at this
/// point, subscriptions and `rpc_methods` itself included, sorted. Call it last.
pub fn register_rpc_methods<C: Send + Sync + 'static>(
    m: &mut RpcModule<C>,
) -> Result<(), RegisterMethodError> {
    let mut names: Vec<&'static str> = m.method_names().chain(["rpc_methods"]).collect();
    names.sort_unstable();
    m.register_method("rpc_methods", move |params, _, _| {
        Args::parse(&params, &[])?;
        Ok::<_, ErrorObjectOwned>(names.clone())
    })?;
    Ok(())
}

/// An `invalid params` error; `what` starts with the parameter's name in backticks.
pub fn invalid(what: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(
        INVALID_PARAMS_CODE,
        format!("invalid params: {what}"),
        None::<()>,
    )
}

/// An `invalid params` error about parameter `name`, for checks past the parameter's type.
pub fn invalid_param(name: &str, why: impl std::fmt::Display) -> ErrorObjectOwned {
    invalid(format!("`{name}`: {why}"))
}

/// A short description of a JSON value, for error messages (never the whole value).
pub fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => {
            let s = n.to_string();
            if s.len() > 24 {
                "a number".to_owned()
            } else {
                format!("number {s}")
            }
        }
        Value::String(s) if s.chars().count() <= 24 => format!("string {s:?}"),
        Value::String(s) => format!("a string of {} characters", s.chars().count()),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// The parameters of one call, matched against the method's parameter names.
#[derive(Debug)]
pub struct Args {
    names: &'static [&'static str],
    values: Vec<Option<Value>>,
}

impl Args {
    /// Parses `params` for a method whose parameters are `names`, in order.
    pub fn parse(
        params: &Params<'_>,
        names: &'static [&'static str],
    ) -> Result<Self, ErrorObjectOwned> {
        let mut values = vec![None; names.len()];
        let raw = params.as_str().unwrap_or("").trim();
        if raw.is_empty() {
            return Ok(Self { names, values });
        }
        let parsed: Value =
            serde_json::from_str(raw).map_err(|e| invalid(format!("not JSON: {e}")))?;
        let expected = if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        };
        match parsed {
            Value::Null => {}
            Value::Array(items) => {
                if items.len() > names.len() {
                    return Err(invalid(format!(
                        "expected at most {} parameter(s) ({expected}), got {}",
                        names.len(),
                        items.len()
                    )));
                }
                for (slot, v) in values.iter_mut().zip(items) {
                    *slot = Some(v);
                }
            }
            Value::Object(map) => {
                for (key, v) in map {
                    let Some(i) = names.iter().position(|n| *n == key) else {
                        let key: String = key.chars().take(40).collect();
                        return Err(invalid(format!(
                            "unknown parameter {key:?} (expected: {expected})"
                        )));
                    };
                    if let Some(slot) = values.get_mut(i) {
                        *slot = Some(v);
                    }
                }
            }
            other => {
                return Err(invalid(format!(
                    "expected an array or an object of parameters, got {}",
                    describe(&other)
                )));
            }
        }
        Ok(Self { names, values })
    }

    /// The name of parameter `i`.
    pub fn name(&self, i: usize) -> &'static str {
        self.names.get(i).copied().unwrap_or("?")
    }

    /// The raw value of parameter `i`, if given and not null.
    pub fn value(&self, i: usize) -> Option<&Value> {
        self.values
            .get(i)
            .and_then(Option::as_ref)
            .filter(|v| !v.is_null())
    }

    /// Parameter `i` as a required string.
    pub fn str(&self, i: usize) -> Result<&str, ErrorObjectOwned> {
        let name = self.name(i);
        match self.value(i) {
            None => Err(invalid(format!("`{name}` is missing (expected a string)"))),
            Some(v) => v
                .as_str()
                .ok_or_else(|| invalid(format!("`{name}` must be a string, got {}", describe(v)))),
        }
    }

    /// Parameter `i` as an optional string.
    pub fn opt_str(&self, i: usize) -> Result<Option<&str>, ErrorObjectOwned> {
        match self.value(i) {
            None => Ok(None),
            Some(_) => self.str(i).map(Some),
        }
    }

    /// Parameter `i` as a required non-negative integer.
    pub fn u64(&self, i: usize) -> Result<u64, ErrorObjectOwned> {
        self.opt_u64(i)?.ok_or_else(|| {
            invalid(format!(
                "`{}` is missing (expected a non-negative integer)",
                self.name(i)
            ))
        })
    }

    /// Parameter `i` as an optional non-negative integer.
    pub fn opt_u64(&self, i: usize) -> Result<Option<u64>, ErrorObjectOwned> {
        match self.value(i) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                invalid(format!(
                    "`{}` must be a non-negative integer, got {}",
                    self.name(i),
                    describe(v)
                ))
            }),
        }
    }

    /// Parameter `i` as hex bytes (an optional `0x` prefix is accepted).
    pub fn hex(&self, i: usize) -> Result<Vec<u8>, ErrorObjectOwned> {
        let s = self.str(i)?;
        let s = s.strip_prefix("0x").unwrap_or(s);
        hex::decode(s).map_err(|e| invalid(format!("`{}` is not hex: {e}", self.name(i))))
    }

    /// Parameter `i` as a 32-byte id: 64 hex digits, optionally `0x`-prefixed.
    pub fn hash32(&self, i: usize) -> Result<[u8; 32], ErrorObjectOwned> {
        let name = self.name(i);
        let must = format!("`{name}` must be 64 hex digits (optionally 0x-prefixed)");
        let s = match self.value(i) {
            None => return Err(invalid(format!("{must}, but it is missing"))),
            Some(Value::String(s)) => s.as_str(),
            Some(v) => return Err(invalid(format!("{must}, got {}", describe(v)))),
        };
        parse_hash32(s).map_err(|why| invalid(format!("{must}, got {why}")))
    }
}

/// 64 hex digits (optionally `0x`-prefixed) to 32 bytes; the error says what was wrong.
pub fn parse_hash32(s: &str) -> Result<[u8; 32], String> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if digits.len() != 64 {
        return Err(format!("{} characters", digits.chars().count()));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(digits, &mut out).map_err(|_| "a non-hex character".to_owned())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(raw: &'static str, names: &'static [&'static str]) -> Result<Args, ErrorObjectOwned> {
        Args::parse(&Params::new(Some(raw)), names)
    }

    const ID: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn positional_and_named_agree() {
        let a = args(r#"[5, 100, "c"]"#, &["after", "timeout_ms", "cursor"]).expect("parses");
        let b = args(
            r#"{"timeout_ms": 100, "after": 5, "cursor": "c"}"#,
            &["after", "timeout_ms", "cursor"],
        )
        .expect("parses");
        for x in [a, b] {
            assert_eq!(x.u64(0).ok(), Some(5));
            assert_eq!(x.opt_u64(1).ok(), Some(Some(100)));
            assert_eq!(x.opt_str(2).ok(), Some(Some("c")));
        }
    }

    #[test]
    fn errors_name_the_parameter() {
        let a = args(r#"["x"]"#, &["height"]).expect("parses");
        let e = a.u64(0).expect_err("a string is not a height");
        assert_eq!(e.code(), INVALID_PARAMS_CODE);
        assert!(e.message().contains("`height` must be"), "{}", e.message());
        let a = args("[]", &["height"]).expect("parses");
        assert!(a.u64(0).expect_err("missing").message().contains("missing"));
        let a = args("[-1]", &["height"]).expect("parses");
        assert!(a.u64(0).is_err());
        let a = args(r#"["zz"]"#, &["tx"]).expect("parses");
        assert!(
            a.hex(0)
                .expect_err("bad hex")
                .message()
                .contains("`tx` is not hex")
        );
        let a = args(r#"["0xabcd"]"#, &["id"]).expect("parses");
        assert!(
            a.hash32(0)
                .expect_err("short")
                .message()
                .contains("`id` must be 64 hex digits")
        );
    }

    #[test]
    fn hashes() {
        assert!(parse_hash32(ID).is_ok());
        assert!(parse_hash32(&format!("0x{ID}")).is_ok());
        assert!(parse_hash32(&ID[2..]).is_err());
        assert!(parse_hash32(&format!("{}zz", &ID[2..])).is_err());
        // Multi-byte characters must not panic the length check or the decoder.
        assert!(parse_hash32(&"é".repeat(32)).is_err());
        let a = args("[5]", &["id"]).expect("parses");
        let e = a.hash32(0).expect_err("a number is not an id");
        assert!(e.message().contains("got number 5"), "{}", e.message());
    }

    #[test]
    fn list_errors_are_clear() {
        assert!(args("[1, 2]", &["height"]).is_err());
        assert!(
            args(r#"{"nope": 1}"#, &["height"])
                .expect_err("unknown")
                .message()
                .contains("nope")
        );
        assert!(args("7", &["height"]).is_err());
        assert!(args("null", &["height"]).is_ok());
        assert!(args("[]", &[]).is_ok());
        assert!(args("[1]", &[]).is_err());
    }
}
