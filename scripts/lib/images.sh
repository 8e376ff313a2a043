# shellcheck shell=bash
# Base images for building the Dockerfiles without a registry: Debian root filesystems made with
# debootstrap (with the EIC binaries `aws` and `ssh` already in them), imported under the tags the
# Dockerfiles name by default. Skipped when an image of that tag already exists.

WSS_BASE_IMAGE="${WSS_BASE_IMAGE:-debian:bookworm-slim}"
WSS_TENANT_BASE_IMAGE="${WSS_TENANT_BASE_IMAGE:-debian:trixie-slim}"
WSS_DEBIAN_MIRROR="${WSS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

# make_base_image TAG SUITE PACKAGES: a minbase root filesystem of SUITE with PACKAGES (comma-separated),
# imported as TAG; skipped when TAG exists.
make_base_image() {
  local tag=$1 suite=$2 packages=$3
  if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "==> base image $tag already present"
    return 0
  fi
  echo "==> making $tag with debootstrap $suite (a few minutes, once)"
  local root="$WSS_TEST_STATE/base-root-$suite"
  local log="$WSS_TEST_STATE/debootstrap-$suite.log"
  rm -rf "$root"
  debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$WSS_DEBIAN_MIRROR" \
    >"$log" 2>&1 || {
    echo "debootstrap failed; its log:" >&2
    tail -n 40 "$log" >&2
    return 1
  }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import --change 'CMD ["/bin/bash"]' - "$tag" >/dev/null
  rm -rf "$root"
  echo "==> base image $tag ready"
}

# The server image's base (Debian 12), and the tenant image's (Debian 13, whose AWS CLI, 2.23, has
# `ec2-instance-connect open-tunnel`; Debian 12's 2.9.19 does not). python3-cffi-backend: awscli
# needs it through a virtual package debootstrap cannot resolve.
build_base_image() {
  make_base_image "$WSS_BASE_IMAGE" bookworm openssh-client,awscli,ca-certificates,python3-cffi-backend
  make_base_image "$WSS_TENANT_BASE_IMAGE" trixie \
    openssh-client,awscli,git,nodejs,ca-certificates,python3-cffi-backend
}
