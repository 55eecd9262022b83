"""Images through a registry: push an image under a repository and tags (and learn its
digest), and get an image named by registry reference or digest (pulled when the engine
lacks it, once per process; a digest or a tag the registry does not have is a
:class:`~pytest_dockerbuild.errors.RegistryError` naming the reference and what the
registry said).

This is not :mod:`pytest_dockerbuild.build.registry` (the registry of builder backends).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors

from pytest_dockerbuild.errors import RegistryError

__all__ = ["Reference", "Registry", "is_registry_reference", "pull", "valid_address"]

_ADDRESS = re.compile(r"^(localhost|[A-Za-z0-9.-]+\.[A-Za-z0-9.-]+|[A-Za-z0-9.-]+:\d+)(:\d+)?(/[a-z0-9._/-]+)?$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def valid_address(address: str) -> bool:
    """``host:port`` or ``host[:port]/prefix`` of a registry (no scheme)."""
    return bool(_ADDRESS.match(address.rstrip("/")))


def is_registry_reference(reference: str) -> bool:
    """True if ``reference`` names a registry host (``127.0.0.1:5000/app:1``), as opposed to a
    local name or an image id."""
    first, slash, _ = reference.partition("/")
    return bool(slash) and (first == "localhost" or "." in first or ":" in first)


@dataclass(frozen=True)
class Reference:
    """A registry reference split up: ``repository[:tag][@digest]``."""

    repository: str
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, reference: str) -> Reference:
        name, _, digest = reference.partition("@")
        host, slash, path = name.rpartition("/")
        repo_path, colon, tag = path.partition(":")
        return cls(f"{host}{slash}{repo_path}", tag if colon else None, digest or None)

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        return f"{self.repository}{tag}" + (f"@{self.digest}" if self.digest else "")


class Registry:
    """Push images of one engine to the registry at ``address`` (``host:port[/prefix]``)."""

    def __init__(self, client: docker.DockerClient, address: str) -> None:
        self.client = client
        self.address = address.rstrip("/")

    def push(self, image_id: str, repository: str, tags: Sequence[str]) -> list[str]:
        """Push ``image_id`` as ``address/repository:tag`` for each tag; -> the pushed references
        with their digest (``...:tag@sha256:...``). The local tags made for the push are removed
        again (the image keeps its other tags).

        :raises RegistryError: the engine or the registry refused (what it said).
        """
        pushed = []
        remote = f"{self.address}/{repository}"
        for tag in tags:
            reference = f"{remote}:{tag}"
            self.client.api.tag(image_id, remote, tag)
            try:
                digest = _digest_of(self.client.api.push(remote, tag, stream=True, decode=True), reference)
            except docker.errors.APIError as error:
                raise RegistryError(reference, f"{reference}: the push failed: {error.explanation or error}") from None
            finally:
                try:
                    self.client.api.remove_image(reference, noprune=True)
                except docker.errors.APIError:
                    pass  # untagged meanwhile: nothing of ours is left
            pushed.append(f"{reference}@{digest}")
        return pushed


def _digest_of(events: Iterable[dict[str, Any]], reference: str) -> str:
    digest = None
    for event in events:
        if "error" in event:
            said = event.get("errorDetail", {}).get("message") or event["error"]
            raise RegistryError(reference, f"{reference}: the registry refused the push: {said}")
        digest = (event.get("aux") or {}).get("Digest") or digest
    if digest is None:
        raise RegistryError(reference, f"{reference}: the push ended without a digest")
    return str(digest)


def pull(client: docker.DockerClient, reference: str, what: str, pulled: dict[str, str]) -> str:
    """The local image id of a registry ``reference`` (``host:port/name:tag``, ``...@sha256:...``
    or both): an image the engine holds by that digest is used as is, a tag is pulled once per
    ``pulled`` (a process's memo). ``what`` names who asked (``--dockerbuild-image app``).

    :raises RegistryError: the tag or digest is not in the registry, or the tag points at another
        digest than the one given.
    """
    if reference in pulled:
        return pulled[reference]
    parts = Reference.parse(reference)
    if parts.digest is not None and not _DIGEST.match(parts.digest):
        raise RegistryError(reference, f"{what}: {reference}: {parts.digest!r} is not a sha256:<64 hex> digest")
    if parts.tag is not None and parts.digest is not None:
        _check_tag(client, parts, what)
    if parts.digest is not None:
        local = _local(client, f"{parts.repository}@{parts.digest}")
        if local is not None:
            pulled[reference] = local
            return local
    source = parts.digest or parts.tag or "latest"
    try:
        for event in client.api.pull(parts.repository, tag=source, stream=True, decode=True):
            if "error" in event:
                raise RegistryError(reference, f"{what}: cannot pull {reference}: {event['error']}")
    except docker.errors.APIError as error:
        said = error.explanation or str(error)
        raise RegistryError(reference, f"{what}: cannot pull {reference}: {said}") from None
    local = _local(client, f"{parts.repository}@{parts.digest}" if parts.digest else f"{parts.repository}:{source}")
    if local is None:
        raise RegistryError(reference, f"{what}: {reference} was pulled but the engine does not list it")
    pulled[reference] = local
    return local


def _check_tag(client: docker.DockerClient, parts: Reference, what: str) -> None:
    """A ``name:tag@digest`` reference: the registry's tag must point at that digest."""
    tagged = f"{parts.repository}:{parts.tag}"
    try:
        found = client.api.inspect_distribution(tagged)["Descriptor"]["digest"]
    except docker.errors.APIError as error:
        said = error.explanation or str(error)
        raise RegistryError(str(parts), f"{what}: {tagged}: the registry does not have it ({said})") from None
    if found != parts.digest:
        raise RegistryError(str(parts), f"{what}: {tagged} is {found} in the registry, not {parts.digest}")


def _local(client: docker.DockerClient, reference: str) -> str | None:
    try:
        return str(client.api.inspect_image(reference)["Id"])
    except docker.errors.NotFound:
        return None
