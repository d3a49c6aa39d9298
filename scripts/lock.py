#!/usr/bin/env python3
"""Refresh ``docker/constraints.txt``: every package the image installs, pinned to one version.

    .venv/bin/python scripts/lock.py

The Dockerfile installs with ``--constraint docker/constraints.txt``, so two builds of one commit
install the same versions. This script resolves, with pip's own resolver and wheels only, the
project's core dependencies (``[project].dependencies``), the extras an image may be built with
(``IMAGE_EXTRAS``: ``docker build --build-arg EXTRAS=redis,uvloop``) and its build backend
(``[build-system].requires``, installed in the build stage), once for each Python the image may
run on: 3.11 (Debian bookworm's), 3.12 (the Dockerfile's base) and 3.13. A package that resolves
to different versions on different Pythons gets one line per version with a ``python_version``
marker. The header records the ranges it resolved, so a test notices when pyproject.toml changes
and the file was not refreshed. Needs the package index (PyPI); takes about a minute.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

__all__ = [
    "CONSTRAINTS",
    "IMAGE_EXTRAS",
    "PYTHONS",
    "for_python",
    "inputs",
    "main",
    "parse_header",
    "render",
    "resolve",
]

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "docker" / "constraints.txt"
PYTHONS = ("3.11", "3.12", "3.13")
#: The extras the Dockerfile's ``ARG EXTRAS`` may name (``[project.optional-dependencies]``), pinned with the core.
IMAGE_EXTRAS = ("redis", "uvloop")
INPUT_PREFIX = "# input: "
PYTHONS_PREFIX = "# pythons: "


def inputs(pyproject: Mapping[str, object]) -> list[str]:
    """The requirements the lock answers: the core dependencies, the image's extras', then the build backend's."""
    project = pyproject["project"]
    build = pyproject["build-system"]
    assert isinstance(project, dict)
    assert isinstance(build, dict)
    extras = [requirement for extra in IMAGE_EXTRAS for requirement in project["optional-dependencies"][extra]]
    return [*project["dependencies"], *extras, *build["requires"]]


def for_python(requirements: Sequence[str], python: str) -> list[str]:
    """``requirements`` that apply on ``python``, markers dropped.

    pip evaluates a requirement's markers against the interpreter it runs on, not ``--python-version``,
    so the markers of the top-level requirements are evaluated here for the target Python.
    """
    environment = {"python_version": python, "python_full_version": f"{python}.0"}
    kept = []
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate(environment):
            requirement.marker = None
            kept.append(str(requirement))
    return kept


def resolve(requirements: Sequence[str], python: str) -> dict[str, str]:
    """``{name: version}`` that pip installs for ``requirements`` on ``python`` (wheels only).

    pip evaluates the markers of dependencies against the interpreter it runs on too: a dependency that
    only ``python`` needs (redis's ``async-timeout; python_full_version < "3.11.3"`` when this runs on
    3.11.7) is added as a requirement and the whole set resolved again.
    """
    requirements = for_python(requirements, python)
    while True:
        installed = _pip_report(requirements, python)
        missing = _left_out(installed, python)
        if not missing:
            return {canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"] for item in installed}
        requirements = [*requirements, *missing]


def _pip_report(requirements: Sequence[str], python: str) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as work:
        report = Path(work) / "report.json"
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--dry-run",
            "--ignore-installed",
            "--only-binary=:all:",
            f"--python-version={python}",
            f"--target={Path(work) / 'target'}",  # pip wants one with --python-version; --dry-run writes nothing
            f"--report={report}",
            *requirements,
        ]
        subprocess.run(command, check=True)
        installed: list[dict[str, Any]] = json.loads(report.read_text())["install"]
    return installed


def _left_out(installed: Sequence[Mapping[str, Any]], python: str) -> list[str]:
    """Dependencies of ``installed`` whose markers hold on ``python`` (``X.Y.0``) but that pip left out."""
    environment = {"python_version": python, "python_full_version": f"{python}.0", "extra": ""}
    names = {canonicalize_name(item["metadata"]["name"]) for item in installed}
    missing = []
    for item in installed:
        for text in item["metadata"].get("requires_dist", []):
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) in names or requirement.marker is None:
                continue
            if requirement.marker.evaluate(environment):
                requirement.marker = None
                missing.append(str(requirement))
    return missing


def render(requirements: Sequence[str], resolved: Mapping[str, Mapping[str, str]]) -> str:
    """The constraints file for ``resolved`` (``{python: {name: version}}``), sorted by name."""
    pythons = list(resolved)
    lines = [
        "# The image's dependencies, pinned: the Dockerfile installs with --constraint this file.",
        "# Generated by scripts/lock.py from pyproject.toml; refresh it with: .venv/bin/python scripts/lock.py",
        *(f"{INPUT_PREFIX}{requirement}" for requirement in requirements),
        f"{PYTHONS_PREFIX}{' '.join(pythons)}",
    ]
    names = sorted({name for versions in resolved.values() for name in versions})
    for name in names:
        by_version: dict[str, list[str]] = {}
        for python in pythons:
            if name in resolved[python]:
                by_version.setdefault(resolved[python][name], []).append(python)
        if len(by_version) == 1:
            lines.append(f"{name}=={next(iter(by_version))}")
            continue
        for version, on in by_version.items():
            marker = " or ".join(f'python_version == "{python}"' for python in on)
            lines.append(f"{name}=={version} ; {marker}")
    return "\n".join(lines) + "\n"


def parse_header(text: str) -> tuple[list[str], list[str]]:
    """The requirements and the Pythons a constraints file was resolved for, from its header."""
    requirements = [line.removeprefix(INPUT_PREFIX) for line in text.splitlines() if line.startswith(INPUT_PREFIX)]
    pythons = [
        line.removeprefix(PYTHONS_PREFIX).split() for line in text.splitlines() if line.startswith(PYTHONS_PREFIX)
    ]
    return requirements, pythons[0] if pythons else []


def main(argv: Iterable[str]) -> int:
    if list(argv):
        print(__doc__, file=sys.stderr)
        return 2
    requirements = inputs(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8")))
    resolved = {python: resolve(requirements, python) for python in PYTHONS}
    CONSTRAINTS.parent.mkdir(exist_ok=True)
    CONSTRAINTS.write_text(render(requirements, resolved), encoding="utf-8")
    pins = sum(1 for line in CONSTRAINTS.read_text().splitlines() if line and not line.startswith("#"))
    print(f"wrote {CONSTRAINTS.relative_to(ROOT)}: {pins} pins for Python {', '.join(PYTHONS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
