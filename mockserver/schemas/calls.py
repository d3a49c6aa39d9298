"""Request models for the call-control routes (``/v1/realtime/calls/{call_id}/...``) and for
``POST /__mock/calls``, the simulated incoming SIP call.

``accept`` takes ``RealtimeSessionCreateRequestGA`` itself (the mint's model, see
``plans.ACCEPT``); these are the others.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field

from ._base import IntRange, OneOf, RequestModel, openai_error

__all__ = [
    "REFER_SCHEMES",
    "CallReferRequest",
    "CallRejectRequest",
    "IncomingCallRequest",
    "SipHeader",
]

#: URI schemes a REFER target may use ("Supports values like `tel:+14155550123` or `sip:agent@example.com`").
REFER_SCHEMES = ("tel:", "sip:", "sips:")
#: Headers a simulated call may add to the webhook's ``sip_headers`` (bounded, like everything a client sends).
MAX_SIP_HEADERS = 64


def _check_target_uri(value: str) -> str:
    scheme, colon, rest = value.partition(":")
    if not colon or f"{scheme.lower()}:" not in REFER_SCHEMES or not rest.strip():
        raise openai_error(
            "invalid_value",
            f"Invalid value for '{{param}}': expected a 'tel:' or 'sip:' URI (such as 'tel:+14155550123' or "
            f"'sip:agent@example.com'), but got {value!r} instead.",
        )
    return value


class CallReferRequest(RequestModel):
    """``POST /v1/realtime/calls/{call_id}/refer`` (spec: ``target_uri`` required, nothing else)."""

    target_uri: Annotated[str, AfterValidator(_check_target_uri)]


class CallRejectRequest(RequestModel):
    """``POST /v1/realtime/calls/{call_id}/reject`` (spec: optional ``status_code``, default 603)."""

    # A SIP final failure response: 4xx, 5xx or 6xx.
    status_code: Annotated[int, IntRange(400, 699)] | None = None


class SipHeader(RequestModel):
    name: Annotated[str, Field(min_length=1, max_length=256)]
    value: Annotated[str, Field(max_length=8192)]


def _check_webhook_url(value: str) -> str:
    # The host is checked against the allowed hosts by the handler; here only the shape.
    if not value.lower().startswith(("http://", "https://")):
        raise openai_error(
            "invalid_value",
            f"Invalid value for '{{param}}': expected an http:// or https:// URL, but got {value!r} instead.",
        )
    return value


class IncomingCallRequest(RequestModel):
    """``POST /__mock/calls``: a SIP call rings; its ``realtime.call.incoming`` webhook goes to ``webhook_url``."""

    webhook_url: Annotated[str, Field(max_length=2048), AfterValidator(_check_webhook_url)] | None = None
    from_: Annotated[str, Field(max_length=2048)] | None = Field(None, alias="from")
    to: Annotated[str, Field(max_length=2048)] | None = None
    sip_headers: Annotated[list[SipHeader], Field(max_length=MAX_SIP_HEADERS, fail_fast=True)] | None = None
    sip_media_security: Annotated[str, OneOf("rtp", "srtp")] | None = None

    def extra_headers(self) -> list[dict[str, Any]]:
        return [header.model_dump() for header in self.sip_headers or ()]
