"""A Realtime client for the tests: an aiohttp WebSocket speaking JSON events, each one checked against the
official SDK's ``RealtimeServerEvent`` types as it arrives, plus minting and refusal helpers.

Everything here talks to 127.0.0.1 only, and every wait is bounded by ``TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pydantic
from aiohttp import WSMsgType
from openai.types.realtime import RealtimeServerEvent

from mockserver.testing import MockServer

#: Every wait in this module ends within this many seconds.
TIMEOUT = 5.0

EVENT_ID = re.compile(r"^event_[A-Za-z0-9]{21}$")
#: ``rtc_`` + 32 lowercase hex, as production's call ids (SESSION_TRUTH §1).
CALL_LOCATION = re.compile(r"^/v1/realtime/calls/(rtc_[0-9a-f]{32})$")
SERVER_EVENTS: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeServerEvent)

API_KEYS_URL = "https://platform.openai.com/account/api-keys"
#: GROUND_TRUTH §5.2, the long form (no Authorization header on a REST call).
MISSING_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth "
    "(i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the "
    "API from your browser and are prompted for a username and password. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)
#: GROUND_TRUTH §5.3, verbatim.
UNKNOWN_EVENT_MESSAGE = (
    "Invalid value: 'nope'. Supported values are: 'session.update', 'session.close', 'input_audio_buffer.append', "
    "'session.input_audio_buffer.append', 'input_audio_buffer.commit', 'input_audio_buffer.clear', "
    "'conversation.item.create', 'conversation.item.truncate', 'conversation.item.delete', "
    "'conversation.item.retrieve', 'response.create', and 'response.cancel'."
)

#: The SDK types ``session.created`` / ``session.updated`` with the *request* shape of a session, which has
#: no ``id``, ``object`` or ``expires_at``; the GA spec's ``session.created`` example has all three. These are
#: the only fields the SDK's models may find unknown.
SDK_SESSION_EXTRAS = frozenset({"$.session.id", "$.session.object", "$.session.expires_at"})
#: GA adds ``obfuscation`` to text, transcript and transcription deltas (SESSION_TRUTH §1); the SDK does not type it.
SDK_EXTRAS = SDK_SESSION_EXTRAS | {"$.obfuscation"}

SK = "sk-test"
MODEL = "gpt-realtime"
HELLO_ITEM = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello!"}]}

#: A small but realistic browser offer: one audio m-line and the data channel, BUNDLEd, mids 0 and 1.
SDP_OFFER = (
    "\r\n".join(
        [
            "v=0",
            "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
            "s=-",
            "t=0 0",
            "a=group:BUNDLE 0 1",
            "a=extmap-allow-mixed",
            "a=msid-semantic: WMS 5a8c2f0e-7d1b-4a3e-9c6f-2b1d0e9f8a7c",
            "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8",
            "c=IN IP4 0.0.0.0",
            "a=rtcp:9 IN IP4 0.0.0.0",
            "a=ice-ufrag:Fq3b",
            "a=ice-pwd:0pN4dXvA6l8wJ2gYkTq1RzEm",
            "a=ice-options:trickle",
            "a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:"
            "D0:A1:2C:19:08",
            "a=setup:actpass",
            "a=mid:0",
            "a=sendrecv",
            "a=msid:5a8c2f0e-7d1b-4a3e-9c6f-2b1d0e9f8a7c 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
            "a=rtcp-mux",
            "a=rtpmap:111 opus/48000/2",
            "a=fmtp:111 minptime=10;useinbandfec=1",
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:8 PCMA/8000",
            "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
            "c=IN IP4 0.0.0.0",
            "a=ice-ufrag:Fq3b",
            "a=ice-pwd:0pN4dXvA6l8wJ2gYkTq1RzEm",
            "a=ice-options:trickle",
            "a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:"
            "D0:A1:2C:19:08",
            "a=setup:actpass",
            "a=mid:1",
            "a=sctp-port:5000",
            "a=max-message-size:262144",
        ]
    )
    + "\r\n"
)


# --- checking server events ---------------------------------------------------------------------------


def unknown_fields(value: Any, path: str = "$") -> list[str]:
    """Dotted paths of fields the SDK's models kept as extras (fields its types do not declare)."""
    found: list[str] = []
    if isinstance(value, pydantic.BaseModel):
        found += [f"{path}.{name}" for name in value.model_extra or {}]
        for name in type(value).model_fields:
            found += unknown_fields(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += unknown_fields(item, f"{path}[{index}]")
    return found


def check_event(event: dict[str, Any]) -> Any:
    """A server event as production's would be: a well-formed id, valid against the SDK's types."""
    assert isinstance(event.get("event_id"), str), event
    assert EVENT_ID.fullmatch(event["event_id"]), event["event_id"]
    parsed = SERVER_EVENTS.validate_python(event, strict=False)
    assert parsed.type == event["type"], (type(parsed).__name__, event["type"])
    assert set(unknown_fields(parsed)) <= SDK_EXTRAS, (event["type"], unknown_fields(parsed))
    return parsed


def without_expiry(session: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in session.items() if key != "expires_at"}


def masked(key: str) -> str:
    """A regex for ``key`` as OpenAI echoes it: first 8 characters, stars, last 4 (GROUND_TRUTH §5.2)."""
    return re.escape(key[:8]) + r"\*+" + re.escape(key[-4:])


# --- connecting ---------------------------------------------------------------------------------------


def ws_url(mock: MockServer, query: str = f"model={MODEL}") -> str:
    url = mock.base_url.replace("http://", "ws://", 1) + "/realtime"
    return f"{url}?{query}" if query else url


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Socket:
    """An aiohttp client WebSocket speaking JSON events; every received event is checked and kept."""

    #: How each received event is checked (a subclass checks another family of events).
    check = staticmethod(check_event)

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []

    async def send(self, event: Mapping[str, Any]) -> None:
        await self.ws.send_str(json.dumps(event))

    async def recv(self) -> dict[str, Any]:
        message = await self.ws.receive(timeout=TIMEOUT)
        assert message.type == WSMsgType.TEXT, f"expected a text frame, got {message!r}"
        event = json.loads(message.data)
        assert isinstance(event, dict), event
        self.check(event)
        self.received.append(event)
        return event

    async def recv_n(self, count: int) -> list[dict[str, Any]]:
        return [await self.recv() for _ in range(count)]

    async def until(self, event_type: str, limit: int = 200) -> list[dict[str, Any]]:
        """Events up to and including the first one of ``event_type``."""
        events: list[dict[str, Any]] = []
        for _ in range(limit):
            events.append(await self.recv())
            if events[-1]["type"] == event_type:
                return events
        raise AssertionError(f"no {event_type} within {limit} events: {[e['type'] for e in events]}")

    async def ask(self, event: Mapping[str, Any], count: int = 1) -> list[dict[str, Any]]:
        await self.send(event)
        return await self.recv_n(count)


@asynccontextmanager
async def connect(
    http: aiohttp.ClientSession,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    protocols: Sequence[str] = (),
) -> AsyncIterator[Socket]:
    ws = await asyncio.wait_for(
        http.ws_connect(url, headers=headers, protocols=tuple(protocols), autoping=True), TIMEOUT
    )
    try:
        yield Socket(ws)
    finally:
        await asyncio.wait_for(ws.close(), TIMEOUT)


@asynccontextmanager
async def session(http: aiohttp.ClientSession, mock: MockServer, key: str = SK, query: str = f"model={MODEL}") -> Any:
    """An open Realtime session whose ``session.created`` has been read (``socket.received[0]``)."""
    async with connect(http, ws_url(mock, query), headers=bearer(key)) as socket:
        created = await socket.recv()
        assert created["type"] == "session.created", created
        yield socket


async def mint(http: aiohttp.ClientSession, mock: MockServer, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    """``POST /v1/realtime/client_secrets`` with the server key: status and JSON body."""
    async with http.post(f"{mock.base_url}/realtime/client_secrets", json=body, headers=bearer(SK)) as response:
        return response.status, await response.json()


async def mint_key(http: aiohttp.ClientSession, mock: MockServer, **session: Any) -> tuple[str, dict[str, Any]]:
    status, body = await mint(http, mock, {"session": {"type": "realtime", "model": MODEL, **session}})
    assert status == 200, body
    return body["value"], body["session"]


async def refusal(
    http: aiohttp.ClientSession,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    protocols: Sequence[str] = (),
) -> tuple[dict[str, Any], int | None, str]:
    """The one ``error`` event of a refused connection, then its close code and reason."""
    async with connect(http, url, headers=headers, protocols=protocols) as socket:
        error = await socket.recv()
        closing = await socket.ws.receive(timeout=TIMEOUT)
        assert closing.type == WSMsgType.CLOSE, closing
        assert closing.data == socket.ws.close_code
        return error, socket.ws.close_code, closing.extra


def assert_openai_error(
    event: dict[str, Any], *, code: str | None, message: str | None = None, param: str | None = None
) -> dict[str, Any]:
    assert event["type"] == "error", event
    error = event["error"]
    assert set(error) == {"type", "code", "message", "param", "event_id"}, error
    assert error["type"] == "invalid_request_error", error
    assert error["code"] == code, error
    assert error["param"] == param, error
    if message is not None:
        assert error["message"] == message, error
    return error
