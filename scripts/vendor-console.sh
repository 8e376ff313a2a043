#!/usr/bin/env bash
# Vendors the console's front-end packages at their pinned versions from the npm registry:
# xterm.js and its fit addon, with their licences, into assets/console/vendor (embedded in the
# binary at build time; nothing is fetched by `cargo build`). With --check, only compares.
set -euo pipefail
cd "$(dirname "$0")/.."

XTERM=6.0.0
FIT=0.11.0
dest=assets/console/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "@xterm/xterm@$XTERM" "@xterm/addon-fit@$FIT" >/dev/null)
mkdir -p "$work/xterm" "$work/fit" "$work/out"
tar xzf "$work/xterm-xterm-$XTERM.tgz" -C "$work/xterm"
tar xzf "$work/xterm-addon-fit-$FIT.tgz" -C "$work/fit"
cp "$work/xterm/package/lib/xterm.js" "$work/xterm/package/css/xterm.css" "$work/out/"
cp "$work/xterm/package/LICENSE" "$work/out/LICENSE.xterm"
cp "$work/fit/package/lib/addon-fit.js" "$work/out/"
cp "$work/fit/package/LICENSE" "$work/out/LICENSE.addon-fit"

if [ "${1:-}" = "--check" ]; then
  for f in "$work"/out/*; do
    cmp -s "$f" "$dest/$(basename "$f")" || { echo "differs from npm: $dest/$(basename "$f")"; exit 1; }
  done
  echo "assets/console/vendor matches @xterm/xterm@$XTERM and @xterm/addon-fit@$FIT"
else
  mkdir -p "$dest"
  cp "$work"/out/* "$dest/"
  echo "vendored @xterm/xterm@$XTERM and @xterm/addon-fit@$FIT into $dest"
fi
