"""Start-up: what the ``mockserver`` command imports before its first mint, and what it leaves for later.

The server runs as users run it (the CLI's ``main`` in a child process); a thread in that process answers
each line on its stdin with the modules imported so far and the collector's state, so the test sees the
server's own ``sys.modules`` after a real mint by the official SDK, then after a WebSocket session and
control routes that are imported on first use.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import pytest
from openai import AsyncOpenAI, OpenAI

from mockserver.app import ROUTES, LazyHandler

from .realtime_client import MODEL, SK, check_event

TIMEOUT = 30.0

#: The server in a child process, with a thread reporting its state on request.
CHILD = """
import gc, json, os, sys, threading

from mockserver.cli import main


def collections():
    return sum(generation["collections"] for generation in gc.get_stats())


def report():
    for _ in sys.stdin:
        state = {"modules": sorted(sys.modules), "frozen": gc.get_freeze_count(), "enabled": gc.isenabled()}
        state["threshold"] = gc.get_threshold()
        state["ssl_cert_file"] = os.environ.get("SSL_CERT_FILE")
        connector = sys.modules.get("aiohttp.connector")
        state["aiohttp_ca_certs"] = connector._SSL_CONTEXT_VERIFIED.cert_store_stats() if connector else None
        state["collections_since_main"] = collections() - before_main
        print(json.dumps(state), flush=True)


threading.Thread(target=report, daemon=True).start()
before_main = collections()
sys.exit(main(sys.argv[1:]))
"""

#: What a server that has only minted must not have imported: the Realtime engine and its parts, the
#: sockets, WebRTC (the optional extra and our peer), the calls and scripts surfaces, the control API's
#: OpenAPI document, the translation request model, and Faker (generated speech only).
NOT_FOR_A_MINT = (
    "mockserver.realtime.engine",
    "mockserver.realtime.events",
    "mockserver.realtime.responses",
    "mockserver.realtime.audio",
    "mockserver.realtime.vad",
    "mockserver.realtime.websocket",
    "mockserver.realtime.translation_socket",
    "mockserver.realtime.calls",
    "mockserver.realtime.peer",
    "mockserver.handlers.calls",
    "mockserver.handlers.scripts",
    "mockserver.handlers.sip",
    "mockserver.openapi",
    "mockserver.fault_specs",
    "mockserver.scenario",
    "mockserver.realtime.replies",
    "mockserver.realtime.script",
    "mockserver.schemas.translation",
    "aiortc",
    "faker",
)


class Server:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self.origin = f"http://127.0.0.1:{port}"

    def state(self) -> dict[str, Any]:
        """The server process's imported modules and collector state, now."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write("report\n")
        self.process.stdin.flush()
        state: dict[str, Any] = json.loads(self.process.stdout.readline())
        return state


@contextmanager
def server(env: dict[str, str] | None = None, *args: str) -> Iterator[Server]:
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, "--port", "0", "--log-level", "error", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, line + (process.stderr.read() if process.stderr else "")
        yield Server(process, int(line.split("http://127.0.0.1:")[1].split()[0]))
    finally:
        process.terminate()
        process.communicate(timeout=TIMEOUT)


def test_a_mint_imports_neither_the_engine_nor_the_other_surfaces() -> None:
    with server() as mock:
        with OpenAI(base_url=mock.base_url, api_key=SK, max_retries=0, timeout=TIMEOUT) as client:
            secret = client.realtime.client_secrets.create(session={"type": "realtime", "model": MODEL})
        assert secret.value.startswith("ek_")
        modules = set(mock.state()["modules"])
        assert {"mockserver.handlers.openai", "mockserver.plans"} <= modules  # the report is the server's
        assert sorted(modules.intersection(NOT_FOR_A_MINT)) == []
        assert not any(name.startswith(("aiortc.", "faker.")) for name in modules)


def test_start_up_is_frozen_out_of_the_collectors_sight() -> None:
    with server() as mock:
        state = mock.state()
    # The collector did not run while the server started (it would only walk objects that live as long as
    # the process); everything built by then (tens of thousands of objects) is frozen out of its sight, and
    # it is on again, with the young generation collected less often.
    assert state["collections_since_main"] == 0
    assert state["frozen"] > 20_000
    assert state["enabled"] is True
    assert state["threshold"] == [20_000, 50, 100]


@pytest.mark.parametrize("given", [None, "/etc/ssl/certs/a-bundle-of-the-users.pem"])
def test_aiohttp_is_imported_without_reading_the_ca_bundle(given: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SSL_CERT_FILE"}
    if given is not None:
        env["SSL_CERT_FILE"] = given
    # A webhook secret is checked by the webhooks module, which imports aiohttp: the settings come after.
    with server(env, "--webhook-secret", "whsec_" + "A" * 44) as mock:
        state = mock.state()
    # aiohttp's own client contexts, built at its import, hold no certificate: the bundle was not read
    # (a quarter of start-up); the user's SSL_CERT_FILE, if any, is back for what comes after (webhooks).
    assert state["aiohttp_ca_certs"] == {"x509": 0, "crl": 0, "x509_ca": 0}
    assert state["ssl_cert_file"] == given


async def _spoken_to(mock: Server) -> dict[str, Any]:
    """A Realtime session over the WebSocket with the official SDK: its first event."""
    async with AsyncOpenAI(base_url=mock.base_url, api_key=SK, max_retries=0) as server_side:
        minted = await server_side.realtime.client_secrets.create(session={"type": "realtime", "model": MODEL})
    async with (
        AsyncOpenAI(base_url=mock.base_url, api_key=minted.value, max_retries=0) as browser_side,
        browser_side.realtime.connect(model=MODEL) as connection,
    ):
        first: dict[str, Any] = json.loads(await asyncio.wait_for(connection.recv_bytes(), TIMEOUT))
        check_event(first)
        return first


async def test_surfaces_imported_on_first_use_still_serve() -> None:
    with server() as mock:
        assert "mockserver.realtime.engine" not in mock.state()["modules"]

        first = await _spoken_to(mock)
        assert first["type"] == "session.created"
        assert first["session"]["model"] == MODEL
        # No reply was asked for: Faker (what replies are made of) is imported on a thread of its own all the
        # same, so that the first reply does not stall the loop for its ~50 ms import.
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while "faker" not in mock.state()["modules"]:
            assert asyncio.get_running_loop().time() < deadline, "faker was not imported in the background"
            await asyncio.sleep(0.05)

        async with aiohttp.ClientSession(base_url=mock.origin) as http:
            rule = {"match": {"user_text": "hello"}, "text": "Hi there."}
            async with http.post("/__mock/replies", json=rule) as response:
                assert response.status == 201, await response.text()
                added = await response.json()
            async with http.get("/__mock/replies") as response:
                assert response.status == 200
                assert [r["id"] for r in (await response.json())["data"]] == [added["id"]]
            async with http.get("/__mock/openapi.json") as response:
                assert response.status == 200
                assert "/__mock/replies" in (await response.json())["paths"]
            async with http.get("/__mock/calls") as response:
                assert response.status == 200
                assert (await response.json())["data"] == []

        modules = set(mock.state()["modules"])
        for loaded in ("realtime.engine", "realtime.websocket", "handlers.scripts", "handlers.sip", "openapi"):
            assert f"mockserver.{loaded}" in modules


def test_every_lazy_handler_names_a_coroutine_function() -> None:
    lazy = [handler for methods in ROUTES.values() for handler in methods.values() if isinstance(handler, LazyHandler)]
    assert len(lazy) == 25
    for handler in lazy:
        assert inspect.iscoroutinefunction(handler.resolve()), handler


async def test_servers_share_the_route_resources_and_each_serves_every_kind_of_path() -> None:
    # The catch-all resource is built once per process (a fixture's server start skips ~7 µs of building), and
    # it is the only one an app registers.
    from mockserver.app import create_app  # noqa: PLC0415
    from mockserver.testing import MockServer  # noqa: PLC0415

    assert list(create_app().router.resources()) == list(create_app().router.resources())
    assert len(create_app().router.resources()) == 1
    async with MockServer() as first, MockServer() as second:
        for mock in (first, second):
            async with aiohttp.ClientSession(base_url=mock.url) as http:
                mint = {"session": {"type": "realtime"}}
                headers = {"Authorization": f"Bearer {SK}"}
                for path in ("/v1/realtime/client_secrets", "/realtime/client_secrets"):
                    async with http.post(path, json=mint, headers=headers) as response:
                        assert response.status == 200
                        assert (await response.json())["value"].startswith("ek_")
                async with http.post("/v1/realtime/calls/rtc_missing/hangup", headers=headers) as response:
                    assert response.status == 404  # a templated path
                    assert "rtc_missing" in (await response.json())["error"]["message"]
                async with http.get("/v1/nowhere", headers=headers) as response:
                    assert response.status == 404
                    assert (await response.json())["error"]["type"] == "invalid_request_error"
            assert [entry.path for entry in mock.requests()] == [
                "/v1/realtime/client_secrets",
                "/realtime/client_secrets",
                "/v1/realtime/calls/rtc_missing/hangup",
                "/v1/nowhere",
            ]
