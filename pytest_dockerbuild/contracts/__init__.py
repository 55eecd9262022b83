"""Image contracts: container-structure-test ``schemaVersion: 2.0.0`` files checked against images.

The modules, each importing only those above it:

- :mod:`~pytest_dockerbuild.contracts.gocompat`: Go's RE2 patterns, ``os.Expand`` and
  ``os.FileMode`` strings, as CST uses them (knows nothing of contracts);
- :mod:`~pytest_dockerbuild.contracts.model`: the contract as frozen dataclasses;
- :mod:`~pytest_dockerbuild.contracts.strict_yaml`: YAML decoded by yaml.v2's
  ``UnmarshalStrict`` rules, every problem with its line;
- :mod:`~pytest_dockerbuild.contracts.schema`: the keys of a contract file and
  :func:`load_contract`, which reads one into the model;
- :mod:`~pytest_dockerbuild.contracts.checks`: the checks of each test kind, on an image's
  layers or on a command's result;
- :mod:`~pytest_dockerbuild.contracts.runner`: command tests run in containers.

Collecting contract files as pytest items is :mod:`pytest_dockerbuild.plugin.contract_items`.

Semantics are CST 1.19's (docker driver), checked against the binary by the
plugin's tests: strict YAML (an unknown or duplicate key anywhere fails the
file); patterns are Go RE2 searches anywhere in the text (translated, so ``$``
without ``(?m)`` means the very end of the text, and lookarounds and
backreferences are invalid, as in Go); an invalid pattern fails its test;
``$VAR`` in ``command``, ``args`` and a file-existence ``path`` is expanded like
Go's ``os.Expand`` (no escape: ``$$`` is the empty variable ``$``) against the
image's environment with ``globalEnvVars``; ``exitCode`` defaults to 0 and is
always checked; the image's entrypoint is replaced by nothing; ``setup``
commands' exit codes are ignored; ``teardown`` is ignored, as by CST's docker
driver; a metadata test does not see ``globalEnvVars``; for a file-existence test the
mount point of each ``VOLUME`` of the image and its missing parent folders exist, as folders
of mode ``drwxr-xr-x`` owned by root, since the engine makes them in every container (a
volume over a folder of the image keeps that folder's mode and owner; nothing is inside a
new volume).

File, license and metadata tests read the image's exported layers
(:class:`~pytest_dockerbuild.Image`), so they run no container and work on an
image without a shell.  Command tests run in containers labelled with the run:
one long-lived container per contract (``sh`` reading an open stdin, the
commands run with ``docker exec``) that is replaced after any command that
changes its filesystem or its volumes or leaves a process behind, so every
command still starts from the image's state; a test with ``setup`` gets a
container of its own; an image without ``sh`` gets a new container per
command, as in CST.

Deliberate differences from CST 1.19, each pinned by a test
(``tests/data/contracts/differences*.yaml``): a test's ``envVars`` really reach
the command (CST issue #484): ``$VAR`` in its ``command`` and ``args`` sees
them, their values are expanded like those of ``globalEnvVars`` (CST passes
``PATH=/x:$PATH`` as written unless the test has ``setup``), and
``containerRunOptions`` env does not drop them; ``containerRunOptions``
``capabilities`` and ``allocateTty`` work (CST 1.19 ignores the first and cannot
read the output of the second); a file-content test follows a relative symlink
(CST looks its target up from ``/``); a FIFO or device node exists for a
file-existence test (CST says it does not); the command does not run as PID 1;
a command that runs longer than ``x-dockerbuild.timeout`` (300 s) fails.
"""

from pytest_dockerbuild.contracts.checks import (
    CommandResult,
    check_command,
    check_file_content,
    check_file_existence,
    check_license,
    check_metadata,
)
from pytest_dockerbuild.contracts.gocompat import go_expand, go_file_mode, go_regex
from pytest_dockerbuild.contracts.model import (
    CommandTest,
    Contract,
    Extension,
    FileContentTest,
    FileExistenceTest,
    LicenseTest,
    MetadataTest,
)
from pytest_dockerbuild.contracts.runner import CommandRunner
from pytest_dockerbuild.contracts.schema import default_name, load_contract

__all__ = [
    "CommandResult",
    "CommandRunner",
    "CommandTest",
    "Contract",
    "Extension",
    "FileContentTest",
    "FileExistenceTest",
    "LicenseTest",
    "MetadataTest",
    "check_command",
    "check_file_content",
    "check_file_existence",
    "check_license",
    "check_metadata",
    "default_name",
    "go_expand",
    "go_file_mode",
    "go_regex",
    "load_contract",
]
