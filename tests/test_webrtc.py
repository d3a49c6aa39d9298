"""WebRTC calls with media, end to end over loopback, with aiortc as the client peer (see webrtc_client.py).

The browser's own proof is tests/test_webrtc_browser.py; here are the clauses, one by one: the answer, the
``oai-events`` channel (the same events as the WebSocket), audio both ways with ``output_audio_buffer.*``,
interruptions, hangup, the bound on calls, shutdown, faults, bad offers, and peers that vanish.
"""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import aioice.ice
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.keys import WEBRTC_CALLS
from mockserver.realtime.webrtc import WebRTCCalls
from mockserver.testing import MockServer
from tests.realtime_client import HELLO_ITEM, SK, bearer, check_event, mint_key, session
from tests.webrtc_client import TIMEOUT, CallClient, FakeMicrophone, Segment

#: The fake microphone's turn: a little silence, then 600 ms of a 440 Hz tone at half scale (speech at the
#: default threshold), then silence for ever (which ends the turn after silence_duration_ms).
TURN = (Segment(200), Segment(600, 0.5))
#: A level above this (dBFS) is audio, not silence.
AUDIBLE_DBFS = -40.0


def calls_of(mock: MockServer) -> WebRTCCalls:
    """The server's call registry (the handle runs the app in-process)."""
    assert mock._runner is not None
    return mock._runner.app[WEBRTC_CALLS]


@pytest.fixture
async def client() -> AsyncIterator[Callable[..., Awaitable[CallClient]]]:
    """Makes connected call clients and closes them all at the end."""
    made: list[CallClient] = []

    async def make(http: aiohttp.ClientSession, mock: MockServer, key: str, **options: Any) -> CallClient:
        call = CallClient(**options)
        made.append(call)
        await call.connect(http, mock.base_url, key)
        return call

    yield make
    for call in made:
        await call.close()


async def hang_up(http: aiohttp.ClientSession, mock: MockServer, call_id: str, key: str | None) -> tuple[int, str]:
    headers = bearer(key) if key is not None else {}
    async with http.post(f"{mock.base_url}/realtime/calls/{call_id}/hangup", headers=headers) as response:
        return response.status, await response.text()


async def eventually(condition: Callable[[], bool], what: str, within: float = TIMEOUT) -> None:
    """Wait (at most ``within`` seconds) until ``condition()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"still not {what} after {within} s")
        await asyncio.sleep(0.05)


# --- the answer and the data channel -------------------------------------------------------------------


async def test_answer_has_the_track_and_a_loopback_candidate(mock: MockServer, http: aiohttp.ClientSession) -> None:
    key, _ = await mint_key(http, mock)
    call = CallClient()
    try:
        status, answer, headers = await call.post(http, mock.base_url, key)
        assert status == 201, answer
        assert headers["Content-Type"].split(";")[0] == "application/sdp"
        assert "x-mock-webrtc" not in headers
        lines = answer.split("\r\n")
        candidates = [line for line in lines if line.startswith("a=candidate:")]
        assert candidates
        assert all(line.split()[4] == "127.0.0.1" and line.split()[7] == "host" for line in candidates), candidates
        assert any(line.startswith("a=msid:") for line in lines), "browsers need a=msid to play the track"
        assert any(line.startswith("a=rtpmap:") and line.endswith(" opus/48000/2") for line in lines)
        assert "usedtx=1" not in answer
        assert [line.split()[0] for line in lines if line.startswith("m=")] == ["m=audio", "m=application"]
        assert "a=sendrecv" in lines
        assert len(calls_of(mock)) == 1
    finally:
        await call.close()


async def test_oai_events_carries_the_minted_session_first(
    mock: MockServer, http: aiohttp.ClientSession, client: Any
) -> None:
    key, minted = await mint_key(http, mock, instructions="Be brief.", output_modalities=["text"])
    call = await client(http, mock, key, microphone=None)
    created = await call.recv()
    assert created["type"] == "session.created"
    assert created["session"]["id"] == minted["id"]
    assert created["session"]["instructions"] == "Be brief."
    assert {k: v for k, v in created["session"].items() if k != "expires_at"} == {
        k: v for k, v in minted.items() if k != "expires_at"
    }
    (opened,) = mock.secret(key).sessions
    assert opened["transport"] == "webrtc"
    assert opened["call_id"] == call.call_id
    assert opened["session_id"] == minted["id"]

    call.send({"type": "conversation.item.create", "item": HELLO_ITEM})
    call.send({"type": "response.create", "event_id": "evt_1"})
    events = await call.until("response.done")
    kinds = [event["type"] for event in events]
    assert kinds[:2] == ["conversation.item.added", "conversation.item.done"]
    assert "response.output_text.delta" in kinds
    done = events[-1]["response"]
    assert done["status"] == "completed"
    text = "".join(event["delta"] for event in events if event["type"] == "response.output_text.delta")
    assert text.strip()
    assert done["output"][0]["content"][0]["text"] == text
    assert (await call.recv())["type"] == "rate_limits.updated"

    # The journal keeps the call's events, both directions, under the POST that opened it.
    mock.assert_event("client", "response.create", event_id="evt_1")
    mock.assert_event("server", "session.created", session={"id": minted["id"]})
    (entry,) = mock.requests(path="/v1/realtime/calls")
    assert entry.status == 201
    assert entry.extra["call_id"] == call.call_id


async def test_bad_events_get_error_events_and_the_channel_stays_open(
    mock: MockServer, http: aiohttp.ClientSession, client: Any
) -> None:
    key, _ = await mint_key(http, mock, output_modalities=["text"])
    call = await client(http, mock, key, microphone=None)
    assert (await call.recv())["type"] == "session.created"
    call.send("this is not JSON")
    error = await call.recv()
    assert error["type"] == "error"
    assert error["error"]["code"] == "invalid_json"
    call.send({"event_id": "evt_7"})
    error = await call.recv()
    assert error["type"] == "error"
    assert error["error"]["code"] == "invalid_event"
    call.send({"type": "response.cancel", "event_id": "evt_8"})
    error = await call.recv()
    assert error["error"]["code"] == "response_cancel_not_active"
    assert error["error"]["event_id"] == "evt_8"
    call.send({"type": "response.create"})
    assert (await call.until("response.done"))[-1]["response"]["status"] == "completed"


async def test_both_transports_say_the_same(http: aiohttp.ClientSession, client: Any) -> None:
    """One engine: the same seed and the same events give the same reply over a WebSocket and over WebRTC."""
    replies = []
    for transport in ("websocket", "webrtc"):
        async with MockServer(seed=99) as mock:
            key, _ = await mint_key(http, mock, output_modalities=["text"])
            if transport == "websocket":
                async with session(http, mock, key) as socket:
                    await socket.send({"type": "conversation.item.create", "item": HELLO_ITEM})
                    await socket.send({"type": "response.create"})
                    events = await socket.until("response.done")
            else:
                call = await client(http, mock, key, microphone=None)
                await call.recv()
                call.send({"type": "conversation.item.create", "item": HELLO_ITEM})
                call.send({"type": "response.create"})
                events = await call.until("response.done")
            replies.append([(e["type"], e.get("delta")) for e in events])
    assert replies[0] == replies[1]


# --- audio both ways ----------------------------------------------------------------------------------


async def test_microphone_turn_gets_a_spoken_reply_on_the_track(
    mock: MockServer, http: aiohttp.ClientSession, client: Any
) -> None:
    key, _ = await mint_key(http, mock, audio={"input": {"transcription": {"model": "gpt-4o-transcribe"}}})
    call = await client(http, mock, key, microphone=FakeMicrophone(TURN))
    events = await call.until("response.done", within=20)
    done = events[-1]
    kinds = [event["type"] for event in events]
    assert kinds[0] == "session.created"
    assert kinds[1:4] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
    ]
    started, stopped = events[1], events[2]
    assert started["item_id"] == stopped["item_id"]
    # 600 ms of tone, the 300 ms prefix padding and the 200 ms of silence that end the turn (Opus and the
    # 10 ms detection frames blur the edges a little).
    assert 950 <= stopped["audio_end_ms"] - started["audio_start_ms"] <= 1250, (started, stopped)
    assert "conversation.item.input_audio_transcription.completed" in kinds
    assert "response.output_audio.delta" not in kinds, "over WebRTC the audio goes on the track"
    assert kinds.index("response.content_part.added") < kinds.index("output_audio_buffer.started")
    assert "response.output_audio.done" in kinds
    response_id = done["response"]["id"]
    assert events[kinds.index("output_audio_buffer.started")]["response_id"] == response_id
    assert done["response"]["status"] == "completed"
    assert done["response"]["usage"]["output_token_details"]["audio_tokens"] > 0

    tail = await call.until("output_audio_buffer.stopped", within=30, response_id=response_id)
    assert "output_audio_buffer.cleared" not in [event["type"] for event in tail]
    # The reply was heard: audible frames on the track, about as long as its audio tokens say (20 per second).
    audible = sum(1 for level in call.levels if level > AUDIBLE_DBFS)
    seconds = done["response"]["usage"]["output_token_details"]["audio_tokens"] / 20
    assert audible * 0.02 >= seconds * 0.5, (audible, seconds)
    assert len(call.levels) > audible, "silence is sent as packets too"


async def test_configured_pcmu_does_not_apply_to_the_track(
    mock: MockServer, http: aiohttp.ClientSession, client: Any
) -> None:
    """SESSION_TRUTH §4: the track is Opus whatever the session's audio formats; the session still says pcmu."""
    pcmu = {"type": "audio/pcmu"}
    key, _ = await mint_key(http, mock, audio={"input": {"format": pcmu}, "output": {"format": pcmu}})
    call = await client(http, mock, key, microphone=FakeMicrophone(TURN))
    events = await call.until("response.done", within=20)
    assert events[0]["session"]["audio"]["input"]["format"] == pcmu
    created = next(event for event in events if event["type"] == "response.created")
    assert created["response"]["audio"]["output"]["format"] == pcmu
    await call.until("output_audio_buffer.stopped", within=30)
    assert any(level > AUDIBLE_DBFS for level in call.levels)


async def test_silence_still_flows_as_packets(mock: MockServer, http: aiohttp.ClientSession, client: Any) -> None:
    """No DTX: with nothing to say, the track still sends a packet every 20 ms (50 frames arrive in 1 s)."""
    key, _ = await mint_key(http, mock)
    call = await client(http, mock, key, microphone=None)
    await eventually(lambda: len(call.levels) >= 50, "50 frames received")
    assert all(level == float("-inf") for level in call.levels[:50])


async def test_speech_interrupts_the_reply_and_clears_unplayed_audio(
    mock: MockServer, http: aiohttp.ClientSession, client: Any
) -> None:
    # A second turn 1.5 s after the first: the reply (several seconds of audio) is still playing.
    microphone = FakeMicrophone((*TURN, Segment(1500), Segment(600, 0.5)))
    key, _ = await mint_key(http, mock)
    call = await client(http, mock, key, microphone=microphone)
    first = await call.until("response.done", within=20)
    response_id = first[-1]["response"]["id"]
    rest = await call.until("output_audio_buffer.cleared", within=20, response_id=response_id)
    kinds = [event["type"] for event in rest]
    assert "input_audio_buffer.speech_started" in kinds
    assert kinds.index("input_audio_buffer.speech_started") < kinds.index("output_audio_buffer.cleared")
    assert ("output_audio_buffer.stopped", response_id) not in [(e["type"], e.get("response_id")) for e in rest]
    # The next turn is answered as usual.
    await call.until("response.done", within=20)


async def test_output_audio_buffer_clear_cuts_the_reply_off(
    mock: MockServer, http: aiohttp.ClientSession, client: Any
) -> None:
    key, _ = await mint_key(http, mock)
    call = await client(http, mock, key, microphone=None)
    await call.recv()
    call.send({"type": "conversation.item.create", "item": HELLO_ITEM})
    call.send({"type": "response.create"})
    events = await call.until("output_audio_buffer.started")
    response_id = events[-1]["response_id"]
    await call.until("response.done")
    # What agents-js does to interrupt over WebRTC (there is no active response left to cancel).
    call.send({"type": "output_audio_buffer.clear", "event_id": "evt_clear"})
    cleared = await call.until("output_audio_buffer.cleared")
    assert cleared[-1]["response_id"] == response_id
    assert "output_audio_buffer.stopped" not in [event["type"] for event in cleared]


# --- life cycle --------------------------------------------------------------------------------------------


async def test_hangup_ends_the_call(mock: MockServer, http: aiohttp.ClientSession, client: Any) -> None:
    key, _ = await mint_key(http, mock)
    other_key, _ = await mint_key(http, mock)
    call = await client(http, mock, key, microphone=None)
    await call.recv()

    assert await hang_up(http, mock, call.call_id, None) == (
        401,
        json.dumps(
            {
                "error": {
                    "message": "You didn't provide an API key. You need to provide your API key in an Authorization "
                    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with "
                    "blank username) if you're accessing the API from your browser and are prompted for a username "
                    "and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
            indent=2,
        ),
    )
    status, body = await hang_up(http, mock, call.call_id, other_key)
    assert status == 401, body
    assert "insufficient permissions" in json.loads(body)["error"]["message"]

    assert await hang_up(http, mock, call.call_id, key) == (200, "")
    await asyncio.wait_for(call.channel_closed.wait(), TIMEOUT)
    assert len(calls_of(mock)) == 0
    (entry,) = mock.requests(path="/v1/realtime/calls")
    assert entry.extra["ended"].startswith("hung up")

    # The call stays known, as hung up (GET /__mock/calls shows it): a second hangup is refused by its state.
    assert mock.call(call.call_id).status == "hung_up"
    status, body = await hang_up(http, mock, call.call_id, SK)
    assert status == 400
    assert json.loads(body)["error"]["code"] == "invalid_call_state"
    status, _ = await hang_up(http, mock, "rtc_" + "0" * 32, SK)
    assert status == 404


async def test_calls_are_bounded(http: aiohttp.ClientSession, client: Any) -> None:
    async with MockServer(seed=8, max_calls=2) as mock:
        key, _ = await mint_key(http, mock)
        first = await client(http, mock, key, microphone=None)
        await client(http, mock, key, microphone=None)
        third = CallClient(microphone=None)
        try:
            status, body, _ = await third.post(http, mock.base_url, key)
        finally:
            await third.close()
        assert status == 429
        error = json.loads(body)["error"]
        assert error["code"] == "rate_limit_exceeded"
        assert "--max-calls" in error["message"]
        assert await hang_up(http, mock, first.call_id, key) == (200, "")
        await client(http, mock, key, microphone=None)
        assert len(calls_of(mock)) == 2


async def test_shutdown_ends_every_call(http: aiohttp.ClientSession, client: Any) -> None:
    mock = MockServer(seed=9)
    await mock.start()
    try:
        key, _ = await mint_key(http, mock)
        calls = [await client(http, mock, key, microphone=None) for _ in range(3)]
        registry = calls_of(mock)
        assert len(registry) == 3
    finally:
        await mock.stop()
    assert len(registry) == 0
    for call in calls:
        await asyncio.wait_for(call.channel_closed.wait(), TIMEOUT)


async def test_session_close_ends_the_call(mock: MockServer, http: aiohttp.ClientSession, client: Any) -> None:
    key, _ = await mint_key(http, mock)
    call = await client(http, mock, key, microphone=None)
    await call.recv()
    call.send({"type": "session.close"})
    await asyncio.wait_for(call.channel_closed.wait(), TIMEOUT)
    await eventually(lambda: len(calls_of(mock)) == 0, "forgotten")


async def test_fault_drops_the_call_after_n_events(mock: MockServer, http: aiohttp.ClientSession, client: Any) -> None:
    mock.add_fault(match={"path": "/v1/realtime/calls"}, drop_after_events=3)
    key, _ = await mint_key(http, mock, output_modalities=["text"])
    call = await client(http, mock, key, microphone=None)
    await call.recv()
    call.send({"type": "conversation.item.create", "item": HELLO_ITEM})
    call.send({"type": "response.create"})
    await asyncio.wait_for(call.channel_closed.wait(), TIMEOUT)
    assert [event["type"] for event in call.received] == [
        "session.created",
        "conversation.item.added",
        "conversation.item.done",
    ]
    (entry,) = mock.requests(path="/v1/realtime/calls")
    assert entry.extra["dropped"] == "after 3 server events"
    await eventually(lambda: len(calls_of(mock)) == 0, "forgotten")


async def test_fault_delays_every_event_on_the_channel(
    mock: MockServer, http: aiohttp.ClientSession, client: Any
) -> None:
    rule = mock.add_fault(match={"path": "/v1/realtime/calls"}, event_delay_ms=20, times=1)
    key, _ = await mint_key(http, mock, output_modalities=["text"])
    call = await client(http, mock, key, microphone=None)
    assert (await call.recv())["type"] == "session.created"
    call.send({"type": "conversation.item.create", "item": HELLO_ITEM})
    call.send({"type": "response.create"})
    assert (await call.until("response.done"))[-1]["response"]["status"] == "completed"
    (entry,) = mock.requests(path="/v1/realtime/calls")
    assert entry.rule_id == rule.id
    assert entry.status == 201


async def test_fault_refuses_the_offer(mock: MockServer, http: aiohttp.ClientSession) -> None:
    mock.fail_next(1, status=429, match={"path": "/v1/realtime/calls"})
    key, _ = await mint_key(http, mock)
    call = CallClient(microphone=None)
    try:
        status, _, headers = await call.post(http, mock.base_url, key)
    finally:
        await call.close()
    assert status == 429
    assert headers["x-mock-injected"] == "scripted"
    assert len(calls_of(mock)) == 0


@pytest.mark.parametrize(
    "offer",
    [
        "v=0\r\n",
        "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n",
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n",
        "v=0\r\na=group:BUNDLE 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=setup:bogus\r\n",
    ],
    ids=["empty", "m-line-only", "no-ice", "bad-setup"],
)
async def test_unusable_offers_are_400_and_leave_no_call(
    mock: MockServer, http: aiohttp.ClientSession, offer: str
) -> None:
    key, _ = await mint_key(http, mock)
    call = CallClient(microphone=None)
    try:
        status, body, _ = await call.post(http, mock.base_url, key, offer=offer)
    finally:
        await call.close()
    assert status == 400, body
    error = json.loads(body)["error"]
    assert error["code"] == "invalid_sdp"
    assert error["param"] == "sdp"
    assert len(calls_of(mock)) == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# No surrogates: an offer is UTF-8 text, and a lone surrogate cannot be encoded (the test itself would fail).
@given(
    lines=st.lists(
        st.text(alphabet=st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",)), max_size=60),
        max_size=12,
    )
)
async def test_fuzzed_offers_never_break_the_server(lines: list[str]) -> None:
    async with MockServer(seed=1) as mock, aiohttp.ClientSession() as http:
        offer = "\r\n".join(["v=0", *lines]) + "\r\n"
        async with http.post(
            f"{mock.base_url}/realtime/calls",
            data=offer.encode(),
            headers={"Authorization": f"Bearer {SK}", "Content-Type": "application/sdp"},
        ) as response:
            assert response.status in (201, 400), await response.text()
            if response.status == 400:
                assert (await response.json())["error"]["code"] == "invalid_sdp"
        async with http.post(f"{mock.base_url}/realtime/client_secrets", json={}, headers=bearer(SK)) as response:
            assert response.status == 200


# --- peers that vanish ----------------------------------------------------------------------------------


async def vanish(call: CallClient, how: str) -> None:
    if how == "close":  # the page is closed: the peer connection goes away cleanly
        await call.close()
    elif how == "channel":  # the page closes its data channel only
        call.channel.close()
    elif how == "silent":  # the network goes: no more packets at all, no goodbye (ICE consent lapses)
        for transceiver in call.pc.getTransceivers():
            await transceiver.receiver.transport.transport.stop()
    else:
        raise AssertionError(how)


@pytest.mark.parametrize(("how", "cycles"), [("close", 10), ("channel", 10), ("silent", 3)])
async def test_vanished_peers_leave_no_tasks_or_calls(
    http: aiohttp.ClientSession, how: str, cycles: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ICE consent is checked every ~5 s and lapses after 6 misses (RFC 7675's 30 s); faster here.
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.1)
    async with MockServer(seed=12) as mock:
        registry = calls_of(mock)
        key, _ = await mint_key(http, mock)
        warm = CallClient(microphone=None)  # aiortc starts some process-wide machinery on first use
        await warm.connect(http, mock.base_url, key)
        await warm.close()
        await eventually(lambda: len(registry) == 0, "forgotten")
        await asyncio.sleep(0.2)
        before = len(asyncio.all_tasks())
        ended: list[weakref.ref[Any]] = []
        for _ in range(cycles):
            call = CallClient(microphone=FakeMicrophone(TURN))
            await call.connect(http, mock.base_url, key)
            await call.recv()
            live = registry.get(call.call_id)
            assert live is not None
            ended.append(weakref.ref(live))
            del live
            await vanish(call, how)
            await eventually(lambda: len(registry) == 0, f"forgotten after '{how}'", within=15)
            await call.close()
        await eventually(lambda: len(asyncio.all_tasks()) <= before, "back to the tasks before", within=10)
        gc.collect()
        assert [ref for ref in ended if ref() is not None] == [], "ended calls are still referenced"
        for entry in mock.requests(path="/v1/realtime/calls"):
            assert entry.extra.get("ended"), entry.extra


async def test_a_peer_that_never_connects_is_hung_up(mock: MockServer, http: aiohttp.ClientSession) -> None:
    registry = calls_of(mock)
    registry.connect_seconds = 0.5
    key, _ = await mint_key(http, mock)
    call = CallClient(microphone=None)
    try:
        status, _, _ = await call.post(http, mock.base_url, key)  # the answer is never applied
    finally:
        await call.close()
    assert status == 201
    await eventually(lambda: len(registry) == 0, "hung up")
    (entry,) = mock.requests(path="/v1/realtime/calls")
    assert entry.extra["ended"] == "the peer did not connect within 0.5 s"
    assert check_event is not None


async def test_scripted_replies_and_tool_calls_over_the_data_channel(
    mock: MockServer, http: aiohttp.ClientSession, client: Any
) -> None:
    """The same engine: a reply rule of the mint's scope answers over ``oai-events`` as over a WebSocket."""
    scoped = mock.scoped("webrtc-agent")
    scoped.add_reply(
        "Let me check.",
        match={"user_text": "weather"},
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}],
    )
    scoped.add_reply("Snow in Oslo.", match={"tool_output": "get_weather"})
    tool = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
    async with http.post(
        f"{mock.base_url}/realtime/client_secrets",
        json={"session": {"type": "realtime", "output_modalities": ["text"], "tools": [tool]}},
        headers={"Authorization": f"Bearer {SK}", "X-Mock-Scope": "webrtc-agent"},
    ) as minted:
        key = (await minted.json())["value"]
    call = await client(http, mock, key, microphone=None)
    assert (await call.recv())["type"] == "session.created"
    question = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "The weather?"}]}
    call.send({"type": "conversation.item.create", "item": question})
    call.send({"type": "response.create"})
    first = (await call.until("response.done"))[-1]["response"]
    assert [item["type"] for item in first["output"]] == ["message", "function_call"]
    function_call = first["output"][1]
    assert (function_call["name"], function_call["arguments"], function_call["status"]) == (
        "get_weather",
        '{"city":"Oslo"}',
        "completed",
    )
    output = {"type": "function_call_output", "call_id": function_call["call_id"], "output": '{"sky": "snow"}'}
    call.send({"type": "conversation.item.create", "item": output})
    call.send({"type": "response.create"})
    second = (await call.until("response.done"))[-1]["response"]
    assert second["output"][0]["content"][0]["text"] == "Snow in Oslo."
    assert scoped.replies() == []  # both rules served their one response
