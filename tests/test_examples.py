"""examples/ works against the mock: the demo backend (in-process and as a script) and the Node script."""

from __future__ import annotations

import asyncio
import fcntl
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from mockserver.testing import MockServer
from tests.browser import browser
from tests.helpers import ROOT

EXAMPLES = ROOT / "examples"
NODE_EXAMPLE = EXAMPLES / "node"
LISTENING = re.compile(r"^demo backend listening on (http://127\.0\.0\.1:\d+)$")
# A URL whose host is not this machine: the page must not load anything from elsewhere.
EXTERNAL_URL = re.compile(r"https?://(?!127\.0\.0\.1|localhost)", re.IGNORECASE)

#: Bounds: every wait in this module ends, so a hung process fails the test instead of the run.
STARTUP_TIMEOUT = 15.0
EXIT_TIMEOUT = 10.0
NPM_CI_TIMEOUT = 180.0

AiohttpClient = Callable[[web.Application], Awaitable[TestClient]]


@cache
def demo_backend() -> ModuleType:
    """examples/demo_backend.py, imported by path: examples/ is not a package."""
    spec = importlib.util.spec_from_file_location("demo_backend", EXAMPLES / "demo_backend.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered before running it, as an import would, so its dataclasses can resolve their module.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def backend_client(aiohttp_client: AiohttpClient, mock: MockServer, **options: Any) -> TestClient:
    app = demo_backend().create_app(mock.base_url, "sk-demo-test", **options)
    return await aiohttp_client(app)


# --- the demo backend, in-process -----------------------------------------------------------------


async def test_page_is_served_and_self_contained(aiohttp_client: AiohttpClient) -> None:
    async with MockServer(seed=11) as mock:
        client = await backend_client(aiohttp_client, mock)
        response = await client.get("/")
        assert response.status == 200
        assert response.content_type == "text/html"
        page = await response.text()
    assert "Get ephemeral key" in page
    assert not EXTERNAL_URL.findall(page)


async def test_session_mints_through_the_sdk(aiohttp_client: AiohttpClient) -> None:
    async with MockServer(seed=12) as mock:
        client = await backend_client(aiohttp_client, mock)
        response = await client.post("/session", json={"seconds": 120})
        assert response.status == 200, await response.text()
        data = await response.json()

        assert set(data) == {"value", "expires_at", "session_id", "model", "calls_url", "realtime_url"}
        assert re.fullmatch(r"ek_[0-9a-f]{32}", data["value"])
        # The key's first 8 hex digits are its creation time; the TTL asked for is what it got.
        assert data["expires_at"] - int(data["value"][3:11], 16) == 120
        assert re.fullmatch(r"sess_[A-Za-z0-9]{21}", data["session_id"])
        assert data["model"] == "gpt-realtime"
        # The mock's own Realtime WebSocket, where the page connects with the key.
        assert data["realtime_url"] == f"ws://127.0.0.1:{mock.port}/v1/realtime?model=gpt-realtime"
        assert data["calls_url"] == f"http://127.0.0.1:{mock.port}/v1/realtime/calls"

        (entry,) = mock.assert_attempts(1)
        assert entry.path == "/v1/realtime/client_secrets"
        assert entry.headers["x-stainless-lang"] == "python"
        assert entry.headers["x-stainless-async"].startswith("async:")  # the backend's AsyncOpenAI client
        assert entry.headers["x-stainless-read-timeout"] == "15.0"  # its UPSTREAM_TIMEOUT, not 600 s
        assert entry.body["session"]["instructions"] == "You are a friendly demo assistant."
        assert entry.body["session"]["model"] == "gpt-realtime"
        assert entry.body["expires_after"] == {"anchor": "created_at", "seconds": 120}

        (secret,) = mock.assert_minted(1)
        assert secret.value == data["value"]
        assert secret.expires_at == data["expires_at"]
        assert secret.session["id"] == data["session_id"]
        assert secret.status == "active"


async def test_session_defaults_to_sixty_seconds(aiohttp_client: AiohttpClient) -> None:
    async with MockServer(seed=13) as mock:
        client = await backend_client(aiohttp_client, mock)
        response = await client.post("/session")
        assert response.status == 200, await response.text()
        data = await response.json()
        assert data["expires_at"] - int(data["value"][3:11], 16) == 60


async def test_sdk_retries_an_injected_429(aiohttp_client: AiohttpClient) -> None:
    async with MockServer(seed=14) as mock:
        client = await backend_client(aiohttp_client, mock)  # max_retries=2, the SDK's default
        mock.fail_next(1, status=429, retry_after_ms=10)
        response = await client.post("/session", json={"seconds": 120})
        assert response.status == 200, await response.text()
        assert (await response.json())["value"].startswith("ek_")
        mock.assert_statuses([429, 200])
        first, second = mock.requests()
        assert second.headers["x-stainless-retry-count"] == "1"
        assert first.id != second.id
        mock.assert_minted(1)


async def test_unretried_error_reaches_the_browser(aiohttp_client: AiohttpClient) -> None:
    async with MockServer(seed=15) as mock:
        client = await backend_client(aiohttp_client, mock, max_retries=0)
        mock.fail_next(1, error="insufficient_quota")
        response = await client.post("/session", json={"seconds": 120})
        assert response.status == 429
        error = (await response.json())["error"]
        assert error["code"] == "insufficient_quota"
        assert error["type"] == "insufficient_quota"
        assert set(error) == {"message", "type", "param", "code"}
        mock.assert_attempts(1)
        mock.assert_minted(0)


async def test_validation_error_passes_through(aiohttp_client: AiohttpClient) -> None:
    async with MockServer(seed=16) as mock:
        client = await backend_client(aiohttp_client, mock)
        response = await client.post("/session", json={"seconds": 5})
        assert response.status == 400
        error = (await response.json())["error"]
        assert error["code"] == "integer_below_min_value"
        assert error["param"] == "expires_after.seconds"
        mock.assert_attempts(1)  # the SDK does not retry a 400


async def test_bad_body_is_refused_before_the_api(aiohttp_client: AiohttpClient) -> None:
    async with MockServer(seed=17) as mock:
        client = await backend_client(aiohttp_client, mock)
        for body in ("not json", '["seconds"]', '{"seconds": "60"}', '{"seconds": true}'):
            response = await client.post("/session", data=body, headers={"Content-Type": "application/json"})
            assert response.status == 400, body
            assert (await response.json())["error"]["param"] == "seconds"
        mock.assert_attempts(0)


async def test_unreachable_api_gives_502(aiohttp_client: AiohttpClient) -> None:
    async with MockServer(seed=18) as mock:
        client = await backend_client(aiohttp_client, mock, max_retries=0)
        mock.fail_next(1, fault="reset")  # the TCP connection is reset: the SDK's APIConnectionError
        response = await client.post("/session", json={"seconds": 120})
        assert response.status == 502
        error = (await response.json())["error"]
        assert mock.base_url in error["message"]
        assert "Is the mock running?" in error["message"]


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("http://127.0.0.1:8080/v1", "ws://127.0.0.1:8080/v1/realtime?model=gpt-realtime"),
        ("http://127.0.0.1:8080/v1/", "ws://127.0.0.1:8080/v1/realtime?model=gpt-realtime"),
        ("http://localhost:8080", "ws://localhost:8080/realtime?model=gpt-realtime"),
        ("https://api.openai.com/v1", "wss://api.openai.com/v1/realtime?model=gpt-realtime"),
    ],
)
def test_realtime_url_follows_the_base_url(base_url: str, expected: str) -> None:
    assert demo_backend().realtime_url(base_url, "gpt-realtime") == expected


def test_page_has_the_connect_step() -> None:
    page = (EXAMPLES / "static" / "index.html").read_text()
    assert 'id="connect"' in page
    assert 'new WebSocket(minted.realtime_url, ["realtime", "openai-insecure-api-key." + minted.value])' in page
    for event_type in (
        "session.created",
        "conversation.item.create",
        "response.create",
        "response.output_text.delta",
        "response.output_audio_transcript.delta",
        "response.done",
    ):
        assert f'"{event_type}"' in page, event_type
    assert "Hello!" in page
    assert not EXTERNAL_URL.findall(page)


async def test_page_connect_step_works_from_python(aiohttp_client: AiohttpClient) -> None:
    """What the page's Connect button does, step by step: the key as a subprotocol, hello, the streamed reply."""
    async with MockServer(seed=19) as mock:
        client = await backend_client(aiohttp_client, mock)
        response = await client.post("/session", json={"seconds": 120})
        assert response.status == 200, await response.text()
        data = await response.json()

        protocols = ("realtime", "openai-insecure-api-key." + data["value"])
        async with aiohttp.ClientSession() as http:
            # No Authorization header: a browser cannot send one.
            ws = await asyncio.wait_for(http.ws_connect(data["realtime_url"], protocols=protocols), STARTUP_TIMEOUT)
            try:
                assert ws.protocol == "realtime"  # the server picked the page's first subprotocol
                created = await ws.receive_json(timeout=STARTUP_TIMEOUT)
                assert created["type"] == "session.created"
                assert created["session"]["id"] == data["session_id"]
                assert created["session"]["model"] == data["model"]
                assert created["session"]["audio"]["output"]["voice"] == "alloy"

                greeting = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello!"}]}
                await ws.send_json({"type": "conversation.item.create", "item": greeting})
                await ws.send_json({"type": "response.create"})
                deltas: list[str] = []
                for _ in range(200):
                    event = await ws.receive_json(timeout=STARTUP_TIMEOUT)
                    assert event["type"] != "error", event
                    if event["type"] in ("response.output_text.delta", "response.output_audio_transcript.delta"):
                        deltas.append(event["delta"])
                    if event["type"] == "response.done":
                        break
                assert event["type"] == "response.done"
                assert event["response"]["status"] == "completed"
                reply = "".join(deltas)
                assert reply.strip()
                assert event["response"]["output"][0]["content"][0]["transcript"] == reply
            finally:
                await asyncio.wait_for(ws.close(), EXIT_TIMEOUT)

        (opened,) = mock.secret(data["value"]).sessions
        assert opened["transport"] == "websocket"
        assert opened["session_id"] == data["session_id"]


# --- the page in a real browser ------------------------------------------------------------------

WEATHER_ANSWER = "It is sunny in Paris today, 22 degrees. Anything else?"


def by_id(element_id: str) -> str:
    return f"document.getElementById({json.dumps(element_id)})"


async def test_page_in_chromium_talks_and_runs_the_tool_calls(aiohttp_client: AiohttpClient) -> None:
    """The page against ``--scenario weather-agent``: connect, type a question, see the tool call and the answer."""
    async with MockServer(seed=20, scenario="weather-agent") as mock:
        client = await backend_client(aiohttp_client, mock)
        async with browser() as page:
            await page.navigate(str(client.make_url("/?auto=1")))
            # The greeting is answered with a generated sentence (no rule matches "Hello!").
            await page.wait_for(f"{by_id('status')}.textContent === 'done'")
            greeting = await page.evaluate("[...document.querySelectorAll('.turn')].map(t => t.className)")
            assert greeting == ["turn user", "turn assistant"]
            await page.evaluate(
                f'{by_id("text")}.value = "What\'s the weather in Paris?"; {by_id("send")}.click(); true'
            )
            await page.wait_for(f"{by_id('chat')}.textContent.includes({json.dumps(WEATHER_ANSWER)})")
            await page.wait_for(f"{by_id('status')}.textContent === 'done'")
            turns = await page.evaluate(
                "[...document.querySelectorAll('.turn')].map(t => ({kind: t.className, text: t.textContent, "
                "name: t.dataset.name || null, status: t.dataset.status || null}))"
            )
            errors = await page.evaluate(f"{by_id('rt-error')}.hidden")
            send_enabled = await page.evaluate(f"!{by_id('send')}.disabled")
        assert errors is True, page.console
        assert send_enabled
        kinds = [turn["kind"] for turn in turns]
        assert kinds == ["turn user", "turn assistant", "turn user", "turn assistant", "turn tool", "turn assistant"]
        assert turns[2]["text"].endswith("What's the weather in Paris?")
        assert turns[3]["text"].endswith("Let me check the weather for you.")
        tool = turns[4]
        assert (tool["name"], tool["status"]) == ("get_weather", "done")
        assert 'get_weather({"city":"Paris"})' in tool["text"]
        assert '→ {"city":"Paris","sky":"sunny","celsius":22}' in tool["text"]
        assert turns[5]["text"].endswith(WEATHER_ANSWER)

        # What the page sent: its tool declared after connecting, the tool's output, its own response.create.
        update = mock.assert_event("client", "session.update")
        assert [t["name"] for t in update["session"]["tools"]] == ["get_weather"]
        output = mock.assert_event("client", "conversation.item.create", item={"type": "function_call_output"})
        call = mock.assert_event("server", "response.output_item.done", item={"type": "function_call"})
        assert output["item"]["call_id"] == call["item"]["call_id"]
        assert len(mock.events("client", "response.create")) == 3


# --- the demo backend, as a script ----------------------------------------------------------------


def read_line(stream: IO[str], timeout: float) -> str:
    """The next line of a child's output, or "" if none came within ``timeout`` seconds."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return lines[0].strip() if lines else ""


def test_demo_backend_script() -> None:
    with MockServer() as mock:
        command = [sys.executable, str(EXAMPLES / "demo_backend.py"), "--port", "0", "--mock-url", mock.base_url]
        with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
            try:
                assert process.stdout is not None
                line = read_line(process.stdout, STARTUP_TIMEOUT)
                match = LISTENING.match(line)
                assert match, f"unexpected first line {line!r}"
                request = urllib.request.Request(
                    f"{match[1]}/session",
                    data=json.dumps({"seconds": 120}).encode(),
                    headers={"Content-Type": "application/json"},
                    method="POST",
                )
                with urllib.request.urlopen(request, timeout=STARTUP_TIMEOUT) as response:
                    data = json.load(response)
                assert data["value"].startswith("ek_")
                assert data["expires_at"] - int(data["value"][3:11], 16) == 120
                mock.assert_minted(1)
            finally:
                process.terminate()
                try:
                    _, stderr = process.communicate(timeout=EXIT_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.communicate()
                    raise AssertionError(f"the demo backend did not exit within {EXIT_TIMEOUT:g} s") from None
        assert process.returncode == 0, stderr


# --- the Node example -----------------------------------------------------------------------------


def _node_modules_match_the_lock() -> bool:
    """Whether examples/node/node_modules holds exactly the packages of package-lock.json (npm's own record)."""
    installed = NODE_EXAMPLE / "node_modules" / ".package-lock.json"
    if not installed.is_file():
        return False
    locked = json.loads((NODE_EXAMPLE / "package-lock.json").read_text())["packages"]
    have = json.loads(installed.read_text())["packages"]
    return {name: entry.get("version") for name, entry in locked.items() if name} == {
        name: entry.get("version") for name, entry in have.items()
    }


def ensure_node_dependencies() -> None:
    """``npm ci`` in examples/node unless what the lock file pins is installed there already.

    Test workers share the folder: an exclusive lock makes one of them install while the others wait.
    """
    lock_path = Path(tempfile.gettempdir()) / "openai-realtime-mock-npm-ci.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if _node_modules_match_the_lock():
                return
            npm = shutil.which("npm")
            assert npm is not None, "npm is needed for the Node examples"
            result = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=NODE_EXAMPLE,
                capture_output=True,
                text=True,
                timeout=NPM_CI_TIMEOUT,
                check=False,
            )
            assert result.returncode == 0, result.stderr
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def test_node_example_mints_and_reports_errors() -> None:
    node = shutil.which("node")
    assert node is not None, "node is needed for the Node example"
    ensure_node_dependencies()
    with MockServer() as mock:
        env = {**os.environ, "OPENAI_BASE_URL": mock.base_url, "OPENAI_API_KEY": "sk-node-test"}
        result = subprocess.run(
            [node, str(NODE_EXAMPLE / "mint.mjs")],
            cwd=NODE_EXAMPLE,
            env=env,
            capture_output=True,
            text=True,
            timeout=STARTUP_TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        minted, error = result.stdout.splitlines()
        match = re.fullmatch(r"value=(ek_[0-9a-f]{32}) expires_at=(\d+) session=(sess_[A-Za-z0-9]{21})", minted)
        assert match, minted
        assert error == "error=400 unknown_parameter session.bogus"

        (secret,) = mock.assert_minted(1)
        assert secret.value == match[1]
        assert secret.expires_at == int(match[2])
        first, second = mock.assert_attempts(2)
        assert first.headers["x-stainless-lang"] == "js"
        assert second.status == 400
