"""``GET /v1/realtime?call_id=rtc_...``: a WebSocket attached to an accepted call's session.

In order: the key (missing or invalid: the usual 101, ``error`` event and close 3000), then the call: an
unknown id, or a call that is not in progress with a session (ringing, rejected, referred, hung up, ended),
gets **HTTP 404 at the upgrade with an empty body**, as production answers an unknown id (SESSION_TRUTH
§3, §6.3); then an ``ek_`` key may attach only to the WebRTC call it opened. ``model`` is not needed (the
accept configured the session). The socket gets ``session.created`` (the call's session as it is now),
then every server event of the session, whichever connection caused it; it closes (1000) when the call
ends. The connection belongs to the call's scope.
"""

from __future__ import annotations

import copy

from aiohttp import WSMsgType, web

from ..calls import Call
from ..errors import OpenAIError
from ..keys import CALL_SESSIONS, EXCHANGE, STATE
from ..state import MockState
from .call_sessions import CallSession
from .sockets import Refusal, Upgraded, invalid_key, key_from_request, missing_key, refuse, serve

__all__ = ["attach_to_call", "attachable"]


def attachable(call: Call | None) -> bool:
    """Whether a socket can attach to ``call``: it is in progress (accepted) and has a session."""
    return call is not None and call.status == "accepted" and call.session is not None


async def _key_refusal(state: MockState, key: str | None) -> Refusal | None:
    """Why the key cannot attach to any call (as ``/v1/realtime`` refuses keys), or ``None``."""
    if key is None:
        return missing_key()
    if key.startswith("ek_"):
        secret = await state.store.get_secret(key)
        if secret is None or secret.status(state.clock.now()) != "active" or secret.kind != "realtime":
            return invalid_key(key)
    elif state.settings.api_keys and key not in state.settings.api_keys:
        return invalid_key(key)
    return None


def _not_its_call() -> Refusal:
    error = OpenAIError(
        401,
        "You have insufficient permissions for this operation. An ephemeral client secret (ek_...) can attach "
        "only to the WebRTC call it opened: use a standard API key.",
    )
    return Refusal(error, 3000, "invalid_request_error")


def _why_not(call_id: str, call: Call | None) -> str:
    if call is None:
        return f"no call with id '{call_id}'"
    return f"call '{call_id}' is {call.status.replace('_', ' ')}, not accepted"


async def attach_to_call(request: web.Request, call_id: str) -> web.StreamResponse:
    """Attach this WebSocket to the session of call ``call_id`` (module docstring: the rules)."""
    state = request.app[STATE]
    key = key_from_request(request)
    refusal = await _key_refusal(state, key)
    call = state.calls.get(call_id)
    if refusal is None and not attachable(call):
        entry = request.get(EXCHANGE)
        if entry is not None:
            entry.extra["attach"] = _why_not(call_id, call)
        # Production's answer to an unknown id: a plain 404 before any upgrade, no body.
        return web.Response(status=404)
    if refusal is None and call is not None and key is not None and key.startswith("ek_") and call.secret != key:
        refusal = _not_its_call()
    if refusal is not None or call is None:
        refused = refusal or missing_key()
        return await serve(request, lambda upgraded: refuse(upgraded, refused), "a refused Realtime connection")
    accepted = call

    async def converse(upgraded: Upgraded) -> None:
        session = await request.app[CALL_SESSIONS].attach(accepted)
        await _hold(upgraded, session, accepted)

    return await serve(request, converse, "a Realtime session attached to a call")


async def _hold(upgraded: Upgraded, session: CallSession, call: Call) -> None:
    """``session.created``, then the socket's client events to the call's engine until either side ends."""
    ws, link = upgraded.ws, upgraded.link
    engine = session.engine
    link.note("call_id", call.id)
    link.note("session_id", str(engine.session["id"]))
    if link.entry is not None and link.entry.scope is None and call.scope is not None:
        link.entry.scope = call.scope
    if engine.closed:
        await ws.close(code=1000, message=b"the session closed")
        return
    created = {
        "type": "session.created",
        "event_id": link.state.ids.event_id(),
        "session": copy.deepcopy(engine.session),
    }
    session.sidebands.add(upgraded)
    try:
        # Right after joining, with no await between: session.created is this socket's first event.
        await link.send(created)
        async for message in ws:
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                async with session.sidebands.lock:
                    await engine.receive(message.data, observe=link.record_client)
            if link.dropped or ws.closed:
                break
    finally:
        session.sidebands.remove(upgraded)
