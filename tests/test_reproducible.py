"""``--seed`` plus ``--start-time``: two runs answer byte for byte the same. And the clock's rules."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import httpx2 as httpx
import pytest

from mockserver.settings import SettingsError, build_settings
from mockserver.testing import MockServer
from tests.test_cli import _parse, running

START = 1_767_225_600  # 2026-01-01T00:00:00Z
AUTH = {"Authorization": "Bearer sk-test", "Content-Type": "application/json"}

#: The same requests for each run: both mints, a rung call, and what the control surface shows of them.
SCRIPT: list[tuple[str, str, bytes | None]] = [
    ("POST", "/v1/realtime/client_secrets", b"{}"),
    (
        "POST",
        "/v1/realtime/client_secrets",
        b'{"session": {"type": "transcription"}, "expires_after": {"seconds": 60}}',
    ),
    ("POST", "/v1/realtime/translations/client_secrets", b'{"session": {"model": "gpt-realtime-translate"}}'),
    ("POST", "/v1/realtime/client_secrets", b'{"session": {"type": "nope"}}'),
    ("POST", "/__mock/calls", b'{"from": "sip:+14155550123@example.com"}'),
    ("POST", "/__mock/clock", b'{"advance": 90}'),
    ("POST", "/v1/realtime/client_secrets", b'{"session": {"type": "realtime", "model": "gpt-realtime-2"}}'),
    ("GET", "/__mock/secrets", None),
    ("GET", "/__mock/calls", None),
    ("GET", "/__mock/clock", None),
]


def run_script(port: int) -> list[tuple[int, str, bytes]]:
    """Each response's status, ``x-request-id`` and body bytes."""
    out = []
    for method, path, body in SCRIPT:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, headers=AUTH, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                out.append((response.status, response.headers["x-request-id"], response.read()))
        except urllib.error.HTTPError as error:
            with error:
                out.append((error.code, error.headers["x-request-id"], error.read()))
    return out


def test_seed_and_start_time_give_byte_identical_runs() -> None:
    with running("--seed", "7", "--start-time", str(START)) as (_, first_port):
        first = run_script(first_port)
    # The second run takes its start time from the environment: same thing.
    with running("--seed", "7", env={"MOCKSERVER_START_TIME": str(START)}) as (_, second_port):
        second = run_script(second_port)
    assert [status for status, _, _ in first] == [200, 200, 200, 400, 201, 200, 200, 200, 200, 200]
    for index, (a, b) in enumerate(zip(first, second, strict=True)):
        assert a == b, (SCRIPT[index], a, b)
    # The secrets carry the pinned clock: the first 8 hex of the first one are the start time.
    assert f'"value": "ek_{START:08x}'.encode() in first[0][2]
    assert f'"expires_at": {START + 600}'.encode() in first[0][2]
    assert f'"value": "ek_{START + 90:08x}'.encode() in first[6][2]


def test_seed_alone_repeats_everything_but_the_clock() -> None:
    """Without --start-time the clock runs: the time-derived parts (a secret's first 8 hex and the last 8, a tag
    over the rest; expires_at, created_at, the journal's times) follow it; every random part repeats."""
    bodies = []
    for _ in range(2):
        with running("--seed", "7") as (_, port), httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            bodies.append(http.post("/v1/realtime/client_secrets", json={}, headers=AUTH).json())
    first, second = bodies
    assert first["value"][11:27] == second["value"][11:27]
    assert first["session"] == second["session"]  # its id included


@pytest.fixture
def pinned() -> Iterator[MockServer]:
    with MockServer(seed=1, start_time=START) as server:
        yield server


def test_a_pinned_clock_stands_still_until_moved(pinned: MockServer) -> None:
    with httpx.Client(base_url=pinned.url) as http:
        first = http.get("/__mock/clock").json()
        again = http.get("/__mock/clock").json()
        assert first == again == {"now": START, "offset": 0.0, "iso": "2026-01-01T00:00:00Z", "frozen": True}
        moved = http.post("/__mock/clock", json={"advance": 30}).json()
        assert moved["now"] == START + 30
        assert http.post("/__mock/clock", json={"set": START - 3600}).json()["now"] == START - 3600
        http.post("/__mock/reset")
        assert http.get("/__mock/clock").json()["now"] == START
    assert pinned.now() == START


@pytest.mark.parametrize(
    ("update", "param", "code", "message"),
    [
        (
            {"advance": -1},
            "advance",
            "decimal_below_min_value",
            "Invalid 'advance': decimal below minimum value. Expected a value >= 0, but got -1 instead.",
        ),
        (
            {"set": -0.5},
            "set",
            "decimal_below_min_value",
            "Invalid 'set': decimal below minimum value. Expected a value >= 0, but got -0.5 instead.",
        ),
    ],
)
def test_the_clock_refuses_to_run_back_or_before_the_epoch(
    pinned: MockServer, update: dict[str, float], param: str, code: str, message: str
) -> None:
    with httpx.Client(base_url=pinned.url) as http:
        response = http.post("/__mock/clock", json=update)
        assert response.status_code == 400
        assert response.json() == {
            "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
        }
        assert http.get("/__mock/clock").json()["now"] == START
    with pytest.raises(ValueError, match="cannot move the clock back"):
        pinned.advance_clock(-1)
    with pytest.raises(ValueError, match="before the Unix epoch"):
        pinned.set_clock(-1)


def test_start_time_is_checked() -> None:
    assert build_settings(_parse("--start-time", "0"), {}).start_time == 0
    with pytest.raises(SettingsError, match="--start-time"):
        build_settings(_parse("--start-time", "-5"), {})
    with pytest.raises(SettingsError, match="MOCKSERVER_START_TIME"):
        build_settings(_parse(), {"MOCKSERVER_START_TIME": "tomorrow"})
