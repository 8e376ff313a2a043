//! Killing an exec'd process tree. The Engine API has no exec-kill, so the server finds the
//! processes itself: every process of the exec's session (runc makes each exec a session leader)
//! plus their descendants, stopped then killed, round after round until none is left.
//! Where the server cannot see the engine's PIDs (it runs in a container of its own), a second
//! exec inside the workspace kills every process that carries the exec's marker variable.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecOptions};
use futures_util::StreamExt;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::backend::marker::SIGNAL_BY_MARKER_SCRIPT;

/// Most kill rounds before giving up on a tree that keeps forking.
const MAX_ROUNDS: usize = 50;
/// Pause between rounds, for killed processes to vanish.
const ROUND_PAUSE: Duration = Duration::from_millis(20);

/// Kills the tree of the exec whose leader is host PID `leader`, if that process is visible here
/// and carries `marker`. Returns false when it is not visible (the caller falls back).
pub async fn kill_host_tree(leader: i64, marker: &str) -> bool {
    let Some(leader) = visible_leader(leader, marker) else {
        return false;
    };
    for _ in 0..MAX_ROUNDS {
        let tree = tree_of(leader).await;
        if tree.is_empty() {
            return true;
        }
        for &pid in &tree {
            let _ = kill(Pid::from_raw(pid), Signal::SIGSTOP);
        }
        for &pid in &tree {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        tokio::time::sleep(ROUND_PAUSE).await;
    }
    tracing::warn!(
        leader,
        "exec process tree still alive after {MAX_ROUNDS} kill rounds"
    );
    true
}

/// Sends `signal` once to every process of the tree of the exec whose leader is host PID `leader`,
/// under the same conditions as `kill_host_tree`.
pub async fn signal_host_tree(leader: i64, marker: &str, signal: Signal) -> bool {
    let Some(leader) = visible_leader(leader, marker) else {
        return false;
    };
    for pid in tree_of(leader).await {
        let _ = kill(Pid::from_raw(pid), signal);
    }
    true
}

/// `leader` as a PID of this host, when it is visible here and carries `marker`.
fn visible_leader(leader: i64, marker: &str) -> Option<i32> {
    let leader = i32::try_from(leader).ok()?;
    (leader > 1 && carries_marker(leader, marker)).then_some(leader)
}

async fn tree_of(leader: i32) -> Vec<i32> {
    tokio::task::spawn_blocking(move || session_tree(leader))
        .await
        .unwrap_or_default()
}

fn carries_marker(pid: i32, marker: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|env| env.split(|&b| b == 0).any(|v| v == marker.as_bytes()))
        .unwrap_or(false)
}

/// Live (non-zombie) processes in `leader`'s session, plus all their descendants.
fn session_tree(leader: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    let mut tree = HashSet::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Some((state, ppid, sid)) = stat_fields(pid) else {
            continue;
        };
        if state == 'Z' {
            continue;
        }
        children.entry(ppid).or_default().push(pid);
        if sid == leader || pid == leader {
            tree.insert(pid);
        }
    }
    let mut stack: Vec<i32> = tree.iter().copied().collect();
    while let Some(pid) = stack.pop() {
        for &child in children.get(&pid).into_iter().flatten() {
            if tree.insert(child) {
                stack.push(child);
            }
        }
    }
    tree.into_iter().collect()
}

/// State, parent PID and session id from `/proc/<pid>/stat`.
fn stat_fields(pid: i32) -> Option<(char, i32, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// Parses the fields after the command name, which may itself hold spaces and parentheses.
fn parse_stat(stat: &str) -> Option<(char, i32, i32)> {
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let _pgrp = fields.next()?;
    let sid = fields.next()?.parse().ok()?;
    Some((state, ppid, sid))
}

/// The fallback: an exec inside the container that sends signal number `signal` to every process
/// whose environment holds `marker` (a kill, 9, in two passes).
pub async fn signal_in_container(docker: &Docker, container: &str, marker: &str, signal: i32) {
    let signal = signal.to_string();
    let options = CreateExecOptions {
        cmd: Some(vec![
            "/bin/sh",
            "-c",
            SIGNAL_BY_MARKER_SCRIPT,
            "kill-exec",
            marker,
            &signal,
        ]),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    let run = async {
        let exec = docker.create_exec(container, options).await?;
        if let bollard::exec::StartExecResults::Attached { mut output, .. } = docker
            .start_exec(&exec.id, Some(StartExecOptions::default()))
            .await?
        {
            while output.next().await.is_some() {}
        }
        Ok::<_, bollard::errors::Error>(())
    };
    if let Err(e) = run.await {
        tracing::warn!(error = %e, "in-container kill of an exec failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_parsing_survives_odd_command_names() {
        let stat = "4242 (we ird) (x)) S 17 4242 4240 0 -1 4194560 97 0";
        assert_eq!(parse_stat(stat), Some(('S', 17, 4240)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[tokio::test]
    async fn a_process_without_the_marker_is_never_touched() {
        // This test process does not carry the marker, so nothing happens to it.
        let me = std::process::id() as i64;
        assert!(!kill_host_tree(me, &crate::backend::marker::new_marker()).await);
        assert!(!kill_host_tree(1, &crate::backend::marker::new_marker()).await);
    }
}
