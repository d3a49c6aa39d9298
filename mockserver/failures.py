"""Failure messages of the handle's ``assert_*`` helpers: what the mock saw, bounded in length.

Pure functions over journal entries and secrets, so a failing assertion reads like a diff: each
request on its own line with its outcome and body, and under it, for ``assert_requested``, every
key that was compared and differed, expected against received.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .journal import JournalEntry

if TYPE_CHECKING:
    from .testing import SecretInfo

__all__ = [
    "MAX_SHOWN",
    "MAX_VALUE_CHARS",
    "body_mismatches",
    "describe_near_misses",
    "describe_requests",
    "describe_secrets",
    "shorten",
]

T = TypeVar("T")

#: At most this many requests (or secrets) are listed, the newest; the others are counted.
MAX_SHOWN = 10
#: A body or value longer than this (as compact JSON) is cut, saying how much was left out.
MAX_VALUE_CHARS = 300

_MISSING = object()


def shorten(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """``value`` as compact JSON (``repr`` for what JSON cannot show), cut to ``limit`` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=repr)
    except ValueError:  # a circular structure
        text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def _listing(items: Sequence[T], noun: str, render: Callable[[T], Iterable[str]]) -> str:
    """The newest ``MAX_SHOWN`` items, each on its own indented line(s), after a line counting the others."""
    hidden = max(len(items) - MAX_SHOWN, 0)
    lines = [f"({hidden} earlier {noun} not shown)"] if hidden else []
    for item in items[hidden:]:
        lines.extend(render(item))
    return "".join(f"\n  {line}" for line in lines)


def _outcome(entry: JournalEntry) -> str:
    outcome = str(entry.status) if entry.status is not None else entry.fault or "no response"
    if entry.layer:
        cause = " ".join(part for part in (entry.layer, entry.error or entry.fault) if part)
        outcome += f" ({cause})"
    return outcome


def _entry_line(entry: JournalEntry) -> str:
    line = f"{entry.method} {entry.path} -> {_outcome(entry)}"
    return line if entry.body is None else f"{line} body {shorten(entry.body)}"


def describe_requests(entries: Sequence[JournalEntry]) -> str:
    """One line per request (method, path, outcome, body), the newest ``MAX_SHOWN``."""
    return _listing(entries, "requests", lambda entry: [_entry_line(entry)])


def body_mismatches(body: Any, expected: Mapping[str, Any]) -> list[str]:
    """For each expected top-level key the body does not match: ``key: expected X, got Y`` (or missing)."""
    if not isinstance(body, Mapping):
        return [f"the body is not a JSON object: {shorten(body)}"]
    lines: list[str] = []
    for key, want in expected.items():
        got = body.get(key, _MISSING)
        if got is _MISSING:
            lines.append(f"{key}: expected {shorten(want)}, missing")
        elif got != want:
            lines.append(f"{key}: expected {shorten(want)}, got {shorten(got)}")
    return lines


def describe_near_misses(entries: Sequence[JournalEntry], expected: Mapping[str, Any]) -> str:
    """Each request, and under it the keys of ``expected`` its body got wrong; the newest ``MAX_SHOWN``."""

    def render(entry: JournalEntry) -> list[str]:
        return [_entry_line(entry), *(f"  {line}" for line in body_mismatches(entry.body, expected))]

    return _listing(entries, "requests", render)


def describe_secrets(secrets: Sequence[SecretInfo]) -> str:
    """One line per secret (value, status, session type and model), the newest ``MAX_SHOWN``."""

    def render(secret: SecretInfo) -> list[str]:
        model = secret.session.get("model")
        kind = f"{secret.session.get('type', '?')} session" + (f", model {model}" if model else "")
        return [f"{secret.value} ({secret.status}, {kind})"]

    return _listing(secrets, "secrets", render)
