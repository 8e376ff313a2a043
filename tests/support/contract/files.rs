//! The contract's clauses for single-file writes (SPEC §15): content streamed in pieces, tags,
//! and conditions that hold or fail without changing anything, nor reading through a link.

use bytes::Bytes;
use workspace_server::backend::content::Input;
use workspace_server::backend::{Backend, BackendError, FilesRoot, Target};
use workspace_server::files::{Etag, Precondition, RelPath};

use super::{argv, run};

fn p(s: &str) -> RelPath {
    RelPath::parse(s).unwrap()
}

/// A file's bytes and tag, checking the announced size against what came.
async fn read(
    backend: &dyn Backend,
    ws: &Target,
    path: &str,
) -> Result<(Vec<u8>, Etag), BackendError> {
    let file = backend
        .read_file(ws, FilesRoot(None), &p(path), 1 << 20)
        .await?;
    let (size, etag) = (file.size, file.etag.clone());
    let bytes = file.collect().await?;
    assert_eq!(size, bytes.len() as u64, "{path}: announced size");
    Ok((bytes, etag))
}

/// Content arriving in pieces, as a request body does.
fn streamed(pieces: &[&'static [u8]]) -> Input {
    let pieces: Vec<Result<Bytes, BackendError>> =
        pieces.iter().map(|c| Ok(Bytes::from_static(c))).collect();
    Input::Stream(Box::pin(futures_util::stream::iter(pieces)))
}

fn bytes(b: &[u8]) -> Input {
    Input::Bytes(b.to_vec())
}

fn refused(r: Result<(), BackendError>, what: &str) {
    assert!(
        matches!(r, Err(BackendError::PreconditionFailed)),
        "{what}: {r:?}"
    );
}

pub async fn single_writes_are_streamed_and_conditional(backend: &dyn Backend, ws: &Target) {
    let none = &Precondition::None;
    let first = b"\0\x01\xffabc";
    backend
        .write_file(
            ws,
            &p("cond/a/one.bin"),
            6,
            streamed(&[b"\0\x01", b"\xff", b"abc"]),
            none,
        )
        .await
        .expect("a streamed write creates its parents");
    let (content, tag) = read(backend, ws, "cond/a/one.bin").await.unwrap();
    assert_eq!((content.as_slice(), &tag), (&first[..], &Etag::of(first)));

    let cut = backend
        .write_file(ws, &p("cond/a/one.bin"), 100, streamed(&[b"partial"]), none)
        .await;
    assert!(
        matches!(cut, Err(BackendError::Invalid(_))),
        "a cut upload: {cut:?}"
    );
    assert_eq!(read(backend, ws, "cond/a/one.bin").await.unwrap().0, first);

    let wrong = Precondition::OneOf(vec![Etag::of(b"other")]);
    let path = p("cond/a/one.bin");
    refused(
        backend.write_file(ws, &path, 1, bytes(b"x"), &wrong).await,
        "a wrong tag",
    );
    refused(
        backend
            .write_file(ws, &path, 1, bytes(b"x"), &Precondition::Absent)
            .await,
        "If-None-Match on a file",
    );
    assert_eq!(read(backend, ws, "cond/a/one.bin").await.unwrap().0, first);
    let right = Precondition::OneOf(vec![Etag::of(b"other"), tag]);
    backend
        .write_file(ws, &path, 3, bytes(b"new"), &right)
        .await
        .expect("one of the tags matches");
    assert_eq!(read(backend, ws, "cond/a/one.bin").await.unwrap().0, b"new");

    backend
        .write_file(ws, &p("cond/a/two"), 0, bytes(b""), &Precondition::Absent)
        .await
        .expect("If-None-Match: * creates a missing file");
    let missing = p("cond/none/x");
    refused(
        backend
            .write_file(ws, &missing, 1, bytes(b"x"), &Precondition::Exists)
            .await,
        "If-Match: * on a missing file",
    );
    refused(
        backend
            .delete_file(ws, &missing, &Precondition::Exists)
            .await,
        "a conditional delete of a missing file",
    );
    let listed: Vec<String> = backend
        .list_files(ws, FilesRoot(None), Some(&p("cond")), 2)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.path)
        .collect();
    // No parent made for a refused write, and no staging directory or lock left behind.
    assert_eq!(listed, ["cond/a", "cond/a/one.bin", "cond/a/two"]);

    refused(
        backend.delete_file(ws, &path, &wrong).await,
        "a delete with a wrong tag",
    );
    let now = Precondition::OneOf(vec![Etag::of(b"new")]);
    backend
        .delete_file(ws, &path, &now)
        .await
        .expect("a delete with the tag");
    assert!(matches!(
        read(backend, ws, "cond/a/one.bin").await,
        Err(BackendError::NotFound)
    ));
    assert!(matches!(
        backend.delete_file(ws, &path, none).await,
        Err(BackendError::NotFound)
    ));
    backend
        .delete_file(ws, &p("cond"), none)
        .await
        .expect("cleanup");
}

pub async fn conditions_never_read_through_a_link(backend: &dyn Backend, ws: &Target, root: &str) {
    let outside = format!("/tmp/wss-cond-outside-{}", ws.id);
    let plant = format!(
        "set -e; mkdir -p {outside}; echo SECRET > {outside}/victim; \
         mkdir -p {root}/linked 2>/dev/null || sudo -n install -d -o \"$(id -u)\" {root}/linked; \
         cd {root}/linked; ln -sfn {outside}/victim file-link; ln -sfn {outside} out-link"
    );
    let (_, err, code) = run(backend, ws, argv(&["sh", "-c", &plant])).await;
    assert_eq!(code, Some(0), "planting the links: {err}");
    // The victim's own tag would match if a condition read through the link.
    let secret = Precondition::OneOf(vec![Etag::of(b"SECRET\n")]);
    let link = p("linked/file-link");
    refused(
        backend.write_file(ws, &link, 1, bytes(b"x"), &secret).await,
        "a write through a link",
    );
    refused(
        backend.delete_file(ws, &link, &secret).await,
        "a delete through a link",
    );
    let escaped = backend
        .write_file(
            ws,
            &p("linked/out-link/victim"),
            1,
            bytes(b"x"),
            &Precondition::None,
        )
        .await;
    assert!(
        matches!(&escaped, Err(BackendError::Invalid(m)) if m == "path leaves the workspace root"),
        "{escaped:?}"
    );
    backend
        .write_file(
            ws,
            &link,
            4,
            streamed(&[b"mi", b"ne"]),
            &Precondition::Exists,
        )
        .await
        .expect("the link itself is replaced");
    let check = format!(
        "cat {outside}/victim; ls -A {outside}; test -L {root}/linked/file-link && echo LINK; \
         cat {root}/linked/file-link; echo; rm -rf {outside}; \
         rm -rf {root}/linked 2>/dev/null || sudo -n rm -rf {root}/linked"
    );
    let (out, _, _) = run(backend, ws, argv(&["sh", "-c", &check])).await;
    assert_eq!(out, "SECRET\nvictim\nmine\n");
}
