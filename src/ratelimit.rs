//! Rate limits: fixed windows counted in Redis when it is configured (so every instance shares
//! the count) and in this process otherwise. If Redis fails, the count falls back to this process
//! rather than letting everything through or refusing everyone.
//!
//! Logins are limited so that a stranger can neither guess passwords nor lock an owner out:
//! - attempts per client address (`LoginIp`), counted before the password is checked, cap
//!   password spraying across usernames and the Argon2 work an address can cause;
//! - failures per username *and* address (`LoginUser`) stop guessing one account from one place
//!   without touching the owner, who logs in from elsewhere;
//! - failures per username from everywhere (`LoginUserGlobal`, over an hour) stop a guessing
//!   attack spread over many addresses; addresses the owner has logged in from before are exempt
//!   from this one, so the owner still gets in during such an attack.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionManager;

use crate::error::{AppError, AppResult};

/// How long a Redis round trip may take before the count falls back to this process.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

/// What is being limited; each has its own budget per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Failed logins for one username from one client address, per minute.
    LoginUser,
    /// Failed logins for one username from any address, per hour.
    LoginUserGlobal,
    /// Login attempts from one client address, per minute.
    LoginIp,
    /// Mutations by one user, per minute.
    Mutations,
    /// Accounts registered from one client address, per minute.
    Registrations,
    /// New persisted queries stored for one client address, per minute.
    PersistedQueries,
}

impl Limit {
    pub fn name(self) -> &'static str {
        match self {
            Limit::LoginUser => "login_username",
            Limit::LoginUserGlobal => "login_username_global",
            Limit::LoginIp => "login_ip",
            Limit::Mutations => "mutations",
            Limit::Registrations => "registrations",
            Limit::PersistedQueries => "persisted_queries",
        }
    }

    fn window(self) -> Duration {
        match self {
            Limit::LoginUserGlobal => Duration::from_secs(3600),
            _ => Duration::from_secs(60),
        }
    }

    fn what(self) -> &'static str {
        match self {
            Limit::LoginUser => "failed logins for this username from this address",
            Limit::LoginUserGlobal => "failed logins for this username",
            Limit::LoginIp => "login attempts from this address",
            Limit::Mutations => "changes",
            Limit::Registrations => "registrations from this address",
            Limit::PersistedQueries => "new persisted queries from this address",
        }
    }
}

pub struct RateLimiter {
    redis: Option<ConnectionManager>,
    /// Keeps deployments that share one Redis apart.
    deployment: String,
    local: Mutex<HashMap<(Limit, String), (u64, u64)>>,
    budgets: Vec<(Limit, u64)>,
}

/// The current window of `limit` and the seconds until the next one.
fn window_now(limit: Limit) -> (u64, u64) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let length = limit.window().as_secs();
    let window = secs / length;
    let retry_after = (window + 1) * length - secs;
    (window, retry_after.max(1))
}

impl RateLimiter {
    /// `budgets`: hits allowed per window for each limit (a limit not listed is unlimited).
    pub fn new(
        redis: Option<ConnectionManager>,
        deployment: &str,
        budgets: &[(Limit, u64)],
    ) -> Self {
        RateLimiter {
            redis,
            deployment: deployment.to_string(),
            local: Mutex::new(HashMap::new()),
            budgets: budgets.to_vec(),
        }
    }

    fn budget(&self, limit: Limit) -> u64 {
        self.budgets
            .iter()
            .find(|(l, _)| *l == limit)
            .map_or(u64::MAX, |(_, b)| *b)
    }

    fn refusal(&self, limit: Limit, retry_after: u64) -> AppError {
        let budget = self.budget(limit);
        let per = if limit.window().as_secs() >= 3600 {
            "an hour"
        } else {
            "a minute"
        };
        AppError::RateLimited {
            message: format!(
                "too many {} in {per} (limit {budget}); retry in {retry_after} s",
                limit.what()
            ),
            retry_after_seconds: retry_after,
        }
    }

    /// Counts one hit for `key`; `RATE_LIMITED` (with `retryAfterSeconds`) once the window's
    /// budget is spent.
    pub async fn hit(&self, limit: Limit, key: &str) -> AppResult<()> {
        let (window, retry_after) = window_now(limit);
        let count = self.increment(limit, key, window).await;
        if count > self.budget(limit) {
            return Err(self.refusal(limit, retry_after));
        }
        Ok(())
    }

    /// `RATE_LIMITED` if the window's budget for `key` is already spent; counts nothing. With
    /// `record`, this lets a limit count only failures: check before, record after.
    pub async fn check(&self, limit: Limit, key: &str) -> AppResult<()> {
        let (window, retry_after) = window_now(limit);
        let count = match self.read_in_redis(limit, key, window).await {
            Some(n) => n,
            None => self.read_locally(limit, key, window),
        };
        if count >= self.budget(limit) {
            return Err(self.refusal(limit, retry_after));
        }
        Ok(())
    }

    /// Counts one hit for `key` without judging it.
    pub async fn record(&self, limit: Limit, key: &str) {
        let (window, _) = window_now(limit);
        self.increment(limit, key, window).await;
    }

    async fn increment(&self, limit: Limit, key: &str, window: u64) -> u64 {
        match self.count_in_redis(limit, key, window).await {
            Some(n) => n,
            None => self.count_locally(limit, key, window),
        }
    }

    fn redis_key(&self, limit: Limit, key: &str, window: u64) -> String {
        format!(
            "evenntify:{}:rl:{}:{key}:{window}",
            self.deployment,
            limit.name()
        )
    }

    async fn count_in_redis(&self, limit: Limit, key: &str, window: u64) -> Option<u64> {
        // A clone of the manager shares its one connection; no lock is held across the call.
        let mut conn = self.redis.clone()?;
        let redis_key = self.redis_key(limit, key, window);
        let counted = tokio::time::timeout(
            REDIS_TIMEOUT,
            redis::pipe()
                .atomic()
                .incr(&redis_key, 1)
                .expire(&redis_key, (limit.window().as_secs() * 2) as i64)
                .ignore()
                .query_async::<(u64,)>(&mut conn),
        )
        .await;
        match counted {
            Ok(Ok((n,))) => Some(n),
            _ => None,
        }
    }

    async fn read_in_redis(&self, limit: Limit, key: &str, window: u64) -> Option<u64> {
        let mut conn = self.redis.clone()?;
        let redis_key = self.redis_key(limit, key, window);
        let read = tokio::time::timeout(
            REDIS_TIMEOUT,
            redis::cmd("GET")
                .arg(&redis_key)
                .query_async::<Option<u64>>(&mut conn),
        )
        .await;
        match read {
            Ok(Ok(n)) => Some(n.unwrap_or(0)),
            _ => None,
        }
    }

    fn count_locally(&self, limit: Limit, key: &str, window: u64) -> u64 {
        let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        if local.len() > 100_000 {
            local.retain(|(l, _), (w, _)| *w == window_now(*l).0);
        }
        let entry = local.entry((limit, key.to_string())).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 += 1;
        entry.1
    }

    fn read_locally(&self, limit: Limit, key: &str, window: u64) -> u64 {
        let local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        match local.get(&(limit, key.to_string())) {
            Some((w, n)) if *w == window => *n,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_budget_plus_one_is_refused_with_a_retry_time() {
        let limiter = RateLimiter::new(
            None,
            "test",
            &[(Limit::LoginUser, 3), (Limit::LoginIp, 100)],
        );
        for _ in 0..3 {
            limiter.hit(Limit::LoginUser, "alice").await.unwrap();
        }
        match limiter.hit(Limit::LoginUser, "alice").await {
            Err(AppError::RateLimited {
                retry_after_seconds,
                ..
            }) => assert!((1..=60).contains(&retry_after_seconds)),
            other => panic!("expected RATE_LIMITED, got {other:?}"),
        }
        // Other keys and other limits have their own budgets.
        limiter.hit(Limit::LoginUser, "bob").await.unwrap();
        limiter.hit(Limit::LoginIp, "alice").await.unwrap();
    }

    #[tokio::test]
    async fn check_counts_nothing_and_refuses_once_records_reach_the_budget() {
        let limiter = RateLimiter::new(None, "test", &[(Limit::LoginUserGlobal, 2)]);
        limiter
            .check(Limit::LoginUserGlobal, "alice")
            .await
            .unwrap();
        limiter
            .check(Limit::LoginUserGlobal, "alice")
            .await
            .unwrap();
        limiter.record(Limit::LoginUserGlobal, "alice").await;
        limiter
            .check(Limit::LoginUserGlobal, "alice")
            .await
            .unwrap();
        limiter.record(Limit::LoginUserGlobal, "alice").await;
        match limiter.check(Limit::LoginUserGlobal, "alice").await {
            Err(AppError::RateLimited {
                retry_after_seconds,
                message,
            }) => {
                assert!((1..=3600).contains(&retry_after_seconds));
                assert!(message.contains("an hour"), "{message}");
            }
            other => panic!("expected RATE_LIMITED, got {other:?}"),
        }
    }
}
