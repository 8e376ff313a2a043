//! The properties each fuzz target checks, shared by the fuzz targets (`fuzz/fuzz_targets/`) and
//! by `tests/fuzz_regressions.rs`, which replays every saved input through them in the test
//! suite. A check panics when a property breaks; any other outcome is a pass.

use std::io::Write;
use std::path::{Component, Path};
use std::process::Command;

use workspace_server::backend::eic::args::{exec_command, quote_all, script_command};
use workspace_server::files::RelPath;
use workspace_server::plugins::archive::extract_tar_gz;
use workspace_server::plugins::source::{PluginSource, valid_name};
use workspace_server::terminal::protocol::{ClientFrame, Control, MAX_DIMENSION};

/// A property over one input: panics when it breaks.
pub type Check = fn(&[u8]);

/// The fuzz targets, by name; each has a folder of saved inputs under `fuzz/seeds/` and
/// `fuzz/regressions/`.
pub const TARGETS: &[(&str, Check)] = &[
    ("rel_path", rel_path),
    ("plugin_source", plugin_source),
    ("plugin_archive", plugin_archive),
    ("terminal_control", terminal_control),
    ("shell_quote", shell_quote),
];

/// A parsed relative path is relative, has no `..`, no empty or `.` component and no NUL, and
/// parses again to itself.
pub fn rel_path(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(path) = RelPath::parse(raw) else {
        return;
    };
    let s = path.as_str();
    assert!(
        !s.is_empty() && !s.starts_with('/') && !s.contains('\0'),
        "{s:?}"
    );
    for part in path.components() {
        assert!(
            !matches!(part, "" | "." | ".."),
            "component {part:?} in {s:?}"
        );
    }
    assert!(
        Path::new(s)
            .components()
            .all(|c| matches!(c, Component::Normal(_))),
        "{s:?} is not plain"
    );
    assert_eq!(RelPath::parse(s).as_ref().map(RelPath::as_str), Ok(s));
    let rebuilt: Vec<&str> = path
        .parent()
        .into_iter()
        .chain([path.file_name()])
        .collect();
    assert_eq!(rebuilt.join("/"), s);
}

/// A parsed source names a valid plugin, contains no shell or path metacharacters in any part,
/// and prints back to a string that parses to the same source.
pub fn plugin_source(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(source) = PluginSource::parse(raw) else {
        return;
    };
    let printed = source.to_string();
    assert_eq!(PluginSource::parse(&printed).as_ref(), Ok(&source));
    match &source {
        PluginSource::Local { name } => assert!(valid_name(name), "{name:?}"),
        PluginSource::Github {
            owner,
            repo,
            reference,
        } => {
            for part in [owner, repo] {
                assert!(!matches!(part.as_str(), "" | "." | ".."), "{part:?}");
                assert!(!part.contains('/'), "{part:?}");
            }
            if let Some(r) = reference {
                assert!(!r.starts_with('-') && !r.contains(".."), "{r:?}");
            }
        }
    }
    let safe = |c: char| c.is_ascii_alphanumeric() || "._-/:#".contains(c);
    assert!(printed.chars().all(safe), "{printed:?}");
}

/// Most bytes the archive check lets an extraction write.
const ARCHIVE_LIMIT: u64 = 1 << 20;

/// Extracting any tar (gzipped here) writes nothing outside its destination; when it succeeds, the
/// tree holds no link that resolves outside it, no special file, and no more file bytes than the
/// limit (on failure the caller discards the destination).
pub fn plugin_archive(data: &[u8]) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    let gz = gz.finish().unwrap();
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    let result = extract_tar_gz(gz.as_slice(), &dest, ARCHIVE_LIMIT);
    let beside: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        beside,
        ["dest"],
        "written beside the destination: {result:?}"
    );
    if result.is_err() {
        return; // the caller discards the destination
    }
    let mut bytes = 0;
    walk(&dest, &dest, &mut bytes);
    assert!(bytes <= ARCHIVE_LIMIT, "{bytes} bytes written");
}

fn walk(dest: &Path, dir: &Path, bytes: &mut u64) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = path.symlink_metadata().unwrap();
        let kind = meta.file_type();
        if kind.is_symlink() {
            assert_link_inside(dest, &path);
        } else if kind.is_dir() {
            walk(dest, &path, bytes);
        } else {
            assert!(kind.is_file(), "special file {path:?}");
            *bytes += meta.len();
        }
    }
}

/// Resolves a link the way the kernel does, one component at a time, and fails if any step
/// leaves `dest` (a link that does not resolve is fine as long as it never left).
fn assert_link_inside(dest: &Path, link: &Path) {
    let mut hops = 0;
    let mut pending: Vec<std::ffi::OsString> = Vec::new();
    let mut at = link.parent().unwrap().to_path_buf();
    let push_target = |pending: &mut Vec<std::ffi::OsString>, target: &Path| {
        for c in target.components().rev() {
            pending.push(c.as_os_str().to_owned());
        }
    };
    let target = std::fs::read_link(link).unwrap();
    assert!(!target.is_absolute(), "{link:?} → {target:?}");
    push_target(&mut pending, &target);
    while let Some(part) = pending.pop() {
        match part.to_str() {
            Some(".") => continue,
            Some("..") => {
                assert!(at != dest, "{link:?} → {target:?} leaves the tree");
                at.pop();
                continue;
            }
            _ => {}
        }
        at.push(&part);
        match at.symlink_metadata() {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > 40 {
                    return; // a loop: the kernel gives ELOOP, nothing escapes
                }
                let next = std::fs::read_link(&at).unwrap();
                assert!(!next.is_absolute(), "{link:?} reaches {next:?}");
                at.pop();
                push_target(&mut pending, &next);
            }
            Ok(_) => {}
            Err(_) => return, // does not resolve
        }
        assert!(
            at.starts_with(dest),
            "{link:?} → {target:?} leaves the tree"
        );
    }
}

/// Any text frame is a control message with a size in range, a refused control message (a JSON
/// object of a control type, never typed into the shell), or input carried byte for byte.
pub fn terminal_control(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ClientFrame::from_text(text) {
        ClientFrame::Input(bytes) => assert_eq!(&bytes[..], data),
        ClientFrame::Control(Control::Resize(size)) => {
            assert!((1..=MAX_DIMENSION).contains(&size.cols), "{size:?}");
            assert!((1..=MAX_DIMENSION).contains(&size.rows), "{size:?}");
            assert!(text.trim_start().starts_with('{'));
        }
        ClientFrame::Control(Control::Ping) => assert!(text.trim_start().starts_with('{')),
        ClientFrame::BadControl(_) => {
            let value: serde_json::Value = serde_json::from_str(text).expect("a JSON object");
            assert!(
                matches!(value["type"].as_str(), Some("resize" | "ping")),
                "{text}"
            );
        }
        other => panic!("a text frame became {other:?}"),
    }
}

/// Words cut from the input (at NUL bytes, which no argv can hold), at most 6 of them.
fn words(data: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(data)
        .split('\0')
        .take(6)
        .map(str::to_owned)
        .collect()
}

/// Runs `command` with `sh -c` and splits its output at NULs.
fn through_sh(command: &str) -> Vec<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(command)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(out.status.success(), "{command:?}: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut words: Vec<String> = text.split('\0').map(str::to_owned).collect();
    assert_eq!(words.pop().as_deref(), Some(""), "{command:?}");
    words
}

/// Every way the EIC path quotes a remote command gives back the exact argv through a real
/// `sh -c`: plain quoting, a fixed script's positional parameters, and the exec command line
/// (marker, environment, working directory).
pub fn shell_quote(data: &[u8]) {
    let words = words(data);
    let printf = |rest: &[String]| {
        let mut argv = vec!["printf".to_owned(), "%s\\0".to_owned()];
        argv.extend_from_slice(rest);
        argv
    };
    let quoted = quote_all(&printf(&words));
    assert_eq!(through_sh(&quoted), words, "{quoted:?}");

    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    let script = script_command(r#"printf '%s\0' "$@""#, &refs);
    assert_eq!(through_sh(&script), words, "{script:?}");

    let value = words.first().cloned().unwrap_or_default();
    let env = [("FUZZ_VALUE".to_owned(), value.clone())];
    let mut argv = printf(&words);
    argv.extend(["$FUZZ_VALUE".to_owned()]);
    let line = exec_command("WORKSPACE_SERVER_EXEC=x", &env, Some("/"), &argv);
    let mut expected = words.clone();
    expected.push("$FUZZ_VALUE".to_owned());
    assert_eq!(through_sh(&line), expected, "{line:?}");
    let shown = through_sh(&exec_command(
        "WORKSPACE_SERVER_EXEC=x",
        &env,
        None,
        &[
            "sh".into(),
            "-c".into(),
            r#"printf '%s\0' "$FUZZ_VALUE""#.into(),
        ],
    ));
    assert_eq!(shown, [value]);
}
