//! Automatic persisted queries (Apollo's APQ protocol): a client sends the SHA-256 of a query
//! instead of its text; the first time the server answers `PersistedQueryNotFound`, the client
//! sends text and hash together, and from then on the hash alone works, on every instance when
//! Redis is configured (in this process's memory otherwise).
//!
//! Resolved in the transport, before the "GET runs queries only" check, so a hash cannot smuggle
//! a mutation through GET.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_graphql::Value;
use sha2::{Digest, Sha256};

/// Queries kept in memory without Redis; past this the oldest half is dropped.
const LOCAL_CAPACITY: usize = 10_000;
/// How long Redis keeps a persisted query.
const TTL_SECONDS: u64 = 7 * 24 * 3600;
const NOT_FOUND: &str = "PersistedQueryNotFound";

pub struct PersistedQueries {
    redis: Option<redis::Client>,
    /// `evenntify:<deployment>:apq:`: each deployment keeps its own.
    prefix: String,
    connection: tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
    local: Mutex<Local>,
}

/// A logical clock and, per hash, when it was stored and the query.
type Local = (u64, HashMap<String, (u64, String)>);

/// Why a persisted query could not be used; the message is what Apollo clients look for.
#[derive(Debug, PartialEq, Eq)]
pub struct ApqError(pub String);

impl PersistedQueries {
    pub fn new(redis: Option<redis::Client>, deployment: &str) -> Self {
        PersistedQueries {
            prefix: format!("evenntify:{deployment}:apq:"),
            redis,
            connection: tokio::sync::Mutex::new(None),
            local: Mutex::new((0, HashMap::new())),
        }
    }

    /// Fills in `request.query` from the hash, or stores the query under its hash.
    pub async fn resolve(&self, request: &mut async_graphql::Request) -> Result<(), ApqError> {
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
            self.set(&hash, &request.query).await;
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
        local.1.get(hash).map(|(_, q)| q.clone())
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
        let (clock, map) = &mut *local;
        *clock += 1;
        if map.len() >= LOCAL_CAPACITY {
            let mut ages: Vec<u64> = map.values().map(|(at, _)| *at).collect();
            ages.sort_unstable();
            let cutoff = ages[ages.len() / 2];
            map.retain(|_, (at, _)| *at > cutoff);
        }
        map.insert(hash.to_string(), (*clock, query.to_string()));
    }

    async fn redis_command(&self, cmd: &mut redis::Cmd) -> Option<redis::Value> {
        let client = self.redis.as_ref()?;
        let mut guard = self.connection.lock().await;
        if guard.is_none() {
            let conn = tokio::time::timeout(
                Duration::from_millis(500),
                client.get_multiplexed_async_connection(),
            )
            .await;
            *guard = Some(conn.ok()?.ok()?);
        }
        let conn = guard.as_mut()?;
        match tokio::time::timeout(
            Duration::from_millis(500),
            cmd.query_async::<redis::Value>(conn),
        )
        .await
        {
            Ok(Ok(value)) => Some(value),
            _ => {
                *guard = None;
                None
            }
        }
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
        let apq = PersistedQueries::new(None, "test");
        let query = "{ me { id } }";
        let hash = hex::encode(Sha256::digest(query.as_bytes()));
        let mut unknown = with_hash("", &hash);
        assert_eq!(
            apq.resolve(&mut unknown).await,
            Err(ApqError(NOT_FOUND.into()))
        );
        apq.resolve(&mut with_hash(query, &hash)).await.unwrap();
        let mut known = with_hash("", &hash);
        apq.resolve(&mut known).await.unwrap();
        assert_eq!(known.query, query);
        assert!(
            apq.resolve(&mut with_hash("{ other }", &hash))
                .await
                .is_err()
        );
    }
}
