//! Feedback (issue 16, point 7) through the real server: only attendees rate, from the start,
//! once each (a second submission edits), and the average and histogram are exact.

use crate::helpers::{error_code, spawn_app, str_of, wait_until_past};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

const CREATE: &str =
    "mutation($input: CreateEventInput!) { createEvent(input: $input) { id ticketTypes { id } } }";
const SUBMIT: &str = "mutation($id: ID!, $rating: Int!, $comment: String) {
  submitFeedback(eventId: $id, rating: $rating, comment: $comment) { id rating comment author { username } } }";
const READ: &str = "query($id: ID!) { event(id: $id) { rating { average count histogram }
  feedback(first: 10) { totalCount edges { node { rating comment author { username } } } } } }";

#[tokio::test]
async fn only_attendees_rate_once_each_and_the_average_and_histogram_are_exact() {
    let app = spawn_app().await;
    let org = app.register("olga", "ORGANIZER").await;
    let fans = crate::helpers::register_many(&app, "fan", 3).await;
    let stranger = app.register("sam", "USER").await;
    let starts: DateTime<Utc> = Utc::now() + Duration::seconds(6);
    let data = app
        .ok(
            Some(&org.access),
            CREATE,
            json!({ "input": { "title": "Soon", "startsAt": starts.to_rfc3339(),
                "ticketTypes": [{ "name": "GA", "priceCents": 1_000, "capacity": 10 }] } }),
        )
        .await;
    let event = str_of(&data["createEvent"]["id"]);
    let tt = str_of(&data["createEvent"]["ticketTypes"][0]["id"]);
    app.publish(&org, &event).await;
    for fan in &fans {
        app.top_up(fan, 5_000).await;
        app.buy(fan, &tt).await;
    }

    let early = app
        .gql(
            Some(&fans[0].access),
            SUBMIT,
            json!({ "id": event, "rating": 5 }),
        )
        .await;
    assert_eq!(error_code(&early), "BAD_USER_INPUT", "{early:#}");
    wait_until_past(starts).await;

    let res = app
        .gql(
            Some(&stranger.access),
            SUBMIT,
            json!({ "id": event, "rating": 1 }),
        )
        .await;
    assert_eq!(error_code(&res), "FORBIDDEN");
    let res = app
        .gql(
            Some(&fans[0].access),
            SUBMIT,
            json!({ "id": event, "rating": 6 }),
        )
        .await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT");

    for (fan, stars) in fans.iter().zip([5, 4, 4]) {
        app.ok(
            Some(&fan.access),
            SUBMIT,
            json!({ "id": event, "rating": stars, "comment": format!("{stars} stars") }),
        )
        .await;
    }
    // The second fan changes their mind: an edit, not a second rating.
    let edited = app
        .ok(
            Some(&fans[1].access),
            SUBMIT,
            json!({ "id": event, "rating": 2, "comment": "too loud" }),
        )
        .await;
    assert_eq!(edited["submitFeedback"]["rating"], 2);

    let data = app.ok(None, READ, json!({ "id": event })).await;
    let rating = &data["event"]["rating"];
    assert_eq!(rating["count"], 3);
    assert_eq!(rating["histogram"], json!([0, 1, 0, 1, 1]));
    let average = rating["average"].as_f64().unwrap();
    assert!((average - 11.0 / 3.0).abs() < 1e-9, "{average}");
    let feedback = &data["event"]["feedback"];
    assert_eq!(feedback["totalCount"], 3);
    // Newest first; the public does not see who wrote.
    let comments: Vec<&str> = feedback["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["comment"].as_str().unwrap())
        .collect();
    assert_eq!(comments, vec!["4 stars", "too loud", "5 stars"]);
    assert!(feedback["edges"][0]["node"]["author"].is_null());
    let data = app
        .ok(Some(&org.access), READ, json!({ "id": event }))
        .await;
    assert_eq!(
        data["event"]["feedback"]["edges"][2]["node"]["author"]["username"],
        "fan000"
    );
}

const TRANSFER: &str =
    "mutation($id: ID!, $to: String!) { transferTicket(ticketId: $id, toUsername: $to) { id } }";
const MOVE: &str =
    "mutation($id: ID!, $at: DateTime!) { updateEvent(id: $id, input: { startsAt: $at }) { id } }";

#[tokio::test]
async fn only_a_paid_ticket_held_now_gives_a_say_not_an_rsvp_a_refund_or_a_ticket_given_away() {
    let app = spawn_app().await;
    let org = app.register("pia", "ORGANIZER").await;
    let [payer, rsvp, refunded, giver, receiver]: [crate::helpers::Account; 5] =
        crate::helpers::register_many(&app, "pfan", 5)
            .await
            .try_into()
            .unwrap();
    let (event, types) = app
        .published_event(&org, "Paid or not", &[("GA", 1_000, 10), ("Free", 0, 10)])
        .await;
    for fan in [&payer, &refunded, &giver] {
        app.top_up(fan, 5_000).await;
    }
    app.buy(&payer, &types[0]).await;
    let free = app.reserved(&rsvp, &types[1], 1).await;
    assert_eq!(free["status"], "CONFIRMED");
    let cancelled = app.hold(&refunded, &types[0], 1).await;
    app.paid(&refunded, &cancelled).await;
    app.cancel(&refunded, &cancelled).await;
    let given = app.hold(&giver, &types[0], 1).await;
    let pay = app.pay(&giver, &given, &crate::helpers::new_key()).await;
    let ticket = str_of(&pay["data"]["pay"]["reservation"]["tickets"][0]["id"]);
    app.ok(
        Some(&giver.access),
        TRANSFER,
        json!({ "id": ticket, "to": receiver.username }),
    )
    .await;

    let starts = Utc::now() + Duration::seconds(2);
    app.ok(
        Some(&org.access),
        MOVE,
        json!({ "id": event, "at": starts.to_rfc3339() }),
    )
    .await;
    wait_until_past(starts).await;

    for (who, allowed) in [
        (&payer, true),
        (&rsvp, false),
        (&refunded, false),
        (&giver, false),
        (&receiver, true),
    ] {
        let res = app
            .gql(
                Some(&who.access),
                SUBMIT,
                json!({ "id": event, "rating": 4 }),
            )
            .await;
        if allowed {
            assert!(res.get("errors").is_none(), "{}: {res:#}", who.username);
        } else {
            assert_eq!(error_code(&res), "FORBIDDEN", "{}: {res:#}", who.username);
        }
    }
    let data = app
        .ok(Some(&org.access), READ, json!({ "id": event }))
        .await;
    assert_eq!(data["event"]["rating"]["count"], 2);
}
