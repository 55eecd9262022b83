"""Reuse never gives a wrong verdict: a result is reused only for the same content key, the key
holds every input a backend reads, a failure is never carried into a new run, and an option the
user passes wins over any cache (real engine, both backends)."""

from __future__ import annotations

import http.server
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import docker
import pytest
from docker.utils.build import exclude_paths
from helpers import BASE, MakeContext

from pytest_dockerbuild import Builder
from pytest_dockerbuild.build.registry import BACKENDS as REGISTRY

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack is new in 3.11

BACKENDS = ["classic", "buildkit"]


class KeyOptions(TypedDict, total=False):
    """The options of a build that go into its key (those of ``Builder.prepare``)."""

    dockerfile: str
    target: str
    build_args: dict[str, str]
    labels: dict[str, str]
    image_map: dict[str, str]
    backend: str


def key_of(builder: Builder, context: Path, **options: Unpack[KeyOptions]) -> str:
    request, parsed = builder.prepare(
        context, options.get("dockerfile"), target=options.get("target"), build_args=options.get("build_args"),
        labels=options.get("labels"), image_map=options.get("image_map"), backend=options.get("backend"), tag=None,
    )  # fmt: skip
    return builder.content_key(request, parsed)


# -- the content key: every input in, nothing else ---------------------------------------------------------
@pytest.fixture
def keyed(builders: dict[str, Builder], make_context: MakeContext) -> Iterator[Callable[[], Path]]:
    """A context with two stages, an image copied from, and both kinds of ignore file."""
    base = docker.from_env().images.get(BASE)
    tag = f"keytest/base:{uuid.uuid4().hex[:8]}"
    base.tag(tag)

    def make() -> Path:
        context = make_context(
            f"ARG V=1\nFROM {tag} AS tools\nRUN true\nFROM diamol/base AS app\n"
            f'COPY --from={tag} /bin/busybox /bb\nCOPY . /ctx\nCMD ["sh"]\n',
            files={
                "src/a.txt": "a",
                "ignored.log": "x",
                "only-buildkit.txt": "b",
                ".dockerignore": "*.log\nonly-*\n",
                "Dockerfile.dockerignore": "*.log\n",
            },
        )
        os.symlink("src/a.txt", context / "link")
        return context

    yield make
    docker.from_env().images.remove(tag)


def _edit(change: Callable[[Path], object]) -> Callable[[Path], KeyOptions]:
    """A change made to the context's files, with no option."""

    def apply(context: Path) -> KeyOptions:
        change(context)
        return {}

    return apply


def _retarget_link(context: Path) -> None:
    (context / "link").unlink()
    os.symlink("src", context / "link")


CHANGES: dict[str, Callable[[Path], KeyOptions]] = {
    "a context file's content": _edit(lambda c: (c / "src/a.txt").write_text("A")),
    "a new context file": _edit(lambda c: (c / "src/new.txt").write_text("n")),
    "a removed context file": _edit(lambda c: (c / "src/a.txt").unlink()),
    "a file's mode": _edit(lambda c: (c / "src/a.txt").chmod(0o600)),
    "a symlink's target": _edit(_retarget_link),
    "the Dockerfile": _edit(lambda c: (c / "Dockerfile").write_text((c / "Dockerfile").read_text() + "ENV X=1\n")),
    "a build arg": lambda c: {"build_args": {"V": "2"}},
    "the target": lambda c: {"target": "tools"},
    "a label": lambda c: {"labels": {"team": "a"}},
    "a substitution": lambda c: {"image_map": {"diamol/base": (c / "Dockerfile").read_text().split()[3]}},
    ".dockerignore": _edit(lambda c: (c / ".dockerignore").write_text("only-*\n")),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("backend", BACKENDS)
def test_changing_an_input_changes_the_key(
    builders: dict[str, Builder], keyed: Callable[[], Path], backend: str, change: str
) -> None:
    builder = builders[backend]
    context = keyed()
    before = key_of(builder, context)
    assert key_of(builder, context) == before, "the same inputs give the same key"
    options = CHANGES[change](context)
    assert key_of(builder, context, **options) != before


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_ignore_file_the_backend_reads_decides(builders: dict[str, Builder], keyed: Callable[[], Path],
                                                   backend: str) -> None:  # fmt: skip
    """BuildKit prefers <Dockerfile>.dockerignore (which lets only-buildkit.txt in); the classic
    builder reads .dockerignore only (which keeps it out). A file ignored by both never counts."""
    builder = builders[backend]
    context = keyed()
    before = key_of(builder, context)
    (context / "only-buildkit.txt").write_text("changed")
    assert (key_of(builder, context) != before) is (backend == "buildkit")
    before = key_of(builder, context)
    (context / "ignored.log").write_text("changed")
    assert key_of(builder, context) == before


@pytest.fixture
def movable_tags() -> Iterator[Callable[[], str]]:
    """Tags of the base image that a test may point at another image."""
    client = docker.from_env()
    made: list[str] = []

    def make() -> str:
        made.append(f"keytest/moved:{uuid.uuid4().hex[:8]}")
        client.images.get(BASE).tag(made[-1])
        return made[-1]

    yield make
    for tag in made:
        client.images.remove(tag)


def _move(tag: str) -> None:
    """Point ``tag`` at a new image (built FROM the base, so it is a different id)."""
    client = docker.from_env()
    replacement = client.images.build(fileobj=_dockerfile(f"FROM {BASE}\nLABEL moved={uuid.uuid4().hex}\n"), rm=True)[0]
    client.api.tag(replacement.id, *tag.split(":"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_id_of_every_image_a_stage_reads_is_in_the_key(
    builders: dict[str, Builder], make_context: MakeContext, movable_tags: Callable[[], str], backend: str
) -> None:
    """The classic builder runs every stage before the target, so the base of a stage the target
    does not need can change the verdict; COPY --from an image reads that image."""
    builder = builders[backend]
    unneeded, copied = movable_tags(), movable_tags()
    context = make_context(
        f"FROM {unneeded} AS tools\nRUN exit 1\nFROM diamol/base AS app\nCOPY --from={copied} /bin/sh /sh\n"
    )
    for tag in (unneeded, copied):
        before = key_of(builder, context, target="app")
        _move(tag)
        assert key_of(builder, context, target="app") != before, f"{tag} moved"


@pytest.mark.parametrize("variable", ["BUILDX_BUILDER", "SOURCE_DATE_EPOCH", "DOCKER_DEFAULT_PLATFORM"])
def test_the_environment_the_buildkit_cli_reads_is_in_its_key(
    builders: dict[str, Builder], keyed: Callable[[], Path], monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    context = keyed()
    monkeypatch.delenv(variable, raising=False)
    buildkit, classic = key_of(builders["buildkit"], context), key_of(builders["classic"], context)
    monkeypatch.setenv(variable, "1")
    assert key_of(builders["buildkit"], context) != buildkit
    assert key_of(builders["classic"], context) == classic  # the SDK's build reads no environment


def test_which_engine_builds_is_not_in_the_key(
    builders: dict[str, Builder], keyed: Callable[[], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engines of --dockerbuild-engines (each worker's DOCKER_HOST) share one key per image."""
    context = keyed()
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    before = key_of(builders["buildkit"], context)
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    assert key_of(builders["buildkit"], context) == before
    monkeypatch.setenv("DOCKER_CONTEXT", "other")  # the rest of DOCKER_* still counts
    assert key_of(builders["buildkit"], context) != before


def _dockerfile(text: str) -> object:
    import io

    return io.BytesIO(text.encode())


PATTERNS = {
    "excludes": "**/*.log\nbuild/\n/top.txt\n*/tmp*\n# a comment\n",
    "with exceptions": "**/*.log\n!keep.log\nbuild/\n/top.txt\n*/tmp*\ndocs\n!docs/keep.md\n",
    "an allowlist": "*\n!**/*.c\n!Dockerfile\n",
    "a folder with an exception below": "docs\n!**/keep.md\n",
    "a backslash": "sub\\*\n",
    "a negated class": "[^x]*\n",
}
NAMES = ["a.log", "keep.log", "sub/b.log", "build/out", "top.txt", "sub/top.txt", "sub/tmp1", "x/tmpdir/f",
         "docs/a.md", "docs/keep.md", "src/main.c", "lib/util/x.c", ".hidden", "sub\\x", "x.txt"]  # fmt: skip


@pytest.mark.parametrize("patterns", sorted(PATTERNS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_key_holds_every_file_the_backend_sends(
    builders: dict[str, Builder], make_context: MakeContext, backend: str, patterns: str
) -> None:
    """The classic backend sends what docker-py's matcher keeps (it makes the context), so the key
    hashes exactly those; BuildKit's matcher differs on exceptions and escapes, so there the key
    may hash more files, never fewer (checked on the image the build makes of the whole context)."""
    context = make_context(
        "FROM scratch\nCOPY . /ctx/\n", files={**{n: n for n in NAMES}, ".dockerignore": PATTERNS[patterns]}
    )
    keyed = {
        path
        for path in exclude_paths(str(context), REGISTRY[backend].ignore_patterns(context, context / "Dockerfile"))
        if (context / path).is_file()
    }
    result = builders[backend].build(context)
    sent = {entry.path.removeprefix("/ctx/") for entry in result.image.files.values() if entry.is_file}
    assert sent <= keyed
    if backend == "classic" or not any(
        line.startswith("!") or "\\" in line or "[" in line for line in PATTERNS[patterns].split()
    ):
        assert sent | {".dockerignore"} == keyed | {".dockerignore"}  # the engine drops an ignore file it ignores


# -- reuse across runs ------------------------------------------------------------------------------------
def _two_files_project(pytester: pytest.Pytester, backend: str) -> Path:
    """data.txt is let in by the ignore file the backend reads, kept out by the other one."""
    context = pytester.mkdir("app")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY . /ctx/\n")
    used, other = (".dockerignore", "Dockerfile.dockerignore") if backend == "classic" else (
        "Dockerfile.dockerignore", ".dockerignore")  # fmt: skip
    (context / used).write_text("*.tmp\n")
    (context / other).write_text("data.txt\n")
    return context


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_file_only_the_backends_ignore_file_lets_in_is_never_stale(inner: pytest.Pytester, backend: str) -> None:
    context = _two_files_project(inner, backend)
    inner.makepyfile(
        """
        def test_data(dockerbuild):
            print("DATA", dockerbuild.build("app").image.read_text("/ctx/data.txt"))
        """
    )
    for version in (f"v1-{uuid.uuid4().hex}", "v2"):
        (context / "data.txt").write_text(version)
        result = inner.runpytest_subprocess("-s", f"--dockerbuild-backend={backend}")
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines([f"*DATA {version}"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failure_is_never_replayed_in_a_new_run(inner: pytest.Pytester, backend: str) -> None:
    """A build that fails for a reason outside its content (here: the clock; elsewhere a mirror
    outage, an OOM kill, a flaky test stage) is built again by the next run, and passes."""
    inner.mkdir("app")
    inner.makepyfile(
        """
        def test_build(dockerbuild):
            dockerbuild.build("app")

        def test_same_session_same_failure(dockerbuild):
            dockerbuild.build("app")
        """
    )
    for margin in (4, 15, 45):  # a loaded machine may reach the time before the first run builds
        ready_at = int(time.time()) + margin
        (inner.path / "app" / "Dockerfile").write_text(
            f"FROM diamol/base\nRUN echo {uuid.uuid4().hex} && test $(date +%s) -ge {ready_at}\n"
        )
        first = inner.runpytest_subprocess(f"--dockerbuild-backend={backend}")
        if time.time() < ready_at:
            break
    first.assert_outcomes(failed=2)
    first.stdout.fnmatch_lines(["*= dockerbuild: 0 images built, 0 reused, 1 failed builds =*"])  # built once
    while time.time() < ready_at + 1:
        time.sleep(0.2)
    second = inner.runpytest_subprocess(f"--dockerbuild-backend={backend}")
    second.assert_outcomes(passed=2)


def test_reuse_false_builds_through_the_engine(inner: pytest.Pytester) -> None:
    inner.mkdir("app")
    (inner.path / "app" / "Dockerfile").write_text(f"FROM diamol/base\nRUN echo {uuid.uuid4().hex} > /id\n")
    inner.makepyfile(
        """
        def test_first(dockerbuild):
            dockerbuild.build("app")

        def test_again(dockerbuild):
            default = dockerbuild.build("app")
            fresh = dockerbuild.build("app", reuse=False)
            assert fresh is not default and not fresh.reused and not fresh.shared
            assert fresh.cache_ratio == 1.0  # through the engine, every step from the layer cache
            assert fresh.step("RUN echo").cached
            assert dockerbuild.build("app") is fresh  # the session now hands out the fresh one
            print("REUSED" if default.reused else "BUILT")
        """
    )
    inner.runpytest_subprocess("-s").stdout.fnmatch_lines(["*BUILT*"])
    again = inner.runpytest_subprocess("-s")
    again.assert_outcomes(passed=2)
    again.stdout.fnmatch_lines(["*REUSED*"])


def test_reuse_false_wins_over_another_workers_build(inner: pytest.Pytester) -> None:
    inner.mkdir("app")
    (inner.path / "app" / "Dockerfile").write_text(f"FROM diamol/base\nRUN echo {uuid.uuid4().hex} > /id\n")
    inner.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_fresh(dockerbuild, n):
            result = dockerbuild.build("app", reuse=False)
            assert not result.shared and not result.reused
            assert result.steps
        """
    )
    inner.runpytest_subprocess("-n", "2").assert_outcomes(passed=4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_tag_is_applied_when_the_image_is_reused(inner: pytest.Pytester, backend: str) -> None:
    mine = f"mine/app:{uuid.uuid4().hex[:8]}"
    inner.mkdir("app")
    (inner.path / "app" / "Dockerfile").write_text(f"FROM diamol/base\nRUN echo {uuid.uuid4().hex} > /id\n")
    inner.makepyfile(
        f"""
        def test_tagged(dockerbuild):
            plain = dockerbuild.build("app")
            tagged = dockerbuild.build("app", tag={mine!r})  # the same content: the session's result
            assert tagged.image.id == plain.image.id
        """
    )
    client = docker.from_env()
    try:
        inner.runpytest_subprocess(f"--dockerbuild-backend={backend}").assert_outcomes(passed=1)
        built = client.images.get(mine).id
        client.images.remove(mine)
        inner.runpytest_subprocess(f"--dockerbuild-backend={backend}").assert_outcomes(passed=1)  # reused
        assert client.images.get(mine).id == built
    finally:
        client.images.remove(mine)


# -- the summary --------------------------------------------------------------------------------------------
def test_the_summary_tells_expected_failures_from_failed_builds(inner: pytest.Pytester) -> None:
    for name, command in (("expected", "exit 3"), ("broken", "exit 4")):
        inner.mkdir(name)
        (inner.path / name / "Dockerfile").write_text(f"FROM diamol/base\nRUN echo {uuid.uuid4().hex} && {command}\n")
    inner.makepyfile(
        """
        def test_expected(dockerbuild):
            dockerbuild.expect_failure("expected", exit_code=3)
        """
    )
    green = inner.runpytest_subprocess()
    green.assert_outcomes(passed=1)
    green.stdout.fnmatch_lines(["*= dockerbuild: 0 images built, 0 reused, 0 failed builds, 1 expected failures =*",
                                "* expected *expected/Dockerfile (stage '0', step 2/2)"])  # fmt: skip
    assert "FAILED" not in green.stdout.str()
    inner.makepyfile(
        """
        def test_expected(dockerbuild):
            dockerbuild.expect_failure("expected", exit_code=3)

        def test_broken(dockerbuild):
            dockerbuild.build("broken")
        """
    )
    red = inner.runpytest_subprocess()
    red.assert_outcomes(passed=1, failed=1)
    red.stdout.fnmatch_lines(["*= dockerbuild: 0 images built, 0 reused, 1 failed builds, 1 expected failures =*"])
    red.stdout.fnmatch_lines(["* FAILED *broken/Dockerfile (stage '0', step 2/2)"])


def test_an_allowlist_ignore_file_is_never_stale_with_buildkit(inner: pytest.Pytester) -> None:
    """``*`` then ``!**/*.py``: BuildKit sends lib/util.py, which docker-py's matcher would drop."""
    context = inner.mkdir("app")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY . /ctx/\n")
    (context / ".dockerignore").write_text("*\n!**/*.py\n!Dockerfile\n")
    (context / "lib").mkdir()
    inner.makepyfile(
        'def test_it(dockerbuild):\n    print("DATA", dockerbuild.build("app").image.read_text("/ctx/lib/util.py"))\n'
    )
    for version in (f"v1-{uuid.uuid4().hex}", "v2"):
        (context / "lib" / "util.py").write_text(version)
        result = inner.runpytest_subprocess("-s", "--dockerbuild-backend=buildkit")
        result.stdout.fnmatch_lines([f"*DATA {version}"])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server (``http://127.0.0.1:<port>/file``: the engine fetches ``ADD`` URLs itself,
    on this host) and the file it serves."""
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *args: http.server.SimpleHTTPRequestHandler(*args, directory=str(root))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/file", root / "file"
    server.shutdown()


@pytest.mark.parametrize("written", ["as is", "in an ARG"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_build_that_adds_a_url_is_not_reused_across_runs(
    inner: pytest.Pytester, served: tuple[str, Path], backend: str, written: str
) -> None:
    """What an ``ADD <url>`` fetches is in no key: a new run builds again (the engine fetches again)."""
    url, served_file = served
    inner.mkdir("app")
    add = f"ADD {url} /fetched" if written == "as is" else f"ARG URL={url}\nADD $URL /fetched"
    (inner.path / "app" / "Dockerfile").write_text(f"FROM diamol/base\n{add}\n")
    inner.makepyfile(
        """
        def test_it(dockerbuild):
            first = dockerbuild.build("app")
            assert dockerbuild.build("app") is first  # in a session, the same content is built once
            print("FETCHED", first.image.read_text("/fetched"), "REUSED" if first.reused else "BUILT")
        """
    )
    for version in (f"v1-{uuid.uuid4().hex}", "v2"):
        served_file.write_text(version)
        result = inner.runpytest_subprocess("-s", f"--dockerbuild-backend={backend}")
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines([f"*FETCHED {version} BUILT*"])


def test_git_labels_from_buildx_keep_a_build_from_being_reused(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With BUILDX_GIT_LABELS, buildx labels the image with the commit: an input no key holds."""
    inner.mkdir("app")
    (inner.path / "app" / "Dockerfile").write_text(f"FROM diamol/base\nRUN echo {uuid.uuid4().hex}\n")
    inner.makepyfile('def test_it(dockerbuild):\n    print("REUSED" if dockerbuild.build("app").reused else "BUILT")\n')
    inner.runpytest_subprocess("-s", "--dockerbuild-backend=buildkit").stdout.fnmatch_lines(["*BUILT*"])
    inner.runpytest_subprocess("-s", "--dockerbuild-backend=buildkit").stdout.fnmatch_lines(["*REUSED*"])
    monkeypatch.setenv("BUILDX_GIT_LABELS", "1")
    for _ in range(2):
        inner.runpytest_subprocess("-s", "--dockerbuild-backend=buildkit").stdout.fnmatch_lines(["*BUILT*"])
