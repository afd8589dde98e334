"""The lock files: made from pyproject.toml as it is now, with hashes, the service's
agreeing with the test extra's, and the .venv holding exactly what they pin."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "deploy"))
from lockfile import differences, locked_here, read_lock  # noqa: E402

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
SERVICE = [Requirement(r) for r in PYPROJECT["dependencies"]]
TEST = SERVICE + [Requirement(r) for r in PYPROJECT["optional-dependencies"]["test"]]
STALE = (
    "{lock} no longer matches pyproject.toml ({why}): run `make lock` and commit both lock files"
)


@pytest.mark.parametrize(
    ("lock", "requirements"), [("requirements.lock", SERVICE), ("requirements-test.lock", TEST)]
)
def test_lock_matches_pyproject(lock, requirements):
    pins = read_lock(REPO / lock)
    assert pins, f"{lock} pins nothing"
    wanted = {canonicalize_name(r.name): r for r in requirements}
    direct = {pin.name for pin in pins if pin.direct}
    missing, extra = sorted(wanted.keys() - direct), sorted(direct - wanted.keys())
    assert not missing, STALE.format(lock=lock, why=f"not locked: {', '.join(missing)}")
    assert not extra, STALE.format(lock=lock, why=f"no longer required: {', '.join(extra)}")
    for pin in pins:
        specifier = wanted[pin.name].specifier if pin.name in wanted else None
        if specifier is not None and not specifier.contains(pin.version, prereleases=True):
            why = f"{pin.name} {pin.version} is outside {specifier}"
            pytest.fail(STALE.format(lock=lock, why=why))
    unhashed = [pin.name for pin in pins if not pin.hashes]
    assert not unhashed, STALE.format(lock=lock, why=f"no hashes for {', '.join(unhashed)}")


def test_service_lock_pins_what_the_tests_ran_with():
    # Same versions; a marker may be narrower in the service's (fewer packages need it).
    tested = {(pin.name, pin.version) for pin in read_lock(REPO / "requirements-test.lock")}
    untested = [
        f"{pin.name}=={pin.version}"
        for pin in read_lock(REPO / "requirements.lock")
        if (pin.name, pin.version) not in tested
    ]
    assert not untested, (
        f"requirements.lock differs from requirements-test.lock: {untested}; run `make lock`"
    )


def test_the_venv_holds_exactly_the_locked_versions():
    if Path(sys.prefix).resolve() != (REPO / ".venv").resolve():
        pytest.skip("not running in the project's .venv (made by make)")
    freeze = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    found = differences(freeze.stdout.splitlines(), locked_here(REPO / "requirements-test.lock"))
    assert not found, f"the .venv is not what requirements-test.lock pins: {found}"
