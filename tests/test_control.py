"""The control surface under /__mock/: secrets, clock, journal, faults, presets, settings, reset,
scopes, the OpenAPI document and scenario files."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mockserver import Settings, __version__, create_app
from mockserver.app import ROUTES
from mockserver.keys import STATE
from mockserver.presets import PRESETS
from mockserver.scenario import BUNDLED, load_scenario
from mockserver.settings import SettingsError
from tests.conftest import AUTH, MakeClient
from tests.helpers import FIXTURES, ROOT, load_json

MINT = "/v1/realtime/client_secrets"
LONG_KEY = "sk-test-secret-key-123456"
LONG_AUTH = {"Authorization": f"Bearer {LONG_KEY}"}
ERROR_KEYS = ["message", "type", "param", "code"]
INVALID_JSON_START = "We could not parse the JSON body of your request."
OVERLOADED = "The engine is currently overloaded, please try again later."
RULE_KEYS = [
    "id",
    "scope",
    "all_scopes",
    "status",
    "error",
    "times",
    "applied",
    "latency_ms",
    "fault",
    "retry_after_ms",
    "retry_after",
    "x_should_retry",
    "headers",
    "message",
    "type",
    "code",
    "drop_after_events",
    "event_delay_ms",
    "match",
]


# --- helpers ---------------------------------------------------------------------------------------


def scoped(scope: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    return {**(headers or {}), "X-Mock-Scope": scope}


async def expect_error(
    response: ClientResponse,
    status: int,
    code: str | None,
    param: str | None,
    message: str | None = None,
    type_: str = "invalid_request_error",
) -> dict[str, Any]:
    """Check OpenAI's error envelope (all four keys) and return the inner error."""
    assert response.status == status
    assert response.content_type == "application/json"
    body = await response.json()
    assert list(body) == ["error"]
    error: dict[str, Any] = body["error"]
    assert list(error) == ERROR_KEYS
    assert error["code"] == code
    assert error["param"] == param
    assert error["type"] == type_
    if message is not None:
        assert error["message"] == message
    return error


async def get_json(client: TestClient, path: str, headers: dict[str, str] | None = None) -> Any:
    response = await client.get(path, headers=headers)
    assert response.status == 200, await response.text()
    assert response.content_type == "application/json"
    return await response.json()


async def mint(
    client: TestClient, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = await client.post(MINT, json={} if body is None else body, headers=headers or AUTH)
    assert response.status == 200, await response.text()
    result: dict[str, Any] = await response.json()
    return result


async def add_rule(client: TestClient, rule: Any, headers: dict[str, str] | None = None) -> Any:
    response = await client.post("/__mock/faults", json=rule, headers=headers)
    assert response.status == 201, await response.text()
    return await response.json()


def rule_json(rule_id: str, **fields: Any) -> dict[str, Any]:
    """A fault rule as the server shows it: every key, defaults filled in."""
    base: dict[str, Any] = dict.fromkeys(RULE_KEYS)
    base.update(id=rule_id, all_scopes=False, times=1, applied=0, headers={}, match={})
    base.update(fields)
    return base


def without_time(value: str) -> str:
    """A secret value without what follows the clock: its 8 creation-time hex characters and its last 8 (a tag
    over the rest, time included; docs/configuration.md, "Reproducible runs")."""
    return value[:3] + value[11:-8]


# --- health and settings ---------------------------------------------------------------------------


async def test_health(client: TestClient) -> None:
    response = await client.get("/__mock/health")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "version": __version__, "store": {"kind": "memory", "ok": True}}


async def test_settings_show_seed_and_mask_api_keys(make_client: MakeClient) -> None:
    client = await make_client(seed=1234, api_keys=(LONG_KEY,), journal_size=7)
    response = await client.get("/__mock/settings")
    assert response.status == 200
    text = await response.text()
    assert LONG_KEY not in text
    data = json.loads(text)
    assert data["seed"] == 1234
    assert data["journal_size"] == 7
    assert data["scenario"] is None
    assert len(data["api_keys"]) == 1
    assert data["api_keys"][0] != LONG_KEY
    assert "secret-key" not in data["api_keys"][0]


async def test_settings_report_the_random_seed_used(make_client: MakeClient) -> None:
    client = await make_client()
    response = await client.get("/__mock/settings")
    data = await response.json()
    assert isinstance(data["seed"], int)
    assert response.headers["x-mock-seed"] == str(data["seed"])


# --- secrets ---------------------------------------------------------------------------------------


async def test_secrets_listed_newest_last(client: TestClient) -> None:
    first = await mint(client)
    second = await mint(client, {"session": {"type": "transcription"}, "expires_after": {"seconds": 120}})
    listing = await get_json(client, "/__mock/secrets")
    assert list(listing) == ["data"]
    assert [s["value"] for s in listing["data"]] == [first["value"], second["value"]]
    for view, minted in zip(listing["data"], (first, second), strict=True):
        assert list(view) == ["value", "kind", "created_at", "expires_at", "status", "scope", "session", "sessions"]
        assert view["kind"] == "realtime"
        assert view["sessions"] == []
        assert view["status"] == "active"
        assert view["scope"] is None
        assert view["session"] == minted["session"]
        assert view["expires_at"] == minted["expires_at"]
        assert view["value"][3:11] == f"{view['created_at']:08x}"
    assert listing["data"][0]["expires_at"] == listing["data"][0]["created_at"] + 600
    assert listing["data"][1]["expires_at"] == listing["data"][1]["created_at"] + 120


async def test_get_secret_returns_the_listed_view(client: TestClient) -> None:
    minted = await mint(client)
    view = await get_json(client, f"/__mock/secrets/{minted['value']}")
    listing = await get_json(client, "/__mock/secrets")
    assert listing["data"] == [view]
    assert view["value"] == minted["value"]
    assert view["session"] == minted["session"]


async def test_revoke_secret(client: TestClient) -> None:
    kept = await mint(client)
    revoked = await mint(client)
    response = await client.delete(f"/__mock/secrets/{revoked['value']}")
    assert response.status == 200
    answer = await response.json()
    assert answer["value"] == revoked["value"]
    assert answer["status"] == "revoked"
    assert (await get_json(client, f"/__mock/secrets/{revoked['value']}"))["status"] == "revoked"
    listing = await get_json(client, "/__mock/secrets")
    assert [(s["value"], s["status"]) for s in listing["data"]] == [
        (kept["value"], "active"),
        (revoked["value"], "revoked"),
    ]


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_unknown_secret_is_404(client: TestClient, method: str) -> None:
    await mint(client)
    response = await client.request(method, "/__mock/secrets/ek_00000000000000000000000000000000")
    error = await expect_error(response, 404, "not_found", "value")
    assert "ek_00000000000000000000000000000000" in error["message"]


# --- clock -----------------------------------------------------------------------------------------


async def test_clock_starts_unshifted(client: TestClient) -> None:
    clock = await get_json(client, "/__mock/clock")
    assert sorted(clock) == ["frozen", "iso", "now", "offset"]
    assert clock["frozen"] is False
    assert clock["offset"] == 0
    assert clock["iso"].endswith("Z")
    parsed = dt.datetime.fromisoformat(clock["iso"].removesuffix("Z") + "+00:00")
    assert abs(parsed.timestamp() - clock["now"]) < 0.001


async def test_clock_advance_expires_secrets(client: TestClient) -> None:
    minted = await mint(client)
    before = await get_json(client, "/__mock/clock")
    assert (await get_json(client, f"/__mock/secrets/{minted['value']}"))["status"] == "active"
    response = await client.post("/__mock/clock", json={"advance": 601})
    assert response.status == 200
    after = await response.json()
    assert after["offset"] == 601
    assert 601 <= after["now"] - before["now"] < 700
    assert (await get_json(client, "/__mock/clock"))["offset"] == 601
    assert (await get_json(client, f"/__mock/secrets/{minted['value']}"))["status"] == "expired"
    assert [s["status"] for s in (await get_json(client, "/__mock/secrets"))["data"]] == ["expired"]


async def test_clock_set_pins_the_time_of_new_secrets(client: TestClient) -> None:
    epoch = 2_000_000_000
    response = await client.post("/__mock/clock", json={"set": epoch})
    assert response.status == 200
    clock = await response.json()
    assert epoch <= clock["now"] < epoch + 60
    assert clock["iso"].startswith("2033-05-18T03:33:")
    assert clock["iso"].endswith("Z")
    minted = await mint(client, {"expires_after": {"anchor": "created_at", "seconds": 300}})
    view = await get_json(client, f"/__mock/secrets/{minted['value']}")
    created_at = view["created_at"]
    assert epoch <= created_at < epoch + 60
    assert minted["value"][3:11] == f"{created_at:08x}"
    assert view["expires_at"] == minted["expires_at"] == created_at + 300
    assert view["status"] == "active"


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({}, "missing_required_parameter", "advance"),
        ({"advance": 1, "set": 2}, "missing_required_parameter", "advance"),
        ({"advance": "x"}, "invalid_type", "advance"),
        ({"bogus": 1}, "unknown_parameter", "bogus"),
    ],
)
async def test_clock_rejects_bad_updates(client: TestClient, body: dict[str, Any], code: str, param: str) -> None:
    response = await client.post("/__mock/clock", json=body)
    await expect_error(response, 400, code, param)
    assert (await get_json(client, "/__mock/clock"))["offset"] == 0


async def test_clock_rejects_unparseable_json(client: TestClient) -> None:
    response = await client.post("/__mock/clock", data=b'{"advance": ', headers={"Content-Type": "application/json"})
    error = await expect_error(response, 400, None, None)
    assert error["message"].startswith(INVALID_JSON_START)


# --- journal ---------------------------------------------------------------------------------------


async def test_journal_records_openai_requests(client: TestClient) -> None:
    start = (await get_json(client, "/__mock/clock"))["now"]
    ok = await client.post(MINT, json={"session": {"type": "realtime"}}, headers=LONG_AUTH)
    bad = await client.post(MINT, json={"bogus": 1}, headers=LONG_AUTH)
    missing = await client.post("/v1/nope", json={"a": [1, 2]}, headers=LONG_AUTH)
    assert (ok.status, bad.status, missing.status) == (200, 400, 404)
    await client.get("/__mock/health")  # the control surface is never journaled
    await client.get("/__mock/secrets")
    end = (await get_json(client, "/__mock/clock"))["now"]

    response = await client.get("/__mock/requests")
    text = await response.text()
    assert f"Bearer {LONG_KEY}" not in text
    assert LONG_KEY not in text
    entries = json.loads(text)["data"]
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("POST", MINT, 200),
        ("POST", MINT, 400),
        ("POST", "/v1/nope", 404),
    ]
    assert [e["body"] for e in entries] == [{"session": {"type": "realtime"}}, {"bogus": 1}, {"a": [1, 2]}]
    assert [e["id"] for e in entries] == [r.headers["x-request-id"] for r in (ok, bad, missing)]
    for entry in entries:
        assert entry["latency_ms"] == 0
        assert entry["fault"] is None
        assert entry["scope"] is None
        assert start <= entry["time"] <= end
        recorded = entry["headers"]["authorization"]
        masked = re.fullmatch(r"Bearer (.{0,8}?)\*+(.{0,4})", recorded)
        assert masked is not None, recorded
        assert LONG_KEY.startswith(masked.group(1))
        assert LONG_KEY.endswith(masked.group(2))


async def test_journal_records_non_json_body_as_text(client: TestClient) -> None:
    response = await client.post(MINT, data=b"hello, not json", headers={**AUTH, "Content-Type": "text/plain"})
    await expect_error(response, 400, None, None)
    entries = (await get_json(client, "/__mock/requests"))["data"]
    assert len(entries) == 1
    assert entries[0]["body"] == "hello, not json"
    assert entries[0]["status"] == 400


async def test_journal_clear(client: TestClient) -> None:
    await mint(client)
    await mint(client)
    response = await client.delete("/__mock/requests")
    assert response.status == 200
    assert await response.json() == {"data": []}
    assert (await get_json(client, "/__mock/requests"))["data"] == []
    third = await client.post(MINT, json={}, headers=AUTH)
    entries = (await get_json(client, "/__mock/requests"))["data"]
    assert [e["id"] for e in entries] == [third.headers["x-request-id"]]


async def test_journal_size_keeps_the_newest(make_client: MakeClient) -> None:
    client = await make_client(seed=1, journal_size=2)
    ids = []
    for _ in range(3):
        response = await client.post(MINT, json={}, headers=AUTH)
        assert response.status == 200
        ids.append(response.headers["x-request-id"])
    entries = (await get_json(client, "/__mock/requests"))["data"]
    assert [e["id"] for e in entries] == ids[1:]


async def test_journal_size_zero_records_nothing(make_client: MakeClient) -> None:
    client = await make_client(seed=1, journal_size=0)
    await mint(client)
    assert (await client.post("/v1/nope", headers=AUTH)).status == 404
    assert (await get_json(client, "/__mock/requests"))["data"] == []


# --- faults ----------------------------------------------------------------------------------------


async def test_add_one_fault_rule(client: TestClient) -> None:
    rule = await add_rule(client, {"status": 429, "times": 2, "retry_after_ms": 100})
    assert list(rule) == RULE_KEYS
    assert rule == rule_json("fault_1", status=429, times=2, retry_after_ms=100)
    first = await client.post(MINT, json={}, headers=AUTH)
    error = await expect_error(first, 429, "rate_limit_exceeded", None, type_="requests")
    assert "100ms" in error["message"]
    assert first.headers["retry-after-ms"] == "100"
    listed = (await get_json(client, "/__mock/faults"))["data"]
    assert listed == [rule_json("fault_1", status=429, times=1, applied=1, retry_after_ms=100)]


async def test_add_list_and_delete_fault_rules(client: TestClient) -> None:
    added = await add_rule(client, [{"status": 500}, {"error": "overloaded", "times": 3, "match": {"model": "m"}}])
    assert added == {
        "data": [
            rule_json("fault_1", status=500),
            rule_json("fault_2", error="overloaded", times=3, match={"model": "m"}),
        ]
    }
    third = await add_rule(client, {"latency_ms": 1, "times": None})
    assert third == rule_json("fault_3", latency_ms=1, times=None)
    listing = await get_json(client, "/__mock/faults")
    assert [r["id"] for r in listing["data"]] == ["fault_1", "fault_2", "fault_3"]
    assert listing["data"][:2] == added["data"]

    response = await client.delete("/__mock/faults/fault_2")
    assert response.status == 200
    assert await response.json() == added["data"][1]
    assert [r["id"] for r in (await get_json(client, "/__mock/faults"))["data"]] == ["fault_1", "fault_3"]

    response = await client.delete("/__mock/faults/fault_2")
    error = await expect_error(response, 404, "not_found", None)
    assert "fault_2" in error["message"]

    response = await client.delete("/__mock/faults")
    assert response.status == 200
    assert await response.json() == {"data": []}
    assert (await get_json(client, "/__mock/faults"))["data"] == []
    await mint(client)


@pytest.mark.parametrize(
    ("rule", "code", "param"),
    [
        ({}, "missing_required_parameter", "status"),
        ({"status": 200}, "integer_below_min_value", "status"),
        ({"status": 600}, "integer_above_max_value", "status"),
        ({"status": 429, "times": 0}, "integer_below_min_value", "times"),
        ({"error": "nope"}, "invalid_value", "error"),
        ({"fault": "explode"}, "invalid_value", "fault"),
        ({"status": 500, "bogus": 1}, "unknown_parameter", "bogus"),
        ({"status": 500, "match": {"model": 5}}, "invalid_type", "match.model"),
        ({"status": "500"}, "invalid_type", "status"),
    ],
)
async def test_fault_rule_validation(client: TestClient, rule: dict[str, Any], code: str, param: str) -> None:
    response = await client.post("/__mock/faults", json=rule)
    await expect_error(response, 400, code, param)
    assert (await get_json(client, "/__mock/faults"))["data"] == []


async def test_unknown_preset_message_lists_the_presets(client: TestClient) -> None:
    response = await client.post("/__mock/faults", json={"error": "nope"})
    error = await expect_error(response, 400, "invalid_value", "error")
    assert error["message"].startswith("Invalid value: 'nope'. Supported values are: ")
    for name in PRESETS:
        assert f"'{name}'" in error["message"]


async def test_fault_unknown_parameter_message(client: TestClient) -> None:
    response = await client.post("/__mock/faults", json={"status": 500, "bogus": 1})
    await expect_error(response, 400, "unknown_parameter", "bogus", "Unknown parameter: 'bogus'.")


@pytest.mark.parametrize(
    ("rules", "code", "param"),
    [
        ([{"status": 500}, {"status": 1}], "integer_below_min_value", "[1].status"),
        ([{"status": 500}, {"status": 500, "bogus": True}], "unknown_parameter", "[1].bogus"),
        ([{"status": 500}, 5], "invalid_type", "[1]"),
    ],
)
async def test_fault_array_with_a_bad_rule_adds_nothing(
    client: TestClient, rules: list[Any], code: str, param: str
) -> None:
    response = await client.post("/__mock/faults", json=rules)
    error = await expect_error(response, 400, code, param)
    assert error["param"].startswith("[1]")
    assert (await get_json(client, "/__mock/faults"))["data"] == []


@pytest.mark.parametrize("raw", [b"{nope", b"[{nope", b'[{"status": 500}], "x": 1', b'[{"status": 500}]]'])
async def test_fault_unparseable_body_is_rejected(client: TestClient, raw: bytes) -> None:
    response = await client.post("/__mock/faults", data=raw, headers={"Content-Type": "application/json"})
    error = await expect_error(response, 400, None, None)
    assert error["message"].startswith(INVALID_JSON_START)
    assert (await get_json(client, "/__mock/faults"))["data"] == []


async def test_rule_with_times_null_stays_until_cleared(client: TestClient) -> None:
    await add_rule(client, {"status": 500, "times": None})
    for _ in range(3):
        response = await client.post(MINT, json={}, headers=AUTH)
        await expect_error(response, 500, None, None, type_="server_error")
    listing = (await get_json(client, "/__mock/faults"))["data"]
    assert listing == [rule_json("fault_1", status=500, times=None, applied=3)]
    journal = (await get_json(client, "/__mock/requests"))["data"]
    assert [(e["status"], e["rule_id"], e["layer"]) for e in journal] == [(500, "fault_1", "scripted")] * 3
    await client.delete("/__mock/faults")
    await mint(client)


async def test_used_up_rule_disappears(client: TestClient) -> None:
    await add_rule(client, [{"status": 502, "times": 2}, {"status": 504}])
    statuses = [(await client.post(MINT, json={}, headers=AUTH)).status for _ in range(4)]
    assert statuses == [502, 502, 504, 200]
    assert (await get_json(client, "/__mock/faults"))["data"] == []


async def test_used_up_rule_leaves_the_others_listed(client: TestClient) -> None:
    await add_rule(client, [{"status": 502}, {"status": 503, "match": {"path": "/realtime/*"}}])
    assert (await client.post(MINT, json={}, headers=AUTH)).status == 502
    listing = (await get_json(client, "/__mock/faults"))["data"]
    assert [r["id"] for r in listing] == ["fault_2"]


# --- presets ---------------------------------------------------------------------------------------


async def test_presets_listed(client: TestClient) -> None:
    listing = await get_json(client, "/__mock/presets")
    assert listing == {"data": [{"name": p.name, "status": p.status, "summary": p.summary} for p in PRESETS.values()]}
    assert len(listing["data"]) == len(PRESETS) > 0


# --- reset -----------------------------------------------------------------------------------------


async def test_reset_clears_everything(client: TestClient) -> None:
    await mint(client)
    await add_rule(client, {"status": 500, "times": None})
    await client.post("/__mock/clock", json={"advance": 3600})
    response = await client.post("/__mock/reset")
    assert response.status == 200
    assert await response.json() == {"status": "reset", "scope": None}
    assert (await get_json(client, "/__mock/secrets"))["data"] == []
    assert (await get_json(client, "/__mock/requests"))["data"] == []
    assert (await get_json(client, "/__mock/faults"))["data"] == []
    assert (await get_json(client, "/__mock/clock"))["offset"] == 0
    await mint(client)
    assert (await add_rule(client, {"status": 500}))["id"] == "fault_1"


async def test_reset_reseeds(make_client: MakeClient) -> None:
    fresh = await make_client(seed=1234)
    expected = await mint(fresh)

    client = await make_client(seed=1234)
    first = await mint(client)
    await mint(client)
    await client.post("/__mock/reset")
    again = await mint(client)

    assert without_time(first["value"]) == without_time(expected["value"])
    assert without_time(again["value"]) == without_time(expected["value"])
    assert again["session"]["id"] == expected["session"]["id"]
    assert again["session"] == expected["session"]


# --- scopes ----------------------------------------------------------------------------------------


async def test_scoped_listings(client: TestClient) -> None:
    in_a = await mint(client, headers=scoped("a", AUTH))
    in_b = await mint(client, headers=scoped("b", AUTH))
    unscoped = await mint(client)
    await add_rule(client, {"status": 500, "match": {"path": "/never"}}, headers=scoped("a"))
    await add_rule(client, {"status": 500, "match": {"path": "/never"}}, headers=scoped("b"))

    secrets_a = (await get_json(client, "/__mock/secrets", scoped("a")))["data"]
    assert [(s["value"], s["scope"]) for s in secrets_a] == [(in_a["value"], "a")]
    secrets_b = (await get_json(client, "/__mock/secrets", scoped("b")))["data"]
    assert [(s["value"], s["scope"]) for s in secrets_b] == [(in_b["value"], "b")]
    all_secrets = (await get_json(client, "/__mock/secrets"))["data"]
    assert [s["value"] for s in all_secrets] == [in_a["value"], in_b["value"], unscoped["value"]]
    assert (await get_json(client, f"/__mock/secrets/{in_a['value']}"))["scope"] == "a"

    journal_a = (await get_json(client, "/__mock/requests", scoped("a")))["data"]
    assert [e["scope"] for e in journal_a] == ["a"]
    assert journal_a[0]["headers"]["x-mock-scope"] == "a"
    assert [e["scope"] for e in (await get_json(client, "/__mock/requests"))["data"]] == ["a", "b", None]
    assert (await get_json(client, "/__mock/requests", scoped("c")))["data"] == []

    faults_a = (await get_json(client, "/__mock/faults", scoped("a")))["data"]
    assert [(r["id"], r["scope"]) for r in faults_a] == [("fault_1", "a")]
    assert [r["scope"] for r in (await get_json(client, "/__mock/faults"))["data"]] == ["a", "b"]


async def test_scoped_fault_applies_only_to_its_scope(client: TestClient) -> None:
    rule = await add_rule(client, {"status": 500, "times": None}, headers=scoped("a"))
    assert rule["scope"] == "a"
    await mint(client, headers=scoped("b", AUTH))
    await mint(client)
    for _ in range(2):
        response = await client.post(MINT, json={}, headers=scoped("a", AUTH))
        await expect_error(response, 500, None, None, type_="server_error")
    await mint(client, headers=scoped("b", AUTH))
    listing = (await get_json(client, "/__mock/faults", scoped("a")))["data"]
    assert [(r["id"], r["applied"]) for r in listing] == [("fault_1", 2)]
    assert (await get_json(client, "/__mock/faults", scoped("b")))["data"] == []


async def test_scoped_clear_and_reset(client: TestClient) -> None:
    in_a = await mint(client, headers=scoped("a", AUTH))
    in_b = await mint(client, headers=scoped("b", AUTH))
    await add_rule(client, {"status": 500, "times": None}, headers=scoped("a"))
    await add_rule(client, {"status": 500, "times": None}, headers=scoped("b"))

    response = await client.delete("/__mock/requests", headers=scoped("a"))
    assert response.status == 200
    assert (await get_json(client, "/__mock/requests", scoped("a")))["data"] == []
    assert [e["scope"] for e in (await get_json(client, "/__mock/requests"))["data"]] == ["b"]
    assert len((await get_json(client, "/__mock/secrets"))["data"]) == 2

    await client.post(MINT, json={}, headers=scoped("a", AUTH))  # journaled (500) in scope a
    await client.post("/__mock/clock", json={"advance": 5})
    response = await client.post("/__mock/reset", headers=scoped("a"))
    assert response.status == 200
    assert await response.json() == {"status": "reset", "scope": "a"}

    assert (await get_json(client, "/__mock/secrets", scoped("a")))["data"] == []
    assert (await get_json(client, "/__mock/requests", scoped("a")))["data"] == []
    assert (await get_json(client, "/__mock/faults", scoped("a")))["data"] == []
    assert [s["value"] for s in (await get_json(client, "/__mock/secrets"))["data"]] == [in_b["value"]]
    assert [e["scope"] for e in (await get_json(client, "/__mock/requests"))["data"]] == ["b"]
    assert [r["scope"] for r in (await get_json(client, "/__mock/faults"))["data"]] == ["b"]
    assert (await client.get(f"/__mock/secrets/{in_a['value']}")).status == 404
    # A scoped reset leaves the shared clock alone.
    assert (await get_json(client, "/__mock/clock"))["offset"] == 5
    # Scope a is usable again; scope b is still faulted.
    await mint(client, headers=scoped("a", AUTH))
    assert (await client.post(MINT, json={}, headers=scoped("b", AUTH))).status == 500


# --- the control surface is never faulted ----------------------------------------------------------

CHAOS_HEADERS = {"X-Mock-Status": "503", "X-Mock-Error": "overloaded", "X-Mock-Latency-Ms": "300"}


async def test_control_surface_is_never_faulted(make_client: MakeClient) -> None:
    client = await make_client(seed=1234, error_rate=1.0, latency_ms=0)
    await add_rule(client, {"status": 500, "times": None}, headers=CHAOS_HEADERS)
    faulted = await client.post(MINT, json={}, headers=AUTH)
    await expect_error(faulted, 500, None, None, type_="server_error")
    await client.delete("/__mock/faults", headers=CHAOS_HEADERS)
    configured = await client.post(MINT, json={}, headers=AUTH)
    assert configured.status in {429, 500, 503}
    await add_rule(client, {"status": 500, "times": None}, headers=CHAOS_HEADERS)

    calls: list[tuple[str, str, Any, int]] = [
        ("GET", "/__mock/health", None, 200),
        ("GET", "/__mock/settings", None, 200),
        ("GET", "/__mock/secrets", None, 200),
        ("GET", "/__mock/secrets/{value}", None, 404),
        ("DELETE", "/__mock/secrets/{value}", None, 404),
        ("GET", "/__mock/requests", None, 200),
        ("GET", "/__mock/faults", None, 200),
        ("POST", "/__mock/faults", {"status": 418, "match": {"path": "/never"}}, 201),
        ("DELETE", "/__mock/faults/{rule_id}", None, 200),
        ("GET", "/__mock/replies", None, 200),
        ("POST", "/__mock/replies", {"text": "Hi.", "match": {"user_text": "never"}}, 201),
        ("DELETE", "/__mock/replies/{rule_id}", None, 404),
        ("DELETE", "/__mock/replies", None, 200),
        ("GET", "/__mock/transcripts", None, 200),
        ("POST", "/__mock/transcripts", {"transcripts": ["Hello."]}, 201),
        ("DELETE", "/__mock/transcripts", None, 200),
        ("GET", "/__mock/presets", None, 200),
        ("GET", "/__mock/calls", None, 200),
        ("POST", "/__mock/calls", {}, 201),
        ("GET", "/__mock/calls/{call_id}", None, 404),
        ("DELETE", "/__mock/calls/{call_id}", None, 404),
        ("GET", "/__mock/clock", None, 200),
        ("POST", "/__mock/clock", {"advance": 1}, 200),
        ("GET", "/__mock/openapi.json", None, 200),
        ("DELETE", "/__mock/requests", None, 200),
        ("DELETE", "/__mock/faults", None, 200),
        ("POST", "/__mock/reset", None, 200),
    ]
    registered = {
        (method, path) for path, methods in ROUTES.items() if path.startswith("/__mock/") for method in methods
    }
    assert {(method, path) for method, path, _, _ in calls} == registered

    for method, template, body, status in calls:
        path = template.format(value="ek_00000000000000000000000000000000", rule_id="fault_3", call_id="rtc_0")
        response = await client.request(method, path, json=body, headers=CHAOS_HEADERS)
        assert response.status == status, (method, path, await response.text())
        assert response.content_type == "application/json"
        assert "Server-Timing" not in response.headers
        payload = await response.json()
        if status == 404:
            assert payload["error"]["code"] == "not_found"
        if path == "/__mock/requests" and method == "GET":
            assert [e["status"] for e in payload["data"]] == [500, configured.status]

    assert (await get_json(client, "/__mock/clock"))["offset"] == 0  # reset put it back


# --- unknown control routes ------------------------------------------------------------------------


async def test_unknown_control_route_is_404(client: TestClient) -> None:
    response = await client.get("/__mock/nope")
    await expect_error(response, 404, None, None, "Invalid URL (GET /__mock/nope)")
    assert (await get_json(client, "/__mock/requests"))["data"] == []


async def test_wrong_method_on_control_route_is_405(client: TestClient) -> None:
    response = await client.post("/__mock/health")
    await expect_error(response, 405, None, None, "Invalid method for URL (POST /__mock/health)")
    assert (await get_json(client, "/__mock/requests"))["data"] == []


# --- the OpenAPI document --------------------------------------------------------------------------


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _validator(document: dict[str, Any], component: str) -> Draft202012Validator:
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("urn:mock-openapi", resource)
    return Draft202012Validator({"$ref": f"urn:mock-openapi#/components/schemas/{component}"}, registry=registry)


async def test_openapi_lists_every_route(client: TestClient) -> None:
    document = await get_json(client, "/__mock/openapi.json")
    assert document["openapi"] == "3.1.0"
    assert document["info"]["version"] == __version__
    registered = [
        (method.lower(), path)
        for path, methods in ROUTES.items()
        if path.startswith("/__mock/") or path in (MINT, "/v1/realtime/translations/client_secrets")
        for method in methods
    ]
    assert ("post", MINT) in registered
    assert len(registered) == 29
    for method, path in registered:
        assert path in document["paths"], path
        assert method in document["paths"][path], (method, path)


async def test_openapi_refs_resolve(client: TestClient) -> None:
    document = await get_json(client, "/__mock/openapi.json")
    schemas = document["components"]["schemas"]
    refs = _refs(document)
    assert "#/components/schemas/RealtimeCreateClientSecretRequest" in refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    for name in (
        "Secret",
        "Clock",
        "JournalEntry",
        "FaultRule",
        "ErrorResponse",
        "Health",
        "Preset",
        "ReplyRuleInput",
        "ReplyRule",
        "TranscriptList",
    ):
        Draft202012Validator.check_schema(schemas[name])


async def test_responses_match_openapi_schemas(client: TestClient) -> None:
    document = await get_json(client, "/__mock/openapi.json")
    minted = await mint(client)
    secret = await get_json(client, f"/__mock/secrets/{minted['value']}")
    clock = await get_json(client, "/__mock/clock")
    rule = await add_rule(client, {"status": 503, "times": 2, "match": {"session_type": "realtime"}})
    faulted = await client.post(MINT, json={}, headers=LONG_AUTH)
    error = await faulted.json()
    await client.post(MINT, data=b"not json", headers=AUTH)
    journal = (await get_json(client, "/__mock/requests"))["data"]
    health = await get_json(client, "/__mock/health")
    not_found = await (await client.get("/__mock/secrets/ek_nope")).json()
    presets = (await get_json(client, "/__mock/presets"))["data"]
    reply_body = {"text": "Hi.", "tool_calls": [{"name": "f", "arguments": '{"a": 1}'}], "match": {"user_text": "x"}}
    reply = await (await client.post("/__mock/replies", json=reply_body)).json()
    replies = await get_json(client, "/__mock/replies")
    transcripts = await (await client.post("/__mock/transcripts", json={"transcripts": ["Hello."]})).json()

    samples: list[tuple[str, Any]] = [
        ("Secret", secret),
        ("Clock", clock),
        ("FaultRule", rule),
        ("ErrorResponse", error),
        ("ErrorResponse", not_found),
        ("Health", health),
        ("ClientSecretResponse", minted),
        *[("JournalEntry", entry) for entry in journal],
        *[("Preset", preset) for preset in presets],
        ("ReplyRuleInput", reply_body),
        ("ReplyRule", reply),
        *[("ReplyRule", rule) for rule in replies["data"]],
        ("TranscriptList", transcripts),
        ("TranscriptsInput", {"transcripts": ["Hello."]}),
    ]
    assert len(journal) == 3
    for component, sample in samples:
        _validator(document, component).validate(sample)
    # The schemas can fail: a wrong shape is rejected.
    assert not _validator(document, "Secret").is_valid({**secret, "status": "gone"})
    assert not _validator(document, "ErrorResponse").is_valid({"error": {"message": "x"}})
    assert not _validator(document, "Health").is_valid({"status": "down", "version": __version__})
    assert not _validator(document, "ReplyRuleInput").is_valid({**reply_body, "tool_calls": []})
    assert not _validator(document, "ReplyRule").is_valid({**reply, "times": "1"})


# --- scenarios -------------------------------------------------------------------------------------


def test_bundled_scenario_files_match_the_list() -> None:
    files = sorted(path.stem for path in (FIXTURES / "scenarios").glob("*.json"))
    assert files == sorted(BUNDLED)
    assert (ROOT / "fixtures" / "scenarios").is_dir()


@pytest.mark.parametrize("name", BUNDLED)
async def test_bundled_scenario_loads_and_starts(make_client: MakeClient, name: str) -> None:
    scenario = load_scenario(name)
    assert scenario.name == name
    assert scenario.description
    assert scenario.settings == load_json(f"scenarios/{name}.json")["settings"]
    app = create_app(Settings(scenario=name))
    assert len(app[STATE].faults.rules()) == len(scenario.faults)
    client = await make_client(seed=7, scenario=name)
    assert (await get_json(client, "/__mock/health"))["status"] == "ok"
    settings = await get_json(client, "/__mock/settings")
    assert settings["scenario"] == name
    for key, value in scenario.settings.items():
        assert settings[key] == value
    assert len((await get_json(client, "/__mock/faults"))["data"]) == len(scenario.faults)


async def test_outage_scenario(make_client: MakeClient) -> None:
    client = await make_client(seed=1234, scenario="outage")
    requests: list[tuple[str, Any, dict[str, str]]] = [
        (MINT, {}, AUTH),
        ("/realtime/client_secrets", {"session": {"type": "transcription"}}, AUTH),
        (MINT, {"bogus": 1}, AUTH),
        (MINT, {}, {}),
        ("/v1/nope", {}, AUTH),
    ]
    for path, body, headers in requests:
        response = await client.post(path, json=body, headers=headers)
        await expect_error(response, 503, None, None, OVERLOADED, type_="server_error")
    rules = (await get_json(client, "/__mock/faults"))["data"]
    assert rules == [rule_json("fault_1", error="overloaded", times=None, applied=len(requests), all_scopes=True)]

    assert (await client.delete("/__mock/faults")).status == 200
    await mint(client)

    assert (await client.post("/__mock/reset")).status == 200
    expected = [rule_json("fault_1", error="overloaded", times=None, all_scopes=True)]
    assert (await get_json(client, "/__mock/faults"))["data"] == expected
    response = await client.post(MINT, json={}, headers=AUTH)
    await expect_error(response, 503, None, None, OVERLOADED, type_="server_error")


async def test_outage_scenario_also_fails_scoped_requests(make_client: MakeClient) -> None:
    # The outage scenario promises "every request gets 503"; a request tagged with a scope is one too.
    client = await make_client(seed=1234, scenario="outage")
    response = await client.post(MINT, json={}, headers=scoped("a", AUTH))
    await expect_error(response, 503, None, None, OVERLOADED, type_="server_error")
    # It is listed in every scope, and a scoped clear leaves it in force.
    assert len((await get_json(client, "/__mock/faults", headers=scoped("a")))["data"]) == 1
    assert (await client.delete("/__mock/faults", headers=scoped("a"))).status == 200
    response = await client.post(MINT, json={}, headers=scoped("a", AUTH))
    await expect_error(response, 503, None, None, OVERLOADED, type_="server_error")


async def test_rate_limited_scenario(make_client: MakeClient) -> None:
    # Seed 4: the scenario's 10 % configured error rate does not fire on the fourth request.
    client = await make_client(seed=4, scenario="rate-limited")
    for _ in range(3):
        response = await client.post(MINT, json={}, headers=AUTH)
        error = await expect_error(response, 429, "rate_limit_exceeded", None, type_="requests")
        assert "250ms" in error["message"]
        assert response.headers["retry-after-ms"] == "250"
    await mint(client)
    assert (await get_json(client, "/__mock/faults"))["data"] == []


async def test_scenario_settings_rank_below_explicit_settings(make_client: MakeClient) -> None:
    client = await make_client(seed=1, scenario="slow", latency_ms=0)
    settings = await get_json(client, "/__mock/settings")
    assert settings["latency_ms"] == 0
    assert settings["latency_distribution"] == "lognormal"
    assert settings["latency_jitter_ms"] == 600
    assert settings["latency_max_ms"] == 5000


async def test_scenario_file_from_a_path(make_client: MakeClient, tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(
        json.dumps(
            {
                "description": "two 418s",
                "settings": {"journal_size": 5},
                "faults": [{"status": 418, "times": 2, "message": "teapot"}],
            }
        )
    )
    scenario = load_scenario(str(path))
    assert scenario.name == "mine"
    assert scenario.description == "two 418s"
    client = await make_client(seed=1, scenario=str(path))
    assert (await get_json(client, "/__mock/settings"))["journal_size"] == 5
    for _ in range(2):
        response = await client.post(MINT, json={}, headers=AUTH)
        await expect_error(response, 418, None, None, "teapot")
    await mint(client)


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("unknown-key.json", '{"settings": {"bogus_setting": 1}}', "bogus_setting"),
        ("host.json", '{"settings": {"host": "0.0.0.0"}}', "host"),
        ("bad-value.json", '{"settings": {"error_rate": 2}}', "error_rate"),
        ("invalid.json", '{"settings": {', "not valid JSON"),
        ("bad-rule.json", '{"faults": [{"status": 500}, {"status": 200}]}', "faults[1]"),
        ("extra.json", '{"settings": {}, "what": 1}', "must be an object"),
        ("missing.json", None, "cannot read scenario file"),
    ],
)
def test_bad_scenario_file(tmp_path: Path, name: str, content: str | None, needle: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(SettingsError) as caught:
        load_scenario(str(path))
    message = str(caught.value)
    assert needle in message
    assert "\n" not in message
    with pytest.raises(SettingsError):
        create_app(Settings(scenario=str(path)))
