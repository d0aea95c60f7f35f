//! The relay-specific parameter: the transfer filter of `bridge_listTransfers`. Everything
//! else (positional or named parameters, ids, integers, error messages naming the parameter)
//! comes from the shared parser in `chains::devnet::params`.

use chains::devnet::params::describe;
pub(crate) use chains::devnet::params::{Args, invalid};
use jsonrpsee::types::ErrorObjectOwned;
use relayer::node::view::{Direction, TransferFilter, TransferStatus};
use serde_json::Value;

/// Parameter `i` of `args` as an optional transfer filter `{status?, direction?}`.
pub(crate) fn filter(args: &Args, i: usize) -> Result<TransferFilter, ErrorObjectOwned> {
    let name = args.name(i);
    let map = match args.value(i) {
        None => return Ok(TransferFilter::default()),
        Some(Value::Object(map)) => map,
        Some(v) => {
            return Err(invalid(format!(
                "`{name}` must be an object {{status?, direction?}}, got {}",
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
                    "`{name}.{field}` must be a string, got {}",
                    describe(other)
                ))),
            }
        };
        match key.as_str() {
            "status" => {
                filter.status = field_str("status")?
                    .map(|s| s.parse::<TransferStatus>())
                    .transpose()
                    .map_err(|e| invalid(format!("`{name}.status`: {}", clip(&e))))?;
            }
            "direction" => {
                filter.direction = field_str("direction")?
                    .map(|s| s.parse::<Direction>())
                    .transpose()
                    .map_err(|e| invalid(format!("`{name}.direction`: {}", clip(&e))))?;
            }
            other => {
                let other: String = other.chars().take(40).collect();
                return Err(invalid(format!(
                    "`{name}` has unknown field {other:?} (expected status, direction)"
                )));
            }
        }
    }
    Ok(filter)
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

#[cfg(test)]
mod tests {
    use super::*;
    use jsonrpsee::types::Params;

    fn args(raw: &'static str, names: &'static [&'static str]) -> Result<Args, ErrorObjectOwned> {
        Args::parse(&Params::new(Some(raw)), names)
    }

    #[test]
    fn filters_name_the_field() {
        let a = args(r#"[{"status": 5}]"#, &["filter"]).expect("parses");
        let e = filter(&a, 0).expect_err("wrong type");
        assert!(e.message().contains("filter.status"), "{}", e.message());
        let a = args(r#"[{"colour": "red"}]"#, &["filter"]).expect("parses");
        assert!(
            filter(&a, 0)
                .expect_err("unknown")
                .message()
                .contains("colour")
        );
        let a = args(r#"[{"direction": "up"}]"#, &["filter"]).expect("parses");
        assert!(
            filter(&a, 0)
                .expect_err("bad value")
                .message()
                .contains("filter.direction")
        );
        let a = args(
            r#"[{"direction": "a_to_b", "status": "sent"}]"#,
            &["filter"],
        )
        .expect("parses");
        let f = filter(&a, 0).expect("valid");
        assert_eq!(f.direction, Some(Direction::AToB));
        assert_eq!(f.status, Some(TransferStatus::Sent));
    }
}
