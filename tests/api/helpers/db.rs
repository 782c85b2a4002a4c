//! Where a test's data lives: a fresh SQLite file by default, or a fresh PostgreSQL database
//! when `TEST_DATABASE_URL` is set (an admin URL such as
//! `postgres://postgres@127.0.0.1:5432/postgres`): each test then creates `test_<uuid>` and drops
//! it when it ends. `TEST_REDIS_URL` wires Redis in the same way.

use std::collections::HashMap;

use evenntify::config::Settings;
use sea_orm::{ConnectionTrait, Database};

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123456789";

/// A non-empty environment variable.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Whether this run has Redis (`TEST_REDIS_URL`).
pub fn redis_mode() -> bool {
    env("TEST_REDIS_URL").is_some()
}

/// Where a test's data lives; dropping it removes the data.
pub enum TestDb {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    pub async fn new() -> Self {
        match env("TEST_DATABASE_URL") {
            Some(admin_url) => {
                let name = format!("test_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(admin_url.as_str())
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                TestDb::Postgres { admin_url, name }
            }
            None => TestDb::sqlite(),
        }
    }

    pub fn sqlite() -> Self {
        TestDb::Sqlite(tempfile::tempdir().expect("temp dir"))
    }

    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite(dir) => {
                format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display())
            }
            TestDb::Postgres { admin_url, name } => {
                let base = admin_url.split('?').next().unwrap_or(admin_url);
                let cut = base
                    .rfind('/')
                    .filter(|&i| i > "postgres://".len())
                    .unwrap_or(base.len());
                format!("{}/{name}", &base[..cut])
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, TestDb::Postgres { .. })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs inside the test's runtime; a fresh thread with its own runtime can block.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(admin) = Database::connect(admin_url.as_str()).await {
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                        admin.close().await.ok();
                    }
                });
            })
            .join();
        }
    }
}

/// Settings for a test server: port 0, the given database, fixed secret unless `vars` says.
pub fn test_settings(db: &TestDb, vars: &[(&str, &str)]) -> Settings {
    let mut env_vars: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), db.url()),
        ("BIND_ADDR".into(), "127.0.0.1:0".into()),
        ("JWT_SECRET".into(), JWT_SECRET.into()),
        ("DB_MAX_CONNECTIONS".into(), "10".into()),
        // Every test client is 127.0.0.1; suites register hundreds of users from it.
        ("REGISTRATIONS_PER_IP_PER_MINUTE".into(), "1000000".into()),
        // …and open a thousand WebSockets from it.
        ("WS_MAX_SOCKETS_PER_ADDRESS".into(), "100000".into()),
        // Never the repository's ./mail: a mailbox of this server's own (made on first message).
        (
            "MAIL_DIR".into(),
            std::env::temp_dir()
                .join(format!(
                    "evenntify-test-mail-{}",
                    uuid::Uuid::new_v4().simple()
                ))
                .display()
                .to_string(),
        ),
    ]);
    if let Some(redis) = env("TEST_REDIS_URL") {
        env_vars.insert("REDIS_URL".into(), redis);
    }
    for (k, v) in vars {
        env_vars.insert(k.to_string(), v.to_string());
    }
    Settings::from_lookup(|k| env_vars.get(k).cloned().filter(|v| !v.is_empty()))
        .expect("test settings")
}
