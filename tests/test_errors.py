"""Every error case in fixtures/errors.json, with its exact status, type, code, param and message."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.conftest import AUTH, MakeClient
from tests.helpers import load_json

CASES: list[dict[str, Any]] = load_json("errors.json")["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
async def test_error_case(make_client: MakeClient, case: dict[str, Any]) -> None:
    client = await make_client(**case.get("server", {}))
    request = case["request"]
    headers = request.get("headers", AUTH)
    if "raw" in request:
        data: bytes | None = request["raw"].encode()
    elif "body" in request:
        data = json.dumps(request["body"]).encode()
    else:
        data = None
    response = await client.request(request["method"], request["path"], data=data, headers=headers)

    expect = case["expect"]
    assert response.status == expect["status"]
    assert response.content_type == "application/json"
    body = await response.json()
    assert list(body) == ["error"]
    assert list(body["error"]) == ["message", "type", "param", "code"]
    assert body["error"] == {
        "message": expect["message"],
        "type": expect["type"],
        "param": expect["param"],
        "code": expect["code"],
    }
    assert response.headers["x-request-id"].startswith("req_")
    assert response.headers["openai-version"] == "2020-10-01"


def test_catalogue_covers_every_error_code() -> None:
    codes = {case["expect"]["code"] for case in CASES}
    assert codes >= {
        None,
        "invalid_api_key",
        "unknown_parameter",
        "missing_required_parameter",
        "invalid_type",
        "invalid_value",
        "integer_below_min_value",
        "integer_above_max_value",
        "decimal_below_min_value",
        "decimal_above_max_value",
        "empty_array",
    }


async def test_oversized_body_gets_413_and_server_keeps_serving(make_client: MakeClient) -> None:
    client = await make_client(max_body_bytes=4096)
    big = json.dumps({"session": {"type": "realtime", "instructions": "x" * 10_000}})
    response = await client.post("/v1/realtime/client_secrets", data=big, headers=AUTH)
    assert response.status == 413
    body = await response.json()
    assert body["error"]["code"] == "request_too_large"
    assert body["error"]["type"] == "invalid_request_error"
    assert "4096 bytes" in body["error"]["message"]
    again = await client.post("/v1/realtime/client_secrets", json={}, headers=AUTH)
    assert again.status == 200


async def test_only_configured_keys_are_accepted(make_client: MakeClient) -> None:
    client = await make_client(api_keys=("sk-one", "sk-two"))
    for key in ("sk-one", "sk-two"):
        response = await client.post("/v1/realtime/client_secrets", json={}, headers={"Authorization": f"Bearer {key}"})
        assert response.status == 200


async def test_any_key_is_accepted_by_default(client: Any) -> None:
    for key in ("sk-test", "My API Key", "anything"):
        response = await client.post("/v1/realtime/client_secrets", json={}, headers={"Authorization": f"Bearer {key}"})
        assert response.status == 200, key


async def test_basic_auth_password_is_the_key(make_client: MakeClient) -> None:
    client = await make_client(api_keys=("sk-right",))
    token = base64.b64encode(b":sk-right").decode()
    response = await client.post("/v1/realtime/client_secrets", json={}, headers={"Authorization": f"Basic {token}"})
    assert response.status == 200


HOSTILE_BODIES = {
    "lone_surrogate": b'{"session": {"type": "realtime", "instructions": "\\ud800"}}',
    "lone_surrogate_in_key": b'{"session": {"type": "realtime", "x\\udfff": 1}}',
    "invalid_utf8": b'{"session": {"type": "realtime", "instructions": "\xff\xfe"}}',
    "nan": b'{"expires_after": {"seconds": NaN}}',
    "infinity": b'{"session": {"type": "realtime", "audio": {"output": {"speed": Infinity}}}}',
    "overflowing_float": b'{"session": {"type": "realtime", "audio": {"output": {"speed": 1e999}}}}',
    "deep_nesting": b"[" * 50_000 + b"]" * 50_000,
    "deep_nesting_in_parameters": b'{"session": {"type": "realtime", "tools": [{"type": "function", "name": "f", '
    b'"parameters": ' + b'{"a": ' * 3000 + b"1" + b"}" * 3000 + b"}]}}",
    "huge_integer": b'{"expires_after": {"seconds": 1' + b"0" * 5000 + b"}}",
    "form_encoded": b"session[type]=realtime",
}


@pytest.mark.parametrize("name", HOSTILE_BODIES)
async def test_hostile_bodies_get_the_parse_error_and_the_server_keeps_serving(
    make_client: MakeClient, name: str
) -> None:
    client = await make_client(max_body_bytes=4 * 1024 * 1024)
    response = await client.post("/v1/realtime/client_secrets", data=HOSTILE_BODIES[name], headers=AUTH)
    assert response.status == 400
    body = await response.json()
    assert body["error"]["message"].startswith("We could not parse the JSON body of your request.")
    assert (body["error"]["param"], body["error"]["code"]) == (None, None)
    assert (await client.post("/v1/realtime/client_secrets", json={}, headers=AUTH)).status == 200


async def test_out_of_range_float_is_reported_not_echoed(client: Any) -> None:
    response = await client.post(
        "/v1/realtime/client_secrets",
        json={"session": {"type": "realtime", "audio": {"output": {"speed": 1e300}}}},
        headers=AUTH,
    )
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "decimal_above_max_value"


async def test_a_path_with_a_newline_gets_the_json_404(client: Any) -> None:
    # %0A in a path: still OpenAI's envelope (the catch-all route once left it to aiohttp's text/plain 404).
    for path in ("/v1/nope%0Aat-all", "/__mock/calls/rtc%0Aunknown", "/v1/realtime/calls/rtc%0Ax/hangup"):
        headers = {"Authorization": "Bearer sk-test-newline-paths"}
        method = client.post if path.endswith("/hangup") else client.get
        response = await method(path, headers=headers)
        assert response.status == 404, path
        assert response.content_type == "application/json", path
        assert "error" in await response.json()
