#!/usr/bin/env python3
"""Cold start: from spawning the installed ``mockserver`` (its defaults) to its first 2xx mint, and RSS then.

    python benchmarks/cold_start.py                  # 10 spawns of each, alternating with the baseline
    python benchmarks/cold_start.py --times 20
    python benchmarks/cold_start.py --instructions   # also instructions spawn -> first mint (callgrind)
    python benchmarks/cold_start.py --tree ../old    # the mockserver package of another checkout

Each run alternates the mock and the bare aiohttp baseline (``baseline_server.py``), so both see the same
machine load; the table gives the median and p90 of spawn -> first 2xx ``POST /v1/realtime/client_secrets``
and the RSS at that moment. Wall-clock figures move with the machine's load; ``--instructions`` runs each
server once under ``valgrind --tool=callgrind`` and counts the instructions executed from spawn to the
first mint (the counters are dumped right after it answers), a figure that does not.

Every module either server imports is compiled to bytecode first, or the first spawn measures the compiler.
Servers run on CPU 0 and this script on CPU 1 when the machine has two cores; everything binds 127.0.0.1.
Results go to ``benchmarks/results/cold_start.json`` (``--json``).
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import MINIMAL, post, rss_mb  # noqa: E402 - not a package

#: Lists where each top-level package either server imports lives: their bytecode is compiled first. (Run
#: from benchmarks/, so that the current directory's package cannot shadow the one the servers import.)
IMPORTED = """
import json, sys, mockserver.app, aiohttp.web
tops = {name: sys.modules[name] for name in sys.modules if "." not in name}
print(json.dumps({n: (list(getattr(m, "__path__", [])) or [getattr(m, "__file__", None)])[0] for n, m in tops.items()}))
"""


def installed_mockserver() -> list[str]:
    """The ``mockserver`` console script of this interpreter's environment, run as its shebang would."""
    script = Path(sys.executable).with_name("mockserver")
    if not script.is_file():
        raise SystemExit(f"no mockserver console script beside {sys.executable}: pip install the project first")
    return [sys.executable, str(script)]


#: The environment of every child: ``--tree`` puts another checkout's package ahead of the installed one.
ENV = dict(os.environ)

TARGETS: dict[str, list[str]] = {
    "mockserver": [],  # filled in by main(): the installed console script, with its defaults
    "baseline": [sys.executable, str(HERE / "baseline_server.py")],
}


def compile_bytecode() -> list[str]:
    """Compile the project and every installed package either server imports (compileall skips what is fresh)."""
    found = subprocess.run(
        [sys.executable, "-c", IMPORTED], capture_output=True, text=True, check=True, timeout=120, env=ENV, cwd=HERE
    )
    compiled = []
    for name, location in sorted(json.loads(found.stdout).items()):
        if location and ("site-packages" in location or name == "mockserver"):
            path = Path(location)
            ok = compileall.compile_dir(path, quiet=2) if path.is_dir() else compileall.compile_file(path, quiet=2)
            if ok:
                compiled.append(name)
    compileall.compile_file(HERE / "baseline_server.py", quiet=2)
    return compiled


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def two_cores() -> bool:
    return (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None


def command(name: str, port: int) -> list[str]:
    if name == "baseline":
        return [*TARGETS[name], str(port)]
    return [*TARGETS[name], "--port", str(port)]


@contextmanager
def spawned(argv: Sequence[str], port: int, timeout: float) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    """Spawn ``argv`` on CPU 0; yields the process and the seconds from spawn to its first 2xx mint."""
    argv = ["taskset", "-c", "0", *argv] if two_cores() else list(argv)
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=ENV
    )
    try:
        deadline = started + timeout
        while True:
            with contextlib.suppress(OSError):
                if 200 <= post(port, MINIMAL, timeout=5.0) < 300:
                    break
            if time.perf_counter() > deadline or process.poll() is not None:
                raise RuntimeError(f"{argv} served no 2xx mint within {timeout} s")
            time.sleep(0.002)
        yield process, time.perf_counter() - started
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)


def cold_starts(times: int) -> dict[str, dict[str, Any]]:
    """``times`` spawns of each target, alternating; seconds to the first mint and RSS (MB) then."""
    samples: dict[str, dict[str, list[float]]] = {name: {"seconds": [], "rss_mb": []} for name in TARGETS}
    for _ in range(times):
        for name in TARGETS:
            with spawned(command(name, port := free_port()), port, timeout=60.0) as (process, seconds):
                samples[name]["seconds"].append(seconds)
                samples[name]["rss_mb"].append(rss_mb(process.pid))
    return {name: summary(values) for name, values in samples.items()}


def summary(values: dict[str, list[float]]) -> dict[str, Any]:
    seconds, rss = values["seconds"], values["rss_mb"]
    return {
        "median_s": statistics.median(seconds),
        "p90_s": statistics.quantiles(seconds, n=10, method="inclusive")[8] if len(seconds) > 1 else seconds[0],
        "rss_ready_median_mb": statistics.median(rss),
        "seconds": seconds,
        "rss_mb": rss,
    }


def instructions(name: str) -> int:
    """Instructions from spawn to the first 2xx mint, counted by callgrind (deterministic, unlike time)."""
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        port = free_port()
        with spawned([*valgrind, *command(name, port)], port, timeout=600.0) as (process, _seconds):
            # The counters up to now, written to callgrind.out.1 while the server keeps running.
            subprocess.run(["callgrind_control", "--dump", str(process.pid)], capture_output=True, check=True)
            dump = out.with_name(out.name + ".1")
            for _ in range(600):
                if dump.is_file() and "totals:" in dump.read_text(errors="replace"):
                    break
                time.sleep(0.1)
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError(f"callgrind wrote no totals for {name}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--times", type=int, default=10, help="spawns of each server (default 10)")
    parser.add_argument("--instructions", action="store_true", help="also count instructions with callgrind")
    parser.add_argument("--tree", type=Path, help="measure the mockserver package of this checkout instead")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "cold_start.json")
    args = parser.parse_args(argv)
    if args.tree is not None:
        if not (args.tree / "mockserver" / "__init__.py").is_file():
            parser.error(f"--tree {args.tree}: no mockserver package there")
        ENV["PYTHONPATH"] = str(args.tree.resolve())
    if not 1 <= args.times <= 200:
        parser.error("--times must be 1..200")
    TARGETS["mockserver"] = installed_mockserver()
    if two_cores():
        os.sched_setaffinity(0, {1})  # the polling client stays off the servers' CPU

    compiled = compile_bytecode()
    result: dict[str, Any] = {
        "conditions": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "pinned": "server on CPU 0, client on CPU 1" if two_cores() else "not pinned",
            "load_average_before": os.getloadavg(),
            "times": args.times,
            "mockserver": " ".join(TARGETS["mockserver"]),
            "tree": ENV.get("PYTHONPATH", "the installed package"),
            "bytecode_compiled_for": compiled,
        },
        "cold_start": cold_starts(args.times),
    }
    result["conditions"]["load_average_after"] = os.getloadavg()
    mock, base = result["cold_start"]["mockserver"], result["cold_start"]["baseline"]
    print(f"{'server':<12}{'median':>10}{'p90':>10}{'RSS ready':>12}   ({args.times} spawns each, alternating)")
    for name, row in result["cold_start"].items():
        print(f"{name:<12}{row['median_s']:>9.3f}s{row['p90_s']:>9.3f}s{row['rss_ready_median_mb']:>10.1f}MB")
    print(f"mockserver / baseline (median): {mock['median_s'] / base['median_s']:.2f}x")
    if args.instructions:
        counts = {name: instructions(name) for name in TARGETS}
        result["instructions_to_first_mint"] = counts
        for name, count in counts.items():
            print(f"{name:<12}{count / 1e9:>9.3f} G instructions spawn -> first mint (callgrind)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
