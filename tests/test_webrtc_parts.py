"""The parts of WebRTC calls that need no peer: ICE addresses and offers, CORS, ids, the reply track's events,
and the core install without the ``webrtc`` extra (aiortc never imported; signalling only, and saying so)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockserver.cors import EXPOSED_HEADERS, is_preflight, preflight_headers, response_headers
from mockserver.ids import IdFactory
from mockserver.realtime.audio import format_of, tone
from mockserver.realtime.ice import candidate_addresses, is_loopback, reachable_offer
from mockserver.realtime.media import ReplyTrack
from mockserver.realtime.webrtc import WEBRTC_EXTRA_HINT
from tests.realtime_client import SDP_OFFER
from tests.webrtc_client import MEDIA_EVENT_ID

PCM24 = format_of({"type": "audio/pcm", "rate": 24000})

# --- ICE ----------------------------------------------------------------------------------------------


def test_loopback_hosts() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("127.3.4.5")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("192.0.2.2")
    assert not is_loopback("abc.local")
    assert not is_loopback("")


@pytest.mark.parametrize(
    ("bind_host", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1",)),
        ("localhost", ("127.0.0.1",)),
        ("::1", ("::1",)),
        ("0.0.0.0", ("127.0.0.1", "198.51.100.7", "2001:db8::7")),
        ("::", ("127.0.0.1", "198.51.100.7", "2001:db8::7")),
        ("198.51.100.7", ("198.51.100.7",)),
        ("mock.internal", ("127.0.0.1",)),
    ],
)
def test_candidate_addresses_follow_the_bind_address(bind_host: str, expected: tuple[str, ...]) -> None:
    interfaces = ["198.51.100.7", "2001:db8::7", "127.0.0.1"]
    assert candidate_addresses(bind_host, lambda: interfaces) == expected


BROWSER_CANDIDATES = [
    "a=candidate:1 1 udp 2113937151 2b1f0c1e-8d5a-4c6e-9f3e-1a2b3c4d5e6f.local 54400 typ host generation 0",
    "a=candidate:2 1 udp 2122194687 192.0.2.2 52441 typ host generation 0 network-id 1",
    "a=candidate:3 1 udp 2122262783 127.0.0.1 40001 typ host generation 0",
    "a=candidate:4 1 udp 2122265343 fd00::2 55315 typ host generation 0 network-id 2",
]


def test_offer_keeps_only_candidates_the_mock_will_try() -> None:
    offer = SDP_OFFER.replace("a=mid:0\r\n", "a=mid:0\r\n" + "\r\n".join(BROWSER_CANDIDATES) + "\r\n")
    loopback = reachable_offer(offer, loopback_only=True).split("\r\n")
    assert [line for line in loopback if line.startswith("a=candidate")] == [BROWSER_CANDIDATES[2]]
    anywhere = reachable_offer(offer, loopback_only=False).split("\r\n")
    assert [line for line in anywhere if line.startswith("a=candidate")] == BROWSER_CANDIDATES[1:]
    # Everything else is untouched.
    assert [line for line in loopback if not line.startswith("a=candidate")] == [
        line for line in offer.split("\r\n") if not line.startswith("a=candidate")
    ]


@given(st.text(max_size=300))
def test_offer_filter_never_fails(text: str) -> None:
    filtered = reachable_offer(text, loopback_only=True)
    assert filtered.endswith("\r\n")
    assert ".local " not in "".join(line for line in filtered.splitlines() if line.startswith("a=candidate:"))


# --- CORS ---------------------------------------------------------------------------------------------


def test_preflight_answers_what_the_browser_asked() -> None:
    asked = {
        "Origin": "http://127.0.0.1:8000",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    assert is_preflight("OPTIONS", asked)
    assert not is_preflight("POST", asked)
    assert not is_preflight("OPTIONS", {"Origin": "http://x"})
    headers = preflight_headers(asked)
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert headers["Access-Control-Allow-Headers"] == "authorization,content-type"
    assert response_headers({}) == {}
    assert response_headers({"Origin": "http://a"})["Access-Control-Expose-Headers"] == EXPOSED_HEADERS
    assert "Location" in EXPOSED_HEADERS


async def test_cross_origin_call_is_preflighted_and_exposes_location(mock: Any, http: Any) -> None:
    origin = {"Origin": "http://127.0.0.1:9"}
    preflight = {
        **origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    async with http.options(f"{mock.base_url}/realtime/calls", headers=preflight) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.headers["Access-Control-Allow-Headers"] == "authorization,content-type"
    # A preflight is browser plumbing: not journaled, not faulted.
    assert mock.requests() == []
    async with http.post(f"{mock.base_url}/realtime/calls", data="nope", headers=origin) as response:
        assert response.status == 401
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "Location" in response.headers["Access-Control-Expose-Headers"]
    async with http.get(mock.base_url.replace("/v1", "/__mock/health"), headers=origin) as response:
        assert "Access-Control-Allow-Origin" not in response.headers


# --- ids ----------------------------------------------------------------------------------------------


def test_call_and_media_event_ids() -> None:
    ids = IdFactory(7)
    calls = [ids.call_id() for _ in range(50)]
    assert all(re.fullmatch(r"rtc_[0-9a-f]{32}", call) for call in calls)
    assert len(set(calls)) == 50
    assert all(MEDIA_EVENT_ID.fullmatch(ids.media_event_id()) for _ in range(50))
    again = IdFactory(7)
    assert [again.call_id() for _ in range(50)] == calls


# --- the reply track, driven directly -------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def __call__(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def kinds(self) -> list[tuple[str, str]]:
        return [(event["type"].removeprefix("output_audio_buffer."), event["response_id"]) for event in self.events]


async def frames(track: ReplyTrack, count: int) -> list[bytes]:
    out = []
    for _ in range(count):
        frame = await asyncio.wait_for(track.recv(), 1.0)
        assert frame.sample_rate == 48000
        assert frame.samples == 960
        out.append(bytes(frame.planes[0])[:1920])
    return out


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_reply_track_plays_then_stops_after_response_done() -> None:
    recorder = Recorder()
    ids = IdFactory(3)
    track = ReplyTrack(recorder, ids.media_event_id)
    try:
        silent = await frames(track, 2)
        assert silent == [bytes(1920)] * 2
        await track.play("resp_1", tone(440, 100, 0.5, PCM24), PCM24)
        await track.finish("resp_1")
        await settle()
        assert recorder.kinds() == [("started", "resp_1")]
        played = await frames(track, 8)  # 100 ms of audio is 5 frames; the rest is silence
        assert sum(1 for frame in played if frame != bytes(1920)) >= 4
        assert played[-1] == bytes(1920)
        await settle()
        assert recorder.kinds() == [("started", "resp_1")], "stopped must wait for response.done"
        track.response_done("resp_1")
        await settle()
        assert recorder.kinds() == [("started", "resp_1"), ("stopped", "resp_1")]
        assert all(MEDIA_EVENT_ID.fullmatch(event["event_id"]) for event in recorder.events)
        assert list(recorder.events[0]) == ["type", "event_id", "response_id"]
    finally:
        track.stop()
        await track.closed()


async def test_reply_track_clear_drops_unplayed_audio() -> None:
    recorder = Recorder()
    track = ReplyTrack(recorder, IdFactory(4).media_event_id)
    try:
        await track.play("resp_1", tone(440, 1000, 0.5, PCM24), PCM24)
        first = await frames(track, 2)
        assert all(frame != bytes(1920) for frame in first)
        await track.clear("resp_1")
        await track.play("resp_1", tone(440, 1000, 0.5, PCM24), PCM24)  # late audio of a cleared response
        await track.finish("resp_1")
        track.response_done("resp_1")
        after = await frames(track, 3)
        assert after == [bytes(1920)] * 3
        await settle()
        assert recorder.kinds() == [("started", "resp_1"), ("cleared", "resp_1")]
        # Clearing what has all been played says nothing.
        await track.play("resp_2", tone(440, 20, 0.5, PCM24), PCM24)
        await track.finish("resp_2")
        await frames(track, 3)
        await track.clear("resp_2")
        track.response_done("resp_2")
        await settle()
        assert recorder.kinds()[2:] == [("started", "resp_2"), ("stopped", "resp_2")]
    finally:
        track.stop()
        await track.closed()


async def test_reply_track_refuses_what_is_not_pcm16() -> None:
    track = ReplyTrack(Recorder(), IdFactory(5).media_event_id)
    try:
        with pytest.raises(ValueError, match="PCM16"):
            await track.play("resp_1", b"\xff" * 80, format_of({"type": "audio/pcmu"}))
    finally:
        track.stop()
        await track.closed()


# --- without the extra --------------------------------------------------------------------------------

#: Run in a fresh interpreter in which ``import aiortc`` fails, as on a core install.
WITHOUT_EXTRA = """
import json, sys, urllib.request
sys.modules["aiortc"] = None
from mockserver.app import create_app
from mockserver.testing import MockServer
create_app()
assert "aiortc" not in [name for name, module in sys.modules.items() if module is not None], "imported aiortc"
out = []
with MockServer(seed=3) as mock:
    for _ in range(2):
        request = urllib.request.Request(
            mock.base_url + "/realtime/calls",
            data=json.loads(sys.argv[1]).encode(),
            headers={"Authorization": "Bearer sk-test", "Content-Type": "application/sdp"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            out.append({"status": response.status, "header": response.headers.get("x-mock-webrtc"),
                        "location": response.headers.get("Location"), "body": response.read().decode()})
print(json.dumps(out))
"""


def test_core_install_answers_signalling_only_and_says_what_is_missing() -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRA, json.dumps(SDP_OFFER)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    for answer in answers:
        assert answer["status"] == 201
        assert answer["header"] == f"signalling-only; {WEBRTC_EXTRA_HINT}"
        assert f"a=x-mock-webrtc:signalling-only; {WEBRTC_EXTRA_HINT}\r\n" in answer["body"]
        assert re.fullmatch(r"/v1/realtime/calls/rtc_[0-9a-f]{32}", answer["location"])
    assert WEBRTC_EXTRA_HINT == "WebRTC media needs: pip install 'openai-realtime-mock[webrtc]'"
    # The log says it once, however many calls come.
    assert result.stderr.count(WEBRTC_EXTRA_HINT) == 1, result.stderr


def test_importing_the_package_does_not_import_aiortc() -> None:
    code = (
        "import sys; import mockserver, mockserver.app, mockserver.testing, mockserver.realtime.calls;"
        "mockserver.app.create_app(); print(sorted(n for n in sys.modules if n.split('.')[0] in ('aiortc', 'av')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
