//! Exec latency of `true` on both paths, against the Engine API, `docker exec` and ssh.

use std::time::Instant;

use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;

use crate::common::{Stats, env_usize, row, timed_command, times_row};
use crate::ssh::ControlMaster;
use crate::{Bench, instance};

/// Milliseconds of `true` through the server's exec API.
async fn time_exec(b: &Bench, id: &str) -> f64 {
    let started = Instant::now();
    let (_, out) = b.server.exec(id, &["true"]).await;
    assert_eq!(out["exit_code"], 0, "{out}");
    started.elapsed().as_secs_f64() * 1000.0
}

/// `true` through the Engine API directly: create, start (attached), inspect.
async fn direct_api_exec(b: &Bench) -> f64 {
    let started = Instant::now();
    let options = CreateExecOptions::<String> {
        cmd: Some(vec!["true".into()]),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    let exec = b.docker.create_exec(&b.container, options).await.unwrap();
    if let StartExecResults::Attached { mut output, .. } =
        b.docker.start_exec(&exec.id, None).await.unwrap()
    {
        while output.next().await.is_some() {}
    }
    let inspect = b.docker.inspect_exec(&exec.id).await.unwrap();
    assert_eq!(inspect.exit_code, Some(0));
    started.elapsed().as_secs_f64() * 1000.0
}

/// Figure 3: exec latency on both paths.
pub async fn exec(b: &Bench) {
    let runs = env_usize("WSS_BENCH_EXECS", 30);
    let (mut server, mut api, mut cli) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        server.push(time_exec(b, &b.local).await);
        api.push(direct_api_exec(b).await);
        cli.push(timed_command("docker", &["exec", &b.container, "true"]));
    }
    let (server, api, cli) = (Stats::of(server), Stats::of(api), Stats::of(cli));
    let figure = "exec `true`, Docker path";
    times_row(figure, &server, "Engine API", &api, "≤ 1.2× direct API");
    times_row(figure, &server, "`docker exec`", &cli, "—");

    let (mut pooled, mut fresh, mut master) = (Vec::new(), Vec::new(), Vec::new());
    // The first exec opens the pooled connection; the figure is of the ones that reuse it.
    time_exec(b, &b.remote).await;
    let cm = ControlMaster::open("i-00000000000bee0aa");
    for i in 0..runs {
        pooled.push(time_exec(b, &b.remote).await);
        let unpooled = b.server.eic_workspace(&instance(100 + i as u64)).await;
        fresh.push(time_exec(b, &unpooled).await);
        master.push(cm.exec_true());
    }
    drop(cm);
    let (pooled, fresh, master) = (Stats::of(pooled), Stats::of(fresh), Stats::of(master));
    let figure = "exec `true`, EIC pooled";
    times_row(
        figure,
        &pooled,
        "ssh ControlMaster",
        &master,
        "≤ 1.2× ControlMaster",
    );
    row(
        "exec `true`, EIC pooled vs unpooled",
        pooled.ms(),
        &format!("unpooled {}", fresh.ms()),
        format!("{:.1}× faster", fresh.median / pooled.median),
        "≥ 5× faster",
    );
}
