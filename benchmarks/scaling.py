#!/usr/bin/env python3
"""Workers and replicas: what the shared Redis store costs per mint, and how mints scale with workers.

    python benchmarks/scaling.py            # about 1 minute; writes benchmarks/results/scaling.json
    python benchmarks/scaling.py --quick    # 1 s runs, a smoke test

Measured on this machine, each case on a fresh redis-server (Debian's) on a free loopback port:

* req/s of minimal mints at 32 connections (wrk, as benchmarks/run.py runs it, after a warm-up) for
  the memory store with 1 worker, Redis with 1 worker and Redis with 2 workers;
* CPU per mint of the mock (all its processes) and of redis-server: utime + stime from
  /proc/PID/stat over the measured run, divided by the mints served;
* the latency the store adds per mint: p50 (and p99) at 1 connection, memory vs Redis;
* Redis memory per secret: INFO's used_memory before and after N sequential mints, with the journal
  off (the secret alone) and on (the secret and its journal entry).

From the CPU demands it fits the model X(N) = min(N / D_mock, 1 / D_redis): N workers, each on its
own core, until the single-threaded redis-server is the bottleneck; and it gives the expected req/s
at 1, 2, 4 and 8 workers. On this 2-core machine the load generator and Redis share the cores with
the workers, so the measured 2-worker figure is also compared with that capacity bound,
cores / (D_mock + D_redis + D_wrk). The servers are not pinned (two workers need both cores); wrk
is pinned to CPU 1. The load average before and after is recorded: a busy machine lowers every req/s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import MINIMAL, _children, free_port, load, mock_target, post, running  # noqa: E402 - not a package

CONNECTIONS = 32
WORKERS_MODELLED = (1, 2, 4, 8)
TICKS = os.sysconf("SC_CLK_TCK")


# --- CPU and Redis readings -------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and every live descendant (a worker pool is a parent and its workers)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of proc(5)
        todo.extend(_children(current))
    return total / TICKS


def children_cpu_seconds() -> float:
    """CPU of this script's finished children (wrk, once waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Redis:
    """A fresh redis-server on a free loopback port, no persistence; asked with redis-cli."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("redis-server did not start within 10 s")
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ask(self, *command: str) -> str:
        return subprocess.run(
            ["redis-cli", "-p", str(self.port), *command], capture_output=True, text=True, timeout=10, check=True
        ).stdout

    def used_memory(self) -> int:
        info = dict(
            line.split(":", 1) for line in self.ask("INFO", "memory").splitlines() if ":" in line and line[0] != "#"
        )
        return int(info["used_memory"])

    def keys(self) -> int:
        return int(self.ask("DBSIZE").strip())

    def version(self) -> str:
        return self.ask("INFO", "server").split("redis_version:", 1)[1].split()[0]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@contextmanager
def redis_server() -> Iterator[Redis]:
    redis = Redis()
    try:
        yield redis
    finally:
        redis.stop()


# --- the cases ----------------------------------------------------------------------------------------


@dataclass
class Throughput:
    store: str
    workers: int
    rps: float
    p50_ms: float
    p99_ms: float
    mints: int
    non_2xx: int
    mock_cpu_ms_per_mint: float
    redis_cpu_ms_per_mint: float
    wrk_cpu_ms_per_mint: float

    @property
    def name(self) -> str:
        return f"{self.store}, {self.workers} worker{'s' if self.workers > 1 else ''}"


def flags(store: str, workers: int, *extra: str) -> tuple[str, ...]:
    return ("--store", store, "--workers", str(workers), *extra)


def throughput(store: str, workers: int, duration: float) -> Throughput:
    """Mints at ``CONNECTIONS`` connections, with the CPU each process spent on them."""
    with store_for(store) as redis:
        target = mock_target("mock", *flags(redis.url if redis else "memory", workers))
        with running(target, cpu=None) as (process, port, _cold):

            def spent() -> tuple[float, float, float]:
                """CPU seconds so far: the mock's, redis-server's, wrk's."""
                redis_cpu = cpu_seconds(redis.process.pid) if redis else 0.0
                return cpu_seconds(process.pid), redis_cpu, children_cpu_seconds()

            load(port, MINIMAL, CONNECTIONS, min(1.0, duration))  # warm-up: every worker imported and serving
            before = spent()
            result = load(port, MINIMAL, CONNECTIONS, duration)
            after = spent()
    mock_ms, redis_ms, wrk_ms = (
        (end - start) * 1000 / max(result.requests, 1) for start, end in zip(before, after, strict=True)
    )
    return Throughput(
        "redis" if redis else "memory", workers, result.rps, result.p50_ms, result.p99_ms, result.requests,
        result.non_2xx, mock_ms, redis_ms, wrk_ms,
    )  # fmt: skip


@contextmanager
def store_for(store: str) -> Iterator[Redis | None]:
    """``None`` for the memory store, else a fresh redis-server."""
    if store == "memory":
        yield None
        return
    with redis_server() as redis:
        yield redis


def latency(store: str, duration: float) -> dict[str, float]:
    """p50 and p99 of one mint at a time (1 connection), one worker."""
    with store_for(store) as redis:
        target = mock_target("mock", *flags(redis.url if redis else "memory", 1))
        with running(target, cpu=None) as (_process, port, _cold):
            load(port, MINIMAL, 1, min(1.0, duration))
            result = load(port, MINIMAL, 1, duration)
    return {"p50_ms": result.p50_ms, "p99_ms": result.p99_ms, "rps": result.rps}


def memory_per_secret(mints: int, journal: bool) -> dict[str, float]:
    """Redis's used_memory and key count grown by ``mints`` sequential mints (secrets stay active: 10 min)."""
    with redis_server() as redis:
        journal_size = str(mints) if journal else "0"
        target = mock_target("mock", *flags(redis.url, 1, "--journal-size", journal_size))
        with running(target, cpu=None) as (_process, port, _cold):
            post(port, MINIMAL)  # the first mint creates what every later one shares
            before, keys_before = redis.used_memory(), redis.keys()
            statuses = [post(port, MINIMAL, timeout=10) for _ in range(mints)]
            after, keys_after = redis.used_memory(), redis.keys()
    assert statuses == [200] * mints, sorted(set(statuses))
    return {
        "mints": mints,
        "bytes_per_mint": (after - before) / mints,
        "keys_per_mint": (keys_after - keys_before) / mints,
    }


def model(mock_ms: float, redis_ms: float, wrk_ms: float, cores: int) -> dict[str, Any]:
    """X(N) = min(N / D_mock, 1 / D_redis) at 1, 2, 4, 8 workers, and this machine's capacity bound."""
    d_mock, d_redis = mock_ms / 1000, redis_ms / 1000
    expected = {str(n): min(n / d_mock, 1 / d_redis) for n in WORKERS_MODELLED}
    return {
        "D_mock_ms": mock_ms,
        "D_redis_ms": redis_ms,
        "D_wrk_ms": wrk_ms,
        "redis_bound_rps": 1 / d_redis,
        "workers_to_saturate_redis": d_mock / d_redis,
        "expected_rps": expected,
        "this_machine_bound_rps": cores / (d_mock + d_redis + wrk_ms / 1000),
    }


def loadavg() -> list[float]:
    return [float(part) for part in Path("/proc/loadavg").read_text().split()[:3]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="1 s runs and 200 mints, a smoke test")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "scaling.json", help="where to write")
    args = parser.parse_args(argv)
    for tool in ("redis-server", "redis-cli", "wrk"):
        if not shutil.which(tool):
            print(f"scaling.py needs {tool} (Debian: apt-get install redis-server wrk)", file=sys.stderr)
            return 2
    duration, latency_duration, mints = (1.0, 1.0, 200) if args.quick else (5.0, 3.0, 2000)
    cores = os.cpu_count() or 1
    load_before = loadavg()

    rows = [throughput("memory", 1, duration), throughput("redis", 1, duration), throughput("redis", 2, duration)]
    latencies = {store: latency(store, latency_duration) for store in ("memory", "redis")}
    memory = {"journal off": memory_per_secret(mints, False), "journal on": memory_per_secret(mints, True)}
    redis_one = rows[1]
    fitted = model(redis_one.mock_cpu_ms_per_mint, redis_one.redis_cpu_ms_per_mint, redis_one.wrk_cpu_ms_per_mint,
                   cores)  # fmt: skip
    load_after = loadavg()
    with redis_server() as redis:
        redis_version = redis.version()

    print(f"{'case (c' + str(CONNECTIONS) + ')':<22}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}"
          f"{'mock CPU/mint':>15}{'redis CPU/mint':>16}")  # fmt: skip
    print("-" * 89)
    for row in rows:
        redis_cpu = f"{row.redis_cpu_ms_per_mint * 1000:.0f} us" if row.store == "redis" else "-"
        print(f"{row.name:<22}{row.rps:>9.0f}{row.p50_ms:>9.2f}{row.p99_ms:>9.2f}{row.non_2xx:>9}"
              f"{row.mock_cpu_ms_per_mint * 1000:>12.0f} us{redis_cpu:>16}")  # fmt: skip
    added = latencies["redis"]["p50_ms"] - latencies["memory"]["p50_ms"]
    print()
    print(f"one mint at a time (c1, p50): memory {latencies['memory']['p50_ms']:.3f} ms, "
          f"redis {latencies['redis']['p50_ms']:.3f} ms: the store adds {added * 1000:.0f} us")  # fmt: skip
    for case, figures in memory.items():
        print(f"redis memory per secret, {case}: {figures['bytes_per_mint']:.0f} bytes "
              f"({figures['keys_per_mint']:.2f} keys) over {figures['mints']} mints")  # fmt: skip
    print()
    print(f"model X(N) = min(N / D_mock, 1 / D_redis), D_mock {fitted['D_mock_ms'] * 1000:.0f} us, "
          f"D_redis {fitted['D_redis_ms'] * 1000:.0f} us (Redis saturates at {fitted['redis_bound_rps']:.0f} req/s, "
          f"{fitted['workers_to_saturate_redis']:.1f} workers)")  # fmt: skip
    print("  " + ", ".join(f"{n} worker{'s' if n != '1' else ''}: {rps:.0f} req/s"
                           for n, rps in fitted["expected_rps"].items()))  # fmt: skip
    print(f"  this {cores}-core machine (workers, Redis and wrk share it): at most "
          f"{fitted['this_machine_bound_rps']:.0f} req/s")  # fmt: skip
    print(f"load average before {load_before}, after {load_after}")

    args.json.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "machine": {
            "cpus": cores,
            "python": platform.python_version(),
            "redis": redis_version,
            "loadavg_before": load_before,
            "loadavg_after": load_after,
        },
        "method": {
            "connections": CONNECTIONS,
            "duration_s": duration,
            "latency_duration_s": latency_duration,
            "load": "wrk -t1 pinned to CPU 1; servers unpinned",
            "cpu": "/proc/PID/stat utime+stime",
        },
        "throughput": [asdict(row) for row in rows],
        "latency_c1": latencies,
        "latency_added_p50_ms": added,
        "redis_memory_per_secret": memory,
        "model": fitted,
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
