//! Creating a run's own data through the API: accounts (registration is the login: it returns
//! an access token, so every virtual user pays for exactly one Argon2 hash), published events,
//! wallet top-ups. Names carry a per-run id so runs can repeat against the same server.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use serde_json::json;

use crate::client::{Api, ApiError, str_at};

pub const PASSWORD: &str = "bench-password-1";
/// Argon2 is bounded by the server (one hash per core); a few more in flight keep it busy.
pub const REGISTER_CONCURRENCY: usize = 8;
/// The largest top-up the server accepts by default (MAX_TOP_UP_CENTS).
pub const TOP_UP_CENTS: i64 = 1_000_000;

/// A short random id for this run: usernames, titles and idempotency keys carry it.
pub fn run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

#[derive(Clone, Debug)]
pub struct Account {
    pub username: String,
    pub token: String,
}

const REGISTER: &str =
    "mutation($input: RegisterInput!) { register(input: $input) { accessToken } }";

pub async fn register(api: &Api, username: &str, role: &str) -> Result<Account, ApiError> {
    let data = api
        .gql(
            None,
            REGISTER,
            json!({ "input": { "username": username, "password": PASSWORD, "role": role } }),
        )
        .await?;
    Ok(Account {
        username: username.to_string(),
        token: str_at(&data, "/register/accessToken")?,
    })
}

/// Registers `n` accounts `<prefix><i>` with bounded concurrency; returns them in order.
pub async fn register_many(
    api: &Api,
    prefix: &str,
    n: usize,
    role: &str,
) -> anyhow::Result<Vec<Account>> {
    let started = Instant::now();
    let accounts: Vec<Account> = stream::iter(0..n)
        .map(|i| {
            let username = format!("{prefix}{i}");
            async move { register(api, &username, role).await }
        })
        .buffered(REGISTER_CONCURRENCY)
        .try_collect()
        .await
        .map_err(|e| anyhow::anyhow!("registering {role} accounts: {e}"))?;
    eprintln!(
        "  registered {n} {role} account(s) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(accounts)
}

const TOP_UP: &str = "mutation($amount: Cents!, $key: String!) { topUpWallet(amountCents: $amount, idempotencyKey: $key, cardToken: \"tok_visa\") { balanceCents } }";

pub async fn top_up(api: &Api, account: &Account, key: &str) -> Result<(), ApiError> {
    api.gql(
        Some(&account.token),
        TOP_UP,
        json!({ "amount": TOP_UP_CENTS, "key": key }),
    )
    .await
    .map(|_| ())
}

/// Tops up every account `times` times (each call adds TOP_UP_CENTS).
pub async fn top_up_all(
    api: &Api,
    accounts: &[Account],
    run: &str,
    times: usize,
) -> anyhow::Result<()> {
    stream::iter(
        accounts
            .iter()
            .flat_map(|a| (0..times).map(move |t| (a, t))),
    )
    .map(|(a, t)| async move { top_up(api, a, &format!("topup-{run}-{}-{t}", a.username)).await })
    .buffer_unordered(16)
    .try_collect::<Vec<()>>()
    .await
    .map_err(|e| anyhow::anyhow!("topping up wallets: {e}"))?;
    Ok(())
}

const CREATE_EVENT: &str =
    "mutation($input: CreateEventInput!) { createEvent(input: $input) { id ticketTypes { id } } }";
const PUBLISH: &str = "mutation($id: ID!) { publishEvent(id: $id) { id status } }";

#[derive(Clone, Debug)]
pub struct CreatedEvent {
    pub id: String,
    pub ticket_types: Vec<String>,
}

/// Creates and publishes one event with `types` ticket types of `capacity` seats each.
pub async fn create_event(
    api: &Api,
    organizer: &Account,
    title: &str,
    types: usize,
    capacity: i64,
    price_cents: i64,
) -> Result<CreatedEvent, ApiError> {
    let starts_at = (chrono::Utc::now() + chrono::Duration::days(90))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let ticket_types: Vec<_> = (0..types)
        .map(|i| json!({ "name": format!("Tier {i}"), "priceCents": price_cents, "capacity": capacity }))
        .collect();
    let input = json!({
        "title": title,
        "description": "Created by evenntify-bench.",
        "venue": "Bench Hall",
        "startsAt": starts_at,
        "ticketTypes": ticket_types,
    });
    let data = api
        .gql(
            Some(&organizer.token),
            CREATE_EVENT,
            json!({ "input": input }),
        )
        .await?;
    let id = str_at(&data, "/createEvent/id")?;
    let ticket_types = data
        .pointer("/createEvent/ticketTypes")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|t| t.get("id").and_then(|v| v.as_str()).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    api.gql(Some(&organizer.token), PUBLISH, json!({ "id": id }))
        .await?;
    Ok(CreatedEvent { id, ticket_types })
}

/// Creates `n` events concurrently (bounded).
pub async fn create_events(
    api: &Api,
    organizer: &Account,
    title_prefix: &str,
    n: usize,
    types: usize,
    capacity: i64,
    price_cents: i64,
) -> anyhow::Result<Vec<CreatedEvent>> {
    let started = Instant::now();
    let events: Vec<CreatedEvent> = stream::iter(0..n)
        .map(|i| {
            let title = format!("{title_prefix} {i}");
            async move { create_event(api, organizer, &title, types, capacity, price_cents).await }
        })
        .buffered(8)
        .try_collect()
        .await
        .map_err(|e| anyhow::anyhow!("creating events: {e}"))?;
    eprintln!(
        "  created and published {n} event(s) with {types} ticket type(s) each in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(events)
}

/// Waits until the server answers /healthz (up to `wait`).
pub async fn wait_for_server(api: &Api, wait: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + wait;
    loop {
        if api.get_ok("/healthz").await {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the server at {} did not answer /healthz",
            api.graphql_url
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A tiny per-task PRNG (xorshift64*): no shared state, no locking.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}
