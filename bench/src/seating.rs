//! Seated events (issue 12):
//! - `seatmap`: C clients read the seat map of one large seated event (20,000 seats by default)
//!   in a closed loop; the server answers it in a constant number of SQL statements, so this
//!   measures the cost of building and sending the map itself.
//! - `seated-onsale`: B buyers race for best-available blocks of `--quantity` adjacent seats in
//!   one section; winners pay. Afterwards the seat map is read back and the run fails on a seat
//!   held twice, a block that is not adjacent in one row, or `available` that does not equal
//!   the free seats.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use serde_json::{Value, json};

use crate::checkout::PAY;
use crate::client::{Api, ApiError, i64_at, str_at};
use crate::setup::{self, Account};
use crate::stats::{Recorder, emit_json, round2};
use crate::{Cli, Outcome, json_head};

const CREATE_VENUE: &str =
    "mutation($input: CreateVenueInput!) { createVenue(input: $input) { id capacity } }";
const CREATE_EVENT: &str =
    "mutation($input: CreateEventInput!) { createEvent(input: $input) { id ticketTypes { id } } }";
const PUBLISH: &str = "mutation($id: ID!) { publishEvent(id: $id) { id } }";
const SEAT_MAP: &str = "query($id: ID!) { event(id: $id) { seatMap { sections { name
  rows { label seats { id label status } } } } } }";
const RESERVE_BEST: &str = "mutation($input: ReserveInput!) { reserve(input: $input) {
  id seats { id row number } } }";
const AVAILABLE: &str = "query($id: ID!) { event(id: $id) { ticketTypes { available } } }";

#[derive(clap::Args, Debug)]
pub struct MapArgs {
    /// Rows in each of the two sections.
    #[arg(long, default_value_t = 20)]
    pub rows: usize,
    /// Seats per row (at most 500).
    #[arg(long, default_value_t = 500)]
    pub seats_per_row: i64,
    /// Concurrent clients, each in a closed loop.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Seconds to measure.
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
}

#[derive(clap::Args, Debug)]
pub struct OnsaleArgs {
    /// Rows of the one section on sale.
    #[arg(long, default_value_t = 20)]
    pub rows: usize,
    /// Seats per row.
    #[arg(long, default_value_t = 50)]
    pub seats_per_row: i64,
    /// Buyers (best-available reserve attempts).
    #[arg(long, default_value_t = 2000)]
    pub buyers: usize,
    /// Adjacent seats each buyer asks for.
    #[arg(long, default_value_t = 2)]
    pub quantity: i64,
    /// Distinct accounts the buyers are spread over.
    #[arg(long, default_value_t = 200)]
    pub users: usize,
    /// Buyers in flight at once.
    #[arg(long, default_value_t = 200)]
    pub concurrency: usize,
    /// Only reserve; do not pay for the seats won.
    #[arg(long)]
    pub no_pay: bool,
}

/// A published seated event on a new venue: `sections` of `rows` × `seats` each, one ticket
/// type per section. Returns (event id, ticket type ids).
async fn seated_event(
    api: &Api,
    organizer: &Account,
    run: &str,
    sections: usize,
    rows: usize,
    seats: i64,
) -> Result<(String, Vec<String>), ApiError> {
    let names: Vec<String> = (0..sections).map(|s| format!("S{s}")).collect();
    let layout: Vec<Value> = names
        .iter()
        .map(|name| {
            let rows: Vec<Value> = (0..rows)
                .map(|r| json!({ "label": format!("R{r}"), "seats": seats }))
                .collect();
            json!({ "name": name, "rows": rows })
        })
        .collect();
    let venue = api
        .gql(
            Some(&organizer.token),
            CREATE_VENUE,
            json!({ "input": { "name": format!("Bench venue {run}"), "sections": layout } }),
        )
        .await?;
    let venue = str_at(&venue, "/createVenue/id")?;
    let starts_at = (chrono::Utc::now() + chrono::Duration::days(90))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let types: Vec<Value> = names
        .iter()
        .map(|n| json!({ "name": n, "priceCents": 100, "sections": [n] }))
        .collect();
    let input = json!({ "title": format!("Bench seated {run}"), "startsAt": starts_at,
        "venueId": venue, "ticketTypes": types });
    let data = api
        .gql(
            Some(&organizer.token),
            CREATE_EVENT,
            json!({ "input": input }),
        )
        .await?;
    let id = str_at(&data, "/createEvent/id")?;
    let types = data
        .pointer("/createEvent/ticketTypes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| t["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    api.gql(Some(&organizer.token), PUBLISH, json!({ "id": id }))
        .await?;
    Ok((id, types))
}

pub async fn run_map(cli: &Cli, args: &MapArgs, timeout: Duration) -> anyhow::Result<Outcome> {
    let api = Api::new(&cli.url, args.clients + 4, timeout)?;
    setup::wait_for_server(&api, Duration::from_secs(30)).await?;
    let run = setup::run_id();
    let organizer = setup::register(&api, &format!("b{run}org"), "ORGANIZER").await?;
    let (event, _) = seated_event(&api, &organizer, &run, 2, args.rows, args.seats_per_row).await?;
    let seats = 2 * args.rows as i64 * args.seats_per_row;
    eprintln!(
        "seatmap: run {run}, {seats} seats, {} clients for {} s",
        args.clients, args.duration
    );
    let recorder = Arc::new(Recorder::default());
    let started = Instant::now();
    let until = started + Duration::from_secs(args.duration);
    let bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    futures::future::join_all((0..args.clients).map(|_| {
        let api = api.clone();
        let recorder = recorder.clone();
        let event = event.clone();
        let bytes = bytes.clone();
        async move {
            while Instant::now() < until {
                let t0 = Instant::now();
                let result = api.gql(None, SEAT_MAP, json!({ "id": event })).await;
                recorder.record("seatMap", t0.elapsed(), result.is_ok());
                match result {
                    Ok(data) => {
                        bytes.store(
                            data.to_string().len() as u64,
                            std::sync::atomic::Ordering::Relaxed,
                        );
                    }
                    Err(e) => recorder.error(&e.code, &e.message),
                }
            }
        }
    }))
    .await;
    let elapsed = started.elapsed();
    println!(
        "\n== seatmap: {seats} seats, {} clients, {:.2} s ==",
        args.clients,
        elapsed.as_secs_f64()
    );
    let (ops, errors) = recorder.report(elapsed);
    let size = bytes.load(std::sync::atomic::Ordering::Relaxed);
    println!("response data: {:.1} KiB", size as f64 / 1024.0);
    let mut line = json_head(cli, "seatmap", &run);
    line.insert("seats".into(), seats.into());
    line.insert("clients".into(), args.clients.into());
    line.insert("duration_s".into(), round2(elapsed.as_secs_f64()).into());
    line.insert("data_bytes".into(), size.into());
    line.insert("ops".into(), ops);
    line.insert("errors".into(), errors);
    emit_json(&Value::Object(line));
    Ok(Outcome {
        unexpected_errors: recorder.unexpected_errors(&[]),
        failed_check: None,
    })
}

/// One winner's seats: (seat id, row label, number) each.
type Block = Vec<(String, String, i64)>;

pub async fn run_onsale(
    cli: &Cli,
    args: &OnsaleArgs,
    timeout: Duration,
) -> anyhow::Result<Outcome> {
    let api = Api::new(&cli.url, args.concurrency + 16, timeout)?;
    setup::wait_for_server(&api, Duration::from_secs(30)).await?;
    let run = setup::run_id();
    let seats = args.rows as i64 * args.seats_per_row;
    eprintln!(
        "seated-onsale: run {run}, {} buyers of {} adjacent seats over {} account(s) for {seats} seats, {} in flight",
        args.buyers, args.quantity, args.users, args.concurrency
    );
    let organizer = setup::register(&api, &format!("b{run}org"), "ORGANIZER").await?;
    let (event, types) =
        seated_event(&api, &organizer, &run, 1, args.rows, args.seats_per_row).await?;
    let ticket_type = types.first().cloned().unwrap_or_default();
    let users = setup::register_many(&api, &format!("b{run}u"), args.users.max(1), "USER").await?;
    if !args.no_pay {
        setup::top_up_all(&api, &users, &run, 1).await?;
    }
    let users = Arc::new(users);
    let recorder = Arc::new(Recorder::default());
    let blocks: Arc<Mutex<Vec<Block>>> = Arc::default();
    let started = Instant::now();
    let pay = !args.no_pay;
    stream::iter(0..args.buyers)
        .map(|b| {
            let (api, recorder, users, blocks) =
                (api.clone(), recorder.clone(), users.clone(), blocks.clone());
            let (ticket_type, run, quantity) = (ticket_type.clone(), run.clone(), args.quantity);
            async move {
                let user = &users[b % users.len()];
                let t0 = Instant::now();
                let reserved = api
                    .gql(
                        Some(&user.token),
                        RESERVE_BEST,
                        json!({ "input": { "ticketTypeId": ticket_type, "quantity": quantity,
                            "bestAvailable": true, "idempotencyKey": format!("so-{run}-{b}") } }),
                    )
                    .await;
                recorder.record("reserve", t0.elapsed(), reserved.is_ok());
                let data = match reserved {
                    Ok(d) => d,
                    Err(e) => return recorder.error(&e.code, &e.message),
                };
                let block = data["reserve"]["seats"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|s| {
                                (
                                    s["id"].as_str().unwrap_or_default().to_string(),
                                    s["row"].as_str().unwrap_or_default().to_string(),
                                    s["number"].as_i64().unwrap_or_default(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if let Ok(mut blocks) = blocks.lock() {
                    blocks.push(block);
                }
                if !pay {
                    return;
                }
                let Ok(reservation) = str_at(&data, "/reserve/id") else {
                    return;
                };
                let t1 = Instant::now();
                let result = api
                    .gql(
                        Some(&user.token),
                        PAY,
                        json!({ "input": { "reservationId": reservation,
                            "idempotencyKey": format!("sop-{run}-{b}"), "method": "WALLET" } }),
                    )
                    .await;
                recorder.record("pay", t1.elapsed(), result.is_ok());
                if let Err(e) = result {
                    recorder.error(&e.code, &e.message);
                }
            }
        })
        .buffer_unordered(args.concurrency.max(1))
        .for_each(|()| async {})
        .await;
    let elapsed = started.elapsed();

    // Read back and check.
    let blocks = blocks.lock().map(|b| b.clone()).unwrap_or_default();
    let mut problems = Vec::new();
    let mut taken = HashSet::new();
    for block in &blocks {
        if block.len() as i64 != args.quantity {
            problems.push(format!("a winner got {} seats", block.len()));
        }
        let mut numbers: Vec<i64> = block.iter().map(|(_, _, n)| *n).collect();
        numbers.sort();
        let one_row = block
            .iter()
            .all(|(_, r, _)| Some(r) == block.first().map(|b| &b.1));
        if !one_row || numbers.windows(2).any(|w| w[1] != w[0] + 1) {
            problems.push(format!("a block is not adjacent in one row: {block:?}"));
        }
        for (id, _, _) in block {
            if !taken.insert(id.clone()) {
                problems.push(format!("seat {id} went to two winners"));
            }
        }
    }
    let map = api.gql(None, SEAT_MAP, json!({ "id": event })).await?;
    let free = map
        .pointer("/event/seatMap/sections")
        .and_then(Value::as_array)
        .map(|sections| {
            sections
                .iter()
                .flat_map(|s| s["rows"].as_array().into_iter().flatten())
                .flat_map(|r| r["seats"].as_array().into_iter().flatten())
                .filter(|s| s["status"] == "AVAILABLE")
                .count() as i64
        })
        .unwrap_or(-1);
    let available = api.gql(None, AVAILABLE, json!({ "id": event })).await?;
    let available = i64_at(&available, "/event/ticketTypes/0/available")?;
    if available != free || free != seats - taken.len() as i64 {
        problems.push(format!(
            "available {available}, free seats on the map {free}, seats − taken {}",
            seats - taken.len() as i64
        ));
    }
    let won = blocks.len();
    let sold_out_errors = recorder.errors().get("SOLD_OUT").copied().unwrap_or(0);
    println!(
        "\n== seated-onsale: {} buyers of {} adjacent seats ({} accounts, {} in flight) for {seats} seats, {:.2} s ==",
        args.buyers,
        args.quantity,
        users.len(),
        args.concurrency,
        elapsed.as_secs_f64()
    );
    let (ops, errors) = recorder.report(elapsed);
    println!(
        "{won} blocks won ({} seats), {sold_out_errors} SOLD_OUT, {available} left → {}",
        taken.len(),
        if problems.is_empty() {
            "no seat twice, every block adjacent".to_string()
        } else {
            format!("PROBLEM: {}", problems.join("; "))
        }
    );
    let mut line = json_head(cli, "seated-onsale", &run);
    line.insert("buyers".into(), args.buyers.into());
    line.insert("quantity".into(), args.quantity.into());
    line.insert("seats".into(), seats.into());
    line.insert("concurrency".into(), args.concurrency.into());
    line.insert("duration_s".into(), round2(elapsed.as_secs_f64()).into());
    line.insert("won".into(), won.into());
    line.insert("seats_taken".into(), taken.len().into());
    line.insert("sold_out_errors".into(), sold_out_errors.into());
    line.insert("available_after".into(), available.into());
    line.insert("ok".into(), problems.is_empty().into());
    line.insert("ops".into(), ops);
    line.insert("errors".into(), errors);
    emit_json(&Value::Object(line));
    Ok(Outcome {
        unexpected_errors: recorder.unexpected_errors(&["SOLD_OUT"]),
        failed_check: (!problems.is_empty()).then(|| problems.join("; ")),
    })
}
