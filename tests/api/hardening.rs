//! Hardening (issue 10): what an anonymous attacker tried, refused on every transport.

use std::time::Duration;

use crate::helpers::ws::{Frame, WsClient, first_code};
use crate::helpers::{
    TestApp, TestDb, error_code, spawn_app, spawn_app_with, spawn_on, test_settings,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

async fn post(app: &TestApp, body: Value, forwarded: Option<&str>) -> (u16, Value) {
    let mut req = app.client.post(app.url("/graphql")).json(&body);
    if let Some(ip) = forwarded {
        req = req.header("x-forwarded-for", ip);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn get(app: &TestApp, query: &str) -> (u16, Value) {
    let res = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", query)])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// The server answers `/healthz` and a real query: it is still up.
async fn assert_healthy(app: &TestApp) {
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    app.ok(None, "{ events { totalCount } }", json!({})).await;
}

fn nested(open: &str, inner: &str, close: &str, depth: usize) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

/// The documents that aborted the process: nested list values, nested input objects, a nested
/// variable default and nested directive arguments, each about 2,000–4,000 levels deep.
fn crash_documents() -> Vec<String> {
    vec![
        format!(
            "{{ events(filter: {{ search: {} }}) {{ totalCount }} }}",
            nested("[", "\"x\"", "]", 4000)
        ),
        format!(
            "{{ events(filter: {}) {{ totalCount }} }}",
            nested("{a:", "1", "}", 2000)
        ),
        format!(
            "query($f: EventFilter = {{ search: {} }}) {{ events(filter: $f) {{ totalCount }} }}",
            nested("[", "\"x\"", "]", 3000)
        ),
        format!(
            "{{ me @include(if: {}) {{ id }} }}",
            nested("[", "true", "]", 3000)
        ),
        // A block string that never ends: the parser reads `""` and goes on into the lists.
        format!(
            "{{ events(filter: {{ search: [\"\"\" \" {} ] }}) {{ totalCount }} }}",
            nested("[", "\"x\"", "]", 3000)
        ),
    ]
}

#[tokio::test]
async fn deeply_nested_documents_are_refused_over_post_get_and_websocket_and_the_server_stays_up() {
    let app = spawn_app().await;
    for doc in crash_documents() {
        let (status, res) = post(&app, json!({ "query": doc }), None).await;
        assert_eq!(error_code(&res), "BAD_USER_INPUT", "POST: {res}");
        assert!(status < 500, "POST answered {status}");
        let message = res["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains("nested more than") || message.contains("never ends"),
            "{res}"
        );
        let (status, res) = get(&app, &doc).await;
        assert_eq!(error_code(&res), "BAD_USER_INPUT", "GET: {res}");
        assert!(status < 500, "GET answered {status}");
    }
    assert_healthy(&app).await;

    let mut ws = WsClient::connected(app.addr, None).await;
    for (i, doc) in crash_documents().into_iter().enumerate() {
        let id = format!("deep{i}");
        ws.start(&id, &doc, json!({})).await;
        let errors = ws.next_error(&id, Duration::from_secs(10)).await;
        assert_eq!(first_code(&errors), "BAD_USER_INPUT", "{errors}");
    }
    ws.close().await;
    assert_healthy(&app).await;
}

#[tokio::test]
async fn deep_json_variables_and_deep_persisted_queries_cannot_recurse_without_bound() {
    let app = spawn_app().await;
    // serde_json stops at 128 levels: a request error, never a crash.
    let body = format!(
        r#"{{"query":"query($f: EventFilter) {{ events(filter: $f) {{ totalCount }} }}","variables":{{"f":{{"search":{}}}}}}}"#,
        nested("[", "\"x\"", "]", 5000)
    );
    let res = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res: Value = res.json().await.unwrap();
    assert_eq!(error_code(&res), "BAD_USER_INPUT", "{res}");

    // A persisted query is checked before it is stored, and so never runs later by its hash.
    let doc = crash_documents().remove(0);
    let hash = hex::encode(Sha256::digest(doc.as_bytes()));
    let ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let (_, res) = post(&app, json!({ "query": doc, "extensions": ext }), None).await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT", "{res}");
    let (_, res) = post(&app, json!({ "extensions": ext }), None).await;
    assert_eq!(
        res["errors"][0]["message"], "PersistedQueryNotFound",
        "{res}"
    );
    assert_healthy(&app).await;
}

/// Reads the `complete` that ends operation `id`.
async fn completed(ws: &mut WsClient, id: &str) {
    match ws.next_frame(Duration::from_secs(10)).await {
        Frame::Json(m) if m["type"] == "complete" && m["id"] == id => {}
        other => panic!("operation {id}: expected `complete`, got {other:?}"),
    }
}

const REGISTER: &str =
    "mutation($input: RegisterInput!) { register(input: $input) { user { id } } }";
const LOGIN: &str =
    "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken } }";

#[tokio::test]
async fn registrations_and_logins_over_websocket_count_against_the_clients_address() {
    let app = spawn_app_with(&[
        ("REGISTRATIONS_PER_IP_PER_MINUTE", "2"),
        ("LOGIN_ATTEMPTS_PER_IP_PER_MINUTE", "3"),
    ])
    .await;
    let mut ws = WsClient::connected(app.addr, None).await;
    for i in 0..2 {
        let id = format!("r{i}");
        let input = json!({ "input": { "username": format!("wsuser{i}"), "password": "correct horse battery" } });
        ws.start(&id, REGISTER, input).await;
        let data = ws.next_data(&id, Duration::from_secs(10)).await;
        assert!(data["register"]["user"]["id"].is_string(), "{data}");
        completed(&mut ws, &id).await;
    }
    let input = json!({ "input": { "username": "wsuser9", "password": "correct horse battery" } });
    ws.start("r9", REGISTER, input).await;
    let errors = ws.next_error("r9", Duration::from_secs(10)).await;
    assert_eq!(first_code(&errors), "RATE_LIMITED", "{errors}");

    // Password spraying across usernames over a socket stops at the address's budget.
    for i in 0..3 {
        let id = format!("l{i}");
        ws.start(
            &id,
            LOGIN,
            json!({ "u": format!("sprayed{i}"), "p": "guess guess" }),
        )
        .await;
        let errors = ws.next_error(&id, Duration::from_secs(10)).await;
        assert_eq!(first_code(&errors), "UNAUTHENTICATED", "{errors}");
    }
    ws.start("l9", LOGIN, json!({ "u": "sprayed9", "p": "guess guess" }))
        .await;
    let errors = ws.next_error("l9", Duration::from_secs(10)).await;
    assert_eq!(first_code(&errors), "RATE_LIMITED", "{errors}");
    // The address is the same over HTTP: its budget is spent there too.
    let res = app
        .gql(None, LOGIN, json!({ "u": "sprayed10", "p": "guess guess" }))
        .await;
    assert_eq!(error_code(&res), "RATE_LIMITED", "{res}");
}

#[tokio::test]
async fn operation_names_cannot_forge_metric_lines_or_grow_the_series() {
    let app = spawn_app().await;
    let forged = "Evil\nevenntify_forged_total 1\n# x";
    let (_, res) = post(
        &app,
        json!({ "query": "query Evil { me { id } }", "operationName": forged }),
        None,
    )
    .await;
    assert!(res["errors"].is_array(), "{res}");
    let long = "L".repeat(100);
    app.ok(None, &format!("query {long} {{ me {{ id }} }}"), json!({}))
        .await;
    app.ok(None, "query Plain { me { id } }", json!({})).await;

    let text = app.metrics_text().await;
    let line = regex_lite(&text);
    assert!(line.is_ok(), "{}", line.unwrap_err());
    assert!(
        !text.lines().any(|l| l.starts_with("evenntify_forged")),
        "{text}"
    );
    assert!(!text.contains(&long), "a 100-character name became a label");
    assert!(
        text.contains(r#"evenntify_graphql_operations_total{operation="Plain",outcome="ok"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"evenntify_graphql_operations_total{operation="other""#),
        "{text}"
    );
}

/// Every line of the exposition is a comment or `name{labels} value` with well-formed labels.
fn regex_lite(text: &str) -> Result<(), String> {
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .ok_or_else(|| format!("no value: {line}"))?;
        value
            .parse::<f64>()
            .map_err(|_| format!("bad value: {line}"))?;
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
        {
            return Err(format!("bad name: {line}"));
        }
        if name_end < series.len() && !series.ends_with('}') {
            return Err(format!("unterminated labels: {line}"));
        }
    }
    Ok(())
}

#[tokio::test]
async fn persisted_queries_are_bounded_in_size_and_per_address() {
    let app = spawn_app_with(&[
        ("APQ_MAX_DOCUMENT_BYTES", "1024"),
        ("APQ_STORES_PER_IP_PER_MINUTE", "2"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let persist = |query: String, from: &'static str| {
        let hash = hex::encode(Sha256::digest(query.as_bytes()));
        let ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
        let app = &app;
        async move {
            let (_, res) = post(
                app,
                json!({ "query": query, "extensions": ext }),
                Some(from),
            )
            .await;
            assert!(res.get("errors").is_none(), "{res}");
            let (_, res) = post(app, json!({ "extensions": ext }), Some(from)).await;
            res.get("errors").is_none()
        }
    };
    // Too large to keep: it runs, but its hash alone finds nothing.
    let big = format!("{{ me {{ id }} }} # {}", "x".repeat(2000));
    assert!(!persist(big, "203.0.113.1").await);
    // Two new documents a minute per address; the third runs unstored.
    assert!(persist("{ me { id } } # 1".into(), "203.0.113.1").await);
    assert!(persist("{ me { id } } # 2".into(), "203.0.113.1").await);
    assert!(!persist("{ me { id } } # 3".into(), "203.0.113.1").await);
    assert!(persist("{ me { id } } # 4".into(), "203.0.113.2").await);
}

#[tokio::test]
async fn control_characters_in_any_string_input_are_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let organizer = app.register("ctrlorg", "ORGANIZER").await;
    let search = "query($s: String) { events(filter: { search: $s }) { totalCount } }";
    for bad in ["nul\u{0}", "bell\u{7}", "esc\u{1b}[31m"] {
        let res = app.gql(None, search, json!({ "s": bad })).await;
        assert_eq!(error_code(&res), "BAD_USER_INPUT", "{res}");
    }
    // Written into the document itself, too.
    let res = app
        .gql(
            None,
            "{ events(filter: { search: \"a\\u0000b\" }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT", "{res}");
    // Tabs and line breaks are text.
    app.ok(None, search, json!({ "s": "two\r\nlines\tand a tab" }))
        .await;

    let create = "mutation($input: CreateEventInput!) { createEvent(input: $input) { id } }";
    let starts = (chrono::Utc::now() + chrono::Duration::days(5)).to_rfc3339();
    let res = app
        .gql(
            Some(&organizer.access),
            create,
            json!({ "input": { "title": "Nul\u{0}Fest", "startsAt": starts, "ticketTypes": [{ "name": "GA", "priceCents": 100, "capacity": 5 }] } }),
        )
        .await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT", "{res}");
    let res = app
        .gql(
            Some(&organizer.access),
            "mutation { topUpWallet(amountCents: 100, idempotencyKey: \"k\\u0000\") { balanceCents } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT", "{res}");
    let mine = app
        .ok(
            Some(&organizer.access),
            &format!("{{ events(filter: {{ organizerId: \"{}\" }}) {{ totalCount }} wallet {{ balanceCents }} }}", organizer.id),
            json!({}),
        )
        .await;
    assert_eq!(mine["events"]["totalCount"], 0, "{mine}");
    assert_eq!(mine["wallet"]["balanceCents"], 0, "{mine}");
}

#[tokio::test]
async fn websocket_messages_operations_and_sockets_are_capped() {
    let app = spawn_app_with(&[
        ("MAX_BODY_BYTES", "65536"),
        ("WS_MAX_SUBSCRIPTIONS_PER_SOCKET", "3"),
        ("WS_MAX_SOCKETS_PER_ADDRESS", "3"),
    ])
    .await;
    let user = app.register("capped", "USER").await;
    let notifications = "subscription { myNotifications { id } }";

    // A message larger than an HTTP body may be closes the socket (1009).
    let mut big = WsClient::connected(app.addr, None).await;
    big.start(
        "big",
        &format!("{{ me {{ id }} }} # {}", "x".repeat(100_000)),
        json!({}),
    )
    .await;
    match big.next_frame(Duration::from_secs(10)).await {
        Frame::Closed(code, _) => assert_eq!(code, Some(1009)),
        Frame::Ended(_) => {}
        other => panic!("expected the socket to close, got {other:?}"),
    }

    // Three operations at once; the fourth is refused, and runs once one completes. (The
    // helper's `subscribe` proves an operation live with a probe query, which takes a slot while
    // it runs: the third is only started.)
    let mut ws = WsClient::connected(app.addr, Some(&user.access)).await;
    for id in ["1", "2"] {
        ws.subscribe(id, notifications, json!({})).await;
    }
    ws.start("3", notifications, json!({})).await;
    ws.start("4", notifications, json!({})).await;
    let errors = ws.next_error("4", Duration::from_secs(10)).await;
    assert_eq!(first_code(&errors), "BAD_USER_INPUT", "{errors}");
    ws.send(json!({ "type": "complete", "id": "1" })).await;
    completed(&mut ws, "1").await;
    // "4" takes the freed slot: the next one is refused, and nothing before it.
    ws.start("4", notifications, json!({})).await;
    ws.start("5", notifications, json!({})).await;
    let errors = ws.next_error("5", Duration::from_secs(10)).await;
    assert_eq!(first_code(&errors), "BAD_USER_INPUT", "{errors}");

    // An address holds three sockets (big's is closed; ws is one): a fourth is refused.
    let _second = WsClient::connected(app.addr, None).await;
    let _third = WsClient::connected(app.addr, None).await;
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{}/graphql",
            app.addr
        ))
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429)
        }
        other => panic!("expected 429, got {:?}", other.map(|(_, r)| r.status())),
    }

    // A message of an unknown type closes with 4400.
    ws.send(json!({ "type": "hello" })).await;
    assert_eq!(ws.next_close(Duration::from_secs(5)).await, Some(4400));
}

#[tokio::test]
async fn a_stranger_cannot_lock_the_owner_out_while_guessing_stays_capped() {
    let app = spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("LOGIN_ATTEMPTS_PER_MINUTE", "5"),
        ("LOGIN_ATTEMPTS_PER_IP_PER_MINUTE", "20"),
        ("LOGIN_FAILURES_PER_USERNAME_PER_HOUR", "12"),
    ])
    .await;
    app.register("owner", "USER").await;
    let login = |password: &'static str, from: &'static str| {
        let app = &app;
        async move {
            let body = json!({ "query": LOGIN, "variables": { "u": "owner", "p": password } });
            post(app, body, Some(from)).await.1
        }
    };
    // The owner has logged in from home before.
    let res = login("correct horse battery", "198.51.100.7").await;
    assert!(res["data"]["login"]["accessToken"].is_string(), "{res}");

    // A stranger guesses from one address: capped there after five failures…
    for _ in 0..5 {
        assert_eq!(
            error_code(&login("wrong guess", "203.0.113.9").await),
            "UNAUTHENTICATED"
        );
    }
    let res = login("correct horse battery", "203.0.113.9").await;
    assert_eq!(error_code(&res), "RATE_LIMITED", "{res}");
    // …while the owner logs in from their own address.
    let res = login("correct horse battery", "198.51.100.7").await;
    assert!(res["data"]["login"]["accessToken"].is_string(), "{res}");

    // Spread over many addresses, the guessing stops at the per-username budget (12 an hour)…
    for i in 0..7 {
        let from: &'static str = Box::leak(format!("192.0.2.{i}").into_boxed_str());
        assert_eq!(
            error_code(&login("wrong guess", from).await),
            "UNAUTHENTICATED"
        );
    }
    let res = login("wrong guess", "192.0.2.100").await;
    assert_eq!(error_code(&res), "RATE_LIMITED", "{res}");
    // …and a new address is refused even with the right password, but the owner's is not.
    let res = login("correct horse battery", "192.0.2.101").await;
    assert_eq!(error_code(&res), "RATE_LIMITED", "{res}");
    let res = login("correct horse battery", "198.51.100.7").await;
    assert!(res["data"]["login"]["accessToken"].is_string(), "{res}");

    // Spraying many usernames from one address stops at the address's budget (20 a minute,
    // 13 of them spent above from elsewhere: this address has its own).
    let mut refused = 0;
    for i in 0..21 {
        let body = json!({ "query": LOGIN, "variables": { "u": format!("sprayed{i}"), "p": "guess guess" } });
        if error_code(&post(&app, body, Some("203.0.113.50")).await.1) == "RATE_LIMITED" {
            refused += 1;
        }
    }
    assert_eq!(refused, 1);
}

#[tokio::test]
async fn the_role_comes_from_the_account_not_from_the_token() {
    let app = spawn_app().await;
    let organizer = app.register("roleorg", "ORGANIZER").await;
    let (event, _) = app
        .create_event(&organizer, "Not yours", 5, &[("GA", 100, 10)])
        .await;
    let user = app.register("roleuser", "USER").await;
    // A token for the user's own session, signed with the server's secret, claiming ADMIN.
    let claims = user.access.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, claims).unwrap(),
    )
    .unwrap();
    let (forged, _) = app
        .state
        .jwt
        .issue(
            user.id.parse().unwrap(),
            evenntify::auth::Role::Admin,
            claims["sid"].as_str().unwrap().parse().unwrap(),
        )
        .unwrap();
    let res = app
        .gql(
            Some(&forged),
            "mutation($id: ID!) { updateEvent(id: $id, input: { title: \"Mine now\" }) { id } }",
            json!({ "id": event }),
        )
        .await;
    assert_eq!(error_code(&res), "FORBIDDEN", "{res}");
    let me = app.ok(Some(&forged), "{ me { role } }", json!({})).await;
    assert_eq!(me["me"]["role"], "USER");
}

#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_database_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDb::sqlite();
    let settings = test_settings(&db, &[]);
    let path = evenntify::db::sqlite_path(&settings.database_url).unwrap();
    let app = spawn_on(db, settings).await;
    app.register("fileowner", "USER").await;
    for file in [path.clone(), path.with_extension("db-wal")] {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} has mode {mode:o}", file.display());
    }
}

#[tokio::test]
async fn directive_arguments_are_type_checked() {
    let app = spawn_app().await;
    let res = app
        .gql(None, "{ me @include(if: \"yes\") { id } }", json!({}))
        .await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT", "{res}");
    let res = app.gql(None, "{ me @skip(if: 1) { id } }", json!({})).await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT", "{res}");
}

#[tokio::test]
async fn a_revoked_session_closes_its_open_subscription_within_a_second() {
    let app = spawn_app().await;
    let user = app.register("revoked", "USER").await;
    let mut ws = WsClient::connected(app.addr, Some(&user.access)).await;
    ws.subscribe("n", "subscription { myNotifications { id } }", json!({}))
        .await;
    app.ok(
        None,
        "mutation($t: String!) { logout(refreshToken: $t) }",
        json!({ "t": user.refresh }),
    )
    .await;
    assert_eq!(ws.next_close(Duration::from_secs(1)).await, Some(4403));
}

#[tokio::test]
async fn an_unreachable_database_answers_503_with_retry_after_not_an_internal_error() {
    let app = spawn_app().await;
    let user = app.register("outage", "USER").await;
    // The pool closed: every statement fails as if the database were gone.
    app.state.db.clone().close().await.unwrap();
    for token in [None, Some(user.access.as_str())] {
        let mut req = app
            .client
            .post(app.url("/graphql"))
            .json(&json!({ "query": "{ events { totalCount } }" }));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 503);
        assert!(res.headers().get("retry-after").is_some());
        let body: Value = res.json().await.unwrap();
        assert_eq!(error_code(&body), "SERVICE_UNAVAILABLE", "{body}");
    }
}

#[tokio::test]
async fn fragments_that_spread_themselves_are_refused_without_blowing_up() {
    let app = spawn_app().await;
    let spreads = "...A ".repeat(8);
    let doc = format!("query {{ ...A }} fragment A on Query {{ me {{ id }} {spreads} }}");
    let started = std::time::Instant::now();
    let (_, res) = post(&app, json!({ "query": doc }), None).await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT", "{res}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_healthy(&app).await;
}
