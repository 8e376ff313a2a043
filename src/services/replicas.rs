//! Several replicas on one database (SPEC §16): this replica's identity and lease, the
//! announcements between replicas, and where a session or run held by another replica is.
//!
//! Each replica records itself with the address the others reach it at and a lease it renews
//! every [`RENEW_EVERY`]; what it holds (sessions, runs) names it. A holder whose lease has lapsed
//! is gone, and so is what it held. Announcements (`LISTEN/NOTIFY` on PostgreSQL) carry ids only
//! and only wake a replica up: the tables stay the truth.

pub mod peer;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use self::peer::Peer;
use crate::store::{Holder, Store, StoreError};

/// How often a replica renews its lease.
pub const RENEW_EVERY: Duration = Duration::from_secs(3);
/// How long a lease runs unrenewed: a replica that died is seen as gone within this.
pub const LEASE: Duration = Duration::from_secs(10);
/// How long a gone replica's row (and its sessions' rows) is kept before it is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Announcements a slow subscriber may fall behind by before it misses some.
const ANNOUNCEMENTS_KEPT: usize = 256;

/// Where something held by a replica is, as seen from this one.
#[derive(Debug, PartialEq, Eq)]
pub enum Place {
    /// This replica holds it.
    Here,
    /// A live replica at this address holds it.
    There(String),
    /// Its replica is gone (its lease lapsed), or advertises no address.
    Gone,
}

/// This replica, as the others know it.
pub struct Replicas {
    id: String,
    url: Option<String>,
    store: Arc<dyn Store>,
    /// The client for requests to other replicas.
    pub peer: Peer,
    announced: broadcast::Sender<String>,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Replicas {
    /// Records this replica (a new id each start) at `url`, then keeps its lease and relays the
    /// announcements of every replica until `shutdown`.
    pub async fn start(
        store: Arc<dyn Store>,
        url: Option<String>,
        peer: Peer,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, StoreError> {
        let (announced, _) = broadcast::channel(ANNOUNCEMENTS_KEPT);
        let this = Arc::new(Self {
            id: Uuid::new_v4().to_string(),
            url,
            store,
            peer,
            announced,
        });
        this.renew().await?;
        if let Some(mut incoming) = this.store.listen().await? {
            let relay = this.announced.clone();
            let stop = shutdown.clone();
            tokio::spawn(async move {
                while let Some(Some(payload)) = stop.run_until_cancelled(incoming.next()).await {
                    let _ = relay.send(payload);
                }
            });
        }
        let renewing = this.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(RENEW_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while shutdown.run_until_cancelled(every.tick()).await.is_some() {
                if let Err(e) = renewing.renew().await {
                    tracing::warn!(error = %e, "renewing this replica's lease");
                }
            }
        });
        Ok(this)
    }

    async fn renew(&self) -> Result<(), StoreError> {
        let now = Utc::now().timestamp_millis();
        let until = now.saturating_add(ms(LEASE));
        self.store
            .renew_replica(&self.id, self.url.as_deref(), until)
            .await?;
        self.store
            .forget_replicas(now.saturating_sub(ms(FORGET_AFTER)))
            .await
    }

    /// Ends this replica's lease at once (a clean stop): the others see it gone now.
    pub async fn retire(&self) {
        if let Err(e) = self
            .store
            .renew_replica(&self.id, self.url.as_deref(), 0)
            .await
        {
            tracing::warn!(error = %e, "ending this replica's lease");
        }
    }

    /// This replica's id, as the store records what it holds.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Every replica's announcements from now on (this one's included).
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.announced.subscribe()
    }

    /// Runs `act` on each announcement that starts with `prefix` (given the rest of it: an id)
    /// and every [`RENEW_EVERY`] (given `None`: a sweep of the tables, in case an announcement
    /// was missed), until `shutdown` or until `act` answers `false` (what it served is gone).
    pub fn watch<F, Fut>(&self, prefix: &'static str, shutdown: &CancellationToken, act: F)
    where
        F: FnMut(Option<String>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = bool> + Send,
    {
        let (mut act, stop) = (act, shutdown.clone());
        let mut announced = Some(self.subscribe());
        tokio::spawn(async move {
            let mut sweep = tokio::time::interval(RENEW_EVERY);
            loop {
                let heard = async {
                    match announced.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                };
                let woken = tokio::select! {
                    () = stop.cancelled() => return,
                    _ = sweep.tick() => None,
                    heard = heard => match heard {
                        Ok(payload) => match payload.strip_prefix(prefix) {
                            Some(id) => Some(id.to_owned()),
                            // Another kind of announcement: not this watcher's.
                            None => continue,
                        },
                        // Some were missed: the tables say what they said.
                        Err(broadcast::error::RecvError::Lagged(_)) => None,
                        Err(broadcast::error::RecvError::Closed) => {
                            announced = None;
                            None
                        }
                    },
                };
                if !act(woken).await {
                    return;
                }
            }
        });
    }

    /// Tells the other replicas that `payload` (ids only) changed. A lost announcement costs
    /// latency only, so a failure is logged, not returned.
    pub async fn announce(&self, payload: &str) {
        if let Err(e) = self.store.announce(payload).await {
            tracing::warn!(error = %e, "announcing a change to the other replicas");
        }
    }

    /// Where something held by `holder` is.
    pub fn place(&self, holder: Option<&Holder>) -> Place {
        match holder {
            Some(h) if h.replica_id == self.id => Place::Here,
            Some(Holder {
                url: Some(url),
                live: true,
                ..
            }) => Place::There(url.clone()),
            _ => Place::Gone,
        }
    }

    /// Where a run driven by replica `replica_id` is (`None`: recorded before replicas were).
    pub async fn place_of(&self, replica_id: Option<&str>) -> Result<Place, StoreError> {
        match replica_id {
            None => Ok(Place::Here),
            Some(id) if id == self.id => Ok(Place::Here),
            Some(id) => {
                let now = Utc::now().timestamp_millis();
                Ok(self.place(self.store.replica(id, now).await?.as_ref()))
            }
        }
    }
}
