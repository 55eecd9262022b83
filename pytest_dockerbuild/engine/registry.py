"""Images through a registry: push an image under a repository and tags (and learn its
digest), and get an image named by registry reference or digest (pulled when the engine
lacks it, once per process; a digest or a tag the registry does not have is a
:class:`~pytest_dockerbuild.errors.RegistryError` naming the reference and what the
registry said). A push names the image and the registry when it fails; what ``build(push=...)``
asks for is checked here (:func:`push_request`).

This is not :mod:`pytest_dockerbuild.build.registry` (the registry of builder backends).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors

from pytest_dockerbuild.errors import BuildOptionError, RegistryError

__all__ = [
    "Reference",
    "Registry",
    "is_registry_reference",
    "pull",
    "push_reference",
    "push_request",
    "valid_address",
]

_ADDRESS = re.compile(r"^(localhost|[A-Za-z0-9.-]+\.[A-Za-z0-9.-]+|[A-Za-z0-9.-]+:\d+)(:\d+)?(/[a-z0-9._/-]+)?$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_PATH = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_NO_REGISTRY = (
    "push=True pushes to the registry of --dockerbuild-push, and the run has none: pass --dockerbuild-push "
    "REGISTRY, or name the reference: push='REGISTRY/repository:tag'"
)


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

        :raises RegistryError: the engine or the registry refused (what it said, naming the image
            and the registry).
        """
        pushed = []
        remote = f"{self.address}/{repository}"
        for tag in tags:
            reference = f"{remote}:{tag}"
            failed = f"cannot push the image {image_id[:19]} to the registry {self.address} as {reference}"
            self.client.api.tag(image_id, remote, tag)
            try:
                digest = _digest_of(self.client.api.push(remote, tag, stream=True, decode=True), reference, failed)
            except docker.errors.APIError as error:
                raise RegistryError(reference, f"{failed}: {error.explanation or error}") from None
            finally:
                try:
                    self.client.api.remove_image(reference, noprune=True)
                except docker.errors.APIError:
                    pass  # untagged meanwhile: nothing of ours is left
            pushed.append(f"{reference}@{digest}")
        return pushed


def _digest_of(events: Iterable[dict[str, Any]], reference: str, failed: str) -> str:
    digest = None
    for event in events:
        if "error" in event:
            said = event.get("errorDetail", {}).get("message") or event["error"]
            raise RegistryError(reference, f"{failed}: the registry refused the push: {said}")
        digest = (event.get("aux") or {}).get("Digest") or digest
    if digest is None:
        raise RegistryError(reference, f"{failed}: the push ended without a digest")
    return str(digest)


def push_request(push: object, registry: str | None, project: str) -> str | None:
    """What ``build(push=...)`` asks for: a reference ``registry/repository:tag`` (``:latest`` when
    it names no tag), ``registry/<project>`` without a tag for ``push=True`` (pushed under the run's
    tags, as ``--dockerbuild-push`` does), or None.

    :raises BuildOptionError: ``push`` is not a reference of a registry, or ``push=True`` has no
        registry (``--dockerbuild-push``).
    """
    if push is None or push is False:
        return None
    if push is True:
        if registry is None:
            raise BuildOptionError("push", _NO_REGISTRY)
        return f"{registry}/{project}"
    if not isinstance(push, str):
        raise BuildOptionError("push", f"{push!r} is neither True nor a reference 'registry/repository[:tag]'")
    problem = _push_problem(push)
    if problem is not None:
        raise BuildOptionError("push", f"{push!r} {problem}: write it as registry/repository[:tag] "
                               "(e.g. '127.0.0.1:5000/app:1.2')")  # fmt: skip
    parts = Reference.parse(push)
    return f"{parts.repository}:{parts.tag or 'latest'}"


def _push_problem(reference: str) -> str | None:
    if "@" in reference:
        return "names a digest (a push makes the digest)"
    if not is_registry_reference(reference):
        return "names no registry host (a host with a port or a dot, or localhost, before the first '/')"
    host, _, rest = reference.partition("/")
    path, colon, tag = rest.partition(":")
    if not valid_address(host):
        return f"names the registry {host!r}, which is not host[:port]"
    if not _PATH.match(path):
        return f"has the repository {path!r} (lower-case letters, digits and . _ - between '/'s)"
    if colon and not _TAG.match(tag):
        return f"has the tag {tag!r} (letters, digits, _ . -; at most 128)"
    return None


def push_reference(client: docker.DockerClient, image_id: str, reference: str) -> str:
    """Push ``image_id`` as ``reference`` (``registry/repository:tag``); -> it with its digest.

    :raises RegistryError: the engine or the registry refused (naming the image and registry).
    """
    parts = Reference.parse(reference)
    host, _, repository = parts.repository.partition("/")
    return Registry(client, host).push(image_id, repository, [parts.tag or "latest"])[0]


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
