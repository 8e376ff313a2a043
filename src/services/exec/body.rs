//! The body of `POST /workspaces/{id}/exec`, and the `Idempotency-Key` beside it, checked.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::backend::ExecSpec;
use crate::exec::{self, Argv, ArgvError};
use crate::services::ServiceError;

/// Longest `Idempotency-Key`, in bytes.
pub const MAX_KEY_BYTES: usize = 255;

/// The body of `POST /workspaces/{id}/exec`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecBody {
    argv: Value,
    timeout_s: Option<f64>,
    stdin: Option<String>,
    env: Option<BTreeMap<String, String>>,
    cwd: Option<String>,
    /// Answer 202 at once and let the run go on without a client (SPEC §14).
    detach: Option<bool>,
}

/// A request to run, checked.
pub struct Request {
    pub spec: ExecSpec,
    pub limit: Duration,
    pub detach: bool,
}

impl ExecBody {
    /// The command to run and its timeout, clamped: to 120 s, or to `detached_max` for a
    /// detached run.
    pub fn into_request(self, detached_max: Duration) -> Result<Request, ServiceError> {
        let argv = Argv::parse(&self.argv).map_err(|e| match e {
            ArgvError::Invalid(msg) => ServiceError::Invalid(msg),
            ArgvError::TooLarge(msg) => ServiceError::TooLarge(msg),
        })?;
        let env = self.env.unwrap_or_default();
        if let Some(bad) = env.keys().find(|k| k.is_empty() || k.contains(['=', '\0'])) {
            return Err(ServiceError::invalid(format!("invalid env name {bad:?}")));
        }
        if env.values().any(|v| v.contains('\0')) {
            return Err(ServiceError::invalid("env values must not contain NUL"));
        }
        if let Some(cwd) = &self.cwd
            && (cwd.is_empty() || cwd.contains('\0'))
        {
            return Err(ServiceError::invalid("cwd must be a non-empty path"));
        }
        let detach = self.detach.unwrap_or(false);
        let requested = self.timeout_s.map(|t| t.ceil() as i64);
        let limit = match detach {
            true => exec::timeout_up_to(requested, detached_max.as_secs().max(1)),
            false => exec::timeout(requested),
        };
        let spec = ExecSpec {
            argv: argv.into_vec(),
            env: env.into_iter().collect(),
            cwd: self.cwd,
            stdin: self.stdin.map(String::into_bytes),
        };
        Ok(Request {
            spec,
            limit,
            detach,
        })
    }
}

/// An `Idempotency-Key` as sent: 1 to 255 visible ASCII characters.
pub fn idempotency_key(raw: Option<&[u8]>) -> Result<Option<String>, ServiceError> {
    let Some(raw) = raw else { return Ok(None) };
    let visible = |b: &u8| b.is_ascii_graphic() || *b == b' ';
    if raw.is_empty() || raw.len() > MAX_KEY_BYTES || !raw.iter().all(visible) {
        return Err(ServiceError::invalid(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_BYTES} visible ASCII characters"
        )));
    }
    Ok(Some(String::from_utf8_lossy(raw).into_owned()))
}
