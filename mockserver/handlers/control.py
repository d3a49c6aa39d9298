"""The control surface under ``/__mock/``: never faulted, never in OpenAI's namespace."""

from __future__ import annotations

from aiohttp import web

from .._version import __version__
from ..body import dump_json

__all__ = ["health"]


async def health(request: web.Request) -> web.Response:
    """``{"status": "ok", "version": ...}``; the Docker HEALTHCHECK calls it."""
    return web.Response(body=dump_json({"status": "ok", "version": __version__}), content_type="application/json")
