"""A session's engine, built the same way for every transport (WebSocket, WebRTC data channel)."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..secrets import SESSIONS_PER_SECRET, ClientSecret
from ..state import MockState
from .audio import format_of
from .engine import Emit, RealtimeEngine
from .responses import MediaOutput
from .text import Phrases

__all__ = ["SESSIONS_PER_SECRET", "TRACK_FORMAT", "Opening", "new_engine", "remember_session"]

#: What a WebRTC media track carries once decoded (and is given to play), whatever the session's formats.
TRACK_FORMAT = {"type": "audio/pcm", "rate": 24000}


@dataclass(frozen=True)
class Opening:
    """What a connection opens: the session (as minted, or defaulted), what was asked, the key's secret."""

    session: Mapping[str, Any]
    request: Mapping[str, Any]
    secret: ClientSecret | None
    #: The scope of the session: the mint's ``X-Mock-Scope`` for an ``ek_`` key, else the connection's own.
    scope: str | None = None


def new_engine(
    state: MockState,
    opening: Opening,
    *,
    emit: Emit,
    on_close: Callable[[], Awaitable[None]],
    transport: str,
    media: MediaOutput | None = None,
    call_id: str | None = None,
) -> RealtimeEngine:
    """An engine for ``opening`` on this server: seeded words, the server's pace and clock, its scope's script.

    With ``media`` (a WebRTC track) the engine's audio is PCM16 24 kHz both ways (``TRACK_FORMAT``).
    """
    connection = state.next_connection()
    engine = RealtimeEngine.open(
        opening.session,
        opening.request,
        state.clock.now(),
        ids=state.ids,
        emit_event=emit,
        phrases=Phrases(state.seed, connection),
        rng=random.Random(f"{state.seed}:session:{connection}"),
        pace=state.settings.realtime_pace,
        on_close=on_close,
        now=state.clock.now,
        scope=opening.scope,
        script=state.scripts.for_scope(opening.scope),
        media=media,
        track_format=format_of(TRACK_FORMAT) if media is not None else None,
    )
    if opening.secret is not None:
        remember_session(state, opening.secret, engine.session["id"], transport, call_id)
    return engine


def remember_session(
    state: MockState, secret: ClientSecret, session_id: str, transport: str, call_id: str | None
) -> None:
    """Note on the secret that it opened a session (bounded list, shown by ``/__mock/secrets``)."""
    opened: dict[str, Any] = {"session_id": session_id, "transport": transport, "opened_at": int(state.clock.now())}
    if call_id is not None:
        opened["call_id"] = call_id
    state.store.session_opened(secret, opened)
