//! What access control keeps in the store, as JSON, and what the API shows of it (never a
//! password hash or a token's secret).

use super::rules::{Rule, Scope};
use super::AuthError;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct UserRecord {
    pub hash: String,
    pub admin: bool,
    #[serde(default)]
    pub groups: Vec<String>,
    pub created_at: u64,
    /// Raised by a password change: tokens issued before it stop working.
    #[serde(default)]
    pub gen: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct TokenRecord {
    pub name: String,
    /// The user it acts for.
    pub owner: String,
    /// sha256 of the secret (a secret of 32 random bytes needs no slow hash).
    pub hash: String,
    pub scopes: Vec<Scope>,
    pub created_at: u64,
    #[serde(default)]
    pub expires_at: Option<u64>,
    #[serde(default)]
    pub last_used: Option<u64>,
    #[serde(default)]
    pub revoked: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct RuleRecord {
    pub rule: Rule,
}

/// A user as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    pub name: String,
    pub admin: bool,
    pub groups: Vec<String>,
    pub created_at: u64,
}

/// An access token as the API shows it (its secret is shown once, when it is made).
#[derive(Debug, Clone, Serialize)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub scopes: Vec<Scope>,
    pub created_at: u64,
    pub expires_at: Option<u64>,
    pub last_used: Option<u64>,
    pub revoked: bool,
}

pub(super) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, AuthError> {
    serde_json::to_vec(value).map_err(|e| AuthError::Invalid(format!("encoding a record: {e}")))
}

pub(super) fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, AuthError> {
    serde_json::from_slice(bytes)
        .map_err(|e| AuthError::Invalid(format!("stored {what} does not decode: {e}")))
}
