//! The output of exec runs (SPEC §14): each run's record stream, its NDJSON lines exactly as
//! `POST /exec` streams them with the final record last, appended to a file of its own under the
//! data directory. It is read again from any byte offset, live (following the writer) or after a
//! restart; a line read back carries its `offset` in the stream.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::sync::Locked;

/// How far a live run's stream has been written.
#[derive(Clone, Copy, Debug, Default)]
struct Progress {
    len: u64,
    done: bool,
}

/// The directory of run logs, and the runs being written now.
pub struct RunLogs {
    dir: PathBuf,
    live: std::sync::Mutex<HashMap<Uuid, watch::Receiver<Progress>>>,
}

/// Appends one run's lines; dropping it without `finish` leaves the stream unfinished (a
/// restart then closes it).
pub struct Writer {
    id: Uuid,
    file: tokio::fs::File,
    len: u64,
    tx: watch::Sender<Progress>,
    logs: Arc<RunLogs>,
}

impl Writer {
    /// Appends one line (a JSON object, without its newline).
    pub async fn append(&mut self, line: &[u8]) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line);
        bytes.push(b'\n');
        self.file.write_all(&bytes).await?;
        self.file.flush().await?;
        self.len += bytes.len() as u64;
        let len = self.len;
        self.tx.send_modify(|p| p.len = len);
        Ok(())
    }

    /// Appends the final record, makes the file durable and tells the readers it is whole.
    pub async fn finish(mut self, last: &[u8]) -> io::Result<()> {
        let appended = self.append(last).await;
        let synced = self.file.sync_data().await;
        self.tx.send_modify(|p| p.done = true);
        self.logs.live.locked().remove(&self.id);
        appended.and(synced)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.tx.send_modify(|p| p.done = true);
        self.logs.live.locked().remove(&self.id);
    }
}

/// One line read back: its offset in the stream, and the line with `"offset":N` first.
pub fn with_offset(offset: u64, line: &[u8]) -> Bytes {
    let mut out = format!("{{\"offset\":{offset}").into_bytes();
    match line.get(1..) {
        Some(rest) if rest.first() != Some(&b'}') => {
            out.push(b',');
            out.extend_from_slice(rest);
        }
        _ => out.push(b'}'),
    }
    out.push(b'\n');
    out.into()
}

impl RunLogs {
    /// The logs under `dir`, which the first run creates (a server that runs nothing writes
    /// nothing to its data directory).
    pub fn new(dir: PathBuf) -> Arc<Self> {
        Arc::new(Self {
            dir,
            live: std::sync::Mutex::new(HashMap::new()),
        })
    }

    fn path(&self, id: Uuid) -> PathBuf {
        self.dir.join(format!("{}.ndjson", id.simple()))
    }

    /// Starts the log of run `id`.
    pub async fn create(self: &Arc<Self>, id: Uuid) -> io::Result<Writer> {
        tokio::fs::create_dir_all(&self.dir).await?;
        let file = tokio::fs::OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(self.path(id))
            .await?;
        let (tx, rx) = watch::channel(Progress::default());
        self.live.locked().insert(id, rx);
        Ok(Writer {
            id,
            file,
            len: 0,
            tx,
            logs: self.clone(),
        })
    }

    /// Appends a final record to the log of a run that was cut off (a restart).
    pub async fn close_unfinished(&self, id: Uuid, last: &[u8]) -> io::Result<()> {
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(id))
            .await?;
        // A line cut in half by the crash is ended first, so the final record stands alone.
        let len = file.metadata().await?.len();
        let mut torn = false;
        if len > 0 {
            let mut reader = tokio::fs::File::open(self.path(id)).await?;
            reader.seek(io::SeekFrom::Start(len - 1)).await?;
            let mut last_byte = [0u8; 1];
            reader.read_exact(&mut last_byte).await?;
            torn = last_byte[0] != b'\n';
        }
        let mut bytes = Vec::new();
        if torn {
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(last);
        bytes.push(b'\n');
        file.write_all(&bytes).await?;
        file.sync_data().await
    }

    /// Whether this server keeps the log of run `id`.
    pub fn has(&self, id: Uuid) -> bool {
        self.path(id).exists()
    }

    pub async fn remove(&self, id: Uuid) {
        let _ = tokio::fs::remove_file(self.path(id)).await;
    }

    /// The lines of run `id` from byte `since` on (a line that starts before it is skipped),
    /// each with its offset when `offsets`, else as written; with `follow`, until the run's
    /// stream is whole. `None` when the run has no log.
    pub async fn read(
        &self,
        id: Uuid,
        since: u64,
        follow: bool,
        offsets: bool,
    ) -> Option<mpsc::Receiver<io::Result<Bytes>>> {
        let mut file = tokio::fs::File::open(self.path(id)).await.ok()?;
        let mut progress = self.live.locked().get(&id).cloned();
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let mut pos = 0u64; // offset of the first byte of `pending`
            let mut pending = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match file.read(&mut buf).await {
                    Ok(n) => n,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                if n > 0 {
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=end).collect();
                        let offset = pos;
                        pos += line.len() as u64;
                        if offset < since {
                            continue;
                        }
                        let out = match offsets {
                            true => with_offset(offset, &line[..end]),
                            false => Bytes::from(line),
                        };
                        if tx.send(Ok(out)).await.is_err() {
                            return;
                        }
                    }
                    continue;
                }
                // At the end of what is written: wait for more while the run goes on.
                let Some(rx) = progress.as_mut().filter(|_| follow) else {
                    return;
                };
                let written = pos + pending.len() as u64;
                let more = rx
                    .wait_for(|p| p.done || p.len > written)
                    .await
                    .map(|p| p.len > written);
                match more {
                    Ok(true) => {}
                    // Done, or the writer is gone: read what is left, then stop.
                    _ => progress = None,
                }
            }
        });
        Some(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn drain(mut rx: mpsc::Receiver<io::Result<Bytes>>) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(line) = rx.recv().await {
            out.extend_from_slice(&line.unwrap());
        }
        out
    }

    #[test]
    fn a_line_read_back_carries_its_offset_first() {
        assert_eq!(
            &with_offset(7, br#"{"a":1}"#)[..],
            b"{\"offset\":7,\"a\":1}\n"
        );
        assert_eq!(&with_offset(0, b"{}")[..], b"{\"offset\":0}\n");
    }

    #[tokio::test]
    async fn a_follower_gets_every_line_once_from_its_offset_until_the_run_ends() {
        let dir = tempfile::tempdir().unwrap();
        let logs = RunLogs::new(dir.path().join("exec"));
        let id = Uuid::new_v4();
        let mut writer = logs.create(id).await.unwrap();
        writer.append(br#"{"n":1}"#).await.unwrap();
        // From the start, and from the second line (offset 8), following the writer.
        let whole = logs.read(id, 0, true, false).await.unwrap();
        let tail = logs.read(id, 8, true, true).await.unwrap();
        let (whole, tail) = (tokio::spawn(drain(whole)), tokio::spawn(drain(tail)));
        for n in 2..=50 {
            writer
                .append(format!(r#"{{"n":{n}}}"#).as_bytes())
                .await
                .unwrap();
        }
        writer.finish(br#"{"end":true}"#).await.unwrap();
        let whole = String::from_utf8(whole.await.unwrap()).unwrap();
        let lines: Vec<&str> = whole.lines().collect();
        assert_eq!(lines.len(), 51);
        assert_eq!((lines[0], lines[50]), (r#"{"n":1}"#, r#"{"end":true}"#));
        let tail = String::from_utf8(tail.await.unwrap()).unwrap();
        assert!(tail.starts_with(r#"{"offset":8,"n":2}"#), "{tail}");
        // Each offset is where its line starts in the stream.
        for line in tail.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let at = v["offset"].as_u64().unwrap() as usize;
            let original = whole[at..].lines().next().unwrap();
            let mut v = v;
            v.as_object_mut().unwrap().remove("offset");
            assert_eq!(
                v,
                serde_json::from_str::<serde_json::Value>(original).unwrap()
            );
        }
        // Once whole, a reader without follow reads it all and stops.
        let again = drain(logs.read(id, 0, false, false).await.unwrap()).await;
        assert_eq!(String::from_utf8(again).unwrap(), whole);
    }

    #[tokio::test]
    async fn a_run_cut_off_mid_line_gets_its_final_record_on_a_line_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let logs = RunLogs::new(dir.path().to_owned());
        let id = Uuid::new_v4();
        std::fs::write(logs.path(id), b"{\"n\":1}\n{\"n\":").unwrap();
        logs.close_unfinished(id, br#"{"interrupted":true}"#)
            .await
            .unwrap();
        let read = drain(logs.read(id, 0, true, false).await.unwrap()).await;
        let text = String::from_utf8(read).unwrap();
        assert_eq!(text.lines().last(), Some(r#"{"interrupted":true}"#));
    }
}
