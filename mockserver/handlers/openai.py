"""The emulated OpenAI mint endpoints: ``POST /v1/realtime/client_secrets`` and
``POST /v1/realtime/translations/client_secrets``, one mechanism parametrised by the plan kind."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from ..auth import authenticate
from ..keys import STATE
from ..middleware import scope_of
from ..plans import REALTIME_MINT, TRANSLATION_MINT, MintPlan, PlanKind
from ..secrets import ClientSecret

__all__ = ["create_client_secret", "create_translation_client_secret", "mint_endpoint"]


def mint_endpoint(kind: PlanKind[MintPlan]) -> Handler:
    """A handler minting ``ek_`` secrets for the sessions ``kind`` plans."""

    async def mint(request: web.Request) -> web.Response:
        state = request.app[STATE]
        authenticate(request.headers.get("Authorization"), state.settings.api_keys)
        plan = state.plans.plan(kind, await request.read())

        created_at = int(state.clock.now())
        value = state.ids.client_secret(created_at)
        session_id = state.ids.session_id()
        expires_at = created_at + plan.seconds
        secret = ClientSecret(
            value=value,
            created_at=created_at,
            expires_at=expires_at,
            session_id=session_id,
            session_template=plan.session,
            session_request=plan.request,
            scope=scope_of(request),
            kind=plan.kind,
            session_expires_at=expires_at if plan.session_expires else 0,
        )
        await state.store.add_secret(secret)
        return web.Response(body=plan.render(value, expires_at, session_id), content_type="application/json")

    mint.__doc__ = f"Mint an ``ek_`` secret for the {kind.name} session in the body."
    return mint


#: ``POST /v1/realtime/client_secrets``: a realtime session, or a transcription one (a default realtime one if none).
create_client_secret = mint_endpoint(REALTIME_MINT)
#: ``POST /v1/realtime/translations/client_secrets``: a translation session (required).
create_translation_client_secret = mint_endpoint(TRANSLATION_MINT)
