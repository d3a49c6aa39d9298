"""The benchmarks run: ``sessions.py --quick`` and ``fixtures.py`` on a small suite, as a person would run them.

Not timing (the figures are BENCHMARKS.md's): each script runs in a child process against real servers on
127.0.0.1 and must finish, exit 0 and write a report whose counts show it did the work it claims.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
