//! `onsale`: B buyers race for the S seats of one ticket type (a hot row).
//!
//! Registering 10,000 accounts would cost 10,000 Argon2 hashes (minutes of CPU on 2 cores), so
//! the buyers are spread over `--users` accounts (500 by default): buyer i acts as account
//! i mod users and sends its own reserve with its own idempotency key. Every buyer is one request
//! in flight at most `--concurrency` at a time; a winner then pays from its wallet (unless
//! `--no-pay`). Afterwards the ticket type's `available` and the organizer's `eventReport` are
//! read back to prove that nothing was oversold.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use serde_json::{Value, json};

use crate::checkout::{PAY, RESERVE};
use crate::client::{Api, i64_at, str_at};
use crate::setup::{self, Account};
use crate::stats::{Recorder, emit_json, round2};
use crate::{Cli, Outcome, json_head};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Buyers (reserve attempts), each with its own idempotency key.
    #[arg(long, default_value_t = 10_000)]
    pub buyers: usize,
    /// Seats of the one ticket type.
    #[arg(long, default_value_t = 1000)]
    pub seats: i64,
    /// Distinct accounts the buyers are spread over.
    #[arg(long, default_value_t = 500)]
    pub users: usize,
    /// Buyers in flight at once (= HTTP connections).
    #[arg(long, default_value_t = 1000)]
    pub concurrency: usize,
    /// Only reserve; do not pay for the seats won.
    #[arg(long)]
    pub no_pay: bool,
}

const AVAILABLE: &str =
    "query($id: ID!) { event(id: $id) { ticketTypes { id capacity available } } }";
const REPORT: &str = "query($id: ID!) { eventReport(eventId: $id) { capacity ticketsSold ticketsHeld ticketsAvailable } }";

pub async fn run(cli: &Cli, args: &Args, timeout: Duration) -> anyhow::Result<Outcome> {
    let api = Api::new(&cli.url, args.concurrency + 16, timeout)?;
    setup::wait_for_server(&api, Duration::from_secs(30)).await?;
    let run = setup::run_id();
    eprintln!(
        "onsale: run {run}, {} buyers over {} account(s) for {} seats, {} in flight",
        args.buyers, args.users, args.seats, args.concurrency
    );
    let organizer = setup::register(&api, &format!("b{run}org"), "ORGANIZER").await?;
    let event = setup::create_event(
        &api,
        &organizer,
        &format!("Bench on-sale {run}"),
        1,
        args.seats,
        100,
    )
    .await?;
    let ticket_type = event.ticket_types[0].clone();
    let users = setup::register_many(&api, &format!("b{run}u"), args.users.max(1), "USER").await?;
    if !args.no_pay {
        setup::top_up_all(&api, &users, &run, 1).await?;
    }
    let users: Arc<Vec<Account>> = Arc::new(users);

    let recorder = Arc::new(Recorder::default());
    let won = Arc::new(AtomicU64::new(0));
    let paid = Arc::new(AtomicU64::new(0));
    let sold_out_at = Arc::new(AtomicU64::new(0));
    let last_paid_at = Arc::new(AtomicU64::new(0));
    let seats = args.seats as u64;
    let pay = !args.no_pay;
    let started = Instant::now();
    stream::iter(0..args.buyers)
        .map(|b| {
            let api = api.clone();
            let recorder = recorder.clone();
            let users = users.clone();
            let won = won.clone();
            let paid = paid.clone();
            let sold_out_at = sold_out_at.clone();
            let last_paid_at = last_paid_at.clone();
            let ticket_type = ticket_type.clone();
            let run = run.clone();
            async move {
                let user = &users[b % users.len()];
                let t0 = Instant::now();
                let reserved = api
                    .gql(
                        Some(&user.token),
                        RESERVE,
                        json!({ "input": { "ticketTypeId": ticket_type, "quantity": 1, "idempotencyKey": format!("os-{run}-{b}") } }),
                    )
                    .await;
                recorder.record("reserve", t0.elapsed(), reserved.is_ok());
                let reservation = match reserved.and_then(|d| str_at(&d, "/reserve/id")) {
                    Ok(id) => id,
                    Err(e) => {
                        recorder.error(&e.code, &e.message);
                        return;
                    }
                };
                if won.fetch_add(1, Ordering::SeqCst) + 1 == seats {
                    sold_out_at.store(started.elapsed().as_micros() as u64, Ordering::SeqCst);
                }
                if !pay {
                    return;
                }
                let t1 = Instant::now();
                let result = api
                    .gql(
                        Some(&user.token),
                        PAY,
                        json!({ "input": { "reservationId": reservation, "idempotencyKey": format!("osp-{run}-{b}"), "method": "WALLET" } }),
                    )
                    .await;
                recorder.record("pay", t1.elapsed(), result.is_ok());
                match result {
                    Ok(_) => {
                        paid.fetch_add(1, Ordering::SeqCst);
                        last_paid_at
                            .fetch_max(started.elapsed().as_micros() as u64, Ordering::SeqCst);
                    }
                    Err(e) => recorder.error(&e.code, &e.message),
                }
            }
        })
        .buffer_unordered(args.concurrency.max(1))
        .for_each(|()| async {})
        .await;
    let elapsed = started.elapsed();

    // Read back what the server says.
    let data = api.gql(None, AVAILABLE, json!({ "id": event.id })).await?;
    let tt = data
        .pointer("/event/ticketTypes/0")
        .cloned()
        .unwrap_or(Value::Null);
    let capacity = i64_at(&tt, "/capacity")?;
    let available = i64_at(&tt, "/available")?;
    let report = api
        .gql(Some(&organizer.token), REPORT, json!({ "id": event.id }))
        .await?;
    let sold = i64_at(&report, "/eventReport/ticketsSold")?;
    let held = i64_at(&report, "/eventReport/ticketsHeld")?;
    let report_available = i64_at(&report, "/eventReport/ticketsAvailable")?;

    let won = won.load(Ordering::SeqCst);
    let paid = paid.load(Ordering::SeqCst);
    let sold_out = available == 0;
    let sell_out_s =
        (sold_out && won == seats).then(|| sold_out_at.load(Ordering::SeqCst) as f64 / 1e6);
    let sold_out_errors = recorder.errors().get("SOLD_OUT").copied().unwrap_or(0);

    let mut problems = Vec::new();
    if won > seats {
        problems.push(format!("{won} reservations succeeded for {seats} seats"));
    }
    if available < 0 || capacity != args.seats {
        problems.push(format!("available {available} of capacity {capacity}"));
    }
    if available != args.seats - won as i64 {
        problems.push(format!(
            "available {available} but {seats} seats − {won} won = {}",
            args.seats - won as i64
        ));
    }
    if sold + held + report_available != capacity || report_available != available {
        problems.push(format!(
            "eventReport sold {sold} + held {held} + available {report_available} ≠ capacity {capacity}"
        ));
    }
    if pay && sold != paid as i64 {
        problems.push(format!(
            "eventReport sold {sold} but {paid} payments succeeded"
        ));
    }

    println!(
        "\n== onsale: {} buyers ({} accounts, {} in flight) for {} seats, {:.2} s ==",
        args.buyers,
        users.len(),
        args.concurrency,
        args.seats,
        elapsed.as_secs_f64()
    );
    let (ops, errors) = recorder.report(elapsed);
    match sell_out_s {
        Some(s) => println!(
            "sold out in {s:.3} s ({:.1} seats reserved/s); {won} won, {sold_out_errors} SOLD_OUT, {paid} paid",
            seats as f64 / s
        ),
        None => println!(
            "NOT sold out: {won} won, {available} left, {sold_out_errors} SOLD_OUT, {paid} paid"
        ),
    }
    if pay {
        println!(
            "all winners paid after {:.3} s",
            last_paid_at.load(Ordering::SeqCst) as f64 / 1e6
        );
    }
    println!(
        "check: ticket type available {available}/{capacity}; eventReport sold {sold}, held {held}, available {report_available} → {}",
        if problems.is_empty() {
            "no oversell".to_string()
        } else {
            format!("PROBLEM: {}", problems.join("; "))
        }
    );

    let mut line = json_head(cli, "onsale", &run);
    line.insert("buyers".into(), args.buyers.into());
    line.insert("accounts".into(), users.len().into());
    line.insert("concurrency".into(), args.concurrency.into());
    line.insert("seats".into(), args.seats.into());
    line.insert("duration_s".into(), round2(elapsed.as_secs_f64()).into());
    line.insert("won".into(), won.into());
    line.insert("paid".into(), paid.into());
    line.insert("sold_out_errors".into(), sold_out_errors.into());
    line.insert("sold_out".into(), sold_out.into());
    line.insert(
        "sell_out_s".into(),
        sell_out_s.map(|s| (s * 1000.0).round() / 1000.0).into(),
    );
    line.insert(
        "seats_reserved_per_s".into(),
        sell_out_s.map(|s| round2(seats as f64 / s)).into(),
    );
    line.insert(
        "attempts_per_s".into(),
        round2(args.buyers as f64 / elapsed.as_secs_f64()).into(),
    );
    line.insert("available_after".into(), available.into());
    line.insert(
        "report".into(),
        json!({ "sold": sold, "held": held, "available": report_available, "capacity": capacity }),
    );
    line.insert("oversell".into(), (!problems.is_empty()).into());
    line.insert("ops".into(), ops);
    line.insert("errors".into(), errors);
    emit_json(&Value::Object(line));
    Ok(Outcome {
        unexpected_errors: recorder.unexpected_errors(&["SOLD_OUT"]),
        failed_check: (!problems.is_empty()).then(|| problems.join("; ")),
    })
}
