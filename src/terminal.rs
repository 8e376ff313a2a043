//! The terminal protocol (SPEC §5.3) and the bridge between a WebSocket and a backend's PTY.

pub mod bridge;
pub mod protocol;

pub use self::bridge::{BridgeConfig, SessionStats, bridge};
pub use self::protocol::{ClientFrame, Control, ServerFrame};
