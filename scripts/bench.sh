#!/usr/bin/env bash
# Runs a benchmark of benches/ (default: all) with the services the tests use (sshd, the `aws`
# stand-in, Docker, PostgreSQL), in release mode. Results are printed; docs/benchmarks.md records them.
set -euo pipefail
cd "$(dirname "$0")/.."
export WSS_TEST_STATE="${WSS_TEST_STATE:-/tmp/workspace-server-test}"
mkdir -p "$WSS_TEST_STATE"
# shellcheck source=scripts/lib/sshd.sh
. scripts/lib/sshd.sh
# shellcheck source=scripts/lib/docker.sh
. scripts/lib/docker.sh
# shellcheck source=scripts/lib/postgres.sh
. scripts/lib/postgres.sh
start_sshd
start_postgres
start_docker
build_test_image
if [ $# -gt 0 ]; then
  for bench in "$@"; do cargo bench --bench "$bench"; done
else
  cargo bench
fi
