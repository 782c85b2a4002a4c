//! iCalendar (RFC 5545) files made with the `icalendar` crate: one event's file and a user's
//! feed of the events they hold tickets for. A cancelled event is `STATUS:CANCELLED`, so
//! calendar apps that already imported it strike it through rather than keep a stale entry.

use entity::event::{self, EventStatus};
use icalendar::{Calendar, Component, EventLike};

/// One `VEVENT` per event, in a `VCALENDAR` named `name`.
pub fn render(name: &str, events: &[event::Model]) -> String {
    let mut calendar = Calendar::new();
    calendar.name(name);
    for e in events {
        let mut v = icalendar::Event::new();
        v.uid(&format!("{}@evenntify", e.id))
            .summary(&e.title)
            .starts(e.starts_at)
            .timestamp(e.updated_at)
            .status(match e.status {
                EventStatus::Cancelled => icalendar::EventStatus::Cancelled,
                EventStatus::Published => icalendar::EventStatus::Confirmed,
                EventStatus::Draft => icalendar::EventStatus::Tentative,
            });
        if let Some(end) = e.ends_at {
            v.ends(end);
        }
        if let Some(venue) = &e.venue {
            v.location(venue);
        }
        if let Some(description) = &e.description {
            v.description(description);
        }
        calendar.push(v.done());
    }
    calendar.done().to_string()
}
