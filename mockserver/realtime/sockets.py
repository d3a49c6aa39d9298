"""What every Realtime WebSocket route shares: reading the key, the upgrade, and refusing a connection.

Three routes speak WebSocket (``/v1/realtime``, ``/v1/realtime?call_id=...``, ``/v1/realtime/translations``).
Each is served the same way (:func:`serve`: the upgrade, journaled at once; its events through an
:class:`~.link.EventLink`; closed by the server on shutdown; a bug of ours closes it with 1011) and refuses the same way
production does (GROUND_TRUTH §7): the upgrade succeeds, then one ``error`` event and a close with code
3000 (auth) or 4000 (model) and the observed reason (:func:`refuse`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from ..auth import api_key_from_header
from ..errors import OpenAIError, incorrect_api_key
from ..journal import SUBPROTOCOL_KEY_PREFIX
from ..keys import EXCHANGE, STATE, WS_FAULTS
from ..memory import session_closed
from ..store import StoreUnavailableError
from .events import FRAME_MAX_BYTES, error_event
from .link import EventLink

__all__ = [
    "SUBPROTOCOL_KEY_PREFIX",
    "Refusal",
    "Upgraded",
    "WebSocketCarrier",
    "invalid_key",
    "key_from_request",
    "missing_key",
    "refuse",
    "serve",
    "upgrade",
]

log = logging.getLogger("mockserver")


@dataclass(frozen=True)
class Refusal:
    """Why a connection is refused: the ``error`` event's error, then the close code and reason."""

    error: OpenAIError
    close_code: int
    reason: str


def key_from_request(request: web.Request) -> str | None:
    """The key of ``Authorization: Bearer``, else of a browser's ``openai-insecure-api-key.`` subprotocol."""
    key = api_key_from_header(request.headers.get("Authorization"))
    if key is not None:
        return key
    protocols = request.headers.get("Sec-WebSocket-Protocol", "")
    for protocol in (p.strip() for p in protocols.split(",")):
        if protocol.startswith(SUBPROTOCOL_KEY_PREFIX) and len(protocol) > len(SUBPROTOCOL_KEY_PREFIX):
            return protocol[len(SUBPROTOCOL_KEY_PREFIX) :]
    return None


def invalid_key(key: str) -> Refusal:
    return Refusal(incorrect_api_key(key), 3000, "invalid_request_error.invalid_api_key")


def missing_key() -> Refusal:
    return Refusal(OpenAIError(401, "Missing bearer or basic authentication in header"), 3000, "invalid_request_error")


class WebSocketCarrier:
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


@dataclass(frozen=True)
class Upgraded:
    """An upgraded connection: the socket, and the link its server events go through."""

    ws: web.WebSocketResponse
    link: EventLink


async def upgrade(request: web.Request) -> Upgraded:
    """Upgrade to a WebSocket (400 in OpenAI's envelope for a plain request), journaled as a 101 at once.

    The socket is registered in ``state.connections`` (closed with 1001 when the server stops); the caller
    removes it when the connection ends.
    """
    state = request.app[STATE]
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    # compress=False: a client's offer of permessage-deflate (the Agents SDK's websockets, Node's ws and browsers
    # make it; the openai SDK does not) is declined, so frames go uncompressed. Compressing every event roughly
    # doubled the server's CPU per event and kept a zlib state per direction per connection (BENCHMARKS.md,
    # "WebSocket sessions").
    ws = web.WebSocketResponse(
        protocols=("realtime",) if "realtime" in offered else (),
        heartbeat=20.0,
        max_msg_size=FRAME_MAX_BYTES,
        compress=False,
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
        if state.journal.enabled:
            await state.store.record(entry)
    link = EventLink(WebSocketCarrier(ws, request), state, entry, request.get(WS_FAULTS))
    state.connections.add(ws)
    return Upgraded(ws, link)


async def refuse(upgraded: Upgraded, refusal: Refusal) -> None:
    """One ``error`` event, then the close with the refusal's code and reason."""
    link = upgraded.link
    await link.send(error_event(link.state.ids.event_id(), refusal.error, None))
    await upgraded.ws.close(code=refusal.close_code, message=refusal.reason.encode())
    link.note("closed", refusal.reason)


async def serve(
    request: web.Request, converse: Callable[[Upgraded], Awaitable[None]], what: str
) -> web.WebSocketResponse:
    """Upgrade, then ``converse`` over the socket until it ends.

    A bug of ours (an exception out of ``converse``) is logged and closes the socket with 1011 (internal
    error), as a server does: once upgraded, no HTTP error can be written. The server keeps serving.
    Every so many closed sessions, freed memory is given back to the system (``memory.session_closed``).
    """
    upgraded = await upgrade(request)
    state = request.app[STATE]
    try:
        await converse(upgraded)
    except StoreUnavailableError as error:
        # The shared store is down: the client hears it as OpenAI's 503, then the socket closes (1011).
        await upgraded.link.send(error_event(state.ids.event_id(), error, None))
        if not upgraded.ws.closed:
            await upgraded.ws.close(code=1011, message=b"store unavailable")
    except Exception:
        log.exception("unhandled error in %s", what)
        if not upgraded.ws.closed:
            await upgraded.ws.close(code=1011, message=b"internal error")
    finally:
        state.connections.discard(upgraded.ws)
        entry = request.get(EXCHANGE)
        if entry is not None and state.journal.enabled:
            # Again, now with the whole session's events: a shared journal keeps a copy (memory keeps the entry).
            with contextlib.suppress(StoreUnavailableError):
                await state.store.record(entry)
        session_closed()
    return upgraded.ws
