//! Browser sessions (SPEC §13): a bearer trades itself for an `HttpOnly` cookie holding a session
//! token. The store keeps the session's hash and the hash of the bearer behind it, so a session
//! is scoped exactly as that bearer and ends with it: each use resolves the bearer again.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Access, AuthError, bearer_token, now_ms};
use crate::auth::{Caller, generate_token, hash_token};

/// Sessions one bearer keeps at once; opening another ends its oldest.
pub const SESSIONS_KEPT: i64 = 32;

/// A session just opened: the token for the cookie (never stored in clear) and its end.
pub struct BrowserSession {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

impl Access {
    /// Opens a session for the bearer of `authorization`, valid for `ttl`.
    pub async fn open_browser_session(
        &self,
        authorization: Option<&[u8]>,
        ttl: Duration,
    ) -> Result<BrowserSession, AuthError> {
        let value = authorization.ok_or(AuthError::Missing)?;
        let credential = hash_token(bearer_token(value).ok_or(AuthError::Invalid)?);
        self.caller_by_hash(&credential).await?;
        let token = generate_token();
        let now = now_ms();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let expires_ms = now.saturating_add(ttl_ms);
        self.store
            .insert_browser_session(
                &hash_token(&token),
                &credential,
                expires_ms,
                now,
                SESSIONS_KEPT,
            )
            .await?;
        let expires_at =
            DateTime::from_timestamp_millis(expires_ms).unwrap_or(DateTime::<Utc>::MAX_UTC);
        Ok(BrowserSession { token, expires_at })
    }

    /// The caller behind a session cookie: its bearer's, if the session and the bearer live.
    pub async fn browser_caller(&self, session: &str) -> Result<Caller, AuthError> {
        let credential = self
            .store
            .browser_session(&hash_token(session), now_ms())
            .await?
            .ok_or(AuthError::SessionEnded)?;
        self.caller_by_hash(&credential).await.map_err(|e| match e {
            AuthError::Invalid => AuthError::SessionEnded,
            other => other,
        })
    }

    /// Ends the session of a cookie.
    pub async fn end_browser_session(&self, session: &str) -> Result<(), AuthError> {
        match self
            .store
            .remove_browser_session(&hash_token(session))
            .await?
        {
            true => Ok(()),
            false => Err(AuthError::SessionEnded),
        }
    }
}
