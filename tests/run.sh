#!/usr/bin/env bash
# Runs imgaudit's whole test suite on a fresh Debian machine: installs the tools that build the
# real test images, builds them (cached in target/test-images), then checks formatting, lints
# and runs every test. Must run as root (mmdebstrap, chroot and apt-get need it).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "==> building real test images (cached after the first run)" >&2
bash tests/images/build.sh
bash tests/podman-save.sh

echo "==> cargo fmt --check" >&2
cargo fmt --check

echo "==> cargo clippy" >&2
cargo clippy --all-targets --locked -- -D warnings

echo "==> cargo test" >&2
cargo test --locked
