//! Rate limits: fixed one-minute windows counted in Redis when it is configured (so every
//! instance shares the count) and in this process otherwise. If Redis fails, the count falls back
//! to this process rather than letting everything through or refusing everyone.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{AppError, AppResult};

const WINDOW: Duration = Duration::from_secs(60);

/// What is being limited; each has its own budget per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Login attempts for one username.
    LoginUser,
    /// Login attempts from one client address.
    LoginIp,
    /// Mutations by one user.
    Mutations,
    /// Accounts registered from one client address.
    Registrations,
}

impl Limit {
    pub fn name(self) -> &'static str {
        match self {
            Limit::LoginUser => "login_username",
            Limit::LoginIp => "login_ip",
            Limit::Mutations => "mutations",
            Limit::Registrations => "registrations",
        }
    }
}

pub struct RateLimiter {
    redis: Option<redis::Client>,
    /// Keeps deployments that share one Redis apart.
    deployment: String,
    connection: tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
    local: Mutex<HashMap<(Limit, String), (u64, u64)>>,
    budgets: Vec<(Limit, u64)>,
}

fn window_now() -> (u64, u64) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let window = secs / WINDOW.as_secs();
    let retry_after = (window + 1) * WINDOW.as_secs() - secs;
    (window, retry_after.max(1))
}

impl RateLimiter {
    /// `budgets`: hits allowed per minute for each limit (a limit not listed is unlimited).
    pub fn new(redis: Option<redis::Client>, deployment: &str, budgets: &[(Limit, u64)]) -> Self {
        RateLimiter {
            redis,
            deployment: deployment.to_string(),
            connection: tokio::sync::Mutex::new(None),
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

    /// Counts one hit for `key`; `RATE_LIMITED` (with `retryAfterSeconds`) once the window's
    /// budget is spent.
    pub async fn hit(&self, limit: Limit, key: &str) -> AppResult<()> {
        let budget = self.budget(limit);
        let (window, retry_after) = window_now();
        let count = match self.count_in_redis(limit, key, window).await {
            Some(n) => n,
            None => self.count_locally(limit, key, window),
        };
        if count > budget {
            return Err(AppError::RateLimited {
                message: format!(
                    "too many {} in a minute (limit {budget}); retry in {retry_after} s",
                    match limit {
                        Limit::LoginUser => "login attempts for this username",
                        Limit::LoginIp => "login attempts from this address",
                        Limit::Mutations => "changes",
                        Limit::Registrations => "registrations from this address",
                    }
                ),
                retry_after_seconds: retry_after,
            });
        }
        Ok(())
    }

    async fn count_in_redis(&self, limit: Limit, key: &str, window: u64) -> Option<u64> {
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
        let redis_key = format!(
            "evenntify:{}:rl:{}:{key}:{window}",
            self.deployment,
            limit.name()
        );
        let counted = tokio::time::timeout(
            Duration::from_millis(500),
            redis::pipe()
                .atomic()
                .incr(&redis_key, 1)
                .expire(&redis_key, 120)
                .ignore()
                .query_async::<(u64,)>(conn),
        )
        .await;
        match counted {
            Ok(Ok((n,))) => Some(n),
            _ => {
                *guard = None;
                None
            }
        }
    }

    fn count_locally(&self, limit: Limit, key: &str, window: u64) -> u64 {
        let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        if local.len() > 100_000 {
            local.retain(|_, (w, _)| *w == window);
        }
        let entry = local.entry((limit, key.to_string())).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 += 1;
        entry.1
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
}
