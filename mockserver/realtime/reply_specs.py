"""Reply rules and transcripts as clients send them (``POST /__mock/replies``, ``/__mock/transcripts``,
a scenario's ``replies`` and ``transcripts``), validated with OpenAI's error messages.

Apart from ``replies.py`` (which keeps and matches them, and is part of every server's state) so that
these models are built only when a script is first posted or a scenario loaded.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field, model_validator

from ..schemas._base import IntRange, RequestModel, invalid_type, openai_error

__all__ = ["NonEmptyString", "ReplyMatch", "ReplyRuleSpec", "ToolCallSpec", "TranscriptsSpec"]


def _non_empty(value: Any) -> Any:
    if value == "":
        raise openai_error(
            "empty_string",
            "Invalid '{param}': empty string. Expected a string with minimum length 1, but got an empty string "
            "instead.",
        )
    return value


def _arguments(value: Any) -> Any:
    """An object, or a string holding a JSON object (production streams arguments as such a string)."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        raise invalid_type("an object or a string of JSON", value)
    try:
        parsed = json.loads(value)
    except ValueError:
        raise openai_error(
            "invalid_value", "Invalid value for '{param}': the string is not valid JSON. Expected a JSON object."
        ) from None
    if not isinstance(parsed, dict):
        raise openai_error(
            "invalid_value",
            "Invalid value for '{param}': the string is JSON but not an object. Expected a JSON object.",
        )
    return value


NonEmptyString = Annotated[str, BeforeValidator(_non_empty)]


class ReplyMatch(RequestModel):
    """When a rule applies; every key given must hold (none given: every response)."""

    user_text: NonEmptyString | None = Field(
        None, description="Case-insensitive substring of the latest user message (typed, or transcribed audio)."
    )
    tool_output: NonEmptyString | None = Field(
        None, description="The function whose `function_call_output` is the latest item."
    )


class ToolCallSpec(RequestModel):
    """One function call of a reply."""

    name: NonEmptyString
    arguments: Annotated[Any, BeforeValidator(_arguments)] = Field(default_factory=dict)


class ReplyRuleSpec(RequestModel):
    """A reply rule, as ``POST /__mock/replies`` takes it."""

    match: ReplyMatch | None = None
    text: NonEmptyString | None = None
    tool_calls: Annotated[list[ToolCallSpec], Field(min_length=1)] | None = None
    times: Annotated[int, IntRange(1)] | None = 1

    _nullable: ClassVar[frozenset[str]] = frozenset({"times"})

    @model_validator(mode="after")
    def _says_something(self) -> ReplyRuleSpec:
        if self.text is None and self.tool_calls is None:
            raise openai_error(
                "missing_required_parameter",
                "Missing required parameter: '{param}'. A reply rule needs 'text', 'tool_calls', or both.",
                subpath="text",
            )
        return self


class TranscriptsSpec(RequestModel):
    """``{"transcripts": [...]}``: what the user says in the next committed audio items, in order."""

    transcripts: Annotated[list[str], Field(min_length=1)]
