"""Minting: the canonical request bodies in fixtures/requests give the responses in fixtures/responses."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from mockserver import __version__
from mockserver.defaults import DEFAULT_INSTRUCTIONS
from tests.conftest import AUTH, MakeClient
from tests.helpers import FIXTURES, load_json, normalise

REQUESTS = sorted(p.name for p in (FIXTURES / "requests").glob("*.json"))
SECRET = re.compile(r"^ek_[0-9a-f]{32}$")
SESSION_ID = re.compile(r"^sess_[A-Za-z0-9]{21}$")
REQUEST_ID = re.compile(r"^req_[0-9a-f]{32}$")


def test_every_request_fixture_has_an_expected_response() -> None:
    responses = sorted(p.name for p in (FIXTURES / "responses").glob("*.json"))
    assert responses == REQUESTS
    assert {"empty.json", "minimal.json", "full_realtime.json", "full_transcription.json"} <= set(REQUESTS)


@pytest.mark.parametrize("name", REQUESTS)
async def test_request_fixture_gives_expected_response(client: TestClient, name: str) -> None:
    body = (FIXTURES / "requests" / name).read_bytes()
    response = await client.post("/v1/realtime/client_secrets", data=body, headers=AUTH)
    assert response.status == 200
    actual = normalise(await response.json())
    expected = load_json(f"responses/{name}")
    # json.dumps keeps key order, so this also checks production's key order.
    assert json.dumps(actual, indent=1) == json.dumps(expected, indent=1)


async def test_mint_without_v1_prefix(client: TestClient) -> None:
    response = await client.post("/realtime/client_secrets", json={"session": {"type": "realtime"}}, headers=AUTH)
    assert response.status == 200
    assert (await response.json())["session"]["object"] == "realtime.session"


async def test_secret_value_encodes_creation_time_and_expiry(client: TestClient) -> None:
    before = int(time.time())
    response = await client.post(
        "/v1/realtime/client_secrets", json={"expires_after": {"anchor": "created_at", "seconds": 10}}, headers=AUTH
    )
    after = int(time.time())
    body = await response.json()
    assert SECRET.match(body["value"])
    created_at = int(body["value"][3:11], 16)
    assert before <= created_at <= after
    assert body["expires_at"] == created_at + 10
    assert SESSION_ID.match(body["session"]["id"])
    assert body["session"]["expires_at"] == 0


async def test_default_expiry_is_600_seconds(client: TestClient) -> None:
    body = await (await client.post("/v1/realtime/client_secrets", json={}, headers=AUTH)).json()
    assert body["expires_at"] == int(body["value"][3:11], 16) + 600


async def test_each_mint_is_unique(client: TestClient) -> None:
    seen_values, seen_ids = set(), set()
    for _ in range(50):
        body = await (await client.post("/v1/realtime/client_secrets", json={}, headers=AUTH)).json()
        seen_values.add(body["value"])
        seen_ids.add(body["session"]["id"])
    assert len(seen_values) == 50
    assert len(seen_ids) == 50


async def test_same_seed_mints_same_values(make_client: MakeClient) -> None:
    async def mint_ids(seed: int) -> list[tuple[str, str]]:
        client = await make_client(seed=seed)
        out = []
        for _ in range(3):
            body = await (await client.post("/v1/realtime/client_secrets", json={}, headers=AUTH)).json()
            # The random middle: the first 8 hex are the clock and the last 8 a tag over it (docs: Reproducible runs).
            out.append((body["value"][11:-8], body["session"]["id"]))
        return out

    first, second, other = await mint_ids(99), await mint_ids(99), await mint_ids(100)
    assert first == second
    assert first != other


async def test_default_instructions_are_the_documented_server_default(client: TestClient) -> None:
    body = await (await client.post("/v1/realtime/client_secrets", json={}, headers=AUTH)).json()
    assert body["session"]["instructions"] == DEFAULT_INSTRUCTIONS
    assert body["session"]["instructions"].startswith("Your knowledge cutoff is 2023-10.")


async def test_response_headers(client: TestClient) -> None:
    response = await client.post("/v1/realtime/client_secrets", json={}, headers=AUTH)
    assert REQUEST_ID.match(response.headers["x-request-id"])
    assert response.headers["openai-version"] == "2020-10-01"
    assert int(response.headers["openai-processing-ms"]) >= 0
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["openai-organization"]
    assert response.headers["openai-project"].startswith("proj_")
    assert response.headers["x-mock-seed"] == "1234"


async def test_health(client: TestClient) -> None:
    response = await client.get("/__mock/health")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "version": __version__, "store": {"kind": "memory", "ok": True}}


@pytest.mark.parametrize(
    ("session", "path", "expected"),
    [
        ({"audio": {"output": {"voice": "cedar"}}}, ("audio", "output", "voice"), "cedar"),
        ({"audio": {"output": {"voice": {"id": "voice_abc"}}}}, ("audio", "output", "voice"), "voice_abc"),
        ({"audio": {"output": {"speed": 1}}}, ("audio", "output", "speed"), 1.0),
        ({"audio": {"input": {"turn_detection": None}}}, ("audio", "input", "turn_detection"), None),
        (
            {"audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 800}}}},
            ("audio", "input", "turn_detection"),
            {
                "type": "server_vad",
                "threshold": 0.5,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 800,
                "idle_timeout_ms": None,
                "create_response": True,
                "interrupt_response": True,
            },
        ),
        (
            {"audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}},
            ("audio", "input", "turn_detection"),
            {"type": "semantic_vad", "eagerness": "auto", "create_response": True, "interrupt_response": True},
        ),
        (
            {"audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}}}},
            ("audio", "input", "transcription"),
            {"model": "gpt-4o-mini-transcribe", "language": None, "prompt": None},
        ),
        ({"instructions": None}, ("instructions",), DEFAULT_INSTRUCTIONS),
        ({"max_output_tokens": 4096}, ("max_output_tokens",), 4096),
        ({"model": "my-fine-tune"}, ("model",), "my-fine-tune"),
        ({"reasoning": {}}, ("reasoning",), {"effort": "low"}),
        ({"tracing": "auto"}, ("tracing",), "auto"),
        ({"output_modalities": ["text"]}, ("output_modalities",), ["text"]),
    ],
)
async def test_request_merged_over_defaults(
    client: TestClient, session: dict[str, Any], path: tuple[str, ...], expected: Any
) -> None:
    response = await client.post(
        "/v1/realtime/client_secrets", json={"session": {"type": "realtime", **session}}, headers=AUTH
    )
    assert response.status == 200, await response.text()
    value: Any = (await response.json())["session"]
    for key in path:
        value = value[key]
    assert value == expected


async def test_parallel_tool_calls_is_accepted_but_not_echoed(client: TestClient) -> None:
    response = await client.post(
        "/v1/realtime/client_secrets",
        json={"session": {"type": "realtime", "parallel_tool_calls": True}},
        headers=AUTH,
    )
    assert response.status == 200
    assert "parallel_tool_calls" not in (await response.json())["session"]


def test_fixture_files_are_valid_json() -> None:
    for path in Path(FIXTURES).rglob("*.json"):
        json.loads(path.read_text())


async def test_seeded_secrets_do_not_depend_on_other_requests(make_client: MakeClient) -> None:
    quiet = await make_client(seed=5)
    busy = await make_client(seed=5)
    for _ in range(3):
        await busy.get("/__mock/health")
        await busy.post("/v1/realtime/client_secrets", data=b"{", headers=AUTH)
    a = await (await quiet.post("/v1/realtime/client_secrets", json={}, headers=AUTH)).json()
    b = await (await busy.post("/v1/realtime/client_secrets", json={}, headers=AUTH)).json()
    assert a["value"][11:-8] == b["value"][11:-8]  # the random middle (the ends follow the clock)
    assert a["session"]["id"] == b["session"]["id"]
