"""Call control (``/v1/realtime/calls/{call_id}/accept|reject|refer|hangup``) with the official SDK.

SIP calls are rung through the handle (``incoming_call``, no webhook here: see
test_webhooks.py); WebRTC calls are set up with an SDP offer. Every route answers 200
with an empty body; the call's state is checked through the control surface.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from mockserver.testing import MockServer
from tests.helpers import load_json
from tests.realtime_client import SDP_OFFER

CALL_ID = re.compile(r"^rtc_[0-9a-f]{32}$")
#: A browser's offer (aiortc answers it for real when the webrtc extra is installed).
OFFER = SDP_OFFER
SESSION: dict[str, Any] = {
    "type": "realtime",
    "model": "gpt-realtime",
    "instructions": "You answer the phone for Example Dental.",
    "audio": {
        "input": {"format": {"type": "audio/pcmu"}, "noise_reduction": {"type": "far_field"}},
        "output": {"format": {"type": "audio/pcmu"}, "voice": "marin"},
    },
}


@pytest.fixture(scope="module")
def shared() -> Iterator[MockServer]:
    with MockServer(seed=31) as server:
        yield server


@pytest.fixture
def server(shared: MockServer) -> MockServer:
    shared.reset()
    return shared


@pytest.fixture
def client(server: MockServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0, _strict_response_validation=True) as sdk:
        yield sdk


def bad_request(call: Any) -> dict[str, Any]:
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    body: dict[str, Any] = caught.value.body  # type: ignore[assignment]
    return body


def test_accept_configures_the_session_as_a_mint_would(server: MockServer, client: OpenAI) -> None:
    ringing = server.incoming_call()
    assert CALL_ID.fullmatch(ringing.id)
    assert (ringing.transport, ringing.status, ringing.session) == ("sip", "ringing", None)
    raw = client.realtime.calls.with_raw_response.accept(ringing.id, **SESSION)
    assert raw.status_code == 200
    assert raw.content == b""
    assert raw.parse() is None
    accepted = server.call(ringing.id)
    assert accepted.status == "accepted"
    assert accepted.session is not None
    minted = client.realtime.client_secrets.create(session=SESSION)  # type: ignore[arg-type]
    expected = minted.session.model_dump(mode="json", exclude_unset=True)
    assert {**accepted.session, "id": "-"} == {**expected, "id": "-"}
    assert accepted.session["audio"]["input"]["noise_reduction"] == {"type": "far_field", "strength": 1.0}


def _accept_cases() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Every catalogued mint error on a realtime session, as the accept body gives it (no ``session.`` in params)."""
    cases = []
    for case in load_json("errors.json")["cases"]:
        body, expect = case["request"].get("body"), case["expect"]
        if not (isinstance(body, dict) and isinstance(body.get("session"), dict)) or case.get("server"):
            continue
        param = expect.get("param") or ""
        if not param.startswith("session.") or body["session"].get("type", "realtime") != "realtime":
            continue
        inner = param.removeprefix("session.")
        error = {**expect, "param": inner, "message": expect["message"].replace(f"'{param}'", f"'{inner}'")}
        cases.append((case["name"], body["session"], error))
    return cases


ACCEPT_CASES = _accept_cases()


def test_accept_cases_cover_the_catalogue() -> None:
    assert len(ACCEPT_CASES) >= 40


@pytest.mark.parametrize(("name", "session", "expect"), ACCEPT_CASES, ids=[c[0] for c in ACCEPT_CASES])
def test_accept_validates_exactly_like_a_mint(
    server: MockServer, client: OpenAI, name: str, session: dict[str, Any], expect: dict[str, Any]
) -> None:
    call = server.incoming_call()
    with pytest.raises(openai.APIStatusError) as caught:
        client.post(f"/realtime/calls/{call.id}/accept", body=session, cast_to=httpx.Response)
    assert caught.value.status_code == expect["status"]
    assert caught.value.body == {k: expect[k] for k in ("message", "type", "param", "code")}
    assert server.call(call.id).status == "ringing"  # a refused accept changes nothing


def test_accept_needs_a_realtime_type(server: MockServer, client: OpenAI) -> None:
    call = server.incoming_call()
    missing = bad_request(lambda: client.post(f"/realtime/calls/{call.id}/accept", body={}, cast_to=httpx.Response))
    assert (missing["code"], missing["param"]) == ("missing_required_parameter", "type")
    wrong = bad_request(lambda: client.realtime.calls.accept(call.id, type="transcription"))  # type: ignore[arg-type]
    assert wrong["message"] == "Invalid value: 'transcription'. Supported values are: 'realtime'."


def test_reject_defaults_to_603_and_takes_a_sip_status(server: MockServer, client: OpenAI) -> None:
    first, second = server.incoming_call(), server.incoming_call()
    assert client.realtime.calls.reject(first.id) is None
    assert client.realtime.calls.reject(second.id, status_code=486) is None
    assert (server.call(first.id).status, server.call(first.id).reject_status_code) == ("rejected", 603)
    assert server.call(second.id).reject_status_code == 486
    third = server.incoming_call()
    low = bad_request(lambda: client.realtime.calls.reject(third.id, status_code=200))
    assert low == {
        "message": "Invalid 'status_code': integer below minimum value. Expected a value >= 400, but got 200 instead.",
        "type": "invalid_request_error",
        "param": "status_code",
        "code": "integer_below_min_value",
    }
    extra = bad_request(lambda: client.realtime.calls.reject(third.id, extra_body={"reason": "busy"}))
    assert (extra["code"], extra["param"]) == ("unknown_parameter", "reason")
    assert server.call(third.id).status == "ringing"


def test_refer_needs_an_answered_call_and_a_tel_or_sip_uri(server: MockServer, client: OpenAI) -> None:
    call = server.incoming_call()
    early = bad_request(lambda: client.realtime.calls.refer(call.id, target_uri="tel:+14155550123"))
    assert early["code"] == "invalid_call_state"
    assert early["message"] == f"Cannot refer call '{call.id}': the call has not been accepted yet."
    client.realtime.calls.accept(call.id, type="realtime")
    missing = bad_request(lambda: client.post(f"/realtime/calls/{call.id}/refer", body={}, cast_to=httpx.Response))
    assert missing["message"] == "Missing required parameter: 'target_uri'."
    web = bad_request(lambda: client.realtime.calls.refer(call.id, target_uri="https://example.com"))
    assert (web["code"], web["param"]) == ("invalid_value", "target_uri")
    assert client.realtime.calls.refer(call.id, target_uri="sip:agent@example.com") is None
    referred = server.call(call.id)
    assert (referred.status, referred.refer_to) == ("referred", "sip:agent@example.com")


TRANSITIONS = [
    # (actions that succeed first, the refused action, how the refusal ends)
    (["accept"], "accept", "the call has already been accepted."),
    (["accept"], "reject", "the call has already been accepted."),
    (["reject"], "accept", "the call is over (it was rejected)."),
    (["hangup"], "accept", "the call is over (it was hung up)."),
    (["accept", "hangup"], "hangup", "the call is over (it was hung up)."),
    (["accept", "refer"], "hangup", "the call is over (it was referred to another destination)."),
]


@pytest.mark.parametrize(("before", "action", "reason"), TRANSITIONS)
def test_actions_that_do_not_fit_the_state_are_refused(
    server: MockServer, client: OpenAI, before: list[str], action: str, reason: str
) -> None:
    call = server.incoming_call()
    do = {
        "accept": lambda: client.realtime.calls.accept(call.id, type="realtime"),
        "reject": lambda: client.realtime.calls.reject(call.id),
        "refer": lambda: client.realtime.calls.refer(call.id, target_uri="tel:+14155550123"),
        "hangup": lambda: client.realtime.calls.hangup(call.id),
    }
    for step in before:
        assert do[step]() is None
    status = server.call(call.id).status
    error = bad_request(do[action])
    assert error == {
        "message": f"Cannot {action} call '{call.id}': {reason}",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_call_state",
    }
    assert server.call(call.id).status == status


def test_the_caller_hanging_up_ends_the_call(server: MockServer, client: OpenAI) -> None:
    call = server.incoming_call()
    with httpx.Client(base_url=server.url) as http:
        ended = http.delete(f"/__mock/calls/{call.id}").json()
    assert ended["status"] == "ended"
    error = bad_request(lambda: client.realtime.calls.accept(call.id, type="realtime"))
    assert error["message"] == f"Cannot accept call '{call.id}': the call is over (the caller hung up)."


@pytest.mark.parametrize("action", ["accept", "reject", "refer", "hangup"])
def test_an_unknown_call_is_404_in_openais_envelope(client: OpenAI, action: str) -> None:
    call_id = "rtc_" + "0" * 32
    body = {"accept": {"type": "realtime"}, "refer": {"target_uri": "tel:+1"}}.get(action, {})
    with pytest.raises(openai.NotFoundError) as caught:
        client.post(f"/realtime/calls/{call_id}/{action}", body=body, cast_to=httpx.Response)
    assert caught.value.body == {
        "message": f"No call found with id '{call_id}'.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def _webrtc_call(server: MockServer, key: str) -> str:
    with httpx.Client(base_url=server.base_url) as http:
        response = http.post(
            "/realtime/calls",
            content=OFFER,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/sdp"},
        )
    assert response.status_code == 201, response.text
    match = re.fullmatch(r"/v1/realtime/calls/(rtc_[0-9a-f]{32})", response.headers["Location"])
    assert match is not None
    return match.group(1)


def test_a_webrtc_call_is_registered_and_can_be_hung_up(server: MockServer, client: OpenAI) -> None:
    secret = client.realtime.client_secrets.create(session={"type": "realtime", "model": "gpt-realtime-mini"})
    call_id = _webrtc_call(server, secret.value)
    call = server.call(call_id)
    assert (call.transport, call.status, call.secret) == ("webrtc", "accepted", secret.value)
    assert call.session is not None
    assert call.session["id"] == secret.session.id
    assert call.session["model"] == "gpt-realtime-mini"
    refused = bad_request(lambda: client.realtime.calls.accept(call_id, type="realtime"))
    assert refused["message"] == (
        f"Cannot accept call '{call_id}': it is a WebRTC call, and only SIP calls can be accepted."
    )
    assert client.realtime.calls.hangup(call_id) is None
    assert server.call(call_id).status == "hung_up"


def test_an_ephemeral_key_hangs_up_only_its_own_webrtc_call(server: MockServer, client: OpenAI) -> None:
    mine = client.realtime.client_secrets.create().value
    other = client.realtime.client_secrets.create().value
    call_id = _webrtc_call(server, mine)
    sip = server.incoming_call()
    with OpenAI(base_url=server.base_url, api_key=other, max_retries=0) as stranger:
        with pytest.raises(openai.AuthenticationError) as caught:
            stranger.realtime.calls.hangup(call_id)
        assert caught.value.body["message"].startswith(  # type: ignore[index]
            "You have insufficient permissions for this operation."
        )
    with OpenAI(base_url=server.base_url, api_key=mine, max_retries=0) as browser:
        with pytest.raises(openai.AuthenticationError):
            browser.realtime.calls.accept(sip.id, type="realtime")
        assert browser.realtime.calls.hangup(call_id) is None
    assert server.call(call_id).status == "hung_up"
    assert server.call(sip.id).status == "ringing"


def test_auth_comes_first(server: MockServer) -> None:
    call = server.incoming_call()
    with httpx.Client(base_url=server.base_url) as http:
        no_key = http.post(f"/realtime/calls/{call.id}/hangup")
        unknown_secret = http.post(
            f"/realtime/calls/{call.id}/hangup", headers={"Authorization": "Bearer ek_" + "1" * 32}
        )
    assert no_key.status_code == 401
    assert no_key.json()["error"]["message"].startswith("You didn't provide an API key.")
    assert unknown_secret.status_code == 401
    assert unknown_secret.json()["error"]["code"] == "invalid_api_key"
    with (
        MockServer(api_keys=("sk-allowed",)) as strict,
        OpenAI(base_url=strict.base_url, api_key="sk-nope") as sdk,
        pytest.raises(openai.AuthenticationError),
    ):
        sdk.realtime.calls.hangup(strict.incoming_call().id)


def test_the_placeholder_call_id_takes_every_action_and_stays(server: MockServer, client: OpenAI) -> None:
    """The official SDKs' generated tests call every route with ``call_id`` in any order."""
    for _ in range(2):
        assert client.realtime.calls.accept("call_id", type="realtime") is None
        assert client.realtime.calls.hangup("call_id") is None
        assert client.realtime.calls.refer("call_id", target_uri="tel:+14155550123") is None
        assert client.realtime.calls.reject("call_id", status_code=486) is None
    assert server.calls() == []
    # Its bodies are still validated.
    error = bad_request(lambda: client.realtime.calls.refer("call_id", target_uri="mailto:x@example.com"))
    assert error["param"] == "target_uri"
    with (
        MockServer(placeholder_call_ids=()) as plain,
        OpenAI(base_url=plain.base_url, api_key="sk-test") as sdk,
        pytest.raises(openai.NotFoundError),
    ):
        sdk.realtime.calls.hangup("call_id")


async def test_async_sdk_controls_calls(server: MockServer) -> None:
    call = server.incoming_call(from_="sip:+14155550123@example.com")
    async with AsyncOpenAI(base_url=server.base_url, api_key="sk-test", _strict_response_validation=True) as sdk:
        assert await sdk.realtime.calls.accept(call.id, type="realtime", output_modalities=["text"]) is None
        assert await sdk.realtime.calls.refer(call.id, target_uri="tel:+14155550199") is None
    done = server.call(call.id)
    assert done.status == "referred"
    assert done.session is not None
    assert done.session["output_modalities"] == ["text"]
    assert done.sip_headers[0] == {"name": "From", "value": "sip:+14155550123@example.com"}


def test_call_control_is_journaled_and_faulted_like_the_rest(server: MockServer, client: OpenAI) -> None:
    call = server.incoming_call()
    server.add_fault(status=500, times=1, match={"path": "/v1/realtime/calls/*/accept"})
    with pytest.raises(openai.InternalServerError):
        client.realtime.calls.accept(call.id, type="realtime")
    assert server.call(call.id).status == "ringing"
    client.realtime.calls.accept(call.id, type="realtime", instructions="Hi")
    entries = server.requests(path=f"/v1/realtime/calls/{call.id}/accept")
    assert [e.status for e in entries] == [500, 200]
    assert entries[1].body == {"type": "realtime", "instructions": "Hi"}
    with httpx.Client(base_url=server.url) as http:
        listing = http.get("/__mock/calls").json()["data"]
    assert [(c["id"], c["status"]) for c in listing] == [(call.id, "accepted")]
    assert json.loads(json.dumps(listing[0]["session"]))["instructions"] == "Hi"
