//! The exec service (SPEC §5.4): argv parsing, the tier gate, the timeout clamp, and running a
//! backend's process to its one final record with per-stream caps and UTF-8 output.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::backend::{BackendError, ExecProcess, RunSignal, StdStream};

/// Timeout when the request gives none, in seconds.
pub const DEFAULT_TIMEOUT_SECS: i64 = 30;
/// Smallest and largest timeout a request may ask for, in seconds.
pub const TIMEOUT_RANGE_SECS: (i64, i64) = (1, 120);
/// Bytes of each stream sent to the client; the rest is counted and dropped.
pub const STREAM_CAP_BYTES: u64 = 1024 * 1024;

/// Whether workspaces of `tier` may exec: tiers 3 and 4 only. The one place this is decided.
pub fn tier_may_exec(tier: i32) -> bool {
    tier >= 3
}

/// The timeout for a request's `timeout_s`, clamped to `TIMEOUT_RANGE_SECS`.
pub fn timeout(requested: Option<i64>) -> Duration {
    timeout_up_to(requested, TIMEOUT_RANGE_SECS.1 as u64)
}

/// The timeout for `requested`, clamped to 1 s..=`max_secs` (a detached run's longer limit).
pub fn timeout_up_to(requested: Option<i64>, max_secs: u64) -> Duration {
    let max = i64::try_from(max_secs).unwrap_or(i64::MAX);
    let secs = requested
        .unwrap_or(DEFAULT_TIMEOUT_SECS)
        .clamp(TIMEOUT_RANGE_SECS.0, max.max(TIMEOUT_RANGE_SECS.0));
    Duration::from_secs(secs as u64)
}

mod argv;
pub mod log;
pub use argv::{Argv, ArgvError, MAX_ARGV_BYTES, MAX_ARGV_ELEMENTS};

/// One NDJSON line before the final record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Event {
    Data {
        stream: &'static str,
        data: String,
    },
    Truncated {
        stream: &'static str,
        data: &'static str,
        truncated: bool,
    },
}

/// Whether each stream went past its cap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Truncation {
    pub stdout: bool,
    pub stderr: bool,
}

/// The exact final line of an exec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub exit_code: Option<i64>,
    pub timed_out: bool,
    pub duration_ms: u64,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    pub truncated: Truncation,
}

/// How a run ended, for the audit row and metrics.
#[derive(Debug)]
pub struct Outcome {
    pub summary: Summary,
    /// The client went away before the end; the process was killed.
    pub disconnected: bool,
    /// The backend failed mid-run (logged; the summary has what was known).
    pub error: Option<String>,
    /// The server was shutting down; the process was killed.
    pub interrupted: bool,
    /// The last signal it was sent by `POST …/signal`.
    pub signal: Option<RunSignal>,
}

/// A signal asked for a run, and where to say whether it was sent.
pub struct SignalAsk {
    pub signal: RunSignal,
    pub sent: oneshot::Sender<Result<(), BackendError>>,
}

/// What may end or signal a run from outside it.
pub struct Controls {
    /// Cancelled by the server's shutdown: the tree is killed.
    pub stop: CancellationToken,
    /// The signals asked for by `POST …/signal`; a `KILL` ends the run as a timeout does.
    pub signals: mpsc::Receiver<SignalAsk>,
}

impl Outcome {
    /// A label for metrics and the audit row's status.
    pub fn label(&self) -> &'static str {
        match self {
            o if o.error.is_some() => "error",
            o if o.interrupted => "interrupted",
            o if o.signal == Some(RunSignal::Kill) => "killed",
            o if o.disconnected => "disconnected",
            o if o.summary.timed_out => "timed_out",
            o if o.summary.exit_code == Some(0) => "ok",
            _ => "nonzero",
        }
    }
}

/// Per-stream accounting: bytes seen, bytes sent, and a partial UTF-8 sequence carried over.
#[derive(Default)]
struct Tally {
    seen: u64,
    sent: u64,
    truncated: bool,
    carry: Vec<u8>,
}

impl Tally {
    /// Takes a chunk; returns the text to send now and whether the cap was just reached.
    fn take(&mut self, chunk: &[u8]) -> (String, bool) {
        self.seen += chunk.len() as u64;
        if self.truncated {
            return (String::new(), false);
        }
        let room = (STREAM_CAP_BYTES - self.sent) as usize;
        let kept = &chunk[..chunk.len().min(room)];
        self.sent += kept.len() as u64;
        let text = decode(&mut self.carry, kept);
        if chunk.len() > room {
            self.truncated = true;
            self.carry.clear();
            return (text, true);
        }
        (text, false)
    }

    /// What is left of a partial sequence at the end, replaced.
    fn flush(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.carry).into_owned();
        self.carry.clear();
        rest
    }
}

/// Decodes `carry + chunk` as UTF-8, invalid bytes replaced, keeping an incomplete trailing
/// sequence in `carry` for the next chunk.
fn decode(carry: &mut Vec<u8>, chunk: &[u8]) -> String {
    carry.extend_from_slice(chunk);
    let mut out = String::new();
    let mut rest: &[u8] = carry;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                rest = &[];
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                match e.error_len() {
                    Some(n) => {
                        out.push(char::REPLACEMENT_CHARACTER);
                        rest = &bad[n..];
                    }
                    None => {
                        rest = bad;
                        break;
                    }
                }
            }
        }
    }
    let rest = rest.to_vec();
    *carry = rest;
    out
}

fn stream_name(s: StdStream) -> &'static str {
    match s {
        StdStream::Stdout => "stdout",
        StdStream::Stderr => "stderr",
    }
}

/// Runs `process` until its output ends, `limit` passes (the tree is killed), `events` is
/// closed by a departed client, the server's shutdown cancels `controls.stop` or it is sent a
/// `KILL` (the tree is killed in each case too). Output goes to `events` as it arrives; other
/// signals go to the tree as they are asked for.
pub async fn run(
    mut process: Box<dyn ExecProcess>,
    limit: Duration,
    events: mpsc::Sender<Event>,
    mut controls: Controls,
) -> Outcome {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + limit;
    let mut tallies = [Tally::default(), Tally::default()];
    let mut timed_out = false;
    let mut disconnected = false;
    let mut interrupted = false;
    let mut error = None;
    let (mut signal, mut killing) = (None, None);
    loop {
        let next = tokio::select! {
            next = process.next_output() => next,
            () = tokio::time::sleep_until(deadline) => { timed_out = true; break; }
            () = events.closed() => { disconnected = true; break; }
            () = controls.stop.cancelled() => { interrupted = true; break; }
            Some(ask) = controls.signals.recv() => {
                signal = Some(ask.signal);
                if ask.signal == RunSignal::Kill {
                    killing = Some(ask.sent);
                    break;
                }
                let _ = ask.sent.send(process.signal(ask.signal).await);
                continue;
            }
        };
        let (stream, chunk) = match next {
            None => break,
            Some(Ok(item)) => item,
            Some(Err(e)) => {
                error = Some(e.to_string());
                break;
            }
        };
        let tally = &mut tallies[stream as usize];
        let (text, capped) = tally.take(&chunk);
        let name = stream_name(stream);
        let mut lines = Vec::new();
        if !text.is_empty() {
            lines.push(Event::Data {
                stream: name,
                data: text,
            });
        }
        if capped {
            lines.push(Event::Truncated {
                stream: name,
                data: "",
                truncated: true,
            });
        }
        for line in lines {
            if events.send(line).await.is_err() {
                disconnected = true;
            }
        }
        if disconnected {
            break;
        }
    }
    let killed = killing.is_some();
    let exit_code = if timed_out || disconnected || interrupted || killed || error.is_some() {
        process.kill().await;
        if let Some(sent) = killing {
            let _ = sent.send(Ok(()));
        }
        None
    } else {
        for (i, tally) in tallies.iter_mut().enumerate() {
            let rest = tally.flush();
            if !rest.is_empty() {
                let stream = if i == 0 {
                    StdStream::Stdout
                } else {
                    StdStream::Stderr
                };
                let _ = events
                    .send(Event::Data {
                        stream: stream_name(stream),
                        data: rest,
                    })
                    .await;
            }
        }
        match process.exit_code().await {
            Ok(code) => code,
            Err(e) => {
                error = Some(e.to_string());
                None
            }
        }
    };
    let [out, err] = tallies;
    Outcome {
        summary: Summary {
            exit_code,
            timed_out,
            duration_ms: started.elapsed().as_millis() as u64,
            stdout_bytes: out.seen,
            stderr_bytes: err.seen,
            truncated: Truncation {
                stdout: out.truncated,
                stderr: err.truncated,
            },
        },
        disconnected,
        error,
        interrupted,
        signal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_timeout_defaults_to_thirty_seconds_and_is_clamped() {
        assert_eq!(timeout(None), Duration::from_secs(30));
        assert_eq!(timeout(Some(0)), Duration::from_secs(1));
        assert_eq!(timeout(Some(-5)), Duration::from_secs(1));
        assert_eq!(timeout(Some(500)), Duration::from_secs(120));
        assert_eq!(timeout(Some(7)), Duration::from_secs(7));
    }

    #[test]
    fn only_tiers_three_and_four_may_exec() {
        assert_eq!([1, 2, 3, 4].map(tier_may_exec), [false, false, true, true]);
    }

    #[test]
    fn utf8_split_across_chunks_is_joined_and_invalid_bytes_replaced() {
        let mut carry = Vec::new();
        let euro = "€".as_bytes();
        assert_eq!(decode(&mut carry, &euro[..1]), "");
        assert_eq!(decode(&mut carry, &euro[1..]), "€");
        assert_eq!(decode(&mut carry, b"a\xffb"), "a\u{FFFD}b");
        assert!(carry.is_empty());
    }

    #[test]
    fn a_stream_is_capped_but_every_byte_is_counted() {
        let mut t = Tally::default();
        let chunk = vec![b'x'; 700 * 1024];
        let (a, capped_a) = t.take(&chunk);
        let (b, capped_b) = t.take(&chunk);
        let (c, capped_c) = t.take(&chunk);
        assert_eq!((a.len() + b.len() + c.len()) as u64, STREAM_CAP_BYTES);
        assert_eq!((capped_a, capped_b, capped_c), (false, true, false));
        assert_eq!(t.seen, 3 * 700 * 1024);
    }

    #[test]
    fn the_final_record_has_the_exact_shape() {
        let s = Summary {
            exit_code: Some(0),
            ..Summary::default()
        };
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({"exit_code":0,"timed_out":false,"duration_ms":0,"stdout_bytes":0,
                   "stderr_bytes":0,"truncated":{"stdout":false,"stderr":false}})
        );
        let marker = Event::Truncated {
            stream: "stdout",
            data: "",
            truncated: true,
        };
        assert_eq!(
            serde_json::to_value(&marker).unwrap(),
            json!({"stream":"stdout","data":"","truncated":true})
        );
    }
}
