"""The request journal: a bounded ring of what the OpenAI surface received and answered."""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable, Mapping
from types import MappingProxyType
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


_NO_LIVE: Mapping[str, Callable[[], Any]] = MappingProxyType({})


class JournalEntry:
    """One request to the OpenAI surface and what the mock did with it.

    The request's headers are kept as received and masked when first read (``headers``):
    a request nobody looks at never pays for masking. Every way out of an entry (``headers``,
    ``to_json``, ``snapshot``, ``repr``, pickling and copying) goes through the masking, so no
    key is ever shown or stored unmasked.
    """

    __slots__ = (
        "_masked",
        "_received",
        "body",
        "client_disconnected",
        "duration_ms",
        "error",
        "extra",
        "fault",
        "id",
        "journaled",
        "latency_ms",
        "layer",
        "live",
        "method",
        "path",
        "query",
        "rule_id",
        "scope",
        "status",
        "time",
    )

    def __init__(
        self,
        id: str,
        time: float,
        scope: str | None,
        method: str,
        path: str,
        query: dict[str, str],
        headers: Mapping[str, str],
        body: Any,
        *,
        status: int | None = None,
        error: str | None = None,
        duration_ms: float = 0.0,
    ) -> None:
        self.id = id
        self.time = time
        self.scope = scope
        self.method = method
        self.path = path
        self.query = query
        #: The headers as received, until they are first read and masked into ``_masked``.
        self._received: Mapping[str, str] | None = headers
        self._masked: dict[str, str] | None = None
        self.body = body
        self.status = status
        self.fault: str | None = None
        self.error = error
        self.layer: str | None = None
        self.rule_id: str | None = None
        self.latency_ms = 0.0
        self.duration_ms = duration_ms
        self.client_disconnected = False
        self.extra: dict[str, Any] = {}
        #: Values worked out when the entry is read (a WebSocket's events, while it is still open); most
        #: entries have none and share one empty mapping.
        self.live: Mapping[str, Callable[[], Any]] = _NO_LIVE
        #: Set once the entry is in the journal (a WebSocket's entry goes in when the upgrade is answered).
        self.journaled = False

    @property
    def headers(self) -> dict[str, str]:
        """The request's headers as recorded: names lower-cased, credentials masked."""
        if self._masked is None:
            self._masked = masked_headers(self._received or {})
            self._received = None
        return self._masked

    def to_json(self) -> dict[str, Any]:
        # Shallow on purpose: ``body`` is already JSON data (a deep copy would copy it, recursively).
        data = {name: getattr(self, name) for name in _SHOWN}
        data.update(self.extra)
        for key, read in self.live.items():
            data[key] = read()
        return data

    def snapshot(self) -> JournalEntry:
        """A copy that no longer changes: live values read now, everything deep-copied."""
        copied = copy.copy(self)
        copied.extra = copy.deepcopy({**self.extra, **{key: read() for key, read in self.live.items()}})
        copied.body = copy.deepcopy(self.body)
        copied.live = _NO_LIVE
        return copied

    def __getstate__(self) -> dict[str, Any]:
        # What copy and pickle take: the masked headers only, never the ones received.
        self.headers  # noqa: B018 - masks them
        state = {name: getattr(self, name) for name in self.__slots__}
        state["live"] = dict(self.live)  # a plain dict (the shared empty one is a read-only proxy)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _SHOWN)
        return f"JournalEntry({fields})"


#: What ``to_json`` and ``repr`` show, in order.
_SHOWN = (
    "id",
    "time",
    "scope",
    "method",
    "path",
    "query",
    "headers",
    "body",
    "status",
    "fault",
    "error",
    "layer",
    "rule_id",
    "latency_ms",
    "duration_ms",
    "client_disconnected",
)


class RequestJournal:
    """Newest last, at most ``limit`` entries (0 turns recording off); older entries fall out."""

    def __init__(self, limit: int) -> None:
        #: Both fixed for the journal's life (like its deque's length): read on every request.
        self.limit = limit
        self.enabled = limit > 0
        self._entries: deque[JournalEntry] = deque(maxlen=max(limit, 1))

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
