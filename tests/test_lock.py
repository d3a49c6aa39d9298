"""docker/constraints.txt, the image's pinned dependencies, stays complete and in sync with pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from types import ModuleType

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.helpers import ROOT, dependency_closure, load_script

CONSTRAINTS = ROOT / "docker" / "constraints.txt"
PIN = re.compile(r"^(?P<name>[a-z0-9][a-z0-9-]*)==(?P<version>[^\s;]+)(?:\s*;\s*(?P<marker>.+))?$")


def lock_script() -> ModuleType:
    return load_script("lock")


def pyproject_inputs() -> list[str]:
    inputs: list[str] = lock_script().inputs(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8")))
    return inputs


def pins_for(python: str) -> dict[str, Version]:
    """``{name: version}`` the constraints apply on ``python`` (markers evaluated); a name pinned twice fails."""
    environment = {"python_version": python, "python_full_version": f"{python}.0"}
    pins: dict[str, Version] = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"not a pin: {line!r}"
        if match["marker"] and not Marker(match["marker"]).evaluate(environment):
            continue
        name = match["name"]
        assert name == canonicalize_name(name), line
        assert name not in pins, f"{name} is pinned twice for Python {python}"
        pins[name] = Version(match["version"])
    return pins


def pythons() -> list[str]:
    _inputs, recorded = lock_script().parse_header(CONSTRAINTS.read_text(encoding="utf-8"))
    return list(recorded)


def test_the_lock_was_made_from_the_current_pyproject_ranges() -> None:
    """Change a dependency range in pyproject.toml and this fails until scripts/lock.py is run again."""
    recorded, on = lock_script().parse_header(CONSTRAINTS.read_text(encoding="utf-8"))
    assert recorded == pyproject_inputs(), "docker/constraints.txt is stale: run .venv/bin/python scripts/lock.py"
    # Debian bookworm's Python (what the image check builds on) and the Dockerfile's base.
    base = re.search(r"^FROM python:(3\.\d+)\.", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert base is not None
    assert {"3.11", base[1]} <= set(on)


@pytest.mark.parametrize("python", ["3.11", "3.12", "3.13"])
def test_every_core_dependency_and_the_build_backend_are_pinned_within_their_ranges(python: str) -> None:
    assert python in pythons()
    pins = pins_for(python)
    environment = {"python_version": python, "python_full_version": f"{python}.0"}
    for text in pyproject_inputs():
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue  # e.g. audioop-lts, only on Python 3.13 and later
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not pinned for Python {python}"
        assert requirement.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} is outside {text}"


@pytest.mark.parametrize("python", ["3.11", "3.12", "3.13"])
def test_the_runtime_dependencies_are_pinned_all_the_way_down(python: str) -> None:
    """Walks the dependency tree of the core dependencies and of the extras an image may be built with (as
    installed here): every package in it is pinned.

    A package the lock missed would be installed unpinned by the image build, at whatever version is newest.
    """
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    environment = {"python_version": python, "python_full_version": f"{python}.0"}
    extras = [text for extra in lock_script().IMAGE_EXTRAS for text in project["optional-dependencies"][extra]]
    tree = dependency_closure([*project["dependencies"], *extras], environment)
    assert {"aiohttp", "yarl", "multidict", "pydantic", "pydantic-core", "faker", "redis"} <= tree
    # redis-py needs async-timeout before 3.11.3 (Debian bookworm's Python is 3.11.2).
    assert ("async-timeout" in tree) == (python == "3.11")
    assert tree - set(pins_for(python)) == set(), f"not pinned for Python {python}"


def test_lock_renders_one_line_per_version_with_markers_where_pythons_differ() -> None:
    text = lock_script().render(
        ["aiohttp>=3.10,<4"],
        {"3.11": {"aiohttp": "3.9.0", "idna": "3.7"}, "3.12": {"aiohttp": "3.9.1", "idna": "3.7"}},
    )
    assert text.splitlines()[2:] == [
        "# input: aiohttp>=3.10,<4",
        "# pythons: 3.11 3.12",
        'aiohttp==3.9.0 ; python_version == "3.11"',
        'aiohttp==3.9.1 ; python_version == "3.12"',
        "idna==3.7",
    ]
    assert lock_script().parse_header(text) == (["aiohttp>=3.10,<4"], ["3.11", "3.12"])
