//! The ssh references: a ControlMaster to the test sshd through the same stand-in tunnel.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use portable_pty::CommandBuilder;

use crate::common::{count_to_end, flood_script, pty_throughput, timed_command};

const AWS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/aws");

pub struct ControlMaster {
    dir: tempfile::TempDir,
    child: Child,
}

impl ControlMaster {
    /// Pushes a fresh key for `instance` through the stand-in, then opens the master on it.
    pub fn open(instance: &str) -> ControlMaster {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(ok.success());
        let public = std::fs::read_to_string(dir.path().join("key.pub")).unwrap();
        let pushed = Command::new(AWS)
            .args([
                "--region",
                "us-east-2",
                "ec2-instance-connect",
                "send-ssh-public-key",
            ])
            .args(["--instance-id", instance, "--instance-os-user", "ubuntu"])
            .args(["--ssh-public-key", public.trim()])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(pushed.success());
        let ctl = dir.path().join("ctl");
        let tunnel = format!(
            "ProxyCommand={AWS} --region us-east-2 ec2-instance-connect open-tunnel \
             --instance-id {instance}"
        );
        let child = Command::new("ssh")
            .args([
                "-F",
                "/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no",
            ])
            .args([
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "ControlMaster=yes",
            ])
            .arg("-o")
            .arg(format!("ControlPath={}", ctl.display()))
            .args(["-o", &tunnel, "-i"])
            .arg(&key)
            .args(["-N", "-l", "ubuntu", instance])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if ctl.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        ControlMaster { dir, child }
    }

    /// The arguments of an `ssh` that rides this master, with `tty` (`-tt` or `-T`), before the
    /// remote command.
    fn rider(&self, tty: &str) -> Vec<String> {
        let ctl = format!("ControlPath={}", self.dir.path().join("ctl").display());
        ["-F", "/dev/null", "-o", &ctl, "-o", "ControlMaster=no", tty]
            .into_iter()
            .chain(["-l", "ubuntu", "x", "--"])
            .map(str::to_owned)
            .collect()
    }

    /// MiB/s of the flood through this master with a PTY (`ssh -tt`), read by this process.
    pub fn flood(&self) -> f64 {
        let started = Instant::now();
        let mut child = Command::new("ssh")
            .args(self.rider("-tt"))
            .arg(flood_script())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let total = count_to_end(child.stdout.take().unwrap());
        let _ = child.wait();
        total as f64 / 1048576.0 / started.elapsed().as_secs_f64()
    }

    /// MiB/s of the flood through this master by `ssh -tt` under a local PTY, read from the PTY:
    /// the EIC terminal's own shape, without the server.
    pub fn flood_under_pty(&self) -> f64 {
        let mut cmd = CommandBuilder::new("ssh");
        cmd.args(self.rider("-tt"));
        cmd.arg(flood_script());
        pty_throughput(cmd)
    }

    /// Milliseconds of `true` through this master.
    pub fn exec_true(&self) -> f64 {
        let mut args = self.rider("-T");
        args.push("true".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        timed_command("ssh", &args)
    }
}

impl Drop for ControlMaster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
