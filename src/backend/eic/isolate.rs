//! A cgroup of each remote exec's own (cgroup v2 on the instance, made through `sudo -n`), so that
//! its kill does not depend on the process's cooperation: a child that clears its environment
//! (and with it the exec's marker), starts a new session or runs under `sudo` stays in the cgroup,
//! which only root can move it out of. Where the OS user has no passwordless sudo or the instance
//! no cgroup v2, the join is skipped and the kill falls back to the marker.

use super::args::quote_all;

/// Shell code that sets `$base` to where the cgroup v2 hierarchy is mounted (empty without one).
macro_rules! find_base {
    () => {
        r#"base=
while read -r _ _ _ _ mp rest; do
  case $rest in *" - cgroup2 "*) base=$mp; break;; esac
done < /proc/self/mountinfo
"#
    };
}

/// As root: `$1` a tag, `$2` a PID. Puts the PID into `wss-exec/<tag>` on the cgroup v2 hierarchy,
/// removing the empty cgroups of earlier execs on the way. Quietly does nothing without cgroup v2.
const JOIN: &str = concat!(
    find_base!(),
    r#"[ -n "$base" ] || exit 0
d=$base/wss-exec
mkdir -p "$d" || exit 0
for o in "$d"/*/; do [ -d "$o" ] && rmdir "$o" 2>/dev/null; done
mkdir "$d/$1" && echo "$2" > "$d/$1/cgroup.procs""#
);

/// As root: `$1` a tag. Kills everything in `wss-exec/<tag>` (`cgroup.kill`, else SIGKILL to each
/// member), until it is empty (5 s at most), then removes it.
const KILL: &str = concat!(
    find_base!(),
    r#"d=$base/wss-exec/$1
[ -n "$base" ] && [ -d "$d" ] || exit 0
i=0
while [ $i -lt 250 ]; do
  first=
  read -r first < "$d/cgroup.procs"
  [ -n "$first" ] || break
  echo 1 > "$d/cgroup.kill" 2>/dev/null || while read -r p; do kill -9 "$p" 2>/dev/null; done < "$d/cgroup.procs"
  sleep 0.02; i=$((i + 1))
done
rmdir "$d" 2>/dev/null
exit 0"#
);

/// As root: `$1` a tag, `$2` a signal number. Sends it once to everything in `wss-exec/<tag>`;
/// exits 3 where there is no such cgroup (the caller falls back to the marker).
const SIGNAL: &str = concat!(
    find_base!(),
    r#"d=$base/wss-exec/$1
[ -n "$base" ] && [ -f "$d/cgroup.procs" ] || exit 3
while read -r p; do kill -"$2" "$p" 2>/dev/null; done < "$d/cgroup.procs"
exit 0"#
);

/// `script` with `args`, run as root through `sudo -n`, quoted for the login shell.
fn as_root(script: &str, args: &[&str]) -> String {
    let mut words = vec!["sudo", "-n", "sh", "-c", script, "sh"];
    words.extend_from_slice(args);
    quote_all(&words)
}

/// Without input or output.
const QUIET: &str = " </dev/null >/dev/null 2>&1";

/// Shell code, run by the login shell before it `exec`s the command, that moves that shell (`$$`)
/// into the exec's cgroup.
pub fn join_command(tag: &str) -> String {
    format!("{} \"$$\"{QUIET}", as_root(JOIN, &[tag]))
}

/// The command that kills the exec's cgroup (nothing, where it has none).
pub fn kill_command(tag: &str) -> String {
    format!("{}{QUIET}", as_root(KILL, &[tag]))
}

/// The command that sends signal number `signal` to the exec's cgroup; it fails where the exec
/// has none (or sudo is refused).
pub fn signal_command(tag: &str, signal: i32) -> String {
    format!("{}{QUIET}", as_root(SIGNAL, &[tag, &signal.to_string()]))
}

/// The tag of an exec: the random part of its marker.
pub fn tag_of(marker: &str) -> &str {
    marker.rsplit('=').next().unwrap_or(marker)
}
