"""The lock files (requirements.lock, requirements-test.lock, made by `make lock`
with uv), read back: what they pin for this interpreter, and whether what is
installed is exactly that.

    pip freeze --exclude-editable | python deploy/lockfile.py compare requirements-test.lock
    ... | python deploy/lockfile.py compare requirements.lock --environment JSON

prints every difference (a package missing, another version, one not in the lock)
and exits 1 when there is one. deploy/container-test.sh runs it on the image's
packages; tests/test_lock.py on the project's .venv.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import canonicalize_name

# The project itself, and the installer's own tools, which pip freeze leaves out.
NOT_LOCKED = frozenset({"feeds", "pip", "setuptools", "wheel"})
_PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


@dataclass(frozen=True)
class Pin:
    name: str  # canonical (PEP 503)
    version: str
    marker: str | None  # where it applies (a universal lock pins per platform)
    via: tuple[str, ...]  # what requires it, as uv annotates it
    hashes: int  # sha256 hashes of its files: pip installs only files that match one

    @property
    def direct(self) -> bool:
        """Required by pyproject.toml itself, not only by another package."""
        return "feeds (pyproject.toml)" in self.via

    def applies(self, environment: dict[str, str] | None = None) -> bool:
        """Whether it is installed here (or where `environment`, PEP 508's marker
        variables, describes)."""
        return self.marker is None or Marker(self.marker).evaluate(environment)


def read_lock(path: str | Path) -> list[Pin]:
    """Every `name==version [; marker]` entry, with its `# via` annotation."""
    pins: list[Pin] = []
    current: tuple[str, str, str | None] | None = None
    via: list[str] = []
    hashes = 0

    def close() -> None:
        if current is not None:
            pins.append(Pin(*current, tuple(via), hashes))

    for line in Path(path).read_text().splitlines():
        match = _PIN.match(line)
        if match:
            close()
            name, version, marker = match.groups()
            current, via, hashes = (canonicalize_name(name), version, marker), [], 0
        elif line.lstrip().startswith("--hash=sha256:"):
            hashes += 1
        elif line.startswith("    # via "):
            via.append(line.removeprefix("    # via ").strip())
        elif line.startswith("    #   "):
            via.append(line.removeprefix("    #   ").strip())
    close()
    return pins


def locked_here(path: str | Path, environment: dict[str, str] | None = None) -> dict[str, str]:
    """name -> version of every package the lock installs on this interpreter (or
    where `environment` describes)."""
    return {pin.name: pin.version for pin in read_lock(path) if pin.applies(environment)}


def differences(installed: Iterable[str], locked: dict[str, str]) -> list[str]:
    """What differs between `name==version` lines (pip freeze) and the lock."""
    have: dict[str, str] = {}
    for line in installed:
        name, separator, version = line.strip().partition("==")
        if separator and canonicalize_name(name) not in NOT_LOCKED:
            have[canonicalize_name(name)] = version
    found = []
    for name in sorted(locked.keys() | have.keys()):
        if name not in have:
            found.append(f"{name}: locked at {locked[name]}, not installed")
        elif name not in locked:
            found.append(f"{name}: {have[name]} installed, not in the lock")
        elif have[name] != locked[name]:
            found.append(f"{name}: {have[name]} installed, locked at {locked[name]}")
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["compare"])
    parser.add_argument("lock")
    parser.add_argument(
        "--environment", metavar="JSON", help="PEP 508 marker variables of the target Python"
    )
    arguments = parser.parse_args(argv)
    environment = json.loads(arguments.environment) if arguments.environment else None
    found = differences(sys.stdin, locked_here(arguments.lock, environment))
    for difference in found:
        print(difference)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
