"""``create_app(settings)``: the route table, read top to bottom, and the app's life cycle."""

from __future__ import annotations

from aiohttp import web

from .clock import Clock
from .handlers import control, openai
from .keys import STATE
from .middleware import openai_middleware
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
        middlewares=[openai_middleware()],
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
    return app
