#!/usr/bin/env python3
"""Soak: a long, mixed load against one server, sampling its memory. Bounded in time.

    python benchmarks/soak.py                  # 120 s
    python benchmarks/soak.py --seconds 600    # longer
    python benchmarks/soak.py --sessions 50    # with 50 Realtime WebSocket sessions talking throughout

The mix churns every bounded store: distinct bodies (the plan cache), minted secrets
(the secret store), scoped requests under many scope names, the journal, scripted
fault rules added and used up, invalid bodies, oversized bodies and control calls.
With ``--sessions N``, N Realtime WebSocket sessions run beside the HTTP mix for the whole
soak, each one over and over: mint a key, connect, speak an utterance at real-time pace
(server VAD answers), close (``sessions.py``'s client). It prints RSS samples and the growth
over the second half of the run, which should be flat. Loopback only; the server is pinned
to CPU 0 and the load to CPU 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import Target, rss_mb, running  # noqa: E402 - benchmarks/ is not a package
from sessions import Session, Tally, utterance  # noqa: E402

AUTH = {"Authorization": "Bearer sk-soak"}


async def one(session: aiohttp.ClientSession, base: str, rng: random.Random, counts: dict[str, int]) -> None:
    roll = rng.random()
    scope = {"X-Mock-Scope": f"scope-{rng.randrange(5000)}"} if rng.random() < 0.3 else {}
    if roll < 0.55:
        body: dict[str, Any] = {"session": {"type": "realtime", "instructions": f"soak {rng.randrange(1_000_000)}"}}
        kind, request = "mint", session.post(f"{base}/v1/realtime/client_secrets", json=body, headers={**AUTH, **scope})
    elif roll < 0.70:
        kind, request = "mint-same", session.post(f"{base}/v1/realtime/client_secrets", json={}, headers=AUTH)
    elif roll < 0.80:
        body = {"session": {"type": "realtime", "bogus": rng.randrange(1000)}}
        kind, request = "invalid", session.post(f"{base}/v1/realtime/client_secrets", json=body, headers=AUTH)
    elif roll < 0.85:
        kind = "fault"
        rule = {"status": rng.choice([429, 500, 503]), "times": 1, "retry_after_ms": 1}
        request = session.post(f"{base}/__mock/faults", json=rule, headers=scope)
    elif roll < 0.88:
        big = b'{"session": {"type": "realtime", "instructions": "' + b"x" * 2_000_000 + b'"}}'
        kind, request = "oversized", session.post(f"{base}/v1/realtime/client_secrets", data=big, headers=AUTH)
    elif roll < 0.93:
        # Listings are scoped, as parallel tests list their own; one in fifty lists everything.
        listing = scope if rng.random() < 0.98 else {}
        kind, request = "journal", session.get(f"{base}/__mock/requests", headers=listing or {"X-Mock-Scope": "x"})
    elif roll < 0.97:
        listing = scope if rng.random() < 0.98 else {}
        kind, request = "secrets", session.get(f"{base}/__mock/secrets", headers=listing or {"X-Mock-Scope": "x"})
    else:
        kind, request = "not-found", session.get(f"{base}/v1/nope", headers=AUTH)
    async with request as response:
        await response.read()
        counts[kind] = counts.get(kind, 0) + 1
        if response.status >= 500 and "x-mock-injected" not in response.headers:
            counts["unexpected-5xx"] = counts.get("unexpected-5xx", 0) + 1
        counts[f"status-{response.status}"] = counts.get(f"status-{response.status}", 0) + 1


async def talker(http: aiohttp.ClientSession, base: str, chunks: list[str], offset: float, deadline: float,
                 tally: Tally, counts: dict[str, int]) -> None:  # fmt: skip
    """One Realtime session after another until ``deadline`` (at most 10,000): speak, get the reply, close."""
    for _ in range(10_000):
        if time.perf_counter() >= deadline:
            return
        session = Session(http, base, tally)
        try:
            await session.open()
            await session.speak(chunks, offset)
            await session.wait("response.done")
            counts["ws-sessions"] = counts.get("ws-sessions", 0) + 1
        except (aiohttp.ClientError, ConnectionError) as error:
            key = f"ws-error-{type(error).__name__}"
            counts[key] = counts.get(key, 0) + 1
        finally:
            await session.close()
        offset = 0.0


async def soak(port: int, pid: int, seconds: float, connections: int, sessions: int = 0) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    rng = random.Random(7)
    counts: dict[str, int] = {}
    samples: list[tuple[float, int, float]] = []
    started = time.perf_counter()
    deadline = started + seconds
    total = 0
    tally = Tally()
    chunks = utterance() if sessions else []

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:

        async def worker() -> None:
            nonlocal total
            while time.perf_counter() < deadline:
                try:
                    await one(session, base, rng, counts)
                except aiohttp.ClientError as error:
                    key = f"client-error-{type(error).__name__}"
                    counts[key] = counts.get(key, 0) + 1
                total += 1

        async def sampler() -> None:
            while time.perf_counter() < deadline:
                samples.append((round(time.perf_counter() - started, 1), total, round(rss_mb(pid), 1)))
                await asyncio.sleep(5)

        async def talkers() -> None:
            # Their own client: a WebSocket holds its connection for the whole session.
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
                await asyncio.gather(
                    *(talker(http, base, chunks, 0.1 * i / sessions, deadline, tally, counts) for i in range(sessions))
                )

        await asyncio.gather(sampler(), *(worker() for _ in range(connections)), talkers())
    if sessions:
        counts["ws-server-events"] = tally.server_events
        counts["ws-timeouts"] = tally.timeouts
    samples.append((round(time.perf_counter() - started, 1), total, round(rss_mb(pid), 1)))
    half = [rss for t, _, rss in samples if t >= seconds / 2]
    first_quarter = [rss for t, _, rss in samples if t <= seconds / 4]
    return {
        "seconds": seconds,
        "requests": total,
        "counts": dict(sorted(counts.items())),
        "rss_samples_t_requests_mb": samples,
        "rss_second_half_min_max_mb": [min(half), max(half)] if half else None,
        "rss_first_quarter_max_mb": max(first_quarter) if first_quarter else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--sessions", type=int, default=0, help="Realtime WebSocket sessions talking meanwhile")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "soak.json")
    args = parser.parse_args()
    if (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {1})
    flags = ("--seed", "1", "--log-level", "error")
    target = Target("mock", (sys.executable, "-m", "mockserver", *flags))
    with running(target) as (process, port, _cold):
        result = asyncio.run(soak(port, process.pid, args.seconds, args.connections, args.sessions))
    for t, requests, rss in result["rss_samples_t_requests_mb"]:
        print(f"t={t:7.1f}s  requests={requests:>9}  RSS={rss:6.1f} MB")
    print(json.dumps({k: v for k, v in result.items() if k != "rss_samples_t_requests_mb"}, indent=2))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if result["counts"].get("unexpected-5xx") else 0


if __name__ == "__main__":
    sys.exit(main())
