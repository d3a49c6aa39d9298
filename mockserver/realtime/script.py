"""What a script gives a session's engine: the reply :class:`Plan` for a :class:`ReplyContext`, and transcripts.

Apart from the engine so that the scripts' keeper (``replies.py``, part of every server's state) and the
mint path never import the conversation engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import OpenAIError

__all__ = ["NoScript", "Plan", "ReplyContext", "Script", "ScriptError", "ToolCall"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    #: The arguments as the JSON string production streams.
    arguments: str
    call_id: str = ""


@dataclass(frozen=True, slots=True)
class Plan:
    """What a response says (``text``) and which functions it calls, in order."""

    text: str | None
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class ReplyContext:
    """What a reply rule can match on when a response is planned."""

    #: The latest user message in the response's context: typed text, or the transcript of spoken audio.
    user_text: str | None
    #: The name of the function whose ``function_call_output`` is the latest item of the context.
    tool_output: str | None
    #: Function tools declared for this response (session tools, or the response's own).
    functions: tuple[str, ...]
    tool_choice: Any
    instructions: str | None
    out_of_band: bool


class ScriptError(Exception):
    """A scripted reply cannot be served (e.g. it calls a function the session does not declare)."""

    def __init__(self, error: OpenAIError) -> None:
        super().__init__(error.message)
        self.error = error


class Script(Protocol):
    """What the test scripted for this session's scope: transcripts of user audio and reply rules."""

    def next_transcript(self) -> str | None:
        """What the user "said" in the next committed audio item (``None``: nothing scripted)."""

    def plan(self, context: ReplyContext) -> Plan | None:
        """The reply of the first matching rule (``None``: no rule matches); raises :class:`ScriptError`."""


class NoScript:
    """Nothing scripted: generated transcripts and replies."""

    def next_transcript(self) -> str | None:
        return None

    def plan(self, context: ReplyContext) -> Plan | None:
        return None
