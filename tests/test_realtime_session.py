"""The Realtime session behaves like the model: turn detection on appended audio, input transcription,
audible reply audio, responses that honour their options, cancel and truncate, and the journal of events.

Contract: PRODUCT.md "After the mint"; facts: SESSION_TRUTH.md §2-§4. Every server event is checked against
the official SDK's types as it arrives (``realtime_client.check_event``). Audio is generated with
``mockserver.realtime.audio`` (tones, silence) and decoded back to check what the mock sent.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from openai import AsyncOpenAI

from mockserver.realtime.audio import AudioFormat, format_of, ms_for_bytes, rms_dbfs, silence, tone
from mockserver.testing import MockServer

from .realtime_client import (
    HELLO_ITEM,
    MODEL,
    SK,
    TIMEOUT,
    Socket,
    assert_openai_error,
    bearer,
    check_event,
    connect,
    mint_key,
    ws_url,
)

PCM = format_of({"type": "audio/pcm", "rate": 24000})
PCMU = format_of({"type": "audio/pcmu"})
PCMA = format_of({"type": "audio/pcma"})
#: A 440 Hz sine at half of full scale: speech at the default threshold (PRODUCT.md).
SPEECH_AMPLITUDE = 0.5
NO_VAD: dict[str, Any] = {"audio": {"input": {"turn_detection": None}}}


def speech(ms: int, fmt: AudioFormat = PCM, amplitude: float = SPEECH_AMPLITUDE) -> bytes:
    return tone(440, ms, amplitude, fmt)


def quiet(ms: int, fmt: AudioFormat = PCM) -> bytes:
    return silence(ms, fmt)


async def append(socket: Socket, audio: bytes, fmt: AudioFormat = PCM, chunk_ms: int = 100) -> None:
    """Append ``audio`` in ``chunk_ms`` pieces, as a microphone would."""
    step = int(fmt.rate * chunk_ms / 1000) * fmt.sample_width
    for start in range(0, len(audio), step):
        chunk = audio[start : start + step]
        await socket.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()})


async def open_session(http: aiohttp.ClientSession, mock: MockServer, **session: Any) -> tuple[str, dict[str, Any]]:
    """A minted key for a realtime session with ``session`` set."""
    return await mint_key(http, mock, **session)


@asynccontextmanager
async def live(http: aiohttp.ClientSession, mock: MockServer, **session: Any) -> AsyncIterator[Socket]:
    """A session opened with a key minted for ``session``; ``session.created`` already read."""
    key, _ = await mint_key(http, mock, **session)
    async with connect(http, ws_url(mock), headers=bearer(key)) as socket:
        created = await socket.recv()
        assert created["type"] == "session.created"
        yield socket


async def quiet_for(socket: Socket, seconds: float = 0.3) -> list[dict[str, Any]]:
    """Events that arrive within ``seconds`` (a short wait to show that nothing more comes)."""
    events: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + seconds
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            message = await socket.ws.receive(timeout=left)
        except TimeoutError:
            break
        event = json.loads(message.data)
        check_event(event)
        events.append(event)
    return events


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def audio_of(events: list[dict[str, Any]]) -> bytes:
    return b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta")


# --- the audio response --------------------------------------------------------------------------------


async def test_audio_reply_is_audible_as_long_as_its_words_and_interleaved(
    mock: MockServer, http: aiohttp.ClientSession
) -> None:
    async with live(http, mock) as socket:
        await socket.send({"type": "conversation.item.create", "item": HELLO_ITEM})
        await socket.until("conversation.item.done")
        await socket.send({"type": "response.create"})
        events = await socket.until("response.done")
        after = await socket.recv()
    assert after["type"] == "rate_limits.updated"
    assert [r["name"] for r in after["rate_limits"]] == ["tokens"]
    kinds = types(events)
    head = [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_audio_transcript.delta",
    ]
    assert kinds[: len(head)] == head
    tail = [
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "conversation.item.done",
        "response.output_item.done",
        "response.done",
    ]
    assert kinds[-len(tail) :] == tail
    # The transcript starts first and runs ahead; the audio deltas are interleaved with it.
    first_audio = kinds.index("response.output_audio.delta")
    last_transcript = len(kinds) - 1 - kinds[::-1].index("response.output_audio_transcript.delta")
    assert first_audio < last_transcript
    transcript = "".join(e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta")
    done = events[-1]["response"]
    assert done["status"] == "completed"
    assert done["output"][0]["content"] == [{"type": "output_audio", "transcript": transcript}]
    pcm = audio_of(events)
    seconds = ms_for_bytes(len(pcm), PCM) / 1000
    words = len(transcript.split())
    # About 150 words a minute (0.4 s a word), whatever the exact pauses.
    assert 0.3 * words <= seconds <= 0.55 * words, (words, seconds)
    assert rms_dbfs(pcm) > -30, "the reply must be audible, not silence"
    usage = done["usage"]
    assert abs(usage["output_token_details"]["audio_tokens"] - round(seconds * 20)) <= words
    assert (
        usage["output_tokens"]
        == usage["output_token_details"]["audio_tokens"] + usage["output_token_details"]["text_tokens"]
    )
    for event in events:
        if event["type"].startswith("response.output_audio"):
            assert {"response_id", "item_id", "output_index", "content_index"} <= set(event)


@pytest.mark.parametrize(("fmt_json", "fmt"), [({"type": "audio/pcmu"}, PCMU), ({"type": "audio/pcma"}, PCMA)])
async def test_reply_audio_in_g711(
    mock: MockServer, http: aiohttp.ClientSession, fmt_json: dict[str, Any], fmt: AudioFormat
) -> None:
    async with live(http, mock, audio={"output": {"format": fmt_json}}) as socket:
        await socket.send({"type": "response.create"})
        events = await socket.until("response.done")
    g711 = audio_of(events)
    transcript = events[-1]["response"]["output"][0]["content"][0]["transcript"]
    seconds = len(g711) / 8000  # 8 kHz, one byte a sample
    assert 0.3 * len(transcript.split()) <= seconds <= 0.55 * len(transcript.split())
    assert len(set(g711)) > 16, "G.711 of a silent signal would be one or two byte values"
    assert events[0]["response"]["audio"]["output"]["format"] == fmt_json


async def test_speed_shortens_the_audio(mock: MockServer, http: aiohttp.ClientSession) -> None:
    durations = {}
    for speed in (1.0, 1.5):
        async with live(http, mock, audio={"output": {"speed": speed}}) as socket:
            await socket.send({"type": "response.create"})
            events = await socket.until("response.done")
        words = len(events[-1]["response"]["output"][0]["content"][0]["transcript"].split())
        durations[speed] = ms_for_bytes(len(audio_of(events)), PCM) / words
    assert durations[1.5] < durations[1.0] * 0.8


async def test_pace_one_streams_audio_at_playback_speed(http: aiohttp.ClientSession) -> None:
    async with MockServer(seed=7, realtime_pace=1) as paced, live(http, paced) as socket:
        await socket.send({"type": "response.create"})
        started = time.monotonic()
        events = await socket.until("response.done")
        elapsed = time.monotonic() - started
    audio_seconds = ms_for_bytes(len(audio_of(events)), PCM) / 1000
    # The last chunk is sent once the ones before it have played: at least the audio less its last word.
    assert elapsed >= audio_seconds - 0.7, (elapsed, audio_seconds)


# --- text responses and their options ----------------------------------------------------------------------


async def test_text_only_response_follows_production_order(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with live(http, mock, output_modalities=["text"]) as socket:
        await socket.send({"type": "conversation.item.create", "item": HELLO_ITEM})
        await socket.send({"type": "response.create"})
        events = await socket.until("response.done")
    kinds = types(events)
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    expected = [
        "conversation.item.added",
        "conversation.item.done",
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * len(deltas),
        "response.output_text.done",
        "response.content_part.done",
        "conversation.item.done",
        "response.output_item.done",
        "response.done",
    ]
    assert kinds == expected
    text = "".join(d["delta"] for d in deltas)
    assert events[-5]["text"] == text
    assert all(isinstance(d["obfuscation"], str) and 11 <= len(d["obfuscation"]) <= 14 for d in deltas)
    response = events[-1]["response"]
    assert list(response) == [
        "object",
        "id",
        "status",
        "status_details",
        "output",
        "conversation_id",
        "output_modalities",
        "max_output_tokens",
        "audio",
        "usage",
        "metadata",
    ]
    assert response["output"][0]["content"] == [{"type": "output_text", "text": text}]
    assert response["usage"]["output_token_details"]["audio_tokens"] == 0
    assert response["conversation_id"].startswith("conv_")
    user_item = events[0]["item"]
    assert events[4]["previous_item_id"] == user_item["id"]
    assert "object" not in user_item


async def test_response_options_override_the_session(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with live(http, mock) as socket:
        await socket.send(
            {
                "type": "response.create",
                "response": {
                    "output_modalities": ["text"],
                    "instructions": "Say something short.",
                    "metadata": {"topic": "weather"},
                    "max_output_tokens": 2,
                },
            }
        )
        events = await socket.until("response.done")
    created, done = events[0]["response"], events[-1]["response"]
    assert created["metadata"] == done["metadata"] == {"topic": "weather"}
    assert created["output_modalities"] == ["text"]
    assert created["max_output_tokens"] == 2
    assert "response.output_audio.delta" not in types(events)
    assert done["status"] == "incomplete"
    assert done["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
    assert done["output"][0]["status"] == "incomplete"
    assert done["usage"]["output_tokens"] <= 2
    text = done["output"][0]["content"][0]["text"]
    assert 0 < len(text.split()) <= 2


async def test_out_of_band_response_touches_no_conversation(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with live(http, mock, output_modalities=["text"]) as socket:
        await socket.send({"type": "conversation.item.create", "item": HELLO_ITEM})
        await socket.until("conversation.item.done")
        await socket.send(
            {
                "type": "response.create",
                "response": {
                    "conversation": "none",
                    "metadata": {"purpose": "classify"},
                    "input": [
                        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Classify."}]}
                    ],
                },
            }
        )
        events = await socket.until("response.done")
        assert not [e for e in events if e["type"].startswith("conversation.")]
        done = events[-1]["response"]
        assert done["conversation_id"] is None
        item_id = done["output"][0]["id"]
        await socket.send({"type": "conversation.item.retrieve", "item_id": item_id, "event_id": "evt_1"})
        error = await socket.until("error")
        assert_openai_error(
            error[-1],
            code="item_retrieve_invalid_item_id",
            message=f"Error retrieving item: the item with id '{item_id}' does not exist.",
        )
        assert error[-1]["error"]["event_id"] == "evt_1"


async def test_second_default_response_is_refused_but_out_of_band_runs_in_parallel(
    http: aiohttp.ClientSession,
) -> None:
    async with MockServer(seed=3, realtime_pace=1) as paced, live(http, paced) as socket:
        await socket.send({"type": "response.create"})
        created = await socket.until("response.created")
        first = created[-1]["response"]["id"]
        await socket.send({"type": "response.create", "event_id": "again"})
        error = await socket.until("error")
        assert_openai_error(
            error[-1],
            code="conversation_already_has_active_response",
            message=f"Conversation already has an active response in progress: {first}. Wait until the response is "
            "finished before creating a new one.",
        )
        await socket.send(
            {"type": "response.create", "response": {"conversation": "none", "output_modalities": ["text"]}}
        )
        parallel = await socket.until("response.created")
        assert parallel[-1]["response"]["conversation_id"] is None
        await socket.send({"type": "response.cancel", "response_id": first})
        dones = []
        while len(dones) < 2:
            event = await socket.recv()
            if event["type"] == "response.done":
                dones.append(event["response"])
    assert {d["id"]: d["status"] for d in dones}[first] == "cancelled"


# --- cancel and truncate -------------------------------------------------------------------------------


async def test_cancel_mid_stream_reports_only_what_was_streamed(http: aiohttp.ClientSession) -> None:
    async with MockServer(seed=11, realtime_pace=1) as paced, live(http, paced) as socket:
        await socket.send({"type": "response.create"})
        await socket.until("response.output_audio.delta")
        await socket.send({"type": "response.cancel"})
        events = await socket.until("response.done")
    heard = "".join(e["delta"] for e in [*socket.received] if e["type"] == "response.output_audio_transcript.delta")
    done = events[-1]["response"]
    assert done["status"] == "cancelled"
    assert done["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    item = done["output"][0]
    assert item["status"] == "incomplete"
    assert item["content"][0]["transcript"] == heard
    # The open *.done events were flushed before response.done.
    assert types(events)[-4:] == [
        "response.content_part.done",
        "conversation.item.done",
        "response.output_item.done",
        "response.done",
    ]
    streamed = audio_of(socket.received)
    assert done["usage"]["output_token_details"]["audio_tokens"] == pytest.approx(
        ms_for_bytes(len(streamed), PCM) / 50, abs=len(heard.split()) + 1
    )


async def test_truncate_checks_the_audio_actually_produced(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with live(http, mock) as socket:
        await socket.send({"type": "response.create"})
        events = await socket.until("response.done")
        item = events[-1]["response"]["output"][0]
        length_ms = round(ms_for_bytes(len(audio_of(events)), PCM))
        await socket.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item["id"],
                "content_index": 0,
                "audio_end_ms": length_ms + 500,
            }
        )
        error = await socket.until("error")
        assert error[-1]["error"]["message"] == (
            f"Audio content of {length_ms}ms is already shorter than {length_ms + 500}ms"
        )
        await socket.send(
            {"type": "conversation.item.truncate", "item_id": item["id"], "content_index": 0, "audio_end_ms": 400}
        )
        truncated = await socket.until("conversation.item.truncated")
        assert truncated[-1]["audio_end_ms"] == 400
        await socket.send({"type": "conversation.item.retrieve", "item_id": item["id"]})
        retrieved = (await socket.until("conversation.item.retrieved"))[-1]["item"]
    content = retrieved["content"][0]
    kept = base64.b64decode(content["audio"])
    assert round(ms_for_bytes(len(kept), PCM)) == 400
    full = item["content"][0]["transcript"]
    assert full.startswith(content["transcript"])
    assert len(content["transcript"]) < len(full)


async def test_truncating_user_audio_is_refused(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with live(http, mock, **NO_VAD) as socket:
        await append(socket, speech(300))
        await socket.send({"type": "input_audio_buffer.commit"})
        committed = (await socket.until("input_audio_buffer.committed"))[-1]
        await socket.send(
            {
                "type": "conversation.item.truncate",
                "item_id": committed["item_id"],
                "content_index": 0,
                "audio_end_ms": 0,
            }
        )
        error = (await socket.until("error"))[-1]
    assert_openai_error(
        error, code="unsupported_content_type", message="Only model output audio messages can be truncated"
    )


async def test_output_audio_buffer_clear_is_accepted_over_websocket(
    mock: MockServer, http: aiohttp.ClientSession
) -> None:
    async with live(http, mock) as socket:
        await socket.send({"type": "output_audio_buffer.clear", "event_id": "c1"})
        await socket.send({"type": "session.update", "session": {"type": "realtime"}})
        following = await socket.recv()
    assert following["type"] == "session.updated"


# --- turn detection -----------------------------------------------------------------------------------------


async def test_server_vad_turn_then_automatic_response(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with live(http, mock) as socket:
        await append(socket, quiet(500) + speech(1000) + quiet(400))
        events = await socket.until("response.done")
    kinds = types(events)
    assert kinds[:6] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "response.created",
    ]
    started, stopped, committed, added = events[:4]
    assert started["audio_start_ms"] == 200  # speech at 500 ms, less the default 300 ms of padding
    assert stopped["audio_end_ms"] == 1700  # speech ends at 1500 ms, plus 200 ms of silence
    assert started["item_id"] == stopped["item_id"] == committed["item_id"] == added["item"]["id"]
    assert committed["previous_item_id"] is None
    assert added["item"]["content"] == [{"type": "input_audio", "transcript": None}]
    assert added["item"]["role"] == "user"
    assert added["item"]["status"] == "completed"


async def test_audio_time_is_cumulative_across_turns(mock: MockServer, http: aiohttp.ClientSession) -> None:
    settings = {"audio": {"input": {"turn_detection": {"type": "server_vad", "create_response": False}}}}
    async with live(http, mock, **settings) as socket:
        await append(socket, speech(600) + quiet(300))
        first = await socket.until("conversation.item.done")
        await append(socket, quiet(1000) + speech(400) + quiet(300))
        second = await socket.until("conversation.item.done")
        extra = await quiet_for(socket)
    assert first[0]["audio_start_ms"] == 0
    assert first[1]["audio_end_ms"] == 800
    assert second[0]["audio_start_ms"] == 900 + 1000 - 300
    assert second[1]["audio_end_ms"] == 900 + 1000 + 400 + 200
    assert second[2]["previous_item_id"] == first[2]["item_id"]
    assert "response.created" not in types(extra)


@pytest.mark.parametrize(
    ("settings", "audio", "detected"),
    [
        ({}, quiet(2000), False),
        ({"threshold": 0.5}, speech(800) + quiet(400), True),
        ({"threshold": 0.9}, speech(800) + quiet(400), False),
        ({"threshold": 0.9}, speech(800, amplitude=1.0) + quiet(400), True),
        ({"threshold": 0.2}, speech(800, amplitude=0.01) + quiet(400), True),
        ({"threshold": 0.5}, speech(800, amplitude=0.01) + quiet(400), False),
    ],
)
async def test_threshold_maps_to_loudness(
    mock: MockServer, http: aiohttp.ClientSession, settings: dict[str, Any], audio: bytes, detected: bool
) -> None:
    turn = {"type": "server_vad", "create_response": False, **settings}
    async with live(http, mock, audio={"input": {"turn_detection": turn}}) as socket:
        await append(socket, audio)
        await socket.send({"type": "input_audio_buffer.clear"})
        events = await socket.until("input_audio_buffer.cleared")
    assert ("input_audio_buffer.speech_started" in types(events)) is detected


@pytest.mark.parametrize(("fmt_json", "fmt"), [({"type": "audio/pcmu"}, PCMU), ({"type": "audio/pcma"}, PCMA)])
async def test_vad_on_g711_input(
    mock: MockServer, http: aiohttp.ClientSession, fmt_json: dict[str, Any], fmt: AudioFormat
) -> None:
    async with live(http, mock, audio={"input": {"format": fmt_json}}) as socket:
        await append(socket, quiet(300, fmt) + speech(700, fmt) + quiet(300, fmt), fmt)
        events = await socket.until("input_audio_buffer.committed")
    assert events[0]["audio_start_ms"] == 0
    assert events[1]["audio_end_ms"] == 1200


async def test_silence_duration_and_prefix_padding_are_honoured(mock: MockServer, http: aiohttp.ClientSession) -> None:
    turn = {"type": "server_vad", "prefix_padding_ms": 100, "silence_duration_ms": 600, "create_response": False}
    async with live(http, mock, audio={"input": {"turn_detection": turn}}) as socket:
        # A 300 ms pause is shorter than the 600 ms of silence that ends a turn: one turn, not two.
        await append(socket, quiet(1000) + speech(500) + quiet(300) + speech(500) + quiet(700))
        events = await socket.until("input_audio_buffer.committed")
        extra = await quiet_for(socket)
    assert events[0]["audio_start_ms"] == 900
    assert events[1]["audio_end_ms"] == 1000 + 1300 + 600
    assert "input_audio_buffer.speech_started" not in types(extra)


async def test_barge_in_cancels_the_response_in_progress(http: aiohttp.ClientSession) -> None:
    async with MockServer(seed=5, realtime_pace=1) as paced, live(http, paced) as socket:
        await socket.send({"type": "response.create"})
        await socket.until("response.output_audio.delta")
        await append(socket, speech(600))
        events = await socket.until("response.done")
    assert "input_audio_buffer.speech_started" in types(events)
    done = events[-1]["response"]
    assert done["status"] == "cancelled"
    assert done["status_details"] == {"type": "cancelled", "reason": "turn_detected"}


async def test_no_interrupt_lets_the_response_finish(http: aiohttp.ClientSession) -> None:
    turn = {"type": "server_vad", "interrupt_response": False, "create_response": False}
    async with (
        MockServer(seed=5, realtime_pace=0.2) as paced,
        live(http, paced, audio={"input": {"turn_detection": turn}}) as socket,
    ):
        await socket.send({"type": "response.create"})
        await socket.until("response.output_audio.delta")
        await append(socket, speech(600))
        events = await socket.until("response.done")
    assert events[-1]["response"]["status"] == "completed"


async def test_semantic_vad_waits_by_eagerness(mock: MockServer, http: aiohttp.ClientSession) -> None:
    ends = {}
    for eagerness in ("high", "low"):
        turn = {"type": "semantic_vad", "eagerness": eagerness, "create_response": False}
        async with live(http, mock, audio={"input": {"turn_detection": turn}}) as socket:
            await append(socket, speech(600) + quiet(9000))
            events = await socket.until("input_audio_buffer.speech_stopped")
            ends[eagerness] = events[-1]["audio_end_ms"] - 600
    assert 0 < ends["high"] <= 2000
    assert ends["high"] < ends["low"] <= 8000


async def test_idle_timeout_after_a_response(mock: MockServer, http: aiohttp.ClientSession) -> None:
    turn = {"type": "server_vad", "idle_timeout_ms": 5000}
    async with live(http, mock, output_modalities=["text"], audio={"input": {"turn_detection": turn}}) as socket:
        await socket.send({"type": "response.create"})
        await socket.until("response.done")
        await append(socket, quiet(6000))
        events = await socket.until("input_audio_buffer.timeout_triggered")
        timeout = events[-1]
        after = await socket.until("response.created")
    assert timeout["audio_end_ms"] - timeout["audio_start_ms"] == 5000
    assert timeout["audio_start_ms"] == 0
    assert types(after)[:3] == ["input_audio_buffer.committed", "conversation.item.added", "conversation.item.done"]
    assert after[0]["item_id"] == timeout["item_id"]


async def test_manual_commit_when_turn_detection_is_off(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with live(http, mock, **NO_VAD) as socket:
        await append(socket, speech(800) + quiet(800))
        assert await quiet_for(socket) == []
        await socket.send({"type": "input_audio_buffer.commit", "event_id": "c1"})
        events = await socket.until("conversation.item.done")
        assert types(events) == ["input_audio_buffer.committed", "conversation.item.added", "conversation.item.done"]
        assert "response.created" not in types(await quiet_for(socket))
        await append(socket, speech(60))
        await socket.send({"type": "input_audio_buffer.commit", "event_id": "c2"})
        error = await socket.recv()
    assert_openai_error(
        error,
        code="input_audio_buffer_commit_empty",
        message="Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer "
        "only has 60.00ms of audio.",
    )
    assert error["error"]["event_id"] == "c2"


# --- input transcription -----------------------------------------------------------------------------------


async def test_input_transcription_of_a_committed_turn(mock: MockServer, http: aiohttp.ClientSession) -> None:
    settings = {"audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}}}}
    async with live(http, mock, output_modalities=["text"], **settings) as socket:
        await append(socket, speech(1200) + quiet(300))
        events = await socket.until("conversation.item.input_audio_transcription.completed")
        item_id = events[0]["item_id"]
        await socket.until("response.done")
        await socket.send({"type": "conversation.item.retrieve", "item_id": item_id})
        retrieved = (await socket.until("conversation.item.retrieved"))[-1]["item"]
    deltas = [e for e in events if e["type"] == "conversation.item.input_audio_transcription.delta"]
    completed = events[-1]
    assert deltas
    assert all(d["item_id"] == item_id and d["content_index"] == 0 for d in deltas)
    assert "".join(d["delta"] for d in deltas) == completed["transcript"]
    assert completed["usage"]["type"] == "tokens"
    assert completed["usage"]["input_token_details"]["audio_tokens"] == completed["usage"]["input_tokens"] > 0
    assert "logprobs" not in completed
    assert retrieved["content"][0]["transcript"] == completed["transcript"]
    assert base64.b64decode(retrieved["content"][0]["audio"])


async def test_transcription_session_transcribes_and_never_responds(
    mock: MockServer, http: aiohttp.ClientSession
) -> None:
    body = {"session": {"type": "transcription", "audio": {"input": {"transcription": {"model": "whisper-1"}}}}}
    async with http.post(f"{mock.base_url}/realtime/client_secrets", json=body, headers=bearer(SK)) as response:
        key = (await response.json())["value"]
    async with connect(http, ws_url(mock, "intent=transcription"), headers=bearer(key)) as socket:
        created = await socket.recv()
        assert created["session"]["type"] == "transcription"
        await append(socket, speech(900) + quiet(400))
        events = await socket.until("conversation.item.input_audio_transcription.completed")
        extra = await quiet_for(socket, 0.5)
        await socket.send({"type": "response.create", "event_id": "r1"})
        error = await socket.recv()
    assert types(events)[:5] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
    ]
    # whisper-1 sends the whole transcript in one delta and bills by duration.
    assert types(events)[5:] == [
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
    ]
    assert events[-1]["usage"]["type"] == "duration"
    assert not [e for e in extra if e["type"].startswith(("response.", "rate_limits"))]
    assert error["type"] == "error"
    assert error["error"]["event_id"] == "r1"


async def test_transcription_intent_with_a_server_key_transcribes(
    mock: MockServer, http: aiohttp.ClientSession
) -> None:
    async with connect(http, ws_url(mock, "intent=transcription"), headers=bearer(SK)) as socket:
        await socket.recv()
        await socket.send(
            {
                "type": "session.update",
                "session": {
                    "type": "transcription",
                    "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}},
                },
            }
        )
        await socket.until("session.updated")
        await append(socket, speech(700) + quiet(400))
        events = await socket.until("conversation.item.input_audio_transcription.completed")
    assert events[-1]["transcript"]


# --- the journal keeps the events -------------------------------------------------------------------------


async def test_journal_shows_events_while_the_socket_is_open(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with live(http, mock, output_modalities=["text"], **NO_VAD) as socket:
        await append(socket, speech(200))
        await socket.send({"type": "conversation.item.create", "item": HELLO_ITEM, "event_id": "mine"})
        await socket.send({"type": "response.create", "response": {"metadata": {"k": "v"}}})
        await socket.until("response.done")
        mock.assert_event("client", "conversation.item.create", event_id="mine")
        appended = mock.events("client", "input_audio_buffer.append")
        assert [e["audio"] for e in appended] == [4800, 4800]
        mock.assert_event("server", "response.done", response={"status": "completed", "metadata": {"k": "v"}})
        with pytest.raises(AssertionError) as failure:
            mock.assert_event("server", "response.done", response={"status": "cancelled"})
        assert "'status': 'completed'" in str(failure.value)
        async with http.get(f"{mock.base_url.removesuffix('/v1')}/__mock/requests") as listing:
            entries = (await listing.json())["data"]
    entry = next(e for e in entries if e["path"] == "/v1/realtime")
    assert entry["status"] == 101
    assert entry["events"][0]["type"] == "session.created"
    assert entry["headers"]["authorization"].startswith("Bearer ek_")
    assert "*" in entry["headers"]["authorization"]


async def test_sdk_realtime_client_drives_a_spoken_turn(mock: MockServer) -> None:
    async with AsyncOpenAI(base_url=mock.base_url, api_key=SK, max_retries=0) as server_side:
        minted = await server_side.realtime.client_secrets.create(
            session={"type": "realtime", "model": MODEL, "audio": {"input": {"transcription": {"model": "whisper-1"}}}}
        )
    async with (
        AsyncOpenAI(base_url=mock.base_url, api_key=minted.value, max_retries=0) as client,
        client.realtime.connect(model=MODEL) as connection,
    ):
        audio = speech(800) + quiet(400)
        for start in range(0, len(audio), 4800):
            await connection.input_audio_buffer.append(audio=base64.b64encode(audio[start : start + 4800]).decode())
        seen: list[str] = []
        for _ in range(500):
            data = await asyncio.wait_for(connection.recv_bytes(), TIMEOUT)
            event = json.loads(data)
            check_event(event)
            assert connection.parse_event(data).type == event["type"]
            seen.append(event["type"])
            if event["type"] == "response.done":
                break
    assert seen[:3] == ["session.created", "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped"]
    assert "conversation.item.input_audio_transcription.completed" in seen
    assert "response.output_audio.delta" in seen


async def test_session_ends_at_its_sixty_minutes(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with live(http, mock) as socket:
        mock.advance_clock(3601)
        await socket.send({"type": "response.create"})
        error = await socket.recv()
        closing = await socket.ws.receive(timeout=TIMEOUT)
    assert_openai_error(error, code="session_expired", message="Your session hit the maximum duration of 60 minutes.")
    assert closing.type == aiohttp.WSMsgType.CLOSE
