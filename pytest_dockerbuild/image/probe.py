"""Questions to an image without exporting it: a container is created (never started) from the
image, the engine answers for single paths (``HEAD`` / ``GET /containers/{id}/archive``: a
path's stat, or one file's contents), and the container is removed.  Only questions whose
answer a container's own files cannot change are asked this way (see :data:`CONTAINER_FILES`).  It costs a container's
create and removal, a fraction of a second however big the image is, where ``docker save``
streams every layer.

The container carries the run's labels (so a killed run's next sweep removes it) and is
removed here whatever happens.  The docker SDK has no call that reads a path of an image
without a container, nor one that stats a path without streaming it (``HEAD`` is sent
through the SDK's own session).  Any trouble answers None: the caller exports the image.
"""

from __future__ import annotations

import base64
import io
import json
import posixpath
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import docker.errors
import requests

if TYPE_CHECKING:
    import docker

__all__ = ["CONTAINER_FILES", "Probe", "Unanswered", "probe", "read_one_file", "which"]

#: what a container's root has that its image may lack or hold otherwise (the engine's init
#: layer): never asked of a container; no executable among them, so which() is never misled
CONTAINER_FILES = frozenset(
    ["/.dockerenv", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc/mtab", "/dev/console"]
)
PROBE_COMMAND = ["pytest-dockerbuild-probe"]  #: never run: the engine needs a command to create a container
_SYMLINK = 1 << 27  # Go's os.FileMode bits, as the engine sends a stat
_TYPE_BITS = 1 << 31 | _SYMLINK | 1 << 26 | 1 << 25 | 1 << 24 | 1 << 21 | 1 << 19  # dir ... irregular: none for a file
_TROUBLE = (docker.errors.APIError, requests.RequestException, tarfile.TarError, ValueError)


class Unanswered(Exception):
    """The engine could not answer this way (the caller exports the image instead)."""


class Probe:
    """A created container of an image, for single-path questions."""

    def __init__(self, api: docker.APIClient, container: str) -> None:
        self._api = api
        self._container = container

    def stat(self, path: str) -> dict[str, Any] | None:
        """The engine's stat of ``path`` (its last element not followed: ``linkTarget`` is where a
        symlink fully resolves), or None if there is no such path."""
        url = self._api._url("/containers/{0}/archive", self._container)
        response = self._api.head(url, params={"path": path})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise Unanswered(f"stat {path}: HTTP {response.status_code}")
        header = response.headers.get("X-Docker-Container-Path-Stat", "")
        return json.loads(base64.b64decode(header)) if header else None

    def read(self, path: str) -> bytes:
        """The contents of the regular file at ``path``."""
        stream, _stat = self._api.get_archive(self._container, path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
            member = archive.next()
            extracted = archive.extractfile(member) if member is not None and member.isreg() else None
            if extracted is None:
                raise Unanswered(f"{path} is not a regular file")
            return extracted.read()


@contextmanager
def probe(client: docker.DockerClient, image_id: str, labels: Mapping[str, str]) -> Iterator[Probe]:
    """A :class:`Probe` of ``image_id``, removed on exit; :class:`Unanswered` if none can be made."""
    api = client.api
    try:
        created = api.create_container(image_id, command=PROBE_COMMAND, labels=dict(labels), network_disabled=True)
    except _TROUBLE as error:
        raise Unanswered(str(error)) from None
    try:
        yield Probe(api, created["Id"])
    except _TROUBLE as error:
        raise Unanswered(str(error)) from None
    finally:
        try:
            api.remove_container(created["Id"], force=True, v=True)
        except _TROUBLE:
            pass  # the run's sweep removes it (it carries the run's labels)


def read_one_file(client: docker.DockerClient, image_id: str, path: str, labels: Mapping[str, str]) -> bytes | None:
    """The contents of the regular file at ``path`` (a path with no symlink in it), or None when
    the engine cannot give it this way."""
    try:
        with probe(client, image_id, labels) as one:
            return one.read(path)
    except Unanswered:
        return None


def which(
    client: docker.DockerClient, image_id: str, folders: Sequence[str], name: str, labels: Mapping[str, str]
) -> tuple[str | None] | None:
    """Where ``name`` is an executable file in the first of ``folders`` (as a 1-tuple: ``(None,)``
    when in none of them), or None when the engine cannot tell this way."""
    try:
        with probe(client, image_id, labels) as one:
            for folder in folders:
                candidate = posixpath.join(folder or "/", name)
                found = one.stat(candidate)
                if found is not None and found.get("mode", 0) & _SYMLINK and found.get("linkTarget"):
                    if found["linkTarget"] in CONTAINER_FILES:
                        return None  # the container's own file, maybe not the image's: the tree answers
                    found = one.stat(found["linkTarget"])
                if found is not None and candidate in CONTAINER_FILES:
                    return None
                if found is not None and not found.get("mode", 0) & _TYPE_BITS and found.get("mode", 0) & 0o111:
                    return (candidate,)
            return (None,)
    except Unanswered:
        return None
