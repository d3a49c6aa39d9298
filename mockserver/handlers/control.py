"""The control surface under ``/__mock/``: JSON in and out, errors in OpenAI's envelope.

Never faulted, never delayed, never journaled. Every route honours ``X-Mock-Scope``:
listings, clearing and reset then cover only that scope.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from aiohttp import web
from pydantic import model_validator

from .._version import __version__
from ..body import dump_json, parse_json, parse_json_object
from ..errors import OpenAIError
from ..keys import STATE
from ..loops import running_loop_name
from ..middleware import scope_of
from ..presets import PRESETS
from ..schemas._base import DecimalRange, RequestModel, openai_error
from ..schemas.validation import validate_model
from ..secrets import ClientSecret
from ..store import display_url

__all__ = [
    "add_faults",
    "clear_faults",
    "clear_requests",
    "clock",
    "delete_fault",
    "get_secret",
    "health",
    "list_faults",
    "list_presets",
    "list_requests",
    "list_secrets",
    "openapi",
    "reset",
    "revoke_secret",
    "set_clock",
    "settings",
]


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=dump_json(payload), content_type="application/json")


def _scope(request: web.Request) -> str | None:
    return scope_of(request)


def _not_found(what: str, key: str) -> OpenAIError:
    return OpenAIError(404, f"No {what} found with id '{key}'.", code="not_found")


async def health(request: web.Request) -> web.Response:
    """``{"status": "ok", "version": ..., "store": {"kind": ..., "ok": ...}}``; the Docker HEALTHCHECK and
    Kubernetes probes call it. 503 (``"status": "unavailable"``) while the store does not answer."""
    store = request.app[STATE].store
    ok = await store.ping()
    body = {"status": "ok" if ok else "unavailable", "version": __version__, "store": {"kind": store.kind, "ok": ok}}
    return _json(body, status=200 if ok else 503)


async def settings(request: web.Request) -> web.Response:
    """The settings in force, with the seed actually used."""
    state = request.app[STATE]
    data = state.settings.model_dump()
    data["seed"] = state.seed
    data["api_keys"] = [f"{key[:3]}***" for key in state.settings.api_keys]
    data["store"] = display_url(state.settings.store)
    # A secret you configured stays masked (you know it); one the mock derived is shown, for tests to verify with.
    configured = state.settings.webhook_secret is not None
    data["webhook_secret"] = f"{state.webhook_secret[:6]}***" if configured else state.webhook_secret
    data["webhook_secret_source"] = "configured" if configured else "generated"
    # What ``loop`` came to: "uvloop" or "asyncio" (a server in a test fixture runs on the test's loop).
    data["event_loop"] = running_loop_name()
    return _json(data)


# --- secrets ---------------------------------------------------------------------------------------


def secret_view(secret: ClientSecret, now: float) -> dict[str, Any]:
    return {
        "value": secret.value,
        "kind": secret.kind,
        "created_at": secret.created_at,
        "expires_at": secret.expires_at,
        "status": secret.status(now),
        "scope": secret.scope,
        "session": secret.session,
        "sessions": list(secret.sessions_opened),
    }


async def list_secrets(request: web.Request) -> web.Response:
    state = request.app[STATE]
    secrets = await state.store.list_secrets(_scope(request))
    now = state.clock.now()
    return _json({"data": [secret_view(s, now) for s in secrets]})


def _no_secret(value: str) -> OpenAIError:
    return OpenAIError(404, f"No client secret found with value '{value}'.", param="value", code="not_found")


async def get_secret(request: web.Request) -> web.Response:
    state = request.app[STATE]
    value = request.match_info["value"]
    secret = await state.store.get_secret(value)
    if secret is None:
        raise _no_secret(value)
    return _json(secret_view(secret, state.clock.now()))


async def revoke_secret(request: web.Request) -> web.Response:
    state = request.app[STATE]
    value = request.match_info["value"]
    secret = await state.store.revoke_secret(value)
    if secret is None:
        raise _no_secret(value)
    return _json(secret_view(secret, state.clock.now()))


# --- journal ---------------------------------------------------------------------------------------


async def list_requests(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return _json({"data": await state.store.journal(_scope(request))})


async def clear_requests(request: web.Request) -> web.Response:
    await request.app[STATE].store.clear_journal(_scope(request))
    return _json({"data": []})


# --- faults ----------------------------------------------------------------------------------------


async def add_faults(request: web.Request) -> web.Response:
    """One rule (an object) or several in order (an array); answers with what was added."""
    from ..fault_specs import FaultRuleSpec  # noqa: PLC0415 - built on the first rule, not at start-up

    state = request.app[STATE]
    raw = await request.read()
    scope = _scope(request)
    body = parse_json(raw) if raw.strip() else {}
    if isinstance(body, list):
        # Validate every rule before adding any, so a bad one leaves the plan untouched.
        specs = [validate_model(FaultRuleSpec, item, prefix=f"[{index}]") for index, item in enumerate(body)]
        added = await state.store.add_faults(specs, scope)
        return _json({"data": [rule.to_json() for rule in added]}, status=201)
    spec = validate_model(FaultRuleSpec, body)
    (rule,) = await state.store.add_faults([spec], scope)
    return _json(rule.to_json(), status=201)


async def list_faults(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return _json({"data": [rule.to_json() for rule in await state.store.fault_rules(_scope(request))]})


async def clear_faults(request: web.Request) -> web.Response:
    await request.app[STATE].store.clear_faults(_scope(request))
    return _json({"data": []})


async def delete_fault(request: web.Request) -> web.Response:
    rule_id = request.match_info["rule_id"]
    rule = await request.app[STATE].store.remove_fault(rule_id)
    if rule is None:
        raise _not_found("fault rule", rule_id)
    return _json(rule.to_json())


async def list_presets(request: web.Request) -> web.Response:
    return _json({"data": [{"name": p.name, "status": p.status, "summary": p.summary} for p in PRESETS.values()]})


# --- clock -----------------------------------------------------------------------------------------


#: The clock stays within unsigned 32-bit epoch seconds (until 2106), as secrets encode it in 8 hex digits.
CLOCK_MAX = 2**32 - 1


class ClockUpdate(RequestModel):
    """``{"advance": seconds}`` or ``{"set": epoch}``, exactly one. Time only moves forward by
    ``advance``; ``set`` may go anywhere from the Unix epoch on."""

    advance: Annotated[float, DecimalRange(0, 10 * 365 * 86400)] | None = None
    set: Annotated[float, DecimalRange(0, 2**32 - 1)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ClockUpdate:
        if (self.advance is None) == (self.set is None):
            raise openai_error(
                "missing_required_parameter",
                "Missing required parameter: 'advance'. Send exactly one of 'advance' (seconds) or 'set' (epoch).",
                subpath="advance",
            )
        return self


def _clock_view(request: web.Request) -> dict[str, Any]:
    clock = request.app[STATE].clock
    now = clock.now()
    return {
        "now": now,
        "offset": clock.offset,
        "iso": dt.datetime.fromtimestamp(now, tz=dt.UTC).isoformat().replace("+00:00", "Z"),
        "frozen": clock.frozen,
    }


async def clock(request: web.Request) -> web.Response:
    return _json(_clock_view(request))


async def set_clock(request: web.Request) -> web.Response:
    update = validate_model(ClockUpdate, parse_json_object(await request.read()))
    state = request.app[STATE]
    target = state.clock.now() + update.advance if update.advance is not None else update.set
    assert target is not None
    if not 0 <= target <= CLOCK_MAX:
        key = "advance" if update.advance is not None else "set"
        raise OpenAIError(
            400,
            f"Invalid '{key}': the clock must stay between 0 and {CLOCK_MAX} (epoch seconds), but would be at "
            f"{target:.0f}.",
            param=key,
            code="invalid_value",
        )
    if update.advance is not None:
        await state.store.advance_clock(update.advance)
    else:
        await state.store.set_clock(target)
    return _json(_clock_view(request))


# --- reset and the document ------------------------------------------------------------------------


async def reset(request: web.Request) -> web.Response:
    """Back to a fresh server; with ``X-Mock-Scope``, only that scope's journal, faults and secrets."""
    scope = _scope(request)
    state = request.app[STATE]
    await state.store.reset(scope)
    state.reset(scope)
    return _json({"status": "reset", "scope": scope})


async def openapi(request: web.Request) -> web.Response:
    from ..openapi import control_openapi  # noqa: PLC0415 - a large document, built only when asked for

    return _json(control_openapi())
