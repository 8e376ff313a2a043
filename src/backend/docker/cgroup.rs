//! A cgroup of each exec's own, inside its container's (cgroup v2), so that its kill does not
//! depend on the process's cooperation: a child that starts a new session (`setsid`), clears its
//! environment (`env -i`) or is re-parented is still in the cgroup, which a process inside the
//! container cannot leave (the container's cgroup filesystem is read-only to it).
//!
//! The exec starts under a tiny wrapper that waits until the server has moved it in, then
//! `exec`s the command, so nothing it starts is forked before it is inside: without a TTY the
//! server tells it on stdin, with one it watches its own cgroup. Where the server
//! cannot manage the engine's cgroups (not root, a remote engine, no cgroup v2 hierarchy), execs
//! run as before and the kill falls back to the session and marker (see `kill.rs`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Without a TTY: runs `$@` once the server says go (one line on stdin, written after it has moved
/// the process in); the rest of stdin is the command's. Shell builtins only: `read` takes stdin one
/// byte at a time from a pipe, so it never takes more than that line.
pub const GO_SCRIPT: &str = r#"IFS= read -r _ || :
exec "$@""#;

/// With a TTY (whose input is the user's): runs `$2…` once the process's own cgroup names `$1`,
/// polling every 2 ms for the first 40 ms, then every 25 ms, 5 s at most.
pub const WAIT_SCRIPT: &str = r#"t=$1; shift; i=0; found=
while [ -z "$found" ] && [ $i -lt 220 ]; do
  while IFS= read -r l; do case $l in *"$t"*) found=1;; esac; done < /proc/self/cgroup
  if [ -z "$found" ]; then if [ $i -lt 20 ]; then sleep 0.002; else sleep 0.025; fi; fi
  i=$((i + 1))
done
exec "$@""#;

/// How long a kill waits for the cgroup to empty.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Where the cgroup v2 hierarchy is mounted on this host, if anywhere.
fn cgroup2_mount() -> Option<&'static Path> {
    static MOUNT: OnceLock<Option<PathBuf>> = OnceLock::new();
    MOUNT
        .get_or_init(|| {
            let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
            info.lines().find_map(|line| {
                // `… <mount point> <options> - <fstype> <source> …`
                let (left, right) = line.split_once(" - ")?;
                if right.split(' ').next()? != "cgroup2" {
                    return None;
                }
                left.split(' ').nth(4).map(PathBuf::from)
            })
        })
        .as_deref()
}

/// The cgroup v2 path of process `pid` (`0::<path>` in `/proc/<pid>/cgroup`).
fn cgroup_of(pid: i64) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::to_owned)
}

/// One exec's cgroup. Dropping it removes the directory when it is empty; processes the command
/// deliberately left running after it ended keep it.
pub struct ExecCgroup {
    dir: PathBuf,
    pub tag: String,
    /// Whether the exec was moved in (else the kill must not rely on the cgroup).
    adopted: std::sync::atomic::AtomicBool,
}

impl ExecCgroup {
    /// Makes `wss-exec-<tag>` inside the cgroup of the container whose first process is
    /// `container_pid`; `None` when that cannot be done here.
    pub fn create(container_pid: i64, tag: &str) -> Option<Self> {
        if container_pid <= 1 {
            return None;
        }
        let mount = cgroup2_mount()?;
        let parent = cgroup_of(container_pid)?;
        let tag = format!("wss-exec-{tag}");
        let dir = mount.join(parent.trim_start_matches('/')).join(&tag);
        match std::fs::create_dir(&dir) {
            Ok(()) => Some(Self {
                dir,
                tag,
                adopted: std::sync::atomic::AtomicBool::new(false),
            }),
            Err(e) => {
                tracing::debug!(error = %e, "no exec cgroup: its kill falls back to the session and marker");
                None
            }
        }
    }

    /// Moves process `pid` (the wrapper, which then becomes the command) in.
    pub fn adopt(&self, pid: i64) -> std::io::Result<()> {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string())?;
        self.adopted
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Whether everything the exec started is inside (it was moved in before it could fork).
    pub fn holds_the_exec(&self) -> bool {
        self.adopted.load(std::sync::atomic::Ordering::Acquire)
    }

    fn members(&self) -> Vec<i32> {
        std::fs::read_to_string(self.dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Sends `signal` once to every process in the cgroup.
    pub fn signal(&self, signal: Signal) {
        for pid in self.members() {
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }

    /// Kills every process in the cgroup (`cgroup.kill`, or SIGKILL to each member where the
    /// kernel has no `cgroup.kill`), and waits until it is empty.
    pub async fn kill(&self) {
        let deadline = tokio::time::Instant::now() + KILL_WAIT;
        loop {
            let members = self.members();
            if members.is_empty() {
                break;
            }
            if std::fs::write(self.dir.join("cgroup.kill"), "1").is_err() {
                for pid in members {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
            if tokio::time::Instant::now() > deadline {
                tracing::warn!(cgroup = %self.dir.display(), "exec cgroup still not empty");
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

impl Drop for ExecCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}
