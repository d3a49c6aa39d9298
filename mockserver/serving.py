"""How every runner serves the app (the CLI, ``testing.MockServer``, the pytest fixtures, the
project's tests and benchmarks), so they all answer the same: ``server_options()``.

Production's edge takes a request header of up to 16 KiB and 32 KiB of headers in all
(Cloudflare's limits); aiohttp's own parser stops at 8 KiB a line and answers a plain-text
400 before the app sees the request. So the parser's limits are raised well past
production's, and ``check_header_sizes`` (called first for every request) answers what
production would refuse with a 431 in OpenAI's envelope. Only a request past the parser's
raised limits (one header line over 64 KiB, more than 1,024 headers) still gets aiohttp's
plain-text 400.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .errors import OpenAIError
from .writes import TurnSite

__all__ = [
    "MAX_HEADERS_BYTES",
    "MAX_HEADER_BYTES",
    "PARSER_MAX_FIELD_BYTES",
    "PARSER_MAX_HEADERS",
    "REQUEST_HANDLER",
    "MockRunner",
    "bound_socket",
    "check_header_sizes",
    "listening_site",
    "server_options",
]

#: Production's edge limits: one header (name and value), and all of a request's headers.
MAX_HEADER_BYTES = 16 * 1024
MAX_HEADERS_BYTES = 32 * 1024
#: aiohttp's parser limits (a header line, the request line; the number of headers): past these,
#: aiohttp answers before the app can. Far enough past production's that the app answers first.
PARSER_MAX_FIELD_BYTES = 64 * 1024
PARSER_MAX_HEADERS = 1024


#: An app's own request handler (``RouteTable.register`` sets it): what :class:`MockRunner` has its server call.
RequestHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
REQUEST_HANDLER: web.AppKey[RequestHandler] = web.AppKey("mockserver.request_handler")


class MockRunner(web.AppRunner):
    """``web.AppRunner``, with the server calling the app's own request handler (``REQUEST_HANDLER``, the route
    table: ``routing.RouteTable.request_handler``) rather than ``web.Application``'s router. An app without one,
    with middlewares (which only ``web.Application`` runs), or with more in its router than the table's one
    route (a route or a sub-app added to ``create_app()``'s app) is served as ``web.AppRunner`` serves it."""

    __slots__ = ()

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        app = self.app
        handler = app.get(REQUEST_HANDLER)
        if handler is not None and not app.middlewares and len(app.router.resources()) == 1:
            server.request_handler = handler
        return server


def server_options() -> dict[str, Any]:
    """The request parser's limits, as keyword arguments for ``web.AppRunner`` (or pytest-aiohttp's
    ``server_kwargs``, or ``aiohttp_server(app, **server_options())``): every runner passes them.

    Runners also pass ``handler_cancellation=True`` (aiohttp's test server always does), so a
    client that gives up mid-delay frees its handler at once.
    """
    return {
        "max_line_size": PARSER_MAX_FIELD_BYTES,
        "max_field_size": PARSER_MAX_FIELD_BYTES,
        "max_headers": PARSER_MAX_HEADERS,
    }


def listening_site(runner: web.BaseRunner, host: str, port: int, *, reuse_port: bool = False) -> web.BaseSite:
    """Where ``runner`` listens: ``host`` (an address or a name) and ``port`` (0: a free one).

    An IP address is bound here, at once (:func:`bound_socket`); ``loop.create_server`` given a host would
    resolve it first through a task the loop has to run (two more turns of the loop, ~50 µs of a server
    started in a pytest fixture). A name (``localhost``) is given to ``create_server``, which binds every
    address the name has. The site batches each loop turn's writes after the first (``writes.TurnSite``).
    ``OSError`` when it cannot bind, from here or from the site's ``start()``.
    """
    family = _address_family(host)
    if family is None:
        return TurnSite(runner, host=host, port=port, reuse_port=reuse_port)
    return TurnSite(runner, sock=_bind(family, host, port, reuse_port))


def bound_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket bound (not yet listening) to ``host`` and ``port``: IPv6 for an IPv6 address, else IPv4
    (a name is resolved by the bind). ``SO_REUSEADDR``, ``SO_REUSEPORT`` when asked, ``IPV6_V6ONLY`` for
    IPv6, as aiohttp's own sockets have."""
    return _bind(_address_family(host) or socket.AF_INET, host, port, reuse_port)


def _bind(family: socket.AddressFamily, host: str, port: int, reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _address_family(host: str) -> socket.AddressFamily | None:
    """``AF_INET`` or ``AF_INET6`` for an IP address; ``None`` for a name."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        return family
    return None


def check_header_sizes(request: web.BaseRequest) -> None:
    """431 in OpenAI's envelope for a header over 16 KiB or headers over 32 KiB (name plus value, in bytes)."""
    raw = request.raw_headers
    total = 0
    for name, value in raw:
        total += len(name) + len(value)
    if total <= MAX_HEADER_BYTES:  # no single header can be too large either
        return
    for name, value in raw:
        size = len(name) + len(value)
        if size > MAX_HEADER_BYTES:
            shown = name.decode("latin-1")
            raise _too_large(
                f"Request Header Fields Too Large: the '{shown}' header is {size} bytes, and a header may be at "
                f"most {MAX_HEADER_BYTES} bytes (name and value).",
                param=shown,
            )
    if total > MAX_HEADERS_BYTES:
        raise _too_large(
            f"Request Header Fields Too Large: the request's headers are {total} bytes in all, and they may be at "
            f"most {MAX_HEADERS_BYTES} bytes (names and values).",
            param=None,
        )


def _too_large(message: str, param: str | None) -> OpenAIError:
    error = OpenAIError(431, message, param=param, code="request_header_fields_too_large")
    # The rest of the request (its body) is not read: the connection cannot carry another one.
    error.headers["Connection"] = "close"
    return error
