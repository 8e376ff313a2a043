//! A real terminal for a command-line program: a tmux server of the test's own (its own socket),
//! driven with `send-keys` and read with `capture-pane`.

use std::time::Duration;

use tokio::process::Command;

pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// A detached 100×30 window running `command` with `env` (and nothing else inherited).
    pub async fn start(command: &str, env: &[(&str, String)]) -> Tmux {
        let socket = format!("wss-test-{}", uuid::Uuid::new_v4().simple());
        let tmux = Tmux { socket };
        let mut args: Vec<String> = ["new-session", "-d", "-x", "100", "-y", "30"]
            .map(str::to_owned)
            .to_vec();
        // Through `env`: tmux would put its own client's `PATH` over one given with `-e`.
        let mut line = String::from("env");
        for (k, v) in env {
            assert!(!v.contains('\''), "{k}: a quote in a test value");
            line.push_str(&format!(" '{k}={v}'"));
        }
        args.push(format!("{line} {command}"));
        let out = tmux.run(&args).await;
        assert!(
            out.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux
    }

    async fn run(&self, args: &[String]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .await
            .expect("tmux runs (scripts/test.sh installs it)")
    }

    /// Types `text` literally.
    pub async fn type_text(&self, text: &str) {
        self.run(&["send-keys".into(), "-l".into(), text.into()])
            .await;
    }

    /// Types `text` and Enter.
    pub async fn line(&self, text: &str) {
        self.type_text(text).await;
        self.run(&["send-keys".into(), "Enter".into()]).await;
    }

    /// The screen and its scrollback, as text.
    pub async fn screen(&self) -> String {
        let out = self
            .run(&[
                "capture-pane".into(),
                "-p".into(),
                "-J".into(),
                "-S".into(),
                "-".into(),
            ])
            .await;
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits up to `secs` for a line of the screen that `matches`; panics with the screen if
    /// none comes.
    pub async fn wait_line(&self, secs: u64, matches: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let screen = self.screen().await;
            if let Some(line) = screen.lines().find(|l| matches(l.trim_end())) {
                return line.trim_end().to_owned();
            }
            if tokio::time::Instant::now() > deadline {
                panic!("no matching line in {secs} s; the screen:\n{screen}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}
