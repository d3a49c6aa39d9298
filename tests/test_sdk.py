"""End to end with the official ``openai`` SDK over a real socket, strict response validation on."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import cache
from typing import Any

import httpx2 as httpx
import openai
import pytest
import yaml
from aiohttp.test_utils import TestServer
from jsonschema import Draft202012Validator
from openai import AsyncOpenAI, OpenAI
from openai.types.realtime import (
    ClientSecretCreateResponse,
    RealtimeSessionCreateResponse,
    RealtimeTranscriptionSessionCreateResponse,
)

from mockserver import Settings, create_app
from mockserver.serving import server_options
from tests.helpers import FIXTURES, load_json, server_thread, strip_nulls

REQUEST_FIXTURES = sorted(p.name for p in (FIXTURES / "requests").glob("*.json"))
REQUEST_ID = re.compile(r"^req_[0-9a-f]{32}$")


@cache
def official_schemas() -> dict[str, Any]:
    """The official request and response schemas, every $ref inlined (fixtures/reference)."""
    with (FIXTURES / "reference" / "client-secrets-schemas.yml").open() as handle:
        return dict(yaml.safe_load(handle)["resolved"])


def assert_matches_official_response_schema(payload: dict[str, Any]) -> None:
    validator = Draft202012Validator(official_schemas()["response_200_schema"])
    errors = sorted(validator.iter_errors(strip_nulls(payload)), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with server_thread(Settings(port=0, seed=5)) as url:
        yield url


@pytest.fixture
def sync_client(base_url: str) -> Iterator[OpenAI]:
    with OpenAI(base_url=base_url, api_key="sk-test", max_retries=0, _strict_response_validation=True) as client:
        yield client


@pytest.fixture
async def async_client(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> AsyncIterator[AsyncOpenAI]:
    server = await aiohttp_server(create_app(Settings(seed=6)), **server_options())
    async with AsyncOpenAI(
        base_url=str(server.make_url("/v1")), api_key="sk-test", max_retries=0, _strict_response_validation=True
    ) as client:
        yield client


# --- success paths ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REQUEST_FIXTURES)
def test_sync_sdk_mints_every_fixture(sync_client: OpenAI, name: str) -> None:
    body = load_json(f"requests/{name}")
    secret = sync_client.realtime.client_secrets.create(**body)
    assert isinstance(secret, ClientSecretCreateResponse)
    assert secret.value.startswith("ek_")
    assert secret._request_id is not None
    assert REQUEST_ID.match(secret._request_id)
    kind = body.get("session", {}).get("type", "realtime")
    expected_type = (
        RealtimeTranscriptionSessionCreateResponse if kind == "transcription" else RealtimeSessionCreateResponse
    )
    assert isinstance(secret.session, expected_type)


@pytest.mark.parametrize("name", REQUEST_FIXTURES)
async def test_async_sdk_mints_every_fixture(async_client: AsyncOpenAI, name: str) -> None:
    body = load_json(f"requests/{name}")
    secret = await async_client.realtime.client_secrets.create(**body)
    assert secret.value.startswith("ek_")
    assert secret._request_id is not None
    assert secret.expires_at == int(secret.value[3:11], 16) + body.get("expires_after", {}).get("seconds", 600)


def test_sync_sdk_typed_fields(sync_client: OpenAI) -> None:
    secret = sync_client.realtime.client_secrets.create(
        expires_after={"anchor": "created_at", "seconds": 120},
        session={
            "type": "realtime",
            "model": "gpt-realtime",
            "instructions": "Be brief.",
            "audio": {"output": {"voice": "marin"}},
        },
    )
    session = secret.session
    assert isinstance(session, RealtimeSessionCreateResponse)
    assert session.object == "realtime.session"
    assert session.model == "gpt-realtime"
    assert session.instructions == "Be brief."
    assert session.expires_at == 0
    assert session.audio is not None
    assert session.audio.output is not None
    assert session.audio.output.voice == "marin"
    assert session.audio.input is not None
    assert session.audio.input.turn_detection is not None
    assert session.audio.input.turn_detection.type == "server_vad"


def test_openai_generated_test_body_is_accepted(sync_client: OpenAI) -> None:
    """The body openai-python's own generated test sends, except max_output_tokens=0 (see README)."""
    secret = sync_client.realtime.client_secrets.create(
        expires_after={"anchor": "created_at", "seconds": 10},
        session={
            "type": "realtime",
            "audio": {
                "input": {
                    "format": {"rate": 24000, "type": "audio/pcm"},
                    "noise_reduction": {"type": "near_field"},
                    "transcription": {"language": "language", "model": "string", "prompt": "prompt"},
                    "turn_detection": {
                        "type": "server_vad",
                        "create_response": True,
                        "idle_timeout_ms": 5000,
                        "interrupt_response": True,
                        "prefix_padding_ms": 0,
                        "silence_duration_ms": 0,
                        "threshold": 0,
                    },
                },
                "output": {"format": {"rate": 24000, "type": "audio/pcm"}, "speed": 0.25, "voice": "ash"},
            },
            "include": ["item.input_audio_transcription.logprobs"],
            "instructions": "instructions",
            "max_output_tokens": 1,
            "model": "string",
            "output_modalities": ["text"],
            "prompt": {"id": "id", "variables": {"foo": "string"}, "version": "version"},
            "tool_choice": "none",
            "tools": [{"description": "description", "name": "name", "parameters": {}, "type": "function"}],
            "tracing": "auto",
            "truncation": "auto",
        },
    )
    assert secret.expires_at - int(secret.value[3:11], 16) == 10


def test_raw_response_exposes_openai_headers(sync_client: OpenAI) -> None:
    raw = sync_client.realtime.client_secrets.with_raw_response.create()
    assert raw.status_code == 200
    assert raw.headers["openai-version"] == "2020-10-01"
    assert REQUEST_ID.match(raw.headers["x-request-id"])
    assert raw.parse().session.type == "realtime"


# --- errors as SDK exceptions ----------------------------------------------------------------------


def test_sync_sdk_bad_request_carries_code_param_type(sync_client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sync_client.realtime.client_secrets.create(
            session={"type": "realtime", "audio": {"input": {"format": {"type": "pcm16"}}}}  # type: ignore[typeddict-item]
        )
    error = caught.value
    assert error.status_code == 400
    assert error.code == "invalid_value"
    assert error.param == "session.audio.input.format.type"
    assert error.type == "invalid_request_error"
    assert error.request_id is not None
    assert REQUEST_ID.match(error.request_id)
    assert "Supported values are: 'audio/pcm', 'audio/pcmu', and 'audio/pcma'." in str(error)


@pytest.mark.parametrize(
    ("case_name", "exception"),
    [
        ("unknown_session_parameter", openai.BadRequestError),
        ("missing_session_type", openai.BadRequestError),
        ("seconds_below_min", openai.BadRequestError),
        ("speed_above_max", openai.BadRequestError),
        ("function_tool_without_name", openai.BadRequestError),
        ("pcm_output_without_rate", openai.BadRequestError),
    ],
)
async def test_async_sdk_errors_match_catalogue(
    async_client: AsyncOpenAI, case_name: str, exception: type[openai.APIStatusError]
) -> None:
    case = next(c for c in load_json("errors.json")["cases"] if c["name"] == case_name)
    with pytest.raises(exception) as caught:
        await async_client.realtime.client_secrets.create(**case["request"]["body"])
    error = caught.value
    assert error.status_code == case["expect"]["status"]
    assert error.code == case["expect"]["code"]
    assert error.param == case["expect"]["param"]
    assert error.type == case["expect"]["type"]
    assert isinstance(error.body, dict)
    assert error.body["message"] == case["expect"]["message"]


def test_sdk_authentication_error_with_configured_keys() -> None:
    with server_thread(Settings(port=0, api_keys=("sk-allowed",))) as url:
        with OpenAI(base_url=url, api_key="sk-not-the-allowed-one", max_retries=0) as client:
            with pytest.raises(openai.AuthenticationError) as caught:
                client.realtime.client_secrets.create()
            assert caught.value.status_code == 401
            assert caught.value.code == "invalid_api_key"
            assert "sk-not-t**********-one" in str(caught.value)
        with OpenAI(base_url=url, api_key="sk-allowed", max_retries=0) as client:
            assert client.realtime.client_secrets.create().value.startswith("ek_")


def test_sdk_not_found_for_retired_beta_endpoint(sync_client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        sync_client.post("/realtime/sessions", body={}, cast_to=httpx.Response)
    assert caught.value.status_code == 404
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["message"] == "Invalid URL (POST /v1/realtime/sessions)"


# --- the official schema -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", REQUEST_FIXTURES)
def test_request_fixtures_match_official_request_schema(name: str) -> None:
    # A null the spec does not allow (turn_detection_off.json sends instructions: null) counts as omitted.
    validator = Draft202012Validator(official_schemas()["request_body_schema"])
    errors = list(validator.iter_errors(strip_nulls(load_json(f"requests/{name}"))))
    assert not errors, [e.message for e in errors]


@pytest.mark.parametrize("name", REQUEST_FIXTURES)
def test_responses_match_official_response_schema(sync_client: OpenAI, name: str) -> None:
    raw = sync_client.realtime.client_secrets.with_raw_response.create(**load_json(f"requests/{name}"))
    assert_matches_official_response_schema(json.loads(raw.text))


def test_schema_check_would_catch_a_wrong_response() -> None:
    wrong = {"value": "ek_x", "expires_at": "soon", "session": {"type": "realtime", "id": "sess_x"}}
    with pytest.raises(AssertionError):
        assert_matches_official_response_schema(wrong)
