//! The analytics figures, each computed by SQL aggregation in a fixed number of statements
//! whatever the number of sales (PRODUCT.md, "Analytics definitions").
//!
//! Money is windowed by the time of the money movement: a payment counts in the window its
//! PAYMENT transaction falls in, a refund (and the fee its cancellation kept) in the window of
//! its REFUND transaction. Free (RSVP) tickets move no money, so they are not "sold" here.
//! "Tickets sold and not cancelled" are those paid in the window whose reservation is still
//! confirmed; check-ins count among those. Ratings are windowed by when they were submitted.
//! The window is `from` inclusive, `to` exclusive; either end may be open.

use chrono::{DateTime, Utc};
use entity::event;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QueryResult, Value};
use uuid::Uuid;

use crate::auth::{Role, Viewer};
use crate::db::raw::statement;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// At most this many buckets in `salesOverTime`.
pub const MAX_BUCKETS: i64 = 10_000;
/// At most this many events in `topEvents`.
pub const MAX_TOP_EVENTS: i64 = 100;

/// Which events the figures cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Event(Uuid),
    Organizer(Uuid),
    All,
}

/// The scope and window of one `analytics` query.
#[derive(Debug, Clone, Copy)]
pub struct Query {
    pub scope: Scope,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// The single-number figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub revenue_cents: i64,
    pub refunded_cents: i64,
    pub fees_kept_cents: i64,
    pub tickets_sold: i64,
    pub tickets_cancelled: i64,
    /// Paid in the window and still confirmed.
    pub tickets_active: i64,
    pub checked_in: i64,
    pub capacity: i64,
    pub average_rating: Option<f64>,
    /// The earliest payment in the window (where an open `salesOverTime` starts).
    pub first_sale: Option<DateTime<Utc>>,
}

impl Totals {
    pub fn cancellation_rate(&self) -> f64 {
        ratio(self.tickets_cancelled, self.tickets_sold)
    }
    pub fn occupancy(&self) -> f64 {
        ratio(self.tickets_active, self.capacity)
    }
    pub fn check_in_rate(&self) -> f64 {
        ratio(self.checked_in, self.tickets_active)
    }
}

fn ratio(a: i64, b: i64) -> f64 {
    if b <= 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Buckets of `salesOverTime`, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Hour,
    Day,
    /// Starting Monday 00:00 UTC.
    Week,
}

impl Bucket {
    /// (width, offset) in seconds: bucket `n` starts at `offset + n * width` since the epoch.
    /// The epoch fell on a Thursday, so weeks start 4 days later.
    fn geometry(self) -> (i64, i64) {
        match self {
            Bucket::Hour => (3_600, 0),
            Bucket::Day => (86_400, 0),
            Bucket::Week => (7 * 86_400, 4 * 86_400),
        }
    }

    /// The index of the bucket holding `at`.
    fn index(self, at: DateTime<Utc>) -> i64 {
        let (width, offset) = self.geometry();
        (at.timestamp() - offset).div_euclid(width)
    }

    fn start(self, index: i64) -> DateTime<Utc> {
        let (width, offset) = self.geometry();
        DateTime::from_timestamp(offset + index * width, 0).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sales {
    pub tickets: i64,
    pub revenue_cents: i64,
}

/// Who may see which figures: organizers their own events, admins all, nobody else any.
pub async fn authorize(
    state: &AppState,
    viewer: &Viewer,
    event_id: Option<Uuid>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> AppResult<Query> {
    if viewer.role == Role::User {
        return Err(AppError::Forbidden(
            "analytics are for organizers and admins".into(),
        ));
    }
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(AppError::bad_input("`from` must be before `to`"));
    }
    let scope = match event_id {
        Some(id) => {
            let event = event::Entity::find_by_id(id)
                .one(&state.db)
                .await?
                .ok_or_else(|| AppError::NotFound(format!("event {id} not found")))?;
            if event.organizer_id != viewer.user_id && !viewer.is_admin() {
                return Err(AppError::Forbidden(
                    "analytics of an event are for its organizer or an admin".into(),
                ));
            }
            Scope::Event(id)
        }
        None if viewer.is_admin() => Scope::All,
        None => Scope::Organizer(viewer.user_id),
    };
    Ok(Query {
        scope,
        from: from.map(crate::db::truncate_micros),
        to: to.map(crate::db::truncate_micros),
    })
}

/// SQL conditions (and their values) restricting rows to the query's scope and window.
struct Where {
    sql: String,
    values: Vec<Value>,
}

/// `alias.event_id` in scope, and `alias.time` in the window (when `time` is given).
fn conditions(q: &Query, alias: &str, event_col: &str, time: Option<&str>) -> Where {
    let mut sql = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    match q.scope {
        Scope::Event(id) => {
            sql.push(format!("{alias}.{event_col} = ?"));
            values.push(id.into());
        }
        Scope::Organizer(id) => {
            sql.push(format!(
                "{alias}.{event_col} IN (SELECT id FROM events WHERE organizer_id = ?)"
            ));
            values.push(id.into());
        }
        Scope::All => {}
    }
    if let Some(time) = time {
        if let Some(from) = q.from {
            sql.push(format!("{alias}.{time} >= ?"));
            values.push(from.into());
        }
        if let Some(to) = q.to {
            sql.push(format!("{alias}.{time} < ?"));
            values.push(to.into());
        }
    }
    if sql.is_empty() {
        sql.push("1 = 1".into());
    }
    Where {
        sql: sql.join(" AND "),
        values,
    }
}

/// Succeeded payments and refunds in scope and window, joined to their reservation (`r`).
fn money_rows(q: &Query, kinds: &str) -> Where {
    let w = conditions(q, "t", "event_id", Some("created_at"));
    Where {
        sql: format!(
            "transactions t JOIN reservations r ON r.id = t.reservation_id \
             WHERE t.status = 'SUCCEEDED' AND t.kind IN ({kinds}) AND {}",
            w.sql
        ),
        values: w.values,
    }
}

fn int(row: &QueryResult, col: &str) -> AppResult<i64> {
    Ok(row.try_get::<Option<i64>>("", col)?.unwrap_or(0))
}

/// Every single-number figure, in two statements.
pub async fn totals(db: &impl ConnectionTrait, q: &Query) -> AppResult<Totals> {
    let backend = db.get_database_backend();
    let money = money_rows(q, "'PAYMENT', 'REFUND'");
    // Each refund follows a cancellation of its whole reservation, so what the reservation paid
    // minus what the refund gave back is what the policy kept.
    let sql = format!(
        "SELECT \
           CAST(SUM(CASE WHEN t.kind = 'PAYMENT' THEN t.amount_cents ELSE 0 END) AS BIGINT) AS revenue, \
           CAST(SUM(CASE WHEN t.kind = 'PAYMENT' THEN r.quantity ELSE 0 END) AS BIGINT) AS sold, \
           CAST(SUM(CASE WHEN t.kind = 'REFUND' THEN t.amount_cents ELSE 0 END) AS BIGINT) AS refunded, \
           CAST(SUM(CASE WHEN t.kind = 'REFUND' THEN r.quantity ELSE 0 END) AS BIGINT) AS cancelled, \
           CAST(SUM(CASE WHEN t.kind = 'REFUND' THEN r.amount_cents - t.amount_cents ELSE 0 END) AS BIGINT) AS kept, \
           MIN(CASE WHEN t.kind = 'PAYMENT' THEN t.created_at END) AS first_sale \
         FROM {}",
        money.sql
    );
    let row = db
        .query_one_raw(statement(backend, &sql, money.values))
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("an aggregate returned no row")))?;
    let mut t = Totals {
        revenue_cents: int(&row, "revenue")?,
        tickets_sold: int(&row, "sold")?,
        refunded_cents: int(&row, "refunded")?,
        tickets_cancelled: int(&row, "cancelled")?,
        fees_kept_cents: int(&row, "kept")?,
        first_sale: row.try_get::<Option<DateTime<Utc>>>("", "first_sale")?,
        ..Totals::default()
    };

    let paid = money_rows(q, "'PAYMENT'");
    let scope = conditions(q, "e", "id", None);
    let rated = conditions(q, "f", "event_id", Some("created_at"));
    let sql = format!(
        "SELECT \
           (SELECT CAST(SUM(r.quantity) AS BIGINT) FROM {paid} AND r.status = 'CONFIRMED') AS active, \
           (SELECT CAST(COUNT(*) AS BIGINT) FROM tickets k \
              JOIN reservations r ON r.id = k.reservation_id \
              JOIN transactions t ON t.reservation_id = r.id \
              WHERE t.status = 'SUCCEEDED' AND t.kind = 'PAYMENT' AND {paid_where} \
                AND k.status = 'VALID' AND k.checked_in_at IS NOT NULL) AS checked_in, \
           (SELECT CAST(SUM(tt.capacity) AS BIGINT) FROM ticket_types tt \
              JOIN events e ON e.id = tt.event_id \
              WHERE e.status <> 'DRAFT' AND {scope}) AS capacity, \
           (SELECT CAST(AVG(CAST(f.rating AS DOUBLE PRECISION)) AS DOUBLE PRECISION) \
              FROM feedback f WHERE {rated}) AS rating",
        paid = paid.sql,
        paid_where = conditions(q, "t", "event_id", Some("created_at")).sql,
        scope = scope.sql,
        rated = rated.sql,
    );
    let mut values = paid.values;
    values.extend(conditions(q, "t", "event_id", Some("created_at")).values);
    values.extend(scope.values);
    values.extend(rated.values);
    let row = db
        .query_one_raw(statement(backend, &sql, values))
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("an aggregate returned no row")))?;
    t.tickets_active = int(&row, "active")?;
    t.checked_in = int(&row, "checked_in")?;
    t.capacity = int(&row, "capacity")?;
    t.average_rating = row.try_get::<Option<f64>>("", "rating")?;
    Ok(t)
}

/// The bucket indexes `salesOverTime` lists: from the window's start (or the first sale) to its
/// end (or now), every one of them, at most `MAX_BUCKETS`.
fn bucket_range(
    q: &Query,
    bucket: Bucket,
    first_sale: Option<DateTime<Utc>>,
) -> AppResult<Option<(i64, i64)>> {
    let Some(from) = q.from.or(first_sale) else {
        return Ok(None);
    };
    let to = q.to.unwrap_or_else(Utc::now);
    let first = bucket.index(from);
    // `to` is exclusive: the last bucket is the one holding the instant just before it.
    let last = bucket
        .index(to - chrono::Duration::microseconds(1))
        .max(first);
    if last - first + 1 > MAX_BUCKETS {
        return Err(AppError::bad_input(format!(
            "salesOverTime would have {} buckets; at most {MAX_BUCKETS}: narrow `from`/`to` or use a wider bucket",
            last - first + 1
        )));
    }
    Ok(Some((first, last)))
}

/// Seconds since the epoch of a timestamp column, as an integer, per backend.
fn epoch(backend: DbBackend, col: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("CAST(FLOOR(EXTRACT(EPOCH FROM {col})) AS BIGINT)"),
        _ => format!("CAST(strftime('%s', {col}) AS INTEGER)"),
    }
}

/// Tickets and revenue of the payments in each bucket, empty buckets included.
pub async fn sales_over_time(
    db: &impl ConnectionTrait,
    q: &Query,
    bucket: Bucket,
    first_sale: Option<DateTime<Utc>>,
) -> AppResult<Vec<(DateTime<Utc>, Sales)>> {
    let Some((first, last)) = bucket_range(q, bucket, first_sale)? else {
        return Ok(Vec::new());
    };
    let backend = db.get_database_backend();
    let (width, offset) = bucket.geometry();
    let paid = money_rows(q, "'PAYMENT'");
    // Epoch seconds minus the offset are positive for any real sale, so integer division
    // floors on both backends.
    let sql = format!(
        "SELECT CAST(({epoch} - {offset}) / {width} AS BIGINT) AS bucket, \
           CAST(SUM(r.quantity) AS BIGINT) AS tickets, \
           CAST(SUM(t.amount_cents) AS BIGINT) AS revenue \
         FROM {paid} GROUP BY 1",
        epoch = epoch(backend, "t.created_at"),
        paid = paid.sql,
    );
    let rows = db
        .query_all_raw(statement(backend, &sql, paid.values))
        .await?;
    let mut filled: Vec<(DateTime<Utc>, Sales)> = (first..=last)
        .map(|i| {
            (
                bucket.start(i),
                Sales {
                    tickets: 0,
                    revenue_cents: 0,
                },
            )
        })
        .collect();
    for row in rows {
        let i = int(&row, "bucket")?;
        if (first..=last).contains(&i) {
            filled[(i - first) as usize].1 = Sales {
                tickets: int(&row, "tickets")?,
                revenue_cents: int(&row, "revenue")?,
            };
        }
    }
    Ok(filled)
}

/// Sales per ticket type (or per event), most tickets first.
async fn grouped(
    db: &impl ConnectionTrait,
    q: &Query,
    key: &str,
    limit: Option<i64>,
) -> AppResult<Vec<(Uuid, Sales)>> {
    let backend = db.get_database_backend();
    let paid = money_rows(q, "'PAYMENT'");
    let mut sql = format!(
        "SELECT {key} AS k, CAST(SUM(r.quantity) AS BIGINT) AS tickets, \
           CAST(SUM(t.amount_cents) AS BIGINT) AS revenue \
         FROM {paid} GROUP BY {key} ORDER BY 2 DESC, 3 DESC, 1",
        paid = paid.sql
    );
    let mut values = paid.values;
    if let Some(limit) = limit {
        sql.push_str(" LIMIT ?");
        values.push(limit.into());
    }
    let rows = db.query_all_raw(statement(backend, &sql, values)).await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get::<Uuid>("", "k")?,
                Sales {
                    tickets: int(row, "tickets")?,
                    revenue_cents: int(row, "revenue")?,
                },
            ))
        })
        .collect()
}

pub async fn by_ticket_type(db: &impl ConnectionTrait, q: &Query) -> AppResult<Vec<(Uuid, Sales)>> {
    grouped(db, q, "r.ticket_type_id", None).await
}

/// The events that sold the most tickets in the window.
pub async fn top_events(
    db: &impl ConnectionTrait,
    q: &Query,
    limit: i64,
) -> AppResult<Vec<(Uuid, Sales)>> {
    if !(1..=MAX_TOP_EVENTS).contains(&limit) {
        return Err(AppError::bad_input(format!(
            "limit must be between 1 and {MAX_TOP_EVENTS}"
        )));
    }
    grouped(db, q, "t.event_id", Some(limit)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn weeks_start_on_monday_and_hours_and_days_on_the_hour_and_midnight_utc() {
        // 2026-12-03 is a Thursday.
        let t = at("2026-12-03T15:42:10Z");
        assert_eq!(
            Bucket::Week.start(Bucket::Week.index(t)),
            at("2026-11-30T00:00:00Z")
        );
        assert_eq!(
            Bucket::Day.start(Bucket::Day.index(t)),
            at("2026-12-03T00:00:00Z")
        );
        assert_eq!(
            Bucket::Hour.start(Bucket::Hour.index(t)),
            at("2026-12-03T15:00:00Z")
        );
        let monday = at("2026-11-30T00:00:00Z");
        assert_eq!(Bucket::Week.start(Bucket::Week.index(monday)), monday);
        let sunday = at("2026-12-06T23:59:59Z");
        assert_eq!(Bucket::Week.start(Bucket::Week.index(sunday)), monday);
    }

    #[test]
    fn bucket_ranges_include_empty_buckets_and_are_bounded() {
        let q = Query {
            scope: Scope::All,
            from: Some(at("2026-12-01T10:30:00Z")),
            to: Some(at("2026-12-01T13:00:00Z")),
        };
        // 10:00, 11:00 and 12:00: `to` is exclusive.
        assert_eq!(
            bucket_range(&q, Bucket::Hour, None).unwrap(),
            Some((
                Bucket::Hour.index(at("2026-12-01T10:00:00Z")),
                Bucket::Hour.index(at("2026-12-01T12:00:00Z"))
            ))
        );
        let wide = Query {
            from: Some(at("2020-01-01T00:00:00Z")),
            ..q
        };
        assert!(bucket_range(&wide, Bucket::Hour, None).is_err());
        assert!(bucket_range(&wide, Bucket::Day, None).is_ok());
        let open = Query {
            scope: Scope::All,
            from: None,
            to: None,
        };
        assert_eq!(bucket_range(&open, Bucket::Day, None).unwrap(), None);
    }
}
