//! `workspace-server exec`: the command's output streamed to this process's stdout and stderr,
//! and its exit code as this process's (124 when it timed out, as `timeout(1)` exits).

use std::io::Write;

use anyhow::Context;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

use super::Client;

/// What `exec` exits with when the command ran out of time.
pub const TIMED_OUT: u8 = 124;

pub async fn run(
    client: &Client,
    workspace: &str,
    timeout: Option<f64>,
    env: Vec<(String, String)>,
    cwd: Option<String>,
    argv: Vec<String>,
) -> anyhow::Result<u8> {
    let id = client.workspace_id(workspace).await?;
    let env: serde_json::Map<String, Value> = env
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let mut body = json!({ "argv": argv, "env": env });
    if let Some(t) = timeout {
        body["timeout_s"] = json!(t);
    }
    if let Some(cwd) = cwd {
        body["cwd"] = json!(cwd);
    }
    let req = client
        .request(Method::POST, &format!("/workspaces/{id}/exec"))
        .header("Accept", "application/x-ndjson")
        .json(&body);
    let mut stream = client.send(req).await?.bytes_stream();
    let mut pending = Vec::new();
    while let Some(chunk) = stream.next().await {
        pending.extend_from_slice(&chunk.context("the output stream broke")?);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let event: Value = serde_json::from_slice(&line).context("a malformed output line")?;
            if let Some(code) = finished(&event) {
                return Ok(code);
            }
            write_out(&event)?;
        }
    }
    anyhow::bail!("the server ended the stream before the command's end")
}

/// The exit code when `event` is the final record.
fn finished(event: &Value) -> Option<u8> {
    event.get("timed_out")?;
    if event["timed_out"] == true {
        return Some(TIMED_OUT);
    }
    // Killed by a signal: the shell's convention would need the signal, which is not sent.
    Some(
        event["exit_code"]
            .as_i64()
            .map_or(1, |c| c.clamp(0, 255) as u8),
    )
}

fn write_out(event: &Value) -> anyhow::Result<()> {
    let data = event["data"].as_str().unwrap_or_default();
    match event["stream"].as_str() {
        Some("stderr") => {
            let mut err = std::io::stderr().lock();
            err.write_all(data.as_bytes())?;
            err.flush()?;
        }
        _ => {
            let mut out = std::io::stdout().lock();
            out.write_all(data.as_bytes())?;
            out.flush()?;
        }
    }
    if event["truncated"] == true {
        eprintln!(
            "workspace-server: the command's {} was cut at 1 MiB",
            event["stream"]
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_final_record_gives_the_exit_code_and_a_timeout_is_124() {
        assert_eq!(finished(&json!({"stream":"stdout","data":"x"})), None);
        assert_eq!(finished(&json!({"exit_code":3,"timed_out":false})), Some(3));
        assert_eq!(
            finished(&json!({"exit_code":null,"timed_out":true})),
            Some(124)
        );
        assert_eq!(
            finished(&json!({"exit_code":null,"timed_out":false})),
            Some(1)
        );
    }
}
