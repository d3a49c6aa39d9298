"""Scripted conversations: what the assistant says and calls, and what the user "said" (PRODUCT.md).

- **Reply rules** (``POST /__mock/replies``): ``{"match": {...}, "text": ..., "tool_calls": [...], "times": 1}``.
  When a response is planned, the first rule of the session's scope whose ``match`` holds answers it;
  ``times`` counts the responses a rule served (``None``: every match). A rule that calls a function
  the response cannot call (not in the session's or the response's ``tools``) is not served: the
  response becomes one ``error`` event (:func:`undeclared_function`).
- **Transcripts** (``POST /__mock/transcripts``): a queue per scope, one taken per committed user
  audio item, in order.

Rules and transcripts are scoped like fault rules (``faults.py``): a session belongs to the scope of
the mint that made its key; a scenario's apply in every scope. This module is pure: it keeps and
matches (``reply_specs.py`` validates what clients send); the engine (``script.Script``) asks through
:class:`ScopedScript`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import OpenAIError, oxford_list, quote
from .script import Plan, ReplyContext, ScriptError, ToolCall
from .text import dump_arguments

if TYPE_CHECKING:
    from .reply_specs import ReplyRuleSpec

__all__ = [
    "MAX_REPLY_RULES",
    "MAX_TRANSCRIPTS",
    "ReplyBook",
    "ReplyRule",
    "ScopedScript",
    "ScriptedCall",
    "Scripts",
    "Transcript",
    "TranscriptQueue",
    "too_many_reply_rules",
    "too_many_transcripts",
    "undeclared_function",
]

#: Rules in force at once; more is a runaway script, not a test.
MAX_REPLY_RULES = 10_000
#: Transcripts waiting at once.
MAX_TRANSCRIPTS = 10_000
#: The error code of a rule that calls a function the response cannot call.
UNDECLARED_FUNCTION = "undeclared_function"


def too_many_reply_rules() -> OpenAIError:
    return OpenAIError(
        400,
        f"Too many reply rules: at most {MAX_REPLY_RULES} can be in force. Clear some with "
        "DELETE /__mock/replies, or use 'times' to let them be used up.",
        code="too_many_reply_rules",
    )


def too_many_transcripts() -> OpenAIError:
    return OpenAIError(
        400,
        f"Too many transcripts: at most {MAX_TRANSCRIPTS} can wait at once. Clear them with "
        "DELETE /__mock/transcripts.",
        code="too_many_transcripts",
    )


# --- the rule as the server keeps it -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScriptedCall:
    """A function call a rule makes: the arguments as streamed (a JSON string) and as they were given."""

    name: str
    arguments: str
    given: Any


@dataclass
class ReplyRule:
    """A rule with its remaining uses (``None``: until cleared)."""

    id: str
    scope: str | None
    text: str | None
    tool_calls: tuple[ScriptedCall, ...]
    user_text: str | None = None
    tool_output: str | None = None
    remaining: int | None = 1
    applied: int = 0
    #: A scenario's rules belong to the whole server: they apply in every scope.
    all_scopes: bool = False

    @classmethod
    def from_spec(cls, spec: ReplyRuleSpec, rule_id: str, scope: str | None, *, all_scopes: bool = False) -> ReplyRule:
        calls = tuple(
            ScriptedCall(call.name, dump_arguments(call.arguments), call.arguments) for call in spec.tool_calls or ()
        )
        match = spec.match
        return cls(
            id=rule_id,
            scope=scope,
            text=spec.text,
            tool_calls=calls,
            user_text=match.user_text if match is not None else None,
            tool_output=match.tool_output if match is not None else None,
            remaining=spec.times,
            all_scopes=all_scopes,
        )

    def in_scope(self, scope: str | None) -> bool:
        return self.all_scopes or self.scope == scope

    def matches(self, user_text: str | None, tool_output: str | None) -> bool:
        if self.user_text is not None and (user_text is None or self.user_text.casefold() not in user_text.casefold()):
            return False
        return self.tool_output is None or self.tool_output == tool_output

    def plan(self) -> Plan:
        return Plan(text=self.text, tool_calls=tuple(ToolCall(call.name, call.arguments) for call in self.tool_calls))

    def to_json(self) -> dict[str, Any]:
        match = {
            key: value for key, value in (("user_text", self.user_text), ("tool_output", self.tool_output)) if value
        }
        return {
            "id": self.id,
            "scope": self.scope,
            "all_scopes": self.all_scopes,
            "match": match,
            "text": self.text,
            "tool_calls": [{"name": call.name, "arguments": call.given} for call in self.tool_calls],
            "times": self.remaining,
            "applied": self.applied,
        }


class ReplyBook:
    """Reply rules in the order they were added; the first matching one in scope answers."""

    def __init__(self) -> None:
        self._rules: list[ReplyRule] = []
        self._next_id = 1

    def add(self, spec: ReplyRuleSpec, scope: str | None, *, all_scopes: bool = False) -> ReplyRule:
        self.make_room(1)
        rule = ReplyRule.from_spec(spec, f"reply_{self._next_id}", scope, all_scopes=all_scopes)
        self._next_id += 1
        self._rules.append(rule)
        return rule

    def make_room(self, count: int) -> None:
        """Refuse (400) rules past ``MAX_REPLY_RULES``."""
        if len(self._rules) + count > MAX_REPLY_RULES:
            raise too_many_reply_rules()

    def rules(self, scope: str | None = None) -> list[ReplyRule]:
        """Every rule, or those that apply in ``scope`` (a scenario's apply in all)."""
        return [rule for rule in self._rules if scope is None or rule.in_scope(scope)]

    def remove(self, rule_id: str) -> ReplyRule | None:
        for index, rule in enumerate(self._rules):
            if rule.id == rule_id:
                return self._rules.pop(index)
        return None

    def clear(self, scope: str | None = None) -> None:
        """Drop every rule, or only those added in ``scope``."""
        self._rules = [] if scope is None else [r for r in self._rules if r.all_scopes or r.scope != scope]

    def reset(self) -> None:
        """Drop every rule and number new ones from 1 again, as a fresh server does."""
        self._rules = []
        self._next_id = 1

    def matching(self, scope: str | None, user_text: str | None, tool_output: str | None) -> Iterator[ReplyRule]:
        """The rules of ``scope`` whose ``match`` holds, first added first."""
        for rule in self._rules:
            if rule.in_scope(scope) and rule.matches(user_text, tool_output):
                yield rule

    def first_match(self, scope: str | None, user_text: str | None, tool_output: str | None) -> ReplyRule | None:
        return next(self.matching(scope, user_text, tool_output), None)

    def serve(self, rule: ReplyRule) -> bool:
        """``rule`` answered a response: count it, and drop it once its ``times`` are used up.

        ``False`` when the rule was already used up (by another process sharing a store): try the next one.
        """
        rule.applied += 1
        if rule.remaining is not None:
            rule.remaining -= 1
            if rule.remaining <= 0 and rule in self._rules:
                self._rules.remove(rule)
        return True


# --- transcripts ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    scope: str | None
    all_scopes: bool = False

    def in_scope(self, scope: str | None) -> bool:
        return self.all_scopes or self.scope == scope

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "scope": self.scope, "all_scopes": self.all_scopes}


class TranscriptQueue:
    """What users "said", in the order it was added; each committed audio item takes the first in its scope."""

    def __init__(self) -> None:
        self._queue: list[Transcript] = []

    def add(self, texts: Sequence[str], scope: str | None, *, all_scopes: bool = False) -> list[Transcript]:
        if len(self._queue) + len(texts) > MAX_TRANSCRIPTS:
            raise too_many_transcripts()
        added = [Transcript(text, scope, all_scopes) for text in texts]
        self._queue.extend(added)
        return added

    def pending(self, scope: str | None = None) -> list[Transcript]:
        """Every waiting transcript, or those a session in ``scope`` would take, in order."""
        return [entry for entry in self._queue if scope is None or entry.in_scope(scope)]

    def take(self, scope: str | None) -> str | None:
        for index, entry in enumerate(self._queue):
            if entry.in_scope(scope):
                del self._queue[index]
                return entry.text
        return None

    def clear(self, scope: str | None = None) -> None:
        self._queue = (
            [] if scope is None else [entry for entry in self._queue if entry.all_scopes or entry.scope != scope]
        )


# --- what the engine sees ----------------------------------------------------------------------------


def undeclared_function(rule: ReplyRule, name: str, declared: Sequence[str]) -> OpenAIError:
    """The error of a rule that calls a function the response cannot call."""
    known = oxford_list(tuple(declared)) if declared else "none"
    return OpenAIError(
        400,
        f"Reply rule '{rule.id}' calls the function {quote(name)}, which this session does not declare. "
        f"Declared functions: {known}. Declare it in the session's 'tools' (session.update) or in "
        "response.create's 'tools'.",
        param="tools",
        code=UNDECLARED_FUNCTION,
    )


@dataclass
class ScopedScript:
    """The engine's :class:`~.script.Script` for one session: the rules and transcripts of its scope."""

    book: ReplyBook
    transcripts: TranscriptQueue
    scope: str | None = None

    def next_transcript(self) -> str | None:
        return self.transcripts.take(self.scope)

    def plan(self, context: ReplyContext) -> Plan | None:
        for rule in self.book.matching(self.scope, context.user_text, context.tool_output):
            for call in rule.tool_calls:
                if call.name not in context.functions:
                    # Not served: the rule stays for a response that can call the function.
                    raise ScriptError(undeclared_function(rule, call.name, context.functions))
            if self.book.serve(rule):
                return rule.plan()
        return None


@dataclass
class Scripts:
    """A server's reply rules and transcripts; a scenario's are loaded at start and again on reset."""

    scenario_replies: tuple[ReplyRuleSpec, ...] = ()
    scenario_transcripts: tuple[str, ...] = ()
    replies: ReplyBook = field(default_factory=ReplyBook)
    transcripts: TranscriptQueue = field(default_factory=TranscriptQueue)

    def __post_init__(self) -> None:
        self._load_scenario()

    def _load_scenario(self) -> None:
        for spec in self.scenario_replies:
            self.replies.add(spec, None, all_scopes=True)
        if self.scenario_transcripts:
            self.transcripts.add(self.scenario_transcripts, None, all_scopes=True)

    def for_scope(self, scope: str | None) -> ScopedScript:
        return ScopedScript(self.replies, self.transcripts, scope)

    def reset(self, scope: str | None = None) -> None:
        """Forget one scope's rules and transcripts, or (no scope) everything, the scenario's then reloaded."""
        if scope is not None:
            self.replies.clear(scope)
            self.transcripts.clear(scope)
            return
        self.replies.reset()
        self.transcripts.clear()
        self._load_scenario()
