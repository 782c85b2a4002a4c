//! Signed ticket codes that a door can verify offline with the published public key.
//!
//! A code is `base64url(payload) + "." + base64url(signature)`, both without padding, where the
//! signature is Ed25519 over the payload bytes as they are. The payload is 37 bytes: a format
//! byte (1), the ticket id (16), the event id (16) and the code version (4, big-endian). The
//! version is the ticket's `code_version`: re-issuing a code (a transfer) increments it, so an
//! older code still verifies but no longer matches the ticket, which makes it REVOKED.
//!
//! This module imports nothing from the crate: the state holds a [`TicketSigner`], and anyone
//! with a verifying key (a door app, a test) can check a code with [`verify_with`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use uuid::Uuid;

const FORMAT: u8 = 1;
const PAYLOAD_LEN: usize = 1 + 16 + 16 + 4;

/// What a code says: which ticket, of which event, at which version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeClaims {
    pub ticket_id: Uuid,
    pub event_id: Uuid,
    pub version: i32,
}

impl CodeClaims {
    fn payload(&self) -> [u8; PAYLOAD_LEN] {
        let mut p = [0u8; PAYLOAD_LEN];
        p[0] = FORMAT;
        p[1..17].copy_from_slice(self.ticket_id.as_bytes());
        p[17..33].copy_from_slice(self.event_id.as_bytes());
        p[33..37].copy_from_slice(&self.version.to_be_bytes());
        p
    }

    fn parse(payload: &[u8]) -> Option<CodeClaims> {
        if payload.len() != PAYLOAD_LEN || payload[0] != FORMAT {
            return None;
        }
        Some(CodeClaims {
            ticket_id: Uuid::from_slice(&payload[1..17]).ok()?,
            event_id: Uuid::from_slice(&payload[17..33]).ok()?,
            version: i32::from_be_bytes(payload[33..37].try_into().ok()?),
        })
    }
}

/// The instance's signing key (the same on every instance of a deployment).
pub struct TicketSigner {
    key: SigningKey,
}

impl TicketSigner {
    /// From base64url (no padding) of a 32-byte seed, as stored or as `TICKET_SIGNING_KEY`.
    pub fn from_seed_base64(seed: &str) -> anyhow::Result<TicketSigner> {
        let bytes: [u8; 32] = URL_SAFE_NO_PAD
            .decode(seed.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| anyhow::anyhow!("a ticket signing key is base64url of 32 bytes"))?;
        Ok(TicketSigner {
            key: SigningKey::from_bytes(&bytes),
        })
    }

    /// A fresh random seed, base64url without padding (stored once per deployment).
    pub fn generate_seed() -> String {
        URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    }

    /// The verification key: base64url (no padding) of the 32-byte Ed25519 public key.
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.verifying_key().as_bytes())
    }

    /// The code for these claims. Ed25519 is deterministic: the same claims always give the
    /// same code, so a ticket's code need not be stored.
    pub fn sign(&self, claims: &CodeClaims) -> String {
        let payload = claims.payload();
        let signature = self.key.sign(&payload);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }

    /// The claims of a code signed with this key; `None` if it is malformed or forged.
    pub fn verify(&self, code: &str) -> Option<CodeClaims> {
        verify_with(&self.key.verifying_key(), code)
    }
}

/// The claims of `code` if its signature verifies under `key`.
pub fn verify_with(key: &VerifyingKey, code: &str) -> Option<CodeClaims> {
    let (payload, signature) = code.trim().split_once('.')?;
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let signature: [u8; 64] = URL_SAFE_NO_PAD.decode(signature).ok()?.try_into().ok()?;
    key.verify_strict(&payload, &Signature::from_bytes(&signature))
        .ok()?;
    CodeClaims::parse(&payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> TicketSigner {
        TicketSigner::from_seed_base64(&TicketSigner::generate_seed()).unwrap()
    }

    fn claims() -> CodeClaims {
        CodeClaims {
            ticket_id: Uuid::now_v7(),
            event_id: Uuid::now_v7(),
            version: 3,
        }
    }

    #[test]
    fn a_signed_code_verifies_and_gives_back_its_claims() {
        let (s, c) = (signer(), claims());
        let code = s.sign(&c);
        assert_eq!(s.verify(&code), Some(c));
        assert!(
            code.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "URL-safe: {code}"
        );
    }

    #[test]
    fn the_same_claims_always_give_the_same_code() {
        let (s, c) = (signer(), claims());
        assert_eq!(s.sign(&c), s.sign(&c));
    }

    #[test]
    fn a_tampered_payload_or_signature_does_not_verify() {
        let (s, c) = (signer(), claims());
        let code = s.sign(&c);
        let (payload, signature) = code.split_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(payload).unwrap();
        bytes[36] ^= 1; // version 3 → 2
        let forged = format!("{}.{signature}", URL_SAFE_NO_PAD.encode(&bytes));
        assert_eq!(s.verify(&forged), None);
        let mut sig = URL_SAFE_NO_PAD.decode(signature).unwrap();
        sig[0] ^= 0x80;
        let forged = format!("{payload}.{}", URL_SAFE_NO_PAD.encode(&sig));
        assert_eq!(s.verify(&forged), None);
        for junk in ["", ".", "abc", "abc.def", &format!("{payload}.")] {
            assert_eq!(s.verify(junk), None, "{junk}");
        }
    }

    #[test]
    fn another_key_does_not_verify_the_code() {
        let code = signer().sign(&claims());
        assert_eq!(signer().verify(&code), None);
    }

    #[test]
    fn the_public_key_alone_verifies() {
        let (s, c) = (signer(), claims());
        let raw: [u8; 32] = URL_SAFE_NO_PAD
            .decode(s.public_key())
            .unwrap()
            .try_into()
            .unwrap();
        let key = VerifyingKey::from_bytes(&raw).unwrap();
        assert_eq!(verify_with(&key, &s.sign(&c)), Some(c));
    }
}
