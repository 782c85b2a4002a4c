//! GraphQL over HTTP: `POST /graphql` (single or batched), `GET /graphql` for queries only,
//! bearer-token authentication, and content negotiation between `application/json` and
//! `application/graphql-response+json`.

use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse, ServerError};
use async_graphql_axum::GraphQLBatchRequest;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::context::{Loaders, RequestId};
use super::extensions::stamp_request_id;
use crate::app::ServerState;
use crate::auth::service::authenticate;
use crate::error::AppError;

pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// Requests in one batch; more is refused before anything runs.
pub const MAX_BATCH: usize = 10;

pub async fn graphql(
    State(server): State<ServerState>,
    method: Method,
    headers: HeaderMap,
    request: GraphQLBatchRequest,
) -> Response {
    let request_id = request_id(&headers);
    let wants_graphql_json = accepts_graphql_response_json(&headers);
    let reply = |status_for_new_media: StatusCode, errors: Vec<ServerError>| {
        let status = if wants_graphql_json {
            status_for_new_media
        } else {
            StatusCode::OK
        };
        render(
            BatchResponse::Single(async_graphql::Response::from_errors(errors)),
            status,
            wants_graphql_json,
        )
    };
    let error = |err: AppError| {
        let mut e: ServerError =
            async_graphql::Error::from(err).into_server_error(Default::default());
        e.extensions
            .get_or_insert_with(Default::default)
            .set("requestId", request_id.0.clone());
        vec![e]
    };

    let batch = request.into_inner();
    if let BatchRequest::Batch(list) = &batch
        && list.len() > MAX_BATCH
    {
        let msg = format!("a batch may hold at most {MAX_BATCH} operations");
        return reply(StatusCode::BAD_REQUEST, error(AppError::bad_input(msg)));
    }
    if method == Method::GET && batch.iter().any(is_mutation) {
        // GET must be safe: a link or a prefetch must never change anything.
        let mut response = reply(
            StatusCode::METHOD_NOT_ALLOWED,
            error(AppError::bad_input("mutations must be sent with POST")),
        );
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }

    let viewer = match bearer_token(&headers) {
        Ok(None) => None,
        Ok(Some(token)) => match authenticate(&server.app, token).await {
            Ok(viewer) => Some(viewer),
            Err(err) => return reply(StatusCode::UNAUTHORIZED, error(err)),
        },
        Err(err) => return reply(StatusCode::UNAUTHORIZED, error(err)),
    };

    let loaders = std::sync::Arc::new(Loaders::new(&server.app));
    let mut batch = batch.data(request_id.clone()).data(loaders);
    if let Some(viewer) = viewer {
        batch = batch.data(viewer);
    }
    let mut response = server.schema.execute_batch(batch).await;
    match &mut response {
        BatchResponse::Single(r) => stamp_request_id(&mut r.errors, &request_id.0),
        BatchResponse::Batch(list) => {
            for r in list {
                stamp_request_id(&mut r.errors, &request_id.0);
            }
        }
    }
    // A request that failed before execution (no `data`) is a client error under the new
    // media type; `application/json` always answers 200.
    let status = match &response {
        BatchResponse::Single(r)
            if wants_graphql_json
                && r.data == async_graphql::Value::Null
                && !r.errors.is_empty() =>
        {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::OK,
    };
    render(response, status, wants_graphql_json)
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

fn render(response: BatchResponse, status: StatusCode, graphql_json: bool) -> Response {
    let content_type = if graphql_json {
        GRAPHQL_RESPONSE_JSON
    } else {
        "application/json"
    };
    let body = match serde_json::to_vec(&response) {
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
    http
}

/// Clients that list `application/graphql-response+json` get it; everyone else, including those
/// sending no `Accept`, gets `application/json`, which every GraphQL client understands.
fn accepts_graphql_response_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|m| {
            m.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case(GRAPHQL_RESPONSE_JSON))
        })
}

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

/// `GET /graphql`: a WebSocket upgrade for subscriptions, or a query in the URL.
pub async fn graphql_get(
    State(server): State<ServerState>,
    request: axum::extract::Request,
) -> Response {
    use axum::extract::{FromRequest, FromRequestParts};

    let wants_websocket = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if wants_websocket {
        let request_id = request_id(request.headers());
        let (mut parts, _) = request.into_parts();
        let upgrade = match axum::extract::ws::WebSocketUpgrade::from_request_parts(
            &mut parts, &server,
        )
        .await
        {
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
        return upgrade
            .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
            .on_upgrade(move |socket| super::ws::serve(server, socket, protocol, request_id));
    }
    let method = request.method().clone();
    let headers = request.headers().clone();
    match GraphQLBatchRequest::from_request(request, &server).await {
        Ok(batch) => graphql(State(server), method, headers, batch).await,
        Err(rejection) => rejection.into_response(),
    }
}
