//! A small GraphQL-over-WebSocket client for the tests: `graphql-transport-ws` (the `graphql-ws`
//! library's protocol) and the legacy `graphql-ws` (subscriptions-transport-ws) protocol.
//!
//! Every wait is bounded by a timeout. Server keep-alives never reach the test: a
//! `{"type":"ping"}` is answered with `{"type":"pong"}` and counted, a legacy `ka` is counted and
//! skipped. Frames read while waiting for something else (e.g. during [`WsClient::subscribe`]) are
//! kept and handed out, in order, by the next read.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// The `graphql-ws` library's protocol.
pub const TRANSPORT_WS: &str = "graphql-transport-ws";
/// The legacy subscriptions-transport-ws protocol (confusingly also named `graphql-ws`).
pub const LEGACY_WS: &str = "graphql-ws";

/// How long set-up steps (connect, ack, pong) may take before the test fails.
pub const SETUP: Duration = Duration::from_secs(10);

/// What the server sent.
#[derive(Debug, Clone)]
#[allow(
    dead_code,
    reason = "the reason and error texts are read through Debug, in failure messages"
)]
pub enum Frame {
    /// A protocol message.
    Json(Value),
    /// A close frame with its code (None when the frame carried no code) and reason.
    Closed(Option<u16>, String),
    /// The connection ended without a close frame, or failed.
    Ended(String),
}

pub struct WsClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub protocol: &'static str,
    /// Frames read ahead while waiting for something else.
    pending: VecDeque<Frame>,
    /// Keep-alives received from the server (`ping` or legacy `ka`).
    pub keepalives: usize,
}

impl WsClient {
    /// Opens `ws://ADDR/graphql` offering `protocol`; checks the server agreed to it.
    pub async fn connect(addr: SocketAddr, protocol: &'static str) -> Self {
        let mut request = format!("ws://{addr}/graphql")
            .into_client_request()
            .expect("a valid request");
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol));
        let (ws, response) = timeout(SETUP, connect_async(request))
            .await
            .unwrap_or_else(|_| panic!("WebSocket handshake with {addr} timed out"))
            .unwrap_or_else(|e| panic!("WebSocket handshake with {addr} failed: {e}"));
        let agreed = response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        assert_eq!(
            agreed.as_deref(),
            Some(protocol),
            "the server must answer with the protocol offered"
        );
        WsClient {
            ws,
            protocol,
            pending: VecDeque::new(),
            keepalives: 0,
        }
    }

    /// Connects with `graphql-transport-ws` and completes `connection_init` / `connection_ack`.
    pub async fn connected(addr: SocketAddr, token: Option<&str>) -> Self {
        let mut ws = WsClient::connect(addr, TRANSPORT_WS).await;
        ws.init(token).await;
        ws
    }

    fn legacy(&self) -> bool {
        self.protocol == LEGACY_WS
    }

    /// Sends one protocol message.
    pub async fn send(&mut self, message: Value) {
        timeout(SETUP, self.ws.send(Message::text(message.to_string())))
            .await
            .expect("sending a WebSocket message timed out")
            .expect("send a WebSocket message");
    }

    /// Sends `connection_init` (with `{"Authorization": "Bearer …"}` when given a token).
    pub async fn send_init(&mut self, token: Option<&str>) {
        let payload = match token {
            Some(t) => json!({ "Authorization": format!("Bearer {t}") }),
            None => json!({}),
        };
        self.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
    }

    /// `connection_init`, then waits for `connection_ack`.
    pub async fn init(&mut self, token: Option<&str>) {
        self.send_init(token).await;
        let ack = self.next_frame(SETUP).await;
        match &ack {
            Frame::Json(m) if m["type"] == "connection_ack" => {}
            other => panic!("expected connection_ack, got {other:?}"),
        }
    }

    /// Reads the next frame from the socket (not the read-ahead buffer), answering pings;
    /// None when nothing arrived by `deadline`.
    async fn read_until(&mut self, deadline: Instant) -> Option<Frame> {
        loop {
            let next = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return None,
                Ok(next) => next,
            };
            let text = match next {
                None => return Some(Frame::Ended("stream ended".into())),
                Some(Err(e)) => return Some(Frame::Ended(e.to_string())),
                Some(Ok(Message::Close(frame))) => {
                    return Some(match frame {
                        Some(f) => Frame::Closed(Some(u16::from(f.code)), f.reason.to_string()),
                        None => Frame::Closed(None, String::new()),
                    });
                }
                Some(Ok(Message::Text(text))) => text.to_string(),
                Some(Ok(Message::Binary(bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
                Some(Ok(_)) => continue, // WebSocket-level ping/pong: tungstenite answers pings
            };
            let message: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("the server sent non-JSON `{text}`: {e}"));
            match message["type"].as_str() {
                Some("ping") if !self.legacy() => {
                    self.keepalives += 1;
                    let _ = timeout(SETUP, self.ws.send(Message::text(r#"{"type":"pong"}"#))).await;
                }
                Some("ka") if self.legacy() => self.keepalives += 1,
                _ => return Some(Frame::Json(message)),
            }
        }
    }

    /// The next frame (keep-alives skipped), or None when nothing arrived within `within`.
    pub async fn next_within(&mut self, within: Duration) -> Option<Frame> {
        if let Some(frame) = self.pending.pop_front() {
            return Some(frame);
        }
        self.read_until(Instant::now() + within).await
    }

    /// The next frame; fails the test when nothing arrives within `within`.
    pub async fn next_frame(&mut self, within: Duration) -> Frame {
        self.next_within(within)
            .await
            .unwrap_or_else(|| panic!("nothing arrived within {within:?}"))
    }

    /// Starts operation `id`: `subscribe` (or legacy `start`).
    pub async fn start(&mut self, id: &str, query: &str, variables: Value) {
        let kind = if self.legacy() { "start" } else { "subscribe" };
        self.send(json!({
            "id": id,
            "type": kind,
            "payload": { "query": query, "variables": variables },
        }))
        .await;
    }

    /// Starts operation `id` and returns once the server is running it, proven by a message
    /// received rather than by a pong (async-graphql answers a ping as soon as it reads it, before
    /// it has polled the operations read with it): right after `id`, a probe query is started on
    /// the same connection and its answer awaited. The server takes a connection's messages in
    /// order and, each time it wakes, polls the started operations in turn; `id`'s set-up (a
    /// subscription registers with its hub on its first poll, a report subscription after one
    /// lookup of the event) begins before the probe's, and the probe's answer needs several
    /// database round trips of its own. Frames of other operations that arrive meanwhile are
    /// kept for the next read.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.start(id, query, variables).await;
        self.probe(&format!("{id}:live")).await;
    }

    /// Runs a query as operation `probe` and waits for its end (`complete`, or an `error`).
    async fn probe(&mut self, probe: &str) {
        self.start(
            probe,
            "query Probe { events(first: 1) { totalCount edges { node { id ticketTypes { id } organizer { id } } } } }",
            json!({}),
        )
        .await;
        let deadline = Instant::now() + SETUP;
        loop {
            match self.read_until(deadline).await {
                None => panic!("the probe `{probe}` got no answer within {SETUP:?}"),
                Some(Frame::Json(m)) if m["id"] == probe => match m["type"].as_str() {
                    Some("complete") => return,
                    Some("error") => panic!("the probe `{probe}` failed: {m}"),
                    _ => continue, // its `next` / `data`
                },
                Some(other @ (Frame::Closed(..) | Frame::Ended(_))) => {
                    self.pending.push_back(other);
                    return;
                }
                Some(other) => self.pending.push_back(other),
            }
        }
    }

    /// The `data` of the next `next` (legacy: `data`) message of operation `id`; fails the test
    /// on anything else (an error, a complete, another operation's message, a close, silence).
    pub async fn next_data(&mut self, id: &str, within: Duration) -> Value {
        let frame = self
            .next_within(within)
            .await
            .unwrap_or_else(|| panic!("operation {id}: no message within {within:?}"));
        let data_type = if self.legacy() { "data" } else { "next" };
        match frame {
            Frame::Json(m) if m["type"] == data_type && m["id"] == id => {
                assert!(
                    m["payload"].get("errors").is_none(),
                    "operation {id}: errors in {m:#}"
                );
                m["payload"]["data"].clone()
            }
            other => panic!("operation {id}: expected `{data_type}`, got {other:?}"),
        }
    }

    /// The GraphQL errors of the next message, which must end operation `id` with an error.
    pub async fn next_error(&mut self, id: &str, within: Duration) -> Value {
        let frame = self
            .next_within(within)
            .await
            .unwrap_or_else(|| panic!("operation {id}: no message within {within:?}"));
        match frame {
            // graphql-transport-ws: {"type":"error","id":…,"payload":[GraphQLError]}
            Frame::Json(m) if m["type"] == "error" && m["id"] == id => m["payload"].clone(),
            // An execution error: a `next` (legacy: `data`) with errors, then `complete`.
            Frame::Json(m)
                if (m["type"] == "next" || m["type"] == "data")
                    && m["id"] == id
                    && m["payload"].get("errors").is_some() =>
            {
                match self.next_frame(within).await {
                    Frame::Json(c) if c["type"] == "complete" && c["id"] == id => {}
                    other => panic!("operation {id}: expected `complete` after {m}, got {other:?}"),
                }
                m["payload"]["errors"].clone()
            }
            other => panic!("operation {id}: expected an error, got {other:?}"),
        }
    }

    /// The close code of the next frame, which must be a close.
    pub async fn next_close(&mut self, within: Duration) -> Option<u16> {
        match self.next_frame(within).await {
            Frame::Closed(code, _) => code,
            other => panic!("expected the server to close the connection, got {other:?}"),
        }
    }

    /// Fails the test if any message (keep-alives aside) arrives within `quiet`.
    pub async fn expect_silence(&mut self, quiet: Duration) {
        if let Some(frame) = self.next_within(quiet).await {
            panic!("expected nothing more within {quiet:?}, got {frame:?}");
        }
    }

    /// Closes the connection politely (1000) and waits briefly for the server's close.
    pub async fn close(mut self) {
        let _ = timeout(SETUP, self.ws.close(None)).await;
        let deadline = Instant::now() + Duration::from_secs(2);
        while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline, self.ws.next()).await {}
    }
}

/// The `extensions.code` of the first GraphQL error in `errors`.
pub fn first_code(errors: &Value) -> &str {
    errors[0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected GraphQL errors with a code, got {errors:#}"))
}
