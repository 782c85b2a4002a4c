//! GraphQL over WebSocket on `/graphql`: the `graphql-transport-ws` protocol (the `graphql-ws`
//! library's) and the legacy `graphql-ws` (subscriptions-transport-ws) protocol.
//!
//! The handshake is done here rather than by async-graphql, to follow the graphql-transport-ws
//! spec where async-graphql's defaults differ: an invalid token in `connection_init` closes with
//! 4403, a `subscribe` before `connection_ack` with 4401, and no `connection_init` within
//! `WS_INIT_TIMEOUT_SECONDS` with 4408; a message of an unknown type closes with 4400 (before and
//! after the handshake). The token comes from the `connection_init` payload
//! (`{"Authorization": "Bearer …"}` or `{"token": "…"}`), because browsers cannot set headers on
//! a WebSocket. The server pings every `WS_PING_INTERVAL_SECONDS` (`{"type":"ping"}`, or `ka` on
//! the legacy protocol) so proxies never see an idle connection, and closes with 1001 when the
//! instance shuts down and with 4403 when the socket's session is revoked.
//!
//! Limits hold here as over HTTP: a message is at most `MAX_BODY_BYTES` (else 1009), a socket
//! runs at most `WS_MAX_SUBSCRIPTIONS_PER_SOCKET` operations at once, an address holds at most
//! `WS_MAX_SOCKETS_PER_ADDRESS` sockets (checked at the upgrade), and operations carry the client
//! address, so per-address limits (registrations, logins) count WebSocket operations too.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use async_graphql::Data;
use async_graphql::http::{WebSocket as GraphQLWebSocket, WebSocketProtocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::context::{ClientIp, Loaders, OverWebSocket, RequestId};
use super::schema::ServerState;
use crate::auth::Viewer;
use crate::auth::service::{authenticate, session_alive};
use crate::sockets::AddressSlot;

pub const CLOSE_BAD_REQUEST: u16 = 4400;
pub const CLOSE_UNAUTHORIZED: u16 = 4401;
pub const CLOSE_FORBIDDEN: u16 = 4403;
pub const CLOSE_INIT_TIMEOUT: u16 = 4408;
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_TOO_BIG: u16 = 1009;
pub const CLOSE_INTERNAL_ERROR: u16 = 1011;

type Sink = SplitSink<WebSocket, Message>;
type Source = SplitStream<WebSocket>;

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// The bearer token in a `connection_init` payload, if any.
pub fn init_token(payload: &Value) -> Option<String> {
    let from_header = ["Authorization", "authorization"]
        .iter()
        .find_map(|k| payload.get(*k).and_then(Value::as_str))
        .map(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .unwrap_or(v)
                .trim()
                .to_string()
        });
    from_header
        .or_else(|| {
            payload
                .get("token")
                .and_then(Value::as_str)
                .map(|t| t.trim().to_string())
        })
        .filter(|t| !t.is_empty())
}

/// Everything one connection needs besides the socket itself.
pub struct Connection {
    pub protocol: WebSocketProtocols,
    pub request_id: RequestId,
    pub client: IpAddr,
    /// The connection's place in its address's socket budget, held until it closes.
    pub slot: AddressSlot,
}

pub async fn serve(server: ServerState, socket: WebSocket, conn: Connection) {
    let legacy = matches!(conn.protocol, WebSocketProtocols::SubscriptionsTransportWS);
    let (mut sink, mut stream) = socket.split();
    let Some((init_text, payload)) = handshake(&server, &mut sink, &mut stream, legacy).await
    else {
        return;
    };
    let Some(viewer) = authentication(&server, &mut sink, &payload, legacy).await else {
        return;
    };
    let metrics = server.app.metrics.clone();
    metrics
        .open_subscription_sockets
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    pump(server, sink, stream, init_text, viewer, conn).await;
    metrics
        .open_subscription_sockets
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

/// The text of one incoming message, or `None` when the client went away.
fn text_of(message: Message) -> Option<Result<String, ()>> {
    match message {
        Message::Text(text) => Some(Ok(text.to_string())),
        Message::Binary(bytes) => Some(Ok(String::from_utf8_lossy(&bytes).into_owned())),
        Message::Ping(_) | Message::Pong(_) => Some(Err(())),
        Message::Close(_) => None,
    }
}

/// Whether a read failed because the message was larger than allowed.
fn too_big(err: &axum::Error) -> bool {
    let text = format!("{err:?}");
    text.contains("Capacity") || text.contains("too long") || text.contains("too big")
}

/// Step 1: waits for `connection_init`; returns its text (handed on to async-graphql) and payload.
async fn handshake(
    server: &ServerState,
    sink: &mut Sink,
    stream: &mut Source,
    legacy: bool,
) -> Option<(String, Value)> {
    let deadline = tokio::time::sleep(server.app.settings.ws_init_timeout);
    tokio::pin!(deadline);
    loop {
        let next = tokio::select! {
            _ = &mut deadline => {
                let _ = sink.send(close(CLOSE_INIT_TIMEOUT, "Connection initialisation timeout")).await;
                return None;
            }
            next = stream.next() => next,
        };
        let text = match next {
            Some(Ok(message)) => match text_of(message)? {
                Ok(text) => text,
                Err(()) => continue,
            },
            Some(Err(err)) => {
                if too_big(&err) {
                    let _ = sink.send(close(CLOSE_TOO_BIG, "Message too big")).await;
                }
                return None;
            }
            None => return None,
        };
        let Ok(message) = serde_json::from_str::<Value>(&text) else {
            let _ = sink.send(close(CLOSE_BAD_REQUEST, "Invalid message")).await;
            return None;
        };
        match message.get("type").and_then(Value::as_str) {
            Some("connection_init") => {
                let payload = message.get("payload").cloned().unwrap_or(Value::Null);
                return Some((text, payload));
            }
            Some("ping") if !legacy => {
                let _ = sink
                    .send(Message::Text(json!({ "type": "pong" }).to_string().into()))
                    .await;
            }
            Some("pong") => {}
            Some("subscribe" | "start") => {
                let _ = sink.send(close(CLOSE_UNAUTHORIZED, "Unauthorized")).await;
                return None;
            }
            _ => {
                let _ = sink.send(close(CLOSE_BAD_REQUEST, "Invalid message")).await;
                return None;
            }
        }
    }
}

/// Step 2: checks the token of the `connection_init` payload. `Some(None)` is an anonymous
/// connection; `None` means the socket was closed.
async fn authentication(
    server: &ServerState,
    sink: &mut Sink,
    payload: &Value,
    legacy: bool,
) -> Option<Option<Viewer>> {
    let Some(token) = init_token(payload) else {
        return Some(None);
    };
    match authenticate(&server.app, &token).await {
        Ok(viewer) => Some(Some(viewer)),
        Err(err) => {
            if legacy {
                let error =
                    json!({ "type": "connection_error", "payload": { "message": err.message() } });
                let _ = sink.send(Message::Text(error.to_string().into())).await;
            }
            // A token we could not check (the database is down) is not a bad token: 1011 tells
            // the client to retry with it rather than throw it away.
            let (code, reason) = match err {
                crate::error::AppError::Internal(_)
                | crate::error::AppError::Unavailable { .. } => {
                    (CLOSE_INTERNAL_ERROR, "Internal server error")
                }
                _ => (CLOSE_FORBIDDEN, "Forbidden"),
            };
            let _ = sink.send(close(code, reason)).await;
            None
        }
    }
}

/// The message types a client may send after the handshake, per protocol.
fn known_type(kind: &str, legacy: bool) -> bool {
    if legacy {
        matches!(
            kind,
            "connection_init" | "start" | "stop" | "connection_terminate"
        )
    } else {
        matches!(
            kind,
            "connection_init" | "ping" | "pong" | "subscribe" | "complete"
        )
    }
}

/// What the incoming filter decided besides passing a message on.
enum Reply {
    /// Send this to the client (an operation refused by the subscription cap).
    Send(String),
    /// Close the socket.
    Close(u16, &'static str),
}

/// Operations running on one socket, by id: counted on the way in (`subscribe`/`start`,
/// `complete`/`stop`) and on the way out (the server's `complete` or `error`).
#[derive(Default)]
struct Running(Mutex<HashSet<String>>);

impl Running {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Decides what to do with one incoming message after the handshake: pass it on (`Some`), or
/// drop it, having queued a reply.
fn screen(
    text: String,
    legacy: bool,
    max: usize,
    running: &Running,
    replies: &mpsc::UnboundedSender<Reply>,
) -> Option<String> {
    let Ok(message) = serde_json::from_str::<Value>(&text) else {
        let _ = replies.send(Reply::Close(CLOSE_BAD_REQUEST, "Invalid message"));
        return None;
    };
    let kind = message.get("type").and_then(Value::as_str).unwrap_or("");
    if !known_type(kind, legacy) {
        let _ = replies.send(Reply::Close(CLOSE_BAD_REQUEST, "Invalid message"));
        return None;
    }
    let id = message
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_string);
    match (kind, id) {
        ("subscribe" | "start", Some(id)) => {
            let mut running = running.lock();
            if !running.contains(&id) && running.len() >= max {
                let error = json!([{
                    "message": format!("a connection may run at most {max} operations at once (WS_MAX_SUBSCRIPTIONS_PER_SOCKET); complete one first"),
                    "extensions": { "code": "BAD_USER_INPUT" },
                }]);
                let reply = if legacy {
                    json!({ "type": "error", "id": id, "payload": error[0] })
                } else {
                    json!({ "type": "error", "id": id, "payload": error })
                };
                let _ = replies.send(Reply::Send(reply.to_string()));
                return None;
            }
            running.insert(id);
        }
        ("complete" | "stop", Some(id)) => {
            running.lock().remove(&id);
        }
        _ => {}
    }
    Some(text)
}

/// Notes the end of an operation the server finished (`complete`, or `error` which ends it).
fn note_outgoing(text: &str, running: &Running) {
    let ends =
        text.starts_with("{\"type\":\"complete\"") || text.starts_with("{\"type\":\"error\"");
    if ends
        && let Ok(message) = serde_json::from_str::<Value>(text)
        && let Some(id) = message.get("id").and_then(Value::as_str)
    {
        running.lock().remove(id);
    }
}

/// Step 3: hands the connection (starting with the init message again) to async-graphql and pumps
/// messages, with server pings, until either side ends, the instance stops or the session is
/// revoked.
async fn pump(
    server: ServerState,
    mut sink: Sink,
    stream: Source,
    init_text: String,
    viewer: Option<Viewer>,
    conn: Connection,
) {
    let legacy = matches!(conn.protocol, WebSocketProtocols::SubscriptionsTransportWS);
    let settings = server.app.settings.clone();
    let mut session = viewer
        .as_ref()
        .map(|v| (v.session_id, server.app.live.sockets.watch(v.session_id)));
    let mut data = Data::default();
    if let Some(viewer) = viewer {
        data.insert(viewer);
    }
    // Loaders without a cache: one connection lives for hours, and cached rows would go stale.
    data.insert(Arc::new(Loaders::uncached(&server.app)));
    data.insert(conn.request_id);
    data.insert(ClientIp(conn.client));
    data.insert(OverWebSocket);

    let running = Arc::new(Running::default());
    let (replies_tx, mut replies) = mpsc::unbounded_channel::<Reply>();
    let max = settings.ws_max_subscriptions_per_socket;
    let input = {
        let running = running.clone();
        futures::stream::once(async move { Some(Some(init_text)) })
            .chain(stream.map(move |m| match m {
                Ok(message) => match text_of(message) {
                    Some(Ok(text)) => Some(screen(text, legacy, max, &running, &replies_tx)),
                    Some(Err(())) => Some(None),
                    None => None,
                },
                Err(err) => {
                    if too_big(&err) {
                        let _ = replies_tx.send(Reply::Close(CLOSE_TOO_BIG, "Message too big"));
                    }
                    None
                }
            }))
            .take_while(|m| futures::future::ready(m.is_some()))
            .filter_map(|m| async move { m.flatten().map(String::into_bytes) })
    };
    let mut graphql = GraphQLWebSocket::new(server.schema.clone(), input, conn.protocol)
        .on_connection_init(move |_| async move { Ok(data) })
        .boxed();

    let ping = if legacy {
        json!({ "type": "ka" })
    } else {
        json!({ "type": "ping" })
    }
    .to_string();
    let mut pings = tokio::time::interval(settings.ws_ping_interval);
    pings.tick().await;
    let mut stop = server.app.live.stop.subscribe();
    let revoked = || close(CLOSE_FORBIDDEN, "Forbidden: the session was revoked");
    loop {
        let outgoing = tokio::select! {
            m = graphql.next() => match m {
                Some(WsMessage::Text(text)) => {
                    note_outgoing(&text, &running);
                    Message::Text(text.into())
                }
                Some(WsMessage::Close(code, reason)) => close(code, &reason),
                None => match replies.try_recv() {
                    // The input ended because of what the filter saw: say why.
                    Ok(Reply::Close(code, reason)) => close(code, reason),
                    _ => break,
                },
            },
            Some(reply) = replies.recv() => match reply {
                Reply::Send(text) => Message::Text(text.into()),
                Reply::Close(code, reason) => close(code, reason),
            },
            _ = pings.tick() => {
                // The revocation message may have been lost (pub/sub is at-most-once): look.
                if let Some((id, _)) = &session
                    && matches!(session_alive(&server.app, *id).await, Ok(false))
                {
                    revoked()
                } else {
                    Message::Text(ping.clone().into())
                }
            }
            _ = async {
                match session.as_mut() {
                    Some((_, watch)) => { let _ = watch.revoked.wait_for(|r| *r).await; }
                    None => std::future::pending::<()>().await,
                }
            } => revoked(),
            _ = stop.changed() => close(CLOSE_GOING_AWAY, "server shutting down"),
        };
        let closing = matches!(outgoing, Message::Close(_));
        if sink.send(outgoing).await.is_err() || closing {
            break;
        }
    }
    drop(conn.slot);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_from_either_payload_shape() {
        assert_eq!(
            init_token(&json!({ "Authorization": "Bearer abc" })).as_deref(),
            Some("abc")
        );
        assert_eq!(
            init_token(&json!({ "authorization": "abc" })).as_deref(),
            Some("abc")
        );
        assert_eq!(
            init_token(&json!({ "token": "xyz" })).as_deref(),
            Some("xyz")
        );
        assert_eq!(init_token(&json!({})), None);
        assert_eq!(init_token(&Value::Null), None);
        assert_eq!(init_token(&json!({ "token": "  " })), None);
    }

    #[test]
    fn the_screen_caps_operations_and_closes_on_unknown_types() {
        let running = Running::default();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let sub = |id: &str| {
            json!({ "type": "subscribe", "id": id, "payload": { "query": "{ a }" } }).to_string()
        };
        assert!(screen(sub("1"), false, 2, &running, &tx).is_some());
        assert!(screen(sub("2"), false, 2, &running, &tx).is_some());
        assert!(screen(sub("3"), false, 2, &running, &tx).is_none());
        assert!(
            matches!(rx.try_recv(), Ok(Reply::Send(text)) if text.contains("\"id\":\"3\"") && text.contains("BAD_USER_INPUT"))
        );
        note_outgoing(r#"{"type":"complete","id":"1"}"#, &running);
        assert!(screen(sub("3"), false, 2, &running, &tx).is_some());
        let complete = json!({ "type": "complete", "id": "2" }).to_string();
        assert!(screen(complete, false, 2, &running, &tx).is_some());
        assert_eq!(running.lock().len(), 1);
        assert!(
            screen(
                json!({ "type": "hello" }).to_string(),
                false,
                2,
                &running,
                &tx
            )
            .is_none()
        );
        assert!(matches!(
            rx.try_recv(),
            Ok(Reply::Close(CLOSE_BAD_REQUEST, _))
        ));
        assert!(screen("not json".into(), false, 2, &running, &tx).is_none());
        // The legacy protocol has its own vocabulary.
        assert!(
            screen(
                json!({ "type": "stop", "id": "3" }).to_string(),
                true,
                2,
                &running,
                &tx
            )
            .is_some()
        );
        assert!(
            screen(
                json!({ "type": "subscribe", "id": "4" }).to_string(),
                true,
                2,
                &running,
                &tx
            )
            .is_none()
        );
    }
}
