"""Every code block of the README and docs/ that defines a test runs, in a child pytest, so they cannot rot."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import load_script

extractor = load_script("readme_tests")
BLOCKS = extractor.test_blocks()


def test_the_readme_has_a_sync_and_an_async_test() -> None:
    readme = [block.code for block in BLOCKS if block.path.name == "README.md"]
    assert any("realtime_mock_sync" in code and "async def" not in code for code in readme)
    assert any("async def test_" in code and "realtime_mock)" in code for code in readme)


def test_the_docs_have_tests_too() -> None:
    assert any(block.path.parent.name == "docs" for block in BLOCKS)


@pytest.mark.parametrize("block", BLOCKS, ids=[block.name for block in BLOCKS])
def test_block_runs(pytester: pytest.Pytester, block: Any) -> None:
    code = block.code
    pytester.makepyfile(test_block=code)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=extractor.count_tests(code))
