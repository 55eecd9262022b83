"""The plugin as a user meets it: a test file run through pytest (pytester), real engine."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import uuid

import docker
import pytest
from helpers import MakeContext, marked_demo, marked_leftovers

from pytest_dockerbuild import Builder
from pytest_dockerbuild.engine.naming import project_id

DEMO = """
FROM diamol/base AS build-stage
RUN echo 'Building...' > /build.txt

FROM diamol/base AS test-stage
COPY --from=build-stage /build.txt /build.txt
RUN echo 'Testing...' >> /build.txt && {test_command}

FROM diamol/base
COPY --from=test-stage /build.txt /build.txt
CMD ["cat", "/build.txt"]
"""


def write_demo(pytester: pytest.Pytester, test_command: str = "true", folder: str = "app") -> None:
    pytester.mkdir(folder)
    (pytester.path / folder / "Dockerfile").write_text(DEMO.format(test_command=test_command))


def test_help_shows_the_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "*Docker builds (pytest-dockerbuild)*",
            "*--dockerbuild-backend=*",
            "*--dockerbuild-base-image=IMAGE=REPLACEMENT*",
            "*--dockerbuild-rebuild*",
            "*--dockerbuild-prune=*PROJECT*",
            "*dockerbuild_base_images (linelist)*",
        ]
    )


def test_a_bad_base_image_entry_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ndockerbuild_base_images =\n    diamol/base\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*dockerbuild_base_images (ini): 'diamol/base' is not of the form IMAGE=REPLACEMENT*"])
    pytester.makeini("[pytest]\ndockerbuild_base_images =\n    diamol/base=local/base:1 other/base=local/other\n")
    spaced = pytester.runpytest()
    assert spaced.ret == pytest.ExitCode.USAGE_ERROR
    spaced.stderr.fnmatch_lines(["*: an image reference has no spaces (one IMAGE=REPLACEMENT per line)*"])


def test_report_header_names_engine_and_builder(inner: pytest.Pytester) -> None:
    result = inner.runpytest()
    result.stdout.fnmatch_lines(["dockerbuild: Docker Engine *, API 1.*, *"])


@pytest.mark.parametrize("backend", ["classic", "buildkit"])
def test_a_users_test_file_builds_stages_and_inspects(inner: pytest.Pytester, backend: str) -> None:
    write_demo(inner)
    inner.makepyfile(
        """
        from pytest_dockerbuild import assert_path_exists, assert_no_build_tools, assert_size_under

        def test_final(dockerbuild):
            result = dockerbuild.build("app")
            assert result.image.read_text("/build.txt") == "Building...\\nTesting...\\n"
            assert_path_exists(result, "/build.txt", type="file")
            assert_no_build_tools(result)
            assert_size_under(result, "5MB")
            assert result.built_stages == ["build-stage", "test-stage", "2"]

        def test_stage(dockerbuild):
            result = dockerbuild.build("app", target="build-stage")
            assert result.image.read_text("/build.txt") == "Building...\\n"
            assert result.target_stage.ref == "build-stage"
            assert result.built_stages == ["build-stage"]
        """
    )
    result = inner.runpytest_subprocess(f"--dockerbuild-backend={backend}")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*= dockerbuild: * images built, * reused, 0 failed builds =*", "backend * image / stage"]
    )


@pytest.mark.parametrize("backend", ["classic", "buildkit"])
def test_a_failing_stage_is_reported_with_stage_step_exit_code_and_log(inner: pytest.Pytester, backend: str) -> None:
    write_demo(inner, "echo 'expected 3 lines' >&2 && exit 3")
    inner.makepyfile(
        """
        import pytest

        @pytest.fixture(scope="module")
        def app(dockerbuild):
            return dockerbuild.build("app")

        def test_app(app):
            pass

        def test_the_test_stage_fails(dockerbuild):
            dockerbuild.expect_failure("app", stage="test-stage", exit_code=3, match="expected 3 lines")
        """
    )
    result = inner.runpytest_subprocess(f"--dockerbuild-backend={backend}")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "E * pytest_dockerbuild.BuildFailed: Docker build failed in stage 'test-stage', "
            "step 3/3 (*app/Dockerfile:7, * of the * log):",
            "E *RUN echo 'Testing...' >> /build.txt && echo 'expected 3 lines' >&2 && exit 3",
            "E *exit code: 3",
            "E *last * lines of the build log:",
            "E *| expected 3 lines",
            "*- dockerbuild log: *app/Dockerfile (failed) -*",
        ]
    )
    assert "_build.py" not in result.stdout.str(), "the plugin's own frames should be hidden"


@pytest.mark.parametrize(
    ("backend", "first_log_line"),
    [
        ("classic", "Step 1/* : FROM dockerbuild-offline/base*"),
        ("buildkit", "[[]internal] load build definition*"),
    ],
)
def test_a_failing_test_gets_build_logs_when_asked(inner: pytest.Pytester, backend: str, first_log_line: str) -> None:
    write_demo(inner)
    inner.makepyfile(
        """
        def test_wrong_expectation(dockerbuild):
            result = dockerbuild.build("app", reuse=False)
            assert result.image.read_text("/build.txt") == "something else"
        """
    )
    asked = inner.runpytest_subprocess(f"--dockerbuild-backend={backend}", "--dockerbuild-build-logs=all")
    asked.assert_outcomes(failed=1)
    asked.stdout.fnmatch_lines(["*- dockerbuild log: app/Dockerfile -*", first_log_line])
    default = inner.runpytest_subprocess(f"--dockerbuild-backend={backend}")  # the build did not fail: no log
    default.assert_outcomes(failed=1)
    assert "dockerbuild log" not in default.stdout.str()
    assert "something else" in default.stdout.str()


def test_base_image_option_adds_a_substitution(pytester: pytest.Pytester) -> None:
    write_demo(pytester)
    pytester.makepyfile(
        """
        def test_it(dockerbuild):
            result = dockerbuild.build("app")
            assert result.target_stage.base == "diamol/base"
            assert result.target_stage.base_image == "dockerbuild-offline/base:bookworm"
        """
    )
    result = pytester.runpytest_subprocess("--dockerbuild-base-image", "diamol/base=dockerbuild-offline/base:bookworm")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(("ci", "outcome"), [("", "skipped"), ("true", "failed")])
def test_no_engine_skips_locally_and_fails_in_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str, outcome: str
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{pytester.path}/no-engine.sock")
    monkeypatch.setenv("CI", ci)
    pytester.makepyfile("def test_it(dockerbuild): pass\ndef test_other(dockerbuild): pass")
    result = pytester.runpytest_subprocess("-rA")
    result.stdout.fnmatch_lines(["dockerbuild: no Docker Engine: Cannot reach the Docker Engine at *", "Start *"])
    assert result.stdout.str().count("Start the engine") == 1  # once, in the header
    result.stdout.fnmatch_lines(["*dockerbuild: no Docker Engine at unix://* (the report header says why)"] * 2)
    if outcome == "skipped":
        result.assert_outcomes(skipped=2)
    else:
        result.assert_outcomes(errors=2)
        assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize(
    ("backend", "same_content", "removed"),
    [("classic", False, 2), ("buildkit", False, 1), ("classic", True, 1)],  # build-stage is always shared
)
def test_prune_removes_the_projects_images_only(
    inner: pytest.Pytester, backend: str, same_content: bool, removed: int
) -> None:
    """Classic builds commit an image per stage, BuildKit only the target. Stage images with the
    same content are shared by projects: pruning one project leaves the other's."""
    project, other = f"prune-{uuid.uuid4().hex[:8]}", f"keep-{uuid.uuid4().hex[:8]}"
    write_demo(inner, test_command=f"echo {project}", folder=project)
    write_demo(inner, test_command=f"echo {project if same_content else other}", folder=other)
    inner.makepyfile(
        f"def test_it(dockerbuild):\n    dockerbuild.build({project!r})\n    dockerbuild.build({other!r})\n"
    )
    inner.runpytest_subprocess(f"--dockerbuild-backend={backend}").assert_outcomes(passed=1)
    client = docker.from_env()
    ids = {name: project_id(inner.path / name) for name in (project, other)}

    def tagged(name: str) -> list[docker.models.images.Image]:
        images: list[docker.models.images.Image] = client.images.list(
            filters={"reference": f"pytest-dockerbuild/{ids[name]}"}
        )
        return images

    assert len(tagged(project)) == {"classic": 3, "buildkit": 1}[backend]  # classic: the stage images too
    assert len(tagged(other)) == {"classic": 3, "buildkit": 1}[backend]
    assert [i.labels.get("pytest-dockerbuild.project") for i in tagged(project)].count(ids[project]) == 1
    kept = {image.id for image in tagged(other)}

    result = inner.runpytest_subprocess(f"--dockerbuild-prune={project}")
    assert result.ret == 0
    result.stdout.fnmatch_lines([f"dockerbuild: removed {removed} images, 0 containers, 0 networks and 0 volumes*"])
    assert tagged(project) == []
    assert {image.id for image in tagged(other)} == kept
    by_id = inner.runpytest_subprocess(f"--dockerbuild-prune={ids[other]}")  # the id the summary shows
    by_id.stdout.fnmatch_lines(["dockerbuild: removed * images, 0 containers, 0 networks and 0 volumes*"])
    assert tagged(other) == []


def test_prune_of_an_unknown_project_says_which_ids_exist(inner: pytest.Pytester) -> None:
    name = f"named-{uuid.uuid4().hex[:8]}"
    write_demo(inner, folder=name)
    inner.makepyfile(f"def test_it(dockerbuild):\n    dockerbuild.build({name!r})\n")
    inner.runpytest_subprocess("--dockerbuild-backend=buildkit").assert_outcomes(passed=1)
    elsewhere = inner.mkdir("elsewhere")  # no folder of that name here: the name alone is ambiguous
    result = subprocess.run(
        [sys.executable, "-m", "pytest", f"--dockerbuild-prune={name}"], cwd=elsewhere, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert f"no such folder, and no project has that id; projects of that folder name: {name}-" in result.stdout


@pytest.mark.parametrize("backend", ["classic", "buildkit"])
def test_a_run_with_failures_leaves_no_container_or_dangling_image(inner: pytest.Pytester, backend: str) -> None:
    marker = uuid.uuid4().hex  # in every stage: what the run leaves behind can be told from other runs'
    for folder, command in (("bad", "exit 5"), ("good", "true")):
        inner.mkdir(folder)
        (inner.path / folder / "Dockerfile").write_text(marked_demo(marker, command))
    inner.makepyfile(
        """
        def test_good(dockerbuild, dockerbuild_network):
            good = dockerbuild.build("good")
            dockerbuild_network.run(good, command=["sleep", "60"], aliases=["good"])
            assert good.image.read_text("/build.txt") == "nope"

        def test_bad(dockerbuild):
            dockerbuild.build("bad")
        """
    )
    result = inner.runpytest_subprocess(f"--dockerbuild-backend={backend}")
    result.assert_outcomes(failed=2)
    assert marked_leftovers(marker) == ([], [])
    run = re.search(r"; run (\w+) \(label pytest-dockerbuild.run\)", result.stdout.str())
    assert run is not None
    by_label = {"label": f"pytest-dockerbuild.run={run.group(1)}"}
    client = docker.from_env()
    assert client.containers.list(all=True, filters=by_label) == [] and client.networks.list(filters=by_label) == []


def test_buildkit_skips_stages_the_target_does_not_need(
    builders: dict[str, Builder], make_context: MakeContext
) -> None:
    context = make_context(
        """
        FROM diamol/base AS unrelated
        RUN echo 'built anyway' > /unrelated.txt
        FROM diamol/base AS app
        RUN echo app > /app.txt
        """
    )
    classic = builders["classic"].build(context, target="app", reuse=False)
    buildkit = builders["buildkit"].build(context, target="app", reuse=False)
    assert [s.ref for s in classic.stages if s.steps] == ["unrelated", "app"]  # classic runs every earlier stage
    assert [s.ref for s in buildkit.stages if s.steps] == ["app"]
    assert buildkit.skipped_stages == ["unrelated"]
    assert classic.image.read_text("/app.txt") == buildkit.image.read_text("/app.txt") == "app\n"


def test_dockerfiles_are_collected_as_check_items(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ndockerbuild_lint_ignore = DB001\n")
    pytester.mkdir("good")
    (pytester.path / "good" / "Dockerfile").write_text('FROM base:1 AS unused\nFROM base:1\nCMD ["app"]\n')
    pytester.mkdir("bad")
    (pytester.path / "bad" / "Dockerfile").write_text("FROM base\nCOPY --from=builder /app /app\nCMD app\n")
    result = pytester.runpytest_subprocess("--dockerbuild-lint", "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*bad/Dockerfile::dockerfile-checks FAILED*",
            "*bad/Dockerfile:1: DL3006 warning: *",
            "*bad/Dockerfile:2: DL3022 error: *builder*",
            "*bad/Dockerfile:3: DL3025 warning: *",
        ]
    )


def test_lint_from_a_test(dockerbuild: Builder, make_context: MakeContext) -> None:
    context = make_context("FROM diamlo/base AS app\nFROM diamol/base\nCOPY --from=app /x /x\n")
    findings = dockerbuild.lint(context, ignore=["DL3006"])
    assert [(f.rule, f.line) for f in findings] == [("DB002", 1)]
    assert "diamol/base" in findings[0].message


@pytest.mark.parametrize("backend", ["classic", "buildkit"])
def test_copy_from_an_image_is_substituted_too(
    builders: dict[str, Builder], make_context: MakeContext, backend: str
) -> None:
    context = make_context("FROM scratch\nCOPY --from=diamol/base /bin/busybox /busybox\n")
    result = builders[backend].build(context)
    assert result.image.file("/busybox").size > 1_000_000


def test_a_relative_context_is_read_from_the_folder_of_the_test_file(inner: pytest.Pytester) -> None:
    inner.mkdir("service")
    write_demo(inner, folder="service/app")
    write_demo(inner, folder="at-the-root")
    (inner.path / "service" / "test_service.py").write_text(
        textwrap.dedent(
            """
            import pytest
            from pytest_dockerbuild import DockerbuildWarning

            def test_next_to_the_test_file(dockerbuild):
                assert dockerbuild.build("app").request.context.name == "app"

            def test_from_the_current_directory_with_a_warning(dockerbuild):
                with pytest.warns(DockerbuildWarning, match="is not in .*service, the folder of the test file"):
                    assert dockerbuild.build("at-the-root").request.context.name == "at-the-root"

            def test_missing_names_the_folder_of_the_test_file(dockerbuild):
                from pytest_dockerbuild import DockerfileNotFound
                with pytest.raises(DockerfileNotFound, match="service/nowhere"):
                    dockerbuild.build("nowhere")
            """
        )
    )
    result = inner.runpytest_subprocess("service")
    result.assert_outcomes(passed=3)


def test_an_undeclared_build_arg_is_a_warning_in_the_summary_or_with_the_ini_an_error(inner: pytest.Pytester) -> None:
    write_demo(inner)
    inner.makepyfile(
        """
        import pytest
        from pytest_dockerbuild import BuildOptionError

        def test_it(dockerbuild, pytestconfig):
            if pytestconfig.getini("dockerbuild_strict_build_args"):
                with pytest.raises(BuildOptionError, match="build arg VERSON not declared by any ARG"):
                    dockerbuild.build("app", build_args={"VERSON": "1.2"})
            else:
                assert dockerbuild.build("app", build_args={"VERSON": "1.2"}).warnings
        """
    )
    warned = inner.runpytest_subprocess()
    warned.assert_outcomes(passed=1, warnings=1)
    warned.stdout.fnmatch_lines(["warning: build arg VERSON not declared by any ARG of *app/Dockerfile*"])
    ini = inner.path / "tox.ini"
    ini.write_text(ini.read_text() + "\ndockerbuild_strict_build_args = true\n")
    inner.runpytest_subprocess().assert_outcomes(passed=1)
