"""A translation-session client for the tests: every server event checked against the official SDK's
``RealtimeTranslationServerEvent`` types as it arrives, plus minting, audio and refusal helpers.

Everything here talks to 127.0.0.1 only, and every wait is bounded by ``TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pydantic
from aiohttp import WSMsgType
from openai.types.realtime import RealtimeTranslationServerEvent

from mockserver.realtime.audio import format_of, silence, tone
from mockserver.testing import MockServer

from .realtime_client import EVENT_ID, SK, Socket, bearer, unknown_fields

#: Every wait in this module ends within this many seconds.
TIMEOUT = 5.0
MODEL = "gpt-realtime-translate"
PCM = format_of({"type": "audio/pcm", "rate": 24000})
#: 200 ms of 24 kHz PCM16, the engine's frame.
FRAME_BYTES = 9600
TRANSLATION_EVENTS: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeTranslationServerEvent)
DELTAS = ("session.input_transcript.delta", "session.output_transcript.delta", "session.output_audio.delta")


def check_translation_event(event: dict[str, Any]) -> Any:
    """A server event as the SDK types it: a well-formed id, valid, and no field the SDK does not declare."""
    assert isinstance(event.get("event_id"), str), event
    assert EVENT_ID.fullmatch(event["event_id"]), event["event_id"]
    parsed = TRANSLATION_EVENTS.validate_python(event, strict=False)
    assert parsed.type == event["type"], (type(parsed).__name__, event["type"])
    assert unknown_fields(parsed) == [], (event["type"], unknown_fields(parsed))
    return parsed


def speech(speech_ms: float, after_ms: float = 600, before_ms: float = 0) -> bytes:
    """A 440 Hz tone at half of full scale (speech at the default threshold) between stretches of silence."""
    return silence(before_ms, PCM) + tone(440, speech_ms, 0.5, PCM) + silence(after_ms, PCM)


def b64(audio: bytes) -> str:
    return base64.b64encode(audio).decode("ascii")


def append(audio: bytes, event_id: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "session.input_audio_buffer.append", "audio": b64(audio)}
    if event_id is not None:
        event["event_id"] = event_id
    return event


def translations_url(mock: MockServer, query: str = f"model={MODEL}", *, v1: bool = True) -> str:
    base = mock.base_url if v1 else mock.url
    url = base.replace("http://", "ws://", 1) + "/realtime/translations"
    return f"{url}?{query}" if query else url


class TranslationSocket(Socket):
    """The Realtime tests' socket, its events checked as translation events."""

    check = staticmethod(check_translation_event)

    async def send(self, event: Mapping[str, Any] | str) -> None:
        await self.ws.send_str(event if isinstance(event, str) else json.dumps(event))

    async def reply(self, event: Mapping[str, Any] | str) -> dict[str, Any]:
        """Send ``event``, and the one event that answers it."""
        await self.send(event)
        return await self.recv()

    async def close_session(self) -> list[dict[str, Any]]:
        """``session.close``: what came before ``session.closed`` and it, then the normal close (1000)."""
        await self.send({"type": "session.close"})
        events = await self.until("session.closed")
        await self.closed_with(1000)
        return events

    async def closed_with(self, code: int) -> None:
        message = await self.ws.receive(timeout=TIMEOUT)
        assert message.type == WSMsgType.CLOSE, message
        assert message.data == code, message


@asynccontextmanager
async def translation(
    http: aiohttp.ClientSession, mock: MockServer, key: str = SK, query: str = f"model={MODEL}", *, v1: bool = True
) -> AsyncIterator[TranslationSocket]:
    """An open translation session whose ``session.created`` has been read (``socket.received[0]``)."""
    ws = await asyncio.wait_for(http.ws_connect(translations_url(mock, query, v1=v1), headers=bearer(key)), TIMEOUT)
    try:
        socket = TranslationSocket(ws)
        created = await socket.recv()
        assert created["type"] == "session.created", created
        yield socket
    finally:
        await asyncio.wait_for(ws.close(), TIMEOUT)


async def mint_translation_key(
    http: aiohttp.ClientSession, mock: MockServer, headers: Mapping[str, str] | None = None, **session: Any
) -> tuple[str, dict[str, Any]]:
    """A translation ``ek_`` key (``POST /v1/realtime/translations/client_secrets``) and its minted session."""
    body = {"session": {"model": MODEL, **session}}
    async with http.post(
        f"{mock.base_url}/realtime/translations/client_secrets", json=body, headers={**bearer(SK), **(headers or {})}
    ) as response:
        payload = await response.json()
        assert response.status == 200, payload
    return payload["value"], payload["session"]


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [event for event in events if event["type"] == kind]


def text_of(events: list[dict[str, Any]], kind: str) -> str:
    return "".join(event["delta"] for event in of_type(events, kind))


def audio_of(events: list[dict[str, Any]]) -> bytes:
    return b"".join(base64.b64decode(event["delta"]) for event in of_type(events, "session.output_audio.delta"))
