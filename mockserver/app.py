"""``create_app(settings)``: the route table, read top to bottom, and the app's life cycle."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Handler

from .clock import Clock
from .handlers import control, openai
from .keys import CALL_SESSIONS, STATE, WEBRTC_CALLS
from .realtime.call_sessions import CallSessions
from .realtime.webrtc import WebRTCCalls
from .routing import RouteTable
from .settings import Settings
from .state import MockState

__all__ = ["ROUTES", "ROUTE_TABLE", "LazyHandler", "create_app"]


class LazyHandler:
    """A handler imported on its first request.

    The sockets, calls, call control, scripts and SIP surfaces (and the Realtime engine behind them) stay
    out of start-up, so a server is ready sooner and smaller when a test suite only mints.
    """

    __slots__ = ("_handler", "target")

    def __init__(self, target: str) -> None:
        #: ``module:function``, the module relative to this package.
        self.target = target
        self._handler: Handler | None = None

    def resolve(self) -> Handler:
        if self._handler is None:
            module, _, name = self.target.partition(":")
            self._handler = getattr(importlib.import_module(module, __package__), name)
        return self._handler

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        return await self.resolve()(request)

    def __repr__(self) -> str:
        return f"LazyHandler({self.target!r})"


#: The route table: path -> method -> handler. Unknown paths get 404, unknown methods 405.
ROUTES: dict[str, dict[str, Handler]] = {
    # The OpenAI surface, with and without /v1, so either kind of base URL works.
    "/v1/realtime/client_secrets": {"POST": openai.create_client_secret},
    "/realtime/client_secrets": {"POST": openai.create_client_secret},
    "/v1/realtime/translations/client_secrets": {"POST": openai.create_translation_client_secret},
    "/realtime/translations/client_secrets": {"POST": openai.create_translation_client_secret},
    # Using a minted key: the Realtime WebSocket (?call_id=: attached to a call), the translation
    # WebSocket, and WebRTC signalling.
    "/v1/realtime": {"GET": LazyHandler(".realtime.websocket:connect")},
    "/realtime": {"GET": LazyHandler(".realtime.websocket:connect")},
    "/v1/realtime/translations": {"GET": LazyHandler(".realtime.translation_socket:connect")},
    "/realtime/translations": {"GET": LazyHandler(".realtime.translation_socket:connect")},
    "/v1/realtime/calls": {"POST": LazyHandler(".realtime.calls:create_call")},
    "/realtime/calls": {"POST": LazyHandler(".realtime.calls:create_call")},
    # Call control (SIP calls; hangup also ends WebRTC calls).
    "/v1/realtime/calls/{call_id}/accept": {"POST": LazyHandler(".handlers.calls:accept_call")},
    "/realtime/calls/{call_id}/accept": {"POST": LazyHandler(".handlers.calls:accept_call")},
    "/v1/realtime/calls/{call_id}/reject": {"POST": LazyHandler(".handlers.calls:reject_call")},
    "/realtime/calls/{call_id}/reject": {"POST": LazyHandler(".handlers.calls:reject_call")},
    "/v1/realtime/calls/{call_id}/refer": {"POST": LazyHandler(".handlers.calls:refer_call")},
    "/realtime/calls/{call_id}/refer": {"POST": LazyHandler(".handlers.calls:refer_call")},
    "/v1/realtime/calls/{call_id}/hangup": {"POST": LazyHandler(".handlers.calls:hangup_call")},
    "/realtime/calls/{call_id}/hangup": {"POST": LazyHandler(".handlers.calls:hangup_call")},
    # The control surface.
    "/__mock/health": {"GET": control.health},
    "/__mock/settings": {"GET": control.settings},
    "/__mock/secrets": {"GET": control.list_secrets},
    "/__mock/secrets/{value}": {"GET": control.get_secret, "DELETE": control.revoke_secret},
    "/__mock/requests": {"GET": control.list_requests, "DELETE": control.clear_requests},
    "/__mock/faults": {"GET": control.list_faults, "POST": control.add_faults, "DELETE": control.clear_faults},
    "/__mock/faults/{rule_id}": {"DELETE": control.delete_fault},
    "/__mock/replies": {
        "GET": LazyHandler(".handlers.scripts:list_replies"),
        "POST": LazyHandler(".handlers.scripts:add_replies"),
        "DELETE": LazyHandler(".handlers.scripts:clear_replies"),
    },
    "/__mock/replies/{rule_id}": {"DELETE": LazyHandler(".handlers.scripts:delete_reply")},
    "/__mock/transcripts": {
        "GET": LazyHandler(".handlers.scripts:list_transcripts"),
        "POST": LazyHandler(".handlers.scripts:add_transcripts"),
        "DELETE": LazyHandler(".handlers.scripts:clear_transcripts"),
    },
    "/__mock/presets": {"GET": control.list_presets},
    "/__mock/calls": {
        "GET": LazyHandler(".handlers.sip:list_calls"),
        "POST": LazyHandler(".handlers.sip:incoming_call"),
    },
    "/__mock/calls/{call_id}": {
        "GET": LazyHandler(".handlers.sip:get_call"),
        "DELETE": LazyHandler(".handlers.sip:end_call"),
    },
    "/__mock/clock": {"GET": control.clock, "POST": control.set_clock},
    "/__mock/reset": {"POST": control.reset},
    "/__mock/openapi.json": {"GET": control.openapi},
}


#: ``ROUTES`` worked out once, for every app (one catch-all route an app, not one per path: see routing.py).
ROUTE_TABLE = RouteTable(ROUTES)


def create_app(
    settings: Settings | None = None, *, clock: Clock | None = None, worker: int | None = None
) -> web.Application:
    """A ready-to-run mock. ``clock`` lets tests drive time without the control surface.

    A scenario named in ``settings`` is loaded here: its settings fill what
    ``settings`` left unset, and its fault rules are scripted (``SettingsError`` if
    it cannot be read). The store is connected when the app starts (``StoreUnreachableError``
    when it cannot be); ``worker`` (with ``--workers``) is sent as ``x-mock-worker``.
    """
    settings, scenario = settings or Settings(), None
    if settings.scenario is not None:
        from .scenario import with_scenario  # noqa: PLC0415 - read only when a scenario is named

        settings, scenario = with_scenario(settings)
    app = web.Application(client_max_size=settings.max_body_bytes)
    if scenario is None:
        state = app[STATE] = MockState.create(settings, clock, worker=worker)
    else:
        state = app[STATE] = MockState.create(
            settings, clock, scenario.faults, scenario.replies, scenario.transcripts, worker=worker
        )
    if state.store.shared:
        # Connected when the app starts, let go when it stops; the memory store has nothing to open (and a
        # start-up context costs a server started in a pytest fixture ~60-100 µs).
        app.cleanup_ctx.append(_store_life)
    webrtc_calls = app[WEBRTC_CALLS] = WebRTCCalls(state, settings.max_calls)
    state.on_stop.append(webrtc_calls.close_all)
    call_sessions = app[CALL_SESSIONS] = CallSessions(state, webrtc_calls)
    state.on_stop.append(call_sessions.close_all)
    ROUTE_TABLE.register(app)
    return app


async def _store_life(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    await state.open_store()
    yield
    await state.store.close()
