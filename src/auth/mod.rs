//! Accounts and authentication: registration, login, JWT access tokens, rotating refresh tokens.

pub mod admin;
pub mod graphql;
pub mod jwt;
pub mod loader;
pub mod password;
pub mod profile;
pub mod reset;
pub mod service;

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub use entity::user::Role;

/// Who is making the request, taken from a valid access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub user_id: uuid::Uuid,
    pub role: Role,
    /// The login session (refresh-token family) the token was issued under.
    pub session_id: uuid::Uuid,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// `bytes` random bytes from the OS generator, base64url without padding: an opaque, unguessable
/// token.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// SHA-256 of a token, hex. Refresh tokens are high-entropy, so a fast hash is enough to make a
/// stolen table useless; no salt or slow hash needed.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "USER",
        Role::Organizer => "ORGANIZER",
        Role::Admin => "ADMIN",
    }
}

pub fn parse_role(name: &str) -> Option<Role> {
    match name {
        "USER" => Some(Role::User),
        "ORGANIZER" => Some(Role::Organizer),
        "ADMIN" => Some(Role::Admin),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_are_long_and_distinct() {
        let a = random_token(32);
        let b = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }

    #[test]
    fn role_names_round_trip() {
        for role in [Role::User, Role::Organizer, Role::Admin] {
            assert_eq!(parse_role(role_name(role)), Some(role));
        }
        assert_eq!(parse_role("root"), None);
    }
}
