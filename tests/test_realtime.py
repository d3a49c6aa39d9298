"""Using a minted key: the Realtime WebSocket (``GET /v1/realtime``) and WebRTC signalling
(``POST /v1/realtime/calls``).

What production does is in GROUND_TRUTH §7 (refusals, session.created) and §5.3 (wording). Every server
event these tests receive goes through :func:`check_event`: an ``event_`` + 21 alphanumerics id, and
validation against the official SDK's ``RealtimeServerEvent`` union.

The client helpers are in ``tests/realtime_client.py``.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
import pytest
import websockets
from aiohttp import WSMsgType
from openai import AsyncOpenAI

from mockserver.testing import MockServer

from .realtime_client import (
    API_KEYS_URL,
    CALL_LOCATION,
    HELLO_ITEM,
    MISSING_KEY_MESSAGE,
    MODEL,
    SDP_OFFER,
    SK,
    TIMEOUT,
    UNKNOWN_EVENT_MESSAGE,
    Socket,
    assert_openai_error,
    bearer,
    check_event,
    connect,
    masked,
    mint,
    mint_key,
    refusal,
    session,
    without_expiry,
    ws_url,
)

# --- a. the official SDK: mint, connect, session.created ---------------------------------------------


async def test_sdk_connects_with_a_minted_key_and_gets_the_minted_session(mock: MockServer) -> None:
    asked = {
        "type": "realtime",
        "model": MODEL,
        "instructions": "Answer in one short sentence.",
        "output_modalities": ["text"],
        "audio": {
            "input": {"turn_detection": {"type": "server_vad", "threshold": 0.6, "silence_duration_ms": 400}},
            "output": {"voice": "marin"},
        },
    }
    async with AsyncOpenAI(base_url=mock.base_url, api_key=SK, max_retries=0) as server_side:
        raw = await server_side.realtime.client_secrets.with_raw_response.create(session=asked)  # type: ignore[arg-type]
        minted = json.loads(raw.text)
    key = minted["value"]
    assert key == raw.parse().value

    async with (
        AsyncOpenAI(base_url=mock.base_url, api_key=key, max_retries=0) as browser_side,
        browser_side.realtime.connect(model=MODEL) as connection,
    ):
        first = json.loads(await asyncio.wait_for(connection.recv_bytes(), TIMEOUT))
        opened_at = mock.now()
        check_event(first)
        assert first["type"] == "session.created"
        created = first["session"]
        # Exactly the minted session (same keys, same order, same values) but for the connection's own expiry.
        assert without_expiry(created) == without_expiry(minted["session"])
        assert list(created) == list(minted["session"])
        assert minted["session"]["expires_at"] == 0
        assert abs(created["expires_at"] - (opened_at + 3600)) <= 2
        assert created["audio"]["output"]["voice"] == "marin"
        assert created["audio"]["input"]["turn_detection"]["threshold"] == 0.6

        # The SDK's own typed helpers drive a whole text turn.
        await connection.conversation.item.create(item=HELLO_ITEM)  # type: ignore[arg-type]
        await connection.response.create()
        types: list[str] = []
        deltas: list[str] = []
        for _ in range(200):
            data = await asyncio.wait_for(connection.recv_bytes(), TIMEOUT)
            event = json.loads(data)
            check_event(event)
            parsed = connection.parse_event(data)
            assert parsed.type == event["type"]
            types.append(event["type"])
            if event["type"] == "response.output_text.delta":
                deltas.append(event["delta"])
            if event["type"] == "response.done":
                break
        assert types[:2] == ["conversation.item.added", "conversation.item.done"]
        assert types[-1] == "response.done"
        assert event["response"]["status"] == "completed"
        assert event["response"]["output"][0]["content"][0]["text"] == "".join(deltas)


async def test_compression_offered_by_the_clients_is_declined(mock: MockServer, http: aiohttp.ClientSession) -> None:
    """The Agents SDK's ``websockets.connect`` (its default ``compression="deflate"``), ``ws`` in Node and browsers
    offer permessage-deflate; the mock declines it, so every frame goes uncompressed: compressing each event
    roughly doubled the server's CPU per event. (The openai SDK itself offers nothing: ``compression=None``.)"""
    key, _ = await mint_key(http, mock)
    # What the Agents SDK's OpenAIRealtimeWebSocketModel passes (agents/realtime/openai_realtime.py).
    async with websockets.connect(
        ws_url(mock), additional_headers=bearer(key), max_size=8 * 1024 * 1024, open_timeout=TIMEOUT
    ) as socket:
        assert "permessage-deflate" in socket.request.headers["Sec-WebSocket-Extensions"]
        assert "Sec-WebSocket-Extensions" not in socket.response.headers
        first = json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT))
        assert first["type"] == "session.created"

    ws = await asyncio.wait_for(http.ws_connect(ws_url(mock), headers=bearer(key), compress=15), TIMEOUT)
    try:
        assert ws.compress == 0  # aiohttp's client offered deflate; nothing was negotiated
        message = await asyncio.wait_for(ws.receive(), TIMEOUT)
        assert json.loads(message.data)["type"] == "session.created"
    finally:
        await ws.close()


# --- b. session.update --------------------------------------------------------------------------------


WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


async def test_session_update_merges_over_the_minted_session(mock: MockServer, http: aiohttp.ClientSession) -> None:
    key, minted = await mint_key(http, mock, instructions="Be brief.", output_modalities=["text"])
    async with session(http, mock, key) as socket:
        created = socket.received[0]["session"]
        update = {
            "type": "session.update",
            "event_id": "evt_update_1",
            "session": {
                "type": "realtime",
                "instructions": "Be thorough.",
                "audio": {
                    "input": {"turn_detection": {"type": "semantic_vad", "eagerness": "low"}},
                    "output": {"voice": "cedar"},
                },
                "tools": [WEATHER_TOOL],
            },
        }
        (updated,) = await socket.ask(update)
        assert updated["type"] == "session.updated", updated
        session_now = updated["session"]

        expected = copy.deepcopy(created)
        expected["instructions"] = "Be thorough."
        expected["audio"]["output"]["voice"] = "cedar"
        expected["tools"] = [WEATHER_TOOL]
        expected["audio"]["input"]["turn_detection"] = session_now["audio"]["input"]["turn_detection"]
        assert session_now == expected
        assert list(session_now) == list(created)
        detection = session_now["audio"]["input"]["turn_detection"]
        assert detection["type"] == "semantic_vad"
        assert detection["eagerness"] == "low"
        assert "threshold" not in detection  # server_vad's knobs do not leak into semantic_vad

        # A second update keeps the first one's changes.
        (again,) = await socket.ask(
            {"type": "session.update", "session": {"type": "realtime", "max_output_tokens": 300}}
        )
        assert again["type"] == "session.updated", again
        assert again["session"] == {**session_now, "max_output_tokens": 300}
        assert again["session"]["output_modalities"] == ["text"]  # from the mint, never updated
        assert again["session"]["id"] == minted["id"]


#: (id, session body, message, code, param, whether the mint endpoint refuses the same session body)
INVALID_UPDATES = [
    (
        "unknown-key",
        {"type": "realtime", "bogus_field": 1},
        "Unknown parameter: 'session.bogus_field'.",
        "unknown_parameter",
        "session.bogus_field",
        True,
    ),
    (
        "flat-beta-shape",
        {"modalities": ["text"], "voice": "alloy", "input_audio_format": "pcm16", "instructions": "Hi."},
        "Missing required parameter: 'session.type'.",
        "missing_required_parameter",
        "session.type",
        True,
    ),
    (
        "pcm16",
        {"type": "realtime", "audio": {"input": {"format": {"type": "pcm16"}}}},
        "Invalid value: 'pcm16'. Supported values are: 'audio/pcm', 'audio/pcmu', and 'audio/pcma'.",
        "invalid_value",
        "session.audio.input.format.type",
        True,
    ),
    (
        "speed-3",
        {"type": "realtime", "audio": {"output": {"speed": 3}}},
        "Invalid 'session.audio.output.speed': decimal above maximum value. Expected a value <= 1.5, "
        "but got 3 instead.",
        "decimal_above_max_value",
        "session.audio.output.speed",
        True,
    ),
    (
        "type-change",
        {"type": "transcription"},
        None,
        "invalid_value",
        "session.type",
        False,
    ),
]


@pytest.mark.parametrize(
    ("body", "message", "code", "param", "mint_refuses"),
    [case[1:] for case in INVALID_UPDATES],
    ids=[case[0] for case in INVALID_UPDATES],
)
async def test_invalid_session_update_is_an_error_event(
    mock: MockServer,
    http: aiohttp.ClientSession,
    body: dict[str, Any],
    message: str | None,
    code: str,
    param: str,
    mint_refuses: bool,
) -> None:
    async with session(http, mock) as socket:
        created = socket.received[0]["session"]
        (event,) = await socket.ask({"type": "session.update", "event_id": "evt_bad_update", "session": body})
        error = assert_openai_error(event, code=code, message=message, param=param)
        assert error["event_id"] == "evt_bad_update"

        # The rules are the mint body's: the same session body gets the same error from client_secrets.
        if mint_refuses:
            status, minted = await mint(http, mock, {"session": body})
            assert status == 400
            assert {k: minted["error"][k] for k in ("message", "code", "param", "type")} == {
                k: error[k] for k in ("message", "code", "param", "type")
            }

        # Nothing of the refused update was applied, and the connection still answers.
        (unchanged,) = await socket.ask({"type": "session.update", "session": {"type": "realtime"}})
        assert unchanged["type"] == "session.updated", unchanged
        assert unchanged["session"] == created


# --- c. unknown events, bad frames -------------------------------------------------------------------


async def test_unknown_event_type_lists_the_twelve_client_events(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with session(http, mock) as socket:
        (event,) = await socket.ask({"type": "nope", "event_id": "evt_nope"})
        error = assert_openai_error(event, code="invalid_value", message=UNKNOWN_EVENT_MESSAGE, param="type")
        assert error["event_id"] == "evt_nope"

        # Still open: a valid event is answered.
        added, done = await socket.ask({"type": "conversation.item.create", "item": HELLO_ITEM}, 2)
        assert (added["type"], done["type"]) == ("conversation.item.added", "conversation.item.done")


async def test_non_json_frame_is_an_error_event_and_the_socket_stays_open(
    mock: MockServer, http: aiohttp.ClientSession
) -> None:
    async with session(http, mock) as socket:
        await socket.ws.send_str("this is not JSON {")
        event = await socket.recv()
        error = assert_openai_error(event, code="invalid_json")
        assert error["message"].startswith("Invalid event: failed to parse JSON value. "), error
        assert error["event_id"] is None

        (event,) = await socket.ask({"event_id": "evt_no_type"})
        error = assert_openai_error(event, code="invalid_event", message="The 'type' field is missing.")
        assert error["event_id"] == "evt_no_type"

        (cleared,) = await socket.ask({"type": "input_audio_buffer.clear", "event_id": "evt_clear"})
        assert cleared["type"] == "input_audio_buffer.cleared"
        assert not socket.ws.closed


#: (the client's frame, the error's code, its param) for events the server cannot act on.
MALFORMED_EVENTS: list[tuple[str, str, str | None]] = [
    ('["session.update"]', "invalid_type", None),
    ('{"type": 7}', "invalid_type", "type"),
    ('{"type": "conversation.item.create"}', "missing_required_parameter", "item"),
    ('{"type": "conversation.item.create", "item": "hello"}', "invalid_type", "item"),
    ('{"type": "conversation.item.create", "item": {"type": "note"}}', "invalid_value", "item.type"),
    ('{"type": "input_audio_buffer.append"}', "missing_required_parameter", "audio"),
    ('{"type": "input_audio_buffer.append", "audio": 5}', "invalid_type", "audio"),
    ('{"type": "input_audio_buffer.append", "audio": "not base64!"}', "invalid_value", "audio"),
    ('{"type": "conversation.item.delete"}', "missing_required_parameter", "item_id"),
]


async def test_malformed_events_are_error_events(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with session(http, mock) as socket:
        for frame, code, param in MALFORMED_EVENTS:
            await socket.ws.send_str(frame)
            event = await socket.recv()
            assert_openai_error(event, code=code, param=param)
        await socket.ws.send_bytes(b'{"type": "input_audio_buffer.clear"}')
        event = await socket.recv()
        message = "Expected a text WebSocket message; binary frames are not supported."
        assert_openai_error(event, code="invalid_event", message=message)
        (cleared,) = await socket.ask({"type": "input_audio_buffer.clear"})
        assert cleared["type"] == "input_audio_buffer.cleared"


async def test_plain_get_without_upgrade_is_a_400(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{mock.base_url}/realtime?model={MODEL}", headers=bearer(SK)) as response:
        assert response.status == 400
        body = await response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}


# --- d. conversation items and responses -------------------------------------------------------------


TEXT_RESPONSE = [
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
]
#: conversation.item.done comes before response.output_item.done (SESSION_TRUTH §2a, observed live).
TEXT_RESPONSE_END = [
    "response.output_text.done",
    "response.content_part.done",
    "conversation.item.done",
    "response.output_item.done",
    "response.done",
]


async def text_turn(socket: Socket) -> tuple[str, list[dict[str, Any]]]:
    """A user item and a response; the reply text and the response's events."""
    added, done = await socket.ask({"type": "conversation.item.create", "item": HELLO_ITEM}, 2)
    assert (added["type"], done["type"]) == ("conversation.item.added", "conversation.item.done")
    await socket.send({"type": "response.create"})
    events = await socket.until("response.done")
    assert (await socket.recv())["type"] == "rate_limits.updated"
    text = events[-1]["response"]["output"][0]["content"][0]
    return text.get("text", text.get("transcript")), events


async def test_text_response_streams_deltas_that_add_up(mock: MockServer, http: aiohttp.ClientSession) -> None:
    key, _ = await mint_key(http, mock, output_modalities=["text"])
    async with session(http, mock, key) as socket:
        added, done = await socket.ask({"type": "conversation.item.create", "item": HELLO_ITEM}, 2)
        assert added["type"] == "conversation.item.added"
        assert done["type"] == "conversation.item.done"
        user_item = added["item"]
        assert re.fullmatch(r"item_[A-Za-z0-9]{21}", user_item["id"])
        assert user_item["role"] == "user"
        assert user_item["content"] == HELLO_ITEM["content"]
        assert done["item"] == user_item
        assert added["previous_item_id"] is None

        await socket.send({"type": "response.create"})
        events = await socket.until("response.done")
        types = [e["type"] for e in events]
        deltas = [e for e in events if e["type"] == "response.output_text.delta"]
        assert deltas
        assert types == TEXT_RESPONSE + ["response.output_text.delta"] * len(deltas) + TEXT_RESPONSE_END

        created, done_event = events[0]["response"], events[-1]["response"]
        response_id = created["id"]
        assert re.fullmatch(r"resp_[A-Za-z0-9]{21}", response_id)
        assert created["status"] == "in_progress"
        assert all(e.get("response_id", response_id) == response_id for e in events)
        item_id = events[1]["item"]["id"]
        assert all(e["item_id"] == item_id for e in events if "item_id" in e)
        assert events[2]["previous_item_id"] == user_item["id"]

        text = "".join(e["delta"] for e in deltas)
        assert text.strip()
        assert events[-5]["text"] == text
        assert events[-4]["part"] == {"type": "text", "text": text}
        assert done_event["id"] == response_id
        assert done_event["status"] == "completed"
        assert done_event["output"][0]["content"][0] == {"type": "output_text", "text": text}
        assert done_event["output"][0]["status"] == "completed"
        assert done_event["output"][0] == events[-3]["item"] == events[-2]["item"]


async def test_audio_response_streams_transcript_and_audio(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with session(http, mock) as socket:  # a regular key: the default session, audio out
        assert socket.received[0]["session"]["output_modalities"] == ["audio"]
        await socket.ask({"type": "conversation.item.create", "item": HELLO_ITEM}, 2)
        await socket.send({"type": "response.create"})
        events = await socket.until("response.done")
        types = [e["type"] for e in events]
        assert types[:4] == TEXT_RESPONSE
        assert types[-4:] == [
            "response.content_part.done",
            "conversation.item.done",
            "response.output_item.done",
            "response.done",
        ]
        assert "response.output_text.delta" not in types
        assert "response.output_text.done" not in types

        transcript_deltas = [e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta"]
        audio_deltas = [e["delta"] for e in events if e["type"] == "response.output_audio.delta"]
        assert transcript_deltas
        assert audio_deltas
        for chunk in audio_deltas:
            pcm = base64.b64decode(chunk, validate=True)
            assert pcm
            assert len(pcm) % 2 == 0  # 16-bit samples
        # Each stream ends with its done after its deltas.
        last_audio_delta = max(i for i, t in enumerate(types) if t == "response.output_audio.delta")
        last_transcript_delta = max(i for i, t in enumerate(types) if t == "response.output_audio_transcript.delta")
        assert types.index("response.output_audio.done") > last_audio_delta
        assert types.index("response.output_audio_transcript.done") > last_transcript_delta
        assert types.count("response.output_audio.done") == 1
        assert types.count("response.output_audio_transcript.done") == 1

        transcript = "".join(transcript_deltas)
        (transcript_done,) = [e for e in events if e["type"] == "response.output_audio_transcript.done"]
        assert transcript_done["transcript"] == transcript
        assert events[3]["part"]["type"] == "audio"
        done = events[-1]["response"]
        assert done["status"] == "completed"
        assert done["output_modalities"] == ["audio"]
        assert done["output"][0]["content"][0] == {"type": "output_audio", "transcript": transcript}


async def test_response_create_can_ask_for_text_only(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with session(http, mock) as socket:
        await socket.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        events = await socket.until("response.done")
        assert "response.output_text.delta" in [e["type"] for e in events]
        assert events[-1]["response"]["output_modalities"] == ["text"]


async def reply_of_fresh_server(seed: int) -> str:
    async with MockServer(seed=seed) as server, aiohttp.ClientSession() as client, session(client, server) as socket:
        text, _ = await text_turn(socket)
        return text


async def test_seeded_servers_say_the_same_things() -> None:
    first = await reply_of_fresh_server(31337)
    second = await reply_of_fresh_server(31337)
    other = await reply_of_fresh_server(31338)
    assert first == second
    assert first != other


# --- e. cancelling, the input audio buffer, item operations ------------------------------------------


async def test_cancel_stops_a_streaming_response(mock: MockServer, http: aiohttp.ClientSession) -> None:
    key, _ = await mint_key(http, mock, output_modalities=["text"])
    mock.add_fault(event_delay_ms=50, match={"path": "/v1/realtime"})
    async with session(http, mock, key) as socket:
        await socket.ask({"type": "conversation.item.create", "item": HELLO_ITEM}, 2)
        await socket.send({"type": "response.create", "event_id": "evt_create"})
        await socket.send({"type": "response.cancel", "event_id": "evt_cancel"})
        events = await socket.until("response.done")
        done = events[-1]["response"]
        assert done["status"] == "cancelled", done
        assert done["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
        assert all(e.get("response", {}).get("id", done["id"]) == done["id"] for e in events)
        types = [e["type"] for e in events]
        # What was open is flushed with what was streamed (SESSION_TRUTH §2e), never the whole reply.
        if "response.content_part.added" in types:
            streamed = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
            (text_done,) = [e for e in events if e["type"] == "response.output_text.done"]
            assert text_done["text"] == streamed
        assert (await socket.recv())["type"] == "rate_limits.updated"

        # Nothing more of that response arrives: the next event is the answer to the next client event.
        (cleared,) = await socket.ask({"type": "input_audio_buffer.clear"})
        assert cleared["type"] == "input_audio_buffer.cleared", cleared

        # And a new response can start.
        await socket.send({"type": "response.create"})
        again = await socket.until("response.done")
        assert again[-1]["response"]["status"] == "completed"
        assert again[-1]["response"]["id"] != done["id"]


async def test_cancelled_response_reports_only_what_was_streamed(mock: MockServer, http: aiohttp.ClientSession) -> None:
    key, _ = await mint_key(http, mock, output_modalities=["text"])
    mock.add_fault(event_delay_ms=50, match={"path": "/v1/realtime"})
    async with session(http, mock, key) as socket:
        await socket.send({"type": "response.create"})
        await socket.send({"type": "response.cancel"})
        events = await socket.until("response.done")
        done = events[-1]["response"]
        assert done["status"] == "cancelled"
        streamed = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
        # The response.done of a cancelled response describes what the client got: an incomplete item whose
        # text is what was streamed, not the whole reply the client never saw.
        for item in done["output"]:
            assert item["status"] == "incomplete", item
            assert "".join(part.get("text", "") for part in item["content"]) == streamed, item


async def test_cancel_with_nothing_active_is_an_error(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with session(http, mock) as socket:
        (event,) = await socket.ask({"type": "response.cancel", "event_id": "evt_cancel"})
        error = assert_openai_error(event, code="response_cancel_not_active")
        assert error["event_id"] == "evt_cancel"

        # After a finished response there is nothing to cancel either.
        await socket.send({"type": "response.create"})
        await socket.until("rate_limits.updated")
        (event,) = await socket.ask({"type": "response.cancel"})
        assert_openai_error(event, code="response_cancel_not_active")


async def test_second_response_while_one_is_active_is_an_error(mock: MockServer, http: aiohttp.ClientSession) -> None:
    mock.add_fault(event_delay_ms=20, match={"path": "/v1/realtime"})
    async with session(http, mock) as socket:
        await socket.send({"type": "response.create", "event_id": "evt_first"})
        await socket.send({"type": "response.create", "event_id": "evt_second"})
        events = await socket.until("response.done")
        if not any(e["type"] == "error" for e in events):  # the mock answers it after the response's events
            events.append(await socket.recv())
        (error,) = [e for e in events if e["type"] == "error"]
        details = assert_openai_error(error, code="conversation_already_has_active_response")
        assert details["event_id"] == "evt_second"
        assert events[0]["response"]["id"] in details["message"]
        (done,) = [e for e in events if e["type"] == "response.done"]
        assert done["response"]["status"] == "completed"


async def test_session_close_ends_the_connection(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with session(http, mock) as socket:
        await socket.send({"type": "session.close"})
        message = await socket.ws.receive(timeout=TIMEOUT)
        assert message.type == WSMsgType.CLOSE, message
        assert message.data == aiohttp.WSCloseCode.OK


async def test_append_and_commit_make_a_user_audio_item(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with session(http, mock) as socket:
        silence = base64.b64encode(bytes(9600)).decode()  # 200 ms of 24 kHz 16-bit PCM
        await socket.send({"type": "input_audio_buffer.append", "event_id": "evt_append", "audio": silence})
        committed, added, done = await socket.ask({"type": "input_audio_buffer.commit"}, 3)
        assert committed["type"] == "input_audio_buffer.committed", committed
        assert added["type"] == "conversation.item.added"
        assert done["type"] == "conversation.item.done"
        assert committed["item_id"] == added["item"]["id"] == done["item"]["id"]
        assert committed["previous_item_id"] is None
        assert added["item"]["role"] == "user"
        assert added["item"]["content"][0]["type"] == "input_audio"

        # The commit emptied the buffer.
        (event,) = await socket.ask({"type": "input_audio_buffer.commit"})
        assert_openai_error(event, code="input_audio_buffer_commit_empty")


async def test_empty_commit_and_clear(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with session(http, mock) as socket:
        (event,) = await socket.ask({"type": "input_audio_buffer.commit", "event_id": "evt_commit"})
        error = assert_openai_error(
            event,
            code="input_audio_buffer_commit_empty",
            message="Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
            "but buffer only has 0.00ms of audio.",
        )
        assert error["event_id"] == "evt_commit"
        (cleared,) = await socket.ask({"type": "input_audio_buffer.clear"})
        assert cleared["type"] == "input_audio_buffer.cleared"


async def test_item_retrieve_truncate_delete(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with session(http, mock) as socket:
        _, events = await text_turn(socket)
        user_item = socket.received[1]["item"]
        assistant_item = events[-1]["response"]["output"][0]

        (retrieved,) = await socket.ask({"type": "conversation.item.retrieve", "item_id": user_item["id"]})
        assert retrieved["type"] == "conversation.item.retrieved", retrieved
        assert retrieved["item"] == user_item

        truncate = {"type": "conversation.item.truncate", "item_id": assistant_item["id"], "content_index": 0}
        (truncated,) = await socket.ask({**truncate, "audio_end_ms": 40})
        assert truncated["type"] == "conversation.item.truncated", truncated
        assert (truncated["item_id"], truncated["content_index"], truncated["audio_end_ms"]) == (
            assistant_item["id"],
            0,
            40,
        )

        (deleted,) = await socket.ask({"type": "conversation.item.delete", "item_id": user_item["id"]})
        assert deleted == {**deleted, "type": "conversation.item.deleted", "item_id": user_item["id"]}
        (gone,) = await socket.ask({"type": "conversation.item.retrieve", "item_id": user_item["id"]})
        assert_openai_error(
            gone,
            code="item_retrieve_invalid_item_id",
            message=f"Error retrieving item: the item with id '{user_item['id']}' does not exist.",
        )


@pytest.mark.parametrize(
    ("event", "code", "action"),
    [
        (
            {"type": "conversation.item.retrieve", "item_id": "item_doesnotexist0000000"},
            "item_retrieve_invalid_item_id",
            "retrieving",
        ),
        (
            {"type": "conversation.item.delete", "item_id": "item_doesnotexist0000000"},
            "item_delete_invalid_item_id",
            "deleting",
        ),
        (
            {
                "type": "conversation.item.truncate",
                "item_id": "item_doesnotexist0000000",
                "content_index": 0,
                "audio_end_ms": 0,
            },
            "item_truncate_invalid_item_id",
            "truncating",
        ),
    ],
    ids=["retrieve", "delete", "truncate"],
)
async def test_unknown_item_is_an_error(
    mock: MockServer, http: aiohttp.ClientSession, event: dict[str, Any], code: str, action: str
) -> None:
    """The codes and texts observed live (SESSION_TRUTH §3: P4 for delete and retrieve, by pattern for truncate)."""
    async with session(http, mock) as socket:
        (answer,) = await socket.ask({**event, "event_id": "evt_item"})
        error = assert_openai_error(
            answer,
            code=code,
            message=f"Error {action} item: the item with id 'item_doesnotexist0000000' does not exist.",
        )
        assert error["event_id"] == "evt_item"


# --- f. refusals --------------------------------------------------------------------------------------


async def assert_refused_key(
    http: aiohttp.ClientSession, mock: MockServer, key: str, *, protocols: Sequence[str] = ()
) -> None:
    headers = {} if protocols else bearer(key)
    error, code, reason = await refusal(http, ws_url(mock), headers=headers, protocols=protocols)
    details = assert_openai_error(error, code="invalid_api_key")
    assert re.fullmatch(
        rf"Incorrect API key provided: {masked(key)}\. You can find your API key at {re.escape(API_KEYS_URL)}\.",
        details["message"],
    ), details["message"]
    assert key not in details["message"]
    assert details["event_id"] is None
    assert (code, reason) == (3000, "invalid_request_error.invalid_api_key")
    assert mock.requests(path="/v1/realtime")[-1].status == 101  # the upgrade itself succeeded


async def test_expired_key_is_refused_after_the_upgrade(mock: MockServer, http: aiohttp.ClientSession) -> None:
    status, body = await mint(
        http, mock, {"expires_after": {"anchor": "created_at", "seconds": 10}, "session": {"type": "realtime"}}
    )
    assert status == 200, body
    mock.advance_clock(body["expires_at"] - mock.now() + 1)
    assert mock.secret(body["value"]).status == "expired"
    await assert_refused_key(http, mock, body["value"])


async def test_revoked_key_is_refused(mock: MockServer, http: aiohttp.ClientSession) -> None:
    key, _ = await mint_key(http, mock)
    mock.revoke(key)
    await assert_refused_key(http, mock, key)
    # The same refusal when the key comes as a browser's subprotocol.
    await assert_refused_key(http, mock, key, protocols=["realtime", f"openai-insecure-api-key.{key}"])


async def test_unknown_ephemeral_key_is_refused(mock: MockServer, http: aiohttp.ClientSession) -> None:
    await assert_refused_key(http, mock, "ek_" + "0123456789abcdef" * 2)


async def test_wrong_server_key_is_refused_when_keys_are_configured(http: aiohttp.ClientSession) -> None:
    async with MockServer(seed=5, api_keys=("sk-allowed",)) as mock:
        await assert_refused_key(http, mock, "sk-wrong-key-0123456789")
        async with session(http, mock, "sk-allowed") as socket:
            assert socket.received[0]["session"]["model"] == MODEL


async def test_missing_key_is_refused(mock: MockServer, http: aiohttp.ClientSession) -> None:
    error, code, reason = await refusal(http, ws_url(mock))
    details = assert_openai_error(error, code=None, message="Missing bearer or basic authentication in header")
    assert details["event_id"] is None
    assert (code, reason) == (3000, "invalid_request_error")


@pytest.mark.parametrize(
    ("query", "headers", "code", "message"),
    [
        (
            "",
            {},
            "missing_model",
            "You must provide a model parameter, for example wss://api.openai.com/v1/realtime?model=gpt-realtime-1.5",
        ),
        ("model=gpt-nope", {}, "invalid_model", None),
        (
            f"model={MODEL}",
            {"OpenAI-Beta": "realtime=v1"},
            "beta_api_shape_disabled",
            "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API.",
        ),
    ],
    ids=["no-model", "unsupported-model", "beta-header"],
)
async def test_bad_request_closes_with_4000(
    mock: MockServer,
    http: aiohttp.ClientSession,
    query: str,
    headers: dict[str, str],
    code: str,
    message: str | None,
) -> None:
    error, close_code, reason = await refusal(http, ws_url(mock, query), headers={**bearer(SK), **headers})
    details = assert_openai_error(error, code=code, message=message)
    if code == "invalid_model":
        assert details["message"].startswith('Model "gpt-nope" is not supported in realtime mode')
    assert (close_code, reason) == (4000, f"invalid_request_error.{code}")


async def test_session_outlives_its_key(mock: MockServer, http: aiohttp.ClientSession) -> None:
    status, body = await mint(
        http, mock, {"expires_after": {"anchor": "created_at", "seconds": 10}, "session": {"type": "realtime"}}
    )
    assert status == 200, body
    key = body["value"]
    async with session(http, mock, key) as socket:
        mock.advance_clock(60)
        assert mock.secret(key).status == "expired"
        added, _ = await socket.ask({"type": "conversation.item.create", "item": HELLO_ITEM}, 2)
        assert added["type"] == "conversation.item.added"
        # A new connection with the key is refused, while this one goes on.
        await assert_refused_key(http, mock, key)
        (cleared,) = await socket.ask({"type": "input_audio_buffer.clear"})
        assert cleared["type"] == "input_audio_buffer.cleared"


async def test_transcription_intent_opens_a_transcription_session(
    mock: MockServer, http: aiohttp.ClientSession
) -> None:
    async with session(http, mock, query="intent=transcription") as socket:
        created = socket.received[0]["session"]
        # GROUND_TRUTH §3.4 (E): the live GA transcription session object.
        assert re.fullmatch(r"sess_[A-Za-z0-9]{21}", created["id"])
        assert without_expiry(created) == {
            "type": "transcription",
            "object": "realtime.transcription_session",
            "id": created["id"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": None,
                    "noise_reduction": None,
                    "turn_detection": {
                        "type": "server_vad",
                        "threshold": 0.5,
                        "prefix_padding_ms": 300,
                        "silence_duration_ms": 200,
                    },
                }
            },
            "include": None,
        }
        assert abs(created["expires_at"] - (mock.now() + 3600)) <= 2


# --- g. browser-style auth ----------------------------------------------------------------------------


async def test_browser_subprotocol_auth(mock: MockServer, http: aiohttp.ClientSession) -> None:
    key, minted = await mint_key(http, mock, instructions="From the browser.")
    protocols = ["realtime", f"openai-insecure-api-key.{key}"]
    async with connect(http, ws_url(mock), protocols=protocols) as socket:
        assert socket.ws.protocol == "realtime"
        created = await socket.recv()
        assert created["type"] == "session.created"
        assert without_expiry(created["session"]) == without_expiry(minted)
    (opened,) = mock.secret(key).sessions
    assert opened["transport"] == "websocket"


# --- h. the control surface ---------------------------------------------------------------------------


async def journal_entry(mock: MockServer, path: str = "/v1/realtime") -> Any:
    """The connection's journal entry; it is written when the connection has ended, so wait (bounded)."""
    deadline = time.monotonic() + TIMEOUT
    while not (entries := mock.requests(path=path)):
        assert time.monotonic() < deadline, "the connection never reached the journal"
        await asyncio.sleep(0.02)
    return entries[-1]


async def test_control_surface_sees_the_session(mock: MockServer, http: aiohttp.ClientSession) -> None:
    key, minted = await mint_key(http, mock)
    opened_at = int(mock.now())
    async with session(http, mock, key) as socket:
        (info,) = mock.secret(key).sessions
        assert info["session_id"] == minted["id"]
        assert info["transport"] == "websocket"
        assert abs(info["opened_at"] - opened_at) <= 1
        async with http.get(f"{mock.url}/__mock/secrets/{key}") as response:
            assert response.status == 200
            assert (await response.json())["sessions"] == [info]

        await socket.ask({"type": "conversation.item.create", "event_id": "evt_item_1", "item": HELLO_ITEM}, 2)
        await socket.ask({"type": "input_audio_buffer.clear", "event_id": "evt_clear_1"})
        received = list(socket.received)

    entry = await journal_entry(mock)
    assert (entry.method, entry.path, entry.status) == ("GET", "/v1/realtime", 101)
    assert entry.query == {"model": MODEL}
    events = entry.extra["events"]
    assert [(e["direction"], e["type"]) for e in events] == [
        ("server", "session.created"),
        ("client", "conversation.item.create"),
        ("server", "conversation.item.added"),
        ("server", "conversation.item.done"),
        ("client", "input_audio_buffer.clear"),
        ("server", "input_audio_buffer.cleared"),
    ]
    assert [e["event_id"] for e in events if e["direction"] == "server"] == [e["event_id"] for e in received]


async def test_journal_keeps_the_client_event_ids(mock: MockServer, http: aiohttp.ClientSession) -> None:
    """Each journalled event has its direction, type and event_id: the client's own id for a client event."""
    async with session(http, mock) as socket:
        await socket.ask({"type": "conversation.item.create", "event_id": "evt_item_1", "item": HELLO_ITEM}, 2)
        await socket.ask({"type": "input_audio_buffer.clear", "event_id": "evt_clear_1"})
    entry = await journal_entry(mock)
    client = [(e["type"], e.get("event_id")) for e in entry.extra["events"] if e["direction"] == "client"]
    assert client == [("conversation.item.create", "evt_item_1"), ("input_audio_buffer.clear", "evt_clear_1")]


# --- i. faults on the WebSocket -----------------------------------------------------------------------


async def test_status_fault_refuses_the_upgrade(mock: MockServer, http: aiohttp.ClientSession) -> None:
    mock.add_fault(status=503, match={"path": "/v1/realtime"})
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await asyncio.wait_for(http.ws_connect(ws_url(mock), headers=bearer(SK)), TIMEOUT)
    assert refused.value.status == 503
    mock.assert_statuses([503], path="/v1/realtime")
    # The rule is used up: the next connection opens.
    async with session(http, mock) as socket:
        assert socket.received[0]["type"] == "session.created"


async def test_drop_after_events(mock: MockServer, http: aiohttp.ClientSession) -> None:
    mock.add_fault(drop_after_events=2, match={"path": "/v1/realtime"})
    async with session(http, mock) as socket:
        await socket.send({"type": "conversation.item.create", "item": HELLO_ITEM})
        added = await socket.recv()
        assert added["type"] == "conversation.item.added"
        # The third event never comes: the TCP connection goes away without a close frame.
        message = await socket.ws.receive(timeout=TIMEOUT)
        assert message.type in (WSMsgType.CLOSED, WSMsgType.ERROR), message
        assert socket.ws.closed
        assert socket.ws.close_code == aiohttp.WSCloseCode.ABNORMAL_CLOSURE  # 1006: no close frame came
    entry = await journal_entry(mock)
    assert entry.extra["dropped"] == "after 2 server events"
    assert [e["direction"] for e in entry.extra["events"]] == ["server", "client", "server"]


async def test_event_delay_slows_every_event(mock: MockServer, http: aiohttp.ClientSession) -> None:
    delay = 0.2
    mock.add_fault(event_delay_ms=delay * 1000, match={"path": "/v1/realtime"})
    started = time.monotonic()
    async with session(http, mock) as socket:
        assert time.monotonic() - started >= delay * 0.9  # session.created waited too
        sent = time.monotonic()
        added, done = await socket.ask({"type": "conversation.item.create", "item": HELLO_ITEM}, 2)
        elapsed = time.monotonic() - sent
        assert (added["type"], done["type"]) == ("conversation.item.added", "conversation.item.done")
        assert elapsed >= 2 * delay * 0.9
    # Only the matched connection is slowed (the rule was used once).
    async with session(http, mock) as socket:
        assert socket.received[0]["type"] == "session.created"
        sent = time.monotonic()
        await socket.ask({"type": "input_audio_buffer.clear"})
        assert time.monotonic() - sent < delay * 2 + TIMEOUT  # bounded; no lower bound claimed here


# --- j. WebRTC signalling -----------------------------------------------------------------------------


async def post_call(
    http: aiohttp.ClientSession, mock: MockServer, key: str | None, body: Any, content_type: str | None = None
) -> tuple[aiohttp.ClientResponse, str]:
    headers = bearer(key) if key is not None else {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    async with http.post(f"{mock.base_url}/realtime/calls", data=body, headers=headers) as response:
        return response, await response.text()


async def test_webrtc_call_with_a_minted_key(mock: MockServer, http: aiohttp.ClientSession) -> None:
    key, minted = await mint_key(http, mock)
    response, answer = await post_call(http, mock, key, SDP_OFFER, "application/sdp")
    assert response.status == 201, answer
    assert response.content_type == "application/sdp"
    assert answer.startswith("v=0\r\n")
    lines = answer.split("\r\n")
    assert "a=group:BUNDLE 0 1" in lines
    assert "a=mid:0" in lines
    assert "a=mid:1" in lines
    assert [line.split()[0] for line in lines if line.startswith("m=")] == ["m=audio", "m=application"]
    location = response.headers["Location"]
    match = CALL_LOCATION.fullmatch(location)
    assert match, location

    (opened,) = mock.secret(key).sessions
    assert opened["transport"] == "webrtc"
    assert opened["call_id"] == match[1]
    assert opened["session_id"] == minted["id"]


def envelope(message: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


@pytest.mark.parametrize("how", ["expired", "revoked", "unknown"])
async def test_webrtc_refuses_unusable_keys(mock: MockServer, http: aiohttp.ClientSession, how: str) -> None:
    key, _ = await mint_key(http, mock)
    if how == "expired":
        mock.advance_clock(601)
        assert mock.secret(key).status == "expired"
    elif how == "revoked":
        mock.revoke(key)
    else:
        key = "ek_" + "fedcba9876543210" * 2
    response, text = await post_call(http, mock, key, SDP_OFFER, "application/sdp")
    assert response.status == 401
    body = json.loads(text)
    assert body["error"]["code"] == "invalid_api_key"
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["param"] is None
    assert re.fullmatch(
        rf"Incorrect API key provided: {masked(key)}\. You can find your API key at {re.escape(API_KEYS_URL)}\.",
        body["error"]["message"],
    )


async def test_webrtc_without_a_key(mock: MockServer, http: aiohttp.ClientSession) -> None:
    response, text = await post_call(http, mock, None, SDP_OFFER, "application/sdp")
    assert response.status == 401
    assert json.loads(text) == envelope(MISSING_KEY_MESSAGE, None)


async def test_webrtc_refuses_a_body_that_is_not_sdp(mock: MockServer, http: aiohttp.ClientSession) -> None:
    key, _ = await mint_key(http, mock)
    response, text = await post_call(http, mock, key, "hello, this is not an offer", "application/sdp")
    assert response.status == 400
    assert json.loads(text)["error"]["code"] == "invalid_sdp"
    assert mock.secret(key).sessions == ()


async def test_webrtc_refuses_other_content_types(mock: MockServer, http: aiohttp.ClientSession) -> None:
    key, _ = await mint_key(http, mock)
    response, text = await post_call(http, mock, key, json.dumps({"sdp": SDP_OFFER}), "application/json")
    assert response.status == 400
    assert json.loads(text)["error"]["code"] == "unsupported_content_type"


#: Run in a fresh interpreter without the webrtc extra: a seeded server's signalling-only answer, printed.
SEEDED_ANSWER = """
import json, sys, urllib.request
sys.modules["aiortc"] = None  # as if the extra were not installed: import aiortc fails
from mockserver.testing import MockServer
with MockServer(seed=77) as mock:
    request = urllib.request.Request(
        mock.base_url + "/realtime/calls",
        data=json.loads(sys.argv[1]).encode(),
        headers={"Authorization": "Bearer sk-test", "Content-Type": "application/sdp"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        sys.stdout.write(response.read().decode())
"""


def test_seeded_signalling_only_answer_is_the_same_in_every_process() -> None:
    """Without the webrtc extra, a seeded server answers the same offer the same way run after run (as its
    ids do). With it, the answer is aiortc's: fresh ports, ICE credentials and certificate every time."""
    answers = []
    for hash_seed in ("1", "2"):
        result = subprocess.run(
            [sys.executable, "-c", SEEDED_ANSWER, json.dumps(SDP_OFFER)],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        answers.append(result.stdout)
    assert answers[0].startswith("v=0")
    assert answers[0] == answers[1], "the answer's o= line differs with PYTHONHASHSEED"


def multipart(session_body: Any) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("sdp", SDP_OFFER, content_type="application/sdp")
    form.add_field("session", json.dumps(session_body), content_type="application/json")
    return form


async def test_webrtc_multipart_with_a_server_key(mock: MockServer, http: aiohttp.ClientSession) -> None:
    response, answer = await post_call(http, mock, SK, multipart({"type": "realtime", "model": MODEL}))
    assert response.status == 201, answer
    assert response.content_type == "application/sdp"
    assert answer.startswith("v=0")
    assert CALL_LOCATION.fullmatch(response.headers["Location"])


@pytest.mark.parametrize(
    "session_body",
    [
        {"type": "realtime", "model": MODEL, "bogus_field": 1},
        {"type": "realtime", "model": MODEL, "audio": {"input": {"format": {"type": "pcm16"}}}},
        {"model": MODEL},
    ],
    ids=["unknown-key", "pcm16", "no-type"],
)
async def test_webrtc_multipart_with_an_invalid_session(
    mock: MockServer, http: aiohttp.ClientSession, session_body: dict[str, Any]
) -> None:
    response, text = await post_call(http, mock, SK, multipart(session_body))
    assert response.status == 400, text
    status, minted = await mint(http, mock, {"session": session_body})
    assert status == 400
    assert json.loads(text) == minted
    assert minted["error"]["param"].startswith("session.")


# --- k. shutdown --------------------------------------------------------------------------------------


async def test_stopping_the_server_closes_sockets_with_1001(http: aiohttp.ClientSession) -> None:
    server = MockServer(seed=9)
    await server.start()
    try:
        async with session(http, server) as socket:
            stopping = asyncio.create_task(server.stop())
            message = await socket.ws.receive(timeout=TIMEOUT)
            assert message.type == WSMsgType.CLOSE, message
            assert message.data == aiohttp.WSCloseCode.GOING_AWAY
            assert socket.ws.close_code == 1001
            await asyncio.wait_for(stopping, TIMEOUT)
    finally:
        await server.stop()
