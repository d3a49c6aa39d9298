"""Named error presets: OpenAI's real error bodies and headers, for injected failures.

Injected errors use the same ``OpenAIError`` and renderer as real ones. Bodies are
quoted from GROUND_TRUTH §5.2 where one was observed; the few that were not
(409, 408) follow OpenAI's patterns and are listed in the README.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .errors import MISSING_KEY_MESSAGE, OpenAIError, incorrect_api_key

__all__ = ["PRESETS", "ErrorContext", "Preset", "default_preset_for", "render_preset"]

RATE_LIMIT_URL = "https://platform.openai.com/account/rate-limits"
QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more information on "
    "this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors."
)
SERVER_ERROR_MESSAGE = (
    "The server had an error processing your request. Sorry about that! You can retry your request, or "
    "contact us through our help center at help.openai.com if you keep seeing this error. (Please include "
    "the request ID {request_id} in your email.)"
)
PERMISSION_MESSAGE = (
    "You have insufficient permissions for this operation. Missing scopes: api.model.request. Check that "
    "you have the correct role in your organization (Reader, Writer, Owner) and project (Member, Owner), "
    "and if you're using a restricted API key, that it has the necessary scopes."
)


@dataclass(frozen=True)
class ErrorContext:
    """What a preset may quote: the request's id and key, the model, the fake organization."""

    request_id: str
    api_key: str | None
    model: str
    organization_id: str
    retry_after_ms: int | None = None


@dataclass(frozen=True)
class Preset:
    name: str
    status: int
    summary: str
    build: Callable[[ErrorContext], OpenAIError]


def _wait_text(milliseconds: int) -> str:
    return f"{milliseconds}ms" if milliseconds < 1000 else f"{milliseconds / 1000:g}s"


def _rate_limit(ctx: ErrorContext, retry_after: float | None = 20, retry_after_ms: int | None = None) -> OpenAIError:
    wait_ms = ctx.retry_after_ms or retry_after_ms or int((retry_after or 20) * 1000)
    message = (
        f"Rate limit reached for {ctx.model} in organization {ctx.organization_id} on requests per min (RPM): "
        f"Limit 3, Used 3, Requested 1. Please try again in {_wait_text(wait_ms)}. Visit {RATE_LIMIT_URL} to "
        "learn more."
    )
    headers = {
        "x-ratelimit-limit-requests": "3",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": _wait_text(wait_ms),
    }
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    elif retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
    return OpenAIError(429, message, type="requests", code="rate_limit_exceeded", headers=headers)


def _server_error(ctx: ErrorContext, status: int = 500) -> OpenAIError:
    return OpenAIError(status, SERVER_ERROR_MESSAGE.format(request_id=ctx.request_id), type="server_error")


def _invalid_api_key(ctx: ErrorContext) -> OpenAIError:
    return incorrect_api_key(ctx.api_key) if ctx.api_key else OpenAIError(401, MISSING_KEY_MESSAGE)


_PRESET_LIST = [
    Preset(
        "rate_limit_exceeded",
        429,
        "429 `rate_limit_exceeded`, `retry-after: 20` and `x-ratelimit-*` headers",
        _rate_limit,
    ),
    Preset(
        "insufficient_quota",
        429,
        "429 `insufficient_quota`, no `retry-after` (the SDK still retries a 429)",
        lambda ctx: OpenAIError(429, QUOTA_MESSAGE, type="insufficient_quota", code="insufficient_quota"),
    ),
    Preset("server_error", 500, "500 `server_error` quoting the request id", _server_error),
    Preset(
        "overloaded",
        503,
        "503 `server_error`: The engine is currently overloaded",
        lambda ctx: OpenAIError(
            503, "The engine is currently overloaded, please try again later.", type="server_error"
        ),
    ),
    Preset(
        "bad_gateway",
        502,
        "502 from the CDN in front of OpenAI: `cf_bad_gateway`",
        lambda ctx: OpenAIError(502, "Bad gateway.", type="cf_bad_gateway", code=502),
    ),
    Preset(
        "timeout",
        504,
        "504 gateway timeout: `cf_gateway_timeout`",
        lambda ctx: OpenAIError(504, "Gateway timeout.", type="cf_gateway_timeout", code=504),
    ),
    Preset(
        "cloudflare_timeout",
        524,
        "524, the CDN's own timeout status, as seen live: `cf_gateway_timeout`",
        lambda ctx: OpenAIError(524, "Gateway timeout.", type="cf_gateway_timeout", code=524),
    ),
    Preset(
        "request_timeout",
        408,
        "408 request timeout (the SDK retries it)",
        lambda ctx: OpenAIError(
            408, "The server timed out waiting for the request.", type="invalid_request_error", code="request_timeout"
        ),
    ),
    Preset(
        "conflict",
        409,
        "409 conflict (the SDK retries it)",
        lambda ctx: OpenAIError(
            409,
            "The request could not be completed because of a conflict with another request. Please retry.",
            type="invalid_request_error",
            code="conflict",
        ),
    ),
    Preset("invalid_api_key", 401, "401 `invalid_api_key`, quoting the request's key masked", _invalid_api_key),
    Preset(
        "permission_denied",
        403,
        "403: insufficient permissions (missing scopes)",
        lambda ctx: OpenAIError(403, PERMISSION_MESSAGE, type="invalid_request_error"),
    ),
    Preset(
        "retry_after_ms",
        429,
        "429 with `retry-after-ms: 250` (the SDK waits 250 ms)",
        lambda ctx: _rate_limit(ctx, retry_after=None, retry_after_ms=ctx.retry_after_ms or 250),
    ),
    Preset(
        "retry_after_too_long",
        429,
        "429 with `retry-after: 121`, over the SDK's 120 s limit, so the SDK gives up",
        lambda ctx: _rate_limit(ctx, retry_after=121),
    ),
    Preset(
        "should_retry_false",
        500,
        "500 with `x-should-retry: false` (the SDK does not retry)",
        lambda ctx: _with_header(_server_error(ctx), "x-should-retry", "false"),
    ),
    Preset(
        "should_retry_true",
        400,
        "400 with `x-should-retry: true` (the SDK retries even a 400)",
        lambda ctx: _with_header(
            OpenAIError(400, "The request could not be processed. Please retry.", type="invalid_request_error"),
            "x-should-retry",
            "true",
        ),
    ),
]

PRESETS: dict[str, Preset] = {preset.name: preset for preset in _PRESET_LIST}

_BY_STATUS = {
    429: "rate_limit_exceeded",
    500: "server_error",
    502: "bad_gateway",
    503: "overloaded",
    504: "timeout",
    524: "cloudflare_timeout",
    408: "request_timeout",
    409: "conflict",
    401: "invalid_api_key",
    403: "permission_denied",
}


def _with_header(error: OpenAIError, name: str, value: str) -> OpenAIError:
    error.headers[name] = value
    return error


def default_preset_for(status: int) -> str | None:
    """The preset a bare ``status`` uses, if OpenAI has a typical body for it."""
    return _BY_STATUS.get(status)


def render_preset(name: str | None, status: int | None, ctx: ErrorContext) -> OpenAIError:
    """The error for a preset (by name) or a bare status; ``status`` overrides the preset's own."""
    preset_name = name or (default_preset_for(status) if status is not None else None)
    if preset_name is not None:
        error = PRESETS[preset_name].build(ctx)
        if status is not None:
            error.status = status
        return error
    assert status is not None
    if status >= 500:
        return _server_error(ctx, status)
    return OpenAIError(status, f"The request failed with status {status} (injected by the mock).")
