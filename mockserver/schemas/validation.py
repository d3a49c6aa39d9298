"""Turn pydantic's list of failures into the one error OpenAI would report.

OpenAI reports a single error per request. Which one, when a body has several,
follows what was observed live (GROUND_TRUTH §2.7, §5.2): within an object, a
missing required key comes first, then an unknown key, then the fields in the
schema's order, depth first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ..errors import OpenAIError, describe_json_type
from ._base import OPENAI_ERROR, TAG_PREFIX, build_bottom_up

__all__ = ["first_error", "format_param", "validate_model"]

M = TypeVar("M", bound=BaseModel)

#: pydantic's type errors, and how OpenAI names the type it expected.
_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "a boolean",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "an array",
}


def validate_model(model: type[M], data: Any, prefix: str = "") -> M:
    """Validate ``data`` as ``model`` or raise the OpenAI error for its first failure.

    ``prefix`` is prepended to every ``param`` (``session`` for a ``session.update``).
    """
    if not model.__pydantic_complete__:
        build_bottom_up(model)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise first_error(exc.errors(include_url=False), prefix) from None


def format_param(loc: Sequence[int | str], prefix: str = "") -> str:
    """``("session", "tools", 0, "name")`` -> ``session.tools[0].name`` (union tags dropped)."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(TAG_PREFIX):
            continue
        else:
            out = f"{out}.{part}" if out else part
    return out


def _clean(loc: Sequence[int | str]) -> tuple[int | str, ...]:
    return tuple(p for p in loc if not (isinstance(p, str) and p.startswith(TAG_PREFIX)))


def _rank(error: ErrorDetails, depth: int) -> int:
    """0: a missing key of this object, 1: an unknown key of it, 2: anything deeper or a value."""
    if len(_clean(error["loc"])) != depth + 1:
        return 2
    if error["type"] == "missing":
        return 0
    if error["type"] == "extra_forbidden":
        return 1
    return 2


def _choose(errors: list[ErrorDetails]) -> ErrorDetails:
    """The error OpenAI reports first, walking objects as described in the module docstring."""
    depth = 0
    candidates = errors
    while True:
        best = min(candidates, key=lambda e: _rank(e, depth))
        if _rank(best, depth) < 2 or len(_clean(best["loc"])) <= depth + 1:
            return best
        head = _clean(best["loc"])[depth]
        candidates = [e for e in candidates if len(_clean(e["loc"])) > depth and _clean(e["loc"])[depth] == head]
        depth += 1


def first_error(errors: list[ErrorDetails], prefix: str = "") -> OpenAIError:
    """The OpenAI error for the failure OpenAI would report first."""
    error = _choose(errors)
    param = format_param(error["loc"], prefix)
    kind = error["type"]
    value = error.get("input")
    ctx: dict[str, Any] = dict(error.get("ctx") or {})

    if kind == OPENAI_ERROR:
        owner = param
        subpath = ctx.get("subpath", "")
        # A bare key ("status") under a path ("[2]") is a child of it: "[2].status", not "[2]status".
        param += f".{subpath}" if param and subpath and not subpath.startswith((".", "[")) else subpath
        message = ctx["template"].replace("{param}", param).replace("{owner}", owner)
        return OpenAIError(400, message, param=param or None, code=ctx["code"])
    if kind in ("missing", "union_tag_not_found"):
        return _missing(param)
    if kind == "extra_forbidden":
        return OpenAIError(400, f"Unknown parameter: '{param}'.", param=param, code="unknown_parameter")
    if kind in _EXPECTED:
        got = describe_json_type(value)
        message = f"Invalid type for '{param}': expected {_EXPECTED[kind]}, but got {got} instead."
        return OpenAIError(400, message, param=param, code="invalid_type")
    if kind == "too_short" and not value:
        message = (
            f"Invalid '{param}': empty array. Expected an array with minimum length "
            f"{ctx.get('min_length', 1)}, but got an empty array instead."
        )
        return OpenAIError(400, message, param=param, code="empty_array")
    if kind == "string_pattern_mismatch":
        message = (
            f"Invalid '{param}': string does not match pattern. "
            f"Expected a string that matches the pattern '{ctx.get('pattern')}'."
        )
        return OpenAIError(400, message, param=param, code="invalid_value")
    # Anything else pydantic can report is a value OpenAI would call invalid.
    return OpenAIError(400, f"Invalid value for '{param}'.", param=param or None, code="invalid_value")


def _missing(param: str) -> OpenAIError:
    return OpenAIError(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")
