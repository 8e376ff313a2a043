//! The accept loop (SPEC §11, slow clients): a bound on open connections, refused past it rather
//! than queued; a deadline for a request's headers once its first byte has arrived (408, then the
//! connection closes); and an idle limit for keep-alive connections between requests. A response
//! still being sent (an exec's stream) is not idle, and an upgraded WebSocket keeps its own ping
//! and idle rules.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::sync::Locked;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// What a slow or idle client may hold.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Open connections at once; past it new ones are refused.
    pub max_connections: usize,
    /// From a request's first byte to the end of its headers.
    pub header_timeout: Duration,
    /// A keep-alive connection with no request in flight and nothing arriving.
    pub idle_timeout: Duration,
}

/// Sent to a client whose request headers did not arrive in time, before the connection closes.
const REQUEST_TIMEOUT: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
/// Sent to a connection refused because the server holds its maximum.
const OVER_CAPACITY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

/// What one connection is doing, shared by its socket, its service and its watchdog.
#[derive(Default)]
struct Watch {
    state: Mutex<WatchState>,
    /// Wakes the watchdog when a deadline moves (a request began or ended, headers began).
    moved: tokio::sync::Notify,
}

#[derive(Default)]
struct WatchState {
    /// Requests whose response has not been sent whole.
    in_flight: usize,
    /// When the first byte of the next request's headers arrived.
    head_started: Option<Instant>,
    /// When a response was last finished, or the connection opened.
    idle_since: Option<Instant>,
    upgraded: bool,
    /// Set by the watchdog: answer 408 (`true`) or just close (`false`).
    expired: Option<bool>,
    waker: Option<Waker>,
}

impl Watch {
    fn read(&self, n: usize) {
        let mut s = self.state.locked();
        if n > 0 && s.in_flight == 0 && s.head_started.is_none() && !s.upgraded {
            s.head_started = Some(Instant::now());
            self.moved.notify_one();
        }
    }

    fn request_started(&self) {
        let mut s = self.state.locked();
        s.in_flight += 1;
        s.head_started = None;
        self.moved.notify_one();
    }

    fn response_done(&self) {
        let mut s = self.state.locked();
        s.in_flight = s.in_flight.saturating_sub(1);
        s.idle_since = Some(Instant::now());
        self.moved.notify_one();
    }

    fn upgraded(&self) {
        self.state.locked().upgraded = true;
    }

    /// When the watchdog should look next, or `None` once the connection is no longer its to
    /// watch (upgraded).
    fn check(&self, limits: &Limits) -> Option<Instant> {
        let mut s = self.state.locked();
        if s.upgraded {
            return None;
        }
        let now = Instant::now();
        if s.in_flight > 0 {
            return Some(now + limits.idle_timeout);
        }
        let (deadline, answer) = match s.head_started {
            Some(started) => (started + limits.header_timeout, true),
            None => (s.idle_since.unwrap_or(now) + limits.idle_timeout, false),
        };
        if now < deadline {
            return Some(deadline);
        }
        s.expired = Some(answer);
        if let Some(w) = s.waker.take() {
            w.wake();
        }
        None
    }
}

/// The socket as hyper sees it: counts what arrives, and ends the connection when the watchdog
/// says so (after writing a 408 when a request's headers were late). It holds the connection's
/// place under `MAX_CONNECTIONS`, and goes with the socket when a WebSocket takes it over, so an
/// upgraded socket keeps its place until it closes.
struct Watched {
    tcp: TcpStream,
    watch: Arc<Watch>,
    farewell: &'static [u8],
    _place: OwnedSemaphorePermit,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let expired = {
            let mut s = self.watch.state.locked();
            s.waker = Some(cx.waker().clone());
            s.expired
        };
        if let Some(answer) = expired {
            if answer {
                while !self.farewell.is_empty() {
                    let farewell = self.farewell;
                    match Pin::new(&mut self.tcp).poll_write(cx, farewell) {
                        Poll::Ready(Ok(n)) if n > 0 => self.farewell = &farewell[n..],
                        Poll::Ready(_) => break,
                        Poll::Pending => return Poll::Pending,
                    }
                }
            }
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client was too slow or idle",
            )));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.tcp).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.watch.read(buf.filled().len() - before);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
}

/// Gives the response back to the connection's watch when its body has been sent whole (or the
/// client went away), so the idle limit starts only then.
struct Tracked {
    body: Body,
    _done: DoneGuard,
}

struct DoneGuard(Arc<Watch>);

impl Drop for DoneGuard {
    fn drop(&mut self) {
        self.0.response_done();
    }
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets open requests finish
/// for at most `grace`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
    grace: Duration,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            connections.spawn(refuse(tcp));
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let shutdown = shutdown.clone();
        connections.spawn(connection(tcp, permit, remote, router, limits, shutdown));
    }
    connections.close();
    if tokio::time::timeout(grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after the shutdown grace period; stopping");
    }
    Ok(())
}

/// Refuses a connection over the bound: a 503 (for a client that reads it), then the close.
async fn refuse(mut tcp: TcpStream) {
    use tokio::io::AsyncWriteExt;
    let _ = tokio::time::timeout(Duration::from_secs(1), tcp.write_all(OVER_CAPACITY)).await;
}

async fn connection(
    tcp: TcpStream,
    place: OwnedSemaphorePermit,
    remote: SocketAddr,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let watch = Arc::new(Watch::default());
    watch.state.locked().idle_since = Some(Instant::now());
    let io = TokioIo::new(Watched {
        tcp,
        watch: watch.clone(),
        farewell: REQUEST_TIMEOUT,
        _place: place,
    });
    let service_watch = watch.clone();
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let watch = service_watch.clone();
        watch.request_started();
        req.extensions_mut().insert(ConnectInfo(remote));
        let router = router.clone();
        async move {
            let done = DoneGuard(watch.clone());
            let response = router
                .oneshot(req.map(Body::new))
                .await
                .unwrap_or_else(|never| match never {});
            if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                watch.upgraded();
            }
            let (parts, body) = response.into_parts();
            let body = Tracked { body, _done: done };
            Ok::<_, std::convert::Infallible>(Response::from_parts(parts, body))
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(conn);
    let watchdog = async {
        let mut next = watch.check(&limits);
        while let Some(at) = next {
            tokio::select! {
                () = tokio::time::sleep_until(at) => {}
                () = watch.moved.notified() => {}
            }
            next = watch.check(&limits);
        }
        std::future::pending::<()>().await;
    };
    tokio::pin!(watchdog);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                break;
            }
            () = &mut watchdog => {}
            () = shutdown.cancelled(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
