//! The runs this server is driving, by id, so that `POST …/signal` reaches the task that owns one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::backend::{BackendError, RunSignal};
use crate::exec::SignalAsk;
use crate::sync::Locked;

/// Signals waiting for a run's task to take them: a client asks one at a time.
const QUEUE: usize = 4;

#[derive(Default)]
pub struct Live {
    runs: Mutex<HashMap<Uuid, mpsc::Sender<SignalAsk>>>,
}

/// A run's place in `Live`; dropping it (the run has ended) takes it out.
pub struct Registered {
    live: Arc<Live>,
    exec_id: Uuid,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.live.runs.locked().remove(&self.exec_id);
    }
}

impl Live {
    /// Enters a run; its task reads the signals asked for it from the receiver.
    pub fn register(self: &Arc<Self>, exec_id: Uuid) -> (mpsc::Receiver<SignalAsk>, Registered) {
        let (asks, received) = mpsc::channel(QUEUE);
        self.runs.locked().insert(exec_id, asks);
        let registered = Registered {
            live: self.clone(),
            exec_id,
        };
        (received, registered)
    }

    /// Sends `signal` to the run's tree and waits until it was sent; `None` when this server is
    /// not driving the run (it has ended).
    pub async fn signal(
        &self,
        exec_id: Uuid,
        signal: RunSignal,
    ) -> Option<Result<(), BackendError>> {
        let asks = self.runs.locked().get(&exec_id).cloned()?;
        let (sent, answer) = oneshot::channel();
        asks.send(SignalAsk { signal, sent }).await.ok()?;
        answer.await.ok()
    }
}
