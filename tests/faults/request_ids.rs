//! Request ids: every answer carries one, and what the server logs of a request carries the same.

use crate::support::server::{Server, TOKEN};

#[tokio::test]
async fn a_failed_requests_log_line_carries_the_request_id_it_was_answered_with() {
    let data = tempfile::tempdir().unwrap();
    let args = ["--docker-host=unix:///nonexistent/docker.sock".to_owned()];
    let server = Server::start(data.path(), &args, &[]).await;
    let create = |id: Option<&str>| {
        let mut req = server
            .client
            .post(server.url("/workspaces"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({ "name": "no-engine" }));
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        req.send()
    };
    let answered = create(None).await.unwrap();
    assert_eq!(answered.status(), 503);
    let id = answered.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);
    // A client's own id is kept, so a caller can follow its request through the log.
    let own = create(Some("caller-chosen-7")).await.unwrap();
    assert_eq!(own.headers()["x-request-id"], "caller-chosen-7");
    let second = server.call("GET", "/health", None).await;
    assert_eq!(second.0, 200);

    let log = server.log_text();
    for id in [id.as_str(), "caller-chosen-7"] {
        let line = log
            .lines()
            .find(|l| l.contains("request failed") && l.contains(id))
            .unwrap_or_else(|| panic!("no failure logged under {id}: {log}"));
        assert!(line.contains("path=/workspaces"), "{line}");
    }
}
