//! A real server on port 0, started in the test's own runtime, with a database of its own.

use std::ops::Deref;
use std::sync::Once;
use std::time::Duration;

// The one place the tests name the application's state type.
use evenntify::app::Application;
use evenntify::config::Settings;
use evenntify::state::AppState;
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::api::{Account, Api};
use super::db::{TestDb, test_settings};

/// `TEST_LOG=1` shows the servers' logs (`RUST_LOG` picks what); otherwise tests are quiet.
/// Installed once per test binary, through the test writer so `cargo test` captures it per test.
pub fn init_tracing() {
    static TRACING: Once = Once::new();
    TRACING.call_once(|| {
        if super::db::env("TEST_LOG").is_some() {
            let filter =
                tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new(
                        "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn",
                    )
                });
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
    });
}

/// A running server: talk to it through [`Api`] (which it derefs to), look behind the API's back
/// through `state`.
pub struct TestApp {
    pub api: Api,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    // Declared last: the server and its pool go before the database is dropped. None for a
    // further instance on another app's database.
    pub db: Option<TestDb>,
}

impl Deref for TestApp {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
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

/// A server that owns `db` (and drops it after stopping).
pub async fn spawn_on(db: TestDb, settings: Settings) -> TestApp {
    let mut app = spawn_instance(settings).await;
    app.db = Some(db);
    app
}

/// A further instance on a database another [`TestApp`] owns (two instances, one deployment).
pub async fn spawn_instance(settings: Settings) -> TestApp {
    init_tracing();
    let app = Application::build(settings).await.expect("build app");
    let addr = app.local_addr();
    let state = app.state().clone();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    TestApp {
        api: Api::at(addr),
        state,
        shutdown: Some(tx),
        server: Some(server),
        db: None,
    }
}

impl TestApp {
    /// Stops the server gracefully and hands back its database, if it owns one (for a restart).
    pub async fn stop(mut self) -> Option<TestDb> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(30), server)
                .await
                .expect("the server stops within 30 s")
                .expect("server task")
                .expect("server exits cleanly");
        }
        self.state.db.clone().close().await.ok();
        self.db.take()
    }
}

/// Registers `n` users, 20 at a time (Argon2 makes registration deliberately slow).
pub async fn register_many(app: &Api, prefix: &str, n: usize) -> Vec<Account> {
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
    Account::from_payload(&data["login"])
}
