#!/usr/bin/env bash
# Writes the committed testdata image the way `podman save` writes it, as docker-archive and
# oci-archive, into ${IMGAUDIT_TEST_IMAGES:-target/test-images}/podman/. podman runs rootful
# with the vfs storage driver and its storage in a temporary directory, so nothing outside
# that directory and the output is touched. Installs podman with apt-get when it is missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${IMGAUDIT_TEST_IMAGES:-$PWD/target/test-images}/podman
source_image=testdata/busybox-app.docker.tar
stamp=$out/.source-sha256
want=$(cat "$source_image" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
    exit 0
fi

if ! command -v podman >/dev/null 2>&1; then
    echo "[podman-save.sh] installing podman with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
podman_cmd() {
    podman --storage-driver vfs --root "$work/graph" --runroot "$work/run" \
        --cgroup-manager cgroupfs --events-backend none "$@"
}

mkdir -p "$out"
podman_cmd load -q -i "$source_image" >&2
name=docker.io/library/busybox-app:latest
podman_cmd save -q --format docker-archive -o "$out/busybox-app.docker.tar" "$name"
podman_cmd save -q --format oci-archive -o "$out/busybox-app.oci.tar" "$name"
echo "$want" >"$stamp"
echo "[podman-save.sh] wrote $out" >&2
