"""What a user installs: the licence, and the `demo` extra (what the demo needs and no more)."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import ROOT, dependency_closure

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_license_is_the_full_mit_text_with_a_copyright_line() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "MIT License"
    assert "Copyright (c) 2026 openai-realtime-mock developers" in lines
    for passage in (
        "Permission is hereby granted, free of charge, to any person obtaining a copy",
        "The above copyright notice and this permission notice shall be included in all",
        'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR',
    ):
        assert passage in text
    assert PYPROJECT["project"]["license"] == "MIT"


def test_the_installed_distribution_carries_the_license() -> None:
    files = importlib.metadata.files("openai-realtime-mock") or []
    licenses = [f for f in files if f.name == "LICENSE"]
    assert licenses, "LICENSE is not in the installed distribution"
    assert "Permission is hereby granted" in licenses[0].read_text()


def _third_party_imports(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return {name for name in names if name not in sys.stdlib_module_names and name != "__future__"}


def test_demo_extra_is_what_the_demo_imports_and_no_more() -> None:
    demo = PYPROJECT["project"]["optional-dependencies"]["demo"]
    imported = _third_party_imports("examples/demo_backend.py")
    assert imported == {"openai", "aiohttp", "yarl"}
    distributions = importlib.metadata.packages_distributions()
    needed = {canonicalize_name(distributions[name][0]) for name in imported}
    core = dependency_closure(PYPROJECT["project"]["dependencies"], {})
    extra = {canonicalize_name(Requirement(text).name) for text in demo}
    # Everything the demo imports comes with the mock or the extra; the extra holds only what the mock lacks.
    assert needed <= core | extra
    assert extra == needed - core == {"openai"}
    # The page is one self-contained file (tests/test_examples.py checks it loads nothing from elsewhere).
    assert sorted(path.name for path in (ROOT / "examples" / "static").iterdir()) == ["index.html"]


#: The package's modules that belong to an extra (imported only when it is installed), and that extra.
_EXTRA_MODULES = {
    "mockserver/pytest_plugin.py": "pytest",
    "mockserver/store/redis.py": "redis",
    "mockserver/store/redis_scripts.py": "redis",
    "mockserver/realtime/ice.py": "webrtc",
    "mockserver/realtime/media.py": "webrtc",
    "mockserver/realtime/peer.py": "webrtc",
    "mockserver/loops.py": "uvloop",
}


def _declared(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(text).name) for text in requirements}


def test_every_distribution_the_package_imports_is_declared_where_it_is_imported() -> None:
    # Declared directly, not merely present because something else depends on it: a module imported by the
    # core install comes with the core dependencies, one of an extra's modules with the core's or that extra's.
    distributions = importlib.metadata.packages_distributions()
    core = _declared(PYPROJECT["project"]["dependencies"])
    extras = PYPROJECT["project"]["optional-dependencies"]
    undeclared = {}
    for path in sorted((ROOT / "mockserver").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        allowed = core | (_declared(extras[_EXTRA_MODULES[relative]]) if relative in _EXTRA_MODULES else set())
        needed = {canonicalize_name(distributions[name][0]) for name in _third_party_imports(relative)}
        if needed - allowed:
            undeclared[relative] = sorted(needed - allowed)
    assert undeclared == {}
    # The extras' modules are where the map says (a moved module would otherwise be checked against the core).
    assert all((ROOT / relative).is_file() for relative in _EXTRA_MODULES)
