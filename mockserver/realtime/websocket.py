"""Using a minted key: the Realtime WebSocket (``GET /v1/realtime``) and WebRTC signalling
(``POST /v1/realtime/calls``).

As production does (GROUND_TRUTH §7), a WebSocket upgrade always succeeds; a bad key,
a missing or unsupported model, or the retired beta header then get one ``error``
event and a close with code 3000 or 4000 and the observed reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from ..auth import api_key_from_header
from ..body import parse_json
from ..defaults import realtime_session, transcription_session
from ..errors import OpenAIError, incorrect_api_key
from ..keys import EXCHANGE, STATE, WS_FAULTS
from ..secrets import ClientSecret
from ..state import MockState
from .conversation import RealtimeConversation, error_event, faker_text, is_supported_model
from .events import FRAME_MAX_BYTES

__all__ = ["connect", "remember_session"]

log = logging.getLogger("mockserver")

SUBPROTOCOL_KEY_PREFIX = "openai-insecure-api-key."
_DELTA_TYPES = frozenset({"response.output_text.delta", "response.output_audio_transcript.delta"})
#: Journal entries keep at most this many events of a connection.
JOURNAL_EVENTS = 500
#: Sessions remembered per secret.
SESSIONS_PER_SECRET = 100
EXAMPLE_MODEL = "gpt-realtime-1.5"


@dataclass(frozen=True)
class _Refusal:
    error: OpenAIError
    close_code: int
    reason: str


@dataclass(frozen=True)
class _Opening:
    session: dict[str, Any]
    request: dict[str, Any]
    secret: ClientSecret | None


def _key_from_request(request: web.Request) -> str | None:
    key = api_key_from_header(request.headers.get("Authorization"))
    if key is not None:
        return key
    protocols = request.headers.get("Sec-WebSocket-Protocol", "")
    for protocol in (p.strip() for p in protocols.split(",")):
        if protocol.startswith(SUBPROTOCOL_KEY_PREFIX) and len(protocol) > len(SUBPROTOCOL_KEY_PREFIX):
            return protocol[len(SUBPROTOCOL_KEY_PREFIX) :]
    return None


def _invalid_key(key: str) -> _Refusal:
    return _Refusal(incorrect_api_key(key), 3000, "invalid_request_error.invalid_api_key")


def _open(request: web.Request, state: MockState) -> _Opening | _Refusal:
    """What this connection opens, or why it is refused (in production's order)."""
    if "realtime=v1" in request.headers.get("OpenAI-Beta", ""):
        error = OpenAIError(
            400,
            "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API.",
            code="beta_api_shape_disabled",
        )
        return _Refusal(error, 4000, "invalid_request_error.beta_api_shape_disabled")
    key = _key_from_request(request)
    if key is None:
        error = OpenAIError(401, "Missing bearer or basic authentication in header")
        return _Refusal(error, 3000, "invalid_request_error")
    now = state.clock.now()
    if key.startswith("ek_"):
        secret = state.secrets.get(key)
        if secret is None or secret.status(now) != "active":
            return _invalid_key(key)
        return _Opening(secret.session, secret.session_request, secret)
    if state.settings.api_keys and key not in state.settings.api_keys:
        return _invalid_key(key)
    session_id = state.ids.session_id()
    if request.query.get("intent") == "transcription":
        return _Opening(transcription_session({}, session_id), {"type": "transcription"}, None)
    model = request.query.get("model")
    if not model:
        error = OpenAIError(
            400,
            f"You must provide a model parameter, for example wss://api.openai.com/v1/realtime?model={EXAMPLE_MODEL}",
            code="missing_model",
        )
        return _Refusal(error, 4000, "invalid_request_error.missing_model")
    if not is_supported_model(model):
        error = OpenAIError(400, f'Model "{model}" is not supported in realtime mode.', code="invalid_model")
        return _Refusal(error, 4000, "invalid_request_error.invalid_model")
    asked = {"type": "realtime", "model": model}
    return _Opening(realtime_session(asked, session_id), asked, None)


async def connect(request: web.Request) -> web.StreamResponse:
    """``GET /v1/realtime``: a Realtime WebSocket session."""
    state = request.app[STATE]
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    ws = web.WebSocketResponse(
        protocols=("realtime",) if "realtime" in offered else (), heartbeat=20.0, max_msg_size=FRAME_MAX_BYTES
    )
    if not ws.can_prepare(request).ok:
        raise OpenAIError(
            400, "This endpoint expects a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket).", code=None
        )
    await ws.prepare(request)
    entry = request.get(EXCHANGE)
    faults = request.get(WS_FAULTS)
    link = _Link(
        ws, request, state, entry, faults.drop_after_events if faults else None, faults.event_delay_ms if faults else 0
    )
    state.connections.add(ws)
    try:
        opening = _open(request, state)
        if isinstance(opening, _Refusal):
            await link.send(error_event(state.ids, opening.error))
            await ws.close(code=opening.close_code, message=opening.reason.encode())
            link.note("closed", opening.reason)
            return ws
        await _converse(request, link, opening)
    finally:
        state.connections.discard(ws)
    return ws


async def _converse(request: web.Request, link: _Link, opening: _Opening) -> None:
    state = link.state
    conversation = RealtimeConversation.open(
        state.ids,
        opening.session,
        opening.request,
        state.clock.now(),
        faker_text(state.seed, state.next_connection()),
    )
    if opening.secret is not None:
        remember_session(opening.secret, conversation.session["id"], "websocket", state.clock.now(), None)
    await link.send(conversation.session_created())

    def finished(response_id: str) -> None:
        if conversation.active is not None and conversation.active.id == response_id:
            conversation.response_finished()

    sender = asyncio.create_task(link.drain(finished, conversation.streamed))
    try:
        async for message in link.ws:
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                link.record("client", message.data)
                events = conversation.receive(message.data)
                if conversation.closing:
                    await link.ws.close(code=1000)
                    break
                # A new response's events are tagged with its id, so a cancel can skip the rest of them.
                started = bool(events) and events[0]["type"] == "response.created" and conversation.active is not None
                tag = conversation.active.id if started and conversation.active is not None else None
                for event in events:
                    link.queue.put_nowait((event, tag))
                if conversation.active is not None and conversation.active.cancelled:
                    link.cancelled.add(conversation.active.id)
                    conversation.response_finished()
            if link.dropped:
                break
    finally:
        link.queue.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(sender, timeout=5)
        if conversation.active is not None:
            conversation.response_finished()


def _event_fields(text: str) -> tuple[object, object]:
    """A client frame's ``type`` and ``event_id`` (``None`` when it is not a JSON object)."""
    try:
        value = parse_json(text.encode())
    except OpenAIError:
        return None, None
    if not isinstance(value, dict):
        return None, None
    return value.get("type"), value.get("event_id")


class _Link:
    """One socket: sends server events in order (paced, droppable) and journals both directions."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        state: MockState,
        entry: Any,
        drop_after: int | None,
        delay_ms: float,
    ) -> None:
        self.ws = ws
        self.request = request
        self.state = state
        self.entry = entry
        self.drop_after = drop_after
        self.delay_ms = min(delay_ms, state.settings.latency_max_ms)
        self.sent = 0
        self.dropped = False
        self.queue: asyncio.Queue[tuple[dict[str, Any], str | None] | None] = asyncio.Queue()
        self.cancelled: set[str] = set()

    async def send(self, event: dict[str, Any]) -> None:
        if self.dropped or self.ws.closed:
            return
        if self.delay_ms > 0:
            await asyncio.sleep(self.delay_ms / 1000)
        if self.drop_after is not None and self.sent >= self.drop_after:
            self._drop()
            return
        await self.ws.send_json(event)
        self.sent += 1
        self.record("server", event)

    async def drain(self, finished: Callable[[str], None], streamed: dict[str, list[str]]) -> None:
        """Send queued events in order; events of a cancelled response are skipped.

        The text deltas actually sent are kept per response, so a cancellation can report
        only what the client saw.
        """
        while (queued := await self.queue.get()) is not None:
            event, response_id = queued
            if response_id is not None and response_id in self.cancelled:
                continue
            with contextlib.suppress(ConnectionError):
                await self.send(event)
            if response_id is None:
                continue
            if event["type"] in _DELTA_TYPES:
                streamed.setdefault(response_id, []).append(event["delta"])
            elif event["type"] == "response.done":
                streamed.pop(response_id, None)
                finished(response_id)

    def _drop(self) -> None:
        """Drop the connection without a close frame, as a network failure would."""
        self.dropped = True
        self.note("dropped", f"after {self.sent} server events")
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    def record(self, direction: str, event: Any) -> None:
        if self.entry is None or not self.state.journal.enabled:
            return
        events = self.entry.extra.setdefault("events", [])
        if len(events) >= JOURNAL_EVENTS:
            self.entry.extra["events_dropped"] = self.entry.extra.get("events_dropped", 0) + 1
            return
        if isinstance(event, bytes):
            events.append({"direction": direction, "type": None, "event_id": None, "binary": True, "size": len(event)})
        elif isinstance(event, str):
            kind, event_id = _event_fields(event)
            events.append({"direction": direction, "type": kind, "event_id": event_id, "size": len(event)})
        else:
            events.append({"direction": direction, "type": event.get("type"), "event_id": event.get("event_id")})

    def note(self, what: str, detail: str) -> None:
        if self.entry is not None:
            self.entry.extra[what] = detail


def remember_session(secret: ClientSecret, session_id: str, transport: str, now: float, call_id: str | None) -> None:
    opened: dict[str, Any] = {"session_id": session_id, "transport": transport, "opened_at": int(now)}
    if call_id is not None:
        opened["call_id"] = call_id
    secret.sessions_opened.append(opened)
    del secret.sessions_opened[:-SESSIONS_PER_SECRET]
