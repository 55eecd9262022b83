"""Images inspected without running them: file tree, contents, PATH lookup, comparison,
metadata, layers and size (real engine; contexts in tests/data/contexts/image-*).

Every image is built by both backends (the parametrized ``builder`` fixture): what an
image holds and how it is configured must not depend on the backend.  Where the engine
records the two builds differently, the expectation is written per backend, keyed
``"classic"`` / ``"buildkit"``: history texts and the number of history entries (the
classic builder's LABEL step), layer sizes (the classic builder counts a symlink's target
path), BuildKit's mount-point folders and empty RUN layers, and stage images.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_dockerbuild import Builder, BuildResult, FileEntry, Image, ImageError, PathNotFound, parse_size
from pytest_dockerbuild.engine.naming import image_labels, project_id

CONTEXTS = Path(__file__).parent / "data" / "contexts"
BASE = "dockerbuild-offline/base:bookworm"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MOUNT_POINTS = ["/dev", "/proc", "/sys"]


def build(builder: Builder, context: str, target: str | None = None) -> Image:
    return builder.build(CONTEXTS / context, target=target).image


def summed(text: str) -> str:
    return re.sub(r":[0-9a-f]{64}", ":<sum>", text)


@pytest.fixture
def backend(builder: Builder) -> str:
    """The backend the parametrized ``builder`` builds with."""
    return builder.default_backend


@pytest.fixture
def tree(builder: Builder) -> Image:
    return build(builder, "image-tree")


@pytest.fixture
def on_path(builder: Builder) -> Image:
    return build(builder, "image-path")


@pytest.fixture
def configured(builder: Builder) -> Image:
    return build(builder, "image-config")


@pytest.fixture
def scratch_build(builder: Builder) -> BuildResult:
    # never an earlier run's image: a reused result knows no stage images
    return builder.build(CONTEXTS / "image-scratch", reuse=False)


@pytest.fixture
def scratch(scratch_build: BuildResult) -> Image:
    return scratch_build.image


@pytest.fixture
def layered(builder: Builder) -> Image:
    return build(builder, "image-layers")


@pytest.fixture(scope="module")
def base(builders: dict[str, Builder]) -> Image:
    return builders["classic"].image(BASE)


def _layer(*members: tuple[str, str, bytes | str]) -> bytes:
    """A layer tar of (path, kind, data) with kind dir, file or hardlink (data = link target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as layer:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            info.mode = 0o755 if kind == "dir" else 0o644
            info.type = {"dir": tarfile.DIRTYPE, "file": tarfile.REGTYPE, "hardlink": tarfile.LNKTYPE}[kind]
            if kind == "hardlink":
                info.linkname = str(data)
            content = data if kind == "file" and isinstance(data, bytes) else b""
            info.size = len(content)
            layer.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def whiteouts(builders: dict[str, Builder]) -> Iterator[Image]:
    """An image loaded from hand-made layers with whiteouts as overlay2 writes them: a file
    deleted (``.wh.<name>``) and a folder replaced (``.wh..wh..opq``), and hard links whose
    source is deleted or replaced.  This engine's storage driver (fuse-overlayfs, naive diff)
    writes no opaque marker, so a build cannot make one; no backend is involved."""
    lower = _layer(
        ("data", "dir", b""),
        ("data/kept-source.txt", "file", b"before\n"),
        ("data/kept-link.txt", "hardlink", "data/kept-source.txt"),
        ("data/link-source.txt", "file", b"linked\n"),
        ("data/link-copy.txt", "hardlink", "data/link-source.txt"),
        ("data/replaced", "dir", b""),
        ("data/replaced/old-sub", "dir", b""),
        ("data/replaced/old-sub/x.txt", "file", b"x\n"),
        ("data/replaced/old.txt", "file", b"old\n"),
    )
    upper = _layer(
        ("data", "dir", b""),
        ("data/.wh.link-source.txt", "file", b""),
        ("data/kept-source.txt", "file", b"replaced later\n"),
        ("data/replaced", "dir", b""),
        ("data/replaced/.wh..wh..opq", "file", b""),
        ("data/replaced/new.txt", "file", b"new\n"),
    )
    engine = builders["classic"].engine
    client = engine.client
    config = {
        "architecture": client.version()["Arch"],
        "os": "linux",
        "config": {"Cmd": ["/none"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(t).hexdigest()}" for t in (lower, upper)]},
        "history": [{"created_by": "lower"}, {"created_by": "upper"}],
    }
    tag = f"pytest-dockerbuild-tests/whiteouts:{uuid.uuid4().hex[:12]}"
    manifest = [{"Config": "config.json", "RepoTags": [tag], "Layers": ["lower/layer.tar", "upper/layer.tar"]}]
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as out:
        for name, data in [
            ("config.json", json.dumps(config).encode()),
            ("manifest.json", json.dumps(manifest).encode()),
            ("lower/layer.tar", lower),
            ("upper/layer.tar", upper),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    client.images.load(archive.getvalue())
    try:
        yield engine.image(tag)
    finally:
        client.images.remove(tag)


# -- file types, modes and owners ------------------------------------------------------------------
def test_regular_file_entry(tree: Image) -> None:
    entry = tree.files["/data/hello.txt"]
    assert entry == FileEntry("/data/hello.txt", "file", 23, 0o644, 0, 0, "", layer=2)
    assert (entry.is_file, entry.is_dir, entry.is_symlink, entry.is_executable) == (True, False, False, False)


def test_directory_entry(tree: Image) -> None:
    entry = tree.files["/data/sub/deeper"]
    assert (entry.type, entry.size, entry.mode) == ("dir", 0, 0o755)
    assert (entry.is_dir, entry.is_file, entry.is_executable) == (True, False, False)


def test_symlink_entries_keep_their_target_as_written(tree: Image) -> None:
    assert tree.files["/data/rel-link"].link_target == "hello.txt"
    assert tree.files["/data/abs-link"].link_target == "/data/hello.txt"
    assert tree.files["/data/rel-link"].type == "symlink"
    assert tree.files["/data/rel-link"].is_symlink is True


def test_hard_link_entry_is_a_file_with_its_target_size(tree: Image) -> None:
    entry = tree.files["/data/b-hardlink.txt"]
    assert (entry.type, entry.link_target) == ("hardlink", "data/a-original.txt")
    assert (entry.is_file, entry.is_symlink) == (True, False)
    assert entry.size == tree.files["/data/a-original.txt"].size == len("shared\n")


@pytest.mark.parametrize(
    ("path", "mode", "mode_string"),
    [
        ("/data/hello.txt", 0o644, "-rw-r--r--"),
        ("/data/tool.sh", 0o750, "-rwxr-x---"),
        ("/data/setuid", 0o4755, "-rwsr-xr-x"),
        ("/data/sticky", 0o1777, "drwxrwxrwt"),
        ("/data/sub", 0o755, "drwxr-xr-x"),
        ("/data/rel-link", 0o777, "lrwxrwxrwx"),
        ("/data/b-hardlink.txt", 0o644, "-rw-r--r--"),
    ],
)
def test_mode_and_mode_string(tree: Image, path: str, mode: int, mode_string: str) -> None:
    entry = tree.files[path]
    assert (entry.mode, entry.mode_string) == (mode, mode_string)


def test_executable_bit(tree: Image) -> None:
    assert tree.files["/data/tool.sh"].is_executable is True
    assert tree.files["/data/hello.txt"].is_executable is False
    assert tree.files["/data/sticky"].is_executable is False  # folders never are


def test_copy_chown_sets_uid_and_gid(tree: Image) -> None:
    entry = tree.files["/data/owned.txt"]
    assert (entry.uid, entry.gid) == (1000, 1000)
    assert (tree.files["/data/hello.txt"].uid, tree.files["/data/hello.txt"].gid) == (0, 0)


def test_entry_layer_is_the_filesystem_layer_it_comes_from(tree: Image) -> None:
    paths = ["/bin/busybox", "/data/owned.txt", "/data/hello.txt", "/data/tool.sh"]
    assert [tree.files[p].layer for p in paths] == [0, 1, 2, 3]


def test_mount_point_folders_of_a_run(tree: Image, scratch: Image, backend: str) -> None:
    """BuildKit leaves the folders it mounts for a RUN (/dev, /proc, /sys; the base image has
    none) in the layer of the first RUN; the classic builder leaves nothing."""
    found = {path: (tree.files[path].type, tree.files[path].layer) for path in MOUNT_POINTS if path in tree.files}
    assert found == {"classic": {}, "buildkit": {path: ("dir", 3) for path in MOUNT_POINTS}}[backend]
    assert not [path for path in MOUNT_POINTS if scratch.exists(path)]  # no RUN, no mount points


# -- whiteouts -----------------------------------------------------------------------------------
def test_file_deleted_in_a_later_layer_is_absent(tree: Image) -> None:
    assert "/data/doomed.txt" not in tree.files
    assert tree.exists("/data/doomed.txt") is False


def test_whiteout_file_hides_the_lower_file(whiteouts: Image) -> None:
    paths = [e.path for e in whiteouts.files.under("/data")]
    assert paths == [
        "/data/kept-link.txt",
        "/data/kept-source.txt",
        "/data/link-copy.txt",
        "/data/replaced",
        "/data/replaced/new.txt",
    ]
    assert not whiteouts.exists("/data/link-source.txt")


def test_opaque_folder_shows_only_its_new_contents(whiteouts: Image) -> None:
    assert [e.path for e in whiteouts.files.under("/data/replaced")] == ["/data/replaced/new.txt"]
    assert whiteouts.read_text("/data/replaced/new.txt") == "new\n"


def test_hard_link_still_reads_after_its_source_is_deleted(whiteouts: Image) -> None:
    entry = whiteouts.files["/data/link-copy.txt"]
    assert (entry.type, entry.size, entry.layer) == ("hardlink", 7, 0)
    assert whiteouts.read_bytes("/data/link-copy.txt") == b"linked\n"


def test_hard_link_keeps_its_data_when_its_source_is_replaced(whiteouts: Image) -> None:
    assert whiteouts.read_text("/data/kept-source.txt") == "replaced later\n"
    assert whiteouts.read_text("/data/kept-link.txt") == "before\n"
    assert whiteouts.files["/data/kept-link.txt"].size == len("before\n")


def test_total_size_counts_a_hard_link_whose_source_is_gone(whiteouts: Image) -> None:
    kept = len("replaced later\n") + len("before\n")  # kept-source and its old data under kept-link
    assert whiteouts.files.total_size == kept + len("linked\n") + len("new\n")


# -- reading files -------------------------------------------------------------------------------
def test_read_text(tree: Image) -> None:
    assert tree.read_text("/data/hello.txt") == "hello from the context\n"


@pytest.mark.parametrize("path", ["/data/rel-link", "/data/abs-link", "data/./sub/../hello.txt"])
def test_read_bytes_follows_symlinks_and_normalizes(tree: Image, path: str) -> None:
    assert tree.read_bytes(path) == b"hello from the context\n"


def test_read_through_a_symlinked_folder(tree: Image) -> None:
    assert tree.read_text("/data/dir-link/deeper/deep.txt") == "deep\n"


def test_read_a_hard_link(tree: Image) -> None:
    assert tree.read_text("/data/b-hardlink.txt") == "shared\n"


def test_read_an_empty_file(tree: Image) -> None:
    assert tree.read_bytes("/data/setuid") == b""


def test_read_a_folder_is_an_image_error(tree: Image) -> None:
    with pytest.raises(ImageError) as error:
        tree.read_bytes("/data/dir-link")
    assert str(error.value) == f"'/data/dir-link' in image {tree.short_id} is a dir, not a file"
    assert not isinstance(error.value, PathNotFound)


def test_read_a_dangling_symlink_names_its_target(tree: Image) -> None:
    with pytest.raises(PathNotFound) as error:
        tree.read_bytes("/data/dangling")
    assert error.value.path == "/nowhere"


def test_symlink_loop_is_an_image_error(tree: Image) -> None:
    with pytest.raises(ImageError, match=r"^too many levels of symbolic links resolving '/data/loop-a'$"):
        tree.read_bytes("/data/loop-a")


# -- lookups -----------------------------------------------------------------------------------------
def test_missing_path_lists_the_entries_of_its_folder(scratch: Image) -> None:
    with pytest.raises(PathNotFound) as error:
        scratch.files["/hello"]
    message = f"'/hello' does not exist in image {scratch.short_id}; entries in its folder: etc, hello.txt, hi-link"
    assert str(error.value) == message
    assert (error.value.path, error.value.image) == ("/hello", scratch.short_id)
    assert isinstance(error.value, KeyError)


def test_missing_path_lists_at_most_ten_entries(tree: Image) -> None:
    with pytest.raises(PathNotFound) as error:
        tree.file("/data/nope.txt")
    assert str(error.value).endswith(
        "entries in its folder: a-original.txt, abs-link, b-hardlink.txt, dangling, dir-link, hello.txt, "
        "loop-a, loop-b, owned.txt, rel-link"
    )


def test_missing_path_in_a_missing_folder_has_no_list(tree: Image) -> None:
    with pytest.raises(PathNotFound) as error:
        tree.file("/nothing/here")
    assert str(error.value) == f"'/nothing/here' does not exist in image {tree.short_id}"


def test_exists_counts_a_dangling_symlink(tree: Image) -> None:
    assert tree.exists("/data/dangling") is True
    assert tree.exists("/nowhere") is False


def test_contains_normalizes_and_rejects_non_strings(tree: Image) -> None:
    assert "data/hello.txt" in tree.files
    assert "/data//sub/" in tree.files
    assert 42 not in tree.files  # type: ignore[comparison-overlap]  # a non-string, on purpose


def test_file_keeps_a_final_symlink_but_follows_folders(tree: Image) -> None:
    assert tree.file("/data/rel-link").type == "symlink"
    assert tree.file("/data/dir-link/deeper").path == "/data/sub/deeper"
    assert tree.file("/bin/sh").link_target == "/bin/busybox"


def test_under_lists_everything_below_a_folder(tree: Image) -> None:
    expected = ["/data/sub/deeper", "/data/sub/deeper/deep.txt"]
    assert [e.path for e in tree.files.under("/data/sub")] == expected
    assert [e.path for e in tree.files.under("data/sub/")] == expected
    assert tree.files.under("/missing") == []


def test_glob_star_crosses_folders(tree: Image) -> None:
    assert [e.path for e in tree.files.glob("/data/*.txt")] == [
        "/data/a-original.txt",
        "/data/b-hardlink.txt",
        "/data/hello.txt",
        "/data/owned.txt",
        "/data/sub/deeper/deep.txt",
    ]
    assert [e.path for e in tree.files.glob("/data/?-*")] == ["/data/a-original.txt", "/data/b-hardlink.txt"]


# -- which() -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("tool", "/opt/first/tool"),  # the first PATH folder wins
        ("plain", "/opt/second/plain"),  # /opt/first/plain is not executable
        ("linked", "/opt/first/linked"),  # a symlink to an executable
        ("ls", "/bin/ls"),  # a busybox applet: a symlink to /bin/busybox
        ("broken", None),  # a dangling symlink
        ("folder", None),  # a folder
        ("hidden", None),  # in /usr/local/bin, which this image's PATH leaves out
        ("env", None),  # /usr/bin/env: not on this PATH either
    ],
)
def test_which_honours_the_image_path(on_path: Image, name: str, found: str | None) -> None:
    assert on_path.config.env["PATH"] == "/opt/first:/opt/second:/bin"
    assert on_path.which(name) == found


def test_which_with_the_default_path(tree: Image) -> None:
    assert tree.config.env["PATH"] == DEFAULT_PATH
    assert tree.which("env") == "/usr/bin/env"
    assert tree.which("sh") == "/bin/sh"
    assert tree.which("tool.sh") is None


# -- an image FROM scratch -------------------------------------------------------------------------
def test_scratch_image_holds_only_what_was_copied(scratch: Image) -> None:
    assert list(scratch.files) == ["/", "/etc", "/etc/motd", "/hello.txt", "/hi-link"]
    assert len(scratch.files) == 5


def test_scratch_image_files(scratch: Image) -> None:
    assert scratch.read_text("/hi-link") == "scratch says hi\n"
    assert scratch.read_text("/etc/motd") == "welcome to scratch\n"
    assert scratch.files["/hello.txt"].mode_string == "-rw-r-----"
    assert scratch.files.total_size == 16 + 19


def test_scratch_image_has_no_shell(scratch: Image) -> None:
    assert scratch.which("sh") is None
    assert scratch.exists("/bin") is False
    assert scratch.config.env == {"PATH": DEFAULT_PATH}


def plugin_labels(context: str) -> str:
    """The plugin's labels as the classic builder's LABEL step shows them."""
    return " ".join(f"{k}={v}" for k, v in sorted(image_labels(CONTEXTS / context).items()))


def last_stage_label(context: str) -> str:
    """The classic backend's LABEL after the last stage's FROM: the plugin's labels join it."""
    managed = "pytest-dockerbuild.managed=true"
    return f"LABEL {managed} " + " ".join(p for p in plugin_labels(context).split() if p != managed)


SCRATCH_LAYERS = {
    # the classic builder counts the symlink's target path ("hello.txt", 9 bytes) in the size of the
    # COPY layer, and commits the plugin's LABEL (with its labels) as a step; BuildKit counts file data only
    "classic": [
        (last_stage_label("image-scratch"), 0),
        ("COPY dir:<sum> in /", 16 + 9),
        ("COPY file:<sum> in /etc/motd", 19),
        ('CMD ["/hello.txt"]', 0),
    ],
    "buildkit": [
        ("COPY /out/ /", 16),
        ("COPY motd.txt /etc/motd", 19),
        ('CMD ["/hello.txt"]', 0),
    ],
}


def test_scratch_image_layers_and_size(scratch: Image, backend: str) -> None:
    assert [(summed(layer.instruction), layer.size) for layer in scratch.layers] == SCRATCH_LAYERS[backend]
    assert scratch.size == {"classic": 44, "buildkit": 35}[backend]
    assert scratch.size == sum(layer.size for layer in scratch.layers)


def test_stage_images_of_a_build(scratch_build: BuildResult, builder: Builder, backend: str) -> None:
    """The classic builder commits an image per stage (the plugin tags the intermediate
    ones); BuildKit keeps none."""
    assert scratch_build.backend == backend
    assert not scratch_build.reused
    ids = {stage.ref: stage.image_id for stage in scratch_build.stages}
    if backend == "classic":
        assert ids["1"] == scratch_build.image.id
        prep = builder.image(str(ids["prep"]))
        assert f"pytest-dockerbuild/{project_id(CONTEXTS / 'image-scratch')}:prep-{prep.short_id}" in prep.tags
        assert prep.read_text("/out/hello.txt") == "scratch says hi\n"
    else:
        assert ids == {"prep": None, "1": None}


# -- compare() -----------------------------------------------------------------------------------------
@pytest.fixture
def final_and_builder(builder: Builder) -> tuple[Image, Image]:
    return build(builder, "image-compare"), build(builder, "image-compare", target="builder")


def test_compare_final_image_with_its_builder_stage(final_and_builder: tuple[Image, Image]) -> None:
    final, builder_stage = final_and_builder
    diff = final.compare(builder_stage)
    assert diff.added == ["/app/final-only.txt"]
    assert diff.removed == ["/src", "/src/main.c"]
    assert diff.changed == ["/app/readme", "/app/version"]  # mode 600 vs 644; 9 vs 3 bytes


def test_compare_sizes_and_summary(final_and_builder: tuple[Image, Image]) -> None:
    final, builder_stage = final_and_builder
    diff = final.compare(builder_stage)
    assert final.size - builder_stage.size == (7 + 7 + 9 + 10 + 7) - (10 + 3 + 7 + 7)
    assert diff.size_delta == 13
    assert diff.size_ratio == builder_stage.size / final.size
    assert str(diff) == (
        f"{final.short_id} (2.0 MB) vs {builder_stage.short_id} (2.0 MB): 1 added, 2 removed, 2 changed"
    )


def test_compare_an_image_with_itself_finds_nothing(tree: Image) -> None:
    diff = tree.compare(tree)
    assert (diff.added, diff.removed, diff.changed) == ([], [], [])


def test_the_backends_build_the_same_tree(builders: dict[str, Builder]) -> None:
    classic, buildkit = (build(builders[name], "image-tree") for name in ("classic", "buildkit"))
    assert classic.id != buildkit.id
    diff = buildkit.compare(classic)
    assert (diff.added, diff.removed, diff.changed) == (MOUNT_POINTS, [], [])  # see test_mount_point_folders


# -- metadata ----------------------------------------------------------------------------------------------
def test_config_from_a_dockerfile_that_sets_everything(configured: Image) -> None:
    config = configured.config
    assert config.entrypoint == ["/bin/sh", "-c"]
    assert config.cmd == ["echo $GREETING"]
    assert config.env == {"PATH": DEFAULT_PATH, "APP_HOME": "/srv/app", "GREETING": "hello world"}
    assert config.workdir == "/srv/app"
    assert config.user == "1000:1000"
    assert config.volumes == ["/srv/data"]
    assert config.stop_signal == "SIGINT"
    assert config.shell == ["/bin/sh", "-ec"]


def test_config_ports(configured: Image) -> None:
    assert configured.config.exposed_ports == ["8080/tcp", "9090/udp"]
    assert (
        configured.config.exposes(8080)
        and configured.config.exposes("9090/udp")
        and configured.config.exposes(9090, "udp")
    )
    assert not configured.config.exposes(9090) and not configured.config.exposes("8080/udp")
    with pytest.deprecated_call(match=r"use \.exposed_ports"):
        assert configured.config.ports == {8080, 9090}


def test_config_labels_include_the_dockerfile_and_plugin_labels(configured: Image) -> None:
    labels = configured.config.labels
    assert {k: v for k, v in labels.items() if k.startswith("org.example.")} == {
        "org.example.name": "config demo",
        "org.example.version": "1.2",
    }
    assert labels["pytest-dockerbuild.managed"] == "true"
    assert labels["pytest-dockerbuild.project"] == project_id(CONTEXTS / "image-config")


def test_config_healthcheck(configured: Image) -> None:
    assert configured.config.healthcheck == {
        "Test": ["CMD-SHELL", "wget -q -O- http://localhost:8080/ || exit 1"],
        "Interval": 30_000_000_000,
        "Timeout": 3_000_000_000,
        "Retries": 2,
    }


def test_config_of_an_image_that_sets_nothing(scratch: Image, backend: str) -> None:
    config = scratch.config
    assert (config.entrypoint, config.cmd) == (None, ["/hello.txt"])
    assert (config.user, config.stop_signal, config.shell) == ("", None, None)
    assert (config.exposed_ports, config.volumes, config.healthcheck) == ([], [], None)
    assert config.workdir == {"classic": "", "buildkit": "/"}[backend]  # BuildKit writes the default


# -- layers and size -----------------------------------------------------------------------------------
SHIFT = {"classic": 1, "buildkit": 0}  # history entries it adds before a stage's instructions

LAYER_INSTRUCTIONS = {
    "classic": [
        "IMPORT",
        last_stage_label("image-layers"),  # the plugin's own image on the base, with its labels: no step more
        "COPY file:<sum> in /ten-bytes.txt",
        "ENV MODE=test",
        "RUN head -c 1000 /dev/zero > /kilobyte.bin",
        "RUN true",
        "ARG FLAVOUR=plain",
        'RUN echo "$FLAVOUR" > /flavour.txt',
    ],
    "buildkit": [
        "IMPORT",
        "COPY ten-bytes.txt /ten-bytes.txt",
        "ENV MODE=test",
        "RUN head -c 1000 /dev/zero > /kilobyte.bin",
        "RUN true",
        "ARG FLAVOUR=plain",
        'RUN echo "$FLAVOUR" > /flavour.txt',  # labels come with --label: no step
    ],
}

RAW_HISTORY = {
    "classic": [
        "",
        f"/bin/sh -c #(nop)  {last_stage_label('image-layers')}",
        "/bin/sh -c #(nop) COPY file:<sum> in /ten-bytes.txt ",
        "/bin/sh -c #(nop)  ENV MODE=test",
        "/bin/sh -c head -c 1000 /dev/zero > /kilobyte.bin",
        "/bin/sh -c true",
        "/bin/sh -c #(nop)  ARG FLAVOUR=plain",
        '|1 FLAVOUR=plain /bin/sh -c echo "$FLAVOUR" > /flavour.txt',
    ],
    "buildkit": [
        "",
        "COPY ten-bytes.txt /ten-bytes.txt # buildkit",
        "ENV MODE=test",
        "RUN /bin/sh -c head -c 1000 /dev/zero > /kilobyte.bin # buildkit",
        "RUN /bin/sh -c true # buildkit",
        "ARG FLAVOUR=plain",
        'RUN |1 FLAVOUR=plain /bin/sh -c echo "$FLAVOUR" > /flavour.txt # buildkit',
    ],
}


def test_layers_instructions_oldest_first(layered: Image, backend: str) -> None:
    """Everything but RUN (see test_run_layers_show_the_command)."""
    shown = [summed(layer.instruction) for layer in layered.layers]
    expected = LAYER_INSTRUCTIONS[backend]
    assert len(shown) == len(expected)
    assert [s for s in shown if not s.startswith("RUN ")] == [e for e in expected if not e.startswith("RUN ")]
    assert [layer.index for layer in layered.layers] == list(range(len(expected)))


@pytest.mark.parametrize("name", ["classic", "buildkit"])
def test_run_layers_show_the_command(builders: dict[str, Builder], name: str) -> None:
    layered = build(builders[name], "image-layers")
    assert [summed(layer.instruction) for layer in layered.layers] == LAYER_INSTRUCTIONS[name]


def test_layer_keeps_the_raw_history_text(layered: Image, backend: str) -> None:
    assert [summed(layer.created_by) for layer in layered.layers] == RAW_HISTORY[backend]


def test_layer_sizes(layered: Image, base: Image, backend: str) -> None:
    own = [0] * SHIFT[backend]
    assert [layer.size for layer in layered.layers] == [base.size, *own, 10, 0, 1000, 0, 0, 6]
    assert sum(layer.size for layer in layered.layers) == layered.size
    assert layered.size - base.size == 1016


def test_empty_layers_are_the_steps_that_add_no_bytes(layered: Image, backend: str) -> None:
    own = [True] * SHIFT[backend]
    #                                                      COPY   ENV   RUN 1kB  RUN true  ARG   RUN echo
    assert [layer.empty for layer in layered.layers] == [False, *own, False, True, False, True, True, False]


def test_run_that_changes_nothing_is_an_empty_layer(layered: Image, backend: str) -> None:
    run_true = layered.layers[4 + SHIFT[backend]]
    assert run_true.created_by.startswith(("/bin/sh -c true", "RUN /bin/sh -c true"))
    assert (run_true.size, run_true.empty) == (0, True)


def test_a_layer_that_only_deletes_is_empty(tree: Image, backend: str) -> None:
    deleting = tree.layers[5 + SHIFT[backend]]
    assert "rm /data/doomed.txt" in deleting.created_by
    assert (deleting.size, deleting.empty) == (0, True)
    assert tree.layers[4 + SHIFT[backend]].empty is False  # the layer that wrote it


def test_entry_layer_counts_filesystem_layers_only(layered: Image, backend: str) -> None:
    """History entries include metadata steps, filesystem layers do not; the classic builder
    commits no filesystem layer for a RUN that changes nothing, BuildKit commits an empty one."""
    assert layered.file("/ten-bytes.txt").layer == 1
    assert layered.file("/kilobyte.bin").layer == 2
    assert layered.file("/flavour.txt").layer == {"classic": 3, "buildkit": 4}[backend]


EXPOSE_STEP = {"classic": "EXPOSE 8080 9090/udp", "buildkit": "EXPOSE map[8080/tcp:{} 9090/udp:{}]"}
CMD_HISTORY = {
    "classic": '/bin/sh -ec #(nop)  CMD ["echo $GREETING"]',  # with the SHELL of the step
    "buildkit": 'CMD ["echo $GREETING"]',
}


def test_metadata_steps_in_the_history(configured: Image, backend: str) -> None:
    keywords = [layer.instruction.split(" ", 1)[0] for layer in configured.layers]
    steps = ["ENV", "WORKDIR", "USER", "EXPOSE", "LABEL", "HEALTHCHECK", "VOLUME", "STOPSIGNAL", "SHELL"]
    own = ["LABEL"] * SHIFT[backend]
    assert keywords == ["IMPORT", *own, *steps, "ENTRYPOINT", "CMD"]
    assert {layer.empty for layer in configured.layers[1:]} == {True}
    assert configured.layers[4 + SHIFT[backend]].instruction == EXPOSE_STEP[backend]


def test_instruction_after_a_shell_change(configured: Image, backend: str) -> None:
    shift = SHIFT[backend]
    assert [layer.instruction for layer in configured.layers[10 + shift : 12 + shift]] == [
        'ENTRYPOINT ["/bin/sh" "-c"]',
        'CMD ["echo $GREETING"]',
    ]
    assert configured.layers[11 + shift].created_by == CMD_HISTORY[backend]


def test_image_size_per_backend(tree: Image, base: Image, backend: str) -> None:
    """The RUN of image-tree makes 8 symlinks: the classic builder counts their target paths."""
    added = {"classic": 18 + 23 + 79 + 7, "buildkit": 18 + 23 + 32 + 7}[backend]
    assert tree.size - base.size == added
    assert tree.size < parse_size("2MB")


# -- identity --------------------------------------------------------------------------------------------
def test_same_image_by_id_is_equal(builder: Builder, tree: Image) -> None:
    again = builder.image(tree.id)
    assert again == tree
    assert hash(again) == hash(tree)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", tree.id)
    assert tree.short_id == tree.id[7:19]


def test_missing_image_is_an_image_error(builders: dict[str, Builder]) -> None:
    with pytest.raises(ImageError) as error:
        builders["classic"].image("pytest-dockerbuild-tests/absent:never")
    assert str(error.value) == "image 'pytest-dockerbuild-tests/absent:never' is not in the engine's image store"
    assert error.value.image == "pytest-dockerbuild-tests/absent:never"


# -- parse_size --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (123, 123),
        (1.9, 2),
        ("123", 123),
        ("7b", 7),
        ("2 kB", 2_000),
        ("2KiB", 2_048),
        ("30MB", 30_000_000),
        ("30 MiB", 30 * 1024**2),
        (" 10 mb ", 10_000_000),
        ("1.5GB", 1_500_000_000),
        ("1gib", 1024**3),
        ("0.5k", 500),
        ("4.1GB", 4_100_000_000),  # 4.1 * 1000**3 is 4099999999.9999995 in binary floating point
        ("1.001kB", 1_001),
        ("0.1kB", 100),
    ],
)
def test_parse_size(size: int | float | str, expected: int) -> None:
    assert parse_size(size) == expected


@pytest.mark.parametrize("size", ["", "MB", "12TB", "-1MB", "1,5MB", "ten", "1e6"])
def test_parse_size_rejects(size: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_size(size)
    assert str(error.value) == f"cannot read {size!r} as a size; use bytes or e.g. '30MB', '30MiB', '1.5GB'"
