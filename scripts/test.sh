#!/usr/bin/env bash
# The whole test suite: installs and starts what the tests need (PostgreSQL and an OpenSSH server
# on loopback, the Docker engine and its test image),
# then runs the format check, clippy and every test. A missing service is a failure, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

export WSS_TEST_STATE="${WSS_TEST_STATE:-/tmp/workspace-server-test}"
mkdir -p "$WSS_TEST_STATE"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=
need_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing ${missing[*]}"
    if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

need_packages postgresql docker.io busybox-static openssh-server openssh-client socat sudo git debootstrap iproute2 util-linux chromium docker-registry tmux haproxy
# The browser tests drive Debian's chromium with playwright-core (never a downloaded browser).
command -v npm >/dev/null 2>&1 || need_packages nodejs npm
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "==> npm ci (tests/browser)"
  npm ci --prefix tests/browser --no-audit --no-fund >/dev/null
fi
# shellcheck source=scripts/lib/postgres.sh
. scripts/lib/postgres.sh
# shellcheck source=scripts/lib/docker.sh
. scripts/lib/docker.sh
# shellcheck source=scripts/lib/sshd.sh
. scripts/lib/sshd.sh
# shellcheck source=scripts/lib/images.sh
. scripts/lib/images.sh
start_postgres
start_sshd
start_docker
build_test_image
build_base_image
remove_test_workspaces
trap remove_test_workspaces EXIT

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --all-targets -- -D warnings
echo "==> tests"
# Every in-process test server leaves what it answered here; the OpenAPI check reads it afterwards.
rm -rf target/tmp/served-statuses
# The load test runs on its own, after the rest: 300 sessions beside other tests would measure them.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast -E 'not binary(load)' "$@"
  if [ $# -eq 0 ]; then
    echo "==> every status /openapi.json documents was answered by the suite"
    cargo nextest run --test api --run-ignored only -E 'test(every_documented_status_is_produced_by_a_test)'
  fi
  echo "==> load test"
  cargo nextest run --no-fail-fast --test load "$@"
  cargo test --doc
else
  cargo test --no-fail-fast "$@" -- --skip three_hundred_terminals
  if [ $# -eq 0 ]; then
    cargo test --test api -- --ignored every_documented_status_is_produced_by_a_test
  fi
  echo "==> load test"
  cargo test --test load "$@"
fi
echo "==> fuzzing (20 s per target; scripts/fuzz.sh 1800 is the soak)"
scripts/fuzz.sh 20
