//! File content as it travels to and from a workspace: whole, or streamed without being held in
//! memory (SPEC §15).

use futures_util::StreamExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{BackendError, ByteStream};
use crate::files::Etag;

/// What a file script reads on its stdin.
pub enum Input {
    /// Bytes already in memory (small files, archives of a bulk write).
    Bytes(Vec<u8>),
    /// A body read as it arrives; an error in it ends the input early.
    Stream(ByteStream),
}

impl Input {
    pub fn empty() -> Self {
        Self::Bytes(Vec::new())
    }
}

/// Writes `input` to `to` and closes it. An input that fails, or a reader that goes away, just
/// ends the writing early: the scripts check what they received before they use it.
pub async fn feed(to: impl AsyncWrite + Unpin, input: Input) {
    // A body arrives in pieces of a few KiB: they go on in writes of up to `FEED_BUFFER`.
    let mut to = tokio::io::BufWriter::with_capacity(FEED_BUFFER, to);
    match input {
        Input::Bytes(bytes) => {
            let _ = to.write_all(&bytes).await;
        }
        Input::Stream(mut stream) => {
            while let Some(Ok(chunk)) = stream.next().await {
                if to.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}

/// The largest write [`feed`] makes, in bytes.
const FEED_BUFFER: usize = 256 * 1024;

/// A file being read: its size and tag first, then its bytes as they come.
pub struct FileStream {
    pub size: u64,
    pub etag: Etag,
    pub body: ByteStream,
}

impl FileStream {
    /// The whole file in memory (for callers that have capped its size).
    pub async fn collect(mut self) -> Result<Vec<u8>, BackendError> {
        let mut out = Vec::with_capacity(usize::try_from(self.size).unwrap_or(0));
        while let Some(chunk) = self.body.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    /// The same stream, keeping `guard` alive until it has ended or been dropped (a pooled
    /// connection the bytes come through).
    pub fn holding<G: Send + 'static>(mut self, guard: G) -> Self {
        self.body = Box::pin(self.body.map(move |piece| {
            let _held = &guard;
            piece
        }));
        self
    }
}
