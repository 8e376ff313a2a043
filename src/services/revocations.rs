//! Live terminal sockets by the token that opened them, closed when that token is revoked, on
//! every replica (SPEC §16).
//!
//! A request always reads its token from the store, so a revoked token opens nothing more
//! anywhere. A socket opened before the revocation is held here under its token (the caller's own,
//! or the one its ticket was minted with). The replica where the token is revoked closes its own
//! sockets at once and announces the token's id; the others, woken by the announcement, read the
//! tables and close theirs. Every few seconds each replica also asks the tables about the tokens
//! of its live sockets, so a missed announcement costs seconds, never a socket left open.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::replicas::Replicas;
use crate::auth::Caller;
use crate::store::Store;
use crate::sync::Locked;

/// What a revocation announcement starts with; the token's id follows.
const REVOKED: &str = "revoked-token:";

/// The live sockets of each token, as one signal they all wait on.
pub struct Revocations {
    store: Arc<dyn Store>,
    replicas: Arc<Replicas>,
    watched: Mutex<HashMap<Uuid, Watched>>,
}

struct Watched {
    revoked: CancellationToken,
    sockets: usize,
}

/// One socket held under a token; dropping it (the socket closed) lets the token go.
pub struct Watch {
    id: Uuid,
    revoked: CancellationToken,
    owner: Weak<Revocations>,
}

impl Watch {
    /// Fires when the token of `watch` is revoked; never without one (the admin token).
    pub fn signal(watch: Option<&Watch>) -> CancellationToken {
        watch.map(|w| w.revoked.clone()).unwrap_or_default()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let Some(owner) = self.owner.upgrade() else {
            return;
        };
        let mut watched = owner.watched.locked();
        // Revoked, its entry is gone already (and one of the same id is another's).
        if self.revoked.is_cancelled() {
            return;
        }
        if let Some(w) = watched.get_mut(&self.id) {
            w.sockets = w.sockets.saturating_sub(1);
            if w.sockets == 0 {
                watched.remove(&self.id);
            }
        }
    }
}

impl Revocations {
    /// Starts listening for other replicas' revocations and sweeping the tables until
    /// `shutdown`.
    pub fn start(
        store: Arc<dyn Store>,
        replicas: Arc<Replicas>,
        shutdown: &CancellationToken,
    ) -> Arc<Self> {
        let this = Arc::new(Self {
            store,
            replicas,
            watched: Mutex::new(HashMap::new()),
        });
        let weak = Arc::downgrade(&this);
        this.replicas.watch(REVOKED, shutdown, move |announced| {
            let this = weak.upgrade();
            async move {
                let Some(this) = this else {
                    return false;
                };
                let ids = match announced.map(|id| Uuid::parse_str(&id)) {
                    // An announcement names one token: only a token with sockets here matters.
                    Some(Ok(id)) if this.watched.locked().contains_key(&id) => vec![id],
                    Some(_) => return true,
                    None => this.watched.locked().keys().copied().collect(),
                };
                this.close_revoked(&ids).await;
                true
            }
        });
        this
    }

    /// Holds a socket of `caller` under its token until the `Watch` is dropped; `None` for the
    /// admin token, which cannot be revoked.
    pub fn watch(self: &Arc<Self>, caller: &Caller) -> Option<Watch> {
        let id = caller.credential()?;
        let mut watched = self.watched.locked();
        let w = watched.entry(id).or_insert_with(|| Watched {
            revoked: CancellationToken::new(),
            sockets: 0,
        });
        w.sockets += 1;
        Some(Watch {
            id,
            revoked: w.revoked.clone(),
            owner: Arc::downgrade(self),
        })
    }

    /// Token `id` was just revoked (the table says so): closes its sockets here and tells the
    /// other replicas.
    pub async fn revoked(&self, id: Uuid) {
        self.close(id);
        self.replicas.announce(&format!("{REVOKED}{id}")).await;
    }

    /// Closes the sockets of those of `ids` the tables say are revoked: an announcement only
    /// wakes this up.
    async fn close_revoked(&self, ids: &[Uuid]) {
        if ids.is_empty() {
            return;
        }
        match self.store.revoked_credentials(ids).await {
            Ok(revoked) => revoked.into_iter().for_each(|id| self.close(id)),
            Err(e) => tracing::warn!(error = %e, "reading which tokens were revoked"),
        }
    }

    fn close(&self, id: Uuid) {
        let mut watched = self.watched.locked();
        if let Some(w) = watched.remove(&id) {
            // Under the lock, so a `Watch` dropped meanwhile sees it cancelled.
            w.revoked.cancel();
            tracing::info!(token_id = %id, sockets = w.sockets, "closing the sockets of a revoked token");
        }
    }
}
