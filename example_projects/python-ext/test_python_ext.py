"""python-ext: a Python service with a C extension, compiled in a builder stage, unit-tested in
a test stage, run on a slim image without a compiler; a release stage stamps the version with
a BuildKit secret."""

from __future__ import annotations

import hashlib
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_dockerbuild import (
    Builder,
    BuildResult,
    Container,
    HttpReady,
    Image,
    Runtime,
    Secret,
    assert_no_build_tools,
    assert_path_absent,
    assert_path_exists,
    assert_size_under,
)

HERE = Path(__file__).parent
PORT = 8080
EXTENSION = "/app/fastsum.cpython-311-*.so"  # the ABI tag Python 3.11 gives a compiled module
TOKEN = "s3cr3t-token"


@pytest.fixture(scope="module")
def builder(dockerbuild: Builder) -> BuildResult:
    return dockerbuild.build(HERE, target="builder")


@pytest.fixture(scope="module")
def final(dockerbuild: Builder) -> BuildResult:
    """The runtime image: the last stage both builders can build (release needs BuildKit)."""
    return dockerbuild.build(HERE, target="runtime")


# -- the stages ---------------------------------------------------------------------------------
def test_the_runtime_image_copies_from_the_test_stage(dockerbuild: Builder) -> None:
    dockerfile = dockerbuild.dockerfile(HERE)
    assert dockerfile.stage_refs == ["builder", "test", "runtime", "release"]
    assert [s.ref for s in dockerfile.reachable("runtime")] == ["builder", "test", "runtime"]
    assert dockerfile.stage("runtime").copies_from == ["test"]


def test_builder_stage_compiles_the_extension(builder: BuildResult) -> None:
    assert builder.image.which("gcc") is not None
    assert_path_exists(builder, "/usr/include/python3.11/Python.h", type="file")
    [extension] = builder.image.files.glob("/src/fastsum.cpython-311-*.so")
    assert builder.image.read_bytes(extension.path)[:4] == b"\x7fELF"


def test_test_stage_runs_before_the_runtime_image(final: BuildResult) -> None:
    assert final.stage("test").built  # both builders: the runtime stage copies from it
    assert final.stage("release").built is False


def test_a_failing_unit_test_fails_the_build_in_the_test_stage(dockerbuild: Builder) -> None:
    failure = dockerbuild.expect_failure(
        HERE, target="runtime", build_args={"EXT_CFLAGS": "-DFASTSUM_SEEDED_BUG"},
        stage="test", exit_code=1, match=r"FAILED \(failures=\d+\)",
    )  # fmt: skip
    assert failure.instruction == "RUN python3 -m unittest -v unit_tests"
    assert "test_matches_bytes_split" in "\n".join(failure.log_tail)


# -- the runtime image, inspected without running it -------------------------------------------
def test_final_image_has_the_extension_and_no_compiler(final: BuildResult) -> None:
    [extension] = final.image.files.glob(EXTENSION)
    assert (extension.uid, extension.mode_string) == (0, "-rwxr-xr-x")
    assert_path_exists(final, "/app/server.py", type="file")
    assert final.image.which("python3") == "/usr/bin/python3"
    assert_no_build_tools(final)
    assert_path_absent(final, "/usr/include/python3.11")  # no python3-dev headers
    assert not final.image.files.glob("/app/*.c") and not final.image.files.glob("/app/unit_tests.py")


def test_final_image_adds_the_app_and_its_user_to_the_base(dockerbuild: Builder, final: BuildResult) -> None:
    base = dockerbuild.image(final.target_stage.base_image)
    diff = final.image.compare(base)
    [extension] = final.image.files.glob(EXTENSION)
    assert [p for p in diff.added if p.startswith("/app")] == ["/app", extension.path, "/app/server.py"]
    assert {p for p in diff.added + diff.changed if not p.startswith("/app")} <= {
        "/etc/group", "/etc/group-", "/etc/gshadow", "/etc/gshadow-",
        "/etc/passwd", "/etc/passwd-", "/etc/shadow", "/etc/shadow-",
        "/var/log/faillog", "/var/log/lastlog",
    }  # fmt: skip
    assert diff.removed == []


def test_final_image_is_smaller_than_the_builder(final: BuildResult, builder: BuildResult) -> None:
    assert final.image.compare(builder.image).size_ratio > 2.5
    assert_size_under(final, "150MB")


def test_metadata(final: BuildResult) -> None:
    config = final.image.config
    assert config.user == "app"
    assert config.exposed_ports == [f"{PORT}/tcp"]
    assert config.cmd == ["python3", "/app/server.py"]
    assert config.workdir == "/app"
    assert config.healthcheck is not None
    assert config.healthcheck["Test"] == ["CMD", "python3", "/app/server.py", "--probe"]
    assert "app:x:10001:10001:" in final.image.read_text("/etc/passwd")


# -- the service ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def service(dockerbuild_runtime: Runtime, final: BuildResult) -> Iterator[Container]:
    container = dockerbuild_runtime.run(final, ports=[PORT], wait=HttpReady("/health"))
    yield container
    container.remove()


def test_service_computes_with_the_extension(service: Container) -> None:
    body = b"the quick brown fox jumps over the lazy dog\n" * 1000
    answer = service.http.post("/checksum", data=body)
    assert answer.status_code == 200
    assert answer.json() == {"bytes": len(body), "words": 9000, "adler32": zlib.adler32(body)}


def test_service_routes(service: Container) -> None:
    assert (service.http.get("/health").status_code, service.http.get("/health").text) == (200, "ok")
    assert service.http.get("/version").json() == {"version": "unstamped", "python": "3.11.2"}
    assert service.http.get("/checksum").status_code == 405
    assert service.http.get("/nope").status_code == 404


def test_service_runs_as_the_app_user(service: Container) -> None:
    assert service.exec(["id", "-un"]) == (0, "app\n")
    code, output = service.exec(["python3", "/app/server.py", "--probe"])
    assert (code, output) == (0, "")


# -- the release stage: a BuildKit secret ---------------------------------------------------------
# BuildKit does not see a secret's value: it would take the stamp step from its cache, or from
# a concurrent build of the same step (another pytest-xdist worker's, with another secret).
# Each release build gets its own BUILD_ID, so that its stamp step runs with the secret it gives.
def _release(dockerbuild: Builder, secrets: dict[str, Secret] | None = None) -> tuple[BuildResult, str]:
    """A release build (BuildKit) with a new BUILD_ID; the result and its log."""
    build_id = uuid.uuid4().hex[:12]
    result = dockerbuild.build(
        HERE, target="release", backend="buildkit", build_args={"BUILD_ID": build_id}, secrets=secrets
    )
    log = "\n".join(result.log)
    assert f"build {build_id}: " in log  # this build's stamp step ran
    return result, log.replace(f"build {build_id}: ", "")


def _assert_nowhere(result: BuildResult, base: Image, secret: str) -> None:
    """The secret is in no log line, no history entry, no label or variable, and no file the
    build added to ``base`` or changed in it."""
    value = secret.encode()
    assert secret not in "\n".join(result.log)
    if result.log_file is not None:
        assert value not in result.log_file.read_bytes()
    assert not [layer.created_by for layer in result.image.layers if secret in layer.created_by]
    config = result.image.config
    assert not [f"{k}={v}" for k, v in {**config.labels, **config.env}.items() if secret in f"{k}={v}"]
    diff = result.image.compare(base)
    written = [result.image.files[p] for p in diff.added + diff.changed]
    assert not [f.path for f in written if f.is_file and value in result.image.read_bytes(f.path)]


def test_release_build_uses_the_secret_and_leaks_it_nowhere(dockerbuild: Builder, final: BuildResult) -> None:
    release, log = _release(dockerbuild, {"build_token": Secret(value=TOKEN)})
    assert release.image.read_text("/app/VERSION") == "1.0.0\n"  # stamped: the step saw a non-empty token
    assert f"build token sha256: {hashlib.sha256(TOKEN.encode()).hexdigest()}" in log
    added = release.image.compare(final.image).added
    # BuildKit (of Engine 20.10) leaves the secret's mount point in the layer: an empty folder
    assert [p for p in added if p != "/run/secrets"] == ["/app/VERSION"]
    assert release.image.files.under("/run/secrets") == []
    assert (release.image.config.user, release.image.config.cmd) == ("app", final.image.config.cmd)
    _assert_nowhere(release, dockerbuild.image(final.target_stage.base_image), TOKEN)


@pytest.mark.parametrize("source", ["env", "file"])
def test_release_secret_from_an_environment_variable_or_a_file(
    dockerbuild: Builder, final: BuildResult, source: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token = f"{TOKEN}-from-{source}"
    if source == "env":
        monkeypatch.setenv("PYTHON_EXT_BUILD_TOKEN", token)
        secret = Secret(env="PYTHON_EXT_BUILD_TOKEN")
    else:
        (tmp_path / "build_token").write_text(token)
        secret = Secret(file=tmp_path / "build_token")
    release, log = _release(dockerbuild, {"build_token": secret})
    assert release.image.read_text("/app/VERSION") == "1.0.0\n"
    assert f"build token sha256: {hashlib.sha256(token.encode()).hexdigest()}" in log
    _assert_nowhere(release, dockerbuild.image(final.target_stage.base_image), token)


def test_release_without_a_token_is_a_development_build(dockerbuild: Builder) -> None:
    release, log = _release(dockerbuild)
    assert release.image.read_text("/app/VERSION") == "1.0.0-dev\n"
    assert "no build token, a development build" in log


# -- one-off commands: Runtime.run_once (being added alongside; these fail without it) -------------
def test_run_once_imports_the_extension_in_the_final_image(dockerbuild_runtime: Runtime, final: BuildResult) -> None:
    done = dockerbuild_runtime.run_once(
        final, command=["python3", "-c", "import fastsum; print(fastsum.adler32(b'Wikipedia'))"]
    )
    assert (done.exit_code, done.stdout, done.stderr) == (0, "300286872\n", "")  # 0x11E60398
    counted = dockerbuild_runtime.run_once(
        final, command=["python3", "-c", "import sys, fastsum; sys.exit(fastsum.word_count(sys.argv[1].encode()))",
                        "three little words"],
    )  # fmt: skip
    assert (counted.exit_code, counted.stdout, counted.stderr) == (3, "", "")


def test_run_once_reports_a_failing_command(dockerbuild_runtime: Runtime, final: BuildResult) -> None:
    refused = dockerbuild_runtime.run_once(final, command=["python3", "-c", "import fastsum; fastsum.adler32('text')"])
    assert (refused.exit_code, refused.stdout) == (1, "")
    assert refused.stderr.endswith("\nTypeError: a bytes-like object is required, not 'str'\n")
    unterminated = dockerbuild_runtime.run_once(
        final, command=["sh", "-c", 'printf "no input: $WHAT" >&2; exit 4'], env={"WHAT": "stdin is empty"}
    )
    assert (unterminated.exit_code, unterminated.stdout, unterminated.stderr) == (4, "", "no input: stdin is empty")


def test_run_once_as_another_user(dockerbuild_runtime: Runtime, final: BuildResult) -> None:
    assert dockerbuild_runtime.run_once(final, command=["id", "-un"]).stdout == "app\n"
    as_root = dockerbuild_runtime.run_once(final, command=["id", "-un"], user="root")
    assert (as_root.exit_code, as_root.stdout) == (0, "root\n")
