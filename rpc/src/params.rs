//! Parameter parsing for the relay's JSON-RPC methods.
//!
//! Every method takes its parameters by position (`[a, b]`) or by name (`{"a": .., "b": ..}`).
//! Anything wrong becomes a `-32602 invalid params` error whose message names the parameter (or
//! the field inside it), so a caller never has to guess which argument was refused. Values are
//! never echoed back at length.

use jsonrpsee::types::{ErrorObjectOwned, Params, error::INVALID_PARAMS_CODE};
use relayer::node::view::{Direction, TransferFilter, TransferStatus};
use serde_json::Value;

/// An `invalid params` error; `what` starts with the parameter's name.
pub(crate) fn invalid(what: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(
        INVALID_PARAMS_CODE,
        format!("invalid params: {what}"),
        None::<()>,
    )
}

/// A short description of a JSON value, for error messages (never the whole value).
fn describe(v: &Value) -> String {
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

    /// Parameter `i` as a required string.
    pub(crate) fn str(&self, i: usize) -> Result<&str, ErrorObjectOwned> {
        let name = self.name(i);
        match self.value(i) {
            None => Err(invalid(format!("{name} is missing (expected a string)"))),
            Some(v) => v
                .as_str()
                .ok_or_else(|| invalid(format!("{name} must be a string, got {}", describe(v)))),
        }
    }

    /// Parameter `i` as an optional string.
    pub(crate) fn opt_str(&self, i: usize) -> Result<Option<&str>, ErrorObjectOwned> {
        match self.value(i) {
            None => Ok(None),
            Some(_) => self.str(i).map(Some),
        }
    }

    /// Parameter `i` as an optional non-negative integer.
    pub(crate) fn opt_u64(&self, i: usize) -> Result<Option<u64>, ErrorObjectOwned> {
        match self.value(i) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                invalid(format!(
                    "{} must be a non-negative integer, got {}",
                    self.name(i),
                    describe(v)
                ))
            }),
        }
    }

    /// Parameter `i` as a 32-byte id: 64 hex digits, optionally `0x`-prefixed.
    pub(crate) fn hash32(&self, i: usize) -> Result<[u8; 32], ErrorObjectOwned> {
        let name = self.name(i);
        let must = format!("{name} must be 64 hex digits (optionally 0x-prefixed)");
        let s = match self.value(i) {
            None => return Err(invalid(format!("{must}, but it is missing"))),
            Some(Value::String(s)) => s.as_str(),
            Some(v) => return Err(invalid(format!("{must}, got {}", describe(v)))),
        };
        parse_hash32(s).map_err(|why| invalid(format!("{must}, got {why}")))
    }

    /// Parameter `i` as an optional transfer filter `{status?, direction?}`.
    pub(crate) fn filter(&self, i: usize) -> Result<TransferFilter, ErrorObjectOwned> {
        let name = self.name(i);
        let map = match self.value(i) {
            None => return Ok(TransferFilter::default()),
            Some(Value::Object(map)) => map,
            Some(v) => {
                return Err(invalid(format!(
                    "{name} must be an object {{status?, direction?}}, got {}",
                    describe(v)
                )));
            }
        };
        let mut filter = TransferFilter::default();
        for (key, v) in map {
            let field_str = |field: &str| -> Result<Option<&str>, ErrorObjectOwned> {
                match v {
                    Value::Null => Ok(None),
                    Value::String(s) => Ok(Some(s.as_str())),
                    other => Err(invalid(format!(
                        "{name}.{field} must be a string, got {}",
                        describe(other)
                    ))),
                }
            };
            match key.as_str() {
                "status" => {
                    filter.status = field_str("status")?
                        .map(|s| s.parse::<TransferStatus>())
                        .transpose()
                        .map_err(|e| invalid(format!("{name}.status: {}", clip(&e))))?;
                }
                "direction" => {
                    filter.direction = field_str("direction")?
                        .map(|s| s.parse::<Direction>())
                        .transpose()
                        .map_err(|e| invalid(format!("{name}.direction: {}", clip(&e))))?;
                }
                other => {
                    let other: String = other.chars().take(40).collect();
                    return Err(invalid(format!(
                        "{name} has unknown field {other:?} (expected status, direction)"
                    )));
                }
            }
        }
        Ok(filter)
    }
}

/// Caps a message that may quote user input.
fn clip(s: &str) -> String {
    if s.chars().count() <= 200 {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(200).collect();
        out.push('…');
        out
    }
}

/// 64 hex digits (optionally `0x`-prefixed) to 32 bytes; the error says what was wrong.
pub(crate) fn parse_hash32(s: &str) -> Result<[u8; 32], String> {
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
        let a = args(r#"[null, "c", 5]"#, &["filter", "cursor", "limit"]).expect("parses");
        let b = args(
            r#"{"limit": 5, "cursor": "c"}"#,
            &["filter", "cursor", "limit"],
        )
        .expect("parses");
        for x in [a, b] {
            assert_eq!(x.opt_u64(2).ok(), Some(Some(5)));
            assert_eq!(x.opt_str(1).ok(), Some(Some("c")));
            assert_eq!(x.filter(0).ok(), Some(TransferFilter::default()));
        }
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
        assert_eq!(e.code(), INVALID_PARAMS_CODE);
        assert!(
            e.message().contains("id must be 64 hex digits"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn filters_name_the_field() {
        let a = args(r#"[{"status": 5}]"#, &["filter"]).expect("parses");
        let e = a.filter(0).expect_err("wrong type");
        assert!(e.message().contains("filter.status"), "{}", e.message());
        let a = args(r#"[{"colour": "red"}]"#, &["filter"]).expect("parses");
        assert!(
            a.filter(0)
                .expect_err("unknown")
                .message()
                .contains("colour")
        );
        let a = args(r#"[{"direction": "up"}]"#, &["filter"]).expect("parses");
        assert!(
            a.filter(0)
                .expect_err("bad value")
                .message()
                .contains("filter.direction")
        );
        let a = args(
            r#"[{"direction": "a_to_b", "status": "sent"}]"#,
            &["filter"],
        )
        .expect("parses");
        let f = a.filter(0).expect("valid");
        assert_eq!(f.direction, Some(Direction::AToB));
        assert_eq!(f.status, Some(TransferStatus::Sent));
    }

    #[test]
    fn list_errors_are_clear() {
        assert!(args("[1, 2]", &["id"]).is_err());
        assert!(
            args(r#"{"nope": 1}"#, &["id"])
                .expect_err("unknown")
                .message()
                .contains("nope")
        );
        assert!(args("7", &["id"]).is_err());
        assert!(args("null", &["id"]).is_ok());
        assert!(args("[]", &[]).is_ok());
        assert!(args("[1]", &[]).is_err());
    }
}
