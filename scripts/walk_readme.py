#!/usr/bin/env python3
"""A new user walks the README: its install commands, run as written, in fresh copies of the checkout.

    python3 scripts/walk_readme.py

1. The run command (``python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/mockserver``):
   the server starts and prints its start-up line; the README's curl mints a key from it.
2. The demo: ``python3 -m venv .venv && .venv/bin/pip install '.[demo]'`` in another fresh copy,
   then the demo's commands as written (the mock, then the backend): the backend's ``POST /session``
   (the page's button) mints a key through the SDK.

CI runs this (``.ci/run``); the test suite runs the same commands with its own environment
(tests/test_doc_samples.py). The commands are taken from the README itself. The only change made to
them is the port: ``MOCKSERVER_PORT`` (or ``--port``) is set to a free one, so a busy 8080 cannot fail
the walk. Needs the package index; takes a minute or two.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from doc_samples import ROOT, Sample, command_kind, commands, on_port, samples

__all__ = ["main", "readme_commands"]

INSTALL_TIMEOUT = 600.0
START_TIMEOUT = 30.0
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")
DEMO_LISTENING = re.compile(r"^demo backend listening on (http://127\.0\.0\.1:\d+)$")


class WalkError(Exception):
    """A step of the walk did not do what the README says."""


def readme_commands() -> dict[str, list[str]]:
    """The README's commands by what they are: ``run`` (installs and serves), ``mint``, ``demo-install``, ``demo``."""
    found: dict[str, list[str]] = {"run": [], "mint": [], "demo-install": [], "demo": []}
    blocks: list[Sample] = [s for s in samples(ROOT / "README.md") if s.language == "sh" and not s.not_run]
    for block in blocks:
        for command in commands(block.code):
            kind = command_kind(command)
            if kind == "install" and command.endswith("&& .venv/bin/mockserver"):
                found["run"].append(command)
            elif kind == "install" and "'.[demo]'" in command:
                found["demo-install"].append(command)
            elif kind == "curl" and "/v1/realtime/client_secrets" in command:
                found["mint"].append(command)
            elif kind in ("mockserver", "demo") and any("'.[demo]'" in c for c in found["demo-install"]):
                found["demo"].append(command)
    for kind, listed in found.items():
        if not listed:
            raise WalkError(f"the README has no {kind} command")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fresh_copy(into: Path) -> Path:
    """The checkout's files (tracked, and untracked but not ignored), without .venv or caches."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / os.fsdecode(name)
        if source.is_file():
            target = into / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return into


def read_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The next line the process prints, or "" if none came in time."""
    assert process.stdout is not None
    stream = process.stdout
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return lines[0].strip() if lines else ""


def wait_for(process: subprocess.Popen[str], pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
    """Lines until one matches (pip's own output comes first), within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        line = read_line(process, left)
        if match := pattern.search(line):
            return match
        if process.poll() is not None:
            raise WalkError(f"exited with {process.returncode} before saying it was ready")
    raise WalkError(f"not ready within {timeout:g} s")


@contextmanager
def running(command: str, cwd: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """``bash -c COMMAND`` in its own process group, stopped with SIGTERM at the end (exit 0 expected)."""
    process = subprocess.Popen(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield process
        os.killpg(process.pid, signal.SIGTERM)
        if process.wait(START_TIMEOUT) != 0:
            raise WalkError(f"{command!r} exited with {process.returncode} after SIGTERM")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(START_TIMEOUT)


def run(command: str, cwd: Path) -> None:
    result = subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    if result.returncode != 0:
        raise WalkError(f"{command!r} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


def post(url: str, body: bytes, headers: dict[str, str]) -> dict[str, object]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=START_TIMEOUT) as response:
        data: dict[str, object] = json.load(response)
    return data


def walk_run_command(found: dict[str, list[str]], work: Path) -> str:
    copy = fresh_copy(work / "run")
    env = {**os.environ, "MOCKSERVER_PORT": str(free_port())}
    with running(found["run"][0], copy, env) as server:
        line = wait_for(server, LISTENING, INSTALL_TIMEOUT)
        port = int(line[1])
        mint = shlex.split(on_port(found["mint"][0], port))
        if mint[0] != "curl":
            raise WalkError(f"not a curl command: {found['mint'][0]!r}")
        result = subprocess.run([*mint, "-sS", "--fail"], capture_output=True, text=True, timeout=START_TIMEOUT)
        if result.returncode != 0 or not str(json.loads(result.stdout).get("value", "")).startswith("ek_"):
            raise WalkError(f"the README's curl did not mint: {result.stdout}{result.stderr}")
    return f"run command and mint ok (port {port})"


def walk_demo(found: dict[str, list[str]], work: Path) -> str:
    copy = fresh_copy(work / "demo")
    run(found["demo-install"][0], copy)
    mock_port, backend_port = free_port(), free_port()
    mock_command, backend_command = found["demo"][0], found["demo"][1]
    mock_command = re.sub(r"--port \d+", f"--port {mock_port}", mock_command)
    backend_command = re.sub(r"--port \d+", f"--port {backend_port}", on_port(backend_command, mock_port))
    with running(mock_command, copy, dict(os.environ)) as mock:
        wait_for(mock, LISTENING, START_TIMEOUT)
        with running(backend_command, copy, dict(os.environ)) as backend:
            url = wait_for(backend, DEMO_LISTENING, START_TIMEOUT)[1]
            key = post(f"{url}/session", b"{}", {"Content-Type": "application/json"})
            if not str(key.get("value", "")).startswith("ek_"):
                raise WalkError(f"the demo backend did not mint: {key}")
    return "demo ok (installed with .[demo] only; the backend minted through the SDK)"


def main(argv: list[str]) -> int:
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="walk-readme-") as work:
        try:
            found = readme_commands()
            for step in (walk_run_command, walk_demo):
                print(f"walk: {step(found, Path(work))}", flush=True)
        except (WalkError, OSError, subprocess.SubprocessError, ValueError) as error:
            print(f"walk: FAILED: {error}", flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
