//! Rate limits: windows counted in Redis when it is configured (so every instance shares the
//! count) and in this process otherwise. If Redis fails, the count falls back to this process
//! rather than letting everything through or refusing everyone. A key's window opens with its
//! first hit and lasts a minute (or an hour): a burst is never split by a clock boundary, so a
//! budget of N allows exactly N in any burst shorter than the window.
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
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

use crate::error::{AppError, AppResult};

/// Keys counted in this process before old ones are swept out.
const LOCAL_MAX_KEYS: usize = 100_000;

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
    /// Password-reset requests from one client address, per minute.
    PasswordResetIp,
    /// Password-reset messages for one account, per hour.
    PasswordResetAccount,
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
            Limit::PasswordResetIp => "password_reset_ip",
            Limit::PasswordResetAccount => "password_reset_account",
        }
    }

    fn window(self) -> Duration {
        match self {
            Limit::LoginUserGlobal | Limit::PasswordResetAccount => Duration::from_secs(3600),
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
            Limit::PasswordResetIp => "password-reset requests from this address",
            Limit::PasswordResetAccount => "password-reset messages for this account",
        }
    }
}

pub struct RateLimiter {
    redis: Option<ConnectionManager>,
    /// Keeps deployments that share one Redis apart.
    deployment: String,
    /// Per key: when its window opened and the hits in it.
    local: Mutex<HashMap<(Limit, String), (Instant, u64)>>,
    /// When the local map was last swept.
    last_sweep: Mutex<Option<Instant>>,
    budgets: Vec<(Limit, u64)>,
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
            last_sweep: Mutex::new(None),
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
        let (count, retry_after) = self.increment(limit, key).await;
        if count > self.budget(limit) {
            return Err(self.refusal(limit, retry_after));
        }
        Ok(())
    }

    /// `RATE_LIMITED` if the window's budget for `key` is already spent; counts nothing. With
    /// `record`, this lets a limit count only failures: check before, record after.
    pub async fn check(&self, limit: Limit, key: &str) -> AppResult<()> {
        let (count, retry_after) = match self.read_in_redis(limit, key).await {
            Some(found) => found,
            None => self.read_locally(limit, key),
        };
        if count >= self.budget(limit) {
            return Err(self.refusal(limit, retry_after));
        }
        Ok(())
    }

    /// Counts one hit for `key` without judging it.
    pub async fn record(&self, limit: Limit, key: &str) {
        self.increment(limit, key).await;
    }

    /// The count after this hit and the seconds until the key's window closes.
    async fn increment(&self, limit: Limit, key: &str) -> (u64, u64) {
        match self.count_in_redis(limit, key).await {
            Some(found) => found,
            None => self.count_locally(limit, key),
        }
    }

    fn redis_key(&self, limit: Limit, key: &str) -> String {
        format!("evenntify:{}:rl:{}:{key}", self.deployment, limit.name())
    }

    async fn count_in_redis(&self, limit: Limit, key: &str) -> Option<(u64, u64)> {
        // A clone of the manager shares its one connection; no lock is held across the call.
        let mut conn = self.redis.clone()?;
        let redis_key = self.redis_key(limit, key);
        let window = limit.window().as_secs();
        // The first hit opens the window: `SET … NX EX` creates the key with its time to live
        // only when it does not exist yet (Redis 2.6.12 and later), then `INCR` counts.
        let counted = tokio::time::timeout(
            REDIS_TIMEOUT,
            redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(&redis_key)
                .arg(0)
                .arg("EX")
                .arg(window)
                .arg("NX")
                .ignore()
                .incr(&redis_key, 1)
                .cmd("TTL")
                .arg(&redis_key)
                .query_async::<(u64, i64)>(&mut conn),
        )
        .await;
        match counted {
            Ok(Ok((n, ttl))) => Some((n, ttl.clamp(1, window as i64) as u64)),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "counting a rate limit in Redis failed; this instance counts alone meanwhile");
                None
            }
            Err(_) => None,
        }
    }

    async fn read_in_redis(&self, limit: Limit, key: &str) -> Option<(u64, u64)> {
        let mut conn = self.redis.clone()?;
        let redis_key = self.redis_key(limit, key);
        let read = tokio::time::timeout(
            REDIS_TIMEOUT,
            redis::pipe()
                .get(&redis_key)
                .cmd("TTL")
                .arg(&redis_key)
                .query_async::<(Option<u64>, i64)>(&mut conn),
        )
        .await;
        match read {
            Ok(Ok((n, ttl))) => Some((n.unwrap_or(0), ttl.max(1) as u64)),
            _ => None,
        }
    }

    fn count_locally(&self, limit: Limit, key: &str) -> (u64, u64) {
        let now = Instant::now();
        let window = limit.window();
        let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        if local.len() > LOCAL_MAX_KEYS {
            self.sweep(&mut local, now);
        }
        let entry = local.entry((limit, key.to_string())).or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        entry.1 += 1;
        (entry.1, seconds_left(entry.0, window, now))
    }

    fn read_locally(&self, limit: Limit, key: &str) -> (u64, u64) {
        let now = Instant::now();
        let window = limit.window();
        let local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        match local.get(&(limit, key.to_string())) {
            Some((opened, n)) if now.duration_since(*opened) < window => {
                (*n, seconds_left(*opened, window, now))
            }
            _ => (0, 1),
        }
    }
}

impl RateLimiter {
    /// Drops the keys whose window has closed, at most once a second (a sweep is a scan of the
    /// whole map); if the map is still too large, forgets the oldest half, so memory stays bounded
    /// even under a flood of fresh keys (a forgotten key only starts its window anew).
    fn sweep(&self, local: &mut HashMap<(Limit, String), (Instant, u64)>, now: Instant) {
        let mut last = self.last_sweep.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| now.duration_since(at) < Duration::from_secs(1))
            && local.len() <= 2 * LOCAL_MAX_KEYS
        {
            return;
        }
        *last = Some(now);
        local.retain(|(l, _), (opened, _)| now.duration_since(*opened) < l.window());
        if local.len() > LOCAL_MAX_KEYS {
            let mut opened: Vec<Instant> = local.values().map(|(at, _)| *at).collect();
            opened.sort_unstable();
            let cutoff = opened[opened.len() / 2];
            local.retain(|_, (at, _)| *at > cutoff);
        }
    }
}

/// Whole seconds until a window opened at `opened` closes, at least 1.
fn seconds_left(opened: Instant, window: Duration, now: Instant) -> u64 {
    window
        .saturating_sub(now.duration_since(opened))
        .as_secs_f64()
        .ceil()
        .max(1.0) as u64
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
    async fn a_flood_of_fresh_keys_keeps_the_local_map_bounded() {
        let limiter = RateLimiter::new(None, "test", &[(Limit::LoginIp, 5)]);
        for i in 0..(LOCAL_MAX_KEYS * 2 + 10) {
            limiter.hit(Limit::LoginIp, &format!("k{i}")).await.unwrap();
        }
        let len = limiter.local.lock().unwrap().len();
        assert!(len <= 2 * LOCAL_MAX_KEYS + 1, "{len} keys");
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
