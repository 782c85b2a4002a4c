//! Test harness: a real server on port 0 with a database of its own.
//!
//! SQLite by default (a fresh file in a temp dir); PostgreSQL when `TEST_DATABASE_URL` is set
//! (an admin URL such as `postgres://postgres@127.0.0.1:5432/postgres`): each app then creates
//! `test_<uuid>` and drops it when the test ends. `TEST_REDIS_URL` wires Redis in the same way.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;

use evenntify::app::Application;
use evenntify::config::Settings;
use evenntify::state::AppState;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123456789";

/// Where a test's data lives; dropping it removes the data.
pub enum TestDb {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    pub async fn new() -> Self {
        match std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|v| !v.is_empty())
        {
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
    let mut env: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), db.url()),
        ("BIND_ADDR".into(), "127.0.0.1:0".into()),
        ("JWT_SECRET".into(), JWT_SECRET.into()),
        ("DB_MAX_CONNECTIONS".into(), "10".into()),
        // Every test client is 127.0.0.1; suites register hundreds of users from it.
        ("REGISTRATIONS_PER_IP_PER_MINUTE".into(), "1000000".into()),
        // …and open a thousand WebSockets from it.
        ("WS_MAX_SOCKETS_PER_ADDRESS".into(), "100000".into()),
    ]);
    if let Some(redis) = std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
    {
        env.insert("REDIS_URL".into(), redis);
    }
    for (k, v) in vars {
        env.insert(k.to_string(), v.to_string());
    }
    Settings::from_lookup(|k| env.get(k).cloned().filter(|v| !v.is_empty())).expect("test settings")
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    // Declared last: the server and its pool go before the database is dropped.
    pub db: Option<TestDb>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// A server with extra environment variables (e.g. `("HOLD_SECONDS", "2")`).
pub async fn spawn_app_with(vars: &[(&str, &str)]) -> TestApp {
    let db = TestDb::new().await;
    let settings = test_settings(&db, vars);
    spawn_on(db, settings).await
}

pub async fn spawn_on(db: TestDb, settings: Settings) -> TestApp {
    let app = Application::build(settings).await.expect("build app");
    let addr = app.local_addr();
    let state = app.state().clone();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        client: reqwest::Client::new(),
        state,
        shutdown: Some(tx),
        server: Some(server),
        db: Some(db),
    }
}

/// A logged-in user as the tests see it.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub username: String,
    pub access: String,
    pub refresh: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stops the server gracefully and hands back its database (for a restart).
    pub async fn stop(mut self) -> TestDb {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server exits cleanly");
        }
        self.state.db.clone().close().await.ok();
        self.db.take().expect("database")
    }

    /// POSTs a GraphQL operation; returns the whole JSON response.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut req = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.expect("request");
        res.json().await.expect("JSON response")
    }

    /// Like `gql`, but panics unless the response has data and no errors; returns `data`.
    pub async fn ok(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let res = self.gql(token, query, variables).await;
        assert!(res.get("errors").is_none(), "unexpected errors: {res:#}");
        res["data"].clone()
    }

    pub async fn register(&self, username: &str, role: &str) -> Account {
        let data = self
            .ok(
                None,
                "mutation($input: RegisterInput!) { register(input: $input) { accessToken refreshToken user { id username } } }",
                json!({ "input": { "username": username, "password": "correct horse battery", "role": role } }),
            )
            .await;
        let p = &data["register"];
        Account {
            id: p["user"]["id"].as_str().unwrap().to_string(),
            username: p["user"]["username"].as_str().unwrap().to_string(),
            access: p["accessToken"].as_str().unwrap().to_string(),
            refresh: p["refreshToken"].as_str().unwrap().to_string(),
        }
    }

    /// Creates an event (a draft) and returns its id and ticket type ids.
    pub async fn create_event(
        &self,
        organizer: &Account,
        title: &str,
        starts_in_days: i64,
        tickets: &[(&str, i64, i32)],
    ) -> (String, Vec<String>) {
        let starts_at = (chrono::Utc::now() + chrono::Duration::days(starts_in_days)).to_rfc3339();
        let types: Vec<Value> = tickets
            .iter()
            .map(|(name, price, capacity)| json!({ "name": name, "priceCents": price, "capacity": capacity }))
            .collect();
        let data = self
            .ok(
                Some(&organizer.access),
                "mutation($input: CreateEventInput!) { createEvent(input: $input) { id ticketTypes { id } } }",
                json!({ "input": { "title": title, "description": format!("All about {title}"), "venue": "Hall 1", "startsAt": starts_at, "ticketTypes": types } }),
            )
            .await;
        let id = data["createEvent"]["id"].as_str().unwrap().to_string();
        let tt = data["createEvent"]["ticketTypes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect();
        (id, tt)
    }

    pub async fn publish(&self, organizer: &Account, event_id: &str) {
        self.ok(
            Some(&organizer.access),
            "mutation($id: ID!) { publishEvent(id: $id) { status } }",
            json!({ "id": event_id }),
        )
        .await;
    }

    /// The value of a counter on `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix(' '))
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
    }
}

/// Registers `n` users, 20 at a time (Argon2 makes registration deliberately slow).
pub async fn register_many(app: &TestApp, prefix: &str, n: usize) -> Vec<Account> {
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i:03}")).collect();
    let mut accounts = Vec::with_capacity(n);
    for chunk in names.chunks(20) {
        accounts.extend(
            futures::future::join_all(chunk.iter().map(|name| app.register(name, "USER"))).await,
        );
    }
    accounts
}

/// An admin, created the way `evenntify create-admin` does it, then logged in.
pub async fn admin(app: &TestApp) -> Account {
    evenntify::auth::service::create_user(
        &app.state,
        evenntify::auth::service::NewAccount {
            username: "root".into(),
            password: "correct horse battery".into(),
            email: None,
            role: evenntify::auth::Role::Admin,
        },
    )
    .await
    .expect("create admin");
    let data = app
        .ok(
            None,
            "mutation { login(username: \"root\", password: \"correct horse battery\") { accessToken refreshToken user { id username } } }",
            json!({}),
        )
        .await;
    let p = &data["login"];
    Account {
        id: p["user"]["id"].as_str().unwrap().to_string(),
        username: "root".into(),
        access: p["accessToken"].as_str().unwrap().to_string(),
        refresh: p["refreshToken"].as_str().unwrap().to_string(),
    }
}

/// A published event starting in ten days; returns its id and ticket type ids.
pub async fn published_event(
    app: &TestApp,
    organizer: &Account,
    title: &str,
    tickets: &[(&str, i64, i32)],
) -> (String, Vec<String>) {
    let (event, types) = app.create_event(organizer, title, 10, tickets).await;
    app.publish(organizer, &event).await;
    (event, types)
}

/// The `extensions.code` of the first error, panicking if there is none.
pub fn error_code(res: &Value) -> &str {
    res["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error with a code, got {res:#}"))
}

pub fn error_message(res: &Value) -> &str {
    res["errors"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error, got {res:#}"))
}
