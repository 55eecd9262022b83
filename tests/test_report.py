"""The build report: its data from real builds of the example projects, the HTML page opened
in headless Chromium with the network off (DOM and screenshot), the plugin's option."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from helpers import BASE, INI, missing

from pytest_dockerbuild import Builder, BuildFailed, BuildResult
from pytest_dockerbuild.image.efficiency import SizeBaseline, analyze, layer_count
from pytest_dockerbuild.report import (
    BAR_WIDTH,
    CSP,
    attach_baselines,
    build_entry,
    builders_of,
    failure_entry,
    lint_entries,
    merge,
    render,
    size_bars,
    versus,
    write_report,
)

EXAMPLES = Path(__file__).parent.parent / "example_projects"
DEMO = EXAMPLES / "multistage-demo"
GALLERY = EXAMPLES / "image-gallery"
# A builder whose /src (and one file of /etc) the final image leaves behind, and a final image
# that adds /opt: small, so that both file trees are read quickly.
SPLIT = """
FROM diamol/base AS builder
RUN mkdir -p /src/cache && head -c 3000000 /dev/zero > /src/cache/objects.bin \\
 && head -c 1000 /dev/zero > /src/cache/small.o && head -c 200000 /dev/zero > /src/app \\
 && head -c 1234 /dev/zero > /etc/builder.conf
FROM diamol/base
COPY --from=builder /src/app /opt/app/app
RUN echo readme > /opt/app/readme.txt
"""


@pytest.fixture(scope="module")
def report_data(dockerbuild: Builder) -> dict[str, Any]:
    """The report of four builds: the demo (through the engine, so its steps are known), the
    gallery's final image and its builder stage, and the demo's failing test stage."""
    demo = dockerbuild.build(DEMO, reuse=False)
    gallery = dockerbuild.build(GALLERY)
    builder = dockerbuild.build(GALLERY, target="builder")
    failure = dockerbuild.expect_failure(DEMO, "Dockerfile.failing-test", stage="test-stage", exit_code=1)
    images = [
        {**build_entry(r, files=r is not builder), "lint": lint_entries(dockerbuild, r.dockerfile.path)}
        for r in (demo, gallery, builder)
    ]
    images.append({**failure_entry(failure), "lint": lint_entries(dockerbuild, failure.dockerfile)})
    return merge([{"images": images}])


@pytest.fixture(scope="module")
def split(dockerbuild: Builder, tmp_path_factory: pytest.TempPathFactory) -> tuple[BuildResult, BuildResult]:
    """The final image of :data:`SPLIT` and its builder stage."""
    context = tmp_path_factory.mktemp("split")
    (context / "Dockerfile").write_text(SPLIT.lstrip())
    return dockerbuild.build(context), dockerbuild.build(context, target="builder")


def by_title(data: dict[str, Any], ending: str) -> dict[str, Any]:
    return next(image for image in data["images"] if image["title"].endswith(ending))


def test_layers_are_labelled_with_their_instruction_and_source(report_data: dict[str, Any]) -> None:
    gallery = by_title(report_data, "image-gallery/Dockerfile")
    assert gallery["size"] > 1_000_000
    copied = [layer for layer in gallery["layers"] if layer["source"] == "COPY --from=builder"]
    assert [(layer["instruction"], layer["stage"]) for layer in copied] == [("COPY --from=builder /server .", "1")]
    assert copied[0]["size"] > 1_000_000, "the Go binary"
    sources = {source["source"]: source["size"] for source in gallery["sources"]}
    assert sources["base image diamol/base"] > 0
    assert sources["COPY from the context"] == next(
        layer["size"] for layer in gallery["layers"] if layer["instruction"] == "COPY index.html ."
    )
    assert sum(sources.values()) == sum(layer["size"] for layer in gallery["layers"])


def test_the_folders_of_the_final_file_tree(dockerbuild: Builder, report_data: dict[str, Any]) -> None:
    gallery = by_title(report_data, "image-gallery/Dockerfile")
    files = dockerbuild.build(GALLERY).image.files
    assert sum(folder["size"] for folder in gallery["folders"]) == sum(
        entry.size for entry in files.values() if entry.type == "file"
    )
    web = next(folder for folder in gallery["folders"] if folder["path"] == "/web")
    assert web == {
        "path": "/web",
        "size": files["/web/server"].size + files["/web/index.html"].size,
        "children": [
            {"path": "/web/server", "size": files["/web/server"].size},
            {"path": "/web/index.html", "size": files["/web/index.html"].size},
        ],
    }
    assert gallery["folders"][0] is web, "the biggest first"
    figures = analyze(dockerbuild.build(GALLERY).image.filesystem_layers)
    assert gallery["efficiency"]["score"] == figures.score
    assert gallery["efficiency"]["wasted_bytes"] == figures.wasted_bytes
    assert [p["path"] for p in gallery["efficiency"]["inefficient"]] == [p.path for p in figures.inefficient[:5]]
    assert by_title(report_data, "--target builder")["folders"] == [], "not asked for"


def test_stages_and_steps(report_data: dict[str, Any]) -> None:
    builder = by_title(report_data, "image-gallery/Dockerfile --target builder")
    assert {s["ref"]: s["status"] for s in builder["stages"]}["1"] == "skipped"
    demo = by_title(report_data, "multistage-demo/Dockerfile")
    assert demo["kind"] == "built"
    assert [(s["ref"], s["from_stage"], s["copies_from"]) for s in demo["stages"]] == [
        ("build-stage", None, []),
        ("test-stage", None, [{"stage": "build-stage", "image": None}]),
        ("2", None, [{"stage": "test-stage", "image": None}]),
    ]
    steps = [step for stage in demo["stages"] for step in stage["steps"]]
    assert steps and all(isinstance(step["seconds"], float) for step in steps if step["cached"] is not None)
    assert {step["instruction"] for step in steps} >= {"COPY --from=test-stage /build.txt /build.txt"}
    failed = by_title(report_data, "Dockerfile.failing-test")
    assert failed["kind"] == "failed"
    assert {s["ref"]: s["status"] for s in failed["stages"]} == {
        "build-stage": "needed", "test-stage": "failed", "2": "needed"
    }  # fmt: skip
    assert (failed["failure"]["stage"], failed["failure"]["step"], failed["failure"]["exit_code"]) == (
        "test-stage", 3, 1
    )  # fmt: skip


def test_terminal_bars_are_proportional(report_data: dict[str, Any]) -> None:
    gallery = by_title(report_data, "image-gallery/Dockerfile")
    lines = size_bars(gallery)
    assert len(lines) == len(gallery["layers"])
    largest = max(layer["size"] for layer in gallery["layers"])
    for line, layer in zip(lines, gallery["layers"], strict=True):
        assert line.rstrip().endswith(layer["instruction"][:57])
        assert line.count("#") == round(30 * layer["size"] / largest)


# -- the page in a browser ---------------------------------------------------------------------------
def chromium() -> str:
    """Debian's chromium (scripts/setup installs it); missing, the test fails under CI."""
    found = shutil.which("chromium")
    if found is None or shutil.which("unshare") is None:
        missing("chromium (or unshare) is not on PATH (apt-get install chromium; scripts/setup installs it)")
    return found


def open_offline(page: Path, out: Path, *extra: str) -> tuple[str, list[str], float]:
    """Open ``page`` in headless Chromium in a network namespace of its own (no network): the DOM
    after loading, the URLs the page asked the network for (from the browser's net log), seconds."""
    net_log = out / f"{page.stem}-net.json"
    command = [
        "unshare", "--net", chromium(), "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--no-first-run",
        f"--user-data-dir={out / 'profile'}", f"--log-net-log={net_log}", *extra, page.as_uri(),
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, page_requests(net_log), seconds


def page_requests(net_log: Path) -> list[str]:
    """URLs the page (a file:// document) asked for; the browser's own background requests
    have no such isolation key."""
    log = json.loads(net_log.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        event["params"]["url"]
        for event in log["events"]
        if event["type"] == start and str(event["params"].get("network_isolation_key", "")).startswith("file://")
        and not event["params"]["url"].startswith(("file:", "data:"))
    ]  # fmt: skip


class Dom(HTMLParser):
    """The sections of the report, with the bars and stages in each."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        classes = attributes.get("class", "").split()
        if tag == "section" and "image" in classes:
            self.sections.append({"title": attributes["data-title"], "charts": [], "stages": {}})
        elif tag == "svg" and "chart" in classes:
            self.sections[-1]["charts"].append([])
        elif tag == "rect" and "bar" in classes:
            self.sections[-1]["charts"][-1].append((float(attributes["width"]), int(attributes["data-bytes"])))
        elif tag == "g" and "stage" in classes:
            self.sections[-1]["stages"][attributes["data-stage"]] = attributes["data-status"]


def test_the_report_in_chromium_offline(report_data: dict[str, Any], tmp_path: Path) -> None:
    page = write_report(report_data, tmp_path / "report")
    assert json.loads((tmp_path / "report" / "report.json").read_text()) == report_data
    dom, requested, _ = open_offline(page, tmp_path, "--dump-dom")
    assert requested == []
    parsed = Dom()
    parsed.feed(dom)
    assert [s["title"] for s in parsed.sections] == [image["title"] for image in report_data["images"]]
    for section in parsed.sections:
        for chart in section["charts"]:
            largest = max(size for _, size in chart)
            for width, size in chart:
                assert width == pytest.approx(BAR_WIDTH * size / largest, abs=0.01)
    gallery = next(s for s in parsed.sections if s["title"].endswith("image-gallery/Dockerfile"))
    assert [len(chart) for chart in gallery["charts"]] == [
        len(by_title(report_data, "image-gallery/Dockerfile")["layers"]),
        len(by_title(report_data, "image-gallery/Dockerfile")["sources"]),
    ]
    assert 'class="folder" data-path="/web"' in dom
    score = by_title(report_data, "image-gallery/Dockerfile")["efficiency"]["score"]
    assert f'class="efficiency" data-score="{score:.6f}"' in dom
    failed = next(s for s in parsed.sections if s["title"].endswith("Dockerfile.failing-test"))
    assert failed["stages"]["test-stage"] == "failed"
    assert "step 3, exit code 1" in dom
    final, builder = by_title(report_data, "gallery/Dockerfile"), by_title(report_data, "--target builder")
    assert builder["size"] / final["size"] > 10
    assert f"this image is {builder['size'] / final['size']:.1f} times smaller" in dom
    screenshot = tmp_path / "report.png"
    open_offline(page, tmp_path, f"--screenshot={screenshot}", "--window-size=1280,2000")
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000
    print(f"screenshot of the report: {screenshot}")


def test_the_network_check_sees_a_page_that_asks(tmp_path: Path) -> None:
    """The net log check can fail: a page without the report's policy asks for a local URL."""
    page = tmp_path / "asking.html"
    page.write_text('<html><body><img src="http://127.0.0.1:9/x.png"></body></html>')
    _, requested, _ = open_offline(page, tmp_path, "--dump-dom")
    assert requested == ["http://127.0.0.1:9/x.png"]
    page.write_text(render({"images": []}).replace("</body>", '<img src="http://127.0.0.1:9/x.png"></body>'))
    _, requested, _ = open_offline(page, tmp_path, "--dump-dom")
    assert requested == [], "the report's Content-Security-Policy blocks it"


def test_a_report_of_20_images_is_small_and_opens_fast(
    report_data: dict[str, Any], split: tuple[BuildResult, BuildResult], tmp_path: Path
) -> None:
    pair = versus(*split)
    trend = {
        "name": "app",
        "size": 10**7,
        "layers": 9,
        "tolerance": 0.05,
        "budget": 10**7 * 105 // 100,
        "history": [{"size": 10**7 + n * 1000, "layers": 9, "time": "2024-01-01T00:00:00Z"} for n in range(20)],
    }
    images = [dict(image, title=f"{image['title']} #{n}", versus=[pair] * 3, baseline=[trend] * 2)
              for n in range(5) for image in report_data["images"]]  # fmt: skip
    page = write_report({"images": images}, tmp_path / "big")
    assert len(images) == 20 and page.stat().st_size < 2_000_000
    # measured by the browser: from the start of the navigation to the load event, the layout done
    # (a copy of the page whose policy lets this one script run)
    timed = tmp_path / "timed.html"
    probe = (
        "<script>addEventListener('load', () => { document.body.offsetHeight; "
        "document.body.setAttribute('data-load-ms', performance.now().toFixed(1)); });</script></body>"
    )
    timed.write_text(page.read_text().replace(CSP, CSP.replace("script-src 'none'", "script-src 'unsafe-inline'"))
                     .replace("</body>", probe))  # fmt: skip
    dom, requested, _ = open_offline(timed, tmp_path, "--dump-dom")
    assert requested == [] and dom.count('<section class="image') == 20
    found = re.search(r'data-load-ms="([\d.]+)"', dom)
    assert found is not None, "the probe ran"
    assert float(found.group(1)) < 1000, f"the report of 20 images took {found.group(1)} ms to load"


def test_lint_findings_are_shown_per_image(dockerbuild: Builder, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM diamol/base AS unused\nFROM diamol/base\nRUN true\n")
    findings = lint_entries(dockerbuild, tmp_path / "Dockerfile")
    assert {"rule": "DB001", "line": 1} in [{"rule": f["rule"], "line": f["line"]} for f in findings]
    entry = {**failure_entry(BuildFailed(dockerfile=tmp_path / "Dockerfile", reason="r")), "lint": findings}
    assert "<td>DB001</td>" in render({"images": [entry]})


def test_a_failure_without_its_dockerfile_is_still_reported(tmp_path: Path) -> None:
    failure = BuildFailed(dockerfile=tmp_path / "gone" / "Dockerfile", reason="boom", stage="x", exit_code=2)
    entry = failure_entry(failure)
    assert (entry["kind"], entry["stages"], entry["failure"]["exit_code"]) == ("failed", [], 2)
    assert "exit code: 2" in render({"images": [entry]})


class Tags(HTMLParser):
    """Every start tag of a page with its attributes, and the text of each ``div.versus`` heading."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))

    def find(self, tag: str, kind: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags if name == tag and kind in attrs.get("class", "").split()]


def parsed_dom(page: Path, out: Path) -> tuple[str, Tags]:
    dom, requested, _ = open_offline(page, out, "--dump-dom")
    assert requested == []
    tags = Tags()
    tags.feed(dom)
    return dom, tags


def test_the_final_image_against_its_builder(split: tuple[BuildResult, BuildResult], tmp_path: Path) -> None:
    final, builder = split
    assert builders_of(final, [final, builder]) == [builder]
    assert builders_of(builder, [final, builder]) == [], "the builder is not a final image"
    pair = versus(final, builder)
    assert pair is not None
    theirs, mine = builder.image.files, final.image.files
    src = sum(theirs[p].size for p in ("/src/cache/objects.bin", "/src/cache/small.o", "/src/app"))
    assert pair["removed"]["paths"][:2] == [
        {"path": "/src", "count": 3, "size": src},  # the folder the final image lacks, as one row
        {"path": "/etc/builder.conf", "count": 1, "size": 1234},  # /etc is in both: the file itself
    ]
    opt = mine["/opt/app/app"].size + mine["/opt/app/readme.txt"].size
    assert pair["added"]["paths"] == [{"path": "/opt", "count": 2, "size": opt}]
    assert (pair["added"]["count"], pair["added"]["size"]) == (2, 200_007)
    assert pair["removed"]["size"] >= src + 1234 and pair["ratio"] == builder.image.size / final.image.size
    bounded = versus(final, builder, top=1)
    assert bounded is not None and bounded["removed"]["paths"] == pair["removed"]["paths"][:1]
    assert bounded["removed"]["groups"] == pair["removed"]["groups"] >= 2
    assert f"the biggest 1 of {bounded['removed']['groups']} groups" in render(
        {"images": [{**build_entry(final), "versus": [bounded]}]}
    )
    data = {"images": [{**build_entry(final), "versus": [pair]}, build_entry(builder)]}
    page = write_report(data, tmp_path / "report")
    assert json.loads(page.with_name("report.json").read_text())["images"][0]["versus"] == [pair]
    dom, tags = parsed_dom(page, tmp_path)
    rows = {(row["class"], row["data-path"]): (int(row["data-count"]), int(row["data-bytes"]))
            for row in tags.find("tr", "added") + tags.find("tr", "removed")}  # fmt: skip
    assert rows[("removed", "/src")] == (3, src) and rows[("removed", "/etc/builder.conf")] == (1, 1234)
    assert rows[("added", "/opt")] == (2, opt)
    assert not any(path.startswith("/src/") for _, path in rows), "inside a removed folder: counted in its row"
    [block] = tags.find("div", "versus")
    assert block["data-other"].endswith("--target builder")
    assert float(block["data-ratio"]) == pytest.approx(builder.image.size / final.image.size, abs=1e-6)
    heading = re.search(r'<div class="versus"[^>]*><h3>(.*?)</h3>', dom)
    assert heading is not None
    assert f"this image is {builder.image.size / final.image.size:.1f} times larger" not in heading.group(1)
    assert heading.group(1).endswith(f"this image is {builder.image.size / final.image.size:.1f} times smaller")


def test_the_size_baseline_trend(dockerbuild: Builder, split: tuple[BuildResult, BuildResult], tmp_path: Path) -> None:
    final, builder = split
    base = dockerbuild.image(BASE)
    path = tmp_path / "sizes.json"
    path.write_text(json.dumps({"app": {"size": builder.image.size, "layers": layer_count(builder.image)}}))
    for image in (builder.image, base):  # two earlier runs that updated it, from an old-format file
        run = SizeBaseline(path, update=True)
        run.check("app", image)
        run.save()
    this_run = SizeBaseline(path)  # the report is written before the run saves
    this_run.check("app", final.image)
    entry = build_entry(final)
    data = {"images": [entry, build_entry(builder)]}
    attach_baselines(data, this_run)
    sizes = [builder.image.size, base.size, final.image.size]
    [record] = entry["baseline"]
    budget = int(base.size * 1.05)
    assert (record["name"], record["size"], record["budget"]) == ("app", base.size, budget)
    assert [point["size"] for point in record["history"]] == sizes
    assert data["images"][1]["baseline"] == [], "its newest point is another image"
    page = write_report(data, tmp_path / "report")
    assert json.loads(page.with_name("report.json").read_text())["images"][0]["baseline"] == [record]
    _, tags = parsed_dom(page, tmp_path)
    [trend] = tags.find("div", "trend")
    assert (trend["data-name"], trend["data-points"]) == ("app", "3")
    assert [int(point["data-bytes"]) for point in tags.find("circle", "point")] == sizes
    [figures] = tags.find("span", "trend-figures")
    assert [int(figures[f"data-{k}"]) for k in ("first", "last", "min", "max")] == [
        sizes[0], sizes[-1], min(sizes), max(sizes)
    ]  # fmt: skip
    assert [int(line["data-bytes"]) for line in tags.find("line", "baseline")] == [base.size]
    assert [int(line["data-bytes"]) for line in tags.find("line", "budget")] == [budget]
    ys = [float(point["cy"]) for point in tags.find("circle", "point")]
    assert ys[0] < ys[1] and ys[0] < ys[2], "the biggest size is drawn highest"
    this_run.save()
    assert len(json.loads(path.read_text())["app"]["history"]) == 2, "a run without update writes nothing"


# -- the plugin's option ------------------------------------------------------------------------------
def test_the_option_writes_one_report_of_every_worker(inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # the inner pytest imports this checkout's package (not another installed copy)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(Path(__file__).parent.parent), os.environ.get("PYTHONPATH", "")])
    )
    marker = uuid.uuid4().hex  # new content: built through the engine, so the steps are known
    for name, command in (("one", "true"), ("two", "true"), ("broken", "exit 3")):
        inner.mkdir(name)
        (inner.path / name / "Dockerfile").write_text(
            f"FROM diamol/base AS prepare\nRUN echo {marker} > /m.txt\n"
            f"FROM diamol/base\nCOPY --from=prepare /m.txt /m.txt\nRUN head -c 4000000 /dev/zero > /pad && {command}\n"
        )
    inner.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("name", ["one", "two"])
        def test_build(dockerbuild, name):
            dockerbuild.build(name)

        def test_broken(dockerbuild):
            dockerbuild.expect_failure("broken", stage="1", exit_code=3)
        """
    )
    (inner.path / "one.cst.yaml").write_text(
        "schemaVersion: 2.0.0\nfileExistenceTests:\n  - name: padded\n    path: /pad\n"
        "  - name: no marker\n    path: /m.txt\n    shouldExist: false\n"
        "---\nx-dockerbuild:\n  build:\n    context: one\n"
    )
    result = inner.runpytest_subprocess("-n", "2", "-v", "--dockerbuild-report=out")
    result.assert_outcomes(passed=4, failed=1)
    page = inner.path / "out" / "report.html"
    result.stdout.fnmatch_lines([f"*- dockerbuild report: {page} -*", "*1 failed, 4 passed*"])
    data = json.loads((inner.path / "out" / "report.json").read_text())
    assert sorted((image["title"], image["kind"]) for image in data["images"]) == [
        ("broken/Dockerfile", "failed"), ("one/Dockerfile", "built"), ("two/Dockerfile", "built")
    ]  # fmt: skip
    one = next(image for image in data["images"] if image["title"] == "one/Dockerfile")
    assert [(layer["source"], layer["size"] > 0) for layer in one["layers"]][-2:] == [
        ("COPY --from=prepare", True), ("RUN", True)
    ]  # fmt: skip
    assert sorted((c["test"].rpartition("::")[2], c["outcome"]) for c in one["contracts"]) == [
        ("file-existence:no marker", "failed"), ("file-existence:padded", "passed")
    ]  # fmt: skip
    assert "<h3>Contracts: 1 of 2 passed</h3>" in page.read_text()
    assert page.read_text().count('<section class="image') == 3
    # -v: the size bars of each build under its row, the largest layer's the longest
    bars = [f"* {'#' * 15} *2.0 MB  IMPORT", f"* {'#' * 30} *4.0 MB  RUN head -c 4000000 /dev/zero > /pad && true"]
    result.stdout.fnmatch_lines(bars)


def test_the_ini_option_names_a_folder_under_the_rootdir(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    inner.makeini(f"{INI}dockerbuild_report = reports/builds\n")
    inner.mkdir("app")
    (inner.path / "app" / "Dockerfile").write_text(f"FROM diamol/base\nRUN echo {uuid.uuid4().hex} && exit 4\n")
    inner.makepyfile("def test_fails(dockerbuild):\n    dockerbuild.expect_failure('app', exit_code=4)\n")
    monkeypatch.chdir(inner.mkdir("elsewhere"))  # the folder is the rootdir's, not the current one's
    result = inner.runpytest("--rootdir", str(inner.path), str(inner.path), "-p", "no:cacheprovider", "-c",
                             str(inner.path / "tox.ini"), "--basetemp", str(inner.path / "tmp"))  # fmt: skip
    result.assert_outcomes(passed=1)
    page = inner.path / "reports" / "builds" / "report.html"
    lines = result.stdout.lines
    assert f"dockerbuild report: {page}" in lines[-2], "the line before pytest's last"
    data = json.loads(page.with_name("report.json").read_text())
    assert [(image["kind"], image["failure"]["exit_code"]) for image in data["images"]] == [("failed", 4)]


def test_the_option_compares_a_final_image_with_its_builder(inner: pytest.Pytester) -> None:
    inner.mkdir("app")
    (inner.path / "app" / "Dockerfile").write_text(SPLIT.lstrip())
    inner.makepyfile(
        """
        def test_both(dockerbuild):
            dockerbuild.build("app", target="builder")
            dockerbuild.build("app")
        """
    )
    result = inner.runpytest("-p", "no:cacheprovider", "--dockerbuild-report=out")
    result.assert_outcomes(passed=1)
    data = json.loads((inner.path / "out" / "report.json").read_text())
    final, builder = by_title(data, "app/Dockerfile"), by_title(data, "--target builder")
    assert builder["versus"] == []
    [pair] = final["versus"]
    assert pair["other"] == "app/Dockerfile --target builder" and pair["other_image_id"] == builder["image_id"]
    assert pair["removed"]["paths"][0]["path"] == "/src" and pair["removed"]["paths"][0]["count"] == 3
    assert pair["added"]["paths"] == [{"path": "/opt", "count": 2, "size": 200_007}]
    page = (inner.path / "out" / "report.html").read_text()
    assert '<tr class="removed" data-path="/src" data-count="3"' in page


def test_help_names_the_report_option(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--dockerbuild-report=DIR*", "*dockerbuild_report (string)*"])


def test_merge_shows_what_two_workers_saw_once_and_the_failures_first(tmp_path: Path) -> None:
    failure = failure_entry(BuildFailed(dockerfile=tmp_path / "Dockerfile", reason="r", stage="s", exit_code=1))
    other = failure_entry(BuildFailed(dockerfile=tmp_path / "Dockerfile", reason="r", stage="s", exit_code=2))
    built = {"kind": "built", "image_id": "sha256:1", "title": "app/Dockerfile"}
    merged = merge([{"images": [built, failure]}, {"images": [dict(built), dict(failure), other]}])
    assert [(image["kind"], (image.get("failure") or {}).get("exit_code")) for image in merged["images"]] == [
        ("failed", 1), ("failed", 2), ("built", None)
    ]  # fmt: skip


def test_step_bars_are_proportional_on_a_scale_of_at_least_a_second(report_data: dict[str, Any]) -> None:
    """Each step's bar is as wide as its seconds, on the scale of the chart's longest step, or
    of one second when every step was shorter; a FROM step is labelled as the base image."""
    demo = by_title(report_data, "multistage-demo/Dockerfile")
    for timings, scale in (([0.004, 0.25, 0.5], 1.0), ([0.004, 0.25, 3.0], 3.0)):
        image = json.loads(json.dumps(demo))
        steps = [step for stage in image["stages"] for step in stage["steps"]]
        steps[0]["cached"], steps[0]["seconds"] = None, timings[0]  # the FROM of the first stage
        for step, seconds in zip(steps[1:], [*timings[1:], *[0.0] * len(steps)], strict=False):
            step["cached"], step["seconds"] = False, seconds
        page = render({"images": [image]})
        bars = re.findall(r'<rect class="step (\w+)"[^>]* width="([\d.]+)"[^>]*data-seconds="([\d.]+)"', page)
        assert len(bars) == len(steps)
        for _state, width, seconds in bars:
            assert float(width) == pytest.approx(BAR_WIDTH * float(seconds) / scale, abs=0.001)
        assert bars[0][0] == "from" and f"{timings[0]:.2f} s base image</text>" in page
