"""Realtime calls (SIP and WebRTC): what each call is, the state it is in, and a bounded registry.

A SIP call starts ``ringing`` (``POST /__mock/calls``) and is then accepted, rejected,
referred or hung up through ``/v1/realtime/calls/{call_id}/...``; a WebRTC call
(``POST /v1/realtime/calls``) starts ``accepted``, connected, and can only be hung up.
``next_status`` is the whole state machine, a pure function.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "FINISHED",
    "Call",
    "CallAction",
    "CallRegistry",
    "CallStateError",
    "CallStatus",
    "CallTransport",
    "next_status",
]

CallStatus = Literal["ringing", "accepted", "rejected", "referred", "hung_up", "ended"]
CallTransport = Literal["sip", "webrtc"]
CallAction = Literal["accept", "reject", "refer", "hangup"]

#: States a call never leaves.
FINISHED: frozenset[str] = frozenset({"rejected", "referred", "hung_up", "ended"})

#: (status, action) -> the status the action leads to. Anything else is refused.
_TRANSITIONS: dict[tuple[str, str], CallStatus] = {
    ("ringing", "accept"): "accepted",
    ("ringing", "reject"): "rejected",
    ("ringing", "hangup"): "hung_up",
    ("accepted", "hangup"): "hung_up",
    ("accepted", "refer"): "referred",
}
_SIP_ONLY: frozenset[str] = frozenset({"accept", "reject", "refer"})
_PAST = {"accept": "accepted", "reject": "rejected", "refer": "referred", "hangup": "hung up"}
_HOW_IT_ENDED = {
    "rejected": "it was rejected",
    "referred": "it was referred to another destination",
    "hung_up": "it was hung up",
    "ended": "the caller hung up",
}


class CallStateError(ValueError):
    """An action the call's state does not allow; the message says why."""


def next_status(call_id: str, transport: CallTransport, status: CallStatus, action: CallAction) -> CallStatus:
    """The status ``action`` leads to, or ``CallStateError`` saying why it cannot be done."""
    if transport == "webrtc" and action in _SIP_ONLY:
        raise CallStateError(
            f"Cannot {action} call '{call_id}': it is a WebRTC call, and only SIP calls can be {_PAST[action]}."
        )
    following = _TRANSITIONS.get((status, action))
    if following is not None:
        return following
    if status in FINISHED:
        raise CallStateError(f"Cannot {action} call '{call_id}': the call is over ({_HOW_IT_ENDED[status]}).")
    if status == "accepted":
        raise CallStateError(f"Cannot {action} call '{call_id}': the call has already been accepted.")
    # ringing, and the action needs an answered call (refer)
    raise CallStateError(f"Cannot {action} call '{call_id}': the call has not been accepted yet.")


@dataclass(slots=True)
class Call:
    """One call and what happened to it."""

    id: str
    transport: CallTransport
    status: CallStatus
    created_at: int
    updated_at: int
    scope: str | None = None
    #: The ``ek_`` key that opened a WebRTC call (``None`` for SIP, or a call opened with an API key).
    secret: str | None = None
    #: The session serving the call, in the shape a mint gives (set on accept, or at WebRTC set-up).
    session: dict[str, Any] | None = None
    #: The session as requested, only what was set (the base for ``session.update`` merges).
    session_request: dict[str, Any] | None = None
    #: SIP only: the headers the ``realtime.call.incoming`` webhook carried.
    sip_headers: list[dict[str, str]] = field(default_factory=list)
    #: SIP only: the webhook delivery, as reported by ``POST /__mock/calls``.
    webhook: dict[str, Any] | None = None
    reject_status_code: int | None = None
    refer_to: str | None = None

    def view(self) -> dict[str, Any]:
        """The call as the control surface shows it."""
        return {
            "id": self.id,
            "transport": self.transport,
            "status": self.status,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "scope": self.scope,
            "secret": self.secret,
            "sip_headers": list(self.sip_headers),
            "session": self.session,
            "reject_status_code": self.reject_status_code,
            "refer_to": self.refer_to,
            "webhook": self.webhook,
        }


class CallRegistry:
    """Calls by id, oldest first, bounded: when full, the oldest is forgotten."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._calls: OrderedDict[str, Call] = OrderedDict()

    def __len__(self) -> int:
        return len(self._calls)

    def add(self, call: Call) -> Call:
        self._calls[call.id] = call
        while len(self._calls) > self.limit:
            self._calls.popitem(last=False)
        return call

    def get(self, call_id: str) -> Call | None:
        return self._calls.get(call_id)

    def list(self, scope: str | None = None) -> list[Call]:
        """Calls, oldest first; only those of ``scope`` when one is given."""
        return [c for c in self._calls.values() if scope is None or c.scope == scope]

    def clear(self, scope: str | None = None) -> None:
        """Forget every call, or only those of ``scope``."""
        if scope is None:
            self._calls.clear()
        else:
            for call_id in [i for i, c in self._calls.items() if c.scope == scope]:
                del self._calls[call_id]
