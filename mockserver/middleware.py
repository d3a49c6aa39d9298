"""The middleware every response passes through: OpenAI's headers and error envelope."""

from __future__ import annotations

import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from .body import dump_json
from .errors import OpenAIError, body_too_large, invalid_method, invalid_url
from .keys import STATE

__all__ = ["OPENAI_VERSION", "openai_middleware"]

OPENAI_VERSION = "2020-10-01"
log = logging.getLogger("mockserver")


def openai_middleware() -> web.middleware:  # type: ignore[valid-type]
    """Headers OpenAI sends on every response, and the one place errors are rendered."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        state = request.app[STATE]
        request_id = state.ids.request_id()
        try:
            response = await handler(request)
        except OpenAIError as error:
            response = _render(error)
        except web.HTTPNotFound:
            response = _render(invalid_url(request.method, request.path))
        except web.HTTPMethodNotAllowed:
            response = _render(invalid_method(request.method, request.path))
        except web.HTTPRequestEntityTooLarge:
            response = _render(body_too_large(state.settings.max_body_bytes))
        except web.HTTPException as exc:
            response = _render(OpenAIError(exc.status, exc.reason))
        except Exception:
            # A bug of ours, not the client's: log it, answer as OpenAI does, keep serving.
            log.exception("unhandled error while serving %s %s", request.method, request.path)
            response = _render(
                OpenAIError(
                    500,
                    "The server had an error processing your request. Sorry about that! You can retry your "
                    "request, or contact us through our help center at help.openai.com if you keep seeing "
                    f"this error. (Please include the request ID {request_id} in your email.)",
                    type="server_error",
                )
            )
        headers = response.headers
        headers["x-request-id"] = request_id
        headers["openai-version"] = OPENAI_VERSION
        headers["openai-processing-ms"] = str(round((time.perf_counter() - started) * 1000))
        headers.update(await state.identity_headers())
        headers["x-mock-seed"] = str(state.seed)
        return response

    return middleware


def _render(error: OpenAIError) -> web.Response:
    response = web.Response(status=error.status, body=dump_json(error.payload()), content_type="application/json")
    response.headers.update(error.headers)
    return response
