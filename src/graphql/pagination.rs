//! Relay-style paging in the API: the `first` argument's bounds and the `connection!` macro
//! that turns a `db::paging::Page` into a connection type. The cursors and the pager
//! themselves live in `db::paging`, since services page without knowing about GraphQL.

use crate::error::{AppError, AppResult};

pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;

/// Validates `first`: absent means the default; 0..=100 allowed.
pub fn page_size(first: Option<i32>) -> AppResult<u64> {
    match first {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if n < 0 => Err(AppError::bad_input("`first` must not be negative")),
        Some(n) if n as u64 > MAX_PAGE_SIZE => Err(AppError::bad_input(format!(
            "`first` must be at most {MAX_PAGE_SIZE}"
        ))),
        Some(n) => Ok(n as u64),
    }
}

/// Declares a Relay connection type and its edge type, with descriptions, plus `totalCount`.
#[macro_export]
macro_rules! connection {
    ($conn:ident, $edge:ident, $node:ty, $conn_doc:literal, $edge_doc:literal) => {
        #[doc = $conn_doc]
        #[derive(async_graphql::SimpleObject)]
        pub struct $conn {
            /// The items of this page, each with its cursor.
            pub edges: Vec<$edge>,
            /// Whether there are more pages, and the cursors at both ends of this one.
            pub page_info: async_graphql::connection::PageInfo,
            /// How many items match across all pages.
            pub total_count: i64,
        }

        #[doc = $edge_doc]
        #[derive(async_graphql::SimpleObject)]
        pub struct $edge {
            /// Opaque cursor: pass it as `after` to get the items that follow this one.
            pub cursor: String,
            /// The item.
            pub node: $node,
        }

        impl From<$crate::db::paging::Page<$node>> for $conn {
            fn from(page: $crate::db::paging::Page<$node>) -> Self {
                let start_cursor = page.items.first().map(|(c, _)| c.clone());
                let end_cursor = page.items.last().map(|(c, _)| c.clone());
                $conn {
                    edges: page
                        .items
                        .into_iter()
                        .map(|(cursor, node)| $edge { cursor, node })
                        .collect(),
                    page_info: async_graphql::connection::PageInfo {
                        has_previous_page: page.has_previous_page,
                        has_next_page: page.has_next_page,
                        start_cursor,
                        end_cursor,
                    },
                    total_count: page.total_count,
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(page_size(None).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(Some(0)).unwrap(), 0);
        assert!(page_size(Some(-1)).is_err());
        assert!(page_size(Some(101)).is_err());
    }
}
