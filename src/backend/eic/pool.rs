//! The pool of master connections, one per instance: refcounted leases, a bound on entries, idle
//! expiry, one build for concurrent first uses, and poisoning when the transport dies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use super::conn::Conn;
use super::{EicConfig, EicError};
use crate::metrics::{EicEvent, Metrics};
use crate::sync::Locked;

/// One instance's slot: its connection when there is one, and when it was last let go.
struct Slot {
    conn: Mutex<Option<Arc<StdMutex<Conn>>>>,
    last_used: StdMutex<Instant>,
    leases: StdMutex<usize>,
}

/// A caller's share of a slot, from the moment it asks: while any share is held the entry cannot
/// expire or be evicted. Dropped, whether the caller got a connection, failed, or went away while
/// it waited or the connection was being built, it gives the share back.
struct Share(Arc<Slot>);

impl Share {
    fn take(slot: Arc<Slot>) -> Self {
        *slot.leases.locked() += 1;
        Self(slot)
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        *self.0.leases.locked() -= 1;
        *self.0.last_used.locked() = Instant::now();
    }
}

/// A connection lent out; the entry cannot expire while a lease is held.
pub struct Lease {
    _share: Share,
    pub conn: Arc<StdMutex<Conn>>,
}

/// What a caller learns on lease: the connection, and a host key recorded by a first connection.
pub struct Leased {
    pub lease: Lease,
    pub recorded_host_key: Option<String>,
}

pub struct Pool {
    slots: StdMutex<HashMap<String, Arc<Slot>>>,
    max_entries: usize,
    idle_after: Duration,
    metrics: Arc<Metrics>,
}

impl Pool {
    pub fn new(max_entries: usize, idle_after: Duration, metrics: Arc<Metrics>) -> Self {
        Self {
            slots: StdMutex::new(HashMap::new()),
            max_entries,
            idle_after,
            metrics,
        }
    }

    /// A live connection to `instance_id`, reusing the pooled one or building it once.
    pub async fn lease(
        &self,
        cfg: &EicConfig,
        instance_id: &str,
        pinned: Option<&str>,
    ) -> Result<Leased, EicError> {
        let slot = self.slot(instance_id)?;
        let share = Share::take(slot.clone());
        let mut conn = slot.conn.lock().await;
        if let Some(existing) = conn.as_ref() {
            if existing.locked().is_alive() {
                self.metrics.eic_session(EicEvent::Reused);
                let lease = Lease {
                    _share: share,
                    conn: existing.clone(),
                };
                return Ok(Leased {
                    lease,
                    recorded_host_key: None,
                });
            }
            tracing::info!(instance_id, "pooled EIC connection died; reconnecting");
            *conn = None;
        }
        match Conn::open(cfg, instance_id, pinned, &self.metrics).await {
            Ok((fresh, recorded)) => {
                let fresh = Arc::new(StdMutex::new(fresh));
                *conn = Some(fresh.clone());
                let lease = Lease {
                    _share: share,
                    conn: fresh,
                };
                Ok(Leased {
                    lease,
                    recorded_host_key: recorded,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Drops the connection of `instance_id` after a transport failure (poisoning the entry).
    pub async fn poison(&self, instance_id: &str) {
        let slot = self.slots.locked().get(instance_id).cloned();
        if let Some(slot) = slot {
            *slot.conn.lock().await = None;
        }
    }

    fn slot(&self, instance_id: &str) -> Result<Arc<Slot>, EicError> {
        let mut slots = self.slots.locked();
        if let Some(slot) = slots.get(instance_id) {
            return Ok(slot.clone());
        }
        if slots.len() >= self.max_entries {
            // Make room by dropping the longest-idle entry nobody holds.
            let victim = slots
                .iter()
                .filter(|(_, s)| *s.leases.locked() == 0)
                .min_by_key(|(_, s)| *s.last_used.locked())
                .map(|(k, _)| k.clone())
                .ok_or(EicError::PoolFull)?;
            slots.remove(&victim);
        }
        let slot = Arc::new(Slot {
            conn: Mutex::new(None),
            last_used: StdMutex::new(Instant::now()),
            leases: StdMutex::new(0),
        });
        slots.insert(instance_id.to_owned(), slot.clone());
        Ok(slot)
    }

    /// Drops entries idle longer than the idle limit with no lease held; returns how many.
    pub fn expire_idle(&self) -> usize {
        let mut slots = self.slots.locked();
        let before = slots.len();
        slots.retain(|_, s| {
            *s.leases.locked() > 0 || s.last_used.locked().elapsed() < self.idle_after
        });
        before - slots.len()
    }
}

#[cfg(test)]
impl Pool {
    /// Shares held on `instance_id`'s entry.
    fn shares(&self, instance_id: &str) -> usize {
        self.slots
            .lock()
            .unwrap()
            .get(instance_id)
            .map_or(0, |s| *s.leases.lock().unwrap())
    }

    fn len(&self) -> usize {
        self.slots.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether any process's environment holds `marker`.
    fn running(marker: &str) -> bool {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read(e.path().join("environ"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
        })
    }

    #[tokio::test]
    async fn callers_that_go_away_give_their_share_back_and_the_bound_and_expiry_hold() {
        // An `aws` that never answers, as an endpoint that never replies: every build hangs in
        // the key push, so a caller can be cancelled while it builds or while it waits for one.
        let dir = tempfile::tempdir().unwrap();
        let marker = format!("wss-pool-test-{}", uuid::Uuid::new_v4().simple());
        let aws = dir.path().join("aws");
        let script = format!("#!/bin/sh\nexport WSS_POOL_TEST={marker}\nexec sleep 3600\n");
        std::fs::write(&aws, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&aws, std::fs::Permissions::from_mode(0o755)).unwrap();
        let cfg = EicConfig {
            aws: aws.display().to_string(),
            ssh: "ssh".into(),
            region: "us-east-2".into(),
            os_user: "ubuntu".into(),
            restart_command: None,
        };
        let idle = Duration::from_millis(300);
        let pool = Arc::new(Pool::new(2, idle, Arc::new(Metrics::default())));
        // Twice the bound: a share that leaked would fill the pool and refuse the rest at once.
        for instance in ["i-1", "i-2", "i-3", "i-4"] {
            let lease = |pool: Arc<Pool>| {
                let cfg = cfg.clone();
                tokio::spawn(async move { pool.lease(&cfg, instance, None).await.map(drop) })
            };
            let builder = lease(pool.clone());
            tokio::time::sleep(Duration::from_millis(150)).await;
            let waiter = lease(pool.clone());
            tokio::time::sleep(Duration::from_millis(150)).await;
            assert!(
                !builder.is_finished() && !waiter.is_finished(),
                "{instance}: refused instead of building (the pool filled up)"
            );
            assert_eq!(pool.shares(instance), 2);
            builder.abort();
            waiter.abort();
            assert!(builder.await.unwrap_err().is_cancelled());
            assert!(waiter.await.unwrap_err().is_cancelled());
            assert_eq!(pool.shares(instance), 0, "{instance}: a share leaked");
            assert!(pool.len() <= 2, "the bound holds");
        }
        tokio::time::sleep(idle + Duration::from_millis(100)).await;
        assert_eq!(pool.expire_idle(), 2);
        assert_eq!(pool.len(), 0);
        let deadline = Instant::now() + Duration::from_secs(3);
        while running(&marker) {
            assert!(
                Instant::now() < deadline,
                "an aws of a cancelled build is still running"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
