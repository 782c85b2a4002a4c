//! The delivery worker: every `MAIL_POLL_INTERVAL_MS` it claims due messages from the outbox,
//! renders and sends them, and records the outcome. SMTP (`SMTP_URL`, with lettre) or, by
//! default, `.eml` files in `MAIL_DIR` that a newcomer can open.
//!
//! Transient failures (a 4xx answer, connection refused, a timeout) retry with exponential
//! backoff and jitter for up to a day; a permanent one (5xx) marks the message failed with the
//! reason. Each message's `Message-ID` is derived from its outbox id, so it is the same on every
//! attempt: should an instance die between the server's 250 and recording it, the repeat after
//! the lease is recognisable as the same message.
//!
//! A booking confirmation carries one PDF per ticket (`ticket-<id>.pdf`). The outbox row keeps
//! only the ticket ids (written in the payment's transaction); the PDFs are rendered here, at
//! delivery, from the tickets as they are then: a ticket transferred or voided in the meantime
//! is left out, and the outbox stays small.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use entity::mail_outbox;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rand::Rng;
use tokio::sync::watch;

use super::outbox::{self, Outcome};
use super::templates::{self, Globals};
use crate::config::Settings;
use crate::db::now;
use crate::state::AppState;

/// How long a claimed message stays with the worker that claimed it.
const LEASE_SECONDS: i64 = 120;
/// How long one SMTP conversation may take (well inside the lease).
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);
const BATCH: u64 = 50;
/// Time kept at the end of a claim for recording the outcome (see [`record`]).
const SETTLE_MARGIN_SECONDS: i64 = 15;
/// After this, a message that could not be delivered is given up.
const GIVE_UP_AFTER_HOURS: i64 = 24;
const MAX_BACKOFF: Duration = Duration::from_secs(3_600);

/// Where messages go.
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Dir(PathBuf),
}

impl Transport {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Transport> {
        match &settings.smtp_url {
            Some(url) => {
                let url = lettre_url(url.expose());
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
                    .context("invalid SMTP_URL")?
                    .timeout(Some(SMTP_TIMEOUT))
                    .build();
                Ok(Transport::Smtp(transport))
            }
            None => Ok(Transport::Dir(settings.mail_dir.clone())),
        }
    }
}

/// Our URL forms in lettre's: `smtp+tls://` is lettre's `smtps://` (implicit TLS); a plain
/// `smtp://` upgrades with STARTTLS when the server offers it.
fn lettre_url(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("smtp+tls://") {
        return format!("smtps://{rest}");
    }
    if url.starts_with("smtp://") && !url.contains("tls=") {
        let joiner = if url.contains('?') { '&' } else { '?' };
        return format!("{url}{joiner}tls=opportunistic");
    }
    url.to_string()
}

/// Runs until `stop` turns true.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let transport = match Transport::from_settings(&state.settings) {
        Ok(t) => t,
        Err(err) => {
            tracing::error!(error = ?err, "e-mail delivery is off");
            return;
        }
    };
    match &transport {
        Transport::Dir(dir) => {
            let shown = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
            tracing::info!(dir = %shown.display(), "no SMTP_URL: e-mail is written as .eml files into MAIL_DIR");
        }
        Transport::Smtp(_) => tracing::info!("e-mail is delivered over SMTP_URL"),
    }
    loop {
        if *stop.borrow() {
            return;
        }
        if let Err(err) = super::reminders::queue_due(&state).await {
            tracing::warn!(error = ?err, "queueing event reminders failed; retrying");
        }
        if let Err(err) = deliver_due(&state, &transport).await {
            tracing::warn!(error = ?err, "e-mail delivery round failed; retrying");
        }
        tokio::select! {
            _ = stop.changed() => {}
            _ = tokio::time::sleep(state.settings.mail_poll_interval) => {}
        }
    }
}

/// One round: claim what is due, send it, record each outcome. Returns how many were sent.
pub async fn deliver_due(state: &AppState, transport: &Transport) -> anyhow::Result<usize> {
    let mut sent = 0;
    loop {
        let claimed = outbox::claim(&state.db, BATCH, chrono::Duration::seconds(LEASE_SECONDS))
            .await
            .map_err(crate::error::AppError::into_anyhow)?;
        if claimed.is_empty() {
            return Ok(sent);
        }
        let n = claimed.len() as u64;
        for m in claimed {
            // A message is sent only while its claim has time left to record the outcome:
            // past that, another worker may take it over and send it again.
            if now() >= settle_deadline(&m) {
                continue;
            }
            let outcome = attempt(state, transport, &m).await;
            if matches!(outcome, Outcome::Sent) {
                sent += 1;
            } else {
                tracing::warn!(id = %m.id, attempts = m.attempts, outcome = ?outcome, "e-mail not delivered");
            }
            record(state, &m, outcome).await?;
        }
        if n < BATCH {
            return Ok(sent);
        }
    }
}

/// Until when an outcome may still be recorded under the claim: the lease's end, less a
/// margin for the write itself.
fn settle_deadline(m: &mail_outbox::Model) -> chrono::DateTime<chrono::Utc> {
    m.claimed_until.unwrap_or_else(now) - chrono::Duration::seconds(SETTLE_MARGIN_SECONDS)
}

/// Records an outcome, retrying while the claim lasts. A message already handed to the SMTP
/// server (or written to MAIL_DIR) whose `SENT` could not be recorded would otherwise stay
/// claimed until the lease lapsed and then be sent again by another worker: a database restart
/// between the two is enough (the chaos run found exactly that). If the database stays away past
/// the deadline, the round ends so nothing more is sent that cannot be recorded.
async fn record(state: &AppState, m: &mail_outbox::Model, outcome: Outcome) -> anyhow::Result<()> {
    let deadline = settle_deadline(m);
    let mut pause = Duration::from_millis(100);
    loop {
        let result = match crate::faults::point(state, crate::faults::Fault::MailSettle) {
            Ok(()) => outbox::settle(&state.db, m, outcome.clone()).await,
            Err(err) => Err(err),
        };
        match result {
            Ok(_) => return Ok(()),
            Err(err) if now() + pause < deadline => {
                tracing::warn!(id = %m.id, error = ?err, "recording an e-mail's outcome failed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(err) => return Err(err.into_anyhow()),
        }
    }
}

async fn attempt(state: &AppState, transport: &Transport, m: &mail_outbox::Model) -> Outcome {
    // Reading the tickets can fail for a moment (the database restarting): retry, not fail.
    let attachments = match attachments(state, m).await {
        Ok(files) => files,
        Err(err) => {
            return Outcome::Retry(
                Utc::now() + backoff(state.settings.mail_retry_base, m.attempts),
                format!("rendering the PDF tickets: {err:#}"),
            );
        }
    };
    let message = match build(&state.settings, m, attachments) {
        Ok(message) => message,
        Err(err) => return Outcome::Failed(format!("{err:#}")),
    };
    let result = match transport {
        Transport::Smtp(smtp) => match smtp.send(message).await {
            Ok(_) => Ok(()),
            Err(err) if err.is_permanent() => return Outcome::Failed(err.to_string()),
            Err(err) => Err(err.to_string()),
        },
        Transport::Dir(dir) => write_eml(dir, m, &message.formatted())
            .await
            .map_err(|e| format!("{e:#}")),
    };
    match result {
        Ok(()) => Outcome::Sent,
        Err(reason) if Utc::now() - m.created_at > chrono::Duration::hours(GIVE_UP_AFTER_HOURS) => {
            Outcome::Failed(format!("gave up after {} attempts: {reason}", m.attempts))
        }
        Err(reason) => Outcome::Retry(
            Utc::now() + backoff(state.settings.mail_retry_base, m.attempts),
            reason,
        ),
    }
}

/// `base · 2^(attempts-1)`, capped at an hour, then a random part of it: "full jitter", so that
/// messages that failed together do not all come back at once.
fn backoff(base: Duration, attempts: i32) -> chrono::Duration {
    let exp = (attempts.max(1) - 1).min(20) as u32;
    let ceiling = base.saturating_mul(1 << exp).min(MAX_BACKOFF);
    let ms = ceiling.as_millis().max(1) as u64;
    let jittered = rand::rng().random_range(ms / 2..=ms);
    chrono::Duration::milliseconds(jittered as i64)
}

/// The files a message carries: a booking confirmation's PDF tickets (`ticket-<id>.pdf`), those
/// the recipient still holds; nothing for other messages.
async fn attachments(
    state: &AppState,
    m: &mail_outbox::Model,
) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let Some(holder) = m.user_id.filter(|_| m.template == "booking_confirmation") else {
        return Ok(Vec::new());
    };
    let context: serde_json::Value =
        serde_json::from_str(&m.context).context("stored context is not JSON")?;
    let ids: Vec<uuid::Uuid> = context["tickets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["id"].as_str()?.parse().ok())
        .collect();
    let pdfs = crate::tickets::exports::held_pdfs(state, holder, &ids)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(pdfs
        .into_iter()
        .map(|(id, bytes)| (format!("ticket-{id}.pdf"), bytes))
        .collect())
}

fn build(
    settings: &Settings,
    m: &mail_outbox::Model,
    attachments: Vec<(String, Vec<u8>)>,
) -> anyhow::Result<Message> {
    let context: serde_json::Value =
        serde_json::from_str(&m.context).context("stored context is not JSON")?;
    let globals = Globals {
        currency: &settings.currency,
        public_url: &settings.public_url,
    };
    let rendered = templates::render(&m.template, &context, &globals)
        .with_context(|| format!("rendering template {}", m.template))?;
    let from: Mailbox = settings.mail_from.parse().context("MAIL_FROM")?;
    let to: Mailbox = m
        .recipient
        .parse()
        .with_context(|| format!("recipient {:?}", m.recipient))?;
    let domain = from.email.domain().to_string();
    let body = MultiPart::alternative_plain_html(rendered.text, rendered.html);
    let body = if attachments.is_empty() {
        body
    } else {
        let pdf = ContentType::parse("application/pdf").context("the PDF content type")?;
        attachments.into_iter().fold(
            MultiPart::mixed().multipart(body),
            |parts, (name, bytes)| parts.singlepart(Attachment::new(name).body(bytes, pdf.clone())),
        )
    };
    Ok(Message::builder()
        .message_id(Some(format!("<{}@{domain}>", m.id)))
        .from(from)
        .to(to)
        .subject(rendered.subject)
        .multipart(body)?)
}

/// Writes `<id>.eml` atomically (a temporary file renamed into place): a reader never sees half
/// a message, and a repeat attempt overwrites the same file instead of adding a second.
async fn write_eml(dir: &Path, m: &mail_outbox::Model, bytes: &[u8]) -> anyhow::Result<()> {
    tokio::fs::create_dir_all(dir)
        .await
        .with_context(|| format!("creating MAIL_DIR {}", dir.display()))?;
    let tmp = dir.join(format!(".{}.tmp", m.id));
    let path = dir.join(format!("{}.eml", m.id));
    tokio::fs::write(&tmp, bytes)
        .await
        .with_context(|| format!("writing {}", tmp.display()))?;
    tokio::fs::rename(&tmp, &path)
        .await
        .with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_smtp_urls_map_to_lettres() {
        assert_eq!(lettre_url("smtp+tls://h:465"), "smtps://h:465");
        assert_eq!(
            lettre_url("smtp://u:p@h:587"),
            "smtp://u:p@h:587?tls=opportunistic"
        );
        assert_eq!(lettre_url("smtp://h?tls=required"), "smtp://h?tls=required");
    }

    #[test]
    fn backoff_doubles_with_jitter_and_stops_growing_at_an_hour() {
        let base = Duration::from_secs(10);
        for _ in 0..50 {
            let first = backoff(base, 1).num_milliseconds();
            assert!((5_000..=10_000).contains(&first), "{first}");
            let third = backoff(base, 3).num_milliseconds();
            assert!((20_000..=40_000).contains(&third), "{third}");
            assert!(backoff(base, 30).num_milliseconds() <= 3_600_000);
        }
    }
}
