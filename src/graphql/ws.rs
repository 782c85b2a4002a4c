//! GraphQL over WebSocket on `/graphql`: the `graphql-transport-ws` protocol (the `graphql-ws`
//! library's) and the legacy `graphql-ws` (subscriptions-transport-ws) protocol.
//!
//! The handshake is done here rather than by async-graphql, to follow the graphql-transport-ws
//! spec where async-graphql's defaults differ: an invalid token in `connection_init` closes with
//! 4403, a `subscribe` before `connection_ack` with 4401, and no `connection_init` within
//! `WS_INIT_TIMEOUT_SECONDS` with 4408. The token comes from the `connection_init` payload
//! (`{"Authorization": "Bearer …"}` or `{"token": "…"}`), because browsers cannot set headers on
//! a WebSocket. The server pings every `WS_PING_INTERVAL_SECONDS` (`{"type":"ping"}`, or `ka` on
//! the legacy protocol) so proxies never see an idle connection, and closes with 1001 when the
//! instance shuts down.

use std::sync::Arc;

use async_graphql::Data;
use async_graphql::http::{WebSocket as GraphQLWebSocket, WebSocketProtocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};

use super::context::{Loaders, RequestId};
use super::schema::ServerState;
use crate::auth::service::authenticate;

pub const CLOSE_BAD_REQUEST: u16 = 4400;
pub const CLOSE_UNAUTHORIZED: u16 = 4401;
pub const CLOSE_FORBIDDEN: u16 = 4403;
pub const CLOSE_INIT_TIMEOUT: u16 = 4408;
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_INTERNAL_ERROR: u16 = 1011;

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

pub async fn serve(
    server: ServerState,
    socket: WebSocket,
    protocol: WebSocketProtocols,
    request_id: RequestId,
) {
    let legacy = matches!(protocol, WebSocketProtocols::SubscriptionsTransportWS);
    let settings = server.app.settings.clone();
    let (mut sink, mut stream) = socket.split();

    // 1. Wait for connection_init.
    let deadline = tokio::time::sleep(settings.ws_init_timeout);
    tokio::pin!(deadline);
    let (init_text, payload) = loop {
        let next = tokio::select! {
            _ = &mut deadline => {
                let _ = sink.send(close(CLOSE_INIT_TIMEOUT, "Connection initialisation timeout")).await;
                return;
            }
            next = stream.next() => next,
        };
        let text = match next {
            Some(Ok(Message::Text(text))) => text.to_string(),
            Some(Ok(Message::Binary(bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_)) | Err(_)) | None => return,
        };
        let Ok(message) = serde_json::from_str::<Value>(&text) else {
            let _ = sink.send(close(CLOSE_BAD_REQUEST, "Invalid message")).await;
            return;
        };
        match message.get("type").and_then(Value::as_str) {
            Some("connection_init") => {
                break (text, message.get("payload").cloned().unwrap_or(Value::Null));
            }
            Some("ping") if !legacy => {
                let _ = sink
                    .send(Message::Text(json!({ "type": "pong" }).to_string().into()))
                    .await;
            }
            Some("pong") => {}
            Some("subscribe" | "start") => {
                let _ = sink.send(close(CLOSE_UNAUTHORIZED, "Unauthorized")).await;
                return;
            }
            _ => {
                let _ = sink.send(close(CLOSE_BAD_REQUEST, "Invalid message")).await;
                return;
            }
        }
    };

    // 2. Authenticate.
    let viewer = match init_token(&payload) {
        None => None,
        Some(token) => match authenticate(&server.app, &token).await {
            Ok(viewer) => Some(viewer),
            Err(err) => {
                if legacy {
                    let error = json!({ "type": "connection_error", "payload": { "message": err.message() } });
                    let _ = sink.send(Message::Text(error.to_string().into())).await;
                }
                // A token we could not check (the database is down) is not a bad token: 1011
                // tells the client to retry with it rather than throw it away.
                let (code, reason) = match err {
                    crate::error::AppError::Internal(_) => {
                        (CLOSE_INTERNAL_ERROR, "Internal server error")
                    }
                    _ => (CLOSE_FORBIDDEN, "Forbidden"),
                };
                let _ = sink.send(close(code, reason)).await;
                return;
            }
        },
    };
    let mut data = Data::default();
    if let Some(viewer) = viewer {
        data.insert(viewer);
    }
    // Loaders without a cache: one connection lives for hours, and cached rows would go stale.
    data.insert(Arc::new(Loaders::uncached(&server.app)));
    data.insert(request_id);
    server
        .app
        .metrics
        .open_subscription_sockets
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);

    // 3. Hand the connection (starting with the init message again) to async-graphql.
    let input = futures::stream::once(async move { init_text.into_bytes() }).chain(
        stream
            .take_while(|m| futures::future::ready(m.is_ok()))
            .filter_map(|m| async move {
                match m {
                    Ok(Message::Text(text)) => Some(text.as_bytes().to_vec()),
                    Ok(Message::Binary(bytes)) => Some(bytes.to_vec()),
                    _ => None,
                }
            }),
    );
    let mut graphql = GraphQLWebSocket::new(server.schema.clone(), input, protocol)
        .on_connection_init(move |_| async move { Ok(data) })
        .map(|m| match m {
            WsMessage::Text(text) => Message::Text(text.into()),
            WsMessage::Close(code, reason) => close(code, &reason),
        })
        .boxed();

    // 4. Pump messages, with server pings, until either side ends or the instance stops.
    let ping = if legacy {
        json!({ "type": "ka" })
    } else {
        json!({ "type": "ping" })
    }
    .to_string();
    let mut pings = tokio::time::interval(settings.ws_ping_interval);
    pings.tick().await;
    let mut stop = server.app.live.stop.subscribe();
    loop {
        let outgoing = tokio::select! {
            m = graphql.next() => match m { Some(m) => m, None => break },
            _ = pings.tick() => Message::Text(ping.clone().into()),
            _ = stop.changed() => close(CLOSE_GOING_AWAY, "server shutting down"),
        };
        let closing = matches!(outgoing, Message::Close(_));
        if sink.send(outgoing).await.is_err() || closing {
            break;
        }
    }
    server
        .app
        .metrics
        .open_subscription_sockets
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
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
}
