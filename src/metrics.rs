//! Prometheus counters and gauges for what an operator watches (SPEC §5.1).

use crate::sync::Locked;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Process-wide metrics, rendered in the Prometheus text format.
#[derive(Default)]
pub struct Metrics {
    http: Mutex<BTreeMap<(String, String, u16), u64>>,
    exec: Mutex<BTreeMap<&'static str, u64>>,
    eic: Mutex<BTreeMap<&'static str, u64>>,
    terminals_live: AtomicI64,
    terminal_bytes_in: AtomicU64,
    terminal_bytes_out: AtomicU64,
    /// Reads the resumable sessions' gauges when metrics are rendered.
    sessions: std::sync::OnceLock<Box<dyn Fn() -> SessionGauges + Send + Sync>>,
}

/// What the resumable terminal sessions hold right now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionGauges {
    pub live: usize,
    pub detached: usize,
    /// Bytes held in their replay buffers.
    pub replay_bytes: usize,
}

/// Outcomes of an EIC session request.
#[derive(Clone, Copy, Debug)]
pub enum EicEvent {
    Opened,
    Reused,
    Failed,
}

impl Metrics {
    /// Counts a finished HTTP request by matched route template, method and status.
    /// Methods outside HTTP's registered few count as `other`, so that requests cannot grow the
    /// label set (route templates and statuses are the server's own).
    pub fn http_request(&self, route: &str, method: &str, status: u16) {
        const KNOWN: [&str; 9] = [
            "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
        ];
        let method = KNOWN.iter().find(|m| **m == method).unwrap_or(&"other");
        let mut map = self.http.locked();
        *map.entry((route.to_owned(), (*method).to_owned(), status))
            .or_default() += 1;
    }

    /// Counts an exec run by outcome (`ok`, `nonzero`, `timed_out`, `disconnected`, `error`).
    pub fn exec_run(&self, outcome: &'static str) {
        *self.exec.locked().entry(outcome).or_default() += 1;
    }

    pub fn eic_session(&self, event: EicEvent) {
        let key = match event {
            EicEvent::Opened => "opened",
            EicEvent::Reused => "reused",
            EicEvent::Failed => "failed",
        };
        *self.eic.locked().entry(key).or_default() += 1;
    }

    /// Adjusts the live terminal session gauge by `delta` (+1 on open, -1 on close).
    pub fn terminal_sessions(&self, delta: i64) {
        self.terminals_live.fetch_add(delta, Ordering::Relaxed);
    }

    /// Where the resumable sessions' gauges are read from (set once, by their registry).
    pub fn read_sessions_from(&self, read: impl Fn() -> SessionGauges + Send + Sync + 'static) {
        let _ = self.sessions.set(Box::new(read));
    }

    pub fn terminal_bytes(&self, input: u64, output: u64) {
        self.terminal_bytes_in.fetch_add(input, Ordering::Relaxed);
        self.terminal_bytes_out.fetch_add(output, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP http_requests_total HTTP requests by route, method and status.\n");
        out.push_str("# TYPE http_requests_total counter\n");
        for ((route, method, status), n) in self.http.locked().iter() {
            let _ = writeln!(
                out,
                "http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                escape(route),
                escape(method)
            );
        }
        out.push_str("# HELP terminal_sessions_live Terminal sessions currently open.\n");
        out.push_str("# TYPE terminal_sessions_live gauge\n");
        let _ = writeln!(
            out,
            "terminal_sessions_live {}",
            self.terminals_live.load(Ordering::Relaxed)
        );
        let g = self.sessions.get().map(|read| read()).unwrap_or_default();
        for (name, help, value) in [
            (
                "terminal_resumable_sessions",
                "Resumable terminal sessions alive.",
                g.live,
            ),
            (
                "terminal_resumable_detached",
                "Resumable sessions with no socket attached.",
                g.detached,
            ),
            (
                "terminal_replay_bytes",
                "Bytes held in resumable sessions' replay buffers.",
                g.replay_bytes,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out.push_str("# HELP terminal_bytes_total Bytes carried by terminals, by direction.\n");
        out.push_str("# TYPE terminal_bytes_total counter\n");
        let _ = writeln!(
            out,
            "terminal_bytes_total{{direction=\"in\"}} {}\nterminal_bytes_total{{direction=\"out\"}} {}",
            self.terminal_bytes_in.load(Ordering::Relaxed),
            self.terminal_bytes_out.load(Ordering::Relaxed)
        );
        Self::render_counter(
            &mut out,
            "exec_runs_total",
            "Exec runs by outcome.",
            "outcome",
            &self.exec,
        );
        Self::render_counter(
            &mut out,
            "eic_sessions_total",
            "EIC sessions by event.",
            "event",
            &self.eic,
        );
        out
    }

    fn render_counter(
        out: &mut String,
        name: &str,
        help: &str,
        label: &str,
        map: &Mutex<BTreeMap<&'static str, u64>>,
    ) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (key, n) in map.locked().iter() {
            let _ = writeln!(out, "{name}{{{label}=\"{key}\"}} {n}");
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_labels() {
        let m = Metrics::default();
        m.http_request("/workspaces/{id}", "GET", 200);
        m.http_request("/workspaces/{id}", "GET", 200);
        m.exec_run("timed_out");
        m.eic_session(EicEvent::Reused);
        m.terminal_sessions(1);
        m.terminal_bytes(3, 5);
        let text = m.render();
        assert!(text.contains(
            "http_requests_total{route=\"/workspaces/{id}\",method=\"GET\",status=\"200\"} 2"
        ));
        assert!(text.contains("exec_runs_total{outcome=\"timed_out\"} 1"));
        assert!(text.contains("eic_sessions_total{event=\"reused\"} 1"));
        assert!(text.contains("terminal_sessions_live 1"));
        assert!(text.contains("terminal_bytes_total{direction=\"out\"} 5"));
    }
}
