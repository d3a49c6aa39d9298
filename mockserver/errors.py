"""Typed OpenAI errors and the one place that renders them.

Handlers and validators raise :class:`OpenAIError` (usually through one of the
constructors below); :func:`render_error` is the only code that turns one into
an HTTP body. The texts are OpenAI's own, quoted in GROUND_TRUTH.md §5.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "INVALID_JSON_MESSAGE",
    "MISSING_KEY_MESSAGE",
    "OpenAIError",
    "body_too_large",
    "describe_json_type",
    "format_number",
    "incorrect_api_key",
    "invalid_json",
    "invalid_method",
    "invalid_url",
    "mask_key",
    "missing_api_key",
    "oxford_list",
    "quote",
]

MISSING_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if "
    "you're accessing the API from your browser and are prompted for a username and password. You can "
    "obtain an API key from https://platform.openai.com/account/api-keys."
)

INVALID_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
    "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. "
    "If you have trouble figuring out how to fix this, please contact us through our help center at "
    "help.openai.com.)"
)

API_KEYS_URL = "https://platform.openai.com/account/api-keys"


@dataclass(eq=False)
class OpenAIError(Exception):
    """An error in OpenAI's envelope: ``{"error": {message, type, param, code}}``."""

    status: int
    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    # Cloudflare's errors in front of OpenAI carry the HTTP status as an integer code.
    code: str | int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: The body already rendered, when the same error is answered again and again.
    rendered: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def payload(self) -> dict[str, Any]:
        """The JSON object OpenAI sends, all four keys always present."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


# --- wording helpers shared by the validator and the handlers -----------------------------------


def quote(value: object) -> str:
    """``'value'`` as OpenAI quotes values in its messages."""
    return f"'{value}'"


def oxford_list(values: Iterable[object], conjunction: str = "and") -> str:
    """``'a'``, ``'a' and 'b'``, ``'a', 'b', and 'c'`` (OpenAI's Oxford-comma lists)."""
    items = [quote(v) for v in values]
    if len(items) <= 1:
        return "".join(items)
    if len(items) == 2:
        return f"{items[0]} {conjunction} {items[1]}"
    return ", ".join(items[:-1]) + f", {conjunction} {items[-1]}"


def describe_json_type(value: object) -> str:
    """How OpenAI names the JSON type of ``value`` in "but got ... instead"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "an unknown type"


def format_number(value: float) -> str:
    """A bound as OpenAI prints it: ``10``, ``0.25``, ``1.5`` (no trailing ``.0``)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def mask_key(key: str) -> str:
    """Mask an API key the way OpenAI echoes it: first 8, stars, last 4 (short keys as they are)."""
    if len(key) <= 12:
        return key
    return key[:8] + "*" * (len(key) - 12) + key[-4:]


# --- the errors themselves -----------------------------------------------------------------------


def missing_api_key() -> OpenAIError:
    return OpenAIError(401, MISSING_KEY_MESSAGE)


def incorrect_api_key(key: str) -> OpenAIError:
    message = f"Incorrect API key provided: {mask_key(key)}. You can find your API key at {API_KEYS_URL}."
    return OpenAIError(401, message, code="invalid_api_key")


def invalid_json() -> OpenAIError:
    return OpenAIError(400, INVALID_JSON_MESSAGE)


def invalid_url(method: str, path: str) -> OpenAIError:
    return OpenAIError(404, f"Invalid URL ({method} {path})")


def invalid_method(method: str, path: str) -> OpenAIError:
    return OpenAIError(405, f"Invalid method for URL ({method} {path})")


def body_too_large(limit: int) -> OpenAIError:
    message = (
        f"The request body is too large. The maximum request body size is {limit} bytes; send a smaller JSON body."
    )
    return OpenAIError(413, message, code="request_too_large")
