#!/usr/bin/env python3
"""Write every code block of README.md and docs/*.md that defines a test into a folder, one file per block.

``python scripts/readme_tests.py DIR`` is how CI checks the documentation's promise to a new user:
in a fresh environment with only the install line of the README (``[pytest]`` and ``openai``), those
tests pass.
"""

from __future__ import annotations

import sys
from pathlib import Path

from doc_samples import TEST, Sample, all_samples

__all__ = ["count_tests", "main", "test_blocks"]


def test_blocks() -> list[Sample]:
    """The Python blocks of the README and the docs that define at least one test, each text once.

    (The README repeats some of the docs' tests word for word: they run once, under the first name.)
    """
    unique: dict[str, Sample] = {}
    for sample in all_samples():
        if sample.is_test:
            unique.setdefault(sample.code, sample)
    return list(unique.values())


def count_tests(code: str) -> int:
    return len(TEST.findall(code))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: readme_tests.py DIR", file=sys.stderr)
        return 2
    target = Path(argv[0])
    target.mkdir(parents=True, exist_ok=True)
    blocks = test_blocks()
    for index, block in enumerate(blocks):
        stem = block.path.stem.lower().replace("-", "_")
        (target / f"test_{stem}_{index}.py").write_text(f"# {block.name}\n{block.code}")
    print(f"wrote {len(blocks)} files with {sum(count_tests(b.code) for b in blocks)} tests to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
