"""The file index of an image kept across runs (by image id): a later run's ``files``,
``which()`` and ``exists()`` need no export; reading a file needs none either (a container that
is never started gives that one file), or one export without it; entries are bounded, survive
nothing stale, and go with the images on prune (real engine)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import docker
import pytest
from helpers import MakeContext

from pytest_dockerbuild import Builder, Image
from pytest_dockerbuild.image import FileEntry, FileTree
from pytest_dockerbuild.image.image import PROBE_IMAGE_SIZE, PROBE_LIMIT
from pytest_dockerbuild.image.index import KEEP, forget_except, load_index, load_layers, store_index


@pytest.fixture
def built(builder: Builder, make_context: MakeContext) -> Image:
    context = make_context("FROM diamol/base\nRUN mkdir -p /opt/tool && echo v1 > /opt/tool/version\n")
    return builder.build(context).image


def fresh(image: Image, exports: Path, index: Path) -> Image:
    """The same image as a later run sees it: its own export folder, the shared index."""
    return Image(docker.from_env(), image.id, exports, index)


def test_a_later_run_lists_files_without_exporting_and_reads_contents_after_one_export(
    built: Image, tmp_path: Path
) -> None:
    index = tmp_path / "index"
    first = fresh(built, tmp_path / "run1", index)
    assert first.exists("/opt/tool/version") and (tmp_path / "run1").is_dir()
    assert list(index.glob("*.json")) == [index / f"{built.id.split(':')[-1]}.json"]
    second = fresh(built, tmp_path / "run2", index)
    assert second.which("busybox") == "/bin/busybox" and second.exists("/opt/tool/version")
    assert dict(second.files) == dict(first.files) and second.filesystem_layers == first.filesystem_layers
    assert not (tmp_path / "run2").exists(), "the file tree came from the index: nothing was exported"
    assert second.read_text("/opt/tool/version") == "v1\n"  # contents: one export, then as before
    assert list((tmp_path / "run2").glob("*.tar")) != []


def test_a_later_run_reads_one_file_without_exporting(
    builder: Builder, make_context: MakeContext, tmp_path: Path
) -> None:
    context = make_context(
        "FROM diamol/base\n"
        "RUN mkdir -p /opt/tool && echo v2 > /opt/tool/version && ln -s /opt/tool /opt/link"
        " && ln /opt/tool/version /opt/hard && echo volume > /opt/tool/in-volume\n"
        "COPY hostname /etc/hostname\n"  # (a RUN step's /etc/hostname is the engine's, not the image's)
        f"RUN head -c {PROBE_LIMIT + 1} /dev/zero > /opt/big.bin\n"
        "VOLUME /opt/tool\n",
        files={"hostname": "mine\n"},
    )
    built = builder.build(context).image
    index, probe = tmp_path / "index", {"pytest-dockerbuild.test-probe": uuid.uuid4().hex}
    first = fresh(built, tmp_path / "run1", index)  # the first run: one export, the index kept
    second = Image(docker.from_env(), built.id, tmp_path / "run2", index, probe)
    assert first.files.total_size == second.files.total_size  # the index knows which entries share data
    assert second.read_text("/opt/link/version") == "v2\n"  # through a symlink in a folder
    assert second.read_text("/opt/hard") == "v2\n"  # a hard link
    assert second.read_text("/opt/tool/in-volume") == "volume\n"  # under a VOLUME
    assert second.read_bytes("/bin/busybox")[:4] == b"\x7fELF"
    assert not (tmp_path / "run2").exists(), "one file at a time: nothing was exported"
    left = docker.from_env().containers.list(all=True, filters={"label": [f"{k}={v}" for k, v in probe.items()]})
    assert left == [], "the container that read the files is removed"
    assert second.read_text("/etc/hostname") == "mine\n"  # the image's, not a container's: from an export
    assert list((tmp_path / "run2").glob("*.tar")) != []
    third = Image(docker.from_env(), built.id, tmp_path / "run3", index, probe)
    assert len(third.read_bytes("/opt/big.bin")) == PROBE_LIMIT + 1  # too big to hold in memory: an export
    assert list((tmp_path / "run3").glob("*.tar")) != []


def test_a_big_image_answers_which_before_any_export(
    builder: Builder, make_context: MakeContext, tmp_path: Path
) -> None:
    """No run has read its tree: the engine answers single-path questions (a container that is
    never started), the same answers as the tree's."""
    context = make_context(
        "FROM diamol/base\n"
        f"RUN head -c {PROBE_IMAGE_SIZE + 1} /dev/zero > /big.bin\n"
        "RUN mkdir -p /opt/bin /opt/lib && printf '#!/bin/sh\\n' > /opt/lib/tool && chmod 4755 /opt/lib/tool"
        " && ln -s ../lib/tool /opt/bin/tool && echo data > /opt/bin/plain && ln -s /nowhere /opt/dangling\n"
        'ENV PATH="/nothing/here:/opt/bin:/etc:$PATH"\n'
    )
    built = builder.build(context).image
    probe = {"pytest-dockerbuild.test-probe": uuid.uuid4().hex}
    asked = Image(docker.from_env(), built.id, tmp_path / "run1", tmp_path / "index", probe)
    questions = ["tool", "plain", "busybox", "gcc"]
    answers = [asked.which(name) for name in questions]
    assert answers == ["/opt/bin/tool", None, "/bin/busybox", None]
    assert not (tmp_path / "run1").exists(), "answered by the engine: nothing was exported"
    assert asked.which("resolv.conf") is None  # a container's own /etc/resolv.conf (0755): the tree answers
    questions.append("resolv.conf")
    answers.append(None)
    left = docker.from_env().containers.list(all=True, filters={"label": [f"{k}={v}" for k, v in probe.items()]})
    assert left == []
    tree = Image(docker.from_env(), built.id, tmp_path / "run2", tmp_path / "index")  # no probe: the tree's answers
    assert [tree.which(name) for name in questions] == answers
    assert asked.exists("/opt/dangling") and not asked.exists("/.dockerenv")  # exists(): always the tree's


def test_a_damaged_or_foreign_entry_is_not_used(built: Image, tmp_path: Path) -> None:
    index = tmp_path / "index"
    fresh(built, tmp_path / "run1", index).files  # noqa: B018 - writes the entry
    entry = index / f"{built.id.split(':')[-1]}.json"
    data = json.loads(entry.read_text())
    data["image"] = "sha256:" + "0" * 64  # an entry that is not this image's
    entry.write_text(json.dumps(data))
    assert load_index(index, built.id, "x") is None
    entry.write_text("{not json")
    assert load_index(index, built.id, "x") is None
    assert fresh(built, tmp_path / "run2", index).exists("/opt/tool/version")  # exported again
    assert (tmp_path / "run2").is_dir() and load_index(index, built.id, "x") is not None


def test_entries_are_bounded_and_forgotten_with_their_images(tmp_path: Path) -> None:
    tree = FileTree({"/": FileEntry("/", "dir", 0, 0o755, 0, 0, "", -1)}, "x")
    ids = [f"sha256:{n:064x}" for n in range(KEEP + 3)]
    for image_id in ids:
        store_index(tmp_path, image_id, tree, [])
    assert len(list(tmp_path.glob("*.json"))) == len(list(tmp_path.glob("*.layers"))) == KEEP
    assert load_index(tmp_path, ids[-1], "x") is not None and load_index(tmp_path, ids[0], "x") is None
    assert load_layers(tmp_path, ids[-1]) == [] and load_layers(tmp_path, ids[0]) is None
    assert forget_except(tmp_path, set(ids[-2:])) == KEEP - 2
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == sorted(i.split(":")[-1] for i in ids[-2:])
    assert sorted(p.stem for p in tmp_path.glob("*.layers")) == sorted(i.split(":")[-1] for i in ids[-2:])
