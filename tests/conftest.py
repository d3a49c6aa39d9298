from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient

from mockserver import Settings, create_app
from mockserver.serving import server_options

pytest_plugins = ["pytester"]

AUTH = {"Authorization": "Bearer sk-test"}

MakeClient = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def make_client(aiohttp_client: Callable[..., Awaitable[TestClient]]) -> MakeClient:
    """A real-socket aiohttp client for a mock built from ``Settings(**overrides)``."""

    async def make(**overrides: object) -> TestClient:
        # Served as every runner serves the mock (server_options: handler cancellation, header limits).
        return await aiohttp_client(create_app(Settings(**overrides)), server_kwargs=server_options())

    return make


@pytest.fixture
async def client(make_client: MakeClient) -> TestClient:
    return await make_client(seed=1234)
