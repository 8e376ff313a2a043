#!/bin/sh
# Starts workspace-server, and the canvas when its bundle is present ($CANVAS_DIR/server.js,
# default /canvas/server.js, run with node). Forwards SIGTERM/SIGINT to both, and exits with the
# code of the first one to exit (after stopping the other).
set -u

CANVAS_DIR=${CANVAS_DIR:-/canvas}
CANVAS_PORT=${CANVAS_PORT:-3000}
server_pid=""
canvas_pid=""

signal_all() {
  for pid in $server_pid $canvas_pid; do
    kill "-$1" "$pid" 2>/dev/null || true
  done
}
trap 'signal_all TERM' TERM
trap 'signal_all INT' INT

if [ -f "$CANVAS_DIR/server.js" ] && command -v node >/dev/null 2>&1; then
  PORT=$CANVAS_PORT HOSTNAME=127.0.0.1 node "$CANVAS_DIR/server.js" &
  canvas_pid=$!
  CANVAS_PROXY_URL=${CANVAS_PROXY_URL:-http://127.0.0.1:$CANVAS_PORT}
  export CANVAS_PROXY_URL
fi

workspace-server "$@" &
server_pid=$!

# Wait for the first exit. `wait` returns early when a trapped signal arrives; the loop then
# checks again, so a forwarded SIGTERM ends in the server's own exit code.
code=0
while :; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    wait "$server_pid"
    code=$?
    break
  fi
  if [ -n "$canvas_pid" ] && ! kill -0 "$canvas_pid" 2>/dev/null; then
    wait "$canvas_pid"
    code=$?
    break
  fi
  sleep 1 &
  wait $! 2>/dev/null || true
done

signal_all TERM
wait
exit "$code"
