//! `evenntify-bench`: load scenarios against a running Evenntify server.
//!
//! Every scenario creates its own data (names carry a per-run id), prints a table of throughput,
//! latency percentiles and errors by code, and ends with one JSON line for machines. Only
//! `http://` URLs are accepted: point it at a server on this machine (127.0.0.1).

mod analytics;
mod browse;
mod chaos;
mod checkout;
mod client;
mod fanout;
mod onsale;
mod seating;
mod setup;
mod stats;
mod ws;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "evenntify-bench",
    version,
    about = "Load scenarios (browse, checkout, onsale, fanout, seatmap, seated-onsale, analytics) against a running Evenntify server."
)]
pub struct Cli {
    /// The server's root URL.
    #[arg(long, global = true, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Per-request timeout, in seconds.
    #[arg(long, global = true, default_value_t = 30)]
    pub timeout_secs: u64,
    /// A free-text label copied into the JSON line (e.g. "sqlite" or "postgres+redis").
    #[arg(long, global = true, default_value = "")]
    pub label: String,
    /// Exit non-zero when any error other than the scenario's expected ones occurred
    /// (onsale expects SOLD_OUT). Oversell always fails the run.
    #[arg(long, global = true)]
    pub strict: bool,
    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(Subcommand, Debug)]
pub enum Scenario {
    /// N concurrent anonymous clients paging `events` and fetching `event` details.
    Browse(browse::Args),
    /// V virtual users, each logged in once, looping reserve → pay (wallet) over many ticket types.
    Checkout(checkout::Args),
    /// Many buyers race for the seats of one ticket type; checks that nothing is oversold.
    Onsale(onsale::Args),
    /// S organizer subscriptions open while P payments per second flow; delivery latency and
    /// server memory per idle subscription.
    Fanout(fanout::Args),
    /// C clients reading the seat map of one large seated event (20,000 seats by default).
    Seatmap(seating::MapArgs),
    /// Buyers race for best-available blocks of adjacent seats; checks no seat is sold twice.
    SeatedOnsale(seating::OnsaleArgs),
    /// Starts its own cluster (instances, a scratch PostgreSQL database, its own Redis), drives a
    /// random mix under killed, paused and restarted processes, then audits seats, money and
    /// reports. Needs psql, pg_ctlcluster and redis-server; ignores --url.
    Chaos(chaos::Args),
    /// One event with N sold tickets (bulk-inserted into the server's database, plus real API
    /// purchases), then the organizer's `analytics` timed M times; checks the figures.
    Analytics(analytics::Args),
}

pub struct Outcome {
    /// Errors that were not expected by the scenario.
    pub unexpected_errors: u64,
    /// A correctness check failed (oversell, lost deliveries...).
    pub failed_check: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    raise_fd_limit();
    let result = run(&cli).await;
    match result {
        Ok(outcome) => {
            if let Some(why) = outcome.failed_check {
                eprintln!("FAILED: {why}");
                return ExitCode::FAILURE;
            }
            if cli.strict && outcome.unexpected_errors > 0 {
                eprintln!(
                    "FAILED (--strict): {} unexpected error(s)",
                    outcome.unexpected_errors
                );
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli) -> anyhow::Result<Outcome> {
    let timeout = Duration::from_secs(cli.timeout_secs);
    match &cli.scenario {
        Scenario::Browse(a) => browse::run(cli, a, timeout).await,
        Scenario::Checkout(a) => checkout::run(cli, a, timeout).await,
        Scenario::Onsale(a) => onsale::run(cli, a, timeout).await,
        Scenario::Fanout(a) => fanout::run(cli, a, timeout).await,
        Scenario::Seatmap(a) => seating::run_map(cli, a, timeout).await,
        Scenario::SeatedOnsale(a) => seating::run_onsale(cli, a, timeout).await,
        Scenario::Analytics(a) => analytics::run(cli, a, timeout).await,
        Scenario::Chaos(a) => chaos::run(cli, a, timeout.min(Duration::from_secs(10))).await,
    }
}

/// Thousands of sockets need more than the usual 1,024 descriptors: raise the soft limit to the
/// hard one.
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// The soft descriptor limit now in force.
pub fn fd_limit() -> u64 {
    // SAFETY: as above.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur
        } else {
            0
        }
    }
}

/// Common JSON fields of every scenario's line.
pub fn json_head(
    cli: &Cli,
    scenario: &str,
    run: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("scenario".into(), scenario.into());
    m.insert("label".into(), cli.label.clone().into());
    m.insert("url".into(), cli.url.clone().into());
    m.insert("run".into(), run.into());
    m.insert("loadavg_end".into(), loadavg().into());
    m.insert(
        "at".into(),
        chrono::Utc::now()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            .into(),
    );
    m
}

/// The 1-minute load average (other work on the machine skews results: it is recorded).
pub fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
