"""TEMPORARY STUB (replaced by the events branch)."""

from __future__ import annotations

import base64
import json
from typing import Any

from ..errors import OpenAIError

__all__ = ["EventError", "error_event", "parse_client_event"]


class EventError(Exception):
    def __init__(self, error: OpenAIError, client_event_id: str | None) -> None:
        super().__init__(error.message)
        self.error = error
        self.client_event_id = client_event_id


class _Event:
    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        if "audio" in data and data.get("type", "").endswith("append"):
            self.audio_bytes = base64.b64decode(data["audio"])

    def __getattr__(self, name: str) -> Any:
        return self._data.get(name)

    def model_dump(self, exclude_unset: bool = True) -> dict[str, Any]:
        return dict(self._data)


def parse_client_event(frame: str | bytes) -> Any:
    if isinstance(frame, bytes):
        raise EventError(
            OpenAIError(
                400, "Expected a text WebSocket message; binary frames are not supported.", code="invalid_event"
            ),
            None,
        )
    try:
        data = json.loads(frame)
    except ValueError:
        raise EventError(
            OpenAIError(400, "Invalid event: failed to parse JSON value.", code="invalid_json"), None
        ) from None
    if not isinstance(data, dict) or "type" not in data:
        raise EventError(OpenAIError(400, "The 'type' field is missing.", code="invalid_event"), None)
    return _Event(data)


def error_event(event_id: str, error: OpenAIError, client_event_id: str | None) -> dict[str, Any]:
    return {
        "type": "error",
        "event_id": event_id,
        "error": {
            "type": error.type,
            "code": error.code,
            "message": error.message,
            "param": error.param,
            "event_id": client_event_id,
        },
    }
