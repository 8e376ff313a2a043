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
