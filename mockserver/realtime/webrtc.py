"""WebRTC calls with media: the optional ``webrtc`` extra (aiortc), its bookkeeping, and what happens without it.

``WebRTCCalls`` (one per app, under the ``WEBRTC_CALLS`` key) is the small interface the routes use:
``open`` answers an offer with a live call (a bounded number at a time), ``hangup`` ends one, ``close_all``
ends them all when the server stops. The calls themselves (``peer.PeerCall``: the peer connection, the
``oai-events`` data channel, the engine, the audio tracks) live in ``peer.py``, which imports aiortc and is
imported here only when a call is opened, so the core install never imports aiortc. Without the extra,
``POST /v1/realtime/calls`` keeps answering a signalling-only SDP answer, which says what is missing
(``WEBRTC_EXTRA_HINT``), as does the server log, once.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

from ..errors import OpenAIError
from ..faults import Decision
from ..journal import JournalEntry
from ..state import MockState
from .call_sessions import Sidebands
from .sessions import Opening

if TYPE_CHECKING:
    from .engine import RealtimeEngine

__all__ = [
    "CONNECT_SECONDS",
    "WEBRTC_EXTRA_HINT",
    "CallRequest",
    "LiveCall",
    "WebRTCCalls",
    "too_many_calls",
]

log = logging.getLogger("mockserver")

#: What a signalling-only answer and the server log say when the extra is missing.
WEBRTC_EXTRA_HINT = "WebRTC media needs: pip install 'openai-realtime-mock[webrtc]'"
#: A call whose peer has not connected (ICE, DTLS) this long after the answer is hung up.
CONNECT_SECONDS = 30.0
#: The module that needs aiortc, loaded on first use.
_PEER_MODULE = "mockserver.realtime.peer"


def too_many_calls(limit: int) -> OpenAIError:
    """429 when ``--max-calls`` calls are already open (production's concurrency limits are not public)."""
    return OpenAIError(
        429,
        f"Too many concurrent WebRTC calls: this mock serves at most {limit} at a time (--max-calls). "
        "Hang up a call (POST /v1/realtime/calls/{call_id}/hangup) or close its peer connection first.",
        type="requests",
        code="rate_limit_exceeded",
    )


@dataclass(frozen=True)
class CallRequest:
    """What ``POST /v1/realtime/calls`` asked for, once its key and body were accepted."""

    call_id: str
    opening: Opening
    offer: str
    #: The key the call was opened with (an ``ek_`` key may hang up only its own call).
    key: str
    entry: JournalEntry | None
    faults: Decision | None


class LiveCall(Protocol):
    """A call with media, as the registry sees it."""

    id: str
    key: str
    #: The call's session, which WebSockets attached with ``?call_id=`` share with the data channel.
    engine: RealtimeEngine
    sidebands: Sidebands

    async def answer(self, offer: str) -> str:
        """The SDP answer to ``offer`` (candidates gathered); ``OpenAIError`` 400 for an offer aiortc refuses."""

    async def hang_up(self, reason: str) -> None:
        """End the call (idempotent): the engine, the tracks, the data channel, the peer connection."""


class _PeerModule(Protocol):
    def open_call(
        self, state: MockState, request: CallRequest, *, connect_seconds: float, on_end: Callable[[str], None]
    ) -> LiveCall: ...


class WebRTCCalls:
    """The app's WebRTC calls with media: at most ``limit`` at once, all ended when the server stops."""

    def __init__(self, state: MockState, limit: int, connect_seconds: float = CONNECT_SECONDS) -> None:
        self.state = state
        self.limit = limit
        self.connect_seconds = connect_seconds
        self._calls: dict[str, LiveCall] = {}
        self._peer: ModuleType | None = None
        self._missing: bool | None = None

    @property
    def media(self) -> bool:
        """Whether calls carry media (the ``webrtc`` extra is installed); the first ask logs a missing extra."""
        if self._missing is None:
            try:
                self._peer = importlib.import_module(_PEER_MODULE)
                self._missing = False
            except ImportError as exc:
                self._missing = True
                log.warning("%s (%s); POST /v1/realtime/calls answers signalling only.", WEBRTC_EXTRA_HINT, exc)
        return not self._missing

    def __len__(self) -> int:
        return len(self._calls)

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._calls

    def get(self, call_id: str) -> LiveCall | None:
        return self._calls.get(call_id)

    async def open(self, request: CallRequest) -> str:
        """A live call for ``request``: its SDP answer. 429 past the limit, 400 for an unusable offer."""
        if not self.media or self._peer is None:
            raise RuntimeError("WebRTCCalls.open needs the webrtc extra: check .media first")
        if len(self._calls) >= self.limit:
            raise too_many_calls(self.limit)
        peer: _PeerModule = self._peer
        call = peer.open_call(self.state, request, connect_seconds=self.connect_seconds, on_end=self._forget)
        self._calls[call.id] = call
        try:
            return await call.answer(request.offer)
        except BaseException:
            await call.hang_up("the offer could not be answered")
            raise

    async def hangup(self, call_id: str) -> bool:
        """End a live call; ``False`` when there is no such call (any more)."""
        call = self._calls.get(call_id)
        if call is None:
            return False
        await call.hang_up("hung up (POST /v1/realtime/calls/{call_id}/hangup)")
        return True

    async def close_all(self) -> None:
        """End every call (the server is stopping)."""
        calls = list(self._calls.values())
        if calls:
            await asyncio.gather(*(call.hang_up("server shutting down") for call in calls), return_exceptions=True)

    def _forget(self, call_id: str) -> None:
        """A live call ended: forget it, and a call the registry still shows as accepted (its peer left) ended."""
        self._calls.pop(call_id, None)
        call = self.state.calls.get(call_id)
        if call is not None and call.status == "accepted":
            call.status = "ended"
            call.updated_at = int(self.state.clock.now())
