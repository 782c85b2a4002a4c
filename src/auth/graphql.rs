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

pub struct User(pub user::Model);

/// A person with an account.
#[Object]
impl User {
    /// Stable identifier of the user.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Login name: 3–32 characters of `a-z`, digits, `_`, `.` and `-`, unique case-insensitively.
    async fn username(&self) -> &str {
        &self.0.username
    }
    /// E-mail address; visible only to the user themself and to admins.
    async fn email(&self, ctx: &Context<'_>) -> Option<&str> {
        let viewer = ctx.viewer()?;
        (viewer.user_id == self.0.id || viewer.is_admin())
            .then_some(self.0.email.as_deref())
            .flatten()
    }
    /// What the user may do.
    async fn role(&self) -> RoleGql {
        self.0.role.into()
    }
    /// When the account was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
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
            user: User(a.user),
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
    #[graphql(default_with = "RoleGql::User")]
    role: RoleGql,
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
        Ok(ctx.users().load_one(viewer.user_id).await?.map(User))
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
        let account = NewAccount {
            username: input.username,
            password: input.password,
            email: input.email,
            role: input.role.into(),
        };
        Ok(service::register(ctx.state(), account).await?.into())
    }

    /// Logs in. A wrong password and an unknown username give the same `UNAUTHENTICATED` error.
    async fn login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Username, any letter case.")] username: String,
        #[graphql(desc = "The account's password.")] password: String,
    ) -> async_graphql::Result<AuthPayload> {
        Ok(service::login(ctx.state(), &username, password)
            .await?
            .into())
    }

    /// Trades a refresh token for a new access token and a new refresh token. Each refresh token
    /// works once; presenting a used one revokes the whole session.
    async fn refresh_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The refresh token from the last `AuthPayload`.")] refresh_token: String,
    ) -> async_graphql::Result<AuthPayload> {
        Ok(service::refresh(ctx.state(), &refresh_token).await?.into())
    }

    /// Ends the session the refresh token belongs to; its access tokens stop working too.
    /// Returns false if the token was unknown.
    async fn logout(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The session's current refresh token.")] refresh_token: String,
    ) -> async_graphql::Result<bool> {
        Ok(service::logout(ctx.state(), &refresh_token).await?)
    }
}
