from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from mockserver import Settings, create_app
from mockserver.serving import MockRunner, server_options
from mockserver.testing import MockServer

pytest_plugins = ["pytester"]

AUTH = {"Authorization": "Bearer sk-test"}

MakeClient = Callable[..., Awaitable[TestClient]]


class MockTestServer(TestServer):
    """aiohttp's test server, serving the app as the mock's own runners do (``MockRunner``: the route table as the
    server's handler); ``aiohttp_server(create_app())`` serves it through aiohttp's router instead."""

    async def _make_runner(self, **kwargs: Any) -> MockRunner:
        return MockRunner(self.app, **kwargs)


@pytest.fixture
def make_client(aiohttp_client: Callable[..., Awaitable[TestClient]]) -> MakeClient:
    """A real-socket aiohttp client for a mock built from ``Settings(**overrides)``."""

    async def make(**overrides: object) -> TestClient:
        # Served as the mock's runners serve it, with their options (aiohttp's test server adds
        # handler_cancellation=True); closed with the client.
        server = MockTestServer(create_app(Settings(**overrides)), host="127.0.0.1", port=0)
        await server.start_server(**server_options())
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
