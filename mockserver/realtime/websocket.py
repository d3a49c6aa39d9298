"""The Realtime WebSocket (``GET /v1/realtime``): a thin transport over the conversation engine.

As production does (GROUND_TRUTH §7), a WebSocket upgrade always succeeds; a bad key,
a missing or unsupported model, or the retired beta header then get one ``error``
event and a close with code 3000 or 4000 and the observed reason. Otherwise each text
frame goes to the engine (``engine.RealtimeEngine``) and each server event it emits
goes out in order, through the connection's faults, into the journal.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from ..auth import api_key_from_header
from ..defaults import realtime_session, transcription_session
from ..errors import OpenAIError, incorrect_api_key
from ..journal import JournalEntry
from ..keys import EXCHANGE, STATE, WS_FAULTS
from ..middleware import scope_of
from ..schemas.requests import REALTIME_MODELS
from ..state import MockState
from .events import FRAME_MAX_BYTES, error_event
from .recording import EventLog
from .sessions import Opening, new_engine

__all__ = ["connect", "is_supported_model"]

log = logging.getLogger("mockserver")

SUBPROTOCOL_KEY_PREFIX = "openai-insecure-api-key."
#: Model families that speak the Realtime protocol, besides the spec's enum.
_REALTIME_PREFIXES = ("gpt-realtime", "gpt-4o-realtime", "gpt-4o-mini-realtime", "gpt-audio")
EXAMPLE_MODEL = "gpt-realtime-1.5"


@dataclass(frozen=True)
class _Refusal:
    error: OpenAIError
    close_code: int
    reason: str


def is_supported_model(model: str) -> bool:
    """Whether ``?model=`` names a Realtime model (the spec's list, or one of its families)."""
    return model in REALTIME_MODELS or model.startswith(_REALTIME_PREFIXES)


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


def _open(request: web.Request, state: MockState) -> Opening | _Refusal:
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
        # A translation key opens translation sessions only (at /v1/realtime/translations).
        if secret is None or secret.status(now) != "active" or secret.kind != "realtime":
            return _invalid_key(key)
        return Opening(secret.session, secret.session_request, secret, secret.scope)
    if state.settings.api_keys and key not in state.settings.api_keys:
        return _invalid_key(key)
    scope = scope_of(request)
    session_id = state.ids.session_id()
    if request.query.get("intent") == "transcription":
        return Opening(transcription_session({}, session_id), {"type": "transcription"}, None, scope)
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
    return Opening(realtime_session(asked, session_id), asked, None, scope)


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
    if entry is not None:
        # Journaled now, not when the socket closes: its events are visible while it is open.
        entry.status = 101
        state.journal.record(entry)
    faults = request.get(WS_FAULTS)
    link = _Link(
        ws, request, state, entry, faults.drop_after_events if faults else None, faults.event_delay_ms if faults else 0
    )
    state.connections.add(ws)
    try:
        opening = _open(request, state)
        if isinstance(opening, _Refusal):
            await link.send(error_event(state.ids.event_id(), opening.error, None))
            await ws.close(code=opening.close_code, message=opening.reason.encode())
            link.note("closed", opening.reason)
            return ws
        await _converse(link, opening)
    except Exception:
        # A bug of ours: the socket is already upgraded, so no HTTP error can be written. Log it and close
        # with 1011 (internal error), as a server does; the server keeps serving.
        log.exception("unhandled error in a Realtime session")
        if not ws.closed:
            await ws.close(code=1011, message=b"internal error")
    finally:
        state.connections.discard(ws)
    return ws


async def _converse(link: _Link, opening: Opening) -> None:
    state = link.state
    engine = new_engine(state, opening, emit=link.send, on_close=link.close_normally, transport="websocket")
    link.note("session_id", engine.session["id"])
    if link.entry is not None and link.entry.scope is None and opening.scope is not None:
        # A browser cannot send X-Mock-Scope: its session belongs to the scope its key was minted in.
        link.entry.scope = opening.scope
    await engine.start()
    try:
        async for message in link.ws:
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                await engine.receive(message.data, observe=link.record_client)
            if link.dropped or link.ws.closed:
                break
    finally:
        await engine.close()


class _Link:
    """One socket: sends server events in order (delayed or dropped by faults) and journals both directions."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        state: MockState,
        entry: JournalEntry | None,
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
        self._lock = asyncio.Lock()
        self.log: EventLog | None = None
        if entry is not None and state.journal.enabled:
            self.log = EventLog()
            # Read when the journal is listed, so an open connection shows its events as they happen.
            entry.live["events"] = self.log.events
            entry.live["events_dropped"] = lambda: self.log.dropped if self.log else 0

    async def send(self, event: dict[str, Any]) -> None:
        """Send one server event; concurrent senders (responses, the receive loop) keep their order."""
        async with self._lock:
            if self.dropped or self.ws.closed:
                return
            if self.delay_ms > 0:
                await asyncio.sleep(self.delay_ms / 1000)
            if self.drop_after is not None and self.sent >= self.drop_after:
                self._drop()
                return
            try:
                await self.ws.send_str(dump_event(event))
            except ConnectionError:
                return
            self.sent += 1
            if self.log is not None:
                self.log.record("server", event)

    async def close_normally(self) -> None:
        """``session.close``: the client asked to end the session."""
        await self.ws.close(code=1000)

    def record_client(self, frame: str | bytes, event: dict[str, Any] | None) -> None:
        """Journal a client frame: the event as parsed, or what could be told of a frame that did not parse."""
        if self.log is None:
            return
        if event is not None:
            self.log.record("client", event)
        elif isinstance(frame, bytes):
            self.log.record("client", {"type": None, "binary": True, "size": len(frame)})
        else:
            self.log.record("client", {"type": None, "size": len(frame), "text": frame[:256]})

    def _drop(self) -> None:
        """Drop the connection without a close frame, as a network failure would."""
        self.dropped = True
        self.note("dropped", f"after {self.sent} server events")
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    def note(self, what: str, detail: str) -> None:
        if self.entry is not None:
            self.entry.extra[what] = detail


def dump_event(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))
