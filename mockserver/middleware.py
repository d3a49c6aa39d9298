"""What every request passes through (``endpoint`` wraps each route).

It puts OpenAI's headers on every response and is the one place errors are
rendered. For the OpenAI surface only (anything outside ``/__mock/``) it also
records the request in the journal and carries out faults and latency. The control
surface is never faulted, delayed or journaled.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import socket
import struct
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import hdrs, web
from aiohttp.http_exceptions import PayloadEncodingError
from aiohttp.typedefs import Handler
from aiohttp.web_protocol import RequestPayloadError
from multidict import istr

from .body import dump_json
from .cors import is_preflight, preflight_headers
from .cors import response_headers as cors_headers
from .errors import OpenAIError, body_too_large, invalid_json, invalid_method, invalid_url
from .faults import Decision, RequestFacts, configured_decision, decision_from_headers
from .journal import JournalEntry, packed_headers
from .keys import EXCHANGE, REQUEST_ID, STATE, WS_FAULTS
from .plans import NOT_JSON
from .presets import ErrorContext, default_preset_for, render_preset
from .serving import check_header_sizes
from .settings import Settings
from .state import OPENAI_VERSION, MockState
from .waits import sleep_on

__all__ = ["CONTROL_PREFIX", "OPENAI_VERSION", "SCOPE_HEADER", "endpoint", "scope_of"]

CONTROL_PREFIX = "/__mock/"
HEALTH_PATH = "/__mock/health"
CONTROL_TOKEN_HEADER = "X-Mock-Token"
SCOPE_HEADER = istr("X-Mock-Scope")
#: On an injected error: which layer injected it, so a test (or a log reader) can tell it from a real one.
INJECTED_HEADER = "x-mock-injected"
#: Scope names are kept with every journal entry, rule and secret: keep them short.
MAX_SCOPE_LENGTH = 200
#: Request bodies larger than this are journaled as truncated text.
JOURNAL_BODY_LIMIT = 64 * 1024
#: Header names set on every response, as ``istr``: multidict need not case-fold them each time.
_REQUEST_ID = istr("x-request-id")
_PROCESSING_MS = istr("openai-processing-ms")
#: Connection faults after which the client received no response at all.
DROPPED = frozenset({"reset", "empty", "hang"})
#: What ``malformed`` answers: a complete 200 whose JSON body stops short.
MALFORMED_BODY = b'{\n  "value": "ek_'

log = logging.getLogger("mockserver")


def endpoint(path: str, methods: Mapping[str, Handler] | None) -> Handler:
    """The handler of the route ``path``: picks the method's handler (405 if there is none)
    and serves it in OpenAI's envelope. ``methods=None`` is the catch-all for unknown paths (404).

    Every route goes through here rather than through an aiohttp middleware: the
    router then never raises, and a middleware layer's cost on every request is saved.
    What can be decided per route (which surface it is on) is decided here, once.
    """
    if methods is None:
        # The catch-all serves any path: each request's own path says which surface it is on.
        return functools.partial(_serve, {}, invalid_url, None)
    # Bound positionally: a partial's keywords are copied into a new dict on every call.
    return functools.partial(_serve, methods, invalid_method, path.startswith(CONTROL_PREFIX))


async def _serve(
    methods: Mapping[str, Handler],
    missing: Callable[[str, str], OpenAIError],
    control: bool | None,
    request: web.Request,
) -> web.StreamResponse:
    """OpenAI's headers on every response, the one place errors are rendered, and for the
    OpenAI surface (everything outside ``/__mock/``) the journal and the faults."""
    started = time.perf_counter()
    state = request.app[STATE]
    request_id = state.ids.request_id()
    request[REQUEST_ID] = request_id
    handler = methods.get(request.method)
    if handler is None:
        handler = _raiser(missing(request.method, request.path))
    if control is None:
        control = request.path.startswith(CONTROL_PREFIX)
    try:
        check_header_sizes(request)
        _refuse_compressed_body(request)
        if state.store.shared and request.path != HEALTH_PATH:
            # The shared clock and rules, as of now (a 503 when the store is down).
            await state.store.sync()
        if control:
            _guard_control(request, state.settings)
            response = await handler(request)
        elif is_preflight(request.method, request.headers):
            # Browser plumbing before a cross-origin call: answered, never journaled or faulted.
            response = web.Response(status=200, headers=preflight_headers(request.headers))
        else:
            response = await _surface(request, state, handler, request_id, started)
    except OpenAIError as error:
        response = _render(error)
    except web.HTTPRequestEntityTooLarge:
        response = _render(body_too_large(state.settings.max_body_bytes))
    except (RequestPayloadError, PayloadEncodingError):
        # A body aiohttp could not read (a broken chunked encoding): the connection cannot be reused.
        response = _render(invalid_json())
        response.force_close()
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
    if response.prepared:  # a WebSocket, answered already (the 101 carries no OpenAI headers)
        return response
    elapsed_ms = (time.perf_counter() - started) * 1000
    headers = response.headers
    headers[_REQUEST_ID] = request_id
    headers[_PROCESSING_MS] = str(round(elapsed_ms))
    headers.update(state.static_headers)
    if not control and hdrs.ORIGIN in request.headers:
        headers.update(cors_headers(request.headers))
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "%s %s -> %s in %.1f ms",
            request.method,
            request.path,
            response.status,
            elapsed_ms,
            extra={"request_id": request_id, "status": response.status, "scope": request.headers.get(SCOPE_HEADER)},
        )
    return response


def _refuse_compressed_body(request: web.Request) -> None:
    """The SDKs never compress request bodies; a compressed one gets a clear 415 and a closed connection."""
    encoding = request.headers.get(hdrs.CONTENT_ENCODING)
    if encoding is None:
        return
    encoding = encoding.strip().lower()
    if encoding and encoding != "identity":
        error = OpenAIError(
            415,
            f"Unsupported Content-Encoding {encoding!r}: send the JSON body uncompressed.",
            param="Content-Encoding",
            code="unsupported_content_encoding",
        )
        # The body is left unread, so the connection cannot carry another request.
        error.headers["Connection"] = "close"
        raise error


def _guard_control(request: web.Request, settings: Settings) -> None:
    """``--control off`` hides the control surface; ``--control-token`` locks it. Health stays open."""
    if request.path == HEALTH_PATH:
        return
    if settings.control == "off":
        raise invalid_url(request.method, request.path)
    token = settings.control_token
    if token is None:
        return
    given = request.headers.get(CONTROL_TOKEN_HEADER)
    if given is None:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        given = credentials.strip() if scheme.lower() == "bearer" else None
    if given is None or not hmac.compare_digest(given.encode(), token.encode()):
        raise OpenAIError(
            401,
            "The control surface needs the token given with --control-token: send it as "
            "'Authorization: Bearer TOKEN' or 'X-Mock-Token: TOKEN'.",
            code="invalid_control_token",
        )


def scope_of(request: web.Request) -> str | None:
    """The request's ``X-Mock-Scope`` (``None`` when absent); a clear 400 when it is unusable."""
    scope = request.headers.get(SCOPE_HEADER) or None
    if scope is not None and len(scope) > MAX_SCOPE_LENGTH:
        raise OpenAIError(
            400,
            f"Invalid {SCOPE_HEADER} header: expected at most {MAX_SCOPE_LENGTH} characters, but got {len(scope)}.",
            param=SCOPE_HEADER,
            code="invalid_mock_header",
        )
    return scope


def _raiser(error: OpenAIError) -> Handler:
    async def fail(request: web.Request) -> web.StreamResponse:
        raise error

    return fail


def _render(error: OpenAIError) -> web.Response:
    body = error.rendered if error.rendered is not None else dump_json(error.payload())
    response = web.Response(status=error.status, body=body, content_type="application/json")
    response.headers.update(error.headers)
    return response


async def _surface(
    request: web.Request, state: MockState, handler: Handler, request_id: str, started: float
) -> web.StreamResponse:
    """An OpenAI-surface request: decide its fault, carry it out, and journal the exchange."""
    scope = scope_of(request)
    raw = await request.read()
    if not state.journal.enabled:
        # Nothing to record: when nothing is injected either, go straight to the handler.
        scripted = await _scripted(request, state, scope, raw) if state.store.has_faults else None
        decision = _decide(request, state, scripted)
        if decision is None:
            return await handler(request)
    entry = JournalEntry(
        request_id,
        state.clock.now(),
        scope,
        request.method,
        request.path,
        dict(request.query) if request.rel_url.raw_query_string else None,
        packed_headers(request.raw_headers),  # masked when first read
        None,
    )
    request[EXCHANGE] = entry
    try:
        if state.journal.enabled:
            _journal_body(raw, entry, state.plans.parsed(raw))
            scripted = await _scripted(request, state, scope, raw) if state.store.has_faults else None
            decision = _decide(request, state, scripted)
        if decision is None:
            response = await handler(request)
        else:
            response = await _carry_out(request, state, handler, decision, entry, raw, started)
        # A dropped connection sent no status at all.
        entry.status = None if entry.fault in DROPPED else response.status
        if entry.latency_ms and not response.prepared:
            response.headers["Server-Timing"] = _server_timing(entry.latency_ms)
        return response
    except OpenAIError as error:
        entry.status = error.status
        if entry.latency_ms:
            error.headers.setdefault("Server-Timing", _server_timing(entry.latency_ms))
        raise
    except web.HTTPException as exc:
        entry.status = exc.status
        raise
    except asyncio.CancelledError:
        entry.client_disconnected = True
        raise
    finally:
        entry.duration_ms = (time.perf_counter() - started) * 1000
        if state.journal.enabled:
            await state.store.record(entry)


def _journal_body(raw: bytes, entry: JournalEntry, parsed: Any) -> None:
    """Record the body: parsed JSON, or text when it is not JSON or too large to keep whole."""
    entry.body_bytes = len(raw)
    if not raw:
        return
    if parsed is NOT_JSON or len(raw) > JOURNAL_BODY_LIMIT:
        entry.body = raw[:JOURNAL_BODY_LIMIT].decode("utf-8", errors="replace")
    else:
        entry.body = parsed
    if len(raw) > JOURNAL_BODY_LIMIT:
        entry.extra["body_truncated"] = True


async def _scripted(request: web.Request, state: MockState, scope: str | None, raw: bytes) -> Decision | None:
    """The scripted layer: a use of the first rule matching the request (only asked when rules exist)."""
    facts = RequestFacts.from_body(request.method, request.path, scope, state.plans.parsed(raw), request.headers)
    return await state.store.take_fault(facts, state.settings.latency_max_ms)


def _decide(request: web.Request, state: MockState, scripted: Decision | None) -> Decision | None:
    """The three layers, first match wins: scripted (already taken), per-request headers, configured."""
    cap = state.settings.latency_max_ms
    return scripted or decision_from_headers(request.headers, cap) or configured_decision(state.settings, state.chaos)


async def _carry_out(
    request: web.Request,
    state: MockState,
    handler: Handler,
    decision: Decision,
    entry: JournalEntry,
    raw: bytes,
    started: float,
) -> web.StreamResponse:
    """Answer as decided, ``latency_ms`` after the request arrived.

    The answer is worked out first and sent when the delay is up, so what a client
    measures is the injected latency, not the latency plus the work after it.
    """
    entry.layer = decision.layer
    entry.rule_id = decision.rule_id
    entry.fault = decision.fault
    if decision.latency_ms > 0:
        entry.latency_ms = round(decision.latency_ms, 3)
    deadline = started + decision.latency_ms / 1000

    if decision.fault is not None:
        await _sleep_until(deadline, state)
        return await _connection_fault(request, decision.fault, state.settings.latency_max_ms)
    if decision.drop_after_events is not None or decision.event_delay_ms:
        request[WS_FAULTS] = decision
    if decision.fails:
        entry.error = decision.error or (default_preset_for(decision.status) if decision.status else None)
        error = _injected_error(request, state, decision, raw)
        error.headers[INJECTED_HEADER] = decision.layer
        await _sleep_until(deadline, state)
        raise error
    try:
        response = await handler(request)
    except (OpenAIError, web.HTTPException):
        await _sleep_until(deadline, state)
        raise
    await _sleep_until(deadline, state)
    return response


async def _sleep_until(deadline: float, state: MockState) -> None:
    """Sleep until ``deadline`` (``perf_counter`` time); the server's shutdown wakes every sleeper at once.

    A bare timer and future, not ``wait_for`` on an event: no task per delayed request, so many
    concurrent delays stay accurate.
    """
    remaining = deadline - time.perf_counter()
    if remaining <= 0 or state.stopping.is_set():
        return
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    state.sleepers.add(waiter)
    try:
        await sleep_on(waiter, remaining)
    finally:
        state.sleepers.discard(waiter)


def _injected_error(request: web.Request, state: MockState, decision: Decision, raw: bytes) -> OpenAIError:
    body = state.plans.parsed(raw)
    session = body.get("session") if isinstance(body, dict) else None
    model = session.get("model") if isinstance(session, dict) and isinstance(session.get("model"), str) else None
    from .auth import api_key_from_header  # noqa: PLC0415 - avoids a cycle with handlers

    context = ErrorContext(
        request_id=request[REQUEST_ID],
        api_key=api_key_from_header(request.headers.get("Authorization")),
        model=model or "gpt-realtime",
        organization_id=state.identity["organization_id"],
        retry_after_ms=decision.retry_after_ms,
    )
    error = render_preset(decision.error, decision.status, context)
    if decision.message is not None:
        error.message = decision.message
    if decision.type is not None:
        error.type = decision.type
    if decision.code is not None:
        error.code = decision.code
    if decision.retry_after_ms is not None:
        error.headers.pop("retry-after", None)
        error.headers["retry-after-ms"] = str(decision.retry_after_ms)
    if decision.retry_after is not None:
        error.headers["retry-after"] = f"{decision.retry_after:g}"
    if decision.x_should_retry is not None:
        error.headers["x-should-retry"] = "true" if decision.x_should_retry else "false"
    error.headers.update(decision.headers)
    return error


async def _connection_fault(request: web.Request, fault: str, cap_ms: float) -> web.StreamResponse:
    """Carry out a connection fault. What is returned is never seen by the client."""
    if fault == "malformed":
        return web.Response(status=200, body=MALFORMED_BODY, content_type="application/json")
    if fault == "hang":
        # Hold the connection until the client gives up; past the cap (or on shutdown), drop it.
        await _sleep_until(time.perf_counter() + cap_ms / 1000, request.app[STATE])
        fault = "reset"
    transport = request.transport
    if transport is not None:
        if fault == "reset":
            sock = transport.get_extra_info("socket")
            if sock is not None:
                # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        else:  # empty: close without a byte of response
            transport.close()
    return web.Response(status=499)


def _server_timing(latency_ms: float) -> str:
    return f'mock-latency;desc="injected latency";dur={latency_ms:.1f}'
