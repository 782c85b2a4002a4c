//! `evenntify seed`: demo data that works through the API, and running it twice changes nothing.

use crate::helpers::{TestApp, spawn_app};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

async fn counts(app: &TestApp) -> Vec<u64> {
    let db = &app.state.db;
    vec![
        entity::user::Entity::find().count(db).await.unwrap(),
        entity::event::Entity::find().count(db).await.unwrap(),
        entity::reservation::Entity::find().count(db).await.unwrap(),
        entity::transaction::Entity::find().count(db).await.unwrap(),
        entity::ticket::Entity::find().count(db).await.unwrap(),
        entity::venue::Entity::find().count(db).await.unwrap(),
        entity::event_seat::Entity::find().count(db).await.unwrap(),
        entity::ledger_entry::Entity::find()
            .count(db)
            .await
            .unwrap(),
        entity::check_in_scan::Entity::find()
            .count(db)
            .await
            .unwrap(),
        entity::feedback::Entity::find().count(db).await.unwrap(),
    ]
}

#[tokio::test]
async fn seeding_twice_creates_the_demo_once_and_its_logins_work() {
    let app = spawn_app().await;
    let first = evenntify::seed::run(&app.state)
        .await
        .map_err(|e| e.message())
        .unwrap();
    let after_first = counts(&app).await;
    let second = evenntify::seed::run(&app.state)
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert_eq!(
        counts(&app).await,
        after_first,
        "a second run changes nothing"
    );
    assert_eq!(first.logins, second.logins);
    let checked_in = entity::ticket::Entity::find()
        .filter(entity::ticket::Column::CheckedInAt.is_not_null())
        .count(&app.state.db)
        .await
        .unwrap();
    assert_eq!(checked_in, 1, "the demo has one checked-in ticket");
    assert_eq!(
        first.events, 7,
        "four general-admission events, a seated one, a three-day festival and a past one"
    );

    // The past event was rated by its two paying attendees (5 and 4 stars, with comments).
    let past = entity::event::Entity::find()
        .filter(entity::event::Column::Title.eq("Poetry Slam at Café Central"))
        .one(&app.state.db)
        .await
        .unwrap()
        .expect("the seed has a past event");
    assert!(past.ends_at.unwrap() < chrono::Utc::now(), "it is over");
    let rated = app
        .ok(
            None,
            "query($id: ID!) { event(id: $id) { rating { average count histogram } \
             feedback(first: 10) { totalCount edges { node { rating comment } } } } }",
            json!({ "id": past.id.to_string() }),
        )
        .await;
    let rating = &rated["event"]["rating"];
    assert_eq!(rating["count"], 2);
    assert_eq!(rating["average"], 4.5);
    assert_eq!(rating["histogram"], json!([0, 0, 0, 1, 1]));
    let comments = rated["event"]["feedback"]["edges"].as_array().unwrap();
    assert_eq!(comments.len(), 2);
    assert!(comments.iter().all(|c| c["node"]["comment"].is_string()));

    let public = app
        .ok(
            None,
            "{ events { totalCount edges { node { ticketTypes { id } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(public["events"]["totalCount"], 7);
    let festival = app
        .ok(
            None,
            "{ events(filter: { search: \"Harbour Lights\" }) { edges { node { sessions { startsAt ticketTypes { name } } } } } }",
            json!({}),
        )
        .await;
    let sessions = festival["events"]["edges"][0]["node"]["sessions"]
        .as_array()
        .unwrap();
    assert_eq!(sessions.len(), 3, "the festival has three days");
    assert!(
        sessions
            .iter()
            .all(|s| s["ticketTypes"].as_array().unwrap().len() == 2)
    );
    let seated = app
        .ok(
            None,
            "{ events(filter: { search: \"Fado\" }) { edges { node { seatMap { sections { name rows { seats { label status } } } } } } } }",
            json!({}),
        )
        .await;
    let sections = &seated["events"]["edges"][0]["node"]["seatMap"]["sections"];
    assert_eq!(sections[0]["name"], "Stalls");
    let sold: Vec<&str> = sections[0]["rows"][0]["seats"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "SOLD")
        .map(|s| s["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        sold,
        ["A-10", "A-11"],
        "the demo buyer has the two best seats"
    );

    let login = app
        .ok(
            None,
            "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken } }",
            json!({ "u": "alice", "p": evenntify::seed::DEMO_PASSWORD }),
        )
        .await;
    let token = login["login"]["accessToken"].as_str().unwrap();
    let mine = app
        .ok(Some(token), "{ wallet { balanceCents } myReservations { totalCount edges { node { status tickets { code } } } } }", json!({}))
        .await;
    assert_eq!(mine["myReservations"]["totalCount"], 2);
    assert!(mine["wallet"]["balanceCents"].as_i64().unwrap() > 0);
    let confirmed = mine["myReservations"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["node"]["status"] == "CONFIRMED")
        .count();
    assert_eq!(confirmed, 2);
}
