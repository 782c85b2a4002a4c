//! GraphQL face of accounts: `register`, `login`, `refreshToken`, `logout`, `me`, and `User`.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::user;

use super::service::{self, Authenticated, NewAccount};
use crate::graphql::context::ContextExt;

/// What a user may do.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "Role")]
pub enum RoleGql {
    /// An attendee: browses events, reserves and pays.
    User,
    /// Creates and publishes events and watches their transactions.
    Organizer,
    /// Manages everything; created only from the command line.
    Admin,
}

impl From<super::Role> for RoleGql {
    fn from(role: super::Role) -> Self {
        match role {
            super::Role::User => RoleGql::User,
            super::Role::Organizer => RoleGql::Organizer,
            super::Role::Admin => RoleGql::Admin,
        }
    }
}

impl From<RoleGql> for super::Role {
    fn from(role: RoleGql) -> Self {
        match role {
            RoleGql::User => super::Role::User,
            RoleGql::Organizer => super::Role::Organizer,
            RoleGql::Admin => super::Role::Admin,
        }
    }
}

pub struct User {
    model: user::Model,
    /// Set when the caller is this user by construction (their own `AuthPayload`).
    own: bool,
}

impl User {
    /// A user as anyone may see them; private fields depend on the viewer.
    pub fn public(model: user::Model) -> Self {
        User { model, own: false }
    }
    /// The caller's own account.
    pub fn own(model: user::Model) -> Self {
        User { model, own: true }
    }
}

/// A person with an account.
#[Object]
impl User {
    /// Stable identifier of the user.
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }
    /// Login name: 3–32 characters of `a-z`, digits, `_`, `.` and `-`, unique case-insensitively.
    async fn username(&self) -> &str {
        &self.model.username
    }
    /// E-mail address; visible only to the user themself and to admins.
    async fn email(&self, ctx: &Context<'_>) -> Option<&str> {
        let allowed = self.own
            || ctx
                .viewer()
                .is_some_and(|v| v.user_id == self.model.id || v.is_admin());
        if allowed {
            self.model.email.as_deref()
        } else {
            None
        }
    }
    /// What the user may do.
    async fn role(&self) -> RoleGql {
        self.model.role.into()
    }
    /// When the account was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    /// The name shown to others, if the user chose one (`updateProfile`).
    async fn display_name(&self) -> Option<&str> {
        self.model.display_name.as_deref()
    }
    /// Whether an admin suspended the account; visible only to the user themself and to admins
    /// (false for anyone else).
    async fn suspended(&self, ctx: &Context<'_>) -> bool {
        let allowed = self.own
            || ctx
                .viewer()
                .is_some_and(|v| v.user_id == self.model.id || v.is_admin());
        allowed && self.model.suspended_at.is_some()
    }
}

/// Changes to the logged-in user's profile; a field left out stays as it is, an empty string
/// clears it.
#[derive(InputObject)]
pub struct UpdateProfileInput {
    /// Contact address for e-mail (booking confirmations, reminders, password resets).
    email: Option<String>,
    /// The name shown to others, at most 100 characters.
    display_name: Option<String>,
    /// Whether the 24-hour event reminder is e-mailed.
    email_reminders: Option<bool>,
}

/// Tokens handed out by `register`, `login` and `refreshToken`.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// Short-lived JWT; send it as `Authorization: Bearer <accessToken>` (or in the WebSocket
    /// `connection_init` payload).
    access_token: String,
    /// Opaque, single-use token for `refreshToken`; every use returns a new one.
    refresh_token: String,
    /// When `accessToken` stops being accepted.
    expires_at: DateTime<Utc>,
    /// The logged-in user.
    user: User,
}

impl From<Authenticated> for AuthPayload {
    fn from(a: Authenticated) -> Self {
        AuthPayload {
            access_token: a.access_token,
            refresh_token: a.refresh_token,
            expires_at: a.expires_at,
            user: User::own(a.user),
        }
    }
}

/// A new account.
#[derive(InputObject)]
pub struct RegisterInput {
    /// 3–32 characters of `a-z`, digits, `_`, `.` and `-`; stored lower-case.
    username: String,
    /// At least 8 characters.
    password: String,
    /// Optional contact address.
    email: Option<String>,
    /// `USER` (default) or `ORGANIZER`; `ADMIN` is refused.
    #[graphql(default_with = "Some(RoleGql::User)")]
    role: Option<RoleGql>,
}

#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// The logged-in user, or null without a token.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(viewer) = ctx.viewer() else {
            return Ok(None);
        };
        Ok(ctx.users().load_one(viewer.user_id).await?.map(User::own))
    }
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Creates an account and logs it in. `CONFLICT` if the username is taken.
    async fn register(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account to create.")] input: RegisterInput,
    ) -> async_graphql::Result<AuthPayload> {
        // Each registration costs an Argon2 hash: budget them per client address.
        if let Some(ip) = ctx.data_opt::<crate::graphql::context::ClientIp>() {
            let state = ctx.state();
            if let Err(err) = state
                .rate
                .hit(crate::ratelimit::Limit::Registrations, &ip.0.to_string())
                .await
            {
                state
                    .metrics
                    .rate_limited
                    .inc(&[crate::ratelimit::Limit::Registrations.name()]);
                return Err(err.into());
            }
        }
        let account = NewAccount {
            username: input.username,
            password: input.password,
            email: input.email,
            role: input.role.unwrap_or(RoleGql::User).into(),
        };
        Ok(service::register(ctx.state(), account, &ctx.actor())
            .await?
            .into())
    }

    /// Logs in. A wrong password and an unknown username give the same `UNAUTHENTICATED` error.
    async fn login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Username, any letter case.")] username: String,
        #[graphql(desc = "The account's password.")] password: String,
    ) -> async_graphql::Result<AuthPayload> {
        Ok(
            service::login(ctx.state(), &username, password, &ctx.actor())
                .await?
                .into(),
        )
    }

    /// Trades a refresh token for a new access token and a new refresh token. Each refresh token
    /// works once; presenting a used one revokes the whole session.
    async fn refresh_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The refresh token from the last `AuthPayload`.")] refresh_token: String,
    ) -> async_graphql::Result<AuthPayload> {
        Ok(service::refresh(ctx.state(), &ctx.actor(), &refresh_token)
            .await?
            .into())
    }

    /// Changes the logged-in user's profile (e-mail address, display name, reminder e-mails).
    async fn update_profile(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to change.")] input: UpdateProfileInput,
    ) -> async_graphql::Result<User> {
        let viewer = ctx.require_viewer()?;
        let change = super::profile::ProfileChange {
            email: input.email,
            display_name: input.display_name,
            email_reminders: input.email_reminders,
        };
        let updated =
            super::profile::update_profile(ctx.state(), viewer, &ctx.actor(), change).await?;
        Ok(User::own(updated))
    }

    /// Changes the logged-in user's password (the current one must be given) and ends every
    /// other session of the account; this session stays logged in.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The password in use now.")] current_password: String,
        #[graphql(desc = "At least 8 characters.")] new_password: String,
    ) -> async_graphql::Result<bool> {
        let viewer = ctx.require_viewer()?;
        Ok(super::profile::change_password(
            ctx.state(),
            viewer,
            &ctx.actor(),
            current_password,
            new_password,
        )
        .await?)
    }

    /// Sends a password-reset link to the account's e-mail address (valid for an hour, usable
    /// once). Always `true`, whether or not such an account exists.
    async fn request_password_reset(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's username or e-mail address.")] username_or_email: String,
    ) -> async_graphql::Result<bool> {
        Ok(super::reset::request(ctx.state(), &ctx.actor(), &username_or_email).await?)
    }

    /// Sets a new password with the token from a reset e-mail, ends every older session of the
    /// account and logs it in. A used, expired or unknown token is `BAD_USER_INPUT`.
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The token from the reset link.")] token: String,
        #[graphql(desc = "At least 8 characters.")] new_password: String,
    ) -> async_graphql::Result<AuthPayload> {
        Ok(
            super::reset::reset(ctx.state(), &ctx.actor(), &token, new_password)
                .await?
                .into(),
        )
    }

    /// Ends the session the refresh token belongs to; its access tokens stop working too.
    /// Returns false if the token was unknown.
    async fn logout(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The session's current refresh token.")] refresh_token: String,
    ) -> async_graphql::Result<bool> {
        Ok(service::logout(ctx.state(), &ctx.actor(), &refresh_token).await?)
    }
}

crate::connection!(
    UserConnection,
    UserEdge,
    User,
    "A page of accounts, newest first.",
    "An account in a page, with its cursor."
);

/// Narrows `users`; every field is optional and they combine with AND.
#[derive(InputObject, Default)]
pub struct UserFilter {
    /// A part of the username or e-mail address, any letter case.
    search: Option<String>,
    /// Only accounts with this role.
    role: Option<RoleGql>,
    /// Only suspended (true) or only active (false) accounts.
    suspended: Option<bool>,
}

#[derive(Default)]
pub struct AdminQuery;

#[Object]
impl AdminQuery {
    /// Admins only: the accounts, newest first.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which accounts.")] filter: Option<UserFilter>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last account already seen.")] after: Option<String>,
    ) -> async_graphql::Result<UserConnection> {
        let viewer = ctx.require_viewer()?;
        let f = filter.unwrap_or_default();
        let filter = super::admin::UserFilter {
            search: f.search,
            role: f.role.map(Into::into),
            suspended: f.suspended,
        };
        let page = super::admin::list(
            ctx.state(),
            viewer,
            filter,
            crate::graphql::pagination::page_size(first)?,
            after.as_deref(),
        )
        .await?;
        Ok(page.map(User::public).into())
    }
}

/// The `userId` argument as a UUID (here rather than `events::graphql::parse_id`, which imports
/// this file's `User`).
fn user_id_of(id: &ID) -> Result<uuid::Uuid, crate::error::AppError> {
    id.parse().map_err(|_| {
        crate::error::AppError::bad_input(format!("userId `{}` is not a valid id", id.as_str()))
    })
}

#[derive(Default)]
pub struct AdminMutation;

#[Object]
impl AdminMutation {
    /// Admins only: gives an account another role. An admin cannot change their own.
    async fn set_user_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account.")] user_id: ID,
        #[graphql(desc = "Its new role.")] role: RoleGql,
    ) -> async_graphql::Result<User> {
        let viewer = ctx.require_viewer()?;
        let id = user_id_of(&user_id)?;
        let updated =
            super::admin::set_role(ctx.state(), viewer, &ctx.actor(), id, role.into()).await?;
        Ok(User::public(updated))
    }

    /// Admins only: suspends an account. It can no longer log in or refresh, and its open
    /// sessions and WebSockets end at once. An admin cannot suspend themselves.
    async fn suspend_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account.")] user_id: ID,
        #[graphql(desc = "Why, for the audit log (1–500 characters).")] reason: String,
    ) -> async_graphql::Result<User> {
        let viewer = ctx.require_viewer()?;
        let id = user_id_of(&user_id)?;
        let updated = super::admin::suspend(ctx.state(), viewer, &ctx.actor(), id, &reason).await?;
        Ok(User::public(updated))
    }

    /// Admins only: lifts a suspension.
    async fn reinstate_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account.")] user_id: ID,
    ) -> async_graphql::Result<User> {
        let viewer = ctx.require_viewer()?;
        let id = user_id_of(&user_id)?;
        let updated = super::admin::reinstate(ctx.state(), viewer, &ctx.actor(), id).await?;
        Ok(User::public(updated))
    }
}
