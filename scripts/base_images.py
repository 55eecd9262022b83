#!/usr/bin/env python3
"""Provision the offline base images used by the example projects and the tests.

No container registry is reachable where this project is tested, so every base
image is made locally from Debian packages and ``docker import``-ed:

* ``base``: Debian's static busybox (a shell and the usual tools, about 2 MB);
* ``maven``, ``openjdk``, ``node``, ``golang``, ``python-build``, ``python-slim``:
  ``mmdebstrap --variant=minbase`` root filesystems with the toolchain (or runtime) packages.

The example Dockerfiles keep their original image names (``diamol/base`` ...)
and reach these images through the plugin's base-image substitution
(``dockerbuild_base_images`` in ``pyproject.toml``).

Idempotent: an image whose ``pytest-dockerbuild.recipe`` label equals the
recipe's hash is kept; ``--force`` rebuilds.  Usage::

    python3 scripts/base_images.py [--force] [--list] [NAME ...]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import posixpath
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors

REPOSITORY = "dockerbuild-offline"
RECIPE_LABEL = "pytest-dockerbuild.recipe"
RECIPE_VERSION = "3"  # bump to rebuild every image after changing this script
BUSYBOX = Path("/bin/busybox")
MMDEBSTRAP_HOOKS = Path("/usr/share/mmdebstrap/hooks")
PATH_ENV = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Debian's packaged maven plugins, so that `mvn -o` finds every plugin of a
# default `package` lifecycle in /usr/share/maven-repo.
MAVEN_PLUGINS = [
    "libmaven-clean-plugin-java",
    "libmaven-compiler-plugin-java",
    "libmaven-dependency-plugin-java",
    "libmaven-install-plugin-java",
    "libmaven-jar-plugin-java",
    "libmaven-resources-plugin-java",
    "libsurefire-java",
]

# Maven reads this instead of the stock settings: Debian's repository is the
# local repository and maven never goes online.
MAVEN_SETTINGS = """<?xml version="1.0" encoding="UTF-8"?>
<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
  <localRepository>/usr/share/maven-repo</localRepository>
  <offline>true</offline>
</settings>
"""

# Documentation is not needed in a build image; copyright files stay.
DPKG_EXCLUDES = [
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
]


@dataclass(frozen=True)
class Recipe:
    """How one base image is made."""

    name: str
    tag: str
    description: str
    packages: list[str] = field(default_factory=list)  # empty: busybox image
    changes: list[str] = field(default_factory=list)  # `docker import -c` lines
    files: dict[str, str] = field(default_factory=dict)  # extra files in the rootfs
    # mmdebstrap's hook folders (/usr/share/mmdebstrap/hooks/NAME); "merged-usr" makes the
    # merged /usr with symlinks instead of the usrmerge package, which pulls in perl (~50 MB)
    hooks: list[str] = field(default_factory=list)

    @property
    def reference(self) -> str:
        return f"{REPOSITORY}/{self.name}:{self.tag}"

    def digest(self, suite: str) -> str:
        payload = json.dumps(
            [RECIPE_VERSION, suite, self.packages, self.changes, self.files, DPKG_EXCLUDES],
            sort_keys=True,
        )
        if not self.packages and BUSYBOX.exists():
            payload += hashlib.sha256(BUSYBOX.read_bytes()).hexdigest()
        if self.hooks:  # only then, so that the recipes without hooks keep their digests
            payload += json.dumps(self.hooks)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


RECIPES = [
    Recipe(
        "base",
        "bookworm",
        "busybox: a shell and basic tools in about 2 MB",
        changes=[PATH_ENV, 'CMD ["/bin/sh"]'],
    ),
    Recipe(
        "maven",
        "bookworm",
        "JDK 17 and maven with Debian's packaged maven plugins (offline)",
        packages=["openjdk-17-jdk-headless", "maven", *MAVEN_PLUGINS],
        changes=[PATH_ENV, "ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64", 'CMD ["/bin/bash"]'],
        # Global settings give the local repository; maven reads <offline> only from
        # the user's settings, so those say both.
        files={"/etc/maven/settings.xml": MAVEN_SETTINGS, "/root/.m2/settings.xml": MAVEN_SETTINGS},
    ),
    Recipe(
        "openjdk",
        "bookworm",
        "JRE 17",
        packages=["openjdk-17-jre-headless"],
        changes=[PATH_ENV, 'CMD ["/bin/bash"]'],
    ),
    Recipe(
        "node",
        "bookworm",
        "Node.js and npm",
        packages=["nodejs", "npm"],
        changes=[PATH_ENV, 'CMD ["node"]'],
    ),
    Recipe(
        "golang",
        "bookworm",
        "the Go toolchain",
        packages=["golang-go", "ca-certificates"],
        changes=[
            "ENV PATH=/usr/lib/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "ENV GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local",
            'CMD ["/bin/bash"]',
        ],
    ),
    Recipe(
        "python-build",
        "bookworm",
        "Python 3 with its headers, gcc and setuptools: builds C extensions offline",
        packages=["python3", "python3-dev", "python3-setuptools", "gcc", "libc6-dev"],
        changes=[PATH_ENV, "ENV LANG=C.UTF-8", 'CMD ["python3"]'],
        hooks=["merged-usr"],
    ),
    Recipe(
        "python-slim",
        "bookworm",
        "the Python 3 interpreter and standard library, no compiler and no headers",
        packages=["python3"],
        changes=[PATH_ENV, "ENV LANG=C.UTF-8", 'CMD ["python3"]'],
        hooks=["merged-usr"],
    ),
]


def log(message: str) -> None:
    print(f"[base-images] {message}", flush=True)


def debian_suite() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip('"')
    return "bookworm"


def debian_sources() -> Path:
    """The host's apt sources, reused for the rootfs (no mirror is hard-coded)."""
    override = os.environ.get("DOCKERBUILD_DEBIAN_SOURCES")
    candidates = [Path(override)] if override else []
    candidates += [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]
    for path in candidates:
        if path.is_file() and path.read_text().strip():
            return path
    sys.exit("base-images: no apt sources found; set DOCKERBUILD_DEBIAN_SOURCES to a sources file")


def busybox_rootfs(out: Path) -> None:
    """A tar with the static busybox, a symlink per applet, /etc/passwd and /tmp."""
    if not BUSYBOX.exists():
        sys.exit("base-images: /bin/busybox is missing; install Debian's busybox-static")
    applets = subprocess.run([str(BUSYBOX), "--list-full"], check=True, capture_output=True, text=True).stdout.split()
    with tarfile.open(out, "w") as tar:

        def add_dir(name: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)

        def add_file(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))

        for directory in ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "var", "home"]:
            add_dir(directory)
        add_dir("tmp", 0o1777)
        add_file("bin/busybox", BUSYBOX.read_bytes(), 0o755)
        for applet in sorted(set(applets)):
            if applet == "bin/busybox":
                continue
            link = tarfile.TarInfo(applet)
            link.type = tarfile.SYMTYPE
            link.linkname = "/bin/busybox"
            tar.addfile(link)
        add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")
        add_file("etc/group", b"root:x:0:\nnogroup:x:65534:\n")


def debian_rootfs(recipe: Recipe, suite: str, out: Path, workdir: Path) -> None:
    if shutil.which("mmdebstrap") is None:
        sys.exit("base-images: mmdebstrap is missing; install Debian's mmdebstrap (scripts/setup does)")
    command = ["mmdebstrap", "--variant=minbase", "--quiet", f"--include={','.join(recipe.packages)}"]
    command += [f"--dpkgopt={option}" for option in DPKG_EXCLUDES]
    # openjdk's postinst registers man pages with update-alternatives: keep the folder.
    command.append('--essential-hook=mkdir -p "$1/usr/share/man/man1"')
    command += [f"--hook-dir={MMDEBSTRAP_HOOKS / hook}" for hook in recipe.hooks]
    # Files go into the rootfs after the packages, so they can replace package files.
    # `upload` resolves the path inside the rootfs (a shell redirection to "$1/..."
    # would follow an absolute symlink out of it, onto the host).
    for number, (path, text) in enumerate(recipe.files.items()):
        local = workdir / f"file-{number}"
        local.write_text(text)
        command.append(f'--customize-hook=chroot "$1" mkdir -p {posixpath.dirname(path)}')
        command.append(f"--customize-hook=upload {local} {path}")
    command += [suite, str(out), str(debian_sources())]
    subprocess.run(command, check=True)


def existing_digest(client: docker.DockerClient, reference: str) -> str | None:
    try:
        image = client.images.get(reference)
    except docker.errors.ImageNotFound:
        return None
    return (image.labels or {}).get(RECIPE_LABEL)


def provision(client: docker.DockerClient, recipe: Recipe, suite: str, force: bool) -> None:
    digest = recipe.digest(suite)
    if not force and existing_digest(client, recipe.reference) == digest:
        log(f"{recipe.reference}: up to date ({recipe.description})")
        return
    log(f"{recipe.reference}: building ({recipe.description}) ...")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dockerbuild-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        if recipe.packages:
            debian_rootfs(recipe, suite, rootfs, Path(tmp))
        else:
            busybox_rootfs(rootfs)
        changes = [*recipe.changes, f"LABEL {RECIPE_LABEL}={digest}"]
        repository, tag = recipe.reference.rsplit(":", 1)
        previous = client.images.get(recipe.reference).id if existing_digest(client, recipe.reference) else None
        client.api.import_image_from_file(str(rootfs), repository=repository, tag=tag, changes=changes)
    image = client.images.get(recipe.reference)
    if previous and previous != image.id:
        try:  # the replaced image would be left dangling
            client.images.remove(previous)
        except docker.errors.APIError:
            pass
    log(f"{recipe.reference}: done in {time.monotonic() - started:.0f} s, {image.attrs['Size'] / 1e6:.1f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="recipes to provision (default: all)")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument("--list", action="store_true", help="list the recipes and their image names")
    args = parser.parse_args(argv)
    recipes = [r for r in RECIPES if not args.names or r.name in args.names]
    unknown = set(args.names) - {r.name for r in RECIPES}
    if unknown:
        parser.error(f"unknown recipe(s) {sorted(unknown)}; known: {[r.name for r in RECIPES]}")
    if args.list:
        width = max(len(recipe.reference) for recipe in RECIPES)
        for recipe in RECIPES:
            print(f"{recipe.reference:{width}}  {recipe.description}")
        return 0
    client = docker.from_env()
    suite = debian_suite()
    started = time.monotonic()
    for recipe in recipes:
        provision(client, recipe, suite, args.force)
    log(f"all done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
