"""Webhooks the Standard Webhooks way, as OpenAI sends them and its SDKs verify them.

Pure parts: the ``realtime.call.incoming`` event, the signing key and signature
(SESSION_TRUTH §6.2: ``v1,`` + base64 HMAC-SHA256 of ``"{id}.{timestamp}.{body}"``),
the headers. One impure part: ``deliver`` POSTs to the URL a test gave, once, with a
bounded timeout, and reports what happened (it never raises). It is the only outbound
request the mock makes.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import ipaddress
import ssl
import time
from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

import aiohttp

__all__ = [
    "USER_AGENT",
    "WEBHOOK_SECRET_PREFIX",
    "check_secret",
    "deliver",
    "generated_secret",
    "host_allowed",
    "incoming_call_event",
    "sign",
    "signing_key",
    "webhook_headers",
]

USER_AGENT = "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
WEBHOOK_SECRET_PREFIX = "whsec_"
#: Hosts a webhook may always go to: the machine itself.
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def signing_key(secret: str) -> bytes:
    """The HMAC key: base64 of what follows ``whsec_``, else the secret's UTF-8 bytes (as the SDKs do)."""
    if secret.startswith(WEBHOOK_SECRET_PREFIX):
        return base64.b64decode(secret[len(WEBHOOK_SECRET_PREFIX) :], validate=True)
    return secret.encode()


def check_secret(secret: str) -> str:
    """``secret`` if the SDKs can verify with it; ``ValueError`` otherwise."""
    try:
        key = signing_key(secret)
    except (binascii.Error, ValueError):
        raise ValueError("expected whsec_ followed by base64 (or any other non-empty string)") from None
    if not key:
        raise ValueError("the signing key is empty")
    return secret


def generated_secret(seed: int) -> str:
    """A ``whsec_`` secret derived from the seed (so a seeded run signs the same way every time)."""
    key = hashlib.blake2s(f"{seed}:webhook-secret".encode(), digest_size=32).digest()
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(key).decode()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value: ``v1,<base64 HMAC-SHA256>``."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers OpenAI's webhook requests carry (SESSION_TRUTH §6.1)."""
    return {
        "user-agent": USER_AGENT,
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, webhook_id, timestamp, body),
    }


def incoming_call_event(
    event_id: str,
    created_at: int,
    call_id: str,
    sip_headers: list[dict[str, str]],
    media_security: str | None = None,
) -> dict[str, Any]:
    """A ``realtime.call.incoming`` event (SESSION_TRUTH §6.1; ``sip_media_security`` only when known)."""
    data: dict[str, Any] = {"call_id": call_id, "sip_headers": sip_headers}
    if media_security is not None:
        data["sip_media_security"] = media_security
    return {"object": "event", "id": event_id, "type": "realtime.call.incoming", "created_at": created_at, "data": data}


def host_allowed(url: str, allowed: Collection[str]) -> bool:
    """Whether ``url``'s host is loopback (by its literal name, never resolved) or in ``allowed`` (``*``: any)."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    if not host:
        return False
    if "*" in allowed or host in {h.lower() for h in allowed} or host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The verified TLS context of ``https`` webhooks, built on the first one (it reads the system's
    CA bundle, which the ``mockserver`` command keeps from aiohttp's own contexts at start-up)."""
    return ssl.create_default_context()


async def deliver(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> dict[str, Any]:
    """POST ``body`` to ``url`` once; the report: ``status_code`` (or ``None``), ``delivered`` (a 2xx), ``error``.

    Redirects are not followed (OpenAI counts a 3xx as a failure), no proxy is used, and
    the whole exchange is bounded by ``timeout_s``.
    """
    started = time.perf_counter()
    status: int | None = None
    error: str | None = None
    try:
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with (
            aiohttp.ClientSession(timeout=timeout, trust_env=False) as session,
            session.post(
                url,
                data=body,
                headers=headers,
                allow_redirects=False,
                ssl=tls_context() if url[:6].lower() == "https:" else True,
            ) as response,
        ):
            status = response.status
            await response.read()
        if not 200 <= status < 300:
            error = f"the receiver answered {status} (a webhook needs a 2xx)"
    except TimeoutError:
        error = f"no answer within {timeout_s:g} s"
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}".rstrip(": ")
    return {
        "status_code": status,
        "delivered": error is None,
        "error": error,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
    }
