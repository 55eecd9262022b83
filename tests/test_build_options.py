"""The build options of ``dockerbuild.build()`` on the real engine, on both backends: each does
what docker does with it, or gives a clear error naming the option where a backend or engine
cannot; what changes a build is in its content key, secrets' values only as a digest."""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path

import docker
import pytest
from helpers import BASE, MakeContext

from pytest_dockerbuild import Builder, BuildOptionError, DockerbuildWarning, DockerfileError, Secret
from pytest_dockerbuild.build.options import BuildOptions, build_options, unsupported_platform

SECRET = f"s3cr3t-{uuid.uuid4().hex[:8]}"
SECRET_DOCKERFILE = """
FROM diamol/base
RUN --mount=type=secret,id=token \
    sh -c 'echo "token is $(cat /run/secrets/token)"; sha256sum /run/secrets/token > /digest'
"""


def engine_major(builder: Builder) -> int:
    return int(re.match(r"\d+", builder.engine.info().engine_version).group())  # type: ignore[union-attr]


# -- secrets -------------------------------------------------------------------------------------------------
def test_a_secret_reaches_the_step_and_nowhere_else(builders: dict[str, Builder], make_context: MakeContext) -> None:
    context = make_context(SECRET_DOCKERFILE)
    result = builders["buildkit"].build(context, secrets={"token": Secret(value=SECRET)}, no_cache=True)
    assert any("token is ***" in line for line in result.log), list(result.log)
    assert not any(SECRET in line for line in result.log)
    assert result.log_file is not None and SECRET not in result.log_file.read_text()
    image = result.image
    assert image.read_text("/digest").startswith(__import__("hashlib").sha256(SECRET.encode()).hexdigest())
    assert SECRET not in str(image.attrs) and SECRET not in str(docker.from_env().api.history(image.id))
    assert not any(SECRET.encode() in image.read_bytes(entry.path) for entry in image.files.values() if entry.is_file)
    assert SECRET not in repr(result.request) and SECRET not in repr(Secret(value=SECRET))


def test_secrets_come_from_a_file_or_the_environment_and_their_digest_is_in_the_key(
    builders: dict[str, Builder], make_context: MakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = make_context(SECRET_DOCKERFILE, files={"token.txt": SECRET})
    builder = builders["buildkit"]
    from_file = builder.build(context, secrets={"token": Secret(file=context / "token.txt")})
    monkeypatch.setenv("DOCKERBUILD_TEST_TOKEN", SECRET)
    from_env = builder.build(context, secrets={"token": Secret(env="DOCKERBUILD_TEST_TOKEN")})
    assert from_env.key == from_file.key  # the same value: the same key, and the session's result
    assert from_env.image.read_text("/digest") == from_file.image.read_text("/digest")
    monkeypatch.setenv("DOCKERBUILD_TEST_TOKEN", SECRET + "-rotated")
    rotated = builder.build(context, secrets={"token": Secret(env="DOCKERBUILD_TEST_TOKEN")})
    assert rotated.key != from_file.key and rotated is not from_file  # built again (through the engine)
    # BuildKit's layer cache does not see a secret's value; the plugin's salt makes the step run again
    assert rotated.image.read_text("/digest") != from_file.image.read_text("/digest")
    assert SECRET not in str(BuildOptions(secrets={"token": SECRET.encode()}).key())


def test_a_secret_that_cannot_be_read_is_named(builders: dict[str, Builder], make_context: MakeContext) -> None:
    context = make_context(SECRET_DOCKERFILE)
    with pytest.raises(BuildOptionError, match=r"secrets=: secret 'token': the file .*missing.txt does not exist"):
        builders["buildkit"].build(context, secrets={"token": context / "missing.txt"})
    with pytest.raises(BuildOptionError, match=r"secret 'token' comes from \$DOCKERBUILD_UNSET_VARIABLE, which is not"):
        builders["buildkit"].build(context, secrets={"token": Secret(env="DOCKERBUILD_UNSET_VARIABLE")})
    with pytest.raises(BuildOptionError, match="is not a valid secret id"):
        builders["buildkit"].build(context, secrets={"a token": Secret(value="x")})


@pytest.mark.parametrize(
    "option",
    [{"secrets": {"token": Secret(value="x")}}, {"ssh": "default"}, {"no_cache_filter": "app"},
     {"cache_to": "type=inline"}, {"build_contexts": {"extra": "."}}],
    ids=["secrets", "ssh", "no_cache_filter", "cache_to", "build_contexts"],
)  # fmt: skip
def test_the_classic_builder_names_the_option_it_cannot_use(
    builders: dict[str, Builder], make_context: MakeContext, option: dict[str, object]
) -> None:
    name = next(iter(option))
    with pytest.raises(BuildOptionError, match=rf"^{name}=: the classic backend cannot use it: use backend='buildkit'"):
        builders["classic"].build(make_context("FROM diamol/base\n"), **option)  # type: ignore[arg-type]


# -- ssh -----------------------------------------------------------------------------------------------------
def test_ssh_forwards_keys_to_the_step_and_is_never_reused_across_runs(
    builders: dict[str, Builder], make_context: MakeContext, tmp_path: Path
) -> None:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    context = make_context('FROM diamol/base\nRUN --mount=type=ssh test -S "$SSH_AUTH_SOCK" && echo agent > /agent\n')
    builder = builders["buildkit"]
    result = builder.build(context, ssh=f"default={key}")
    assert result.image.read_text("/agent") == "agent\n"
    fresh = Builder(builder.engine, builder.image_map, backend="buildkit")  # a later run
    again = fresh.build(context, ssh=f"default={key}")
    assert not again.reused and again.cache_ratio == 1.0


# -- platform ------------------------------------------------------------------------------------------------
def test_the_engines_own_platform_builds_and_another_is_refused_without_emulation(
    builder: Builder, make_context: MakeContext
) -> None:
    context = make_context("FROM diamol/base\nRUN uname -m > /arch\n")
    native = builder.build(context, platform="linux/amd64")
    assert native.image.read_text("/arch") == "x86_64\n"
    assert native.key != builder.build(context).key  # the platform is in the key
    if any(Path("/proc/sys/fs/binfmt_misc").glob("qemu-aarch64*")):
        pytest.fail("this host emulates arm64: the refusal below cannot be observed here")
    with pytest.raises(BuildOptionError, match=r"^platform=: linux/arm64 is not the engine's platform \(linux/amd64\)"
                       r" and the engine's host has no emulation for it \(no qemu-aarch64 in"):  # fmt: skip
        builder.build(context, platform="linux/arm64")


def test_a_registered_emulator_lets_another_platform_through(tmp_path: Path) -> None:
    assert unsupported_platform("linux/arm64", "linux/amd64", tmp_path) is not None
    (tmp_path / "qemu-aarch64").write_text("enabled\n")
    assert unsupported_platform("linux/arm64", "linux/amd64", tmp_path) is None
    assert unsupported_platform("linux/arm64/v8", "linux/arm64", None) is None
    assert unsupported_platform("windows/amd64", "linux/amd64", tmp_path) is not None


# -- cache control -------------------------------------------------------------------------------------------
def test_no_cache_builds_every_step_again(builder: Builder, make_context: MakeContext) -> None:
    context = make_context("FROM diamol/base\nRUN echo one > /one\nRUN echo two > /two\n")
    first = builder.build(context)
    again = builder.build(context, no_cache=True)
    assert not again.reused and again is not first
    assert again.cache_hits == 0 and again.cacheable_steps == 2
    assert builder.build(context, reuse=False).cache_ratio == 1.0  # the layer cache is still there


def test_no_cache_filter_rebuilds_only_the_named_stage(builders: dict[str, Builder], make_context: MakeContext) -> None:
    context = make_context(
        "FROM diamol/base AS deps\nRUN echo deps > /deps\n"
        "FROM diamol/base AS app\nCOPY --from=deps /deps /deps\nRUN echo app > /app\n"
    )
    builder = builders["buildkit"]
    builder.build(context)
    again = builder.build(context, no_cache_filter="app")
    assert again.stage("deps").cached
    assert [step.cached for step in again.stage("app").steps if step.cached is not None] == [False, False]


def test_pull_asks_the_registry_and_says_so_when_it_cannot(builder: Builder, make_context: MakeContext) -> None:
    with pytest.raises(BuildOptionError, match=rf"^pull=: {re.escape(BASE)} \(stage '0'\) could not be pulled: "
                       r".*; build without pull=True to use the engine's own image"):  # fmt: skip
        builder.build(make_context("FROM diamol/base\nRUN true\n"), pull=True)


def test_cache_from_an_image_on_the_classic_builder(builders: dict[str, Builder], make_context: MakeContext) -> None:
    context = make_context("FROM diamol/base\nRUN echo cached > /c\n")
    builder = builders["classic"]
    first = builder.build(context)
    again = builder.build(context, cache_from=[first.image.id], no_cache=False, reuse=False)
    assert again.cache_ratio == 1.0 and again.image.id == first.image.id


def test_cache_to_is_exported_inline_and_refused_where_the_driver_cannot(
    builders: dict[str, Builder], make_context: MakeContext, tmp_path: Path
) -> None:
    context = make_context("FROM diamol/base\nRUN echo inline > /i\n")
    builder = builders["buildkit"]
    first = builder.build(context)
    exported = builder.build(context, cache_to="type=inline")
    assert exported is not first and not exported.reused  # cache_to always goes through the engine
    with pytest.raises(
        BuildOptionError, match=r"^cache_to=: the builder \(docker driver\) cannot export a cache other"
    ):
        builder.build(context, cache_to=f"type=local,dest={tmp_path / 'cache'}")
    assert (
        builder.build(context, cache_from=f"type=local,src={tmp_path / 'absent'}").image.read_text("/i") == "inline\n"
    )


# -- named contexts ------------------------------------------------------------------------------------------
def test_named_build_contexts_are_in_the_key_and_work_where_the_engine_knows_them(
    builders: dict[str, Builder], make_context: MakeContext
) -> None:
    extra = make_context(None, files={"hello.txt": "v1"})
    context = make_context("FROM diamol/base\nCOPY --from=extra /hello.txt /hello.txt\n")
    builder = builders["buildkit"]
    key = _key(builder, context, build_contexts={"extra": extra})
    (extra / "hello.txt").write_text("v2")
    assert _key(builder, context, build_contexts={"extra": extra}) != key
    with pytest.raises(BuildOptionError, match=r"^build_contexts=: context 'extra': the folder .*absent does not"):
        builder.build(context, build_contexts={"extra": extra / "absent"})
    if engine_major(builder) < 23:
        with pytest.raises(BuildOptionError, match=r"^build_contexts=: the BuildKit of Docker Engine 20\.\S+ cannot"):
            builder.build(context, build_contexts={"extra": extra})
    else:
        assert builder.build(context, build_contexts={"extra": extra}).image.read_text("/hello.txt") == "v2"


def _key(builder: Builder, context: Path, **options: object) -> str:
    request, parsed = builder.prepare(
        context, None, target=None, build_args=None, labels=None, image_map=None, backend=None, tag=None,
        options=build_options(context, **options),  # type: ignore[arg-type]
    )  # fmt: skip
    return builder.content_key(request, parsed)


# -- the network, hosts and /dev/shm of RUN steps ------------------------------------------------------------
def test_network_none_leaves_only_the_loopback_interface(builder: Builder, make_context: MakeContext) -> None:
    context = make_context("FROM diamol/base\nRUN ls /sys/class/net > /interfaces\n")
    assert builder.build(context, network="none").image.read_text("/interfaces") == "lo\n"
    # the engine's layer cache does not see the network; the plugin's salt keeps the plain build apart
    assert "eth0" in builder.build(context).image.read_text("/interfaces")


def test_extra_hosts_resolve_in_run_steps(builder: Builder, make_context: MakeContext) -> None:
    context = make_context("FROM diamol/base\nRUN grep -w registry.internal /etc/hosts > /found\n")
    result = builder.build(context, extra_hosts={"registry.internal": "10.1.2.3"})
    assert result.image.read_text("/found").split() == ["10.1.2.3", "registry.internal"]
    assert _key(builder, context, extra_hosts={"registry.internal": "10.1.2.4"}) != result.key


def test_shm_size_sizes_dev_shm_or_is_refused_by_an_old_buildkit(builder: Builder, make_context: MakeContext) -> None:
    context = make_context("FROM diamol/base\nRUN df -k /dev/shm | tail -1 > /shm\n")
    if builder.default_backend == "buildkit" and engine_major(builder) < 23:
        with pytest.raises(BuildOptionError, match=r"^shm_size=: the BuildKit of Docker Engine 20\.\S+ cannot"):
            builder.build(context, shm_size="128m")
        return
    assert builder.build(context, shm_size="128m").image.read_text("/shm").split()[1] == str(128 * 1024)
    with pytest.raises(BuildOptionError, match=r"^shm_size=: 'lots' is not a size"):
        builder.build(context, shm_size="lots")


# -- build args and the syntax line --------------------------------------------------------------------------
def test_a_build_arg_no_arg_declares_is_a_warning_or_with_strict_an_error(
    builder: Builder, make_context: MakeContext
) -> None:
    context = make_context("ARG USED=1\nFROM diamol/base\nARG ALSO\nRUN echo $ALSO\n")
    with pytest.warns(DockerbuildWarning, match=r"build arg UNUSED not declared by any ARG of .*: the build does not"):
        result = builder.build(context, build_args={"USED": "2", "ALSO": "3", "UNUSED": "4", "HTTP_PROXY": ""})
    assert len(result.warnings) == 1 and "UNUSED" in result.warnings[0]
    assert builder.build(context, build_args={"USED": "2"}).warnings == []
    with pytest.raises(BuildOptionError, match=r"^build_args=: build args TYPO, UNUSED not declared"):
        builder.build(context, build_args={"UNUSED": "4", "TYPO": "x"}, strict_build_args=True)


def test_a_syntax_line_names_the_frontend_buildkit_cannot_fetch(builder: Builder, make_context: MakeContext) -> None:
    context = make_context("# syntax=docker/dockerfile:1\nFROM diamol/base\nRUN echo built > /b\n")
    if builder.default_backend == "classic":  # the classic builder ignores the directive
        assert builder.build(context).image.read_text("/b") == "built\n"
        return
    with pytest.raises(DockerfileError, match=r"Dockerfile line 1: `# syntax=docker/dockerfile:1` makes BuildKit "
                       r"fetch the frontend image docker/dockerfile:1, and it cannot \(.*\); delete the"):  # fmt: skip
        builder.build(context)
    mapped = builder.prepare(context, None, target=None, build_args=None, labels=None, backend=None, tag=None,
                             image_map={"docker/dockerfile:1": "local/frontend:1"})[1]  # fmt: skip
    assert mapped.substituted({"docker/dockerfile:1": "local/frontend:1"}).startswith("# syntax=local/frontend:1\n")


def test_bad_option_values_are_named() -> None:
    with pytest.raises(BuildOptionError, match=r"^shm_size=: 0 is not a positive size"):
        build_options(Path.cwd(), shm_size=0)
    with pytest.raises(Exception, match="exactly one of file=, env= or value="):
        Secret(file="a", env="B")


def test_a_plain_build_never_gets_the_layers_of_a_build_with_a_secret(
    builders: dict[str, Builder], make_context: MakeContext
) -> None:
    marker = uuid.uuid4().hex[:8]
    context = make_context(
        f"FROM diamol/base\nRUN --mount=type=secret,id=tok,required=false "
        f"(cat /run/secrets/tok 2>/dev/null || echo none) > /seen && echo {marker}\n"
    )
    builder = builders["buildkit"]
    first = builder.build(context, secrets={"tok": Secret(value=f"first-{marker}")})
    assert first.image.read_text("/seen") == f"first-{marker}"
    assert builder.build(context).image.read_text("/seen") == "none\n"
    second = builder.build(context, secrets={"tok": Secret(value=f"second-{marker}")})
    assert second.image.read_text("/seen") == f"second-{marker}"
    again = Builder(builder.engine, builder.image_map, backend="buildkit").build(
        context, secrets={"tok": Secret(value=f"first-{marker}")}
    )  # a later run, the same secret: the same key, so its image is reused, as it should be
    assert again.reused and again.image.id == first.image.id


def test_a_plain_build_never_gets_the_layers_of_a_build_with_extra_hosts(
    builder: Builder, make_context: MakeContext
) -> None:
    marker = uuid.uuid4().hex[:8]
    context = make_context(f"FROM diamol/base\nRUN (grep -w dbhost /etc/hosts || echo none) > /seen && echo {marker}\n")
    with_hosts = builder.build(context, extra_hosts={"dbhost": "10.9.8.7"})
    assert with_hosts.image.read_text("/seen").split() == ["10.9.8.7", "dbhost"]
    assert builder.build(context).image.read_text("/seen") == "none\n"
