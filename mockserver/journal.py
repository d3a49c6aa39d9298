"""The request journal: a bounded ring of what the OpenAI surface received and answered."""

from __future__ import annotations

import copy
import dataclasses
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import mask_key

__all__ = ["SUBPROTOCOL_KEY_PREFIX", "JournalEntry", "RequestJournal", "mask_authorization", "masked_headers"]

#: Headers whose values are credentials; they are masked before anything is recorded.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "api-key", "x-api-key", "openai-api-key"})


def mask_authorization(value: str) -> str:
    """``Bearer sk-test-abcdefgh1234`` -> ``Bearer sk-test-******1234``; short keys keep 3 characters."""
    scheme, space, credentials = value.partition(" ")
    if not space:
        scheme, credentials = "", value
    masked = mask_key(credentials) if len(credentials) > 12 else credentials[:3] + "*" * max(len(credentials) - 3, 0)
    return f"{scheme} {masked}" if scheme else masked


def masked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Request headers as recorded: names lower-cased, credentials masked (also a browser's key in
    the ``openai-insecure-api-key.`` WebSocket subprotocol)."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key in _SECRET_HEADERS:
            value = mask_authorization(value)
        elif key == "sec-websocket-protocol" and SUBPROTOCOL_KEY_PREFIX in value:
            value = ", ".join(_masked_protocol(part.strip()) for part in value.split(","))
        out[key] = value
    return out


#: Browsers cannot set headers on a WebSocket: they send the key as a subprotocol with this prefix.
SUBPROTOCOL_KEY_PREFIX = "openai-insecure-api-key."


def _masked_protocol(protocol: str) -> str:
    if not protocol.startswith(SUBPROTOCOL_KEY_PREFIX):
        return protocol
    return SUBPROTOCOL_KEY_PREFIX + mask_authorization(protocol[len(SUBPROTOCOL_KEY_PREFIX) :])


_NOT_SHOWN = frozenset({"extra", "live", "journaled"})


@dataclass
class JournalEntry:
    """One request to the OpenAI surface and what the mock did with it."""

    id: str
    time: float
    scope: str | None
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int | None = None
    fault: str | None = None
    error: str | None = None
    layer: str | None = None
    rule_id: str | None = None
    latency_ms: float = 0.0
    duration_ms: float = 0.0
    client_disconnected: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    #: Values worked out when the entry is read (a WebSocket's events, while it is still open).
    live: dict[str, Callable[[], Any]] = field(default_factory=dict)
    #: Set once the entry is in the journal (a WebSocket's entry goes in when the upgrade is answered).
    journaled: bool = False

    def to_json(self) -> dict[str, Any]:
        # Shallow on purpose: ``body`` is already JSON data (asdict would deep-copy it, recursively).
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NOT_SHOWN}
        data.update(self.extra)
        for key, read in self.live.items():
            data[key] = read()
        return data

    def snapshot(self) -> JournalEntry:
        """A copy that no longer changes: live values read now, everything deep-copied."""
        extra = {**self.extra, **{key: read() for key, read in self.live.items()}}
        return dataclasses.replace(self, extra=copy.deepcopy(extra), body=copy.deepcopy(self.body), live={})


class RequestJournal:
    """Newest last, at most ``limit`` entries (0 turns recording off); older entries fall out."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: deque[JournalEntry] = deque(maxlen=max(limit, 1))

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def record(self, entry: JournalEntry) -> None:
        """Add ``entry`` (once: recording an entry already in the journal does nothing)."""
        if self.enabled and not entry.journaled:
            entry.journaled = True
            self._entries.append(entry)

    def entries(self, scope: str | None = None) -> list[JournalEntry]:
        """All entries, or only those of ``scope`` when one is given."""
        if scope is None:
            return list(self._entries)
        return [entry for entry in self._entries if entry.scope == scope]

    def clear(self, scope: str | None = None) -> None:
        if scope is None:
            self._entries.clear()
        else:
            kept = [entry for entry in self._entries if entry.scope != scope]
            self._entries.clear()
            self._entries.extend(kept)

    def __len__(self) -> int:
        return len(self._entries)
