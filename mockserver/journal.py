"""The request journal: a bounded ring of what the OpenAI surface received and answered."""

from __future__ import annotations

import copy
import sys
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from itertools import chain
from types import MappingProxyType
from typing import Any

from .errors import mask_key

__all__ = [
    "SUBPROTOCOL_KEY_PREFIX",
    "JournalEntry",
    "RawHeaders",
    "RequestJournal",
    "mask_authorization",
    "masked_headers",
    "packed_headers",
]

#: Headers whose values are credentials; they are masked before anything is recorded.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "api-key", "x-api-key", "openai-api-key"})


def mask_authorization(value: str) -> str:
    """``Bearer sk-test-abcdefgh1234`` -> ``Bearer sk-test-******1234``; short keys keep 3 characters."""
    scheme, space, credentials = value.partition(" ")
    if not space:
        scheme, credentials = "", value
    masked = mask_key(credentials) if len(credentials) > 12 else credentials[:3] + "*" * max(len(credentials) - 3, 0)
    return f"{scheme} {masked}" if scheme else masked


def masked_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Request headers as recorded: names lower-cased, credentials masked (also a browser's key in
    the ``openai-insecure-api-key.`` WebSocket subprotocol)."""
    out: dict[str, str] = {}
    for name, value in headers.items() if isinstance(headers, Mapping) else headers:
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

#: A request's headers as aiohttp's parser read them: (name, value) bytes pairs, in order.
RawHeaders = tuple[tuple[bytes, bytes], ...]


def packed_headers(raw: RawHeaders) -> bytes | RawHeaders:
    """``raw`` as one bytes object, names and values between NULs, as an entry keeps them (~0.3 µs).

    An entry outlives its request by a thousand requests, and what it keeps costs most under load when it
    is finally let go: one bytes object instead of the request's header map (two to three objects a header)
    took ~2.5 µs off a mint at 64 connections. A NUL cannot be in a header (the parser refuses it); should
    one be there anyway, the pairs are kept as they are.
    """
    joined = b"\0".join(chain.from_iterable(raw))
    return joined if joined.count(b"\0") == 2 * len(raw) - 1 else raw


def _unpacked(received: bytes | RawHeaders) -> Iterable[tuple[str, str]]:
    """The (name, value) pairs of ``packed_headers``, decoded as aiohttp decodes them."""
    if isinstance(received, bytes):
        parts = received.split(b"\0")
        pairs: Iterable[tuple[bytes, bytes]] = zip(parts[::2], parts[1::2], strict=True)
    else:
        pairs = received
    return [(name.decode("utf-8", _ESCAPED), value.decode("utf-8", _ESCAPED)) for name, value in pairs]


#: Bytes that are not UTF-8 are kept as aiohttp keeps them.
_ESCAPED = "surrogateescape"


class JournalEntry:
    """One request to the OpenAI surface and what the mock did with it.

    The request's headers are kept as received (a header map, or ``packed_headers``) and masked when first
    read (``headers``): a request nobody looks at never pays for masking. Every way out of an entry
    (``headers``, ``to_json``, ``snapshot``, ``repr``, pickling and copying) goes through the masking, so no
    key is ever shown or stored unmasked. An entry keeps as few objects as it can (no empty query or
    ``extra`` dict of its own until one is needed, the path interned): the journal keeps a thousand.
    """

    __slots__ = (
        "_duration_ms",
        "_extra",
        "_masked",
        "_query",
        "_received",
        "body",
        "body_bytes",
        "client_disconnected",
        "error",
        "fault",
        "id",
        "journaled",
        "latency_ms",
        "layer",
        "live",
        "method",
        "path",
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
        query: dict[str, str] | None,
        headers: Mapping[str, str] | bytes | RawHeaders,
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
        self.path = sys.intern(path)  # the same few paths, again and again: one string each
        #: ``None`` for no query (``query`` reads it as an empty dict).
        self._query = query or None
        #: The headers as received, until they are first read and masked into ``_masked``.
        self._received: Mapping[str, str] | bytes | RawHeaders | None = headers
        self._masked: dict[str, str] | None = None
        self.body = body
        #: The request body's size (``None``: not recorded, as for a webhook the mock sent).
        self.body_bytes: int | None = None
        self.status = status
        self.fault: str | None = None
        self.error = error
        self.layer: str | None = None
        self.rule_id: str | None = None
        self.latency_ms = 0.0
        self._duration_ms = duration_ms
        self.client_disconnected = False
        self._extra: dict[str, Any] | None = None
        #: Values worked out when the entry is read (a WebSocket's events, while it is still open); most
        #: entries have none and share one empty mapping.
        self.live: Mapping[str, Callable[[], Any]] = _NO_LIVE
        #: Set once the entry is in the journal (a WebSocket's entry goes in when the upgrade is answered).
        self.journaled = False

    @property
    def headers(self) -> dict[str, str]:
        """The request's headers as recorded: names lower-cased, credentials masked."""
        if self._masked is None:
            received = self._received
            if received is None or isinstance(received, Mapping):
                self._masked = masked_headers(received or {})
            else:
                self._masked = masked_headers(_unpacked(received))
            self._received = None
        return self._masked

    @property
    def duration_ms(self) -> float:
        """How long the mock took to answer, in milliseconds (rounded when read: rounding a float to a number of
        digits costs ~0.4 µs, too much for every request when few entries are ever read)."""
        return round(self._duration_ms, 3)

    @duration_ms.setter
    def duration_ms(self, value: float) -> None:
        self._duration_ms = value

    @property
    def query(self) -> dict[str, str]:
        """The request's query parameters (an empty dict when it had none)."""
        if self._query is None:
            self._query = {}
        return self._query

    @property
    def extra(self) -> dict[str, Any]:
        """What else was recorded (a WebSocket's events, an attach, a webhook's call), shown after the fields."""
        if self._extra is None:
            self._extra = {}
        return self._extra

    def to_json(self) -> dict[str, Any]:
        # Shallow on purpose: ``body`` is already JSON data (a deep copy would copy it, recursively).
        data = {name: getattr(self, name) for name in _SHOWN}
        if self.body_bytes is not None:
            data["body_bytes"] = self.body_bytes
        if self._extra:
            data.update(self._extra)
        for key, read in self.live.items():
            data[key] = read()
        return data

    def snapshot(self) -> JournalEntry:
        """A copy that no longer changes: live values read now, everything deep-copied."""
        copied = copy.copy(self)
        copied._extra = copy.deepcopy({**(self._extra or {}), **{key: read() for key, read in self.live.items()}})
        copied._query = copy.copy(self._query)
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
