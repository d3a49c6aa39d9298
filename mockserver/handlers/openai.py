"""The emulated OpenAI surface: ``POST /v1/realtime/client_secrets``."""

from __future__ import annotations

from aiohttp import web

from ..auth import authenticate
from ..body import dump_json, parse_json_object
from ..defaults import DEFAULT_EXPIRES_AFTER_SECONDS, session_from_request
from ..keys import STATE
from ..middleware import SCOPE_HEADER
from ..schemas import RealtimeCreateClientSecretRequest, validate_model
from ..secrets import ClientSecret

__all__ = ["create_client_secret"]


async def create_client_secret(request: web.Request) -> web.Response:
    """Mint an ``ek_`` secret for the session in the body (a default realtime one if none)."""
    state = request.app[STATE]
    authenticate(request.headers.get("Authorization"), state.settings.api_keys)
    body = parse_json_object(await request.read())
    parsed = validate_model(RealtimeCreateClientSecretRequest, body)

    created_at = int(state.clock.now())
    seconds = parsed.expires_after.seconds if parsed.expires_after else DEFAULT_EXPIRES_AFTER_SECONDS
    secret = ClientSecret(
        value=state.ids.client_secret(created_at),
        created_at=created_at,
        expires_at=created_at + seconds,
        session=session_from_request(parsed, state.ids.session_id()),
        scope=request.headers.get(SCOPE_HEADER) or None,
    )
    state.secrets.add(secret)
    payload = {"value": secret.value, "expires_at": secret.expires_at, "session": secret.session}
    return web.Response(body=dump_json(payload), content_type="application/json")
