//! The terminal protocol (SPEC §5.3) and the bridge between a WebSocket and a backend's PTY.

pub mod attach;
pub mod bridge;
#[cfg(test)]
pub(crate) mod fake;
pub mod protocol;
pub mod ring;
pub mod screen;
pub mod session;
pub mod stops;

pub use self::bridge::{BridgeConfig, SessionStats, bridge};
pub use self::stops::{Stopped, Stops};

/// What resumable sessions keep and for how long (SPEC §12).
#[derive(Clone, Copy, Debug)]
pub struct SessionLimits {
    /// Output kept per session for a resume, in bytes.
    pub replay_bytes: usize,
    /// How long a shell outlives its last socket.
    pub detach_grace: std::time::Duration,
    /// Live sessions a workspace may have at once.
    pub per_workspace: usize,
}
pub use self::protocol::{ClientFrame, Control, ServerFrame};
