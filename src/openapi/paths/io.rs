//! The operations of the terminal, exec and files routes (see the parent module).

use super::super::{ErrorBody, ExecAccepted, ExecLine, SignalSent};
use crate::backend::FileEntry;
use crate::services::exec::Collected;
use crate::services::exec::body::ExecBody;
use crate::services::exec::runs::RunView;
use crate::services::files::{Changed, FileContent, ReplaceBody};
use crate::services::terminal::sessions::SessionView;
use crate::services::terminal::{Ticket, TicketBody};
use crate::services::views::Done;

// ---- terminal ----

#[utoipa::path(post, path = "/workspaces/{id}/terminal/ticket", tag = "terminal", request_body(content = Option<TicketBody>),
    params(("id" = String, Path, description = "Workspace id")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = [])),
    responses(
        (status = 200, description = "A one-use ticket for the terminal socket.", body = Ticket),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 400, description = "Invalid request: body, query, path or header.", body = ErrorBody),
        (status = 404, description = "No such workspace, or no such object in it.", body = ErrorBody)))]
pub fn terminal_ticket() {}

#[utoipa::path(get, path = "/workspaces/{id}/terminal", tag = "terminal",
    params(("id" = String, Path, description = "Workspace id"),
        ("cols" = Option<u16>, Query, description = "Columns"), ("rows" = Option<u16>, Query, description = "Rows"),
        ("session" = Option<String>, Query, description = "A resumable session to open or resume (SPEC §12)")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = []), ("terminal_ticket" = [])),
    responses(
        (status = 101, description = "A WebSocket carrying the terminal (docs/api.md)."),
        (status = 400, description = "Not a WebSocket upgrade, or a bad query.", body = ErrorBody),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 403, description = "Not allowed for this credential or origin.", body = ErrorBody),
        (status = 404, description = "No such workspace, or no such object in it.", body = ErrorBody),
        (status = 429, description = "Over a rate or a quota.", body = ErrorBody)))]
pub fn terminal() {}

#[utoipa::path(get, path = "/workspaces/{id}/terminal/sessions", tag = "terminal",
    params(("id" = String, Path, description = "Workspace id")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = [])),
    responses(
        (status = 200, description = "The workspace's resumable sessions.", body = Vec<SessionView>),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 404, description = "No such workspace, or no such object in it.", body = ErrorBody)))]
pub fn terminal_sessions() {}

#[utoipa::path(delete, path = "/workspaces/{id}/terminal/sessions/{sid}", tag = "terminal",
    params(("id" = String, Path, description = "Workspace id"), ("sid" = String, Path, description = "Session id")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = [])),
    responses(
        (status = 200, description = "The session and its shell are ended.", body = Done),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 404, description = "No such session.", body = ErrorBody)))]
pub fn kill_terminal_session() {}

// ---- exec ----

#[utoipa::path(post, path = "/workspaces/{id}/exec", tag = "exec", request_body = ExecBody,
    params(("id" = String, Path, description = "Workspace id"),
        ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key attaches to the same run")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = [])),
    responses(
        (status = 200, description = "The run's lines as NDJSON (X-Exec-Id names the run); with Accept: application/json, the whole result.", content_type = "application/x-ndjson", body = ExecLine),
        (status = 202, description = "A detached run has started.", body = ExecAccepted),
        (status = 400, description = "Invalid body.", body = ErrorBody),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 504, description = "A buffered run timed out.", body = Collected),
        (status = 403, description = "Not allowed for this credential or origin.", body = ErrorBody),
        (status = 404, description = "No such workspace, or no such object in it.", body = ErrorBody),
        (status = 409, description = "In conflict with the workspace's or the run's state.", body = ErrorBody),
        (status = 413, description = "Over a size limit.", body = ErrorBody),
        (status = 502, description = "The workspace's backend, or a system beyond the server, failed.", body = ErrorBody),
        (status = 503, description = "A backend or the database is not available.", body = ErrorBody)))]
pub fn exec() {}

#[utoipa::path(get, path = "/workspaces/{id}/exec/{exec_id}", tag = "exec",
    params(("id" = String, Path, description = "Workspace id"), ("exec_id" = String, Path, description = "Run id")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = [])),
    responses(
        (status = 200, description = "The run's record.", body = RunView),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 404, description = "No such run.", body = ErrorBody)))]
pub fn exec_run() {}

#[utoipa::path(get, path = "/workspaces/{id}/exec/{exec_id}/output", tag = "exec",
    params(("id" = String, Path, description = "Workspace id"), ("exec_id" = String, Path, description = "Run id"),
        ("since" = Option<u64>, Query, description = "Byte offset to resume from"),
        ("follow" = Option<u8>, Query, description = "1: keep the stream open until the run ends")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = [])),
    responses(
        (status = 200, description = "The run's lines from `since`, as NDJSON.", content_type = "application/x-ndjson", body = ExecLine),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 404, description = "No such run.", body = ErrorBody),
        (status = 400, description = "Invalid request: body, query, path or header.", body = ErrorBody)))]
pub fn exec_output() {}

#[utoipa::path(post, path = "/workspaces/{id}/exec/{exec_id}/signal", tag = "exec", request_body = crate::http::exec::SignalBody,
    params(("id" = String, Path, description = "Workspace id"), ("exec_id" = String, Path, description = "Run id")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = [])),
    responses(
        (status = 200, description = "Sent to the run's whole tree.", body = SignalSent),
        (status = 400, description = "Invalid body.", body = ErrorBody),
        (status = 404, description = "No such run.", body = ErrorBody),
        (status = 409, description = "The run has ended.", body = ErrorBody),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody)))]
pub fn exec_signal() {}

// ---- files ----

#[utoipa::path(get, path = "/workspaces/{id}/files", tag = "files",
    params(("id" = String, Path, description = "Workspace id"),
        ("path" = Option<String>, Query, description = "Directory to list"),
        ("depth" = Option<u8>, Query, description = "1-5"),
        ("root" = Option<String>, Query, description = "Local: /configs, /workspace, /home or /plugins")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = [])),
    responses(
        (status = 200, description = "Entries (names, kinds, sizes; never contents).", body = Vec<FileEntry>),
        (status = 400, description = "Invalid path or depth.", body = ErrorBody),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 503, description = "The workspace's backend is not available.", body = ErrorBody),
        (status = 404, description = "No such workspace, or no such object in it.", body = ErrorBody)))]
pub fn list_files() {}

#[utoipa::path(put, path = "/workspaces/{id}/files", tag = "files", request_body = ReplaceBody,
    params(("id" = String, Path, description = "Workspace id")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = [])),
    responses(
        (status = 200, description = "Every file written.", body = Changed),
        (status = 400, description = "Invalid body or path.", body = ErrorBody),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 404, description = "No such workspace, or no such object in it.", body = ErrorBody),
        (status = 503, description = "A backend or the database is not available.", body = ErrorBody)))]
pub fn replace_files() {}

#[utoipa::path(get, path = "/workspaces/{id}/files/{path}", tag = "files",
    params(("id" = String, Path, description = "Workspace id"), ("path" = String, Path, description = "Relative path"),
        ("root" = Option<String>, Query, description = "Local: /configs, /workspace, /home or /plugins")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = [])),
    responses(
        (status = 200, description = "The file: JSON (5 MiB at most), or its raw bytes with Accept: application/octet-stream; an ETag either way.",
            headers(("ETag" = String, description = "The content's SHA-256, hex, quoted")),
            content((FileContent = "application/json"), (Vec<u8> = "application/octet-stream"))),
        (status = 400, description = "Invalid path, or it leaves the workspace root.", body = ErrorBody),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 404, description = "No such file.", body = ErrorBody),
        (status = 413, description = "Over the cap of the form asked for.", body = ErrorBody),
        (status = 503, description = "A backend or the database is not available.", body = ErrorBody)))]
pub fn read_file() {}

#[utoipa::path(put, path = "/workspaces/{id}/files/{path}", tag = "files",
    request_body(content((crate::http::files::WriteBody = "application/json"), (Vec<u8> = "application/octet-stream"))),
    params(("id" = String, Path, description = "Workspace id"), ("path" = String, Path, description = "Relative path"),
        ("If-Match" = Option<String>, Header, description = "Write only if the file has one of these tags (or exists, for *)"),
        ("If-None-Match" = Option<String>, Header, description = "*: create only")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = [])),
    responses(
        (status = 200, description = "Written atomically.", body = Changed,
            headers(("ETag" = String, description = "The new content's tag"))),
        (status = 400, description = "Invalid path, body or condition.", body = ErrorBody),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 411, description = "A raw upload without a Content-Length.", body = ErrorBody),
        (status = 412, description = "The condition does not hold; nothing changed.", body = ErrorBody),
        (status = 413, description = "Over the body limit or FILES_MAX_BYTES.", body = ErrorBody),
        (status = 404, description = "No such workspace, or no such object in it.", body = ErrorBody),
        (status = 503, description = "A backend or the database is not available.", body = ErrorBody)))]
pub fn write_file() {}

#[utoipa::path(delete, path = "/workspaces/{id}/files/{path}", tag = "files",
    params(("id" = String, Path, description = "Workspace id"), ("path" = String, Path, description = "Relative path"),
        ("If-Match" = Option<String>, Header, description = "Delete only if the file has one of these tags")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = [])),
    responses(
        (status = 200, description = "Deleted.", body = Changed),
        (status = 400, description = "Invalid path, or it leaves the workspace root.", body = ErrorBody),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 404, description = "No such file.", body = ErrorBody),
        (status = 412, description = "The condition does not hold; nothing changed.", body = ErrorBody),
        (status = 503, description = "A backend or the database is not available.", body = ErrorBody)))]
pub fn delete_file() {}
