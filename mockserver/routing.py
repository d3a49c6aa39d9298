"""The route table, worked out once at import and shared by every app: how a request finds its endpoint.

Registering each path with aiohttp's router costs about 17 µs a route, ~0.6 ms for the mock's table: most
of what a test fixture pays to create an app. So an app registers one catch-all route, and
:class:`RouteTable` finds the path's endpoint (exact paths in one dict look-up, then the few templated ones
by pattern) and puts the template's values in ``request.match_info``, as aiohttp's router would.

The mock's own runners (``serving.MockRunner``: the CLI, ``MockServer``, the pytest fixtures) go one step
further: the table is the server's request handler (:meth:`RouteTable.request_handler`), doing for each
request what ``web.Application`` would (the match info, ``Expect``) without a router between, ~4 µs a
request. An app served by any other runner (``aiohttp_server(create_app())``) is routed by aiohttp's router,
through the catch-all, to the same endpoints.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NoReturn, cast

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from aiohttp.web_urldispatcher import UrlMappingMatchInfo

from .middleware import endpoint
from .serving import REQUEST_HANDLER, RequestHandler

__all__ = ["RouteTable"]

_PARAMETER = re.compile(r"\{(\w+)\}")


class RouteTable:
    """``path -> method -> handler``, matched as aiohttp matches it; unknown paths 404, unknown methods 405."""

    def __init__(self, routes: Mapping[str, Mapping[str, Handler]]) -> None:
        self._exact: dict[str, Handler] = {}
        self._templated: list[tuple[re.Pattern[str], Handler]] = []
        for path, methods in routes.items():
            if _PARAMETER.search(path) is None:
                self._exact[path] = endpoint(path, methods)
            else:
                # A value is one path segment (``[^{}/]+``, as aiohttp's), matched in ``path_safe`` form.
                pattern = _PARAMETER.sub(r"(?P<\1>[^{}/]+)", re.escape(path).replace(r"\{", "{").replace(r"\}", "}"))
                self._templated.append((re.compile(pattern), endpoint(path, methods)))
        self._not_found = endpoint("/{path:.*}", None)
        #: The catch-all resource serving the table in aiohttp's router (built on first use).
        self._resource: web.AbstractResource | None = None

    def find(self, path: str) -> tuple[Handler, dict[str, str] | None]:
        """The endpoint of ``path`` (``path_safe`` form), and a templated path's values (``None`` for the rest)."""
        handler = self._exact.get(path)
        if handler is not None:
            return handler, None
        for pattern, candidate in self._templated:
            match = pattern.fullmatch(path)
            if match is not None:
                return candidate, {name: _unquote(value) for name, value in match.groupdict().items()}
        return self._not_found, None

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        """The catch-all route's handler, for an app served by aiohttp's own router."""
        handler, values = self.find(request.rel_url.path_safe)
        if values:
            request.match_info.update(values)
        return await handler(request)

    def register(self, app: web.Application) -> None:
        """Serve every path of ``app`` from this table: one catch-all route in aiohttp's router, and the table as
        the request handler ``MockRunner`` gives the app's server (``REQUEST_HANDLER``).

        The catch-all resource is built once per process and registered in every app (``register_resource``):
        nothing in it belongs to an app, and building one costs ~7 µs, which a test fixture would pay for every
        server. (The mint's paths were once registered directly too, for aiohttp's router to find them ~2.5 µs
        sooner; the mock's runners no longer ask aiohttp's router, and each resource cost every app ~4 µs.)
        """
        if self._resource is None:
            builder = web.UrlDispatcher()
            self._resource = builder.add_resource(_CATCH_ALL)
            self._resource.add_route("*", self.dispatch)
        app.router.register_resource(self._resource)
        app[REQUEST_HANDLER] = self.request_handler(app, next(iter(self._resource)))

    def request_handler(self, app: web.Application, catch_all: web.AbstractRoute) -> RequestHandler:
        """What ``app``'s server calls for each request: ``web.Application``'s own request handling, with this
        table in place of aiohttp's router.

        Each request gets the match info aiohttp's router would give it (the catch-all route, the app, a
        templated path's values; ``Expect`` answered by the route's expect handler), so ``request.app``,
        ``request.match_info`` and the response signals work as they do under ``web.Application``. A path
        without values shares one read-only match info per app and path: nothing is built for it per request.
        """
        #: Per path without values: its endpoint and its shared match info (the known paths only: a bounded set).
        fixed: dict[str, tuple[Handler, UrlMappingMatchInfo]] = {}

        def match_info(route: web.AbstractRoute, values: dict[str, str] | None) -> UrlMappingMatchInfo:
            info = UrlMappingMatchInfo(values, route) if values else _FixedMatchInfo(route)
            info.add_app(app)
            info.freeze()
            return info

        async def handle(base: web.BaseRequest) -> web.StreamResponse:
            request = cast(web.Request, base)  # made by the app's request factory
            path = request.rel_url.path_safe
            served = fixed.get(path)
            if served is None:
                handler, values = self.find(path)
                if values is None:
                    served = (handler, match_info(catch_all, None))
                    if handler is not self._not_found:  # unknown paths are endless: not kept
                        fixed[path] = served
                else:
                    served = (handler, match_info(catch_all, values))
            handler, info = served
            # What web.Application sets: web.Request's ``app``, ``match_info`` and response signals read it.
            request._match_info = info
            if request.headers.get(hdrs.EXPECT):
                response = await info.expect_handler(request)
                await request.writer.drain()
                if response is not None:
                    return response
            return await handler(request)

        return handle


#: The catch-all route's path (any path at all, a newline (%0A) included, which ``.*`` would leave to aiohttp).
_CATCH_ALL = r"/{path:[\s\S]*}"


class _FixedMatchInfo(UrlMappingMatchInfo):
    """The match info of a path without values, shared by its requests: read-only, so no request can change
    what the next one sees."""

    def __init__(self, route: web.AbstractRoute) -> None:
        super().__init__({}, route)

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("this path's match info has no values and cannot be changed")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _read_only


def _unquote(value: str) -> str:
    """A value matched in ``path_safe`` form (decoded but for ``%2F`` and ``%25``), decoded as aiohttp does."""
    if "%" not in value:
        return value
    return value.replace("%2F", "/").replace("%25", "%")
