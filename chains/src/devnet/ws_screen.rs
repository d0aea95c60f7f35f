//! The WebSocket half of the id screen of [`super::request_id`]: a proxy between a WebSocket
//! client and jsonrpsee that passes every client message through [`rewrite`].
//!
//! WebSocket messages never pass through HTTP middleware, and jsonrpsee has no hook over a raw
//! message, so [`proxy`] stands between the two. For an upgrade request it opens an in-process
//! pipe, serves jsonrpsee on one end (a hyper HTTP/1 connection with upgrades, handing every
//! request to a clone of the service behind the layer) and forwards the client's upgrade request
//! over the other end with all its headers. jsonrpsee's answer goes back to the client as it is:
//! a refusal (`429` above `max_connections`, jsonrpsee's text for a bad handshake) without a
//! connection, a `101` (its `Sec-WebSocket-Accept` is computed from the client's own key) with
//! one. Only that one upgrade request reaches jsonrpsee, so the connection counts once against
//! `max_connections`, for as long as it lives.
//!
//! Then both upgraded connections are read with soketto (the WebSocket crate jsonrpsee itself
//! uses), and messages are pumped both ways:
//!
//! - client to server: every text or binary message goes through [`rewrite`], exactly like an
//!   HTTP body, and is forwarded as the same kind of message; a message above
//!   `max_request_bytes` is discarded as it arrives and answered here as jsonrpsee answers it
//!   (`-32007` with a `null` id), and the connection keeps serving;
//! - server to client: every message (answers, subscription notifications) passes unchanged;
//! - pings from either side are answered by the side that receives them (soketto does it);
//! - a close or error on either side closes the other.
//!
//! No message is buffered beyond one at a time per direction, and a client's at most
//! `max_request_bytes`.

use std::future::Future;
use std::pin::Pin;

use futures::io::{BufReader, BufWriter};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use hyper::upgrade::Upgraded;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use jsonrpsee::core::BoxError;
use jsonrpsee::server::http::response;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse, MethodResponse};
use jsonrpsee::types::Id;
use jsonrpsee::types::error::reject_too_big_request;
use soketto::connection::{Builder, Error as WsError, Mode, Sender};
use soketto::{Data, Incoming as WsIncoming};
use tokio::sync::Mutex;
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

use super::request_id::rewrite;

/// One upgraded connection as soketto reads and writes it (buffered like jsonrpsee's own).
type Io = BufReader<BufWriter<Compat<TokioIo<Upgraded>>>>;

/// Bytes buffered in each direction of the in-process pipe to jsonrpsee.
const PIPE_BUFFER: usize = 64 << 10;

/// The service behind the layer (jsonrpsee's), as the proxy needs it: cloned per request and
/// moved into spawned tasks.
pub(crate) trait Inner:
    tower::Service<HttpRequest, Response = HttpResponse, Error = BoxError, Future: Send + 'static>
    + Clone
    + Send
    + 'static
{
}

impl<S> Inner for S where
    S: tower::Service<
            HttpRequest,
            Response = HttpResponse,
            Error = BoxError,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// Answers the WebSocket upgrade request `req` through `inner` (the service behind the layer)
/// and, once both sides are upgraded, pumps messages between them (see the module docs).
pub(crate) async fn proxy<S: Inner>(
    req: HttpRequest,
    inner: S,
    max_request_bytes: u32,
) -> HttpResponse {
    match handshake(req, inner, max_request_bytes).await {
        Ok(rsp) => rsp,
        Err(e) => {
            tracing::warn!("cannot open a WebSocket proxy to the JSON-RPC server: {e}");
            response::internal_error()
        }
    }
}

/// Forwards the upgrade request over a fresh pipe to `inner`; on a `101`, spawns the pump and
/// returns the `101` for the client, else returns jsonrpsee's refusal.
async fn handshake<S: Inner>(
    req: HttpRequest,
    inner: S,
    max_request_bytes: u32,
) -> Result<HttpResponse, BoxError> {
    let (near, far) = tokio::io::duplex(PIPE_BUFFER);
    let serve = Behind(inner);
    tokio::spawn(async move {
        let conn = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(far), serve)
            .with_upgrades();
        if let Err(e) = conn.await {
            tracing::debug!("WebSocket proxy: the JSON-RPC side of the pipe failed: {e}");
        }
    });
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(near)).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!("WebSocket proxy: the client side of the pipe failed: {e}");
        }
    });

    let mut forward = Request::builder()
        .method(req.method().clone())
        .uri(req.uri().clone());
    for (name, value) in req.headers() {
        if name != CONTENT_LENGTH && name != TRANSFER_ENCODING {
            forward = forward.header(name, value);
        }
    }
    let mut answer = sender
        .send_request(forward.body(Empty::<Bytes>::new())?)
        .await?;
    if answer.status() != StatusCode::SWITCHING_PROTOCOLS {
        // A refusal (e.g. 429 above `max_connections`), passed on as jsonrpsee sent it.
        return Ok(answer.map(HttpBody::new));
    }
    let server_side = hyper::upgrade::on(&mut answer);
    tokio::spawn(async move {
        match tokio::try_join!(hyper::upgrade::on(req), server_side) {
            Ok((client, server)) => pump(client, server, max_request_bytes).await,
            Err(e) => tracing::debug!("WebSocket proxy: upgrade failed: {e}"),
        }
    });
    let (parts, _) = answer.into_parts();
    Ok(HttpResponse::from_parts(parts, HttpBody::empty()))
}

/// The service behind the layer, as the hyper connection at the far end of the pipe calls it:
/// each request goes to a clone of it.
struct Behind<S>(S);

impl<S: Inner> hyper::service::Service<Request<Incoming>> for Behind<S> {
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, BoxError>> + Send + 'static>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let mut svc = self.0.clone();
        Box::pin(async move {
            std::future::poll_fn(|cx| svc.poll_ready(cx)).await?;
            svc.call(req.map(HttpBody::new)).await
        })
    }
}

/// soketto's ends of an upgraded connection.
fn endpoint(io: Upgraded, mode: Mode) -> Builder<Io> {
    Builder::new(
        BufReader::new(BufWriter::new(TokioIo::new(io).compat())),
        mode,
    )
}

/// Pumps messages between the client and jsonrpsee until either side closes.
async fn pump(client: Upgraded, server: Upgraded, max_request_bytes: u32) {
    let mut from_client = endpoint(client, Mode::Server);
    from_client.set_max_message_size(max_request_bytes as usize);
    let (to_client, mut from_client) = from_client.finish();
    let (mut to_server, mut from_server) = endpoint(server, Mode::Client).finish();
    // Both directions write to the client: answers, and -32007 for an oversized message.
    let to_client = Mutex::new(to_client);

    let upstream = async {
        let mut msg = Vec::new();
        loop {
            msg.clear();
            let sent = match from_client.receive(&mut msg).await {
                Ok(WsIncoming::Data(kind)) => {
                    let screened = rewrite(&msg);
                    send(&mut to_server, kind, screened.as_deref().unwrap_or(&msg)).await
                }
                Ok(WsIncoming::Pong(_)) => Ok(()),
                Ok(WsIncoming::Closed(_)) => break,
                Err(WsError::MessageTooLarge { .. }) => {
                    let answer =
                        MethodResponse::error(Id::Null, reject_too_big_request(max_request_bytes))
                            .into_json();
                    let mut to_client = to_client.lock().await;
                    // A text message (`send` ignores the length in `Data`).
                    send(&mut to_client, Data::Text(0), answer.get().as_bytes()).await
                }
                Err(_) => break,
            };
            if sent.is_err() {
                break;
            }
        }
        let _ = to_server.close().await;
    };
    let downstream = async {
        let mut msg = Vec::new();
        loop {
            msg.clear();
            match from_server.receive(&mut msg).await {
                Ok(WsIncoming::Data(kind)) => {
                    let mut to_client = to_client.lock().await;
                    if send(&mut to_client, kind, &msg).await.is_err() {
                        break;
                    }
                }
                Ok(WsIncoming::Pong(_)) => {}
                Ok(WsIncoming::Closed(_)) | Err(_) => break,
            }
        }
    };
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
    }
    let _ = to_client.lock().await.close().await;
}

/// Sends `bytes` as a message of the same kind as `kind` (a text message that is not UTF-8
/// goes as binary: jsonrpsee reads both alike) and flushes it.
async fn send(to: &mut Sender<Io>, kind: Data, bytes: &[u8]) -> Result<(), WsError> {
    match (kind, std::str::from_utf8(bytes)) {
        (Data::Text(_), Ok(text)) => to.send_text(text).await?,
        _ => to.send_binary(bytes).await?,
    }
    to.flush().await
}
