//! Resumable terminal sessions (SPEC §12) on the real Docker engine and the EIC path: exact
//! resume after an abrupt drop, a snapshot past the buffer, no replies typed into the shell,
//! viewers, the detach grace and the limits.

use std::time::Duration;

use rand::Rng;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp};
use crate::session_client::{Attached, attach, attach_as, refused};

/// Reads `a` to `needle` (after `from`) and fails with what came if it never does.
async fn expect(a: &mut Attached, needle: &str, from: usize) {
    let found = a.read_until(needle, from).await;
    let tail = String::from_utf8_lossy(&a.bytes[a.bytes.len().saturating_sub(300)..]).into_owned();
    assert!(found, "no {needle:?} in the output; it ends {tail:?}");
}

/// A session on `id` with a prompt to type at.
pub(crate) async fn new_session(app: &TestApp, id: &str) -> Attached {
    let a = attach(app, id, "session=new").await;
    assert_eq!(a.first["offset"], 0, "{}", a.first);
    assert_eq!(a.first["live"], 0, "{}", a.first);
    a
}

/// Drops `a`'s connection without a close frame, as a network failure does.
pub(crate) fn cut(a: Attached) -> u64 {
    let offset = a.offset();
    drop(a.socket);
    offset
}

/// A reference socket reads the whole output of `seq 1 100000` while another is cut at 100
/// random byte offsets (it keeps only the bytes before the point, as if the rest never arrived)
/// and resumed each time from there: the two streams are identical.
pub(crate) async fn resumes_exactly(app: &TestApp, id: &str) {
    let mut reference = new_session(app, id).await;
    let sid = reference.id();
    let mut resumed = attach(app, id, &format!("session={sid}&offset=0")).await;
    reference.send("seq 1 100000; echo END$((40+2))\r").await;
    // The reference reads all the while, so the shell is never held up by it.
    let reference = tokio::spawn(async move {
        expect(&mut reference, "END42", 0).await;
        reference.bytes
    });
    let done = |b: &[u8]| b.windows(5).any(|w| w == b"END42");
    let mut received: Vec<u8> = Vec::new();
    let mut rng = rand::thread_rng();
    for _ in 0..100 {
        let point = received.len() as u64 + rng.gen_range(1..4_000);
        while resumed.offset() < point && !done(&resumed.bytes) {
            assert!(resumed.read_frame().await, "the session closed mid-output");
        }
        assert_eq!(
            resumed.first["offset"].as_u64(),
            Some(received.len() as u64)
        );
        assert!(resumed.resets.is_empty() && resumed.first.get("snapshot").is_none());
        let kept = (point.min(resumed.offset()) - received.len() as u64) as usize;
        received.extend_from_slice(&resumed.bytes[..kept]);
        let offset = received.len();
        drop(resumed.socket);
        resumed = attach(app, id, &format!("session={sid}&offset={offset}")).await;
    }
    expect(&mut resumed, "END42", 0).await;
    assert_eq!(
        resumed.first["offset"].as_u64(),
        Some(received.len() as u64)
    );
    received.extend_from_slice(&resumed.bytes);
    let reference = reference.await.unwrap();
    let end = |b: &[u8]| b.windows(5).position(|w| w == b"END42").unwrap() + 5;
    let (a, b) = (&received[..end(&received)], &reference[..end(&reference)]);
    assert!(a.len() > 500_000, "{} bytes", a.len());
    assert_eq!(a.len(), b.len(), "lengths differ");
    assert!(a == b, "a byte was lost or repeated");
}

#[tokio::test]
async fn an_abruptly_cut_socket_resumes_at_its_offset_with_no_byte_lost_or_repeated() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "resume" })).await;
    resumes_exactly(&app, &id).await;
    app.remove(&id).await;
}

/// Every cell of a screen with its pen, and the cursor (row, column, visible).
type Shown = (Vec<Vec<(char, avt::Pen)>>, (usize, usize, bool));

/// What an independent emulator (avt) shows after `bytes`.
fn screen(bytes: &[u8]) -> Shown {
    let mut vt = avt::Vt::new(80, 24);
    vt.feed_str(&String::from_utf8_lossy(bytes));
    let cells = vt
        .view()
        .map(|l| l.cells().iter().map(|c| (c.char(), *c.pen())).collect())
        .collect();
    let c = vt.cursor();
    (cells, (c.row, c.col, c.visible))
}

#[tokio::test]
async fn a_resume_older_than_the_buffer_gets_a_snapshot_that_repaints_the_screen() {
    let app = Options::default()
        .arg("--terminal-replay-bytes", "16384")
        .spawn()
        .await;
    let id = app.create_local(json!({ "name": "snapshot" })).await;
    // A full-screen program: the alternate buffer, colours, a placed and hidden cursor.
    let drawn =
        "\x1b[?1049h\x1b[2J\x1b[H\x1b[1;31mred\x1b[0m plain\x1b[5;10H\x1b[4mhere\x1b[0m\x1b[?25l";
    let program = r"seq 1 5000; printf '\033[?1049h\033[2J\033[H\033[1;31mred\033[0m plain\033[5;10H\033[4mhere\033[0m\033[?25l'; sleep 600";
    for (script, expected) in [
        (program.to_owned(), drawn.to_owned()),
        // The primary buffer: the last lines of a long output and the cursor below them.
        ("seq 1 5000; sleep 600".to_owned(), {
            let lines: Vec<String> = (4978..=5000).map(|n| n.to_string()).collect();
            format!("{}\r\n", lines.join("\r\n"))
        }),
    ] {
        let mut a = new_session(&app, &id).await;
        a.send(&format!("{script}\r")).await;
        let sid = a.id();
        cut(a);
        // Detached: the shell runs on; its output passes the 16 KiB buffer.
        let mut waited = 0;
        let late = loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let late = attach(&app, &id, &format!("session={sid}&offset=0")).await;
            if late.first["live"].as_u64().unwrap() > 20_000 || waited > 30 {
                break late;
            }
            waited += 1;
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let fresh = attach(&app, &id, &format!("session={sid}&offset=0")).await;
        drop(late);
        let live = fresh.first["live"].as_u64().unwrap();
        assert_eq!(
            fresh.first["offset"].as_u64(),
            Some(live),
            "{}",
            fresh.first
        );
        let snapshot = fresh.first["snapshot"].as_str().expect("a snapshot");
        assert_eq!(
            screen(snapshot.as_bytes()),
            screen(expected.as_bytes()),
            "{script}"
        );
        let (status, _) = app
            .call(
                Method::DELETE,
                &format!("/workspaces/{id}/terminal/sessions/{sid}"),
                &app.admin,
                None,
            )
            .await;
        assert_eq!(status, 200);
    }
    app.remove(&id).await;
}

#[tokio::test]
async fn replayed_terminal_queries_reach_the_client_and_nothing_is_typed_back() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "queries" })).await;
    let mut a = new_session(&app, &id).await;
    a.send(
        "printf '\\033[6n\\033[c\\033]11;?\\007'; read -t 3 x; echo \"len=${#x}\" > /tmp/replies; echo Q$((5+5))\r",
    )
    .await;
    let sid = a.id();
    cut(a);
    tokio::time::sleep(Duration::from_secs(4)).await;
    // This client follows the SPEC: it answers nothing while it writes replayed bytes.
    let mut replayed = attach(&app, &id, &format!("session={sid}&offset=0")).await;
    expect(&mut replayed, "Q10", 0).await;
    for query in [&b"\x1b[6n"[..], b"\x1b[c", b"\x1b]11;?\x07"] {
        assert!(
            replayed.bytes.windows(query.len()).any(|w| w == query),
            "{query:?} not replayed"
        );
    }
    assert_eq!(app.sh(&id, "cat /tmp/replies").await.trim(), "len=0");
    app.remove(&id).await;
}

async fn view_ticket(app: &TestApp, id: &str, body: Value) -> (u16, Value) {
    let path = format!("/workspaces/{id}/terminal/ticket");
    let (status, body) = app.call(Method::POST, &path, &app.admin, Some(body)).await;
    (status.as_u16(), body)
}

#[tokio::test]
async fn a_viewer_sees_the_output_and_can_type_resize_or_open_nothing() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "viewer" })).await;
    let other = app.create_local(json!({ "name": "other" })).await;
    let mut writer = new_session(&app, &id).await;
    let sid = writer.id();
    let ticket = |body| view_ticket(&app, &id, body);
    let (status, t) = ticket(json!({ "session": sid, "mode": "view" })).await;
    assert_eq!(status, 200, "{t}");
    let query = format!(
        "session={sid}&offset=0&ticket={}",
        t["ticket"].as_str().unwrap()
    );
    let mut viewer = attach_as(&app, &id, &query, None).await.unwrap();
    viewer.send("touch /tmp/typed-by-viewer\r").await;
    viewer
        .send(r#"{"type":"resize","cols":33,"rows":11}"#)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    writer
        .send("stty size; ls /tmp/typed-by-viewer; echo V$((3+3))\r")
        .await;
    expect(&mut writer, "V6", 0).await;
    expect(&mut viewer, "V6", 0).await;
    let seen = String::from_utf8_lossy(&viewer.bytes).into_owned();
    assert!(seen.contains("24 80"), "{seen}");
    assert!(!app.sh(&id, "ls /tmp").await.contains("typed-by-viewer"));
    // A viewer's ticket opens that session only.
    for (ws, q) in [
        (&id, "session=new".to_owned()),
        (&id, String::new()),
        (&id, "session=0123456789abcdef0123456789abcdef".to_owned()),
        (&other, format!("session={sid}")),
    ] {
        let (_, t) = ticket(json!({ "session": sid, "mode": "view" })).await;
        let query = format!("{q}&ticket={}", t["ticket"].as_str().unwrap());
        let status = refused(attach_as(&app, ws, &query, None).await);
        assert!(matches!(status, 401 | 403), "{q} on {ws}: {status}");
    }
    assert_eq!(
        ticket(json!({ "session": "nope", "mode": "view" })).await.0,
        404
    );
    assert_eq!(
        ticket(json!({ "session": sid, "mode": "write" })).await.0,
        400
    );
    app.remove(&id).await;
    app.remove(&other).await;
}

/// Whether a process whose command line holds `needle` runs in workspace `id`.
async fn running(app: &TestApp, id: &str, needle: &str) -> bool {
    app.sh(id, "ps -o args")
        .await
        .lines()
        .any(|l| l.contains(needle))
}

#[tokio::test]
async fn a_detached_shell_lives_through_its_grace_and_not_past_it_and_delete_kills_at_once() {
    let app = Options::default()
        .arg("--terminal-detach-grace", "5s")
        .spawn()
        .await;
    let id = app.create_local(json!({ "name": "grace" })).await;
    let mut a = new_session(&app, &id).await;
    a.send("sleep 3571\r").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sid = a.id();
    cut(a);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        running(&app, &id, "sleep 3571").await,
        "gone before its grace ran out"
    );
    let (_, listed) = app
        .get_as(&format!("/workspaces/{id}/terminal/sessions"), &app.admin)
        .await;
    assert_eq!(listed[0]["session"], sid.as_str(), "{listed}");
    assert_eq!(listed[0]["attached"], 0, "{listed}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        !running(&app, &id, "sleep 3571").await,
        "alive after its grace"
    );
    let resume = attach_as(
        &app,
        &id,
        &format!("session={sid}&offset=0"),
        Some(&app.admin),
    )
    .await;
    assert_eq!(refused(resume), 404);
    // DELETE ends a session at once.
    let mut b = new_session(&app, &id).await;
    b.send("sleep 3572\r").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let path = format!("/workspaces/{id}/terminal/sessions/{}", b.id());
    let (status, body) = app.call(Method::DELETE, &path, &app.admin, None).await;
    assert_eq!(
        (status.as_u16(), body),
        (200, json!({ "status": "killed" }))
    );
    while b.read_frame().await {}
    assert_eq!(b.close.as_ref().map(|c| u16::from(c.0)), Some(1000));
    assert!(!running(&app, &id, "sleep 3572").await);
    let (status, _) = app.call(Method::DELETE, &path, &app.admin, None).await;
    assert_eq!(status.as_u16(), 404);
    let (_, rows) = app
        .get_as(
            &format!("/workspaces/{id}/activity?type=terminal"),
            &app.admin,
        )
        .await;
    let ended: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["request_body"]["ended"].as_str())
        .collect();
    assert!(
        ended.contains(&"detach_grace") && ended.contains(&"killed"),
        "{rows}"
    );
    app.remove(&id).await;
}

#[tokio::test]
async fn a_shell_that_exits_while_detached_keeps_its_output_and_exit_code_for_the_resume() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "exits" })).await;
    let mut a = new_session(&app, &id).await;
    a.send("sleep 1; echo LAST$((1+6)); exit 7\r").await;
    let sid = a.id();
    let offset = cut(a);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut b = attach(&app, &id, &format!("session={sid}&offset={offset}")).await;
    expect(&mut b, "LAST7", 0).await;
    while b.read_frame().await {}
    let (code, reason) = b.close.clone().expect("a close frame");
    assert_eq!(
        (u16::from(code), reason.as_str()),
        (1000, r#"{"exit_code":7}"#)
    );
    app.remove(&id).await;
}

#[tokio::test]
async fn a_workspace_has_at_most_its_limit_of_sessions_and_unknown_ones_are_404() {
    let app = Options::default()
        .arg("--terminal-sessions-max", "2")
        .spawn()
        .await;
    let id = app.create_local(json!({ "name": "limits" })).await;
    let one = new_session(&app, &id).await;
    let _two = new_session(&app, &id).await;
    assert_eq!(
        refused(attach_as(&app, &id, "session=new", Some(&app.admin)).await),
        429
    );
    let unknown = "session=0123456789abcdef0123456789abcdef&offset=0";
    assert_eq!(
        refused(attach_as(&app, &id, unknown, Some(&app.admin)).await),
        404
    );
    let ahead = format!("session={}&offset=999999", one.id());
    assert_eq!(
        refused(attach_as(&app, &id, &ahead, Some(&app.admin)).await),
        400
    );
    app.remove(&id).await;
}
