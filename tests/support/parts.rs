//! The parts the fault tests break, each the test's own: a Docker engine in a network namespace,
//! an sshd, a PostgreSQL cluster.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::process::{descendants, eventually, free_port, run, sigkill, sigterm, state_dir};
use super::test_image;

/// A Docker engine of the test's own, in its own network namespace (so its bridge set-up cannot
/// touch the main engine's), sharing the machine's filesystem and cgroups.
pub struct Engine {
    dir: tempfile::TempDir,
    netns: String,
    daemon: Option<Child>,
}

impl Engine {
    pub fn socket(&self) -> String {
        format!("unix://{}/docker.sock", self.dir.path().display())
    }

    pub async fn start() -> Engine {
        let netns = format!(
            "wss-fault-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        run(Command::new("ip").args(["netns", "add", &netns]));
        run(Command::new("ip").args(["netns", "exec", &netns, "ip", "link", "set", "lo", "up"]));
        let mut engine = Engine {
            dir: tempfile::Builder::new()
                .prefix("wss-engine")
                .tempdir()
                .unwrap(),
            netns,
            daemon: None,
        };
        engine.resume().await;
        // The test image, copied from the main engine (there is no registry).
        let mut save = Command::new("docker")
            .args(["save", &test_image()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let load = Command::new("docker")
            .args(["-H", &engine.socket(), "load", "-q"])
            .stdin(save.stdout.take().unwrap())
            .output()
            .unwrap();
        assert!(save.wait().unwrap().success());
        assert!(load.status.success(), "{load:?}");
        engine
    }

    /// Starts (or starts again) the daemon on the same state.
    pub async fn resume(&mut self) {
        let d = self.dir.path();
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{}", self.netns))
            .arg("dockerd")
            .arg(format!("--host={}", self.socket()))
            .arg(format!("--data-root={}", d.join("data").display()))
            .arg(format!("--exec-root={}", d.join("exec").display()))
            .arg(format!("--pidfile={}", d.join("docker.pid").display()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.daemon = Some(child);
        let socket = self.socket();
        let up = eventually(60, || {
            Command::new("docker")
                .args(["-H", &socket, "info"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .await;
        assert!(up, "private dockerd did not answer");
    }

    /// Stops the daemon as an operator would (SIGTERM: it stops its containers and exits).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            sigterm(child.id());
            let deadline = Instant::now() + Duration::from_secs(30);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let socket = self.socket();
        if self.daemon.is_some() {
            // Containers first, so nothing of theirs outlives the daemon.
            let _ = Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "docker -H {socket} rm -f $(docker -H {socket} ps -aq) 2>/dev/null"
                ))
                .status();
        }
        if let Some(mut child) = self.daemon.take() {
            sigterm(child.id());
            let _ = child.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

/// An sshd of the test's own on a free port, with the test sshd's config (keys, user).
pub struct Sshd {
    listener: Option<Child>,
}

impl Sshd {
    pub async fn start(port: u16) -> Sshd {
        let config = state_dir().join("sshd/sshd_config");
        assert!(config.exists(), "no test sshd config: run scripts/test.sh");
        let child = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-f")
            .arg(&config)
            .args(["-o", &format!("Port={port}"), "-o", "PidFile=none"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let up = eventually(10, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .await;
        assert!(up, "private sshd did not listen");
        Sshd {
            listener: Some(child),
        }
    }

    /// Kills the listener and every session process it forked, as a crash of the host's sshd.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.listener.take() {
            let below = descendants(child.id());
            sigkill(child.id());
            for (pid, _) in below {
                sigkill(pid);
            }
            let _ = child.wait();
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A PostgreSQL cluster of the test's own on a free port (trust auth, loopback).
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

impl Postgres {
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn as_postgres(&self, tool: &str) -> Command {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(self.bin.join(tool));
        cmd
    }

    pub fn start() -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is not installed: run scripts/test.sh")
            .flatten()
            .map(|e| e.path().join("bin"))
            .max()
            .unwrap();
        let dir = tempfile::Builder::new().prefix("wss-pg").tempdir().unwrap();
        run(Command::new("chown").arg("postgres:").arg(dir.path()));
        let pg = Postgres {
            dir,
            bin,
            port: free_port(),
        };
        run(pg
            .as_postgres("initdb")
            .arg("-D")
            .arg(pg.dir.path().join("data"))
            .args(["-A", "trust", "-U", "postgres"]));
        pg.resume();
        pg
    }

    pub fn resume(&self) {
        let d = self.dir.path();
        run(self
            .as_postgres("pg_ctl")
            .arg("-D")
            .arg(d.join("data"))
            .arg("-l")
            .arg(d.join("server.log"))
            .args(["-w", "-t", "60", "start", "-o"])
            .arg(format!(
                "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off",
                self.port,
                d.display()
            )));
    }

    /// `pg_ctl stop -m fast`: connections are cut, the cluster shuts down.
    pub fn stop(&self) {
        run(self
            .as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-w", "-m", "fast", "stop"]));
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}
