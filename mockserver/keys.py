"""Typed application keys (aiohttp ``AppKey``), the only way handlers reach shared state."""

from __future__ import annotations

from aiohttp import web

from .faults import Decision
from .journal import JournalEntry
from .realtime.call_sessions import CallSessions
from .realtime.webrtc import WebRTCCalls
from .state import MockState

__all__ = ["CALL_SESSIONS", "EXCHANGE", "REQUEST_ID", "STATE", "WEBRTC_CALLS", "WS_FAULTS"]

STATE = web.AppKey("mockserver.state", MockState)
#: The live WebRTC calls (with the ``webrtc`` extra): opened by ``POST /v1/realtime/calls``, ended on shutdown.
WEBRTC_CALLS = web.AppKey("mockserver.webrtc_calls", WebRTCCalls)
#: Calls' sessions for the WebSockets attached to them (``GET /v1/realtime?call_id=``), ended with their calls.
CALL_SESSIONS = web.AppKey("mockserver.call_sessions", CallSessions)
#: The request's ``x-request-id``, drawn once by the outermost middleware.
REQUEST_ID = web.RequestKey("mockserver.request_id", str)
#: The journal entry of an OpenAI-surface request, filled in as it is served.
EXCHANGE = web.RequestKey("mockserver.exchange", JournalEntry)
#: A scripted rule's WebSocket faults (drop after N events, delay events) for the connection it matched.
WS_FAULTS = web.RequestKey("mockserver.ws_faults", Decision)
