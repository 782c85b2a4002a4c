//! Per-instance counters, rendered in the Prometheus text format at `/metrics`.
//!
//! Each `Application` owns its own `Metrics`, so several servers in one process (as in the
//! tests) never mix their numbers.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    /// SQL statements sent to the database, counted by SeaORM's metric callback.
    pub db_statements: AtomicU64,
    /// SQL statements that returned an error.
    pub db_statement_errors: AtomicU64,
    /// Times the Redis pub/sub subscription was re-established.
    pub pubsub_reconnects: AtomicU64,
    /// WebSocket connections past `connection_init`.
    pub open_subscription_sockets: AtomicU64,
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters = [
            (
                "evenntify_db_statements_total",
                "SQL statements executed by this instance.",
                self.db_statements.load(Ordering::Relaxed),
            ),
            (
                "evenntify_db_statement_errors_total",
                "SQL statements that failed.",
                self.db_statement_errors.load(Ordering::Relaxed),
            ),
            (
                "evenntify_pubsub_reconnects_total",
                "Times the Redis pub/sub subscription was re-established.",
                self.pubsub_reconnects.load(Ordering::Relaxed),
            ),
        ];
        let _ = writeln!(
            out,
            "# HELP evenntify_open_subscription_sockets WebSocket connections past connection_init.\n# TYPE evenntify_open_subscription_sockets gauge\nevenntify_open_subscription_sockets {}",
            self.open_subscription_sockets.load(Ordering::Relaxed)
        );
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        out
    }
}
