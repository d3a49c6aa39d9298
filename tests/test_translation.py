"""``POST /v1/realtime/translations/client_secrets`` end to end: the official SDK over a real socket.

The same mechanism as the realtime mint (auth, validation wording, headers, faults, journal,
scopes, control surface), with the translation session's own defaults and echo.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import aiohttp
import httpx2 as httpx
import openai
import pytest
import yaml
from jsonschema import Draft202012Validator
from openai import AsyncOpenAI, OpenAI

from mockserver.testing import MockServer
from tests.helpers import FIXTURES, strip_nulls

PATH = "/v1/realtime/translations/client_secrets"
SECRET = re.compile(r"^ek_[0-9a-f]{32}$")
SESSION_ID = re.compile(r"^sess_[A-Za-z0-9]{21}$")
FULL_SESSION = {
    "model": "gpt-realtime-translate",
    "audio": {
        "input": {
            "transcription": {"model": "gpt-realtime-whisper"},
            "noise_reduction": {"type": "near_field", "strength": 0.25},
        },
        "output": {"language": "fr"},
    },
}


@cache
def spec_schemas() -> dict[str, Any]:
    with (FIXTURES / "reference" / "translation-and-calls-schemas.yml").open() as handle:
        return dict(yaml.safe_load(handle)["resolved"])


def assert_matches_spec(payload: dict[str, Any]) -> None:
    validator = Draft202012Validator(spec_schemas()["translation_response_200_schema"])
    errors = sorted(validator.iter_errors(strip_nulls(payload)), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


@pytest.fixture(scope="module")
def shared() -> Iterator[MockServer]:
    with MockServer(seed=12) as server:
        yield server


@pytest.fixture
def server(shared: MockServer) -> MockServer:
    shared.reset()
    return shared


@pytest.fixture
def client(server: MockServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0, _strict_response_validation=True) as sdk:
        yield sdk


def test_sdk_mints_a_translation_secret_and_the_session_expires_with_it(server: MockServer, client: OpenAI) -> None:
    raw = client.realtime.translations.client_secrets.with_raw_response.create(
        session=FULL_SESSION,  # type: ignore[arg-type]
        expires_after={"anchor": "created_at", "seconds": 120},
    )
    secret = raw.parse()
    body = json.loads(raw.content)
    assert SECRET.fullmatch(secret.value)
    created_at = int(secret.value[3:11], 16)
    assert secret.expires_at == created_at + 120
    # The spec's example: the session's expires_at is the secret's (not 0, as in a realtime mint).
    assert body["session"]["expires_at"] == secret.expires_at
    assert SESSION_ID.fullmatch(body["session"]["id"])
    assert list(body) == ["value", "expires_at", "session"]
    assert list(body["session"]) == ["id", "type", "expires_at", "model", "audio"]
    assert body["session"]["type"] == "translation"
    assert body["session"]["audio"] == {
        "input": {
            "transcription": {"model": "gpt-realtime-whisper"},
            "noise_reduction": {"type": "near_field", "strength": 0.25},
        },
        "output": {"language": "fr"},
    }
    assert_matches_spec(body)
    for header in ("x-request-id", "openai-version", "openai-processing-ms", "openai-organization", "openai-project"):
        assert header in raw.headers
    listed = server.secret(secret.value)
    assert (listed.kind, listed.expires_at, listed.session) == ("translation", secret.expires_at, body["session"])


def test_defaults_of_a_minimal_session(client: OpenAI) -> None:
    secret = client.realtime.translations.client_secrets.create(session={"model": "gpt-realtime-translate"})
    session = secret.session.model_dump(mode="json", exclude_unset=True)
    assert session["audio"] == {
        "input": {"transcription": None, "noise_reduction": None},
        "output": {"language": "en"},
    }
    assert secret.expires_at == int(secret.value[3:11], 16) + 600
    assert session["expires_at"] == secret.expires_at


def test_noise_reduction_strength_defaults_to_1(client: OpenAI) -> None:
    secret = client.realtime.translations.client_secrets.create(
        session={"model": "m", "audio": {"input": {"noise_reduction": {"type": "far_field"}}}}
    )
    noise = secret.session.audio.input.noise_reduction  # type: ignore[union-attr]
    assert noise is not None
    assert (noise.type, noise.strength) == ("far_field", 1.0)


async def test_async_sdk_mints_and_the_model_is_any_string(server: MockServer) -> None:
    async with AsyncOpenAI(base_url=server.base_url, api_key="sk-test", _strict_response_validation=True) as sdk:
        secret = await sdk.realtime.translations.client_secrets.create(session={"model": "model"})
    assert secret.session.model == "model"
    assert secret.session.type == "translation"


ERRORS: dict[str, tuple[Any, str | None, str, str]] = {
    "no_session": ({}, "session", "missing_required_parameter", "Missing required parameter: 'session'."),
    "null_session": (
        {"session": None},
        "session",
        "missing_required_parameter",
        "Missing required parameter: 'session'.",
    ),
    "no_model": (
        {"session": {}},
        "session.model",
        "missing_required_parameter",
        "Missing required parameter: 'session.model'.",
    ),
    "session_type_is_unknown_here": (
        {"session": {"model": "m", "type": "translation"}},
        "session.type",
        "unknown_parameter",
        "Unknown parameter: 'session.type'.",
    ),
    "model_not_a_string": (
        {"session": {"model": 5}},
        "session.model",
        "invalid_type",
        "Invalid type for 'session.model': expected a string, but got an integer instead.",
    ),
    "transcription_without_model": (
        {"session": {"model": "m", "audio": {"input": {"transcription": {}}}}},
        "session.audio.input.transcription.model",
        "missing_required_parameter",
        "Missing required parameter: 'session.audio.input.transcription.model'.",
    ),
    "noise_reduction_without_type": (
        {"session": {"model": "m", "audio": {"input": {"noise_reduction": {"strength": 0.5}}}}},
        "session.audio.input.noise_reduction.type",
        "missing_required_parameter",
        "Missing required parameter: 'session.audio.input.noise_reduction.type'.",
    ),
    "noise_reduction_bad_type": (
        {"session": {"model": "m", "audio": {"input": {"noise_reduction": {"type": "studio"}}}}},
        "session.audio.input.noise_reduction.type",
        "invalid_value",
        "Invalid value: 'studio'. Supported values are: 'near_field' and 'far_field'.",
    ),
    "strength_above_1": (
        {"session": {"model": "m", "audio": {"input": {"noise_reduction": {"type": "near_field", "strength": 1.5}}}}},
        "session.audio.input.noise_reduction.strength",
        "decimal_above_max_value",
        "Invalid 'session.audio.input.noise_reduction.strength': decimal above maximum value. "
        "Expected a value <= 1, but got 1.5 instead.",
    ),
    "output_voice_is_unknown": (
        {"session": {"model": "m", "audio": {"output": {"voice": "alloy"}}}},
        "session.audio.output.voice",
        "unknown_parameter",
        "Unknown parameter: 'session.audio.output.voice'.",
    ),
    "seconds_below_min": (
        {"session": {"model": "m"}, "expires_after": {"seconds": 5}},
        "expires_after.seconds",
        "integer_below_min_value",
        "Invalid 'expires_after.seconds': integer below minimum value. Expected a value >= 10, but got 5 instead.",
    ),
    "not_an_object": ([1], None, "invalid_type", "Invalid body: expected a JSON object, but got an array instead."),
}


@pytest.mark.parametrize("name", ERRORS)
def test_validation_errors_in_openais_words(client: OpenAI, name: str) -> None:
    body, param, code, message = ERRORS[name]
    with pytest.raises(openai.BadRequestError) as caught:
        client.post("/realtime/translations/client_secrets", body=body, cast_to=httpx.Response)
    assert caught.value.status_code == 400
    assert caught.value.body == {"message": message, "type": "invalid_request_error", "param": param, "code": code}


def test_unparseable_json_and_auth_as_the_realtime_mint(server: MockServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        garbage = http.post(PATH, content=b"{nope", headers={"Authorization": "Bearer sk-test"})
        no_key = http.post(PATH, json={"session": {"model": "m"}})
    assert garbage.status_code == 400
    assert garbage.json()["error"]["message"].startswith("We could not parse the JSON body of your request.")
    assert no_key.status_code == 401
    assert no_key.json()["error"]["message"].startswith("You didn't provide an API key.")


def test_allowed_keys_apply() -> None:
    with (
        MockServer(api_keys=("sk-right",)) as server,
        OpenAI(base_url=server.base_url, api_key="sk-wrong-key-123") as sdk,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        sdk.realtime.translations.client_secrets.create(session={"model": "m"})
    assert caught.value.code == "invalid_api_key"


def test_one_body_is_planned_per_endpoint_kind(client: OpenAI) -> None:
    """The plan cache is keyed by endpoint kind and body: the same bytes mean different things at each."""
    body = {"session": {"model": "gpt-realtime-translate"}}
    for _ in range(2):  # the second time from the cache
        assert (
            client.post("/realtime/translations/client_secrets", body=body, cast_to=httpx.Response).status_code == 200
        )
        with pytest.raises(openai.BadRequestError) as caught:
            client.post("/realtime/client_secrets", body=body, cast_to=httpx.Response)
        assert caught.value.body["message"] == "Missing required parameter: 'session.type'."  # type: ignore[index]


def test_scripted_faults_and_the_journal_cover_it(server: MockServer) -> None:
    server.add_fault(status=429, times=2, retry_after_ms=10, match={"session_type": "translation"})
    with OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=2) as sdk:
        sdk.realtime.client_secrets.create()  # a realtime mint does not match the rule
        secret = sdk.realtime.translations.client_secrets.create(session={"model": "m"})
    server.assert_statuses([200, 429, 429, 200])
    entries = server.requests(path=PATH)
    assert [entry.body for entry in entries] == [{"session": {"model": "m"}}] * 3
    assert entries[0].layer == "scripted"
    assert server.secret(secret.value).kind == "translation"


def test_per_request_fault_headers_apply(client: OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.realtime.translations.client_secrets.create(
            session={"model": "m"}, extra_headers={"X-Mock-Status": "503"}
        )
    assert caught.value.response.headers["x-mock-injected"] == "header"


def test_scopes_and_the_control_surface_list_the_kind(server: MockServer) -> None:
    alice = server.scoped("alice")
    with OpenAI(base_url=server.base_url, api_key="sk-test", default_headers=alice.headers) as sdk:
        translation = sdk.realtime.translations.client_secrets.create(session={"model": "m"})
        realtime = sdk.realtime.client_secrets.create()
    assert [(s.value, s.kind) for s in alice.secrets()] == [
        (translation.value, "translation"),
        (realtime.value, "realtime"),
    ]
    assert server.scoped("bob").secrets() == []
    with httpx.Client(base_url=server.url) as http:
        listing = http.get("/__mock/secrets", headers=alice.headers).json()["data"]
        one = http.get(f"/__mock/secrets/{translation.value}").json()
    assert [s["kind"] for s in listing] == ["translation", "realtime"]
    assert one["session"]["expires_at"] == translation.expires_at == one["expires_at"]


async def test_a_translation_key_opens_no_realtime_session(server: MockServer) -> None:
    with OpenAI(base_url=server.base_url, api_key="sk-test") as sdk:
        key = sdk.realtime.translations.client_secrets.create(session={"model": "m"}).value
    headers = {"Authorization": f"Bearer {key}"}
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        async with http.ws_connect(f"{server.url}/v1/realtime?model=gpt-realtime", headers=headers) as ws:
            event = await ws.receive_json()
            closing = await ws.receive()
        assert event["error"]["code"] == "invalid_api_key"
        assert (closing.type, ws.close_code) == (aiohttp.WSMsgType.CLOSE, 3000)
        offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
        async with http.post(
            f"{server.url}/v1/realtime/calls", data=offer, headers={**headers, "Content-Type": "application/sdp"}
        ) as response:
            assert response.status == 401
            assert (await response.json())["error"]["code"] == "invalid_api_key"
