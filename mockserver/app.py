"""``create_app(settings)``: the route table, read top to bottom, and the app's life cycle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from .clock import Clock
from .handlers import control, openai
from .identity import make_identity
from .keys import STATE
from .middleware import openai_middleware, surface_middleware
from .scenario import with_scenario
from .settings import Settings
from .state import MockState

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> web.Application:
    """A ready-to-run mock. ``clock`` lets tests drive time without the control surface.

    A scenario named in ``settings`` is loaded here: its settings fill what
    ``settings`` left unset, and its fault rules are scripted (``SettingsError`` if
    it cannot be read).
    """
    settings, scenario = with_scenario(settings or Settings())
    app = web.Application(
        middlewares=[openai_middleware(), surface_middleware()],
        client_max_size=settings.max_body_bytes,
    )
    app[STATE] = MockState.create(settings, clock, scenario.faults if scenario else ())

    # The OpenAI surface: with and without /v1, so either kind of base URL works.
    for prefix in ("/v1", ""):
        app.router.add_post(f"{prefix}/realtime/client_secrets", openai.create_client_secret)

    # The control surface.
    app.router.add_get("/__mock/health", control.health)
    app.router.add_get("/__mock/settings", control.settings)
    app.router.add_get("/__mock/secrets", control.list_secrets)
    app.router.add_get("/__mock/secrets/{value}", control.get_secret)
    app.router.add_delete("/__mock/secrets/{value}", control.revoke_secret)
    app.router.add_get("/__mock/requests", control.list_requests)
    app.router.add_delete("/__mock/requests", control.clear_requests)
    app.router.add_get("/__mock/faults", control.list_faults)
    app.router.add_post("/__mock/faults", control.add_faults)
    app.router.add_delete("/__mock/faults", control.clear_faults)
    app.router.add_delete("/__mock/faults/{rule_id}", control.delete_fault)
    app.router.add_get("/__mock/presets", control.list_presets)
    app.router.add_get("/__mock/clock", control.clock)
    app.router.add_post("/__mock/clock", control.set_clock)
    app.router.add_post("/__mock/reset", control.reset)
    app.router.add_get("/__mock/openapi.json", control.openapi)

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
