//! Resumable sessions on the EIC path (real `ssh`, real sshd): the exact resume, and a detached
//! shell that outlives its socket for the grace and not past it, leaving no process behind on the
//! instance or on the server.

use std::time::Duration;

use crate::eic::{eic_workspace, instance, processes_with};
use crate::helpers::Options;
use crate::session_client::{attach_as, refused};
use crate::sessions::{cut, new_session, resumes_exactly};

#[tokio::test]
async fn an_eic_session_resumes_exactly_too() {
    let app = Options::default().eic().spawn().await;
    let id = eic_workspace(&app, &instance()).await;
    resumes_exactly(&app, &id).await;
}

#[tokio::test]
async fn a_detached_eic_shell_lives_through_its_grace_and_leaves_nothing_after_it() {
    let app = Options::default()
        .eic()
        .arg("--terminal-detach-grace", "5s")
        .spawn()
        .await;
    let i = instance();
    let id = eic_workspace(&app, &i).await;
    let mut a = new_session(&app, &id).await;
    a.send("sleep 3573\r").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let sid = a.id();
    cut(a);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !processes_with("sleep 3573").is_empty(),
        "gone before the grace ran out"
    );
    assert!(
        !processes_with(&i).is_empty(),
        "the session's ssh went with its socket"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        processes_with("sleep 3573"),
        Vec::<String>::new(),
        "the shell outlived its grace"
    );
    assert_eq!(
        processes_with(&i),
        Vec::<String>::new(),
        "an ssh or tunnel was left"
    );
    let resume = attach_as(
        &app,
        &id,
        &format!("session={sid}&offset=0"),
        Some(&app.admin),
    )
    .await;
    assert_eq!(refused(resume), 404);
}
