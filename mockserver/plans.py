"""Mint plans: what a request body mints, worked out once per distinct body.

Parsing, validating, filling defaults and rendering the session are pure
functions of the body's bytes. Tests and load generators send the same few
bodies again and again, so the outcome (a plan, or the error to answer) is kept
in a small LRU keyed by the raw bytes. Per request only the secret, its expiry
and the session id are new: they are spliced into bytes rendered once.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from .body import dump_json, parse_json, parse_json_object
from .defaults import DEFAULT_EXPIRES_AFTER_SECONDS, session_from_request
from .errors import OpenAIError
from .schemas import RealtimeCreateClientSecretRequest, validate_model

__all__ = ["NOT_JSON", "MintPlan", "PlanCache"]

#: The parsed body of a request whose body is not JSON.
NOT_JSON: Any = object()

#: Bodies larger than this are worked out every time rather than kept.
_CACHEABLE_BYTES = 64 * 1024
_VALUE_PREFIX = b'{\n  "value": "'
_SESSION_PREFIX = b'",\n  "expires_at": 0,\n  "session": '


@dataclass(frozen=True, slots=True)
class MintPlan:
    """A valid mint request: its TTL and its session, pre-rendered around the session id."""

    seconds: int
    session: dict[str, Any]  # the session with "id": "" (treated as immutable)
    request: dict[str, Any]  # the session as requested, only what was set (for session.update merges)
    _before_id: bytes
    _after_id: bytes

    @classmethod
    def for_session(cls, seconds: int, session: dict[str, Any], request: dict[str, Any]) -> MintPlan:
        rendered = dump_json({"value": "", "expires_at": 0, "session": session})
        assert rendered.startswith(_VALUE_PREFIX + _SESSION_PREFIX)
        session_bytes = rendered[len(_VALUE_PREFIX + _SESSION_PREFIX) :]
        # "id" is the third key of both session kinds, before anything the client sent.
        cut = session_bytes.index(b'"id": ""') + len(b'"id": "')
        return cls(seconds, session, request, session_bytes[:cut], session_bytes[cut:])

    def render(self, value: str, expires_at: int, session_id: str) -> bytes:
        """The response body, byte for byte what ``dump_json`` would give for the full payload."""
        return b"".join(
            (
                _VALUE_PREFIX,
                value.encode(),
                b'",\n  "expires_at": ',
                str(expires_at).encode(),
                b',\n  "session": ',
                self._before_id,
                session_id.encode(),
                self._after_id,
            )
        )

    def session_for(self, session_id: str) -> dict[str, Any]:
        """The session object with its id (a new top-level dict; nested values are shared)."""
        return {**self.session, "id": session_id}


@dataclass(frozen=True, slots=True)
class _Outcome:
    parsed: Any
    plan: MintPlan | None
    error: OpenAIError | None
    rendered_error: bytes | None = None


class PlanCache:
    """Bounded LRU from raw body bytes to the parsed body and its plan (or error)."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._entries: OrderedDict[bytes, _Outcome] = OrderedDict()

    def parsed(self, raw: bytes) -> Any:
        """The body as JSON (any value), ``None`` for an empty body, ``NOT_JSON`` otherwise."""
        return self._outcome(raw).parsed if raw else None

    def plan(self, raw: bytes) -> MintPlan:
        """The plan for this body, or raise the error OpenAI would answer."""
        outcome = self._outcome(raw)
        if outcome.error is not None:
            error = outcome.error
            raise OpenAIError(
                error.status, error.message, error.type, error.param, error.code, rendered=outcome.rendered_error
            )
        assert outcome.plan is not None
        return outcome.plan

    def clear(self) -> None:
        self._entries.clear()

    def _outcome(self, raw: bytes) -> _Outcome:
        outcome = self._entries.get(raw)
        if outcome is not None:
            self._entries.move_to_end(raw)
            return outcome
        outcome = _work_out(raw)
        if len(raw) <= _CACHEABLE_BYTES:
            self._entries[raw] = outcome
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return outcome


def _work_out(raw: bytes) -> _Outcome:
    parsed: Any = NOT_JSON
    try:
        parsed = parse_json(raw) if raw.strip() else {}
        body = parse_json_object(raw) if not isinstance(parsed, dict) else parsed
        request = validate_model(RealtimeCreateClientSecretRequest, body)
    except OpenAIError as error:
        return _Outcome(parsed, None, error, dump_json(error.payload()))
    seconds = request.expires_after.seconds if request.expires_after else DEFAULT_EXPIRES_AFTER_SECONDS
    asked = request.session.model_dump(exclude_unset=True) if request.session else {"type": "realtime"}
    return _Outcome(parsed, MintPlan.for_session(seconds, session_from_request(request, ""), asked), None)
