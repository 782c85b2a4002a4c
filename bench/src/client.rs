//! A pooled GraphQL-over-HTTP client. Every failure becomes an error *code*: the GraphQL
//! `errors[0].extensions.code` when the server answered, otherwise `HTTP_<status>`, `TIMEOUT`,
//! `TRANSPORT` or `BAD_RESPONSE`, so scenarios can count errors by code.

use std::time::Duration;

use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

fn api_error(code: &str, message: impl Into<String>) -> ApiError {
    ApiError {
        code: code.to_string(),
        message: message.into(),
    }
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    /// `http://host:port/graphql`
    pub graphql_url: String,
    /// `ws://host:port/graphql`
    pub ws_url: String,
}

impl Api {
    /// `base` is the server's root URL (`http://127.0.0.1:8080`); `/graphql` is appended.
    pub fn new(base: &str, pool: usize, timeout: Duration) -> anyhow::Result<Self> {
        let base = base.trim_end_matches('/');
        let base = base.strip_suffix("/graphql").unwrap_or(base);
        anyhow::ensure!(
            base.starts_with("http://"),
            "--url must start with http:// (the load tool only targets a local server)"
        );
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(pool)
            .pool_idle_timeout(Duration::from_secs(120))
            .tcp_nodelay(true)
            .timeout(timeout)
            .build()?;
        Ok(Api {
            http,
            graphql_url: format!("{base}/graphql"),
            ws_url: format!("ws://{}/graphql", &base["http://".len()..]),
        })
    }

    /// Runs one operation; `Ok(data)` only when the response carries no error.
    pub async fn gql(
        &self,
        token: Option<&str>,
        query: &str,
        vars: Value,
    ) -> Result<Value, ApiError> {
        let mut request = self
            .http
            .post(&self.graphql_url)
            .json(&json!({ "query": query, "variables": vars }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        let body: Value = match serde_json::from_slice(&bytes) {
            Ok(body) => body,
            Err(_) if !status.is_success() => {
                return Err(api_error(
                    &format!("HTTP_{}", status.as_u16()),
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
                ));
            }
            Err(e) => return Err(api_error("BAD_RESPONSE", e.to_string())),
        };
        if let Some(first) = body
            .get("errors")
            .and_then(Value::as_array)
            .and_then(|errors| errors.first())
        {
            let code = first
                .pointer("/extensions/code")
                .and_then(Value::as_str)
                .unwrap_or("NO_CODE");
            let message = first.get("message").and_then(Value::as_str).unwrap_or("");
            return Err(api_error(code, message));
        }
        if !status.is_success() {
            return Err(api_error(&format!("HTTP_{}", status.as_u16()), ""));
        }
        Ok(body.get("data").cloned().unwrap_or(Value::Null))
    }

    /// GET on a plain path (health checks).
    pub async fn get_ok(&self, path: &str) -> bool {
        let url = self.graphql_url.replace("/graphql", path);
        matches!(self.http.get(url).send().await, Ok(r) if r.status().is_success())
    }
}

fn transport(e: reqwest::Error) -> ApiError {
    if e.is_timeout() {
        api_error("TIMEOUT", e.to_string())
    } else {
        api_error("TRANSPORT", e.to_string())
    }
}

/// `data` at a JSON pointer as a string, or a `BAD_RESPONSE` error naming the pointer.
pub fn str_at(data: &Value, pointer: &str) -> Result<String, ApiError> {
    data.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| api_error("BAD_RESPONSE", format!("no string at {pointer}")))
}

/// `data` at a JSON pointer as an integer.
pub fn i64_at(data: &Value, pointer: &str) -> Result<i64, ApiError> {
    data.pointer(pointer)
        .and_then(Value::as_i64)
        .ok_or_else(|| api_error("BAD_RESPONSE", format!("no integer at {pointer}")))
}
