"""The pytest plugin (entry point ``pytest11``): fixtures handing out ``MockServer`` handles.

- ``realtime_mock``: async fixture, a fresh server on the test's event loop.
- ``realtime_mock_sync``: sync fixture, a server on a background thread (for sync
  clients); one per session, reset before every test, unless the test asks for its
  own settings.
- ``realtime_mock_settings``: override it to set settings for a module or a session.
- ``@pytest.mark.realtime_mock(seed=7, latency_ms=50, error_rate=0.1, api_keys=["sk-a"])``
  configures one test.

Names are prefixed ``realtime_mock`` so they cannot collide with pytest-aiohttp's
(``aiohttp_server``, ``aiohttp_client``) or Faker's (``faker``) fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .testing import MockServer

__all__ = ["realtime_mock_settings", "realtime_mock_sync"]

MARKER = "realtime_mock"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**settings): settings for this test's mock server "
        "(seed, latency_ms, error_rate, api_keys, ... as in mockserver.Settings)",
    )


@pytest.fixture
def realtime_mock_settings() -> dict[str, Any]:
    """Settings for the mock servers of the tests in scope; override to change them."""
    return {}


def _settings_for(request: pytest.FixtureRequest, base: dict[str, Any]) -> dict[str, Any]:
    settings = dict(base)
    for marker in reversed(list(request.node.iter_markers(MARKER))):
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keyword arguments only")
        settings.update(marker.kwargs)
    if "api_keys" in settings:
        settings["api_keys"] = tuple(settings["api_keys"])
    return settings


@pytest.fixture(scope="session")
def _realtime_mock_shared() -> Iterator[MockServer]:
    from .testing import MockServer  # noqa: PLC0415 - keeps pytest start-up light

    with MockServer() as server:
        yield server


@pytest.fixture
def realtime_mock_sync(request: pytest.FixtureRequest, realtime_mock_settings: dict[str, Any]) -> Iterator[MockServer]:
    """A mock on a background thread; fresh state for every test."""
    from .testing import MockServer  # noqa: PLC0415

    settings = _settings_for(request, realtime_mock_settings)
    if settings:
        with MockServer(**settings) as server:
            yield server
        return
    server = request.getfixturevalue("_realtime_mock_shared")
    server.reset()
    yield server


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - pytest-asyncio comes with pytest-aiohttp
    pass
else:

    @pytest_asyncio.fixture
    async def realtime_mock(
        request: pytest.FixtureRequest, realtime_mock_settings: dict[str, Any]
    ) -> AsyncIterator[MockServer]:
        """A fresh mock on the test's event loop."""
        from .testing import MockServer  # noqa: PLC0415

        async with MockServer(**_settings_for(request, realtime_mock_settings)) as server:
            yield server

    __all__ += ["realtime_mock"]
