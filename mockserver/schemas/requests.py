"""Request models for ``POST /v1/realtime/client_secrets``, named after the OpenAPI components.

Fields are declared in the spec's order (the validator reports the first failure
in that order). Where the live server is stricter than the spec, the model
follows the live server (GROUND_TRUTH §2.4, §2.7) and says so in a comment.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints, model_validator

from ._base import (
    DecimalRange,
    IntRange,
    OneOf,
    RequestModel,
    TaggedUnion,
    choose_by_type,
    invalid_type,
    invalid_value,
    openai_error,
    range_check,
)

__all__ = [
    "AUDIO_FORMAT_TYPES",
    "NOISE_REDUCTION_TYPES",
    "REALTIME_MODELS",
    "TRANSCRIPTION_MODELS",
    "VOICES",
    "AudioTranscription",
    "ExpiresAfter",
    "MCPTool",
    "MaxOutputTokens",
    "OutputModalities",
    "Prompt",
    "RealtimeAudioFormats",
    "RealtimeCreateClientSecretRequest",
    "RealtimeFunctionTool",
    "RealtimeReasoning",
    "RealtimeSessionCreateRequestGA",
    "RealtimeTool",
    "RealtimeTranscriptionSessionCreateRequestGA",
    "SemanticVad",
    "ServerVad",
    "SessionRequest",
    "ToolChoice",
    "Voice",
]

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
AUDIO_FORMAT_TYPES = ("audio/pcm", "audio/pcmu", "audio/pcma")
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

# Lists stop at their first bad item (fail_fast): only one error is reported anyway, and a body of
# a million bad items must not cost a million error objects.

# ``model`` fields are "anyOf string | enum": any string is valid.
ModelName = str
JsonObject = dict[str, Any]


# --- expires_after ------------------------------------------------------------------------------


class ExpiresAfter(RequestModel):
    anchor: Annotated[str, OneOf("created_at")] = "created_at"
    seconds: Annotated[int, IntRange(10, 7200)] = 600


# --- audio ----------------------------------------------------------------------------------------


class AudioPCM(RequestModel):
    type: Annotated[str, OneOf("audio/pcm")]
    # The spec makes ``rate`` optional; the live server requires it and accepts only 24000,
    # reporting 16000 as "integer below minimum value" (GROUND_TRUTH §2.4).
    rate: Annotated[int, IntRange(24000, 24000)]


class AudioPCMU(RequestModel):
    type: Annotated[str, OneOf("audio/pcmu")]


class AudioPCMA(RequestModel):
    type: Annotated[str, OneOf("audio/pcma")]


# A bare string such as "pcm16" is rejected as a wrong type, as the live server does.
RealtimeAudioFormats = Annotated[
    AudioPCM | AudioPCMU | AudioPCMA,
    TaggedUnion(choose_by_type({"audio/pcm": AudioPCM, "audio/pcmu": AudioPCMU, "audio/pcma": AudioPCMA})),
]


class AudioTranscription(RequestModel):
    model: ModelName | None = None
    language: str | None = None
    languages: Annotated[list[str], Field(min_length=1, fail_fast=True)] | None = None
    keywords: Annotated[list[str], Field(fail_fast=True)] | None = None
    prompt: str | None = None
    delay: Annotated[str, OneOf(*EFFORTS)] | None = None


NOISE_REDUCTION_TYPES = ("near_field", "far_field")


class NoiseReduction(RequestModel):
    type: Annotated[str, OneOf(*NOISE_REDUCTION_TYPES)] | None = None
    # Not in the August 2026 spec; the current SDKs send it: "Input noise suppression strength ...
    # Defaults to 1 when noise reduction is first enabled" (0..1, as a strength of 1 is "full").
    strength: Annotated[float, DecimalRange(0, 1)] | None = None


class ServerVad(RequestModel):
    _nullable = frozenset({"idle_timeout_ms"})

    type: Annotated[str, OneOf("server_vad")]
    threshold: Annotated[float, DecimalRange(0, 1)] | None = None
    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None
    create_response: bool | None = None
    interrupt_response: bool | None = None
    idle_timeout_ms: Annotated[int, IntRange(5000, 30000)] | None = None


class SemanticVad(RequestModel):
    type: Annotated[str, OneOf("semantic_vad")]
    eagerness: Annotated[str, OneOf("low", "medium", "high", "auto")] | None = None
    create_response: bool | None = None
    interrupt_response: bool | None = None


RealtimeTurnDetection = Annotated[
    ServerVad | SemanticVad,
    TaggedUnion(choose_by_type({"server_vad": ServerVad, "semantic_vad": SemanticVad})),
]


class RealtimeAudioInput(RequestModel):
    _nullable = frozenset({"transcription", "noise_reduction", "turn_detection"})

    format: RealtimeAudioFormats | None = None
    transcription: AudioTranscription | None = None
    noise_reduction: NoiseReduction | None = None
    turn_detection: RealtimeTurnDetection | None = None


class VoiceId(RequestModel):
    id: str


def _choose_voice(value: Any) -> Any:
    if isinstance(value, str):
        return str
    if isinstance(value, dict):
        return VoiceId
    return invalid_type("a string or an object", value)


#: A built-in voice's name (any string) or a custom voice ``{"id": ...}``.
Voice = Annotated[str | VoiceId, TaggedUnion(_choose_voice)]


class RealtimeAudioOutput(RequestModel):
    format: RealtimeAudioFormats | None = None
    voice: Voice | None = None
    speed: Annotated[float, DecimalRange(0.25, 1.5)] | None = None


class RealtimeAudio(RequestModel):
    input: RealtimeAudioInput | None = None
    output: RealtimeAudioOutput | None = None


class TranscriptionAudio(RequestModel):
    input: RealtimeAudioInput | None = None


# --- tracing --------------------------------------------------------------------------------------


class TracingConfiguration(RequestModel):
    workflow_name: str | None = None
    group_id: str | None = None
    metadata: JsonObject | None = None


def _choose_tracing(value: Any) -> Any:
    if isinstance(value, str):
        return str if value == "auto" else invalid_value(value, ("auto",))
    if isinstance(value, dict):
        return TracingConfiguration
    return invalid_type("'auto' or an object", value)


Tracing = Annotated[str | TracingConfiguration, TaggedUnion(_choose_tracing)]


# --- tools ----------------------------------------------------------------------------------------


class RealtimeFunctionTool(RequestModel):
    type: Annotated[str, OneOf("function")]
    # The spec lists no required keys; the live server requires ``name`` (GROUND_TRUTH §2.7).
    name: str
    description: str | None = None
    parameters: JsonObject | None = None


class MCPToolFilter(RequestModel):
    tool_names: Annotated[list[str], Field(fail_fast=True)] | None = None
    read_only: bool | None = None


def _choose_allowed_tools(value: Any) -> Any:
    if isinstance(value, list):
        return list[str]
    if isinstance(value, dict):
        return MCPToolFilter
    return invalid_type("an array of strings or an object", value)


class MCPToolApprovalFilter(RequestModel):
    always: MCPToolFilter | None = None
    never: MCPToolFilter | None = None


def _choose_require_approval(value: Any) -> Any:
    if isinstance(value, str):
        return str if value in ("always", "never") else invalid_value(value, ("always", "never"))
    if isinstance(value, dict):
        return MCPToolApprovalFilter
    return invalid_type("one of 'always' or 'never', or an object", value)


class MCPTool(RequestModel):
    _nullable = frozenset({"headers", "allowed_tools", "allowed_callers", "require_approval"})

    type: Annotated[str, OneOf("mcp")]
    server_label: str
    server_url: str | None = None
    connector_id: Annotated[str, OneOf(*CONNECTORS)] | None = None
    tunnel_id: Annotated[str, StringConstraints(pattern=r"^tunnel_[a-z0-9]{32}$")] | None = None
    authorization: str | None = None
    server_description: str | None = None
    headers: dict[str, str] | None = None
    allowed_tools: Annotated[list[str] | MCPToolFilter, TaggedUnion(_choose_allowed_tools)] | None = None
    allowed_callers: (
        Annotated[list[Annotated[str, OneOf("direct", "programmatic")]], Field(min_length=1, fail_fast=True)] | None
    ) = None
    require_approval: Annotated[str | MCPToolApprovalFilter, TaggedUnion(_choose_require_approval)] | None = None
    defer_loading: bool | None = None

    @model_validator(mode="after")
    def _needs_a_server(self) -> MCPTool:
        # "One of `server_url`, `connector_id`, or `tunnel_id` must be provided" (spec).
        if self.server_url is None and self.connector_id is None and self.tunnel_id is None:
            raise openai_error(
                "missing_required_parameter", "Missing required parameter: '{param}'.", subpath=".server_url"
            )
        return self


RealtimeTool = Annotated[
    RealtimeFunctionTool | MCPTool,
    TaggedUnion(choose_by_type({"function": RealtimeFunctionTool, "mcp": MCPTool})),
]


class ToolChoiceFunction(RequestModel):
    type: Annotated[str, OneOf("function")]
    name: str


class ToolChoiceMCP(RequestModel):
    _nullable = frozenset({"name"})

    type: Annotated[str, OneOf("mcp")]
    server_label: str
    name: str | None = None


ToolChoice = Annotated[
    str | ToolChoiceFunction | ToolChoiceMCP,
    TaggedUnion(
        choose_by_type(
            {"function": ToolChoiceFunction, "mcp": ToolChoiceMCP},
            strings=("none", "auto", "required"),
            expected="a string or an object",
        )
    ),
]


# --- the rest of a realtime session ---------------------------------------------------------------


class RealtimeReasoning(RequestModel):
    effort: Annotated[str, OneOf(*EFFORTS)] | None = None


_token_range = range_check("integer", 1, 4096)  # "Provide an integer between 1 and 4096" (spec description)


def _check_max_output_tokens(value: Any) -> Any:
    if isinstance(value, str):
        if value != "inf":
            raise invalid_value(value, ("inf",))
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_type("an integer or 'inf'", value)
    return _token_range(value)


MaxOutputTokens = Annotated[int | str, BeforeValidator(_check_max_output_tokens)]


class TokenLimits(RequestModel):
    post_instructions: Annotated[int, IntRange(0)] | None = None


class RetentionRatioTruncation(RequestModel):
    type: Annotated[str, OneOf("retention_ratio")]
    retention_ratio: Annotated[float, DecimalRange(0, 1)]
    token_limits: TokenLimits | None = None


RealtimeTruncation = Annotated[
    str | RetentionRatioTruncation,
    TaggedUnion(
        choose_by_type(
            {"retention_ratio": RetentionRatioTruncation},
            strings=("auto", "disabled"),
            expected="a string or an object",
        )
    ),
]


class PromptCacheBreakpoint(RequestModel):
    mode: Annotated[str, OneOf("explicit")]
    # "The minimum lifetime of this cache breakpoint. Defaults to the request TTL." (SDK 3.57)
    ttl: Annotated[str, OneOf("30m", "12h")] | None = None


class InputTextContent(RequestModel):
    type: Annotated[str, OneOf("input_text")]
    text: str
    prompt_cache_breakpoint: PromptCacheBreakpoint | None = None


class InputImageContent(RequestModel):
    _nullable = frozenset({"image_url", "file_id"})

    type: Annotated[str, OneOf("input_image")]
    image_url: str | None = None
    file_id: str | None = None
    detail: Annotated[str, OneOf("low", "high", "auto", "original")]
    prompt_cache_breakpoint: PromptCacheBreakpoint | None = None


class InputFileContent(RequestModel):
    _nullable = frozenset({"file_id"})

    type: Annotated[str, OneOf("input_file")]
    file_id: str | None = None
    filename: str | None = None
    file_data: str | None = None
    prompt_cache_breakpoint: PromptCacheBreakpoint | None = None
    file_url: str | None = None
    detail: Annotated[str, OneOf("auto", "low", "high")] | None = None


_choose_content = choose_by_type(
    {"input_text": InputTextContent, "input_image": InputImageContent, "input_file": InputFileContent},
    expected="a string or an object",
)


def _choose_prompt_variable(value: Any) -> Any:
    return str if isinstance(value, str) else _choose_content(value)


PromptVariable = Annotated[
    str | InputTextContent | InputImageContent | InputFileContent, TaggedUnion(_choose_prompt_variable)
]


class Prompt(RequestModel):
    _nullable = frozenset({"version", "variables"})

    id: str
    version: str | None = None
    variables: dict[str, PromptVariable] | None = None


OutputModalities = Annotated[list[Annotated[str, OneOf("text", "audio")]], Field(fail_fast=True)]


class RealtimeSessionCreateRequestGA(RequestModel):
    _nullable = frozenset({"tracing", "prompt"})

    type: Annotated[str, OneOf("realtime")]
    output_modalities: OutputModalities | None = None
    model: ModelName | None = None
    instructions: str | None = None
    audio: RealtimeAudio | None = None
    include: Annotated[list[Annotated[str, OneOf(LOGPROBS)]], Field(fail_fast=True)] | None = None
    tracing: Tracing | None = None
    tools: Annotated[list[RealtimeTool], Field(fail_fast=True)] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    reasoning: RealtimeReasoning | None = None
    max_output_tokens: MaxOutputTokens | None = None
    truncation: RealtimeTruncation | None = None
    prompt: Prompt | None = None


class RealtimeTranscriptionSessionCreateRequestGA(RequestModel):
    type: Annotated[str, OneOf("transcription")]
    audio: TranscriptionAudio | None = None
    include: Annotated[list[Annotated[str, OneOf(LOGPROBS)]], Field(fail_fast=True)] | None = None


SessionRequest = Annotated[
    RealtimeSessionCreateRequestGA | RealtimeTranscriptionSessionCreateRequestGA,
    TaggedUnion(
        choose_by_type(
            {
                "realtime": RealtimeSessionCreateRequestGA,
                "transcription": RealtimeTranscriptionSessionCreateRequestGA,
            }
        )
    ),
]


class RealtimeCreateClientSecretRequest(RequestModel):
    expires_after: ExpiresAfter | None = None
    session: SessionRequest | None = None
