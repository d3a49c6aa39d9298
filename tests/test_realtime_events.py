"""``mockserver.realtime.events``: every client event of the spec and the SDK, valid and not.

The valid catalogue covers every event type, every item type and content part type, and every
``response.create`` option. Each valid example must also be valid for the official SDK's param types
(openai-python 3.57, unknown keys refused), so the catalogue is faithful to what clients send, and
must come back whole from the parsed model (nothing lost, nothing added).

The invalid catalogue pins the exact code, message, ``param`` and echoed ``event_id``. Texts marked
[OBS] are quoted from live captures (SESSION_TRUTH §3, GROUND_TRUTH §5.3); the others follow the
mint's patterns and are listed in the README's "Differences from the real API".
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest
from openai.types import realtime as sdk

from mockserver.errors import OpenAIError
from mockserver.realtime import events as ev
from mockserver.realtime.events import EventError, error_event, parse_client_event
from mockserver.realtime.items import ITEM_TYPES as ITEM_TYPE_NAMES

#: The SDK's param type for each client event (``session.*`` append and ``session.close`` are the translation
#: socket's; ``response.create`` with ``item_reference`` inputs is ``ResponseCreateEventWithReferencesParam``).
SDK_PARAMS: dict[str, Any] = {
    "session.update": sdk.SessionUpdateEventParam,
    "session.close": sdk.RealtimeTranslationSessionCloseEventParam,
    "input_audio_buffer.append": sdk.InputAudioBufferAppendEventParam,
    "session.input_audio_buffer.append": sdk.RealtimeTranslationInputAudioBufferAppendEventParam,
    "input_audio_buffer.commit": sdk.InputAudioBufferCommitEventParam,
    "input_audio_buffer.clear": sdk.InputAudioBufferClearEventParam,
    "output_audio_buffer.clear": sdk.OutputAudioBufferClearEventParam,
    "conversation.item.create": sdk.ConversationItemCreateEventParam,
    "conversation.item.retrieve": sdk.ConversationItemRetrieveEventParam,
    "conversation.item.delete": sdk.ConversationItemDeleteEventParam,
    "conversation.item.truncate": sdk.ConversationItemTruncateEventParam,
    "response.create": sdk.ResponseCreateEventWithReferencesParam,
    "response.cancel": sdk.ResponseCancelEventParam,
}

#: GROUND_TRUTH §5.3, verbatim [OBS].
SUPPORTED = (
    "'session.update', 'session.close', 'input_audio_buffer.append', 'session.input_audio_buffer.append', "
    "'input_audio_buffer.commit', 'input_audio_buffer.clear', 'conversation.item.create', "
    "'conversation.item.truncate', 'conversation.item.delete', 'conversation.item.retrieve', 'response.create', "
    "and 'response.cancel'"
)
AUDIO = base64.b64encode(bytes(range(256)) * 4).decode()
BAD_AUDIO = "Expected base64-encoded audio bytes (mono PCM16 at 24kHz) but got an invalid value."
ITEM_TYPES = (
    "'message', 'function_call', 'function_call_output', 'mcp_approval_response', 'mcp_list_tools', 'mcp_call', "
    "and 'mcp_approval_request'"
)


def sdk_accepts(event: dict[str, Any]) -> None:
    """Validate ``event`` against the SDK's param types, consuming the lazily validated iterables."""

    def consume(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: consume(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [consume(item) for item in value]
        if isinstance(value, Iterator):
            return [consume(item) for item in value]
        return value

    # Wrapped in a list: pydantic takes a config for a TypedDict only from a container around it.
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(
        list[SDK_PARAMS[event["type"]]],  # type: ignore[misc]
        config=pydantic.ConfigDict(extra="forbid", strict=True),
    )
    consume(adapter.validate_python([event]))


def user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": list(parts)}


def create(item: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "conversation.item.create", "item": item, **extra}


def respond(**options: Any) -> dict[str, Any]:
    return {"type": "response.create", "response": options}


# --- valid events ---------------------------------------------------------------------------------------

MCP_TOOL = {
    "type": "mcp",
    "server_label": "deepwiki",
    "server_url": "https://mcp.deepwiki.com/mcp",
    "allowed_tools": ["ask_question"],
    "require_approval": "never",
}
FUNCTION_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}

VALID: list[tuple[str, dict[str, Any], type[Any]]] = [
    (
        "session.update realtime",
        {
            "type": "session.update",
            "event_id": "evt_1",
            "session": {
                "type": "realtime",
                "instructions": "Be brief.",
                "output_modalities": ["text"],
                "audio": {"output": {"voice": "marin"}, "input": {"turn_detection": None}},
                "tools": [FUNCTION_TOOL],
                "tool_choice": "auto",
            },
        },
        ev.SessionUpdateEvent,
    ),
    (
        "session.update transcription",
        {
            "type": "session.update",
            "session": {"type": "transcription", "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}},
        },
        ev.SessionUpdateEvent,
    ),
    ("session.close", {"type": "session.close", "event_id": "bye"}, ev.SessionCloseEvent),
    ("append", {"type": "input_audio_buffer.append", "event_id": "a1", "audio": AUDIO}, ev.InputAudioBufferAppendEvent),
    ("append empty", {"type": "input_audio_buffer.append", "audio": ""}, ev.InputAudioBufferAppendEvent),
    (
        "session.input_audio_buffer.append",
        {"type": "session.input_audio_buffer.append", "audio": AUDIO},
        ev.InputAudioBufferAppendEvent,
    ),
    ("commit", {"type": "input_audio_buffer.commit", "event_id": "c"}, ev.InputAudioBufferCommitEvent),
    ("clear", {"type": "input_audio_buffer.clear"}, ev.InputAudioBufferClearEvent),
    ("output_audio_buffer.clear", {"type": "output_audio_buffer.clear"}, ev.OutputAudioBufferClearEvent),
    (
        "system message",
        create(
            {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "Be kind."}]},
            previous_item_id="root",
        ),
        ev.ConversationItemCreateEvent,
    ),
    (
        "user message, every part type",
        create(
            {
                "id": "item_user_1",
                "object": "realtime.item",
                "type": "message",
                "status": "completed",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Look:"},
                    {"type": "input_audio", "audio": AUDIO, "transcript": "hello"},
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"},
                ],
            },
            event_id="evt_user",
        ),
        ev.ConversationItemCreateEvent,
    ),
    (
        "assistant message, both part types",
        create(
            {
                "type": "message",
                "role": "assistant",
                "status": "incomplete",
                "content": [
                    {"type": "output_text", "text": "Hi!"},
                    {"type": "output_audio", "audio": AUDIO, "transcript": "Hi!"},
                ],
            }
        ),
        ev.ConversationItemCreateEvent,
    ),
    ("message without content parts", create(user()), ev.ConversationItemCreateEvent),
    (
        "function_call",
        create(
            {
                "id": "item_call",
                "type": "function_call",
                "status": "completed",
                "call_id": "call_9Q9eysr6LstYMEx6",
                "name": "get_weather",
                "arguments": '{"city": "Paris"}',
            }
        ),
        ev.ConversationItemCreateEvent,
    ),
    (
        "function_call_output",
        create({"type": "function_call_output", "call_id": "call_9Q9eysr6LstYMEx6", "output": '{"temp": 21}'}),
        ev.ConversationItemCreateEvent,
    ),
    (
        "mcp_approval_response",
        create(
            {
                "type": "mcp_approval_response",
                "id": "mcpr_1",
                "approval_request_id": "mcpa_1",
                "approve": True,
                "reason": None,
            }
        ),
        ev.ConversationItemCreateEvent,
    ),
    (
        "mcp_list_tools",
        create(
            {
                "type": "mcp_list_tools",
                "server_label": "deepwiki",
                "tools": [
                    {"name": "ask_question", "input_schema": {"type": "object"}, "description": None},
                    {"name": "read", "input_schema": {}, "annotations": {"readOnlyHint": True}},
                ],
            }
        ),
        ev.ConversationItemCreateEvent,
    ),
    (
        "mcp_call",
        create(
            {
                "type": "mcp_call",
                "id": "mcp_1",
                "server_label": "deepwiki",
                "name": "ask_question",
                "arguments": "{}",
                "approval_request_id": None,
                "output": None,
                "error": {"type": "http_error", "code": 502, "message": "Bad gateway"},
            }
        ),
        ev.ConversationItemCreateEvent,
    ),
    (
        "mcp_call errors",
        create(
            {
                "type": "mcp_call",
                "id": "mcp_2",
                "server_label": "s",
                "name": "n",
                "arguments": "{}",
                "error": {"type": "protocol_error", "code": -32600, "message": "Invalid Request"},
            }
        ),
        ev.ConversationItemCreateEvent,
    ),
    (
        "mcp_approval_request",
        create({"type": "mcp_approval_request", "id": "mcpa_1", "server_label": "s", "name": "n", "arguments": "{}"}),
        ev.ConversationItemCreateEvent,
    ),
    ("retrieve", {"type": "conversation.item.retrieve", "item_id": "item_1"}, ev.ConversationItemRetrieveEvent),
    ("delete", {"type": "conversation.item.delete", "item_id": "item_1"}, ev.ConversationItemDeleteEvent),
    (
        "truncate",
        {"type": "conversation.item.truncate", "item_id": "item_1", "content_index": 0, "audio_end_ms": 1500},
        ev.ConversationItemTruncateEvent,
    ),
    ("response.create, no options", {"type": "response.create"}, ev.ResponseCreateEvent),
    (
        "response.create, every option",
        {
            "type": "response.create",
            "event_id": "agents_js_response_create_1",
            "response": {
                "output_modalities": ["audio"],
                "instructions": "Provide a concise answer.",
                "audio": {"output": {"format": {"type": "audio/pcmu"}, "voice": "cedar"}},
                "tools": [FUNCTION_TOOL, MCP_TOOL],
                "tool_choice": {"type": "function", "name": "get_weather"},
                "parallel_tool_calls": False,
                "reasoning": {"effort": "low"},
                "max_output_tokens": 4096,
                "conversation": "none",
                "metadata": {"response_purpose": "summarization", "k" * 64: "v" * 512},
                "prompt": {"id": "pmpt_123", "version": "2", "variables": {"city": "Paris"}},
                "input": [
                    {"type": "item_reference", "id": "item_12345"},
                    user({"type": "input_text", "text": "Summarize the above message in one sentence."}),
                    {"type": "function_call_output", "call_id": "call_1", "output": "ok"},
                ],
            },
        },
        ev.ResponseCreateEvent,
    ),
    (
        "response.create, other values",
        respond(
            output_modalities=["text"],
            audio={"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": {"id": "voice_1234"}}},
            tools=[],
            tool_choice={"type": "mcp", "server_label": "deepwiki", "name": None},
            max_output_tokens="inf",
            conversation="auto",
            metadata={f"k{index}": "v" for index in range(16)},
            prompt=None,
            input=[],
        ),
        ev.ResponseCreateEvent,
    ),
    ("response.create, tool_choice required", respond(tool_choice="required"), ev.ResponseCreateEvent),
    ("response.cancel", {"type": "response.cancel", "response_id": "resp_1"}, ev.ResponseCancelEvent),
    ("response.cancel, any", {"type": "response.cancel"}, ev.ResponseCancelEvent),
]


@pytest.mark.parametrize(("event", "model"), [case[1:] for case in VALID], ids=[case[0] for case in VALID])
def test_valid_events_parse_to_their_models(event: dict[str, Any], model: type[Any]) -> None:
    sdk_accepts(event)
    parsed = parse_client_event(json.dumps(event))
    assert type(parsed) is model
    assert parsed.type == event["type"]
    assert parsed.event_id == event.get("event_id")
    if isinstance(parsed, ev.InputAudioBufferAppendEvent):
        assert parsed.audio_bytes == base64.b64decode(event["audio"])
    else:
        # Nothing lost, nothing added: the model gives back the event as sent.
        assert parsed.model_dump(mode="json", exclude_unset=True) == event


def test_the_catalogue_covers_every_event_item_part_and_option() -> None:
    events = [case[1] for case in VALID]
    assert {event["type"] for event in events} == ev.ACCEPTED_EVENT_TYPES
    items = [event["item"] for event in events if event["type"] == "conversation.item.create"]
    items += [item for event in events for item in (event.get("response") or {}).get("input", [])]
    assert {item["type"] for item in items} == {*ITEM_TYPE_NAMES, "item_reference"}
    assert {item["role"] for item in items if item["type"] == "message"} == {"system", "user", "assistant"}
    parts = {part["type"] for item in items for part in item.get("content", [])}
    assert parts == {"input_text", "input_audio", "input_image", "output_text", "output_audio"}
    options = {key for event in events for key in (event.get("response") or {})}
    assert options == set(ev.RealtimeResponseCreateParams.model_fields)


# --- invalid events ---------------------------------------------------------------------------------------

Frame = str | bytes | dict[str, Any]

#: (id, frame, code, message, param, the event_id the error echoes)
INVALID: list[tuple[str, Frame, str, str, str | None, str | None]] = [
    # Frames [OBS: P1]
    (
        "binary frame",
        b'{"type": "input_audio_buffer.clear"}',
        "invalid_event",
        "Expected a text WebSocket message; binary frames are not supported.",
        None,
        None,
    ),
    (
        "not JSON",
        '{"type": "input_audio_buffer.clear",}',
        "invalid_json",
        "Invalid event: failed to parse JSON value. Expecting property name enclosed in double quotes at line 1, "
        "column 37.",
        None,
        None,
    ),
    (
        "empty frame",
        "",
        "invalid_json",
        "Invalid event: failed to parse JSON value. Expecting value at line 1, column 1.",
        None,
        None,
    ),
    (
        "NaN",
        '{"type": "response.create", "response": {"max_output_tokens": NaN}}',
        "invalid_json",
        "Invalid event: failed to parse JSON value. NaN is not valid JSON.",
        None,
        None,
    ),
    (
        "nested too deep",
        '{"type": "input_audio_buffer.clear", "x": ' + "[" * 300 + "]" * 300 + "}",
        "invalid_json",
        "Invalid event: failed to parse JSON value. nesting is deeper than 256 levels.",
        None,
        None,
    ),
    (
        "array",
        '[{"type": "session.update"}]',
        "invalid_type",
        "Invalid event: expected an object, but got an array instead.",
        None,
        None,
    ),
    (
        "string",
        '"session.update"',
        "invalid_type",
        "Invalid event: expected an object, but got a string instead.",
        None,
        None,
    ),
    ("missing type", {"event_id": "evt_no_type"}, "invalid_event", "The 'type' field is missing.", None, "evt_no_type"),
    ("null type", {"type": None}, "invalid_event", "The 'type' field is missing.", None, None),
    (
        "unknown type",
        {"type": "nope", "event_id": "evt_nope"},
        "invalid_value",
        f"Invalid value: 'nope'. Supported values are: {SUPPORTED}.",
        "type",
        "evt_nope",
    ),
    (
        "the beta transcription_session.update",
        {"type": "transcription_session.update", "session": {}},
        "invalid_value",
        f"Invalid value: 'transcription_session.update'. Supported values are: {SUPPORTED}.",
        "type",
        None,
    ),
    (
        "type not a string",
        {"type": 7},
        "invalid_type",
        "Invalid type for 'type': expected one of "
        + SUPPORTED.replace("and 'response.cancel'", "or 'response.cancel'")
        + ", but got an integer instead.",
        "type",
        None,
    ),
    # event_id
    (
        "event_id too long",
        {"type": "input_audio_buffer.clear", "event_id": "e" * 513},
        "string_above_max_length",
        "Invalid 'event_id': string too long. Expected a string with maximum length 512, but got a string with "
        "length 513 instead.",
        "event_id",
        None,
    ),
    (
        "event_id not a string",
        {"type": "response.cancel", "event_id": 12},
        "invalid_type",
        "Invalid type for 'event_id': expected a string, but got an integer instead.",
        "event_id",
        None,
    ),
    # session.update
    (
        "unknown session field [OBS]",
        {"type": "session.update", "event_id": "evt_s", "session": {"type": "realtime", "bogus_field": 1}},
        "unknown_parameter",
        "Unknown parameter: 'session.bogus_field'.",
        "session.bogus_field",
        "evt_s",
    ),
    (
        "flat beta session [OBS]",
        {"type": "session.update", "session": {"modalities": ["text"], "voice": "alloy"}},
        "missing_required_parameter",
        "Missing required parameter: 'session.type'.",
        "session.type",
        None,
    ),
    (
        "tool without a name [OBS]",
        {"type": "session.update", "session": {"type": "realtime", "tools": [{"type": "function"}]}},
        "missing_required_parameter",
        "Missing required parameter: 'session.tools[0].name'.",
        "session.tools[0].name",
        None,
    ),
    (
        "rate 16000 [OBS]",
        {
            "type": "session.update",
            "session": {"type": "transcription", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}},
        },
        "integer_below_min_value",
        "Invalid 'session.audio.input.format.rate': integer below minimum value. Expected a value >= 24000, but got "
        "16000 instead.",
        "session.audio.input.format.rate",
        None,
    ),
    (
        "no session",
        {"type": "session.update"},
        "missing_required_parameter",
        "Missing required parameter: 'session'.",
        "session",
        None,
    ),
    (
        "unknown event field",
        {"type": "session.update", "session": {"type": "realtime"}, "sesion": {}},
        "unknown_parameter",
        "Unknown parameter: 'sesion'.",
        "sesion",
        None,
    ),
    # input_audio_buffer.append
    (
        "append without audio",
        {"type": "input_audio_buffer.append", "event_id": "a"},
        "missing_required_parameter",
        "Missing required parameter: 'audio'.",
        "audio",
        "a",
    ),
    (
        "append, audio not a string",
        {"type": "input_audio_buffer.append", "audio": [1, 2]},
        "invalid_type",
        "Invalid type for 'audio': expected a string, but got an array instead.",
        "audio",
        None,
    ),
    (
        "append, audio not base64 [OBS wording]",
        {"type": "input_audio_buffer.append", "event_id": "a", "audio": "not base64!"},
        "invalid_value",
        f"Invalid 'audio'. {BAD_AUDIO}",
        "audio",
        "a",
    ),
    (
        "append, audio unpadded",
        {"type": "session.input_audio_buffer.append", "audio": "AAB"},
        "invalid_value",
        f"Invalid 'audio'. {BAD_AUDIO}",
        "audio",
        None,
    ),
    (
        "append, unknown field",
        {"type": "input_audio_buffer.append", "audio": AUDIO, "format": "pcm16"},
        "unknown_parameter",
        "Unknown parameter: 'format'.",
        "format",
        None,
    ),
    (
        "append over 15 MiB",
        {"type": "input_audio_buffer.append", "audio": "AAAA" * (5 * 1024 * 1024 + 1)},
        "string_above_max_length",
        "Invalid 'audio': string too long. Expected a string with maximum length 20971520, but got a string with "
        "length 20971524 instead.",
        "audio",
        None,
    ),
    # conversation.item.create
    (
        "no item",
        {"type": "conversation.item.create"},
        "missing_required_parameter",
        "Missing required parameter: 'item'.",
        "item",
        None,
    ),
    (
        "item not an object",
        create("hello"),  # type: ignore[arg-type]
        "invalid_type",
        "Invalid type for 'item': expected an object, but got a string instead.",
        "item",
        None,
    ),
    (
        "item without type [OBS]",
        create({"role": "user", "content": []}),
        "missing_required_parameter",
        "Missing required parameter: 'item.type'.",
        "item.type",
        None,
    ),
    (
        "unknown item type",
        create({"type": "note"}),
        "invalid_value",
        f"Invalid value: 'note'. Supported values are: {ITEM_TYPES}.",
        "item.type",
        None,
    ),
    (
        "role wizard",
        create({"type": "message", "role": "wizard", "content": []}),
        "invalid_value",
        "Invalid value: 'wizard'. Supported values are: 'user', 'assistant', and 'system'.",
        "item.role",
        None,
    ),
    (
        "message without role",
        create({"type": "message", "content": []}),
        "missing_required_parameter",
        "Missing required parameter: 'item.role'.",
        "item.role",
        None,
    ),
    (
        "content as a string",
        create({"type": "message", "role": "user", "content": "hello"}),
        "invalid_type",
        "Invalid type for 'item.content': expected an array, but got a string instead.",
        "item.content",
        None,
    ),
    (
        "message without content",
        create({"type": "message", "role": "assistant"}),
        "missing_required_parameter",
        "Missing required parameter: 'item.content'.",
        "item.content",
        None,
    ),
    (
        "unknown part field",
        create(user({"type": "input_text", "text": "hi", "bogus": True})),
        "unknown_parameter",
        "Unknown parameter: 'item.content[0].bogus'.",
        "item.content[0].bogus",
        None,
    ),
    (
        "a system message takes only input_text",
        create({"type": "message", "role": "system", "content": [{"type": "input_audio", "audio": AUDIO}]}),
        "invalid_value",
        "Invalid value: 'input_audio'. Supported values are: 'input_text'.",
        "item.content[0].type",
        None,
    ),
    (
        "a user message takes no output_text",
        create(user({"type": "input_text", "text": "a"}, {"type": "output_text", "text": "b"})),
        "invalid_value",
        "Invalid value: 'output_text'. Supported values are: 'input_text', 'input_audio', and 'input_image'.",
        "item.content[1].type",
        None,
    ),
    (
        "an assistant message takes no input_text",
        create({"type": "message", "role": "assistant", "content": [{"type": "input_text", "text": "b"}]}),
        "invalid_value",
        "Invalid value: 'input_text'. Supported values are: 'output_text' and 'output_audio'.",
        "item.content[0].type",
        None,
    ),
    (
        "a part without type",
        create(user({"text": "hi"})),
        "missing_required_parameter",
        "Missing required parameter: 'item.content[0].type'.",
        "item.content[0].type",
        None,
    ),
    (
        "image detail",
        create(user({"type": "input_image", "image_url": "https://example.com/a.png", "detail": "original"})),
        "invalid_value",
        "Invalid value: 'original'. Supported values are: 'auto', 'low', and 'high'.",
        "item.content[0].detail",
        None,
    ),
    (
        "input_audio not base64",
        create(user({"type": "input_audio", "audio": "%%%"})),
        "invalid_value",
        f"Invalid 'item.content[0].audio'. {BAD_AUDIO}",
        "item.content[0].audio",
        None,
    ),
    (
        "item id over 32 characters [OBS]",
        create({"id": "vision_" + "0" * 32, "type": "message", "role": "user", "content": []}),
        "string_above_max_length",
        "Invalid 'item.id': string too long. Expected a string with maximum length 32, but got a string with length "
        "39 instead.",
        "item.id",
        None,
    ),
    (
        "item status",
        create({"type": "function_call_output", "call_id": "c", "output": "o", "status": "done"}),
        "invalid_value",
        "Invalid value: 'done'. Supported values are: 'completed', 'incomplete', and 'in_progress'.",
        "item.status",
        None,
    ),
    (
        "item object",
        create({"type": "function_call_output", "call_id": "c", "output": "o", "object": "item"}),
        "invalid_value",
        "Invalid value: 'item'. Supported values are: 'realtime.item'.",
        "item.object",
        None,
    ),
    (
        "function_call_output without call_id [OBS]",
        create({"type": "function_call_output", "output": "ok"}, event_id="rci_item_1"),
        "missing_required_parameter",
        "Missing required parameter: 'item.call_id'.",
        "item.call_id",
        "rci_item_1",
    ),
    (
        "function_call without arguments",
        create({"type": "function_call", "name": "f"}),
        "missing_required_parameter",
        "Missing required parameter: 'item.arguments'.",
        "item.arguments",
        None,
    ),
    (
        "output not a string",
        create({"type": "function_call_output", "call_id": "c", "output": {"temp": 21}}),
        "invalid_type",
        "Invalid type for 'item.output': expected a string, but got an object instead.",
        "item.output",
        None,
    ),
    (
        "mcp_call error code",
        create(
            {
                "type": "mcp_call",
                "id": "m",
                "server_label": "s",
                "name": "n",
                "arguments": "{}",
                "error": {"type": "http_error", "code": "502", "message": "m"},
            }
        ),
        "invalid_type",
        "Invalid type for 'item.error.code': expected an integer, but got a string instead.",
        "item.error.code",
        None,
    ),
    (
        "mcp_approval_request without id",
        create({"type": "mcp_approval_request", "server_label": "s", "name": "n", "arguments": "{}"}),
        "missing_required_parameter",
        "Missing required parameter: 'item.id'.",
        "item.id",
        None,
    ),
    (
        "mcp_list_tools tool without input_schema",
        create({"type": "mcp_list_tools", "server_label": "s", "tools": [{"name": "t"}]}),
        "missing_required_parameter",
        "Missing required parameter: 'item.tools[0].input_schema'.",
        "item.tools[0].input_schema",
        None,
    ),
    (
        "previous_item_id not a string",
        create(user(), previous_item_id=3),
        "invalid_type",
        "Invalid type for 'previous_item_id': expected a string, but got an integer instead.",
        "previous_item_id",
        None,
    ),
    # retrieve, delete, truncate
    (
        "delete without item_id",
        {"type": "conversation.item.delete", "event_id": "d"},
        "missing_required_parameter",
        "Missing required parameter: 'item_id'.",
        "item_id",
        "d",
    ),
    (
        "retrieve, item_id not a string",
        {"type": "conversation.item.retrieve", "item_id": 1},
        "invalid_type",
        "Invalid type for 'item_id': expected a string, but got an integer instead.",
        "item_id",
        None,
    ),
    (
        "truncate without audio_end_ms",
        {"type": "conversation.item.truncate", "item_id": "i", "content_index": 0},
        "missing_required_parameter",
        "Missing required parameter: 'audio_end_ms'.",
        "audio_end_ms",
        None,
    ),
    (
        "truncate, negative audio_end_ms",
        {"type": "conversation.item.truncate", "item_id": "i", "content_index": 0, "audio_end_ms": -1},
        "integer_below_min_value",
        "Invalid 'audio_end_ms': integer below minimum value. Expected a value >= 0, but got -1 instead.",
        "audio_end_ms",
        None,
    ),
    (
        "truncate, content_index a decimal",
        {"type": "conversation.item.truncate", "item_id": "i", "content_index": 0.5, "audio_end_ms": 10},
        "invalid_type",
        "Invalid type for 'content_index': expected an integer, but got a decimal number instead.",
        "content_index",
        None,
    ),
    # response.create
    (
        "output_modalities a number",
        respond(output_modalities=5),
        "invalid_type",
        "Invalid type for 'response.output_modalities': expected an array, but got an integer instead.",
        "response.output_modalities",
        None,
    ),
    (
        "output_modalities value",
        respond(output_modalities=["video"]),
        "invalid_value",
        "Invalid value: 'video'. Supported values are: 'text' and 'audio'.",
        "response.output_modalities[0]",
        None,
    ),
    (
        "unknown response option",
        respond(foo=1),
        "unknown_parameter",
        "Unknown parameter: 'response.foo'.",
        "response.foo",
        None,
    ),
    (
        "the beta modalities",
        respond(modalities=["text"]),
        "unknown_parameter",
        "Unknown parameter: 'response.modalities'.",
        "response.modalities",
        None,
    ),
    (
        "response not an object",
        {"type": "response.create", "response": "now"},
        "invalid_type",
        "Invalid type for 'response': expected an object, but got a string instead.",
        "response",
        None,
    ),
    (
        "max_output_tokens -3",
        respond(max_output_tokens=-3),
        "integer_below_min_value",
        "Invalid 'response.max_output_tokens': integer below minimum value. Expected a value >= 1, but got -3 instead.",
        "response.max_output_tokens",
        None,
    ),
    (
        "max_output_tokens 4097",
        respond(max_output_tokens=4097),
        "integer_above_max_value",
        "Invalid 'response.max_output_tokens': integer above maximum value. Expected a value <= 4096, but got 4097 "
        "instead.",
        "response.max_output_tokens",
        None,
    ),
    (
        "max_output_tokens infinite",
        respond(max_output_tokens="infinite"),
        "invalid_value",
        "Invalid value: 'infinite'. Supported values are: 'inf'.",
        "response.max_output_tokens",
        None,
    ),
    (
        "voice a number",
        respond(audio={"output": {"voice": 7}}),
        "invalid_type",
        "Invalid type for 'response.audio.output.voice': expected a string or an object, but got an integer instead.",
        "response.audio.output.voice",
        None,
    ),
    (
        "speed is a session setting",
        respond(audio={"output": {"speed": 1.2}}),
        "unknown_parameter",
        "Unknown parameter: 'response.audio.output.speed'.",
        "response.audio.output.speed",
        None,
    ),
    (
        "format as a string",
        respond(audio={"output": {"format": "pcm16"}}),
        "invalid_type",
        "Invalid type for 'response.audio.output.format': expected an object, but got a string instead.",
        "response.audio.output.format",
        None,
    ),
    (
        "tool_choice value",
        respond(tool_choice="any"),
        "invalid_value",
        "Invalid value: 'any'. Supported values are: 'none', 'auto', and 'required'.",
        "response.tool_choice",
        None,
    ),
    (
        "tool without a name",
        respond(tools=[FUNCTION_TOOL, {"type": "function", "description": "x"}]),
        "missing_required_parameter",
        "Missing required parameter: 'response.tools[1].name'.",
        "response.tools[1].name",
        None,
    ),
    (
        "conversation a number",
        respond(conversation=0),
        "invalid_type",
        "Invalid type for 'response.conversation': expected a string, but got an integer instead.",
        "response.conversation",
        None,
    ),
    (
        "metadata, 17 pairs",
        respond(metadata={f"k{index}": "v" for index in range(17)}),
        "object_above_max_properties",
        "Invalid 'response.metadata': too many properties. Expected an object with at most 16 properties, but got an "
        "object with 17 properties instead.",
        "response.metadata",
        None,
    ),
    (
        "metadata key of 65",
        respond(metadata={"k" * 65: "v"}),
        "string_above_max_length",
        f"Invalid property name in 'response.metadata': '{'k' * 65}' is too long. Expected a string with maximum "
        "length 64, but got a string with length 65 instead.",
        "response.metadata." + "k" * 65,
        None,
    ),
    (
        "metadata value of 513",
        respond(metadata={"purpose": "v" * 513}),
        "string_above_max_length",
        "Invalid 'response.metadata.purpose': string too long. Expected a string with maximum length 512, but got a "
        "string with length 513 instead.",
        "response.metadata.purpose",
        None,
    ),
    (
        "metadata value a number",
        respond(metadata={"n": 1}),
        "invalid_type",
        "Invalid type for 'response.metadata.n': expected a string, but got an integer instead.",
        "response.metadata.n",
        None,
    ),
    (
        "metadata an array",
        respond(metadata=["a"]),
        "invalid_type",
        "Invalid type for 'response.metadata': expected an object, but got an array instead.",
        "response.metadata",
        None,
    ),
    (
        "input not an array",
        respond(input={"type": "item_reference", "id": "i"}),
        "invalid_type",
        "Invalid type for 'response.input': expected an array, but got an object instead.",
        "response.input",
        None,
    ),
    (
        "input item without call_id",
        respond(input=[user(), {"type": "item_reference", "id": "i"}, {"type": "function_call_output", "output": "x"}]),
        "missing_required_parameter",
        "Missing required parameter: 'response.input[2].call_id'.",
        "response.input[2].call_id",
        None,
    ),
    (
        "item_reference without id",
        respond(input=[{"type": "item_reference"}]),
        "missing_required_parameter",
        "Missing required parameter: 'response.input[0].id'.",
        "response.input[0].id",
        None,
    ),
    (
        "input item type",
        respond(input=[{"type": "reference", "id": "i"}]),
        "invalid_value",
        f"Invalid value: 'reference'. Supported values are: {ITEM_TYPES.replace(', and', ',')}, and 'item_reference'.",
        "response.input[0].type",
        None,
    ),
    (
        "prompt without id",
        respond(prompt={"version": "1"}),
        "missing_required_parameter",
        "Missing required parameter: 'response.prompt.id'.",
        "response.prompt.id",
        None,
    ),
    (
        "reasoning effort",
        respond(reasoning={"effort": "max"}),
        "invalid_value",
        "Invalid value: 'max'. Supported values are: 'minimal', 'low', 'medium', 'high', and 'xhigh'.",
        "response.reasoning.effort",
        None,
    ),
    # response.cancel, the others
    (
        "response_id not a string",
        {"type": "response.cancel", "event_id": "cancel_1", "response_id": ["resp_1"]},
        "invalid_type",
        "Invalid type for 'response_id': expected a string, but got an array instead.",
        "response_id",
        "cancel_1",
    ),
    (
        "commit takes nothing else",
        {"type": "input_audio_buffer.commit", "audio": AUDIO},
        "unknown_parameter",
        "Unknown parameter: 'audio'.",
        "audio",
        None,
    ),
    (
        "session.close takes nothing else",
        {"type": "session.close", "reason": "done"},
        "unknown_parameter",
        "Unknown parameter: 'reason'.",
        "reason",
        None,
    ),
    (
        "output_audio_buffer.clear takes nothing else",
        {"type": "output_audio_buffer.clear", "response_id": "resp_1"},
        "unknown_parameter",
        "Unknown parameter: 'response_id'.",
        "response_id",
        None,
    ),
]


@pytest.mark.parametrize(
    ("frame", "code", "message", "param", "event_id"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID]
)
def test_invalid_events_get_one_openai_error(
    frame: Frame, code: str, message: str, param: str | None, event_id: str | None
) -> None:
    data = json.dumps(frame) if isinstance(frame, dict) else frame
    with pytest.raises(EventError) as raised:
        parse_client_event(data)
    error = raised.value.error
    assert (error.code, error.message, error.param) == (code, message, param)
    assert (error.status, error.type) == (400, "invalid_request_error")
    assert raised.value.client_event_id == event_id
    assert str(raised.value) == message


def test_validation_does_not_change_the_event() -> None:
    event = respond(instructions=None, metadata=None, input=[user({"type": "input_text", "text": None})])
    before = json.loads(json.dumps(event))
    ev.validate_client_event(event)
    assert event == before


def test_null_counts_as_omitted_except_where_the_spec_allows_null() -> None:
    parsed = parse_client_event(json.dumps(respond(instructions=None, metadata=None, prompt=None)))
    assert isinstance(parsed, ev.ResponseCreateEvent)
    assert parsed.response is not None
    assert parsed.response.model_dump(exclude_unset=True) == {"metadata": None, "prompt": None}


def test_error_event_has_the_observed_key_order() -> None:
    error = OpenAIError(
        400, "Unknown parameter: 'session.bogus_field'.", param="session.bogus_field", code="unknown_parameter"
    )
    event = error_event("event_Ct1OkPD2bUvRkXvvdkiHf", error, "evt_1")
    assert json.dumps(event) == json.dumps(
        {
            "type": "error",
            "event_id": "event_Ct1OkPD2bUvRkXvvdkiHf",
            "error": {
                "type": "invalid_request_error",
                "code": "unknown_parameter",
                "message": "Unknown parameter: 'session.bogus_field'.",
                "param": "session.bogus_field",
                "event_id": "evt_1",
            },
        }
    )
    # Nulls are written out, not left out.
    bare = error_event("event_x", OpenAIError(400, "Cancellation failed: no active response found"), None)
    assert list(bare["error"].items()) == [
        ("type", "invalid_request_error"),
        ("code", None),
        ("message", "Cancellation failed: no active response found"),
        ("param", None),
        ("event_id", None),
    ]


def test_the_twelve_types_keep_the_observed_order() -> None:
    assert ", ".join(f"'{kind}'" for kind in ev.CLIENT_EVENT_TYPES[:-1]) + f", and '{ev.CLIENT_EVENT_TYPES[-1]}'" == (
        SUPPORTED
    )
    assert {*ev.CLIENT_EVENT_TYPES, "output_audio_buffer.clear"} == ev.ACCEPTED_EVENT_TYPES


def test_an_append_of_exactly_15_mib_is_accepted() -> None:
    audio = "AAAA" * (5 * 1024 * 1024)
    parsed = parse_client_event(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
    assert isinstance(parsed, ev.InputAudioBufferAppendEvent)
    assert len(parsed.audio_bytes) == ev.AUDIO_MAX_BYTES == 15 * 1024 * 1024
    assert len(audio) + len('{"type": "session.input_audio_buffer.append", "audio": ""}') + 512 < ev.FRAME_MAX_BYTES


def test_nesting_far_past_the_limit_is_a_parse_error_not_a_crash() -> None:
    with pytest.raises(EventError) as raised:
        parse_client_event("[" * 200_000 + "]" * 200_000)
    assert raised.value.error.code == "invalid_json"
    assert raised.value.error.message == "Invalid event: failed to parse JSON value. nesting is deeper than 256 levels."


@pytest.mark.parametrize(
    "event",
    [
        create(user({"type": "input_text", "text": "hi", "bogus": 1})),
        create({"type": "message", "role": "assistant", "content": [{"type": "input_text", "text": "b"}]}),
        respond(input=[{"type": "item_reference"}]),
        {"type": "response.cancel", "response_id": 1},
    ],
    ids=["unknown part key", "assistant input_text", "reference without id", "response_id a number"],
)
def test_the_sdk_check_refuses_what_the_sdk_types_refuse(event: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        sdk_accepts(event)
