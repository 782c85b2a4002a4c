//! Outside services some tests need: a Redis of their own, a PostgreSQL they may stop. Those
//! tests are `#[ignore = "needs …"]`; run without the service they fail, saying what is missing.

use std::time::Duration;

use tokio::time::timeout;

use super::db::{env, redis_mode};
use super::wait::eventually;

/// Panics unless this run has `TEST_REDIS_URL` and a `redis-server` binary to start.
pub fn require_redis_server() {
    let on_path = std::process::Command::new("redis-server")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        redis_mode() && on_path,
        "this test needs TEST_REDIS_URL (set: {}) and redis-server on PATH (found: {on_path}): \
         it runs a Redis of its own",
        redis_mode()
    );
}

/// Panics unless this run may stop and start the PostgreSQL of `TEST_DATABASE_URL`.
pub fn require_pg_restart() {
    assert!(
        env("TEST_PG_RESTART").as_deref() == Some("1") && env("TEST_DATABASE_URL").is_some(),
        "this test needs TEST_PG_RESTART=1 and TEST_DATABASE_URL: it stops and starts the \
         PostgreSQL server under load (run it alone)"
    );
}

/// `pg_ctlcluster <version> main <action>` on the machine's one cluster.
/// `TEST_PG_CLUSTER` names the cluster to stop and start (default `main`), so the restart test
/// can run against a cluster of its own while other suites use the main one.
pub fn pg_ctl(action: &str) {
    let version = std::fs::read_dir("/etc/postgresql")
        .expect("/etc/postgresql")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .expect("a PostgreSQL cluster");
    let cluster = std::env::var("TEST_PG_CLUSTER").unwrap_or_else(|_| "main".into());
    let mut args = vec!["--skip-systemctl-redirect", &version, &cluster, action];
    if action == "stop" {
        args.extend(["-m", "fast"]);
    }
    let status = std::process::Command::new("pg_ctlcluster")
        .args(&args)
        .status()
        .expect("pg_ctlcluster");
    assert!(status.success(), "pg_ctlcluster {action} failed");
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A redis-server of this test's own on `port`; killed when dropped.
pub struct OwnRedis {
    port: u16,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it and returns once it answers PING.
    pub async fn start(port: u16) -> OwnRedis {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server");
        let redis = OwnRedis {
            port,
            child: Some(child),
        };
        let client = redis::Client::open(redis.url()).unwrap();
        let what = format!("redis-server on port {port} to answer PING");
        eventually(Duration::from_secs(10), &what, || async {
            let ping = async {
                let mut conn = client.get_multiplexed_async_connection().await?;
                redis::cmd("PING").query_async::<String>(&mut conn).await
            };
            matches!(timeout(Duration::from_secs(1), ping).await, Ok(Ok(_))).then_some(())
        })
        .await;
        redis
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
