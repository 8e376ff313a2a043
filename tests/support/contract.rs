//! The backend contract: what every path to a workspace must do, run against a live workspace.
//! The Docker and EIC backends both pass this same function.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use workspace_server::backend::{
    Backend, BackendError, ExecSpec, FilesRoot, StdStream, Target, TermSize,
};
use workspace_server::files::{Precondition, RelPath};

mod files;

/// No condition on a change.
const NONE: &Precondition = &Precondition::None;

/// Runs every clause of the contract against `ws` on `backend`, whose files live under `root`.
pub async fn backend_contract(backend: &dyn Backend, ws: &Target, root: &str) {
    backend.ping().await.expect("ping");
    exec_round_trips_argv_stdin_env_and_cwd(backend, ws).await;
    exec_kill_ends_the_whole_tree(backend, ws).await;
    exec_kill_reaches_what_left_the_session_and_the_environment(backend, ws).await;
    files_write_read_list_delete(backend, ws).await;
    files_never_follow_a_link_out_of_the_root(backend, ws, root).await;
    files::single_writes_are_streamed_and_conditional(backend, ws).await;
    files::conditions_never_read_through_a_link(backend, ws, root).await;
    terminal_sizes_resizes_and_exits(backend, ws).await;
}

/// Runs `spec` to the end: (stdout, stderr, exit code).
pub async fn run(
    backend: &dyn Backend,
    ws: &Target,
    spec: ExecSpec,
) -> (String, String, Option<i64>) {
    let mut process = backend.exec(ws, &spec).await.expect("exec starts");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some(chunk) = process.next_output().await {
        let (stream, bytes) = chunk.expect("output");
        match stream {
            StdStream::Stdout => out.extend_from_slice(&bytes),
            StdStream::Stderr => err.extend_from_slice(&bytes),
        }
    }
    let code = process.exit_code().await.expect("exit code");
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
        code,
    )
}

fn argv(parts: &[&str]) -> ExecSpec {
    ExecSpec {
        argv: parts.iter().map(|s| s.to_string()).collect(),
        ..ExecSpec::default()
    }
}

async fn exec_round_trips_argv_stdin_env_and_cwd(backend: &dyn Backend, ws: &Target) {
    let hostile = "a'b\"c $(touch /tmp/contract-p); rm x\n\\ `id` *";
    let (out, _, code) = run(backend, ws, argv(&["printf", "%s|", hostile, "", "two"])).await;
    assert_eq!(
        (out.as_str(), code),
        (format!("{hostile}||two|").as_str(), Some(0))
    );
    let (out, _, _) = run(
        backend,
        ws,
        argv(&[
            "sh",
            "-c",
            "test -e /tmp/contract-p && echo made || echo absent",
        ]),
    )
    .await;
    assert_eq!(out, "absent\n", "an argv element was interpreted");

    let (out, err, code) = run(
        backend,
        ws,
        argv(&["sh", "-c", "echo o; echo e >&2; exit 9"]),
    )
    .await;
    assert_eq!((out.as_str(), err.as_str(), code), ("o\n", "e\n", Some(9)));

    let spec = ExecSpec {
        argv: vec![
            "sh".into(),
            "-c".into(),
            "cat; echo \"$CONTRACT_VAR\"; pwd".into(),
        ],
        env: vec![("CONTRACT_VAR".into(), "v a l".into())],
        cwd: Some("/tmp".into()),
        stdin: Some(b"in\n".to_vec()),
    };
    let (out, _, code) = run(backend, ws, spec).await;
    assert_eq!((out.as_str(), code), ("in\nv a l\n/tmp\n", Some(0)));
}

async fn exec_kill_ends_the_whole_tree(backend: &dyn Backend, ws: &Target) {
    let mut process = backend
        .exec(
            ws,
            &argv(&["sh", "-c", "sleep 2468 & sleep 2469; echo never"]),
        )
        .await
        .expect("exec starts");
    tokio::time::sleep(Duration::from_millis(300)).await;
    process.kill().await;
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let (ps, _, _) = run(backend, ws, argv(&["ps", "-eo", "args"])).await;
        if !ps.contains("sleep 2468") && !ps.contains("sleep 2469") {
            break;
        }
        assert!(Instant::now() < deadline, "left running after kill:\n{ps}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A child that starts a new session, one that clears its environment (and with it the exec's
/// marker), and one that does both and is re-parented: the kill reaches them all.
async fn exec_kill_reaches_what_left_the_session_and_the_environment(
    backend: &dyn Backend,
    ws: &Target,
) {
    let script = "setsid sleep 2471 & env -i sh -c 'sleep 2472 & wait' & \
                  setsid env -i sh -c 'sleep 2473 &' & sleep 2474";
    let mut process = backend
        .exec(ws, &argv(&["sh", "-c", script]))
        .await
        .expect("exec starts");
    tokio::time::sleep(Duration::from_millis(500)).await;
    process.kill().await;
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let (ps, _, _) = run(backend, ws, argv(&["ps", "-eo", "args"])).await;
        let left: Vec<&str> = ps.lines().filter(|l| l.contains("sleep 247")).collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "escaped the kill: {left:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn files_write_read_list_delete(backend: &dyn Backend, ws: &Target) {
    let p = |s: &str| RelPath::parse(s).unwrap();
    let root = FilesRoot(None);
    backend
        .write_files(
            ws,
            &[
                (p("contract/d/one.txt"), b"1".to_vec()),
                (p("contract/two;x"), b"22".to_vec()),
            ],
        )
        .await
        .expect("write");
    assert_eq!(
        backend
            .read_file(ws, root, &p("contract/d/one.txt"), 10)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap(),
        b"1"
    );
    assert_eq!(
        backend
            .read_file(ws, root, &p("contract/two;x"), 10)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap(),
        b"22"
    );
    assert!(matches!(
        backend
            .read_file(ws, root, &p("contract/two;x"), 1)
            .await
            .map(drop),
        Err(BackendError::TooLarge(2))
    ));
    let mut listed: Vec<_> = backend
        .list_files(ws, root, Some(&p("contract")), 2)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.path, e.size, e.dir))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            ("contract/d".into(), 0, true),
            ("contract/d/one.txt".into(), 1, false),
            ("contract/two;x".into(), 2, false),
        ]
    );
    backend
        .delete_file(ws, &p("contract"), NONE)
        .await
        .expect("delete");
    assert!(matches!(
        backend
            .read_file(ws, root, &p("contract/d/one.txt"), 10)
            .await
            .map(drop),
        Err(BackendError::NotFound)
    ));
    assert!(matches!(
        backend.delete_file(ws, &p("contract"), NONE).await,
        Err(BackendError::NotFound)
    ));
}

/// The workspace plants links out of its root (to `/etc`, to a sibling directory, to a file
/// there): every operation through them is refused or acts on the link itself.
async fn files_never_follow_a_link_out_of_the_root(backend: &dyn Backend, ws: &Target, root: &str) {
    let outside = format!("/tmp/wss-outside-{}", ws.id);
    let plant = format!(
        "set -e; mkdir -p {outside}/dir; echo SECRET > {outside}/victim; \
         mkdir -p {root}/hostile 2>/dev/null || sudo -n install -d -o \"$(id -u)\" {root}/hostile; \
         echo SECRET > {outside}/dir/victim; cd {root}/hostile; ln -sfn /etc etc-link; \
         ln -sfn {outside} out-link; ln -sfn {outside}/victim file-link"
    );
    let (_, err, code) = run(backend, ws, argv(&["sh", "-c", &plant])).await;
    assert_eq!(code, Some(0), "planting the links: {err}");
    let p = |s: &str| RelPath::parse(&format!("hostile/{s}")).unwrap();
    let root_of = FilesRoot(None);
    let leaves = |r: Result<(), BackendError>, what: &str| match r {
        Err(BackendError::Invalid(m)) if m == "path leaves the workspace root" => {}
        other => panic!("{what}: {other:?}"),
    };
    let read = async |s: &str| {
        backend
            .read_file(ws, root_of, &p(s), 1 << 20)
            .await
            .map(drop)
    };
    leaves(read("etc-link/passwd").await, "read etc-link/passwd");
    leaves(read("out-link/victim").await, "read out-link/victim");
    leaves(read("file-link").await, "read file-link");
    leaves(
        backend
            .list_files(ws, root_of, Some(&p("etc-link")), 1)
            .await
            .map(drop),
        "list etc-link",
    );
    leaves(
        backend
            .list_files(ws, root_of, Some(&p("out-link")), 1)
            .await
            .map(drop),
        "list out-link",
    );
    for target in [
        "out-link/new",
        "out-link/victim",
        "out-link/dir/x",
        "etc-link/wss-x",
    ] {
        let wrote = backend.write_files(ws, &[(p(target), b"x".to_vec())]).await;
        leaves(wrote, &format!("write {target}"));
    }
    let bulk = [
        (p("fine.txt"), b"1".to_vec()),
        (p("out-link/dir/victim"), b"2".to_vec()),
    ];
    leaves(backend.write_files(ws, &bulk).await, "bulk replace");
    leaves(
        backend.delete_file(ws, &p("out-link/victim"), NONE).await,
        "delete out-link/victim",
    );
    leaves(
        backend.delete_file(ws, &p("out-link/dir"), NONE).await,
        "delete out-link/dir",
    );
    // The last component as a link: replaced, or removed, itself.
    backend
        .write_files(ws, &[(p("file-link"), b"mine".to_vec())])
        .await
        .expect("a write over a link replaces the link");
    backend
        .delete_file(ws, &p("out-link"), NONE)
        .await
        .expect("the link itself is removed");
    let check = format!(
        "cat {outside}/victim {outside}/dir/victim; ls -A {outside}; ls -A {outside}/dir; \
         test -e /etc/wss-x && echo ESCAPED; test -e {root}/hostile/fine.txt && echo HALF; \
         cat {root}/hostile/file-link; test -L {root}/hostile/out-link && echo LINK; \
         rm -rf {outside}; rm -rf {root}/hostile 2>/dev/null || sudo -n rm -rf {root}/hostile"
    );
    let (out, _, _) = run(backend, ws, argv(&["sh", "-c", &check])).await;
    assert_eq!(out, "SECRET\nSECRET\ndir\nvictim\nvictim\nmine");
}

async fn terminal_sizes_resizes_and_exits(backend: &dyn Backend, ws: &Target) {
    let mut session = backend
        .open_terminal(ws, TermSize { cols: 90, rows: 25 })
        .await
        .expect("terminal opens");
    let mut seen = String::new();
    let mut expect = async |session: &mut workspace_server::backend::TerminalSession,
                            needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !seen.contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, session.output.next()).await {
                Ok(Some(Ok(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
                other => panic!("no {needle:?} in {seen:?}: {other:?}"),
            }
        }
    };
    session.input.write_all(b"stty size\r").await.unwrap();
    expect(&mut session, "25 90").await;
    session
        .input
        .write_all(b"echo \"term=$TERM.\"\r")
        .await
        .unwrap();
    expect(&mut session, "term=xterm-256color.").await;
    session
        .control
        .resize(TermSize {
            cols: 100,
            rows: 33,
        })
        .await
        .unwrap();
    session.input.write_all(b"stty size\r").await.unwrap();
    expect(&mut session, "33 100").await;
    session.input.write_all(b"exit 5\r").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, session.output.next()).await {
            Ok(None) => break,
            Ok(Some(_)) => continue,
            Err(_) => panic!("the shell did not end"),
        }
    }
    assert_eq!(session.control.exit_code().await.unwrap(), Some(5));
}
