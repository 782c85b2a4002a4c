//! `checkout`: V virtual users, each registered (= logged in) once, looping reserve → pay
//! (wallet) as fast as the server answers, on ticket types picked at random among 1,000 (100
//! events × 10 ticket types by default), so seat counters are not contended.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::{Api, str_at};
use crate::setup::{self, Account, Rng};
use crate::stats::{Recorder, emit_json, round2};
use crate::{Cli, Outcome, json_head};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Virtual users (concurrent loops).
    #[arg(long, default_value_t = 20)]
    pub users: usize,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// Ticket types to spread the purchases over.
    #[arg(long, default_value_t = 1000)]
    pub ticket_types: usize,
    /// Ticket types per event (the server allows up to 20).
    #[arg(long, default_value_t = 10)]
    pub types_per_event: usize,
    /// Price of one ticket, in cents.
    #[arg(long, default_value_t = 100)]
    pub price_cents: i64,
}

pub const RESERVE: &str = r#"mutation Reserve($input: ReserveInput!) {
  reserve(input: $input) { id status quantity amountCents expiresAt }
}"#;

pub const PAY: &str = r#"mutation Pay($input: PayInput!) {
  pay(input: $input) {
    reservation { id status tickets { id code } }
    transaction { id kind status amountCents }
  }
}"#;

/// One reserve → pay. Records `reserve`, `pay` and, when both succeeded, `checkout`. Returns the
/// payment's transaction id, when the reserve was sent and when the pay response arrived.
pub async fn checkout_once(
    api: &Api,
    recorder: &Recorder,
    user: &Account,
    ticket_type: &str,
    key: &str,
) -> Option<(String, Instant, Instant)> {
    let t0 = Instant::now();
    let reserved = api
        .gql(
            Some(&user.token),
            RESERVE,
            json!({ "input": { "ticketTypeId": ticket_type, "quantity": 1, "idempotencyKey": format!("r-{key}") } }),
        )
        .await;
    recorder.record("reserve", t0.elapsed(), reserved.is_ok());
    let reservation = match reserved.and_then(|d| str_at(&d, "/reserve/id")) {
        Ok(id) => id,
        Err(e) => {
            recorder.error(&e.code, &e.message);
            return None;
        }
    };
    let t1 = Instant::now();
    let paid = api
        .gql(
            Some(&user.token),
            PAY,
            json!({ "input": { "reservationId": reservation, "idempotencyKey": format!("p-{key}"), "method": "WALLET" } }),
        )
        .await;
    let end = Instant::now();
    recorder.record("pay", end - t1, paid.is_ok());
    match paid.and_then(|d| str_at(&d, "/pay/transaction/id")) {
        Ok(t) => {
            recorder.record("checkout", end - t0, true);
            Some((t, t0, end))
        }
        Err(e) => {
            if e.code == "INSUFFICIENT_FUNDS" {
                let _ = setup::top_up(api, user, &format!("refill-{key}")).await;
            }
            recorder.error(&e.code, &e.message);
            None
        }
    }
}

pub async fn run(cli: &Cli, args: &Args, timeout: Duration) -> anyhow::Result<Outcome> {
    let api = Api::new(&cli.url, args.users + 16, timeout)?;
    setup::wait_for_server(&api, Duration::from_secs(30)).await?;
    let run = setup::run_id();
    eprintln!(
        "checkout: run {run}, {} user(s), {} ticket type(s)",
        args.users, args.ticket_types
    );
    let organizer = setup::register(&api, &format!("b{run}org"), "ORGANIZER").await?;
    let per_event = args.types_per_event.clamp(1, 20);
    let n_events = args.ticket_types.div_ceil(per_event);
    let events = setup::create_events(
        &api,
        &organizer,
        &format!("Bench checkout {run}"),
        n_events,
        per_event,
        1_000_000,
        args.price_cents,
    )
    .await?;
    let ticket_types: Arc<Vec<String>> = Arc::new(
        events
            .iter()
            .flat_map(|e| e.ticket_types.iter().cloned())
            .take(args.ticket_types)
            .collect(),
    );
    let users = setup::register_many(&api, &format!("b{run}u"), args.users, "USER").await?;
    setup::top_up_all(&api, &users, &run, 1).await?;

    let recorder = Arc::new(Recorder::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (u, user) in users.into_iter().enumerate() {
        let api = api.clone();
        let recorder = recorder.clone();
        let stop = stop.clone();
        let ticket_types = ticket_types.clone();
        let run = run.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(u as u64 + 7);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let tt = &ticket_types[rng.below(ticket_types.len())];
                checkout_once(&api, &recorder, &user, tt, &format!("{run}-{u}-{n}")).await;
                n += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed();

    println!(
        "\n== checkout: {} users, {} ticket types, {:.1} s ==",
        args.users,
        ticket_types.len(),
        elapsed.as_secs_f64()
    );
    let (ops, errors) = recorder.report(elapsed);
    let done = recorder.ok_count("checkout");
    let rate = done as f64 / elapsed.as_secs_f64();
    println!("throughput: {rate:.1} checkouts/s ({done} paid reservations)");
    let mut line = json_head(cli, "checkout", &run);
    line.insert("users".into(), args.users.into());
    line.insert("ticket_types".into(), ticket_types.len().into());
    line.insert("duration_s".into(), round2(elapsed.as_secs_f64()).into());
    line.insert("checkouts".into(), done.into());
    line.insert("checkouts_per_s".into(), round2(rate).into());
    line.insert("ops".into(), ops);
    line.insert("errors".into(), errors);
    emit_json(&Value::Object(line));
    Ok(Outcome {
        unexpected_errors: recorder.unexpected_errors(&[]),
        failed_check: (done == 0).then(|| "no checkout succeeded".to_string()),
    })
}
