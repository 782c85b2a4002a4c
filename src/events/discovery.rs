//! Discovery: an event's categories (normalised lower case, stored one row each in
//! `event_categories`) and the `events` filter conditions beyond the basics: categories, a
//! price range, a venue keyword and a ticket type name. Each condition is an `EXISTS` on the
//! event's own rows, so the listing keeps its (startsAt, id) keyset and pages exactly once.

use entity::event;
use entity::event_category;
use entity::ticket_type;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::error::{AppError, AppResult};

pub const MAX_CATEGORIES: usize = 10;
pub const MAX_CATEGORY_LEN: usize = 50;

/// Trimmed, lower case, 1–50 characters, duplicates dropped (first kept), at most 10.
pub fn clean_categories(categories: Vec<String>) -> AppResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for c in categories {
        let c = c.trim().to_lowercase();
        if c.is_empty() || c.chars().count() > MAX_CATEGORY_LEN {
            return Err(AppError::bad_input(format!(
                "categories must be 1 to {MAX_CATEGORY_LEN} characters long"
            )));
        }
        if !out.contains(&c) {
            out.push(c);
        }
    }
    if out.len() > MAX_CATEGORIES {
        return Err(AppError::bad_input(format!(
            "an event has at most {MAX_CATEGORIES} categories"
        )));
    }
    Ok(out)
}

/// Replaces the event's categories (already cleaned), in the caller's transaction.
pub async fn set_categories(
    db: &impl ConnectionTrait,
    event_id: Uuid,
    categories: &[String],
) -> AppResult<()> {
    event_category::Entity::delete_many()
        .filter(event_category::Column::EventId.eq(event_id))
        .exec(db)
        .await?;
    if categories.is_empty() {
        return Ok(());
    }
    let rows = categories.iter().map(|c| event_category::ActiveModel {
        event_id: sea_orm::Set(event_id),
        category: sea_orm::Set(c.clone()),
    });
    event_category::Entity::insert_many(rows).exec(db).await?;
    Ok(())
}

/// The event's categories, alphabetically.
pub async fn categories_of(db: &impl ConnectionTrait, event_id: Uuid) -> AppResult<Vec<String>> {
    Ok(event_category::Entity::find()
        .filter(event_category::Column::EventId.eq(event_id))
        .order_by_asc(event_category::Column::Category)
        .all(db)
        .await?
        .into_iter()
        .map(|c| c.category)
        .collect())
}

/// A case-insensitive "contains" pattern with LIKE's wildcards matched literally.
fn contains_pattern(keyword: &str) -> LikeExpr {
    let escaped = keyword
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    LikeExpr::new(format!("%{escaped}%")).escape('\\')
}

fn keyword(value: Option<&str>, field: &str) -> AppResult<Option<String>> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.chars().count() > 100 {
        return Err(AppError::bad_input(format!(
            "{field} must be at most 100 characters long"
        )));
    }
    Ok(Some(v.to_string()))
}

/// A ticket type of the outer event meeting `condition` exists.
fn some_ticket_type(condition: SimpleExpr) -> SimpleExpr {
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(ticket_type::Entity)
            .and_where(
                Expr::col((ticket_type::Entity, ticket_type::Column::EventId))
                    .equals((event::Entity, event::Column::Id)),
            )
            .and_where(condition)
            .to_owned(),
    )
}

/// The discovery conditions of the `events` filter; all given ones must hold.
pub struct Discovery<'a> {
    /// Any of these categories (normalised like stored ones).
    pub categories: Option<&'a [String]>,
    /// A ticket type priced at least / at most this (the same ticket type meets both).
    pub min_price_cents: Option<i64>,
    pub max_price_cents: Option<i64>,
    /// Keyword in the venue.
    pub venue: Option<&'a str>,
    /// Keyword in a ticket type's name.
    pub ticket_type_name: Option<&'a str>,
}

pub fn condition(d: &Discovery<'_>) -> AppResult<Condition> {
    let mut cond = Condition::all();
    if let Some(categories) = d.categories {
        let wanted = clean_categories(categories.to_vec())?;
        cond = cond.add(Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(event_category::Entity)
                .and_where(
                    Expr::col((event_category::Entity, event_category::Column::EventId))
                        .equals((event::Entity, event::Column::Id)),
                )
                .and_where(
                    Expr::col((event_category::Entity, event_category::Column::Category))
                        .is_in(wanted),
                )
                .to_owned(),
        ));
    }
    if let (Some(min), Some(max)) = (d.min_price_cents, d.max_price_cents)
        && min > max
    {
        return Err(AppError::bad_input(
            "minPriceCents must not exceed maxPriceCents",
        ));
    }
    if d.min_price_cents.is_some() || d.max_price_cents.is_some() {
        let price = || Expr::col((ticket_type::Entity, ticket_type::Column::PriceCents));
        let mut range = Condition::all();
        if let Some(min) = d.min_price_cents {
            range = range.add(price().gte(min));
        }
        if let Some(max) = d.max_price_cents {
            range = range.add(price().lte(max));
        }
        cond = cond.add(some_ticket_type(range.into()));
    }
    if let Some(venue) = keyword(d.venue, "venue")? {
        cond = cond.add(
            Expr::expr(Func::lower(Expr::col((
                event::Entity,
                event::Column::Venue,
            ))))
            .like(contains_pattern(&venue)),
        );
    }
    if let Some(name) = keyword(d.ticket_type_name, "ticketTypeName")? {
        cond = cond.add(some_ticket_type(
            Expr::expr(Func::lower(Expr::col((
                ticket_type::Entity,
                ticket_type::Column::Name,
            ))))
            .like(contains_pattern(&name)),
        ));
    }
    Ok(cond)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_normalised_and_bounded() {
        assert_eq!(
            clean_categories(vec![" Jazz ".into(), "jazz".into(), "Live Music".into()]).unwrap(),
            vec!["jazz".to_string(), "live music".to_string()]
        );
        assert!(clean_categories(vec!["  ".into()]).is_err());
        assert!(clean_categories((0..11).map(|i| i.to_string()).collect()).is_err());
    }
}
