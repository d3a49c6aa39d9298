"""The emulated OpenAI surface: ``POST /v1/realtime/client_secrets``."""

from __future__ import annotations

from aiohttp import web

from ..auth import authenticate
from ..keys import STATE
from ..middleware import scope_of
from ..secrets import ClientSecret

__all__ = ["create_client_secret"]


async def create_client_secret(request: web.Request) -> web.Response:
    """Mint an ``ek_`` secret for the session in the body (a default realtime one if none)."""
    state = request.app[STATE]
    authenticate(request.headers.get("Authorization"), state.settings.api_keys)
    plan = state.plans.plan(await request.read())

    created_at = int(state.clock.now())
    value = state.ids.client_secret(created_at)
    session_id = state.ids.session_id()
    secret = ClientSecret(
        value=value,
        created_at=created_at,
        expires_at=created_at + plan.seconds,
        session_id=session_id,
        session_template=plan.session,
        session_request=plan.request,
        scope=scope_of(request),
    )
    state.secrets.add(secret)
    return web.Response(body=plan.render(value, secret.expires_at, session_id), content_type="application/json")
