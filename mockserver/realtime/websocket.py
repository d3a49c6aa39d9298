"""The Realtime WebSocket (``GET /v1/realtime``): a thin transport over the conversation engine.

As production does (GROUND_TRUTH §7), a WebSocket upgrade always succeeds; a bad key,
a missing or unsupported model, or the retired beta header then get one ``error``
event and a close with code 3000 or 4000 and the observed reason. Otherwise each text
frame goes to the engine (``engine.RealtimeEngine``) and each server event it emits
goes out in order, through the connection's faults, into the journal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import WSMsgType, web

from ..auth import api_key_from_header
from ..defaults import realtime_session, transcription_session
from ..errors import OpenAIError, incorrect_api_key
from ..keys import EXCHANGE, STATE, WS_FAULTS
from ..middleware import scope_of
from ..schemas.requests import REALTIME_MODELS
from ..state import MockState
from .events import FRAME_MAX_BYTES, error_event
from .link import EventLink
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
    link = EventLink(_Socket(ws, request), state, entry, request.get(WS_FAULTS))
    state.connections.add(ws)
    try:
        opening = _open(request, state)
        if isinstance(opening, _Refusal):
            await link.send(error_event(state.ids.event_id(), opening.error, None))
            await ws.close(code=opening.close_code, message=opening.reason.encode())
            link.note("closed", opening.reason)
            return ws
        await _converse(link, ws, opening)
    except Exception:
        # A bug of ours: the socket is already upgraded, so no HTTP error can be written. Log it and close
        # with 1011 (internal error), as a server does; the server keeps serving.
        log.exception("unhandled error in a Realtime session")
        if not ws.closed:
            await ws.close(code=1011, message=b"internal error")
    finally:
        state.connections.discard(ws)
    return ws


async def _converse(link: EventLink, ws: web.WebSocketResponse, opening: Opening) -> None:
    state = link.state

    async def close_normally() -> None:
        """``session.close`` (or the 60-minute cap): the session ends, the socket closes normally."""
        await ws.close(code=1000)

    engine = new_engine(state, opening, emit=link.send, on_close=close_normally, transport="websocket")
    link.note("session_id", engine.session["id"])
    if link.entry is not None and link.entry.scope is None and opening.scope is not None:
        # A browser cannot send X-Mock-Scope: its session belongs to the scope its key was minted in.
        link.entry.scope = opening.scope
    await engine.start()
    try:
        async for message in ws:
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                await engine.receive(message.data, observe=link.record_client)
            if link.dropped or ws.closed:
                break
    finally:
        await engine.close()


class _Socket:
    """The WebSocket's side of an :class:`EventLink`: text frames, and a drop that aborts the TCP connection."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.ws = ws
        self.request = request

    @property
    def closed(self) -> bool:
        return self.ws.closed

    async def send_text(self, text: str) -> None:
        await self.ws.send_str(text)

    def drop(self) -> None:
        """Drop the connection without a close frame, as a network failure would."""
        transport = self.request.transport
        if transport is not None:
            transport.abort()
