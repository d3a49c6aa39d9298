"""``create_app(settings)``: the route table, read top to bottom, and the app's life cycle."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Handler

from .clock import Clock
from .handlers import calls as call_control
from .handlers import control, openai, scripts, sip
from .keys import CALL_SESSIONS, STATE, WEBRTC_CALLS
from .middleware import endpoint
from .realtime import calls, translation_socket, websocket
from .realtime.call_sessions import CallSessions
from .realtime.webrtc import WebRTCCalls
from .scenario import with_scenario
from .settings import Settings
from .state import MockState

__all__ = ["ROUTES", "create_app"]


#: The route table: path -> method -> handler. Unknown paths get 404, unknown methods 405.
ROUTES: dict[str, dict[str, Handler]] = {
    # The OpenAI surface, with and without /v1, so either kind of base URL works.
    "/v1/realtime/client_secrets": {"POST": openai.create_client_secret},
    "/realtime/client_secrets": {"POST": openai.create_client_secret},
    "/v1/realtime/translations/client_secrets": {"POST": openai.create_translation_client_secret},
    "/realtime/translations/client_secrets": {"POST": openai.create_translation_client_secret},
    # Using a minted key: the Realtime WebSocket (?call_id=: attached to a call), the translation
    # WebSocket, and WebRTC signalling.
    "/v1/realtime": {"GET": websocket.connect},
    "/realtime": {"GET": websocket.connect},
    "/v1/realtime/translations": {"GET": translation_socket.connect},
    "/realtime/translations": {"GET": translation_socket.connect},
    "/v1/realtime/calls": {"POST": calls.create_call},
    "/realtime/calls": {"POST": calls.create_call},
    # Call control (SIP calls; hangup also ends WebRTC calls).
    "/v1/realtime/calls/{call_id}/accept": {"POST": call_control.accept_call},
    "/realtime/calls/{call_id}/accept": {"POST": call_control.accept_call},
    "/v1/realtime/calls/{call_id}/reject": {"POST": call_control.reject_call},
    "/realtime/calls/{call_id}/reject": {"POST": call_control.reject_call},
    "/v1/realtime/calls/{call_id}/refer": {"POST": call_control.refer_call},
    "/realtime/calls/{call_id}/refer": {"POST": call_control.refer_call},
    "/v1/realtime/calls/{call_id}/hangup": {"POST": call_control.hangup_call},
    "/realtime/calls/{call_id}/hangup": {"POST": call_control.hangup_call},
    # The control surface.
    "/__mock/health": {"GET": control.health},
    "/__mock/settings": {"GET": control.settings},
    "/__mock/secrets": {"GET": control.list_secrets},
    "/__mock/secrets/{value}": {"GET": control.get_secret, "DELETE": control.revoke_secret},
    "/__mock/requests": {"GET": control.list_requests, "DELETE": control.clear_requests},
    "/__mock/faults": {"GET": control.list_faults, "POST": control.add_faults, "DELETE": control.clear_faults},
    "/__mock/faults/{rule_id}": {"DELETE": control.delete_fault},
    "/__mock/replies": {"GET": scripts.list_replies, "POST": scripts.add_replies, "DELETE": scripts.clear_replies},
    "/__mock/replies/{rule_id}": {"DELETE": scripts.delete_reply},
    "/__mock/transcripts": {
        "GET": scripts.list_transcripts,
        "POST": scripts.add_transcripts,
        "DELETE": scripts.clear_transcripts,
    },
    "/__mock/presets": {"GET": control.list_presets},
    "/__mock/calls": {"GET": sip.list_calls, "POST": sip.incoming_call},
    "/__mock/calls/{call_id}": {"GET": sip.get_call, "DELETE": sip.end_call},
    "/__mock/clock": {"GET": control.clock, "POST": control.set_clock},
    "/__mock/reset": {"POST": control.reset},
    "/__mock/openapi.json": {"GET": control.openapi},
}


def create_app(
    settings: Settings | None = None, *, clock: Clock | None = None, worker: int | None = None
) -> web.Application:
    """A ready-to-run mock. ``clock`` lets tests drive time without the control surface.

    A scenario named in ``settings`` is loaded here: its settings fill what
    ``settings`` left unset, and its fault rules are scripted (``SettingsError`` if
    it cannot be read). The store is connected when the app starts (``StoreUnreachableError``
    when it cannot be); ``worker`` (with ``--workers``) is sent as ``x-mock-worker``.
    """
    settings, scenario = with_scenario(settings or Settings())
    app = web.Application(client_max_size=settings.max_body_bytes)
    if scenario is None:
        state = app[STATE] = MockState.create(settings, clock, worker=worker)
    else:
        state = app[STATE] = MockState.create(
            settings, clock, scenario.faults, scenario.replies, scenario.transcripts, worker=worker
        )
    app.cleanup_ctx.append(_store_life)
    webrtc_calls = app[WEBRTC_CALLS] = WebRTCCalls(state, settings.max_calls)
    state.on_stop.append(webrtc_calls.close_all)
    call_sessions = app[CALL_SESSIONS] = CallSessions(state, webrtc_calls)
    state.on_stop.append(call_sessions.close_all)
    for path, methods in ROUTES.items():
        app.router.add_route("*", path, endpoint(methods))
    app.router.add_route("*", "/{path:.*}", endpoint(None))
    return app


async def _store_life(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    await state.open_store()
    yield
    await state.store.close()
