"""Conversation items a client sends: ``conversation.item.create``'s ``item`` and ``response.create``'s ``input``.

Models of the spec's ``RealtimeConversationItem*`` and ``RealtimeMCP*`` components (and the SDK's
``ResponseItemReference``), built like the mint's request models: one error, OpenAI's wording, a dotted
``param``. An item's branch is chosen by ``type`` and, for a message, by ``role``; each role takes only
its own content part types (system: ``input_text``; user: ``input_text``, ``input_audio``,
``input_image``; assistant: ``output_text``, ``output_audio``), each part only its own fields.
Where the spec names no required field (content parts), only ``type`` is required.
"""

from __future__ import annotations

import binascii
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from ..errors import oxford_list
from ..schemas._base import (
    MaxLength,
    OneOf,
    RequestModel,
    TaggedUnion,
    choose_by_type,
    invalid_type,
    invalid_value,
    openai_error,
)

__all__ = [
    "INPUT_ITEM_TYPES",
    "ITEM_ID_MAX_LENGTH",
    "ITEM_TYPES",
    "MESSAGE_ROLES",
    "AssistantMessageItem",
    "ConversationItem",
    "FunctionCallItem",
    "FunctionCallOutputItem",
    "InputAudioPart",
    "InputImagePart",
    "InputTextPart",
    "MCPApprovalRequestItem",
    "MCPApprovalResponseItem",
    "MCPListToolsItem",
    "MCPToolCallItem",
    "OutputAudioPart",
    "OutputTextPart",
    "ResponseInputItem",
    "ResponseItemReference",
    "SystemMessageItem",
    "UserMessageItem",
    "decode_audio",
    "invalid_audio_message",
]

#: Item types ``conversation.item.create`` takes, in the spec's order (``RealtimeConversationItem``).
ITEM_TYPES = (
    "message",
    "function_call",
    "function_call_output",
    "mcp_approval_response",
    "mcp_list_tools",
    "mcp_call",
    "mcp_approval_request",
)
#: ``response.create``'s ``input`` also takes references to existing items.
INPUT_ITEM_TYPES = (*ITEM_TYPES, "item_reference")
#: Roles in the order of the spec's enum (``RealtimeConversationItemWithReference.role``).
MESSAGE_ROLES = ("user", "assistant", "system")
#: Observed live (2026-08): "Invalid 'item.id': string too long. Expected a string with maximum length 32, ...".
ITEM_ID_MAX_LENGTH = 32

ItemId = Annotated[str, MaxLength(ITEM_ID_MAX_LENGTH)]
ItemObject = Annotated[str, OneOf("realtime.item")]
ItemStatus = Annotated[str, OneOf("completed", "incomplete", "in_progress")]
JsonObject = dict[str, Any]


# --- audio in items -----------------------------------------------------------------------------------


def decode_audio(value: str) -> bytes | None:
    """The bytes of standard, padded base64 text; ``None`` when it is not that."""
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError):  # ValueError: a character outside ASCII
        return None


def invalid_audio_message(param: str) -> str:
    """OpenAI's text for audio that is not base64 (observed for ``input_audio_buffer.append``)."""
    return f"Invalid '{param}'. Expected base64-encoded audio bytes (mono PCM16 at 24kHz) but got an invalid value."


def _check_audio(value: str) -> str:
    if decode_audio(value) is None:
        raise openai_error("invalid_value", invalid_audio_message("{param}"))
    return value


Base64Audio = Annotated[str, AfterValidator(_check_audio)]


# --- content parts ------------------------------------------------------------------------------------


class InputTextPart(RequestModel):
    type: Annotated[str, OneOf("input_text")]
    text: str | None = None


class InputAudioPart(RequestModel):
    type: Annotated[str, OneOf("input_audio")]
    audio: Base64Audio | None = None
    transcript: str | None = None


class InputImagePart(RequestModel):
    type: Annotated[str, OneOf("input_image")]
    image_url: str | None = None
    detail: Annotated[str, OneOf("auto", "low", "high")] | None = None


class OutputTextPart(RequestModel):
    type: Annotated[str, OneOf("output_text")]
    text: str | None = None


class OutputAudioPart(RequestModel):
    type: Annotated[str, OneOf("output_audio")]
    audio: Base64Audio | None = None
    transcript: str | None = None


SystemPart = Annotated[InputTextPart, TaggedUnion(choose_by_type({"input_text": InputTextPart}))]
UserPart = Annotated[
    InputTextPart | InputAudioPart | InputImagePart,
    TaggedUnion(
        choose_by_type({"input_text": InputTextPart, "input_audio": InputAudioPart, "input_image": InputImagePart})
    ),
]
AssistantPart = Annotated[
    OutputTextPart | OutputAudioPart,
    TaggedUnion(choose_by_type({"output_text": OutputTextPart, "output_audio": OutputAudioPart})),
]


# --- items --------------------------------------------------------------------------------------------


class _MessageItem(RequestModel):
    id: ItemId | None = None
    object: ItemObject | None = None
    type: Annotated[str, OneOf("message")]
    status: ItemStatus | None = None


class SystemMessageItem(_MessageItem):
    role: Annotated[str, OneOf("system")]
    content: Annotated[list[SystemPart], Field(fail_fast=True)]


class UserMessageItem(_MessageItem):
    role: Annotated[str, OneOf("user")]
    content: Annotated[list[UserPart], Field(fail_fast=True)]


class AssistantMessageItem(_MessageItem):
    role: Annotated[str, OneOf("assistant")]
    content: Annotated[list[AssistantPart], Field(fail_fast=True)]


class FunctionCallItem(RequestModel):
    id: ItemId | None = None
    object: ItemObject | None = None
    type: Annotated[str, OneOf("function_call")]
    status: ItemStatus | None = None
    call_id: str | None = None
    name: str
    arguments: str


class FunctionCallOutputItem(RequestModel):
    id: ItemId | None = None
    object: ItemObject | None = None
    type: Annotated[str, OneOf("function_call_output")]
    status: ItemStatus | None = None
    call_id: str
    output: str


class MCPApprovalResponseItem(RequestModel):
    _nullable = frozenset({"reason"})

    type: Annotated[str, OneOf("mcp_approval_response")]
    id: ItemId
    approval_request_id: str
    approve: bool
    reason: str | None = None


class MCPListToolsTool(RequestModel):
    _nullable = frozenset({"description", "annotations"})

    name: str
    description: str | None = None
    input_schema: JsonObject
    annotations: JsonObject | None = None


class MCPListToolsItem(RequestModel):
    type: Annotated[str, OneOf("mcp_list_tools")]
    id: ItemId | None = None
    server_label: str
    tools: Annotated[list[MCPListToolsTool], Field(fail_fast=True)]


class MCPProtocolError(RequestModel):
    type: Annotated[str, OneOf("protocol_error")]
    code: int
    message: str


class MCPToolExecutionError(RequestModel):
    type: Annotated[str, OneOf("tool_execution_error")]
    message: str


class MCPHTTPError(RequestModel):
    type: Annotated[str, OneOf("http_error")]
    code: int
    message: str


MCPCallError = Annotated[
    MCPProtocolError | MCPToolExecutionError | MCPHTTPError,
    TaggedUnion(
        choose_by_type(
            {
                "protocol_error": MCPProtocolError,
                "tool_execution_error": MCPToolExecutionError,
                "http_error": MCPHTTPError,
            }
        )
    ),
]


class MCPToolCallItem(RequestModel):
    _nullable = frozenset({"approval_request_id", "output", "error"})

    type: Annotated[str, OneOf("mcp_call")]
    id: ItemId
    server_label: str
    name: str
    arguments: str
    approval_request_id: str | None = None
    output: str | None = None
    error: MCPCallError | None = None


class MCPApprovalRequestItem(RequestModel):
    type: Annotated[str, OneOf("mcp_approval_request")]
    id: ItemId
    server_label: str
    name: str
    arguments: str


class ResponseItemReference(RequestModel):
    type: Annotated[str, OneOf("item_reference")]
    id: str


_MESSAGES = {"user": UserMessageItem, "assistant": AssistantMessageItem, "system": SystemMessageItem}
_ITEMS: dict[str, type[Any]] = {
    "message": _MessageItem,  # a placeholder: a message's model is chosen by its role
    "function_call": FunctionCallItem,
    "function_call_output": FunctionCallOutputItem,
    "mcp_approval_response": MCPApprovalResponseItem,
    "mcp_list_tools": MCPListToolsItem,
    "mcp_call": MCPToolCallItem,
    "mcp_approval_request": MCPApprovalRequestItem,
}


def _item_chooser(kinds: dict[str, type[Any]]) -> Any:
    by_type = choose_by_type(kinds)

    def choose(value: Any) -> Any:
        choice = by_type(value)
        if choice is not _MessageItem:
            return choice
        role = value.get("role")
        if role is None:
            return openai_error("missing_required_parameter", "Missing required parameter: '{param}'.", ".role")
        if not isinstance(role, str):
            return invalid_type("one of " + oxford_list(MESSAGE_ROLES, "or"), role, ".role")
        if role not in _MESSAGES:
            return invalid_value(role, MESSAGE_ROLES, ".role")
        return _MESSAGES[role]

    return choose


_AnyItem = (
    SystemMessageItem
    | UserMessageItem
    | AssistantMessageItem
    | FunctionCallItem
    | FunctionCallOutputItem
    | MCPApprovalResponseItem
    | MCPListToolsItem
    | MCPToolCallItem
    | MCPApprovalRequestItem
)

#: ``conversation.item.create``'s ``item``.
ConversationItem = Annotated[_AnyItem, TaggedUnion(_item_chooser(_ITEMS))]
#: An item of ``response.create``'s ``input``: an item, or a reference to one.
ResponseInputItem = Annotated[
    _AnyItem | ResponseItemReference,
    TaggedUnion(_item_chooser({**_ITEMS, "item_reference": ResponseItemReference})),
]
