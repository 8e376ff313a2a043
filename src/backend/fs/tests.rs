//! The file scripts run by this machine's `sh` against hostile trees: links out of the root, to a
//! sibling and to `/etc`, as a directory, a file and a last component; then generated trees of
//! links with every operation, checking that nothing outside the root was read or changed.

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use super::*;

/// Runs the scripts with this machine's `/bin/sh`.
struct LocalShell;

struct LocalScript(tokio::process::Child, tokio::process::ChildStdout);

#[async_trait]
impl Shell for LocalShell {
    async fn start(
        &self,
        script: &str,
        args: &[&str],
        stdin: Input,
    ) -> Result<Box<dyn Script>, BackendError> {
        let mut child = tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        tokio::spawn(crate::backend::content::feed(
            child.stdin.take().unwrap(),
            stdin,
        ));
        let stdout = child.stdout.take().unwrap();
        Ok(Box::new(LocalScript(child, stdout)))
    }
}

#[async_trait]
impl Script for LocalScript {
    async fn next_stdout(&mut self) -> Option<Result<Bytes, BackendError>> {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match self.1.read(&mut buf).await.unwrap() {
            0 => None,
            n => Some(Ok(Bytes::copy_from_slice(&buf[..n]))),
        }
    }

    async fn exit_code(&mut self) -> Result<i32, BackendError> {
        Ok(self.0.wait().await.unwrap().code().unwrap_or(-1))
    }

    async fn kill(&mut self) {
        let _ = self.0.kill().await;
    }
}

/// A whole file read through the streaming read.
async fn read_all(
    sh: &dyn Shell,
    root: &str,
    path: &RelPath,
    max: u64,
) -> Result<Vec<u8>, BackendError> {
    read(sh, root, path, max).await?.collect().await
}

const NONE: &Precondition = &Precondition::None;

/// A root and an outside directory beside it, under one temporary directory.
struct Tree {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

impl Tree {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let root = base.join("root");
        let outside = base.join("outside");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(outside.join("dir")).unwrap();
        std::fs::write(outside.join("victim"), "SECRET").unwrap();
        std::fs::write(outside.join("dir/victim"), "SECRET").unwrap();
        std::fs::write(root.join("sub/own.txt"), "mine").unwrap();
        symlink("/etc", root.join("etc-link")).unwrap();
        symlink("../outside", root.join("out-link")).unwrap();
        symlink(outside.join("victim"), root.join("file-link")).unwrap();
        symlink("sub", root.join("inner-link")).unwrap();
        Self {
            _tmp: tmp,
            root,
            outside,
        }
    }

    fn root(&self) -> &str {
        self.root.to_str().unwrap()
    }
}

/// Every path below `dir` with what it is: a link's target, a file's content, or a directory.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = p.symlink_metadata().unwrap();
            let what = if meta.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else if meta.is_dir() {
                stack.push(p.clone());
                "dir".into()
            } else {
                std::fs::read_to_string(&p).unwrap_or_default()
            };
            out.insert(p, what);
        }
    }
    out
}

fn p(s: &str) -> RelPath {
    RelPath::parse(s).unwrap()
}

fn leaves(r: Result<impl std::fmt::Debug, BackendError>) -> bool {
    matches!(&r, Err(BackendError::Invalid(m)) if m == LEAVES_ROOT_MESSAGE)
}

#[tokio::test]
async fn reads_and_listings_through_links_out_of_the_root_are_refused() {
    let t = Tree::new();
    let sh = LocalShell;
    assert!(leaves(
        read_all(&sh, t.root(), &p("etc-link/passwd"), 1 << 20).await
    ));
    assert!(leaves(
        read_all(&sh, t.root(), &p("out-link/victim"), 99).await
    ));
    assert!(leaves(read_all(&sh, t.root(), &p("file-link"), 99).await));
    assert!(leaves(list(&sh, t.root(), Some(&p("etc-link")), 1).await));
    assert!(leaves(
        list(&sh, t.root(), Some(&p("out-link/dir")), 1).await
    ));
    // A link that stays inside is followed; the root's own links are listed as links.
    assert_eq!(
        read_all(&sh, t.root(), &p("inner-link/own.txt"), 99)
            .await
            .unwrap(),
        b"mine"
    );
    let listed = list(&sh, t.root(), None, 5).await.unwrap();
    let names: Vec<_> = listed.iter().map(|e| (e.path.as_str(), e.dir)).collect();
    assert_eq!(
        names,
        [
            ("etc-link", false),
            ("file-link", false),
            ("inner-link", false),
            ("out-link", false),
            ("sub", true),
            ("sub/own.txt", false)
        ]
    );
}

#[tokio::test]
async fn writes_and_deletes_never_touch_anything_outside_the_root() {
    let t = Tree::new();
    let sh = LocalShell;
    let before = snapshot(&t.outside);
    assert!(leaves(
        write(&sh, t.root(), &[(p("out-link/new"), b"x".to_vec())]).await
    ));
    assert!(leaves(
        write(&sh, t.root(), &[(p("out-link/victim"), b"x".to_vec())]).await
    ));
    assert!(leaves(
        write(&sh, t.root(), &[(p("etc-link/wss-test"), b"x".to_vec())]).await
    ));
    assert!(leaves(
        delete(&sh, t.root(), &p("out-link/victim"), NONE).await
    ));
    assert!(leaves(
        delete(&sh, t.root(), &p("out-link/dir"), NONE).await
    ));
    // A refused bulk replace writes nothing at all, not even its good files.
    let batch = [
        (p("sub/fine.txt"), b"1".to_vec()),
        (p("out-link/dir/victim"), b"2".to_vec()),
    ];
    assert!(leaves(write(&sh, t.root(), &batch).await));
    assert!(!t.root.join("sub/fine.txt").exists());
    // A link as the last component is replaced or removed itself, never its target.
    write(&sh, t.root(), &[(p("file-link"), b"replaced".to_vec())])
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(t.root.join("file-link")).unwrap(),
        "replaced"
    );
    delete(&sh, t.root(), &p("out-link"), NONE).await.unwrap();
    assert!(t.root.join("out-link").symlink_metadata().is_err());
    assert_eq!(snapshot(&t.outside), before);
    assert!(!Path::new("/etc/wss-test").exists());
    // No staging directory or temporary is left in the root.
    let left: Vec<_> = std::fs::read_dir(&t.root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn a_root_that_is_itself_a_link_is_refused() {
    let t = Tree::new();
    let linked = t.root.parent().unwrap().join("root-link");
    symlink(&t.outside, &linked).unwrap();
    let linked = linked.to_str().unwrap();
    assert!(leaves(
        read_all(&LocalShell, linked, &p("victim"), 99).await
    ));
    assert!(leaves(
        delete(&LocalShell, linked, &p("victim"), NONE).await
    ));
}

#[tokio::test]
async fn plugin_delivery_and_removal_refuse_a_planted_plugins_link() {
    let t = Tree::new();
    let sh = LocalShell;
    let staged = tempfile::tempdir().unwrap();
    std::fs::write(staged.path().join("plugin.yaml"), "version: 1\n").unwrap();
    symlink("../outside/dir", t.root.join("plugins")).unwrap();
    let before = snapshot(&t.outside);
    assert!(leaves(
        deliver_plugin(&sh, t.root(), "dir", staged.path()).await
    ));
    assert!(leaves(remove_plugin(&sh, t.root(), "dir").await));
    assert_eq!(snapshot(&t.outside), before);

    std::fs::remove_file(t.root.join("plugins")).unwrap();
    std::fs::create_dir(t.root.join("plugins")).unwrap();
    symlink(&t.outside, t.root.join("plugins/dir")).unwrap();
    assert!(leaves(remove_plugin(&sh, t.root(), "dir").await));
    assert!(leaves(
        deliver_plugin(&sh, t.root(), "dir", staged.path()).await
    ));
    assert_eq!(snapshot(&t.outside), before);

    std::fs::remove_file(t.root.join("plugins/dir")).unwrap();
    deliver_plugin(&sh, t.root(), "p", staged.path())
        .await
        .unwrap();
    let yaml = std::fs::read_to_string(t.root.join("plugins/p/plugin.yaml")).unwrap();
    assert_eq!(yaml, "version: 1\n");
    remove_plugin(&sh, t.root(), "p").await.unwrap();
    assert!(matches!(
        remove_plugin(&sh, t.root(), "p").await,
        Err(BackendError::NotFound)
    ));
}

/// A small deterministic generator, so a failing tree can be rebuilt from its seed.
struct Gen(u64);

impl Gen {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[tokio::test]
async fn generated_trees_of_links_never_let_an_operation_out_of_the_root() {
    const NAMES: &[&str] = &["a", "b", "c", "victim", "dir"];
    let sh = LocalShell;
    let secret = Precondition::OneOf(vec![crate::files::Etag::of(b"SECRET")]);
    for seed in 1..=24u64 {
        let t = Tree::new();
        let mut g = Gen(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let targets = [
            "/etc".to_owned(),
            t.outside.display().to_string(),
            "../outside".into(),
            "../../outside/dir".into(),
            "sub".into(),
            "../sub".into(),
            "..".into(),
            "/".into(),
            t.outside.join("victim").display().to_string(),
        ];
        // Links and directories at random places, up to two levels deep.
        let mut made = vec![String::new()];
        for _ in 0..8 {
            let parent = made[g.next(made.len())].clone();
            let name = NAMES[g.next(NAMES.len())];
            let rel = if parent.is_empty() {
                name.to_owned()
            } else {
                format!("{parent}/{name}")
            };
            let full = t.root.join(&rel);
            if full.symlink_metadata().is_ok() || !full.parent().unwrap().is_dir() {
                continue;
            }
            if g.next(2) == 0 {
                std::fs::create_dir(&full).unwrap();
                made.push(rel);
            } else {
                symlink(&targets[g.next(targets.len())], &full).unwrap();
            }
        }
        let before = snapshot(&t.outside);
        for _ in 0..12 {
            let depth = 1 + g.next(3);
            let path = (0..depth)
                .map(|_| NAMES[g.next(NAMES.len())])
                .collect::<Vec<_>>()
                .join("/");
            let path = p(&path);
            match g.next(6) {
                0 => {
                    if let Ok(bytes) = read_all(&sh, t.root(), &path, 1 << 20).await {
                        assert_ne!(bytes, b"SECRET", "seed {seed}: read {path}");
                        assert!(!String::from_utf8_lossy(&bytes).contains("root:"));
                    }
                }
                1 => {
                    if let Ok(entries) = list(&sh, t.root(), Some(&path), 3).await {
                        for e in &entries {
                            let parent = t.root.join(&e.path).parent().unwrap().canonicalize();
                            assert!(
                                parent.is_ok_and(|d| d.starts_with(&t.root)),
                                "seed {seed}: {path} listed {e:?} from outside"
                            );
                        }
                    }
                }
                2 => {
                    let _ = write(&sh, t.root(), &[(path.clone(), b"w".to_vec())]).await;
                }
                // Nothing inside the root holds "SECRET": a condition on its tag that held would
                // have read the victim through a link.
                3 => {
                    let w = write_one(
                        &sh,
                        t.root(),
                        &path,
                        1,
                        Input::Bytes(b"w".to_vec()),
                        &secret,
                    );
                    assert!(w.await.is_err(), "seed {seed}: write_one {path}");
                }
                4 => {
                    let d = delete(&sh, t.root(), &path, &secret).await;
                    assert!(d.is_err(), "seed {seed}: conditional delete {path}");
                }
                _ => {
                    let _ = delete(&sh, t.root(), &path, NONE).await;
                }
            }
            assert_eq!(snapshot(&t.outside), before, "seed {seed}: after {path}");
        }
    }
}

mod conditional;
