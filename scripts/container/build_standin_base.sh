#!/usr/bin/env bash
# Builds a stand-in for the python:3.11-slim base image from Debian packages, for machines that
# reach Debian's package mirror but no container registry.
#
#   scripts/container/build_standin_base.sh IMAGE_NAME [WORK_DIR]
#
# It provides what the Dockerfile relies on from python:3.11-slim: Python 3.11 as `python` and
# `python3` with venv and pip, useradd/groupadd, LANG=C.UTF-8. Like the real image (and unlike
# Debian's python3) pip may install into the system Python. It is Debian bookworm's Python 3.11,
# not python.org's build, so use it to test the image, never to publish one.
#
# Environment: CONTAINER_ENGINE (default podman; a command, may carry options), DEBIAN_MIRROR
# (default http://deb.debian.org/debian). Needs root (debootstrap, chroot); 40 to 70 s here.
set -euo pipefail

image=${1:?usage: build_standin_base.sh IMAGE_NAME [WORK_DIR]}
work=${2:-$(mktemp -d)}
engine=${CONTAINER_ENGINE:-podman}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
rootfs="$work/standin-rootfs"

if ! command -v debootstrap >/dev/null; then
    echo "build_standin_base: debootstrap is missing (apt-get install debootstrap)" >&2
    exit 1
fi

rm -rf "$rootfs"
echo "build_standin_base: debootstrap bookworm from $mirror"
# Two stages with dpkg's fsyncs off in between: about twice as fast on a busy disk, and the
# rootfs is thrown away if the build dies anyway. The setting is removed again below.
if ! { debootstrap --foreign --variant=minbase \
            --include=python3,python3-venv,python3-pip,python-is-python3 \
            bookworm "$rootfs" "$mirror" \
        && echo force-unsafe-io >"$rootfs/etc/dpkg/dpkg.cfg.d/standin-unsafe-io" \
        && chroot "$rootfs" /debootstrap/debootstrap --second-stage; } >"$work/debootstrap.log" 2>&1
then
    tail -n 20 "$work/debootstrap.log" >&2
    echo "build_standin_base: debootstrap failed (log above)" >&2
    exit 1
fi

# What python:3.11-slim does not carry either: package caches and Debian's pip guard (PEP 668).
rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* \
    "$rootfs/etc/dpkg/dpkg.cfg.d/standin-unsafe-io"
rm -f "$rootfs"/usr/lib/python3.*/EXTERNALLY-MANAGED

# shellcheck disable=SC2086  # $engine may carry options (podman --root ...)
tar -C "$rootfs" -c . | $engine import \
    --change 'ENV=LANG=C.UTF-8' \
    --change 'CMD=["python3"]' \
    --change 'LABEL org.opencontainers.image.description="Stand-in for python:3.11-slim, built with debootstrap; for tests only"' \
    - "$image" >"$work/import.log" 2>&1 \
    || { cat "$work/import.log" >&2; echo "build_standin_base: import failed" >&2; exit 1; }
rm -rf "$rootfs"
echo "build_standin_base: built $image"
