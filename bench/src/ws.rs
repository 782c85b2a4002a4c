//! A minimal `graphql-transport-ws` client: connect, `connection_init` with the bearer token,
//! wait for `connection_ack`, `subscribe`.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub const PONG: &str = r#"{"type":"pong"}"#;

/// Opens a subscription with id "1"; fails if the server does not ack within `wait`.
pub async fn subscribe(
    url: &str,
    token: &str,
    query: &str,
    variables: Value,
    wait: Duration,
) -> anyhow::Result<Ws> {
    let mut request = url.into_client_request()?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    // tungstenite's default 128 KiB read buffer is zero-filled before every read: with thousands
    // of sockets that memset dominates the load tool's CPU. Report frames are ~300 bytes.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (mut ws, _) =
        tokio::time::timeout(wait, connect_async_with_config(request, Some(config), true))
            .await
            .map_err(|_| anyhow::anyhow!("WebSocket handshake timed out"))??;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    ws.send(Message::Text(init.to_string().into())).await?;
    let acked = tokio::time::timeout(wait, async {
        while let Some(m) = ws.next().await {
            match m? {
                Message::Text(t) if t.contains("connection_ack") => return Ok(()),
                Message::Text(t) if t.contains(r#""ping""#) => {
                    ws.send(Message::Text(PONG.into())).await?;
                }
                Message::Close(frame) => anyhow::bail!("closed before ack: {frame:?}"),
                _ => {}
            }
        }
        anyhow::bail!("connection ended before ack")
    })
    .await;
    match acked {
        Ok(r) => r?,
        Err(_) => anyhow::bail!("no connection_ack"),
    }
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } });
    ws.send(Message::Text(subscribe.to_string().into())).await?;
    Ok(ws)
}
