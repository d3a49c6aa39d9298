"""Client events of a translation session (``RealtimeTranslationClientEvent``), validated like the Realtime ones.

Three events (SESSION_TRUTH §5): ``session.update`` (only ``audio.input.transcription``,
``audio.input.noise_reduction`` and ``audio.output.language`` can change), ``session.input_audio_buffer.append``
and ``session.close``. The checks and their wording are the Realtime session's (``events.py``): a binary
frame, then JSON, then the ``type`` (an unknown one lists these three), then the fields. Appended audio must
be base64 of raw 24 kHz PCM16 mono: a WAV file, or bytes that cannot be 16-bit samples, is a validation error.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Literal

from ..errors import OpenAIError
from ..schemas._base import RequestModel
from ..schemas.translation import RealtimeTranslationSessionUpdateRequest
from ..schemas.validation import validate_model
from .events import (
    EVENT_ID_MAX_LENGTH,
    EventError,
    EventId,
    InputAudioBufferAppendEvent,
    event_type,
    read_client_event,
    validate_append,
)

__all__ = [
    "TRANSLATION_EVENT_TYPES",
    "TranslationClientEvent",
    "TranslationSessionCloseEvent",
    "TranslationSessionUpdateEvent",
    "parse_translation_event",
    "unsupported_audio",
]

#: The client events of a translation session, in the SDK's order (an unknown type lists them).
TRANSLATION_EVENT_TYPES = ("session.update", "session.input_audio_buffer.append", "session.close")
_ACCEPTED = frozenset(TRANSLATION_EVENT_TYPES)
_EXPECTED_AUDIO = "base64-encoded raw 24 kHz PCM16 mono little-endian audio"


class TranslationSessionUpdateEvent(RequestModel):
    event_id: EventId | None = None
    type: Literal["session.update"]
    session: RealtimeTranslationSessionUpdateRequest


class TranslationSessionCloseEvent(RequestModel):
    event_id: EventId | None = None
    type: Literal["session.close"]


TranslationClientEvent = TranslationSessionUpdateEvent | InputAudioBufferAppendEvent | TranslationSessionCloseEvent


def unsupported_audio(audio: bytes) -> str | None:
    """Why ``audio`` is not raw 24 kHz PCM16 mono (OpenAI's "validation error"), or ``None`` when it can be.

    Raw PCM carries no header, so only what shows is refused: a WAV file (its format is named), and an odd
    number of bytes (16-bit samples come in pairs of bytes).
    """
    if len(audio) >= 12 and audio[:4] == b"RIFF" and audio[8:12] == b"WAVE":
        return f"Invalid 'audio': expected {_EXPECTED_AUDIO}, but got a WAV file{_wav_format(audio)}."
    if len(audio) % 2:
        return (
            f"Invalid 'audio': expected {_EXPECTED_AUDIO} (2 bytes per sample), but got {len(audio)} bytes, "
            "which is not a whole number of samples."
        )
    return None


def _wav_format(audio: bytes) -> str:
    """`` (16000 Hz, 1 channel, 16-bit)`` from a WAV file's ``fmt`` chunk, when it is where it usually is."""
    if len(audio) < 36 or audio[12:16] != b"fmt ":
        return ""
    channels, rate = struct.unpack_from("<HI", audio, 22)
    (bits,) = struct.unpack_from("<H", audio, 34)
    return f" ({rate} Hz, {channels} channel{'s' if channels != 1 else ''}, {bits}-bit)"


def _append(event: dict[str, Any]) -> InputAudioBufferAppendEvent:
    parsed = validate_append(event)
    problem = unsupported_audio(parsed.audio_bytes)
    if problem is not None:
        raise OpenAIError(400, problem, param="audio", code="invalid_value")
    return parsed


def _model(model: type[RequestModel]) -> Callable[[dict[str, Any]], Any]:
    return lambda event: validate_model(model, event)


_VALIDATORS: dict[str, Callable[[dict[str, Any]], TranslationClientEvent]] = {
    "session.update": _model(TranslationSessionUpdateEvent),
    "session.input_audio_buffer.append": _append,
    "session.close": _model(TranslationSessionCloseEvent),
}


def parse_translation_event(frame: str | bytes) -> TranslationClientEvent:
    """One WebSocket message as a validated translation client event; :class:`EventError` as the server says."""
    event = read_client_event(frame)
    event_id = event.get("event_id")
    client_event_id = event_id if isinstance(event_id, str) and len(event_id) <= EVENT_ID_MAX_LENGTH else None
    try:
        return _VALIDATORS[event_type(event, TRANSLATION_EVENT_TYPES, _ACCEPTED)](event)
    except OpenAIError as error:
        raise EventError(error, client_event_id) from None
