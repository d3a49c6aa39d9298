"""Reading a JSON request body the way OpenAI does, with OpenAI's errors for what it rejects."""

from __future__ import annotations

import json
import math
from typing import Any

from .errors import OpenAIError, describe_json_type, invalid_json

__all__ = [
    "MAX_DEPTH",
    "JSONTextError",
    "dump_json",
    "expect_object",
    "load_json_text",
    "parse_json",
    "parse_json_object",
]


def _reject_constant(name: str) -> float:
    # NaN, Infinity and -Infinity are not JSON; Python's parser accepts them by default.
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number is out of the range of a double")
    return value


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; an empty body counts as ``{}``.

    Raises OpenAI's "could not parse the JSON body" error for anything that is
    not JSON, and an ``invalid_type`` error for JSON that is not an object.
    """
    if not raw.strip():
        return {}
    return expect_object(parse_json(raw))


def expect_object(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object; an ``invalid_type`` error for any other JSON value."""
    if not isinstance(value, dict):
        got = describe_json_type(value)
        raise OpenAIError(400, f"Invalid body: expected a JSON object, but got {got} instead.", code="invalid_type")
    return value


#: JSON nested deeper than this is refused: nothing OpenAI takes is nested so deep, and everything
#: downstream (validation, the journal, rendering) stays well inside Python's recursion limit.
MAX_DEPTH = 256


#: One strict decoder for every text (stateless; building one per call costs as much as parsing a small event).
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


class JSONTextError(ValueError):
    """Why a text is not JSON the mock accepts; the message is the parser's reason (and where)."""


def parse_json(raw: bytes) -> Any:
    """Any JSON value, strictly; OpenAI's parse error otherwise.

    Strictly means: UTF-8 only (a leading BOM is tolerated), and what :func:`load_json_text` refuses.
    """
    try:
        # Strict UTF-8: invalid UTF-8 and encoded surrogates fail here (UnicodeDecodeError is a ValueError).
        return load_json_text(raw.decode("utf-8-sig"))
    except ValueError:
        raise invalid_json() from None


def load_json_text(text: str) -> Any:
    """Any JSON value in ``text``, strictly, or :class:`JSONTextError` saying why not.

    Strictly means: no ``NaN``/``Infinity``, no numbers that overflow a double, no lone
    surrogates, nesting at most ``MAX_DEPTH``.
    """
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise JSONTextError(f"{exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise JSONTextError(f"nesting is deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # from the hooks: NaN, Infinity, a number out of range
        raise JSONTextError(str(exc)) from None
    # A "\ud800" escape parses to a lone surrogate, which is not Unicode text: strict parsers refuse it.
    # (A one-character search first: it is memchr-fast, and base64 audio has no backslash at all.)
    if "\\" in text and ("\\ud" in text or "\\uD" in text) and _has_lone_surrogate(value):
        raise JSONTextError("a lone UTF-16 surrogate escape is not Unicode text")
    if isinstance(value, dict | list) and not _depth_within(value, MAX_DEPTH):
        raise JSONTextError(f"nesting is deeper than {MAX_DEPTH} levels")
    return value


def _depth_within(value: Any, limit: int) -> bool:
    """Whether ``value`` nests at most ``limit`` containers deep (iteratively: no recursion to overflow)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return False
        children = current.values() if isinstance(current, dict) else current
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            if not _is_text(current):
                return True
        elif isinstance(current, dict):
            stack.extend(current.keys())
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return False


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def dump_json(payload: Any) -> bytes:
    """Pretty-printed JSON, as OpenAI's bodies are.

    Header values reach responses and the journal as aiohttp decodes them, with
    undecodable bytes kept as surrogates; those are written as ``\\udcXX`` escapes.
    """
    text = json.dumps(payload, indent=2, ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(payload, indent=2).encode()
