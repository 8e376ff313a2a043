//! Workspaces: ids, the persisted record, statuses, and where a workspace runs (`Placement`).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A workspace id: a UUID, parsed at the edge.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct WorkspaceId(pub Uuid);

impl WorkspaceId {
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }

    /// Parses a hyphenated UUID; anything else is rejected.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        // `Uuid::parse_str` also accepts braced, URN and simple forms; ids are hyphenated only.
        if s.len() != 36 {
            return Err(InvalidId);
        }
        Uuid::parse_str(s).map(Self).map_err(|_| InvalidId)
    }

    /// The first 12 characters of the id, used to name the local container and its volumes.
    pub fn short(&self) -> String {
        self.0.to_string()[..12].to_owned()
    }
}

impl Default for WorkspaceId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The id was not a hyphenated UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid id: expected a UUID")]
pub struct InvalidId;

/// A workspace's lifecycle state (SPEC §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Provisioning,
    Online,
    Offline,
    Degraded,
    Failed,
    Removed,
    Paused,
    Hibernated,
    AwaitingAgent,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Provisioning,
        Status::Online,
        Status::Offline,
        Status::Degraded,
        Status::Failed,
        Status::Removed,
        Status::Paused,
        Status::Hibernated,
        Status::AwaitingAgent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Provisioning => "provisioning",
            Status::Online => "online",
            Status::Offline => "offline",
            Status::Degraded => "degraded",
            Status::Failed => "failed",
            Status::Removed => "removed",
            Status::Paused => "paused",
            Status::Hibernated => "hibernated",
            Status::AwaitingAgent => "awaiting_agent",
        }
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown workspace status {s:?}"))
    }
}

/// The default runtime of a new workspace.
pub const DEFAULT_RUNTIME: &str = "langgraph";
/// The default tier of a new workspace.
pub const DEFAULT_TIER: i32 = 3;

/// A workspace as persisted. Clients see it only through `services::views::WorkspaceView`.
#[derive(Clone, Debug, PartialEq)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub runtime: String,
    pub tier: i32,
    pub status: Status,
    pub parent_id: Option<WorkspaceId>,
    pub instance_id: Option<String>,
    pub image: Option<String>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The instance's SSH host key, recorded on first connection (EIC path).
    pub host_key: Option<String>,
}

/// Where a workspace runs, decided only by its persisted `instance_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// A container on the server's Docker engine.
    Local { container: String },
    /// An EC2 instance reached through EC2 Instance Connect.
    Remote { instance_id: String },
}

impl Placement {
    pub fn of(ws: &Workspace) -> Placement {
        match ws.instance_id.as_deref() {
            Some(id) if !id.is_empty() => Placement::Remote {
                instance_id: id.to_owned(),
            },
            _ => Placement::Local {
                container: container_name(ws.id),
            },
        }
    }
}

/// The local container's name: `ws-<first 12 chars of id>`.
pub fn container_name(id: WorkspaceId) -> String {
    format!("ws-{}", id.short())
}

/// Checks a tier number (1–4).
pub fn validate_tier(tier: i32) -> Result<i32, String> {
    if (1..=4).contains(&tier) {
        Ok(tier)
    } else {
        Err(format!("tier must be between 1 and 4, got {tier}"))
    }
}

/// Checks an EC2 instance id (`i-` and 8 or 17 hex digits), so it can never be read as a flag.
pub fn validate_instance_id(id: &str) -> Result<String, String> {
    let hex = id.strip_prefix("i-").unwrap_or("");
    let ok = matches!(hex.len(), 8 | 17)
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(id.to_owned())
    } else {
        Err("instance_id must look like i-0123456789abcdef0".to_owned())
    }
}

/// Checks a Docker image reference: printable, no spaces, not starting with `-`, at most 255 bytes.
pub fn validate_image(image: &str) -> Result<String, String> {
    let ok = !image.is_empty()
        && image.len() <= 255
        && !image.starts_with('-')
        && image
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/:@".contains(&b));
    if ok {
        Ok(image.to_owned())
    } else {
        Err("image must be a Docker image reference such as repo/name:tag".to_owned())
    }
}

#[cfg(test)]
impl Workspace {
    /// A fixed workspace for unit tests.
    pub(crate) fn sample(instance_id: Option<&str>) -> Workspace {
        let now = Utc::now();
        Workspace {
            id: WorkspaceId::parse("0123abcd-4567-89ab-cdef-0123456789ab").unwrap(),
            name: "w".into(),
            runtime: DEFAULT_RUNTIME.into(),
            tier: DEFAULT_TIER,
            status: Status::Online,
            parent_id: None,
            instance_id: instance_id.map(str::to_owned),
            image: None,
            last_error: None,
            created_at: now,
            updated_at: now,
            host_key: None,
        }
    }
}

/// Checks a name or runtime label: 1–255 characters, no control characters.
pub fn validate_label(field: &str, value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() || value.len() > 255 || value.chars().any(char::is_control) {
        Err(format!(
            "{field} must be 1-255 characters without control characters"
        ))
    } else {
        Ok(value.to_owned())
    }
}

/// The create validation of the Go server, kept for its clients (SPEC §11): no newline in `name`,
/// `role`, `model`, `runtime`; none of `{}[]|>*&!` in `name` and `role`; at most 255, 1000, 100
/// and 100 bytes.
pub fn check_go_create_fields(
    name: &str,
    role: Option<&str>,
    model: Option<&str>,
    runtime: Option<&str>,
) -> Result<(), &'static str> {
    const INVALID: &str = "invalid workspace fields";
    let fine = |value: Option<&str>, max: usize, banned: &str| {
        value.is_none_or(|v| {
            v.len() <= max && !v.contains(['\n', '\r']) && !v.contains(|c| banned.contains(c))
        })
    };
    let ok = fine(Some(name), 255, "{}[]|>*&!")
        && fine(role, 1000, "{}[]|>*&!")
        && fine(model, 100, "")
        && fine(runtime, 100, "");
    if ok { Ok(()) } else { Err(INVALID) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_go_create_rules_hold() {
        assert!(
            check_go_create_fields("agent one", Some("PM"), Some("gpt"), Some("hermes")).is_ok()
        );
        for (name, role, model, runtime) in [
            ("a\nb", None, None, None),
            ("a{b}", None, None, None),
            ("ok", Some("x|y"), None, None),
            ("ok", Some("x\ny"), None, None),
            ("ok", None, Some("m\n"), None),
            ("ok", None, None, Some("r\n")),
        ] {
            assert_eq!(
                check_go_create_fields(name, role, model, runtime),
                Err("invalid workspace fields"),
                "{name:?} {role:?} {model:?} {runtime:?}"
            );
        }
        let long = |n: usize| "x".repeat(n);
        assert!(check_go_create_fields(&long(256), None, None, None).is_err());
        assert!(check_go_create_fields("n", Some(&long(1001)), None, None).is_err());
        assert!(check_go_create_fields("n", None, Some(&long(101)), None).is_err());
        assert!(check_go_create_fields("n", None, None, Some(&long(101))).is_err());
        assert!(
            check_go_create_fields(&long(255), Some(&long(1000)), Some(&long(100)), None).is_ok()
        );
    }

    fn ws(instance_id: Option<&str>) -> Workspace {
        Workspace::sample(instance_id)
    }

    #[test]
    fn placement_follows_the_instance_id_only() {
        assert_eq!(
            Placement::of(&ws(None)),
            Placement::Local {
                container: "ws-0123abcd-456".into()
            }
        );
        assert_eq!(
            Placement::of(&ws(Some(""))),
            Placement::Local {
                container: "ws-0123abcd-456".into()
            }
        );
        assert_eq!(
            Placement::of(&ws(Some("i-0123456789abcdef0"))),
            Placement::Remote {
                instance_id: "i-0123456789abcdef0".into()
            }
        );
    }

    #[test]
    fn ids_must_be_hyphenated_uuids() {
        assert!(WorkspaceId::parse("0123abcd-4567-89ab-cdef-0123456789ab").is_ok());
        for bad in [
            "",
            "abc",
            "0123abcd456789abcdef0123456789ab",
            "{0123abcd-4567-89ab-cdef-0123456789ab}",
            "0123abcd-4567-89ab-cdef-0123456789ag",
            "../../etc/passwd",
        ] {
            assert_eq!(WorkspaceId::parse(bad), Err(InvalidId), "{bad}");
        }
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for st in Status::ALL {
            assert_eq!(st.as_str().parse::<Status>(), Ok(st));
            assert_eq!(
                serde_json::to_value(st).unwrap(),
                serde_json::json!(st.as_str())
            );
        }
        assert!("running".parse::<Status>().is_err());
    }

    #[test]
    fn instance_ids_cannot_smuggle_flags_or_spaces() {
        assert!(validate_instance_id("i-0123456789abcdef0").is_ok());
        assert!(validate_instance_id("i-01234567").is_ok());
        for bad in [
            "",
            "-i",
            "i-",
            "i-0123456789ABCDEF0",
            "i-01234567 --x",
            "--help",
        ] {
            assert!(validate_instance_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn images_and_labels_are_checked() {
        assert!(validate_image("registry.local:5000/ws/base:1.2@sha256:ab").is_ok());
        for bad in ["", "-rm", "a b", "a;b", "$(x)"] {
            assert!(validate_image(bad).is_err(), "{bad}");
        }
        assert_eq!(validate_label("name", "  agent  ").unwrap(), "agent");
        assert!(validate_label("name", "").is_err());
        assert!(validate_label("name", "a\nb").is_err());
        assert!(validate_tier(0).is_err() && validate_tier(5).is_err());
        assert_eq!(validate_tier(4), Ok(4));
    }
}
