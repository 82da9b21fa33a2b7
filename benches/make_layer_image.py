"""Writes a one-layer image holding one file of random bytes, as a docker-archive tar and as
an OCI layout with a gzip layer. Usage: make_layer_image.py BASE SIZE_MIB"""

import gzip
import hashlib
import json
import os
import shutil
import sys
import tarfile

base, size_mib = sys.argv[1], int(sys.argv[2])
size = size_mib * 1024 * 1024
layer_path = base + ".layer.tar"

with tarfile.open(layer_path, "w", format=tarfile.GNU_FORMAT) as tar:
    info = tarfile.TarInfo("data/blob.bin")
    info.size = size
    with open("/dev/urandom", "rb") as random:
        tar.addfile(info, random)


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


diff_id = sha256_file(layer_path)
config = json.dumps(
    {
        "architecture": "amd64",
        "os": "linux",
        "config": {"User": "10001:10001"},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]},
        "history": [{"created_by": "COPY blob.bin /data/"}],
    }
).encode()
config_hex = hashlib.sha256(config).hexdigest()

# docker-archive: manifest.json, <config>.json, <id>/layer.tar
with tarfile.open(base + ".docker.tar", "w", format=tarfile.GNU_FORMAT) as archive:
    def add_bytes(name, data):
        member = tarfile.TarInfo(name)
        member.size = len(data)
        import io

        archive.addfile(member, io.BytesIO(data))

    add_bytes(config_hex + ".json", config)
    archive.add(layer_path, arcname=diff_id + "/layer.tar")
    manifest = [{"Config": config_hex + ".json", "RepoTags": ["bench:latest"], "Layers": [diff_id + "/layer.tar"]}]
    add_bytes("manifest.json", json.dumps(manifest).encode())

# OCI layout with a gzip layer.
layout = base + ".oci"
shutil.rmtree(layout, ignore_errors=True)
blobs = os.path.join(layout, "blobs", "sha256")
os.makedirs(blobs)
gz_tmp = os.path.join(blobs, "layer.tmp")
with open(layer_path, "rb") as source, gzip.open(gz_tmp, "wb", compresslevel=1) as target:
    shutil.copyfileobj(source, target, 1 << 20)
gz_hex = sha256_file(gz_tmp)
os.rename(gz_tmp, os.path.join(blobs, gz_hex))


def write_blob(data):
    hex_digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, hex_digest), "wb") as handle:
        handle.write(data)
    return "sha256:" + hex_digest


manifest = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": write_blob(config), "size": len(config)},
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": "sha256:" + gz_hex,
                "size": os.path.getsize(os.path.join(blobs, gz_hex)),
            }
        ],
    }
).encode()
index = {
    "schemaVersion": 2,
    "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": write_blob(manifest), "size": len(manifest)}],
}
with open(os.path.join(layout, "index.json"), "w") as handle:
    json.dump(index, handle)
with open(os.path.join(layout, "oci-layout"), "w") as handle:
    handle.write('{"imageLayoutVersion":"1.0.0"}')
os.remove(layer_path)
