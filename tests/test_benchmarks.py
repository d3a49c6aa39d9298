"""The benchmarks run: ``sessions.py --quick`` and ``fixtures.py`` on a small suite, as a person would run them.

Not timing (the figures are BENCHMARKS.md's): each script runs in a child process against real servers on
127.0.0.1 and must finish, exit 0 and write a report whose counts show it did the work it claims.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_script(name: str, *args: str, timeout: float) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / name), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_the_sessions_benchmark_runs_its_sessions(tmp_path: Path) -> None:
    report = tmp_path / "sessions.json"
    run_script("sessions.py", "--quick", "--sessions", "8", "--seconds", "1", "--json", str(report), timeout=240)
    result = json.loads(report.read_text())
    assert len(result["rounds"]) == 2
    for round_ in result["rounds"]:
        assert round_["timeouts"] == 0
        assert round_["errors"] == []
        # Every session's speech was detected and answered twice (server VAD's reply, then response.create).
        assert round_["speech_started"] == 8
        assert round_["responses_done"] == 16
        assert round_["latency_response_create_to_created"]["n"] == 8
        assert round_["audio_deltas"] > 0
        assert round_["rss_after_close_mb"] > 0
    mint = result["mint_under_load"]
    for case in ("no_sessions", "idle_sessions", "talking_sessions"):
        assert mint[case]["rps"] > 0
        assert mint[case]["non_2xx"] == 0
    assert mint["talking_sessions"]["server_events"] > 0


def test_the_fixture_benchmark_runs_both_kinds_of_test(tmp_path: Path) -> None:
    report = tmp_path / "fixtures.json"
    run_script("fixtures.py", "--tests", "6", "--json", str(report), timeout=240)
    result = json.loads(report.read_text())
    # The first test of each kind is left out of the figures (it pays the imports).
    assert result["bare"]["tests"] == 5
    assert result["mock"]["tests"] == 5
    assert result["cpu_ratio_median"] > 0
    for kind in ("bare", "mock"):
        # Each pytest phase timed on its own; together they are (about) the whole test.
        parts = [result[kind][f"{phase}_cpu_ms_median"] for phase in ("setup", "call", "teardown")]
        assert all(part > 0 for part in parts), result[kind]
        assert sum(parts) <= result[kind]["cpu_ms_median"] * 1.5


def _mint_with(variant: str) -> tuple[bytes, int]:
    """A mint from ``layers.py --serve VARIANT`` (the mock with layers peeled off), and a 404's status."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "layers.py"), "--serve", variant, "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, line
        origin = "http://127.0.0.1:" + line.split("http://127.0.0.1:")[1].split()[0]
        request = urllib.request.Request(
            origin + "/v1/realtime/client_secrets",
            data=b'{"session": {"type": "realtime"}}',
            headers={"Authorization": "Bearer sk-test", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(origin + "/v1/nothing-here", timeout=30)
        assert json.loads(refused.value.read())["error"]["type"] == "invalid_request_error"
        return body, refused.value.code
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_the_layers_benchmark_peels_what_it_says() -> None:
    fixed = (ROOT / "benchmarks" / "baseline_body.json").read_bytes()
    body, status = _mint_with("default")
    assert json.loads(body)["value"].startswith("ek_")
    assert body != fixed
    for variant in ("no mint handler", "no journal or faults", "wrapper only"):
        body, status = _mint_with(variant)
        assert body == fixed, variant
        assert status == 404, variant  # the rest of the mock still serves
