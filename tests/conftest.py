from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from mockserver import Settings, create_app
from mockserver.serving import server_options
from mockserver.testing import MockServer

pytest_plugins = ["pytester"]

AUTH = {"Authorization": "Bearer sk-test"}

MakeClient = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def make_client(
    aiohttp_server: Callable[..., Awaitable[TestServer]], aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> MakeClient:
    """A real-socket aiohttp client for a mock built from ``Settings(**overrides)``."""

    async def make(**overrides: object) -> TestClient:
        # Served as every runner serves the mock: the runner options go to aiohttp_server (aiohttp_client's
        # server_kwargs would not reach the runner); aiohttp's test server adds handler_cancellation=True.
        server = await aiohttp_server(create_app(Settings(**overrides)), **server_options())
        return await aiohttp_client(server)

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
