//! Per-instance metrics, rendered in the Prometheus text format at `/metrics`.
//!
//! Each `Application` owns its own `Metrics`, so several servers in one process (as in the
//! tests) never mix their numbers. That is why this is a small registry of atomics and labelled
//! counters rather than the `metrics` crate's process-global recorder.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Latency buckets in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.counts[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str) {
        for (i, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                self.counts[i].load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// Counters by a set of label values.
#[derive(Debug, Default)]
pub struct LabelledCounter {
    values: Mutex<BTreeMap<Vec<String>, u64>>,
}

impl LabelledCounter {
    pub fn inc(&self, labels: &[&str]) {
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        *values
            .entry(labels.iter().map(|l| l.to_string()).collect())
            .or_default() += 1;
    }

    /// How many label combinations exist.
    pub fn distinct(&self) -> usize {
        self.values.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether some combination has `value` at label position `index`.
    pub fn has_label(&self, index: usize, value: &str) -> bool {
        self.values
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .any(|k| k.get(index).is_some_and(|v| v == value))
    }

    pub fn get(&self, labels: &[&str]) -> u64 {
        let key: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
        self.values
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .copied()
            .unwrap_or(0)
    }

    fn render(&self, out: &mut String, name: &str, label_names: &[&str]) {
        let values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        for (labels, value) in values.iter() {
            let pairs: Vec<String> = label_names
                .iter()
                .zip(labels)
                .map(|(n, v)| format!("{n}=\"{}\"", escape_label(v)))
                .collect();
            let _ = writeln!(out, "{name}{{{}}} {value}", pairs.join(","));
        }
    }
}

/// A label value as the Prometheus text format wants it: backslash, double quote and line feed
/// escaped, so no value can end its line and forge another series.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[derive(Default)]
pub struct Metrics {
    /// SQL statements sent to the database, counted by SeaORM's metric callback.
    pub db_statements: AtomicU64,
    /// SQL statements that returned an error.
    pub db_statement_errors: AtomicU64,
    /// Times the Redis pub/sub subscription was re-established.
    pub pubsub_reconnects: AtomicU64,
    /// WebSocket connections past `connection_init`.
    pub open_subscription_sockets: AtomicU64,
    /// Subscriptions (operations) running on those sockets.
    pub open_subscriptions: AtomicU64,
    /// HTTP responses by status code.
    pub http_requests: LabelledCounter,
    /// HTTP request latency.
    pub http_latency: Histogram,
    /// GraphQL operations by operation name and outcome (`ok` or an error code).
    pub graphql_operations: LabelledCounter,
    /// `reserve` calls by outcome.
    pub reservations: LabelledCounter,
    /// Batches of general-admission holds run (`reservations::batch`), one transaction each.
    pub reserve_batches: AtomicU64,
    /// Holds decided in those batches.
    pub reserve_batched_holds: AtomicU64,
    /// `pay` calls by method and outcome.
    pub payments: LabelledCounter,
    /// Requests refused by a rate limit, by limit.
    pub rate_limited: LabelledCounter,
    /// Reads the database pool's gauges; set once the pool exists.
    pub pool: std::sync::OnceLock<Box<dyn Fn() -> PoolGauges + Send + Sync>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Gauges read at render time from outside (the database pool).
#[derive(Debug, Default, Clone, Copy)]
pub struct PoolGauges {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

impl Metrics {
    pub fn render(&self) -> String {
        let pool = self.pool.get().map(|read| read()).unwrap_or_default();
        let mut out = String::new();
        let counters = [
            (
                "evenntify_db_statements_total",
                "SQL statements executed by this instance.",
                &self.db_statements,
            ),
            (
                "evenntify_db_statement_errors_total",
                "SQL statements that failed.",
                &self.db_statement_errors,
            ),
            (
                "evenntify_pubsub_reconnects_total",
                "Times the Redis pub/sub subscription was re-established.",
                &self.pubsub_reconnects,
            ),
            (
                "evenntify_reserve_batches_total",
                "Group commits of general-admission holds (one transaction each).",
                &self.reserve_batches,
            ),
            (
                "evenntify_reserve_batched_holds_total",
                "Holds decided in those group commits.",
                &self.reserve_batched_holds,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let gauges = [
            (
                "evenntify_open_subscription_sockets",
                "WebSocket connections past connection_init.",
                self.open_subscription_sockets.load(Ordering::Relaxed),
            ),
            (
                "evenntify_open_subscriptions",
                "Subscriptions running on WebSocket connections.",
                self.open_subscriptions.load(Ordering::Relaxed),
            ),
            (
                "evenntify_db_pool_connections",
                "Database connections open in the pool.",
                u64::from(pool.size),
            ),
            (
                "evenntify_db_pool_in_use",
                "Database connections checked out of the pool.",
                u64::from(pool.size.saturating_sub(pool.idle)),
            ),
            (
                "evenntify_db_pool_max",
                "Largest size the pool may grow to.",
                u64::from(pool.max),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        let labelled: [(&str, &str, &LabelledCounter, &[&str]); 5] = [
            (
                "evenntify_http_requests_total",
                "HTTP responses by status code.",
                &self.http_requests,
                &["status"],
            ),
            (
                "evenntify_graphql_operations_total",
                "GraphQL operations by name and outcome.",
                &self.graphql_operations,
                &["operation", "outcome"],
            ),
            (
                "evenntify_reservations_total",
                "reserve calls by outcome.",
                &self.reservations,
                &["outcome"],
            ),
            (
                "evenntify_payments_total",
                "pay calls by method and outcome.",
                &self.payments,
                &["method", "outcome"],
            ),
            (
                "evenntify_rate_limited_total",
                "Requests refused by a rate limit.",
                &self.rate_limited,
                &["limit"],
            ),
        ];
        for (name, help, counter, labels) in labelled {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            counter.render(&mut out, name, labels);
        }
        let name = "evenntify_http_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} HTTP request latency.\n# TYPE {name} histogram"
        );
        self.http_latency.render(&mut out, name);
        out
    }
}

/// Keeps `open_subscriptions` up while the returned stream lives: the guard rides inside the
/// stream and decrements the gauge when the stream is dropped, however it ends.
pub fn counted<S>(
    metrics: std::sync::Arc<Metrics>,
    stream: S,
) -> impl futures::Stream<Item = S::Item> + Send + 'static
where
    S: futures::Stream + Send + 'static,
{
    use futures::StreamExt;
    struct Open(std::sync::Arc<Metrics>);
    impl Drop for Open {
        fn drop(&mut self) {
            self.0.open_subscriptions.fetch_sub(1, Ordering::Relaxed);
        }
    }
    metrics.open_subscriptions.fetch_add(1, Ordering::Relaxed);
    let open = Open(metrics);
    stream.map(move |item| {
        let _ = &open;
        item
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_labels_escaped() {
        let m = Metrics::default();
        m.http_latency.observe(Duration::from_millis(3));
        m.http_latency.observe(Duration::from_millis(300));
        m.graphql_operations.inc(&["Say \"hi\"", "ok"]);
        m.graphql_operations
            .inc(&["x\"} 1\nevenntify_forged_total{a=\"\\", "ok"]);
        let text = m.render();
        assert!(
            text.contains("evenntify_http_request_duration_seconds_bucket{le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("evenntify_http_request_duration_seconds_bucket{le=\"0.5\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("evenntify_http_request_duration_seconds_count 2"),
            "{text}"
        );
        assert!(
            text.contains(
                r#"evenntify_graphql_operations_total{operation="Say \"hi\"",outcome="ok"} 1"#
            ),
            "{text}"
        );
        assert!(
            !text.lines().any(|l| l.starts_with("evenntify_forged")),
            "{text}"
        );
        assert!(
            text.contains(r#"operation="x\"} 1\nevenntify_forged_total{a=\"\\""#),
            "{text}"
        );
    }
}
