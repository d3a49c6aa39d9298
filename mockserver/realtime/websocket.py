"""The Realtime WebSocket (``GET /v1/realtime``): a thin transport over the conversation engine.

As production does (GROUND_TRUTH §7), a WebSocket upgrade always succeeds; a bad key,
a missing or unsupported model, or the retired beta header then get one ``error``
event and a close with code 3000 or 4000 and the observed reason. Otherwise each text
frame goes to the engine (``engine.RealtimeEngine``) and each server event it emits
goes out in order, through the connection's faults, into the journal.
"""

from __future__ import annotations

from aiohttp import WSMsgType, web

from ..defaults import realtime_session, transcription_session
from ..errors import OpenAIError
from ..keys import STATE
from ..middleware import scope_of
from ..schemas.requests import REALTIME_MODELS
from ..state import MockState
from .attach import attach_to_call
from .link import EventLink
from .sessions import Opening, new_engine
from .sockets import Refusal as _Refusal
from .sockets import Upgraded, refuse, serve
from .sockets import invalid_key as _invalid_key
from .sockets import key_from_request as _key_from_request

__all__ = ["connect", "is_supported_model"]

#: Model families that speak the Realtime protocol, besides the spec's enum.
_REALTIME_PREFIXES = ("gpt-realtime", "gpt-4o-realtime", "gpt-4o-mini-realtime", "gpt-audio")
EXAMPLE_MODEL = "gpt-realtime-1.5"


def is_supported_model(model: str) -> bool:
    """Whether ``?model=`` names a Realtime model (the spec's list, or one of its families)."""
    return model in REALTIME_MODELS or model.startswith(_REALTIME_PREFIXES)


async def _open(request: web.Request, state: MockState) -> Opening | _Refusal:
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
        secret = await state.store.get_secret(key)
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
    """``GET /v1/realtime``: a Realtime WebSocket session (``?call_id=``: attached to a call's session)."""
    call_id = request.query.get("call_id")
    if call_id is not None:
        return await attach_to_call(request, call_id)

    async def converse(upgraded: Upgraded) -> None:
        opening = await _open(request, request.app[STATE])
        if isinstance(opening, _Refusal):
            await refuse(upgraded, opening)
            return
        await _converse(upgraded.link, upgraded.ws, opening)

    return await serve(request, converse, "a Realtime session")


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
