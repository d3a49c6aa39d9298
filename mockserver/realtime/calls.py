"""WebRTC calls: ``POST /v1/realtime/calls`` takes an SDP offer and answers an SDP answer (201).

Every call is registered (``state.calls``, transport ``webrtc``, accepted at once), so
``POST /v1/realtime/calls/{call_id}/hangup`` (``handlers/calls.py``) ends it. With the ``webrtc`` extra the
answer opens a live call (``webrtc.WebRTCCalls``: media and the ``oai-events`` data channel).
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib

from aiohttp import web

from ..auth import api_key_from_header
from ..body import parse_json
from ..calls import Call
from ..defaults import session_from_request
from ..errors import OpenAIError, incorrect_api_key, missing_api_key
from ..keys import EXCHANGE, STATE, WEBRTC_CALLS, WS_FAULTS
from ..middleware import scope_of
from ..schemas import validate_model
from ..schemas.requests import RealtimeCreateClientSecretRequest
from ..secrets import ClientSecret
from .sessions import Opening, remember_session
from .webrtc import WEBRTC_EXTRA_HINT, CallRequest

__all__ = ["MEDIA_HEADER", "create_call", "sdp_answer"]

#: On a signalling-only answer (no ``webrtc`` extra): says that no media will flow, and how to get it.
MEDIA_HEADER = "x-mock-webrtc"


async def create_call(request: web.Request) -> web.Response:
    """``POST /v1/realtime/calls``: an SDP offer in, an SDP answer out (201), with a ``Location``.

    With the ``webrtc`` extra the answer opens a real call (``webrtc.WebRTCCalls``); without it, the
    answer is signalling only and says so (an ``a=x-mock-webrtc`` line and an ``x-mock-webrtc`` header).
    """
    state = request.app[STATE]
    key = api_key_from_header(request.headers.get("Authorization"))
    if key is None:
        raise missing_api_key()
    now = state.clock.now()
    secret: ClientSecret | None = None
    if key.startswith("ek_"):
        secret = await state.store.get_secret(key)
        # A translation key opens translation sessions only.
        if secret is None or secret.status(now) != "active" or secret.kind != "realtime":
            raise incorrect_api_key(key)
    elif state.settings.api_keys and key not in state.settings.api_keys:
        raise incorrect_api_key(key)

    content_type = request.content_type
    if content_type == "multipart/form-data":
        offer, asked = await _multipart_offer(request)
    elif content_type == "application/sdp":
        offer = (await request.read()).decode("utf-8", errors="replace")
        asked = None
    else:
        raise OpenAIError(
            400,
            "Unsupported content type for /v1/realtime/calls: send the SDP offer as application/sdp, or as "
            "multipart/form-data with 'sdp' and 'session' parts.",
            param="content-type",
            code="unsupported_content_type",
        )
    if not offer.lstrip().startswith("v=0"):
        raise OpenAIError(
            400, "Invalid 'sdp': expected an SDP offer starting with 'v=0'.", param="sdp", code="invalid_sdp"
        )

    call_id = state.ids.call_id()
    opening = _opening(request, secret, asked)
    state.calls.add(
        Call(
            id=call_id,
            transport="webrtc",
            status="accepted",
            created_at=int(now),
            updated_at=int(now),
            scope=opening.scope,
            secret=secret.value if secret is not None else None,
            session=dict(opening.session),
            session_request=dict(opening.request),
        )
    )
    calls = request.app[WEBRTC_CALLS]
    if calls.media:
        answer = await calls.open(
            CallRequest(call_id, opening, offer, key, request.get(EXCHANGE), request.get(WS_FAULTS))
        )
        response = web.Response(status=201, text=answer, content_type="application/sdp")
    else:
        if secret is not None:
            remember_session(state, secret, opening.session["id"], "webrtc", call_id)
        answer = sdp_answer(offer, state.ids.event_id())
        response = web.Response(status=201, text=answer, content_type="application/sdp")
        response.headers[MEDIA_HEADER] = f"signalling-only; {WEBRTC_EXTRA_HINT}"
    response.headers["Location"] = f"/v1/realtime/calls/{call_id}"
    return response


def _opening(
    request: web.Request, secret: ClientSecret | None, asked: RealtimeCreateClientSecretRequest | None
) -> Opening:
    """The session the call opens: the minted one for an ``ek_`` key, else the multipart's (or a default one)."""
    state = request.app[STATE]
    if secret is not None:
        return Opening(secret.session, secret.session_request, secret, secret.scope)
    parsed = asked or RealtimeCreateClientSecretRequest()
    session = session_from_request(parsed, state.ids.session_id())
    wanted = parsed.session.model_dump(exclude_unset=True) if parsed.session is not None else {"type": "realtime"}
    return Opening(session, wanted, None, scope_of(request))


async def _multipart_offer(request: web.Request) -> tuple[str, RealtimeCreateClientSecretRequest | None]:
    """The ``sdp`` and ``session`` parts of a multipart offer (the session validated as a mint's)."""
    raw = await request.read()
    header = f"Content-Type: {request.headers.get('Content-Type', '')}\r\n\r\n".encode("latin-1", "replace")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + raw)
    offer: str | None = None
    asked: RealtimeCreateClientSecretRequest | None = None
    parts = message.iter_parts() if message.is_multipart() else iter(())
    for part in parts:
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if name == "sdp":
            offer = data.decode("utf-8", errors="replace")
        elif name == "session":
            asked = validate_model(RealtimeCreateClientSecretRequest, {"session": parse_json(data)})
    if offer is None:
        raise OpenAIError(400, "Missing required parameter: 'sdp'.", param="sdp", code="missing_required_parameter")
    return offer, asked


def sdp_answer(offer: str, seed_text: str) -> str:
    """A plausible SDP answer mirroring the offer's media sections; no media flows (the ``webrtc`` extra is
    missing), which its ``a=x-mock-webrtc`` line says."""
    ufrag, pwd = seed_text[-8:], (seed_text * 2)[-24:]
    fingerprint = ":".join(f"{ord(c) % 256:02X}" for c in (seed_text * 3)[:32])
    mids = [line.split(":", 1)[1] for line in offer.splitlines() if line.startswith("a=mid:")]
    media = [line for line in offer.splitlines() if line.startswith("m=")]
    lines = [
        "v=0",
        f"o=- {int(hashlib.sha256(seed_text.encode()).hexdigest()[:15], 16)} 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE " + " ".join(mids or ["0"]),
        "a=msid-semantic: WMS",
        f"a=x-mock-webrtc:signalling-only; {WEBRTC_EXTRA_HINT}",
    ]
    for index, m_line in enumerate(media or ["m=audio 9 UDP/TLS/RTP/SAVPF 111"]):
        kind = m_line.split()[0].removeprefix("m=")
        mid = mids[index] if index < len(mids) else str(index)
        if kind == "application":
            lines += ["m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0"]
        else:
            lines += ["m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0"]
        lines += [
            f"a=ice-ufrag:{ufrag}",
            f"a=ice-pwd:{pwd}",
            f"a=fingerprint:sha-256 {fingerprint}",
            "a=setup:active",
            f"a=mid:{mid}",
        ]
        if kind == "application":
            lines.append("a=sctp-port:5000")
        else:
            lines += ["a=sendrecv", "a=rtcp-mux", "a=rtpmap:111 opus/48000/2", "a=fmtp:111 minptime=10;useinbandfec=1"]
        lines.append("a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host")
    return "\r\n".join(lines) + "\r\n"
