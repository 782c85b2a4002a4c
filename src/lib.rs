//! Evenntify: event reservations with live transaction reports, served as one GraphQL API.

pub mod analytics; // sales, cancellations, occupancy, check-ins and ratings for organizers and admins
pub mod app; // builds the HTTP router and runs the server until it is told to stop
pub mod audit; // the append-only audit log: who did what, from where; read by admins and organizers
pub mod auth; // accounts, passwords, JWT access tokens and refresh-token sessions
pub mod cli; // the `evenntify` command line: serve, migrate, schema, create-admin
pub mod config; // typed settings read from the environment
pub mod dashboard; // the organizer's live dashboard and the buyer's tickets page, embedded, at /dashboard
pub mod db; // database connection, write transactions, instance settings
pub mod error; // AppError: the API's error codes and how they reach clients
pub mod events; // events and ticket types: lifecycle, search, paging
pub mod faults; // fault injection points for tests (armed only with the `test-faults` feature)
pub mod graphql; // schema assembly, request context, HTTP and WebSocket transports, shared types
pub mod input; // client input checked alike by several domains (idempotency keys)
pub mod live; // pub/sub hubs for reports, availability and notifications; post-commit effects
pub mod mail; // the e-mail outbox, its templates and the SMTP / .eml delivery worker
pub mod metrics; // per-instance counters rendered as Prometheus text
pub mod notifications; // stored, live-pushed notifications about reservations and money
pub mod payments; // wallets, the ledger, the card gateway, paying for reservations
pub mod playground; // the offline GraphiQL playground, embedded in the binary, at /graphiql
pub mod pubsub; // the pub/sub trait: Redis across instances, in-process otherwise
pub mod ratelimit; // login and mutation rate limits, shared through Redis when configured
pub mod reports; // event summaries and transaction lists for organizers
pub mod reservations; // seat holds, their expiry and cancellation
pub mod seating; // venues, seated events' seats, seat holds, blocking and the live seat map
pub mod seed; // `evenntify seed`: idempotent demo data
pub mod sockets; // open WebSockets: caps per address, closing a revoked session's sockets
pub mod state; // AppState: what every request shares (database, settings, keys, hubs), built at startup
pub mod telemetry; // tracing subscriber setup
pub mod tickets; // signed ticket codes, QR and PDF tickets, check-in, attendees, calendars
pub mod waitlist; // waitlists per ticket type: queueing for returned seats, offers first come first served
