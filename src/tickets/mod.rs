//! Tickets people carry and doors that scan them (issue 14).

pub mod calendar; // .ics files: one event, and a user's personal feed
pub mod exports; // the data behind PDFs and the CSV; public and personal calendars
pub mod graphql; // checkIn, undoCheckIn, staff, attendees, keys and calendar URLs; checkIns
pub mod http; // GET /.well-known/ticket-key, ticket PDFs, attendee CSV, calendars
pub mod pdf; // printable tickets with the QR code, one page each
pub mod qr; // a code as a QR image (SVG, and pixels for the PDF)
pub mod service; // signed codes of rows, check-in rules, door staff, attendees
pub mod signing; // Ed25519-signed ticket codes, verifiable offline with the public key
