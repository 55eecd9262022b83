"""``--dockerbuild-push REGISTRY``: push the images whose tests all passed, at the end of
the run, under the content key and the user tag (``dockerbuild_push_tag``).

Each test's reports mark the images it used (its builds and its arguments' builds)
passed or failed; a failed setup, call or teardown of any test that used an image keeps
it from the registry, and a failed build is never an image. Under pytest-xdist each
worker hands its marks to the controller, which decides over the whole run and pushes.
"""

from __future__ import annotations

import json
from typing import Any

import docker.errors
import pytest
import requests

from pytest_dockerbuild.build import BuildResult
from pytest_dockerbuild.engine.naming import project_id
from pytest_dockerbuild.engine.registry import Registry
from pytest_dockerbuild.errors import DockerbuildError
from pytest_dockerbuild.plugin.reporting import builds_of
from pytest_dockerbuild.plugin.session import ITEM, ItemRecord, Session

__all__ = ["hand_over", "note", "push_passed", "summary"]

#: image id -> {"passed": bool, "repository": ..., "stage": ..., "key": ...}
MARKS = pytest.StashKey[dict[str, dict[str, Any]]]()
#: what the run pushed (references with digests) and what it kept back, for the summary
PUSHED = pytest.StashKey[dict[str, list[str]]]()


def note(item: pytest.Item, report: pytest.TestReport) -> None:
    """Mark the images ``item`` used with the outcome of one of its phases."""
    session = Session.of(item.config)
    if session.options.push is None:
        return
    marks = item.config.stash.setdefault(MARKS, {})
    for build in builds_of(item, item.stash.get(ITEM, ItemRecord())):
        if not isinstance(build, BuildResult):
            continue
        stage = build.request.target or "final"
        mark = marks.setdefault(build.image.id, {"passed": True, "repository": project_id(build.request.context),
                                                 "stage": stage, "key": build.key})  # fmt: skip
        mark["passed"] = mark["passed"] and not report.failed


def hand_over(session: Session) -> None:
    """A pytest-xdist worker leaves its marks for the controller."""
    shared = session.shared_dir()
    if session.worker is None or shared is None or session.options.push is None:
        return
    shared.mkdir(parents=True, exist_ok=True)
    (shared / f"push-{session.worker}.json").write_text(json.dumps(session.config.stash.get(MARKS, {})))


def push_passed(session: Session) -> None:
    """In the last process of the run: push every image all of whose tests passed."""
    if session.worker is not None or session.options.push is None:
        return
    marks: dict[str, dict[str, Any]] = {}
    shared = session.shared_dir()
    handed = sorted(shared.glob("push-*.json")) if session.has_workers and shared is not None else []
    for part in [session.config.stash.get(MARKS, {}), *(json.loads(path.read_text()) for path in handed)]:
        for image_id, mark in part.items():
            merged = marks.setdefault(image_id, dict(mark))
            merged["passed"] = merged["passed"] and mark["passed"]
    done: dict[str, list[str]] = {"pushed": [], "kept": [], "errors": []}
    session.config.stash[PUSHED] = done
    if not marks:
        return
    try:
        registry = Registry(session.engine().client, session.options.push)
    except DockerbuildError as error:
        done["errors"].append(str(error))
        return
    for image_id, mark in marks.items():
        stage = mark["stage"]
        if not mark["passed"]:
            done["kept"].append(f"{mark['repository']} ({stage}): a test that used it failed")
            continue
        tags = [f"{stage}-k{mark['key'][:16]}", f"{stage}-{session.options.push_tag}"]
        try:
            done["pushed"] += registry.push(image_id, mark["repository"], tags)
        except (DockerbuildError, docker.errors.DockerException, requests.RequestException) as error:
            done["errors"].append(str(error))


def summary(reporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """What the run pushed to the registry, what it kept back and why."""
    done = config.stash.get(PUSHED, None)
    if done is None or not any(done.values()):
        return
    registry = Session.of(config).options.push
    reporter.write_sep("=", f"dockerbuild: {len(done['pushed'])} references pushed to {registry}")
    for line in done["pushed"]:
        reporter.write_line(f"pushed {line}")
    for line in done["kept"]:
        reporter.write_line(f"not pushed: {line}")
    for line in done["errors"]:
        reporter.write_line(f"push failed: {line}", red=True)
