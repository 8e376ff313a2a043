//! What every in-process test server answered, kept for the OpenAPI check: each `TestApp` writes
//! its `http_requests_total` lines (route template, method, status) to a file of its own when it
//! is dropped, and `openapi::every_documented_status_is_produced_by_a_test` reads them all after
//! the suite has run.

use std::path::PathBuf;

use workspace_server::metrics::Metrics;

/// Where the statuses of this build's test servers are kept (`scripts/test.sh` empties it first).
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("served-statuses")
}

/// Writes the statuses `metrics` counted, if any.
pub fn keep(metrics: &Metrics) {
    let text = metrics.render();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("http_requests_total{"))
        .collect();
    if lines.is_empty() {
        return;
    }
    let dir = dir();
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join(format!("{}.txt", uuid::Uuid::new_v4().simple()));
    let _ = std::fs::write(file, lines.join("\n"));
}

/// Every (method, route template, status) the kept files record.
pub fn served() -> std::collections::BTreeSet<(String, String, u16)> {
    let mut out = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(dir()).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for line in text.lines() {
            let label = |name: &str| {
                let start = line.find(&format!("{name}=\""))? + name.len() + 2;
                let len = line[start..].find('"')?;
                Some(line[start..start + len].to_owned())
            };
            if let (Some(route), Some(method), Some(status)) =
                (label("route"), label("method"), label("status"))
            {
                out.insert((method, route, status.parse().unwrap_or(0)));
            }
        }
    }
    out
}
