//! `fanout`: S organizer subscriptions (`transactionReports(eventId)`, one WebSocket each) stay
//! open while P payments per second flow through the event.
//!
//! Delivery latency is measured from the moment the payer's `pay` response arrived to the moment
//! each subscriber received the report carrying that transaction (a report that arrives before
//! the response counts as 0). Server memory per idle subscription is the growth of the server's
//! VmRSS (`--server-pid`) from before opening the S subscriptions to after they sat idle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt, stream};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::checkout::checkout_once;
use crate::client::Api;
use crate::setup::{self, Account};
use crate::stats::{Recorder, emit_json, histogram, round2, rss_kib, summarize};
use crate::{Cli, Outcome, fd_limit, json_head};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Subscriptions (WebSocket connections) to open.
    #[arg(long, default_value_t = 5000)]
    pub subscriptions: usize,
    /// Payments per second while the subscriptions are open.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// How long payments flow, in seconds.
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// Buyer accounts making the payments (round robin).
    #[arg(long, default_value_t = 10)]
    pub payers: usize,
    /// The server's process id, to read its VmRSS from /proc (memory per idle subscription).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Subscriptions being opened at once.
    #[arg(long, default_value_t = 100)]
    pub connect_concurrency: usize,
    /// Seconds to wait after the last payment for deliveries still in flight.
    #[arg(long, default_value_t = 10.0)]
    pub drain: f64,
}

pub const SUBSCRIPTION: &str = r#"subscription Reports($eventId: ID) {
  transactionReports(eventId: $eventId) {
    cursor
    transaction { id kind status amountCents }
    summary { ticketsSold ticketsAvailable revenueCents }
  }
}"#;

const TX_MARK: &str = r#""transaction":{"id":""#;

/// Transaction id (as u128) of a `next` message, found without parsing the whole JSON.
fn transaction_of(text: &str) -> Option<u128> {
    let at = text.find(TX_MARK)? + TX_MARK.len();
    let id = text.get(at..at + 36)?;
    uuid::Uuid::parse_str(id).ok().map(|u| u.as_u128())
}

/// Transaction id → (checkout sent, pay response received).
type Sent = Arc<RwLock<HashMap<u128, (Instant, Instant)>>>;

struct SubResult {
    /// Latencies in µs of deliveries whose payment response was already known, from the pay
    /// response and from the start of the checkout.
    latencies: Vec<(u32, u32)>,
    /// Deliveries that arrived before the payer saw its response (resolved at the end).
    early: Vec<(u128, Instant)>,
    error: Option<String>,
}

pub async fn run(cli: &Cli, args: &Args, timeout: Duration) -> anyhow::Result<Outcome> {
    let api = Api::new(&cli.url, args.payers + 16, timeout)?;
    setup::wait_for_server(&api, Duration::from_secs(30)).await?;
    let needed = args.subscriptions as u64 + 256;
    if fd_limit() < needed {
        eprintln!(
            "warning: the descriptor limit is {} but {} subscriptions need about {needed}; raise `ulimit -n`",
            fd_limit(),
            args.subscriptions
        );
    }
    let run = setup::run_id();
    eprintln!(
        "fanout: run {run}, {} subscription(s), {} payment(s)/s for {} s",
        args.subscriptions, args.rate, args.duration
    );
    let organizer = setup::register(&api, &format!("b{run}org"), "ORGANIZER").await?;
    let event = setup::create_event(
        &api,
        &organizer,
        &format!("Bench fan-out {run}"),
        1,
        1_000_000,
        100,
    )
    .await?;
    let ticket_type = event.ticket_types[0].clone();
    let payers =
        setup::register_many(&api, &format!("b{run}u"), args.payers.max(1), "USER").await?;
    setup::top_up_all(&api, &payers, &run, 1).await?;
    let payers: Arc<Vec<Account>> = Arc::new(payers);
    let recorder = Arc::new(Recorder::default());

    // Memory before.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = args.server_pid.and_then(rss_kib);

    // Open the subscriptions.
    let opening = Instant::now();
    let vars = json!({ "eventId": event.id });
    let mut sockets = Vec::with_capacity(args.subscriptions);
    let mut connect = histogram();
    let mut opened = stream::iter(0..args.subscriptions)
        .map(|_| {
            let url = api.ws_url.clone();
            let token = organizer.token.clone();
            let vars = vars.clone();
            async move {
                let t0 = Instant::now();
                let ws =
                    crate::ws::subscribe(&url, &token, SUBSCRIPTION, vars, Duration::from_secs(30))
                        .await;
                (ws, t0.elapsed())
            }
        })
        .buffer_unordered(args.connect_concurrency.max(1));
    while let Some((ws, took)) = opened.next().await {
        match ws {
            Ok(ws) => {
                connect.saturating_record(took.as_micros() as u64);
                sockets.push(ws);
            }
            Err(e) => recorder.error("WS_CONNECT", &format!("{e:#}")),
        }
    }
    drop(opened);
    let open_s = opening.elapsed().as_secs_f64();
    let n_subs = sockets.len();
    eprintln!("  opened {n_subs} subscription(s) in {open_s:.1} s");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_after = args.server_pid.and_then(rss_kib);
    let per_sub_kib = match (rss_before, rss_after) {
        (Some(b), Some(a)) if n_subs > 0 => Some(a.saturating_sub(b) as f64 / n_subs as f64),
        _ => None,
    };

    // Readers.
    let sent: Sent = Arc::new(RwLock::new(HashMap::new()));
    let delivered = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut readers = Vec::with_capacity(n_subs);
    for mut ws in sockets {
        let sent = sent.clone();
        let delivered = delivered.clone();
        let mut stop = stop_rx.clone();
        readers.push(tokio::spawn(async move {
            let mut out = SubResult {
                latencies: Vec::new(),
                early: Vec::new(),
                error: None,
            };
            loop {
                let next = tokio::select! {
                    m = ws.next() => m,
                    _ = stop.changed() => break,
                };
                match next {
                    Some(Ok(Message::Text(text))) => {
                        let now = Instant::now();
                        if let Some(tx) = transaction_of(&text) {
                            delivered.fetch_add(1, Ordering::Relaxed);
                            let known = sent.read().expect("sent map").get(&tx).copied();
                            match known {
                                Some((sent_at, t0)) => out.latencies.push((
                                    now.saturating_duration_since(t0).as_micros() as u32,
                                    now.saturating_duration_since(sent_at).as_micros() as u32,
                                )),
                                None => out.early.push((tx, now)),
                            }
                        } else if text.contains(r#""type":"ping""#) {
                            if ws
                                .send(Message::Text(crate::ws::PONG.into()))
                                .await
                                .is_err()
                            {
                                out.error = Some("WS_SEND".into());
                                break;
                            }
                        } else if text.contains(r#""type":"error""#)
                            || text.contains(r#""type":"complete""#)
                        {
                            out.error = Some(format!("SUBSCRIPTION_ERROR {text}"));
                            break;
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        out.error = Some(format!("WS_CLOSED {frame:?}"));
                        break;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        out.error = Some(format!("WS_ERROR {e}"));
                        break;
                    }
                    None => {
                        out.error = Some("WS_CLOSED".into());
                        break;
                    }
                }
            }
            let _ = ws.close(None).await;
            out
        }));
    }

    // Warm-up: one payment that every subscriber must receive before measuring.
    let warm = checkout_once(
        &api,
        &Recorder::default(),
        &payers[0],
        &ticket_type,
        &format!("{run}-warm"),
    )
    .await;
    let warm_deadline = Instant::now() + Duration::from_secs(60);
    while warm.is_some()
        && delivered.load(Ordering::Relaxed) < n_subs as u64
        && Instant::now() < warm_deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let warm_delivered = delivered.load(Ordering::Relaxed);
    eprintln!("  warm-up report reached {warm_delivered}/{n_subs} subscriber(s)");
    delivered.store(0, Ordering::Relaxed);

    // Payments at a fixed rate.
    let payments_ok = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let total = (args.rate * args.duration).round() as u64;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate.max(0.01)));
    let mut payments = Vec::new();
    for n in 0..total {
        tick.tick().await;
        let api = api.clone();
        let recorder = recorder.clone();
        let payers = payers.clone();
        let sent = sent.clone();
        let ok = payments_ok.clone();
        let tt = ticket_type.clone();
        let key = format!("{run}-{n}");
        payments.push(tokio::spawn(async move {
            let payer = &payers[n as usize % payers.len()];
            if let Some((tx, sent_at, at)) = checkout_once(&api, &recorder, payer, &tt, &key).await
                && let Ok(u) = uuid::Uuid::parse_str(&tx)
            {
                sent.write()
                    .expect("sent map")
                    .insert(u.as_u128(), (sent_at, at));
                ok.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for p in payments {
        let _ = p.await;
    }
    let pay_elapsed = started.elapsed();
    let paid = payments_ok.load(Ordering::Relaxed);
    let expected = paid * n_subs as u64;
    let drain_deadline = Instant::now() + Duration::from_secs_f64(args.drain);
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = delivered.load(Ordering::Relaxed);
    let _ = stop_tx.send(true);

    let mut latency = histogram();
    let mut from_send = histogram();
    let sent_map = sent.read().expect("sent map").clone();
    let mut early = 0u64;
    let mut reader_errors = 0u64;
    for r in readers {
        let Ok(out) = r.await else { continue };
        for (l, s) in out.latencies {
            latency.saturating_record(u64::from(l).max(1));
            from_send.saturating_record(u64::from(s).max(1));
        }
        for (tx, at) in out.early {
            if let Some((sent_at, _)) = sent_map.get(&tx) {
                early += 1;
                latency.saturating_record(1);
                from_send.saturating_record(
                    at.saturating_duration_since(*sent_at).as_micros().max(1) as u64,
                );
            }
        }
        if let Some(e) = out.error {
            reader_errors += 1;
            let code = e.split_whitespace().next().unwrap_or("WS").to_string();
            recorder.error(&code, &e);
        }
    }
    let rss_end = args.server_pid.and_then(rss_kib);

    println!(
        "\n== fanout: {n_subs} subscriptions, {:.1} payments/s for {:.1} s ==",
        args.rate,
        pay_elapsed.as_secs_f64()
    );
    let (ops, errors) = recorder.report(pay_elapsed);
    let d = summarize(&latency);
    let ds = summarize(&from_send);
    println!(
        "delivery latency (pay response → subscriber): p50 {} ms, p95 {} ms, p99 {} ms, max {} ms over {} deliveries ({early} arrived before the pay response: counted as 0)",
        d["p50_ms"], d["p95_ms"], d["p99_ms"], d["max_ms"], d["count"]
    );
    println!(
        "delivery latency (checkout sent → subscriber):  p50 {} ms, p95 {} ms, p99 {} ms, max {} ms",
        ds["p50_ms"], ds["p95_ms"], ds["p99_ms"], ds["max_ms"]
    );
    println!(
        "deliveries: {received} of {expected} expected ({paid} payments × {n_subs} subscribers); {:.0} deliveries/s",
        received as f64 / pay_elapsed.as_secs_f64()
    );
    let c = summarize(&connect);
    println!(
        "subscriptions: {n_subs} opened in {open_s:.1} s (connect+ack p50 {} ms, p99 {} ms)",
        c["p50_ms"], c["p99_ms"]
    );
    match (rss_before, rss_after, per_sub_kib) {
        (Some(b), Some(a), Some(per)) => println!(
            "server RSS: {:.1} MiB before, {:.1} MiB with {n_subs} idle subscriptions → {:.1} KiB per subscription; {:.1} MiB at the end",
            b as f64 / 1024.0,
            a as f64 / 1024.0,
            per,
            rss_end.unwrap_or(0) as f64 / 1024.0
        ),
        _ => println!("server RSS: not measured (pass --server-pid)"),
    }

    let mut line = json_head(cli, "fanout", &run);
    line.insert("subscriptions".into(), n_subs.into());
    line.insert("rate_per_s".into(), args.rate.into());
    line.insert(
        "duration_s".into(),
        round2(pay_elapsed.as_secs_f64()).into(),
    );
    line.insert("payments".into(), paid.into());
    line.insert("deliveries_expected".into(), expected.into());
    line.insert("deliveries".into(), received.into());
    line.insert("delivery".into(), d);
    line.insert("delivery_from_checkout_start".into(), ds);
    line.insert("delivered_before_pay_response".into(), early.into());
    line.insert("connect".into(), c);
    line.insert("open_s".into(), round2(open_s).into());
    line.insert("rss_before_kib".into(), rss_before.into());
    line.insert("rss_idle_kib".into(), rss_after.into());
    line.insert("rss_end_kib".into(), rss_end.into());
    line.insert(
        "rss_per_subscription_kib".into(),
        per_sub_kib.map(round2).into(),
    );
    line.insert("ops".into(), ops);
    line.insert("errors".into(), errors);
    emit_json(&Value::Object(line));

    let mut problems = Vec::new();
    if n_subs < args.subscriptions {
        problems.push(format!(
            "only {n_subs} of {} subscriptions opened",
            args.subscriptions
        ));
    }
    if received < expected {
        problems.push(format!("{} deliveries missing", expected - received));
    }
    if reader_errors > 0 {
        problems.push(format!(
            "{reader_errors} subscription(s) ended with an error"
        ));
    }
    if paid == 0 {
        problems.push("no payment succeeded".into());
    }
    Ok(Outcome {
        unexpected_errors: recorder.unexpected_errors(&[]),
        failed_check: (!problems.is_empty()).then(|| problems.join("; ")),
    })
}
