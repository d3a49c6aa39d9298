"""The simulated phone network on the control surface: ``/__mock/calls``.

``POST /__mock/calls`` rings a SIP call and sends its ``realtime.call.incoming`` webhook
(answering once the delivery is over, with what happened); ``GET`` lists calls (SIP and
WebRTC) or shows one; ``DELETE /__mock/calls/{call_id}`` is the caller hanging up.
"""

from __future__ import annotations

from aiohttp import web

from ..body import dump_json, parse_json_object
from ..calls import FINISHED, Call
from ..errors import OpenAIError
from ..keys import CALL_SESSIONS, STATE
from ..middleware import scope_of
from ..schemas.calls import IncomingCallRequest
from ..schemas.validation import validate_model
from ..sip import notify, ring
from ..webhooks import host_allowed

__all__ = ["end_call", "get_call", "incoming_call", "list_calls"]


def _json(payload: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=dump_json(payload), content_type="application/json")


def _call(request: web.Request) -> Call:
    call_id = request.match_info["call_id"]
    call = request.app[STATE].calls.get(call_id)
    if call is None:
        raise OpenAIError(404, f"No call found with id '{call_id}'.", param="call_id", code="not_found")
    return call


async def incoming_call(request: web.Request) -> web.Response:
    """Ring a SIP call; with ``webhook_url``, send its webhook first. 201 with the call (and the delivery)."""
    state = request.app[STATE]
    spec = validate_model(IncomingCallRequest, parse_json_object(await request.read()))
    url = spec.webhook_url
    if url is not None and not host_allowed(url, state.settings.webhook_hosts):
        raise OpenAIError(
            400,
            f"Invalid 'webhook_url': {url!r} is not on this machine. Webhooks go to loopback hosts only, unless the "
            "server is started with --webhook-host HOST (or MOCKSERVER_WEBHOOK_HOSTS).",
            param="webhook_url",
            code="webhook_host_not_allowed",
        )
    call = ring(state, spec, scope_of(request))
    if url is not None:
        await notify(state, call, url, spec.sip_media_security)
    return _json(call.view(), status=201)


async def list_calls(request: web.Request) -> web.Response:
    """Calls, oldest first (this scope's, with ``X-Mock-Scope``)."""
    state = request.app[STATE]
    return _json({"data": [call.view() for call in state.calls.list(scope_of(request))]})


async def get_call(request: web.Request) -> web.Response:
    return _json(_call(request).view())


async def end_call(request: web.Request) -> web.Response:
    """The caller hangs up: the call is ``ended`` (a call already over stays as it is); attached sockets close."""
    call = _call(request)
    if call.status not in FINISHED:
        call.status = "ended"
        call.updated_at = int(request.app[STATE].clock.now())
        await request.app[CALL_SESSIONS].end(call.id, "the caller hung up")
    return _json(call.view())
