# shellcheck shell=bash
# Starts dockerd on its default socket unless an engine already answers, and builds the test
# workspace image from Debian's busybox-static (there is no registry: the image is imported from a
# root filesystem made here). Exports WSS_TEST_IMAGE for the tests.

WSS_TEST_IMAGE="${WSS_TEST_IMAGE:-workspace-server-test:busybox}"
export WSS_TEST_IMAGE

start_docker() {
  if docker info >/dev/null 2>&1; then
    echo "==> Docker engine already answering"
    return 0
  fi
  echo "==> starting dockerd"
  mkdir -p "$WSS_TEST_STATE"
  nohup dockerd --host unix:///var/run/docker.sock >"$WSS_TEST_STATE/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "dockerd did not answer within 60 s; its log:" >&2
  tail -n 40 "$WSS_TEST_STATE/dockerd.log" >&2
  return 1
}

# The test image: busybox's applets as /bin, a passwd with root and uid 1000, /configs, and a
# command that keeps the container up and stops at once on SIGTERM.
build_test_image() {
  local root="$WSS_TEST_STATE/image-root"
  rm -rf "$root"
  mkdir -p "$root"/{bin,etc,tmp,configs,root,home/agent,workspace}
  chmod 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  local applet
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nagent:x:1000:1000:agent:/home/agent:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\nagent:x:1000:\n' >"$root/etc/group"
  tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/bin' \
    --change 'CMD ["/bin/sh", "-c", "trap \"exit 0\" TERM; while :; do sleep 3600 & wait; done"]' \
    - "$WSS_TEST_IMAGE" >/dev/null
  echo "==> test image $WSS_TEST_IMAGE ready"
}

# Removes the containers and volumes that test servers created (left behind by a failed test).
remove_test_workspaces() {
  local ids
  ids="$(docker ps -aq --filter label=workspace-server.managed=true)"
  if [ -n "$ids" ]; then
    # One already being removed (by the test that made it) is on its way out: not an error.
    # shellcheck disable=SC2086
    docker rm -f $ids >/dev/null 2>&1 || true
  fi
  ids="$(docker volume ls -q --filter label=workspace-server.managed=true)"
  if [ -n "$ids" ]; then
    # shellcheck disable=SC2086
    docker volume rm -f $ids >/dev/null 2>&1 || true
  fi
}
