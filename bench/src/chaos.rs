//! `chaos`: a cluster of our own under faults, then an audit of every seat, cent and report.
//!
//! It starts N instances of the server (this machine, 127.0.0.1) on one PostgreSQL database of
//! its own (created in `--pg-cluster`) and one Redis of its own (a `redis-server` it starts on a
//! scratch port), drives a seeded random mix of virtual users over all instances, with one
//! `transactionReports` subscriber per instance, while a seeded fault schedule kills (SIGKILL)
//! and restarts an instance, stops one gracefully (SIGTERM), pauses one (SIGSTOP) past the hold
//! window, restarts Redis and restarts PostgreSQL. At the end it waits for the cluster to be
//! healthy and audits, from the database (through `psql`) and from what clients saw:
//! seats, wallets and the ledger, card charges, acknowledged mutations, idempotent replays,
//! report delivery, expired holds, waitlist counters and honest errors.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Api, ApiError, str_at};
use crate::setup::{Account, Rng, register};
use crate::{Cli, Outcome};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Seconds of load (and faults) per run.
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Runs, each with a new seed (seed, seed + 1, …).
    #[arg(long, default_value_t = 1)]
    pub runs: u64,
    /// The first run's seed (default: from the clock). A failing run prints its seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Server instances.
    #[arg(long, default_value_t = 3)]
    pub instances: usize,
    /// Virtual users.
    #[arg(long, default_value_t = 24)]
    pub users: usize,
    /// An admin URL of the PostgreSQL cluster to use (a scratch database is created in it).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub pg_admin_url: String,
    /// The cluster's name for `pg_ctlcluster` (it is restarted during the run).
    #[arg(long, default_value = "main")]
    pub pg_cluster: String,
    /// First port: the instances listen on port, port + 1, …; Redis on port + 100.
    #[arg(long, default_value_t = 18700)]
    pub base_port: u16,
    /// The `evenntify` binary (default: next to this one).
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// HOLD_SECONDS of the cluster: a pause lasts longer than this.
    #[arg(long, default_value_t = 4)]
    pub hold_seconds: u64,
}

const SWEEP_SECONDS: u64 = 1;
const JWT: &str = "chaos-secret-0123456789abcdef0123456789abcdef";

// ---------------------------------------------------------------------------------------------
// The cluster.
// ---------------------------------------------------------------------------------------------

struct Cluster {
    args: Args,
    bin: PathBuf,
    db_url: String,
    db_name: String,
    redis_port: u16,
    servers: Vec<Option<Child>>,
    redis: Option<Child>,
    logs: PathBuf,
}

impl Cluster {
    fn port(&self, i: usize) -> u16 {
        self.args.base_port + i as u16
    }

    async fn start(args: &Args, seed: u64) -> anyhow::Result<Cluster> {
        let bin = match &args.server_bin {
            Some(p) => p.clone(),
            None => std::env::current_exe()?
                .parent()
                .map(|d| d.join("evenntify"))
                .ok_or_else(|| anyhow::anyhow!("cannot find the evenntify binary"))?,
        };
        anyhow::ensure!(bin.exists(), "no server binary at {}", bin.display());
        let db_name = format!("evenntify_chaos_{}_{seed}", std::process::id());
        psql(&args.pg_admin_url, &format!("CREATE DATABASE {db_name}")).await?;
        let base = args
            .pg_admin_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(&args.pg_admin_url);
        let logs = std::env::temp_dir().join(format!("evenntify-chaos-{seed}"));
        std::fs::create_dir_all(&logs)?;
        let mut cluster = Cluster {
            args: args.clone(),
            bin,
            db_url: format!("{base}/{db_name}"),
            db_name,
            redis_port: args.base_port + 100,
            servers: (0..args.instances).map(|_| None).collect(),
            redis: None,
            logs,
        };
        cluster.start_redis().await?;
        // The first instance migrates; the others start after it.
        for i in 0..args.instances {
            cluster.start_server(i).await?;
        }
        Ok(cluster)
    }

    async fn start_redis(&mut self) -> anyhow::Result<()> {
        let child = Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &self.redis_port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        self.redis = Some(child);
        wait_port(self.redis_port, Duration::from_secs(10)).await
    }

    async fn stop_redis(&mut self) {
        if let Some(mut c) = self.redis.take() {
            signal(&c, libc::SIGTERM);
            let _ = tokio::time::timeout(Duration::from_secs(10), c.wait()).await;
            let _ = c.kill().await;
        }
    }

    async fn start_server(&mut self, i: usize) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("server-{i}.log")))?;
        let child = Command::new(&self.bin)
            .arg("serve")
            .env("DATABASE_URL", &self.db_url)
            .env(
                "REDIS_URL",
                format!("redis://127.0.0.1:{}", self.redis_port),
            )
            .env("BIND_ADDR", format!("127.0.0.1:{}", self.port(i)))
            .env("JWT_SECRET", JWT)
            .env("HOLD_SECONDS", self.args.hold_seconds.to_string())
            .env("SWEEP_INTERVAL_SECONDS", SWEEP_SECONDS.to_string())
            .env("WAITLIST_OFFER_SECONDS", "3")
            .env("CARD_TIMEOUT_MS", "300")
            .env("MUTATIONS_PER_MINUTE", "1000000")
            .env("REGISTRATIONS_PER_IP_PER_MINUTE", "1000000")
            .env("WS_MAX_SOCKETS_PER_ADDRESS", "100000")
            .env("DB_MAX_CONNECTIONS", "8")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()?;
        self.servers[i] = Some(child);
        wait_port(self.port(i), Duration::from_secs(60)).await
    }

    fn pid(&self, i: usize) -> Option<&Child> {
        self.servers[i].as_ref()
    }

    async fn stop_all(&mut self) {
        for s in self.servers.iter_mut() {
            if let Some(mut c) = s.take() {
                signal(&c, libc::SIGCONT);
                signal(&c, libc::SIGTERM);
                if tokio::time::timeout(Duration::from_secs(20), c.wait())
                    .await
                    .is_err()
                {
                    let _ = c.kill().await;
                }
            }
        }
        self.stop_redis().await;
    }

    async fn drop_database(&self) {
        let _ = psql(
            &self.args.pg_admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db_name),
        )
        .await;
    }
}

fn signal(child: &Child, sig: i32) {
    if let Some(pid) = child.id() {
        // SAFETY: sending a signal to a child process we spawned.
        unsafe {
            libc::kill(pid as i32, sig);
        }
    }
}

async fn wait_port(port: u16, wait: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("nothing listens on 127.0.0.1:{port} after {wait:?}")
}

async fn psql(url: &str, sql: &str) -> anyhow::Result<String> {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qAt", "-F", "|", "-c", sql])
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

async fn pg_ctl(cluster: &str, action: &str) -> anyhow::Result<()> {
    let version = std::fs::read_dir("/etc/postgresql")?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .ok_or_else(|| anyhow::anyhow!("no PostgreSQL cluster in /etc/postgresql"))?;
    let status = Command::new("pg_ctlcluster")
        .args([
            "--skip-systemctl-redirect",
            &version,
            cluster,
            action,
            "-m",
            "fast",
        ])
        .status()
        .await?;
    anyhow::ensure!(status.success(), "pg_ctlcluster {action} failed");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Faults.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    Kill,
    Term,
    Pause,
    RedisRestart,
    PgRestart,
}

/// Every kind once, at seeded times between 15 % and 75 % of the run, on seeded instances.
fn schedule(rng: &mut Rng, duration: Duration, instances: usize) -> Vec<(Duration, Fault, usize)> {
    let kinds = [
        Fault::Kill,
        Fault::Term,
        Fault::Pause,
        Fault::RedisRestart,
        Fault::PgRestart,
    ];
    let span = duration.as_millis() as usize * 60 / 100;
    let mut plan: Vec<_> = kinds
        .iter()
        .map(|&k| {
            let at = duration.as_millis() as usize * 15 / 100 + rng.below(span.max(1));
            (
                Duration::from_millis(at as u64),
                k,
                rng.below(instances.max(1)),
            )
        })
        .collect();
    plan.sort();
    plan
}

async fn inject(
    cluster: &Mutex<Cluster>,
    fault: Fault,
    i: usize,
    hold: u64,
    down: &Mutex<HashSet<usize>>,
) -> anyhow::Result<()> {
    match fault {
        Fault::Kill => {
            down.lock().await.insert(i);
            {
                let mut c = cluster.lock().await;
                if let Some(mut child) = c.servers[i].take() {
                    let _ = child.kill().await;
                    let _ = child.wait().await;
                }
            }
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            cluster.lock().await.start_server(i).await?;
            down.lock().await.remove(&i);
        }
        Fault::Term => {
            down.lock().await.insert(i);
            {
                let mut c = cluster.lock().await;
                if let Some(mut child) = c.servers[i].take() {
                    signal(&child, libc::SIGTERM);
                    if tokio::time::timeout(Duration::from_secs(30), child.wait())
                        .await
                        .is_err()
                    {
                        anyhow::bail!("instance {i} did not stop within 30 s of SIGTERM");
                    }
                }
            }
            cluster.lock().await.start_server(i).await?;
            down.lock().await.remove(&i);
        }
        Fault::Pause => {
            down.lock().await.insert(i);
            {
                let c = cluster.lock().await;
                if let Some(child) = c.pid(i) {
                    signal(child, libc::SIGSTOP);
                }
            }
            tokio::time::sleep(Duration::from_secs(hold + 2)).await;
            let c = cluster.lock().await;
            if let Some(child) = c.pid(i) {
                signal(child, libc::SIGCONT);
            }
            down.lock().await.remove(&i);
        }
        Fault::RedisRestart => {
            let mut c = cluster.lock().await;
            c.stop_redis().await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            c.start_redis().await?;
        }
        Fault::PgRestart => {
            let pg = cluster.lock().await.args.pg_cluster.clone();
            pg_ctl(&pg, "restart").await?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// What clients saw.
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Seen {
    ops: BTreeMap<&'static str, u64>,
    errors: BTreeMap<String, u64>,
    /// Reservations, payments and top-ups the client was told succeeded.
    reservations: HashSet<String>,
    payments: HashSet<String>,
    top_ups: HashSet<String>,
    replay_mismatches: Vec<String>,
}

struct Vu {
    account: Account,
    rng: Rng,
    pending: Vec<String>,
    confirmed: Vec<String>,
    tickets: Vec<String>,
    key: u64,
}

struct Shared {
    apis: Vec<Api>,
    down: Mutex<HashSet<usize>>,
    seen: Mutex<Seen>,
    ga: String,
    seated: String,
    usernames: Vec<String>,
    run: String,
}

impl Shared {
    async fn op(&self, name: &'static str) {
        *self.seen.lock().await.ops.entry(name).or_default() += 1;
    }
    async fn error(&self, e: &ApiError) {
        *self
            .seen
            .lock()
            .await
            .errors
            .entry(e.code.clone())
            .or_default() += 1;
    }

    /// Runs an operation on a random live instance; a transport failure or SERVICE_UNAVAILABLE is
    /// retried (on any instance) with the same variables, so an idempotent mutation ends once.
    async fn call(
        &self,
        rng: &mut Rng,
        token: &str,
        query: &str,
        vars: Value,
    ) -> Result<Value, ApiError> {
        let mut last = None;
        for attempt in 0..60 {
            let i = rng.below(self.apis.len());
            if self.down.lock().await.contains(&i) && attempt < 59 {
                continue;
            }
            match self.apis[i].gql(Some(token), query, vars.clone()).await {
                Ok(v) => return Ok(v),
                Err(e)
                    if matches!(
                        e.code.as_str(),
                        "TRANSPORT" | "TIMEOUT" | "SERVICE_UNAVAILABLE"
                    ) =>
                {
                    self.error(&e).await;
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(ApiError {
            code: "GAVE_UP".into(),
            message: "no instance answered".into(),
        }))
    }
}

const RESERVE: &str = "mutation($input: ReserveInput!) { reserve(input: $input) { id status } }";
const PAY: &str = "mutation($input: PayInput!) { pay(input: $input) { reservation { id status tickets { id } } transaction { id } } }";
const CANCEL: &str = "mutation($id: ID!) { cancelReservation(id: $id) { id status } }";
const JOIN: &str =
    "mutation($tt: ID!, $q: Int!) { joinWaitlist(ticketTypeId: $tt, quantity: $q) { id } }";
const TRANSFER: &str =
    "mutation($id: ID!, $to: String!) { transferTicket(ticketId: $id, toUsername: $to) { id } }";
const TOP_UP: &str = "mutation($amount: Cents!, $key: String!) { topUpWallet(amountCents: $amount, idempotencyKey: $key, cardToken: \"tok_visa\") { balanceCents } }";

async fn virtual_user(shared: Arc<Shared>, mut vu: Vu, until: Instant) {
    while Instant::now() < until {
        vu.key += 1;
        let key = format!("{}-{}-{}", shared.run, vu.account.username, vu.key);
        let token = vu.account.token.clone();
        let roll = vu.rng.below(100);
        match roll {
            0..=29 => {
                let seated = vu.rng.below(3) == 0;
                let input = if seated {
                    json!({ "ticketTypeId": shared.seated, "quantity": 1 + vu.rng.below(2), "bestAvailable": true, "idempotencyKey": key })
                } else {
                    json!({ "ticketTypeId": shared.ga, "quantity": 1 + vu.rng.below(2), "idempotencyKey": key })
                };
                shared.op("reserve").await;
                match shared
                    .call(
                        &mut vu.rng,
                        &token,
                        RESERVE,
                        json!({ "input": input.clone() }),
                    )
                    .await
                {
                    Ok(d) => {
                        let Ok(id) = str_at(&d, "/reserve/id") else {
                            continue;
                        };
                        shared.seen.lock().await.reservations.insert(id.clone());
                        vu.pending.push(id.clone());
                        // Replay the key: the same reservation comes back.
                        if vu.rng.below(5) == 0
                            && let Ok(again) = shared
                                .call(&mut vu.rng, &token, RESERVE, json!({ "input": input }))
                                .await
                            && str_at(&again, "/reserve/id").ok().as_deref() != Some(&id)
                        {
                            shared
                                .seen
                                .lock()
                                .await
                                .replay_mismatches
                                .push(format!("reserve {key}: {id} then {again}"));
                        }
                    }
                    Err(e) if e.code == "SOLD_OUT" => {
                        shared.error(&e).await;
                        if vu.rng.below(3) == 0 {
                            shared.op("joinWaitlist").await;
                            let tt = if input["bestAvailable"] == true {
                                &shared.seated
                            } else {
                                &shared.ga
                            };
                            if let Err(e) = shared
                                .call(&mut vu.rng, &token, JOIN, json!({ "tt": tt, "q": 1 }))
                                .await
                            {
                                shared.error(&e).await;
                            }
                        }
                    }
                    Err(e) => shared.error(&e).await,
                }
            }
            30..=59 if !vu.pending.is_empty() => {
                let r = vu.pending.swap_remove(vu.rng.below(vu.pending.len()));
                let card = vu.rng.below(3) == 0;
                let token_card = [
                    "tok_visa",
                    "tok_visa",
                    "tok_visa",
                    "tok_chargeDeclined",
                    "tok_timeout",
                    "tok_processingError",
                ][vu.rng.below(6)];
                let input = if card {
                    json!({ "reservationId": r, "idempotencyKey": key, "method": "CARD", "cardToken": token_card })
                } else {
                    json!({ "reservationId": r, "idempotencyKey": key, "method": "WALLET" })
                };
                shared
                    .op(if card { "pay card" } else { "pay wallet" })
                    .await;
                match shared
                    .call(&mut vu.rng, &token, PAY, json!({ "input": input.clone() }))
                    .await
                {
                    Ok(d) => {
                        let t = str_at(&d, "/pay/transaction/id").unwrap_or_default();
                        shared.seen.lock().await.payments.insert(t.clone());
                        vu.confirmed.push(r);
                        if let Some(ts) = d
                            .pointer("/pay/reservation/tickets")
                            .and_then(Value::as_array)
                        {
                            vu.tickets.extend(
                                ts.iter()
                                    .filter_map(|t| t["id"].as_str().map(str::to_string)),
                            );
                        }
                        if vu.rng.below(4) == 0
                            && let Ok(again) = shared
                                .call(&mut vu.rng, &token, PAY, json!({ "input": input }))
                                .await
                            && str_at(&again, "/pay/transaction/id").ok().as_deref() != Some(&t)
                        {
                            shared
                                .seen
                                .lock()
                                .await
                                .replay_mismatches
                                .push(format!("pay {key}: {t} then {again}"));
                        }
                    }
                    Err(e) => {
                        shared.error(&e).await;
                        if e.code == "PAYMENT_DECLINED" || e.code == "INSUFFICIENT_FUNDS" {
                            vu.pending.push(r);
                        }
                    }
                }
            }
            60..=71 if !vu.confirmed.is_empty() || !vu.pending.is_empty() => {
                let r = if !vu.confirmed.is_empty() && vu.rng.below(2) == 0 {
                    vu.confirmed.swap_remove(vu.rng.below(vu.confirmed.len()))
                } else if !vu.pending.is_empty() {
                    vu.pending.swap_remove(vu.rng.below(vu.pending.len()))
                } else {
                    continue;
                };
                shared.op("cancel").await;
                if let Err(e) = shared
                    .call(&mut vu.rng, &token, CANCEL, json!({ "id": r }))
                    .await
                {
                    shared.error(&e).await;
                }
            }
            72..=79 if !vu.tickets.is_empty() => {
                let t = vu.tickets.swap_remove(vu.rng.below(vu.tickets.len()));
                let to = &shared.usernames[vu.rng.below(shared.usernames.len())];
                if *to == vu.account.username {
                    continue;
                }
                shared.op("transfer").await;
                if let Err(e) = shared
                    .call(&mut vu.rng, &token, TRANSFER, json!({ "id": t, "to": to }))
                    .await
                {
                    shared.error(&e).await;
                }
            }
            80..=84 => {
                shared.op("topUp").await;
                match shared
                    .call(
                        &mut vu.rng,
                        &token,
                        TOP_UP,
                        json!({ "amount": 5_000, "key": key }),
                    )
                    .await
                {
                    Ok(_) => {
                        shared.seen.lock().await.top_ups.insert(key);
                    }
                    Err(e) => shared.error(&e).await,
                }
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// One `transactionReports` subscriber on instance `i` for the whole run: on a lost connection
/// it reconnects (to the same instance, once it is back) with the cursor of the last report it
/// saw. Returns the report positions in the order received.
async fn subscriber(
    ws_url: String,
    token: String,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<i64> {
    const REPORTS: &str =
        "subscription($after: String) { transactionReports(after: $after) { cursor } }";
    let mut seen: Vec<i64> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        if *stop.borrow() {
            return seen;
        }
        let Ok(mut ws) = crate::ws::subscribe(
            &ws_url,
            &token,
            REPORTS,
            json!({ "after": cursor }),
            Duration::from_secs(5),
        )
        .await
        else {
            tokio::time::sleep(Duration::from_millis(300)).await;
            continue;
        };
        let mut stop = stop.clone();
        loop {
            tokio::select! {
                _ = stop.changed() => return seen,
                m = ws.next() => match m {
                    Some(Ok(Message::Text(t))) => {
                        let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                        if v["type"] == "ping" {
                            let _ = futures::SinkExt::send(&mut ws, Message::Text(crate::ws::PONG.into())).await;
                        }
                        if let Some(c) = v.pointer("/payload/data/transactionReports/cursor").and_then(Value::as_str) {
                            if let Some(p) = position(c) {
                                seen.push(p);
                            }
                            cursor = Some(c.to_string());
                        }
                        if v["type"] == "error" || v["type"] == "complete" {
                            break;
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A report cursor is base64 of `report:<position>`.
fn position(cursor: &str) -> Option<i64> {
    let bytes = base64_decode(cursor)?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("report:")?
        .parse()
        .ok()
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|&c| c != b'=') {
        let c = match c {
            b'-' => b'+',
            b'_' => b'/',
            c => c,
        };
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// The run.
// ---------------------------------------------------------------------------------------------

pub async fn run(cli: &Cli, args: &Args, timeout: Duration) -> anyhow::Result<Outcome> {
    let first = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1)
    });
    let mut failed = None;
    let mut rows = Vec::new();
    for n in 0..args.runs {
        let seed = first + n;
        eprintln!(
            "==== chaos run {} of {} (seed {seed}) ====",
            n + 1,
            args.runs
        );
        let (checks, line) = one_run(cli, args, seed, timeout).await?;
        let bad: Vec<&String> = checks
            .iter()
            .filter(|(_, ok, _)| !ok)
            .map(|(name, _, _)| name)
            .collect();
        if !bad.is_empty() && failed.is_none() {
            failed = Some(format!(
                "seed {seed}: checks failed: {bad:?} (replay with --seed {seed} --runs 1)"
            ));
        }
        rows.push((seed, bad.is_empty(), line));
    }
    println!("\nrun | seed | all checks");
    for (i, (seed, ok, _)) in rows.iter().enumerate() {
        println!("{} | {seed} | {}", i + 1, if *ok { "pass" } else { "FAIL" });
    }
    Ok(Outcome {
        unexpected_errors: 0,
        failed_check: failed,
    })
}

type Checks = Vec<(String, bool, String)>;

async fn one_run(
    cli: &Cli,
    args: &Args,
    seed: u64,
    timeout: Duration,
) -> anyhow::Result<(Checks, Value)> {
    let mut rng = Rng::new(seed);
    let cluster = Cluster::start(args, seed).await?;
    let apis: Vec<Api> = (0..args.instances)
        .map(|i| {
            Api::new(
                &format!("http://127.0.0.1:{}", cluster.port(i)),
                64,
                timeout,
            )
        })
        .collect::<anyhow::Result<_>>()?;
    let db_url = cluster.db_url.clone();
    let cluster = Arc::new(Mutex::new(cluster));
    let result = drive(cli, args, seed, &mut rng, &apis, &cluster, &db_url).await;
    let mut c = cluster.lock().await;
    c.stop_all().await;
    if result.is_ok() {
        c.drop_database().await;
    } else {
        eprintln!("logs in {}", c.logs.display());
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    cli: &Cli,
    args: &Args,
    seed: u64,
    rng: &mut Rng,
    apis: &[Api],
    cluster: &Arc<Mutex<Cluster>>,
    db_url: &str,
) -> anyhow::Result<(Checks, Value)> {
    let run = format!("c{seed}");
    let organizer = register(&apis[0], &format!("{run}org"), "ORGANIZER")
        .await
        .map_err(|e| anyhow::anyhow!("organizer: {e}"))?;
    // A general-admission event that sells out (so people queue) with a 50 % refund policy, and
    // a seated one sold by best-available pairs.
    let starts_at = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let ga = apis[0]
        .gql(
            Some(&organizer.token),
            "mutation($input: CreateEventInput!) { createEvent(input: $input) { id ticketTypes { id } } }",
            json!({ "input": { "title": format!("Chaos GA {run}"), "startsAt": starts_at,
                "ticketTypes": [{ "name": "GA", "priceCents": 1_000, "capacity": 40 }] } }),
        )
        .await
        .map_err(|e| anyhow::anyhow!("GA event: {e}"))?;
    let venue = apis[0]
        .gql(
            Some(&organizer.token),
            "mutation($input: CreateVenueInput!) { createVenue(input: $input) { id } }",
            json!({ "input": { "name": format!("Chaos hall {run}"), "sections": [{ "name": "Hall",
                "rows": (0..6).map(|r| json!({ "label": format!("R{r}"), "seats": 8 })).collect::<Vec<_>>() }] } }),
        )
        .await
        .map_err(|e| anyhow::anyhow!("venue: {e}"))?;
    let seated = apis[0]
        .gql(
            Some(&organizer.token),
            "mutation($input: CreateEventInput!) { createEvent(input: $input) { id ticketTypes { id } } }",
            json!({ "input": { "title": format!("Chaos seated {run}"), "startsAt": starts_at,
                "venueId": str_at(&venue, "/createVenue/id").unwrap_or_default(),
                "ticketTypes": [{ "name": "Hall", "priceCents": 1_500, "sections": ["Hall"] }] } }),
        )
        .await
        .map_err(|e| anyhow::anyhow!("seated event: {e}"))?;
    for e in [&ga, &seated] {
        let id = str_at(e, "/createEvent/id").unwrap_or_default();
        apis[0]
            .gql(
                Some(&organizer.token),
                "mutation($id: ID!) { publishEvent(id: $id) { id } }",
                json!({ "id": id }),
            )
            .await
            .map_err(|e| anyhow::anyhow!("publish: {e}"))?;
    }
    apis[0]
        .gql(
            Some(&organizer.token),
            "mutation($id: ID!, $input: CancellationPolicyInput!) { setCancellationPolicy(eventId: $id, input: $input) { id } }",
            json!({ "id": str_at(&ga, "/createEvent/id").unwrap_or_default(),
                "input": { "rules": [{ "hoursBeforeStart": 0, "refundPercent": 50 }], "feeCents": 10 } }),
        )
        .await
        .map_err(|e| anyhow::anyhow!("policy: {e}"))?;

    let mut accounts = Vec::new();
    for i in 0..args.users {
        let a = register(&apis[i % apis.len()], &format!("{run}u{i}"), "USER")
            .await
            .map_err(|e| anyhow::anyhow!("register: {e}"))?;
        apis[0]
            .gql(
                Some(&a.token),
                TOP_UP,
                json!({ "amount": 20_000, "key": format!("{run}-seed-{i}") }),
            )
            .await
            .map_err(|e| anyhow::anyhow!("top up: {e}"))?;
        accounts.push(a);
    }
    let shared = Arc::new(Shared {
        apis: apis.to_vec(),
        down: Mutex::new(HashSet::new()),
        seen: Mutex::new(Seen::default()),
        ga: str_at(&ga, "/createEvent/ticketTypes/0/id").unwrap_or_default(),
        seated: str_at(&seated, "/createEvent/ticketTypes/0/id").unwrap_or_default(),
        usernames: accounts.iter().map(|a| a.username.clone()).collect(),
        run: run.clone(),
    });
    for a in &accounts {
        shared
            .seen
            .lock()
            .await
            .top_ups
            .insert(format!("{run}-seed-{}", &a.username[run.len() + 1..]));
    }

    // Subscribers first, so they must see every report.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let subscribers: Vec<_> = apis
        .iter()
        .map(|a| {
            tokio::spawn(subscriber(
                a.ws_url.clone(),
                organizer.token.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let duration = Duration::from_secs(args.duration);
    let started = Instant::now();
    let until = started + duration;
    let plan = schedule(rng, duration, args.instances);
    eprintln!("  fault schedule: {plan:?}");
    let users: Vec<_> = accounts
        .into_iter()
        .enumerate()
        .map(|(i, account)| {
            let vu = Vu {
                account,
                rng: Rng::new(seed.wrapping_mul(1_000) + i as u64),
                pending: Vec::new(),
                confirmed: Vec::new(),
                tickets: Vec::new(),
                key: 0,
            };
            tokio::spawn(virtual_user(shared.clone(), vu, until))
        })
        .collect();
    let mut injected = Vec::new();
    for (at, fault, i) in plan {
        tokio::time::sleep_until((started + at).into()).await;
        eprintln!(
            "  t={:>5.1}s {fault:?} instance {i}",
            started.elapsed().as_secs_f64()
        );
        if let Err(e) = inject(cluster, fault, i, args.hold_seconds, &shared.down).await {
            anyhow::bail!("injecting {fault:?}: {e:#}");
        }
        injected.push(format!("{fault:?}"));
    }
    for u in users {
        let _ = u.await;
    }

    // Healthy again: every instance ready, holds past their expiry swept, reports delivered.
    for (i, a) in apis.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !a.get_ok("/readyz").await {
            anyhow::ensure!(
                Instant::now() < deadline,
                "instance {i} not ready after the run"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(
        args.hold_seconds + 2 * SWEEP_SECONDS + 2,
    ))
    .await;
    let stored: Vec<i64> = psql(
        db_url,
        "SELECT position FROM transaction_reports WHERE position IS NOT NULL ORDER BY position",
    )
    .await?
    .lines()
    .filter_map(|l| l.parse().ok())
    .collect();
    // Give subscribers time to catch up with the last report.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = stop_tx.send(true);
    let mut delivered = Vec::new();
    for s in subscribers {
        delivered.push(s.await.unwrap_or_default());
    }

    let seen = std::mem::take(&mut *shared.seen.lock().await);
    let checks = audit(db_url, &seen, &stored, &delivered, args).await?;
    println!(
        "\nchaos run, seed {seed}: {} s, {} instances, {} users",
        args.duration, args.instances, args.users
    );
    println!("operations: {:?}", seen.ops);
    println!("answers other than success: {:?}", seen.errors);
    println!("faults injected: {injected:?}");
    println!("check | result | detail");
    for (name, ok, detail) in &checks {
        println!("{name} | {} | {detail}", if *ok { "pass" } else { "FAIL" });
    }
    let mut line = crate::json_head(cli, "chaos", &run);
    line.insert("seed".into(), seed.into());
    line.insert("duration_s".into(), args.duration.into());
    line.insert("ops".into(), json!(seen.ops));
    line.insert("errors".into(), json!(seen.errors));
    line.insert("faults".into(), json!(injected));
    line.insert(
        "checks".into(),
        json!(
            checks
                .iter()
                .map(|(n, ok, _)| (n.clone(), *ok))
                .collect::<BTreeMap<_, _>>()
        ),
    );
    let line = Value::Object(line);
    crate::stats::emit_json(&line);
    Ok((checks, line))
}

async fn count(db: &str, sql: &str) -> anyhow::Result<i64> {
    Ok(psql(db, sql).await?.parse().unwrap_or(-1))
}

async fn audit(
    db: &str,
    seen: &Seen,
    stored: &[i64],
    delivered: &[Vec<i64>],
    args: &Args,
) -> anyhow::Result<Checks> {
    let mut checks: Checks = Vec::new();
    let mut check =
        |name: &str, ok: bool, detail: String| checks.push((name.to_string(), ok, detail));

    let n = count(db, "SELECT count(*) FROM ticket_types t WHERE t.available <> t.capacity - COALESCE((SELECT sum(quantity) FROM reservations r WHERE r.ticket_type_id = t.id AND r.status IN ('PENDING','CONFIRMED')), 0)").await?;
    check(
        "seats: available = capacity − held − sold, per ticket type",
        n == 0,
        format!("{n} ticket type(s) off"),
    );
    let n = count(db, "SELECT count(*) FROM event_seats s LEFT JOIN reservations r ON r.id = s.reservation_id WHERE (s.status = 'HELD' AND r.status IS DISTINCT FROM 'PENDING') OR (s.status = 'SOLD' AND r.status IS DISTINCT FROM 'CONFIRMED')").await?;
    let m = count(db, "SELECT count(*) FROM reservations r WHERE r.status IN ('PENDING','CONFIRMED') AND EXISTS (SELECT 1 FROM event_seats x WHERE x.ticket_type_id = r.ticket_type_id) AND r.quantity <> (SELECT count(*) FROM event_seats s WHERE s.reservation_id = r.id)").await?;
    check(
        "seats: no seat held or sold twice, each seated reservation holds its seats",
        n == 0 && m == 0,
        format!("{n} seat(s) and {m} reservation(s) off"),
    );
    let n = count(db, "SELECT count(*) FROM wallets w WHERE w.balance_cents <> COALESCE((SELECT sum(amount_cents) FROM ledger_entries e WHERE e.user_id = w.user_id), 0)").await?;
    let m = count(db, "SELECT count(*) FROM wallets w WHERE w.balance_cents <> COALESCE((SELECT sum(CASE WHEN kind = 'PAYMENT' THEN -amount_cents ELSE amount_cents END) FROM transactions t WHERE t.user_id = w.user_id AND t.status = 'SUCCEEDED' AND (t.kind IN ('TOP_UP', 'ADJUSTMENT') OR t.method = 'WALLET')), 0)").await?;
    check(
        "ledger: each wallet = its entries = top-ups − wallet payments + wallet refunds",
        n == 0 && m == 0,
        format!("{n} / {m} wallet(s) off"),
    );
    let n = count(db, "SELECT count(*) FROM card_charges c WHERE c.status = 'SUCCEEDED' AND NOT EXISTS (SELECT 1 FROM transactions t WHERE t.gateway_charge_id = c.id AND t.kind IN ('PAYMENT', 'TOP_UP') AND t.status = 'SUCCEEDED')").await?;
    let m = count(
        db,
        "SELECT count(*) FROM card_refunds WHERE settled_at IS NULL",
    )
    .await?;
    check(
        "cards: every charge kept paid for something; every card refund settled",
        n == 0 && m == 0,
        format!("{n} stray charge(s), {m} unsettled refund(s)"),
    );
    let n = count(db, "SELECT count(*) FROM reservations r WHERE r.status = 'CONFIRMED' AND r.amount_cents > 0 AND (SELECT count(*) FROM transactions t WHERE t.reservation_id = r.id AND t.kind = 'PAYMENT' AND t.status = 'SUCCEEDED') <> 1").await?;
    let m = count(db, "SELECT count(*) FROM (SELECT reservation_id FROM transactions WHERE kind = 'PAYMENT' AND status = 'SUCCEEDED' GROUP BY reservation_id HAVING count(*) > 1) x").await?;
    check(
        "payments: every confirmed reservation paid exactly once",
        n == 0 && m == 0,
        format!("{n} unpaid/overpaid, {m} paid twice"),
    );

    let in_list = |ids: &HashSet<String>| {
        ids.iter()
            .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut missing = 0;
    if !seen.reservations.is_empty() {
        missing += seen.reservations.len() as i64
            - count(
                db,
                &format!(
                    "SELECT count(*) FROM reservations WHERE id IN ({})",
                    in_list(&seen.reservations)
                ),
            )
            .await?;
    }
    if !seen.payments.is_empty() {
        missing += seen.payments.len() as i64
            - count(
                db,
                &format!(
                    "SELECT count(*) FROM transactions WHERE status = 'SUCCEEDED' AND id IN ({})",
                    in_list(&seen.payments)
                ),
            )
            .await?;
    }
    let keys = seen
        .top_ups
        .iter()
        .map(|k| format!("'{}'", k.replace('\'', "")))
        .collect::<Vec<_>>()
        .join(",");
    if !keys.is_empty() {
        missing += seen.top_ups.len() as i64
            - count(db, &format!("SELECT count(*) FROM transactions WHERE kind = 'TOP_UP' AND status = 'SUCCEEDED' AND idempotency_key IN ({keys})")).await?;
    }
    check(
        "acknowledged: every success a client got is in the database",
        missing == 0,
        format!(
            "{missing} missing of {}",
            seen.reservations.len() + seen.payments.len() + seen.top_ups.len()
        ),
    );
    check(
        "idempotency: every replayed key returned the first answer",
        seen.replay_mismatches.is_empty(),
        format!(
            "{:?}",
            seen.replay_mismatches.iter().take(3).collect::<Vec<_>>()
        ),
    );

    let mut bad = Vec::new();
    for (i, d) in delivered.iter().enumerate() {
        let dupes = d.len() - d.iter().collect::<HashSet<_>>().len();
        let ordered = d.windows(2).all(|w| w[0] < w[1]);
        if dupes > 0 || !ordered || d.as_slice() != stored {
            bad.push(format!(
                "subscriber {i}: {} received, {} stored, {dupes} duplicate(s), in order: {ordered}",
                d.len(),
                stored.len()
            ));
        }
    }
    check(
        "reports: every subscriber got every report once, in cursor order",
        bad.is_empty(),
        if bad.is_empty() {
            format!("{} reports × {} subscribers", stored.len(), delivered.len())
        } else {
            bad.join("; ")
        },
    );
    let n = count(db, &format!("SELECT count(*) FROM reservations WHERE status = 'PENDING' AND expires_at < now() - interval '{} seconds'", SWEEP_SECONDS + 2)).await?;
    check(
        "holds: none outlives its expiry by more than the sweep",
        n == 0,
        format!("{n} overdue hold(s) (HOLD_SECONDS={})", args.hold_seconds),
    );
    let n = count(db, "SELECT count(*) FROM ticket_types t WHERE t.waiting <> (SELECT count(*) FROM waitlist_entries w WHERE w.ticket_type_id = t.id AND w.status = 'WAITING')").await?;
    check(
        "waitlist: each ticket type's waiting count matches its queue",
        n == 0,
        format!("{n} off"),
    );
    let internal = seen
        .errors
        .get("INTERNAL_SERVER_ERROR")
        .copied()
        .unwrap_or(0);
    check(
        "honest errors: no INTERNAL_SERVER_ERROR, outages answered SERVICE_UNAVAILABLE",
        internal == 0,
        format!("{internal} internal error(s)"),
    );
    Ok(checks)
}

#[cfg(test)]
mod tests {
    #[test]
    fn report_cursors_decode_to_positions() {
        assert_eq!(super::position("cmVwb3J0OjQ"), Some(4));
    }
}
