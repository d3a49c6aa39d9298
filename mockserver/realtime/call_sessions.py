"""A call's Realtime session, shared by every connection that holds it.

Production lets a backend attach a WebSocket to a call's session (``GET /v1/realtime?call_id=rtc_...``):
the session of a SIP call it accepted, or of a WebRTC call as a second, "sideband" connection beside the
browser's data channel. The session "lives for the life of the call" (SESSION_TRUTH §6.3).

- :class:`Sidebands`: the WebSockets attached to one session. Every server event goes to each of them
  (through each one's own :class:`~.link.EventLink`: order, faults, journal), and client events from any
  of them reach the one engine in turn (``lock``).
- :class:`CallSessions` (one per app): the session of each call, made when the first socket attaches; a
  live WebRTC call (the ``webrtc`` extra) brings its own engine. :meth:`CallSessions.end` ends a call's
  session when the call is over (hangup, refer, the caller hanging up), closing its sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..calls import FINISHED, Call
from ..state import MockState
from .sessions import Opening, new_engine

if TYPE_CHECKING:
    from .engine import RealtimeEngine
    from .sockets import Upgraded
    from .webrtc import WebRTCCalls

__all__ = ["CALL_CLOSE_CODE", "CallSession", "CallSessions", "Sidebands"]

log = logging.getLogger("mockserver")

#: The close code of sockets attached to a call when the call or its session ends (a normal closure).
CALL_CLOSE_CODE = 1000


class Sidebands:
    """The WebSockets attached to one session (``?call_id=``)."""

    def __init__(self) -> None:
        self._sockets: list[Upgraded] = []
        #: Held while the engine handles a client event, whichever connection sent it.
        self.lock = asyncio.Lock()

    def __len__(self) -> int:
        return len(self._sockets)

    def add(self, socket: Upgraded) -> None:
        self._sockets.append(socket)

    def remove(self, socket: Upgraded) -> None:
        with contextlib.suppress(ValueError):
            self._sockets.remove(socket)

    async def send(self, event: dict[str, Any]) -> None:
        """One server event to every attached socket.

        Not ``session.created``: each socket gets its own when it attaches (with the session as it is then).
        """
        if event.get("type") == "session.created":
            return
        for socket in list(self._sockets):
            await socket.link.send(event)

    async def close(self, reason: str) -> None:
        """Close every attached socket (``CALL_CLOSE_CODE``), saying why in the close frame and the journal."""
        sockets, self._sockets = self._sockets, []
        for socket in sockets:
            socket.link.note("closed", reason)
            with contextlib.suppress(Exception):
                await socket.ws.close(code=CALL_CLOSE_CODE, message=reason.encode()[:123])


class CallSession(Protocol):
    """What an attached socket holds: the engine and the other sockets attached to it."""

    @property
    def engine(self) -> RealtimeEngine: ...

    @property
    def sidebands(self) -> Sidebands: ...


class _OwnSession:
    """The session of a call without a live peer (a SIP call, a signalling-only WebRTC call), made on attach."""

    def __init__(self, state: MockState, call: Call, on_session_closed: Callable[[str], None]) -> None:
        self.sidebands = Sidebands()
        self._on_session_closed = on_session_closed
        self.call_id = call.id
        opening = Opening(call.session or {}, call.session_request or {"type": "realtime"}, None, call.scope)
        self.engine = new_engine(
            state,
            opening,
            emit=self.sidebands.send,
            on_close=self._closed_by_session,
            transport=call.transport,
            call_id=call.id,
        )

    async def _closed_by_session(self) -> None:
        # From inside the engine (session.close, the 60-minute cap): end without waiting for ourselves.
        self._on_session_closed(self.call_id)

    async def end(self, reason: str) -> None:
        await self.sidebands.close(reason)
        await self.engine.close()


class CallSessions:
    """Each call's session, for the sockets that attach to it."""

    def __init__(self, state: MockState, live: WebRTCCalls) -> None:
        self.state = state
        self.live = live
        self._own: dict[str, _OwnSession] = {}
        self._ending: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._own)

    async def attach(self, call: Call) -> CallSession:
        """The session of ``call`` (accepted): a live WebRTC call's own, or one made (and started) now."""
        live: CallSession | None = self.live.get(call.id)
        if live is not None:
            return live
        session = self._own.get(call.id)
        if session is None:
            await self._sweep()
            session = self._own[call.id] = _OwnSession(self.state, call, self._session_closed)
            # Started before anyone is attached: each socket gets its own session.created (Sidebands.send).
            await session.engine.start()
        return session

    async def end(self, call_id: str, reason: str) -> None:
        """The call is over: its session ends and its attached sockets close."""
        session = self._own.pop(call_id, None)
        if session is not None:
            await session.end(reason)

    async def _sweep(self) -> None:
        """End the sessions of calls the registry no longer keeps (forgotten, reset) or that are over."""
        for call_id in list(self._own):
            call = self.state.calls.get(call_id)
            if call is None or call.status in FINISHED:
                await self.end(call_id, "the call is over")

    def _session_closed(self, call_id: str) -> None:
        """``session.close`` or the 60-minute cap ended a call's session: the call is over too."""
        call = self.state.calls.get(call_id)
        if call is not None and call.status not in FINISHED:
            call.status = "hung_up"
            call.updated_at = int(self.state.clock.now())
        task = asyncio.ensure_future(self.end(call_id, "the session closed"))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    async def close_all(self) -> None:
        """End every session (the server is stopping)."""
        sessions, self._own = list(self._own.values()), {}
        for session in sessions:
            try:
                await session.end("server shutting down")
            except Exception:
                log.exception("error while ending a call's session")
        if self._ending:
            await asyncio.gather(*self._ending, return_exceptions=True)
