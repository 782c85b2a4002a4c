//! GraphQL over HTTP: `POST /graphql` (single or batched), `GET /graphql` for queries only,
//! bearer-token authentication, and content negotiation between `application/json` and
//! `application/graphql-response+json`, following the GraphQL-over-HTTP spec (checked by the
//! `graphql-http` audits in tests/conformance):
//!
//! - a request that is not a well-formed GraphQL-over-HTTP request is a 400 whatever the media
//!   type: an empty or non-JSON body, a missing or non-string `query`, `variables` or
//!   `extensions` that are not maps, an `operationName` that is not a string;
//! - `POST` needs `Content-Type: application/json` (UTF-8), else 415; an `Accept` that allows
//!   neither JSON media type is a 406;
//! - a request error (the document does not parse or validate, variables do not coerce) answers
//!   with no `data` entry: 200 under `application/json`, 400 under
//!   `application/graphql-response+json`; once execution started it is always 200;
//! - `GET` never runs a mutation (405, `Allow: POST`).

use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse, ServerError};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::context::{Loaders, RequestId};
use super::extensions::stamp_request_id;
use super::schema::ServerState;
use crate::auth::Viewer;
use crate::auth::service::authenticate;
use crate::error::AppError;

pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// The media type of the response, chosen from the request's `Accept`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Media {
    Json,
    GraphQLResponseJson,
}

/// A request refused before any GraphQL ran, with the status it deserves.
struct Refusal {
    status: StatusCode,
    error: AppError,
}

impl Refusal {
    fn bad_request(msg: impl Into<String>) -> Self {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            error: AppError::bad_input(msg.into()),
        }
    }
}

/// `POST /graphql`.
pub async fn graphql(
    State(server): State<ServerState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = request_id(&headers);
    let Some(media) = negotiate(&headers) else {
        return not_acceptable(&request_id);
    };
    let client = client_ip(peer.ip(), &headers, &server.app.settings.trusted_proxies);
    match parse_post(&headers, &body, server.app.settings.max_batch) {
        Ok(batch) => execute(server, &headers, batch, media, request_id, client, false).await,
        Err(refusal) => refuse(refusal, media, &request_id),
    }
}

/// `GET /graphql`: a WebSocket upgrade for subscriptions, or a query in the URL.
pub async fn graphql_get(
    State(server): State<ServerState>,
    request: axum::extract::Request,
) -> Response {
    let wants_websocket = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    let client = client_ip(
        peer,
        request.headers(),
        &server.app.settings.trusted_proxies,
    );
    if wants_websocket {
        return upgrade(server, request, client).await;
    }

    let headers = request.headers().clone();
    let request_id = request_id(&headers);
    let Some(media) = negotiate(&headers) else {
        return not_acceptable(&request_id);
    };
    match parse_get(request.uri()) {
        Ok(single) => {
            let batch = BatchRequest::Single(single);
            execute(server, &headers, batch, media, request_id, client, true).await
        }
        Err(refusal) => refuse(refusal, media, &request_id),
    }
}

/// Upgrades to a WebSocket: a subprotocol we speak, a place in the address's socket budget, and
/// messages no larger than an HTTP body may be.
async fn upgrade(
    server: ServerState,
    request: axum::extract::Request,
    client: std::net::IpAddr,
) -> Response {
    use axum::extract::FromRequestParts;

    let request_id = request_id(request.headers());
    let (mut parts, _) = request.into_parts();
    let upgrade =
        match axum::extract::ws::WebSocketUpgrade::from_request_parts(&mut parts, &server).await {
            Ok(upgrade) => upgrade,
            Err(rejection) => return rejection.into_response(),
        };
    // The first subprotocol the client offers that we speak.
    let protocol = parts
        .headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .into_iter()
        .flat_map(|v| v.split(','))
        .find_map(|p| {
            p.trim()
                .parse::<async_graphql::http::WebSocketProtocols>()
                .ok()
        });
    let Some(protocol) = protocol else {
        let msg = "Sec-WebSocket-Protocol must offer graphql-transport-ws or graphql-ws";
        return (StatusCode::BAD_REQUEST, msg).into_response();
    };
    let Some(slot) = server.app.live.sockets.admit(client) else {
        let max = server.app.settings.ws_max_sockets_per_address;
        let msg = format!(
            "this address holds {max} open WebSockets already (WS_MAX_SOCKETS_PER_ADDRESS); close one first"
        );
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, HeaderValue::from_static("5"))],
            msg,
        )
            .into_response();
    };
    let max_message = server.app.settings.max_body_bytes;
    let connection = super::ws::Connection {
        protocol,
        request_id,
        client,
        slot,
    };
    // A small read buffer: the default 128 KiB is zero-filled before every read on every
    // socket, which cost 16% CPU and ~150 KiB per idle subscription in the fanout benchmark.
    upgrade
        .read_buffer_size(4096)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| super::ws::serve(server, socket, connection))
}

async fn execute(
    server: ServerState,
    headers: &HeaderMap,
    mut batch: BatchRequest,
    media: Media,
    request_id: RequestId,
    client: std::net::IpAddr,
    is_get: bool,
) -> Response {
    if let Err(refusal) = resolve_documents(&server, &mut batch, media, client).await {
        return refuse(refusal, media, &request_id);
    }
    if is_get && batch.iter().any(is_mutation) {
        // GET must be safe: a link or a prefetch must never change anything.
        let refusal = Refusal {
            status: StatusCode::METHOD_NOT_ALLOWED,
            error: AppError::bad_input("mutations must be sent with POST"),
        };
        let mut response = refuse(refusal, media, &request_id);
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let viewer = match viewer(&server, headers).await {
        Ok(viewer) => viewer,
        Err(error) => {
            // A refused token is a GraphQL error like any other under `application/json` (200,
            // which every client reads), and a 401 under the new media type; an unreachable
            // database is a 503 under both.
            let status = match (&error, media) {
                (AppError::Unavailable { .. }, _) => StatusCode::SERVICE_UNAVAILABLE,
                (_, Media::GraphQLResponseJson) => StatusCode::UNAUTHORIZED,
                (_, Media::Json) => StatusCode::OK,
            };
            return with_retry_after(refuse(Refusal { status, error }, media, &request_id));
        }
    };

    let loaders = std::sync::Arc::new(Loaders::new(&server.app));
    let mut batch = batch
        .data(request_id.clone())
        .data(loaders)
        .data(super::context::ClientIp(client));
    if let Some(viewer) = viewer {
        batch = batch.data(viewer);
    }
    let mut response = server.schema.execute_batch(batch).await;
    let responses: Vec<&mut async_graphql::Response> = match &mut response {
        BatchResponse::Single(r) => vec![r],
        BatchResponse::Batch(list) => list.iter_mut().collect(),
    };
    for r in responses {
        stamp_request_id(&mut r.errors, &request_id.0);
    }
    let status = status_of(&response, media);
    with_retry_after(render(&response, status, media))
}

/// Checks every document's nesting before anything parses it (the mutation check does), and
/// resolves persisted queries.
async fn resolve_documents(
    server: &ServerState,
    batch: &mut BatchRequest,
    media: Media,
    client: std::net::IpAddr,
) -> Result<(), Refusal> {
    let requests: Vec<&mut async_graphql::Request> = match batch {
        BatchRequest::Single(r) => vec![r],
        BatchRequest::Batch(list) => list.iter_mut().collect(),
    };
    let too_deep = |query: &str| {
        super::input::check_nesting(query, super::input::MAX_NESTING).map_err(Refusal::bad_request)
    };
    for request in requests {
        too_deep(&request.query)?;
        if let Err(err) = server
            .app
            .persisted
            .resolve(request, client, &server.app.rate)
            .await
        {
            let status = match media {
                Media::GraphQLResponseJson => StatusCode::BAD_REQUEST,
                Media::Json => StatusCode::OK,
            };
            return Err(Refusal {
                status,
                error: AppError::bad_input(err.0),
            });
        }
        request.extensions.remove("persistedQuery");
        too_deep(&request.query)?;
    }
    Ok(())
}

/// The viewer behind the `Authorization` header, if any.
async fn viewer(server: &ServerState, headers: &HeaderMap) -> Result<Option<Viewer>, AppError> {
    match bearer_token(headers)? {
        None => Ok(None),
        Some(token) => authenticate(&server.app, token).await.map(Some),
    }
}

/// The HTTP status of an executed request. A request error (nothing executed) is a client error
/// under the new media type (429 when rate limited); `application/json` answers 200. An
/// unreachable database is a 503 under both, when it left no data. A batch answers 200: its
/// parts may differ.
fn status_of(response: &BatchResponse, media: Media) -> StatusCode {
    let BatchResponse::Single(r) = response else {
        return StatusCode::OK;
    };
    if r.data == async_graphql::Value::Null && first_code(r) == Some("SERVICE_UNAVAILABLE") {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    if media == Media::GraphQLResponseJson && is_request_error(r) {
        return if first_code(r) == Some("RATE_LIMITED") {
            StatusCode::TOO_MANY_REQUESTS
        } else {
            StatusCode::BAD_REQUEST
        };
    }
    StatusCode::OK
}

/// Tells any client (and proxy) when to come back, from the first error's `retryAfterSeconds`.
fn with_retry_after(mut http: Response) -> Response {
    let seconds = http
        .extensions()
        .get::<RetryAfter>()
        .map(|r| r.0.to_string());
    if let Some(seconds) = seconds
        && let Ok(value) = HeaderValue::from_str(&seconds)
    {
        http.headers_mut().insert(header::RETRY_AFTER, value);
    }
    http
}

/// The `retryAfterSeconds` of a response's first error, kept beside the rendered body.
#[derive(Clone, Copy)]
struct RetryAfter(u64);

fn first_code(response: &async_graphql::Response) -> Option<&str> {
    match response.errors.first()?.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(code) => Some(code),
        _ => None,
    }
}

/// The client's address: the peer's, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy. Without trusted proxies
/// the header is ignored, so nobody can dodge a limit by inventing addresses. The address is the
/// client's *network* (`network_of`): every per-address limit counts it.
pub fn client_ip(
    peer: std::net::IpAddr,
    headers: &HeaderMap,
    trusted: &[std::net::IpAddr],
) -> std::net::IpAddr {
    if !trusted.contains(&peer) {
        return network_of(peer);
    }
    let forwarded: Vec<std::net::IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|ip| ip.trim().parse().ok())
        .collect();
    network_of(
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !trusted.contains(ip))
            .unwrap_or(peer),
    )
}

/// What a per-address limit counts: an IPv4 address as is (also when written IPv4-mapped in
/// IPv6), an IPv6 address as its /64, because one ordinary IPv6 client holds a whole /64 and
/// could otherwise take a new address for every attempt.
pub fn network_of(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V4(_) => ip,
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => std::net::IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                std::net::IpAddr::V6(std::net::Ipv6Addr::from(prefix))
            }
        },
    }
}

/// The document did not parse or validate, or the variables did not coerce: no resolver ran, so
/// no error has a path. (A failed non-null root field also leaves `data` null, but its error
/// has a path, and execution did start.)
fn is_request_error(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

fn is_mutation(request: &async_graphql::Request) -> bool {
    let Ok(doc) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    let selected = match &request.operation_name {
        Some(name) => doc
            .operations
            .iter()
            .find(|(n, _)| n.map(|n| n.as_str()) == Some(name.as_str())),
        None => doc.operations.iter().next(),
    };
    selected.is_some_and(|(_, op)| op.node.ty == OperationType::Mutation)
}

// ---- parsing requests -------------------------------------------------------------------------

fn parse_post(headers: &HeaderMap, body: &[u8], max_batch: usize) -> Result<BatchRequest, Refusal> {
    check_content_type(headers)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Refusal::bad_request("the request body is empty"));
    }
    let json: Value = serde_json::from_slice(body)
        .map_err(|e| Refusal::bad_request(format!("the request body is not valid JSON: {e}")))?;
    match json {
        Value::Object(params) => Ok(BatchRequest::Single(request_from(params)?)),
        Value::Array(list) if list.is_empty() => Err(Refusal::bad_request("the batch is empty")),
        Value::Array(list) if list.len() > max_batch => Err(Refusal::bad_request(format!(
            "a batch may hold at most {max_batch} operations (MAX_BATCH)"
        ))),
        Value::Array(list) => list
            .into_iter()
            .map(|item| match item {
                Value::Object(params) => request_from(params),
                _ => Err(Refusal::bad_request(
                    "each request of a batch must be a JSON object",
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(BatchRequest::Batch),
        _ => Err(Refusal::bad_request(
            "the request body must be a JSON object (or an array of them)",
        )),
    }
}

/// `application/json`, in UTF-8 (the default when no charset is given).
fn check_content_type(headers: &HeaderMap) -> Result<(), Refusal> {
    let unsupported = |msg: String| Refusal {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        error: AppError::bad_input(msg),
    };
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(unsupported(
            "a POST needs `Content-Type: application/json`".into(),
        ));
    };
    let value = value.to_str().unwrap_or_default();
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(unsupported(format!(
            "unsupported Content-Type `{value}`: send application/json"
        )));
    }
    for param in parts {
        if let Some((name, charset)) = param.split_once('=')
            && name.trim().eq_ignore_ascii_case("charset")
            && !charset
                .trim()
                .trim_matches('"')
                .eq_ignore_ascii_case("utf-8")
        {
            return Err(unsupported(format!(
                "unsupported charset `{}`: send UTF-8",
                charset.trim()
            )));
        }
    }
    Ok(())
}

/// `?query=…&operationName=…&variables=<JSON>&extensions=<JSON>`.
fn parse_get(uri: &axum::http::Uri) -> Result<async_graphql::Request, Refusal> {
    let axum::extract::Query(pairs) =
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map_err(|e| Refusal::bad_request(format!("malformed query string: {e}")))?;
    let mut params = Map::new();
    for (name, value) in pairs {
        let value = match name.as_str() {
            "variables" | "extensions" => serde_json::from_str(&value)
                .map_err(|e| Refusal::bad_request(format!("`{name}` is not valid JSON: {e}")))?,
            _ => Value::String(value),
        };
        if params.insert(name.clone(), value).is_some() {
            return Err(Refusal::bad_request(format!("`{name}` is given twice")));
        }
    }
    request_from(params)
}

/// The parameters of one GraphQL-over-HTTP request, each checked for its type.
fn request_from(mut params: Map<String, Value>) -> Result<async_graphql::Request, Refusal> {
    let extensions = match params.remove("extensions") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(Refusal::bad_request("`extensions` must be a map")),
    };
    let query = match params.remove("query") {
        Some(Value::String(query)) => query,
        // An Apollo persisted query may leave the document out and send only its hash.
        None | Some(Value::Null) if extensions.contains_key("persistedQuery") => String::new(),
        None | Some(Value::Null) => {
            return Err(Refusal::bad_request("the `query` parameter is required"));
        }
        Some(_) => return Err(Refusal::bad_request("`query` must be a string")),
    };
    let mut request = async_graphql::Request::new(query);
    match params.remove("operationName") {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => request = request.operation_name(name),
        Some(_) => return Err(Refusal::bad_request("`operationName` must be a string")),
    }
    match params.remove("variables") {
        None | Some(Value::Null) => {}
        Some(variables @ Value::Object(_)) => {
            request = request.variables(async_graphql::Variables::from_json(variables));
        }
        Some(_) => return Err(Refusal::bad_request("`variables` must be a map")),
    }
    for (name, value) in extensions {
        let value = async_graphql::Value::from_json(value)
            .map_err(|e| Refusal::bad_request(format!("invalid extension `{name}`: {e}")))?;
        request.extensions.insert(name, value);
    }
    Ok(request)
}

// ---- responses --------------------------------------------------------------------------------

/// Chooses the response media type from `Accept`, honouring q-values: no `Accept`, `*/*` and
/// `application/*` mean `application/json`; on a tie the GraphQL-over-HTTP type wins. `None`
/// when the client accepts neither.
fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let mut listed = false;
    let (mut json, mut graphql_json) = (0.0_f32, 0.0_f32);
    for value in headers.get_all(header::ACCEPT) {
        for entry in value.to_str().unwrap_or_default().split(',') {
            let mut parts = entry.split(';');
            let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            if essence.is_empty() {
                continue;
            }
            listed = true;
            let q = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .and_then(|(_, v)| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match essence.as_str() {
                GRAPHQL_RESPONSE_JSON => graphql_json = graphql_json.max(q),
                "application/json" | "application/*" | "*/*" => json = json.max(q),
                _ => {}
            }
        }
    }
    if !listed {
        Some(Media::Json)
    } else if graphql_json > 0.0 && graphql_json >= json {
        Some(Media::GraphQLResponseJson)
    } else if json > 0.0 {
        Some(Media::Json)
    } else {
        None
    }
}

fn not_acceptable(request_id: &RequestId) -> Response {
    let refusal = Refusal {
        status: StatusCode::NOT_ACCEPTABLE,
        error: AppError::bad_input(format!(
            "this endpoint answers application/json or {GRAPHQL_RESPONSE_JSON}: list one in Accept"
        )),
    };
    // Said in JSON all the same: a client that can read nothing else still gets a status.
    refuse(refusal, Media::Json, request_id)
}

/// A request refused before execution: one error, no `data`, with the refusal's status
/// (whatever the media type: a malformed request is a client error under both).
fn refuse(refusal: Refusal, media: Media, request_id: &RequestId) -> Response {
    // No `locations`: nothing in a document is at fault (and GraphQL positions start at 1).
    let refused = async_graphql::Error::from(refusal.error);
    let mut error = ServerError::new(refused.message, None);
    error.extensions = refused.extensions;
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("requestId", request_id.0.clone());
    let response = BatchResponse::Single(async_graphql::Response::from_errors(vec![error]));
    render(&response, refusal.status, media)
}

fn render(response: &BatchResponse, status: StatusCode, media: Media) -> Response {
    let content_type = match media {
        Media::GraphQLResponseJson => GRAPHQL_RESPONSE_JSON,
        Media::Json => "application/json",
    };
    let body = match response {
        BatchResponse::Single(r) => response_json(r),
        BatchResponse::Batch(list) => Ok(Value::Array(
            list.iter()
                .map(response_json)
                .collect::<Result<_, _>>()
                .unwrap_or_default(),
        )),
    }
    .and_then(|json| serde_json::to_vec(&json));
    let body = match body {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(error = %err, "cannot serialize a GraphQL response");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut http = (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response();
    http.headers_mut().extend(response.http_headers());
    if let BatchResponse::Single(r) = response
        && let Some(async_graphql::Value::Number(seconds)) = r
            .errors
            .first()
            .and_then(|e| e.extensions.as_ref())
            .and_then(|x| x.get("retryAfterSeconds"))
        && let Some(seconds) = seconds.as_u64()
    {
        http.extensions_mut().insert(RetryAfter(seconds));
    }
    http
}

/// A response as JSON, leaving `data` out after a request error, as the spec asks: `data: null`
/// would claim that execution started and failed.
fn response_json(response: &async_graphql::Response) -> Result<Value, serde_json::Error> {
    let mut json = serde_json::to_value(response)?;
    if is_request_error(response)
        && let Value::Object(map) = &mut json
    {
        map.remove("data");
    }
    Ok(json)
}

// ---- request metadata -------------------------------------------------------------------------

/// The `x-request-id` set (or passed through) by the request-id layer.
fn request_id(headers: &HeaderMap) -> RequestId {
    let id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    RequestId(id)
}

/// `Authorization: Bearer <token>`; any other scheme is an error rather than silently anonymous.
fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, AppError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| AppError::Unauthenticated("malformed Authorization header".into()))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(AppError::Unauthenticated(
            "Authorization must be `Bearer <accessToken>`".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Option<Media> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        negotiate(&headers)
    }

    #[test]
    fn the_response_media_type_follows_accept_and_its_q_values() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(Media::Json));
        assert_eq!(accept("*/*"), Some(Media::Json));
        assert_eq!(accept("application/json"), Some(Media::Json));
        assert_eq!(
            accept(GRAPHQL_RESPONSE_JSON),
            Some(Media::GraphQLResponseJson)
        );
        assert_eq!(
            accept("application/graphql-response+json; charset=utf-8"),
            Some(Media::GraphQLResponseJson)
        );
        assert_eq!(
            accept("application/graphql-response+json, application/json;q=0.9"),
            Some(Media::GraphQLResponseJson)
        );
        assert_eq!(
            accept("application/json, application/graphql-response+json;q=0.5"),
            Some(Media::Json)
        );
        assert_eq!(accept("text/html, */*;q=0.8"), Some(Media::Json));
        assert_eq!(accept("text/html"), None);
        assert_eq!(accept("application/json;q=0"), None);
    }

    fn params(json: Value) -> Result<async_graphql::Request, StatusCode> {
        let Value::Object(map) = json else { panic!() };
        request_from(map).map_err(|r| r.status)
    }

    #[test]
    fn malformed_parameters_are_refused_with_400() {
        use serde_json::json;
        assert!(params(json!({ "query": "{ a }", "variables": null })).is_ok());
        assert!(params(json!({ "query": "{ a }", "extensions": { "x": 1 } })).is_ok());
        let bad = StatusCode::BAD_REQUEST;
        assert_eq!(params(json!({ "qeury": "{ a }" })).unwrap_err(), bad);
        assert_eq!(params(json!({ "query": 1 })).unwrap_err(), bad);
        assert_eq!(
            params(json!({ "query": "{ a }", "variables": "x" })).unwrap_err(),
            bad
        );
        assert_eq!(
            params(json!({ "query": "{ a }", "extensions": [1] })).unwrap_err(),
            bad
        );
        assert_eq!(
            params(json!({ "query": "{ a }", "operationName": 0 })).unwrap_err(),
            bad
        );
        // An Apollo persisted query may send only the hash.
        let apq =
            json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": "ab" } } });
        assert!(params(apq).is_ok());
    }

    #[test]
    fn limits_count_ipv4_addresses_and_ipv6_networks() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert_eq!(network_of(ip("203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(network_of(ip("::ffff:203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(
            network_of(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            network_of(ip("2001:db8:1:2::1")),
            network_of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            network_of(ip("2001:db8:1:2::1")),
            network_of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(network_of(ip("::1")), ip("::"));
    }

    #[test]
    fn a_post_needs_a_json_content_type_in_utf8() {
        let with = |value: Option<&str>| {
            let mut headers = HeaderMap::new();
            if let Some(v) = value {
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(v).unwrap());
            }
            check_content_type(&headers).map_err(|r| r.status)
        };
        assert!(with(Some("application/json")).is_ok());
        assert!(with(Some("application/json; charset=utf-8")).is_ok());
        assert!(with(Some("Application/JSON;charset=UTF-8")).is_ok());
        let unsupported = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        assert_eq!(with(None).unwrap_err(), unsupported);
        assert_eq!(with(Some("text/plain")).unwrap_err(), unsupported);
        assert_eq!(
            with(Some("application/json; charset=latin1")).unwrap_err(),
            unsupported
        );
    }
}
