"""Fault rules as clients send them (``POST /__mock/faults``, scenario files, the Python handle): validated.

The rules the server keeps and the decisions it takes are ``faults.py``; this module holds only the
request models, so a server that never receives a rule never builds them (imported on first use).
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar

from pydantic import AfterValidator, Field, model_validator

from .faults import CONNECTION_FAULTS
from .presets import PRESETS
from .schemas._base import DecimalRange, IntRange, OneOf, RequestModel, openai_error

__all__ = ["FaultMatch", "FaultRuleSpec"]


class FaultMatch(RequestModel):
    """Which requests a rule applies to; every given key must match."""

    path: str | None = Field(None, description="Exact path, or a glob such as `/v1/realtime/*`.")
    method: str | None = None
    model: str | None = Field(None, description="The session's `model` in the request body.")
    session_type: Annotated[str, OneOf("realtime", "transcription", "translation")] | None = None
    headers: dict[str, str] | None = Field(None, description="Request headers that must be present with these values.")


_STATUS = IntRange(400, 599)
#: RFC 9110 token characters: what a header name may be made of.
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
#: Headers that frame the message or the connection: a rule must not set them.
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "trailer", "te"})


def _check_headers(headers: dict[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        if not _TOKEN.match(name):
            raise openai_error(
                "invalid_value", f"Invalid header name {name!r} in '{{param}}': expected an HTTP token.", subpath=""
            )
        if name.lower() in _FRAMING:
            raise openai_error(
                "invalid_value",
                f"Invalid header {name!r} in '{{param}}': it frames the HTTP message and cannot be injected.",
            )
        if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F or ord(c) > 0xFF for c in value):
            raise openai_error(
                "invalid_value",
                f"Invalid value for header {name!r} in '{{param}}': control characters are not allowed.",
            )
    return headers


class FaultRuleSpec(RequestModel):
    """A scripted fault, as ``POST /__mock/faults`` takes it."""

    status: Annotated[int, _STATUS] | None = None
    error: Annotated[str, OneOf(*PRESETS)] | None = None
    times: Annotated[int, IntRange(1)] | None = 1
    latency_ms: Annotated[float, DecimalRange(0)] | None = None
    fault: Annotated[str, OneOf(*CONNECTION_FAULTS)] | None = None
    retry_after_ms: Annotated[int, IntRange(0, 86_400_000)] | None = None
    retry_after: Annotated[float, DecimalRange(0, 86_400)] | None = None
    x_should_retry: bool | None = None
    headers: Annotated[dict[str, str], AfterValidator(_check_headers)] | None = None
    message: str | None = None
    type: str | None = None
    code: str | None = None
    drop_after_events: Annotated[int, IntRange(0)] | None = None
    event_delay_ms: Annotated[float, DecimalRange(0)] | None = None
    match: FaultMatch | None = None

    _nullable: ClassVar[frozenset[str]] = frozenset({"times"})

    @model_validator(mode="after")
    def _does_something(self) -> FaultRuleSpec:
        effects = (self.status, self.error, self.latency_ms, self.fault, self.drop_after_events, self.event_delay_ms)
        if all(effect is None for effect in effects):
            raise openai_error(
                "missing_required_parameter",
                "Missing required parameter: 'status'. A fault rule needs at least one of 'status', 'error', "
                "'latency_ms', 'fault', 'drop_after_events' or 'event_delay_ms'.",
                subpath="status",
            )
        return self
