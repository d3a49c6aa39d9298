"""Hypothesis strategies for Realtime client events, written from the spec (not from the mock's models).

The events, items, content parts and response options are described here, field by field in the
spec's order (``RealtimeClientEvent*``, ``RealtimeConversationItem*``, ``RealtimeMCP*``,
``RealtimeResponseCreateParams``; openai-python 3.57 ``types/realtime/*_param.py`` where it adds to
the spec), with the rules the README documents. They join the client_secrets tables of
``tests/strategies.py`` (sessions, tools, tool choice, prompts are the mint's), so the same machinery
draws valid events and events with exactly one fault and the error each must give.

Frames that are not events at all (binary, not UTF-8, not JSON, not an object, nested too deep,
megabytes long) come with the error they must give too: see :func:`hostile_frames`.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests import strategies as strats
from tests.strategies import (
    TEXT,
    AnyOf,
    Arr,
    Base64,
    Bool,
    Draw,
    Enum,
    Int,
    InvalidBody,
    Json,
    Map,
    Model,
    Ref,
    Str,
    Tagged,
)

__all__ = [
    "ACCEPTED_TYPES",
    "CLIENT_EVENT_TYPES",
    "EVENT_FIELD_NAMES",
    "Expected",
    "Frame",
    "binary_frames",
    "echoed_event_id",
    "event_model",
    "hostile_frames",
    "huge_frames",
    "invalid_events",
    "json_events_with_a_random_subtree",
    "shorten",
    "valid_events",
]

#: The twelve types the live server lists when it refuses a type (SESSION_TRUTH §3, verbatim order).
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
#: The spec's ``output_audio_buffer.clear`` is accepted although the live list omits it.
ACCEPTED_TYPES = (*CLIENT_EVENT_TYPES, "output_audio_buffer.clear")

EVENT_ID = Str(max_len=512)
ITEM_ID = Str(max_len=32)  # observed live: "Expected a string with maximum length 32"
STATUS = Enum(("completed", "incomplete", "in_progress"))
ITEM_OBJECT = Enum(("realtime.item",))
ROLES = ("user", "assistant", "system")  # the enum of RealtimeConversationItemWithReference.role
NON_NEGATIVE = Int(0, None, gen=st.integers(0, 2**31))


def _tag(value: str) -> Enum:
    return Enum((value,))


def _content(*kinds: str) -> Arr:
    return Arr(item=Tagged(kinds=tuple((kind, f"Part:{kind}") for kind in kinds)))


_ITEM_KINDS = (
    ("message", "Item:system"),
    ("message", "Item:user"),
    ("message", "Item:assistant"),
    ("function_call", "Item:function_call"),
    ("function_call_output", "Item:function_call_output"),
    ("mcp_approval_response", "Item:mcp_approval_response"),
    ("mcp_list_tools", "Item:mcp_list_tools"),
    ("mcp_call", "Item:mcp_call"),
    ("mcp_approval_request", "Item:mcp_approval_request"),
)
ITEM = Tagged(kinds=_ITEM_KINDS)
INPUT_ITEM = Tagged(kinds=(*_ITEM_KINDS, ("item_reference", "ItemReference")))


def _message(role: str, parts: Arr) -> Model:
    return Model(
        {
            "id": ITEM_ID,
            "object": ITEM_OBJECT,
            "type": _tag("message"),
            "status": STATUS,
            "role": _tag(role),
            "content": parts,
        },
        required=("type", "role", "content"),
        tagged=True,
        choices={"role": ROLES},
    )


def _event(kind: str, fields: dict[str, Any] | None = None, required: tuple[str, ...] = ()) -> tuple[str, Model]:
    """An event: ``event_id`` (at most 512 characters), its ``type``, then its own fields."""
    model = Model({"event_id": EVENT_ID, "type": _tag(kind), **(fields or {})}, ("type", *required), tagged=True)
    return f"Event:{kind}", model


_SESSION = Tagged(kinds=(("realtime", "RealtimeSession"), ("transcription", "TranscriptionSession")))
_EVENTS = dict(
    (
        _event("session.update", {"session": _SESSION}, ("session",)),
        _event("session.close"),
        _event("input_audio_buffer.append", {"audio": Base64()}, ("audio",)),
        _event("session.input_audio_buffer.append", {"audio": Base64()}, ("audio",)),
        _event("input_audio_buffer.commit"),
        _event("input_audio_buffer.clear"),
        _event("output_audio_buffer.clear"),
        _event("conversation.item.create", {"previous_item_id": Str(), "item": ITEM}, ("item",)),
        _event("conversation.item.retrieve", {"item_id": Str()}, ("item_id",)),
        _event("conversation.item.delete", {"item_id": Str()}, ("item_id",)),
        _event(
            "conversation.item.truncate",
            {"item_id": Str(), "content_index": NON_NEGATIVE, "audio_end_ms": NON_NEGATIVE},
            ("item_id", "content_index", "audio_end_ms"),
        ),
        _event("response.create", {"response": Ref(model="ResponseParams")}),
        _event("response.cancel", {"response_id": Str()}),
    )
)

#: A short base64 text of a little audio; bytes are bytes to the validator.
AUDIO = Base64()

MODELS: dict[str, Model] = {
    **_EVENTS,
    "Part:input_text": Model({"type": _tag("input_text"), "text": Str()}, ("type",), tagged=True),
    "Part:input_audio": Model(
        {"type": _tag("input_audio"), "audio": AUDIO, "transcript": Str()}, ("type",), tagged=True
    ),
    "Part:input_image": Model(
        {
            "type": _tag("input_image"),
            "image_url": Str(gen=st.sampled_from(("data:image/png;base64,iVBORw0KGgo=", "https://example.com/a.jpg"))),
            "detail": Enum(("auto", "low", "high")),
        },
        ("type",),
        tagged=True,
    ),
    "Part:output_text": Model({"type": _tag("output_text"), "text": Str()}, ("type",), tagged=True),
    "Part:output_audio": Model(
        {"type": _tag("output_audio"), "audio": AUDIO, "transcript": Str()}, ("type",), tagged=True
    ),
    "Item:system": _message("system", _content("input_text")),
    "Item:user": _message("user", _content("input_text", "input_audio", "input_image")),
    "Item:assistant": _message("assistant", _content("output_text", "output_audio")),
    "Item:function_call": Model(
        {
            "id": ITEM_ID,
            "object": ITEM_OBJECT,
            "type": _tag("function_call"),
            "status": STATUS,
            "call_id": Str(),
            "name": Str(),
            "arguments": Str(gen=st.sampled_from(('{"city": "Paris"}', "{}", ""))),
        },
        required=("type", "name", "arguments"),
        tagged=True,
    ),
    "Item:function_call_output": Model(
        {
            "id": ITEM_ID,
            "object": ITEM_OBJECT,
            "type": _tag("function_call_output"),
            "status": STATUS,
            "call_id": Str(),
            "output": Str(),
        },
        required=("type", "call_id", "output"),
        tagged=True,
    ),
    "Item:mcp_approval_response": Model(
        {
            "type": _tag("mcp_approval_response"),
            "id": ITEM_ID,
            "approval_request_id": Str(),
            "approve": Bool(),
            "reason": Str(),
        },
        required=("type", "id", "approval_request_id", "approve"),
        nullable=frozenset({"reason"}),
        tagged=True,
    ),
    "MCPListToolsTool": Model(
        {"name": Str(), "description": Str(), "input_schema": Json(), "annotations": Json()},
        required=("name", "input_schema"),
        nullable=frozenset({"description", "annotations"}),
    ),
    "Item:mcp_list_tools": Model(
        {
            "type": _tag("mcp_list_tools"),
            "id": ITEM_ID,
            "server_label": Str(),
            "tools": Arr(item=Ref(model="MCPListToolsTool")),
        },
        required=("type", "server_label", "tools"),
        tagged=True,
    ),
    "MCPError:protocol_error": Model(
        {"type": _tag("protocol_error"), "code": Int(), "message": Str()}, ("type", "code", "message"), tagged=True
    ),
    "MCPError:tool_execution_error": Model(
        {"type": _tag("tool_execution_error"), "message": Str()}, ("type", "message"), tagged=True
    ),
    "MCPError:http_error": Model(
        {"type": _tag("http_error"), "code": Int(), "message": Str()}, ("type", "code", "message"), tagged=True
    ),
    "Item:mcp_call": Model(
        {
            "type": _tag("mcp_call"),
            "id": ITEM_ID,
            "server_label": Str(),
            "name": Str(),
            "arguments": Str(),
            "approval_request_id": Str(),
            "output": Str(),
            "error": Tagged(
                kinds=(
                    ("protocol_error", "MCPError:protocol_error"),
                    ("tool_execution_error", "MCPError:tool_execution_error"),
                    ("http_error", "MCPError:http_error"),
                )
            ),
        },
        required=("type", "id", "server_label", "name", "arguments"),
        nullable=frozenset({"approval_request_id", "output", "error"}),
        tagged=True,
    ),
    "Item:mcp_approval_request": Model(
        {"type": _tag("mcp_approval_request"), "id": ITEM_ID, "server_label": Str(), "name": Str(), "arguments": Str()},
        required=("type", "id", "server_label", "name", "arguments"),
        tagged=True,
    ),
    "ItemReference": Model({"type": _tag("item_reference"), "id": Str()}, ("type", "id"), tagged=True),
    "ResponseAudioOutput": Model(
        {
            "format": Tagged(
                kinds=(("audio/pcm", "AudioPCM"), ("audio/pcmu", "AudioPCMU"), ("audio/pcma", "AudioPCMA"))
            ),
            "voice": strats.MODELS["AudioOutput"].fields["voice"],
        }
    ),
    "ResponseAudio": Model({"output": Ref(model="ResponseAudioOutput")}),
    "ResponseParams": Model(
        {
            "output_modalities": Arr(item=Enum(("text", "audio"))),
            "instructions": Str(),
            "audio": Ref(model="ResponseAudio"),
            "tools": Arr(item=Tagged(kinds=(("function", "FunctionTool"), ("mcp", "MCPTool")))),
            "tool_choice": strats.MODELS["RealtimeSession"].fields["tool_choice"],
            "parallel_tool_calls": Bool(),
            "reasoning": Ref(model="Reasoning"),
            "max_output_tokens": AnyOf(options=(Int(1, 4096), Enum(("inf",)))),
            # "oneOf: string | enum [auto, none]" (spec), ``Union[str, Literal[...]]`` (SDK): any string.
            "conversation": Str(gen=st.one_of(st.sampled_from(("auto", "none")), TEXT)),
            "metadata": Map(value=Str(max_len=512), max_pairs=16, key_max_len=64),
            "prompt": Ref(model="Prompt"),
            "input": Arr(item=INPUT_ITEM),
        },
        nullable=frozenset({"metadata", "prompt"}),
    ),
}
strats.register_models(MODELS)

#: Field names of the event schema, often used as unknown keys somewhere else.
EVENT_FIELD_NAMES = tuple(sorted({name for model in MODELS.values() for name in model.fields}))
UNKNOWN_KEYS = st.one_of(strats.KEYS, st.sampled_from(EVENT_FIELD_NAMES), st.sampled_from(strats.ALL_FIELD_NAMES))


def event_model(kind: str) -> str:
    return f"Event:{kind}"


def valid_events(kinds: tuple[str, ...] = ACCEPTED_TYPES) -> st.SearchStrategy[dict[str, Any]]:
    """Valid client events of the given types."""
    return st.sampled_from(kinds).flatmap(lambda kind: strats.objects_of(event_model(kind)))


def invalid_events(kinds: tuple[str, ...] = ACCEPTED_TYPES) -> st.SearchStrategy[InvalidBody]:
    """A valid event with exactly one fault, and the error it must give (``(event, code, param)``, ``message``).

    A wrong ``type`` is reported against the twelve listed types; a missing one with ``invalid_event``.
    """

    def one(kind: str) -> st.SearchStrategy[InvalidBody]:
        name = event_model(kind)
        return strats.invalid_objects(name, strats.objects_of(name), tags=CLIENT_EVENT_TYPES, unknown_keys=UNKNOWN_KEYS)

    return st.sampled_from(kinds).flatmap(one).map(_missing_type)


def _missing_type(case: InvalidBody) -> InvalidBody:
    event, code, param = case
    if code == "missing_required_parameter" and param == "type":
        return InvalidBody(event, "invalid_event", None, "The 'type' field is missing.", case.description)
    return case


def echoed_event_id(event: Any) -> str | None:
    """The ``event_id`` an error must echo: the client's, when it is a string of at most 512 characters."""
    if isinstance(event, dict):
        value = event.get("event_id")
        if isinstance(value, str) and len(value) <= 512:
            return value
    return None


def json_events_with_a_random_subtree() -> st.SearchStrategy[dict[str, Any]]:
    """A valid event with one value (anywhere) replaced by arbitrary JSON, or one key added."""
    return strats.with_a_random_subtree(valid_events(), UNKNOWN_KEYS)


# --- frames that are not (valid) events -----------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """The one error a frame must give (``message`` ``None``: not pinned; ``prefix``: the message starts so)."""

    code: str
    param: str | None
    event_id: str | None = None
    message: str | None = None
    prefix: str | None = None

    def __repr__(self) -> str:
        shown = ", ".join(f"{key}={shorten(value)}" for key, value in self.__dict__.items() if isinstance(value, str))
        return f"Expected({shown})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


@dataclass(frozen=True)
class Frame:
    """One WebSocket message to send (``bytes``: a binary frame) and the error it must give (``None``: none)."""

    data: str | bytes
    expected: Expected | None
    description: str

    def __repr__(self) -> str:
        return f"Frame({self.description}: {shorten(self.data)}, {self.expected!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def shorten(data: str | bytes, limit: int = 200) -> str:
    """``data`` as a repr, cut to ``limit`` characters (megabyte frames make useless failure reports)."""
    if len(data) <= limit:
        return repr(data)
    return f"{data[: limit // 2]!r}... ({len(data)} long)"


BINARY = Expected("invalid_event", None, message="Expected a text WebSocket message; binary frames are not supported.")
INVALID_JSON = "Invalid event: failed to parse JSON value. "
MIB = 1024 * 1024
#: 15 MiB of audio, the most one append may carry, is this much base64.
AUDIO_MAX_BASE64 = 4 * (15 * MIB // 3)


def binary_frames() -> st.SearchStrategy[Frame]:
    """Binary messages: valid JSON events, UTF-8 text, bytes that are not UTF-8."""
    payloads = st.one_of(
        valid_events().map(lambda event: json.dumps(event).encode()),
        st.binary(max_size=64),
        st.binary(min_size=1, max_size=16).map(lambda data: b"\xff\xfe" + data + b"\xc3"),
    )
    return payloads.map(lambda data: Frame(data, BINARY, "binary frame"))


def _not_json() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(
            ("", " ", "{", "}", "[", '{"type": "session.update",}', "{'type': 'x'}", "NaN", "Infinity", "-Infinity")
        ),
        st.sampled_from(
            ('{"a": 1e999}', '{"type": "\\ud800"}', '{"type": "x"} {"type": "y"}', "undefined", "\ufeff{}")
        ),
        st.text(st.characters(exclude_categories=("Cs",)), max_size=20).filter(_is_not_json),
        valid_events().map(lambda event: json.dumps(event)[:-1]),
    )


def _is_not_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    return 0


@st.composite
def _deep(draw: Draw) -> Frame:
    """Nesting near and past the limit (256 levels), inside a valid event or as the whole frame."""
    depth = draw(st.one_of(st.integers(1, 300), st.sampled_from((254, 255, 256, 257, 5_000, 200_000))))
    opener, closer = draw(st.sampled_from((("[", "]"), ('{"a":', "}"))))
    nested = opener * depth + "1" + closer * depth
    where = draw(st.sampled_from(("frame", "parameters", "unknown")))
    if where == "frame":
        return Frame(
            nested,
            _deep_expected(
                depth, None, "Invalid event: expected an object, but got an array instead." if opener == "[" else None
            ),
            f"{depth} levels",
        )
    if where == "parameters":
        # A function tool's parameters are free-form JSON: valid however deep, up to the limit.
        text = (
            '{"type": "response.create", "event_id": "deep", "response": {"tools": [{"type": "function", "name": "f", '
            f'"parameters": {{"x": {nested}}}}}]}}}}'
        )
        return Frame(text, _deep_expected(depth + 5, "deep", None), f"parameters {depth} levels deep")
    text = f'{{"type": "input_audio_buffer.clear", "event_id": "deep", "x": {nested}}}'
    unknown = Expected("unknown_parameter", "x", "deep", "Unknown parameter: 'x'.")
    return Frame(text, _deep_expected(depth + 1, "deep", unknown), f"unknown key {depth} levels deep")


def _deep_expected(depth: int, event_id: str | None, within: Expected | str | None) -> Expected | None:
    if depth > 256:
        return Expected("invalid_json", None, None, prefix=INVALID_JSON)
    if isinstance(within, str):
        return Expected("invalid_type", None, None, within)
    if within is None and event_id is None:
        # A nested object as the frame: no "type".
        return Expected("invalid_event", None, None, "The 'type' field is missing.")
    return within


@st.composite
def huge_frames(draw: Draw) -> Frame:
    """Megabytes in one place of an event, valid or not (the socket takes frames up to one maximal append)."""
    size = draw(st.sampled_from((MIB, 2 * MIB, 5 * MIB)))
    filler = draw(st.sampled_from("xé中"))
    big = filler * (size // len(filler.encode()))
    case = draw(
        st.sampled_from(
            (
                "audio",
                "audio_max",
                "audio_over",
                "audio_bad",
                "instructions",
                "text",
                "event_id",
                "type",
                "key",
                "metadata",
                "json",
            )
        )
    )
    if case == "audio":
        audio = base64.b64encode(b"\x00\x01" * (size // 2)).decode()
        return Frame(json.dumps({"type": "input_audio_buffer.append", "audio": audio}), None, f"{size} B of audio")
    if case in ("audio_max", "audio_over"):
        extra = 0 if case == "audio_max" else 4
        audio = "AAAA" * ((AUDIO_MAX_BASE64 + extra) // 4)
        frame = json.dumps({"type": "input_audio_buffer.append", "event_id": "big", "audio": audio})
        if case == "audio_max":
            return Frame(frame, None, "15 MiB of audio")
        message = (
            f"Invalid 'audio': string too long. Expected a string with maximum length {AUDIO_MAX_BASE64}, "
            f"but got a string with length {len(audio)} instead."
        )
        return Frame(frame, Expected("string_above_max_length", "audio", "big", message), "15 MiB + 3 B of audio")
    if case == "audio_bad":
        audio = base64.b64encode(bytes(size)).decode() + "!"
        message = "Invalid 'audio'. Expected base64-encoded audio bytes (mono PCM16 at 24kHz) but got an invalid value."
        frame = json.dumps({"type": "input_audio_buffer.append", "event_id": "bad", "audio": audio})
        return Frame(frame, Expected("invalid_value", "audio", "bad", message), "audio with a bad last character")
    if case == "instructions":
        event = {
            "type": "response.create",
            "response": {"instructions": big, "conversation": "none", "output_modalities": ["text"]},
        }
        return Frame(json.dumps(event, ensure_ascii=False), None, "huge instructions")
    if case == "text":
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": big}]}
        return Frame(
            json.dumps({"type": "conversation.item.create", "item": item}, ensure_ascii=False), None, "huge text"
        )
    if case == "event_id":
        message = (
            "Invalid 'event_id': string too long. Expected a string with maximum length 512, "
            f"but got a string with length {len(big)} instead."
        )
        frame = json.dumps({"type": "input_audio_buffer.clear", "event_id": big}, ensure_ascii=False)
        return Frame(frame, Expected("string_above_max_length", "event_id", None, message), "huge event_id")
    if case == "type":
        frame = json.dumps({"type": big, "event_id": "t"}, ensure_ascii=False)
        return Frame(
            frame,
            Expected("invalid_value", "type", "t", prefix=f"Invalid value: '{big}'. Supported values are: "),
            "huge type",
        )
    if case == "key":
        frame = json.dumps({"type": "response.cancel", "event_id": "k", big: 1}, ensure_ascii=False)
        return Frame(frame, Expected("unknown_parameter", big, "k", f"Unknown parameter: '{big}'."), "huge unknown key")
    if case == "metadata":
        event = {"type": "response.create", "event_id": "m", "response": {"metadata": {"k": big}}}
        message = (
            "Invalid 'response.metadata.k': string too long. Expected a string with maximum length 512, "
            f"but got a string with length {len(big)} instead."
        )
        frame = json.dumps(event, ensure_ascii=False)
        return Frame(
            frame, Expected("string_above_max_length", "response.metadata.k", "m", message), "huge metadata value"
        )
    frame = json.dumps({"type": "input_audio_buffer.clear", "event_id": "j", "audio": big}, ensure_ascii=False)[:-3]
    return Frame(frame, Expected("invalid_json", None, None, prefix=INVALID_JSON), "huge, cut short")


def hostile_frames(huge: bool = True) -> st.SearchStrategy[Frame]:
    """Frames that are not events, or not valid ones, each with the error it must give."""
    not_json = _not_json().map(
        lambda text: Frame(text, Expected("invalid_json", None, prefix=INVALID_JSON), "not JSON")
    )
    not_objects = (
        strats.arbitrary_json(6)
        .filter(lambda value: not isinstance(value, dict))
        .map(
            lambda value: Frame(
                json.dumps(value),
                Expected(
                    "invalid_type",
                    None,
                    message=f"Invalid event: expected an object, but got {strats.described(value)} instead.",
                ),
                "JSON that is not an object",
            )
        )
    )
    options = [binary_frames(), not_json, not_objects, _deep()]
    if huge:
        options.append(huge_frames())
    return st.one_of(*options)
