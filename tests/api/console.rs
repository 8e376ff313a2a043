//! The web console (SPEC §13) in Debian's headless Chromium against the real server and Docker:
//! `tests/browser/console.mjs` drives the page through a relay it cuts; this test checks what it
//! saw and what reached the container. The screenshot is left in `target/test-artifacts/`.

use serde_json::json;

use crate::helpers::{TestApp, browser_script};

#[tokio::test]
async fn the_console_opens_a_terminal_that_resumes_after_a_dropped_connection() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "console-test" })).await;
    let artifacts = concat!(env!("CARGO_MANIFEST_DIR"), "/target/test-artifacts");
    std::fs::create_dir_all(artifacts).unwrap();
    let screenshot = format!("{artifacts}/console.png");
    let _ = std::fs::remove_file(&screenshot);

    let addr = app.addr.to_string();
    let args = [addr.as_str(), &id, "console-test", &app.admin, &screenshot];
    let seen = browser_script("console.mjs", &args).await;
    assert_eq!(seen["problems"], json!([]), "{seen}");
    assert_eq!(seen["csp"], workspace_server::http::CONSOLE_CSP, "{seen}");
    // The token left the address bar at once, stayed in the tab, and was never in a URL.
    assert!(
        !seen["addressBar"].as_str().unwrap().contains('#'),
        "{seen}"
    );
    assert_eq!(seen["stored"], app.admin.as_str());
    assert_eq!(seen["tokenInUrls"], json!([]), "{seen}");
    // The drop was seen and said, and the page came back with the earlier output.
    assert!(seen["cut"].as_u64().unwrap() >= 1, "{seen}");
    let statuses = seen["statuses"].as_array().unwrap();
    assert!(
        statuses
            .iter()
            .any(|s| s.as_str().unwrap().contains("reconnecting")),
        "{seen}"
    );
    assert_eq!(seen["earlierKept"], true, "{seen}");

    // Typing reached the shell.
    assert_eq!(app.sh(&id, "cat /tmp/console-made").await, "made\n");
    // A live query is answered into the shell ...
    let live = app.sh(&id, "cat /tmp/live").await;
    assert!(live.contains("?   1   ;   2   c"), "{live:?}");
    // ... but one replayed on resume is not: the shell read nothing.
    assert_eq!(app.sh(&id, "cat /tmp/replayed").await.trim(), "");
    assert!(std::path::Path::new(&screenshot).exists());
    app.remove(&id).await;
}
