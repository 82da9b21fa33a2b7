#!/usr/bin/env bash
# Runs imgaudit's whole test suite on a fresh Debian machine: installs the tools that build the
# real test images, builds them (cached in target/test-images), then checks formatting, lints
# and runs every test. Must run as root (mmdebstrap, chroot and apt-get need it).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "==> building real test images (cached after the first run)" >&2
bash tests/images/build.sh
bash tests/corpus/build.sh

# Tools of tests/registry.rs beyond skopeo, which build.sh installs. They are installed here,
# not in build.sh, because any edit under tests/images/ makes build.sh rebuild every image.
registry_packages=()
command -v docker-registry >/dev/null || registry_packages+=(docker-registry)
command -v htpasswd >/dev/null || registry_packages+=(apache2-utils)
command -v openssl >/dev/null || registry_packages+=(openssl)
if ((${#registry_packages[@]} > 0)); then
    echo "==> installing ${registry_packages[*]} for the registry tests" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${registry_packages[@]}" >&2
fi

bash tests/podman-save.sh

echo "==> cargo fmt --check" >&2
cargo fmt --check

echo "==> cargo clippy" >&2
cargo clippy --all-targets --locked -- -D warnings

echo "==> cargo test" >&2
cargo test --locked
