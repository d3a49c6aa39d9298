"""The translation WebSocket (``GET /v1/realtime/translations``): a thin transport over the translation engine.

Opened by a translation ``ek_`` key (minted with ``POST /v1/realtime/translations/client_secrets``; its
session and scope), or by a server key with ``?model=gpt-realtime-translate`` (the SDK's
``client.realtime.translations.connect(model=...)``). Refused as ``/v1/realtime`` refuses (the upgrade
succeeds, then one ``error`` event and a close 3000 or 4000): no key, an invalid, expired or revoked key, a
realtime key, no ``model`` or one that does not translate, and ``intent``, which translation does not take.

Each text frame goes to :class:`~.translation.TranslationEngine`; what it returns goes out in order through
the connection's :class:`~.link.EventLink` (faults, journal), translated audio paced by ``--realtime-pace``
(0: at once; 1: as fast as it plays). After ``session.closed`` (or the session's 60 minutes) the socket
closes normally.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any

from aiohttp import WSMsgType, web

from ..defaults import translation_session
from ..errors import OpenAIError
from ..keys import STATE
from ..middleware import scope_of
from ..state import MockState
from .engine import SESSION_SECONDS
from .languages import Interpreter
from .link import EventLink
from .sessions import Opening, remember_session
from .sockets import Refusal, Upgraded, invalid_key, key_from_request, missing_key, refuse, serve
from .text import Phrases
from .translation import FRAME_MS, TranslationEngine

__all__ = ["EXAMPLE_MODEL", "connect", "is_translation_model"]

EXAMPLE_MODEL = "gpt-realtime-translate"


def is_translation_model(model: str) -> bool:
    """Whether ``?model=`` names a translation model (``gpt-realtime-translate`` and its snapshots)."""
    return "translate" in model


async def _open(request: web.Request, state: MockState) -> Opening | Refusal:
    """What this connection opens, or why it is refused."""
    key = key_from_request(request)
    if key is None:
        return missing_key()
    secret = await state.store.get_secret(key) if key.startswith("ek_") else None
    if key.startswith("ek_"):
        # A realtime key opens realtime sessions only (at /v1/realtime).
        if secret is None or secret.status(state.clock.now()) != "active" or secret.kind != "translation":
            return invalid_key(key)
    elif state.settings.api_keys and key not in state.settings.api_keys:
        return invalid_key(key)
    if "intent" in request.query:
        error = OpenAIError(
            400,
            "Realtime Translation does not accept an intent query parameter.",
            param="intent",
            code="invalid_intent",
        )
        return Refusal(error, 4000, "invalid_request_error.invalid_intent")
    if secret is not None:
        return Opening(secret.session, secret.session_request, secret, secret.scope)
    model = request.query.get("model")
    if not model:
        error = OpenAIError(
            400,
            "You must provide a model parameter, for example "
            f"wss://api.openai.com/v1/realtime/translations?model={EXAMPLE_MODEL}",
            code="missing_model",
        )
        return Refusal(error, 4000, "invalid_request_error.missing_model")
    if not is_translation_model(model):
        error = OpenAIError(
            400, f'Model "{model}" is not supported in realtime translation mode.', code="invalid_model"
        )
        return Refusal(error, 4000, "invalid_request_error.invalid_model")
    asked = {"model": model}
    return Opening(translation_session(asked, state.ids.session_id(), 0), asked, None, scope_of(request))


async def connect(request: web.Request) -> web.StreamResponse:
    """``GET /v1/realtime/translations``: a translation session over a WebSocket."""

    async def converse(upgraded: Upgraded) -> None:
        opening = await _open(request, request.app[STATE])
        if isinstance(opening, Refusal):
            await refuse(upgraded, opening)
            return
        await _translate(upgraded, opening)

    return await serve(request, converse, "a translation session")


def new_translation_engine(state: MockState, opening: Opening) -> TranslationEngine:
    """An engine for ``opening`` on this server: seeded words, its scope's script, a 60-minute session."""
    connection = state.next_connection()
    now = state.clock.now()
    session = dict(opening.session)
    session["expires_at"] = int(now) + SESSION_SECONDS
    engine = TranslationEngine(
        session=session,
        request=dict(opening.request),
        ids=state.ids,
        interpreter=Interpreter(random.Random(f"{state.seed}:translation:{connection}").getrandbits(32)),
        phrases=Phrases(state.seed, connection),
        script=state.scripts.for_scope(opening.scope),
        now=state.clock.now,
    )
    if opening.secret is not None:
        remember_session(state, opening.secret, session["id"], "websocket", None)
    return engine


async def _translate(upgraded: Upgraded, opening: Opening) -> None:
    """``session.created``, then each client frame's events, until the session closes or the client goes."""
    ws, link = upgraded.ws, upgraded.link
    state = link.state
    engine = new_translation_engine(state, opening)
    link.note("session_id", str(engine.session["id"]))
    if link.entry is not None and link.entry.scope is None and opening.scope is not None:
        # A browser cannot send X-Mock-Scope: its session belongs to the scope its key was minted in.
        link.entry.scope = opening.scope
    sender = PacedSender(link, state.settings.realtime_pace)
    await sender.send(engine.start())
    while not (engine.closed or link.dropped or ws.closed):
        left = engine.session["expires_at"] - state.clock.now()
        try:
            # The read waits no longer than the session has left: at its end, the expiry error.
            message = await ws.receive(timeout=max(left, 0.001))
        except TimeoutError:
            await sender.send(engine.expire())
            break
        if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            await sender.send(engine.receive(message.data, observe=link.record_client))
        elif message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return
    if engine.closed and not link.dropped:
        # After session.closed (or the expiry error), the socket closes normally.
        await ws.close(code=1000)


class PacedSender:
    """Sends a connection's server events in order; translated audio paced by its length times ``pace``.

    Sending happens in the task reading the socket, so a paced stream holds back the reading of further
    client events (their answers would queue behind the audio anyway).
    """

    def __init__(self, link: EventLink, pace: float) -> None:
        self.link = link
        self.pace = pace
        self._due: float | None = None

    async def send(self, events: Sequence[dict[str, Any]]) -> None:
        for event in events:
            if self.pace > 0 and event["type"] == "session.output_audio.delta":
                await self._wait_for_playback(event)
            await self.link.send(event)

    async def _wait_for_playback(self, event: dict[str, Any]) -> None:
        """A frame of translated speech is due when the one before it has played (``pace`` 1: real time)."""
        now = asyncio.get_running_loop().time()
        if self._due is None or self._due < now:
            self._due = now  # the output was idle: playback starts now
        if self._due > now:
            await asyncio.sleep(self._due - now)
        audio_ms = _decoded_length(str(event["delta"])) / 48  # 24 kHz PCM16: 48 bytes a millisecond
        self._due += min(audio_ms, FRAME_MS) / 1000 * self.pace


def _decoded_length(text: str) -> int:
    return len(text) * 3 // 4 - text[-2:].count("=")
