"""Cross-origin access for browsers, as OpenAI's API allows it: a page calls ``/v1/realtime/calls`` itself.

The documented WebRTC flow has the page (served by the app's own backend) post its SDP offer to the API
with the ``ek_`` key, a cross-origin request with an ``Authorization`` header, so the browser first sends
a preflight (``OPTIONS`` with ``Access-Control-Request-Method``). Production answers it (its REST
responses carry ``access-control-expose-headers: X-Request-ID``, GROUND_TRUTH §5.4), and the agents SDK
reads the answer's ``Location`` from the page. Pure functions of the request's headers.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["EXPOSED_HEADERS", "PREFLIGHT_MAX_AGE", "is_preflight", "preflight_headers", "response_headers"]

#: Response headers a page may read: the request id (as production exposes it) and a call's ``Location``.
EXPOSED_HEADERS = "X-Request-ID, Location"
#: How long a browser may cache a preflight's answer, in seconds.
PREFLIGHT_MAX_AGE = 600
_METHODS = "GET, POST, DELETE, OPTIONS"


def is_preflight(method: str, headers: Mapping[str, str]) -> bool:
    """An ``OPTIONS`` request a browser sends before a cross-origin call."""
    return method == "OPTIONS" and "Access-Control-Request-Method" in headers and "Origin" in headers


def preflight_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The answer to a preflight: any origin, the asked-for headers (``Authorization`` must be named)."""
    answer = {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": _METHODS,
        "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE),
        "Vary": "Origin, Access-Control-Request-Headers",
    }
    asked = headers.get("Access-Control-Request-Headers", "").strip()
    if asked:
        answer["Access-Control-Allow-Headers"] = asked[:1024]
    return answer


def response_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """What a response to a cross-origin request (one with ``Origin``) carries; nothing otherwise."""
    if "Origin" not in headers:
        return {}
    return {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": EXPOSED_HEADERS}
