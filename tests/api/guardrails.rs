//! Guard rails: query limits, rate limits, metrics, graceful shutdown.

use std::time::Duration;

use crate::helpers::{
    TestApp, TestDb, env, error_code, error_message, eventually, redis_mode, spawn_app,
    spawn_app_with, spawn_on, test_settings,
};
use serde_json::{Value, json};

#[tokio::test]
async fn deep_oversized_aliased_and_batched_queries_are_refused_with_the_limit_named() {
    let app = spawn_app().await;

    // Introspection nests deeper than any real query: build one past MAX_QUERY_DEPTH (15).
    let mut deep = "name".to_string();
    for _ in 0..20 {
        deep = format!("ofType {{ {deep} }}");
    }
    let res = app
        .gql(
            None,
            &format!("{{ __schema {{ types {{ fields {{ type {{ {deep} }} }} }} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT");
    assert!(
        error_message(&res).contains("MAX_QUERY_DEPTH") && error_message(&res).contains("15"),
        "{res}"
    );

    let many: Vec<String> = (0..31).map(|i| format!("a{i}: me {{ id }}")).collect();
    let res = app
        .gql(None, &format!("{{ {} }}", many.join(" ")), json!({}))
        .await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT");
    assert!(
        error_message(&res).contains("MAX_ALIASES") && error_message(&res).contains("30"),
        "{res}"
    );

    // Ten pages of 100 events, each with its ticket types and organizer: far past
    // MAX_QUERY_COMPLEXITY, because a list counts as many items as its page may hold.
    let page = "events(first: 100) { edges { node { id title description venue ticketTypes { id name priceCents capacity available } organizer { id username } } } }";
    let pages: Vec<String> = (0..10).map(|i| format!("p{i}: {page}")).collect();
    let res = app
        .gql(None, &format!("{{ {} }}", pages.join(" ")), json!({}))
        .await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT");
    assert!(
        error_message(&res).contains("MAX_QUERY_COMPLEXITY"),
        "{res}"
    );

    let batch: Vec<Value> = (0..11)
        .map(|_| json!({ "query": "{ me { id } }" }))
        .collect();
    let (_, res) = app.post_raw(json!(batch)).await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT");
    assert!(error_message(&res).contains("10"), "{res}");

    let padding = " ".repeat(300 * 1024);
    let res = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": format!("{{ me {{ id }} }}{padding}") }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status().as_u16(),
        413,
        "bodies over MAX_BODY_BYTES are refused"
    );
}

#[tokio::test]
async fn graphiqls_full_introspection_query_still_succeeds() {
    let app = spawn_app().await;
    // What GraphiQL and graphql-js send, with the deepest TypeRef they use.
    let query = include_str!("../fixtures/introspection.graphql");
    let res = app.gql(None, query, json!({})).await;
    assert!(res.get("errors").is_none(), "{res:#}");
    assert!(res["data"]["__schema"]["types"].as_array().unwrap().len() > 30);
}

#[tokio::test]
async fn eleven_wrong_logins_for_one_username_end_in_rate_limited_across_instances() {
    // Two instances on one database; with TEST_REDIS_URL they share the count through Redis,
    // without it each counts alone, so the eleven attempts then go to one instance.
    let db = TestDb::new().await;
    let shared = redis_mode();
    let settings = test_settings(&db, &[]);
    let first = spawn_on(db, settings.clone()).await;
    let second = if shared {
        Some(spawn_on(TestDb::sqlite(), settings).await)
    } else {
        None
    };
    first.register("victim", "USER").await;
    let login =
        "mutation { login(username: \"victim\", password: \"wrong password\") { accessToken } }";
    for attempt in 1..=10 {
        let app = match (&second, attempt % 2) {
            (Some(second), 0) => second,
            _ => &first,
        };
        let res = app.gql(None, login, json!({})).await;
        assert_eq!(
            error_code(&res),
            "UNAUTHENTICATED",
            "attempt {attempt}: {res}"
        );
    }
    let res = second
        .as_ref()
        .unwrap_or(&first)
        .gql(None, login, json!({}))
        .await;
    assert_eq!(error_code(&res), "RATE_LIMITED", "{res}");
    let retry = res["errors"][0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .unwrap();
    assert!((1..=60).contains(&retry));
    // Even the right password waits out the window.
    let right = "mutation { login(username: \"victim\", password: \"correct horse battery\") { accessToken } }";
    assert_eq!(
        error_code(&first.gql(None, right, json!({})).await),
        "RATE_LIMITED"
    );
}

#[tokio::test]
async fn mutations_beyond_the_per_user_budget_are_rate_limited() {
    let app = spawn_app_with(&[("MUTATIONS_PER_MINUTE", "3")]).await;
    let user = app.register("busy", "USER").await;
    let top_up = |n: u32| {
        format!(
            "mutation {{ topUpWallet(amountCents: 100, idempotencyKey: \"k{n}\", cardToken: \"tok_visa\") {{ balanceCents }} }}"
        )
    };
    for n in 0..3 {
        app.ok(Some(&user.access), &top_up(n), json!({})).await;
    }
    let res = app.gql(Some(&user.access), &top_up(3), json!({})).await;
    assert_eq!(error_code(&res), "RATE_LIMITED", "{res}");
    assert!(res["errors"][0]["extensions"]["retryAfterSeconds"].is_u64());
    // Queries are not charged.
    app.ok(Some(&user.access), "{ wallet { balanceCents } }", json!({}))
        .await;
}

#[tokio::test]
async fn metrics_expose_every_named_series() {
    let app = spawn_app().await;
    let org = app.register("metro", "ORGANIZER").await;
    let (event, types) = app
        .create_event(&org, "Counted", 3, &[("GA", 100, 5)])
        .await;
    app.publish(&org, &event).await;
    app.top_up(&org, 1000).await;
    let r = app
        .ok(
            Some(&org.access),
            "mutation Hold($t: ID!) { reserve(input: { ticketTypeId: $t }) { id } }",
            json!({ "t": types[0] }),
        )
        .await;
    app.ok(
        Some(&org.access),
        "mutation Pay($r: ID!) { pay(input: { reservationId: $r, idempotencyKey: \"p\" }) { transaction { id } } }",
        json!({ "r": r["reserve"]["id"] }),
    )
    .await;
    let text = app.metrics_text().await;
    for series in [
        "evenntify_http_requests_total{status=\"200\"}",
        "evenntify_http_request_duration_seconds_bucket{le=\"+Inf\"}",
        "evenntify_http_request_duration_seconds_count",
        "evenntify_graphql_operations_total{operation=\"Hold\",outcome=\"ok\"}",
        "evenntify_reservations_total{outcome=\"ok\"}",
        "evenntify_payments_total{method=\"WALLET\",outcome=\"ok\"}",
        "evenntify_open_subscriptions ",
        "evenntify_open_subscription_sockets ",
        "evenntify_pubsub_reconnects_total ",
        "evenntify_db_pool_in_use ",
        "evenntify_db_pool_connections ",
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(series))
            .unwrap_or_else(|| panic!("{series} missing from /metrics:\n{text}"));
        let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(value >= 0.0, "{line}");
    }
    assert!(text.contains("# TYPE evenntify_http_request_duration_seconds histogram"));
}

#[tokio::test]
async fn sigterm_during_a_slow_request_lets_it_finish_and_the_process_exits_cleanly() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_evenntify"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display()),
        )
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("CARD_TIMEOUT_MS", "2000")
        // Its log says when a request has reached it (tower-http's "started processing request").
        .env("RUST_LOG", "info,tower_http=debug")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut log = server_log(child.stdout.take().expect("the server's stdout"));
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    eventually(Duration::from_secs(60), "the server to start", || {
        let health = client.get(format!("{base}/healthz")).send();
        async move { health.await.ok().map(|_| ()) }
    })
    .await;

    let gql = |token: Option<String>, query: String, vars: Value| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let mut req = client
                .post(format!("{base}/graphql"))
                .json(&json!({ "query": query, "variables": vars }));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            req.send().await.unwrap().json::<Value>().await.unwrap()
        }
    };
    let reg = gql(None, "mutation { register(input: {username: \"slow\", password: \"long enough\", role: ORGANIZER}) { accessToken } }".into(), json!({})).await;
    let token = reg["data"]["register"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let created = gql(
        Some(token.clone()),
        "mutation { createEvent(input: {title: \"Slow\", startsAt: \"2099-01-01T00:00:00Z\", ticketTypes: [{name: \"GA\", priceCents: 100, capacity: 5}]}) { id ticketTypes { id } } }".into(),
        json!({}),
    )
    .await;
    let event = created["data"]["createEvent"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let tt = created["data"]["createEvent"]["ticketTypes"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    gql(
        Some(token.clone()),
        "mutation($id: ID!) { publishEvent(id: $id) { id } }".into(),
        json!({ "id": event }),
    )
    .await;
    let held = gql(
        Some(token.clone()),
        "mutation($t: ID!) { reserve(input: {ticketTypeId: $t}) { id } }".into(),
        json!({ "t": tt }),
    )
    .await;
    let reservation = held["data"]["reserve"]["id"].as_str().unwrap().to_string();

    // tok_timeout makes the gateway answer only after CARD_TIMEOUT_MS: a slow request.
    let slow = client
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .header("x-request-id", "slow-pay")
        .json(&json!({
            "query": "mutation($r: ID!) { pay(input: {reservationId: $r, idempotencyKey: \"s\", method: CARD, cardToken: \"tok_timeout\"}) { transaction { id } } }",
            "variables": { "r": reservation },
        }));
    let slow =
        tokio::spawn(async move { slow.send().await.unwrap().json::<Value>().await.unwrap() });
    // SIGTERM once the server has the request in hand (it says so in its log), not after a guess.
    log.wait_for(
        &["slow-pay", "started processing request"],
        Duration::from_secs(20),
    )
    .await;
    let pid = child.id().unwrap();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );

    let answer = tokio::time::timeout(Duration::from_secs(20), slow)
        .await
        .expect("the slow request finishes")
        .unwrap();
    assert_eq!(
        error_code(&answer),
        "PAYMENT_DECLINED",
        "it ran to its end: {answer}"
    );
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the process exits")
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test]
async fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    let login = |user: &str| {
        format!(
            "mutation {{ login(username: \"{user}\", password: \"nope-nope\") {{ accessToken }} }}"
        )
    };
    let attempt = |app: &TestApp, user: String, forwarded: &'static str| {
        let req = app
            .client
            .post(app.url("/graphql"))
            .header("x-forwarded-for", forwarded)
            .json(&json!({ "query": login(&user) }));
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };

    // Behind a trusted proxy (the test client's 127.0.0.1), each forwarded address has its own budget.
    let app = spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("LOGIN_ATTEMPTS_PER_IP_PER_MINUTE", "3"),
    ])
    .await;
    for i in 0..3 {
        assert_eq!(
            error_code(&attempt(&app, format!("u{i}"), "203.0.113.7").await),
            "UNAUTHENTICATED"
        );
    }
    assert_eq!(
        error_code(&attempt(&app, "u9".into(), "203.0.113.7").await),
        "RATE_LIMITED"
    );
    assert_eq!(
        error_code(&attempt(&app, "u9".into(), "198.51.100.1").await),
        "UNAUTHENTICATED"
    );

    // Without trusted proxies the header is ignored: inventing addresses does not buy attempts.
    let app = spawn_app_with(&[("LOGIN_ATTEMPTS_PER_IP_PER_MINUTE", "3")]).await;
    for (i, forwarded) in ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
        .into_iter()
        .enumerate()
    {
        assert_eq!(
            error_code(&attempt(&app, format!("u{i}"), forwarded).await),
            "UNAUTHENTICATED"
        );
    }
    assert_eq!(
        error_code(&attempt(&app, "u9".into(), "192.0.2.4").await),
        "RATE_LIMITED"
    );
}

/// A child server's log lines, read as they come (and shown with `TEST_LOG=1`).
struct ServerLog(tokio::sync::mpsc::UnboundedReceiver<String>);

fn server_log(stdout: tokio::process::ChildStdout) -> ServerLog {
    use tokio::io::AsyncBufReadExt;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let show = env("TEST_LOG").is_some();
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if show {
                eprintln!("[server] {line}");
            }
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    ServerLog(rx)
}

impl ServerLog {
    /// Waits for a line that contains every one of `parts`.
    async fn wait_for(&mut self, parts: &[&str], within: Duration) {
        tokio::time::timeout(within, async {
            while let Some(line) = self.0.recv().await {
                if parts.iter().all(|p| line.contains(p)) {
                    return;
                }
            }
            panic!("the server's log ended without a line containing {parts:?}");
        })
        .await
        .unwrap_or_else(|_| {
            panic!("no line containing {parts:?} in the server's log within {within:?}")
        })
    }
}
