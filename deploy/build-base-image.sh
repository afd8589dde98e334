#!/usr/bin/env bash
# Build a local Debian bookworm base image that already has python3 + venv,
# for machines with no container registry (see docs/deploy.md, "Building
# without a registry").  Real users do not need this: deploy/Dockerfile
# defaults to the official python:3.11-slim image.
#
#   bash deploy/build-base-image.sh [IMAGE]      (as root)
#
# IMAGE defaults to localhost/debian-python3:bookworm.  The build is skipped
# when the image already exists (set FORCE=1 to rebuild).  Debian's python3 in
# bookworm is 3.11, the same minor version as the python:3.11-slim default,
# so wheels built for one work in the other.
set -euo pipefail

IMAGE="${1:-${FEEDS_BASE_IMAGE:-localhost/debian-python3:bookworm}}"
SUITE="${SUITE:-bookworm}"

if [[ "${FORCE:-0}" != 1 ]] && podman image exists "$IMAGE"; then
    echo "base image $IMAGE exists: skipping debootstrap"
    exit 0
fi

for tool in debootstrap podman; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y $tool)" >&2; exit 1; }
done

# The Debian mirror apt on this machine already uses (plain HTTP works here).
mirror="${MIRROR:-}"
if [[ -z "$mirror" ]]; then
    mirror="$(grep -rhoE '^URIs:[[:space:]]*http[^[:space:]]*/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | head -n1 | awk '{print $2}')" || true
fi
if [[ -z "$mirror" ]]; then
    mirror="$(grep -rhoE '^deb[[:space:]]+http[^[:space:]]*/debian/?[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | head -n1 | awk '{print $2}')" || true
fi
mirror="${mirror:-http://deb.debian.org/debian}"

rootfs="$(mktemp -d /var/tmp/feeds-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT

echo "debootstrap $SUITE from $mirror into $rootfs ..."
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
    tail -n 40 "$rootfs.log" >&2
    rm -f "$rootfs.log"
    exit 1
}
rm -f "$rootfs.log"

# Keep the image small and free of host-specific state.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*

tar -C "$rootfs" --numeric-owner -c . | podman import \
    --change 'CMD ["/bin/bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    - "$IMAGE" >/dev/null
echo "imported $IMAGE ($(podman image inspect --format '{{.Size}}' "$IMAGE") bytes)"
