//! Bearer tokens and roles.
//!
//! A secret is `cmx_` and 32 random bytes in hex. Only its SHA-256 is stored: a leaked database
//! does not leak working tokens, and a plain hash is enough because the secret has 256 bits of
//! entropy (there is nothing to brute-force, so a slow password hash would only cost latency).

use crate::AppState;
use crate::db::Caller;
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

pub const SECRET_PREFIX: &str = "cmx_";

/// What a token may do. Each role may do everything the ones before it may.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Also writes portfolios, catalog overrides, plans and jobs.
    Editor,
    /// Also creates, lists and revokes tokens.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s.to_ascii_lowercase().as_str() {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::parse(s).ok_or_else(|| format!("unknown role `{s}` (viewer, editor, admin)"))
    }
}

/// Token names start with a letter so that they never read as a numeric token id.
pub fn check_token_name(name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid token name `{name}`: 1 to 64 letters, digits, `-`, `_` or `.`, starting with a letter"
        ))
    }
}

pub fn new_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random source: {e}"))?;
    Ok(format!("{SECRET_PREFIX}{}", hex(&bytes)))
}

/// A dashboard session id: 32 random bytes, hex, behind a prefix that tells it from a token.
pub fn new_session_id() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random source: {e}"))?;
    Ok(format!("{SESSION_PREFIX}{}", hex(&bytes)))
}

/// What every session id starts with.
pub const SESSION_PREFIX: &str = "cms_";

pub fn secret_sha256(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The caller of a request, authenticated, whatever its role.
async fn caller(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing `Authorization: Bearer <token>` header"))?;
    let secret = header
        .to_str()
        .ok()
        .and_then(|h| {
            let (scheme, rest) = h.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized("the Authorization header is not `Bearer <token>`")
        })?;
    state
        .db
        .authenticate(secret)
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown or revoked token"))
}

async fn with_role(parts: &Parts, state: &AppState, needed: Role) -> Result<Caller, ApiError> {
    let c = caller(parts, state).await?;
    if c.role < needed {
        return Err(ApiError::forbidden(format!(
            "token `{}` has role {}; this needs {needed}",
            c.name, c.role
        )));
    }
    Ok(c)
}

macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        pub struct $name(pub Caller);

        impl FromRequestParts<AppState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, Self::Rejection> {
                with_role(parts, state, $role).await.map($name)
            }
        }
    };
}

role_extractor!(
    /// A caller with at least the viewer role (reads).
    Viewer,
    Role::Viewer
);
role_extractor!(
    /// A caller with at least the editor role (writes).
    Editor,
    Role::Editor
);
role_extractor!(
    /// A caller with the admin role (token management).
    Admin,
    Role::Admin
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_hex_and_distinct() {
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(SECRET_PREFIX));
        assert_eq!(a.len(), SECRET_PREFIX.len() + 64);
        assert!(a[4..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(secret_sha256(&a).len(), 64);
        assert_ne!(secret_sha256(&a), secret_sha256(&b));
    }

    #[test]
    fn sha256_matches_the_standard_vector() {
        assert_eq!(
            secret_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn roles_order_and_names() {
        assert!(Role::Viewer < Role::Editor && Role::Editor < Role::Admin);
        for r in [Role::Viewer, Role::Editor, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
        assert!(check_token_name("ci-bot.1").is_ok());
        assert!(check_token_name("1abc").is_err());
        assert!(check_token_name("").is_err());
        assert!(check_token_name("a b").is_err());
    }
}
