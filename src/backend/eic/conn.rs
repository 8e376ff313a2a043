//! One authenticated connection to an instance: an ephemeral key pushed with EIC, an `ssh`
//! master riding the stdio tunnel, and its control socket for every later command.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rand::rngs::OsRng;
use ssh_key::{Algorithm, LineEnding, PrivateKey};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

use super::args::{self, ConnFiles, HostKeyPolicy, Target};
use super::{EicConfig, EicError};
use crate::metrics::{EicEvent, Metrics, OpenConnection};

/// How long the key push may take.
const PUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the master may take to authenticate through the tunnel.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(45);

/// A live master connection. Dropping it kills the master (and with it the tunnel) and removes
/// its private directory.
pub struct Conn {
    pub instance_id: String,
    dir: tempfile::TempDir,
    master: Master,
    ssh: PathBuf,
    os_user: String,
    aws: String,
    region: String,
    /// Counted in `eic_connections_open` while it lives.
    _open: OpenConnection,
}

impl Conn {
    /// Pushes a fresh key, starts the master and waits until it is authenticated; `metrics`
    /// time it and count the outcome. Returns the connection and, on a first connection, the
    /// host key it recorded.
    pub async fn open(
        cfg: &EicConfig,
        instance_id: &str,
        pinned: Option<&str>,
        metrics: &Metrics,
    ) -> Result<(Conn, Option<String>), EicError> {
        let started = std::time::Instant::now();
        let opened = Self::connect(cfg, instance_id, pinned, metrics).await;
        metrics.eic_connect(started.elapsed());
        metrics.eic_session(match opened {
            Ok(_) => EicEvent::Opened,
            Err(_) => EicEvent::Failed,
        });
        opened
    }

    async fn connect(
        cfg: &EicConfig,
        instance_id: &str,
        pinned: Option<&str>,
        metrics: &Metrics,
    ) -> Result<(Conn, Option<String>), EicError> {
        let dir = tempfile::Builder::new()
            .prefix("wss-eic-")
            .tempdir()
            .map_err(|e| EicError::Local(format!("creating the key directory: {e}")))?;
        let files = Files::new(dir.path());
        let key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519)
            .map_err(|e| EicError::Local(format!("generating a key: {e}")))?;
        key.write_openssh_file(&files.identity, LineEnding::LF)
            .map_err(|e| EicError::Local(format!("writing the key: {e}")))?;
        let public = key
            .public_key()
            .to_openssh()
            .map_err(|e| EicError::Local(format!("encoding the key: {e}")))?;
        let policy = match pinned {
            Some(host_key) => {
                let line = format!("{instance_id} {host_key}\n");
                std::fs::write(&files.known_hosts, line)
                    .map_err(|e| EicError::Local(format!("writing known hosts: {e}")))?;
                HostKeyPolicy::Pinned
            }
            None => HostKeyPolicy::Record,
        };
        let target = Target {
            aws: &cfg.aws,
            region: &cfg.region,
            instance_id,
            os_user: &cfg.os_user,
        };
        push_key(&target, &public).await?;
        let master = start_master(&cfg.ssh, &target, &files.conn_files(), policy).await?;
        // Authenticated: the key is not needed again (the pushed copy expires within 60 s).
        let _ = std::fs::remove_file(&files.identity);
        let recorded = match policy {
            HostKeyPolicy::Record => read_host_key(&files.known_hosts, instance_id),
            HostKeyPolicy::Pinned => None,
        };
        let conn = Conn {
            instance_id: instance_id.to_owned(),
            dir,
            master,
            ssh: PathBuf::from(&cfg.ssh),
            os_user: cfg.os_user.clone(),
            aws: cfg.aws.clone(),
            region: cfg.region.clone(),
            _open: metrics.eic_connection(),
        };
        Ok((conn, recorded))
    }

    /// False once the master (or its tunnel) has gone away.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.master.child().try_wait(), Ok(None))
    }

    /// The program and arguments of an `ssh` client on the control socket: a remote command,
    /// or a PTY login shell with `None`.
    pub fn client_argv(&self, remote: Option<&str>) -> (PathBuf, Vec<String>) {
        let files = Files::new(self.dir.path());
        let target = Target {
            aws: &self.aws,
            region: &self.region,
            instance_id: &self.instance_id,
            os_user: &self.os_user,
        };
        (
            self.ssh.clone(),
            args::client_args(&target, &files.conn_files(), remote),
        )
    }

    /// A client command for `remote`, ready to spawn.
    pub fn client(&self, remote: &str) -> Command {
        let (program, args) = self.client_argv(Some(remote));
        let mut cmd = Command::new(program);
        cmd.args(args).kill_on_drop(true);
        cmd
    }
}

/// How long a master gets to close its tunnel after SIGTERM before it is killed.
const MASTER_STOP_GRACE: Duration = Duration::from_secs(2);

/// An `ssh` master process. Dropped at any point (the connection closed, or its build cancelled or
/// failed half-way), it gets SIGTERM first, so that it hangs up its `ProxyCommand` and the tunnel
/// ends with it, then SIGKILL after `MASTER_STOP_GRACE`.
struct Master(Option<Child>);

impl Master {
    fn child(&mut self) -> &mut Child {
        self.0
            .as_mut()
            .expect("a master holds its child until dropped")
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        let Some(mut master) = self.0.take() else {
            return;
        };
        if let Some(pid) = master.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    if tokio::time::timeout(MASTER_STOP_GRACE, master.wait())
                        .await
                        .is_err()
                    {
                        let _ = master.kill().await;
                    }
                });
            }
            Err(_) => {
                let _ = master.start_kill();
            }
        }
    }
}

struct Files {
    identity: PathBuf,
    known_hosts: PathBuf,
    control: PathBuf,
}

impl Files {
    fn new(dir: &Path) -> Self {
        Self {
            identity: dir.join("id_ed25519"),
            known_hosts: dir.join("known_hosts"),
            control: dir.join("ctl"),
        }
    }

    fn conn_files(&self) -> ConnFiles<'_> {
        ConnFiles {
            identity: &self.identity,
            known_hosts: &self.known_hosts,
            control: &self.control,
        }
    }
}

async fn push_key(target: &Target<'_>, public: &str) -> Result<(), EicError> {
    let mut cmd = Command::new(target.aws);
    cmd.args(args::send_key_args(target, public))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().map_err(|e| EicError::spawn("aws", e))?;
    let out = tokio::time::timeout(PUSH_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| EicError::PushFailed("timed out".into()))?
        .map_err(|e| EicError::Local(format!("waiting for aws: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    Err(
        if stderr.contains("AccessDenied") || stderr.contains("UnauthorizedOperation") {
            EicError::Denied(stderr)
        } else {
            EicError::PushFailed(stderr)
        },
    )
}

async fn start_master(
    ssh: &str,
    target: &Target<'_>,
    files: &ConnFiles<'_>,
    policy: HostKeyPolicy,
) -> Result<Master, EicError> {
    let mut master = Master(Some(
        Command::new(ssh)
            .args(args::master_args(target, files, policy))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| EicError::spawn("ssh", e))?,
    ));
    let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
    loop {
        if let Some(status) = master
            .child()
            .try_wait()
            .map_err(|e| EicError::Local(e.to_string()))?
        {
            let mut stderr = String::new();
            if let Some(mut pipe) = master.child().stderr.take() {
                let _ = pipe.read_to_string(&mut stderr).await;
            }
            return Err(classify_ssh_failure(&stderr, status.code()));
        }
        if files.control.exists() && check(ssh, files).await {
            // The master's stderr is not read again; keep it from filling up and blocking.
            if let Some(pipe) = master.child().stderr.take() {
                tokio::spawn(drain(pipe));
            }
            return Ok(master);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(EicError::TunnelTimeout);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn drain(mut pipe: tokio::process::ChildStderr) {
    let mut buf = [0u8; 1024];
    while matches!(pipe.read(&mut buf).await, Ok(n) if n > 0) {}
}

/// `ssh -O check`: the master answers on its control socket once authenticated.
async fn check(ssh: &str, files: &ConnFiles<'_>) -> bool {
    Command::new(ssh)
        .args([
            "-F",
            "/dev/null",
            "-o",
            &format!("ControlPath={}", files.control.display()),
            "-O",
            "check",
            "wss",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// Names why a master gave up, from its stderr (which is only logged, never shown).
fn classify_ssh_failure(stderr: &str, code: Option<i32>) -> EicError {
    tracing::warn!(?code, stderr = %stderr.trim(), "ssh master failed");
    if stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || stderr.contains("Host key verification failed")
    {
        EicError::HostKeyMismatch
    } else if stderr.contains("Permission denied") {
        EicError::AuthFailed
    } else {
        EicError::TunnelFailed
    }
}

/// The `type base64` of the key recorded for `alias` in a known-hosts file.
fn read_host_key(path: &Path, alias: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        (parts.next()? == alias).then(|| {
            let kind = parts.next()?;
            let key = parts.next()?;
            Some(format!("{kind} {key}"))
        })?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_host_key_is_the_aliased_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kh");
        std::fs::write(&path, "other ssh-rsa AAA\ni-1 ssh-ed25519 BBB comment\n").unwrap();
        assert_eq!(
            read_host_key(&path, "i-1").as_deref(),
            Some("ssh-ed25519 BBB")
        );
        assert_eq!(read_host_key(&path, "i-2"), None);
    }

    #[test]
    fn ssh_failures_are_named_without_their_text() {
        assert!(matches!(
            classify_ssh_failure(
                "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@",
                Some(255)
            ),
            EicError::HostKeyMismatch
        ));
        assert!(matches!(
            classify_ssh_failure("Permission denied (publickey).", Some(255)),
            EicError::AuthFailed
        ));
        assert!(matches!(
            classify_ssh_failure("kex_exchange_identification", Some(255)),
            EicError::TunnelFailed
        ));
    }
}
