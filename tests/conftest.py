from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from mockserver import Settings, create_app
from mockserver.testing import MockServer

pytest_plugins = ["pytester"]

AUTH = {"Authorization": "Bearer sk-test"}

MakeClient = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def make_client(aiohttp_client: Callable[..., Awaitable[TestClient]]) -> MakeClient:
    """A real-socket aiohttp client for a mock built from ``Settings(**overrides)``."""

    async def make(**overrides: object) -> TestClient:
        # aiohttp's TestServer runs with handler_cancellation=True, as the real server does.
        return await aiohttp_client(create_app(Settings(**overrides)))

    return make


@pytest.fixture
async def client(make_client: MakeClient) -> TestClient:
    return await make_client(seed=1234)


@pytest.fixture
async def mock() -> AsyncIterator[MockServer]:
    """A fresh mock (seed 4242) on the test's loop, for the Realtime tests."""
    async with MockServer(seed=4242) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client
