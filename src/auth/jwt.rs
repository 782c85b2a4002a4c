//! Access tokens: HS256 JWTs with `sub`, `sid` (session), `role`, `iat` and `exp`, verified with
//! the algorithm pinned so `alg: none` or an RS/HS confusion can never pass.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Role, Viewer, parse_role, role_name};
use crate::config::Secret;
use crate::error::{AppError, AppResult};

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub sid: Uuid,
    pub role: String,
    pub iat: i64,
    pub exp: i64,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl JwtKeys {
    pub fn new(secret: &Secret, ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        validation.leeway = 5;
        JwtKeys {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
            ttl,
        }
    }

    /// A signed access token and the moment it expires.
    pub fn issue(
        &self,
        user_id: Uuid,
        role: Role,
        session_id: Uuid,
    ) -> AppResult<(String, DateTime<Utc>)> {
        let now = Utc::now();
        let expires_at = now + self.ttl;
        let claims = Claims {
            sub: user_id,
            sid: session_id,
            role: role_name(role).to_string(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(AppError::internal)?;
        Ok((token, expires_at))
    }

    /// The viewer a token speaks for, if its signature, algorithm and lifetime check out.
    /// Whether its session is still alive is the service's job.
    pub fn verify(&self, token: &str) -> AppResult<Viewer> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                let reason = match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => "access token expired",
                    _ => "invalid access token",
                };
                AppError::Unauthenticated(reason.into())
            })?;
        let role = parse_role(&data.claims.role)
            .ok_or_else(|| AppError::Unauthenticated("invalid access token".into()))?;
        Ok(Viewer {
            user_id: data.claims.sub,
            role,
            session_id: data.claims.sid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn keys() -> JwtKeys {
        JwtKeys::new(&Secret::new("a".repeat(40)), Duration::from_secs(60))
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn an_issued_token_verifies_to_its_viewer() {
        let (user, sid) = (Uuid::new_v4(), Uuid::new_v4());
        let (token, _) = keys().issue(user, Role::Organizer, sid).unwrap();
        let viewer = keys().verify(&token).unwrap();
        assert_eq!(
            viewer,
            Viewer {
                user_id: user,
                role: Role::Organizer,
                session_id: sid
            }
        );
    }

    #[test]
    fn alg_none_wrong_key_and_tampering_are_rejected() {
        let (token, _) = keys()
            .issue(Uuid::new_v4(), Role::User, Uuid::new_v4())
            .unwrap();
        let parts: Vec<&str> = token.split('.').collect();

        let none = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);
        assert!(keys().verify(&none).is_err());

        let other = JwtKeys::new(&Secret::new("b".repeat(40)), Duration::from_secs(60));
        assert!(other.verify(&token).is_err());

        let payload = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(parts[1])
                .unwrap(),
        )
        .unwrap()
        .replace("USER", "ADMIN");
        let tampered = format!("{}.{}.{}", parts[0], b64(&payload), parts[2]);
        assert!(keys().verify(&tampered).is_err());
    }
}
