//! Hand-written SQL for the queries the query builder says badly (aggregates with dialect
//! functions, full-text search): written once with `?` placeholders and numbered for PostgreSQL
//! (`$1`, `$2`, …) here, so the text reads the same for both backends.

use sea_orm::{DbBackend, Statement, Value};

/// A statement for `backend` from SQL written with `?` placeholders (none inside literals).
pub fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = match backend {
        DbBackend::Postgres => numbered(sql),
        _ => sql.to_string(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_numbered_for_postgres_only() {
        use sea_orm::DbBackend;
        let s = super::statement(DbBackend::Postgres, "a = ? AND b IN (?, ?)", vec![]);
        assert_eq!(s.sql, "a = $1 AND b IN ($2, $3)");
        let s = super::statement(DbBackend::Sqlite, "a = ?", vec![]);
        assert_eq!(s.sql, "a = ?");
    }
}
