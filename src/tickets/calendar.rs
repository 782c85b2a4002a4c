//! iCalendar (RFC 5545) files made with the `icalendar` crate: one event's file and a user's
//! feed of the events they hold tickets for, one `VEVENT` per session (a festival's three days
//! are three entries). A cancelled session or event is `STATUS:CANCELLED`, so calendar apps
//! that already imported it strike it through rather than keep a stale entry.

use entity::event::{self, EventStatus};
use entity::event_session;
use icalendar::{Calendar, Component, EventLike};

/// One session of an event, as a calendar entry.
pub struct Entry {
    pub event: event::Model,
    pub session: event_session::Model,
}

/// One `VEVENT` per entry, in a `VCALENDAR` named `name`. The UID is the session's (for an
/// event from before sessions, the session's id is the event's, so its UID did not change).
pub fn render(name: &str, entries: &[Entry]) -> String {
    let mut calendar = Calendar::new();
    calendar.name(name);
    for Entry {
        event: e,
        session: s,
    } in entries
    {
        let cancelled = s.cancelled_at.is_some() || e.status == EventStatus::Cancelled;
        let mut v = icalendar::Event::new();
        v.uid(&format!("{}@evenntify", s.id))
            .summary(&e.title)
            .starts(s.starts_at)
            .timestamp(s.cancelled_at.map_or(e.updated_at, |c| c.max(e.updated_at)))
            .status(match e.status {
                _ if cancelled => icalendar::EventStatus::Cancelled,
                EventStatus::Published => icalendar::EventStatus::Confirmed,
                _ => icalendar::EventStatus::Tentative,
            });
        if let Some(end) = s.ends_at {
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
