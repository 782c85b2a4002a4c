//! A GraphQL-over-HTTP client for any running instance, and the operations the tests share:
//! accounts, events, reserve / pay / top up, reports, transactions, notifications, `/metrics`.
//! Every request is bounded by [`HTTP_TIMEOUT`].

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

/// No request of a test may take longer than this.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(60);

pub const RESERVE: &str = "mutation($input: ReserveInput!) { reserve(input: $input) {
  id status quantity amountCents expiresAt createdAt
  event { id } ticketType { id available } tickets { id code status } } }";
pub const PAY: &str = "mutation($input: PayInput!) { pay(input: $input) {
  reservation { id status tickets { id code status } }
  transaction { id kind status amountCents method failureReason reservationId eventId } } }";
pub const CANCEL: &str = "mutation($id: ID!) { cancelReservation(id: $id) {
  id status quantity ticketType { id available } tickets { id code status } } }";
pub const RESERVATION: &str = "query($id: ID!) { reservation(id: $id) {
  id status quantity amountCents expiresAt event { id } ticketType { id available } tickets { id code status } } }";
pub const TOP_UP: &str = "mutation($amount: Cents!, $key: String!) {
  topUpWallet(amountCents: $amount, idempotencyKey: $key, cardToken: \"tok_visa\") { balanceCents } }";
pub const BALANCE: &str = "{ wallet { balanceCents } }";
pub const REPORT: &str = "query($id: ID!) { eventReport(eventId: $id) {
  ticketsSold ticketsHeld ticketsAvailable capacity revenueCents refundedCents occupancy failedPayments } }";
pub const TRANSACTIONS: &str = "query($id: ID!, $first: Int, $after: String) {
  transactions(eventId: $id, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id kind status amountCents failureReason method reservationId eventId buyer { username } } } } }";
const REGISTER: &str = "mutation($input: RegisterInput!) {
  register(input: $input) { accessToken refreshToken user { id username } } }";
const CREATE_EVENT: &str = "mutation($input: CreateEventInput!) {
  createEvent(input: $input) { id ticketTypes { id } } }";
const PUBLISH: &str = "mutation($id: ID!) { publishEvent(id: $id) { status } }";
const NOTIFICATIONS: &str = "query($unreadOnly: Boolean!, $first: Int) {
  notifications(unreadOnly: $unreadOnly, first: $first) {
    totalCount edges { node { id kind message reservationId eventId createdAt readAt } } } }";
const MARK_READ: &str = "mutation($ids: [ID!]) { markNotificationsRead(ids: $ids) }";

/// A logged-in user as the tests see it.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub username: String,
    pub access: String,
    pub refresh: String,
}

impl Account {
    /// From a `register` / `login` payload (`accessToken refreshToken user { id username }`).
    pub fn from_payload(p: &Value) -> Account {
        Account {
            id: str_of(&p["user"]["id"]),
            username: str_of(&p["user"]["username"]),
            access: str_of(&p["accessToken"]),
            refresh: str_of(&p["refreshToken"]),
        }
    }
}

pub fn new_key() -> String {
    Uuid::new_v4().to_string()
}

pub fn uuid(id: &str) -> Uuid {
    Uuid::parse_str(id).unwrap_or_else(|_| panic!("`{id}` is not a UUID"))
}

pub fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_string()
}

pub fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v:#}"))
        .to_string()
}

/// The nodes of a connection (`edges { node }`).
pub fn nodes(connection: &Value) -> Vec<Value> {
    connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("not a connection: {connection:#}"))
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// The `extensions.code` of the first error, panicking if there is none.
pub fn error_code(res: &Value) -> &str {
    res["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error with a code, got {res:#}"))
}

pub fn error_message(res: &Value) -> &str {
    res["errors"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error, got {res:#}"))
}

/// Talks to one instance.
#[derive(Clone)]
pub struct Api {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
}

impl Api {
    pub fn at(addr: SocketAddr) -> Api {
        Api {
            addr,
            client: reqwest::Client::builder()
                .timeout(HTTP_TIMEOUT)
                .build()
                .expect("HTTP client"),
        }
    }

    /// A client of its own for `app` (e.g. to move into a task).
    pub fn of(app: &Api) -> Api {
        app.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POSTs `body` to `/graphql`; the status and the body (JSON if it parses, else a string).
    pub async fn post_raw(&self, body: Value) -> (u16, Value) {
        let res = self
            .client
            .post(self.url("/graphql"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// POSTs `body` to `/graphql` and returns the JSON response.
    pub async fn post_json(&self, body: &impl serde::Serialize) -> Value {
        self.client
            .post(self.url("/graphql"))
            .json(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// POSTs a GraphQL operation; returns the whole JSON response.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut req = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.expect("request");
        res.json().await.expect("JSON response")
    }

    /// Like `gql`, but panics unless the response has data and no errors; returns `data`.
    pub async fn ok(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let res = self.gql(token, query, variables).await;
        assert!(res.get("errors").is_none(), "unexpected errors: {res:#}");
        res["data"].clone()
    }

    /// The body of a GET of `path`.
    pub async fn get_text(&self, path: &str) -> String {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The whole `/metrics` page.
    pub async fn metrics_text(&self) -> String {
        self.get_text("/metrics").await
    }

    /// The value of a counter or gauge on `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.metrics_text().await;
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix(' '))
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
    }

    // -- Accounts and events ------------------------------------------------------------------

    pub async fn register(&self, username: &str, role: &str) -> Account {
        let data = self
            .ok(
                None,
                REGISTER,
                json!({ "input": { "username": username, "password": "correct horse battery", "role": role } }),
            )
            .await;
        Account::from_payload(&data["register"])
    }

    /// Creates an event (a draft) and returns its id and ticket type ids.
    pub async fn create_event(
        &self,
        organizer: &Account,
        title: &str,
        starts_in_days: i64,
        tickets: &[(&str, i64, i32)],
    ) -> (String, Vec<String>) {
        let starts_at = (chrono::Utc::now() + chrono::Duration::days(starts_in_days)).to_rfc3339();
        let types: Vec<Value> = tickets
            .iter()
            .map(|(name, price, capacity)| json!({ "name": name, "priceCents": price, "capacity": capacity }))
            .collect();
        let data = self
            .ok(
                Some(&organizer.access),
                CREATE_EVENT,
                json!({ "input": { "title": title, "description": format!("All about {title}"), "venue": "Hall 1", "startsAt": starts_at, "ticketTypes": types } }),
            )
            .await;
        let id = str_of(&data["createEvent"]["id"]);
        let tt = data["createEvent"]["ticketTypes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| str_of(&t["id"]))
            .collect();
        (id, tt)
    }

    /// A draft event starting in ten days; its id and ticket type ids.
    pub async fn draft_event(
        &self,
        organizer: &Account,
        title: &str,
        tickets: &[(&str, i64, i32)],
    ) -> (String, Vec<String>) {
        self.create_event(organizer, title, 10, tickets).await
    }

    pub async fn publish(&self, organizer: &Account, event_id: &str) {
        self.ok(Some(&organizer.access), PUBLISH, json!({ "id": event_id }))
            .await;
    }

    /// A published event starting in ten days; its id and ticket type ids.
    pub async fn published_event(
        &self,
        organizer: &Account,
        title: &str,
        tickets: &[(&str, i64, i32)],
    ) -> (String, Vec<String>) {
        let (event, types) = self.draft_event(organizer, title, tickets).await;
        self.publish(organizer, &event).await;
        (event, types)
    }

    // -- Reserve, pay, top up -----------------------------------------------------------------

    /// The raw response of a `reserve`.
    pub async fn reserve(
        &self,
        who: &Account,
        ticket_type: &str,
        quantity: i64,
        key: &str,
    ) -> Value {
        self.gql(
            Some(&who.access),
            RESERVE,
            json!({ "input": { "ticketTypeId": ticket_type, "quantity": quantity, "idempotencyKey": key } }),
        )
        .await
    }

    /// A `reserve` that must succeed; returns the reservation.
    pub async fn reserved(&self, who: &Account, ticket_type: &str, quantity: i64) -> Value {
        let res = self.reserve(who, ticket_type, quantity, &new_key()).await;
        assert!(res.get("errors").is_none(), "reserve failed: {res:#}");
        res["data"]["reserve"].clone()
    }

    /// A hold that must succeed; its reservation id.
    pub async fn hold(&self, who: &Account, ticket_type: &str, quantity: i64) -> String {
        id_of(&self.reserved(who, ticket_type, quantity).await)
    }

    /// The raw response of a wallet `pay`.
    pub async fn pay(&self, who: &Account, reservation_id: &str, key: &str) -> Value {
        self.gql(
            Some(&who.access),
            PAY,
            json!({ "input": { "reservationId": reservation_id, "idempotencyKey": key, "method": "WALLET" } }),
        )
        .await
    }

    /// The raw response of a card `pay`.
    pub async fn pay_card(
        &self,
        who: &Account,
        reservation_id: &str,
        key: &str,
        token: &str,
    ) -> Value {
        self.gql(
            Some(&who.access),
            PAY,
            json!({ "input": { "reservationId": reservation_id, "idempotencyKey": key, "method": "CARD", "cardToken": token } }),
        )
        .await
    }

    /// A wallet payment that must succeed; its transaction id.
    pub async fn paid(&self, who: &Account, reservation: &str) -> String {
        let res = self.pay(who, reservation, &new_key()).await;
        assert!(res.get("errors").is_none(), "pay failed: {res:#}");
        str_of(&res["data"]["pay"]["transaction"]["id"])
    }

    /// Holds one seat and pays for it from the wallet; the payment's transaction id.
    pub async fn buy(&self, who: &Account, ticket_type: &str) -> String {
        let reservation = self.hold(who, ticket_type, 1).await;
        self.paid(who, &reservation).await
    }

    /// A cancellation that must succeed.
    pub async fn cancel(&self, who: &Account, reservation: &str) {
        self.ok(Some(&who.access), CANCEL, json!({ "id": reservation }))
            .await;
    }

    /// Tops up the wallet (a fresh key); the new balance.
    pub async fn top_up(&self, who: &Account, amount: i64) -> i64 {
        self.ok(
            Some(&who.access),
            TOP_UP,
            json!({ "amount": amount, "key": new_key() }),
        )
        .await["topUpWallet"]["balanceCents"]
            .as_i64()
            .expect("balanceCents")
    }

    pub async fn balance(&self, who: &Account) -> i64 {
        self.ok(Some(&who.access), BALANCE, json!({})).await["wallet"]["balanceCents"]
            .as_i64()
            .expect("balanceCents")
    }

    // -- Reports, transactions, notifications -------------------------------------------------

    pub async fn report(&self, viewer: &Account, event: &str) -> Value {
        self.ok(Some(&viewer.access), REPORT, json!({ "id": event }))
            .await["eventReport"]
            .clone()
    }

    /// Every transaction of the event, oldest first.
    pub async fn transactions(&self, organizer: &Account, event: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut after = Value::Null;
        loop {
            let data = self
                .ok(
                    Some(&organizer.access),
                    TRANSACTIONS,
                    json!({ "id": event, "first": 100, "after": after }),
                )
                .await;
            let conn = &data["transactions"];
            all.extend(nodes(conn));
            if conn["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = conn["pageInfo"]["endCursor"].clone();
        }
        all.reverse();
        all
    }

    /// (totalCount, nodes) of the viewer's notifications.
    pub async fn notifications(&self, who: &Account, unread_only: bool) -> (i64, Vec<Value>) {
        let data = self
            .ok(
                Some(&who.access),
                NOTIFICATIONS,
                json!({ "unreadOnly": unread_only, "first": 100 }),
            )
            .await;
        let conn = &data["notifications"];
        (conn["totalCount"].as_i64().unwrap(), nodes(conn))
    }

    pub async fn mark_read(&self, who: &Account, ids: Option<Vec<String>>) -> i64 {
        self.ok(Some(&who.access), MARK_READ, json!({ "ids": ids }))
            .await["markNotificationsRead"]
            .as_i64()
            .unwrap()
    }
}
