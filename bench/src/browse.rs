//! `browse`: N concurrent anonymous clients, each with its own keep-alive connection, paging through
//! `events` and fetching `event` details of what they saw.
//!
//! `--think-ms 0` is a closed loop (every client sends its next request as soon as the previous
//! one answered): it measures saturation throughput, and latency is then mostly queueing
//! (Little's law: latency ≈ clients ÷ throughput). A think time models people: each client waits
//! that long (±50 %) between requests, so the offered rate is about clients ÷ think time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::{Api, i64_at};
use crate::setup::{self, Rng};
use crate::stats::{Recorder, emit_json, round2};
use crate::{Cli, Outcome, json_head};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Concurrent clients (each keeps its own connection).
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// How long to run, in seconds (after the ramp-up).
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// Pause between a client's requests, in milliseconds (0 = closed loop).
    #[arg(long, default_value_t = 0)]
    pub think_ms: u64,
    /// Events per page.
    #[arg(long, default_value_t = 20)]
    pub page_size: i64,
    /// Pages each client reads before starting over.
    #[arg(long, default_value_t = 5)]
    pub pages: usize,
    /// `event(id)` detail fetches after each page.
    #[arg(long, default_value_t = 2)]
    pub details: usize,
    /// Make sure at least this many published events exist (creates the missing ones).
    #[arg(long, default_value_t = 100)]
    pub min_events: i64,
    /// Print every request slower than this many milliseconds to stderr (0 = none).
    #[arg(long, default_value_t = 0)]
    pub log_slow_ms: u64,
}

pub const EVENTS: &str = r#"query Events($first: Int, $after: String) {
  events(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id title venue startsAt endsAt status capacity available
      organizer { id username } ticketTypes { id name priceCents available } } }
  }
}"#;

pub const EVENT: &str = r#"query Event($id: ID!) {
  event(id: $id) { id title description venue startsAt endsAt status createdAt capacity available
    organizer { id username } ticketTypes { id name priceCents capacity available } }
}"#;

pub async fn run(cli: &Cli, args: &Args, timeout: Duration) -> anyhow::Result<Outcome> {
    let api = Api::new(&cli.url, args.clients + 16, timeout)?;
    setup::wait_for_server(&api, Duration::from_secs(30)).await?;
    let run = setup::run_id();
    eprintln!("browse: run {run}, {} client(s)", args.clients);

    let data = api
        .gql(None, "{ events(first: 1) { totalCount } }", json!({}))
        .await?;
    let existing = i64_at(&data, "/events/totalCount")?;
    if existing < args.min_events {
        let missing = (args.min_events - existing) as usize;
        let organizer = setup::register(&api, &format!("b{run}org"), "ORGANIZER").await?;
        setup::create_events(
            &api,
            &organizer,
            &format!("Bench browse {run}"),
            missing,
            3,
            500,
            2_500,
        )
        .await?;
    }

    let recorder = Arc::new(Recorder::default());
    let stop = Arc::new(AtomicBool::new(false));
    let think = Duration::from_millis(args.think_ms);
    // Open every client's connection first, spread over up to 2 s, so the measured window has
    // all connections established.
    let ramp = Duration::from_millis((args.clients as u64).min(2000));
    let mut tasks = Vec::with_capacity(args.clients);
    let measuring = Arc::new(AtomicBool::new(false));
    for c in 0..args.clients {
        // One client = one HTTP client with its own keep-alive connection, so N clients really
        // hold N connections (a shared pool would let idle clients share sockets).
        let api = Api::new(&cli.url, 1, timeout)?;
        let recorder = recorder.clone();
        let stop = stop.clone();
        let measuring = measuring.clone();
        let page_size = args.page_size;
        let pages = args.pages;
        let details = args.details;
        let log_slow = Duration::from_millis(args.log_slow_ms);
        let t_start = Instant::now();
        let delay = ramp.mul_f64(c as f64 / args.clients.max(1) as f64);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let mut rng = Rng::new(c as u64 + 1);
            let mut after: Option<String> = None;
            let mut page = 0;
            let mut seen: Vec<String> = Vec::new();
            let mut first = true;
            let mut pending_details = 0usize;
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if !first && !think.is_zero() {
                    let jitter = 0.5 + rng.below(1000) as f64 / 1000.0;
                    tokio::time::sleep(think.mul_f64(jitter)).await;
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                first = false;
                // Only requests sent inside the measured window count.
                let counted = measuring.load(Ordering::Relaxed);
                let fetch_detail = pending_details > 0 && !seen.is_empty();
                let (op, result, t0) = if fetch_detail {
                    pending_details -= 1;
                    let id = seen.swap_remove(rng.below(seen.len()));
                    let t0 = Instant::now();
                    ("event", api.gql(None, EVENT, json!({ "id": id })).await, t0)
                } else {
                    let t0 = Instant::now();
                    let r = api
                        .gql(None, EVENTS, json!({ "first": page_size, "after": after }))
                        .await;
                    if let Ok(data) = &r {
                        let conn = &data["events"];
                        seen = ids(conn);
                        pending_details = details;
                        page += 1;
                        after = conn
                            .pointer("/pageInfo/endCursor")
                            .and_then(Value::as_str)
                            .map(str::to_string);
                        let more = conn
                            .pointer("/pageInfo/hasNextPage")
                            .and_then(Value::as_bool)
                            .unwrap_or(false);
                        if page >= pages || !more {
                            page = 0;
                            after = None;
                        }
                    }
                    ("events", r, t0)
                };
                let latency = t0.elapsed();
                sent += 1;
                if !log_slow.is_zero() && latency >= log_slow {
                    eprintln!(
                        "slow: client {c} request #{sent} {op} took {:.1} ms, sent at +{:.3} s",
                        latency.as_secs_f64() * 1000.0,
                        (t0 - t_start).as_secs_f64()
                    );
                }
                if counted {
                    recorder.record(op, latency, result.is_ok());
                    recorder.record("all", latency, result.is_ok());
                    if let Err(e) = &result {
                        recorder.error(&e.code, &e.message);
                    }
                }
            }
        }));
    }
    // Let the connection storm of the ramp drain before measuring.
    tokio::time::sleep(ramp + Duration::from_secs(2) + think).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }

    println!(
        "\n== browse: {} clients, think {} ms, {:.1} s measured ==",
        args.clients,
        args.think_ms,
        elapsed.as_secs_f64()
    );
    let (ops, errors) = recorder.report(elapsed);
    let total = recorder.ok_count("all");
    println!(
        "throughput: {:.1} ok requests/s",
        total as f64 / elapsed.as_secs_f64()
    );
    let mut line = json_head(cli, "browse", &run);
    line.insert("clients".into(), args.clients.into());
    line.insert("think_ms".into(), args.think_ms.into());
    line.insert("duration_s".into(), round2(elapsed.as_secs_f64()).into());
    line.insert(
        "throughput_per_s".into(),
        round2(total as f64 / elapsed.as_secs_f64()).into(),
    );
    line.insert("ops".into(), ops);
    line.insert("errors".into(), errors);
    emit_json(&Value::Object(line));
    Ok(Outcome {
        unexpected_errors: recorder.unexpected_errors(&[]),
        failed_check: (total == 0).then(|| "no request succeeded".to_string()),
    })
}

/// The event ids of a page, to fetch in detail.
fn ids(conn: &Value) -> Vec<String> {
    conn.get("edges")
        .and_then(Value::as_array)
        .map(|edges| {
            edges
                .iter()
                .filter_map(|e| e.pointer("/node/id").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}
