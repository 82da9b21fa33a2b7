#!/usr/bin/env bash
# Build the labelled secrets corpus as a real image, for tests/secrets_corpus.rs and for the
# side-by-side comparison with other scanners in docs/benchmarks.md.
#
# Usage: tests/corpus/build.sh [--force]
#
# make_corpus.py writes three layer trees and labels.json; this script turns them into an
# image with umoci (one layer per tree, then a layer that deletes two files, so their secrets
# survive only in an earlier layer) and exports it with skopeo:
#   secrets-corpus.oci/           OCI image layout, gzip layers
#   secrets-corpus.docker.tar     docker-archive (what trivy reads)
#   secrets-corpus.labels.json    the labels: positives (path, line, rule) and decoy files
# in ${IMGAUDIT_TEST_IMAGES:-<repo>/target/test-images}. The image is rebuilt only when the
# files in tests/corpus/ change, or with --force.
#
# Runs as root, like tests/images/build.sh: umoci unpacks and repacks without --rootless.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
OUT=${IMGAUDIT_TEST_IMAGES:-$REPO_ROOT/target/test-images}
NAME=secrets-corpus
TAG=latest
export SOURCE_DATE_EPOCH=1767225600
CREATED=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

log() {
    printf '[corpus/build.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

FORCE=0
case ${1:-} in
    --force) FORCE=1 ;;
    "") ;;
    *) die "unknown argument $1; usage: tests/corpus/build.sh [--force]" ;;
esac

((EUID == 0)) || die "run this script as root (umoci unpacks and repacks layers without --rootless)"
for tool in umoci skopeo python3 sha256sum flock; do
    command -v "$tool" >/dev/null || die "$tool is not installed; install it (tests/images/build.sh lists the Debian packages)"
done

mkdir -p "$OUT/stamps" "$OUT/.work"
exec 9>"$OUT/.corpus.lock"
flock 9

stamp=$OUT/stamps/$NAME
sources_sha256=$( (cd "$SCRIPT_DIR" && find . -type f ! -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1)
if ((FORCE == 0)) && [[ -f $stamp && $(<"$stamp") == "$sources_sha256" && -f $OUT/$NAME.docker.tar && -f $OUT/$NAME.labels.json ]]; then
    log "$NAME is up to date"
    exit 0
fi

work=$OUT/.work/$NAME
rm -rf "$work"
mkdir -p "$work"
python3 "$SCRIPT_DIR/make_corpus.py" "$work/tree"

# Archive TREE as a layer tar with fixed owners and times.
tar_tree() {
    tar --create --file "$2" --directory "$1" --sort=name --numeric-owner --owner=0 --group=0 \
        --mtime="@$SOURCE_DATE_EPOCH" .
}

layout=$work/image
umoci init --layout "$layout"
umoci new --image "$layout:$TAG"
umoci config --image "$layout:$TAG" --created="$CREATED" --no-history \
    --config.env=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.workingdir=/app --config.user=1000:1000 --config.cmd=node --config.cmd=server.js

add_layer() {
    local tree=$1 created_by=$2
    tar_tree "$work/tree/$tree" "$work/$tree.tar"
    umoci raw add-layer --image "$layout:$TAG" --history.created="$CREATED" \
        --history.created_by="$created_by" "$work/$tree.tar"
}
add_layer layer-app 'COPY . /app # buildkit'
add_layer layer-home 'COPY home/ /root/ # buildkit'
add_layer layer-deleted 'COPY build/ / # buildkit'

# A real whiteout layer: the deleted files stay in the layer above.
bundle=$work/bundle
umoci unpack --image "$layout:$TAG" "$bundle" >/dev/null
rm "$bundle/rootfs/app/.git-credentials" "$bundle/rootfs/tmp/build/.env.build"
umoci repack --image "$layout:$TAG" --history.created="$CREATED" \
    --history.created_by='RUN /bin/sh -c rm /app/.git-credentials /tmp/build/.env.build # buildkit' "$bundle"
rm -rf "$bundle"
umoci gc --layout "$layout"

rm -rf "${OUT:?}/$NAME.oci" "$OUT/$NAME.docker.tar"
skopeo copy --quiet "oci:$layout:$TAG" "docker-archive:$OUT/$NAME.docker.tar:$NAME:$TAG"
mv "$layout" "$OUT/$NAME.oci"
cp "$work/tree/labels.json" "$OUT/$NAME.labels.json"
rm -rf "$work"
printf '%s\n' "$sources_sha256" >"$stamp"
log "wrote $OUT/$NAME.docker.tar, $OUT/$NAME.oci and $OUT/$NAME.labels.json"
