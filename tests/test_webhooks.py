"""``POST /__mock/calls``: a SIP call rings and the ``realtime.call.incoming`` webhook reaches the test's
URL, signed the Standard Webhooks way, so the official SDKs' ``webhooks.unwrap`` verifies it.

The receiver is a real aiohttp server on 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from jsonschema import Draft202012Validator
from openai import AsyncOpenAI, OpenAI

from mockserver.settings import Settings, SettingsError
from mockserver.testing import MockServer
from mockserver.webhooks import generated_secret, host_allowed, sign
from tests.helpers import FIXTURES
from tests.test_cli import running
from tests.test_examples import NODE_EXAMPLE, ensure_node_dependencies

SECRET = "whsec_" + base64.b64encode(b"a test signing key of 32 bytes!!").decode()
WEBHOOK_ID = re.compile(r"^wh_[0-9a-f]{32}$")
EVENT_ID = re.compile(r"^evt_[0-9a-f]{32}$")
CALL_ID = re.compile(r"^rtc_[0-9a-f]{32}$")
USER_AGENT = "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
WAIT = 10.0


@cache
def webhook_schema() -> Draft202012Validator:
    with (FIXTURES / "reference" / "translation-and-calls-schemas.yml").open() as handle:
        return Draft202012Validator(yaml.safe_load(handle)["resolved"]["webhook_realtime_call_incoming_schema"])


@dataclass
class Delivery:
    body: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    """A webhook endpoint: records deliveries, answers ``status`` after ``delay`` seconds, may act first."""

    server: TestServer
    deliveries: list[Delivery] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0
    on_delivery: Callable[[Delivery], Awaitable[None]] | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return str(self.server.make_url("/openai/webhook"))


@pytest.fixture
async def receiver(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> Receiver:
    holder: list[Receiver] = []

    async def hook(request: web.Request) -> web.Response:
        state = holder[0]
        delivery = Delivery(await request.read(), dict(request.headers))
        state.deliveries.append(delivery)
        state.arrived.set()
        if state.on_delivery is not None:
            await state.on_delivery(delivery)
        if state.delay:
            await asyncio.sleep(state.delay)
        return web.Response(status=state.status, text="ok")

    app = web.Application()
    app.router.add_post("/openai/webhook", hook)
    holder.append(Receiver(await aiohttp_server(app)))
    return holder[0]


@pytest.fixture
async def mock() -> AsyncIterator[MockServer]:
    async with MockServer(seed=3, webhook_secret=SECRET) as server:
        yield server


async def ring(mock: MockServer, **body: Any) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as http,
        http.post(f"{mock.url}/__mock/calls", json=body, headers=mock.headers) as response,
    ):
        return response.status, await response.json()


async def test_the_webhook_verifies_with_the_sdk_and_the_app_accepts_the_call(
    mock: MockServer, receiver: Receiver
) -> None:
    """The SIP flow of OpenAI's guide: webhook in, ``unwrap``, ``accept`` with the call id, all before answering."""
    backend = AsyncOpenAI(base_url=mock.base_url, api_key="sk-backend", webhook_secret=SECRET)
    unwrapped: list[Any] = []

    async def app_behaviour(delivery: Delivery) -> None:
        event = backend.webhooks.unwrap(delivery.body, delivery.headers)
        unwrapped.append(event)
        if event.type == "realtime.call.incoming":
            await backend.realtime.calls.accept(
                event.data.call_id, type="realtime", model="gpt-realtime", instructions="Say hello."
            )

    receiver.on_delivery = app_behaviour
    sent_at = time.time()
    status, call = await ring(
        mock,
        webhook_url=receiver.url,
        **{"from": "sip:+14155550123@pstn.example.com", "to": "sip:+18005551212@sip.example.com"},
    )
    await backend.close()

    assert status == 201
    assert CALL_ID.fullmatch(call["id"])
    assert (call["transport"], call["status"]) == ("sip", "accepted")
    assert call["session"]["instructions"] == "Say hello."
    assert call["webhook"]["delivered"] is True
    assert call["webhook"]["status_code"] == 200
    assert call["webhook"]["error"] is None
    assert call["webhook"]["url"] == receiver.url

    [delivery] = receiver.deliveries
    headers = {name.lower(): value for name, value in delivery.headers.items()}
    assert headers["user-agent"] == USER_AGENT
    assert headers["content-type"] == "application/json"
    assert WEBHOOK_ID.fullmatch(headers["webhook-id"])
    assert headers["webhook-id"] == call["webhook"]["webhook_id"]
    assert abs(int(headers["webhook-timestamp"]) - sent_at) < 60
    assert headers["webhook-signature"] == sign(
        SECRET, headers["webhook-id"], int(headers["webhook-timestamp"]), delivery.body
    )

    payload = json.loads(delivery.body)
    assert not list(webhook_schema().iter_errors(payload))
    assert list(payload) == ["object", "id", "type", "created_at", "data"]
    assert EVENT_ID.fullmatch(payload["id"])
    assert payload["data"]["call_id"] == call["id"]
    names = [h["name"] for h in payload["data"]["sip_headers"]]
    assert names == ["From", "To", "Call-ID"]
    assert payload["data"]["sip_headers"][0]["value"] == "sip:+14155550123@pstn.example.com"
    assert "sip_media_security" not in payload["data"]  # "Omitted when unknown"

    [event] = unwrapped
    assert event.type == "realtime.call.incoming"
    assert event.data.call_id == call["id"]


async def test_a_wrong_secret_or_a_changed_body_does_not_verify(mock: MockServer, receiver: Receiver) -> None:
    await ring(mock, webhook_url=receiver.url, sip_media_security="srtp")
    [delivery] = receiver.deliveries
    assert json.loads(delivery.body)["data"]["sip_media_security"] == "srtp"
    client = OpenAI(api_key="unused")
    client.webhooks.verify_signature(delivery.body, delivery.headers, secret=SECRET)
    other = "whsec_" + base64.b64encode(b"another key").decode()
    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.verify_signature(delivery.body, delivery.headers, secret=other)
    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.verify_signature(delivery.body + b" ", delivery.headers, secret=SECRET)


async def test_without_a_configured_secret_one_is_derived_from_the_seed(receiver: Receiver) -> None:
    async with MockServer(seed=99) as mock:
        await ring(mock, webhook_url=receiver.url)
        async with aiohttp.ClientSession() as http, http.get(f"{mock.url}/__mock/settings") as response:
            settings = await response.json()
        secret = mock.webhook_secret
    assert secret == generated_secret(99) == settings["webhook_secret"]
    assert settings["webhook_secret_source"] == "generated"
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    [delivery] = receiver.deliveries
    event = OpenAI(api_key="unused", webhook_secret=secret).webhooks.unwrap(delivery.body, delivery.headers)
    assert event.type == "realtime.call.incoming"


async def test_a_configured_secret_is_masked_in_the_settings(mock: MockServer) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{mock.url}/__mock/settings") as response:
        settings = await response.json()
    assert (settings["webhook_secret"], settings["webhook_secret_source"]) == ("whsec_***", "configured")
    assert mock.webhook_secret == SECRET


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, "the receiver answered 500 (a webhook needs a 2xx)"),
        (307, "the receiver answered 307 (a webhook needs a 2xx)"),
    ],
)
async def test_a_refused_delivery_is_reported_not_raised(
    mock: MockServer, receiver: Receiver, status: int, error: str
) -> None:
    receiver.status = status
    code, call = await ring(mock, webhook_url=receiver.url)
    assert code == 201
    assert call["status"] == "ringing"
    assert call["webhook"]["delivered"] is False
    assert (call["webhook"]["status_code"], call["webhook"]["error"]) == (status, error)
    [entry] = [e for e in mock.requests() if e.extra.get("kind") == "webhook"]
    assert (entry.method, entry.path, entry.status, entry.error) == ("POST", receiver.url, status, error)
    assert entry.extra["direction"] == "outbound"
    assert entry.body["data"]["call_id"] == call["id"]
    assert len(receiver.deliveries) == 1  # one attempt, no retries, no redirect followed


async def test_no_answer_in_time_is_reported(receiver: Receiver) -> None:
    receiver.delay = 5.0
    async with MockServer(webhook_timeout_ms=200) as mock:
        code, call = await ring(mock, webhook_url=receiver.url)
    assert code == 201
    assert (call["webhook"]["delivered"], call["webhook"]["status_code"]) == (False, None)
    assert call["webhook"]["error"] == "no answer within 0.2 s"


async def test_nobody_listening_is_reported(mock: MockServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, call = await ring(mock, webhook_url=f"http://127.0.0.1:{port}/hook")
    assert code == 201
    assert call["webhook"]["delivered"] is False
    assert call["webhook"]["status_code"] is None
    assert "ClientConnectorError" in call["webhook"]["error"]


@pytest.mark.parametrize(
    ("url", "code", "param"),
    [
        ("https://hooks.example.com/openai", "webhook_host_not_allowed", "webhook_url"),
        ("http://10.0.0.8/hook", "webhook_host_not_allowed", "webhook_url"),
        ("ftp://127.0.0.1/hook", "invalid_value", "webhook_url"),
        ("127.0.0.1:9/hook", "invalid_value", "webhook_url"),
    ],
)
async def test_webhooks_go_to_loopback_only_by_default(mock: MockServer, url: str, code: str, param: str) -> None:
    status, body = await ring(mock, webhook_url=url)
    assert status == 400
    assert (body["error"]["code"], body["error"]["param"]) == (code, param)
    assert mock.calls() == []  # refused before anything rang


def test_which_hosts_a_webhook_may_reach() -> None:
    assert host_allowed("http://127.0.0.1:8000/x", ())
    assert host_allowed("http://127.8.9.10/x", ())
    assert host_allowed("http://[::1]:8000/x", ())
    assert host_allowed("http://LOCALHOST/x", ())
    assert not host_allowed("http://app:8000/x", ())
    assert host_allowed("http://app:8000/x", ("app",))
    assert host_allowed("https://anything.example/x", ("*",))
    assert not host_allowed("http://127.0.0.1.nip.io/x", ())  # a name is never resolved to decide
    assert not host_allowed("http://user@/x", ())
    assert not host_allowed("http://[::1/x", ())


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"from": 5}, "from", "invalid_type"),
        ({"sip_headers": [{"name": "X-Case"}]}, "sip_headers[0].value", "missing_required_parameter"),
        ({"sip_media_security": "zrtp"}, "sip_media_security", "invalid_value"),
        ({"webhook": "http://127.0.0.1/"}, "webhook", "unknown_parameter"),
    ],
)
async def test_bad_call_bodies_are_400(mock: MockServer, body: dict[str, Any], param: str, code: str) -> None:
    status, answer = await ring(mock, **body)
    assert status == 400
    assert (answer["error"]["param"], answer["error"]["code"]) == (param, code)


async def test_extra_sip_headers_follow_the_standard_ones(mock: MockServer, receiver: Receiver) -> None:
    extra = [{"name": "X-Customer", "value": "42"}, {"name": "Diversion", "value": "<sip:+1@example.com>"}]
    _, call = await ring(mock, webhook_url=receiver.url, sip_headers=extra)
    sent = json.loads(receiver.deliveries[0].body)["data"]["sip_headers"]
    assert sent[3:] == extra
    assert call["sip_headers"] == sent


async def test_the_handle_rings_and_delivers_in_the_background(mock: MockServer, receiver: Receiver) -> None:
    call = mock.incoming_call(receiver.url, to="sip:+18005550000@sip.example.com")
    assert call.status == "ringing"
    assert call.webhook is not None
    assert call.webhook["pending"] is True
    await asyncio.wait_for(receiver.arrived.wait(), WAIT)
    for _ in range(200):
        webhook = mock.call(call.id).webhook
        if webhook is not None and "pending" not in webhook:
            break
        await asyncio.sleep(0.01)
    assert mock.call(call.id).webhook["delivered"] is True  # type: ignore[index]
    with pytest.raises(ValueError, match="is not on this machine"):
        mock.incoming_call("https://hooks.example.com/x")


def test_a_bad_webhook_secret_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="whsec_ followed by base64"):
        Settings(webhook_secret="whsec_!!!")
    assert Settings(webhook_secret="plain-text-secret").webhook_secret == "plain-text-secret"
    assert issubclass(SettingsError, ValueError)


async def test_the_node_sdk_verifies_the_webhook(mock: MockServer, receiver: Receiver) -> None:
    node = shutil.which("node")
    assert node is not None, "node is needed for the Node SDK check"
    ensure_node_dependencies()
    _, call = await ring(mock, webhook_url=receiver.url)
    [delivery] = receiver.deliveries
    stdin = json.dumps({"body": delivery.body.decode(), "headers": delivery.headers})

    def verify(secret: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [node, str(NODE_EXAMPLE / "unwrap_webhook.mjs")],
            input=stdin,
            env={"PATH": "/usr/bin:/bin", "OPENAI_WEBHOOK_SECRET": secret},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    good = await asyncio.to_thread(verify, SECRET)
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == f"type=realtime.call.incoming call_id={call['id']}"
    bad = await asyncio.to_thread(verify, "whsec_" + base64.b64encode(b"wrong").decode())
    assert bad.returncode == 1
    assert "The given webhook signature does not match the expected signature" in bad.stderr


def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made by the openssl command."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command (apt-get install openssl)")
async def test_an_https_webhook_is_verified_against_the_users_ca_bundle(tmp_path: Path) -> None:
    """The command keeps the CA bundle from aiohttp's start-up contexts; an https webhook still verifies
    the receiver's certificate, against the bundle ``SSL_CERT_FILE`` names."""
    cert, key = _self_signed(tmp_path, "receiver")
    other, _ = _self_signed(tmp_path, "someone-else")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    delivered: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        delivered.append(await request.read())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    url = f"https://127.0.0.1:{runner.addresses[0][1]}/hook"
    calls = []
    try:
        for bundle in (cert, other):  # the receiver's own certificate trusted, then a bundle that lacks it
            with running("--log-level", "error", "--webhook-secret", SECRET, env={"SSL_CERT_FILE": str(bundle)}) as (
                _,
                port,
            ):
                async with (
                    aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as http,
                    http.post(f"http://127.0.0.1:{port}/__mock/calls", json={"webhook_url": url}) as response,
                ):
                    assert response.status == 201
                    calls.append((await response.json())["webhook"])
    finally:
        await runner.cleanup()
    trusted, unknown = calls
    assert (trusted["delivered"], trusted["status_code"], trusted["error"]) == (True, 200, None)
    assert json.loads(delivered[0])["type"] == "realtime.call.incoming"
    assert (unknown["delivered"], unknown["status_code"]) == (False, None)
    assert "certificate verify failed" in unknown["error"]
    assert len(delivered) == 1
