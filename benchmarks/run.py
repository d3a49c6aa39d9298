#!/usr/bin/env python3
"""Benchmarks of the configuration users run, side by side with a bare-aiohttp baseline in the same run.

    python benchmarks/run.py                 # the full table (about 3 minutes)
    python benchmarks/run.py --repeat 3      # the baseline and the default row three times, alternating
    python benchmarks/run.py --quick         # shorter runs, for a smoke test
    python benchmarks/run.py --prism         # also Prism on the official spec (needs npm; not in CI)
    python benchmarks/run.py --million       # memory over one million mints (several minutes)

The main row is ``mockserver`` with its defaults (journal on, nothing else set), one after the other with the
baseline and then side by side with it on one core (both loaded at once: CPU per request, steady where
one-after-the-other ratios drift with the machine); each optional layer (journal off, injected latency,
fault rules that match nothing, scoped requests) is its own row in a run of its own, measured right after
that run's baseline and default rows, with its ratio to both. Servers are pinned to CPU 0 and the load
generator (wrk, or a bounded Python fallback) to CPU 1 when the machine has two cores. Every load loop is
bounded in time; everything binds 127.0.0.1. The table is printed and written as JSON (``--json``, default
benchmarks/results/latest.json).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MINT = "/v1/realtime/client_secrets"
AUTH = "Bearer sk-bench"
MINIMAL = b'{"session": {"type": "realtime"}}'
FULL = (ROOT / "fixtures" / "requests" / "full_realtime.json").read_bytes()
INVALID = b'{"session": {"type": "realtime", "audio": {"input": {"format": {"type": "pcm16"}}}}}'
PRISM_SPEC = ROOT.parent / "shared" / "reference" / "openai-openapi.yml"


# --- servers ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    command: tuple[str, ...]
    ready_timeout: float = 30.0
    #: Prism serves the spec's paths without the server URL's /v1.
    path: str = MINT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cpu: int, command: Sequence[str]) -> list[str]:
    if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", str(cpu), *command]
    return list(command)


def mock_target(name: str, *flags: str) -> Target:
    """``mockserver`` as a user runs it: its defaults, plus ``flags`` (the port is added at start)."""
    return Target(name, (sys.executable, "-m", "mockserver", *flags))


BASELINE = Target("baseline", (sys.executable, str(HERE / "baseline_server.py")))


#: The checkout whose ``mockserver`` is measured (``--tree``): this one, or an older commit's.
TREE = ROOT


def command_for(target: Target, port: int) -> list[str]:
    if target.name == "baseline":
        return [*target.command, str(port)]
    if target.name == "prism":
        return [*target.command, "-p", str(port)]
    return [*target.command, "--port", str(port)]


def post(port: int, body: bytes, timeout: float = 2.0, path: str = MINT) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=body,
        headers={"Authorization": AUTH, "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        return int(error.code)


def _own_rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        return [int(c) for task in tasks for c in (task / "children").read_text().split()]
    except OSError:
        return []


def rss_mb(pid: int) -> float:
    """RSS of ``pid`` and its descendants (Prism runs as npx -> sh -> node)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += _own_rss_kb(current)
        todo.extend(_children(current))
    return total / 1024 if total else float("nan")


@contextmanager
def running(target: Target, cpu: int | None = 0) -> Iterator[tuple[subprocess.Popen[bytes], int, float]]:
    """Start ``target`` on CPU ``cpu`` (``None``: on any); yields the process, its port and the cold start
    (spawn to first 2xx mint)."""
    port = free_port()
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(TREE)}
    command = command_for(target, port)
    process = subprocess.Popen(
        command if cpu is None else pinned(cpu, command),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=TREE,
        env=env,
        start_new_session=True,  # its own process group, so children (node under npx) stop with it
    )
    try:
        deadline = started + target.ready_timeout
        while True:
            try:
                if 200 <= post(port, MINIMAL, timeout=1.0, path=target.path) < 300:
                    break
            except OSError:
                pass
            if time.perf_counter() > deadline or process.poll() is not None:
                raise RuntimeError(f"{target.name} did not serve a 2xx mint within {target.ready_timeout} s")
            time.sleep(0.002)
        yield process, port, time.perf_counter() - started
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


# --- load ---------------------------------------------------------------------------------------------


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    tool: str


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not match:
        return float("nan")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(port: int, body: bytes, connections: int, duration: float, headers: dict[str, str], path: str) -> Load:
    with wrk_script(body, headers) as script:
        command = pinned(
            1,
            ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency", "-s", script,
             f"http://127.0.0.1:{port}{path}"],
        )  # fmt: skip
        output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 30, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", output, re.MULTILINE))
    return Load(rps, _ms(percentiles.get("50", "")), _ms(percentiles.get("99", "")), _requests_in(output),
                int(non_2xx.group(1)) if non_2xx else 0, "wrk")  # fmt: skip


@contextmanager
def wrk_script(body: bytes = MINIMAL, headers: dict[str, str] | None = None) -> Iterator[str]:
    """A wrk script POSTing ``body`` with the mint's headers and ``headers`` (removed afterwards)."""
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body.decode())}"]
    for name, value in {"Authorization": AUTH, "Content-Type": "application/json", **(headers or {})}.items():
        lines.append(f'wrk.headers["{name}"] = "{value}"')
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write("\n".join(lines) + "\n")
    try:
        yield handle.name
    finally:
        os.unlink(handle.name)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (``/proc``, in clock ticks of 10 ms)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


def _requests_in(output: str) -> int:
    """The request count wrk printed."""
    match = re.search(r"(\d+) requests in", output)
    if match is None:
        raise RuntimeError(f"wrk printed no request count:\n{output}")
    return int(match.group(1))


def side_by_side(target: Target, rounds: int, seconds: float, script: str) -> dict[str, Any]:
    """``target`` and the baseline loaded at the same time, both on CPU 0 (a wrk each, -c32, on CPU 1):
    the CPU each spends per request, and the baseline's over the target's. Sharing one core, both see the
    same machine, so the ratio holds still where one-after-the-other req/s ratios drift."""
    ratios, base_us, target_us = [], [], []
    with running(BASELINE) as (base, base_port, _), running(target) as (mock, mock_port, _):
        for _ in range(rounds):
            before = cpu_seconds(base.pid), cpu_seconds(mock.pid)
            loads = [
                subprocess.Popen(
                    pinned(
                        1, ["wrk", "-t1", "-c32", f"-d{seconds:g}s", "-s", script, f"http://127.0.0.1:{port}{MINT}"]
                    ),
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for port in (base_port, mock_port)
            ]
            done = [_requests_in(load.communicate(timeout=seconds + 30)[0]) for load in loads]
            after = cpu_seconds(base.pid), cpu_seconds(mock.pid)
            base_us.append((after[0] - before[0]) / done[0] * 1e6)
            target_us.append((after[1] - before[1]) / done[1] * 1e6)
            ratios.append(base_us[-1] / target_us[-1])
    return {
        "baseline_us_per_request": round(statistics.median(base_us), 1),
        "mock_us_per_request": round(statistics.median(target_us), 1),
        "baseline_over_mock": round(statistics.median(ratios), 3),
        "rounds": [round(r, 3) for r in ratios],
    }


async def _python_load(
    port: int, body: bytes, connections: int, duration: float, headers: dict[str, str], path: str
) -> Load:
    import aiohttp  # noqa: PLC0415 - only for the fallback

    latencies: list[float] = []
    non_2xx = 0
    deadline = time.perf_counter() + duration
    limit = 2_000_000  # bounded in count as well as time
    url = f"http://127.0.0.1:{port}{path}"
    all_headers = {"Authorization": AUTH, "Content-Type": "application/json", **headers}
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal non_2xx
            while time.perf_counter() < deadline and len(latencies) < limit:
                started = time.perf_counter()
                async with session.post(url, data=body, headers=all_headers) as response:
                    await response.read()
                    if not 200 <= response.status < 300:
                        non_2xx += 1
                latencies.append((time.perf_counter() - started) * 1000)

        begun = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - begun
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return Load(len(latencies) / elapsed, statistics.median(latencies), p99, len(latencies), non_2xx, "python")


def load(
    port: int, body: bytes, connections: int, duration: float, headers: dict[str, str] | None = None, path: str = MINT
) -> Load:
    headers = headers or {}
    if shutil.which("wrk"):
        return wrk(port, body, connections, duration, headers, path)
    return asyncio.run(_python_load(port, body, connections, duration, headers, path))


# --- the run ---------------------------------------------------------------------------------------------


@dataclass
class Row(Load):
    """One line of the table: a load result, where it was measured, and its same-run ratios."""

    target: str = ""
    case: str = ""
    connections: int = 0
    run: int = 1
    ratio: float | None = None  # to the baseline of the same run, same connections
    vs_default: float | None = None  # to the default configuration of the same run, same connections


@dataclass
class ServerFacts:
    target: str
    cold_start_s: list[float] = field(default_factory=list)
    rss_ready_mb: float = float("nan")
    rss_after_load_mb: float = float("nan")

    @property
    def cold_start_median_s(self) -> float:
        return statistics.median(self.cold_start_s) if self.cold_start_s else float("nan")


def cold_starts(targets: Sequence[Target], times: int) -> dict[str, ServerFacts]:
    """Spawn to first 2xx mint, ``times`` for each target, alternating targets so drift hits all alike."""
    facts = {target.name: ServerFacts(target.name) for target in targets}
    for _ in range(times):
        for target in targets:
            with running(target) as (process, _port, cold):
                facts[target.name].cold_start_s.append(cold)
                facts[target.name].rss_ready_mb = rss_mb(process.pid)
    return facts


Case = tuple[str, bytes, int, dict[str, str]]


def measure(target: Target, cases: Sequence[Case], duration: float, facts: ServerFacts, run: int = 1,
            setup: Any = None) -> list[Row]:  # fmt: skip
    rows = []
    with running(target) as (process, port, _cold):
        if setup is not None:
            setup(port)
        load(port, MINIMAL, 16, min(1.0, duration), path=target.path)  # warm-up
        for case, body, connections, headers in cases:
            result = load(port, body, connections, duration, headers, target.path)
            rows.append(Row(**asdict(result), target=target.name, case=case, connections=connections, run=run))
        facts.rss_after_load_mb = rss_mb(process.pid)
    return rows


#: Fault rules that match no mint: what a suite pays for keeping rules around (each is checked per request).
UNMATCHED_RULES = [{"status": 500, "times": None, "match": {"path": f"/v1/never/{n}"}} for n in range(10)]


def event_loop_of(target: Target) -> str:
    """``uvloop`` or ``asyncio``: the loop a mock target runs on (``/__mock/settings``)."""
    with running(target, cpu=None) as (_, port, _):
        url = f"http://127.0.0.1:{port}/__mock/settings"
        with urllib.request.urlopen(url, timeout=5) as response:
            # A checkout from before --loop ran on asyncio's loop only.
            return str(json.loads(response.read()).get("event_loop", "asyncio"))


def add_unmatched_rules(port: int) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/__mock/faults",
        data=json.dumps(UNMATCHED_RULES).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        response.read()


def compile_tree() -> None:
    """Compile the measured tree's bytecode first, so a cold start measures start-up, not compilation."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(TREE / "mockserver")], check=True)


def million(duration_cap: float) -> dict[str, Any]:
    """RSS of the default configuration while minting one million secrets (bounded by ``duration_cap`` s)."""
    target = mock_target("default")
    samples = []
    with running(target) as (process, port, _cold):
        done = 0
        started = time.perf_counter()
        samples.append((0, rss_mb(process.pid)))
        while done < 1_000_000 and time.perf_counter() - started < duration_cap:
            result = load(port, MINIMAL, 64, 10)
            done += result.requests
            samples.append((done, rss_mb(process.pid)))
    return {"mints": done, "rss_mb_by_mints": samples}


def _ratio(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else ""


def print_table(rows: list[Row], facts: dict[str, ServerFacts]) -> None:
    header = (
        f"{'target':<22}{'case':<16}{'run':>4}{'conns':>6}{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'non-2xx':>8}{'vs base':>8}{'vs default':>11}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row.target:<22}{row.case:<16}{row.run:>4}{row.connections:>6}{row.rps:>9.0f}{row.p50_ms:>8.2f}"
              f"{row.p99_ms:>8.2f}{row.non_2xx:>8}{_ratio(row.ratio):>8}{_ratio(row.vs_default):>11}")  # fmt: skip
    print()
    print(f"{'target':<22}{'cold start (median)':>21}{'RSS ready':>12}{'RSS after load':>16}")
    for name, fact in facts.items():
        print(
            f"{name:<22}{fact.cold_start_median_s:>20.3f}s{fact.rss_ready_mb:>10.1f}MB{fact.rss_after_load_mb:>14.1f}MB"
        )


def set_ratios(rows: list[Row]) -> None:
    """Each row against the baseline (and the default) of its own run at the same connections."""
    base = {(row.run, row.connections): row.rps for row in rows if row.target == "baseline"}
    default = {(row.run, row.connections): row.rps for row in rows if row.target == "default" and row.case == "minimal"}
    for row in rows:
        key = (row.run, row.connections)
        if row.target != "baseline" and key in base:
            row.ratio = row.rps / base[key]
        if row.target not in ("baseline", "default") and key in default:
            row.vs_default = row.rps / default[key]


def summary(rows: list[Row]) -> dict[str, Any]:
    """The default row at 64 connections, run by run: what the README and BENCHMARKS.md quote."""
    runs = []
    for row in rows:
        if row.target == "default" and row.case == "minimal" and row.connections == 64:
            base = next(r for r in rows if r.target == "baseline" and r.run == row.run and r.connections == 64)
            runs.append({"run": row.run, "rps": row.rps, "baseline_rps": base.rps, "ratio": row.ratio,
                         "p99_ms": row.p99_ms, "baseline_p99_ms": base.p99_ms})  # fmt: skip
    c1 = [
        (row.p50_ms, next(r for r in rows if r.target == "baseline" and r.run == row.run and r.connections == 1).p50_ms)
        for row in rows
        if row.target == "default" and row.case == "minimal" and row.connections == 1
    ]
    return {"default_c64": runs, "c1_p50_ms_default_vs_baseline": c1}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per load run (default 5)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the baseline and default rows (default 1)")
    parser.add_argument("--quick", action="store_true", help="1 s runs, fewer cold starts")
    parser.add_argument("--prism", action="store_true", help="also measure Prism on the official spec")
    parser.add_argument("--million", action="store_true", help="also mint one million secrets, sampling RSS")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "latest.json")
    parser.add_argument(
        "--tree", type=Path, default=ROOT, help="measure the mockserver of another checkout (e.g. a git worktree)"
    )
    args = parser.parse_args(argv)
    global TREE
    TREE = args.tree.resolve()
    duration = 1.0 if args.quick else args.duration
    cold_times = 2 if args.quick else 5
    repeat = max(1, min(args.repeat, 10))
    compile_tree()

    default = mock_target("default")  # exactly what a user runs: no flag but the port
    layers = {
        "journal off": mock_target("journal off", "--journal-size", "0"),
        "latency 100 ms": mock_target("latency 100 ms", "--latency-ms", "100"),
        "10 unmatched rules": mock_target("10 unmatched rules"),
        "scoped requests": mock_target("scoped requests"),
    }
    # auto (the default) takes uvloop when this environment has it (the uvloop extra): say which loop was measured.
    loop = event_loop_of(default)
    chosen = os.environ.get("MOCKSERVER_LOOP", "auto")
    print(f"default: python -m mockserver on the {loop} event loop (MOCKSERVER_LOOP: {chosen})")
    facts = cold_starts([BASELINE, default], cold_times)
    facts.update({name: ServerFacts(name) for name in layers})
    rows: list[Row] = []
    scaling: list[Case] = [("minimal", MINIMAL, c, {}) for c in (1, 16, 64)]
    for run in range(1, repeat + 1):
        rows += measure(BASELINE, scaling, duration, facts["baseline"], run)
        cases = scaling if run > 1 else [*scaling, ("full session", FULL, 64, {}), ("invalid (400)", INVALID, 64, {})]
        rows += measure(default, cases, duration, facts["default"], run)
    # Each layer in a run of its own, right after that run's baseline and default at the same connections:
    # its ratios then compare loads seconds apart, not minutes (the machine drifts in between).
    c64: list[Case] = [("minimal", MINIMAL, 64, {})]
    layer_cases: dict[str, tuple[list[Case], Any]] = {
        "journal off": (c64, None),
        "latency 100 ms": ([("minimal", MINIMAL, 16, {}), *c64], None),
        "10 unmatched rules": (c64, add_unmatched_rules),
        "scoped requests": ([("minimal", MINIMAL, 64, {"X-Mock-Scope": "bench"})], None),
    }
    for run, (name, (cases, setup)) in enumerate(layer_cases.items(), start=repeat + 1):
        plain: list[Case] = [("minimal", MINIMAL, connections, {}) for _, _, connections, _ in cases]
        rows += measure(BASELINE, plain, duration, facts["baseline"], run)
        rows += measure(default, plain, duration, facts["default"], run)
        rows += measure(layers[name], cases, duration, facts[name], run, setup=setup)
    if args.prism:
        rows += prism_rows(duration, facts)

    set_ratios(rows)
    print_table(rows, facts)
    result: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
        "load_tool": rows[0].tool if rows else None,
        "default_event_loop": loop,
        "duration_s": duration,
        "rows": [asdict(row) for row in rows],
        "servers": {name: {**asdict(f), "cold_start_median_s": f.cold_start_median_s} for name, f in facts.items()},
        "summary": summary([row for row in rows if row.run <= repeat]),
    }
    print()
    for entry in result["summary"]["default_c64"]:
        print(
            f"default row, run {entry['run']}: {entry['rps']:.0f} req/s vs baseline {entry['baseline_rps']:.0f}"
            f" = {entry['ratio']:.2f}x, p99 {entry['p99_ms']:.2f} ms (baseline {entry['baseline_p99_ms']:.2f})"
        )
    if shutil.which("wrk") and not args.quick:
        # The same comparison, steady under a drifting machine: both servers at once on one core.
        with wrk_script() as script:
            both = result["side_by_side"] = side_by_side(default, 3, duration, script)
        print(
            f"default side by side with the baseline on one core: {both['baseline_over_mock']:.2f}x the baseline's"
            f" CPU per request ({both['mock_us_per_request']} vs {both['baseline_us_per_request']} µs; rounds "
            + " ".join(f"{r:.2f}" for r in both["rounds"])
            + ")"
        )
    if args.million:
        result["million"] = million(duration_cap=600)
        samples = result["million"]["rss_mb_by_mints"]
        print(f"\none million mints: {result['million']['mints']} minted; RSS (MB) by mints: "
              + ", ".join(f"{n}:{mb:.1f}" for n, mb in samples[:: max(1, len(samples) // 8)]))  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {args.json}")
    return 0


def prism_rows(duration: float, facts: dict[str, ServerFacts]) -> list[Row]:
    """Prism mocking the official spec, as the SDKs' own suites once ran against it."""
    if not shutil.which("npx") or not PRISM_SPEC.exists():
        print("prism: skipped (needs npx and ../shared/reference/openai-openapi.yml)", file=sys.stderr)
        return []
    command = ("npx", "--yes", "@stainless-api/prism-cli@5.15.0", "mock", str(PRISM_SPEC))
    target = Target("prism", command, 120.0, path="/realtime/client_secrets")
    facts.update(cold_starts([target], 1))
    return measure(target, [("minimal", MINIMAL, 1, {}), ("minimal", MINIMAL, 64, {})], duration, facts["prism"])


if __name__ == "__main__":
    sys.exit(main())
