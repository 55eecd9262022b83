"""The scenario with the docker CLI alone (the floor): docker build / create / cp / run /
network, urllib for HTTP, everything removed at the end.

    BENCH_CONTEXT=... BENCH_NONCE=... python3 bench_cli.py --builder classic --json steps.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import tarfile
import time
import urllib.request

import scenario


def docker(*args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, env=env)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--builder", choices=["classic", "buildkit"], default="classic")
    parser.add_argument("--json", help="write the seconds of each step here")
    options = parser.parse_args()
    env = {**os.environ, "DOCKER_BUILDKIT": "1" if options.builder == "buildkit" else "0"}
    context, tool = str(scenario.context()), f"cli-{options.builder}"
    final, builder = scenario.tag(tool, "final"), scenario.tag(tool, "builder")
    steps: dict[str, float] = {}
    cleanup: list[list[str]] = []
    started = time.perf_counter()

    def step(name: str) -> None:
        nonlocal started
        now = time.perf_counter()
        steps[name] = now - started
        started = now

    try:
        # 1. the final image and a named stage
        docker("build", "-q", "--force-rm", "-t", final, context, env=env)
        docker("build", "-q", "--force-rm", "--target", "builder", "-t", builder, context, env=env)
        step("test_1_build_final_and_stage")
        # 2. a file of the final image, without running it
        created = docker("create", final).stdout.strip()
        archive = subprocess.run(["docker", "cp", f"{created}:/www/index.html", "-"], capture_output=True, check=True)
        docker("rm", created)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            member = tar.extractfile("index.html")
            assert member is not None and member.read().decode() == scenario.PAGE
        step("test_2_read_file")
        # 3. the size budget
        assert int(docker("image", "inspect", "-f", "{{.Size}}", final).stdout) < scenario.SIZE_BUDGET
        step("test_3_size_budget")
        # 4. the failing variant fails, with exit code 1
        failed = docker("build", "--force-rm", "-f", f"{context}/Dockerfile.failing", context, check=False, env=env)
        log = failed.stdout + failed.stderr
        assert failed.returncode != 0 and ("non-zero code: 1" in log or "exit code: 1" in log), log[-2000:]
        step("test_4_failing_build_detected")
        # 5. HTTP through a published port
        network = f"dockerbuild-bench-{scenario.nonce()}-{options.builder}"
        docker("network", "create", network)
        cleanup.append(["network", "rm", network])
        web = docker("run", "-d", "--network", network, "--network-alias", "web", "-p", "127.0.0.1::80", final)
        cleanup.insert(0, ["rm", "-f", web.stdout.strip()])
        port = docker("port", web.stdout.strip(), "80/tcp").stdout.split(":")[-1].strip()
        deadline, body = time.monotonic() + 30, ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                    body = response.read().decode()
                    break
            except OSError:
                time.sleep(0.1)
        assert body == scenario.PAGE
        step("test_5_published_port")
        # 6. the alias from another container on the network
        answer = docker("run", "--rm", "--network", network, final, "sh", "-c", scenario.CLIENT_GET).stdout
        assert scenario.served(answer)
    finally:
        for args in cleanup:
            docker(*args, check=False)
    step("test_6_network_alias")  # with the clean-up, as the pytest runs' last teardown
    if options.json:
        with open(options.json, "w") as out:
            json.dump(steps, out)


if __name__ == "__main__":
    main()
