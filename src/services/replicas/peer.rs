//! Requests to another replica (SPEC §16): a resume's socket, an exec run's output and signals,
//! and the sessions a replica holds. The replica asked trusts the asking one, which has already
//! authenticated and authorised the client: the two share a secret derived from `ADMIN_TOKEN`,
//! which every replica on one database must share.

use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use uuid::Uuid;

use crate::auth::{hash_token, hashes_equal};
use crate::backend::RunSignal;
use crate::services::ServiceError;
use crate::services::terminal::SessionView;
use crate::workspace::WorkspaceId;

/// The header a replica's requests to another carry their shared secret in.
pub const REPLICA_TOKEN_HEADER: &str = "x-replica-token";
/// How long reaching another replica may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a short answer (a signal, a listing) may take.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// A socket to the replica that holds a session.
pub type PeerSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Lines of an exec run's output, as `exec::Lines`.
type Lines = mpsc::Receiver<io::Result<Bytes>>;

/// Why a request to another replica did not get an answer of its own.
#[derive(Debug)]
pub enum PeerError {
    /// Nothing listens at its address: the replica is not running.
    Refused,
    /// It could not be reached or did not answer in time.
    Unreachable,
    /// It answered with a refusal, passed on as it is.
    Answered(ServiceError),
}

/// The client of the other replicas.
pub struct Peer {
    client: reqwest::Client,
    /// The shared secret (a hash of `ADMIN_TOKEN`, never the token itself).
    secret: Option<String>,
    /// The tenant header every request of this deployment carries, when it has one.
    tenant: Option<(&'static str, String)>,
}

impl Peer {
    pub fn new(admin_token: Option<&str>, tenant: Option<(&'static str, String)>) -> Self {
        Self {
            client: reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            secret: admin_token.map(|t| hash_token(&format!("workspace-server replica\n{t}"))),
            tenant,
        }
    }

    /// Whether `presented` is the replicas' shared secret.
    pub fn admits(&self, presented: Option<&str>) -> bool {
        matches!((&self.secret, presented), (Some(s), Some(p)) if hashes_equal(s, p))
    }

    fn request(&self, method: reqwest::Method, url: String) -> reqwest::RequestBuilder {
        let mut r = self.client.request(method, url);
        if let Some(secret) = &self.secret {
            r = r.header(REPLICA_TOKEN_HEADER, secret);
        }
        if let Some((name, value)) = &self.tenant {
            r = r.header(*name, value);
        }
        r
    }

    async fn send(&self, r: reqwest::RequestBuilder) -> Result<reqwest::Response, PeerError> {
        let answer = r
            .send()
            .await
            .map_err(|e| match e.is_connect() && !e.is_timeout() {
                true => PeerError::Refused,
                false => PeerError::Unreachable,
            })?;
        match answer.status() {
            s if s.is_success() => Ok(answer),
            status => {
                let body: serde_json::Value = answer.json().await.unwrap_or_default();
                let message = body["error"].as_str().unwrap_or("refused").to_owned();
                Err(PeerError::Answered(refusal(status, message)))
            }
        }
    }

    async fn json<T: DeserializeOwned>(&self, r: reqwest::RequestBuilder) -> Result<T, PeerError> {
        let answer = self.send(r.timeout(ANSWER_TIMEOUT)).await?;
        answer.json().await.map_err(|_| PeerError::Unreachable)
    }

    /// The output of run `id` of `ws` from byte `since`, kept by the replica at `base`.
    pub async fn output(
        &self,
        base: &str,
        (ws, id): (WorkspaceId, Uuid),
        since: u64,
        (follow, offsets): (bool, bool),
    ) -> Result<Lines, PeerError> {
        let url = format!("{base}/internal/replica/workspaces/{ws}/exec/{id}/output");
        let query = [
            ("since", since),
            ("follow", follow.into()),
            ("offsets", offsets.into()),
        ];
        let answer = self
            .send(self.request(reqwest::Method::GET, url).query(&query))
            .await?;
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let mut body = answer.bytes_stream();
            let mut pending = BytesMut::new();
            while let Some(piece) = body.next().await {
                let Ok(piece) = piece else {
                    let _ = tx
                        .send(Err(io::Error::other("the replica's answer was cut")))
                        .await;
                    return;
                };
                pending.extend_from_slice(&piece);
                // Whole lines, as a local read gives them.
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    if tx
                        .send(Ok(pending.split_to(end + 1).freeze()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        });
        Ok(rx)
    }

    /// Sends `signal` to run `id` of `ws`, driven by the replica at `base`.
    pub async fn signal(
        &self,
        base: &str,
        (ws, id): (WorkspaceId, Uuid),
        signal: RunSignal,
    ) -> Result<(), PeerError> {
        let url = format!("{base}/internal/replica/workspaces/{ws}/exec/{id}/signal");
        let body = serde_json::json!({ "signal": signal });
        let r = self.request(reqwest::Method::POST, url).json(&body);
        self.json::<serde_json::Value>(r).await.map(drop)
    }

    /// The sessions of `ws` that the replica at `base` holds.
    pub async fn sessions(
        &self,
        base: &str,
        ws: WorkspaceId,
    ) -> Result<Vec<SessionView>, PeerError> {
        let url = format!("{base}/internal/replica/workspaces/{ws}/sessions");
        self.json(self.request(reqwest::Method::GET, url)).await
    }

    /// A socket to session `sid` of `ws` on the replica at `base`, from `offset`, as a writer or
    /// a viewer. Its refusals (an offset past the output, a session gone) come back as they are.
    pub async fn terminal(
        &self,
        base: &str,
        (ws, sid): (WorkspaceId, &str),
        offset: Option<u64>,
        view: bool,
    ) -> Result<PeerSocket, PeerError> {
        let ws_base = base.replacen("http", "ws", 1);
        let mut url =
            format!("{ws_base}/internal/replica/workspaces/{ws}/terminal/{sid}?view={view}");
        if let Some(offset) = offset {
            url.push_str(&format!("&offset={offset}"));
        }
        let mut request = url
            .into_client_request()
            .map_err(|_| PeerError::Unreachable)?;
        let headers = request.headers_mut();
        for (name, value) in [(REPLICA_TOKEN_HEADER, self.secret.as_deref())]
            .into_iter()
            .chain(self.tenant.as_ref().map(|(n, v)| (*n, Some(v.as_str()))))
        {
            if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(name, v);
            }
        }
        let connecting = tokio_tungstenite::connect_async(request);
        match tokio::time::timeout(ANSWER_TIMEOUT, connecting).await {
            Err(_) => Err(PeerError::Unreachable),
            Ok(Ok((socket, _))) => Ok(socket),
            Ok(Err(tokio_tungstenite::tungstenite::Error::Http(answer))) => {
                let status = StatusCode::from_u16(answer.status().as_u16())
                    .unwrap_or(StatusCode::BAD_GATEWAY);
                let body: serde_json::Value = answer
                    .body()
                    .as_deref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or_default();
                let message = body["error"].as_str().unwrap_or("refused").to_owned();
                Err(PeerError::Answered(refusal(status, message)))
            }
            Ok(Err(tokio_tungstenite::tungstenite::Error::Io(e)))
                if e.kind() == io::ErrorKind::ConnectionRefused =>
            {
                Err(PeerError::Refused)
            }
            Ok(Err(_)) => Err(PeerError::Unreachable),
        }
    }
}

/// Another replica's refusal as this replica's own.
fn refusal(status: StatusCode, message: String) -> ServiceError {
    match status {
        StatusCode::BAD_REQUEST => ServiceError::Invalid(message),
        StatusCode::FORBIDDEN => ServiceError::Forbidden(message),
        StatusCode::NOT_FOUND => ServiceError::NotFound(message),
        StatusCode::CONFLICT => ServiceError::Conflict(message),
        StatusCode::TOO_MANY_REQUESTS => ServiceError::Quota(message),
        _ => ServiceError::Upstream(format!("the replica holding it answered {status}")),
    }
}
