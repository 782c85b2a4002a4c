//! Automatic persisted queries (Apollo's APQ protocol): a client sends the SHA-256 of a query
//! instead of its text; the first time the server answers `PersistedQueryNotFound`, the client
//! sends text and hash together, and from then on the hash alone works, on every instance when
//! Redis is configured (in this process's memory otherwise).
//!
//! Resolved in the transport, before the "GET runs queries only" check, so a hash cannot smuggle
//! a mutation through GET.
//!
//! Storage is bounded so that nobody can fill memory (or Redis) with documents: a document
//! larger than `APQ_MAX_DOCUMENT_BYTES` is executed but not stored; each client address may store
//! `APQ_STORES_PER_IP_PER_MINUTE` new documents a minute (past that they run unstored too);
//! Redis keeps a document for a day; this process keeps at most `LOCAL_MAX_BYTES` of them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_graphql::Value;
use sha2::{Digest, Sha256};

use crate::ratelimit::{Limit, RateLimiter};

/// Queries kept in memory without Redis; past this the oldest half is dropped.
const LOCAL_CAPACITY: usize = 10_000;
/// Bytes of query text kept in memory; past this the oldest half is dropped.
const LOCAL_MAX_BYTES: usize = 16 * 1024 * 1024;
/// How long Redis keeps a persisted query (clients send the text again when it is gone).
const TTL_SECONDS: u64 = 24 * 3600;
/// How long a Redis round trip may take before the in-process store answers instead.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);
const NOT_FOUND: &str = "PersistedQueryNotFound";

pub struct PersistedQueries {
    redis: Option<redis::aio::ConnectionManager>,
    /// `evenntify:<deployment>:apq:`: each deployment keeps its own.
    prefix: String,
    /// The largest document that is stored (`APQ_MAX_DOCUMENT_BYTES`).
    max_document_bytes: usize,
    local: Mutex<Local>,
}

/// The in-process store: a logical clock, the bytes held, and per hash when it was stored and
/// the query.
#[derive(Default)]
struct Local {
    clock: u64,
    bytes: usize,
    map: HashMap<String, (u64, String)>,
}

/// Why a persisted query could not be used; the message is what Apollo clients look for.
#[derive(Debug, PartialEq, Eq)]
pub struct ApqError(pub String);

impl PersistedQueries {
    pub fn new(
        redis: Option<redis::aio::ConnectionManager>,
        deployment: &str,
        max_document_bytes: usize,
    ) -> Self {
        PersistedQueries {
            prefix: format!("evenntify:{deployment}:apq:"),
            redis,
            max_document_bytes,
            local: Mutex::new(Local::default()),
        }
    }

    /// Fills in `request.query` from the hash, or stores the query under its hash (when it is
    /// small enough and the client's address has store budget left; otherwise it just runs).
    pub async fn resolve(
        &self,
        request: &mut async_graphql::Request,
        client: std::net::IpAddr,
        rate: &RateLimiter,
    ) -> Result<(), ApqError> {
        let Some(persisted) = request.extensions.get("persistedQuery") else {
            return Ok(());
        };
        let Value::Object(fields) = persisted else {
            return Err(ApqError(
                "extensions.persistedQuery must be an object".into(),
            ));
        };
        match fields.get("version") {
            Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
            _ => {
                return Err(ApqError(
                    "only version 1 of persisted queries is supported".into(),
                ));
            }
        }
        let Some(Value::String(hash)) = fields.get("sha256Hash") else {
            return Err(ApqError(
                "extensions.persistedQuery.sha256Hash is missing".into(),
            ));
        };
        let hash = hash.to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApqError(
                "extensions.persistedQuery.sha256Hash is not a SHA-256 in hex".into(),
            ));
        }
        if request.query.trim().is_empty() {
            let query = self
                .get(&hash)
                .await
                .ok_or_else(|| ApqError(NOT_FOUND.into()))?;
            request.query = query;
        } else {
            let actual = hex::encode(Sha256::digest(request.query.as_bytes()));
            if actual != hash {
                return Err(ApqError("provided sha does not match query".into()));
            }
            if request.query.len() <= self.max_document_bytes
                && super::input::check_nesting(&request.query, super::input::MAX_NESTING).is_ok()
                && self.get(&hash).await.is_none()
                && rate
                    .hit(Limit::PersistedQueries, &client.to_string())
                    .await
                    .is_ok()
            {
                self.set(&hash, &request.query).await;
            }
        }
        Ok(())
    }

    async fn get(&self, hash: &str) -> Option<String> {
        if let Some(found) = self
            .redis_command(redis::cmd("GET").arg(format!("{}{hash}", self.prefix)))
            .await
            && let Ok(Some(query)) = redis::from_redis_value::<Option<String>>(found)
        {
            return Some(query);
        }
        let local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        local.map.get(hash).map(|(_, q)| q.clone())
    }

    async fn set(&self, hash: &str, query: &str) {
        let _ = self
            .redis_command(
                redis::cmd("SET")
                    .arg(format!("{}{hash}", self.prefix))
                    .arg(query)
                    .arg("EX")
                    .arg(TTL_SECONDS),
            )
            .await;
        let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        local.insert(hash, query);
    }

    async fn redis_command(&self, cmd: &mut redis::Cmd) -> Option<redis::Value> {
        // A clone of the manager shares its one connection; no lock is held across the call.
        let mut conn = self.redis.clone()?;
        match tokio::time::timeout(REDIS_TIMEOUT, cmd.query_async::<redis::Value>(&mut conn)).await
        {
            Ok(Ok(value)) => Some(value),
            _ => None,
        }
    }

    /// Bytes of query text held in this process.
    pub fn local_bytes(&self) -> usize {
        self.local.lock().unwrap_or_else(|e| e.into_inner()).bytes
    }
}

impl Local {
    /// Stores a query, first dropping the older half while the store is over its count or
    /// byte budget.
    fn insert(&mut self, hash: &str, query: &str) {
        self.clock += 1;
        while !self.map.is_empty()
            && (self.map.len() >= LOCAL_CAPACITY || self.bytes + query.len() > LOCAL_MAX_BYTES)
        {
            let mut ages: Vec<u64> = self.map.values().map(|(at, _)| *at).collect();
            ages.sort_unstable();
            let cutoff = ages[ages.len() / 2];
            self.map.retain(|_, (at, _)| *at > cutoff);
            self.bytes = self.map.values().map(|(_, q)| q.len()).sum();
        }
        if let Some((_, old)) = self
            .map
            .insert(hash.to_string(), (self.clock, query.to_string()))
        {
            self.bytes -= old.len();
        }
        self.bytes += query.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_hash(query: &str, hash: &str) -> async_graphql::Request {
        let mut r = async_graphql::Request::new(query);
        let ext: Value =
            serde_json::from_value(serde_json::json!({ "version": 1, "sha256Hash": hash }))
                .unwrap();
        r.extensions.insert("persistedQuery".into(), ext);
        r
    }

    #[tokio::test]
    async fn a_hash_works_once_its_query_was_sent_and_wrong_hashes_are_refused() {
        let apq = PersistedQueries::new(None, "test", 1024);
        let rate = RateLimiter::new(None, "test", &[]);
        let ip = std::net::IpAddr::from([127, 0, 0, 1]);
        let query = "{ me { id } }";
        let hash = hex::encode(Sha256::digest(query.as_bytes()));
        let mut unknown = with_hash("", &hash);
        assert_eq!(
            apq.resolve(&mut unknown, ip, &rate).await,
            Err(ApqError(NOT_FOUND.into()))
        );
        apq.resolve(&mut with_hash(query, &hash), ip, &rate)
            .await
            .unwrap();
        let mut known = with_hash("", &hash);
        apq.resolve(&mut known, ip, &rate).await.unwrap();
        assert_eq!(known.query, query);
        assert!(
            apq.resolve(&mut with_hash("{ other }", &hash), ip, &rate)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn large_documents_run_unstored_and_memory_stays_within_its_byte_budget() {
        let apq = PersistedQueries::new(None, "test", 1024);
        let rate = RateLimiter::new(None, "test", &[]);
        let ip = std::net::IpAddr::from([127, 0, 0, 1]);
        let big = format!("{{ me {{ id }} }} # {}", "x".repeat(2000));
        let hash = hex::encode(Sha256::digest(big.as_bytes()));
        apq.resolve(&mut with_hash(&big, &hash), ip, &rate)
            .await
            .unwrap();
        assert_eq!(apq.local_bytes(), 0);
        assert_eq!(
            apq.resolve(&mut with_hash("", &hash), ip, &rate).await,
            Err(ApqError(NOT_FOUND.into()))
        );
        let mut local = Local::default();
        let chunk = "y".repeat(1024 * 1024);
        for i in 0..40 {
            local.insert(&format!("h{i}"), &chunk);
            assert!(local.bytes <= LOCAL_MAX_BYTES, "{} bytes", local.bytes);
        }
        assert_eq!(
            local.bytes,
            local.map.values().map(|(_, q)| q.len()).sum::<usize>()
        );
    }

    #[tokio::test]
    async fn each_address_stores_only_its_budget_of_new_documents() {
        let apq = PersistedQueries::new(None, "test", 1024);
        let rate = RateLimiter::new(None, "test", &[(Limit::PersistedQueries, 2)]);
        let ip = std::net::IpAddr::from([10, 0, 0, 1]);
        let other = std::net::IpAddr::from([10, 0, 0, 2]);
        let mut stored = 0;
        for (i, client) in [ip, ip, ip, other].into_iter().enumerate() {
            let q = format!("{{ me {{ id }} }} # {i}");
            let hash = hex::encode(Sha256::digest(q.as_bytes()));
            apq.resolve(&mut with_hash(&q, &hash), client, &rate)
                .await
                .unwrap();
            if apq
                .resolve(&mut with_hash("", &hash), client, &rate)
                .await
                .is_ok()
            {
                stored += 1;
            }
        }
        assert_eq!(stored, 3, "two from the first address, one from the other");
    }
}
