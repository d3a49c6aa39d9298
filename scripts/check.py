#!/usr/bin/env python3
"""The project's one check, run by people and by CI alike: lint, format, types, tests.

Run it with the interpreter of the environment the project is installed in:
``.venv/bin/python scripts/check.py`` (extra arguments go to pytest).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STEPS = [
    ("ruff check", [sys.executable, "-m", "ruff", "check", "."]),
    ("ruff format", [sys.executable, "-m", "ruff", "format", "--check", "."]),
    ("mypy", [sys.executable, "-m", "mypy"]),
    # Two workers (pytest-xdist) unless arguments are given: the suite runs servers and child pytests.
    ("pytest", [sys.executable, "-m", "pytest", *(sys.argv[1:] or ["-n", "2"])]),
]


def main() -> int:
    for name, command in STEPS:
        print(f"==> {name}", flush=True)
        result = subprocess.run(command, cwd=ROOT, check=False)
        if result.returncode != 0:
            print(f"==> {name} failed (exit {result.returncode})", flush=True)
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
