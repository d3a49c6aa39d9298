#!/usr/bin/env python3
"""The pytest fixture's per-test cost against a bare ``aiohttp_server``, in the same child pytest run.

    python benchmarks/fixtures.py               # 200 tests of each kind
    python benchmarks/fixtures.py --tests 20    # a smoke test

A suite is generated in a temporary directory and run by a child ``pytest`` (no xdist, no random order):
``--tests`` tests using the project's ``realtime_mock`` fixture (a fresh mock server on the test's loop)
and as many using pytest-aiohttp's ``aiohttp_server`` with a bare aiohttp app answering a fixed mint body
(``baseline_body.json``), interleaved (bare, mock, bare, mock, ...) so that drift hits both alike. Every
test does the same thing: one ``ClientSession``, one ``POST /v1/realtime/client_secrets``, a 200 checked.

Measured in the child, per test (setup + call + teardown, so the fixture's start and stop count): CPU time
of the process (``time.process_time``) and wall time. Reported: the medians and means per kind, the ratio
mock / bare and the overhead in percent (target: at most 10 %), and the median CPU of each pytest phase (setup,
call, teardown) per kind, which shows where the cost falls. Written to
``benchmarks/results/fixtures.json``. Everything binds 127.0.0.1 on port 0; bounded by a timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CONFTEST = """
import json
import os
import time

import pytest

TIMES = {}
PHASES = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    cpu, wall = time.process_time(), time.perf_counter()
    yield
    TIMES[item.name] = (time.process_time() - cpu, time.perf_counter() - wall)


def _phase(item, name, began):
    PHASES.setdefault(item.name, {})[name] = time.process_time() - began


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    began = time.process_time()
    yield
    _phase(item, "setup", began)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    began = time.process_time()
    yield
    _phase(item, "call", began)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    began = time.process_time()
    yield
    _phase(item, "teardown", began)


def pytest_sessionfinish(session, exitstatus):
    with open(os.environ["FIXTURE_BENCH_OUT"], "w") as out:
        json.dump({"times": TIMES, "phases": PHASES}, out)
"""

SUITE_HEAD = """
from pathlib import Path

import aiohttp
from aiohttp import web

BODY = Path({body!r}).read_bytes()
MINT = "/v1/realtime/client_secrets"
AUTH = {{"Authorization": "Bearer sk-test"}}


async def _mint(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=BODY, content_type="application/json")


def bare_app() -> web.Application:
    app = web.Application()
    app.router.add_post(MINT, _mint)
    return app


async def mint(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(url + MINT, json={{"session": {{"type": "realtime"}}}}, headers=AUTH) as response:
            assert response.status == 200
            assert (await response.json())["value"].startswith("ek_")
"""

SUITE_PAIR = """

async def test_{n:04d}_bare(aiohttp_server):
    server = await aiohttp_server(bare_app(), host="127.0.0.1", port=0)
    await mint(str(server.make_url("")).rstrip("/"))


async def test_{n:04d}_mock(realtime_mock):
    await mint(realtime_mock.url)
"""


def generate(directory: Path, tests: int) -> None:
    (directory / "conftest.py").write_text(CONFTEST)
    ini = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    (directory / "pytest.ini").write_text(ini)
    suite = SUITE_HEAD.format(body=str(HERE / "baseline_body.json"))
    suite += "".join(SUITE_PAIR.format(n=n) for n in range(tests))
    (directory / "test_suite.py").write_text(suite)


def summary(times: list[tuple[float, float]]) -> dict[str, float]:
    cpu = [c * 1000 for c, _ in times]
    wall = [w * 1000 for _, w in times]
    return {
        "tests": len(times),
        "cpu_ms_median": round(statistics.median(cpu), 3),
        "cpu_ms_mean": round(statistics.fmean(cpu), 3),
        "wall_ms_median": round(statistics.median(wall), 3),
        "wall_ms_mean": round(statistics.fmean(wall), 3),
    }


def phases(recorded: dict[str, dict[str, float]], kind: str) -> dict[str, float]:
    """Median CPU per pytest phase of the tests of ``kind`` (the first left out, as in ``summary``): where a
    fixture's cost falls (the mock's server starts in setup, the bare test's ``aiohttp_server(...)`` in the call)."""
    tests = [phase for name, phase in sorted(recorded.items()) if name.endswith(kind)][1:]
    return {
        f"{name}_cpu_ms_median": round(statistics.median(phase[name] * 1000 for phase in tests), 3)
        for name in ("setup", "call", "teardown")
    }


def _by_phase(kind: dict[str, Any]) -> str:
    return " / ".join(str(kind[f"{name}_cpu_ms_median"]) for name in ("setup", "call", "teardown"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tests", type=int, default=200, help="tests of each kind (default 200)")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose mockserver is measured")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "fixtures.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fixture-bench-") as temp:
        directory = Path(temp)
        generate(directory, args.tests)
        out = directory / "times.json"
        env = {**os.environ, "FIXTURE_BENCH_OUT": str(out), "PYTHONPATH": str(args.tree.resolve())}
        plugins_off = ["-p", "no:randomly", "-p", "no:xdist", "-p", "no:cacheprovider"]
        command = [sys.executable, "-m", "pytest", "-q", *plugins_off, "test_suite.py"]
        child = subprocess.run(command, cwd=directory, env=env, capture_output=True, text=True, timeout=600)
        if child.returncode != 0:
            print(child.stdout[-3000:], child.stderr[-3000:], sep="\n")
            return 1
        recorded = json.loads(out.read_text())
    times: dict[str, list[float]] = recorded["times"]
    # The first test of each kind pays imports and first-use caches: reported, left out of the figures.
    bare = [tuple(t) for name, t in sorted(times.items()) if name.endswith("_bare")]
    mock = [tuple(t) for name, t in sorted(times.items()) if name.endswith("_mock")]
    result: dict[str, Any] = {
        "first_bare_cpu_ms": round(bare[0][0] * 1000, 3),
        "first_mock_cpu_ms": round(mock[0][0] * 1000, 3),
        "bare": {**summary(bare[1:]), **phases(recorded["phases"], "_bare")},  # type: ignore[arg-type]
        "mock": {**summary(mock[1:]), **phases(recorded["phases"], "_mock")},  # type: ignore[arg-type]
    }
    ratio = result["mock"]["cpu_ms_median"] / result["bare"]["cpu_ms_median"]
    result["cpu_ratio_median"] = round(ratio, 3)
    result["cpu_overhead_percent_median"] = round((ratio - 1) * 100, 1)
    result["cpu_ratio_mean"] = round(result["mock"]["cpu_ms_mean"] / result["bare"]["cpu_ms_mean"], 3)
    print(
        textwrap.dedent(f"""\
        {args.tests} tests of each kind, one child pytest, CPU time per test (setup + call + teardown):
          bare aiohttp_server : median {result["bare"]["cpu_ms_median"]} ms, mean {result["bare"]["cpu_ms_mean"]} ms
          realtime_mock       : median {result["mock"]["cpu_ms_median"]} ms, mean {result["mock"]["cpu_ms_mean"]} ms
          ratio (median)      : {result["cpu_ratio_median"]}  ({result["cpu_overhead_percent_median"]:+.1f} %)
          by phase (median ms): setup / call / teardown
            bare              : {_by_phase(result["bare"])}
            realtime_mock     : {_by_phase(result["mock"])}
          first test (imports): bare {result["first_bare_cpu_ms"]} ms, mock {result["first_mock_cpu_ms"]} ms""")
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
