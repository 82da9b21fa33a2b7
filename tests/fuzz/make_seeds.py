#!/usr/bin/env python3
"""Write the seed corpus of every fuzz target into tests/fuzz/corpus/<target>/.

Seeds come from the real test images in target/test-images/ (built by tests/images/build.sh)
and testdata/busybox-app.docker.tar: small JSON blobs, account and os-release files, history
lines, trimmed copies of real layers, and small archives rebuilt from them. Synthetic seeds
cover what the real images lack: whiteouts, opaque directories, hard links, symlink loops,
GNU long names, PAX headers and multi-platform indexes. Without the real images only the
synthetic seeds and testdata/ are used.

Seeds are kept small (at most MAX_SEED_BYTES) so that libFuzzer runs thousands of inputs a
second. Run from anywhere: python3 tests/fuzz/make_seeds.py [--out DIR]
"""

import argparse

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "target" / "test-images"
TESTDATA_IMAGE = ROOT / "testdata" / "busybox-app.docker.tar"
CORPUS = ROOT / "tests" / "fuzz" / "corpus"

MAX_SEED_BYTES = 64 * 1024
# Entries kept from a real layer when it is trimmed into a seed.
MAX_TRIMMED_ENTRIES = 48
MAX_TRIMMED_FILE_BYTES = 2048

# Must match src/fuzzing.rs: the layer separator, the NUL part separator and the secret
# file-name selector.
LAYER_SEPARATOR = b"%%LAYER%%"
SECRET_FILE_COUNT = 10
EMPTY_TAR = bytes(1024)

# Paths whose whole content the account and os-release parsers read.
TEXT_FILES = {
    "etc/passwd": "passwd",
    "etc/group": "group",
    "etc/os-release": "os-release",
    "usr/lib/os-release": "os-release",
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_seed(target: str, name: str, data: bytes) -> None:
    if len(data) > MAX_SEED_BYTES:
        return
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)


def tar_bytes(members) -> bytes:
    """Builds an uncompressed tar from (TarInfo, data or None) pairs."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for info, data in members:
            info.mtime = 0
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return trim_padding(out.getvalue())


def trim_padding(data: bytes) -> bytes:
    """Cuts tarfile's padding to 10 KiB records down to the two zero blocks that end a tar."""
    end = len(data)
    while end >= 512 and data[end - 512:end] == bytes(512):
        end -= 512
    return data[:end] + bytes(1024)


def file_entry(name: str, data: bytes, mode: int = 0o644):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    return info, data


def dir_entry(name: str):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info, None


def link_entry(name: str, target: str, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def zstd_bytes(data: bytes) -> bytes:
    return subprocess.run(
        ["zstd", "-q", "-c", "-3"], input=data, capture_output=True, check=True
    ).stdout


def open_layer(data_or_path) -> tarfile.TarFile:
    """Opens a layer blob (tar, gzip or zstd) as a streaming tar reader."""
    path = Path(data_or_path)
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic == b"\x28\xb5\x2f\xfd":
        raw = subprocess.run(
            ["zstd", "-q", "-d", "-c", str(path)], capture_output=True, check=True
        ).stdout
        return tarfile.open(fileobj=io.BytesIO(raw), mode="r:")
    return tarfile.open(path, mode="r|*")


def trim_layer(archive: tarfile.TarFile, found_text: dict) -> bytes:
    """Keeps the first entries of a real layer (small files, directories, links and every
    whiteout) and records account and os-release files in `found_text`."""
    kept = []
    for member in archive:
        name = member.name.lstrip("./")
        if member.isfile() and name in TEXT_FILES and member.size <= MAX_SEED_BYTES:
            data = archive.extractfile(member).read()
            found_text.setdefault(TEXT_FILES[name], []).append(data)
            kept.append((member, data))
            continue
        whiteout = os.path.basename(name).startswith(".wh.")
        if len(kept) >= MAX_TRIMMED_ENTRIES and not whiteout:
            continue
        if member.isfile():
            if member.size > MAX_TRIMMED_FILE_BYTES:
                continue
            kept.append((member, archive.extractfile(member).read()))
        elif member.isdir() or member.issym() or member.islnk() or whiteout:
            kept.append((member, None))
    return tar_bytes(kept)


def docker_archive(layers, config: dict, tag: str) -> bytes:
    """A classic `docker save` archive of uncompressed layer tars."""
    config = dict(config)
    config["rootfs"] = {"type": "layers", "diff_ids": ["sha256:" + sha256(l) for l in layers]}
    config_bytes = json.dumps(config).encode()
    config_name = sha256(config_bytes) + ".json"
    members = [file_entry(config_name, config_bytes)]
    names = []
    for layer in layers:
        layer_id = sha256(layer)
        members.append(dir_entry(layer_id))
        members.append(file_entry(f"{layer_id}/layer.tar", layer))
        names.append(f"{layer_id}/layer.tar")
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": names}]
    members.append(file_entry("manifest.json", json.dumps(manifest).encode()))
    return tar_bytes(members)


def oci_archive(layers, config: dict, docker25: bool, nested: bool = False) -> bytes:
    """An OCI archive (or a Docker 25+ archive, which adds manifest.json) of layer blobs,
    each stored as given (tar, gzip or zstd)."""
    blobs = {}

    def blob(data: bytes) -> str:
        digest = sha256(data)
        blobs[digest] = data
        return "sha256:" + digest

    config = dict(config)
    config["rootfs"] = {"type": "layers", "diff_ids": ["sha256:" + sha256(l) for l in layers]}
    config_bytes = json.dumps(config).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": blob(config_bytes),
            "size": len(config_bytes),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": blob(layer),
                "size": len(layer),
            }
            for layer in layers
        ],
    }
    manifest_bytes = json.dumps(manifest).encode()
    descriptor = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": blob(manifest_bytes),
        "size": len(manifest_bytes),
        "platform": {"os": "linux", "architecture": "amd64"},
        "annotations": {"io.containerd.image.name": "docker.io/library/fuzz:latest"},
    }
    if nested:
        attestation = {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": blob(b"{}"),
            "size": 2,
            "platform": {"os": "unknown", "architecture": "unknown"},
            "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
        }
        arm = dict(descriptor, platform={"os": "linux", "architecture": "arm64", "variant": "v8"})
        inner = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [descriptor, arm, attestation],
        }
        inner_bytes = json.dumps(inner).encode()
        descriptor = {
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": blob(inner_bytes),
            "size": len(inner_bytes),
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
        }
    index = {"schemaVersion": 2, "manifests": [descriptor]}
    members = [
        file_entry("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
        file_entry("index.json", json.dumps(index).encode()),
        dir_entry("blobs"),
        dir_entry("blobs/sha256"),
    ]
    for digest, data in blobs.items():
        members.append(file_entry(f"blobs/sha256/{digest}", data))
    if docker25:
        config_path = "blobs/sha256/" + manifest["config"]["digest"].split(":")[1]
        layer_paths = ["blobs/sha256/" + l["digest"].split(":")[1] for l in manifest["layers"]]
        entry = [{"Config": config_path, "RepoTags": ["fuzz:latest"], "Layers": layer_paths}]
        members.append(file_entry("manifest.json", json.dumps(entry).encode()))
    return tar_bytes(members)


def synthetic_layers():
    """Layers that exercise the merge rules and tar extensions."""
    passwd = b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n+::::::\n"
    group = b"root:x:0:\napp:x:1000:\nwheel:x:10:root,app\n"
    os_release = b'ID=alpine\nID_LIKE="debian ubuntu"\nVERSION_ID=3.20.3\nPRETTY_NAME="Alpine Linux v3.20"\n'
    long_name = "app/" + "d" * 120 + "/" + "f" * 120 + ".txt"
    base = tar_bytes(
        [
            dir_entry("./"),
            dir_entry("etc"),
            file_entry("etc/passwd", passwd),
            file_entry("etc/group", group),
            link_entry("etc/os-release", "../usr/lib/os-release"),
            file_entry("usr/lib/os-release", os_release),
            file_entry("lib/ld-musl-x86_64.so.1", b"\x7fELF", 0o755),
            file_entry("bin/busybox", b"\x7fELF\x02\x01\x01", 0o755),
            link_entry("bin/sh", "/bin/busybox", tarfile.LNKTYPE),
            link_entry("bin/ash", "busybox"),
            dir_entry("app"),
            file_entry("app/start", b"#!/bin/sh -e\nexec node /app/server.js\n", 0o755),
            file_entry("app/server.js", b"require('http').createServer().listen(8080)\n"),
            file_entry("app/.npmrc", b"//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n"),
            file_entry("usr/local/include/node/node_version.h",
                       b"#define NODE_MAJOR_VERSION 18\n#define NODE_MINOR_VERSION 20\n#define NODE_PATCH_VERSION 4\n"),
            file_entry(long_name, b"long name\n"),
            link_entry("loop/a", "/loop/b"),
            link_entry("loop/b", "/loop/a"),
            link_entry("escape", "../../../../etc/passwd"),
            dir_entry("cache/a"),
            file_entry("cache/a/b", b"x"),
        ]
    )
    upper = tar_bytes(
        [
            file_entry("app/.wh..npmrc", b""),
            file_entry("cache/.wh..wh..opq", b""),
            file_entry("cache/new", b"new"),
            file_entry(".wh.escape", b""),
            file_entry("app/.wh..wh.plnk", b""),
            file_entry("bin/busybox", b"replaced"),
            file_entry("etc/passwd", passwd + b"node:x:1001:1001::/home/node:/bin/bash\n"),
            file_entry("app", b"a file where a directory was"),
        ]
    )
    pax = io.BytesIO()
    with tarfile.open(fileobj=pax, mode="w", format=tarfile.PAX_FORMAT) as archive:
        info, data = file_entry("app/" + "p" * 200, b"pax named file\n")
        info.pax_headers = {"comment": "x" * 40}
        archive.addfile(info, io.BytesIO(data))
        info, data = file_entry("etc/os-release", os_release)
        info.pax_headers = {"path": "etc/os-release"}
        archive.addfile(info, io.BytesIO(data))
    return base, upper, trim_padding(pax.getvalue())


def layers_from_images(found_text: dict, history: list):
    """Trimmed real layers, plus every small config and JSON blob by kind."""
    layers = []
    json_blobs = {"index": [], "manifest": [], "config": [], "docker-manifest": []}
    for directory in sorted(IMAGES.glob("*.oci")):
        index = (directory / "index.json").read_bytes()
        json_blobs["index"].append((directory.name, index))
        for blob in sorted((directory / "blobs" / "sha256").iterdir()):
            size = blob.stat().st_size
            with open(blob, "rb") as handle:
                head = handle.read(1)
            if head == b"{" and size <= MAX_SEED_BYTES:
                data = blob.read_bytes()
                value = json.loads(data)
                if "manifests" in value:
                    kind = "index"
                elif "layers" in value:
                    kind = "manifest"
                else:
                    kind = "config"
                    for step in value.get("history") or []:
                        history.append(step.get("created_by", ""))
                json_blobs[kind].append((f"{directory.name}-{blob.name[:12]}", data))
                continue
            layer = trim_layer(open_layer(blob), found_text)
            layers.append((f"{directory.name}-{blob.name[:12]}", layer))
    for archive_path in sorted(IMAGES.glob("*.tar")) + [TESTDATA_IMAGE]:
        if not archive_path.exists():
            continue
        with tarfile.open(archive_path) as archive:
            for member in archive.getmembers():
                if member.name == "manifest.json":
                    data = archive.extractfile(member).read()
                    json_blobs["docker-manifest"].append((archive_path.name, data))
                if archive_path == TESTDATA_IMAGE and member.isfile() and member.name.endswith(".tar"):
                    layer = trim_layer(tarfile.open(fileobj=archive.extractfile(member), mode="r|"), found_text)
                    layers.append((f"busybox-app-{member.name[:12]}", layer))
                if archive_path == TESTDATA_IMAGE and member.name.endswith(".json") and member.name != "manifest.json":
                    data = archive.extractfile(member).read()
                    json_blobs["config"].append(("busybox-app-config", data))
                    for step in json.loads(data).get("history") or []:
                        history.append(step.get("created_by", ""))
    return layers, json_blobs


def secret_texts():
    """Small text files of the testdata image, where it plants fake credentials."""
    texts = []
    with tarfile.open(TESTDATA_IMAGE) as archive:
        for member in archive.getmembers():
            if not (member.isfile() and member.name.endswith(".tar")):
                continue
            with tarfile.open(fileobj=archive.extractfile(member), mode="r|") as layer:
                for entry in layer:
                    if entry.isfile() and entry.name.startswith("app/") and entry.size <= 4096:
                        texts.append((entry.name, layer.extractfile(entry).read()))
    return texts


def synthetic_secret_texts():
    """Credential shapes the testdata image lacks. Prefixes are joined from pieces so that
    secret scanners run over this script do not report it; the values grant nothing."""
    key_body = "MIIEowIBAAKCAQEA" + "q" * 60
    return [
        ("id_rsa", ("-----BEGIN RSA " + "PRIVATE KEY-----\n" + key_body + "\n-----END RSA PRIVATE KEY-----\n").encode()),
        (".npmrc", ("//registry.npmjs.org/:_auth" + "Token=npm" + "_4mZq8RtYw2Lp0XcVb7NsKd3Hf6Jg9Ae1Tu5Q\n").encode()),
        ("config.json", ('{"auths":{"ghcr.io":{"auth":"' + "ZnV6ejpzM2NyM3RWYWx1ZTk4NzY=" + '"}}}\n').encode()),
        ("settings.yaml", ("database:\n  password: 'Xk9#mQ2vL7pR4tW8'\n  url: postgres" + "://app:Xk9mQ2vL7pR4tW8z@db:5432/app\n").encode()),
        ("server.js", ("const slack = 'https://hooks.slack" + ".com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX';\n"
                       + "const stripe = 'sk_" + "live_51H8qZ2eZvKYlo2C8e7QqRmWn';\n").encode()),
        ("credentials", ("[default]\naws_access_key_id = AK" + "IAQ7ZT5XWJ3K2LMNOP4R\naws_secret_access_key = "
                         + "wJalrXUtnFEMIK7MDENGbPxRfiCYq2k9Lm3Np8Qs\n").encode()),
        ("token", ("eyJhbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiJmdXp6In0.c2lnbmF0dXJlLWZ1enotMTIzNDU2Nzg5MA\n").encode()),
    ]


def main() -> None:
    global CORPUS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=CORPUS,
                        help="directory that receives one subdirectory of seeds per target")
    CORPUS = parser.parse_args().out
    found_text: dict = {}
    history: list = []
    if IMAGES.is_dir():
        real_layers, json_blobs = layers_from_images(found_text, history)
    else:
        print(f"{IMAGES} is missing; run tests/images/build.sh for seeds from real images")
        real_layers, json_blobs = [], {"index": [], "manifest": [], "config": [], "docker-manifest": []}
    base, upper, pax = synthetic_layers()
    synthetic = [("synthetic-base", base), ("synthetic-upper", upper), ("synthetic-pax", pax)]

    # layers: each layer alone, raw and compressed, then stacks joined by the separator.
    for name, layer in real_layers + synthetic:
        write_seed("layers", name + ".tar", layer)
    write_seed("layers", "synthetic-base.tar.gz", gzip_bytes(base))
    write_seed("layers", "synthetic-base.tar.zst", zstd_bytes(base))
    write_seed("layers", "synthetic-stack", LAYER_SEPARATOR.join([base, upper, pax]))
    write_seed("layers", "synthetic-stack-gzip", LAYER_SEPARATOR.join([gzip_bytes(base), upper]))
    write_seed("layers", "synthetic-stack-zstd", LAYER_SEPARATOR.join([base, zstd_bytes(upper)]))
    write_seed("layers", "empty-tar", EMPTY_TAR)

    # archive: real small archives and small archives rebuilt from trimmed layers.
    for path in sorted(IMAGES.glob("scratch-empty*.tar")):
        write_seed("archive", path.name, path.read_bytes())
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"User": "app", "Entrypoint": ["/app/start"], "Cmd": ["node", "server.js"],
                   "Env": ["NODE_VERSION=18.20.4", "PATH=/usr/bin"]},
        "history": [{"created_by": "ADD rootfs / # buildkit"},
                    {"created_by": "ENV NODE_VERSION=18.20.4", "empty_layer": True},
                    {"created_by": "RUN |1 TOKEN=abc /bin/sh -c rm /app/.npmrc # buildkit"}],
    }
    write_seed("archive", "synthetic.docker.tar", docker_archive([base, upper], config, "fuzz:latest"))
    write_seed("archive", "synthetic.oci.tar", oci_archive([gzip_bytes(base), upper], config, False))
    write_seed("archive", "synthetic.docker25.tar", oci_archive([base, upper], config, True))
    write_seed("archive", "synthetic-zstd.oci.tar", oci_archive([zstd_bytes(base), upper], config, False))
    write_seed("archive", "synthetic-nested.oci.tar", oci_archive([upper], config, False, nested=True))
    # Compressed archives take the one-pass streaming reader.
    write_seed("archive", "synthetic.docker.tar.gz", gzip_bytes(docker_archive([base, upper], config, "fuzz:latest")))
    write_seed("archive", "synthetic.oci.tar.zst", zstd_bytes(oci_archive([base, upper], config, False)))
    write_seed("archive", "synthetic.docker25.tar.gz", gzip_bytes(oci_archive([base], config, True)))
    for name, layer in real_layers[:6]:
        write_seed("archive", name + ".docker.tar", docker_archive([layer], config, "real:latest"))

    # json: one selector byte (0 index, 1 manifest, 2 config, 3 docker manifest.json).
    selectors = {"index": 0, "manifest": 1, "config": 2, "docker-manifest": 3}
    for kind, blobs in json_blobs.items():
        for name, data in blobs:
            write_seed("json", f"{kind}-{name}", bytes([selectors[kind]]) + data)
    config_digest = "sha256:" + sha256(b"{}")
    layer_digest = "sha256:" + sha256(EMPTY_TAR)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": 1024}],
        "annotations": {"org.opencontainers.image.ref.name": "latest"},
    }
    write_seed("json", "manifest-fixed-blobs", b"\x01" + json.dumps(manifest).encode())
    write_seed("json", "config-synthetic", b"\x02" + json.dumps(dict(config, rootfs={"type": "layers", "diff_ids": [layer_digest]})).encode())
    docker_manifest = [{"Config": "config.json", "RepoTags": ["fuzz:latest"], "Layers": ["layer.tar"]}]
    write_seed("json", "docker-manifest-fixed", b"\x03" + json.dumps(docker_manifest).encode())

    # text_parsers: user, passwd, group, os-release, history lines, env lines, NUL-separated.
    # Each seed carries a few history lines only: every line goes through the secret rules, so
    # long seeds slow the target down.
    passwds = found_text.get("passwd", []) or [b"root:x:0:0:root:/root:/bin/sh\n"]
    groups = found_text.get("group", []) or [b"root:x:0:\n"]
    releases = found_text.get("os-release", []) or [b"ID=debian\n"]
    lines = sorted(set(h for h in history if h)) or ["RUN |1 TOKEN=abc /bin/sh -c make"]
    users = [b"", b"root", b"node", b"1000:1000", b"app:root", b"65532", b"nobody:0"]
    for i in range(max(len(users), (len(lines) + 5) // 6)):
        chunk = lines[i * 6 % len(lines):][:6]
        parts = [
            users[i % len(users)],
            passwds[i % len(passwds)],
            groups[i % len(groups)],
            releases[i % len(releases)],
            "\n".join(chunk).encode(),
            b"PATH=/usr/local/bin\nNODE_VERSION=20.11.1\nYARN_VERSION=1.22.19",
        ]
        write_seed("text_parsers", f"image-{i}", b"\0".join(parts))
    history_text = "\n".join(lines).encode()

    # secrets: a selector byte for the file name, then the text.
    texts = secret_texts() if TESTDATA_IMAGE.exists() else []
    texts.extend(synthetic_secret_texts())
    texts.append(("history", history_text))
    for i, (name, data) in enumerate(texts):
        for selector in range(SECRET_FILE_COUNT):
            write_seed("secrets", f"{os.path.basename(name)}-{i}-{selector}", bytes([selector]) + data)

    for target in sorted(p.name for p in CORPUS.iterdir()):
        files = list((CORPUS / target).iterdir())
        print(f"{target}: {len(files)} seeds, {sum(f.stat().st_size for f in files)} bytes")


if __name__ == "__main__":
    main()
