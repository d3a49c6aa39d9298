"""The route table as one aiohttp handler: worked out once at import, shared by every app.

Registering each path with aiohttp's router costs about 17 µs a route, ~0.6 ms for the mock's table: most
of what a test fixture pays to create an app. So an app registers one catch-all route (and the mint's
paths, the hot ones), and :class:`RouteTable` finds the path's endpoint (exact paths in one dict look-up,
then the few templated ones by pattern) and puts the template's values in ``request.match_info``, as
aiohttp's router would.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from aiohttp import web
from aiohttp.typedefs import Handler

from .middleware import endpoint

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
        #: The aiohttp resources serving the table, by the paths registered directly (built on first use).
        self._resources: dict[tuple[str, ...], tuple[web.AbstractResource, ...]] = {}

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.rel_url.path_safe
        handler = self._exact.get(path)
        if handler is None:
            handler = self._not_found
            for pattern, candidate in self._templated:
                match = pattern.fullmatch(path)
                if match is not None:
                    request.match_info.update({name: _unquote(value) for name, value in match.groupdict().items()})
                    handler = candidate
                    break
        return await handler(request)

    def register(self, app: web.Application, direct: Iterable[str] = ()) -> None:
        """Serve every path of ``app`` from this table: one catch-all route, and one per ``direct`` path.

        aiohttp's router finds a path registered directly by one string comparison, ~2.5 µs a request
        sooner than the catch-all: the paths load tests hammer (the mint) are worth it. The resources are
        built once per process and registered in every app (``register_resource``): nothing in them belongs
        to an app, and building them costs ~7 µs each, which a test fixture would pay for every server.
        """
        paths = tuple(direct)
        resources = self._resources.get(paths)
        if resources is None:
            builder = web.UrlDispatcher()
            for path in paths:
                builder.add_route("*", path, self._exact[path])
            # Any path at all, a newline (%0A) included, which ``.*`` would leave to aiohttp's plain-text 404.
            builder.add_route("*", r"/{path:[\s\S]*}", self.dispatch)
            resources = self._resources[paths] = tuple(builder.resources())
        for resource in resources:
            app.router.register_resource(resource)


def _unquote(value: str) -> str:
    """A value matched in ``path_safe`` form (decoded but for ``%2F`` and ``%25``), decoded as aiohttp does."""
    if "%" not in value:
        return value
    return value.replace("%2F", "/").replace("%25", "%")
