//! The HTTP surface: health and readiness, the schema endpoint, GraphQL over GET and POST,
//! content negotiation, and the shape of errors.

use crate::helpers::{
    TestDb, error_code, redis_mode, spawn_app, spawn_app_with, spawn_on, test_settings,
};
use serde_json::{Value, json};

#[tokio::test]
async fn health_readiness_schema_and_playground_are_served() {
    let app = spawn_app().await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["database"], "up");
    let expected_redis = if redis_mode() { "up" } else { "disabled" };
    assert_eq!(body["redis"], expected_redis);

    let sdl = app.get_text("/schema.graphql").await;
    assert_eq!(sdl, evenntify::graphql::schema::sdl());

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let root = no_redirects.get(app.url("/")).send().await.unwrap();
    assert!(root.status().is_redirection());
    assert_eq!(root.headers()["location"], "/graphiql");
    let page = app.client.get(app.url("/graphiql")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("/graphql"));
}

#[tokio::test]
async fn readiness_reports_a_redis_that_does_not_answer() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let app = spawn_app_with(&[("REDIS_URL", "redis://127.0.0.1:1")]).await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "still serving without Redis");
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["redis"], "down");
    assert_eq!(body["database"], "up");
}

#[tokio::test]
async fn get_runs_queries_but_refuses_mutations() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ events { totalCount } }")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"]["events"]["totalCount"], 0);

    let mutation = "mutation { logout(refreshToken: \"x\") }";
    let res = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", mutation)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "POST");
}

#[tokio::test]
async fn the_response_media_type_follows_the_accept_header() {
    let app = spawn_app().await;
    let post = |accept: Option<&'static str>, query: &'static str| {
        let mut req = app
            .client
            .post(app.url("/graphql"))
            .json(&json!({ "query": query }));
        if let Some(accept) = accept {
            req = req.header("accept", accept);
        }
        req.send()
    };
    let plain = post(None, "{ me { id } }").await.unwrap();
    assert_eq!(plain.status(), 200);
    assert_eq!(plain.headers()["content-type"], "application/json");

    let modern = post(
        Some("application/graphql-response+json, application/json;q=0.9"),
        "{ me { id } }",
    )
    .await
    .unwrap();
    assert_eq!(modern.status(), 200);
    assert_eq!(
        modern.headers()["content-type"],
        "application/graphql-response+json"
    );

    // A document that does not validate is a client error under the new media type…
    let invalid = post(Some("application/graphql-response+json"), "{ nope }")
        .await
        .unwrap();
    assert_eq!(invalid.status(), 400);
    // …and a 200 with errors under application/json.
    let invalid = post(Some("application/json"), "{ nope }").await.unwrap();
    assert_eq!(invalid.status(), 200);
    let body: Value = invalid.json().await.unwrap();
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
}

#[tokio::test]
async fn every_error_carries_a_code_and_the_request_id_echoed_in_the_header() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/graphql"))
        .header("x-request-id", "trace-me-42")
        .json(&json!({ "query": "mutation { login(username: \"ghost\", password: \"whatever1\") { accessToken } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-42");
    let body: Value = res.json().await.unwrap();
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    assert_eq!(body["errors"][0]["extensions"]["requestId"], "trace-me-42");

    // Without one, the server makes one up and still ties the error to it.
    let res = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": "{ nope }" }))
        .send()
        .await
        .unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(!id.is_empty());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["requestId"], id);

    // A bad token fails the request before anything runs.
    let res = app
        .gql(Some("not.a.token"), "{ events { totalCount } }", json!({}))
        .await;
    assert_eq!(error_code(&res), "UNAUTHENTICATED");
    assert!(res["errors"][0]["extensions"]["requestId"].is_string());
}

#[tokio::test]
async fn batches_run_each_operation_and_oversized_batches_are_refused() {
    let app = spawn_app().await;
    let one = json!({ "query": "{ events { totalCount } }" });
    let res: Value = app.post_json(&json!([one, one])).await;
    assert_eq!(res.as_array().unwrap().len(), 2);

    let many: Vec<Value> = (0..11).map(|_| one.clone()).collect();
    let res: Value = app.post_json(&many).await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT");
    assert!(res["errors"][0]["message"].as_str().unwrap().contains("10"));
}

#[tokio::test]
async fn automatic_persisted_queries_follow_apollos_protocol() {
    use sha2::{Digest, Sha256};
    // Two instances on one database (one deployment): the second is used at the end.
    let db = TestDb::new().await;
    let settings = test_settings(&db, &[]);
    let app = spawn_on(db, settings.clone()).await;
    // Unique per run: persisted queries outlive a test run in Redis.
    let query = format!(
        "query Count{} {{ events {{ totalCount }} }}",
        uuid::Uuid::new_v4().simple()
    );
    let query = query.as_str();
    let hash = hex::encode(Sha256::digest(query.as_bytes()));
    let ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });

    // The hash alone, first time: the client is told to send the text.
    let res: Value = app.post_json(&json!({ "extensions": ext })).await;
    assert_eq!(
        res["errors"][0]["message"], "PersistedQueryNotFound",
        "{res}"
    );

    // Text and hash: runs and registers the query.
    let res: Value = app
        .post_json(&json!({ "query": query, "extensions": ext }))
        .await;
    assert_eq!(res["data"]["events"]["totalCount"], 0, "{res}");

    // From now on the hash alone works, also over GET.
    let res: Value = app.post_json(&json!({ "extensions": ext })).await;
    assert_eq!(res["data"]["events"]["totalCount"], 0, "{res}");
    let res = app
        .client
        .get(app.url("/graphql"))
        .query(&[("extensions", ext.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()["data"]["events"]["totalCount"],
        0
    );

    // A wrong hash is refused, and a hashed mutation still cannot run over GET.
    let wrong = json!({ "query": "{ me { id } }", "extensions": ext });
    let res: Value = app.post_json(&wrong).await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT");
    let mutation = "mutation { logout(refreshToken: \"x\") }";
    let m_hash = hex::encode(Sha256::digest(mutation.as_bytes()));
    let m_ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": m_hash } });
    app.client
        .post(app.url("/graphql"))
        .json(&json!({ "query": mutation, "extensions": m_ext }))
        .send()
        .await
        .unwrap();
    let res = app
        .client
        .get(app.url("/graphql"))
        .query(&[("extensions", m_ext.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);

    // With Redis, another instance knows the hash too.
    if redis_mode() {
        let other = spawn_on(TestDb::sqlite(), settings).await;
        let res: Value = other.post_json(&json!({ "extensions": ext })).await;
        assert_eq!(res["data"]["events"]["totalCount"], 0, "{res}");
    }
}

#[tokio::test]
async fn odd_request_ids_are_replaced_by_fresh_ones() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "a".repeat(500))
        .send()
        .await
        .unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap();
    assert!(id.len() <= 64 && id != "a".repeat(500), "{id}");
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "spaces are odd")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "spaces are odd");
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-123_abc.def")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-123_abc.def");
}
