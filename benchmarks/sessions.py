#!/usr/bin/env python3
"""Concurrent Realtime WebSocket sessions against one ``mockserver`` (default configuration). Bounded in time.

    python benchmarks/sessions.py            # 200 sessions, 3 rounds, mint load for 5 s per case (about 2 min)
    python benchmarks/sessions.py --quick    # 20 sessions, 2 rounds, 1 s per case (a smoke test)

Each session mints a key (``POST /v1/realtime/client_secrets``), opens ``/v1/realtime`` with it and talks:
speech-like PCM16 24 kHz audio (``audio.synthesize``) appended in 100 ms chunks paced in real time, then
silence, so server VAD detects the turn and the server answers on its own (transcript and audio deltas);
then one ``response.create`` and its reply; then it closes. A round is every session doing that at once.

Reported (and written to ``benchmarks/results/sessions.json``):

* client events/s and server events/s over a round, server CPU % (``/proc/<pid>/stat`` user+system time
  over wall time) and the server's RSS after each round's sessions have all closed;
* per-event latency p50/p99: ``response.create`` sent -> ``response.created`` received, and the append
  that completed the speech onset -> ``input_audio_buffer.speech_started`` received (measured from the
  latest append sent before the event arrived; appends are 100 ms apart, so this is the server's delay);
* on a fresh server: memory per idle session (open, nothing sent) and per talking session (RSS delta / N);
* the mint path under load: wrk (c64, the minimal realtime body) with no sessions open, with N idle
  sessions open and with N talking sessions, and the ratio to the no-session row.

The server is pinned to CPU 0 and the load (this process and wrk) to CPU 1 on a two-core machine, so in
the talking case wrk shares its core with the sessions' client (which sends pre-serialised appends and
reads only each event's type to keep its share small, and offers permessage-deflate as the Agents SDK, Node's
``ws`` and browsers do; the server declines it). Everything binds 127.0.0.1 (port 0 picked by the
OS). Every wait has a timeout and every loop a bound.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import run  # noqa: E402 - benchmarks/ is not a package
from run import MINIMAL, Target, load, rss_mb, running  # noqa: E402

from mockserver.realtime.audio import PCM24K, bytes_for_ms, silence, synthesize  # noqa: E402

AUTH = {"Authorization": "Bearer sk-bench-sessions"}
MINT = "/v1/realtime/client_secrets"
CHUNK_MS = 100
SPEECH = "Hello there, could you tell me what the weather will be like tomorrow?"
#: How long any one wait may take before the session gives up (and counts a timeout).
WAIT_S = 30.0
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def utterance() -> list[str]:
    """A spoken sentence then 800 ms of silence (server VAD's 500 ms ends the turn), as the append events'
    JSON, one per 100 ms chunk (serialised once: the client's CPU is the load generator's)."""
    speech = synthesize(SPEECH, PCM24K).audio + silence(800, PCM24K)
    step = bytes_for_ms(CHUNK_MS, PCM24K)
    return [
        json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(speech[i : i + step]).decode()})
        for i in range(0, len(speech), step)
    ]


def event_type(text: str) -> str:
    """A server event's type: the mock writes ``{"type":"...",`` first, so most events are not parsed at all."""
    if text.startswith(_TYPE_PREFIX):
        end = text.find('"', len(_TYPE_PREFIX))
        if end > 0:
            return text[len(_TYPE_PREFIX) : end]
    return str(json.loads(text)["type"])


_TYPE_PREFIX = '{"type":"'


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50_ms": None, "p99_ms": None}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"n": len(ordered), "p50_ms": round(statistics.median(ordered), 2), "p99_ms": round(p99, 2)}


@dataclass
class Tally:
    """What all sessions of one phase sent, received and waited for."""

    client_events: int = 0
    server_events: int = 0
    speech_latency_ms: list[float] = field(default_factory=list)
    create_latency_ms: list[float] = field(default_factory=list)
    timeouts: int = 0
    errors: list[str] = field(default_factory=list)
    server_types: dict[str, int] = field(default_factory=dict)


class Session:
    """One client: a minted key, a socket, a reader that counts server events and flags the ones awaited."""

    def __init__(self, http: aiohttp.ClientSession, base: str, tally: Tally) -> None:
        self.http = http
        self.base = base
        self.tally = tally
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.last_append = 0.0
        self.create_sent = 0.0
        self.flags: dict[str, asyncio.Event] = {}
        self.reader: asyncio.Task[None] | None = None

    def flag(self, kind: str) -> asyncio.Event:
        return self.flags.setdefault(kind, asyncio.Event())

    async def open(self) -> None:
        async with self.http.post(self.base + MINT, json={}, headers=AUTH) as response:
            response.raise_for_status()
            key = (await response.json())["value"]
        # Offering permessage-deflate, as the Agents SDK (websockets), Node's ws and browsers do (the openai SDK
        # offers nothing): the server declines it, and this keeps it measured if it ever accepts again.
        self.ws = await self.http.ws_connect(
            self.base.replace("http", "ws", 1) + "/v1/realtime", headers={"Authorization": f"Bearer {key}"}, compress=15
        )
        self.reader = asyncio.create_task(self._read())
        await self.wait("session.created")

    async def _read(self) -> None:
        assert self.ws is not None
        tally = self.tally
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            now = time.perf_counter()
            kind = event_type(message.data)
            tally.server_events += 1
            tally.server_types[kind] = tally.server_types.get(kind, 0) + 1
            if kind == "input_audio_buffer.speech_started" and self.last_append:
                tally.speech_latency_ms.append((now - self.last_append) * 1000)
            elif kind == "response.created" and self.create_sent:
                tally.create_latency_ms.append((now - self.create_sent) * 1000)
                self.create_sent = 0.0
            elif kind == "error" and len(tally.errors) < 20:
                tally.errors.append(message.data[:300])
            self.flag(kind).set()

    async def wait(self, kind: str) -> bool:
        try:
            await asyncio.wait_for(self.flag(kind).wait(), WAIT_S)
        except TimeoutError:
            self.tally.timeouts += 1
            return False
        self.flags.pop(kind, None)
        return True

    async def send(self, event: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send_str(json.dumps(event))
        self.tally.client_events += 1

    async def speak(self, appends: list[str], offset: float) -> None:
        """Send the append events at real-time pace (``offset`` spreads the sessions over one chunk's time)."""
        assert self.ws is not None
        start = time.perf_counter() + offset
        for index, append in enumerate(appends):
            delay = start + index * CHUNK_MS / 1000 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            self.last_append = time.perf_counter()
            await self.ws.send_str(append)
            self.tally.client_events += 1

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.wait_for(self.reader, WAIT_S)


async def conversation(session: Session, chunks: list[str], offset: float) -> None:
    """One round of one session: speak, get the automatic reply, ask for one more reply, close."""
    await session.open()
    await session.speak(chunks, offset)
    if await session.wait("response.done"):
        session.create_sent = time.perf_counter()
        await session.send({"type": "response.create"})
        await session.wait("response.done")
    await session.close()


async def round_of(port: int, pid: int, sessions: int, chunks: list[str]) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    tally = Tally()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        cpu0, wall0 = cpu_seconds(pid), time.perf_counter()
        clients = [Session(http, base, tally) for _ in range(sessions)]
        await asyncio.gather(
            *(conversation(c, chunks, CHUNK_MS / 1000 * i / sessions) for i, c in enumerate(clients)),
            return_exceptions=False,
        )
        wall, cpu = time.perf_counter() - wall0, cpu_seconds(pid) - cpu0
    await asyncio.sleep(1.0)  # the server finishes closing its side
    return {
        "sessions": sessions,
        "seconds": round(wall, 2),
        "client_events": tally.client_events,
        "server_events": tally.server_events,
        "client_events_per_s": round(tally.client_events / wall, 1),
        "server_events_per_s": round(tally.server_events / wall, 1),
        "server_cpu_percent": round(cpu / wall * 100, 1),
        "latency_response_create_to_created": percentiles(tally.create_latency_ms),
        "latency_append_to_speech_started": percentiles(tally.speech_latency_ms),
        "speech_started": tally.server_types.get("input_audio_buffer.speech_started", 0),
        "responses_done": tally.server_types.get("response.done", 0),
        "audio_deltas": tally.server_types.get("response.output_audio.delta", 0),
        "transcript_deltas": tally.server_types.get("response.output_audio_transcript.delta", 0),
        "timeouts": tally.timeouts,
        "errors": tally.errors,
        "rss_after_close_mb": round(rss_mb(pid), 1),
    }


async def talk_until(session: Session, chunks: list[str], offset: float, stop: asyncio.Event) -> None:
    """Keep talking (utterance after utterance, the server answering each) until ``stop``; bounded in count."""
    for _ in range(10_000):
        if stop.is_set():
            return
        await session.speak(chunks, offset)
        offset = 0.0


async def mint_under_load(
    port: int, pid: int, sessions: int, chunks: list[str], seconds: float, connections: int
) -> dict[str, Any]:
    """Mint req/s with no sessions, then ``sessions`` idle ones, then the same sessions talking."""
    base = f"http://127.0.0.1:{port}"
    tally = Tally()
    result: dict[str, Any] = {"connections": connections, "seconds": seconds}

    def measure(name: str) -> Callable[[], Any]:
        async def run() -> None:
            row = await asyncio.to_thread(load, port, MINIMAL, connections, seconds)
            result[name] = {"rps": round(row.rps, 1), "p50_ms": row.p50_ms, "p99_ms": row.p99_ms,
                            "non_2xx": row.non_2xx, "tool": row.tool}  # fmt: skip

        return run

    load(port, MINIMAL, 16, 1.0)  # warm-up
    await measure("no_sessions")()
    # One session opened and closed first: what a process's first session imports (the Realtime modules, and
    # Faker on a thread of its own) is the process's memory, not any one session's.
    async with aiohttp.ClientSession() as http:
        first = Session(http, base, Tally())
        await first.open()
        await first.close()
    await asyncio.sleep(0.5)
    rss_before = rss_mb(pid)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        clients = [Session(http, base, tally) for _ in range(sessions)]
        await asyncio.gather(*(c.open() for c in clients))
        await asyncio.sleep(1.0)
        rss_idle = rss_mb(pid)
        cpu0, wall0 = cpu_seconds(pid), time.perf_counter()
        await measure("idle_sessions")()
        result["idle_sessions"]["server_cpu_percent"] = round(
            (cpu_seconds(pid) - cpu0) / (time.perf_counter() - wall0) * 100, 1
        )
        stop = asyncio.Event()
        talkers = [
            asyncio.create_task(talk_until(c, chunks, CHUNK_MS / 1000 * i / sessions, stop))
            for i, c in enumerate(clients)
        ]
        await asyncio.sleep(3.0)  # every session is mid-utterance or being answered
        rss_talking = rss_mb(pid)
        events0 = tally.server_events
        await measure("talking_sessions")()
        stop.set()
        await asyncio.wait_for(asyncio.gather(*talkers), WAIT_S)
        result["talking_sessions"]["server_events"] = tally.server_events - events0
        await asyncio.gather(*(c.close() for c in clients))
    base_rps = result["no_sessions"]["rps"]
    for name in ("idle_sessions", "talking_sessions"):
        result[name]["ratio_to_no_sessions"] = round(result[name]["rps"] / base_rps, 3) if base_rps else None
    result["rss_before_sessions_mb"] = round(rss_before, 1)
    result["rss_idle_sessions_mb"] = round(rss_idle, 1)
    result["rss_talking_sessions_mb"] = round(rss_talking, 1)
    result["kb_per_idle_session"] = round((rss_idle - rss_before) * 1024 / sessions, 1)
    result["kb_per_talking_session"] = round((rss_talking - rss_before) * 1024 / sessions, 1)
    result["timeouts"] = tally.timeouts
    result["errors"] = tally.errors
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 sessions, 2 rounds, 1 s mint loads")
    parser.add_argument("--sessions", type=int, help="concurrent sessions (default 200, --quick 20)")
    parser.add_argument("--rounds", type=int, help="rounds (default 3, --quick 2)")
    parser.add_argument("--seconds", type=int, help="whole seconds per mint load case (default 5, --quick 1)")
    parser.add_argument("--connections", type=int, default=64, help="mint load connections (default 64)")
    parser.add_argument("--no-mint", action="store_true", help="skip the mint-under-load part")
    parser.add_argument("--tree", type=Path, help="measure the mockserver of another checkout (before/after)")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "sessions.json")
    args = parser.parse_args(argv)
    if args.tree is not None:
        run.TREE = args.tree.resolve()
    sessions = args.sessions or (20 if args.quick else 200)
    rounds = args.rounds or (2 if args.quick else 3)
    seconds = float(args.seconds or (1 if args.quick else 5))
    if (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {1})
    chunks = utterance()
    target = Target("mock", (sys.executable, "-m", "mockserver", "--log-level", "error"))
    report: dict[str, Any] = {"sessions": sessions, "chunk_ms": CHUNK_MS, "utterance_chunks": len(chunks)}
    with running(target) as (process, port, _cold):
        report["rss_ready_mb"] = round(rss_mb(process.pid), 1)
        report["rounds"] = []
        for number in range(1, rounds + 1):
            result = asyncio.run(round_of(port, process.pid, sessions, chunks))
            report["rounds"].append(result)
            print(
                f"round {number}: {result['client_events_per_s']:.0f} client ev/s, "
                f"{result['server_events_per_s']:.0f} server ev/s, CPU {result['server_cpu_percent']}%, "
                f"create->created {result['latency_response_create_to_created']}, "
                f"append->speech_started {result['latency_append_to_speech_started']}, "
                f"RSS after close {result['rss_after_close_mb']} MB, timeouts {result['timeouts']}",
                flush=True,
            )
    if not args.no_mint:
        with running(target) as (process, port, _cold):
            mint = asyncio.run(mint_under_load(port, process.pid, sessions, chunks, seconds, args.connections))
        report["mint_under_load"] = mint
        for name in ("no_sessions", "idle_sessions", "talking_sessions"):
            row = mint[name]
            print(f"mint c{args.connections} {name:17} {row['rps']:9.1f} req/s  p99 {row['p99_ms']} ms  "
                  f"ratio {row.get('ratio_to_no_sessions', 1.0)}")  # fmt: skip
        print(f"memory per idle session {mint['kb_per_idle_session']} KB, "
              f"per talking session {mint['kb_per_talking_session']} KB")  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    failed = sum(r["timeouts"] for r in report["rounds"]) + report.get("mint_under_load", {}).get("timeouts", 0)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
