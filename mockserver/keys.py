"""Typed application keys (aiohttp ``AppKey``), the only way handlers reach shared state."""

from __future__ import annotations

from aiohttp import web

from .state import MockState

__all__ = ["STATE"]

STATE = web.AppKey("mockserver.state", MockState)
