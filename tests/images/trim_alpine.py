#!/usr/bin/env python3
"""Trim an extracted Alpine root filesystem to the packages of a minirootfs.

The Alpine VM disk that build.sh extracts carries a kernel, OpenRC, curl, sudo
and more. This script keeps only the files that apk's database assigns to
BASE_PACKAGES (about the package set of Alpine's minirootfs tarball), plus
busybox's applet symlinks, and rewrites apk's database so that it lists only
the kept packages.

Usage: trim_alpine.py ROOTFS
"""

import io
import os
import sys
import tarfile

BASE_PACKAGES = {
    "alpine-baselayout",
    "alpine-baselayout-data",
    "alpine-keys",
    "alpine-release",
    "apk-tools",
    "busybox",
    "busybox-binsh",
    "ca-certificates-bundle",
    "libapk",
    "libcrypto3",
    "libssl3",
    "musl",
    "musl-utils",
    "scanelf",
    "ssl_client",
    "zlib",
}
# Top-level packages that a minirootfs lists in /etc/apk/world.
WORLD = ["alpine-baselayout", "alpine-keys", "alpine-release", "apk-tools", "busybox", "musl-utils"]
# Files that belong to no package but that a minirootfs has.
UNOWNED_FILES_TO_KEEP = {
    "etc/apk/arch",
    "etc/apk/repositories",
    "etc/apk/world",
    "lib/apk/db/installed",
    "lib/apk/db/lock",
    "lib/apk/db/scripts.tar.gz",
    "lib/apk/db/triggers",
}
# Accounts that the VM image adds on top of alpine-baselayout-data's defaults:
# its login user and the dhcpcd package's service account.
ACCOUNTS_TO_REMOVE = {"quicksand", "dhcpcd"}
BUSYBOX = "/bin/busybox"
APK_DB = "lib/apk/db/installed"


def parse_installed(path):
    """Parse apk's installed database into one dict per package.

    Each dict has the package's raw lines, its name, version, checksum, and
    the directories and files that it owns, relative to the root.
    """
    with open(path, encoding="utf-8") as db:
        blocks = db.read().split("\n\n")
    packages = []
    for block in blocks:
        lines = [line for line in block.split("\n") if line]
        if not lines:
            continue
        package = {"lines": lines, "dirs": set(), "files": set()}
        current_dir = ""
        for line in lines:
            key, value = line[0], line[2:]
            if key == "P":
                package["name"] = value
            elif key == "V":
                package["version"] = value
            elif key == "C":
                package["checksum"] = value
            elif key == "F":
                current_dir = value
                package["dirs"].add(value)
            elif key == "R":
                package["files"].add(f"{current_dir}/{value}" if current_dir else value)
        packages.append(package)
    return packages


def parent_dirs(path):
    parts = path.split("/")[:-1]
    return {"/".join(parts[:end]) for end in range(1, len(parts) + 1)}


def remove_unowned(rootfs, keep_files, keep_dirs):
    removed = 0
    for directory, subdirs, files in os.walk(rootfs, topdown=False):
        relative_dir = os.path.relpath(directory, rootfs)
        relative_dir = "" if relative_dir == "." else relative_dir
        for name in files + subdirs:
            full = os.path.join(directory, name)
            relative = f"{relative_dir}/{name}" if relative_dir else name
            if os.path.islink(full):
                if relative in keep_files or os.readlink(full) == BUSYBOX:
                    continue
                os.unlink(full)
                removed += 1
            elif os.path.isdir(full):
                if relative not in keep_dirs and not os.listdir(full):
                    os.rmdir(full)
                    removed += 1
            elif relative not in keep_files:
                os.unlink(full)
                removed += 1
    return removed


def rewrite_installed(rootfs, kept_packages):
    text = "\n\n".join("\n".join(package["lines"]) for package in kept_packages) + "\n\n"
    with open(os.path.join(rootfs, APK_DB), "w", encoding="utf-8") as db:
        db.write(text)


def rewrite_triggers(rootfs, kept_checksums):
    # Each line is "<package checksum> <path glob>...".
    path = os.path.join(rootfs, "lib/apk/db/triggers")
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as triggers:
        lines = [line for line in triggers if line.split(" ", 1)[0] in kept_checksums]
    with open(path, "w", encoding="utf-8") as triggers:
        triggers.writelines(lines)


def rewrite_scripts(rootfs, kept_packages):
    # Script entries are named "<name>-<version>.<checksum>.<action>".
    path = os.path.join(rootfs, "lib/apk/db/scripts.tar.gz")
    if not os.path.exists(path):
        return
    prefixes = tuple(f"{package['name']}-{package['version']}." for package in kept_packages)
    output = io.BytesIO()
    with tarfile.open(path, "r:gz") as source, tarfile.open(fileobj=output, mode="w:gz") as target:
        for member in source.getmembers():
            if member.name.startswith(prefixes):
                target.addfile(member, source.extractfile(member))
    with open(path, "wb") as scripts:
        scripts.write(output.getvalue())


def remove_accounts(rootfs):
    """Drop ACCOUNTS_TO_REMOVE from passwd, shadow and group, and from group member lists."""
    for name in ("etc/passwd", "etc/shadow", "etc/group"):
        path = os.path.join(rootfs, name)
        stat = os.stat(path)
        with open(path, encoding="utf-8") as accounts:
            lines = accounts.read().splitlines()
        kept = []
        for line in lines:
            fields = line.split(":")
            if fields[0] in ACCOUNTS_TO_REMOVE:
                continue
            if name == "etc/group" and len(fields) == 4:
                members = [member for member in fields[3].split(",") if member and member not in ACCOUNTS_TO_REMOVE]
                fields[3] = ",".join(members)
            kept.append(":".join(fields))
        with open(path, "w", encoding="utf-8") as accounts:
            accounts.write("\n".join(kept) + "\n")
        os.chmod(path, stat.st_mode & 0o7777)
        os.chown(path, stat.st_uid, stat.st_gid)


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    rootfs = argv[1]

    packages = parse_installed(os.path.join(rootfs, APK_DB))
    kept_packages = [package for package in packages if package["name"] in BASE_PACKAGES]
    missing = BASE_PACKAGES - {package["name"] for package in kept_packages}
    if missing:
        print(f"trim_alpine.py: error: base packages not installed in {rootfs}: {sorted(missing)}",
              file=sys.stderr)
        sys.exit(1)

    keep_files = set(UNOWNED_FILES_TO_KEEP)
    keep_dirs = set()
    for package in kept_packages:
        keep_files |= package["files"]
        keep_dirs |= package["dirs"]
    for path in list(keep_files) + list(keep_dirs):
        keep_dirs |= parent_dirs(path)

    removed = remove_unowned(rootfs, keep_files, keep_dirs)

    rewrite_installed(rootfs, kept_packages)
    rewrite_triggers(rootfs, {package.get("checksum") for package in kept_packages})
    rewrite_scripts(rootfs, kept_packages)
    with open(os.path.join(rootfs, "etc/apk/world"), "w", encoding="utf-8") as world:
        world.write("\n".join(WORLD) + "\n")
    remove_accounts(rootfs)

    print(f"trim_alpine.py: kept {len(kept_packages)} packages, removed {removed} entries",
          file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
