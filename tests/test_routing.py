"""Routing: the mock's runners (``serving.MockRunner``) route each request with the route table as the
server's handler; an app served by any other runner (``aiohttp_server(create_app())``) is routed by
aiohttp's router to the same endpoints. Both must answer every kind of path alike.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from mockserver import Settings, create_app
from mockserver.routing import _FixedMatchInfo
from mockserver.serving import REQUEST_HANDLER, MockRunner, listening_site, server_options

from .helpers import http_request

AUTH = {"Authorization": "Bearer sk-test"}
MINT = {"session": {"type": "realtime"}}


@asynccontextmanager
async def _mock_runner(app: web.Application) -> AsyncIterator[tuple[MockRunner, str]]:
    """``app`` served by the mock's own runner, as ``MockServer`` serves it: the runner and its URL."""
    runner = MockRunner(app, access_log=None, handler_cancellation=True, **server_options())
    await runner.setup()
    try:
        await listening_site(runner, "127.0.0.1", 0).start()
        assert runner.server is not None
        yield runner, f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def _served_with_mock_runner(app: web.Application) -> AsyncIterator[str]:
    async with _mock_runner(app) as (_, url):
        yield url


@asynccontextmanager
async def _served_with_aiohttp(app: web.Application) -> AsyncIterator[str]:
    server = TestServer(app, host="127.0.0.1", port=0, **server_options())
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture(params=["MockRunner", "aiohttp's router"])
async def served(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A mock (seed 7) served by the mock's own runner, then by aiohttp's test server."""
    serve = _served_with_mock_runner if request.param == "MockRunner" else _served_with_aiohttp
    async with serve(create_app(Settings(seed=7))) as url:
        yield url


async def _answers(url: str) -> list[tuple[str, int, Any]]:
    """Every kind of path once: (what, status, the body's telling part)."""
    answers: list[tuple[str, int, Any]] = []
    async with aiohttp.ClientSession(base_url=url) as http:

        async def ask(what: str, method: str, path: str, pick: Callable[[Any], Any], **kwargs: Any) -> None:
            async with http.request(method, path, headers=AUTH, **kwargs) as response:
                answers.append((what, response.status, pick(await response.json())))

        def error(body: Any) -> Any:
            return body["error"]

        await ask("mint", "POST", "/v1/realtime/client_secrets", lambda body: body["value"], json=MINT)
        await ask("mint without /v1", "POST", "/realtime/client_secrets", lambda body: body["value"], json=MINT)
        await ask("translation mint", "POST", "/v1/realtime/translations/client_secrets", error, json={})
        await ask("wrong method", "GET", "/v1/realtime/client_secrets", error)
        await ask("unknown path", "GET", "/v1/nowhere", error)
        await ask("templated", "POST", "/v1/realtime/calls/rtc_missing/hangup", error)
        await ask("templated, escaped", "POST", "/v1/realtime/calls/rtc%2Fa%25b/accept", error, json={})
        await ask("control", "GET", "/__mock/health", lambda body: body["status"])
        await ask("control templated", "GET", "/__mock/secrets/ek_missing", error)
        await ask("control templated again", "GET", "/__mock/secrets/ek_other", error)
        await ask("control list", "GET", "/__mock/requests", lambda body: [e["path"] for e in body["data"]])
    return answers


async def test_both_routings_answer_every_kind_of_path_alike() -> None:
    results = []
    for serve in (_served_with_mock_runner, _served_with_aiohttp):
        async with serve(create_app(Settings(seed=7))) as url:
            results.append(await _answers(url))
    mock_runner, aiohttp_router = results
    assert mock_runner == aiohttp_router
    by_what = {what: (status, body) for what, status, body in mock_runner}
    assert by_what["mint"][0] == 200
    assert by_what["mint"][1].startswith("ek_")
    assert by_what["wrong method"][0] == 405
    assert by_what["unknown path"][0] == 404
    # A templated path's values, decoded, reach the endpoint; each request sees its own.
    assert by_what["templated"][0] == 404
    assert "rtc_missing" in by_what["templated"][1]["message"]
    assert "rtc/a%b" in by_what["templated, escaped"][1]["message"]
    assert "ek_missing" in by_what["control templated"][1]["message"]
    assert "ek_other" in by_what["control templated again"][1]["message"]
    assert "ek_missing" not in by_what["control templated again"][1]["message"]
    assert by_what["control"] == (200, "ok")
    assert by_what["control list"][1][-1] == "/v1/realtime/calls/rtc/a%b/accept"  # the journal keeps the decoded path


async def _raw(url: str, first: bytes, then: bytes = b"") -> bytes:
    """``first`` on a raw socket, then ``then`` once something came back; everything the server sent."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(first)
        received = await asyncio.wait_for(reader.read(65536), 10)
        if then:
            writer.write(then)
            while chunk := await asyncio.wait_for(reader.read(65536), 10):
                received += chunk
        else:
            while chunk := await asyncio.wait_for(reader.read(65536), 10):
                received += chunk
        return received
    finally:
        writer.close()


async def test_expect_100_continue_is_answered_before_the_body(served: str) -> None:
    body = json.dumps(MINT).encode()
    head = http_request(
        "POST",
        "/v1/realtime/client_secrets",
        headers=b"Authorization: Bearer sk-test\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n",
    )
    received = await _raw(served, head, body)
    assert received.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")
    assert b'"value": "ek_' in received


async def test_an_expectation_aiohttp_cannot_meet_gets_its_417(served: str) -> None:
    request = http_request("POST", "/v1/realtime/client_secrets", headers=b"Expect: teapot\r\n")
    received = await _raw(served, request)
    assert received.startswith(b"HTTP/1.1 417 ")


async def test_the_mock_runner_serves_the_route_table_and_the_app_signals_still_fire() -> None:
    app = create_app(Settings(seed=7))
    prepared: list[str] = []

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        prepared.append(request.path)
        response.headers["X-Signal"] = "fired"

    app.on_response_prepare.append(on_prepare)
    async with _mock_runner(app) as (runner, url), aiohttp.ClientSession(base_url=url) as http:
        assert runner.server is not None
        assert runner.server.request_handler is app[REQUEST_HANDLER]
        async with http.post("/v1/realtime/client_secrets", json=MINT, headers=AUTH) as response:
            assert response.status == 200
            assert response.headers["X-Signal"] == "fired"
        async with http.get("/__mock/secrets/nothing") as response:
            assert response.status == 404
            assert response.headers["X-Signal"] == "fired"
    assert prepared == ["/v1/realtime/client_secrets", "/__mock/secrets/nothing"]


async def test_an_app_with_middlewares_is_served_by_aiohttp_as_it_would_be() -> None:
    seen: list[str] = []

    @web.middleware
    async def note(request: web.Request, handler: Any) -> web.StreamResponse:
        seen.append(request.path)
        response: web.StreamResponse = await handler(request)
        return response

    app = create_app(Settings(seed=7))
    app.middlewares.append(note)
    async with _mock_runner(app) as (runner, url), aiohttp.ClientSession(base_url=url) as http:
        assert runner.server is not None
        assert runner.server.request_handler is not app[REQUEST_HANDLER]
        async with http.post("/v1/realtime/client_secrets", json=MINT, headers=AUTH) as response:
            assert response.status == 200
    assert seen == ["/v1/realtime/client_secrets"]


def test_a_shared_match_info_cannot_be_changed() -> None:
    app = create_app()
    route = next(iter(next(iter(app.router.resources()))))
    info = _FixedMatchInfo(route)
    for change in (
        lambda: info.__setitem__("call_id", "x"),
        lambda: info.update(call_id="x"),
        lambda: info.setdefault("call_id", "x"),
        lambda: info.pop("call_id"),
        lambda: info.popitem(),
        lambda: info.clear(),
        lambda: info.__delitem__("call_id"),
    ):
        with pytest.raises(TypeError, match="cannot be changed"):
            change()
    assert dict(info) == {}


async def test_the_suite_s_client_fixture_serves_as_the_mock_s_runners_do(client: TestClient) -> None:
    server = client.server
    assert isinstance(server.runner, MockRunner)
    assert server.runner.server is not None
    assert server.runner.server.request_handler is server.app[REQUEST_HANDLER]
    async with client.post("/v1/realtime/client_secrets", json=MINT, headers=AUTH) as response:
        assert response.status == 200


async def test_an_app_with_a_route_of_its_own_is_served_by_aiohttp_s_router() -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"hello": request.match_info["name"]})

    app = create_app(Settings(seed=7))
    app.router.add_get("/hello/{name}", hello)
    async with _mock_runner(app) as (runner, url), aiohttp.ClientSession(base_url=url) as http:
        assert runner.server is not None
        assert runner.server.request_handler is not app[REQUEST_HANDLER]
        async with http.get("/hello/world") as response:
            assert await response.json() == {"hello": "world"}
        async with http.post("/v1/realtime/client_secrets", json=MINT, headers=AUTH) as response:
            assert response.status == 200
