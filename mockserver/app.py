"""``create_app(settings)``: the route table, read top to bottom, and the app's life cycle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from .clock import Clock
from .handlers import control, openai
from .identity import make_identity
from .keys import STATE
from .middleware import openai_middleware
from .settings import Settings
from .state import MockState

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> web.Application:
    """A ready-to-run mock. ``clock`` lets tests drive time without the control surface."""
    settings = settings or Settings()
    app = web.Application(middlewares=[openai_middleware()], client_max_size=settings.max_body_bytes)
    app[STATE] = MockState.create(settings, clock)

    # The OpenAI surface: with and without /v1, so either kind of base URL works.
    for prefix in ("/v1", ""):
        app.router.add_post(f"{prefix}/realtime/client_secrets", openai.create_client_secret)

    # The control surface.
    app.router.add_get("/__mock/health", control.health)

    app.cleanup_ctx.append(_identity)
    return app


async def _identity(app: web.Application) -> AsyncIterator[None]:
    """Invent the fake organization and project off the event loop, so start-up stays fast.

    Faker takes a few hundred milliseconds to import; the first response that needs
    the identity waits for it (see ``MockState.identity_headers``).
    """
    state = app[STATE]
    state.identity_future = asyncio.get_running_loop().run_in_executor(None, make_identity, state.seed)
    yield
    await asyncio.wait_for(asyncio.shield(state.identity_future), timeout=10)
