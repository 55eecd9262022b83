"""Every label, name and tag the plugin puts on what it makes, in one place.

The plugin recognises its own images by **tags in its own repository**
(``pytest-dockerbuild/<project>:...``), never by a label: an image a user builds
``FROM`` a plugin image inherits the labels, not the tags.  Labels only describe
(for ``docker images --filter``); containers and networks carry the run's labels,
by which a run removes its own and the next run removes a dead run's.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

__all__ = [
    "IMAGE_REPOSITORY",
    "LABEL_LEASE",
    "LABEL_MANAGED",
    "LABEL_OWNER",
    "LABEL_PROJECT",
    "LABEL_RUN",
    "image_labels",
    "is_plugin_tag",
    "key_tag",
    "pending_tag",
    "project_id",
    "repository",
    "slug",
    "stage_of_tag",
    "stage_tag",
]

LABEL_MANAGED = "pytest-dockerbuild.managed"  #: "true" on every image, container and network
LABEL_RUN = "pytest-dockerbuild.run"  #: the run id, on containers and networks
#: the pytest process (``host:pidns:pid:start``, see :mod:`~pytest_dockerbuild.engine.process`), on containers
#: and networks
LABEL_OWNER = "pytest-dockerbuild.owner"
LABEL_LEASE = "pytest-dockerbuild.lease"  #: the image a lease container keeps (see Engine.use)
LABEL_OPTIONS = "pytest-dockerbuild.options"  #: the classic builder's cache salt (see BuildOptions.cache_salt)
LABEL_PROJECT = "pytest-dockerbuild.project"  #: the project id (see :func:`project_id`), on built images
IMAGE_REPOSITORY = "pytest-dockerbuild"  #: built images are tagged pytest-dockerbuild/<project>:<stage>-...


def slug(text: str, limit: int = 40) -> str:
    """``text`` reduced to the characters a tag, a repository and a container name all accept."""
    return re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-._")[:limit].strip("-._") or "x"


def project_id(context: Path) -> str:
    """``<folder name>-<8 hex>``: the folder names the project for people, the hash of its
    absolute path makes it unique per repository (two repos' ``app`` folders differ)."""
    resolved = context.resolve()
    return f"{slug(resolved.name)}-{hashlib.sha256(str(resolved).encode()).hexdigest()[:8]}"


def repository(project: str) -> str:
    return f"{IMAGE_REPOSITORY}/{project}"


def image_labels(context: Path) -> dict[str, str]:
    """The labels every image the plugin builds from ``context`` carries."""
    return {
        LABEL_MANAGED: "true",
        LABEL_PROJECT: project_id(context),
    }


def _stage_slug(stage: str | None) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", stage or "final")[:60]


def key_tag(context: Path, target: str | None, key: str) -> str:
    """``pytest-dockerbuild/<project>:<target>-k<key>``: the image built for a content key,
    found again by the tag (tagging costs nothing; a label would cost a build step)."""
    return f"{repository(project_id(context))}:{_stage_slug(target)}-k{key[:16]}"


def stage_tag(context: Path, stage: str, image_id: str) -> str:
    """``pytest-dockerbuild/<project>:<stage>-<image id>``: a stage image a classic build
    committed; the tag keeps it, and its layer cache, from dangling."""
    return f"{repository(project_id(context))}:{_stage_slug(stage)}-{image_id.split(':')[-1][:12]}"


def pending_tag(context: Path, target: str | None, key: str) -> str:
    """``pytest-dockerbuild/<project>:<target>-pending-k<key>``: a build's image until its key is
    checked again (so that it never dangles, even if the process dies in between)."""
    return f"{repository(project_id(context))}:{_stage_slug(target)}-pending-k{key[:16]}"


def is_plugin_tag(tag: str) -> bool:
    return tag.startswith(f"{IMAGE_REPOSITORY}/") and ":" in tag


def stage_of_tag(tag: str) -> str:
    """The stage part of a plugin tag (``builder`` of ``...:builder-k0123...``)."""
    return tag.rpartition(":")[2].rpartition("-")[0]
