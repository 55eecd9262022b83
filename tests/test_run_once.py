"""One-shot containers (``run_once``): stdout and stderr apart and exact, the exit code, ``check()``,
the timeout, the image as a reference, an Image or a build, networks, and nothing left behind."""

from __future__ import annotations

import threading
import time
import uuid

import docker
import pytest
from helpers import BASE, MakeContext

from pytest_dockerbuild import Builder, ContainerError, Network, Runtime
from pytest_dockerbuild.runtime import CompletedRun


def _gone(runtime: Runtime, name: str) -> bool:
    try:
        runtime.engine.client.containers.get(name)
    except docker.errors.NotFound:
        return True
    return False


def test_stdout_and_stderr_come_apart_and_exact(dockerbuild_runtime: Runtime) -> None:
    script = "printf 'out 1\\nout 2'; printf 'err 1\\n' >&2; printf 'err 2' >&2; exit 3"
    done = dockerbuild_runtime.run_once(BASE, ["sh", "-c", script])
    assert done == CompletedRun(3, "out 1\nout 2", "err 1\nerr 2", ["sh", "-c", script], BASE, done.name)
    assert done.name.startswith(f"pytest-dockerbuild-{dockerbuild_runtime.engine.run_id}-")
    assert _gone(dockerbuild_runtime, done.name)
    with pytest.raises(AttributeError):
        done.exit_code = 0  # type: ignore[misc]


def test_a_long_interleaved_output_is_kept_whole(dockerbuild_runtime: Runtime) -> None:
    script = "for i in $(seq 1 3000); do echo out $i; echo err $i >&2; done"
    done = dockerbuild_runtime.run_once(BASE, ["sh", "-c", script]).check()
    assert done.stdout == "".join(f"out {i}\n" for i in range(1, 3001))
    assert done.stderr == "".join(f"err {i}\n" for i in range(1, 3001))


def test_undecodable_bytes_are_replaced_and_no_output_is_empty(dockerbuild_runtime: Runtime) -> None:
    done = dockerbuild_runtime.run_once(BASE, ["sh", "-c", "printf '\\377ok\\n'; printf 'caf\\303\\251' >&2"])
    assert (done.stdout, done.stderr) == ("\ufffdok\n", "café")
    empty = dockerbuild_runtime.run_once(BASE, ["true"])
    assert (empty.exit_code, empty.stdout, empty.stderr) == (0, "", "")


def test_a_string_command_and_the_image_command(
    dockerbuild_runtime: Runtime, dockerbuild: Builder, make_context: MakeContext
) -> None:
    words = dockerbuild_runtime.run_once(BASE, "echo two  words")
    assert (words.stdout, words.command) == ("two words\n", "echo two  words")
    built = dockerbuild.build(make_context(f'FROM {BASE}\nCMD ["echo", "from the image"]\n', name="cmd-app"))
    done = dockerbuild_runtime.run_once(built)
    assert (done.exit_code, done.stdout, done.command) == (0, "from the image\n", ["echo", "from the image"])
    assert done.image == built.image.tags[0]
    assert dockerbuild_runtime.run_once(built.image, ["echo", "image"]).stdout == "image\n"


def test_check_returns_the_run_or_raises_with_both_streams(dockerbuild_runtime: Runtime) -> None:
    passed = dockerbuild_runtime.run_once(BASE, ["echo", "fine"])
    assert passed.check() is passed
    failed = dockerbuild_runtime.run_once(BASE, ["sh", "-c", "echo migrating; echo table exists >&2; exit 4"])
    with pytest.raises(ContainerError) as error:
        failed.check()
    assert error.value.container == failed.name
    expected = f"`sh -c 'echo migrating; echo table exists >&2; exit 4'` (image {BASE!r}) exited with code 4"
    assert error.value.problem == expected
    assert str(error.value).endswith("  | stdout:\n  | migrating\n  | stderr:\n  | table exists")
    quiet = dockerbuild_runtime.run_once(BASE, ["false"])
    with pytest.raises(ContainerError, match=r"\| stdout: \(empty\)\n  \| stderr: \(empty\)$"):
        quiet.check()


def test_a_command_that_outlives_its_timeout_is_killed_and_named(dockerbuild_runtime: Runtime) -> None:
    started = time.monotonic()
    with pytest.raises(ContainerError) as error:
        dockerbuild_runtime.run_once(BASE, ["sh", "-c", "echo started; sleep 30"], timeout=1)
    assert time.monotonic() - started < 15
    assert error.value.problem == (
        f"`sh -c 'echo started; sleep 30'` (image {BASE!r}) did not exit within timeout=1 s; it was killed"
    )
    assert error.value.logs == "started\n"
    assert _gone(dockerbuild_runtime, error.value.container)


def test_a_missing_image_or_command_is_a_clear_error(dockerbuild_runtime: Runtime) -> None:
    missing = f"pytest-dockerbuild-test/missing:{uuid.uuid4().hex[:8]}"
    with pytest.raises(ContainerError) as once:
        dockerbuild_runtime.run_once(missing, ["true"])
    with pytest.raises(ContainerError) as run:
        dockerbuild_runtime.run(missing, command=["true"])
    assert str(once.value) == str(run.value)
    assert str(once.value).startswith(f"container missing: image {missing!r} is not in the engine (nothing is pulled)")
    with pytest.raises(ContainerError, match=r"cannot start `/no/such/tool` \(image '.*'\): .*no such file") as bad:
        dockerbuild_runtime.run_once(BASE, ["/no/such/tool"])
    assert _gone(dockerbuild_runtime, bad.value.container)


def test_it_is_labelled_while_it_runs_and_removed_after(dockerbuild_runtime: Runtime) -> None:
    client = dockerbuild_runtime.engine.client
    marker = uuid.uuid4().hex
    results: list[CompletedRun] = []
    worker = threading.Thread(
        target=lambda: results.append(dockerbuild_runtime.run_once(BASE, ["sh", "-c", f"sleep 2; echo {marker}"]))
    )
    worker.start()
    seen: list[dict[str, str]] = []
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        running = client.containers.list(
            filters={"label": f"pytest-dockerbuild.run={dockerbuild_runtime.engine.run_id}"}
        )
        seen = [c.labels for c in running if marker in str(c.attrs["Config"]["Cmd"])]
        time.sleep(0.1)
    worker.join(30)
    assert seen and seen[0]["pytest-dockerbuild.managed"] == "true"
    assert results[0].stdout == f"{marker}\n"
    assert _gone(dockerbuild_runtime, results[0].name)


def test_an_interrupted_run_once_leaves_nothing(pytester: pytest.Pytester) -> None:
    marker = uuid.uuid4().hex
    pytester.makepyfile(
        f"""
        import os, signal, threading, time
        import docker

        def interrupt_once_it_runs():
            client = docker.from_env()
            for _ in range(300):
                if any("{marker}" in str(c.attrs["Config"]["Cmd"]) for c in client.containers.list()):
                    print("interrupting a running one-shot container")
                    os.kill(os.getpid(), signal.SIGINT)
                    return
                time.sleep(0.1)

        def test_interrupted(dockerbuild_runtime):
            threading.Thread(target=interrupt_once_it_runs, daemon=True).start()
            try:
                dockerbuild_runtime.run_once({BASE!r}, ["sh", "-c", "echo {marker}; sleep 300"])
            except KeyboardInterrupt:
                listed = docker.from_env().containers.list(all=True)
                print(f"left at once: {{sum('{marker}' in str(c.attrs['Config']['Cmd']) for c in listed)}}")
                raise
        """
    )
    result = pytester.runpytest_subprocess("-s")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        ["*interrupting a running one-shot container*", "*left at once: 0*", "*KeyboardInterrupt*"]
    )
    client = docker.from_env()
    assert [c.name for c in client.containers.list(all=True) if marker in str(c.attrs["Config"]["Cmd"])] == []


def test_on_a_network_it_reaches_the_others_by_alias(dockerbuild_network: Network) -> None:
    serve = ["sh", "-c", "mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www"]
    dockerbuild_network.run(BASE, command=serve, aliases=["web"])
    fetched = dockerbuild_network.run_once(
        BASE, ["sh", "-c", "for i in $(seq 50); do wget -qO- http://web/index.html && exit; sleep 0.1; done; exit 1"]
    )
    assert (fetched.exit_code, fetched.stdout) == (0, "hello\n")
    named = dockerbuild_network.run_once(BASE, ["nslookup", "probe"], aliases=["probe"], env={"X": "1"})
    assert named.exit_code == 0 and "Name:\tprobe" in named.stdout.replace("Name:  ", "Name:\t")
    assert "-probe-" in named.name
    assert [c.name for c in dockerbuild_network.containers] == [dockerbuild_network.containers[0].name]


def test_extra_options_pass_to_the_sdk(dockerbuild_runtime: Runtime) -> None:
    # with a TTY the engine keeps one stream: all of it is stdout
    done = dockerbuild_runtime.run_once(BASE, ["sh", "-c", "echo out; echo err >&2"], tty=True, hostname="oneshot")
    assert (done.stdout, done.stderr) == ("out\r\nerr\r\n", "")
    assert dockerbuild_runtime.run_once(BASE, ["hostname"], hostname="oneshot").stdout == "oneshot\n"
