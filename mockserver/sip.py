"""The simulated phone network: an incoming SIP call rings, and OpenAI's ``realtime.call.incoming``
webhook tells the app about it.

``ring`` registers the call (pure state, no I/O); ``notify`` signs and sends the webhook to
the URL the test gave and records the delivery on the call and in the journal. The
control route (``POST /__mock/calls``) and the Python handle both use them.
"""

from __future__ import annotations

import time
from typing import Any

from .body import dump_json
from .calls import Call
from .journal import JournalEntry
from .schemas.calls import IncomingCallRequest
from .state import MockState
from .webhooks import deliver, incoming_call_event, webhook_headers

__all__ = ["DEFAULT_FROM", "DEFAULT_TO", "notify", "ring"]

#: The caller and the number called when a test names neither (the shape of the docs' example).
DEFAULT_FROM = "sip:+14155550100@sip.example.com"
DEFAULT_TO = "sip:+18005551212@sip.example.com"


def ring(state: MockState, spec: IncomingCallRequest, scope: str | None) -> Call:
    """A new SIP call, ``ringing``: From, To and Call-ID headers first, then the test's own, in order."""
    now = int(state.clock.now())
    headers = [
        {"name": "From", "value": spec.from_ if spec.from_ is not None else DEFAULT_FROM},
        {"name": "To", "value": spec.to if spec.to is not None else DEFAULT_TO},
        {"name": "Call-ID", "value": state.ids.sip_call_id()},
        *spec.extra_headers(),
    ]
    call = Call(
        id=state.ids.call_id(),
        transport="sip",
        status="ringing",
        created_at=now,
        updated_at=now,
        scope=scope,
        sip_headers=headers,
    )
    return state.calls.add(call)


async def notify(state: MockState, call: Call, url: str, media_security: str | None = None) -> dict[str, Any]:
    """Send ``call``'s ``realtime.call.incoming`` webhook to ``url``, once; the delivery report.

    The event's ``created_at`` follows the mock's clock; ``webhook-timestamp`` is the real time of
    sending, because the receiver checks it against its own clock (the SDKs allow 5 minutes).
    """
    event_id = state.ids.webhook_event_id(call.created_at)
    webhook_id = state.ids.webhook_id(call.created_at)
    event = incoming_call_event(event_id, call.created_at, call.id, call.sip_headers, media_security)
    body = dump_json(event)
    headers = webhook_headers(state.webhook_secret, webhook_id, int(time.time()), body)
    call.webhook = {"url": url, "webhook_id": webhook_id, "event_id": event_id, "delivered": False, "pending": True}
    report = await deliver(url, body, headers, state.settings.webhook_timeout_ms / 1000)
    call.webhook = {"url": url, "webhook_id": webhook_id, "event_id": event_id, **report}
    entry = JournalEntry(
        id=webhook_id,
        time=state.clock.now(),
        scope=call.scope,
        method="POST",
        path=url,
        query={},
        headers=headers,
        body=event,
        status=report["status_code"],
        error=report["error"],
        duration_ms=report["duration_ms"],
    )
    entry.extra.update({"direction": "outbound", "kind": "webhook", "call_id": call.id})
    if state.journal.enabled:
        await state.store.record(entry)
    return call.webhook
