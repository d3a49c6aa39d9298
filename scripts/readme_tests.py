#!/usr/bin/env python3
"""Write every README code block that defines a test into a folder, one file per block.

``python scripts/readme_tests.py DIR`` is how CI checks the README's promise to a new user:
in a fresh environment with only the README's install line, those tests pass.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
TEST = re.compile(r"^(?:async )?def test_", re.MULTILINE)


def readme_tests(readme: str) -> list[str]:
    """The README's python blocks that define at least one test."""
    return [block for block in BLOCK.findall(readme) if TEST.search(block)]


def count_tests(block: str) -> int:
    return len(TEST.findall(block))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: readme_tests.py DIR", file=sys.stderr)
        return 2
    target = Path(argv[0])
    target.mkdir(parents=True, exist_ok=True)
    blocks = readme_tests((ROOT / "README.md").read_text())
    for index, block in enumerate(blocks):
        (target / f"test_readme_{index}.py").write_text(block)
    print(f"wrote {len(blocks)} files with {sum(map(count_tests, blocks))} tests to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
