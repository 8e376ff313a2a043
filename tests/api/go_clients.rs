//! What the Go server's clients and operators send is accepted (SPEC §11): settings as they are
//! written in its `.env` files.

use crate::support::server::{Server, TOKEN};

#[tokio::test]
async fn settings_as_the_go_server_s_env_files_write_them_start_the_server() {
    let data = tempfile::tempdir().unwrap();
    let env = [
        // Empty means unset: self-hosted mode, unpinned sources refused, the default timeout.
        ("MOLECULE_ORG_ID", String::new()),
        ("PLUGIN_ALLOW_UNPINNED", String::new()),
        ("CP_PROVISION_URL", String::new()),
        ("WORKSPACE_EC2_RESTART_COMMAND", String::new()),
        ("PLUGIN_INSTALL_FETCH_TIMEOUT", "1m30s".into()),
        ("WORKSPACE_PRIVILEGED", "FALSE".into()),
        ("MOLECULE_ENV", "Development".into()),
    ];
    let server = Server::start(data.path(), &[], &env).await;
    let res = server
        .client
        .get(server.url("/workspaces"))
        .bearer_auth(TOKEN)
        .header("Origin", "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", server.log_text());
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://localhost:3000",
        "development allows the Go canvas origins"
    );
    let other = server
        .client
        .get(server.url("/workspaces"))
        .bearer_auth(TOKEN)
        .header("Origin", "http://localhost:4000")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_malformed_setting_stops_start_up_with_its_name() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_workspace-server"))
        .env("PLUGIN_ALLOW_UNPINNED", "maybe")
        .env("ADMIN_TOKEN", "x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("plugin-allow-unpinned") && stderr.contains("not a boolean"),
        "{stderr}"
    );
}
