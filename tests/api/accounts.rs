//! Accounts through the real server: register, login, tokens, refresh rotation, logout.

use crate::helpers::{
    Account, JWT_SECRET, TestDb, error_code, error_message, spawn_app, spawn_on, test_settings,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

const ME: &str = "{ me { id username role email } }";
const LOGIN: &str = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken refreshToken user { username } } }";
const REFRESH: &str =
    "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }";

#[tokio::test]
async fn a_registered_user_can_log_in_and_see_themself() {
    let app = spawn_app().await;
    let alice = app.register("Alice", "USER").await;
    assert_eq!(alice.username, "alice", "usernames are stored lower-case");

    let data = app
        .ok(
            None,
            LOGIN,
            json!({ "u": "ALICE", "p": "correct horse battery" }),
        )
        .await;
    let token = data["login"]["accessToken"].as_str().unwrap();
    let me = app.ok(Some(token), ME, json!({})).await;
    assert_eq!(me["me"]["id"], alice.id);
    assert_eq!(me["me"]["role"], "USER");

    let anonymous = app.ok(None, ME, json!({})).await;
    assert!(anonymous["me"].is_null());
}

#[tokio::test]
async fn a_duplicate_username_is_a_conflict_whatever_its_case() {
    let app = spawn_app().await;
    app.register("bob", "USER").await;
    let res = app
        .gql(None, "mutation { register(input: {username: \"BOB\", password: \"another password\"}) { accessToken } }", json!({}))
        .await;
    assert_eq!(error_code(&res), "CONFLICT");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_fail_identically() {
    let app = spawn_app().await;
    app.register("carol", "USER").await;
    let wrong = app
        .gql(
            None,
            LOGIN,
            json!({ "u": "carol", "p": "not her password" }),
        )
        .await;
    let unknown = app
        .gql(
            None,
            LOGIN,
            json!({ "u": "nobody", "p": "correct horse battery" }),
        )
        .await;
    assert_eq!(error_code(&wrong), "UNAUTHENTICATED");
    assert_eq!(error_code(&unknown), "UNAUTHENTICATED");
    assert_eq!(error_message(&wrong), error_message(&unknown));
    assert!(wrong["data"].is_null());
}

#[tokio::test]
async fn registration_validates_its_input_and_refuses_admins() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"username": "ab", "password": "long enough"}),
            "BAD_USER_INPUT",
        ),
        (
            json!({"username": "a".repeat(33), "password": "long enough"}),
            "BAD_USER_INPUT",
        ),
        (
            json!({"username": "white space", "password": "long enough"}),
            "BAD_USER_INPUT",
        ),
        (
            json!({"username": "dave", "password": "short"}),
            "BAD_USER_INPUT",
        ),
        (
            json!({"username": "dave", "password": "long enough", "email": "not-an-email"}),
            "BAD_USER_INPUT",
        ),
        (
            json!({"username": "dave", "password": "long enough", "role": "ADMIN"}),
            "FORBIDDEN",
        ),
    ];
    for (input, code) in cases {
        let res = app
            .gql(
                None,
                "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
                json!({ "i": input }),
            )
            .await;
        assert_eq!(error_code(&res), code, "{input}");
    }
    // Nothing was half-created by the refusals: the name is still free.
    app.register("dave", "ORGANIZER").await;
}

#[tokio::test]
async fn an_email_is_visible_to_its_owner_only() {
    let app = spawn_app().await;
    let res = app
        .ok(
            None,
            "mutation { register(input: {username: \"erin\", password: \"long enough\", email: \"Erin@Example.com\", role: ORGANIZER}) { accessToken user { email } } }",
            json!({}),
        )
        .await;
    assert_eq!(res["register"]["user"]["email"], "erin@example.com");
    let token = res["register"]["accessToken"].as_str().unwrap().to_string();
    let erin = Account {
        id: String::new(),
        username: "erin".into(),
        access: token.clone(),
        refresh: String::new(),
    };
    let (event, _) = app
        .create_event(&erin, "Erin's gig", 3, &[("GA", 1000, 10)])
        .await;
    app.publish(&erin, &event).await;
    let q = "query($id: ID!) { event(id: $id) { organizer { username email } } }";
    let public = app.ok(None, q, json!({ "id": event })).await;
    assert_eq!(public["event"]["organizer"]["username"], "erin");
    assert!(public["event"]["organizer"]["email"].is_null());
    let own = app.ok(Some(&token), q, json!({ "id": event })).await;
    assert_eq!(own["event"]["organizer"]["email"], "erin@example.com");
}

fn sign(claims: serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn tampered_expired_unsigned_and_foreign_tokens_are_unauthenticated() {
    let app = spawn_app().await;
    let frank = app.register("frank", "USER").await;
    let parts: Vec<&str> = frank.access.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();

    let mut as_admin = claims.clone();
    as_admin["role"] = json!("ADMIN");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(as_admin.to_string()),
        parts[2]
    );

    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );

    let wrong_key = sign(claims.clone(), "some-other-secret-some-other-secret-000");

    let now = chrono::Utc::now().timestamp();
    claims["iat"] = json!(now - 7200);
    claims["exp"] = json!(now - 3600);
    let expired = sign(claims, JWT_SECRET);

    for (what, token) in [
        ("tampered", tampered),
        ("alg none", alg_none),
        ("wrong key", wrong_key),
        ("expired", expired),
        ("garbage", "abc".into()),
    ] {
        let res = app.gql(Some(&token), ME, json!({})).await;
        assert_eq!(error_code(&res), "UNAUTHENTICATED", "{what}: {res}");
    }
    // The genuine token still works.
    assert_eq!(
        app.ok(Some(&frank.access), ME, json!({})).await["me"]["username"],
        "frank"
    );
}

#[tokio::test]
async fn refresh_rotates_and_reusing_an_old_token_revokes_the_whole_family() {
    let app = spawn_app().await;
    let gina = app.register("gina", "USER").await;

    let first = app.ok(None, REFRESH, json!({ "t": gina.refresh })).await;
    let r2 = first["refreshToken"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_string();
    let a2 = first["refreshToken"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(r2, gina.refresh, "the refresh token rotates");
    assert_eq!(
        app.ok(Some(&a2), ME, json!({})).await["me"]["username"],
        "gina"
    );

    let replay = app.gql(None, REFRESH, json!({ "t": gina.refresh })).await;
    assert_eq!(error_code(&replay), "UNAUTHENTICATED");

    // The replay revoked the family: the new refresh token and its access token are dead too.
    let after = app.gql(None, REFRESH, json!({ "t": r2 })).await;
    assert_eq!(error_code(&after), "UNAUTHENTICATED");
    assert_eq!(
        error_code(&app.gql(Some(&a2), ME, json!({})).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        error_code(&app.gql(Some(&gina.access), ME, json!({})).await),
        "UNAUTHENTICATED"
    );

    // Logging in again starts a fresh, working session.
    let again = app
        .ok(
            None,
            LOGIN,
            json!({ "u": "gina", "p": "correct horse battery" }),
        )
        .await;
    let token = again["login"]["accessToken"].as_str().unwrap();
    assert_eq!(
        app.ok(Some(token), ME, json!({})).await["me"]["username"],
        "gina"
    );
}

#[tokio::test]
async fn logout_ends_the_session_for_refresh_and_access_tokens() {
    let app = spawn_app().await;
    let hank = app.register("hank", "USER").await;
    let other = app
        .ok(
            None,
            LOGIN,
            json!({ "u": "hank", "p": "correct horse battery" }),
        )
        .await;
    let other_access = other["login"]["accessToken"].as_str().unwrap().to_string();

    let out = app
        .ok(
            None,
            "mutation($t: String!) { logout(refreshToken: $t) }",
            json!({ "t": hank.refresh }),
        )
        .await;
    assert_eq!(out["logout"], true);
    assert_eq!(
        error_code(&app.gql(Some(&hank.access), ME, json!({})).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        error_code(&app.gql(None, REFRESH, json!({ "t": hank.refresh })).await),
        "UNAUTHENTICATED"
    );
    // Only that session ended; the other login is untouched.
    assert_eq!(
        app.ok(Some(&other_access), ME, json!({})).await["me"]["username"],
        "hank"
    );

    let unknown = app
        .ok(
            None,
            "mutation { logout(refreshToken: \"nope\") }",
            json!({}),
        )
        .await;
    assert_eq!(unknown["logout"], false);
}

#[tokio::test]
async fn with_the_sqlite_default_a_token_survives_a_restart() {
    // No JWT_SECRET: the server generates one and keeps it in the database.
    let db = TestDb::sqlite();
    let settings = test_settings(&db, &[("JWT_SECRET", ""), ("REDIS_URL", "")]);
    assert!(settings.jwt_secret.is_none());
    let app = spawn_on(db, settings.clone()).await;
    let ivy = app.register("ivy", "USER").await;
    let db = app.stop().await.expect("the app owns its database");

    let app = spawn_on(db, settings).await;
    let me = app.ok(Some(&ivy.access), ME, json!({})).await;
    assert_eq!(me["me"]["username"], "ivy");
}
