//! What ends a terminal's socket from outside it: the server shutting down, and the revocation
//! of the token that opened the socket. Shared by the bridge of a plain terminal and the
//! attachment to a session.

use tokio_util::sync::CancellationToken;

use super::protocol::{CLOSE_GOING_AWAY, ServerFrame};

/// The signals a socket stops on.
#[derive(Clone, Debug, Default)]
pub struct Stops {
    /// The server shuts down.
    pub shutdown: CancellationToken,
    /// The token that opened the socket was revoked.
    pub revoked: CancellationToken,
}

/// Which of the stops fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    Shutdown,
    Revoked,
}

impl Stops {
    /// The stop that has fired, if one has (a revocation first).
    pub fn fired(&self) -> Option<Stopped> {
        if self.revoked.is_cancelled() {
            Some(Stopped::Revoked)
        } else if self.shutdown.is_cancelled() {
            Some(Stopped::Shutdown)
        } else {
            None
        }
    }

    /// Waits for either stop.
    pub async fn any(&self) -> Stopped {
        tokio::select! {
            () = self.revoked.cancelled() => Stopped::Revoked,
            () = self.shutdown.cancelled() => Stopped::Shutdown,
        }
    }
}

impl Stopped {
    /// The close frame the client is sent.
    pub fn close_frame(self) -> ServerFrame {
        match self {
            Stopped::Revoked => ServerFrame::revoked(),
            Stopped::Shutdown => ServerFrame::Close {
                code: CLOSE_GOING_AWAY,
                reason: "server shutting down".into(),
            },
        }
    }

    /// How the audit row says the socket ended.
    pub fn end(self) -> &'static str {
        match self {
            Stopped::Revoked => "revoked",
            Stopped::Shutdown => "shutdown",
        }
    }
}
