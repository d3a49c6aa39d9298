"""The pytest plugin (entry point ``pytest11``): fixtures handing out ``MockServer`` handles.

- ``realtime_mock``: async fixture, a fresh server on the test's event loop.
- ``realtime_mock_sync``: sync fixture, a server on a background thread (for sync
  clients); one per session, reset before every test, unless the test asks for its
  own settings.
- ``realtime_mock_settings``: override it to set settings for a module or a session (the default: none).
- ``@pytest.mark.realtime_mock(seed=7, latency_ms=50, error_rate=0.1, api_keys=["sk-a"])``
  configures one test.

Names are prefixed ``realtime_mock`` so they cannot collide with pytest-aiohttp's
(``aiohttp_server``, ``aiohttp_client``) or Faker's (``faker``) fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import pytest

if TYPE_CHECKING:
    from .testing import MockServer

__all__ = ["realtime_mock_settings", "realtime_mock_sync"]

MARKER = "realtime_mock"

#: pytest-asyncio (which pytest-aiohttp brings) warns at start-up when this is unset; under
#: ``filterwarnings = error`` that warning stops pytest with an INTERNALERROR before any test runs.
LOOP_SCOPE_OPTION = "asyncio_default_fixture_loop_scope"
#: The value pytest-asyncio recommends and will default to; the plugin's async fixture is function-scoped.
LOOP_SCOPE_DEFAULT: Final = "function"


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """Give pytest-asyncio's ``asyncio_default_fixture_loop_scope`` a default when the project sets none.

    Only the option's default changes (registered again, after pytest-asyncio registered it and before
    anything reads it): a value from the project's configuration or ``-o`` still wins.
    """
    if early_config.pluginmanager.hasplugin("asyncio"):
        parser.addini(
            LOOP_SCOPE_OPTION,
            help=f"default scope of the asyncio event loop used to execute async fixtures "
            f"(openai-realtime-mock sets {LOOP_SCOPE_DEFAULT!r} when unset)",
            type="string",
            default=LOOP_SCOPE_DEFAULT,
        )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**settings): settings for this test's mock server "
        "(seed, latency_ms, error_rate, api_keys, ... as in mockserver.Settings)",
    )


@pytest.fixture(scope="session")
def realtime_mock_settings() -> Mapping[str, Any]:
    """Settings for the mock servers of the tests in scope; override to change them (at any scope).

    The default is one empty, read-only mapping for the whole session: a function-scoped fixture would be
    set up and torn down for every test (~0.04 ms each, measured with ``benchmarks/fixtures.py``), and
    read-only it cannot carry one test's change into the next.
    """
    return MappingProxyType({})


def _settings_for(request: pytest.FixtureRequest, base: Mapping[str, Any]) -> dict[str, Any]:
    settings = dict(base)
    for marker in reversed(list(request.node.iter_markers(MARKER))):
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keyword arguments only")
        settings.update(marker.kwargs)
    if "api_keys" in settings:
        settings["api_keys"] = tuple(settings["api_keys"])
    return settings


def _test_loop_scope(request: pytest.FixtureRequest) -> str:
    """The scope of the event loop pytest-asyncio runs this test on."""
    marker = request.node.get_closest_marker("asyncio")
    scope = marker.kwargs.get("loop_scope") if marker is not None else None
    return str(scope or request.config.getini("asyncio_default_test_loop_scope") or LOOP_SCOPE_DEFAULT)


@pytest.fixture(scope="session")
def _realtime_mock_shared() -> Iterator[MockServer]:
    from .testing import MockServer  # noqa: PLC0415 - keeps pytest start-up light

    with MockServer() as server:
        yield server


@pytest.fixture
def realtime_mock_sync(
    request: pytest.FixtureRequest, realtime_mock_settings: Mapping[str, Any]
) -> Iterator[MockServer]:
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
    # The server lives on the loop the fixture runs on, so that must be the loop the test runs on: the
    # function-scoped one (pytest-asyncio's default for tests), whatever the project's fixture default.
    @pytest_asyncio.fixture(loop_scope=LOOP_SCOPE_DEFAULT)
    async def realtime_mock(
        request: pytest.FixtureRequest, realtime_mock_settings: Mapping[str, Any]
    ) -> AsyncIterator[MockServer]:
        """A fresh mock on the test's event loop."""
        from .testing import MockServer  # noqa: PLC0415

        scope = _test_loop_scope(request)
        if scope != LOOP_SCOPE_DEFAULT:
            # Otherwise the test would wait on a server whose loop is not running.
            pytest.fail(
                f"realtime_mock runs on the function-scoped event loop, but this test runs on the {scope}-scoped "
                "one: use realtime_mock_sync (a server on its own thread), or run the test on the function loop",
                pytrace=False,
            )
        async with MockServer(**_settings_for(request, realtime_mock_settings)) as server:
            yield server

    __all__ += ["realtime_mock"]
