"""The file index of an image kept across runs (by image id): a later run's ``files``,
``which()`` and ``exists()`` need no export; reading contents exports once; entries are
bounded, survive nothing stale, and go with the images on prune (real engine)."""

from __future__ import annotations

import json
from pathlib import Path

import docker
import pytest
from helpers import MakeContext

from pytest_dockerbuild import Builder, Image
from pytest_dockerbuild.image import FileEntry, FileTree
from pytest_dockerbuild.image.index import KEEP, forget_except, load_index, store_index


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
    assert len(list(tmp_path.glob("*.json"))) == KEEP
    assert load_index(tmp_path, ids[-1], "x") is not None and load_index(tmp_path, ids[0], "x") is None
    assert forget_except(tmp_path, set(ids[-2:])) == KEEP - 2
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == sorted(i.split(":")[-1] for i in ids[-2:])
