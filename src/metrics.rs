//! What an operator watches (SPEC §5.1), kept and rendered by `prometheus-client` in the
//! OpenMetrics text format: counters, gauges and latency histograms.

mod terminal_io;

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub use self::terminal_io::TerminalIo;

/// The content type of `render`'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabel {
    event: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Process-wide metrics.
pub struct Metrics {
    registry: Registry,
    http: Family<HttpLabels, Counter>,
    http_duration: Histograms<RouteLabel>,
    exec: Family<OutcomeLabel, Counter>,
    exec_duration: Histogram,
    eic: Family<EventLabel, Counter>,
    eic_connect: Histogram,
    eic_open: Gauge,
    terminals_live: Gauge,
    terminal_duration: Histogram,
    terminal_io: TerminalIo,
    resumable: [Gauge; 3],
    /// Reads the resumable sessions' gauges when metrics are rendered.
    sessions: OnceLock<Box<dyn Fn() -> SessionGauges + Send + Sync>>,
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

/// An open EIC connection, counted in `eic_connections_open` until it is dropped.
pub struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn http_buckets() -> Histogram {
    // 1 ms to 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The outcomes of exec runs (`exec::Outcome::label`).
const OUTCOMES: [&str; 7] = [
    "ok",
    "nonzero",
    "timed_out",
    "disconnected",
    "interrupted",
    "killed",
    "error",
];

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let http = Family::default();
        let http_duration = Histograms::new_with_constructor(http_buckets as fn() -> Histogram);
        // Every outcome and event at 0 from the start, as operators' alerts expect.
        let exec: Family<OutcomeLabel, Counter> = Family::default();
        for outcome in OUTCOMES {
            exec.get_or_create_owned(&OutcomeLabel { outcome });
        }
        // 10 ms to 44 min (detached runs last up to an hour).
        let exec_duration = Histogram::new(exponential_buckets(0.01, 2.0, 19));
        let eic: Family<EventLabel, Counter> = Family::default();
        for event in ["opened", "reused", "failed"] {
            eic.get_or_create_owned(&EventLabel { event });
        }
        // 50 ms to 26 s.
        let eic_connect = Histogram::new(exponential_buckets(0.05, 2.0, 10));
        // 1 s to 9 h.
        let terminal_duration = Histogram::new(exponential_buckets(1.0, 2.0, 16));
        let (eic_open, terminals_live) = (Gauge::default(), Gauge::default());
        let terminal_io = TerminalIo::default();
        let resumable: [Gauge; 3] = Default::default();
        let r = &mut registry;
        r.register(
            "http_requests",
            "HTTP requests by route, method and status",
            http.clone(),
        );
        let help = "Time to answer an HTTP request (to its headers), by route";
        r.register("http_request_duration_seconds", help, http_duration.clone());
        r.register("exec_runs", "Exec runs by outcome", exec.clone());
        let help = "How long exec runs took";
        r.register("exec_duration_seconds", help, exec_duration.clone());
        r.register("eic_sessions", "EIC sessions by event", eic.clone());
        let help = "Time to open an EIC connection (key push, tunnel, ssh)";
        r.register("eic_connect_seconds", help, eic_connect.clone());
        let help = "EIC connections open (pooled and terminals')";
        r.register("eic_connections_open", help, eic_open.clone());
        let help = "Terminal sessions currently open";
        r.register("terminal_sessions_live", help, terminals_live.clone());
        let help = "How long terminal sockets stayed open";
        r.register(
            "terminal_session_duration_seconds",
            help,
            terminal_duration.clone(),
        );
        let help = "Bytes carried by terminals, by direction, counted as they pass";
        r.register("terminal_bytes", help, terminal_io.family());
        for (gauge, (name, help)) in resumable.iter().zip([
            (
                "terminal_resumable_sessions",
                "Resumable terminal sessions alive",
            ),
            (
                "terminal_resumable_detached",
                "Resumable sessions with no socket attached",
            ),
            (
                "terminal_replay_bytes",
                "Bytes held in resumable sessions' replay buffers",
            ),
        ]) {
            r.register(name, help, gauge.clone());
        }
        Self {
            registry,
            http,
            http_duration,
            exec,
            exec_duration,
            eic,
            eic_connect,
            eic_open,
            terminals_live,
            terminal_duration,
            terminal_io,
            resumable,
            sessions: OnceLock::new(),
        }
    }
}

impl Metrics {
    /// Counts a finished HTTP request by matched route template, method and status, and times it
    /// by route. Methods outside HTTP's registered few count as `other`, so that requests cannot
    /// grow the label set (route templates and statuses are the server's own).
    pub fn http_request(&self, route: &str, method: &str, status: u16, took: Duration) {
        const KNOWN: [&str; 9] = [
            "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
        ];
        let method = KNOWN.iter().find(|m| **m == method).unwrap_or(&"other");
        let route = route.to_owned();
        let labels = HttpLabels {
            route: route.clone(),
            method,
            status,
        };
        self.http.get_or_create(&labels).inc();
        let route = RouteLabel { route };
        let histogram = self.http_duration.get_or_create(&route);
        histogram.observe(took.as_secs_f64());
    }

    /// Counts an exec run by outcome (`ok`, `nonzero`, `timed_out`, `killed`, …) and times it.
    pub fn exec_run(&self, outcome: &'static str, took: Duration) {
        let labels = OutcomeLabel { outcome };
        self.exec.get_or_create(&labels).inc();
        self.exec_duration.observe(took.as_secs_f64());
    }

    pub fn eic_session(&self, event: EicEvent) {
        let event = match event {
            EicEvent::Opened => "opened",
            EicEvent::Reused => "reused",
            EicEvent::Failed => "failed",
        };
        self.eic.get_or_create(&EventLabel { event }).inc();
    }

    /// How long opening an EIC connection took, whether or not it opened.
    pub fn eic_connect(&self, took: Duration) {
        self.eic_connect.observe(took.as_secs_f64());
    }

    /// Counts an EIC connection as open until the answer is dropped.
    pub fn eic_connection(&self) -> OpenConnection {
        self.eic_open.inc();
        OpenConnection(self.eic_open.clone())
    }

    /// Adjusts the live terminal session gauge by `delta` (+1 on open, -1 on close).
    pub fn terminal_sessions(&self, delta: i64) {
        self.terminals_live.inc_by(delta);
    }

    /// A terminal socket's time open, when it closes.
    pub fn terminal_session_ended(&self, took: Duration) {
        self.terminal_duration.observe(took.as_secs_f64());
    }

    /// The byte counters of terminals, which a shell's streams update as bytes pass.
    pub fn terminal_io(&self) -> &TerminalIo {
        &self.terminal_io
    }

    /// Where the resumable sessions' gauges are read from (set once, by their registry).
    pub fn read_sessions_from(&self, read: impl Fn() -> SessionGauges + Send + Sync + 'static) {
        let _ = self.sessions.set(Box::new(read));
    }

    /// The OpenMetrics text of every metric.
    pub fn render(&self) -> String {
        let g = self.sessions.get().map(|read| read()).unwrap_or_default();
        for (gauge, value) in self
            .resumable
            .iter()
            .zip([g.live, g.detached, g.replay_bytes])
        {
            gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
        }
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "rendering metrics");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_histograms_with_labels() {
        let m = Metrics::default();
        let ms = Duration::from_millis;
        m.http_request("/workspaces/{id}", "GET", 200, ms(3));
        m.http_request("/workspaces/{id}", "GET", 200, ms(40));
        m.exec_run("timed_out", ms(1500));
        m.eic_session(EicEvent::Reused);
        m.eic_connect(ms(120));
        let open = m.eic_connection();
        m.terminal_sessions(1);
        m.terminal_io().output(5);
        let text = m.render();
        for line in [
            r#"http_requests_total{route="/workspaces/{id}",method="GET",status="200"} 2"#,
            r#"http_request_duration_seconds_count{route="/workspaces/{id}"} 2"#,
            r#"http_request_duration_seconds_bucket{le="0.004",route="/workspaces/{id}"} 1"#,
            r#"exec_runs_total{outcome="timed_out"} 1"#,
            "exec_duration_seconds_sum 1.5",
            r#"exec_runs_total{outcome="killed"} 0"#,
            r#"eic_sessions_total{event="reused"} 1"#,
            "eic_connect_seconds_count 1",
            "eic_connections_open 1",
            "terminal_sessions_live 1",
            r#"terminal_bytes_total{direction="out"} 5"#,
            "# EOF",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from:\n{text}"
            );
        }
        drop(open);
        assert!(m.render().lines().any(|l| l == "eic_connections_open 0"));
    }
}
