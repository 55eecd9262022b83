"""A real registry (Debian's docker-registry on a loopback port, the ``registry`` fixture):
pushes after passing tests, images by registry reference or digest, BuildKit's registry cache."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import docker.errors
import pytest
from helpers import BASE, MakeContext
from registry import tags

from pytest_dockerbuild import Builder, BuildOptionError, RegistryError
from pytest_dockerbuild.engine.client import Engine
from pytest_dockerbuild.engine.naming import project_id
from pytest_dockerbuild.engine.registry import Reference, Registry, is_registry_reference, pull

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
