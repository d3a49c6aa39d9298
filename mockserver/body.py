"""Reading a JSON request body the way OpenAI does, with OpenAI's errors for what it rejects."""

from __future__ import annotations

import json
import math
from typing import Any

from .errors import OpenAIError, describe_json_type, invalid_json

__all__ = ["dump_json", "parse_json", "parse_json_object"]


def _reject_constant(name: str) -> float:
    # NaN, Infinity and -Infinity are not JSON; Python's parser accepts them by default.
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; an empty body counts as ``{}``.

    Raises OpenAI's "could not parse the JSON body" error for anything that is
    not JSON, and an ``invalid_type`` error for JSON that is not an object.
    """
    if not raw.strip():
        return {}
    value = parse_json(raw)
    if not isinstance(value, dict):
        got = describe_json_type(value)
        raise OpenAIError(400, f"Invalid body: expected a JSON object, but got {got} instead.", code="invalid_type")
    return value


def parse_json(raw: bytes) -> Any:
    """Any JSON value, strictly (no NaN, no lone surrogates); OpenAI's parse error otherwise."""
    try:
        value = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError and invalid UTF-8 (UnicodeDecodeError).
        raise invalid_json() from None
    # "\ud800" escapes parse to lone surrogates, which are not Unicode text: reject them as
    # strict JSON parsers do, so they never reach validation or an echo.
    try:
        if (b"\\ud" in raw or b"\\uD" in raw) and _has_lone_surrogate(value):
            raise invalid_json()
    except RecursionError:
        raise invalid_json() from None
    return value


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def dump_json(payload: Any) -> bytes:
    """Pretty-printed JSON, as OpenAI's bodies are."""
    return json.dumps(payload, indent=2, ensure_ascii=False).encode()
