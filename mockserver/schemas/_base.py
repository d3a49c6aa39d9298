"""Building blocks for request models that fail the way OpenAI's validator fails.

Pydantic does the walking; these helpers make each failure carry OpenAI's code
and wording. A helper that needs a message OpenAI uses raises
:func:`openai_error`, a ``PydanticCustomError`` whose context holds the code,
the message template (``{param}`` is filled in with the dotted path later) and
an optional sub-path (``.type`` for a missing discriminator).
"""

from __future__ import annotations

import secrets
import typing
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from ..errors import describe_json_type, format_number, oxford_list, quote

__all__ = [
    "OPENAI_ERROR",
    "TAG_PREFIX",
    "DecimalRange",
    "IntRange",
    "MaxLength",
    "OneOf",
    "RequestModel",
    "TaggedUnion",
    "build_bottom_up",
    "choose_by_type",
    "invalid_type",
    "invalid_value",
    "openai_error",
    "range_check",
]

#: The pydantic error type our own validators raise; its context carries OpenAI's code.
OPENAI_ERROR = "openai"
#: Union branches are tagged with this prefix so the translator can drop them from paths. It is random per
#: process (and starts with NUL) so that no key a client sends can be mistaken for a tag.
TAG_PREFIX = f"\x00{secrets.token_hex(8)}:"


def openai_error(code: str, template: str, subpath: str = "") -> PydanticCustomError:
    """A validation failure with OpenAI's ``code`` and message ``template``.

    ``{param}`` in the template becomes the dotted path with ``subpath``; ``{owner}``, the path without it
    (the object a bad key belongs to).
    """
    return PydanticCustomError(OPENAI_ERROR, "{template}", {"code": code, "template": template, "subpath": subpath})


def invalid_type(expected: str, value: object, subpath: str = "") -> PydanticCustomError:
    got = describe_json_type(value)
    return openai_error(
        "invalid_type", f"Invalid type for '{{param}}': expected {expected}, but got {got} instead.", subpath
    )


def invalid_value(value: object, allowed: tuple[object, ...], subpath: str = "") -> PydanticCustomError:
    message = f"Invalid value: {quote(value)}. Supported values are: {oxford_list(allowed)}."
    return openai_error("invalid_value", message, subpath)


def _expected_one_of(allowed: tuple[object, ...]) -> str:
    if len(allowed) == 1:
        return quote(allowed[0])
    return "one of " + oxford_list(allowed, "or")


class RequestModel(BaseModel):
    """Base of every request model: strict types, unknown keys rejected.

    ``null`` is accepted only on the fields a model lists in ``_nullable`` (those
    the spec marks nullable, where null means "off"). On any other optional field
    an explicit ``null`` counts as omitted, as the live API treats it
    (GROUND_TRUTH §5.2 notes).
    """

    # defer_build: a model's validator is built when it first validates, so start-up does not pay for
    # the models a server never uses (events, scripts, calls, faults until a rule is posted).
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)

    _nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _null_means_omitted(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise invalid_type("an object", data)
        if any(value is None for value in data.values()):
            return {k: v for k, v in data.items() if v is not None or k in cls._nullable}
        return data


def build_bottom_up(model: type[BaseModel]) -> None:
    """Build ``model``'s validator and serializer (deferred by ``defer_build``) after those of its fields' models.

    Built from the top, a model generates the schemas of the models in its fields inline, and such a model
    generates its own again when it is first used by itself (the mint dumps the session it validated; a
    ``session.update`` validates a session). Its fields' models built first (each from its top), the model
    reuses their schemas: a server's first mint built its two models in 26 ms, now 12 ms. Only one level down:
    every model has a validator and a serializer of its own once built, and the small ones deeper down are
    never used by themselves (building each of them cost more than it saved).
    """
    if model.__pydantic_complete__:
        return
    for field in model.model_fields.values():
        for nested in _models_in(field.annotation):
            if nested is not model and not nested.__pydantic_complete__:
                nested.model_rebuild(raise_errors=False)
    model.model_rebuild(raise_errors=False)


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """The models an annotation names: itself, or inside its arguments (``A | None``, ``list[A]``, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for argument in typing.get_args(annotation):
        yield from _models_in(argument)


# --- scalar helpers --------------------------------------------------------------------------------


class _Constraint:
    """Annotated metadata: a check that runs before pydantic's own, plus what JSON Schema should say."""

    def __init__(self, check: Callable[[Any], Any], json_schema: dict[str, Any]) -> None:
        self.check = check
        self.json_schema = json_schema

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_before_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.update(self.json_schema)
        return json_schema


def OneOf(*allowed: str) -> _Constraint:  # noqa: N802 - reads as a type in models
    """``Annotated[str, OneOf("a", "b")]``: a string restricted to ``allowed``, with OpenAI's wording."""

    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise invalid_type(_expected_one_of(allowed), value)
        if value not in allowed:
            raise invalid_value(value, allowed)
        return value

    return _Constraint(check, {"enum": list(allowed)})


def range_check(kind: str, low: float | None, high: float | None) -> Callable[[Any], Any]:
    # Runs before pydantic's own type check, so the message shows the value as sent
    # ("got 3 instead", not "got 3.0"); a value of the wrong type passes through to it.
    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value
        if kind == "integer" and not isinstance(value, int):
            return value
        if low is not None and value < low:
            raise openai_error(
                f"{kind}_below_min_value",
                f"Invalid '{{param}}': {kind} below minimum value. "
                f"Expected a value >= {format_number(low)}, but got {value} instead.",
            )
        if high is not None and value > high:
            raise openai_error(
                f"{kind}_above_max_value",
                f"Invalid '{{param}}': {kind} above maximum value. "
                f"Expected a value <= {format_number(high)}, but got {value} instead.",
            )
        return value

    return check


def _bounds(low: float | None, high: float | None) -> dict[str, Any]:
    return {k: v for k, v in (("minimum", low), ("maximum", high)) if v is not None}


def IntRange(low: int | None = None, high: int | None = None) -> _Constraint:  # noqa: N802
    """``Annotated[int, IntRange(lo, hi)]``: ``integer_below_min_value`` / ``..._above_...`` outside."""
    return _Constraint(range_check("integer", low, high), _bounds(low, high))


def DecimalRange(low: float | None = None, high: float | None = None) -> _Constraint:  # noqa: N802
    """``Annotated[float, DecimalRange(lo, hi)]``: ``decimal_below_min_value`` / ``..._above_...``."""
    return _Constraint(range_check("decimal", low, high), _bounds(low, high))


def MaxLength(limit: int) -> _Constraint:  # noqa: N802
    """``Annotated[str, MaxLength(n)]``: ``string_above_max_length`` for a longer string (in characters)."""

    def check(value: Any) -> Any:
        if isinstance(value, str) and len(value) > limit:
            raise openai_error(
                "string_above_max_length",
                f"Invalid '{{param}}': string too long. Expected a string with maximum length {limit}, "
                f"but got a string with length {len(value)} instead.",
            )
        return value

    return _Constraint(check, {"maxLength": limit})


# --- unions ----------------------------------------------------------------------------------------

#: Picks the branch of a union for a raw value, or returns the error to report.
Chooser = Callable[[Any], Any]


class TaggedUnion:
    """``Annotated[A | B, TaggedUnion(choose)]``: the branch is chosen up front.

    ``choose`` inspects the raw value and returns the member type to validate
    it as, or a ``PydanticCustomError`` (a wrong type, a missing or unsupported
    ``type``). A failure therefore names one branch only, as OpenAI's do.
    """

    def __init__(self, choose: Chooser) -> None:
        self.choose = choose

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        # A single model (one allowed ``type``) is a union of one.
        members = typing.get_args(source) or (source,)
        tags = {member: f"{TAG_PREFIX}{index}" for index, member in enumerate(members)}
        # When dumping, the discriminator sees validated values: pick by runtime type.
        by_runtime_type = {typing.get_origin(member) or member: tag for member, tag in tags.items()}
        choices: dict[Hashable, CoreSchema] = {tags[member]: handler.generate_schema(member) for member in members}

        def pick(value: Any) -> str:
            choice = self.choose(value)
            if isinstance(choice, PydanticCustomError):
                raise choice
            return tags[choice]

        def check(value: Any) -> Any:
            pick(value)
            return value

        def tag(value: Any) -> str:
            runtime_tag = by_runtime_type.get(type(value))
            return runtime_tag if runtime_tag is not None else pick(value)

        return core_schema.no_info_before_validator_function(check, core_schema.tagged_union_schema(choices, tag))


def choose_by_type(
    kinds: Mapping[str, type[Any]],
    *,
    strings: tuple[str, ...] = (),
    string_type: Any = str,
    expected: str = "an object",
) -> Chooser:
    """Choose an object branch by its ``type`` key, and the string branch by value.

    ``kinds`` maps each allowed ``type`` value to its model; ``strings`` are the
    allowed bare string values (validated as ``string_type``).
    """
    allowed = tuple(kinds)

    def choose(value: Any) -> Any:
        if isinstance(value, str) and strings:
            return string_type if value in strings else invalid_value(value, strings)
        if not isinstance(value, dict):
            return invalid_type(expected, value)
        if value.get("type") is None:
            return openai_error("missing_required_parameter", "Missing required parameter: '{param}'.", subpath=".type")
        kind = value["type"]
        if not isinstance(kind, str):
            return invalid_type(_expected_one_of(allowed), kind, subpath=".type")
        if kind not in kinds:
            return invalid_value(kind, allowed, subpath=".type")
        return kinds[kind]

    return choose
