//! `analytics` (issue 16): one published event with N sold tickets, then the organizer's
//! `analytics(filter: { eventId })` with every field, timed M times.
//!
//! Paying 100,000 times through the API would take most of an hour, so the sales come two ways:
//! a few hundred real reserve → pay (WALLET) purchases through the API (some then cancelled and
//! refunded), and a bulk insert straight into the server's database (`--database-url`, through
//! the `sqlite3` or `psql` command-line tool, one transaction) of rows in the shape the wallet
//! payment path writes: a CONFIRMED reservation, its SUCCEEDED WALLET PAYMENT transaction, the
//! wallet debit and its ledger entry, one VALID ticket per seat, and the ticket type's
//! `available` counter lowered by the same conditional UPDATE as a hold. The bulk buyers' money
//! comes from real API top-ups. The bulk sales are spread over the last `--spread-hours` hours so
//! `salesOverTime(bucket: HOUR)` has buckets to fill. Not written for bulk rows: the
//! notification, the audit entry and the organizer's transaction report of each payment (none of
//! which `analytics` reads). On PostgreSQL the touched tables are then ANALYZEd, as autovacuum
//! would within a minute.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use futures::{StreamExt, stream};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::checkout::{PAY, RESERVE};
use crate::client::{Api, i64_at, str_at};
use crate::setup::{self, Account, TOP_UP_CENTS};
use crate::stats::{histogram, round2};
use crate::{Cli, Outcome, json_head};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Tickets put onto the event by the bulk insert.
    #[arg(long, default_value_t = 100_000)]
    pub tickets: i64,
    /// Real reserve → pay purchases through the API (one ticket each), on top of the bulk.
    #[arg(long, default_value_t = 300)]
    pub api_purchases: usize,
    /// How many of the API purchases are then cancelled (refunded in full).
    #[arg(long, default_value_t = 20)]
    pub api_cancels: usize,
    /// How many times `analytics` is timed.
    #[arg(long, default_value_t = 20)]
    pub queries: usize,
    /// The server's database, which the bulk insert writes to (`sqlite://…` or `postgres://…`).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://evenntify.db?mode=rwc"
    )]
    pub database_url: String,
    /// Bulk sales are spread evenly over this many hours before now.
    #[arg(long, default_value_t = 48)]
    pub spread_hours: i64,
    /// Accounts that own the bulk reservations.
    #[arg(long, default_value_t = 20)]
    pub bulk_buyers: usize,
    /// Accounts that make the API purchases.
    #[arg(long, default_value_t = 10)]
    pub api_buyers: usize,
}

/// Ticket type prices, in cents (one ticket type each).
const PRICES: [i64; 4] = [500, 1_000, 1_500, 2_500];

const ME: &str = "query { me { id } wallet { balanceCents } }";
const CANCEL: &str = "mutation($id: ID!) { cancelReservation(id: $id) { id status } }";
const ANALYTICS: &str = r#"query($id: ID!) {
  analytics(filter: { eventId: $id }) {
    revenueCents refundedCents feesKeptCents ticketsSold ticketsCancelled
    cancellationRate occupancy checkInRate averageRating
    salesOverTime(bucket: HOUR) { start ticketsSold revenueCents }
    byTicketType { ticketType { id name } ticketsSold revenueCents }
    topEvents { event { id title } ticketsSold revenueCents }
  }
}"#;

/// One bulk reservation.
struct Planned {
    ticket_type: usize,
    quantity: i64,
    buyer: usize,
    at: DateTime<Utc>,
}

/// Reservations of 1–4 tickets totalling exactly `tickets`, round-robin over types and buyers.
fn plan(tickets: i64, buyers: usize, start: DateTime<Utc>, span: Duration) -> Vec<Planned> {
    let mut out = Vec::new();
    let mut left = tickets;
    let mut i = 0usize;
    while left > 0 {
        let quantity = (1 + (i % 4) as i64).min(left);
        out.push(Planned {
            ticket_type: (i / 4) % PRICES.len(),
            quantity,
            buyer: i % buyers.max(1),
            at: start,
        });
        left -= quantity;
        i += 1;
    }
    let n = out.len() as u128;
    for (k, p) in out.iter_mut().enumerate() {
        let offset = span.as_micros() * k as u128 / n.max(1);
        p.at = start + chrono::Duration::microseconds(offset as i64);
    }
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
}

fn backend_of(url: &str) -> anyhow::Result<Backend> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        anyhow::bail!("--database-url must be sqlite://… or postgres://…")
    }
}

/// The file of a `sqlite://path?options` URL.
fn sqlite_path(url: &str) -> String {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    rest.split('?').next().unwrap_or(rest).to_string()
}

/// A UUID literal as the server stores it: 16 bytes on SQLite (sqlx), `uuid` on PostgreSQL.
fn uuid_lit(b: Backend, id: Uuid) -> String {
    match b {
        Backend::Sqlite => format!("X'{}'", id.simple()),
        Backend::Postgres => format!("'{id}'"),
    }
}

/// A timestamp as the server stores it (microseconds; RFC 3339 text on SQLite, as sqlx writes).
fn ts_lit(at: DateTime<Utc>) -> String {
    let micros = at.timestamp_micros();
    let at = DateTime::from_timestamp_micros(micros).unwrap_or(at);
    format!("'{}'", at.to_rfc3339_opts(SecondsFormat::AutoSi, false))
}

/// A v7 id whose time is `at` (ids sort like the rows' times, as the server's do).
fn id_at(at: DateTime<Utc>, ctx: &uuid::ContextV7) -> Uuid {
    let ts = uuid::Timestamp::from_unix(ctx, at.timestamp() as u64, at.timestamp_subsec_nanos());
    Uuid::new_v7(ts)
}

fn ticket_code(rng: &mut setup::Rng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..12)
        .map(|_| ALPHABET[rng.below(ALPHABET.len())] as char)
        .collect()
}

struct Buyer {
    id: Uuid,
    balance: i64,
}

async fn me(api: &Api, account: Account) -> anyhow::Result<Buyer> {
    let data = api
        .gql(Some(&account.token), ME, json!({}))
        .await
        .map_err(|e| anyhow::anyhow!("reading {}'s id: {e}", account.username))?;
    let id: Uuid = str_at(&data, "/me/id")
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .parse()?;
    let balance = i64_at(&data, "/wallet/balanceCents").map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Buyer { id, balance })
}

/// Multi-row INSERTs of `rows`, 500 rows per statement.
fn inserts(sql: &mut String, table: &str, columns: &str, rows: &[String]) {
    for chunk in rows.chunks(500) {
        let _ = writeln!(
            sql,
            "INSERT INTO {table} ({columns}) VALUES\n{};",
            chunk.join(",\n")
        );
    }
}

/// The bulk insert's SQL: one transaction.
#[allow(clippy::too_many_arguments)]
fn bulk_sql(
    b: Backend,
    run: &str,
    event_id: Uuid,
    types: &[Uuid],
    buyers: &[Buyer],
    planned: &[Planned],
    top_ups_at: DateTime<Utc>,
) -> String {
    let ctx = uuid::ContextV7::new();
    let mut rng = setup::Rng::new(u64::from_str_radix(run, 16).unwrap_or(7));
    let mut codes = HashSet::new();
    let mut balance: Vec<i64> = buyers.iter().map(|x| x.balance).collect();
    let mut spent = vec![0i64; buyers.len()];
    let mut sold = vec![0i64; types.len()];
    let (mut res, mut txs, mut ledger, mut tickets) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let hold = chrono::Duration::seconds(600);
    for (i, p) in planned.iter().enumerate() {
        let buyer = &buyers[p.buyer];
        let tt = types[p.ticket_type];
        let amount = PRICES[p.ticket_type] * p.quantity;
        let r_id = id_at(p.at, &ctx);
        let paid_at = p.at + chrono::Duration::milliseconds(800);
        let t_id = id_at(paid_at, &ctx);
        let user = uuid_lit(b, buyer.id);
        res.push(format!(
            "({}, {user}, {}, {}, {}, {amount}, 'CONFIRMED', {}, '{run}-r{i}', {}, {}, NULL)",
            uuid_lit(b, r_id),
            uuid_lit(b, event_id),
            uuid_lit(b, tt),
            p.quantity,
            ts_lit(p.at + hold),
            ts_lit(p.at),
            ts_lit(paid_at),
        ));
        txs.push(format!(
            "({}, {user}, {}, {}, 'PAYMENT', 'SUCCEEDED', 'WALLET', {amount}, NULL, '{run}-p{i}', '{run}-p{i}', NULL, {})",
            uuid_lit(b, t_id),
            uuid_lit(b, event_id),
            uuid_lit(b, r_id),
            ts_lit(paid_at),
        ));
        balance[p.buyer] -= amount;
        spent[p.buyer] += amount;
        ledger.push(format!(
            "({}, {user}, {}, {}, {}, {})",
            uuid_lit(b, id_at(paid_at, &ctx)),
            uuid_lit(b, t_id),
            -amount,
            balance[p.buyer],
            ts_lit(paid_at),
        ));
        for _ in 0..p.quantity {
            let code = loop {
                let c = ticket_code(&mut rng);
                if codes.insert(c.clone()) {
                    break c;
                }
            };
            tickets.push(format!(
                "({}, {}, {}, {}, {user}, '{code}', 'VALID', {}, NULL, NULL, 1, NULL, NULL)",
                uuid_lit(b, id_at(paid_at, &ctx)),
                uuid_lit(b, r_id),
                uuid_lit(b, event_id),
                uuid_lit(b, tt),
                ts_lit(paid_at),
            ));
        }
        sold[p.ticket_type] += p.quantity;
    }
    let mut sql = String::new();
    match b {
        Backend::Sqlite => {
            sql.push_str(".bail on\n.timeout 60000\nPRAGMA foreign_keys = ON;\nBEGIN IMMEDIATE;\n")
        }
        Backend::Postgres => sql.push_str("\\set ON_ERROR_STOP on\nBEGIN;\n"),
    }
    // The seats, as a hold takes them: the table's CHECK (available >= 0) refuses an oversell,
    // which fails the whole transaction.
    for (k, tt) in types.iter().enumerate() {
        let _ = writeln!(
            sql,
            "UPDATE ticket_types SET available = available - {n} WHERE id = {id};",
            n = sold[k],
            id = uuid_lit(b, *tt)
        );
    }
    // The bulk buyers' real top-ups are dated just before the first bulk sale, so each ledger
    // reads in time order.
    let ids: Vec<String> = buyers.iter().map(|x| uuid_lit(b, x.id)).collect();
    let ids = ids.join(", ");
    let _ = writeln!(
        sql,
        "UPDATE ledger_entries SET created_at = {at} WHERE transaction_id IN \
         (SELECT id FROM transactions WHERE kind = 'TOP_UP' AND user_id IN ({ids}));\n\
         UPDATE transactions SET created_at = {at} WHERE kind = 'TOP_UP' AND user_id IN ({ids});",
        at = ts_lit(top_ups_at)
    );
    for (k, buyer) in buyers.iter().enumerate() {
        if spent[k] > 0 {
            let _ = writeln!(
                sql,
                "UPDATE wallets SET balance_cents = balance_cents - {n}, updated_at = {at} \
                 WHERE user_id = {id};",
                n = spent[k],
                at = ts_lit(Utc::now()),
                id = uuid_lit(b, buyer.id)
            );
        }
    }
    inserts(
        &mut sql,
        "reservations",
        "id, user_id, event_id, ticket_type_id, quantity, amount_cents, status, expires_at, idempotency_key, created_at, updated_at, expiry_warned_at",
        &res,
    );
    inserts(
        &mut sql,
        "transactions",
        "id, user_id, event_id, reservation_id, kind, status, method, amount_cents, failure_reason, idempotency_key, success_key, gateway_charge_id, created_at",
        &txs,
    );
    inserts(
        &mut sql,
        "ledger_entries",
        "id, user_id, transaction_id, amount_cents, balance_after_cents, created_at",
        &ledger,
    );
    inserts(
        &mut sql,
        "tickets",
        "id, reservation_id, event_id, ticket_type_id, user_id, code, status, created_at, seat_id, holder_name, code_version, checked_in_at, checked_in_by",
        &tickets,
    );
    sql.push_str("COMMIT;\n");
    if b == Backend::Postgres {
        // What autovacuum would do within its next minute after 40,000-odd new rows: without
        // statistics the planner takes the new rows for a handful.
        sql.push_str("ANALYZE reservations, transactions, tickets, ledger_entries;\n");
    }
    sql
}

/// Runs `sql` through `sqlite3` or `psql`, failing on any error.
fn run_sql(b: Backend, url: &str, sql: &str) -> anyhow::Result<String> {
    let mut cmd = match b {
        Backend::Sqlite => {
            let mut c = Command::new("sqlite3");
            c.arg(sqlite_path(url));
            c
        }
        Backend::Postgres => {
            let mut c = Command::new("psql");
            c.args([url, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"]);
            c
        }
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| anyhow::anyhow!("starting {:?}: {e}", cmd.get_program()))?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(sql.as_bytes())?;
    let out = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(
        out.status.success() && !stderr.contains("Error") && !stderr.contains("ERROR"),
        "{:?} failed: {stderr}",
        cmd.get_program()
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn f64_at(v: &Value, p: &str) -> f64 {
    v.pointer(p).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

pub async fn run(cli: &Cli, a: &Args, timeout: Duration) -> anyhow::Result<Outcome> {
    anyhow::ensure!(
        a.tickets >= 0 && a.queries > 0,
        "--tickets ≥ 0 and --queries ≥ 1"
    );
    anyhow::ensure!(
        a.api_cancels <= a.api_purchases,
        "--api-cancels ≤ --api-purchases"
    );
    anyhow::ensure!(a.bulk_buyers > 0 && a.api_buyers > 0, "need buyers");
    let backend = backend_of(&a.database_url)?;
    let api = Api::new(&cli.url, 32, timeout)?;
    setup::wait_for_server(&api, Duration::from_secs(10)).await?;
    let run = setup::run_id();
    let started = Instant::now();
    eprintln!(
        "analytics: {} bulk ticket(s) + {} API purchase(s) ({} cancelled) on one event; {} quer(ies)",
        a.tickets, a.api_purchases, a.api_cancels, a.queries
    );

    // The plan comes first: the ticket types' capacities follow from it.
    let span = Duration::from_secs(a.spread_hours.max(0) as u64 * 3600);
    let first_sale = Utc::now() - chrono::Duration::from_std(span)? - chrono::Duration::minutes(5);
    let planned = plan(a.tickets, a.bulk_buyers, first_sale, span);
    let mut per_type = vec![0i64; PRICES.len()];
    let mut spend = vec![0i64; a.bulk_buyers];
    for p in &planned {
        per_type[p.ticket_type] += p.quantity;
        spend[p.buyer] += PRICES[p.ticket_type] * p.quantity;
    }

    // Organizer and event (through the API).
    let organizer = setup::register(&api, &format!("ab_org_{run}"), "ORGANIZER")
        .await
        .map_err(|e| anyhow::anyhow!("registering the organizer: {e}"))?;
    let ticket_types: Vec<Value> = PRICES
        .iter()
        .enumerate()
        .map(|(k, price)| {
            json!({ "name": format!("Tier {k}"), "priceCents": price,
                    "capacity": per_type[k] + a.api_purchases as i64 + 10 })
        })
        .collect();
    let input = json!({
        "title": format!("Analytics bench {run}"),
        "description": "Created by evenntify-bench analytics.",
        "venue": "Bench Hall",
        "startsAt": (Utc::now() + chrono::Duration::days(30)).to_rfc3339_opts(SecondsFormat::Secs, true),
        "ticketTypes": ticket_types,
    });
    let data = api
        .gql(
            Some(&organizer.token),
            "mutation($input: CreateEventInput!) { createEvent(input: $input) { id ticketTypes { id priceCents } } }",
            json!({ "input": input }),
        )
        .await
        .map_err(|e| anyhow::anyhow!("creating the event: {e}"))?;
    let event_id = str_at(&data, "/createEvent/id").map_err(|e| anyhow::anyhow!("{e}"))?;
    let types: Vec<String> = data
        .pointer("/createEvent/ticketTypes")
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .filter_map(|t| t["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    anyhow::ensure!(
        types.len() == PRICES.len(),
        "the event lacks its ticket types"
    );
    api.gql(
        Some(&organizer.token),
        "mutation($id: ID!) { publishEvent(id: $id) { id } }",
        json!({ "id": event_id }),
    )
    .await
    .map_err(|e| anyhow::anyhow!("publishing: {e}"))?;

    // Buyers, with real top-ups covering the bulk sales.
    let bulk_accounts =
        setup::register_many(&api, &format!("ab_bulk_{run}_"), a.bulk_buyers, "USER").await?;
    let api_accounts =
        setup::register_many(&api, &format!("ab_api_{run}_"), a.api_buyers, "USER").await?;
    let jobs: Vec<(usize, usize)> = spend
        .iter()
        .enumerate()
        .flat_map(|(k, s)| {
            (0..(*s + TOP_UP_CENTS - 1) / TOP_UP_CENTS).map(move |t| (k, t as usize))
        })
        .collect();
    let top_ups = jobs.len();
    let results: Vec<_> = stream::iter(jobs)
        .map(|(k, t)| {
            let api = &api;
            let acc = &bulk_accounts[k];
            let run = &run;
            async move { setup::top_up(api, acc, &format!("ab-topup-{run}-{k}-{t}")).await }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    for r in results {
        r.map_err(|e| anyhow::anyhow!("topping up: {e}"))?;
    }
    let api_per_buyer = a.api_purchases.div_ceil(a.api_buyers) as i64;
    let times = ((api_per_buyer * PRICES[PRICES.len() - 1]) + TOP_UP_CENTS - 1) / TOP_UP_CENTS;
    setup::top_up_all(&api, &api_accounts, &run, times.max(1) as usize).await?;
    let mut buyers = Vec::new();
    for acc in bulk_accounts {
        buyers.push(me(&api, acc).await?);
    }
    eprintln!(
        "  organizer, event, {} buyer(s) and {top_ups} bulk top-up(s) in {:.1} s",
        a.bulk_buyers + a.api_buyers,
        started.elapsed().as_secs_f64()
    );

    // The bulk insert.
    let event_uuid: Uuid = event_id.parse()?;
    let type_uuids: Vec<Uuid> = types.iter().map(|t| t.parse()).collect::<Result<_, _>>()?;
    let t0 = Instant::now();
    let sql = bulk_sql(
        backend,
        &run,
        event_uuid,
        &type_uuids,
        &buyers,
        &planned,
        first_sale - chrono::Duration::minutes(1),
    );
    let sql_bytes = sql.len();
    let db_url = a.database_url.clone();
    tokio::task::spawn_blocking(move || run_sql(backend, &db_url, &sql)).await??;
    let bulk_secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "  bulk insert: {} reservation(s), {} ticket(s) ({:.1} MB of SQL) in {bulk_secs:.1} s",
        planned.len(),
        a.tickets,
        sql_bytes as f64 / 1e6
    );

    // Real purchases through the API, then some cancellations.
    let t0 = Instant::now();
    let bought: Vec<Result<(usize, String, i64), String>> = stream::iter(0..a.api_purchases)
        .map(|i| {
            let api = &api;
            let acc = &api_accounts[i % api_accounts.len()];
            let tt = &types[i % types.len()];
            let run = &run;
            async move {
                let r = api
                    .gql(Some(&acc.token), RESERVE,
                        json!({ "input": { "ticketTypeId": tt, "quantity": 1, "idempotencyKey": format!("ab-r-{run}-{i}") } }))
                    .await
                    .map_err(|e| format!("reserve: {e}"))?;
                let rid = str_at(&r, "/reserve/id").map_err(|e| e.to_string())?;
                let amount = i64_at(&r, "/reserve/amountCents").map_err(|e| e.to_string())?;
                api.gql(Some(&acc.token), PAY,
                    json!({ "input": { "reservationId": rid, "method": "WALLET", "idempotencyKey": format!("ab-p-{run}-{i}") } }))
                    .await
                    .map_err(|e| format!("pay: {e}"))?;
                Ok((i, rid, amount))
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut paid = Vec::new();
    for b in bought {
        paid.push(b.map_err(|e| anyhow::anyhow!("API purchase: {e}"))?);
    }
    paid.sort();
    let mut refunded = 0i64;
    for (i, rid, amount) in paid.iter().take(a.api_cancels) {
        let acc = &api_accounts[i % api_accounts.len()];
        api.gql(Some(&acc.token), CANCEL, json!({ "id": rid }))
            .await
            .map_err(|e| anyhow::anyhow!("cancelReservation: {e}"))?;
        refunded += amount;
    }
    eprintln!(
        "  {} API purchase(s) and {} cancellation(s) in {:.1} s",
        paid.len(),
        a.api_cancels,
        t0.elapsed().as_secs_f64()
    );

    // The measurement.
    let mut h = histogram();
    let mut last = Value::Null;
    for _ in 0..a.queries {
        let t = Instant::now();
        let data = api
            .gql(Some(&organizer.token), ANALYTICS, json!({ "id": event_id }))
            .await
            .map_err(|e| anyhow::anyhow!("analytics: {e}"))?;
        h.record((t.elapsed().as_micros() as u64).max(1))?;
        last = data;
    }
    let ms = |v: u64| round2(v as f64 / 1000.0);
    let x = &last["analytics"];
    let expected_sold = a.tickets + paid.len() as i64;
    let expected_revenue: i64 = planned
        .iter()
        .map(|p| PRICES[p.ticket_type] * p.quantity)
        .sum::<i64>()
        + paid.iter().map(|p| p.2).sum::<i64>();
    let sold = x["ticketsSold"].as_i64().unwrap_or(-1);
    let revenue = x["revenueCents"].as_i64().unwrap_or(-1);
    let cancelled = x["ticketsCancelled"].as_i64().unwrap_or(-1);
    let buckets = x["salesOverTime"].as_array().map_or(0, Vec::len);
    let bucket_tickets: i64 = x["salesOverTime"].as_array().map_or(0, |v| {
        v.iter().filter_map(|b| b["ticketsSold"].as_i64()).sum()
    });

    println!();
    println!(
        "analytics over one event, {} quer(ies), as its organizer",
        a.queries
    );
    println!(
        "  latency p50 {} ms, p95 {} ms, max {} ms",
        ms(h.value_at_quantile(0.50)),
        ms(h.value_at_quantile(0.95)),
        ms(h.max())
    );
    println!(
        "  ticketsSold {sold} (expected {expected_sold}), revenueCents {revenue} (expected {expected_revenue}), \
         ticketsCancelled {cancelled}, refundedCents {}, feesKeptCents {}",
        x["refundedCents"], x["feesKeptCents"]
    );
    println!(
        "  cancellationRate {:.4}, occupancy {:.4}, checkInRate {:.4}, averageRating {}, \
         salesOverTime(HOUR) {buckets} bucket(s), byTicketType {} row(s), topEvents {} row(s)",
        f64_at(x, "/cancellationRate"),
        f64_at(x, "/occupancy"),
        f64_at(x, "/checkInRate"),
        x["averageRating"],
        x["byTicketType"].as_array().map_or(0, Vec::len),
        x["topEvents"].as_array().map_or(0, Vec::len),
    );

    let mut failed = Vec::new();
    if sold != expected_sold {
        failed.push(format!(
            "ticketsSold {sold} ≠ {expected_sold} inserted and bought"
        ));
    }
    if revenue != expected_revenue {
        failed.push(format!("revenueCents {revenue} ≠ {expected_revenue}"));
    }
    if cancelled != a.api_cancels as i64 {
        failed.push(format!("ticketsCancelled {cancelled} ≠ {}", a.api_cancels));
    }
    if x["refundedCents"].as_i64() != Some(refunded) {
        failed.push(format!("refundedCents {} ≠ {refunded}", x["refundedCents"]));
    }
    if bucket_tickets != expected_sold {
        failed.push(format!(
            "salesOverTime sums to {bucket_tickets} ≠ {expected_sold}"
        ));
    }

    let mut m = json_head(cli, "analytics", &run);
    m.insert(
        "backend".into(),
        if backend == Backend::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
        .into(),
    );
    m.insert("bulk_tickets".into(), a.tickets.into());
    m.insert("bulk_reservations".into(), planned.len().into());
    m.insert("bulk_insert_s".into(), round2(bulk_secs).into());
    m.insert("api_purchases".into(), paid.len().into());
    m.insert("api_cancels".into(), a.api_cancels.into());
    m.insert("queries".into(), a.queries.into());
    m.insert("p50_ms".into(), ms(h.value_at_quantile(0.50)).into());
    m.insert("p95_ms".into(), ms(h.value_at_quantile(0.95)).into());
    m.insert("max_ms".into(), ms(h.max()).into());
    m.insert("tickets_sold".into(), sold.into());
    m.insert("revenue_cents".into(), revenue.into());
    m.insert("tickets_cancelled".into(), cancelled.into());
    m.insert("hour_buckets".into(), buckets.into());
    m.insert("passed".into(), failed.is_empty().into());
    crate::stats::emit_json(&Value::Object(m));
    Ok(Outcome {
        unexpected_errors: 0,
        failed_check: (!failed.is_empty()).then(|| failed.join("; ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_sells_exactly_the_tickets_asked_for() {
        let p = plan(100_001, 20, Utc::now(), Duration::from_secs(3600));
        assert_eq!(p.iter().map(|r| r.quantity).sum::<i64>(), 100_001);
        assert!(p.iter().all(|r| (1..=4).contains(&r.quantity)));
        assert!(p.windows(2).all(|w| w[0].at <= w[1].at));
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(sqlite_path("sqlite:///tmp/a.db?mode=rwc"), "/tmp/a.db");
        assert_eq!(
            sqlite_path("sqlite://evenntify.db?mode=rwc"),
            "evenntify.db"
        );
    }
}
