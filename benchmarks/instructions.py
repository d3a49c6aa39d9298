#!/usr/bin/env python3
"""CPU instructions per mint, counted by callgrind: a figure a loaded machine cannot blur.

    python benchmarks/instructions.py                  # baseline, mock (defaults), mock without the journal
    python benchmarks/instructions.py --tree ../main   # the mock of another checkout, beside this one's
    python benchmarks/instructions.py --requests 2000 --profile out/   # keep the callgrind files

Each server runs under ``valgrind --tool=callgrind`` with instrumentation off until it has served
a warm-up; then counting is zeroed, a client in another process (not under valgrind) sends
``--requests`` keep-alive mints one after another over a real socket to 127.0.0.1, and the count
is dumped. Instructions per request = the dumped total / requests (the event loop's own work
included, as a real client would make it do). With ``--profile`` the dumps are kept for
``callgrind_annotate``.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MINT = "/v1/realtime/client_secrets"
#: The minimal realtime body, as benchmarks/run.py sends it.
MINIMAL = b'{"session": {"type": "realtime"}}'
HEADERS = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}


@dataclass(frozen=True)
class Server:
    name: str
    command: tuple[str, ...]
    tree: Path = ROOT
    #: How the port is given: ``--port N`` to the mock, a bare ``N`` to the baseline.
    port_flag: tuple[str, ...] = ("--port",)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mints(port: int, count: int) -> None:
    """``count`` mints on one keep-alive connection; every answer must be a 200."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        for _ in range(count):
            connection.request("POST", MINT, body=MINIMAL, headers=HEADERS)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit(f"a mint answered {response.status}, not 200")
    finally:
        connection.close()


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited ({process.returncode}) before answering")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the server did not listen within {timeout:.0f} s")


def control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True, timeout=120)


def count(server: Server, requests: int, warmup: int, out_dir: Path) -> int:
    """Instructions the server executed while serving ``requests`` mints (after ``warmup`` uncounted)."""
    port = free_port()
    out = out_dir / f"callgrind.{server.name}.out"
    command = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
        *server.command, *server.port_flag, str(port),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(server.tree), "PYTHONHASHSEED": "0"}
    process = subprocess.Popen(command, cwd=server.tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, process, timeout=300)
        mints(port, warmup)
        control(process.pid, "--instr=on")
        mints(port, 50)  # the first calls after instrumenting pay for translating code again
        control(process.pid, "--zero")
        mints(port, requests)
        control(process.pid, "--dump")
    finally:
        process.terminate()
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    dumps = sorted(out_dir.glob(f"{out.name}.*"), key=lambda p: int(p.suffix[1:]))
    if not dumps:
        raise SystemExit(f"callgrind wrote no dump for {server.name}")
    match = re.search(r"^(?:summary|totals): (\d+)", dumps[-1].read_text(), re.MULTILINE)
    if match is None:
        raise SystemExit(f"no total in {dumps[-1]}")
    return int(match.group(1))


def servers(trees: Sequence[Path]) -> list[Server]:
    python = sys.executable
    found = [Server("baseline", (python, str(HERE / "baseline_server.py")), port_flag=())]
    for tree in trees:
        label = "" if tree == ROOT else f"@{tree.name}"
        mock = (python, "-m", "mockserver", "--seed", "1", "--log-level", "error")
        found.append(Server(f"mock{label}", mock, tree))
        found.append(Server(f"mock{label} journal off", (*mock, "--journal-size", "0"), tree))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="counted mints per server (default 1000)")
    parser.add_argument("--warmup", type=int, default=300, help="uncounted mints first (default 300)")
    parser.add_argument("--tree", type=Path, action="append", default=[], help="another checkout's mock, too")
    parser.add_argument("--only", action="append", default=[], help="measure only the servers named so")
    parser.add_argument("--profile", type=Path, help="keep the callgrind dumps in this directory")
    args = parser.parse_args(argv)
    missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
    if missing:
        print(f"skipped: {', '.join(missing)} not found (apt-get install valgrind)")
        return 0
    trees = [ROOT, *(tree.resolve() for tree in args.tree)]
    chosen = [s for s in servers(trees) if not args.only or s.name in args.only]
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.profile or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        results = {}
        for server in chosen:
            results[server.name] = count(server, args.requests, args.warmup, out_dir) / args.requests
            print(f"  {server.name}: {results[server.name] / 1000:.1f}k", file=sys.stderr, flush=True)
    baseline = results.get("baseline")
    print(f"{'server':<28} {'instructions/mint':>18} {'baseline/server':>16}")
    for name, per_request in results.items():
        ratio = f"{baseline / per_request:.2f}x" if baseline else "-"
        print(f"{name:<28} {per_request / 1000:>17.1f}k {ratio:>16}")
    print(f"({args.requests} keep-alive mints of {MINIMAL.decode()} after {args.warmup} uncounted; valgrind callgrind)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
