"""Memory over many Realtime sessions: a closed session leaves nothing behind, and what is kept is bounded.

Real sessions over a real socket (an aiohttp client and the mock on 127.0.0.1, port 0), speaking speech-like
audio (``audio.synthesize``) so server VAD ends the turn and the server answers on its own. The server runs
with a large young-generation threshold (``serving.py``), so a closed session must be freed by reference
counting alone: these tests turn the cycle collector off while they measure, and a reference cycle left by
a session shows up as a leak.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
from faker.generator import Generator

from mockserver.realtime.audio import PCM24K, bytes_for_ms, silence, synthesize
from mockserver.realtime.conversation import Conversation
from mockserver.realtime.engine import RealtimeEngine
from mockserver.realtime.recording import MAX_EVENTS, TAIL
from mockserver.realtime.vad import TurnDetector
from mockserver.testing import MockServer

from .realtime_client import TIMEOUT, Socket, bearer, connect, mint_key, session, ws_url

SPEECH = synthesize("Hello there, how are you doing today?", PCM24K).audio + silence(800, PCM24K)
STEP = bytes_for_ms(100, PCM24K)
#: How long one event of a burst may take to arrive (a hang guard, not a timing).
BURST_TIMEOUT = 60.0
CHUNKS = [base64.b64encode(SPEECH[i : i + STEP]).decode("ascii") for i in range(0, len(SPEECH), STEP)]


@contextmanager
def no_cycle_collector() -> Iterator[None]:
    """Garbage left by earlier tests collected, then no collection until the block ends."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def alive(*classes: type) -> list[object]:
    return [obj for obj in gc.get_objects() if isinstance(obj, classes)]


async def all_closed(mock: MockServer) -> None:
    """Wait until the server has finished every connection (its side closes after the client's)."""
    deadline = time.monotonic() + TIMEOUT
    while mock._call(lambda state: len(state.connections)):
        assert time.monotonic() < deadline, "the server still holds connections"
        await asyncio.sleep(0.01)


async def speak(socket: Socket) -> None:
    """Append the utterance (no pacing: turn detection runs on audio time) and read up to the reply's end."""
    for chunk in CHUNKS:
        await socket.send({"type": "input_audio_buffer.append", "audio": chunk})
    await socket.until("response.done")


async def conversation(http: aiohttp.ClientSession, mock: MockServer) -> None:
    """A minted key, a session, one spoken turn answered by the server; then the client closes."""
    key, _ = await mint_key(http, mock)
    async with session(http, mock, key, query="") as socket:
        await speak(socket)


async def rounds(mock: MockServer, count: int, sessions: int) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(count):
            await asyncio.gather(*(conversation(http, mock) for _ in range(sessions)))
            await all_closed(mock)


async def test_a_closed_session_leaves_no_engine_detector_or_conversation_behind() -> None:
    with no_cycle_collector():
        async with MockServer() as mock:
            async with aiohttp.ClientSession() as http:
                key, _ = await mint_key(http, mock)
                async with session(http, mock, key, query="") as socket:
                    await speak(socket)
                    assert len(alive(RealtimeEngine)) == 1
                    assert len(alive(TurnDetector)) == 1
            await all_closed(mock)
            await rounds(mock, 1, 10)
            assert alive(RealtimeEngine, TurnDetector, Conversation) == []


async def test_memory_returns_to_its_baseline_after_rounds_of_sessions() -> None:
    # The journal off: what it keeps of a session is bounded by its own cap (tested below), not freed. One
    # scripted reply, so that after the warm-up round the speech synthesizer's syllable cache is warm too.
    async with MockServer(journal_size=0) as mock:
        mock.add_reply("Sure, I can help you with that.", times=None)
        await rounds(mock, 1, 5)  # warm: imports, caches, the shared Faker
        gc.collect()
        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            await rounds(mock, 3, 10)
            peak = tracemalloc.get_traced_memory()[1]
            # aiohttp's own connection objects sit in reference cycles: they go at the next collection.
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    # 30 sessions held ~170 KB of audio each and their events at the peak; after they close nothing of them
    # remains (the secrets minted for them stay in the secret store: a few KB each, bounded by max_secrets).
    assert peak - baseline > 1_000_000, "the sessions did not allocate what they should have"
    assert after - baseline < 150_000, f"{(after - baseline) / 1000:.0f} KB still held after the sessions closed"


async def test_open_sessions_share_one_faker() -> None:
    gc.collect()
    before = len(alive(Generator))
    async with MockServer() as mock, aiohttp.ClientSession() as http:
        keys = [(await mint_key(http, mock))[0] for _ in range(3)]
        async with (
            session(http, mock, keys[0], query="") as first,
            session(http, mock, keys[1], query="") as second,
            session(http, mock, keys[2], query="") as third,
        ):
            replies = []
            for socket in (first, second, third):
                await speak(socket)
                done = socket.received[-1]
                replies.append(done["response"]["output"][0]["content"][0]["transcript"])
            assert all(replies), replies
            assert len(alive(Generator)) - before <= 1


async def test_the_journal_keeps_at_most_max_events_across_connections() -> None:
    per_connection = TAIL // 2 + 50  # each clear is two events (client and server): more than a connection keeps
    batches, batch = 6, 10
    async with MockServer() as mock, aiohttp.ClientSession() as http:

        async def clears() -> None:
            async with connect(http, ws_url(mock), headers=bearer("sk-test")) as socket:
                await socket.until("session.created")
                for _ in range(per_connection):
                    await socket.ws.send_str('{"type": "input_audio_buffer.clear"}')
                for _ in range(per_connection):
                    # Ten connections' bursts queue up on the server: a hang guard, loose for a loaded machine.
                    message = await socket.ws.receive(timeout=BURST_TIMEOUT)
                    assert '"input_audio_buffer.cleared"' in message.data

        for _ in range(batches):
            await asyncio.gather(*(clears() for _ in range(batch)))
        await all_closed(mock)
        entries = mock.requests(path="/v1/realtime")
    assert len(entries) == batches * batch
    sent = 1 + 2 * per_connection
    kept = [len(entry.extra["events"]) for entry in entries]
    assert sum(kept) <= MAX_EVENTS
    assert sum(kept) > MAX_EVENTS - 1001
    # The oldest connections' events went first; the newest keep all a connection keeps.
    assert kept[:batch] == [0] * batch
    assert [entry.extra["events_dropped"] for entry in entries[:batch]] == [sent] * batch
    assert kept[-batch:] == [100 + TAIL] * batch


async def test_a_conversation_keeps_its_latest_4_mib_of_audio() -> None:
    megabyte = 1024 * 1024
    chunk = base64.b64encode(bytes(megabyte)).decode("ascii")
    async with MockServer() as mock, aiohttp.ClientSession() as http:
        key, _ = await mint_key(http, mock, audio={"input": {"turn_detection": None}})
        async with session(http, mock, key, query="") as socket:
            items = []
            for _ in range(5):
                await socket.send({"type": "input_audio_buffer.append", "audio": chunk})
                await socket.send({"type": "input_audio_buffer.commit"})
                committed = await socket.until("input_audio_buffer.committed")
                items.append(committed[-1]["item_id"])
                await socket.until("conversation.item.done")
            retrieved = []
            for item_id in items:
                await socket.send({"type": "conversation.item.retrieve", "item_id": item_id})
                event = (await socket.until("conversation.item.retrieved"))[-1]
                retrieved.append(event["item"]["content"][0].get("audio"))
    # 5 MiB were committed: the oldest item's audio is dropped, the latest 4 MiB are kept whole.
    assert retrieved[0] is None
    assert [base64.b64decode(audio) for audio in retrieved[1:]] == [bytes(megabyte)] * 4
