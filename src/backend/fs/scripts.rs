//! The fixed POSIX `sh` scripts behind the files API and plugin delivery, and their exit codes.
//! Every one starts from [`PRELUDE`]: `$1` is the root, and `enter` walks below it.

/// What a refused walk answers (SPEC §11).
pub const LEAVES_ROOT_MESSAGE: &str = "path leaves the workspace root";

// Exit codes of the scripts.
/// A path (or the root) is missing.
pub const MISSING: i32 = 3;
/// A file is larger than the read's cap.
pub const TOO_LARGE: i32 = 4;
/// The path names a directory where a file was meant.
pub const IS_DIR: i32 = 5;
/// A component of the path is not a directory.
pub const NOT_DIR: i32 = 6;
/// The walk stood outside the root.
pub const LEAVES_ROOT: i32 = 8;
/// The file is not as the request's condition required.
pub const PRECONDITION: i32 = 9;
/// The content received was not the size announced (an upload cut short).
pub const TRUNCATED: i32 = 10;
/// Another conditional change held the directory's lock for too long.
pub const BUSY: i32 = 11;

/// Shared by every script: `$1` is the root, which must exist and must not itself be a link;
/// `enter DIR [create]` walks into the relative `DIR`, creating missing directories when asked,
/// and exits `LEAVES_ROOT` as soon as it stands outside the root.
pub const PRELUDE: &str = r#"unset CDPATH
cd -P -- "$1" 2>/dev/null || exit 3
root=$(pwd -P)
[ "$root" = "$1" ] || exit 8
shift
own() { [ "$(id -u)" = 0 ] && chown -h 1000:1000 -- "$@"; return 0; }
inside() { case $(pwd -P) in "$root"|"$root"/*) return 0;; esac; exit 8; }
to_root() { cd -P -- "$root" 2>/dev/null || exit 7; inside; }
enter() {
  [ "$1" = . ] && return 0
  _mk=${2-}
  set -f; _ifs=$IFS; IFS=/
  # shellcheck disable=SC2086
  set -- $1
  IFS=$_ifs; set +f
  for _c do
    if [ -n "$_mk" ] && [ ! -e "./$_c" ] && [ ! -L "./$_c" ]; then
      mkdir -- "./$_c" 2>/dev/null && own "./$_c"
    fi
    if ! cd -- "./$_c" 2>/dev/null; then
      if [ -L "./$_c" ] && [ ! -e "./$_c" ]; then exit 3; fi
      [ -e "./$_c" ] && exit 6
      exit 3
    fi
    inside
  done
}
"#;

/// `$1` dir, `$2` depth: `<kind> <size> <path>\0` per entry below the dir, paths relative to it.
pub const LIST: &str = r#"enter "$1"
if find . -maxdepth 0 -printf '' >/dev/null 2>&1; then
  exec find . -mindepth 1 -maxdepth "$2" -printf '%y %s %P\0'
fi
exec find . -mindepth 1 -maxdepth "$2" -exec sh -c 'for f do
  if [ -L "$f" ]; then printf "l 0 %s\0" "$f"
  elif [ -d "$f" ]; then printf "d 0 %s\0" "$f"
  elif [ -f "$f" ]; then printf "f %s %s\0" "$(stat -c %s -- "$f")" "$f"
  else printf "o 0 %s\0" "$f"; fi
done' sh {} +"#;
/// `$1` dir, `$2` name, `$3` cap in bytes: a line `<size> <sha256>`, then the file's bytes; or,
/// past the cap, a line `<size>` and `TOO_LARGE`. The size and digest are of the file opened once
/// (descriptor 3); the reader takes no more than that size.
pub const READ: &str = r#"enter "$1"
[ -d "./$2" ] && exit 5
[ -f "./$2" ] || exit 3
exec 3< "./$2" || exit 3
case $(readlink /proc/self/fd/3) in "$root"/*) ;; *) exit 8;; esac
[ -f /proc/self/fd/3 ] || exit 3
size=$(stat -L -c %s /proc/self/fd/3) || exit 3
[ "$size" -gt "$3" ] && { echo "$size"; exit 4; }
sum=$(sha256sum < /proc/self/fd/3) || exit 3
printf '%s %s\n' "$size" "${sum%% *}"
exec cat <&3"#;

/// `$1` dir, `$2` name, `$3` condition mode, `$4` tags: removes the file or tree (a link is
/// removed itself), under the directory's lock when there is a condition.
pub const DELETE: &str = r#"enter "$1"
if [ ! -e "./$2" ] && [ ! -L "./$2" ]; then
  case $3 in exists|match) exit 9;; *) exit 3;; esac
fi
[ "$3" = none ] && exec rm -rf -- "./$2"
lock || exit $?
holds "$3" "$4" "$2" || { unlock; exit 9; }
rm -rf -- "./$2"; rc=$?
unlock
exit $rc"#;

/// `$1` a fresh staging name, then `dir name` pairs; stdin is a tar of the files named `0`, `1`, …
/// in pair order. Every pair is checked before anything is written, then each file is renamed
/// from the staging directory into place (one atomic rename each).
pub const WRITE: &str = r#"stage=$1; shift
check() (
  set -f; _ifs=$IFS; IFS=/
  # shellcheck disable=SC2086
  set -- $1 "$2"
  IFS=$_ifs; set +f
  while [ $# -gt 1 ]; do
    [ -e "./$1" ] || [ -L "./$1" ] || exit 0
    cd -- "./$1" 2>/dev/null || exit 6
    inside
    shift
  done
  if [ -d "./$1" ] && [ ! -L "./$1" ]; then exit 5; fi
  exit 0
)
check_all() {
  while [ $# -gt 1 ]; do
    check "$1" "$2" || exit $?
    shift 2
  done
}
check_all "$@"
mkdir -m 700 -- "./$stage" || exit 7
cleanup() { to_root; rm -rf -- "./$stage"; }
( cd -- "./$stage" && inside && tar -x -f - ) || { cleanup; exit 7; }
i=0
while [ $# -gt 1 ]; do
  to_root
  ( enter "$1" create && mv -f -T -- "$root/$stage/$i" "./$2" && own "./$2" ) || { rc=$?; cleanup; exit $rc; }
  i=$((i + 1)); shift 2
done
cleanup
exit 0"#;

/// `$1` a fresh staging name, `$2` dir, `$3` name, `$4` size, `$5` condition mode, `$6` tags;
/// stdin is the content. It is written from inside a staging directory beside the file (entered
/// and checked first, so a link swapped in for it afterwards cannot redirect the write or the
/// `chmod`), checked to be exactly `size` bytes (a cut upload is never put in place), and renamed
/// over the file in one
/// step, under the directory's lock when there is a condition. Parent directories are created
/// unless the condition needs the file to exist already.
pub const WRITE_ONE: &str = r#"stage=$1 dir=$2 name=$3 size=$4 mode=$5 tags=$6
case $mode in none|absent) enter "$dir" create;; *) enter "$dir";; esac
if [ -d "./$name" ] && [ ! -L "./$name" ]; then exit 5; fi
mkdir -m 700 -- "./$stage" || exit 7
fail() { rm -rf -- "./$stage"; exit "$1"; }
( cd -- "./$stage" && inside || exit 7
  cat > ./0 || exit 7
  [ "$(stat -c %s -- ./0)" = "$size" ] || exit 10
  chmod 644 -- ./0 && own ./0 ) || fail $?
if [ "$mode" != none ]; then
  lock || fail $?
  holds "$mode" "$tags" "$name" || { unlock; fail 9; }
fi
mv -f -T -- "./$stage/0" "./$name" || { [ "$mode" = none ] || unlock; fail 7; }
[ "$mode" = none ] || unlock
rmdir -- "./$stage"
exit 0"#;

/// Shared by the scripts that take a condition (SPEC §15), run in the file's directory.
/// `lock` takes the directory's lock (a `mkdir`, so it works without `flock`; one left by a
/// writer that died is taken over after a minute), `unlock` gives it back, and
/// `holds MODE TAGS NAME` answers whether the condition holds of `./NAME`: `current` prints the
/// file's digest, nothing when it is absent, `-` for a link or anything not a regular file (a
/// link is never read through, so no digest of a file outside the root is ever compared).
pub const CONDITION: &str = r#"lock() {
  _n=0
  until mkdir -- ./.wss-lock 2>/dev/null; do
    _n=$((_n + 1))
    [ "$_n" -le 200 ] || return 11
    find ./.wss-lock -maxdepth 0 -mmin +1 -exec rmdir -- {} \; 2>/dev/null
    sleep 0.05
  done
}
unlock() { rmdir -- ./.wss-lock 2>/dev/null; return 0; }
current() {
  if [ -L "./$1" ]; then echo -; return 0; fi
  [ -e "./$1" ] || return 0
  [ -f "./$1" ] || { echo -; return 0; }
  exec 4< "./$1" || { echo -; return 0; }
  case $(readlink /proc/self/fd/4) in
    "$root"/*) _s=$(sha256sum <&4) && echo "${_s%% *}";;
    *) echo -;;
  esac
}
holds() {
  _cur=$(current "$3")
  case $1 in
    none) return 0;;
    absent) [ -z "$_cur" ];;
    exists) [ -n "$_cur" ];;
    match) for _t in $2; do [ "$_t" = "$_cur" ] && return 0; done; return 1;;
    *) return 1;;
  esac
}
"#;

/// `$1` incoming name, `$2` plugin name; stdin is a tar of the tree at its top level. The tree is
/// unpacked into a fresh directory inside `plugins/`, given to the agent user, then swapped into
/// place; the old version is kept aside until the new one is in and put back if that fails.
/// Trees owned by the agent user are changed with `sudo -n` when the login user is another one.
pub const DELIVER: &str = r#"enter plugins create
[ -L "./$2" ] && exit 8
new=$1 name=$2 old=".$2.old-$$"
mkdir -- "./$new" || exit 1
del() { rm -rf -- "$1" 2>/dev/null || sudo -n rm -rf -- "$1" 2>/dev/null; }
( cd -- "./$new" && inside && tar -x -f - ) || { del "./$new"; exit 1; }
chown -R -h 1000:1000 -- "./$new" 2>/dev/null || sudo -n chown -R -h 1000:1000 -- "./$new" || { del "./$new"; exit 1; }
if [ -e "./$name" ] || [ -L "./$name" ]; then mv -f -T -- "./$name" "./$old" || { del "./$new"; exit 1; }; fi
if mv -T -- "./$new" "./$name"; then del "./$old"; exit 0; fi
del "./$new"
if [ -e "./$old" ]; then mv -T -- "./$old" "./$name"; fi
exit 1"#;

/// `$1` plugin name: removes `plugins/<name>`, and nothing else.
pub const REMOVE_PLUGIN: &str = r#"enter plugins
[ -L "./$1" ] && exit 8
[ -e "./$1" ] || exit 3
rm -rf -- "./$1" 2>/dev/null || exec sudo -n rm -rf -- "./$1""#;

/// Put before the prelude of the scripts that write: creates a missing root, but only when its
/// parent is a real directory (never through a link).
pub const MAKE_ROOT: &str = r#"if [ ! -e "$1" ] && [ ! -L "$1" ]; then
  _up=${1%/*}; [ -n "$_up" ] || _up=/
  ( cd -P -- "$_up" 2>/dev/null && [ "$(pwd -P)" = "$_up" ] && mkdir -- "./${1##*/}" \
    && { [ "$(id -u)" != 0 ] || chown 1000:1000 -- "./${1##*/}"; } )
fi
"#;

/// A script: the prelude, then `body`.
pub fn script(body: &str) -> String {
    format!("{PRELUDE}{body}")
}

/// A script that may create its missing root first.
pub fn writing_script(body: &str) -> String {
    format!("{MAKE_ROOT}{PRELUDE}{body}")
}

/// The whole plugin delivery script, for tests that run it by hand.
pub fn deliver_script() -> String {
    writing_script(DELIVER)
}
