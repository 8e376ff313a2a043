//! Frames of the terminal protocol, independent of any WebSocket library.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::backend::TermSize;

/// Close code when the shell ended (reason `{"exit_code":N}`).
pub const CLOSE_NORMAL: u16 = 1000;
/// Close code when the server goes away or the session sat idle.
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code when the token that opened the socket was revoked.
pub const CLOSE_REVOKED: u16 = 1008;
/// Close reason when the token that opened the socket was revoked.
pub const REVOKED_REASON: &str = "token revoked";
/// Close code after an error (preceded by an `Error: …\r\n` text frame).
pub const CLOSE_ERROR: u16 = 1011;
/// Largest terminal dimension accepted, in cells.
pub const MAX_DIMENSION: u16 = 1000;

/// What the client sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientFrame {
    /// Keystrokes: binary frames, and text frames that are not control messages.
    Input(Bytes),
    /// A control message.
    Control(Control),
    /// A control message with bad fields: answered with an `Error:` text frame, never typed.
    BadControl(String),
    /// The client closed the socket (or it broke).
    Close,
    /// Anything else (pings, pongs): counts as activity, nothing more.
    Other,
}

/// Control messages, sent as JSON text frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Resize(TermSize),
    Ping,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Wire {
    Resize { cols: u16, rows: u16 },
    Ping,
}

impl ClientFrame {
    /// A text frame is a control message when it is a JSON object whose `type` is a control
    /// type; with bad fields it is refused (`BadControl`). Any other text is typed input, sent on
    /// to the shell as is.
    pub fn from_text(text: &str) -> Self {
        let input = || Self::Input(Bytes::copy_from_slice(text.as_bytes()));
        if !text.trim_start().starts_with('{') {
            return input();
        }
        let Ok(serde_json::Value::Object(object)) = serde_json::from_str(text) else {
            return input();
        };
        let kind = object.get("type").and_then(serde_json::Value::as_str);
        if !matches!(kind, Some("resize" | "ping")) {
            return input();
        }
        let bad_size = || {
            Self::BadControl(format!(
                "resize needs integer cols and rows within 1-{MAX_DIMENSION}"
            ))
        };
        match serde_json::from_value::<Wire>(serde_json::Value::Object(object)) {
            Ok(Wire::Resize { cols, rows }) => valid_size(cols, rows)
                .map(|size| Self::Control(Control::Resize(size)))
                .unwrap_or_else(bad_size),
            Ok(Wire::Ping) => Self::Control(Control::Ping),
            Err(_) => bad_size(),
        }
    }
}

/// A size when both dimensions are within 1..=`MAX_DIMENSION`.
pub fn valid_size(cols: u16, rows: u16) -> Option<TermSize> {
    let ok = |d: u16| (1..=MAX_DIMENSION).contains(&d);
    (ok(cols) && ok(rows)).then_some(TermSize { cols, rows })
}

/// The first frame of every attachment to a resumable session, and of a catch-up by snapshot
/// (SPEC §12); the server writes it and the CLI reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionFrame {
    /// Always `session`.
    #[serde(rename = "type")]
    pub kind: String,
    pub session: String,
    /// Where the bytes that follow start in the session's output.
    pub offset: u64,
    /// The session's output so far: bytes `offset..live` are a replay.
    pub live: u64,
    /// Text that repaints the screen, when the client's offset was no longer kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
}

/// The reason of the close frame when the shell ended.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Exited {
    pub exit_code: Option<i64>,
}

/// What the server sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerFrame {
    Output(Bytes),
    Text(String),
    Ping,
    Close { code: u16, reason: String },
}

impl ServerFrame {
    pub fn pong() -> Self {
        Self::Text(r#"{"type":"pong"}"#.into())
    }

    pub fn exited(code: Option<i64>) -> Self {
        let code = code.map_or("null".to_owned(), |c| c.to_string());
        Self::Close {
            code: CLOSE_NORMAL,
            reason: format!(r#"{{"exit_code":{code}}}"#),
        }
    }

    /// Closes a socket whose token was revoked.
    pub fn revoked() -> Self {
        Self::Close {
            code: CLOSE_REVOKED,
            reason: REVOKED_REASON.into(),
        }
    }

    pub fn error(message: &str) -> [Self; 2] {
        [
            Self::Text(format!("Error: {message}\r\n")),
            Self::Close {
                code: CLOSE_ERROR,
                reason: "error".into(),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages_are_recognised_and_everything_else_is_input() {
        assert_eq!(
            ClientFrame::from_text(r#"{"type":"resize","cols":120,"rows":40}"#),
            ClientFrame::Control(Control::Resize(TermSize {
                cols: 120,
                rows: 40
            }))
        );
        assert_eq!(
            ClientFrame::from_text(r#"{"type":"ping"}"#),
            ClientFrame::Control(Control::Ping)
        );
        for bad in [
            r#"{"type":"resize","cols":0,"rows":40}"#,
            r#"{"type":"resize","cols":"abc"}"#,
            r#"{"type":"resize","cols":"wide","rows":3}"#,
            r#"{"type":"resize","cols":70000,"rows":3}"#,
            r#"{"type":"resize"}"#,
        ] {
            assert!(
                matches!(ClientFrame::from_text(bad), ClientFrame::BadControl(_)),
                "{bad}"
            );
        }
        for input in [
            "ls -la\r",
            r#"{"type":"other"}"#,
            r#"{"kind":"resize"}"#,
            "{not json",
            r#"["type","ping"]"#,
        ] {
            assert_eq!(
                ClientFrame::from_text(input),
                ClientFrame::Input(Bytes::copy_from_slice(input.as_bytes())),
                "{input}"
            );
        }
    }

    #[test]
    fn the_close_reason_carries_the_exit_code() {
        assert_eq!(
            ServerFrame::exited(Some(7)),
            ServerFrame::Close {
                code: 1000,
                reason: r#"{"exit_code":7}"#.into()
            }
        );
        assert_eq!(
            ServerFrame::error("x")[0],
            ServerFrame::Text("Error: x\r\n".into())
        );
    }
}
