//! A cgroup of each remote exec's own (cgroup v2 on the instance, made through `sudo -n`), so that
//! its kill does not depend on the process's cooperation: a child that clears its environment
//! (and with it the exec's marker), starts a new session or runs under `sudo` stays in the cgroup,
//! which only root can move it out of. Where the OS user has no passwordless sudo or the instance
//! no cgroup v2, the join is skipped and the kill falls back to the marker.

use super::args::quote_all;

/// As root: `$1` a tag, `$2` a PID. Puts the PID into `wss-exec/<tag>` on the cgroup v2 hierarchy,
/// removing the empty cgroups of earlier execs on the way. Quietly does nothing without cgroup v2.
const JOIN: &str = r#"base=
while read -r _ _ _ _ mp rest; do
  case $rest in *" - cgroup2 "*) base=$mp; break;; esac
done < /proc/self/mountinfo
[ -n "$base" ] || exit 0
d=$base/wss-exec
mkdir -p "$d" || exit 0
for o in "$d"/*/; do [ -d "$o" ] && rmdir "$o" 2>/dev/null; done
mkdir "$d/$1" && echo "$2" > "$d/$1/cgroup.procs""#;

/// As root: `$1` a tag. Kills everything in `wss-exec/<tag>` (`cgroup.kill`, else SIGKILL to each
/// member), until it is empty (5 s at most), then removes it.
const KILL: &str = r#"base=
while read -r _ _ _ _ mp rest; do
  case $rest in *" - cgroup2 "*) base=$mp; break;; esac
done < /proc/self/mountinfo
d=$base/wss-exec/$1
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
exit 0"#;

/// Shell code, run by the login shell before it `exec`s the command, that moves that shell (`$$`)
/// into the exec's cgroup.
pub fn join_command(tag: &str) -> String {
    format!(
        "{} \"$$\" </dev/null >/dev/null 2>&1",
        quote_all(&["sudo", "-n", "sh", "-c", JOIN, "sh", tag])
    )
}

/// The command that kills the exec's cgroup (nothing, where it has none).
pub fn kill_command(tag: &str) -> String {
    format!(
        "{} </dev/null >/dev/null 2>&1",
        quote_all(&["sudo", "-n", "sh", "-c", KILL, "sh", tag])
    )
}

/// The tag of an exec: the random part of its marker.
pub fn tag_of(marker: &str) -> &str {
    marker.rsplit('=').next().unwrap_or(marker)
}
