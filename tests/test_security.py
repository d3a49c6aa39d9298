"""Safe by default: the control surface can be locked or turned off, keys are masked, mock secrets
are recognisable, limits hold, and the life cycle is graceful."""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

import mockserver
from mockserver import is_mock_secret
from mockserver.faults import MAX_FAULT_RULES
from mockserver.journal import JournalEntry
from mockserver.keys import STATE
from mockserver.logs import JsonFormatter, startup_line
from mockserver.middleware import MAX_SCOPE_LENGTH
from tests.conftest import AUTH, MakeClient
from tests.test_cli import _env, running

MINT = "/v1/realtime/client_secrets"


def test_public_api_is_pinned() -> None:
    assert sorted(mockserver.__all__) == ["Settings", "__version__", "create_app", "is_mock_secret", "server_options"]


# --- the control surface: token and off -------------------------------------------------------------


async def test_control_token_locks_everything_but_health(make_client: MakeClient) -> None:
    client = await make_client(control_token="s3cret-token")
    assert (await client.get("/__mock/health")).status == 200
    for method, path in [("GET", "/__mock/requests"), ("POST", "/__mock/reset"), ("GET", "/__mock/openapi.json")]:
        response = await client.request(method, path)
        assert response.status == 401
        error = (await response.json())["error"]
        assert error["code"] == "invalid_control_token"
        assert "s3cret" not in error["message"]
    wrong = await client.get("/__mock/requests", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    for headers in ({"Authorization": "Bearer s3cret-token"}, {"X-Mock-Token": "s3cret-token"}):
        assert (await client.get("/__mock/requests", headers=headers)).status == 200
    # The OpenAI surface is untouched by the control token.
    assert (await client.post(MINT, json={}, headers=AUTH)).status == 200


async def test_control_off_hides_the_surface_but_not_health(make_client: MakeClient) -> None:
    client = await make_client(control="off")
    assert (await client.get("/__mock/health")).status == 200
    response = await client.post("/__mock/faults", json={"status": 500})
    assert response.status == 404
    assert (await response.json())["error"]["message"] == "Invalid URL (POST /__mock/faults)"
    assert (await client.post(MINT, json={}, headers=AUTH)).status == 200


# --- keys never recorded in clear -------------------------------------------------------------------


async def test_keys_are_masked_in_the_journal_and_logs(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    key = "sk-proj-REALLOOKINGKEY0123456789abcdef"
    client = await make_client(log_level="debug")
    with caplog.at_level(logging.DEBUG, logger="mockserver"):
        await client.post(MINT, json={}, headers={"Authorization": f"Bearer {key}", "X-Api-Key": key})
        journal = await (await client.get("/__mock/requests")).text()
    assert key not in journal
    assert "sk-proj-" in journal
    assert key not in caplog.text
    assert any("POST /v1/realtime/client_secrets -> 200" in r.getMessage() for r in caplog.records)


async def test_every_way_out_of_a_journal_entry_is_masked(make_client: MakeClient) -> None:
    """Entries keep the headers as received and mask them when first read: whichever way an entry
    is first read (the journal API, the handle's snapshot, repr, pickle, copy), the key never shows."""
    key = "sk-proj-REALLOOKINGKEY0123456789abcdef"
    client = await make_client()
    journal = client.server.app[STATE].journal
    ways: dict[str, Callable[[JournalEntry], object]] = {
        "headers": lambda entry: entry.headers,
        "to_json": lambda entry: json.dumps(entry.to_json()),
        "snapshot": lambda entry: repr(entry.snapshot()) + repr(entry.snapshot().headers),
        "repr": repr,
        "pickle": lambda entry: pickle.dumps(entry),
        "copy": lambda entry: repr(copy.copy(entry).__getstate__()),
        "deepcopy": lambda entry: repr(copy.deepcopy(entry).__getstate__()),
    }
    for name, read in ways.items():
        headers = {"Authorization": f"Bearer {key}", "Api-Key": key, "X-Which": name}
        assert (await client.post(MINT, json={}, headers=headers)).status == 200
        entry = journal.entries()[-1]
        shown = read(entry)
        text = shown.decode("latin-1") if isinstance(shown, bytes) else str(shown)
        assert key not in text, name
        assert key not in repr(entry.__getstate__()), name
    # The journal API, on an entry never read before.
    assert (await client.post(MINT, json={}, headers={"Authorization": f"Bearer {key}"})).status == 200
    listed = await (await client.get("/__mock/requests")).text()
    assert key not in listed
    assert "Bearer sk-proj-" in listed


def test_json_log_lines() -> None:
    record = logging.makeLogRecord(
        {"name": "mockserver", "levelno": logging.INFO, "levelname": "INFO", "msg": "listening on %s", "args": ("x",)}
    )
    record.port = 8080
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "info"
    assert line["message"] == "listening on x"
    assert line["port"] == 8080
    assert line["logger"] == "mockserver"


def test_json_start_up_line_is_one_json_object() -> None:
    line = json.loads(startup_line("json", version="1.2", host="127.0.0.1", port=8080, seed=7, scenario="flaky"))
    assert line["message"] == "listening on http://127.0.0.1:8080 (seed 7, scenario flaky)"
    assert (line["level"], line["logger"], line["version"]) == ("info", "mockserver", "1.2")
    assert (line["host"], line["port"], line["seed"], line["scenario"]) == ("127.0.0.1", 8080, 7, "flaky")
    text = startup_line("text", version="1.2", host="127.0.0.1", port=8080, seed=7, scenario=None)
    assert text == "mockserver 1.2 listening on http://127.0.0.1:8080 (seed 7)"


def test_server_logs_json_on_request() -> None:
    with running("--log-format", "json", "--log-level", "debug") as (process, port):
        request = urllib.request.Request(f"http://127.0.0.1:{port}{MINT}", data=b"{}", headers=AUTH, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
        assert process.stderr is not None
        lines = [json.loads(line) for line in process.stderr.read().splitlines() if line.strip()]
    messages = [line["message"] for line in lines]
    assert any(m.startswith("POST /v1/realtime/client_secrets -> 200") for m in messages)
    assert messages[-1] == "stopped"
    assert "sk-test" not in json.dumps(lines)


# --- mock secrets are recognisable -------------------------------------------------------------------


async def test_every_minted_secret_is_recognisable(client: TestClient) -> None:
    for _ in range(20):
        value = (await (await client.post(MINT, json={}, headers=AUTH)).json())["value"]
        assert is_mock_secret(value)
    # The two real secrets quoted in GROUND_TRUTH §3.6 are not the mock's.
    assert not is_mock_secret("ek_68af296e8e408191a1120ab6383263c2")
    assert not is_mock_secret("ek_69372e1657ec819195466cb4d74db6e2")
    assert not is_mock_secret("sk-test")
    assert not is_mock_secret(value[:-1] + ("0" if value[-1] != "0" else "1"))


# --- limits --------------------------------------------------------------------------------------------


async def test_fault_rules_are_bounded(make_client: MakeClient) -> None:
    client = await make_client()
    batch = [{"status": 500, "match": {"path": "/never"}}] * 1000
    for _ in range(MAX_FAULT_RULES // 1000):
        assert (await client.post("/__mock/faults", json=batch)).status == 201
    response = await client.post("/__mock/faults", json={"status": 500})
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "too_many_fault_rules"
    assert (await client.delete("/__mock/faults")).status == 200
    assert (await client.post("/__mock/faults", json={"status": 500})).status == 201


async def test_scope_names_are_bounded(client: TestClient) -> None:
    too_long = "s" * (MAX_SCOPE_LENGTH + 1)
    for method, path, headers in [("POST", MINT, AUTH), ("GET", "/__mock/requests", {})]:
        response = await client.request(method, path, json={}, headers={**headers, "X-Mock-Scope": too_long})
        assert response.status == 400
        assert (await response.json())["error"]["param"] == "X-Mock-Scope"
    ok = await client.post(MINT, json={}, headers={**AUTH, "X-Mock-Scope": "s" * MAX_SCOPE_LENGTH})
    assert ok.status == 200


async def test_latency_settings_cap_every_delay(make_client: MakeClient) -> None:
    client = await make_client(latency_max_ms=30)
    await client.post("/__mock/faults", json={"latency_ms": 10_000_000})
    response = await client.post(MINT, json={}, headers=AUTH)
    assert response.headers["Server-Timing"].endswith("dur=30.0")


# --- no outbound network --------------------------------------------------------------------------------


def test_no_outbound_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every surface exercised with connect() to anything but loopback forbidden."""
    real_connect = socket.socket.connect
    attempts: list[Any] = []

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            attempts.append(address)
            raise OSError("outbound connection attempted")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    from mockserver.testing import MockServer  # noqa: PLC0415

    with MockServer(scenario="flaky", seed=1) as server:
        for method, path, body in [
            ("POST", MINT, b"{}"),
            ("POST", MINT, b'{"session": {"type": "transcription"}}'),
            ("GET", "/__mock/openapi.json", None),
            ("GET", "/__mock/requests", None),
            ("POST", "/__mock/reset", None),
        ]:
            request = urllib.request.Request(f"{server.url}{path}", data=body, headers=AUTH, method=method)
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    response.read()
            except urllib.error.HTTPError as error:
                error.close()
    assert attempts == []


# --- graceful life cycle -------------------------------------------------------------------------------


def test_sigterm_lets_requests_in_flight_finish() -> None:
    with running() as (process, port):
        results: dict[str, Any] = {}

        def slow_request() -> None:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{MINT}",
                data=b"{}",
                headers={**AUTH, "X-Mock-Latency-Ms": "1500"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                results["status"] = response.status
                results["body"] = json.loads(response.read())

        thread = threading.Thread(target=slow_request)
        thread.start()
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        thread.join(10)
        assert results.get("status") == 200
        assert str(results["body"]["value"]).startswith("ek_")
        assert process.wait(15) == 0


def test_sigterm_with_a_hanging_request_stops_within_the_drain_bound() -> None:
    with running("--latency-max-ms", "60000") as (process, port):

        def hang() -> None:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{MINT}", data=b"{}", headers={**AUTH, "X-Mock-Fault": "hang"}, method="POST"
            )
            with contextlib.suppress(OSError):
                urllib.request.urlopen(request, timeout=20).close()

        thread = threading.Thread(target=hang, daemon=True)
        thread.start()
        time.sleep(0.5)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
        assert time.monotonic() - started < 10
        thread.join(20)


def test_startup_errors_are_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mockserver", "--control", "maybe"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=15,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "--control" in result.stderr
