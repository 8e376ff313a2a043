//! The files use cases (SPEC §5.5, §15): list, read, write, delete and bulk replace under a
//! workspace's files root, relative paths only; raw reads and writes streamed, writes and deletes
//! conditional on a file's tag; every change is audited by path, never content.

use std::collections::BTreeMap;

use base64::Engine;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Ports, ServiceError, live};
use crate::audit::{self, Kind};
use crate::auth::Caller;
use crate::backend::content::{FileStream, Input};
use crate::backend::{Bound, ByteStream, FileEntry, FilesRoot};
use crate::files::{
    Etag, MAX_BULK_FILES, MAX_LIST_DEPTH, MAX_READ_BYTES, Precondition, RelPath, check_batch,
};
use crate::workspace::Workspace;

/// A file as `GET /workspaces/{id}/files/{path}` answers it: UTF-8 content as it is, anything
/// else base64 and marked so.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FileContent {
    pub path: String,
    pub content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<&'static str>,
    pub size: usize,
}

/// What a write, delete or replace answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Changed {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<usize>,
}

/// The body of a bulk replace: path → content.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceBody {
    files: BTreeMap<String, String>,
}

/// Pieces of an upload waiting to be digested, at most.
const HASH_QUEUE: usize = 64;

pub struct Files {
    ports: Ports,
    /// Largest file a raw read or write carries (`FILES_MAX_BYTES`).
    max_bytes: u64,
}

impl Files {
    pub fn new(ports: Ports, max_bytes: u64) -> Self {
        Self { ports, max_bytes }
    }

    /// The backend of a workspace that can take file operations.
    fn bound(&self, ws: &Workspace) -> Result<Bound, ServiceError> {
        live(ws)?;
        Ok(self.ports.backends.for_workspace(ws)?)
    }

    /// Entries under `path` (the root when absent or `.`), `depth` levels deep (default 1).
    pub async fn list(
        &self,
        ws: &Workspace,
        path: Option<&str>,
        depth: Option<u8>,
        root: Option<&str>,
    ) -> Result<Vec<FileEntry>, ServiceError> {
        let depth = depth.unwrap_or(1);
        if !(1..=MAX_LIST_DEPTH).contains(&depth) {
            return Err(ServiceError::invalid(format!(
                "depth must be 1-{MAX_LIST_DEPTH}"
            )));
        }
        let dir = match path.filter(|p| !p.is_empty() && *p != ".") {
            Some(p) => Some(RelPath::parse(p).map_err(ServiceError::Invalid)?),
            None => None,
        };
        let b = self.bound(ws)?;
        let root = FilesRoot(root);
        Ok(b.backend
            .list_files(&b.target, root, dir.as_ref(), depth)
            .await?)
    }

    /// A file as JSON (at most `MAX_READ_BYTES`), and its tag.
    pub async fn read(
        &self,
        ws: &Workspace,
        path: &RelPath,
        root: Option<&str>,
    ) -> Result<(FileContent, Etag), ServiceError> {
        let file = self.download_capped(ws, path, root, MAX_READ_BYTES).await?;
        let etag = file.etag.clone();
        let bytes = file.collect().await?;
        let size = bytes.len();
        let path = path.as_str().to_owned();
        let content = match String::from_utf8(bytes) {
            Ok(content) => FileContent {
                path,
                content,
                encoding: None,
                size,
            },
            // Binary content is not mangled: it comes back base64, marked as such.
            Err(e) => FileContent {
                path,
                content: base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
                encoding: Some("base64"),
                size,
            },
        };
        Ok((content, etag))
    }

    /// A file's raw bytes as a stream (at most the server's `FILES_MAX_BYTES`).
    pub async fn download(
        &self,
        ws: &Workspace,
        path: &RelPath,
        root: Option<&str>,
    ) -> Result<FileStream, ServiceError> {
        self.download_capped(ws, path, root, self.max_bytes).await
    }

    async fn download_capped(
        &self,
        ws: &Workspace,
        path: &RelPath,
        root: Option<&str>,
        max: u64,
    ) -> Result<FileStream, ServiceError> {
        let b = self.bound(ws)?;
        Ok(b.backend
            .read_file(&b.target, FilesRoot(root), path, max)
            .await?)
    }

    /// Writes `content` to `path` if `cond` holds; answers the new tag.
    pub async fn write(
        &self,
        caller: &Caller,
        ws: &Workspace,
        path: RelPath,
        content: Vec<u8>,
        cond: &Precondition,
    ) -> Result<(Changed, Etag), ServiceError> {
        let (size, etag) = (content.len() as u64, Etag::of(&content));
        let changed = self
            .put(caller, ws, path, size, Input::Bytes(content), cond)
            .await?;
        Ok((changed, etag))
    }

    /// Writes the `size` bytes of `body` to `path` as they arrive, if `cond` holds; answers the
    /// new tag, digested on the way through. A body that ends short changes nothing.
    pub async fn upload(
        &self,
        caller: &Caller,
        ws: &Workspace,
        path: RelPath,
        size: u64,
        body: ByteStream,
        cond: &Precondition,
    ) -> Result<(Changed, Etag), ServiceError> {
        if size > self.max_bytes {
            return Err(ServiceError::TooLarge(format!(
                "file is {size} bytes, over the limit of {}",
                self.max_bytes
            )));
        }
        // Digested on a thread of its own, beside the copy rather than in its way; the bounded
        // channel holds at most `HASH_QUEUE` pieces of the body.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(HASH_QUEUE);
        let hasher = tokio::task::spawn_blocking(move || {
            let mut digest = Sha256::new();
            while let Some(piece) = rx.blocking_recv() {
                digest.update(&piece);
            }
            digest.finalize()
        });
        let body = body.then(move |chunk| {
            let tx = tx.clone();
            async move {
                if let Ok(piece) = &chunk {
                    let _ = tx.send(piece.clone()).await;
                }
                chunk
            }
        });
        let changed = self
            .put(caller, ws, path, size, Input::Stream(Box::pin(body)), cond)
            .await?;
        let digest = hasher.await.map_err(ServiceError::join)?;
        Ok((changed, Etag::from_digest(digest)))
    }

    async fn put(
        &self,
        caller: &Caller,
        ws: &Workspace,
        path: RelPath,
        size: u64,
        content: Input,
        cond: &Precondition,
    ) -> Result<Changed, ServiceError> {
        let b = self.bound(ws)?;
        b.backend
            .write_file(&b.target, &path, size, content, cond)
            .await?;
        self.record(caller, ws, "PUT", "file written", &[&path])
            .await;
        Ok(Changed {
            status: "saved",
            path: Some(path.as_str().to_owned()),
            files: None,
        })
    }

    pub async fn delete(
        &self,
        caller: &Caller,
        ws: &Workspace,
        path: &RelPath,
        cond: &Precondition,
    ) -> Result<Changed, ServiceError> {
        let b = self.bound(ws)?;
        b.backend.delete_file(&b.target, path, cond).await?;
        self.record(caller, ws, "DELETE", "file deleted", &[path])
            .await;
        Ok(Changed {
            status: "deleted",
            path: Some(path.as_str().to_owned()),
            files: None,
        })
    }

    /// Writes every file of `body`; every path is checked before anything is written.
    pub async fn replace(
        &self,
        caller: &Caller,
        ws: &Workspace,
        body: ReplaceBody,
    ) -> Result<Changed, ServiceError> {
        if body.files.is_empty() || body.files.len() > MAX_BULK_FILES {
            return Err(ServiceError::invalid(format!(
                "files must hold 1-{MAX_BULK_FILES} entries"
            )));
        }
        let mut batch = Vec::with_capacity(body.files.len());
        for (raw, content) in body.files {
            let path =
                RelPath::parse(&raw).map_err(|e| ServiceError::invalid(format!("{raw:?}: {e}")))?;
            batch.push((path, content.into_bytes()));
        }
        check_batch(batch.iter().map(|(p, _)| p)).map_err(ServiceError::Invalid)?;
        let b = self.bound(ws)?;
        b.backend.write_files(&b.target, &batch).await?;
        let paths: Vec<&RelPath> = batch.iter().map(|(p, _)| p).collect();
        self.record(caller, ws, "PUT", "files replaced", &paths)
            .await;
        Ok(Changed {
            status: "replaced",
            path: None,
            files: Some(batch.len()),
        })
    }

    /// An audit row naming the paths touched, never their content.
    async fn record(
        &self,
        caller: &Caller,
        ws: &Workspace,
        method: &str,
        summary: &str,
        paths: &[&RelPath],
    ) {
        let paths: Vec<&str> = paths.iter().map(|p| p.as_str()).collect();
        let row = audit::row(ws.id, Kind::Files, caller, method, summary)
            .with_details(serde_json::json!({ "paths": paths }));
        audit::record(&*self.ports.store, row).await;
    }
}
