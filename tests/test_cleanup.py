"""The clean-up removes only what the plugin made (its tags, ids its journals recorded), never a
user's image, never what a live run uses, and leaves nothing dangling (real engine)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from helpers import BASE, MakeContext, marked_leftovers

from pytest_dockerbuild import Builder, BuildFailed
from pytest_dockerbuild.engine import cleanup
from pytest_dockerbuild.engine.cleanup import Cleanup
from pytest_dockerbuild.engine.client import Engine
from pytest_dockerbuild.engine.imagestore import ImageIndex, orphaned
from pytest_dockerbuild.engine.ledger import Ledger
from pytest_dockerbuild.engine.naming import project_id
from pytest_dockerbuild.engine.process import ProcessId, current

BACKENDS = ["classic", "buildkit"]


@pytest.fixture
def users_images() -> Iterator[dict[str, str]]:
    """What a user made by hand from the base image: a tagged image and, FROM it, an untagged one
    (as ``docker build -q`` leaves it): ``{"base": tag, "child": id}``."""
    client = docker.from_env()
    marker = uuid.uuid4().hex
    tag = f"mine/base:{marker[:12]}"
    client.images.build(fileobj=io.BytesIO(f"FROM {BASE}\nLABEL x={marker}\n".encode()), tag=tag, rm=True)
    child = client.images.build(fileobj=io.BytesIO(f"FROM {tag}\nRUN echo mine > /mine\n".encode()), rm=True)[0]
    yield {"base": tag, "child": child.id, "marker": marker}
    client.images.remove(child.id)
    client.images.remove(tag)


def assert_exists(image: str) -> None:
    try:
        docker.from_env().images.get(image)
    except docker.errors.ImageNotFound:
        pytest.fail(f"the user's image {image} was removed")


@pytest.mark.parametrize("first_step_fails", [True, False])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failing_build_removes_nothing_it_did_not_make(
    inner: pytest.Pytester, users_images: dict[str, str], backend: str, first_step_fails: bool
) -> None:
    marker = uuid.uuid4().hex
    inner.mkdir("bad")
    steps = "" if first_step_fails else f"ENV MARKER={marker}\nRUN echo {marker} > /committed\n"
    (inner.path / "bad" / "Dockerfile").write_text(
        f"FROM {users_images['base']}\n{steps}RUN echo failing {marker} && exit 3\n"
    )
    inner.makepyfile('def test_bad(dockerbuild):\n    dockerbuild.expect_failure("bad", exit_code=3)\n')
    inner.runpytest_subprocess(f"--dockerbuild-backend={backend}").assert_outcomes(passed=1)
    assert_exists(users_images["child"])
    assert_exists(users_images["base"])
    assert marked_leftovers(marker) == ([], []), "the failed build's own step images are removed"


def test_an_image_built_from_a_plugin_image_survives_prune(inner: pytest.Pytester) -> None:
    """The child inherits the plugin's labels; the plugin knows its images by their tags."""
    marker = uuid.uuid4().hex
    inner.mkdir("app")
    (inner.path / "app" / "Dockerfile").write_text(f"FROM diamol/base\nRUN echo {marker} > /m\n")
    inner.makepyfile('def test_it(dockerbuild):\n    print("TAG", dockerbuild.build("app").image.tags[0])\n')
    result = inner.runpytest_subprocess("-s", "--dockerbuild-backend=classic")
    tag = next(line.split("TAG ")[1].split()[0] for line in result.outlines if "TAG " in line)
    client = docker.from_env()
    child = client.images.build(fileobj=io.BytesIO(f"FROM {tag}\nRUN echo child > /c\n".encode()), rm=True)[0]
    try:
        assert child.labels["pytest-dockerbuild.managed"] == "true"  # inherited
        for prune in ("--dockerbuild-prune=app", "--dockerbuild-prune"):
            assert inner.runpytest_subprocess(prune).ret == 0
            assert_exists(child.id)
        assert client.images.list(filters={"reference": f"pytest-dockerbuild/{project_id(inner.path / 'app')}"}) == []
    finally:
        client.images.remove(child.id)
    assert inner.runpytest_subprocess("--dockerbuild-prune").ret == 0
    assert marked_leftovers(marker) == ([], []), "the plugin's image goes once nothing is built on it"


def test_two_repositories_folders_of_one_name_are_two_projects(inner: pytest.Pytester) -> None:
    marker = uuid.uuid4().hex
    for repo in ("one", "two"):
        (inner.path / repo / "app").mkdir(parents=True)
        (inner.path / repo / "app" / "Dockerfile").write_text(f"FROM diamol/base\nRUN echo {repo}{marker} > /r\n")
    inner.makepyfile('def test_it(dockerbuild):\n    dockerbuild.build("one/app")\n    dockerbuild.build("two/app")\n')
    inner.runpytest_subprocess().assert_outcomes(passed=1)
    one, two = project_id(inner.path / "one" / "app"), project_id(inner.path / "two" / "app")
    assert one != two and one.startswith("app-") and two.startswith("app-")
    client = docker.from_env()
    kept = client.images.list(filters={"reference": f"pytest-dockerbuild/{two}"})
    assert inner.runpytest_subprocess("--dockerbuild-prune=one/app").ret == 0
    assert client.images.list(filters={"reference": f"pytest-dockerbuild/{one}"}) == []
    assert client.images.list(filters={"reference": f"pytest-dockerbuild/{two}"}) == kept != []


def test_only_the_newest_images_per_stage_stay_tagged(inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every content key adds a tag; at the end of a run that builds the project, tags beyond
    dockerbuild_keep_images per stage go (the images of the run itself stay)."""
    inner.makeini("[pytest]\ndockerbuild_keep_images = 2\ndockerbuild_base_images = diamol/base=" + BASE + "\n")
    inner.mkdir("app")
    (inner.path / "app" / "Dockerfile").write_text(f"FROM diamol/base\nARG N\nRUN echo {uuid.uuid4().hex} $N > /n\n")
    inner.makepyfile(
        """
        import os, time

        def test_build(dockerbuild):
            for n in os.environ["NUMBERS"].split():
                dockerbuild.build("app", build_args={"N": n})
                time.sleep(1.1)  # image creation times are in seconds
        """
    )
    client = docker.from_env()
    project = project_id(inner.path / "app")

    def numbers() -> list[str]:
        images = client.images.list(filters={"reference": f"pytest-dockerbuild/{project}"})
        return sorted(client.containers.run(i.id, ["cat", "/n"], remove=True).decode().split()[1] for i in images)

    for batch in ("0 1 2 3", "9"):
        monkeypatch.setenv("NUMBERS", batch)
        inner.runpytest_subprocess("--dockerbuild-backend=buildkit").assert_outcomes(passed=1)
    assert numbers() == ["3", "9"]


def test_concurrent_runs_of_the_same_content_leave_nothing_dangling(inner: pytest.Pytester) -> None:
    """Both runs commit a final image; the second one's tag takes the key from the first one."""
    marker = uuid.uuid4().hex
    inner.mkdir("app")
    (inner.path / "app" / "Dockerfile").write_text(f"FROM diamol/base\nENV M={marker}\nRUN sleep 2 && echo {marker}\n")
    inner.makepyfile('def test_it(dockerbuild):\n    dockerbuild.build("app")\n')
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--dockerbuild-backend=classic"]
    runs = [subprocess.Popen(command, cwd=inner.path, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert marked_leftovers(marker) == ([], [])


def test_prune_keeps_what_a_run_in_progress_uses(inner: pytest.Pytester) -> None:
    marker = uuid.uuid4().hex
    release = inner.path / "release"
    inner.mkdir("app")
    (inner.path / "app" / "Dockerfile").write_text(f"FROM diamol/base\nRUN echo {marker} > /m\n")
    inner.makepyfile(
        f"""
        import pathlib, time

        def test_long(dockerbuild, dockerbuild_network):
            image = dockerbuild.build("app")
            box = dockerbuild_network.run(image, command=["sleep", "300"], aliases=["box"])
            pathlib.Path("running").write_text(box.name + " " + dockerbuild_network.name + " " + image.image.id)
            while not pathlib.Path({str(release)!r}).exists():
                time.sleep(0.2)
            assert image.image.read_text("/m") == "{marker}\\n"
            box.reload()
            assert box.status == "running"
        """
    )
    live = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider"], cwd=inner.path,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (inner.path / "running").exists():
            assert live.poll() is None and time.monotonic() < deadline, "the live run did not start"
            time.sleep(0.2)
        container, network, image = (inner.path / "running").read_text().split()
        pruned = inner.runpytest_subprocess("--dockerbuild-prune")
        assert pruned.ret == 0
        pruned.stdout.fnmatch_lines(["dockerbuild: removed 0 images, * kept those of runs in progress (*)"])
        client = docker.from_env()
        assert client.containers.get(container).status == "running"
        assert client.networks.get(network)
        assert client.images.get(image)
    finally:
        release.write_text("")
        output = live.communicate(timeout=120)[0]
    assert live.returncode == 0, output


def test_a_users_build_of_the_same_lines_shares_no_image_with_the_plugin(inner: pytest.Pytester) -> None:
    """The classic backend builds on the plugin's own image on top of each base, so a user's
    ``docker build -q`` of the same first lines makes an image of its own, which no clean-up touches."""
    marker = uuid.uuid4().hex
    inner.mkdir("app")
    (inner.path / "app" / "Dockerfile").write_text(f"FROM {BASE}\nRUN echo {marker} > /a\nARG V\nRUN echo $V > /v\n")
    inner.makepyfile('def test_it(dockerbuild):\n    dockerbuild.build("app", build_args={"V": "1"})\n')
    inner.runpytest_subprocess("--dockerbuild-backend=classic").assert_outcomes(passed=1)
    client = docker.from_env()
    users = client.images.build(fileobj=io.BytesIO(f"FROM {BASE}\nRUN echo {marker} > /a\n".encode()), rm=True)[0]
    try:
        result = inner.runpytest_subprocess("--dockerbuild-prune=app")
        result.stdout.fnmatch_lines(["dockerbuild: removed 1 images, *"])
        assert_exists(users.id)
        assert marked_leftovers(marker)[1] == [users.id[7:19]], "the plugin's own step images went"
    finally:
        client.images.remove(users.id)


def test_a_failed_build_keeps_the_step_images_a_running_build_took_from_the_cache(inner: pytest.Pytester) -> None:
    """Run B's builder stage takes run A's step images from the cache while A's build is still
    going; A then fails: its clean-up must leave them to B (B's journal says it uses them)."""
    marker = uuid.uuid4().hex
    builder = f"FROM diamol/base AS builder\nRUN echo {marker} > /a\n"
    for name, rest in (("failing", "FROM builder\nRUN sleep 8 && exit 3\n"),
                       ("passing", "FROM diamol/base\nRUN sleep 4\nCOPY --from=builder /a /a\n")):  # fmt: skip
        inner.mkdir(name)
        (inner.path / name / "Dockerfile").write_text(builder + rest)
    (inner.path / "test_failing.py").write_text(
        'def test_it(dockerbuild):\n    dockerbuild.expect_failure("failing")\n'
    )
    (inner.path / "test_passing.py").write_text(
        'def test_it(dockerbuild):\n    assert dockerbuild.build("passing").image.read_text("/a")\n'
    )
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--dockerbuild-backend=classic"]
    failing = subprocess.Popen([*command, "test_failing.py"], cwd=inner.path, stdout=subprocess.PIPE, text=True)
    time.sleep(4)  # A has committed its builder stage and sleeps in the failing one
    passing = subprocess.Popen([*command, "test_passing.py"], cwd=inner.path, stdout=subprocess.PIPE, text=True)
    outputs = [failing.communicate(timeout=300)[0], passing.communicate(timeout=300)[0]]
    assert [failing.returncode, passing.returncode] == [0, 0], outputs
    assert marked_leftovers(marker) == ([], [])


def test_while_a_build_is_under_way_a_failed_builds_step_images_wait_for_a_later_clean_up(
    inner: pytest.Pytester,
) -> None:
    """The engine reports a cache hit before the journal can hold it, so no image is removed while
    any build of this host is under way: the failed build's step images go to the owned list,
    and the first clean-up without a build in progress removes them."""
    marker, slow_marker = uuid.uuid4().hex, uuid.uuid4().hex
    for name, dockerfile in (("slow", f"FROM diamol/base\nRUN sleep 30 && echo {slow_marker}\n"),
                             ("failing", f"FROM diamol/base\nRUN echo {marker} > /a\nRUN exit 3\n")):  # fmt: skip
        inner.mkdir(name)
        (inner.path / name / "Dockerfile").write_text(dockerfile)
    (inner.path / "test_slow.py").write_text('def test_it(dockerbuild):\n    dockerbuild.build("slow")\n')
    (inner.path / "test_failing.py").write_text(
        'def test_it(dockerbuild):\n    dockerbuild.expect_failure("failing", exit_code=3)\n'
    )
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--dockerbuild-backend=classic"]
    slow = subprocess.Popen([*command, "test_slow.py"], cwd=inner.path, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not marked_leftovers(slow_marker, settle=False)[0]:  # the slow build is in its RUN step
            assert slow.poll() is None and time.monotonic() < deadline, "the slow build did not start"
            time.sleep(0.3)
        failing = subprocess.run([*command, "test_failing.py"], cwd=inner.path, capture_output=True, text=True)
        assert failing.returncode == 0, failing.stdout
        assert slow.poll() is None, "the slow build ended before the failed run's clean-up: no lock was tested"
        left = marked_leftovers(marker, settle=False)[1]
        assert len(left) == 1, "the failed build's step image was removed while a build was under way"
        engine = Engine(docker.from_env())
        try:
            assert any(image[7:19] == left[0] for image in engine.ledger.owned()), "it is not on the owned list"
        finally:
            engine.close()
    finally:
        output = slow.communicate(timeout=300)[0]
    assert slow.returncode == 0, output
    assert marked_leftovers(marker) == ([], []), "the next clean-up without a build under way removed it"


def holding_the_build_lock() -> subprocess.Popen[str]:
    """A process that holds this engine's build lock as a build does (until it is killed)."""
    holder = (
        "import time\nfrom pytest_dockerbuild.engine.client import Engine\n"
        "with Engine().ledger.building():\n    print('holding', flush=True)\n    time.sleep(300)\n"
    )
    build = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    assert build.stdout is not None and build.stdout.readline() == "holding\n"
    return build


def test_a_failed_build_under_another_build_leaves_its_step_images_to_the_next_clean_up(
    builders: dict[str, Builder], make_context: MakeContext
) -> None:
    """In a live run: the failed build's step image goes to the owned list and is no longer
    protected as the run's own, so the first clean-up that finds no build under way removes it."""
    marker = uuid.uuid4().hex
    context = make_context(f"FROM diamol/base\nRUN echo {marker} > /a\nRUN exit 3\n")
    build = holding_the_build_lock()
    try:
        with pytest.raises(BuildFailed):
            builders["classic"].build(context)
        left = marked_leftovers(marker, settle=False)[1]
        assert len(left) == 1, "the failed build's step image was removed while a build was under way"
        engine = builders["classic"].engine
        image = next(i for i in ImageIndex.read(engine.client).images if i[7:19] == left[0])
        assert image in engine.ledger.owned()
        assert image not in ImageIndex.read(engine.client).expand(engine.ledger.protected())
    finally:
        build.kill()
        build.wait()
    assert marked_leftovers(marker) == ([], [])


def test_the_build_lock_is_shared_by_builds_and_taken_alone_by_removals(tmp_path: Path) -> None:
    """Builds of many processes hold it at once; a removal gets it only when none does, and a
    killed holder lets go of it (the kernel drops its file locks)."""
    ledger = Ledger(tmp_path)
    holder = (
        "import sys, time, pathlib\n"
        "from pytest_dockerbuild.engine.ledger import Ledger\n"
        "with Ledger(pathlib.Path(sys.argv[1])).building():\n"
        "    print('holding', flush=True)\n"
        "    time.sleep(300)\n"
    )
    holders = [subprocess.Popen([sys.executable, "-c", holder, str(tmp_path)], stdout=subprocess.PIPE, text=True)
               for _ in range(2)]  # fmt: skip
    try:
        for process in holders:
            assert process.stdout is not None and process.stdout.readline() == "holding\n"
        with ledger.building():
            with ledger.removing() as free:
                assert not free, "a removal took the lock while builds held it"
        holders[0].kill()
        holders[0].wait()
        with ledger.removing(patience=1) as free:
            assert not free, "one build still holds it"
        holders[1].kill()
        holders[1].wait()
        with ledger.removing() as free:
            assert free, "killed builds still hold the lock"
            with ledger.removing() as again:
                assert not again, "two removals at once"
    finally:
        for process in holders:
            process.kill()
            process.wait()


def test_prune_removes_no_image_while_a_build_is_under_way(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    inner.mkdir("app")
    (inner.path / "app" / "Dockerfile").write_text(f"FROM diamol/base\nRUN echo {uuid.uuid4().hex} > /m\n")
    inner.makepyfile('def test_it(dockerbuild):\n    dockerbuild.build("app")\n')
    inner.runpytest_subprocess("--dockerbuild-backend=classic").assert_outcomes(passed=1)
    project = project_id(inner.path / "app")
    engine = Engine(docker.from_env())
    build = holding_the_build_lock()
    try:
        monkeypatch.setattr(cleanup, "PRUNE_PATIENCE", 1.0)
        report = Cleanup(engine).prune(project)
        assert report.images == 0 and "removed no image: builds were still under way after 1 s" in str(report)
        assert engine.client.api.images(f"pytest-dockerbuild/{project}"), "prune removed an image"
        build.kill()
        build.wait()
        assert Cleanup(engine).prune(project).images == 1
        assert not engine.client.api.images(f"pytest-dockerbuild/{project}")
    finally:
        build.kill()
        build.wait()
        engine.close()


def test_retention_waits_for_the_last_worker(inner: pytest.Pytester) -> None:
    """Under pytest-xdist a worker that ends early leaves the untagging of old images to the
    controller: another worker may still read one from the run's shared record."""
    inner.makeini(f"[pytest]\ndockerbuild_keep_images = 1\ndockerbuild_base_images = diamol/base={BASE}\n")
    inner.mkdir("app")
    (inner.path / "app" / "Dockerfile").write_text(f"FROM diamol/base\nARG N\nRUN echo {uuid.uuid4().hex} $N > /n\n")
    (inner.path / "test_early.py").write_text(
        "def test_early(dockerbuild):\n    for n in range(4):\n"
        "        dockerbuild.build('app', build_args={'N': str(n)})\n"
    )
    (inner.path / "test_late.py").write_text(
        "import time\n\ndef test_late(dockerbuild):\n    time.sleep(12)\n"
        "    assert dockerbuild.build('app', build_args={'N': '0'}).image.read_text('/n').split()[1] == '0'\n"
    )
    result = inner.runpytest_subprocess("-n", "2", "--dist", "loadfile", "--dockerbuild-backend=buildkit")
    result.assert_outcomes(passed=2)


def test_a_run_in_another_pid_namespace_is_not_taken_for_dead(inner: pytest.Pytester) -> None:
    """A CI job in a container may share the engine and the host name; its pids are not ours to
    look up, so its containers stay while it runs."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.fail("unshare (util-linux) is missing")
    release = inner.path / "release"
    inner.makepyfile(
        f"""
        import pathlib, time

        def test_long(dockerbuild_network):
            box = dockerbuild_network.run({BASE!r}, command=["sleep", "300"])
            pathlib.Path("running").write_text(box.name)
            while not pathlib.Path({str(release)!r}).exists():
                time.sleep(0.2)
            box.reload()
            assert box.status == "running"
        """
    )
    command = [unshare, "--pid", "--fork", "--mount-proc", sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
    live = subprocess.Popen(command, cwd=inner.path, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (inner.path / "running").exists():
            assert live.poll() is None and time.monotonic() < deadline, "the run in its namespace did not start"
            time.sleep(0.2)
        name = (inner.path / "running").read_text()
        (inner.path / "test_sweep.py").write_text("def test_sweep(dockerbuild_engine):\n    pass\n")
        inner.runpytest_subprocess("test_sweep.py").assert_outcomes(passed=1)  # its start sweeps dead runs
        assert docker.from_env().containers.get(name).status == "running"
    finally:
        release.write_text("")
        output = live.communicate(timeout=120)[0]
    assert live.returncode == 0, output


def test_a_dead_runs_container_goes_even_when_its_pid_is_taken_again(inner: pytest.Pytester) -> None:
    """The owner label holds the process's start time: a new process with the same pid is not it."""
    me = current()
    client = docker.from_env()
    reborn = ProcessId(me.host, me.namespace, me.pid, "1")  # this pid, started at another time
    labels = {"pytest-dockerbuild.managed": "true", "pytest-dockerbuild.run": "deadrun00000",
              "pytest-dockerbuild.owner": str(reborn)}  # fmt: skip
    container = client.containers.create(BASE, ["true"], labels=labels, name=f"pytest-dockerbuild-{uuid.uuid4().hex}")
    alive = client.containers.create(BASE, ["true"], labels={**labels, "pytest-dockerbuild.owner": str(me)})
    try:
        inner.makepyfile("def test_sweep(dockerbuild_engine):\n    pass\n")
        inner.runpytest_subprocess().assert_outcomes(passed=1)
        with pytest.raises(docker.errors.NotFound):
            container.reload()
        alive.reload()  # this process is alive: its container stays
    finally:
        for leftover in (container, alive):
            try:
                leftover.remove(force=True)
            except docker.errors.NotFound:
                pass


def test_prune_from_a_symlinked_repository(inner: pytest.Pytester, tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    inner.mkdir("app")
    (inner.path / "app" / "Dockerfile").write_text(f"FROM diamol/base\nRUN echo {marker} > /m\n")
    inner.makepyfile('def test_it(dockerbuild):\n    dockerbuild.build("app")\n')
    inner.runpytest_subprocess("--dockerbuild-backend=buildkit").assert_outcomes(passed=1)
    link = tmp_path / "link"
    link.symlink_to(inner.path)
    pruned = subprocess.run([sys.executable, "-m", "pytest", "--dockerbuild-prune"], cwd=link, capture_output=True,
                            text=True)  # fmt: skip
    assert "dockerbuild: removed 1 images" in pruned.stdout, pruned.stdout
    assert (
        docker.from_env().images.list(filters={"reference": f"pytest-dockerbuild/{project_id(inner.path / 'app')}"})
        == []
    )


@pytest.mark.parametrize(
    ("folder", "gone"),
    [
        ("gone", True),  # its parent is there and can be read, and it is not in it
        (".", False),
        ("unmounted/app", False),  # its parent is missing too (a drive not mounted now): cannot tell
        ("locked/app", False),  # a folder this process cannot look into: cannot tell
    ],
)
def test_a_folder_is_gone_only_when_that_is_provable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: str, gone: bool
) -> None:
    hidden = tmp_path / "locked" / "app"
    real_lstat = Path.lstat

    def lstat(path: Path) -> os.stat_result:
        if path == hidden:
            raise PermissionError(13, "Permission denied")
        return real_lstat(path)

    monkeypatch.setattr(Path, "lstat", lstat)
    assert orphaned(tmp_path / folder) is gone


def test_the_ledger_knows_only_the_projects_of_this_host_user_and_mount_namespace(tmp_path: Path) -> None:
    """A project another host, user or mount namespace (a CI job in a container) built is not this
    process's to find gone: its folder may exist where this one cannot see."""
    ledger = Ledger(tmp_path)
    ledger.remember_projects({"app-1": tmp_path / "app"})
    records = json.loads((tmp_path / "projects.json").read_text())
    for name, change in (("elsewhere-1", {"host": "elsewhere"}), ("other-1", {"uid": os.getuid() + 1}),
                         ("contained-1", {"mounts": "4026531840x"})):  # fmt: skip
        records[name] = {**records["app-1"], **change}
    (tmp_path / "projects.json").write_text(json.dumps(records))
    assert ledger.projects() == {"app-1": tmp_path / "app"}
    ledger.forget_projects(["app-1"])
    assert ledger.projects() == {}


def test_a_base_with_onbuild_triggers_builds_on_both_backends(inner: pytest.Pytester) -> None:
    """The classic backend's LABEL comes after the FROM, so the base's triggers run in the user's
    stage, with its context, as docker runs them."""
    client = docker.from_env()
    marker = uuid.uuid4().hex[:12]
    tag = f"mine/onbuild:{marker}"
    base = f"FROM {BASE}\nONBUILD COPY app.txt /app-{marker}.txt\n"
    client.images.build(fileobj=io.BytesIO(base.encode()), tag=tag, rm=True)
    try:
        inner.mkdir("app")
        (inner.path / "app" / "Dockerfile").write_text(f"FROM {tag}\nRUN cat /app-{marker}.txt\n")
        (inner.path / "app" / "app.txt").write_text("from the context\n")
        inner.makepyfile(
            f'def test_it(dockerbuild):\n    assert dockerbuild.build("app").image.read_text("/app-{marker}.txt") == '
            '"from the context\\n"\n'
        )
        for backend in ("classic", "buildkit"):
            inner.runpytest_subprocess(f"--dockerbuild-backend={backend}").assert_outcomes(passed=1)
        assert inner.runpytest_subprocess("--dockerbuild-prune=app").ret == 0
    finally:
        client.images.remove(tag)
    # the image the triggers committed (classic) went with the project: none dangles
    dangling = [i["Id"] for i in client.api.images(all=True, filters={"dangling": True})]
    assert [i for i in dangling if any(marker in (h.get("CreatedBy") or "") for h in client.api.history(i))] == []


def test_an_image_another_users_run_uses_survives_this_runs_retention(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs of another user (another ledger) are seen on the engine only: an image one of them uses
    is held by a container of it, which the engine will not let anyone's clean-up remove."""
    inner.makeini(f"[pytest]\ndockerbuild_keep_images = 1\ndockerbuild_base_images = diamol/base={BASE}\n")
    inner.mkdir("app")
    (inner.path / "app" / "Dockerfile").write_text(f"FROM diamol/base\nARG N\nRUN echo {uuid.uuid4().hex} $N > /n\n")
    release = inner.path / "release"
    (inner.path / "test_holder.py").write_text(
        f"import pathlib, time\n\ndef test_holder(dockerbuild):\n    result = dockerbuild.build('app')\n"
        f"    pathlib.Path('held').write_text(result.image.id)\n"
        f"    while not pathlib.Path({str(release)!r}).exists():\n        time.sleep(0.2)\n"
        f"    assert result.image.read_text('/n')\n"
    )
    (inner.path / "test_other.py").write_text(
        "def test_other(dockerbuild):\n    for n in range(3):\n"
        "        dockerbuild.build('app', build_args={'N': str(n)})\n"
    )
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--dockerbuild-backend=buildkit"]
    holder = subprocess.Popen([*command, "test_holder.py"], cwd=inner.path, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "XDG_CACHE_HOME": str(inner.path / "cache-a")})  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (inner.path / "held").exists():
            assert holder.poll() is None and time.monotonic() < deadline, "the holder did not start"
            time.sleep(0.2)
        monkeypatch.setenv("XDG_CACHE_HOME", str(inner.path / "cache-b"))
        inner.runpytest_subprocess("test_other.py", "--dockerbuild-backend=buildkit").assert_outcomes(passed=1)
        assert_exists((inner.path / "held").read_text())
    finally:
        release.write_text("")
        output = holder.communicate(timeout=120)[0]
    assert holder.returncode == 0, output


def test_a_project_whose_builds_all_failed_is_pruned(inner: pytest.Pytester) -> None:
    """Its only images are stage images (no image of it carries its labels): the ledger knows
    where it was built from."""
    marker = uuid.uuid4().hex
    inner.mkdir("bad")
    (inner.path / "bad" / "Dockerfile").write_text(
        f"FROM diamol/base AS one\nRUN echo {marker} > /a\nFROM one\nRUN exit 3\n"
    )
    inner.makepyfile('def test_it(dockerbuild):\n    dockerbuild.expect_failure("bad", exit_code=3)\n')
    inner.runpytest_subprocess("--dockerbuild-backend=classic").assert_outcomes(passed=1)
    client = docker.from_env()
    reference = {"reference": f"pytest-dockerbuild/{project_id(inner.path / 'bad')}"}
    assert len(client.images.list(filters=reference)) == 1  # the image of stage one
    inner.runpytest_subprocess("--dockerbuild-prune").stdout.fnmatch_lines(["dockerbuild: removed 1 images*"])
    assert client.images.list(filters=reference) == []
    assert marked_leftovers(marker) == ([], [])


def test_under_xdist_the_images_of_the_run_stay(inner: pytest.Pytester) -> None:
    """The controller's untagging keeps what the workers used: the next run reuses all of it."""
    inner.makeini(f"[pytest]\ndockerbuild_keep_images = 2\ndockerbuild_base_images = diamol/base={BASE}\n")
    inner.mkdir("app")
    (inner.path / "app" / "Dockerfile").write_text(f"FROM diamol/base\nARG N\nRUN echo {uuid.uuid4().hex} $N > /n\n")
    inner.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_variant(dockerbuild, n):
            reused = dockerbuild.build("app", build_args={"N": str(n)}).reused
            open(f"variant-{n}.txt", "w").write("REUSED" if reused else "BUILT")
        """
    )
    inner.runpytest_subprocess("-n", "2", "--dockerbuild-backend=buildkit").assert_outcomes(passed=4)
    inner.runpytest_subprocess("-n", "2", "--dockerbuild-backend=buildkit").assert_outcomes(passed=4)
    assert [(inner.path / f"variant-{n}.txt").read_text() for n in range(4)] == ["REUSED"] * 4
