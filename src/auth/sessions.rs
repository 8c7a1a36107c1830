//! Console sessions: a random id in an HttpOnly cookie, the user it belongs to, and the
//! CSRF token every state-changing form must carry. Kept in the store, so a restart does
//! not sign everyone out; they end at their expiry or at logout.

use super::password::random_secret;
use super::records::{decode, encode};
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
        let subject = self
            .user_subject(user)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("user {user:?}")))?;
        let id = random_secret(32).map_err(AuthError::Invalid)?;
        let now = now_unix();
        let record = SessionRecord {
            user: user.to_owned(),
            csrf: random_secret(32).map_err(AuthError::Invalid)?,
            created_at: now,
            expires_at: now + self.config.session_ttl.as_secs(),
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
        let Some(subject) = self.user_subject(&record.user).await? else {
            return Ok(None);
        };
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
}
