"""Every README code block that defines a test runs, in a child pytest, so the README cannot rot."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest

from tests.helpers import ROOT


def _load_extractor() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme_tests", ROOT / "scripts" / "readme_tests.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


extractor = _load_extractor()
BLOCKS: list[str] = extractor.readme_tests((ROOT / "README.md").read_text())


def test_the_readme_has_a_sync_and_an_async_test() -> None:
    assert any("realtime_mock_sync" in block and "async def" not in block for block in BLOCKS)
    assert any("async def test_" in block and "realtime_mock)" in block for block in BLOCKS)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(pytester: pytest.Pytester, index: int) -> None:
    pytester.makepyfile(**{f"test_readme_{index}": BLOCKS[index]})
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=extractor.count_tests(BLOCKS[index]))
