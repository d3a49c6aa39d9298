"""Hypothesis strategies for ``POST /v1/realtime/client_secrets`` bodies, valid and invalid.

The request schema is described once, in :data:`MODELS` (field by field, in the spec's order,
with the spec's enums and the ranges the README documents), independently of the mock's
pydantic models. The same table drives three things:

* generation of valid bodies (:func:`valid_bodies`, :func:`valid_realtime_sessions`,
  :func:`valid_transcription_sessions`);
* :func:`canonical`, the body as the server should understand it (an explicit ``null`` on a
  field the spec does not mark nullable counts as omitted, so it is dropped);
* :func:`invalid_bodies`: a valid body with exactly one fault, and the error it must give.

Other schemas (the Realtime client events, ``tests/event_strategies.py``) add their models with
:func:`register_models` and use :func:`objects_of` and :func:`invalid_objects` the same way.
"""

from __future__ import annotations

import base64
import copy
import math
import re
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "MODELS",
    "SECTION_SIGN_KEYS",
    "TEXT",
    "InvalidBody",
    "arbitrary_json",
    "canonical",
    "described",
    "format_param",
    "invalid_bodies",
    "invalid_objects",
    "json_bodies_with_a_random_subtree",
    "known_field",
    "node_at",
    "objects_of",
    "register_models",
    "type_accepted",
    "valid_bodies",
    "valid_realtime_sessions",
    "valid_transcription_sessions",
    "with_a_random_subtree",
]

Path = tuple[str | int, ...]
Draw = Callable[[st.SearchStrategy[Any]], Any]

# --- values -------------------------------------------------------------------------------------------

#: Printable text: no control characters, surrogates, private-use or unassigned code points.
TEXT = st.text(st.characters(exclude_categories=("Cc", "Cs", "Co", "Cn")), max_size=12)
#: Keys of free-form objects (headers, variables, metadata) and unknown keys. The special ones are
#: strings a path formatter may trip on: empty, dotted, bracketed, quoted, not ASCII, and U+00A7, which
#: the mock once used to tag union branches in its paths (keys starting with it vanished from params).
SECTION_SIGN = "\u00a7"
SPECIAL_KEYS = ("", " ", "a.b", "x[0]", "[0]", ".", "'", "\u00e9t\u00e9", "\u4e2d", SECTION_SIGN, SECTION_SIGN + "0")
KEYS = st.one_of(TEXT, st.sampled_from(SPECIAL_KEYS))
SECTION_SIGN_KEYS = st.builds(SECTION_SIGN.__add__, TEXT)

REALTIME_MODELS = (
    "gpt-realtime",
    "gpt-realtime-1.5",
    "gpt-realtime-2",
    "gpt-realtime-2.1",
    "gpt-realtime-2.1-mini",
    "gpt-realtime-2025-08-28",
    "gpt-4o-realtime-preview",
    "gpt-4o-realtime-preview-2024-10-01",
    "gpt-4o-realtime-preview-2024-12-17",
    "gpt-4o-realtime-preview-2025-06-03",
    "gpt-4o-mini-realtime-preview",
    "gpt-4o-mini-realtime-preview-2024-12-17",
    "gpt-realtime-mini",
    "gpt-realtime-mini-2025-10-06",
    "gpt-realtime-mini-2025-12-15",
    "gpt-audio-1.5",
    "gpt-audio-mini",
    "gpt-audio-mini-2025-10-06",
    "gpt-audio-mini-2025-12-15",
)
TRANSCRIPTION_MODELS = (
    "whisper-1",
    "gpt-transcribe",
    "gpt-live-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-4o-mini-transcribe-2025-12-15",
    "gpt-4o-transcribe",
    "gpt-4o-transcribe-diarize",
    "gpt-realtime-whisper",
)
VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
EFFORTS = ("minimal", "low", "medium", "high", "xhigh")
LOGPROBS = "item.input_audio_transcription.logprobs"
CONNECTORS = (
    "connector_dropbox",
    "connector_gmail",
    "connector_googlecalendar",
    "connector_googledrive",
    "connector_microsoftteams",
    "connector_outlookcalendar",
    "connector_outlookemail",
    "connector_sharepoint",
)
TUNNEL_PATTERN = "^tunnel_[a-z0-9]{32}$"
MAX_INT = 2**53


def _json_leaves() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-MAX_INT, MAX_INT),
        st.floats(allow_nan=False, allow_infinity=False),
        TEXT,
    )


def arbitrary_json(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON value (finite numbers, printable strings, objects with odd keys)."""
    return st.recursive(
        _json_leaves(),
        lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=4)),
        max_leaves=max_leaves,
    )


JSON_OBJECTS = st.dictionaries(KEYS, arbitrary_json(6), max_size=3)
URLS = st.builds(
    "https://{}.example/{}".format,
    st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True),
    st.text(string.ascii_letters, max_size=8),
)


# --- the schema ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Node:
    """A field's type. ``gen`` overrides how valid values are drawn."""

    gen: st.SearchStrategy[Any] | None = field(default=None, kw_only=True)


@dataclass(frozen=True, eq=False)
class Str(Node):
    #: The longest string accepted, in characters (``string_above_max_length`` beyond it).
    max_len: int | None = None


@dataclass(frozen=True, eq=False)
class Base64(Str):
    """Standard, padded base64 text (audio bytes); anything else is ``invalid_value``."""


@dataclass(frozen=True, eq=False)
class Pattern(Node):
    regex: str = ""


@dataclass(frozen=True, eq=False)
class Int(Node):
    lo: int | None = None
    hi: int | None = None


@dataclass(frozen=True, eq=False)
class Num(Node):
    lo: float | None = None
    hi: float | None = None


@dataclass(frozen=True, eq=False)
class Bool(Node):
    pass


@dataclass(frozen=True, eq=False)
class Enum(Node):
    values: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Arr(Node):
    item: Node = field(default_factory=Str)
    min_len: int = 0


@dataclass(frozen=True, eq=False)
class Map(Node):
    """``dict[str, value]``: any keys (at most ``max_pairs`` of them, each at most ``key_max_len`` long)."""

    value: Node = field(default_factory=Str)
    max_pairs: int | None = None
    key_max_len: int | None = None


@dataclass(frozen=True, eq=False)
class Json(Node):
    """A free-form JSON object (function parameters, tracing metadata)."""


@dataclass(frozen=True, eq=False)
class Ref(Node):
    """An object of the model named ``model``."""

    model: str = ""


@dataclass(frozen=True, eq=False)
class Tagged(Node):
    """An object whose ``type`` picks its model; ``strings`` are the bare strings also allowed."""

    kinds: tuple[tuple[str, str], ...] = ()
    strings: tuple[str, ...] = ()

    @property
    def tags(self) -> tuple[str, ...]:
        # A tag may name several models, told apart by their ``choices`` (a message by its role).
        return tuple(dict.fromkeys(tag for tag, _ in self.kinds))


@dataclass(frozen=True, eq=False)
class AnyOf(Node):
    """A union picked by the JSON type of the value."""

    options: tuple[Node, ...] = ()


@dataclass(frozen=True)
class Model:
    fields: dict[str, Node]
    required: tuple[str, ...] = ()
    nullable: frozenset[str] = frozenset()
    #: At least one of these must be set (reported as a missing first one).
    one_of_required: tuple[str, ...] = ()
    #: The model is a branch of a ``Tagged`` union: its ``type`` field is the tag.
    tagged: bool = False
    #: Fields that, after the tag, choose among models sharing it (a message's ``role``), with the values
    #: the error lists as supported.
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _tag(value: str) -> Enum:
    return Enum((value,))


_FORMAT = Tagged(kinds=(("audio/pcm", "AudioPCM"), ("audio/pcmu", "AudioPCMU"), ("audio/pcma", "AudioPCMA")))
_TURN_DETECTION = Tagged(kinds=(("server_vad", "ServerVad"), ("semantic_vad", "SemanticVad")))
_FILTER = Ref(model="MCPToolFilter")
_CONTENT = Tagged(kinds=(("input_text", "InputText"), ("input_image", "InputImage"), ("input_file", "InputFile")))
_BREAKPOINT = Ref(model="PromptCacheBreakpoint")
_SMALL_INT = Int(gen=st.integers(0, 2**31))

_SESSION = Tagged(kinds=(("realtime", "RealtimeSession"), ("transcription", "TranscriptionSession")))

MODELS: dict[str, Model] = {
    "Body": Model({"expires_after": Ref(model="ExpiresAfter"), "session": _SESSION}),
    "ExpiresAfter": Model({"anchor": Enum(("created_at",)), "seconds": Int(10, 7200)}),
    "AudioPCM": Model({"type": _tag("audio/pcm"), "rate": Int(24000, 24000)}, required=("type", "rate"), tagged=True),
    "AudioPCMU": Model({"type": _tag("audio/pcmu")}, required=("type",), tagged=True),
    "AudioPCMA": Model({"type": _tag("audio/pcma")}, required=("type",), tagged=True),
    "AudioTranscription": Model(
        {
            "model": Str(gen=st.one_of(st.sampled_from(TRANSCRIPTION_MODELS), TEXT)),
            "language": Str(gen=st.one_of(st.sampled_from(("en", "de", "fr", "ja")), TEXT)),
            "languages": Arr(item=Str(), min_len=1),
            "keywords": Arr(item=Str()),
            "prompt": Str(),
            "delay": Enum(EFFORTS),
        }
    ),
    "NoiseReduction": Model({"type": Enum(("near_field", "far_field")), "strength": Num(0, 1)}),
    "ServerVad": Model(
        {
            "type": _tag("server_vad"),
            "threshold": Num(0, 1),
            "prefix_padding_ms": _SMALL_INT,
            "silence_duration_ms": _SMALL_INT,
            "create_response": Bool(),
            "interrupt_response": Bool(),
            "idle_timeout_ms": Int(5000, 30000),
        },
        required=("type",),
        nullable=frozenset({"idle_timeout_ms"}),
        tagged=True,
    ),
    "SemanticVad": Model(
        {
            "type": _tag("semantic_vad"),
            "eagerness": Enum(("low", "medium", "high", "auto")),
            "create_response": Bool(),
            "interrupt_response": Bool(),
        },
        required=("type",),
        tagged=True,
    ),
    "AudioInput": Model(
        {
            "format": _FORMAT,
            "transcription": Ref(model="AudioTranscription"),
            "noise_reduction": Ref(model="NoiseReduction"),
            "turn_detection": _TURN_DETECTION,
        },
        nullable=frozenset({"transcription", "noise_reduction", "turn_detection"}),
    ),
    "VoiceId": Model({"id": Str(gen=st.one_of(st.from_regex(r"voice_[0-9a-z]{4,8}", fullmatch=True), TEXT))}, ("id",)),
    "AudioOutput": Model(
        {
            "format": _FORMAT,
            "voice": AnyOf(options=(Str(gen=st.one_of(st.sampled_from(VOICES), TEXT)), Ref(model="VoiceId"))),
            "speed": Num(0.25, 1.5),
        }
    ),
    "RealtimeAudio": Model({"input": Ref(model="AudioInput"), "output": Ref(model="AudioOutput")}),
    "TranscriptionAudio": Model({"input": Ref(model="AudioInput")}),
    "Tracing": Model({"workflow_name": Str(), "group_id": Str(), "metadata": Json()}),
    "FunctionTool": Model(
        {"type": _tag("function"), "name": Str(), "description": Str(), "parameters": Json()},
        required=("type", "name"),
        tagged=True,
    ),
    "MCPToolFilter": Model({"tool_names": Arr(item=Str()), "read_only": Bool()}),
    "MCPApprovalFilter": Model({"always": _FILTER, "never": _FILTER}),
    "MCPTool": Model(
        {
            "type": _tag("mcp"),
            "server_label": Str(),
            "server_url": Str(gen=URLS),
            "connector_id": Enum(CONNECTORS),
            "tunnel_id": Pattern(TUNNEL_PATTERN, gen=st.from_regex(r"\Atunnel_[a-z0-9]{32}\Z")),
            "authorization": Str(),
            "server_description": Str(),
            "headers": Map(value=Str()),
            "allowed_tools": AnyOf(options=(Arr(item=Str()), _FILTER)),
            "allowed_callers": Arr(item=Enum(("direct", "programmatic")), min_len=1),
            "require_approval": AnyOf(options=(Enum(("always", "never")), Ref(model="MCPApprovalFilter"))),
            "defer_loading": Bool(),
        },
        required=("type", "server_label"),
        nullable=frozenset({"headers", "allowed_tools", "allowed_callers", "require_approval"}),
        one_of_required=("server_url", "connector_id", "tunnel_id"),
        tagged=True,
    ),
    "ToolChoiceFunction": Model({"type": _tag("function"), "name": Str()}, ("type", "name"), tagged=True),
    "ToolChoiceMCP": Model(
        {"type": _tag("mcp"), "server_label": Str(), "name": Str()},
        required=("type", "server_label"),
        nullable=frozenset({"name"}),
        tagged=True,
    ),
    "Reasoning": Model({"effort": Enum(EFFORTS)}),
    "TokenLimits": Model({"post_instructions": Int(0, None, gen=st.integers(0, 2**31))}),
    "RetentionRatio": Model(
        {"type": _tag("retention_ratio"), "retention_ratio": Num(0, 1), "token_limits": Ref(model="TokenLimits")},
        required=("type", "retention_ratio"),
        tagged=True,
    ),
    "PromptCacheBreakpoint": Model({"mode": Enum(("explicit",)), "ttl": Enum(("30m", "12h"))}, ("mode",)),
    "InputText": Model(
        {"type": _tag("input_text"), "text": Str(), "prompt_cache_breakpoint": _BREAKPOINT},
        required=("type", "text"),
        tagged=True,
    ),
    "InputImage": Model(
        {
            "type": _tag("input_image"),
            "image_url": Str(gen=URLS),
            "file_id": Str(),
            "detail": Enum(("low", "high", "auto", "original")),
            "prompt_cache_breakpoint": _BREAKPOINT,
        },
        required=("type", "detail"),
        nullable=frozenset({"image_url", "file_id"}),
        tagged=True,
    ),
    "InputFile": Model(
        {
            "type": _tag("input_file"),
            "file_id": Str(),
            "filename": Str(),
            "file_data": Str(),
            "prompt_cache_breakpoint": _BREAKPOINT,
            "file_url": Str(gen=URLS),
            "detail": Enum(("auto", "low", "high")),
        },
        required=("type",),
        nullable=frozenset({"file_id"}),
        tagged=True,
    ),
    "Prompt": Model(
        {"id": Str(), "version": Str(), "variables": Map(value=AnyOf(options=(Str(), _CONTENT)))},
        required=("id",),
        nullable=frozenset({"version", "variables"}),
    ),
    "RealtimeSession": Model(
        {
            "type": _tag("realtime"),
            "output_modalities": Arr(item=Enum(("text", "audio"))),
            "model": Str(gen=st.one_of(st.sampled_from(REALTIME_MODELS), TEXT)),
            "instructions": Str(gen=st.text(st.characters(exclude_categories=("Cs", "Co", "Cn")), max_size=40)),
            "audio": Ref(model="RealtimeAudio"),
            "include": Arr(item=Enum((LOGPROBS,))),
            "tracing": AnyOf(options=(Enum(("auto",)), Ref(model="Tracing"))),
            "tools": Arr(item=Tagged(kinds=(("function", "FunctionTool"), ("mcp", "MCPTool")))),
            "tool_choice": Tagged(
                kinds=(("function", "ToolChoiceFunction"), ("mcp", "ToolChoiceMCP")),
                strings=("none", "auto", "required"),
            ),
            "parallel_tool_calls": Bool(),
            "reasoning": Ref(model="Reasoning"),
            "max_output_tokens": AnyOf(options=(Int(1, 4096), Enum(("inf",)))),
            "truncation": Tagged(kinds=(("retention_ratio", "RetentionRatio"),), strings=("auto", "disabled")),
            "prompt": Ref(model="Prompt"),
        },
        required=("type",),
        nullable=frozenset({"tracing", "prompt"}),
        tagged=True,
    ),
    "TranscriptionSession": Model(
        {
            "type": _tag("transcription"),
            "audio": Ref(model="TranscriptionAudio"),
            "include": Arr(item=Enum((LOGPROBS,))),
        },
        required=("type",),
        tagged=True,
    ),
}
#: Every field name the schema knows: unknown keys are often a field of another object.
ALL_FIELD_NAMES = tuple(sorted({name for model in MODELS.values() for name in model.fields}))


# --- valid values -------------------------------------------------------------------------------------


def _valid(node: Node) -> st.SearchStrategy[Any]:
    if node.gen is not None:
        return node.gen
    if isinstance(node, Base64):
        return st.binary(max_size=48).map(lambda data: base64.b64encode(data).decode())
    if isinstance(node, Str):
        return TEXT
    if isinstance(node, Int):
        lo = node.lo if node.lo is not None else -MAX_INT
        hi = node.hi if node.hi is not None else MAX_INT
        return st.integers(lo, hi)
    if isinstance(node, Num):
        lo_f = node.lo if node.lo is not None else -1e9
        hi_f = node.hi if node.hi is not None else 1e9
        floats = st.floats(lo_f, hi_f, allow_nan=False, allow_infinity=False)
        return st.one_of(floats, st.integers(math.ceil(lo_f), math.floor(hi_f)))
    if isinstance(node, Bool):
        return st.booleans()
    if isinstance(node, Enum):
        return st.sampled_from(node.values)
    if isinstance(node, Arr):
        return st.lists(_valid(node.item), min_size=node.min_len, max_size=3)
    if isinstance(node, Map):
        return st.dictionaries(KEYS, _valid(node.value), max_size=3)
    if isinstance(node, Json):
        return JSON_OBJECTS
    if isinstance(node, Ref):
        return _model_values(node.model)
    if isinstance(node, Tagged):
        objects = [_model_values(model) for _, model in node.kinds]
        return st.one_of(*objects, *([st.sampled_from(node.strings)] if node.strings else []))
    if isinstance(node, AnyOf):
        return st.one_of(*[_valid(option) for option in node.options])
    raise TypeError(f"no strategy for {node!r}")  # pragma: no cover


_MODEL_STRATEGIES: dict[str, st.SearchStrategy[dict[str, Any]]] = {}


def _model_values(name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Valid objects of model ``name`` (built lazily: models refer to each other)."""
    if name not in _MODEL_STRATEGIES:
        _MODEL_STRATEGIES[name] = st.deferred(lambda: _model_strategy(name))
    return _MODEL_STRATEGIES[name]


def _model_strategy(name: str) -> st.SearchStrategy[dict[str, Any]]:
    model = MODELS[name]

    @st.composite
    def build(draw: Draw) -> dict[str, Any]:
        out: dict[str, Any] = {}
        servers: list[str] = []
        if model.one_of_required:
            servers = draw(st.lists(st.sampled_from(model.one_of_required), min_size=1, unique=True))
        for key, node in model.fields.items():
            if key in model.required or key in servers:
                out[key] = draw(_valid(node))
                continue
            # Absent, set, null meaning "off" (nullable fields) or null meaning "omitted" (the others).
            # Objects are set more often, so that the deep fields are reached often enough.
            container = isinstance(node, Ref | Tagged) and not (isinstance(node, Tagged) and node.strings)
            choices = (
                ("absent", "set", "set", "set", "null") if container else ("absent", "absent", "set", "set", "null")
            )
            choice = draw(st.sampled_from(choices))
            if choice == "set":
                out[key] = draw(_valid(node))
            elif choice == "null":
                out[key] = None
        # Key order carries no meaning: send the keys in any order.
        keys = draw(st.permutations(list(out)))
        return {key: out[key] for key in keys}

    return build()


def valid_realtime_sessions() -> st.SearchStrategy[dict[str, Any]]:
    """Valid realtime sessions: a random subset of the optional fields, each with a valid value."""
    return _model_values("RealtimeSession")


def valid_transcription_sessions() -> st.SearchStrategy[dict[str, Any]]:
    """Valid transcription sessions."""
    return _model_values("TranscriptionSession")


@st.composite
def valid_bodies(draw: Draw) -> dict[str, Any]:
    """``{}``, or a session and/or ``expires_after`` (each possibly an explicit null, which means omitted)."""
    if draw(st.integers(0, 15)) == 0:
        return {}
    body: dict[str, Any] = {}
    session = draw(st.sampled_from(("realtime", "realtime", "transcription", "absent", "null")))
    if session == "realtime":
        body["session"] = draw(valid_realtime_sessions())
    elif session == "transcription":
        body["session"] = draw(valid_transcription_sessions())
    elif session == "null":
        body["session"] = None
    expires = draw(st.sampled_from(("absent", "absent", "set", "null")))
    if expires == "set":
        body["expires_after"] = draw(_model_values("ExpiresAfter"))
    elif expires == "null":
        body["expires_after"] = None
    keys = draw(st.permutations(list(body)))
    return {key: body[key] for key in keys}


# --- walking a body along the schema -------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _tagged_model(node: Tagged, value: dict[str, Any]) -> str | None:
    """The model of a ``Tagged`` union an object picks: by its tag, then by the model's ``choices``."""
    for tag, name in node.kinds:
        choices = MODELS[name].choices
        fields = MODELS[name].fields
        if tag == value.get("type") and all(_chosen(fields[key], value.get(key)) for key in choices):
            return name
    return None


def _chosen(node: Node, value: Any) -> bool:
    return isinstance(node, Enum) and isinstance(value, str) and value in node.values


def _resolve(node: Node, value: Any) -> Node:
    """The concrete node a (valid) value of a union is validated as."""
    if isinstance(node, Tagged) and isinstance(value, dict):
        name = _tagged_model(node, value)
        assert name is not None, value
        return Ref(model=name)
    if isinstance(node, Tagged):
        return Enum(node.strings)
    if isinstance(node, AnyOf):
        for option in node.options:
            if _json_type(value) in _accepted(option):
                return _resolve(option, value)
    return node


def _accepted(node: Node) -> frozenset[str]:
    """The JSON types a node takes (a string of the wrong value is still an accepted type here)."""
    if isinstance(node, Str | Pattern | Enum):
        return frozenset({"string"})
    if isinstance(node, Int):
        return frozenset({"integer"})
    if isinstance(node, Num):
        return frozenset({"integer", "number"})
    if isinstance(node, Bool):
        return frozenset({"boolean"})
    if isinstance(node, Arr):
        return frozenset({"array"})
    if isinstance(node, Map | Json | Ref):
        return frozenset({"object"})
    if isinstance(node, Tagged):
        return frozenset({"object", "string"} if node.strings else {"object"})
    if isinstance(node, AnyOf):
        return frozenset().union(*(_accepted(option) for option in node.options))
    raise TypeError(node)  # pragma: no cover


def canonical(body: dict[str, Any]) -> dict[str, Any]:
    """A valid body as the server should read it: explicit nulls on non-nullable fields dropped."""
    result = _canonical(Ref(model="Body"), body)
    assert isinstance(result, dict)
    return result


def _canonical(node: Node, value: Any) -> Any:
    if value is None:
        return None
    node = _resolve(node, value)
    if isinstance(node, Ref):
        model = MODELS[node.model]
        return {
            key: _canonical(model.fields[key], item)
            for key, item in value.items()
            if item is not None or key in model.nullable
        }
    if isinstance(node, Arr):
        return [_canonical(node.item, item) for item in value]
    if isinstance(node, Map):
        return {key: _canonical(node.value, item) for key, item in value.items()}
    return value


def format_param(path: Path) -> str:
    """``("session", "tools", 0, "name")`` -> ``session.tools[0].name``, as OpenAI writes it."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else part
    return out


# --- invalid bodies -------------------------------------------------------------------------------------


_FAULT_KINDS = (
    "wrong_type",
    "range",
    "bad_enum",
    "missing",
    "unknown",
    "no_server",
    "empty_array",
    "pattern",
    "too_long",
    "base64",
    "too_many",
    "key_too_long",
)


class InvalidBody(tuple[dict[str, Any], str, str]):
    """``(body, code, param)``; ``message`` is the exact message expected, or ``None`` when the
    wording is not pinned (type errors on union-typed fields: only code and param are)."""

    message: str | None
    description: str

    def __new__(cls, body: dict[str, Any], code: str, param: str, message: str | None, description: str) -> InvalidBody:
        self = super().__new__(cls, (body, code, param))
        self.message = message
        self.description = description
        return self

    def __repr__(self) -> str:
        body, code, param = self
        return f"InvalidBody({body!r}, {code!r}, {param!r}, {self.message!r}, {self.description!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def _quote(value: object) -> str:
    return f"'{value}'"


def _oxford(values: tuple[str, ...], conjunction: str) -> str:
    items = [_quote(v) for v in values]
    if len(items) <= 1:
        return "".join(items)
    if len(items) == 2:
        return f"{items[0]} {conjunction} {items[1]}"
    return ", ".join(items[:-1]) + f", {conjunction} {items[-1]}"


def _bound(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


_GOT = {
    "string": "a string",
    "integer": "an integer",
    "number": "a decimal number",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
}


def _expected_type(node: Node) -> str | None:
    """How the message names the type a (non-union) node expects; ``None`` for unions."""
    if isinstance(node, Str | Pattern):
        return "a string"
    if isinstance(node, Int):
        return "an integer"
    if isinstance(node, Num):
        return "a number"
    if isinstance(node, Bool):
        return "a boolean"
    if isinstance(node, Arr):
        return "an array"
    if isinstance(node, Map | Json | Ref):
        return "an object"
    if isinstance(node, Enum):
        return _quote(node.values[0]) if len(node.values) == 1 else "one of " + _oxford(node.values, "or")
    return None


def _values_of_type(kind: str) -> st.SearchStrategy[Any]:
    small = arbitrary_json(4)
    return {
        "string": TEXT,
        "integer": st.integers(-(10**6), 10**6),
        # A float with a fraction: 5.0 for an integer field is a question of taste, not fuzzed here.
        "number": st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
        "boolean": st.booleans(),
        "array": st.lists(small, max_size=2),
        "object": st.dictionaries(KEYS, small, max_size=2),
    }[kind]


def _wrong_types(node: Node) -> list[str]:
    accepted = _accepted(node)
    return [kind for kind in _GOT if kind not in accepted]


@dataclass(frozen=True)
class _Site:
    """One place a single fault can be put, and how."""

    kind: str
    path: Path
    node: Node | None = None
    #: For enum faults: the values the message lists as supported.
    allowed: tuple[str, ...] = ()
    #: For unknown keys: the model's own fields (not usable as unknown keys).
    known: frozenset[str] = frozenset()


def _model_sites(name: str, value: dict[str, Any], path: Path, tags: tuple[str, ...] = ()) -> Iterator[_Site]:
    model = MODELS[name]
    yield _Site("unknown", path, known=frozenset(model.fields))
    for key in model.required:
        yield _Site("missing", (*path, key))
    if model.one_of_required:
        yield _Site("no_server", path, allowed=model.one_of_required)
    for key, node in model.fields.items():
        child = (*path, key)
        if model.tagged and key == "type":
            # The tag: its faults are reported against the union's tags.
            union_tag = Enum(tags)
            yield _Site("wrong_type", child, union_tag)
            yield _Site("bad_enum", child, union_tag, allowed=tags)
            continue
        if key in model.choices:
            # Like the tag: reported against every value that chooses a model.
            choice = Enum(model.choices[key])
            yield _Site("wrong_type", child, choice)
            yield _Site("bad_enum", child, choice, allowed=choice.values)
            continue
        yield from _field_sites(node, child)
        item = value.get(key)
        if item is not None:
            yield from _value_sites(node, item, child)


def _field_sites(node: Node, path: Path) -> Iterator[_Site]:
    """Faults that replace (or set, when absent) the field at ``path`` as a whole."""
    if _wrong_types(node):
        yield _Site("wrong_type", path, node)
    for option in node.options if isinstance(node, AnyOf) else (node,):
        if isinstance(option, Int | Num) and (option.lo is not None or option.hi is not None):
            yield _Site("range", path, option)
        if isinstance(option, Enum):
            yield _Site("bad_enum", path, option, allowed=option.values)
    if isinstance(node, Tagged) and node.strings:
        yield _Site("bad_enum", path, Enum(node.strings), allowed=node.strings)
    if isinstance(node, Arr) and node.min_len:
        yield _Site("empty_array", path, node)
    if isinstance(node, Pattern):
        yield _Site("pattern", path, node)
    if isinstance(node, Str) and node.max_len is not None:
        yield _Site("too_long", path, node)
    if isinstance(node, Base64):
        yield _Site("base64", path, node)
    if isinstance(node, Map) and node.max_pairs is not None:
        yield _Site("too_many", path, node)
    if isinstance(node, Map) and node.key_max_len is not None:
        yield _Site("key_too_long", path, node)


def _value_sites(node: Node, value: Any, path: Path) -> Iterator[_Site]:
    """Faults inside a present (valid) value."""
    if isinstance(node, AnyOf):
        node = next(option for option in node.options if _json_type(value) in _accepted(option))
    tags = node.tags if isinstance(node, Tagged) else ()
    node = _resolve(node, value)
    if isinstance(node, Ref):
        yield from _model_sites(node.model, value, path, tags)
    elif isinstance(node, Arr):
        for index, item in enumerate(value):
            yield from _field_sites(node.item, (*path, index))
            yield from _value_sites(node.item, item, (*path, index))
    elif isinstance(node, Map):
        for key, item in value.items():
            yield from _field_sites(node.value, (*path, key))
            yield from _value_sites(node.value, item, (*path, key))


def _parent(body: dict[str, Any], path: Path) -> Any:
    target: Any = body
    for part in path[:-1]:
        target = target[part]
    return target


def _apply(draw: Draw, body: dict[str, Any], site: _Site, unknown_keys: st.SearchStrategy[str] | None) -> InvalidBody:
    mutated = copy.deepcopy(body)
    param = format_param(site.path)
    if site.kind == "unknown":
        known = site.known
        keys = unknown_keys if unknown_keys is not None else st.one_of(KEYS, st.sampled_from(ALL_FIELD_NAMES))
        key = draw(keys.filter(lambda k: k not in known))
        target = mutated
        for part in site.path:
            target = target[part]
        # A null would count as omitted: the unknown key carries a value.
        target[key] = draw(arbitrary_json(4).filter(lambda v: v is not None))
        param = format_param((*site.path, key))
        return InvalidBody(mutated, "unknown_parameter", param, f"Unknown parameter: '{param}'.", "unknown key")
    if site.kind in ("missing", "no_server"):
        keys = site.allowed if site.kind == "no_server" else (site.path[-1],)
        target = mutated
        for part in site.path if site.kind == "no_server" else site.path[:-1]:
            target = target[part]
        as_null = draw(st.booleans())
        for key in keys:
            if as_null:
                target[key] = None
            else:
                target.pop(key, None)
        if site.kind == "no_server":
            param = format_param((*site.path, "server_url"))
        message = f"Missing required parameter: '{param}'."
        how = "set to null" if as_null else "removed"
        return InvalidBody(mutated, "missing_required_parameter", param, message, f"required key {how}")
    assert site.node is not None
    parent = _parent(mutated, site.path)
    key = site.path[-1]
    if site.kind == "wrong_type":
        kind = draw(st.sampled_from(_wrong_types(site.node)))
        value = draw(_values_of_type(kind))
        parent[key] = value
        expected = _expected_type(site.node)
        message = None
        if expected is not None:
            message = f"Invalid type for '{param}': expected {expected}, but got {_GOT[kind]} instead."
        return InvalidBody(mutated, "invalid_type", param, message, f"{kind} for {type(site.node).__name__}")
    if site.kind == "range":
        node = site.node
        assert isinstance(node, Int | Num)
        directions = [d for d, bound in (("below", node.lo), ("above", node.hi)) if bound is not None]
        direction = draw(st.sampled_from(directions))
        value = draw(_out_of_range(node, direction))
        parent[key] = value
        kind = "integer" if isinstance(node, Int) else "decimal"
        bound = node.lo if direction == "below" else node.hi
        assert bound is not None
        sign, word = (">=", "minimum") if direction == "below" else ("<=", "maximum")
        message = (
            f"Invalid '{param}': {kind} {direction} {word} value. "
            f"Expected a value {sign} {_bound(bound)}, but got {value} instead."
        )
        return InvalidBody(
            mutated,
            f"{kind}_{direction}_{'min' if direction == 'below' else 'max'}_value",
            param,
            message,
            f"{kind} {direction} range",
        )
    if site.kind == "bad_enum":
        allowed = site.allowed
        value = draw(
            st.one_of(TEXT, st.sampled_from(("", "AUTO", "none ", "pcm16"))).filter(lambda v: v not in allowed)
        )
        parent[key] = value
        message = f"Invalid value: '{value}'. Supported values are: {_oxford(allowed, 'and')}."
        return InvalidBody(mutated, "invalid_value", param, message, "unsupported enum value")
    if site.kind == "empty_array":
        parent[key] = []
        message = (
            f"Invalid '{param}': empty array. Expected an array with minimum length 1, but got an empty array instead."
        )
        return InvalidBody(mutated, "empty_array", param, message, "empty array")
    if site.kind == "pattern":
        node = site.node
        assert isinstance(node, Pattern)
        regex = re.compile(node.regex.removeprefix("^").removesuffix("$"))
        value = draw(
            st.one_of(TEXT, st.from_regex(r"\Atunnel_[a-zA-Z0-9]{30,34}\Z")).filter(lambda v: not regex.fullmatch(v))
        )
        parent[key] = value
        message = (
            f"Invalid '{param}': string does not match pattern. "
            f"Expected a string that matches the pattern '{node.regex}'."
        )
        return InvalidBody(mutated, "invalid_value", param, message, "pattern mismatch")
    return _apply_limit(draw, mutated, parent, key, site, param)


_BASE64_DATA = st.binary(max_size=30).map(lambda data: base64.b64encode(data).decode())
#: Characters that are not in the base64 alphabet (``=`` is left out: Python tolerates a few stray ones).
_NOT_BASE64 = st.sampled_from(("!", "*", "-", "_", " ", ".", "\n", "\t", "\u00e9", "\u4e2d", "\x00"))


@st.composite
def _not_base64(draw: Draw) -> str:
    """Text that is not standard, padded base64: a foreign character, a length of 4n+1, or missing padding."""
    data = draw(_BASE64_DATA)
    how = draw(st.sampled_from(("foreign", "length", "padding")))
    if how == "foreign":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(_NOT_BASE64) + data[at:]
    if how == "length":
        return _length_fault(data)
    tail = base64.b64encode(draw(st.binary(min_size=1, max_size=2))).decode().rstrip("=")
    return data + tail


def _length_fault(data: str) -> str:
    """Base64 data with one character more than a multiple of four (no padding can fix that)."""
    stripped = data.rstrip("=")
    return stripped + "A" * ((1 - len(stripped)) % 4)


#: Characters a too-long string is made of (any printable text; lengths count code points).
_LONG_TEXT = st.text(st.characters(exclude_categories=("Cc", "Cs", "Co", "Cn")), min_size=1, max_size=4)


def _long_string(draw: Draw, length: int) -> str:
    unit = draw(_LONG_TEXT)
    return (unit * length)[:length]


def _apply_limit(
    draw: Draw, mutated: dict[str, Any], parent: Any, key: str | int, site: _Site, param: str
) -> InvalidBody:
    """The faults of length, count and encoding limits (set on ``parent[key]``)."""
    node = site.node
    if site.kind == "too_long":
        assert isinstance(node, Str)
        assert node.max_len is not None
        value = _long_string(draw, draw(st.integers(node.max_len + 1, node.max_len + 40)))
        parent[key] = value
        message = (
            f"Invalid '{param}': string too long. Expected a string with maximum length {node.max_len}, "
            f"but got a string with length {len(value)} instead."
        )
        return InvalidBody(mutated, "string_above_max_length", param, message, "string too long")
    if site.kind == "base64":
        parent[key] = draw(_not_base64())
        message = (
            f"Invalid '{param}'. Expected base64-encoded audio bytes (mono PCM16 at 24kHz) but got an invalid value."
        )
        return InvalidBody(mutated, "invalid_value", param, message, "not base64")
    if site.kind == "too_many":
        assert isinstance(node, Map)
        assert node.max_pairs is not None
        count = draw(st.integers(node.max_pairs + 1, node.max_pairs + 4))
        parent[key] = {f"key{index}": "value" for index in range(count)}
        message = (
            f"Invalid '{param}': too many properties. Expected an object with at most {node.max_pairs} "
            f"properties, but got an object with {count} properties instead."
        )
        return InvalidBody(mutated, "object_above_max_properties", param, message, "too many pairs")
    if site.kind == "key_too_long":
        assert isinstance(node, Map)
        assert node.key_max_len is not None
        long_key = _long_string(draw, draw(st.integers(node.key_max_len + 1, node.key_max_len + 20)))
        parent[key] = {long_key: "value"}
        message = (
            f"Invalid property name in '{param}': '{long_key}' is too long. Expected a string with maximum "
            f"length {node.key_max_len}, but got a string with length {len(long_key)} instead."
        )
        child = f"{param}.{long_key}"
        return InvalidBody(mutated, "string_above_max_length", child, message, "key too long")
    raise AssertionError(site.kind)  # pragma: no cover


def _out_of_range(node: Int | Num, direction: str) -> st.SearchStrategy[Any]:
    bound = node.lo if direction == "below" else node.hi
    assert bound is not None
    if isinstance(node, Int):
        return st.integers(max_value=int(bound) - 1) if direction == "below" else st.integers(min_value=int(bound) + 1)
    finite = {"allow_nan": False, "allow_infinity": False}
    if direction == "below":
        return st.one_of(
            st.floats(max_value=bound, exclude_max=True, **finite), st.integers(max_value=math.ceil(bound) - 1)
        )
    return st.one_of(
        st.floats(min_value=bound, exclude_min=True, **finite), st.integers(min_value=math.floor(bound) + 1)
    )


def invalid_bodies(
    kinds: tuple[str, ...] = _FAULT_KINDS, unknown_keys: st.SearchStrategy[str] | None = None
) -> st.SearchStrategy[InvalidBody]:
    """A valid body with exactly one fault: ``(body, expected_code, expected_param)``.

    The faults (``kinds``): ``wrong_type``, a value of a wrong JSON type; ``range``, a number out of
    its range; ``bad_enum``, an unsupported enum string; ``missing``, a required key removed (or set
    to null); ``unknown``, an unknown key in any object (named by ``unknown_keys``); ``no_server``, an
    MCP tool with none of its server keys; ``empty_array``, an empty array where one item is the
    minimum; ``pattern``, a ``tunnel_id`` off its pattern; and for schemas that have them, ``too_long``
    (a string over its maximum length), ``base64`` (audio that is not base64), ``too_many`` (a map with
    too many pairs) and ``key_too_long`` (a map key over its maximum length).
    """
    return invalid_objects("Body", valid_bodies(), kinds=kinds, unknown_keys=unknown_keys)


def register_models(models: dict[str, Model]) -> None:
    """Add another schema's models to the table (names must be new)."""
    clash = set(models) & set(MODELS)
    assert not clash, f"models already registered: {sorted(clash)}"
    MODELS.update(models)


def objects_of(name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Valid objects of the model ``name``."""
    return _model_values(name)


def invalid_objects(
    name: str,
    valid: st.SearchStrategy[dict[str, Any]],
    *,
    tags: tuple[str, ...] = (),
    kinds: tuple[str, ...] = _FAULT_KINDS,
    unknown_keys: st.SearchStrategy[str] | None = None,
) -> st.SearchStrategy[InvalidBody]:
    """A ``valid`` object of model ``name`` with exactly one fault (see :func:`invalid_bodies`).

    ``tags`` are the values the error lists when the object's own ``type`` is wrong (a ``tagged`` model).
    """

    @st.composite
    def build(draw: Draw) -> InvalidBody:
        value = draw(valid)
        sites = [site for site in _model_sites(name, value, (), tags) if site.kind in kinds]
        # Pick the kind of fault first, so that the many places an unknown key fits do not crowd out the rest.
        present = sorted({site.kind for site in sites}, key=_FAULT_KINDS.index)
        kind = draw(st.sampled_from(present))
        site = draw(st.sampled_from([site for site in sites if site.kind == kind]))
        return _apply(draw, value, site, unknown_keys)

    return build()


def json_bodies_with_a_random_subtree() -> st.SearchStrategy[dict[str, Any]]:
    """A valid body with one value (anywhere) replaced by arbitrary JSON, or one key added."""
    return with_a_random_subtree(valid_bodies(), st.one_of(KEYS, st.sampled_from(ALL_FIELD_NAMES)))


def with_a_random_subtree(
    objects: st.SearchStrategy[dict[str, Any]], keys: st.SearchStrategy[str]
) -> st.SearchStrategy[dict[str, Any]]:
    """An object of ``objects`` with one value (anywhere) replaced by arbitrary JSON, or one key (of ``keys``) added."""

    @st.composite
    def build(draw: Draw) -> dict[str, Any]:
        body = draw(objects)
        places: list[tuple[Any, Any]] = []

        def collect(value: Any) -> None:
            if isinstance(value, dict):
                for key, item in value.items():
                    places.append((value, key))
                    collect(item)
            elif isinstance(value, list):
                for index, item in enumerate(value):
                    places.append((value, index))
                    collect(item)

        collect(body)
        if not places or draw(st.booleans()):
            containers = [body, *(c[k] for c, k in places if isinstance(c[k], dict))]
            container = draw(st.sampled_from(containers))
            container[draw(keys)] = draw(arbitrary_json(8))
        else:
            container, key = draw(st.sampled_from(places))
            container[key] = draw(arbitrary_json(8))
        return body

    return build()


def described(value: Any) -> str:
    """How OpenAI names the JSON type of ``value`` in "but got ... instead"."""
    return "null" if value is None else _GOT[_json_type(value)]


# --- reading a body along the schema (for checking errors on arbitrary bodies) ---------------------------------


def _resolve_loose(node: Node, value: Any) -> Node | None:
    """Like ``_resolve``, for any value: ``None`` when the value picks no branch."""
    if isinstance(node, Tagged):
        if isinstance(value, dict) and isinstance(value.get("type"), str) and value["type"] in node.tags:
            name = _tagged_model(node, value)
            return Ref(model=name) if name is not None else None
        return Enum(node.strings) if isinstance(value, str) and node.strings else None
    if isinstance(node, AnyOf):
        matching = [option for option in node.options if _json_type(value) in _accepted(option)]
        return _resolve_loose(matching[0], value) if matching else None
    return node


def node_at(body: Any, path: Path) -> Node | None:
    """The schema node for the value at ``path`` in ``body``, when the body above it picks one."""
    node: Node = Ref(model="Body")
    value: Any = body
    for part in path:
        if isinstance(node, Tagged) and part == "type":
            node, value = Enum(node.tags), None
            continue
        resolved = _resolve_loose(node, value)
        if isinstance(resolved, Ref) and isinstance(part, str) and part in MODELS[resolved.model].fields:
            node = MODELS[resolved.model].fields[part]
        elif isinstance(resolved, Arr) and isinstance(part, int):
            node = resolved.item
        elif isinstance(resolved, Map) and isinstance(part, str):
            node = resolved.value
        else:
            return None
        value = value.get(part) if isinstance(value, dict) else value[part] if isinstance(value, list) else None
    return node


def known_field(body: Any, path: Path) -> bool | None:
    """Whether the key at the end of ``path`` is one its object takes (``None``: cannot tell)."""
    parent = node_at(body, path[:-1])
    value: Any = body
    for part in path[:-1]:
        value = value[part]
    resolved = _resolve_loose(parent, value) if parent is not None else None
    if isinstance(resolved, Ref):
        return path[-1] in MODELS[resolved.model].fields
    if isinstance(resolved, Map | Json):
        return True
    return None


def type_accepted(body: Any, path: Path, value: Any) -> bool | None:
    """Whether the schema takes ``value``'s JSON type at ``path`` (``None``: cannot tell)."""
    node = node_at(body, path)
    return None if node is None else _json_type(value) in _accepted(node)
