//! Parameter parsing for the devnet chain's JSON-RPC methods.
//!
//! Every method takes its parameters by position (`[a, b]`) or by name (`{"a": .., "b": ..}`).
//! Anything wrong becomes a `-32602 invalid params` error whose message names the parameter, so
//! a caller never has to guess which argument was refused.

use jsonrpsee::types::{ErrorObjectOwned, Params, error::INVALID_PARAMS_CODE};
use serde_json::Value;

/// An `invalid params` error about parameter `name`.
pub(crate) fn invalid_param(name: &str, why: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(
        INVALID_PARAMS_CODE,
        format!("invalid params: `{name}`: {why}"),
        None::<()>,
    )
}

/// An `invalid params` error about the parameter list as a whole.
fn invalid_list(why: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(
        INVALID_PARAMS_CODE,
        format!("invalid params: {why}"),
        None::<()>,
    )
}

/// The parameters of one call, matched against the method's parameter names.
#[derive(Debug)]
pub(crate) struct Args {
    names: &'static [&'static str],
    values: Vec<Option<Value>>,
}

impl Args {
    /// Parses `params` for a method whose parameters are `names`, in order.
    pub(crate) fn parse(
        params: &Params<'_>,
        names: &'static [&'static str],
    ) -> Result<Self, ErrorObjectOwned> {
        let mut values = vec![None; names.len()];
        let raw = params.as_str().unwrap_or("").trim();
        if raw.is_empty() {
            return Ok(Self { names, values });
        }
        let parsed: Value =
            serde_json::from_str(raw).map_err(|e| invalid_list(format!("not json: {e}")))?;
        match parsed {
            Value::Null => {}
            Value::Array(items) => {
                if items.len() > names.len() {
                    return Err(invalid_list(format!(
                        "expected at most {} parameter(s) ({}), got {}",
                        names.len(),
                        names.join(", "),
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
                        return Err(invalid_list(format!(
                            "unknown parameter `{key}` (expected: {})",
                            names.join(", ")
                        )));
                    };
                    values[i] = Some(v);
                }
            }
            _ => return Err(invalid_list("expected an array or an object of parameters")),
        }
        Ok(Self { names, values })
    }

    fn name(&self, i: usize) -> &'static str {
        self.names.get(i).copied().unwrap_or("?")
    }

    /// The raw value of parameter `i`, if given and not null.
    fn value(&self, i: usize) -> Option<&Value> {
        self.values
            .get(i)
            .and_then(Option::as_ref)
            .filter(|v| !v.is_null())
    }

    /// Parameter `i` as a required non-negative integer.
    pub(crate) fn u64(&self, i: usize) -> Result<u64, ErrorObjectOwned> {
        self.opt_u64(i)?
            .ok_or_else(|| invalid_param(self.name(i), "missing (expected a non-negative integer)"))
    }

    /// Parameter `i` as an optional non-negative integer.
    pub(crate) fn opt_u64(&self, i: usize) -> Result<Option<u64>, ErrorObjectOwned> {
        match self.value(i) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                invalid_param(
                    self.name(i),
                    format!("expected a non-negative integer, got {v}"),
                )
            }),
        }
    }

    /// Parameter `i` as a required string.
    pub(crate) fn str(&self, i: usize) -> Result<&str, ErrorObjectOwned> {
        match self.value(i) {
            None => Err(invalid_param(self.name(i), "missing (expected a string)")),
            Some(v) => v
                .as_str()
                .ok_or_else(|| invalid_param(self.name(i), format!("expected a string, got {v}"))),
        }
    }

    /// Parameter `i` as hex bytes (an optional `0x` prefix is accepted).
    pub(crate) fn hex(&self, i: usize) -> Result<Vec<u8>, ErrorObjectOwned> {
        let s = self.str(i)?;
        let s = s.strip_prefix("0x").unwrap_or(s);
        hex::decode(s).map_err(|e| invalid_param(self.name(i), format!("not hex: {e}")))
    }

    /// Parameter `i` as a 32-byte hash in hex.
    pub(crate) fn hash32(&self, i: usize) -> Result<[u8; 32], ErrorObjectOwned> {
        let bytes = self.hex(i)?;
        <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
            invalid_param(
                self.name(i),
                format!(
                    "expected 32 bytes (64 hex characters), got {} bytes",
                    bytes.len()
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(raw: &'static str, names: &'static [&'static str]) -> Result<Args, ErrorObjectOwned> {
        Args::parse(&Params::new(Some(raw)), names)
    }

    #[test]
    fn positional_and_named_agree() {
        let a = args("[5, 100]", &["after", "timeout_ms"]).expect("parses");
        let b = args(
            r#"{"timeout_ms": 100, "after": 5}"#,
            &["after", "timeout_ms"],
        )
        .expect("parses");
        assert_eq!(a.u64(0).ok(), Some(5));
        assert_eq!(b.u64(0).ok(), Some(5));
        assert_eq!(a.opt_u64(1).ok(), Some(Some(100)));
        assert_eq!(b.opt_u64(1).ok(), Some(Some(100)));
    }

    #[test]
    fn errors_name_the_parameter() {
        let a = args(r#"["x"]"#, &["height"]).expect("parses");
        let e = a.u64(0).expect_err("a string is not a height");
        assert_eq!(e.code(), INVALID_PARAMS_CODE);
        assert!(e.message().contains("`height`"), "{}", e.message());
        let a = args("[]", &["height"]).expect("parses");
        assert!(a.u64(0).expect_err("missing").message().contains("missing"));
        let a = args("[-1]", &["height"]).expect("parses");
        assert!(a.u64(0).is_err());
        let a = args(r#"["zz"]"#, &["tx"]).expect("parses");
        assert!(a.hex(0).expect_err("bad hex").message().contains("`tx`"));
        let a = args(r#"["0xabcd"]"#, &["id"]).expect("parses");
        assert!(
            a.hash32(0)
                .expect_err("short")
                .message()
                .contains("32 bytes")
        );
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
    }
}
