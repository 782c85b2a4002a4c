//! Typed settings read from the environment, each with a documented default.
//!
//! A missing or malformed value stops startup with a message that names the variable. The
//! README's configuration table lists the same variables; keep them in step.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// The SQLite file used when `DATABASE_URL` is not set (created if missing).
pub const DEFAULT_DATABASE_URL: &str = "sqlite://evenntify.db?mode=rwc";

/// A value that must not appear in logs or `Debug` output.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// `DATABASE_URL`: `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// `REDIS_URL`: optional; without it pub/sub stays in-process.
    pub redis_url: Option<String>,
    /// `JWT_SECRET`: required with PostgreSQL; with SQLite, generated once and stored if absent.
    pub jwt_secret: Option<Secret>,
    /// `TICKET_SIGNING_KEY`: optional base64url (no padding) of a 32-byte Ed25519 seed that
    /// signs ticket codes; without it a key is generated once and stored in the database.
    pub ticket_signing_key: Option<Secret>,
    /// `PUBLIC_URL`: how people reach this server, for the links it hands out (the calendar
    /// feed, the password-reset link in e-mail); default `http://BIND_ADDR`.
    pub public_url: String,
    /// `BIND_ADDR`: where the HTTP server listens.
    pub bind_addr: SocketAddr,
    /// `HOLD_SECONDS`: how long a reservation holds its seats.
    pub hold_seconds: u64,
    /// `WAITLIST_OFFER_SECONDS`: how long seats offered to a waitlist entry stay held for it.
    pub waitlist_offer_seconds: u64,
    /// `CURRENCY`: ISO 4217 code of the platform currency; all money is in its minor units.
    pub currency: String,
    /// `LOG_FORMAT`: `pretty` or `json`.
    pub log_format: LogFormat,
    /// `ACCESS_TOKEN_TTL_SECONDS`: lifetime of an access JWT.
    pub access_token_ttl: Duration,
    /// `REFRESH_TOKEN_TTL_SECONDS`: lifetime of a refresh token (each rotation starts anew).
    pub refresh_token_ttl: Duration,
    /// `DB_MAX_CONNECTIONS`: size of the database pool.
    pub db_max_connections: u32,
    /// `SWEEP_INTERVAL_SECONDS`: how often expired holds are released.
    pub sweep_interval: Duration,
    /// `MAX_TICKETS_PER_RESERVATION`: the largest `quantity` one reservation may hold.
    pub max_tickets_per_reservation: i32,
    /// `RESERVE_BATCH_MAX`: general-admission holds of one ticket type committed together at
    /// most (`reservations::batch`); 1 commits each alone.
    pub reserve_batch_max: usize,
    /// `RESERVE_BATCH_WINDOW_MS`: how long a batch may wait for more holds while one of its
    /// ticket type is in the database (an idle ticket type adds no wait).
    pub reserve_batch_window: Duration,
    /// `MAX_TOP_UP_CENTS`: the largest single wallet top-up.
    pub max_top_up_cents: i64,
    /// `CARD_TIMEOUT_MS`: how long the card gateway may take before a charge counts as failed
    /// (the sandbox's `tok_timeout` answers only after this).
    pub card_timeout: Duration,
    /// `WS_INIT_TIMEOUT_SECONDS`: how long a WebSocket may wait before `connection_init`.
    pub ws_init_timeout: Duration,
    /// `WS_PING_INTERVAL_SECONDS`: how often the server pings WebSocket clients.
    pub ws_ping_interval: Duration,
    /// `LOGIN_ATTEMPTS_PER_MINUTE`: failed logins allowed per username from one client address
    /// per minute.
    pub login_attempts_per_minute: u64,
    /// `LOGIN_FAILURES_PER_USERNAME_PER_HOUR`: failed logins allowed per username from all
    /// addresses together per hour; addresses the user logged in from before are exempt.
    pub login_failures_per_username_per_hour: u64,
    /// `LOGIN_ATTEMPTS_PER_IP_PER_MINUTE`: login attempts allowed per client address per minute.
    pub login_attempts_per_ip_per_minute: u64,
    /// `MUTATIONS_PER_MINUTE`: mutations allowed per logged-in user per minute.
    pub mutations_per_minute: u64,
    /// `REGISTRATIONS_PER_IP_PER_MINUTE`: accounts that may be registered per client address per minute.
    pub registrations_per_ip_per_minute: u64,
    /// `TRUSTED_PROXIES`: comma-separated addresses whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// `MAX_QUERY_DEPTH`: deepest selection nesting allowed (introspection needs about 13).
    pub max_query_depth: usize,
    /// `MAX_QUERY_COMPLEXITY`: largest query cost, lists weighted by their page size.
    pub max_query_complexity: usize,
    /// `MAX_ALIASES`: most aliased fields in one document.
    pub max_aliases: usize,
    /// `MAX_BATCH`: most operations in one batched request.
    pub max_batch: usize,
    /// `MAX_BODY_BYTES`: largest request body (and largest WebSocket message).
    pub max_body_bytes: usize,
    /// `APQ_MAX_DOCUMENT_BYTES`: largest document stored as a persisted query.
    pub apq_max_document_bytes: usize,
    /// `APQ_STORES_PER_IP_PER_MINUTE`: new persisted queries stored per client address per minute.
    pub apq_stores_per_ip_per_minute: u64,
    /// `WS_MAX_SOCKETS_PER_ADDRESS`: WebSockets one client address may hold open on an instance.
    pub ws_max_sockets_per_address: usize,
    /// `WS_MAX_SUBSCRIPTIONS_PER_SOCKET`: operations one WebSocket may run at once.
    pub ws_max_subscriptions_per_socket: usize,
    /// `REQUEST_TIMEOUT_SECONDS`: longest an HTTP request may take.
    pub request_timeout: Duration,
    /// `SHUTDOWN_TIMEOUT_SECONDS`: how long in-flight requests get to finish after SIGTERM.
    pub shutdown_timeout: Duration,
    /// `CORS_ALLOWED_ORIGINS`: comma-separated origins allowed to call the API from a browser
    /// (`*` for any); empty means same-origin only.
    pub cors_allowed_origins: Vec<String>,
    /// `SMTP_URL`: where e-mail goes (`smtp://user:pass@host:587`, STARTTLS when offered;
    /// `smtp+tls://host:465` or `smtps://…` for implicit TLS). Unset: `.eml` files in `MAIL_DIR`.
    pub smtp_url: Option<Secret>,
    /// `MAIL_FROM`: the sender of every message.
    pub mail_from: String,
    /// `MAIL_DIR`: where messages are written as `.eml` files when `SMTP_URL` is unset.
    pub mail_dir: std::path::PathBuf,
    /// `MAIL_POLL_INTERVAL_MS`: how often the delivery worker looks for due messages.
    pub mail_poll_interval: Duration,
    /// `MAIL_RETRY_BASE_MS`: the first wait after a transient delivery failure; it doubles (with
    /// jitter) up to an hour, and a message still undelivered after a day is given up.
    pub mail_retry_base: Duration,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

fn invalid(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        message: message.into(),
    }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `get`, so tests can supply their own environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        // An empty variable counts as unset: `FOO= cargo run` should mean "default".
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());

        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
        let kind = database_kind(&database_url).ok_or_else(|| {
            invalid(
                "DATABASE_URL",
                "must start with sqlite:, postgres:// or postgresql://",
            )
        })?;

        let redis_url = get("REDIS_URL");
        if let Some(url) = &redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(invalid(
                "REDIS_URL",
                "must start with redis:// or rediss://",
            ));
        }

        let jwt_secret = match get("JWT_SECRET") {
            Some(s) if s.len() < 32 => {
                return Err(invalid("JWT_SECRET", "must be at least 32 characters long"));
            }
            Some(s) => Some(Secret::new(s)),
            None if kind == DatabaseKind::Postgres => {
                return Err(invalid(
                    "JWT_SECRET",
                    "is required when DATABASE_URL points at PostgreSQL (at least 32 characters)",
                ));
            }
            None => None,
        };

        let ticket_signing_key = match get("TICKET_SIGNING_KEY") {
            Some(v) => {
                use base64::Engine;
                let seed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(v.trim())
                    .ok()
                    .filter(|b| b.len() == 32);
                if seed.is_none() {
                    return Err(invalid(
                        "TICKET_SIGNING_KEY",
                        "must be base64url without padding of a 32-byte Ed25519 seed",
                    ));
                }
                Some(Secret::new(v.trim()))
            }
            None => None,
        };

        let bind_addr = match get("BIND_ADDR") {
            Some(v) => v.parse().map_err(|_| {
                invalid(
                    "BIND_ADDR",
                    format!("`{v}` is not an address like 127.0.0.1:8080"),
                )
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let public_url = match get("PUBLIC_URL") {
            Some(v) if v.starts_with("http://") || v.starts_with("https://") => {
                v.trim_end_matches('/').to_string()
            }
            Some(_) => {
                return Err(invalid("PUBLIC_URL", "must start with http:// or https://"));
            }
            None => format!("http://{bind_addr}"),
        };

        let hold_seconds = parse_number(&get, "HOLD_SECONDS", 600, 1, 86_400)?;
        let waitlist_offer_seconds =
            parse_number(&get, "WAITLIST_OFFER_SECONDS", 3_600, 1, 7 * 86_400)?;

        let currency = get("CURRENCY").unwrap_or_else(|| "USD".into());
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(invalid(
                "CURRENCY",
                format!("`{currency}` is not a three-letter ISO 4217 code such as USD"),
            ));
        }

        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "LOG_FORMAT",
                    format!("`{other}` is neither `pretty` nor `json`"),
                ));
            }
        };

        let access = parse_number(&get, "ACCESS_TOKEN_TTL_SECONDS", 900, 10, 86_400)?;
        let refresh = parse_number(
            &get,
            "REFRESH_TOKEN_TTL_SECONDS",
            30 * 86_400,
            60,
            365 * 86_400,
        )?;
        let default_pool = if kind == DatabaseKind::Sqlite { 8 } else { 20 };
        let db_max_connections =
            parse_number(&get, "DB_MAX_CONNECTIONS", default_pool, 1, 1_000)? as u32;

        let sweep = parse_number(&get, "SWEEP_INTERVAL_SECONDS", 5, 1, 3_600)?;
        let max_tickets = parse_number(&get, "MAX_TICKETS_PER_RESERVATION", 10, 1, 100)? as i32;
        let batch_max = parse_number(&get, "RESERVE_BATCH_MAX", 256, 1, 1_000)? as usize;
        let batch_window = parse_number(&get, "RESERVE_BATCH_WINDOW_MS", 2, 0, 1_000)?;
        let max_top_up =
            parse_number(&get, "MAX_TOP_UP_CENTS", 1_000_000, 1, 1_000_000_000_000)? as i64;
        let card_timeout = parse_number(&get, "CARD_TIMEOUT_MS", 3_000, 1, 120_000)?;
        let ws_init = parse_number(&get, "WS_INIT_TIMEOUT_SECONDS", 10, 1, 600)?;
        let ws_ping = parse_number(&get, "WS_PING_INTERVAL_SECONDS", 15, 1, 3_600)?;
        let login_user = parse_number(&get, "LOGIN_ATTEMPTS_PER_MINUTE", 10, 1, 100_000)?;
        let login_global = parse_number(
            &get,
            "LOGIN_FAILURES_PER_USERNAME_PER_HOUR",
            100,
            1,
            1_000_000,
        )?;
        let login_ip = parse_number(&get, "LOGIN_ATTEMPTS_PER_IP_PER_MINUTE", 30, 1, 100_000)?;
        let mutations = parse_number(&get, "MUTATIONS_PER_MINUTE", 600, 1, 1_000_000)?;
        let registrations =
            parse_number(&get, "REGISTRATIONS_PER_IP_PER_MINUTE", 60, 1, 1_000_000)?;
        let trusted_proxies = match get("TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse().map_err(|_| {
                        invalid("TRUSTED_PROXIES", format!("`{s}` is not an IP address"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        let max_depth = parse_number(&get, "MAX_QUERY_DEPTH", 15, 5, 100)? as usize;
        let max_complexity =
            parse_number(&get, "MAX_QUERY_COMPLEXITY", 5_000, 100, 10_000_000)? as usize;
        let max_aliases = parse_number(&get, "MAX_ALIASES", 30, 1, 10_000)? as usize;
        let max_batch = parse_number(&get, "MAX_BATCH", 10, 1, 1_000)? as usize;
        let max_body =
            parse_number(&get, "MAX_BODY_BYTES", 256 * 1024, 1_024, 100 * 1024 * 1024)? as usize;
        let apq_max_document = parse_number(
            &get,
            "APQ_MAX_DOCUMENT_BYTES",
            32 * 1024,
            256,
            10 * 1024 * 1024,
        )? as usize;
        let apq_stores = parse_number(&get, "APQ_STORES_PER_IP_PER_MINUTE", 100, 1, 1_000_000)?;
        let ws_sockets =
            parse_number(&get, "WS_MAX_SOCKETS_PER_ADDRESS", 256, 1, 10_000_000)? as usize;
        let ws_subscriptions =
            parse_number(&get, "WS_MAX_SUBSCRIPTIONS_PER_SOCKET", 100, 1, 100_000)? as usize;
        let request_timeout = parse_number(&get, "REQUEST_TIMEOUT_SECONDS", 30, 1, 3_600)?;
        let shutdown_timeout = parse_number(&get, "SHUTDOWN_TIMEOUT_SECONDS", 20, 1, 3_600)?;
        let cors_allowed_origins = get("CORS_ALLOWED_ORIGINS")
            .map(|v| {
                v.split(',')
                    .map(|o| o.trim().to_string())
                    .filter(|o| !o.is_empty())
                    .collect()
            })
            .unwrap_or_default();

        let smtp_url = get("SMTP_URL");
        if let Some(url) = &smtp_url
            && !["smtp://", "smtps://", "smtp+tls://"]
                .iter()
                .any(|scheme| url.starts_with(scheme))
        {
            return Err(invalid(
                "SMTP_URL",
                "must start with smtp://, smtp+tls:// or smtps://",
            ));
        }
        let mail_from = get("MAIL_FROM").unwrap_or_else(|| "Evenntify <no-reply@localhost>".into());
        if mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(invalid(
                "MAIL_FROM",
                format!("`{mail_from}` is not an address like Evenntify <no-reply@example.com>"),
            ));
        }
        let mail_dir = get("MAIL_DIR").unwrap_or_else(|| "./mail".into()).into();
        let mail_poll = parse_number(&get, "MAIL_POLL_INTERVAL_MS", 1_000, 10, 600_000)?;
        let mail_retry = parse_number(&get, "MAIL_RETRY_BASE_MS", 10_000, 10, 3_600_000)?;

        Ok(Settings {
            smtp_url: smtp_url.map(Secret::new),
            mail_from,
            mail_dir,
            mail_poll_interval: Duration::from_millis(mail_poll),
            mail_retry_base: Duration::from_millis(mail_retry),
            database_url,
            redis_url,
            jwt_secret,
            ticket_signing_key,
            public_url,
            bind_addr,
            hold_seconds,
            waitlist_offer_seconds,
            currency,
            log_format,
            access_token_ttl: Duration::from_secs(access),
            refresh_token_ttl: Duration::from_secs(refresh),
            db_max_connections,
            sweep_interval: Duration::from_secs(sweep),
            max_tickets_per_reservation: max_tickets,
            reserve_batch_max: batch_max,
            reserve_batch_window: Duration::from_millis(batch_window),
            max_top_up_cents: max_top_up,
            card_timeout: Duration::from_millis(card_timeout),
            ws_init_timeout: Duration::from_secs(ws_init),
            ws_ping_interval: Duration::from_secs(ws_ping),
            login_attempts_per_minute: login_user,
            login_failures_per_username_per_hour: login_global,
            login_attempts_per_ip_per_minute: login_ip,
            mutations_per_minute: mutations,
            registrations_per_ip_per_minute: registrations,
            trusted_proxies,
            max_query_depth: max_depth,
            max_query_complexity: max_complexity,
            max_aliases,
            max_batch,
            max_body_bytes: max_body,
            apq_max_document_bytes: apq_max_document,
            apq_stores_per_ip_per_minute: apq_stores,
            ws_max_sockets_per_address: ws_sockets,
            ws_max_subscriptions_per_socket: ws_subscriptions,
            request_timeout: Duration::from_secs(request_timeout),
            shutdown_timeout: Duration::from_secs(shutdown_timeout),
            cors_allowed_origins,
        })
    }

    pub fn database_kind(&self) -> DatabaseKind {
        // Validated in `from_lookup`; a hand-built `Settings` with a bad URL fails at connect.
        database_kind(&self.database_url).unwrap_or(DatabaseKind::Sqlite)
    }
}

fn database_kind(url: &str) -> Option<DatabaseKind> {
    if url.starts_with("sqlite:") {
        Some(DatabaseKind::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Some(DatabaseKind::Postgres)
    } else {
        None
    }
}

fn parse_number(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(raw) = get(var) else {
        return Ok(default);
    };
    let value: u64 = raw
        .trim()
        .parse()
        .map_err(|_| invalid(var, format!("`{raw}` is not a whole number")))?;
    if !(min..=max).contains(&value) {
        return Err(invalid(var, format!("{value} is outside {min}..={max}")));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn an_empty_environment_gives_the_documented_defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(s.database_kind(), DatabaseKind::Sqlite);
        assert!(s.redis_url.is_none() && s.jwt_secret.is_none());
        assert_eq!(s.bind_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(s.hold_seconds, 600);
        assert_eq!(s.currency, "USD");
        assert_eq!(s.log_format, LogFormat::Pretty);
        assert_eq!(s.access_token_ttl, Duration::from_secs(900));
    }

    #[test]
    fn postgres_without_a_jwt_secret_is_refused_naming_the_variable() {
        let err = settings(&[("DATABASE_URL", "postgres://localhost/x")]).unwrap_err();
        assert_eq!(err.var, "JWT_SECRET");
    }

    #[test]
    fn each_malformed_value_names_its_variable() {
        for (var, value) in [
            ("DATABASE_URL", "mysql://x"),
            ("REDIS_URL", "localhost:6379"),
            ("JWT_SECRET", "short"),
            ("BIND_ADDR", "localhost"),
            ("HOLD_SECONDS", "ten"),
            ("HOLD_SECONDS", "0"),
            ("CURRENCY", "usd"),
            ("LOG_FORMAT", "xml"),
            ("DB_MAX_CONNECTIONS", "-1"),
            ("SWEEP_INTERVAL_SECONDS", "0"),
            ("SMTP_URL", "http://mail.example.com"),
            ("MAIL_FROM", "not an address"),
            ("PUBLIC_URL", "example.com"),
            ("MAIL_RETRY_BASE_MS", "0"),
            ("MAX_TICKETS_PER_RESERVATION", "1000"),
            ("MAX_TOP_UP_CENTS", "0"),
            ("CARD_TIMEOUT_MS", "soon"),
            ("TRUSTED_PROXIES", "10.0.0.1,nope"),
            ("MAX_QUERY_DEPTH", "2"),
            ("TICKET_SIGNING_KEY", "too-short"),
            (
                "TICKET_SIGNING_KEY",
                "AAAA+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            ),
            ("PUBLIC_URL", "example.com"),
        ] {
            let err = settings(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{var}={value} gave {err}");
            assert!(
                err.to_string().starts_with(&format!("invalid {var}:")),
                "{err}"
            );
        }
    }

    #[test]
    fn public_url_defaults_to_the_bind_address_and_a_ticket_key_is_optional() {
        let s = settings(&[("BIND_ADDR", "0.0.0.0:9000")]).unwrap();
        assert_eq!(s.public_url, "http://0.0.0.0:9000");
        assert!(s.ticket_signing_key.is_none());
        let s = settings(&[
            ("PUBLIC_URL", "https://tickets.example.com/"),
            (
                "TICKET_SIGNING_KEY",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            ),
        ])
        .unwrap();
        assert_eq!(s.public_url, "https://tickets.example.com");
        assert!(s.ticket_signing_key.is_some());
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let s = settings(&[("JWT_SECRET", "0123456789abcdef0123456789abcdef-secret")]).unwrap();
        assert!(!format!("{s:?}").contains("abcdef-secret"));
    }
}
