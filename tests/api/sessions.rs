//! Sessions (issue 16, point 1) through the real server: a festival's days sell their own
//! capacity, cancelling one day refunds only its buyers, the `.ics` has a VEVENT per day, and
//! `addSession`, `addTicketType`, `cloneEvent` and `calendar` work per session.

use crate::helpers::{Account, TestApp, error_code, new_key, spawn_app, str_of, tickets_of_event};
use chrono::{DateTime, Duration, DurationRound, Utc};
use entity::ticket::TicketStatus;
use serde_json::{Value, json};

const CREATE: &str = "mutation($input: CreateEventInput!) { createEvent(input: $input) {
  id startsAt endsAt sessions { id startsAt endsAt status ticketTypes { id name capacity } } } }";
const EVENT: &str = "query($id: ID!) { event(id: $id) { status startsAt endsAt
  sessions { id startsAt endsAt status ticketTypes { id name capacity available session { id } } } } }";
const CANCEL_SESSION: &str =
    "mutation($id: ID!) { cancelSession(sessionId: $id) { id status event { status } } }";
const ADD_SESSION: &str =
    "mutation($id: ID!, $input: SessionInput!) { addSession(eventId: $id, input: $input) {
  id startsAt status event { id startsAt endsAt } ticketTypes { id name capacity available } } }";
const ADD_TYPE: &str =
    "mutation($id: ID!, $input: TicketTypeInput!) { addTicketType(sessionId: $id, input: $input) {
  id name priceCents capacity available session { id } } }";
const CALENDAR: &str = "query($from: DateTime!, $to: DateTime!, $filter: EventFilter) {
  calendar(from: $from, to: $to, filter: $filter) { date sessions { id startsAt status event { id title } } } }";

/// Midnight UTC `days` from now, so sessions land on known calendar days.
fn day(days: i64) -> DateTime<Utc> {
    (Utc::now() + Duration::days(days))
        .duration_trunc(Duration::days(1))
        .unwrap()
}

fn session(starts: DateTime<Utc>, types: &[(&str, i64, i32)]) -> Value {
    json!({
        "startsAt": starts.to_rfc3339(),
        "endsAt": (starts + Duration::hours(6)).to_rfc3339(),
        "ticketTypes": types.iter().map(|(n, p, c)| json!({ "name": n, "priceCents": p, "capacity": c })).collect::<Vec<_>>(),
    })
}

/// A published event with one session per start, each selling `types`; the event's id and,
/// per session, (session id, ticket type ids).
async fn festival(
    app: &TestApp,
    org: &Account,
    title: &str,
    starts: &[DateTime<Utc>],
    types: &[(&str, i64, i32)],
    categories: &[&str],
) -> (String, Vec<(String, Vec<String>)>) {
    let sessions: Vec<Value> = starts.iter().map(|s| session(*s, types)).collect();
    let data = app
        .ok(
            Some(&org.access),
            CREATE,
            json!({ "input": { "title": title, "venue": "Pier 7", "sessions": sessions, "categories": categories } }),
        )
        .await;
    let event = str_of(&data["createEvent"]["id"]);
    app.publish(org, &event).await;
    let sessions = data["createEvent"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                str_of(&s["id"]),
                s["ticketTypes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| str_of(&t["id"]))
                    .collect(),
            )
        })
        .collect();
    (event, sessions)
}

async fn event_of(app: &TestApp, who: &Account, id: &str) -> Value {
    app.ok(Some(&who.access), EVENT, json!({ "id": id })).await["event"].clone()
}

fn utc(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn each_session_sells_its_own_capacity_under_concurrent_reserves() {
    let app = spawn_app().await;
    let org = app.register("fest", "ORGANIZER").await;
    let starts = [day(20), day(21), day(22)];
    let (event, sessions) =
        festival(&app, &org, "Three days", &starts, &[("Day", 0, 5)], &[]).await;

    let created = event_of(&app, &org, &event).await;
    assert_eq!(
        utc(&created["startsAt"]),
        starts[0],
        "the event starts with its first session"
    );
    assert_eq!(
        utc(&created["endsAt"]),
        starts[2] + Duration::hours(6),
        "and ends with its last"
    );
    assert_eq!(created["sessions"].as_array().unwrap().len(), 3);
    assert_eq!(
        created["sessions"][1]["ticketTypes"][0]["session"]["id"],
        json!(sessions[1].0)
    );

    // 12 buyers race for each of the first two sessions' 5 seats (free, so each confirms).
    let buyers = crate::helpers::register_many(&app, "racer", 12).await;
    let mut tasks = Vec::new();
    for buyer in &buyers {
        for (_, types) in &sessions[..2] {
            let api = app.api.clone();
            let buyer = buyer.clone();
            let tt = types[0].clone();
            tasks.push(tokio::spawn(async move {
                let res = api.reserve(&buyer, &tt, 1, &new_key()).await;
                (tt, res.get("errors").is_none())
            }));
        }
    }
    let mut won = std::collections::HashMap::<String, usize>::new();
    for t in tasks {
        let (tt, ok) = t.await.unwrap();
        if ok {
            *won.entry(tt).or_default() += 1;
        }
    }
    for (_, types) in &sessions[..2] {
        assert_eq!(
            won.get(&types[0]),
            Some(&5),
            "exactly the session's capacity sold"
        );
        assert_eq!(crate::helpers::available(&app, &types[0]).await, 0);
    }
    let after = event_of(&app, &org, &event).await;
    assert_eq!(
        after["sessions"][2]["ticketTypes"][0]["available"], 5,
        "day three untouched"
    );
    let valid = tickets_of_event(&app, &event)
        .await
        .into_iter()
        .filter(|t| t.status == TicketStatus::Valid)
        .count();
    assert_eq!(valid, 10);
}

#[tokio::test]
async fn cancelling_a_session_refunds_only_its_buyers_and_the_last_one_cancels_the_event() {
    let app = spawn_app().await;
    let org = app.register("fest", "ORGANIZER").await;
    let (event, sessions) = festival(
        &app,
        &org,
        "Refund days",
        &[day(20), day(21), day(22)],
        &[("Day", 2_500, 10)],
        &[],
    )
    .await;
    let ann = app.register("ann", "USER").await;
    let ben = app.register("ben", "USER").await;
    let cat = app.register("cat", "USER").await;
    for who in [&ann, &ben, &cat] {
        app.top_up(who, 10_000).await;
    }
    // Ann: two on day one; Ben: one on day two; Cat: a hold on day one and a ticket on day three.
    let r = app.hold(&ann, &sessions[0].1[0], 2).await;
    app.paid(&ann, &r).await;
    let r = app.hold(&ben, &sessions[1].1[0], 1).await;
    app.paid(&ben, &r).await;
    let cat_hold = app.hold(&cat, &sessions[0].1[0], 1).await;
    let r = app.hold(&cat, &sessions[2].1[0], 1).await;
    app.paid(&cat, &r).await;
    assert_eq!(app.balance(&ann).await, 5_000);
    assert_eq!(app.balance(&ben).await, 7_500);
    assert_eq!(app.balance(&cat).await, 7_500);

    let stranger = app.register("stranger", "ORGANIZER").await;
    let res = app
        .gql(
            Some(&stranger.access),
            CANCEL_SESSION,
            json!({ "id": sessions[0].0 }),
        )
        .await;
    assert_eq!(error_code(&res), "FORBIDDEN");

    let res = app
        .ok(
            Some(&org.access),
            CANCEL_SESSION,
            json!({ "id": sessions[0].0 }),
        )
        .await;
    assert_eq!(res["cancelSession"]["status"], "CANCELLED");
    assert_eq!(res["cancelSession"]["event"]["status"], "PUBLISHED");
    assert_eq!(
        app.balance(&ann).await,
        10_000,
        "day one's buyer is refunded in full"
    );
    assert_eq!(
        app.balance(&ben).await,
        7_500,
        "day two's buyer keeps the ticket"
    );
    assert_eq!(app.balance(&cat).await, 7_500, "a hold cost nothing");
    assert_eq!(
        crate::helpers::reservation_row(&app, &cat_hold)
            .await
            .status,
        entity::reservation::ReservationStatus::Cancelled
    );
    let tickets = tickets_of_event(&app, &event).await;
    let status_of = |tt: &str| {
        tickets
            .iter()
            .filter(|t| t.ticket_type_id.to_string() == tt)
            .map(|t| t.status)
            .collect::<Vec<_>>()
    };
    assert_eq!(status_of(&sessions[0].1[0]), [TicketStatus::Void; 2]);
    assert_eq!(status_of(&sessions[1].1[0]), [TicketStatus::Valid]);
    assert_eq!(status_of(&sessions[2].1[0]), [TicketStatus::Valid]);

    // The span shrinks to the live sessions; day one can no longer be booked.
    let ev = event_of(&app, &org, &event).await;
    assert_eq!(utc(&ev["startsAt"]), day(21));
    let res = app.reserve(&ben, &sessions[0].1[0], 1, &new_key()).await;
    assert_eq!(error_code(&res), "CONFLICT", "{res:#}");
    let res = app
        .gql(
            Some(&org.access),
            CANCEL_SESSION,
            json!({ "id": sessions[0].0 }),
        )
        .await;
    assert_eq!(error_code(&res), "CONFLICT", "already cancelled");

    // Cancelling the other two: the last one cancels the event, refunding its buyer.
    app.ok(
        Some(&org.access),
        CANCEL_SESSION,
        json!({ "id": sessions[1].0 }),
    )
    .await;
    assert_eq!(app.balance(&ben).await, 10_000);
    let res = app
        .ok(
            Some(&org.access),
            CANCEL_SESSION,
            json!({ "id": sessions[2].0 }),
        )
        .await;
    assert_eq!(res["cancelSession"]["event"]["status"], "CANCELLED");
    assert_eq!(app.balance(&cat).await, 10_000);
    assert_eq!(app.balance(&ann).await, 10_000, "nobody is refunded twice");
}

#[tokio::test]
async fn the_event_ics_has_one_vevent_per_session() {
    let app = spawn_app().await;
    let org = app.register("fest", "ORGANIZER").await;
    let starts = [day(30), day(31), day(32)];
    let (event, sessions) = festival(
        &app,
        &org,
        "Calendar fest",
        &starts,
        &[("Day", 1_000, 10)],
        &[],
    )
    .await;
    let text = app.get_text(&format!("/events/{event}.ics")).await;
    let calendar: icalendar::Calendar = text.parse().expect("the .ics parses");
    let vevents: Vec<_> = calendar
        .components
        .iter()
        .filter_map(|c| match c {
            icalendar::CalendarComponent::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(vevents.len(), 3, "{text}");
    use icalendar::Component;
    let mut got: Vec<DateTime<Utc>> = vevents
        .iter()
        .map(|e| match e.get_start() {
            Some(icalendar::DatePerhapsTime::DateTime(icalendar::CalendarDateTime::Utc(t))) => t,
            other => panic!("start {other:?}"),
        })
        .collect();
    got.sort();
    assert_eq!(got, starts);
    for (e, (id, _)) in vevents.iter().zip(&sessions) {
        assert_eq!(e.get_uid(), Some(format!("{id}@evenntify").as_str()));
        assert_eq!(e.get_summary(), Some("Calendar fest"));
    }

    // A cancelled session stays, marked cancelled, so calendars that imported it learn of it.
    app.ok(
        Some(&org.access),
        CANCEL_SESSION,
        json!({ "id": sessions[1].0 }),
    )
    .await;
    let text = app.get_text(&format!("/events/{event}.ics")).await;
    assert_eq!(text.matches("BEGIN:VEVENT").count(), 3);
    assert_eq!(text.matches("STATUS:CANCELLED").count(), 1, "{text}");
}

#[tokio::test]
async fn add_session_and_add_ticket_type_work_for_the_owner_only() {
    let app = spawn_app().await;
    let org = app.register("fest", "ORGANIZER").await;
    let rival = app.register("rival", "ORGANIZER").await;
    let (event, sessions) = festival(
        &app,
        &org,
        "Growing fest",
        &[day(20)],
        &[("Day", 1_000, 10)],
        &[],
    )
    .await;
    let input = session(day(25), &[("Late day", 1_500, 7)]);

    let res = app
        .gql(
            Some(&rival.access),
            ADD_SESSION,
            json!({ "id": event, "input": input }),
        )
        .await;
    assert_eq!(error_code(&res), "FORBIDDEN");
    let res = app
        .ok(
            Some(&org.access),
            ADD_SESSION,
            json!({ "id": event, "input": input }),
        )
        .await;
    let added = &res["addSession"];
    assert_eq!(added["status"], "PUBLISHED");
    assert_eq!(added["ticketTypes"][0]["capacity"], 7);
    assert_eq!(utc(&added["event"]["startsAt"]), day(20));
    assert_eq!(
        utc(&added["event"]["endsAt"]),
        day(25) + Duration::hours(6),
        "the span grows"
    );
    let buyer = app.register("buyer", "USER").await;
    app.top_up(&buyer, 20_000).await;
    let tt = str_of(&added["ticketTypes"][0]["id"]);
    let r = app.hold(&buyer, &tt, 2).await;
    app.paid(&buyer, &r).await;

    let new_type = json!({ "name": "VIP", "priceCents": 9_000, "capacity": 3 });
    let res = app
        .gql(
            Some(&rival.access),
            ADD_TYPE,
            json!({ "id": sessions[0].0, "input": new_type }),
        )
        .await;
    assert_eq!(error_code(&res), "FORBIDDEN");
    let res = app
        .ok(
            Some(&org.access),
            ADD_TYPE,
            json!({ "id": sessions[0].0, "input": new_type }),
        )
        .await;
    assert_eq!(res["addTicketType"]["available"], 3);
    assert_eq!(res["addTicketType"]["session"]["id"], json!(sessions[0].0));
    let r = app
        .hold(&buyer, &str_of(&res["addTicketType"]["id"]), 1)
        .await;
    app.paid(&buyer, &r).await;
    let res = app
        .gql(Some(&org.access), ADD_TYPE, json!({ "id": sessions[0].0, "input": { "name": "vip", "priceCents": 1, "capacity": 1 } }))
        .await;
    assert_eq!(
        error_code(&res),
        "BAD_USER_INPUT",
        "names are unique within a session"
    );

    let ev = event_of(&app, &org, &event).await;
    let names: Vec<Vec<&str>> = ev["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["ticketTypes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(names, [vec!["Day", "VIP"], vec!["Late day"]]);

    // Each is audited with who asked, from where, in the change's transaction.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let entries = entity::audit_entry::Entity::find()
        .filter(entity::audit_entry::Column::Action.is_in(["session.add", "ticket_type.add"]))
        .all(&app.state.db)
        .await
        .unwrap();
    let mut actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    actions.sort();
    assert_eq!(
        actions,
        ["session.add", "ticket_type.add"],
        "refused calls leave none"
    );
    for e in &entries {
        assert_eq!(e.event_id.map(|id| id.to_string()), Some(event.clone()));
        assert!(
            e.request_id.as_deref().is_some_and(|r| !r.is_empty()),
            "{e:?}"
        );
        assert!(e.client_address.is_some(), "{e:?}");
    }
}

#[tokio::test]
async fn sessions_with_starts_at_or_ticket_types_are_refused() {
    let app = spawn_app().await;
    let org = app.register("fest", "ORGANIZER").await;
    let one = session(day(20), &[("Day", 1_000, 10)]);
    for extra in [
        json!({ "startsAt": day(20).to_rfc3339() }),
        json!({ "ticketTypes": [{ "name": "GA", "priceCents": 0, "capacity": 1 }] }),
        json!({}),
    ] {
        let mut input = json!({ "title": "Both", "sessions": [one.clone()] });
        for (k, v) in extra.as_object().unwrap() {
            input[k] = v.clone();
        }
        let with_sessions = !extra.as_object().unwrap().is_empty();
        let res = app
            .gql(Some(&org.access), CREATE, json!({ "input": input }))
            .await;
        if with_sessions {
            assert_eq!(error_code(&res), "BAD_USER_INPUT", "{input}: {res:#}");
        } else {
            assert!(res.get("errors").is_none(), "{res:#}");
        }
    }
    let res = app
        .gql(
            Some(&org.access),
            CREATE,
            json!({ "input": { "title": "Neither" } }),
        )
        .await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT");
    let res = app
        .gql(
            Some(&org.access),
            CREATE,
            json!({ "input": { "title": "Empty", "sessions": [] } }),
        )
        .await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT");
}

#[tokio::test]
async fn a_clone_has_the_sessions_shifted_with_their_ticket_types_and_no_sales() {
    let app = spawn_app().await;
    let org = app.register("fest", "ORGANIZER").await;
    let starts = [day(20), day(21) + Duration::hours(3), day(23)];
    let (event, sessions) = festival(
        &app,
        &org,
        "Cloned fest",
        &starts,
        &[("Day", 1_000, 4)],
        &[],
    )
    .await;
    let buyer = app.register("buyer", "USER").await;
    app.top_up(&buyer, 10_000).await;
    let r = app.hold(&buyer, &sessions[1].1[0], 3).await;
    app.paid(&buyer, &r).await;

    let at = day(60);
    let res = app
        .ok(
            Some(&org.access),
            "mutation($id: ID!, $at: DateTime!) { cloneEvent(id: $id, startsAt: $at) { id status startsAt endsAt
              sessions { startsAt endsAt status ticketTypes { name capacity available } } } }",
            json!({ "id": event, "at": at.to_rfc3339() }),
        )
        .await;
    let copy = &res["cloneEvent"];
    assert_eq!(copy["status"], "DRAFT");
    let shift = at - starts[0];
    let got: Vec<DateTime<Utc>> = copy["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| utc(&s["startsAt"]))
        .collect();
    assert_eq!(got, starts.map(|s| s + shift));
    assert_eq!(utc(&copy["startsAt"]), at);
    assert_eq!(utc(&copy["endsAt"]), starts[2] + shift + Duration::hours(6));
    for s in copy["sessions"].as_array().unwrap() {
        assert_eq!(s["status"], "DRAFT");
        assert_eq!(
            s["ticketTypes"],
            json!([{ "name": "Day", "capacity": 4, "available": 4 }])
        );
    }
}

#[tokio::test]
async fn calendar_lists_days_with_their_sessions_and_honours_the_filter() {
    let app = spawn_app().await;
    let org = app.register("fest", "ORGANIZER").await;
    let (jazz, jazz_sessions) = festival(
        &app,
        &org,
        "Jazz days",
        &[day(40) + Duration::hours(18), day(41) + Duration::hours(18)],
        &[("Day", 1_000, 10)],
        &["jazz"],
    )
    .await;
    let (film, _) = festival(
        &app,
        &org,
        "Film night",
        &[day(40) + Duration::hours(9)],
        &[("Seat", 800, 10)],
        &["film"],
    )
    .await;
    // A draft never shows; nor does a cancelled session.
    app.ok(
        Some(&org.access),
        CREATE,
        json!({ "input": { "title": "Draft days", "sessions": [session(day(40) + Duration::hours(12), &[("D", 1, 1)])] } }),
    )
    .await;
    let (_, gone) = festival(
        &app,
        &org,
        "Gone day",
        &[day(41) + Duration::hours(1), day(45)],
        &[("D", 1, 1)],
        &[],
    )
    .await;
    app.ok(
        Some(&org.access),
        CANCEL_SESSION,
        json!({ "id": gone[0].0 }),
    )
    .await;

    let range = json!({ "from": day(40).to_rfc3339(), "to": day(42).to_rfc3339() });
    let res = app.ok(None, CALENDAR, range.clone()).await;
    let days = res["calendar"].as_array().unwrap();
    let date = |d: DateTime<Utc>| d.format("%Y-%m-%d").to_string();
    assert_eq!(days.len(), 2, "{res:#}");
    assert_eq!(days[0]["date"], date(day(40)));
    let titles = |d: &Value| {
        d["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["event"]["title"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(titles(&days[0]), ["Film night", "Jazz days"], "by start");
    assert_eq!(days[1]["date"], date(day(41)));
    assert_eq!(titles(&days[1]), ["Jazz days"]);
    assert_eq!(days[1]["sessions"][0]["id"], json!(jazz_sessions[1].0));

    let mut filtered = range.clone();
    filtered["filter"] = json!({ "categories": ["film"] });
    let res = app.ok(None, CALENDAR, filtered).await;
    let days = res["calendar"].as_array().unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!(days[0]["sessions"][0]["event"]["id"], json!(film));
    let _ = jazz;

    let res = app
        .gql(
            None,
            CALENDAR,
            json!({ "from": day(0).to_rfc3339(), "to": day(400).to_rfc3339() }),
        )
        .await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT", "the range is bounded");
    let res = app
        .gql(
            None,
            CALENDAR,
            json!({ "from": day(5).to_rfc3339(), "to": day(5).to_rfc3339() }),
        )
        .await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT");
}
