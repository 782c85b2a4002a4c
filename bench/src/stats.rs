//! Latency histograms (microseconds, HdrHistogram) per operation, error counts by code, and the
//! report: a human table plus one JSON line.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

/// 1 µs .. 120 s at 3 significant figures.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

#[derive(Default)]
struct Inner {
    /// Operation name → latency of every answered request (successes and GraphQL errors).
    ops: BTreeMap<String, Histogram<u64>>,
    /// Operation name → successes.
    ok: BTreeMap<String, u64>,
    /// Error code → count.
    errors: BTreeMap<String, u64>,
    /// Error code → one example message.
    samples: BTreeMap<String, String>,
}

/// Shared by all tasks of a scenario; each record takes a short lock.
#[derive(Default)]
pub struct Recorder {
    inner: Mutex<Inner>,
}

impl Recorder {
    pub fn record(&self, op: &str, latency: Duration, ok: bool) {
        let micros = (latency.as_micros() as u64).clamp(1, 120_000_000);
        let mut inner = self.inner.lock().expect("recorder lock");
        inner
            .ops
            .entry(op.to_string())
            .or_insert_with(histogram)
            .saturating_record(micros);
        if ok {
            *inner.ok.entry(op.to_string()).or_default() += 1;
        }
    }

    pub fn error(&self, code: &str, message: &str) {
        let mut inner = self.inner.lock().expect("recorder lock");
        *inner.errors.entry(code.to_string()).or_default() += 1;
        inner
            .samples
            .entry(code.to_string())
            .or_insert_with(|| message.chars().take(200).collect());
    }

    pub fn ok_count(&self, op: &str) -> u64 {
        let inner = self.inner.lock().expect("recorder lock");
        inner.ok.get(op).copied().unwrap_or(0)
    }

    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.inner.lock().expect("recorder lock").errors.clone()
    }

    /// Errors whose code is not in `expected`.
    pub fn unexpected_errors(&self, expected: &[&str]) -> u64 {
        self.errors()
            .iter()
            .filter(|(code, _)| !expected.contains(&code.as_str()))
            .map(|(_, n)| n)
            .sum()
    }

    /// Prints the table to stdout and returns the per-operation JSON.
    pub fn report(&self, elapsed: Duration) -> (Value, Value) {
        let inner = self.inner.lock().expect("recorder lock");
        let secs = elapsed.as_secs_f64().max(1e-9);
        println!(
            "{:<14} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}",
            "operation", "requests", "ok", "ok/s", "p50 ms", "p95 ms", "p99 ms", "max ms"
        );
        let mut ops = Map::new();
        for (name, h) in &inner.ops {
            let ok = inner.ok.get(name).copied().unwrap_or(0);
            let q = |p: f64| h.value_at_quantile(p) as f64 / 1000.0;
            println!(
                "{:<14} {:>9} {:>9} {:>10.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                name,
                h.len(),
                ok,
                ok as f64 / secs,
                q(0.50),
                q(0.95),
                q(0.99),
                h.max() as f64 / 1000.0
            );
            ops.insert(
                name.clone(),
                json!({
                    "requests": h.len(),
                    "ok": ok,
                    "ok_per_s": round2(ok as f64 / secs),
                    "p50_ms": round2(q(0.50)),
                    "p95_ms": round2(q(0.95)),
                    "p99_ms": round2(q(0.99)),
                    "max_ms": round2(h.max() as f64 / 1000.0),
                }),
            );
        }
        if inner.errors.is_empty() {
            println!("errors: none");
        } else {
            println!("errors by code:");
            for (code, n) in &inner.errors {
                let sample = inner.samples.get(code).map(String::as_str).unwrap_or("");
                println!("  {code:<22} {n:>8}   e.g. {sample}");
            }
        }
        let errors: Map<String, Value> = inner
            .errors
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        (Value::Object(ops), Value::Object(errors))
    }
}

/// Summary of a standalone histogram (milliseconds).
pub fn summarize(h: &Histogram<u64>) -> Value {
    let q = |p: f64| round2(h.value_at_quantile(p) as f64 / 1000.0);
    json!({
        "count": h.len(),
        "p50_ms": q(0.50),
        "p95_ms": q(0.95),
        "p99_ms": q(0.99),
        "max_ms": round2(h.max() as f64 / 1000.0),
    })
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// VmRSS of a process in KiB, from /proc/<pid>/status.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Prints the machine-readable line: one JSON object, alone on its line.
pub fn emit_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string(value).expect("serializable report")
    );
}
