# shellcheck shell=bash
# Base images for building the Dockerfiles without a registry: a Debian bookworm root filesystem
# made with debootstrap (with the EIC binaries `aws` and `ssh` already in it), imported under the
# tag the Dockerfiles name by default. Skipped when an image of that tag already exists.

WSS_BASE_IMAGE="${WSS_BASE_IMAGE:-debian:bookworm-slim}"
WSS_DEBIAN_MIRROR="${WSS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

build_base_image() {
  if docker image inspect "$WSS_BASE_IMAGE" >/dev/null 2>&1; then
    echo "==> base image $WSS_BASE_IMAGE already present"
    return 0
  fi
  echo "==> making $WSS_BASE_IMAGE with debootstrap (a few minutes, once)"
  local root="$WSS_TEST_STATE/base-root"
  rm -rf "$root"
  # python3-cffi-backend: awscli needs it through a virtual package debootstrap cannot resolve.
  debootstrap --variant=minbase \
    --include=openssh-client,awscli,ca-certificates,python3-cffi-backend \
    bookworm "$root" "$WSS_DEBIAN_MIRROR" >"$WSS_TEST_STATE/debootstrap.log" 2>&1 || {
    echo "debootstrap failed; its log:" >&2
    tail -n 40 "$WSS_TEST_STATE/debootstrap.log" >&2
    return 1
  }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import --change 'CMD ["/bin/bash"]' - "$WSS_BASE_IMAGE" >/dev/null
  rm -rf "$root"
  echo "==> base image $WSS_BASE_IMAGE ready"
}
