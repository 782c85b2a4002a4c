//! Discovery (issue 16, point 6) through the real server: categories normalised to lower case,
//! and the `events` filter narrowed by category, price range, venue, ticket type name and date,
//! paging exactly once through the results.

use std::collections::HashSet;

use crate::helpers::{Account, TestApp, error_code, spawn_app, str_of};
use chrono::{Duration, Utc};
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
