//! Exec markers: a variable put in every exec's environment, so that the processes it started
//! can be found and killed again from inside the workspace, on either path.

/// The variable naming an exec.
pub const MARKER_VAR: &str = "WORKSPACE_SERVER_EXEC";

/// A fresh `WORKSPACE_SERVER_EXEC=<random>` assignment.
pub fn new_marker() -> String {
    format!("{MARKER_VAR}={}", uuid::Uuid::new_v4().simple())
}

/// Sends signal number `$2` to every process whose environment holds the assignment `$1`; for a
/// kill (9), in two passes (a process forked during the first is caught by the second). One
/// `grep` reads every environment, so the cost stays flat however many processes the workspace
/// runs. Needs `sh` and a `grep` with `-z` (GNU or busybox).
pub const SIGNAL_BY_MARKER_SCRIPT: &str = r#"passes=1; [ "$2" = 9 ] && passes="1 2"
for pass in $passes; do
  for f in $(grep -lxzF -- "$1" /proc/[0-9]*/environ 2>/dev/null); do
    p=${f#/proc/}
    p=${p%/environ}
    [ "$p" = "$$" ] || kill -"$2" "$p" 2>/dev/null
  done
done
exit 0"#;
