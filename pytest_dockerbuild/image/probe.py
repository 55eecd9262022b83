"""One file of an image without exporting the image: a container is created (never started)
from the image, the engine streams the one path (``GET /containers/{id}/archive``), and the
container is removed.  It costs a container's create and removal, a fraction of a second
however big the image is, where ``docker save`` streams every layer.

The container carries the run's labels (so a killed run's next sweep removes it) and is
removed here whatever happens.  The docker SDK has no call that reads a path of an image
without a container.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Mapping
from typing import TYPE_CHECKING

import docker.errors
import requests

if TYPE_CHECKING:
    import docker

__all__ = ["read_one_file"]

PROBE_COMMAND = ["pytest-dockerbuild-probe"]  #: never run: the engine needs a command to create a container


def read_one_file(client: docker.DockerClient, image_id: str, path: str, labels: Mapping[str, str]) -> bytes | None:
    """The contents of the regular file at ``path`` (a path with no symlink in it), or None when
    the engine cannot give it this way (the caller then exports the image)."""
    api = client.api
    try:
        created = api.create_container(image_id, command=PROBE_COMMAND, labels=dict(labels), network_disabled=True)
    except (docker.errors.APIError, requests.ConnectionError):
        return None
    try:
        stream, _stat = api.get_archive(created["Id"], path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
            member = archive.next()
            if member is None or not member.isreg():
                return None
            extracted = archive.extractfile(member)
            return extracted.read() if extracted is not None else None
    except (docker.errors.APIError, requests.ConnectionError, tarfile.TarError):
        return None
    finally:
        try:
            api.remove_container(created["Id"], force=True, v=True)
        except (docker.errors.APIError, requests.ConnectionError):
            pass  # the run's sweep removes it (it carries the run's labels)
