"""A real registry (Debian's docker-registry on a loopback port, the ``registry`` fixture):
pushes after passing tests (of every image, or of the builds that ask with ``push=``), images by
registry reference or digest, BuildKit's registry cache."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import docker.errors
import pytest
from helpers import BASE, MakeContext
from registry import free_port, tags

from pytest_dockerbuild import Builder, BuildOptionError, RegistryError
from pytest_dockerbuild.engine.client import Engine
from pytest_dockerbuild.engine.naming import project_id
from pytest_dockerbuild.engine.registry import Reference, Registry, is_registry_reference, pull, push_request

TESTS = """
def test_good(dockerbuild):
    assert dockerbuild.build("good").image.id

def test_bad_passes(dockerbuild):
    assert dockerbuild.build("bad").image.id

def test_bad_fails(dockerbuild):
    dockerbuild.build("bad")
    assert False, "this test fails"
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_only_images_whose_tests_all_passed_are_pushed(
    inner: pytest.Pytester, registry: str, workers: list[str]
) -> None:
    marker = uuid.uuid4().hex[:8]
    for name in ("good", "bad"):
        (inner.path / name).mkdir()
        (inner.path / name / "Dockerfile").write_text(f"FROM diamol/base\nRUN echo {name}-{marker} > /m\n")
    inner.makepyfile(test_push=TESTS)
    result = inner.runpytest_subprocess(*workers, f"--dockerbuild-push={registry}")
    result.assert_outcomes(passed=2, failed=1)
    good, bad = project_id(inner.path / "good"), project_id(inner.path / "bad")
    pushed = tags(registry, good)
    assert len(pushed) == 2 and "final-tested" in pushed, pushed
    assert any(re.fullmatch(r"final-k[0-9a-f]{16}", tag) for tag in pushed), pushed
    assert tags(registry, bad) == []  # one of its two tests failed
    result.stdout.fnmatch_lines(
        [
            f"*pushes images whose tests pass to {registry}*",
            f"*dockerbuild: 2 references pushed to {registry}*",
            f"pushed {registry}/{good}:final-tested@sha256:*",
            f"not pushed: {bad} (final): a test that used it failed",
        ]
    )


ASKED = """
def test_asks_for_good(dockerbuild):
    plain = dockerbuild.build("good")
    asked = dockerbuild.build("good", push="{registry}/asked/good:1.2")
    assert (asked.key, asked.image.id) == (plain.key, plain.image.id)  # push= is not part of the key
    assert asked.reused  # an earlier run's image: pushed all the same

def test_asks_for_bad(dockerbuild):
    dockerbuild.build("bad", push="{registry}/asked/bad:1")

def test_bad_fails(dockerbuild):
    dockerbuild.build("bad")
    assert False, "this test fails"

def test_plain(dockerbuild):
    dockerbuild.build("plain")
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_a_build_that_asks_is_pushed_once_its_tests_all_passed(
    inner: pytest.Pytester, registry: str, workers: list[str]
) -> None:
    marker = uuid.uuid4().hex[:8]
    for name in ("good", "bad", "plain"):
        (inner.path / name).mkdir()
        (inner.path / name / "Dockerfile").write_text(f"FROM diamol/base\nRUN echo {name}-{marker} > /m\n")
    inner.makepyfile(test_warm="def test_warm(dockerbuild):\n    dockerbuild.build('good')\n")
    inner.runpytest_subprocess("test_warm.py").assert_outcomes(passed=1)
    inner.makepyfile(test_asked=ASKED.format(registry=registry))
    result = inner.runpytest_subprocess(*workers, "test_asked.py")
    result.assert_outcomes(passed=3, failed=1)
    assert tags(registry, "asked/good") == ["1.2"]
    assert tags(registry, "asked/bad") == []  # one of the tests that used it failed
    assert [tags(registry, project_id(inner.path / name)) for name in ("good", "plain")] == [[], []]  # no run-wide push
    bad = project_id(inner.path / "bad")
    result.stdout.fnmatch_lines(
        [
            "*dockerbuild: 1 references pushed*",
            f"pushed {registry}/asked/good:1.2@sha256:*",
            f"not pushed: {bad} (final) as {registry}/asked/bad:1: a test that used it failed",
        ]
    )
    assert "pushes images whose tests pass" not in result.stdout.str()


def test_push_true_uses_the_run_registry_and_names(inner: pytest.Pytester, registry: str) -> None:
    (inner.path / "app").mkdir()
    (inner.path / "app" / "Dockerfile").write_text(f"FROM diamol/base\nRUN echo {uuid.uuid4().hex} > /m\n")
    inner.makepyfile(test_true="def test_true(dockerbuild):\n    dockerbuild.build('app', push=True)\n")
    result = inner.runpytest_subprocess(f"--dockerbuild-push={registry}", "-o", "dockerbuild_push_tag=rc1")
    result.assert_outcomes(passed=1)
    app = project_id(inner.path / "app")
    pushed = tags(registry, app)
    assert len(pushed) == 2 and "final-rc1" in pushed, pushed
    result.stdout.fnmatch_lines([f"*dockerbuild: 2 references pushed to {registry}*"])  # once, though asked twice


ERRORS = """
import pytest
from pytest_dockerbuild import BuildOptionError

def test_push_true_needs_a_registry(dockerbuild):
    with pytest.raises(BuildOptionError, match="push=True pushes to the registry of --dockerbuild-push, and the run "
                       "has none: pass --dockerbuild-push REGISTRY"):
        dockerbuild.build("app", push=True)

def test_bad_reference(dockerbuild):
    with pytest.raises(BuildOptionError, match="^push=: 'app:1' names no registry host"):
        dockerbuild.build("app", push="app:1")

def test_unreachable_registry(dockerbuild):
    dockerbuild.build("app", push="127.0.0.1:{port}/app:1")
"""


def test_push_errors_name_the_option_or_the_image_and_registry(inner: pytest.Pytester) -> None:
    (inner.path / "app").mkdir()
    (inner.path / "app" / "Dockerfile").write_text(f"FROM diamol/base\nRUN echo {uuid.uuid4().hex} > /m\n")
    port = free_port()  # nothing listens there
    inner.makepyfile(test_errors=ERRORS.format(port=port))
    result = inner.runpytest_subprocess()
    result.assert_outcomes(passed=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # a tested image that did not reach its registry
    app = project_id(inner.path / "app")
    result.stdout.fnmatch_lines(
        [
            "*dockerbuild: 0 references pushed*",
            f"push failed: {app} (final): cannot push the image sha256:* to the registry 127.0.0.1:{port} as "
            f"127.0.0.1:{port}/app:1: *",
        ]
    )


def test_push_references_are_checked_before_the_build() -> None:
    assert push_request(None, None, "app-1") is None and push_request(False, "r:5000", "app-1") is None
    assert push_request(True, "127.0.0.1:5000/team", "app-1") == "127.0.0.1:5000/team/app-1"
    assert push_request("127.0.0.1:5000/team/app", None, "x") == "127.0.0.1:5000/team/app:latest"
    assert push_request("registry.example.com/app:1.2", None, "x") == "registry.example.com/app:1.2"
    bad = {
        "app:1": "names no registry host",
        "127.0.0.1:5000/App:1": "has the repository 'App'",
        "127.0.0.1:5000/app:-x": "has the tag '-x'",
        f"127.0.0.1:5000/app@sha256:{'a' * 64}": "names a digest",
        "127.0.0.1:5000/": "has the repository ''",
    }
    for reference, problem in bad.items():
        with pytest.raises(BuildOptionError) as raised:
            push_request(reference, None, "x")
        assert raised.value.option == "push"
        assert raised.value.problem.startswith(f"{reference!r} {problem}"), raised.value.problem
        assert "registry/repository[:tag]" in raised.value.problem
    with pytest.raises(BuildOptionError, match="5 is neither True nor a reference"):
        push_request(5, None, "x")
    with pytest.raises(BuildOptionError, match="push=True pushes to the registry of --dockerbuild-push"):
        push_request(True, None, "x")


def test_a_bad_push_registry_is_a_usage_error(inner: pytest.Pytester) -> None:
    result = inner.runpytest_subprocess("--dockerbuild-push=http://127.0.0.1:5000")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--dockerbuild-push 'http://127.0.0.1:5000': write the registry as host:port*"])


def test_references_are_told_from_local_names() -> None:
    assert is_registry_reference("127.0.0.1:5000/app@sha256:" + "a" * 64)
    assert is_registry_reference("localhost/app:1")
    assert not is_registry_reference("dockerbuild-offline/base:bookworm")
    assert not is_registry_reference("app:1")
    parts = Reference.parse("127.0.0.1:5000/team/app:1@sha256:" + "b" * 64)
    assert (parts.repository, parts.tag, parts.digest) == ("127.0.0.1:5000/team/app", "1", "sha256:" + "b" * 64)
    assert Reference.parse("127.0.0.1:5000/app").tag is None


@pytest.fixture(scope="module")
def pushed(registry: str, dockerbuild: Builder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """An image built here and pushed as ``REGISTRY/pulled/app:1``: -> (its reference with digest, its id).
    The tag a pull by tag makes is removed at the end (the image keeps its own tags)."""
    context = tmp_path_factory.mktemp("pulled")
    (context / "Dockerfile").write_text(f"FROM {BASE}\nRUN echo pulled-{uuid.uuid4().hex} > /m\n")
    image = dockerbuild.build(context).image
    [reference] = Registry(dockerbuild.engine.client, registry).push(image.id, "pulled/app", ["1"])
    yield reference, image.id
    try:
        dockerbuild.engine.client.api.remove_image(f"{registry}/pulled/app:1", noprune=True)
    except docker.errors.NotFound:
        pass


def test_an_image_by_digest_or_tag_is_the_pushed_image(dockerbuild_engine: Engine, pushed: tuple[str, str]) -> None:
    reference, image_id = pushed
    by_digest = reference.replace(":1@", "@")
    assert dockerbuild_engine.image(by_digest).id == image_id
    assert dockerbuild_engine.image(reference).id == image_id  # tag and digest agree
    assert dockerbuild_engine.image(reference.partition("@")[0]).id == image_id


def test_a_missing_tag_or_digest_is_a_clear_error(dockerbuild_engine: Engine, pushed: tuple[str, str]) -> None:
    reference, _ = pushed
    repository = reference.partition(":1@")[0]
    other = "sha256:" + "0" * 64
    cases = {
        f"{repository}:nope": "cannot pull *:nope: *manifest unknown*",
        f"{repository}@{other}": f"cannot pull *@{other}: *manifest unknown*",
        f"{repository}:1@{other}": f"*:1 is sha256:* in the registry, not {other}",
        f"{repository}@sha256:short": "*'sha256:short' is not a sha256:<64 hex> digest",
    }
    for given, expected in cases.items():
        with pytest.raises(RegistryError) as raised:
            pull(dockerbuild_engine.client, given, "--dockerbuild-image app", {})
        assert raised.value.image == given
        assert str(raised.value).startswith("--dockerbuild-image app: ")
        assert re.fullmatch(re.escape(expected).replace(r"\*", ".*"), str(raised.value).partition(": ")[2], re.S), str(
            raised.value
        )


CONTRACT = """
schemaVersion: 2.0.0
fileContentTests:
  - name: the marker of the build
    path: /m
    expectedContents: ["^pulled-"]
"""


def test_a_contract_checks_an_image_by_digest(inner: pytest.Pytester, pushed: tuple[str, str]) -> None:
    reference, _ = pushed
    inner.makefile(".cst.yaml", app=CONTRACT)
    by_digest = reference.replace(":1@", "@")
    inner.runpytest_subprocess(f"--dockerbuild-image=app={by_digest}").assert_outcomes(passed=1)
    wrong = by_digest[:-8] + "00000000"
    result = inner.runpytest_subprocess(f"--dockerbuild-image=app={wrong}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*--dockerbuild-image app: cannot pull {wrong}: *manifest unknown*"])


def test_buildkit_imports_the_cache_from_the_registry(
    builders: dict[str, Builder], registry: str, make_context: MakeContext
) -> None:
    marker = uuid.uuid4().hex
    dockerfile = f"FROM diamol/base\nRUN echo {marker} > /m\nCOPY extra.txt /extra.txt\n"
    builder = builders["buildkit"]
    first = builder.build(make_context(dockerfile, {"extra.txt": "1"}), cache_to="type=inline")
    [reference] = Registry(builder.engine.client, registry).push(first.image.id, "cache/app", ["inline"])
    ref = reference.partition("@")[0]
    second = builder.build(make_context(dockerfile, {"extra.txt": "2"}), cache_from=f"type=registry,ref={ref}")
    assert second.image.id != first.image.id
    log = "\n".join(second.log)
    assert f"importing cache manifest from {ref}" in log, log
    assert second.step(f"echo {marker}").cached


def test_buildkit_with_the_docker_driver_exports_inline_cache_only(
    builders: dict[str, Builder], registry: str, make_context: MakeContext
) -> None:
    context = make_context("FROM diamol/base\nRUN true\n")
    with pytest.raises(BuildOptionError, match="type=inline"):
        builders["buildkit"].build(context, cache_to=f"type=registry,ref={registry}/cache/app:exported")
