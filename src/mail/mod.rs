//! E-mail: the outbox written in the transaction that causes a message, the templates it is
//! rendered from, and the worker that delivers it over SMTP (or into `MAIL_DIR` as `.eml` files).

pub mod delivery; // the worker: claims due messages, sends them, retries with backoff
pub mod messages; // the context of each notification's e-mail, taken inside its transaction
pub mod outbox; // enqueueing (in the caller's transaction), claiming and marking messages
pub mod reminders; // the 24-hour event reminder, once per holder (a unique dedupe key)
pub mod templates; // templates/mail/*: subject, plain text and HTML, in the platform currency
