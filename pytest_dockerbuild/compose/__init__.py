"""Compose files: the stack an app repository already describes, brought up with the
plugin's builds, labels, ports and readiness (:class:`Stack`), by the real Docker Compose v2."""

from pytest_dockerbuild.compose.cli import ComposeCli, compose_command
from pytest_dockerbuild.compose.stack import Stack, Stacks

__all__ = ["ComposeCli", "Stack", "Stacks", "compose_command"]
