"""Client events of a Realtime session, validated the way the live server validates them.

:func:`parse_client_event` turns one WebSocket frame into a typed event or raises
:class:`EventError` carrying OpenAI's error (code, wording, dotted ``param``) and the
client's ``event_id`` to echo; :func:`error_event` renders it as the ``error`` server event.
Shape only: whether an item exists or a response is active is the conversation's business.

The order of checks follows what was observed live (SESSION_TRUTH §3): a binary frame, then
JSON, then the ``type`` (missing, then unsupported), then the event's fields as the mint
checks a body (a missing key, then an unknown one, then the fields in the spec's order).
``input_audio_buffer.append`` is the hot path: it is checked directly (no pydantic model
around megabytes of base64) and its audio decoded once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field

from ..body import JSONTextError, load_json_text
from ..errors import OpenAIError, describe_json_type, oxford_list, quote
from ..schemas._base import IntRange, MaxLength, RequestModel, invalid_type, openai_error
from ..schemas.requests import (
    MaxOutputTokens,
    OutputModalities,
    Prompt,
    RealtimeAudioFormats,
    RealtimeReasoning,
    RealtimeTool,
    SessionRequest,
    ToolChoice,
    Voice,
)
from ..schemas.validation import validate_model
from .items import ConversationItem, ResponseInputItem, decode_audio, invalid_audio_message

__all__ = [
    "ACCEPTED_EVENT_TYPES",
    "AUDIO_MAX_BYTES",
    "CLIENT_EVENT_TYPES",
    "EVENT_ID_MAX_LENGTH",
    "FRAME_MAX_BYTES",
    "ClientEvent",
    "ConversationItemCreateEvent",
    "ConversationItemDeleteEvent",
    "ConversationItemRetrieveEvent",
    "ConversationItemTruncateEvent",
    "EventError",
    "InputAudioBufferAppendEvent",
    "InputAudioBufferClearEvent",
    "InputAudioBufferCommitEvent",
    "OutputAudioBufferClearEvent",
    "RealtimeResponseCreateParams",
    "ResponseCancelEvent",
    "ResponseCreateEvent",
    "SessionCloseEvent",
    "SessionUpdateEvent",
    "error_event",
    "event_type",
    "parse_client_event",
    "read_client_event",
    "validate_append",
    "validate_client_event",
]

#: The client event types the live server lists when it refuses an unknown one (GROUND_TRUTH §5.3), in its order.
CLIENT_EVENT_TYPES = (
    "session.update",
    "session.close",
    "input_audio_buffer.append",
    "session.input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.truncate",
    "conversation.item.delete",
    "conversation.item.retrieve",
    "response.create",
    "response.cancel",
)
#: What is accepted: the listed twelve, and ``output_audio_buffer.clear``, which the spec and the SDK define
#: (WebRTC/SIP) although the live list omits it.
ACCEPTED_EVENT_TYPES = frozenset({*CLIENT_EVENT_TYPES, "output_audio_buffer.clear"})

#: ``event_id`` is "maxLength: 512" on every client event of the spec.
EVENT_ID_MAX_LENGTH = 512
#: "The client may choose how much audio to place in each event up to a maximum of 15 MiB" (spec).
AUDIO_MAX_BYTES = 15 * 1024 * 1024
#: The longest base64 text of at most ``AUDIO_MAX_BYTES`` (20 MiB of text).
AUDIO_MAX_BASE64 = 4 * -(-AUDIO_MAX_BYTES // 3)
#: The largest frame the socket takes: an append of the largest audio, with room for the rest of the event.
FRAME_MAX_BYTES = AUDIO_MAX_BASE64 + 64 * 1024

BINARY_FRAME_MESSAGE = "Expected a text WebSocket message; binary frames are not supported."
MISSING_TYPE_MESSAGE = "The 'type' field is missing."
#: Observed live up to "value."; the rest is the parser's reason and position.
INVALID_JSON_PREFIX = "Invalid event: failed to parse JSON value."


class EventError(Exception):
    """A client event the server refuses: OpenAI's error (status 400), and the ``event_id`` to echo."""

    def __init__(self, error: OpenAIError, client_event_id: str | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        #: The client's ``event_id`` when it sent a usable one (a string of at most 512 characters), else ``None``.
        self.client_event_id = client_event_id


def error_event(event_id: str, error: OpenAIError, client_event_id: str | None) -> dict[str, Any]:
    """The ``error`` server event, its ``error`` keys in the observed order (nulls included)."""
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


# --- the events -------------------------------------------------------------------------------------------

EventId = Annotated[str, MaxLength(EVENT_ID_MAX_LENGTH)]
NonNegativeInt = Annotated[int, IntRange(0)]
METADATA_MAX_PAIRS = 16
METADATA_KEY_MAX_LENGTH = 64
METADATA_VALUE_MAX_LENGTH = 512


def _check_metadata(value: Any) -> Any:
    """The ``Metadata`` limits (16 pairs, keys up to 64 characters, string values up to 512), in OpenAI's words."""
    if not isinstance(value, dict):
        raise invalid_type("an object", value)
    if len(value) > METADATA_MAX_PAIRS:
        raise openai_error(
            "object_above_max_properties",
            f"Invalid '{{param}}': too many properties. Expected an object with at most {METADATA_MAX_PAIRS} "
            f"properties, but got an object with {len(value)} properties instead.",
        )
    for key, item in value.items():
        if len(key) > METADATA_KEY_MAX_LENGTH:
            raise openai_error(
                "string_above_max_length",
                f"Invalid property name in '{{owner}}': {quote(key)} is too long. Expected a string with maximum "
                f"length {METADATA_KEY_MAX_LENGTH}, but got a string with length {len(key)} instead.",
                f".{key}",
            )
        if not isinstance(item, str):
            raise invalid_type("a string", item, f".{key}")
        if len(item) > METADATA_VALUE_MAX_LENGTH:
            raise openai_error(
                "string_above_max_length",
                f"Invalid '{{param}}': string too long. Expected a string with maximum length "
                f"{METADATA_VALUE_MAX_LENGTH}, but got a string with length {len(item)} instead.",
                f".{key}",
            )
    return value


Metadata = Annotated[dict[str, str], BeforeValidator(_check_metadata)]


class SessionUpdateEvent(RequestModel):
    event_id: EventId | None = None
    type: Literal["session.update"]
    session: SessionRequest


@dataclass(frozen=True, slots=True)
class InputAudioBufferAppendEvent:
    """``input_audio_buffer.append`` (or its alias ``session.input_audio_buffer.append``), audio decoded."""

    type: Literal["input_audio_buffer.append", "session.input_audio_buffer.append"]
    event_id: str | None
    audio_bytes: bytes = field(repr=False)


class _AppendShape(RequestModel):
    """The append event's shape, used only to word what is wrong with one that fails the direct check."""

    event_id: EventId | None = None
    type: Literal["input_audio_buffer.append", "session.input_audio_buffer.append"]
    audio: str


class InputAudioBufferCommitEvent(RequestModel):
    event_id: EventId | None = None
    type: Literal["input_audio_buffer.commit"]


class InputAudioBufferClearEvent(RequestModel):
    event_id: EventId | None = None
    type: Literal["input_audio_buffer.clear"]


class OutputAudioBufferClearEvent(RequestModel):
    event_id: EventId | None = None
    type: Literal["output_audio_buffer.clear"]


class ConversationItemCreateEvent(RequestModel):
    event_id: EventId | None = None
    type: Literal["conversation.item.create"]
    previous_item_id: str | None = None
    item: ConversationItem


class ConversationItemRetrieveEvent(RequestModel):
    event_id: EventId | None = None
    type: Literal["conversation.item.retrieve"]
    item_id: str


class ConversationItemDeleteEvent(RequestModel):
    event_id: EventId | None = None
    type: Literal["conversation.item.delete"]
    item_id: str


class ConversationItemTruncateEvent(RequestModel):
    event_id: EventId | None = None
    type: Literal["conversation.item.truncate"]
    item_id: str
    content_index: NonNegativeInt
    audio_end_ms: NonNegativeInt


class ResponseAudioOutput(RequestModel):
    format: RealtimeAudioFormats | None = None
    voice: Voice | None = None


class ResponseAudio(RequestModel):
    output: ResponseAudioOutput | None = None


class RealtimeResponseCreateParams(RequestModel):
    """``response.create``'s ``response``: this response's overrides of the session (spec order)."""

    _nullable = frozenset({"metadata", "prompt"})

    output_modalities: OutputModalities | None = None
    instructions: str | None = None
    audio: ResponseAudio | None = None
    tools: Annotated[list[RealtimeTool], Field(fail_fast=True)] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    reasoning: RealtimeReasoning | None = None
    max_output_tokens: MaxOutputTokens | None = None
    # "oneOf: string | enum [auto, none]" in the spec, ``Union[str, Literal[...]]`` in the SDK: any string.
    conversation: str | None = None
    metadata: Metadata | None = None
    prompt: Prompt | None = None
    input: Annotated[list[ResponseInputItem], Field(fail_fast=True)] | None = None


class ResponseCreateEvent(RequestModel):
    event_id: EventId | None = None
    type: Literal["response.create"]
    response: RealtimeResponseCreateParams | None = None


class ResponseCancelEvent(RequestModel):
    event_id: EventId | None = None
    type: Literal["response.cancel"]
    response_id: str | None = None


class SessionCloseEvent(RequestModel):
    event_id: EventId | None = None
    type: Literal["session.close"]


ClientEvent = (
    SessionUpdateEvent
    | SessionCloseEvent
    | InputAudioBufferAppendEvent
    | InputAudioBufferCommitEvent
    | InputAudioBufferClearEvent
    | OutputAudioBufferClearEvent
    | ConversationItemCreateEvent
    | ConversationItemRetrieveEvent
    | ConversationItemDeleteEvent
    | ConversationItemTruncateEvent
    | ResponseCreateEvent
    | ResponseCancelEvent
)


# --- parsing ------------------------------------------------------------------------------------------------


def parse_client_event(frame: str | bytes) -> ClientEvent:
    """One WebSocket message (``str``: a text frame, ``bytes``: a binary one) as a validated client event.

    Raises :class:`EventError` with the error the live server would report.
    """
    return validate_client_event(read_client_event(frame))


def read_client_event(frame: str | bytes) -> dict[str, Any]:
    """A frame's JSON object, not yet validated as an event (raises :class:`EventError`)."""
    if isinstance(frame, bytes):
        raise EventError(OpenAIError(400, BINARY_FRAME_MESSAGE, code="invalid_event"))
    try:
        value = load_json_text(frame)
    except JSONTextError as exc:
        raise EventError(OpenAIError(400, f"{INVALID_JSON_PREFIX} {exc}.", code="invalid_json")) from None
    if not isinstance(value, dict):
        message = f"Invalid event: expected an object, but got {describe_json_type(value)} instead."
        raise EventError(OpenAIError(400, message, code="invalid_type"))
    return value


def validate_client_event(event: dict[str, Any]) -> ClientEvent:
    """A client event's JSON object as its typed event (raises :class:`EventError`; ``event`` is not changed)."""
    event_id = event.get("event_id")
    client_event_id = event_id if isinstance(event_id, str) and len(event_id) <= EVENT_ID_MAX_LENGTH else None
    try:
        return _VALIDATORS[_event_type(event)](event)
    except OpenAIError as error:
        raise EventError(error, client_event_id) from None


def _event_type(event: dict[str, Any]) -> str:
    return event_type(event, CLIENT_EVENT_TYPES, ACCEPTED_EVENT_TYPES)


def event_type(event: dict[str, Any], listed: tuple[str, ...], accepted: frozenset[str]) -> str:
    """The event's ``type``, one of ``accepted``; OpenAI's error naming the ``listed`` types otherwise."""
    kind = event.get("type")
    if kind is None:
        raise OpenAIError(400, MISSING_TYPE_MESSAGE, code="invalid_event")
    if not isinstance(kind, str):
        expected = "one of " + oxford_list(listed, "or")
        message = f"Invalid type for 'type': expected {expected}, but got {describe_json_type(kind)} instead."
        raise OpenAIError(400, message, param="type", code="invalid_type")
    if kind not in accepted:
        message = f"Invalid value: {quote(kind)}. Supported values are: {oxford_list(listed)}."
        raise OpenAIError(400, message, param="type", code="invalid_value")
    return kind


_APPEND_KEYS = frozenset({"type", "event_id", "audio"})


def validate_append(event: dict[str, Any]) -> InputAudioBufferAppendEvent:
    """An append event (either name), checked directly and its audio decoded once (raises ``OpenAIError``)."""
    audio: Any = event.get("audio")
    event_id: Any = event.get("event_id")
    well_formed = (
        type(audio) is str
        and (event_id is None or (type(event_id) is str and len(event_id) <= EVENT_ID_MAX_LENGTH))
        and event.keys() <= _APPEND_KEYS
    )
    if not well_formed:
        shape = validate_model(_AppendShape, event)  # raises the error for what is wrong
        audio, event_id = shape.audio, shape.event_id
    if len(audio) > AUDIO_MAX_BASE64:
        message = (
            f"Invalid 'audio': string too long. Expected a string with maximum length {AUDIO_MAX_BASE64}, "
            f"but got a string with length {len(audio)} instead."
        )
        raise OpenAIError(400, message, param="audio", code="string_above_max_length")
    data = decode_audio(audio)
    if data is None:
        raise OpenAIError(400, invalid_audio_message("audio"), param="audio", code="invalid_value")
    return InputAudioBufferAppendEvent(event["type"], event_id, data)


def _model(model: type[BaseModel]) -> Callable[[dict[str, Any]], Any]:
    return lambda event: validate_model(model, event)


_VALIDATORS: dict[str, Callable[[dict[str, Any]], ClientEvent]] = {
    "session.update": _model(SessionUpdateEvent),
    "session.close": _model(SessionCloseEvent),
    "input_audio_buffer.append": validate_append,
    "session.input_audio_buffer.append": validate_append,
    "input_audio_buffer.commit": _model(InputAudioBufferCommitEvent),
    "input_audio_buffer.clear": _model(InputAudioBufferClearEvent),
    "output_audio_buffer.clear": _model(OutputAudioBufferClearEvent),
    "conversation.item.create": _model(ConversationItemCreateEvent),
    "conversation.item.retrieve": _model(ConversationItemRetrieveEvent),
    "conversation.item.delete": _model(ConversationItemDeleteEvent),
    "conversation.item.truncate": _model(ConversationItemTruncateEvent),
    "response.create": _model(ResponseCreateEvent),
    "response.cancel": _model(ResponseCancelEvent),
}
