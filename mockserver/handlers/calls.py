"""Call control, the emulated OpenAI routes: ``POST /v1/realtime/calls/{call_id}/accept|reject|refer|hangup``.

Each answers 200 with an empty body, as production does. In order: the key (a server API
key; an ``ek_`` key only hangs up the WebRTC call it opened), the call (404 in OpenAI's
envelope when unknown), the body (accept's through the mint's own session model), then
the call's state (400 ``invalid_call_state`` when the action does not fit it).
"""

from __future__ import annotations

from aiohttp import web

from ..auth import api_key_from_header
from ..calls import Call, CallAction, CallStateError, next_status
from ..errors import OpenAIError, incorrect_api_key, missing_api_key
from ..keys import CALL_SESSIONS, STATE, WEBRTC_CALLS
from ..plans import ACCEPT, PlanKind
from ..schemas.calls import CallReferRequest, CallRejectRequest
from ..schemas.validation import validate_model
from ..state import MockState

__all__ = ["DEFAULT_REJECT_STATUS", "accept_call", "hangup_call", "refer_call", "reject_call"]

#: "Defaults to 603 (Decline) when omitted." (spec)
DEFAULT_REJECT_STATUS = 603

REJECT: PlanKind[CallRejectRequest] = PlanKind("reject", lambda body: validate_model(CallRejectRequest, body))
REFER: PlanKind[CallReferRequest] = PlanKind("refer", lambda body: validate_model(CallReferRequest, body))


def _not_found(call_id: str) -> OpenAIError:
    return OpenAIError(404, f"No call found with id '{call_id}'.")


def _insufficient_permissions(action: CallAction) -> OpenAIError:
    doing = {"accept": "accept", "reject": "reject", "refer": "refer", "hangup": "hang up"}[action]
    return OpenAIError(
        401,
        f"You have insufficient permissions for this operation. An ephemeral client secret (ek_...) cannot {doing} "
        "this call: use a standard API key (an ek_ key may only hang up the WebRTC call it opened).",
    )


async def _caller_key(request: web.Request, state: MockState) -> str:
    """The caller's key: any valid one (``ek_`` keys are checked against the calls later)."""
    key = api_key_from_header(request.headers.get("Authorization"))
    if key is None:
        raise missing_api_key()
    if key.startswith("ek_"):
        secret = await state.store.get_secret(key)
        if secret is None:
            raise incorrect_api_key(key)
    elif state.settings.api_keys and key not in state.settings.api_keys:
        raise incorrect_api_key(key)
    return key


def _find(request: web.Request, state: MockState, key: str, action: CallAction) -> Call | None:
    """The call (``None`` for a placeholder id); 404 for an unknown one; 401 for an ``ek_`` key it does not take."""
    call_id = request.match_info["call_id"]
    placeholder = call_id in state.settings.placeholder_call_ids
    call = None if placeholder else state.calls.get(call_id)
    if call is None and not placeholder:
        raise _not_found(call_id)
    if key.startswith("ek_") and (call is None or action != "hangup" or call.secret != key):
        raise _insufficient_permissions(action)
    return call


def _move(state: MockState, call: Call, action: CallAction) -> None:
    try:
        call.status = next_status(call.id, call.transport, call.status, action)
    except CallStateError as exc:
        raise OpenAIError(400, str(exc), param=None, code="invalid_call_state") from None
    call.updated_at = int(state.clock.now())


async def _prepare(request: web.Request, action: CallAction) -> tuple[MockState, Call | None, bytes]:
    """The state, the call (``None`` for a placeholder id: every action succeeds, nothing changes), the body."""
    state = request.app[STATE]
    key = await _caller_key(request, state)
    call = _find(request, state, key, action)
    return state, call, await request.read()


def _done() -> web.Response:
    # Production answers 200 with an empty body; the SDKs send ``Accept: */*`` and read nothing.
    return web.Response(status=200)


async def accept_call(request: web.Request) -> web.Response:
    """``accept``: the body is a realtime session, validated exactly as a mint's (same model, same errors)."""
    state, call, raw = await _prepare(request, "accept")
    plan = state.plans.plan(ACCEPT, raw)
    if call is not None:
        _move(state, call, "accept")
        call.session = plan.session_for(state.ids.session_id())
        call.session_request = plan.request
    return _done()


async def reject_call(request: web.Request) -> web.Response:
    """``reject``: optional ``status_code`` (a SIP 4xx-6xx; 603 Decline when omitted)."""
    state, call, raw = await _prepare(request, "reject")
    body = state.plans.plan(REJECT, raw)
    if call is not None:
        _move(state, call, "reject")
        call.reject_status_code = body.status_code or DEFAULT_REJECT_STATUS
    return _done()


async def refer_call(request: web.Request) -> web.Response:
    """``refer``: ``target_uri``, a ``tel:`` or ``sip:`` URI (it goes into the SIP ``Refer-To`` header)."""
    state, call, raw = await _prepare(request, "refer")
    body = state.plans.plan(REFER, raw)
    if call is not None:
        _move(state, call, "refer")
        call.refer_to = body.target_uri
        # The call went elsewhere: sockets attached to its session close.
        await request.app[CALL_SESSIONS].end(call.id, "the call was referred")
    return _done()


async def hangup_call(request: web.Request) -> web.Response:
    """``hangup``: no body; SIP and WebRTC calls alike."""
    state, call, _ = await _prepare(request, "hangup")
    if call is not None:
        _move(state, call, "hangup")
        if call.transport == "webrtc":
            # A live call (the webrtc extra) ends for real: its peer connection, data channel and engine.
            await request.app[WEBRTC_CALLS].hangup(call.id)
        await request.app[CALL_SESSIONS].end(call.id, "the call was hung up")
    return _done()
