"""The pytest plugin (entry point ``dockerbuild``): its hooks, each of which passes
the call on to the :class:`~pytest_dockerbuild.plugin.session.Session` of the
process or to the module that owns the concern: options, fixtures, report
sections and summary, and the items of Dockerfile checks and image contracts.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

from pytest_dockerbuild.plugin import prebuilding, publishing, reporting
from pytest_dockerbuild.plugin.contract_items import ContractFile
from pytest_dockerbuild.plugin.fixtures import (
    dockerbuild,
    dockerbuild_compose,
    dockerbuild_engine,
    dockerbuild_module_compose,
    dockerbuild_module_network,
    dockerbuild_network,
    dockerbuild_runtime,
    dockerbuild_session_compose,
    dockerbuild_session_network,
)
from pytest_dockerbuild.plugin.options import add_options
from pytest_dockerbuild.plugin.session import Session, prune_command

# pytest finds fixtures on the plugin module: these names are the plugin's fixtures.
__all__ = [
    "dockerbuild",
    "dockerbuild_compose",
    "dockerbuild_engine",
    "dockerbuild_module_compose",
    "dockerbuild_module_network",
    "dockerbuild_network",
    "dockerbuild_runtime",
    "dockerbuild_session_compose",
    "dockerbuild_session_network",
]

#: the Dockerfiles of --dockerbuild-lint are collected by the hooks of this module
pytest_plugins = ["pytest_dockerbuild.plugin.lint_items"]


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dockerbuild_lint: a Dockerfile collected for the static checks")
    config.addinivalue_line("markers", prebuilding.MARKER)
    Session.start(config)
    config.pluginmanager.register(reporting.ContractOutcomes(config), "dockerbuild-contract-outcomes")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: object) -> None:
    Session.of(node.config).configure_node(node)  # type: ignore[attr-defined]


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    return prune_command(config)


def pytest_report_header(config: pytest.Config) -> str:
    return reporting.header(Session.of(config))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """An image contract file (Dockerfiles for ``--dockerbuild-lint``: :mod:`.lint_items`)."""
    options = Session.of(parent.config).options
    if ContractFile.matches(file_path, options.contracts, parent.config.rootpath):
        return ContractFile.from_parent(parent, path=file_path)
    return None


def pytest_collection_finish(session: pytest.Session) -> None:
    prebuilding.start(session)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    with Session.of(item.config).running(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    reporting.annotate(item, call, report)
    publishing.note(item, report)
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    reporting.summary(terminalreporter, reporting.gathered_rows(Session.of(config)), config.option.verbose)
    publishing.summary(terminalreporter, config)
    prebuilding.summary(terminalreporter, config)
    reporting.report_line(terminalreporter)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if Session.KEY in session.config.stash:
        state = Session.of(session.config)
        reporting.hand_over_rows(state)
        reporting.build_report(state)
        publishing.hand_over(state)
        if not publishing.push_passed(state) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a tested image that did not reach its registry
        state.finish(interrupted=session.exitstatus == pytest.ExitCode.INTERRUPTED)
