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

/// One instance's slot: its connection when there is one, and when it was last let go.
struct Slot {
    conn: Mutex<Option<Arc<StdMutex<Conn>>>>,
    last_used: StdMutex<Instant>,
    leases: StdMutex<usize>,
}

/// A connection lent out; the entry cannot expire while a lease is held.
pub struct Lease {
    slot: Arc<Slot>,
    pub conn: Arc<StdMutex<Conn>>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        *self.slot.leases.lock().unwrap() -= 1;
        *self.slot.last_used.lock().unwrap() = Instant::now();
    }
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
        *slot.leases.lock().unwrap() += 1;
        let guard_slot = slot.clone();
        let mut conn = slot.conn.lock().await;
        if let Some(existing) = conn.as_ref() {
            if existing.lock().unwrap().is_alive() {
                self.metrics.eic_session(EicEvent::Reused);
                let lease = Lease {
                    slot: guard_slot,
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
        match Conn::open(cfg, instance_id, pinned).await {
            Ok((fresh, recorded)) => {
                self.metrics.eic_session(EicEvent::Opened);
                let fresh = Arc::new(StdMutex::new(fresh));
                *conn = Some(fresh.clone());
                let lease = Lease {
                    slot: guard_slot,
                    conn: fresh,
                };
                Ok(Leased {
                    lease,
                    recorded_host_key: recorded,
                })
            }
            Err(e) => {
                self.metrics.eic_session(EicEvent::Failed);
                *guard_slot.leases.lock().unwrap() -= 1;
                Err(e)
            }
        }
    }

    /// Drops the connection of `instance_id` after a transport failure (poisoning the entry).
    pub async fn poison(&self, instance_id: &str) {
        let slot = self.slots.lock().unwrap().get(instance_id).cloned();
        if let Some(slot) = slot {
            *slot.conn.lock().await = None;
        }
    }

    fn slot(&self, instance_id: &str) -> Result<Arc<Slot>, EicError> {
        let mut slots = self.slots.lock().unwrap();
        if let Some(slot) = slots.get(instance_id) {
            return Ok(slot.clone());
        }
        if slots.len() >= self.max_entries {
            // Make room by dropping the longest-idle entry nobody holds.
            let victim = slots
                .iter()
                .filter(|(_, s)| *s.leases.lock().unwrap() == 0)
                .min_by_key(|(_, s)| *s.last_used.lock().unwrap())
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
        let mut slots = self.slots.lock().unwrap();
        let before = slots.len();
        slots.retain(|_, s| {
            *s.leases.lock().unwrap() > 0 || s.last_used.lock().unwrap().elapsed() < self.idle_after
        });
        before - slots.len()
    }
}
