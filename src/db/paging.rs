//! Paging lists from the database: opaque cursors, one page of rows (`Page`), and the
//! newest-first keyset pager shared by reservations, transactions and notifications. Services
//! use it; `graphql::pagination` turns a `Page` into a Relay connection.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{AppError, AppResult};

/// Wraps a cursor's plain form so clients treat it as opaque.
pub fn encode_cursor(plain: &str) -> String {
    URL_SAFE_NO_PAD.encode(plain)
}

pub fn decode_cursor(cursor: &str) -> AppResult<String> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| AppError::bad_input("`after` is not a cursor returned by this API"))
}

/// One page of a list, before it becomes a GraphQL connection.
pub struct Page<T> {
    /// Each item with its cursor, in order.
    pub items: Vec<(String, T)>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub total_count: i64,
}

impl<T> Page<T> {
    /// A page from up to `first + 1` rows read in order (the extra row only says that more
    /// follow), each given its cursor.
    pub fn from_rows(
        mut rows: Vec<T>,
        first: u64,
        has_previous_page: bool,
        total_count: i64,
        cursor: impl Fn(&T) -> String,
    ) -> Page<T> {
        let has_next_page = rows.len() as u64 > first;
        rows.truncate(first as usize);
        Page {
            items: rows.into_iter().map(|row| (cursor(&row), row)).collect(),
            has_next_page,
            has_previous_page,
            total_count,
        }
    }

    pub fn map<U>(self, f: impl Fn(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(|(c, t)| (c, f(t))).collect(),
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
            total_count: self.total_count,
        }
    }
}

/// Cursor over (time, id), shared by every newest-first list.
pub fn time_cursor(at: chrono::DateTime<chrono::Utc>, id: uuid::Uuid) -> String {
    encode_cursor(&format!("{}|{}", at.timestamp_micros(), id))
}

pub fn parse_time_cursor(cursor: &str) -> AppResult<(chrono::DateTime<chrono::Utc>, uuid::Uuid)> {
    let plain = decode_cursor(cursor)?;
    let bad = || AppError::bad_input("`after` is not a cursor returned by this list");
    let (micros, id) = plain.split_once('|').ok_or_else(bad)?;
    let at = chrono::DateTime::from_timestamp_micros(micros.parse().map_err(|_| bad())?)
        .ok_or_else(bad)?;
    Ok((at, id.parse().map_err(|_| bad())?))
}

/// Rows of `E` matching `scope`, newest first, keyset-paged by (`created`, `id`) so pages stay
/// right while rows are added: reservations, transactions and notifications all list this way.
pub async fn newest_first<E>(
    db: &impl sea_orm::ConnectionTrait,
    scope: sea_orm::Condition,
    (created, id): (E::Column, E::Column),
    key: impl Fn(&E::Model) -> (chrono::DateTime<chrono::Utc>, uuid::Uuid),
    first: u64,
    after: Option<&str>,
) -> AppResult<Page<E::Model>>
where
    E: sea_orm::EntityTrait,
    E::Model: Sync,
{
    use sea_orm::{ColumnTrait, Condition, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
    let total_count = E::find().filter(scope.clone()).count(db).await? as i64;
    let mut cond = scope;
    if let Some(cursor) = after {
        let (at, last) = parse_time_cursor(cursor)?;
        cond = cond.add(
            Condition::any()
                .add(created.lt(at))
                .add(Condition::all().add(created.eq(at)).add(id.lt(last))),
        );
    }
    let rows = E::find()
        .filter(cond)
        .order_by_desc(created)
        .order_by_desc(id)
        .limit(first + 1)
        .all(db)
        .await?;
    Ok(Page::from_rows(
        rows,
        first,
        after.is_some(),
        total_count,
        |row| {
            let (at, id) = key(row);
            time_cursor(at, id)
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = encode_cursor("2026-01-01T00:00:00Z|abc");
        assert_eq!(decode_cursor(&c).unwrap(), "2026-01-01T00:00:00Z|abc");
        assert!(decode_cursor("not base64!").is_err());
    }
}
