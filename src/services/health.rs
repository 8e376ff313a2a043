//! Readiness (SPEC §5.1): the database and each configured backend asked, each within a bound.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::Ports;

/// How long a readiness probe waits for each dependency.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What `/readyz` answers: `status` when everything answered, else `error` naming what failed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Each dependency: `ok`, `unavailable`, or what a start-up check found.
    pub checks: BTreeMap<&'static str, &'static str>,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.error.is_none()
    }
}

pub struct Health {
    ports: Ports,
}

impl Health {
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    pub async fn ready(&self) -> Readiness {
        let mut checks = BTreeMap::new();
        let mut failed = Vec::new();
        let mut record = |name: &'static str, ok: bool| {
            checks.insert(name, if ok { "ok" } else { "unavailable" });
            if !ok {
                failed.push(name);
            }
        };
        let db = tokio::time::timeout(PROBE_TIMEOUT, self.ports.store.ping()).await;
        record("database", matches!(db, Ok(Ok(()))));
        // Docker where configured (the EIC path has no engine to ask).
        let local = &self.ports.backends.local;
        if let Some(backend) = local {
            let ping = tokio::time::timeout(PROBE_TIMEOUT, backend.ping()).await;
            record(backend.name(), matches!(ping, Ok(Ok(()))));
        }
        // The EC2 path's start-up checks (binaries, the aws CLI's version); they fail readiness
        // only on an EC2-only tenant, where the EC2 path is all there is.
        let problem = self.ports.backends.remote.readiness_problem();
        checks.insert("eic", problem.unwrap_or("ok"));
        if problem.is_some() && local.is_none() {
            failed.push("eic");
        }
        let error = (!failed.is_empty()).then(|| format!("not ready: {}", failed.join(", ")));
        Readiness {
            status: error.is_none().then_some("ready"),
            error,
            checks,
        }
    }
}
