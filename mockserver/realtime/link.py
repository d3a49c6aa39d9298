"""What every Realtime transport does with the engine's server events: send them in order, through the
connection's faults, into the journal.

A transport (the WebSocket, a WebRTC data channel) gives an :class:`EventLink` a :class:`Carrier`, the
few things only it knows (how to send one text frame, whether it is closed, how to drop the connection
abruptly). The link does the rest the same way for both: one event at a time however many tasks emit,
``event_delay_ms`` before each, ``drop_after_events`` (then the carrier drops the connection), and both
directions recorded in the request's journal entry while the connection is open.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Protocol

from ..faults import Decision
from ..journal import JournalEntry
from ..state import MockState
from .audio import Base64Text
from .recording import EventLog

__all__ = ["Carrier", "EventLink", "dump_event"]


class Carrier(Protocol):
    """One transport's side of a link."""

    @property
    def closed(self) -> bool:
        """Whether nothing more can be sent."""

    async def send_text(self, text: str) -> None:
        """Send one server event (a JSON text); ``ConnectionError`` if the connection went away meanwhile."""

    def drop(self) -> None:
        """End the connection abruptly, as a network failure would (the ``drop_after_events`` fault)."""


class EventLink:
    """One connection's server events: in order, delayed or dropped by faults, journaled with the client's."""

    def __init__(self, carrier: Carrier, state: MockState, entry: JournalEntry | None, faults: Decision | None) -> None:
        self.carrier = carrier
        self.state = state
        self.entry = entry
        self.drop_after = faults.drop_after_events if faults is not None else None
        self.delay_ms = min(faults.event_delay_ms if faults is not None else 0.0, state.settings.latency_max_ms)
        self.sent = 0
        self.dropped = False
        self._lock = asyncio.Lock()
        self.log: EventLog | None = None
        if entry is not None and state.journal.enabled:
            log = self.log = EventLog(state.event_budget)
            # Read when the journal is listed, so an open connection shows its events as they happen.
            entry.live = {"events": log.events, "events_dropped": lambda: log.dropped}

    async def send(self, event: dict[str, Any]) -> None:
        """Send one server event; concurrent senders (responses, the receive loop, media) keep their order."""
        async with self._lock:
            if self.dropped or self.carrier.closed:
                return
            if self.delay_ms > 0:
                await asyncio.sleep(self.delay_ms / 1000)
            if self.drop_after is not None and self.sent >= self.drop_after:
                self.dropped = True
                self.note("dropped", f"after {self.sent} server events")
                self.carrier.drop()
                return
            try:
                await self.carrier.send_text(dump_event(event))
            except ConnectionError:
                return
            self.sent += 1
            if self.log is not None:
                self.log.record("server", event)

    def record_client(self, frame: str | bytes, event: dict[str, Any] | None) -> None:
        """Journal a client frame: the event as parsed, or what could be told of a frame that did not parse."""
        if self.log is None:
            return
        if event is not None:
            self.log.record("client", event)
        elif isinstance(frame, bytes):
            self.log.record("client", {"type": None, "binary": True, "size": len(frame)})
        else:
            self.log.record("client", {"type": None, "size": len(frame), "text": frame[:256]})

    def note(self, what: str, detail: str) -> None:
        """A fact about the connection, shown with its journal entry (``session_id``, ``closed``, ...)."""
        if self.entry is not None:
            self.entry.extra[what] = detail


#: Every server event is serialised: one encoder for all (``json.dumps`` with options builds a new one each call).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dump_event(event: dict[str, Any]) -> str:
    """The event as the JSON text sent. An audio delta's base64 (most of a spoken reply's bytes) is spliced
    in as it is: base64 needs no escaping, and the encoder's scan of it was the largest single cost of a
    reply's events (200 ms of PCM16 at 24 kHz: 30 µs to encode the event, 4 µs spliced)."""
    delta = event.get("delta")
    if type(delta) is Base64Text:
        text = _ENCODER.encode({**event, "delta": ""})
        # Quotes inside strings are escaped, so ``"delta":""`` is a key and its value: this one, unless a
        # nested value has another (then the encoder writes it all).
        if text.count(_EMPTY_DELTA) == 1:
            return text.replace(_EMPTY_DELTA, '"delta":"' + delta + '"')
    return _ENCODER.encode(event)


_EMPTY_DELTA = '"delta":""'
