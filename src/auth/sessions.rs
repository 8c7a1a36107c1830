//! Console sessions: a random id in an HttpOnly cookie, the user it belongs to, and the
//! CSRF token every state-changing form must carry. Kept in the store, so a restart does
//! not sign everyone out; they end at their expiry, at logout, when the user's password
//! changes and when the user is removed (a user created again under the same name does
//! not inherit the old one's sessions).

use super::password::random_secret;
use super::records::{decode, encode, UserRecord};
use super::rules::Subject;
use super::{now_unix, Auth, AuthError};
use crate::store::{AuthTable, Store};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionRecord {
    user: String,
    csrf: String,
    created_at: u64,
    expires_at: u64,
    /// The user's creation time and a fingerprint of their password hash when the session
    /// began: either changing ends the session.
    #[serde(default)]
    user_created: u64,
    #[serde(default)]
    credential: String,
}

/// A short fingerprint of a user's password hash (never the hash itself).
fn credential_of(user: &UserRecord) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(user.hash.as_bytes())[..8])
}

/// A live session.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub id: String,
    pub subject: Subject,
    pub csrf: String,
    pub expires_at: u64,
}

impl Auth {
    /// Start a session for `user` (already signed in); returns it.
    pub async fn start_session(&self, user: &str) -> Result<SessionView, AuthError> {
        let account = self
            .user_record(user)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("user {user:?}")))?;
        let subject = self.subject_of(user, &account);
        let id = random_secret(32).map_err(AuthError::Invalid)?;
        let now = now_unix();
        let record = SessionRecord {
            user: user.to_owned(),
            csrf: random_secret(32).map_err(AuthError::Invalid)?,
            created_at: now,
            expires_at: now + self.config.session_ttl.as_secs(),
            user_created: account.created_at,
            credential: credential_of(&account),
        };
        let (i, bytes) = (id.clone(), encode(&record)?);
        Store::call(&self.store, move |s| {
            s.meta.auth_put(AuthTable::Sessions, &i, &bytes)
        })
        .await?;
        Ok(SessionView {
            id,
            subject,
            csrf: record.csrf,
            expires_at: record.expires_at,
        })
    }

    /// The session with `id`, if it is live and its user still exists.
    pub async fn session(&self, id: &str) -> Result<Option<SessionView>, AuthError> {
        if id.is_empty() || id.len() > 100 {
            return Ok(None);
        }
        let i = id.to_owned();
        let Some(bytes) = Store::call(&self.store, move |s| {
            s.meta.auth_get(AuthTable::Sessions, &i)
        })
        .await?
        else {
            return Ok(None);
        };
        let record: SessionRecord = decode("session", &bytes)?;
        if record.expires_at <= now_unix() {
            self.end_session(id).await?;
            return Ok(None);
        }
        let account = self.user_record(&record.user).await?;
        let Some(account) = account.filter(|a| {
            a.created_at == record.user_created && credential_of(a) == record.credential
        }) else {
            self.end_session(id).await?;
            return Ok(None);
        };
        let subject = self.subject_of(&record.user, &account);
        Ok(Some(SessionView {
            id: id.to_owned(),
            subject,
            csrf: record.csrf,
            expires_at: record.expires_at,
        }))
    }

    pub async fn end_session(&self, id: &str) -> Result<(), AuthError> {
        let i = id.to_owned();
        Store::call(&self.store, move |s| {
            s.meta.auth_delete(AuthTable::Sessions, &i)
        })
        .await?;
        Ok(())
    }

    /// End every session of `user` (after their removal).
    pub(super) async fn end_sessions_of(&self, user: &str) -> Result<(), AuthError> {
        let all = Store::call(&self.store, |s| s.meta.auth_list(AuthTable::Sessions)).await?;
        for (id, bytes) in all {
            let ends = decode::<SessionRecord>("session", &bytes).map_or(true, |r| r.user == user);
            if ends {
                self.end_session(&id).await?;
            }
        }
        Ok(())
    }
}
