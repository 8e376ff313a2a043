//! Terminal byte counters that move while a session runs: a shell's output stream and input
//! writer are wrapped once, where the shell is opened, so every path to it is counted.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::StreamExt;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::io::AsyncWrite;

use crate::backend::TerminalSession;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Direction {
    direction: &'static str,
}

/// `terminal_bytes_total{direction="in"|"out"}`.
#[derive(Clone)]
pub struct TerminalIo {
    family: Family<Direction, Counter>,
}

impl Default for TerminalIo {
    /// Both directions, at 0 until bytes pass.
    fn default() -> Self {
        let io = Self {
            family: Family::default(),
        };
        io.counter("in");
        io.counter("out");
        io
    }
}

impl TerminalIo {
    pub(super) fn family(&self) -> Family<Direction, Counter> {
        self.family.clone()
    }

    fn counter(&self, direction: &'static str) -> Counter {
        self.family.get_or_create_owned(&Direction { direction })
    }

    pub fn input(&self, n: u64) {
        self.counter("in").inc_by(n);
    }

    pub fn output(&self, n: u64) {
        self.counter("out").inc_by(n);
    }

    /// `shell`, with its bytes counted as they pass.
    pub fn count(&self, shell: TerminalSession) -> TerminalSession {
        let out = self.counter("out");
        let output = shell.output.inspect(move |chunk| {
            if let Ok(bytes) = chunk {
                out.inc_by(bytes.len() as u64);
            }
        });
        TerminalSession {
            output: Box::pin(output),
            input: Box::pin(Counted {
                inner: shell.input,
                counter: self.counter("in"),
            }),
            control: shell.control,
        }
    }
}

/// A writer that counts what it wrote.
struct Counted {
    inner: Pin<Box<dyn AsyncWrite + Send>>,
    counter: Counter,
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = self.inner.as_mut().poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            self.counter.inc_by(n as u64);
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.inner.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.inner.as_mut().poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn bytes_are_counted_as_they_pass_not_at_the_end() {
        let io = TerminalIo::default();
        let chunks = [b"hello".as_slice(), b" world"].map(|c| Ok(bytes::Bytes::from_static(c)));
        let shell = TerminalSession {
            output: Box::pin(futures_util::stream::iter(chunks)),
            input: Box::pin(tokio::io::sink()),
            control: std::sync::Arc::new(crate::terminal::fake::FakeControl::default()),
        };
        let mut shell = io.count(shell);
        shell.output.next().await.unwrap().unwrap();
        assert_eq!(io.counter("out").get(), 5, "counted while the session runs");
        shell.input.write_all(b"ls\n").await.unwrap();
        assert_eq!(io.counter("in").get(), 3);
    }
}
