//! Conditional writes against this machine's `sh`: writers racing on one tag.

use super::*;

#[tokio::test]
async fn of_writers_with_the_same_tag_exactly_one_wins() {
    let t = Tree::new();
    let path = p("sub/own.txt");
    for round in 0..8 {
        let tag = read(&LocalShell, t.root(), &path, 99).await.unwrap().etag;
        let cond = Precondition::OneOf(vec![tag]);
        let mine = |n: usize| format!("writer {n} of round {round}").into_bytes();
        let write = |n: usize| {
            let content = mine(n);
            write_one(
                &LocalShell,
                t.root(),
                &path,
                content.len() as u64,
                Input::Bytes(content),
                &cond,
            )
        };
        let (a, b) = tokio::join!(write(1), write(2));
        let won: Vec<usize> = [(1, &a), (2, &b)]
            .into_iter()
            .filter_map(|(n, r)| r.is_ok().then_some(n))
            .collect();
        assert_eq!(won.len(), 1, "round {round}: {a:?} {b:?}");
        let lost = if won[0] == 1 { &b } else { &a };
        assert!(
            matches!(lost, Err(BackendError::PreconditionFailed)),
            "{lost:?}"
        );
        let now = read_all(&LocalShell, t.root(), &path, 99).await.unwrap();
        assert_eq!(now, mine(won[0]));
    }
    let left: Vec<_> = std::fs::read_dir(t.root.join("sub"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left, ["own.txt"], "no stage or lock left");
}

/// A script that sends fixed pieces, then exits 0.
struct Pieces(Vec<&'static [u8]>);

#[async_trait]
impl Script for Pieces {
    async fn next_stdout(&mut self) -> Option<Result<Bytes, BackendError>> {
        (!self.0.is_empty()).then(|| Ok(Bytes::from_static(self.0.remove(0))))
    }
    async fn exit_code(&mut self) -> Result<i32, BackendError> {
        Ok(0)
    }
    async fn kill(&mut self) {
        self.0.clear();
    }
}

#[tokio::test]
async fn a_read_sends_what_it_announced_no_more_and_a_short_one_fails() {
    use futures_util::StreamExt;
    let collect = |script: Pieces, first: &'static [u8], size: u64| async move {
        let mut body = body_of(Box::new(script), Bytes::from_static(first), size);
        let mut out = Vec::new();
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(bytes) => out.extend_from_slice(&bytes),
                Err(_) => return Err(out),
            }
        }
        Ok(out)
    };
    // A file that grew while it was read: cut at the size announced.
    let grown = collect(Pieces(vec![b"def", b"ghi"]), b"abc", 5).await;
    assert_eq!(grown, Ok(b"abcde".to_vec()));
    // One that shrank: what came, then an error (the connection is cut, never a short 200).
    let shrunk = collect(Pieces(vec![b"de"]), b"abc", 9).await;
    assert_eq!(shrunk, Err(b"abcde".to_vec()));
    assert_eq!(collect(Pieces(vec![]), b"", 0).await, Ok(vec![]));
}
