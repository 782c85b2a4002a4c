//! The state every request on this instance shares (database, settings, keys, pub/sub hubs,
//! limits), and how it is built at startup. It sits at the bottom of the module graph: domains
//! import it, and it imports no domain's GraphQL and not `app.rs`.

use std::sync::Arc;

use anyhow::Context;
use sea_orm::DatabaseConnection;

use crate::auth::jwt::JwtKeys;
use crate::auth::password::Passwords;
use crate::config::Settings;
use crate::error::AppError;
use crate::metrics::Metrics;
use crate::payments::gateway::{PaymentGateway, SandboxGateway};

/// Shared by every request on this instance; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    pub jwt: Arc<JwtKeys>,
    pub passwords: Passwords,
    pub metrics: Arc<Metrics>,
    pub redis: Option<redis::Client>,
    pub gateway: Arc<dyn PaymentGateway>,
    /// Pub/sub and the live hubs (reports, availability, notifications).
    pub live: Arc<crate::live::Live>,
    /// Login and mutation rate limits.
    pub rate: Arc<crate::ratelimit::RateLimiter>,
    /// Automatic persisted queries (in Redis when configured).
    pub persisted: Arc<crate::graphql::apq::PersistedQueries>,
    /// Signs ticket codes (`tickets::signing`).
    pub tickets: Arc<crate::tickets::signing::TicketSigner>,
    /// Group commit of general-admission holds, per ticket type (`reservations::batch`).
    pub holds: Arc<crate::reservations::batch::Batcher>,
    /// Armed by tests to make a code path fail at a chosen point.
    #[cfg(feature = "test-faults")]
    pub faults: Arc<crate::faults::Faults>,
}

#[cfg(feature = "test-faults")]
impl AsRef<crate::faults::Faults> for AppState {
    fn as_ref(&self) -> &crate::faults::Faults {
        &self.faults
    }
}

impl AppState {
    /// Connects to the database, applies pending migrations and loads the signing secret.
    pub async fn init(settings: Settings) -> anyhow::Result<Self> {
        let metrics = Arc::new(Metrics::default());
        let db = crate::db::connect(&settings, metrics.clone()).await?;
        crate::db::migrate(&db).await?;
        let secret = crate::db::jwt_secret(&db, &settings).await?;
        let redis = settings
            .redis_url
            .as_deref()
            .map(redis::Client::open)
            .transpose()
            .context("invalid REDIS_URL")?;
        let deployment = crate::db::deployment_id(&db).await?;
        let tickets = Arc::new(ticket_signer(&db, &settings).await?);
        // One connection manager for commands (rate limits, persisted queries, publishing),
        // shared by clones, reconnecting by itself; created lazily so a Redis that is down at
        // startup only degrades the instance. Pub/sub keeps a subscriber connection of its own.
        let commands = redis
            .clone()
            .map(crate::pubsub::redis::command_connection)
            .transpose()?;
        let (stop, _) = tokio::sync::watch::channel(false);
        let pubsub: Arc<dyn crate::pubsub::PubSub> = match &redis {
            Some(client) => crate::pubsub::redis::RedisPubSub::start(
                client.clone(),
                commands
                    .clone()
                    .context("a Redis client without its command connection")?,
                &deployment,
                metrics.clone(),
                stop.subscribe(),
            ),
            None => Arc::new(crate::pubsub::memory::MemoryPubSub::default()),
        };
        let live = Arc::new(
            crate::live::Live::start(
                db.clone(),
                pubsub,
                stop,
                settings.ws_max_sockets_per_address,
            )
            .await
            .map_err(AppError::into_anyhow)?,
        );

        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let rate = {
            use crate::ratelimit::{Limit, RateLimiter};
            Arc::new(RateLimiter::new(
                commands.clone(),
                &deployment,
                &[
                    (Limit::LoginUser, settings.login_attempts_per_minute),
                    (
                        Limit::LoginUserGlobal,
                        settings.login_failures_per_username_per_hour,
                    ),
                    (
                        Limit::PersistedQueries,
                        settings.apq_stores_per_ip_per_minute,
                    ),
                    (Limit::LoginIp, settings.login_attempts_per_ip_per_minute),
                    (Limit::Mutations, settings.mutations_per_minute),
                    (
                        Limit::Registrations,
                        settings.registrations_per_ip_per_minute,
                    ),
                    // Fixed: enough for a person, too few to flood a mailbox.
                    (Limit::PasswordResetIp, 10),
                    (Limit::PasswordResetAccount, 3),
                ],
            ))
        };
        #[cfg(feature = "test-faults")]
        let faults: Arc<crate::faults::Faults> = Arc::default();
        let holds = Arc::new(crate::reservations::batch::Batcher::new(
            db.clone(),
            live.clone(),
            metrics.clone(),
            crate::reservations::batch::BatchSettings {
                max: settings.reserve_batch_max,
                window: settings.reserve_batch_window,
                hold: chrono::Duration::seconds(settings.hold_seconds as i64),
            },
            #[cfg(feature = "test-faults")]
            faults.clone(),
        ));
        Ok(AppState {
            holds,
            tickets,
            persisted: Arc::new(crate::graphql::apq::PersistedQueries::new(
                commands,
                &deployment,
                settings.apq_max_document_bytes,
            )),
            rate,
            live,
            gateway: Arc::new(SandboxGateway::new(db.clone(), settings.card_timeout)),
            #[cfg(feature = "test-faults")]
            faults,
            jwt: Arc::new(JwtKeys::new(&secret, settings.access_token_ttl)),
            passwords: Passwords::new(cores),
            settings: Arc::new(settings),
            db,
            metrics,
            redis,
        })
    }
}

/// `TICKET_SIGNING_KEY` when set; otherwise a key generated on first start and stored in the
/// database (both backends), so every instance signs alike and codes survive restarts.
async fn ticket_signer(
    db: &DatabaseConnection,
    settings: &Settings,
) -> anyhow::Result<crate::tickets::signing::TicketSigner> {
    use crate::tickets::signing::TicketSigner;
    let seed = match &settings.ticket_signing_key {
        Some(seed) => seed.expose().to_string(),
        None => {
            crate::db::stored_setting(db, "ticket_signing_key", TicketSigner::generate_seed())
                .await?
        }
    };
    TicketSigner::from_seed_base64(&seed).context("invalid TICKET_SIGNING_KEY")
}
