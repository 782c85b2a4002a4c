//! Builds the application (schema, router, listener) on top of the shared state and runs it
//! until a shutdown signal. The top of the module graph: nothing in the crate imports it but the CLI.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Settings;
use crate::graphql::schema::{ServerState, build_schema, sdl};
use crate::metrics::Metrics;
use crate::state::AppState;

pub fn router(app: AppState) -> Router {
    let schema = build_schema(Some(app.clone()));
    let settings = app.settings.clone();
    let metrics = app.metrics.clone();
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/graphql", get(crate::graphql::http::graphql_get).post(crate::graphql::http::graphql))
        .merge(crate::playground::router())
        .merge(crate::dashboard::router(&settings.currency))
        .merge(crate::tickets::http::router().with_state(app.clone()))
        .route("/", get(|| async { Redirect::temporary("/graphiql") }))
        .route("/schema.graphql", get(schema_sdl))
        .route("/healthz", get(|| async { "ok" }))
        .route("/reset-password", get(reset_password_page))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(ServerState { app, schema })
        // Innermost first: the body limit and timeout guard the handlers; compression, CORS and
        // security headers shape every response; metrics and tracing see everything.
        // MAX_BODY_BYTES governs, not axum's own 2 MB default; an oversized body gets a GraphQL
        // error that names the limit.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(settings.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(settings.max_body_bytes, explain_too_large))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, settings.request_timeout))
        .layer(CompressionLayer::new())
        .layer(cors(&settings.cors_allowed_origins))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(axum::middleware::from_fn(move |req, next| record_http(metrics.clone(), req, next)))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(axum::middleware::from_fn(drop_odd_request_ids))
}

/// A client's `X-Request-Id` is kept only if it is short and plain (it ends up in logs and
/// response headers); otherwise the server makes a fresh one.
async fn drop_odd_request_ids(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let odd = req.headers().get("x-request-id").is_some_and(|v| {
        let bytes = v.as_bytes();
        bytes.is_empty()
            || bytes.len() > 128
            || !bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(b))
    });
    if odd {
        req.headers_mut().remove("x-request-id");
    }
    next.run(req).await
}

/// Browsers may call the API from the configured origins (`*` for any); none by default, which
/// keeps the API same-origin (the playground is served from it).
fn cors(origins: &[String]) -> CorsLayer {
    let methods = [axum::http::Method::GET, axum::http::Method::POST];
    let headers = [
        header::AUTHORIZATION,
        header::CONTENT_TYPE,
        header::ACCEPT,
        HeaderName::from_static("x-request-id"),
    ];
    if origins.iter().any(|o| o == "*") {
        return CorsLayer::new()
            .allow_origin(tower_http::cors::Any)
            .allow_methods(methods)
            .allow_headers(headers);
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(list))
        .allow_methods(methods)
        .allow_headers(headers)
        .expose_headers([HeaderName::from_static("x-request-id")])
}

/// Turns the body limit's bare 413 into a GraphQL error that names the limit.
async fn explain_too_large(
    State(limit): State<usize>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let response = next.run(req).await;
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return response;
    }
    let body = serde_json::json!({ "errors": [{
        "message": format!("the request body is larger than the limit of {limit} bytes (MAX_BODY_BYTES)"),
        "extensions": { "code": "BAD_USER_INPUT" },
    }] });
    (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(body)).into_response()
}

/// Counts every HTTP response by status and times it.
async fn record_http(
    metrics: Arc<Metrics>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    metrics.http_requests.inc(&[response.status().as_str()]);
    metrics.http_latency.observe(started.elapsed());
    response
}

async fn schema_sdl() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], sdl())
}

async fn metrics_text(State(server): State<ServerState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        server.app.metrics.render(),
    )
}

/// Ready when the database answers (503 otherwise). A configured Redis that does not answer
/// makes the instance `degraded` but still ready: queries and mutations work without it, and
/// live reports catch up from the database.
async fn readyz(State(server): State<ServerState>) -> impl IntoResponse {
    let database = tokio::time::timeout(Duration::from_secs(2), crate::db::ping(&server.app.db))
        .await
        .is_ok_and(|r| r.is_ok());
    let redis = match &server.app.redis {
        None => "disabled",
        Some(client) if ping_redis(client).await => "up",
        Some(_) => "down",
    };
    let (status, word) = match (database, redis) {
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (true, "down") => (StatusCode::OK, "degraded"),
        (true, _) => (StatusCode::OK, "ready"),
    };
    let body = serde_json::json!({
        "status": word,
        "database": if database { "up" } else { "down" },
        "redis": redis,
    });
    (status, axum::Json(body))
}

async fn ping_redis(client: &redis::Client) -> bool {
    let attempt = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(Ok(_))
    )
}

/// A built server, bound to its port but not yet serving.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let addr = settings.bind_addr;
        let state = AppState::init(settings).await?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on BIND_ADDR {addr}"))?;
        Ok(Application { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves (and runs the background sweeper) until `shutdown` completes, then lets in-flight
    /// requests finish and stops the sweeper.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let sweeper = tokio::spawn(crate::reservations::expiry::run(
            self.state.clone(),
            self.state.live.stop.subscribe(),
        ));
        let mailer = tokio::spawn(crate::mail::delivery::run(
            self.state.clone(),
            self.state.live.stop.subscribe(),
        ));
        let app = router(self.state.clone());
        // When the signal comes: close WebSockets (1001) and stop background work at once, and
        // give in-flight requests SHUTDOWN_TIMEOUT_SECONDS to finish.
        let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
        let stop = self.state.live.stop.clone();
        let shutdown = async move {
            shutdown.await;
            let _ = stop.send(true);
            let _ = signalled_tx.send(());
        };
        let grace = self.state.settings.shutdown_timeout;
        let serve = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown);
        let served = tokio::select! {
            served = serve => served,
            _ = async move {
                if signalled_rx.await.is_ok() {
                    tokio::time::sleep(grace).await;
                } else {
                    std::future::pending::<()>().await;
                }
            } => {
                tracing::warn!(seconds = grace.as_secs(), "in-flight requests did not finish in time; stopping anyway");
                Ok(())
            }
        };
        let _ = self.state.live.stop.send(true);
        let _ = sweeper.await;
        let _ = mailer.await;
        self.state.db.clone().close().await.ok();
        Ok(served?)
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

/// The page a password-reset e-mail links to (`PUBLIC_URL/reset-password?token=…`): a form that
/// calls `resetPassword` on this server. Embedded in the binary; it loads nothing from elsewhere.
async fn reset_password_page() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("../templates/pages/reset-password.html"))
}
