"""Static checks of Dockerfiles."""

from pytest_dockerbuild.lint.checks import RULES, Finding, Rule, check_dockerfile

__all__ = ["RULES", "Finding", "Rule", "check_dockerfile"]
