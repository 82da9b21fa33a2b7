#!/usr/bin/env bash
# Measures imgaudit's peak memory (max RSS) on one-layer images whose layer holds a single
# file of 1 MiB, 100 MiB and 1 GiB of random bytes, as an uncompressed docker-archive and as an
# OCI layout with a gzip layer. Peak memory should stay flat as the layer grows, because layers
# stream and large files are never read whole.
# Usage: benches/memory.sh [OUT_DIR]   (needs about 3 GiB free in OUT_DIR)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${1:-target/bench-memory}
mkdir -p "$out"
cargo build --release --quiet

for size_mib in 1 100 1024; do
    image="$out/layer-${size_mib}MiB"
    if [[ ! -f $image.docker.tar || ! -d $image.oci ]]; then
        python3 "benches/make_layer_image.py" "$image" "$size_mib"
    fi
    for form in docker.tar oci; do
        /usr/bin/time -f "${size_mib} MiB file, $form: %e s, max RSS %M KiB" \
            ./target/release/imgaudit --now 2026-12-04 -o /dev/null "$image.$form"
    done
done
