"""Plans: what a request body asks for, worked out once per endpoint kind and distinct body.

Parsing, validating, filling defaults and rendering the session are pure functions of
the body's bytes. Tests and load generators send the same few bodies again and again,
so the outcome (a plan, or the error to answer) is kept in a small LRU keyed by the raw
bytes, with one outcome per endpoint kind (``PlanKind``): the realtime mint, the
translation mint, a call's accept. Per mint only the secret, its expiry and the session
id are new: they are spliced into bytes rendered once.
"""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .body import dump_json, expect_object, parse_json
from .defaults import DEFAULT_EXPIRES_AFTER_SECONDS, realtime_session, session_from_request, translation_session
from .errors import OpenAIError, invalid_json
from .schemas import RealtimeCreateClientSecretRequest, validate_model
from .schemas.requests import RealtimeSessionCreateRequestGA
from .secrets import SecretKind

__all__ = [
    "ACCEPT",
    "NOT_JSON",
    "PROCESS_PLANS",
    "REALTIME_MINT",
    "TRANSLATION_MINT",
    "MintPlan",
    "PlanCache",
    "PlanKind",
    "SessionPlan",
]

P = TypeVar("P")

#: The parsed body of a request whose body is not JSON.
NOT_JSON: Any = object()

#: Bodies larger than this are worked out every time rather than kept.
_CACHEABLE_BYTES = 64 * 1024
#: Stand-ins for the values spliced in per mint. Random per process (and starting with NUL),
#: so that no string a client sends can be mistaken for one.
_MARK = f"\x00{secrets.token_hex(8)}:"
_VALUE, _EXPIRES_AT, _SESSION_ID = 0, 1, 2
#: Each stand-in as it appears in a rendered body (a JSON string), and the slot it holds.
_RENDERED_MARKS = {dump_json(f"{_MARK}{slot}"): slot for slot in (_VALUE, _EXPIRES_AT, _SESSION_ID)}
_MARK_PATTERN = re.compile(b"|".join(re.escape(mark) for mark in _RENDERED_MARKS))


@dataclass(frozen=True, slots=True)
class PlanKind(Generic[P]):
    """One endpoint's way from a JSON object body to its plan (raising ``OpenAIError``)."""

    name: str
    build: Callable[[dict[str, Any]], P]


@dataclass(frozen=True, slots=True)
class MintPlan:
    """A valid mint request: its kind, TTL and session, pre-rendered around the per-mint values."""

    kind: SecretKind
    seconds: int
    session: dict[str, Any]  # the session with "id": "" (treated as immutable)
    request: dict[str, Any]  # the session as requested, only what was set (for session.update merges)
    #: Whether the session's ``expires_at`` is the secret's (translation) rather than 0 (realtime).
    session_expires: bool
    #: (value, expires_at, session id) -> the body: the rendered bytes with the per-mint values spliced in.
    _weave: Callable[[bytes, bytes, bytes], bytes] = field(repr=False)

    @classmethod
    def for_session(
        cls, kind: SecretKind, seconds: int, session: dict[str, Any], request: dict[str, Any], *, session_expires: bool
    ) -> MintPlan:
        marked = {**session, "id": f"{_MARK}{_SESSION_ID}"}
        if session_expires:
            marked["expires_at"] = f"{_MARK}{_EXPIRES_AT}"
        rendered = dump_json({"value": f"{_MARK}{_VALUE}", "expires_at": f"{_MARK}{_EXPIRES_AT}", "session": marked})
        slots = tuple(_RENDERED_MARKS[mark] for mark in _MARK_PATTERN.findall(rendered))
        chunks = _MARK_PATTERN.split(rendered)
        # A string slot keeps its quotes in the pieces around it; the number (expires_at) is bare.
        for index, slot in enumerate(slots):
            if slot != _EXPIRES_AT:
                chunks[index] += b'"'
                chunks[index + 1] = b'"' + chunks[index + 1]
        return cls(kind, seconds, session, request, session_expires, _weaver(tuple(chunks), slots))

    def render(self, value: str, expires_at: int, session_id: str) -> bytes:
        """The response body, byte for byte what ``dump_json`` would give for the full payload."""
        # Secrets are hex and session ids alphanumeric: nothing in them needs escaping in JSON.
        return self._weave(value.encode(), b"%d" % expires_at, session_id.encode())

    def session_for(self, session_id: str, expires_at: int = 0) -> dict[str, Any]:
        """The session object with its id (a new top-level dict; nested values are shared)."""
        session = {**self.session, "id": session_id}
        if self.session_expires:
            session["expires_at"] = expires_at
        return session


def _weaver(chunks: tuple[bytes, ...], slots: tuple[int, ...]) -> Callable[[bytes, bytes, bytes], bytes]:
    """A function splicing (value, expires_at, session id) between ``chunks`` in ``slots`` order.

    The mint's hot path: the two layouts the endpoints produce get one join of a tuple
    literal each (as fast as the hand-written splice was); any other layout a loop.
    """
    if slots == (_VALUE, _EXPIRES_AT, _SESSION_ID):  # a realtime mint
        c0, c1, c2, c3 = chunks
        return lambda v, e, s: b"".join((c0, v, c1, e, c2, s, c3))
    if slots == (_VALUE, _EXPIRES_AT, _SESSION_ID, _EXPIRES_AT):  # a translation mint (the session expires too)
        d0, d1, d2, d3, d4 = chunks
        return lambda v, e, s: b"".join((d0, v, d1, e, d2, s, d3, e, d4))

    def weave(v: bytes, e: bytes, s: bytes) -> bytes:
        fills = (v, e, s)
        parts = [chunks[0]]
        for slot, chunk in zip(slots, chunks[1:], strict=True):
            parts += (fills[slot], chunk)
        return b"".join(parts)

    return weave


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """A valid realtime session body (a call's accept): the defaulted session and what was set."""

    session: dict[str, Any]  # with "id": "" (treated as immutable)
    request: dict[str, Any]

    def session_for(self, session_id: str) -> dict[str, Any]:
        return {**self.session, "id": session_id}


def _realtime_mint(body: dict[str, Any]) -> MintPlan:
    request = validate_model(RealtimeCreateClientSecretRequest, body)
    seconds = request.expires_after.seconds if request.expires_after else DEFAULT_EXPIRES_AFTER_SECONDS
    asked = request.session.model_dump(exclude_unset=True) if request.session else {"type": "realtime"}
    return MintPlan.for_session("realtime", seconds, session_from_request(request, ""), asked, session_expires=False)


def _translation_mint(body: dict[str, Any]) -> MintPlan:
    # Imported on the first translation mint: a server that mints only Realtime keys never loads it.
    from .schemas.translation import RealtimeTranslationClientSecretCreateRequest  # noqa: PLC0415

    request = validate_model(RealtimeTranslationClientSecretCreateRequest, body)
    seconds = request.expires_after.seconds if request.expires_after else DEFAULT_EXPIRES_AFTER_SECONDS
    asked = request.session.model_dump(exclude_unset=True)
    session = translation_session(asked, "", 0)
    return MintPlan.for_session("translation", seconds, session, asked, session_expires=True)


def _accept(body: dict[str, Any]) -> SessionPlan:
    # The body is a realtime session itself: the same model (and so the same errors) as a mint's session.
    asked = validate_model(RealtimeSessionCreateRequestGA, body).model_dump(exclude_unset=True)
    return SessionPlan(realtime_session(asked, ""), asked)


#: ``POST /v1/realtime/client_secrets``
REALTIME_MINT: PlanKind[MintPlan] = PlanKind("realtime", _realtime_mint)
#: ``POST /v1/realtime/translations/client_secrets``
TRANSLATION_MINT: PlanKind[MintPlan] = PlanKind("translation", _translation_mint)
#: ``POST /v1/realtime/calls/{call_id}/accept``
ACCEPT: PlanKind[SessionPlan] = PlanKind("accept", _accept)


@dataclass(frozen=True, slots=True)
class _Failure:
    error: OpenAIError
    rendered: bytes


@dataclass(slots=True)
class _Entry:
    parsed: Any
    #: Kind name -> plan or failure (at most one per kind).
    outcomes: dict[str, Any] = field(default_factory=dict)


class PlanCache:
    """Bounded LRU from raw body bytes to the parsed body and its plans (or errors), per kind."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()

    def parsed(self, raw: bytes) -> Any:
        """The body as JSON (any value), ``None`` for an empty body, ``NOT_JSON`` otherwise."""
        return self._entry(raw).parsed if raw else None

    def plan(self, kind: PlanKind[P], raw: bytes) -> P:
        """The plan of this kind for this body, or raise the error OpenAI would answer."""
        entry = self._entry(raw)
        outcome = entry.outcomes.get(kind.name)
        if outcome is None:
            outcome = entry.outcomes[kind.name] = _work_out(kind, entry.parsed)
        if isinstance(outcome, _Failure):
            error = outcome.error
            raise OpenAIError(
                error.status, error.message, error.type, error.param, error.code, rendered=outcome.rendered
            )
        plan: P = outcome
        return plan

    def clear(self) -> None:
        self._entries.clear()

    def _entry(self, raw: bytes) -> _Entry:
        entry = self._entries.get(raw)
        if entry is not None:
            try:  # noqa: SIM105 - contextlib.suppress is three Python calls a look-up, twice a mint
                self._entries.move_to_end(raw)
            except KeyError:  # a server on another thread may have just evicted it
                pass
            return entry
        entry = _Entry(_parse(raw))
        if len(raw) <= _CACHEABLE_BYTES:
            self._entries[raw] = entry
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return entry


#: The process's one cache. A plan depends on the body's bytes alone, so every server of the process (a test
#: suite starts one per test) shares it: each distinct body is worked out once per process, not per server.
PROCESS_PLANS = PlanCache()


def _parse(raw: bytes) -> Any:
    if not raw.strip():
        return {}
    try:
        return parse_json(raw)
    except OpenAIError:
        return NOT_JSON


def _work_out(kind: PlanKind[Any], parsed: Any) -> Any:
    try:
        if parsed is NOT_JSON:
            raise invalid_json()
        return kind.build(expect_object(parsed))
    except OpenAIError as error:
        return _Failure(error, dump_json(error.payload()))
