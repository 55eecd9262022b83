"""Pushes at the end of the run, of images whose tests all passed: every built image with
``--dockerbuild-push REGISTRY`` (under the content key and the user tag,
``dockerbuild_push_tag``), and the images one ``build(push=...)`` asked for (as the reference
it names, or, for ``push=True``, as ``--dockerbuild-push`` names images).

Each test's reports mark the images it used (its builds and its arguments' builds)
passed or failed; a failed setup, call or teardown of any test that used an image keeps
it from the registry, and a failed build is never an image. Under pytest-xdist each
worker hands its marks and its builds' push requests to the controller, which decides
over the whole run and pushes each image from the engine that holds it (the worker's, with
``--dockerbuild-engines``). A push that fails fails the run.
"""

from __future__ import annotations

import json
from typing import Any

import docker.errors
import pytest
import requests

from pytest_dockerbuild.build import BuildResult
from pytest_dockerbuild.engine.client import Engine, endpoint
from pytest_dockerbuild.engine.naming import project_id
from pytest_dockerbuild.engine.pool import docker_host, same_engine
from pytest_dockerbuild.engine.registry import Reference, Registry
from pytest_dockerbuild.errors import DockerbuildError
from pytest_dockerbuild.plugin.reporting import builds_of
from pytest_dockerbuild.plugin.session import ITEM, ItemRecord, Session

__all__ = ["hand_over", "note", "push_passed", "summary"]

#: image id -> {"passed": bool, "repository": ..., "stage": ..., "key": ..., "engine": URL}
MARKS = pytest.StashKey[dict[str, dict[str, Any]]]()
#: what the run pushed (references with digests) and what it kept back, for the summary
PUSHED = pytest.StashKey[dict[str, list[str]]]()
Marks = dict[str, dict[str, Any]]
Requests = dict[str, list[str]]  #: image id -> what ``build(push=...)`` asked for


def note(item: pytest.Item, report: pytest.TestReport) -> None:
    """Mark the images ``item`` used with the outcome of one of its phases (whether or not a push
    is asked for yet: a later ``build(push=...)`` of the same image needs the earlier tests' marks)."""
    marks = item.config.stash.setdefault(MARKS, {})
    for build in builds_of(item, item.stash.get(ITEM, ItemRecord())):
        if not isinstance(build, BuildResult):
            continue
        stage = build.request.target or "final"
        mark = marks.setdefault(build.image.id, {"passed": True, "repository": project_id(build.request.context),
                                                 "stage": stage, "key": build.key, "engine": endpoint()})  # fmt: skip
        mark["passed"] = mark["passed"] and not report.failed


def _requests(session: Session) -> Requests:
    builder = session.built
    return {image: list(asked) for image, asked in builder.push_requests.items()} if builder is not None else {}


def hand_over(session: Session) -> None:
    """A pytest-xdist worker leaves its marks and push requests for the controller (its marks even
    without requests: another worker's build may ask for an image a test of this one failed with)."""
    shared = session.shared_dir()
    handed = {"marks": session.config.stash.get(MARKS, {}), "requests": _requests(session)}
    if session.worker is None or shared is None or not any(handed.values()):
        return
    shared.mkdir(parents=True, exist_ok=True)
    (shared / f"push-{session.worker}.json").write_text(json.dumps(handed))


def _gathered(session: Session) -> tuple[Marks, Requests]:
    """The marks and push requests of this process and, in a controller, of its workers."""
    marks: Marks = {}
    asked: Requests = {}
    shared = session.shared_dir()
    handed = sorted(shared.glob("push-*.json")) if session.has_workers and shared is not None else []
    own = {"marks": session.config.stash.get(MARKS, {}), "requests": _requests(session)}
    for part in [own, *(json.loads(path.read_text()) for path in handed)]:
        for image_id, mark in part["marks"].items():
            merged = marks.setdefault(image_id, dict(mark))
            merged["passed"] = merged["passed"] and mark["passed"]
        for image_id, references in part["requests"].items():
            asked.setdefault(image_id, [])
            asked[image_id] += [reference for reference in references if reference not in asked[image_id]]
    return marks, asked


def push_passed(session: Session) -> bool:
    """In the last process of the run: push every image all of whose tests passed, where the run
    (``--dockerbuild-push``) or a build (``push=``) asks for it; -> False if a push failed."""
    if session.worker is not None:
        return True
    marks, asked = _gathered(session)
    if session.options.push is None and not asked:
        return True
    done: dict[str, list[str]] = {"pushed": [], "kept": [], "errors": []}
    session.config.stash[PUSHED] = done
    for image_id in asked.keys() - marks.keys():
        done["kept"].append(f"{image_id[:19]} as {', '.join(asked[image_id])}: no test used it")
    for image_id, mark in marks.items():
        targets = _targets(session, mark, asked.get(image_id, []))
        what = f"{mark['repository']} ({mark['stage']})"
        if targets and not mark["passed"]:
            named = ", ".join(reference for reference in asked.get(image_id, []) if Reference.parse(reference).tag)
            done["kept"].append(f"{what}{f' as {named}' if named else ''}: a test that used it failed")
        elif targets:
            _push(session, image_id, targets, what, done, mark.get("engine"))
    return not done["errors"]


def _push(
    session: Session, image_id: str, targets: dict[str, list[str]], what: str, done: dict[str, list[str]],
    engine: str | None,
) -> None:  # fmt: skip
    """Push one image from ``engine`` (the one that built or used it) to its targets; a failure is a
    line of the summary, naming the image and registry."""
    elsewhere = engine is not None and not same_engine(engine, endpoint())
    failures = (DockerbuildError, docker.errors.DockerException, requests.RequestException)
    try:
        if elsewhere:
            with docker_host(str(engine)):
                client = Engine.connect()
        else:
            client = session.engine().client
    except failures as error:
        done["errors"].append(f"{what}: {error}")
        return
    for remote, tags in targets.items():
        host, _, repository = remote.partition("/")
        try:
            done["pushed"] += Registry(client, host).push(image_id, repository, tags)
        except failures as error:
            done["errors"].append(f"{what}: {error}")
    if elsewhere:
        client.close()


def _targets(session: Session, mark: dict[str, Any], asked: list[str]) -> dict[str, list[str]]:
    """Where one image goes: remote repository -> tags. ``--dockerbuild-push`` and ``push=True``
    name it ``<project>:<stage>-k<content key>`` and ``<project>:<stage>-<push tag>``; a reference
    ``push=`` names is pushed as it is."""
    run_tags = [f"{mark['stage']}-k{mark['key'][:16]}", f"{mark['stage']}-{session.options.push_tag}"]
    targets: dict[str, list[str]] = {}
    if session.options.push is not None:
        targets[f"{session.options.push}/{mark['repository']}"] = list(run_tags)
    for reference in asked:
        parts = Reference.parse(reference)
        tags = targets.setdefault(parts.repository, [])
        tags += [tag for tag in ([parts.tag] if parts.tag else run_tags) if tag not in tags]
    return targets


def summary(reporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """What the run pushed to registries, what it kept back and why."""
    done = config.stash.get(PUSHED, None)
    if done is None or not any(done.values()):
        return
    registry = Session.of(config).options.push
    everywhere = registry is not None and all(line.startswith(f"{registry}/") for line in done["pushed"])
    reporter.write_sep(
        "=", f"dockerbuild: {len(done['pushed'])} references pushed" + (f" to {registry}" if everywhere else "")
    )
    for line in done["pushed"]:
        reporter.write_line(f"pushed {line}")
    for line in done["kept"]:
        reporter.write_line(f"not pushed: {line}")
    for line in done["errors"]:
        reporter.write_line(f"push failed: {line}", red=True)
