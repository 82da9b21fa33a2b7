#!/usr/bin/env python3
"""Write a Docker 25+ `docker save` archive from an OCI image layout.

Since Docker 25, `docker save` writes an OCI image layout (oci-layout,
index.json, blobs/sha256/...) whose layers are uncompressed tars with the media
type application/vnd.oci.image.layer.v1.tar. Next to it, the archive keeps the
legacy manifest.json and repositories files, whose paths point into blobs/.

Usage: docker25.py LAYOUT TAG NAME OUTPUT
  LAYOUT  OCI image layout directory with gzip or uncompressed layers
  TAG     value of org.opencontainers.image.ref.name that selects the image
  NAME    repository name written to RepoTags, e.g. "node20-root"
  OUTPUT  path of the archive to write
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
GZIP_LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
}
TAR_LAYER_TYPES = {
    OCI_LAYER_TAR,
    "application/vnd.docker.image.rootfs.diff.tar",
}
CHUNK_SIZE = 1 << 20


def fail(message):
    print(f"docker25.py: error: {message}", file=sys.stderr)
    sys.exit(1)


def blob_path(layout, digest):
    algorithm, hex_digest = digest.split(":", 1)
    return os.path.join(layout, "blobs", algorithm, hex_digest)


def read_json_blob(layout, digest):
    with open(blob_path(layout, digest), "rb") as blob:
        return json.load(blob)


def find_manifest_descriptor(layout, tag):
    with open(os.path.join(layout, "index.json"), "rb") as index_file:
        index = json.load(index_file)
    for descriptor in index.get("manifests", []):
        annotations = descriptor.get("annotations", {})
        if annotations.get("org.opencontainers.image.ref.name") == tag:
            return descriptor
    fail(f"no manifest with ref.name {tag!r} in {layout}/index.json")


def decompress_layer(layout, descriptor, scratch_dir):
    """Write the uncompressed tar of one layer to scratch_dir.

    Returns the path of the written file, its sha256 digest and its size.
    """
    media_type = descriptor["mediaType"]
    source = blob_path(layout, descriptor["digest"])
    if media_type in GZIP_LAYER_TYPES:
        reader = gzip.open(source, "rb")
    elif media_type in TAR_LAYER_TYPES:
        reader = open(source, "rb")
    else:
        fail(f"unsupported layer media type {media_type} for {descriptor['digest']}; "
             "convert the layout to gzip layers first")

    sha256 = hashlib.sha256()
    size = 0
    with reader, tempfile.NamedTemporaryFile(dir=scratch_dir, delete=False) as target:
        while chunk := reader.read(CHUNK_SIZE):
            sha256.update(chunk)
            target.write(chunk)
            size += len(chunk)
    return target.name, "sha256:" + sha256.hexdigest(), size


def compact_json(value):
    return json.dumps(value, separators=(",", ":")).encode()


class ArchiveWriter:
    """Tar writer with fixed owner, modes and mtime for every entry."""

    def __init__(self, path, mtime):
        self.tar = tarfile.open(path, "w", format=tarfile.PAX_FORMAT)
        self.mtime = mtime

    def _info(self, name, kind, mode, size=0):
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode
        info.size = size
        info.mtime = self.mtime
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    def add_dir(self, name):
        self.tar.addfile(self._info(name, tarfile.DIRTYPE, 0o755))

    def add_bytes(self, name, data):
        self.tar.addfile(self._info(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))

    def add_file(self, name, path):
        size = os.path.getsize(path)
        with open(path, "rb") as source:
            self.tar.addfile(self._info(name, tarfile.REGTYPE, 0o644, size), source)

    def close(self):
        self.tar.close()


def main(argv):
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    layout, tag, name, output = argv[1:]
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))

    manifest_descriptor = find_manifest_descriptor(layout, tag)
    manifest = read_json_blob(layout, manifest_descriptor["digest"])
    config_digest = manifest["config"]["digest"]
    config = read_json_blob(layout, config_digest)
    diff_ids = config.get("rootfs", {}).get("diff_ids", [])
    if len(diff_ids) != len(manifest["layers"]):
        fail(f"config lists {len(diff_ids)} diff_ids but the manifest has "
             f"{len(manifest['layers'])} layers")

    scratch_dir = tempfile.mkdtemp(prefix="docker25.", dir=os.path.dirname(os.path.abspath(output)))
    try:
        # The config blob is copied unchanged, because its diff_ids already are
        # the digests of the uncompressed layers that this archive stores.
        layer_files = {}
        layer_descriptors = []
        for index, descriptor in enumerate(manifest["layers"]):
            path, digest, size = decompress_layer(layout, descriptor, scratch_dir)
            if digest != diff_ids[index]:
                fail(f"layer {index} ({descriptor['digest']}) decompresses to {digest}, "
                     f"but the config's diff_id is {diff_ids[index]}")
            layer_files.setdefault(digest, path)
            layer_descriptors.append({"mediaType": OCI_LAYER_TAR, "digest": digest, "size": size})

        config_bytes = open(blob_path(layout, config_digest), "rb").read()
        new_manifest = compact_json({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
            "layers": layer_descriptors,
        })
        new_manifest_digest = "sha256:" + hashlib.sha256(new_manifest).hexdigest()

        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{
                "mediaType": OCI_MANIFEST,
                "digest": new_manifest_digest,
                "size": len(new_manifest),
                "annotations": {
                    "io.containerd.image.name": f"docker.io/library/{name}:{tag}",
                    "org.opencontainers.image.ref.name": tag,
                },
            }],
        }
        legacy_manifest = [{
            "Config": "blobs/" + config_digest.replace(":", "/"),
            "RepoTags": [f"{name}:{tag}"],
            "Layers": ["blobs/" + layer["digest"].replace(":", "/") for layer in layer_descriptors],
        }]

        blobs = {config_digest: ("bytes", config_bytes), new_manifest_digest: ("bytes", new_manifest)}
        for digest, path in layer_files.items():
            blobs.setdefault(digest, ("file", path))

        partial_output = output + ".partial"
        writer = ArchiveWriter(partial_output, mtime)
        writer.add_dir("blobs/")
        writer.add_dir("blobs/sha256/")
        for digest in sorted(blobs):
            kind, value = blobs[digest]
            entry_name = "blobs/" + digest.replace(":", "/")
            if kind == "bytes":
                writer.add_bytes(entry_name, value)
            else:
                writer.add_file(entry_name, value)
        writer.add_bytes("index.json", compact_json(index))
        writer.add_bytes("manifest.json", compact_json(legacy_manifest))
        writer.add_bytes("oci-layout", compact_json({"imageLayoutVersion": "1.0.0"}))
        if layer_descriptors:
            # NOTE: the legacy repositories file maps the tag to the top layer.
            # This writes the layer's digest there, but whether Docker 25 writes
            # the same value was not checked against a real `docker save`.
            top_layer = layer_descriptors[-1]["digest"].split(":", 1)[1]
            writer.add_bytes("repositories", compact_json({name: {tag: top_layer}}))
        writer.close()
        os.replace(partial_output, output)
    finally:
        shutil.rmtree(scratch_dir, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv)
