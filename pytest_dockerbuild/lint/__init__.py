"""Static checks of Dockerfiles, on the parsed model (:mod:`pytest_dockerbuild.dockerfile`), no engine.

- :mod:`~pytest_dockerbuild.lint.checks`: the registry (:data:`RULES`, each :class:`Rule` with
  its check), the runner (:func:`check_dockerfile`), its :class:`Finding`, and the severities
  (:data:`SEVERITIES`, :func:`fails`);
- :mod:`~pytest_dockerbuild.lint.context`: what every check sees (the Dockerfile, the
  base-image map, the build targets, the pragmas) and the helpers checks share;
- the checks by theme: :mod:`~pytest_dockerbuild.lint.images` (DL3006, DL3007, DB002, DB006),
  :mod:`~pytest_dockerbuild.lint.stages` (DL3022, DL3023, DL3024, DB001),
  :mod:`~pytest_dockerbuild.lint.commands` (DL3025, DB003, DB004),
  :mod:`~pytest_dockerbuild.lint.secret_names` (DB005).
"""

from pytest_dockerbuild.lint.checks import RULES, SEVERITIES, Finding, Rule, check_dockerfile, fails

__all__ = ["RULES", "SEVERITIES", "Finding", "Rule", "check_dockerfile", "fails"]
