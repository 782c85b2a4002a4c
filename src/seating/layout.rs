//! A venue's layout (sections → rows → seat counts), how it is checked, and best-available: the
//! pure parts of seating, with no database.

use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};

pub const MAX_SEATS_PER_ROW: i32 = 500;
pub const MAX_SEATS_PER_VENUE: i64 = 100_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Row {
    pub label: String,
    pub seats: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    /// Front to back.
    pub rows: Vec<Row>,
}

/// Trims names, then checks every rule; errors name the offending section or row.
pub fn check(name: &str, sections: Vec<Section>) -> AppResult<(String, Vec<Section>, i32)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(AppError::bad_input(
            "venue name must be 1 to 200 characters long",
        ));
    }
    if sections.is_empty() {
        return Err(AppError::bad_input("a venue needs at least one section"));
    }
    let mut names = std::collections::HashSet::new();
    let mut total: i64 = 0;
    let mut clean = Vec::with_capacity(sections.len());
    for section in sections {
        let s = section.name.trim().to_string();
        if s.is_empty() || s.chars().count() > 100 {
            return Err(AppError::bad_input(format!(
                "section name `{s}` must be 1 to 100 characters long"
            )));
        }
        if !names.insert(s.to_lowercase()) {
            return Err(AppError::bad_input(format!("section `{s}` appears twice")));
        }
        if section.rows.is_empty() {
            return Err(AppError::bad_input(format!(
                "section `{s}` needs at least one row"
            )));
        }
        let mut labels = std::collections::HashSet::new();
        let mut rows = Vec::with_capacity(section.rows.len());
        for row in section.rows {
            let label = row.label.trim().to_string();
            if label.is_empty() || label.chars().count() > 20 {
                return Err(AppError::bad_input(format!(
                    "row label `{label}` in section `{s}` must be 1 to 20 characters long"
                )));
            }
            if !labels.insert(label.to_lowercase()) {
                return Err(AppError::bad_input(format!(
                    "row `{label}` appears twice in section `{s}`"
                )));
            }
            if !(1..=MAX_SEATS_PER_ROW).contains(&row.seats) {
                return Err(AppError::bad_input(format!(
                    "row `{label}` in section `{s}` must have 1 to {MAX_SEATS_PER_ROW} seats, not {}",
                    row.seats
                )));
            }
            total += i64::from(row.seats);
            rows.push(Row {
                label,
                seats: row.seats,
            });
        }
        clean.push(Section { name: s, rows });
    }
    if total > MAX_SEATS_PER_VENUE {
        return Err(AppError::bad_input(format!(
            "a venue has at most {MAX_SEATS_PER_VENUE} seats; this one has {total}"
        )));
    }
    Ok((name.to_string(), clean, total as i32))
}

/// One seat as best-available sees it.
#[derive(Debug, Clone, Copy)]
pub struct Place<Id> {
    pub id: Id,
    pub section_index: i32,
    pub row_index: i32,
    pub number: i32,
    pub free: bool,
}

/// `quantity` adjacent free seats (consecutive numbers) in one row: the front-most row that has
/// them (rows at the same depth: the section listed first), then the run whose middle is
/// closest to the row's centre (ties: the lower numbers). `None` when no row has them.
pub fn best_available<Id: Copy>(places: &[Place<Id>], quantity: usize) -> Option<Vec<Id>> {
    if quantity == 0 {
        return None;
    }
    let mut sorted: Vec<&Place<Id>> = places.iter().collect();
    sorted.sort_by_key(|p| (p.row_index, p.section_index, p.number));
    let mut best: Option<Vec<Id>> = None;
    for row in
        sorted.chunk_by(|a, b| (a.row_index, a.section_index) == (b.row_index, b.section_index))
    {
        // Twice the centre, to stay in integers: seats 1..n have their centre at (n + 1) / 2.
        let n = row.iter().map(|p| p.number).max().unwrap_or(0);
        let centre2 = i64::from(n + 1);
        let mut chosen: Option<(i64, usize)> = None;
        let mut run_start = 0;
        for i in 0..row.len() {
            let continues =
                i > 0 && row[i].free && row[i - 1].free && row[i].number == row[i - 1].number + 1;
            if !continues {
                run_start = i;
            }
            if !row[i].free {
                continue;
            }
            if i + 1 - run_start >= quantity {
                let start = i + 1 - quantity;
                let mid2 = i64::from(row[start].number + row[i].number);
                let distance = (mid2 - centre2).abs();
                if chosen.is_none_or(|(d, _)| distance < d) {
                    chosen = Some((distance, start));
                }
            }
        }
        if let Some((_, start)) = chosen {
            best = Some(row[start..start + quantity].iter().map(|p| p.id).collect());
            break;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(row_index: i32, free: &[bool]) -> Vec<Place<(i32, i32)>> {
        free.iter()
            .enumerate()
            .map(|(i, &f)| Place {
                id: (row_index, i as i32 + 1),
                section_index: 0,
                row_index,
                number: i as i32 + 1,
                free: f,
            })
            .collect()
    }

    #[test]
    fn best_available_prefers_the_front_row_then_the_centre() {
        let mut places = row(
            0,
            &[
                true, false, true, true, false, false, true, true, true, true,
            ],
        );
        places.extend(row(1, &[true; 10]));
        // Row 0 has runs 3-4 and 7-10; for 2 seats the run 3-4 (middle 3.5) and 7-8 (7.5) vs
        // centre 5.5: both 2 away; the lower numbers win.
        assert_eq!(best_available(&places, 2), Some(vec![(0, 3), (0, 4)]));
        // Three adjacent seats exist only at 7-9 / 8-10 in row 0: 7-9 is nearer the centre.
        assert_eq!(
            best_available(&places, 3),
            Some(vec![(0, 7), (0, 8), (0, 9)])
        );
        // Five adjacent: only row 1, centred: 3-7 and 4-8 are equally near; lower wins.
        assert_eq!(
            best_available(&places, 5),
            Some(vec![(1, 3), (1, 4), (1, 5), (1, 6), (1, 7)])
        );
        assert_eq!(best_available(&places, 11), None);
    }

    #[test]
    fn layouts_are_checked_and_errors_name_the_item() {
        let s = |name: &str, rows: &[(&str, i32)]| Section {
            name: name.into(),
            rows: rows
                .iter()
                .map(|(l, n)| Row {
                    label: (*l).into(),
                    seats: *n,
                })
                .collect(),
        };
        let err = check("V", vec![s("A", &[("1", 5)]), s("a", &[("1", 5)])]).unwrap_err();
        assert!(err.message().contains("`a`"));
        let err = check("V", vec![s("A", &[("1", 5), ("1", 3)])]).unwrap_err();
        assert!(err.message().contains("row `1`"));
        let err = check("V", vec![s("A", &[("Z", 501)])]).unwrap_err();
        assert!(err.message().contains("row `Z`"));
        let rows: Vec<(String, i32)> = (0..201).map(|i| (format!("R{i}"), 500)).collect();
        let rows: Vec<(&str, i32)> = rows.iter().map(|(l, n)| (l.as_str(), *n)).collect();
        assert!(check("V", vec![s("A", &rows)]).is_err());
        assert_eq!(check(" V ", vec![s("A", &[("1", 5)])]).unwrap().2, 5);
    }
}
