//! Requests whose `id` jsonrpsee cannot hold, answered `-32600` instead of dropped, over HTTP and
//! WebSocket: [`IdScreenLayer`], the tower HTTP layer in front of both of this project's JSON-RPC
//! servers (the devnet chain's and the relay's).
//!
//! JSON-RPC 2.0 allows a string, a number or `null` as the `id` and asks for `-32600 Invalid
//! Request` with a `null` id otherwise. jsonrpsee 0.26 holds an id only as a string, a
//! non-negative integer or `null`; a request with any other id (an object, an array, a bool, a
//! negative or fractional number) fails to parse as a call, parses as a notification (which
//! ignores the id), and is silently dropped: HTTP gets the body `null`, WebSocket gets nothing
//! (upstream issue paritytech/jsonrpsee#1653). Since a client cannot match an answer to such an
//! id anyway, this server answers every one of them `-32600` with a `null` id.
//!
//! How: [`rewrite`] replaces each such request — the whole body, or an entry of a batch — with
//! [`INVALID_STANDIN`], a request without a method and with a `null` id, which jsonrpsee itself
//! answers `-32600` with a `null` id. The rest of a batch is forwarded byte-for-byte and answered
//! as before; a body without such a request is forwarded untouched. A real notification (no `id`
//! member) is left alone, so it still gets no answer.
//!
//! - HTTP: before jsonrpsee reads a `POST` with a JSON content type, [`screen`] buffers its body
//!   (up to `max_request_bytes`) and rewrites it. A body above the limit gets jsonrpsee's own
//!   `-32007` answer.
//! - WebSocket: messages never pass through HTTP middleware, so the layer answers the upgrade
//!   request itself and proxies the connection to jsonrpsee through an in-process pipe, rewriting
//!   every client message on the way (see the `ws_screen` module). A message above
//!   `max_request_bytes` gets `-32007` with a `null` id, as jsonrpsee answers it; refusals of the
//!   upgrade (`429` above `max_connections`) reach the client unchanged.

use http_body_util::BodyExt;
use hyper::header::{CONTENT_LENGTH, HeaderValue, TRANSFER_ENCODING};
use jsonrpsee::core::BoxError;
use jsonrpsee::server::http::{content_type_is_json, response};
use jsonrpsee::server::ws::is_upgrade_request;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::ws_screen;

/// What a request with an id jsonrpsee cannot hold is replaced with: no method, so neither a call
/// nor a notification, and a `null` id, so jsonrpsee answers `-32600` with `id: null`.
pub const INVALID_STANDIN: &str = r#"{"jsonrpc":"2.0","id":null}"#;

/// What to do with an HTTP request.
#[derive(Debug)]
enum Screened {
    /// Hand it to jsonrpsee (possibly with a rewritten body).
    Forward(HttpRequest),
    /// Answer it with this, without jsonrpsee.
    Answer(HttpResponse),
}

/// The tower layer that passes every HTTP request through [`screen`] and every WebSocket
/// connection through the `ws_screen` proxy before jsonrpsee; bodies and messages are read up to
/// `max_request_bytes` (the server's own limit).
#[derive(Clone, Copy, Debug)]
pub struct IdScreenLayer {
    max_request_bytes: u32,
}

impl IdScreenLayer {
    /// The layer for a server whose request limit is `max_request_bytes`.
    pub fn new(max_request_bytes: u32) -> Self {
        IdScreenLayer { max_request_bytes }
    }
}

impl<S> tower::Layer<S> for IdScreenLayer {
    type Service = IdScreen<S>;
    fn layer(&self, inner: S) -> IdScreen<S> {
        IdScreen {
            inner,
            max_request_bytes: self.max_request_bytes,
        }
    }
}

/// The service of [`IdScreenLayer`].
#[derive(Clone, Debug)]
pub struct IdScreen<S> {
    inner: S,
    max_request_bytes: u32,
}

impl<S> tower::Service<HttpRequest> for IdScreen<S>
where
    S: tower::Service<HttpRequest, Response = HttpResponse, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, BoxError>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: HttpRequest) -> Self::Future {
        // Take the service that was driven to readiness, leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let max = self.max_request_bytes;
        Box::pin(async move {
            if is_upgrade_request(&req) {
                return Ok(ws_screen::proxy(req, inner, max).await);
            }
            match screen(req, max).await {
                Screened::Forward(req) => inner.call(req).await,
                Screened::Answer(rsp) => Ok(rsp),
            }
        })
    }
}

/// Screens one HTTP request (see the module docs). Anything but a JSON `POST` whose body fits in
/// `max_bytes` is forwarded untouched or answered as jsonrpsee would answer it.
async fn screen(req: HttpRequest, max_bytes: u32) -> Screened {
    if req.method() != hyper::Method::POST || !content_type_is_json(&req) {
        // jsonrpsee refuses it by method or content type.
        return Screened::Forward(req);
    }
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > u64::from(max_bytes)) {
        // jsonrpsee refuses it from the header alone.
        return Screened::Forward(req);
    }
    let (mut parts, mut body) = req.into_parts();
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    buf.extend_from_slice(data);
                    if buf.len() > max_bytes as usize {
                        return Screened::Answer(response::too_large(max_bytes));
                    }
                }
            }
            Err(e) => {
                tracing::warn!("cannot read a JSON-RPC request body: {e}");
                return Screened::Answer(response::internal_error());
            }
        }
    }
    let body = match rewrite(&buf) {
        Some(new) => {
            parts.headers.remove(TRANSFER_ENCODING);
            parts
                .headers
                .insert(CONTENT_LENGTH, HeaderValue::from(new.len()));
            new
        }
        None => buf,
    };
    Screened::Forward(HttpRequest::from_parts(parts, HttpBody::from(body)))
}

/// The `id` of a request object; every other member is skipped.
#[derive(Deserialize)]
struct IdOf {
    #[serde(default)]
    id: Option<Value>,
}

/// Whether `raw` is a JSON object whose `id` jsonrpsee cannot hold (present, and not a string,
/// a non-negative integer or `null`).
fn has_unholdable_id(raw: &str) -> bool {
    match serde_json::from_str::<IdOf>(raw) {
        Ok(IdOf { id: Some(id) }) => !(id.is_string() || id.is_u64()),
        _ => false,
    }
}

/// `body` with every request whose id jsonrpsee cannot hold replaced by [`INVALID_STANDIN`], or
/// `None` if it has none (or is not a JSON object or array: jsonrpsee answers those).
pub fn rewrite(body: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    match text.trim_start().as_bytes().first()? {
        b'{' => has_unholdable_id(text).then(|| INVALID_STANDIN.as_bytes().to_vec()),
        b'[' => {
            let entries: Vec<&RawValue> = serde_json::from_str(text).ok()?;
            let bad: Vec<bool> = entries.iter().map(|e| has_unholdable_id(e.get())).collect();
            if !bad.contains(&true) {
                return None;
            }
            let parts: Vec<&str> = entries
                .iter()
                .zip(bad)
                .map(|(e, bad)| if bad { INVALID_STANDIN } else { e.get() })
                .collect();
            Some(format!("[{}]", parts.join(",")).into_bytes())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(body: &str) -> Option<String> {
        rewrite(body.as_bytes()).map(|b| String::from_utf8(b).expect("utf-8"))
    }

    #[test]
    fn ids_jsonrpsee_cannot_hold_are_replaced() {
        for id in [
            "{}",
            "[1]",
            "true",
            "false",
            "-1",
            "1.5",
            "18446744073709551616",
        ] {
            let body = format!(r#"{{"jsonrpc":"2.0","method":"relay_version","id":{id}}}"#);
            assert_eq!(
                rewritten(&format!("  {body}")).as_deref(),
                Some(INVALID_STANDIN),
                "id {id}"
            );
        }
    }

    #[test]
    fn holdable_ids_and_other_bodies_pass_untouched() {
        for body in [
            r#"{"jsonrpc":"2.0","method":"relay_version","id":7}"#,
            r#"{"jsonrpc":"2.0","method":"relay_version","id":"x"}"#,
            r#"{"jsonrpc":"2.0","method":"relay_version","id":null}"#,
            r#"{"jsonrpc":"2.0","method":"relay_version"}"#,
            r#"{"jsonrpc":"2.0","method":"relay_version","id":{}"#,
            r#"[{"jsonrpc":"2.0","method":"relay_version","id":1}, 5]"#,
            "5",
            "",
            "\u{fffd}",
        ] {
            assert_eq!(rewritten(body), None, "{body}");
        }
        assert_eq!(rewrite(&[0xff, b'{']), None);
    }

    #[test]
    fn batch_entries_are_replaced_one_by_one() {
        let body = r#"[ {"jsonrpc":"2.0","method":"a","id":1},
            {"jsonrpc":"2.0","method":"b","id":{"x":[1]}},
            5, {"jsonrpc":"2.0","method":"c","params":[18446744073709551616],"id":"s"},
            {"jsonrpc":"2.0","method":"d","id":false} ]"#;
        let want = format!(
            r#"[{{"jsonrpc":"2.0","method":"a","id":1}},{INVALID_STANDIN},5,{{"jsonrpc":"2.0","method":"c","params":[18446744073709551616],"id":"s"}},{INVALID_STANDIN}]"#
        );
        assert_eq!(rewritten(body), Some(want));
    }
}
