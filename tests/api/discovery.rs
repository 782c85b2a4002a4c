//! Discovery (issue 16, point 6) through the real server: categories normalised to lower case,
//! and the `events` filter narrowed by category, price range, venue, ticket type name and date,
//! paging exactly once through the results.

use std::collections::HashSet;

use crate::helpers::{Account, TestApp, error_code, spawn_app, str_of};
use chrono::{Duration, DurationRound, Utc};
use serde_json::{Value, json};

/// (title, venue, starts in days, categories, ticket types as (name, price)).
type Spec = (
    &'static str,
    &'static str,
    i64,
    Vec<&'static str>,
    Vec<(&'static str, i64)>,
);

const CREATE: &str =
    "mutation($input: CreateEventInput!) { createEvent(input: $input) { id categories } }";
const UPDATE: &str = "mutation($id: ID!, $cats: [String!]) { updateEvent(id: $id, input: { categories: $cats }) { id categories } }";
const LIST: &str = "query($filter: EventFilter, $after: String) { events(filter: $filter, first: 2, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { id title categories } } } }";

/// A published event; its id.
async fn event(
    app: &TestApp,
    org: &Account,
    title: &str,
    venue: &str,
    in_days: i64,
    categories: &[&str],
    tickets: &[(&str, i64)],
) -> String {
    let types: Vec<Value> = tickets
        .iter()
        .map(|(name, price)| json!({ "name": name, "priceCents": price, "capacity": 10 }))
        .collect();
    let starts_at = (Utc::now() + Duration::days(in_days)).to_rfc3339();
    let data = app
        .ok(
            Some(&org.access),
            CREATE,
            json!({ "input": { "title": title, "venue": venue, "startsAt": starts_at,
                "categories": categories, "ticketTypes": types } }),
        )
        .await;
    let id = str_of(&data["createEvent"]["id"]);
    app.publish(org, &id).await;
    id
}

/// Titles of every page of `events(filter)`, two at a time, in order.
async fn all_pages(app: &TestApp, filter: Value) -> Vec<String> {
    let mut titles = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = app
            .ok(None, LIST, json!({ "filter": filter, "after": after }))
            .await;
        let page = &data["events"];
        for e in page["edges"].as_array().unwrap() {
            titles.push(str_of(&e["node"]["title"]));
        }
        if page["pageInfo"]["hasNextPage"] != true {
            assert_eq!(page["totalCount"].as_u64().unwrap() as usize, titles.len());
            return titles;
        }
        after = Some(str_of(&page["pageInfo"]["endCursor"]));
    }
}

#[tokio::test]
async fn categories_are_stored_lower_case_once_and_replaced_by_update_event() {
    let app = spawn_app().await;
    let org = app.register("olga", "ORGANIZER").await;
    let starts_at = (Utc::now() + Duration::days(5)).to_rfc3339();
    let data = app
        .ok(
            Some(&org.access),
            CREATE,
            json!({ "input": { "title": "Gig", "startsAt": starts_at,
                "categories": [" Jazz ", "jazz", "Outdoor"],
                "ticketTypes": [{ "name": "GA", "priceCents": 100, "capacity": 5 }] } }),
        )
        .await;
    assert_eq!(
        data["createEvent"]["categories"],
        json!(["jazz", "outdoor"])
    );
    let id = str_of(&data["createEvent"]["id"]);
    let data = app
        .ok(
            Some(&org.access),
            UPDATE,
            json!({ "id": id, "cats": ["Blues"] }),
        )
        .await;
    assert_eq!(data["updateEvent"]["categories"], json!(["blues"]));
    let res = app
        .gql(
            Some(&org.access),
            UPDATE,
            json!({ "id": id, "cats": ["  "] }),
        )
        .await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT");
}

#[tokio::test]
async fn filters_by_category_price_venue_ticket_type_and_date_narrow_and_page_exactly_once() {
    let app = spawn_app().await;
    let org = app.register("olga", "ORGANIZER").await;
    // (title, venue, in days, categories, ticket types), listed soonest first as `events` is.
    let specs: Vec<Spec> = vec![
        (
            "A jazz cheap",
            "Blue Note",
            1,
            vec!["jazz"],
            vec![("GA", 500)],
        ),
        (
            "B jazz dear",
            "Blue Note",
            2,
            vec!["Jazz", "club"],
            vec![("VIP", 9_000)],
        ),
        (
            "C rock mixed",
            "Arena",
            3,
            vec!["rock"],
            vec![("GA", 1_500), ("VIP", 8_000)],
        ),
        (
            "D jazz mid",
            "Park stage",
            4,
            vec!["jazz", "outdoor"],
            vec![("Early bird", 2_000)],
        ),
        (
            "E free folk",
            "Park stage",
            5,
            vec!["folk", "outdoor"],
            vec![("RSVP", 0)],
        ),
        ("F no category", "Blue Note", 6, vec![], vec![("GA", 1_000)]),
        (
            "G jazz late",
            "Arena",
            40,
            vec!["jazz"],
            vec![("GA", 2_500)],
        ),
    ];
    for (title, venue, days, cats, tickets) in &specs {
        event(&app, &org, title, venue, *days, cats, tickets).await;
    }
    let expect = |keep: &dyn Fn(&Spec) -> bool| {
        specs
            .iter()
            .filter(|s| keep(s))
            .map(|s| s.0.to_string())
            .collect::<Vec<_>>()
    };
    let has_cat = |s: &Spec, c: &str| s.3.iter().any(|x| x.to_lowercase() == c);

    assert_eq!(
        all_pages(&app, json!({ "categories": ["JAZZ"] })).await,
        expect(&|s| has_cat(s, "jazz"))
    );
    assert_eq!(
        all_pages(&app, json!({ "categories": ["jazz", "folk"] })).await,
        expect(&|s| has_cat(s, "jazz") || has_cat(s, "folk"))
    );
    let in_range = |s: &Spec, lo: i64, hi: i64| s.4.iter().any(|(_, p)| *p >= lo && *p <= hi);
    assert_eq!(
        all_pages(
            &app,
            json!({ "minPriceCents": 1_000, "maxPriceCents": 2_500 })
        )
        .await,
        expect(&|s| in_range(s, 1_000, 2_500))
    );
    assert_eq!(
        all_pages(&app, json!({ "maxPriceCents": 0 })).await,
        vec!["E free folk".to_string()]
    );
    assert_eq!(
        all_pages(&app, json!({ "venue": "blue" })).await,
        expect(&|s| s.1 == "Blue Note")
    );
    assert_eq!(
        all_pages(&app, json!({ "ticketTypeName": "vip" })).await,
        expect(&|s| s.4.iter().any(|(n, _)| *n == "VIP"))
    );
    // Combined with the date window: jazz in the next 30 days priced 1,000 or more.
    let before = (Utc::now() + Duration::days(30)).to_rfc3339();
    assert_eq!(
        all_pages(
            &app,
            json!({ "categories": ["jazz"], "minPriceCents": 1_000, "startsBefore": before })
        )
        .await,
        expect(&|s| has_cat(s, "jazz") && s.2 < 30 && in_range(s, 1_000, i64::MAX))
    );
    // Every event once over all pages when nothing narrows.
    let all = all_pages(&app, json!({})).await;
    assert_eq!(all.len(), specs.len());
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), specs.len());

    let res = app
        .gql(
            None,
            LIST,
            json!({ "filter": { "minPriceCents": 10, "maxPriceCents": 5 } }),
        )
        .await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT");
}

const PAGE: &str = "query($filter: EventFilter, $order: EventOrder!, $first: Int, $after: String) {
  events(filter: $filter, orderBy: $order, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id title } } } }";

/// Ids of every page of `events(filter, orderBy)`, `first` at a time, in order.
async fn pages(app: &TestApp, filter: &Value, order: &str, first: i64) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = app
            .ok(
                None,
                PAGE,
                json!({ "filter": filter, "order": order, "first": first, "after": after }),
            )
            .await;
        let conn = &data["events"];
        for e in conn["edges"].as_array().unwrap() {
            ids.push(str_of(&e["node"]["id"]));
        }
        if conn["pageInfo"]["hasNextPage"] != true {
            return ids;
        }
        after = Some(str_of(&conn["pageInfo"]["endCursor"]));
    }
}

#[tokio::test]
async fn every_order_pages_by_four_through_every_result_exactly_once() {
    let app = spawn_app().await;
    let org = app.register("orla", "ORGANIZER").await;
    let fan = app.register("oscar", "USER").await;
    app.top_up(&fan, 1_000_000).await;
    // 25 events created in sequence; starts come in groups of three sharing one instant (ties
    // go by id), in an order unrelated to creation; the word "gala" sits in the title, the
    // description or the venue of some.
    let base = (Utc::now() + Duration::days(3))
        .duration_trunc(Duration::seconds(1))
        .unwrap();
    // (id, starts_at, tickets sold)
    let mut events: Vec<(String, chrono::DateTime<Utc>, i64)> = Vec::new();
    let mut types = Vec::new();
    for i in 0..25_i64 {
        let starts = base + Duration::hours((i * 7) % 9 / 3 * 5 + (i % 4));
        let (title, description, venue) = match i % 5 {
            0 => (format!("Gala {i}"), "An evening".to_string(), "Hall"),
            1 => (format!("Night {i}"), "A gala evening".to_string(), "Hall"),
            2 => (format!("Show {i}"), "An evening".to_string(), "Gala hall"),
            _ => (format!("Plain {i}"), "Nothing special".to_string(), "Hall"),
        };
        let data = app
            .ok(
                Some(&org.access),
                "mutation($input: CreateEventInput!) { createEvent(input: $input) { id ticketTypes { id } } }",
                json!({ "input": { "title": title, "description": description, "venue": venue,
                    "startsAt": starts.to_rfc3339(),
                    "ticketTypes": [{ "name": "GA", "priceCents": 100, "capacity": 50 }] } }),
            )
            .await;
        let id = str_of(&data["createEvent"]["id"]);
        app.publish(&org, &id).await;
        types.push(str_of(&data["createEvent"]["ticketTypes"][0]["id"]));
        events.push((id, starts, 0));
    }
    // Sales make popularity: several ties, many zeros.
    for (i, sold) in [(3_usize, 2_i64), (7, 5), (11, 2), (12, 1), (20, 5), (24, 3)] {
        let r = app.hold(&fan, &types[i], sold).await;
        app.paid(&fan, &r).await;
        events[i].2 = sold;
    }

    let mut starts_at = events.clone();
    starts_at.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    let mut popular = events.clone();
    popular.sort_by(|a, b| (-a.2, &a.0).cmp(&(-b.2, &b.0)));
    let newest: Vec<String> = events.iter().rev().map(|e| e.0.clone()).collect();
    let ids = |v: &[(String, chrono::DateTime<Utc>, i64)]| -> Vec<String> {
        v.iter().map(|e| e.0.clone()).collect()
    };
    let none = json!({});
    assert_eq!(pages(&app, &none, "STARTS_AT", 4).await, ids(&starts_at));
    assert_eq!(pages(&app, &none, "NEWEST", 4).await, newest);
    assert_eq!(pages(&app, &none, "POPULARITY", 4).await, ids(&popular));

    // Relevance: the one-page answer is the reference order; paging by four walks it exactly.
    let gala = json!({ "search": "gala" });
    let reference = pages(&app, &gala, "RELEVANCE", 100).await;
    let matching: HashSet<String> = events
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 5 < 3)
        .map(|(_, e)| e.0.clone())
        .collect();
    assert_eq!(reference.len(), matching.len());
    assert_eq!(reference.iter().cloned().collect::<HashSet<_>>(), matching);
    assert_eq!(pages(&app, &gala, "RELEVANCE", 4).await, reference);
    // Title matches first, then description matches, then venue matches.
    let kind = |id: &String| events.iter().position(|e| &e.0 == id).unwrap() % 5;
    let kinds: Vec<usize> = reference.iter().map(kind).collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(
        kinds, sorted,
        "title (0) before description (1) before venue (2)"
    );

    // The search narrows every order alike; a cursor of one order is refused by another.
    let by_start = pages(&app, &gala, "STARTS_AT", 4).await;
    let expected: Vec<String> = ids(&starts_at)
        .into_iter()
        .filter(|id| matching.contains(id))
        .collect();
    assert_eq!(by_start, expected);
    let first = app
        .ok(None, PAGE, json!({ "order": "NEWEST", "first": 1 }))
        .await;
    let cursor = str_of(&first["events"]["pageInfo"]["endCursor"]);
    let res = app
        .gql(
            None,
            PAGE,
            json!({ "order": "POPULARITY", "first": 1, "after": cursor }),
        )
        .await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT", "{res:#}");
    // RELEVANCE without a search, and a search without a word, are refused.
    let res = app
        .gql(None, PAGE, json!({ "order": "RELEVANCE", "first": 4 }))
        .await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT", "{res:#}");
    let res = app
        .gql(
            None,
            PAGE,
            json!({ "order": "STARTS_AT", "filter": { "search": "%!" } }),
        )
        .await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT", "{res:#}");
}

#[tokio::test]
async fn relevance_puts_a_title_match_before_a_description_match_and_search_follows_edits() {
    let app = spawn_app().await;
    let org = app.register("rhea", "ORGANIZER").await;
    let create = |title: &'static str, description: &'static str| {
        let (app, org) = (&app, &org);
        async move {
            let data = app
                .ok(
                    Some(&org.access),
                    "mutation($input: CreateEventInput!) { createEvent(input: $input) { id } }",
                    json!({ "input": { "title": title, "description": description,
                        "startsAt": (Utc::now() + Duration::days(2)).to_rfc3339(),
                        "ticketTypes": [{ "name": "GA", "priceCents": 100, "capacity": 5 }] } }),
                )
                .await;
            let id = str_of(&data["createEvent"]["id"]);
            app.publish(org, &id).await;
            id
        }
    };
    // Created description-match first, so neither creation nor id order explains the result.
    let described = create("Evening concert", "A night of saxophone and more").await;
    let titled = create("Saxophone summit", "An evening concert").await;
    create("Unrelated", "Nothing here").await;
    let search = json!({ "search": "saxophone" });
    assert_eq!(
        pages(&app, &search, "RELEVANCE", 10).await,
        vec![titled.clone(), described.clone()]
    );
    // Prefix match, case-insensitive.
    assert_eq!(
        pages(&app, &json!({ "search": "SAXO" }), "RELEVANCE", 10).await,
        vec![titled.clone(), described.clone()]
    );
    // An edit is searchable at once (kept in step by the database).
    app.ok(
        Some(&org.access),
        "mutation($id: ID!) { updateEvent(id: $id, input: { title: \"Trumpet summit\" }) { id } }",
        json!({ "id": titled }),
    )
    .await;
    assert_eq!(
        pages(&app, &search, "RELEVANCE", 10).await,
        vec![described.clone()]
    );
    assert_eq!(
        pages(&app, &json!({ "search": "trumpet" }), "STARTS_AT", 10).await,
        vec![titled]
    );
}
