"""What the journal keeps of a Realtime connection's events: their payloads, made safe and bounded.

- Audio (``audio`` of appends and input items, ``delta`` of audio deltas) is replaced by its byte count.
- Credentials that can travel in events (an MCP tool's ``authorization`` and ``headers``) are masked.
- Long strings are cut; a connection keeps its first ``HEAD`` events and its latest ``TAIL`` ones.
- All connections together keep at most ``MAX_EVENTS`` (an :class:`EventBudget` per server): past it, the
  oldest connections' events are dropped first, so the journal's memory stays bounded under any load.
"""

from __future__ import annotations

import base64
import binascii
from collections import deque
from collections.abc import Mapping
from typing import Any

from ..errors import mask_key

__all__ = ["HEAD", "MAX_EVENTS", "MAX_STRING", "TAIL", "EventBudget", "EventLog", "safe_payload"]

#: Events kept from the start of a connection, and from its end.
HEAD = 100
TAIL = 900
#: Events kept of all connections together (~600 bytes each as journaled: some 30 MB at most).
MAX_EVENTS = 50_000
#: Strings longer than this are cut in the journal.
MAX_STRING = 4096
_AUDIO_DELTAS = frozenset({"response.output_audio.delta", "session.output_audio.delta"})
_SECRET_KEYS = frozenset({"authorization", "api_key", "client_secret"})


class EventBudget:
    """The bound on the events kept by all of a server's connections: the oldest connection's go first."""

    def __init__(self, limit: int = MAX_EVENTS) -> None:
        self.limit = limit
        self.kept = 0
        #: Logs holding events, oldest first (a log is added when it keeps its first event).
        self._logs: deque[EventLog] = deque()

    def grew(self, log: EventLog) -> None:
        """``log`` keeps one more event; drop the oldest logs' events while over the limit."""
        if not log.budgeted:
            log.budgeted = True
            self._logs.append(log)
        self.kept += 1
        while self.kept > self.limit and len(self._logs) > 1:
            oldest = self._logs.popleft()
            oldest.budgeted = False
            self.kept -= oldest.forget()


class EventLog:
    """The events of one connection, in order: ``{"direction": "client"|"server", **payload}``."""

    def __init__(self, budget: EventBudget | None = None) -> None:
        self.head: list[dict[str, Any]] = []
        self.tail: deque[dict[str, Any]] = deque(maxlen=TAIL)
        self.total = 0
        self.budget = budget
        #: Whether the budget counts this log's events.
        self.budgeted = False

    def record(self, direction: str, payload: Mapping[str, Any]) -> None:
        self.total += 1
        entry = {"direction": direction, **safe_payload(payload)}
        if len(self.head) < HEAD:
            self.head.append(entry)
        elif len(self.tail) < TAIL:
            self.tail.append(entry)
        else:
            self.tail.append(entry)  # the oldest of the tail falls out: as many events kept as before
            return
        if self.budget is not None:
            self.budget.grew(self)

    def forget(self) -> int:
        """Drop every event kept (they count as dropped); returns how many there were."""
        kept = len(self.head) + len(self.tail)
        self.head.clear()
        self.tail.clear()
        return kept

    def events(self) -> list[dict[str, Any]]:
        return [*self.head, *self.tail]

    @property
    def dropped(self) -> int:
        return self.total - len(self.head) - len(self.tail)


def _decoded_size(value: str) -> int:
    """The byte count of base64 audio, from its length (decoding every audio delta again would cost more)."""
    if len(value) % 4:
        # Not canonical base64 (padding missing, stray characters): count what decodes.
        try:
            return len(base64.b64decode(value, validate=False))
        except (binascii.Error, ValueError):
            return len(value)
    return len(value) // 4 * 3 - value.count("=", -2)


def safe_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an event fit for the journal (audio as byte counts, secrets masked, strings bounded)."""
    kind = payload.get("type")
    out: dict[str, Any] = {}
    for key, value in payload.items():
        if type(value) in _ATOMS:
            out[key] = value
        elif isinstance(value, str):
            if key == "audio" or (key == "delta" and kind in _AUDIO_DELTAS):
                out[key] = _decoded_size(value)
            else:
                out[key] = value if len(value) <= MAX_STRING else _cut(value)
        elif isinstance(value, bytes):
            out[key] = len(value)
        else:
            out[key] = _safe(value, key, 0)
    return out


#: Values kept as they are. Every event is journaled, so the common values are told apart by their exact
#: type first (an ``isinstance`` check against ``Mapping`` costs an ABC look-up each time).
_ATOMS = frozenset({int, float, bool, type(None)})
#: Keys (lower-cased) whose values are masked or counted rather than copied (see ``_safe_entry``).
_SPECIAL_KEYS = _SECRET_KEYS | {"headers", "audio"}


def _safe(value: Any, key: str, depth: int) -> Any:
    if depth > 32:
        return "…"
    kind = type(value)
    if kind is str:
        return value if len(value) <= MAX_STRING else _cut(value)
    if kind in _ATOMS:
        return value
    if kind is dict or isinstance(value, Mapping):
        return {str(k): _safe_entry(str(k), v, depth) for k, v in value.items()}
    if isinstance(value, list):
        return [_safe(v, key, depth + 1) for v in value]
    if isinstance(value, str) and len(value) > MAX_STRING:
        return _cut(value)
    return value


def _cut(value: str) -> str:
    return value[:MAX_STRING] + f"…({len(value)} characters)"


def _safe_entry(key: str, value: Any, depth: int) -> Any:
    lowered = key.lower()
    if lowered not in _SPECIAL_KEYS:
        return _safe(value, key, depth + 1)
    if lowered in _SECRET_KEYS and isinstance(value, str):
        return mask_key(value) if len(value) > 12 else "*" * len(value)
    if lowered == "headers" and isinstance(value, Mapping):
        return {str(k): "***" for k in value}
    if lowered == "audio" and isinstance(value, str):
        return _decoded_size(value)
    return _safe(value, key, depth + 1)
