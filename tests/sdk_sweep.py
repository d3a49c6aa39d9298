"""Requests built from the installed ``openai`` SDK's own request types (the drift guard's generator).

Walks a request ``TypedDict`` with ``typing.get_type_hints`` and yields one request per
field and per enum (``Literal``) member, nested objects and union branches included: the
rest of each request is the smallest body the types allow. Upgrading the SDK in the test
extra therefore adds cases by itself, and a field or value the mock does not know fails
at once.

The types say what is allowed, not every range or cross-field rule the API enforces;
``VALUES`` gives a valid value for the constrained scalars, ``complete`` adds what a rule
between fields needs (both documented in the spec, cited below).
"""

from __future__ import annotations

import collections.abc
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import typing_extensions
from openai._utils import PropertyInfo

__all__ = ["Case", "cases", "minimal"]

#: Valid values for scalars whose range the types do not carry (spec: descriptions and minimum/maximum).
VALUES: dict[str, Any] = {
    "seconds": 600,  # expires_after.seconds: 10..7200
    "idle_timeout_ms": 6000,  # server_vad: 5000..30000
    "max_output_tokens": 256,  # 1..4096 or "inf"
    "speed": 1.2,  # 0.25..1.5
    "threshold": 0.6,  # 0..1
    "strength": 0.4,  # noise_reduction.strength: 0..1
    "retention_ratio": 0.7,  # 0..1
    "post_instructions": 1000,  # >= 0
    "tunnel_id": "tunnel_" + "0123456789abcdef" * 2,  # ^tunnel_[a-z0-9]{32}$
    "server_url": "https://mcp.example.com/sse",
    "image_url": "https://example.com/cat.png",
    "file_url": "https://example.com/doc.pdf",
}
_DEFAULTS: dict[type, Any] = {str: "text", int: 10, float: 0.5, bool: True}


@dataclass(frozen=True)
class Case:
    """One request: ``label`` names the field (and member) it exercises."""

    label: str
    params: dict[str, Any]


def _strip(tp: Any) -> tuple[Any, str | None]:
    """``Required[...]``/``NotRequired[...]``/``Annotated[...]`` removed; the alias if one is declared."""
    alias = None
    while True:
        origin = typing_extensions.get_origin(tp)
        if origin in (typing_extensions.Required, typing_extensions.NotRequired):
            tp = typing_extensions.get_args(tp)[0]
        elif origin is typing_extensions.Annotated:
            args = typing_extensions.get_args(tp)
            for meta in args[1:]:
                if isinstance(meta, PropertyInfo) and meta.alias:
                    alias = meta.alias
            tp = args[0]
        elif isinstance(tp, typing_extensions.TypeAliasType):
            tp = tp.__value__
        else:
            return tp, alias


def _fields(td: Any) -> dict[str, tuple[Any, bool]]:
    """Each field's type and whether it is required. ``__required_keys__`` cannot be trusted here:
    under ``from __future__ import annotations`` Python 3.11 does not see ``Required[...]``."""
    hints = typing.get_type_hints(td, include_extras=True)
    out = {}
    for name, hint in hints.items():
        origin = typing_extensions.get_origin(hint)
        if origin is typing_extensions.Required:
            required = True
        elif origin is typing_extensions.NotRequired:
            required = False
        else:
            required = bool(td.__total__)
        out[name] = (hint, required)
    return out


def _is_typeddict(tp: Any) -> bool:
    return typing_extensions.is_typeddict(tp)


def _union_args(tp: Any) -> tuple[Any, ...] | None:
    origin = typing_extensions.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return typing_extensions.get_args(tp)
    return None


_LISTS = (list, collections.abc.Iterable, collections.abc.Sequence, typing.List)  # noqa: UP006


def minimal(tp: Any, name: str = "") -> Any:
    """The smallest valid value of ``tp`` (``name`` picks a value from ``VALUES``)."""
    tp, _ = _strip(tp)
    if name in VALUES and not _is_typeddict(tp):
        return VALUES[name]
    if _is_typeddict(tp):
        return complete({key: minimal(hint, key) for key, (hint, required) in _fields(tp).items() if required}, name)
    members = _union_args(tp)
    if members is not None:
        chosen = [m for m in members if m is not type(None)]
        # An object branch says more than a bare string: prefer it when a union has both.
        return minimal(next((m for m in chosen if _is_typeddict(_strip(m)[0])), chosen[0]), name)
    origin = typing_extensions.get_origin(tp)
    if origin is typing_extensions.Literal:
        return typing_extensions.get_args(tp)[0]
    if origin in _LISTS:
        return [minimal(typing_extensions.get_args(tp)[0], name)]
    if origin in (dict, collections.abc.Mapping, typing.Dict):  # noqa: UP006
        args = typing_extensions.get_args(tp)
        return {"key": minimal(args[1], "")} if args and args[1] is not object else {}
    if tp in _DEFAULTS:
        return _DEFAULTS[tp]
    if tp is object or tp is Any:
        return {}
    raise TypeError(f"no minimal value for {tp!r} ({name})")


def variants(tp: Any, name: str = "") -> Iterator[tuple[str, Any]]:
    """Every value worth sending for ``tp``: each field of an object, each member of a union or enum."""
    tp, _ = _strip(tp)
    if name in VALUES and not _is_typeddict(tp):
        yield "", VALUES[name]
        return
    if _is_typeddict(tp):
        base = minimal(tp, name)
        yield "", base
        for key, (hint, _required) in _fields(tp).items():
            for label, value in variants(hint, key):
                yield f".{key}{label}", complete({**base, key: value}, name)
        return
    members = _union_args(tp)
    if members is not None:
        for member in members:
            if member is type(None):
                yield "=null", None
            else:
                yield from variants(member, name)
        return
    origin = typing_extensions.get_origin(tp)
    if origin is typing_extensions.Literal:
        for member in typing_extensions.get_args(tp):
            yield f"={member}", member
        return
    if origin in _LISTS:
        for label, value in variants(typing_extensions.get_args(tp)[0], name):
            yield f"[]{label}", [value]
        return
    if origin in (dict, collections.abc.Mapping, typing.Dict):  # noqa: UP006
        args = typing_extensions.get_args(tp)
        if not args or args[1] is object:
            yield "", {}
            return
        for label, value in variants(args[1], ""):
            yield f"{{}}{label}", {"key": value}
        return
    yield "", minimal(tp, name)


def complete(value: dict[str, Any], name: str = "") -> dict[str, Any]:
    """Add what a rule between fields needs, where the types leave every key optional.

    - An audio ``format`` names its ``type``, and PCM its ``rate`` (GROUND_TRUTH §2.4: the live
      server requires both).
    - A tool names its ``type``; a function tool its ``name`` (§2.7, observed live); an MCP tool
      its server ("One of `server_url`, `connector_id`, or `tunnel_id` must be provided", spec).
    """
    if name == "format":
        value = {"type": "audio/pcm", **value}
        if value["type"] == "audio/pcm":
            value = {**value, "rate": 24000}
        else:  # G.711 has no rate: drop the one a PCM default brought
            value = {k: v for k, v in value.items() if k != "rate"}
    elif name == "tools":
        value = {"type": "function", **value}
        if value["type"] == "function":
            value = {"name": "get_weather", **value}
        elif not {"server_url", "connector_id", "tunnel_id"} & set(value):
            value = {**value, "server_url": VALUES["server_url"]}
    return value


def cases(params: Any) -> list[Case]:
    """One case per field and enum member of a request ``TypedDict`` (duplicates dropped)."""
    seen: set[str] = set()
    out: list[Case] = []
    for label, value in variants(params):
        key = repr(sorted(value.items())) if isinstance(value, dict) else repr(value)
        if key in seen:
            continue
        seen.add(key)
        out.append(Case(label.lstrip(".") or "(minimal)", value))
    return out
