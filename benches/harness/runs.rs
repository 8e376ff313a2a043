//! What keeping a run costs (SPEC §14): the same exec in the same container, driven by the
//! server's own run loop on its own Docker backend, its output taken by the reader straight from
//! the loop (nothing kept) or through the run's log on disk (written, then read back by a
//! follower, as every reader of a run is served); and the whole `POST /exec` for 1 MiB against
//! the Engine API reading the same output.

use std::sync::Arc;
use std::time::Instant;

use bollard::exec::{CreateExecOptions, StartExecResults};
use chrono::Utc;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use workspace_server::backend::docker::{ContainerSettings, DockerBackend};
use workspace_server::backend::{Backend, ExecSpec, Target};
use workspace_server::exec::log::RunLogs;
use workspace_server::exec::{self, Controls, Event};
use workspace_server::workspace::{Status, Workspace, WorkspaceId};

use crate::Bench;
use crate::common::{Stats, env_usize, times_row};

/// 1 MiB of output, the stream cap: all of it is kept.
const MIB_SCRIPT: &str = "head -c 1048576 /dev/zero | tr '\\0' x";

/// The bench's local workspace as its backend receives it.
fn target(b: &Bench) -> Target {
    let now = Utc::now();
    Target::of(Workspace {
        id: WorkspaceId::parse(&b.local).unwrap(),
        name: "bench".into(),
        runtime: "langgraph".into(),
        tier: 3,
        status: Status::Online,
        parent_id: None,
        instance_id: None,
        image: None,
        last_error: None,
        created_at: now,
        updated_at: now,
        host_key: None,
    })
}

/// Milliseconds of one run from its start to the reader's last byte, and the bytes it read:
/// through the log in `logs`, or straight from the loop.
async fn drive(
    backend: &DockerBackend,
    ws: &Target,
    spec: &ExecSpec,
    logs: Option<&Arc<RunLogs>>,
) -> (f64, usize) {
    let started = Instant::now();
    let process = backend.exec(ws, spec).await.unwrap();
    let (events, mut received) = mpsc::channel::<Event>(64);
    let controls = Controls {
        stop: CancellationToken::new(),
        signals: mpsc::channel(1).1,
    };
    let limit = std::time::Duration::from_secs(60);
    let read = match logs {
        None => {
            let reader = async {
                let mut n = 0;
                while let Some(event) = received.recv().await {
                    n += serde_json::to_vec(&event).unwrap().len() + 1;
                }
                n
            };
            let (outcome, n) = tokio::join!(exec::run(process, limit, events, controls), reader);
            n + serde_json::to_vec(&outcome.summary).unwrap().len() + 1
        }
        Some(logs) => {
            let id = Uuid::new_v4();
            let mut writer = logs.create(id).await.unwrap();
            let mut follower = logs.read(id, 0, true, false).await.unwrap();
            let reader = tokio::spawn(async move {
                let mut n = 0;
                while let Some(line) = follower.recv().await {
                    n += line.unwrap().len();
                }
                n
            });
            let log = &mut writer;
            let pump = async move {
                while let Some(event) = received.recv().await {
                    log.append(&serde_json::to_vec(&event).unwrap())
                        .await
                        .unwrap();
                }
            };
            let (outcome, ()) = tokio::join!(exec::run(process, limit, events, controls), pump);
            let last = serde_json::to_vec(&outcome.summary).unwrap();
            writer.finish(&last).await.unwrap();
            let n = reader.await.unwrap();
            logs.remove(id).await;
            n
        }
    };
    (started.elapsed().as_secs_f64() * 1000.0, read)
}

/// The 1 MiB script through the Engine API directly, its output read to the end.
async fn direct_api_mib(b: &Bench) -> f64 {
    let started = Instant::now();
    let options = CreateExecOptions::<String> {
        cmd: Some(vec!["sh".into(), "-c".into(), MIB_SCRIPT.into()]),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    let exec = b.docker.create_exec(&b.container, options).await.unwrap();
    let mut n = 0;
    if let StartExecResults::Attached { mut output, .. } =
        b.docker.start_exec(&exec.id, None).await.unwrap()
    {
        while let Some(chunk) = output.next().await {
            n += chunk.unwrap().into_bytes().len();
        }
    }
    assert_eq!(n, 1 << 20);
    started.elapsed().as_secs_f64() * 1000.0
}

/// Figure: the cost of keeping a run's output.
pub async fn keeping(b: &Bench) {
    let runs = env_usize("WSS_BENCH_EXECS", 30);
    let backend = DockerBackend::new(
        "unix:///var/run/docker.sock",
        ContainerSettings {
            default_image: crate::support::test_image(),
            privileged: false,
            limits: [(512, 1024), (2048, 2048), (4096, 4096)],
        },
    );
    let ws = target(b);
    let dir = tempfile::tempdir().unwrap();
    let logs = RunLogs::new(dir.path().join("exec"));
    let argv = |v: &[&str]| ExecSpec {
        argv: v.iter().map(|s| s.to_string()).collect(),
        ..ExecSpec::default()
    };
    // The output each must carry at least (the lines' framing depends on how it was chunked).
    for (figure, spec, least) in [
        (
            "exec `true`: output kept (log on disk, read back)",
            argv(&["true"]),
            0,
        ),
        (
            "exec of 1 MiB: output kept (log on disk, read back)",
            argv(&["sh", "-c", MIB_SCRIPT]),
            1 << 20,
        ),
    ] {
        let (mut kept, mut not) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let (ms, with_log) = drive(&backend, &ws, &spec, Some(&logs)).await;
            kept.push(ms);
            let (ms, without) = drive(&backend, &ws, &spec, None).await;
            not.push(ms);
            assert!(with_log > least && without > least, "{with_log} {without}");
        }
        let (kept, not) = (Stats::of(kept), Stats::of(not));
        times_row(figure, &kept, "the same run, not kept", &not, "≤ 1.1×");
    }
    let (mut server, mut api) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let started = Instant::now();
        let (_, out) = b.server.exec(&b.local, &["sh", "-c", MIB_SCRIPT]).await;
        assert_eq!(out["stdout_bytes"], 1 << 20, "{out}");
        server.push(started.elapsed().as_secs_f64() * 1000.0);
        api.push(direct_api_mib(b).await);
    }
    let (server, api) = (Stats::of(server), Stats::of(api));
    times_row(
        "exec of 1 MiB, Docker path (kept)",
        &server,
        "Engine API",
        &api,
        "—",
    );
}
