"""``--workers N``: N processes on one port (SO_REUSEPORT) sharing a real Redis; the pool stops as one."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.redis_server import RedisServer, free_port, redis_server

START_TIMEOUT = 60.0
SK = "sk-test-workers-0123456789"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MOCKSERVER_")}


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@contextmanager
def pool(*args: str) -> Iterator[tuple[subprocess.Popen[str], int, str]]:
    """``mockserver --port 0 --workers ARGS``; yields the parent process, the port and the start-up line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # bounded: the parent exits (EOF) if the pool cannot start
        assert "listening on http://127.0.0.1:" in line, line + (process.stderr.read() if process.stderr else "")
        yield process, int(line.split("http://127.0.0.1:")[1].split()[0]), line
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(START_TIMEOUT)
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return status != "Z"


def request(port: int, method: str, path: str, body: object = None) -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection (so the kernel picks a worker afresh)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {SK}", "Content-Type": "application/json"}
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_two_workers_share_one_port_and_one_store(redis: RedisServer) -> None:
    with pool("--workers", "2", "--store", redis.url(1), "--seed", "3") as (process, port, line):
        assert line.rstrip().endswith("(seed 3) [2 workers]")
        assert len(children(process.pid)) == 2
        seen: dict[str, list[str]] = {}
        for _ in range(400):  # bounded: the kernel spreads new connections over both sockets
            status, headers, body = request(port, "POST", "/v1/realtime/client_secrets", {})
            assert status == 200
            seen.setdefault(headers["x-mock-worker"], []).append(json.loads(body)["value"])
            if len(seen) == 2 and min(len(keys) for keys in seen.values()) >= 3:
                break
        assert sorted(seen) == ["1", "2"]
        # Every key, whichever worker minted it, is known to the pool (and never minted twice).
        minted = [key for keys in seen.values() for key in keys]
        assert len(set(minted)) == len(minted)
        for key in minted:
            status, _, body = request(port, "GET", f"/__mock/secrets/{key}")
            assert status == 200
            assert json.loads(body)["status"] == "active"


def test_sigterm_stops_every_worker_and_exits_0(redis: RedisServer) -> None:
    with pool("--workers", "2", "--store", redis.url(2)) as (process, port, _):
        workers = children(process.pid)
        assert request(port, "GET", "/__mock/health")[0] == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(START_TIMEOUT) == 0
        assert not any(alive(pid) for pid in workers)
        stderr = process.stderr.read() if process.stderr else ""
        assert "Traceback" not in stderr


def test_a_worker_dying_stops_the_pool_with_exit_1(redis: RedisServer) -> None:
    with pool("--workers", "2", "--store", redis.url(3)) as (process, _, _):
        first, second = children(process.pid)
        os.kill(first, signal.SIGKILL)
        assert process.wait(START_TIMEOUT) == 1
        deadline = time.monotonic() + START_TIMEOUT
        while alive(second):
            assert time.monotonic() < deadline, "the other worker was left running"
            time.sleep(0.05)
        stderr = process.stderr.read() if process.stderr else ""
        assert "exited unexpectedly" in stderr
        assert "Traceback" not in stderr


def test_workers_over_the_memory_store_stop_before_binding() -> None:
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "mockserver", "--port", str(port), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        env=_env(),
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("mockserver: --workers 2 needs a shared store: add --store redis://")


def test_workers_with_an_unreachable_store_say_so_once() -> None:
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "mockserver", "--port", "0", "--workers", "3", "--store", f"redis://127.0.0.1:{port}/0"],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        env={**_env(), "MOCKSERVER_WORKERS": "3"},
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"mockserver: cannot reach the store at redis://127.0.0.1:{port}/0")


def test_a_supervisor_killed_outright_takes_its_workers_with_it(redis: RedisServer) -> None:
    with pool("--workers", "2", "--store", redis.url(2)) as (process, port, _line):
        workers = children(process.pid)
        assert len(workers) == 2
        process.kill()  # SIGKILL: the supervisor cannot stop anyone itself
        process.wait(START_TIMEOUT)
        deadline = time.monotonic() + 10  # bounded
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(pid) for pid in workers)
        with pytest.raises(ConnectionRefusedError):  # nobody serves the port any more
            request(port, "GET", "/__mock/health")
