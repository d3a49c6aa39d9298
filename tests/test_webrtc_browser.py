"""The proof in a real browser: Debian's Chromium, headless, driven by Playwright (pointed at /usr/bin/chromium;
no browser is downloaded), with a fake microphone playing a generated WAV.

1. The documented flow (tests/pages/webrtc_call.html, OpenAI's browser snippet step for step): a key minted
   by a backend with the official SDK, an ``RTCPeerConnection`` with the microphone track and the
   ``oai-events`` data channel, the offer posted to ``/v1/realtime/calls`` with the ``ek_`` key. The page sees
   ``session.created``, speech events for the tone, a streamed reply, and audio packets with sound in them
   (``getStats()``), then hangs up.
2. The offline demo page connects over WebRTC by default and plays the reply (its screenshot is
   docs/images/demo-webrtc.png), and falls back to the WebSocket when the mock has no WebRTC media.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import struct
import subprocess
import sys
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from openai import AsyncOpenAI
from playwright.async_api import BrowserContext, Page, async_playwright

from mockserver.keys import WEBRTC_CALLS
from mockserver.testing import MockServer
from tests.helpers import ROOT
from tests.test_examples import demo_backend
from tests.webrtc_client import CALL_LOCATION, MEDIA_EVENT_ID, check_call_event

CHROMIUM = Path("/usr/bin/chromium")
#: What a headless Chromium needs here, and nothing that reaches out (no updates, sync, QUIC or metrics).
BROWSER_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
#: The microphone: a fake device playing a file, granted without a prompt.
MEDIA_FLAGS = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")
PAGE = ROOT / "tests" / "pages" / "webrtc_call.html"
SCREENSHOT = ROOT / "docs" / "images" / "demo-webrtc.png"
#: Every wait on the browser ends within this many seconds.
TIMEOUT = 40.0
WAV_RATE = 48_000

Launch = Callable[..., Awaitable[BrowserContext]]


def write_wav(path: Path, script: list[tuple[int, float]]) -> Path:
    """A mono 48 kHz WAV: (milliseconds, amplitude of a 440 Hz tone) pieces; amplitude 0 is silence."""
    samples = bytearray()
    for ms, amplitude in script:
        for i in range(WAV_RATE * ms // 1000):
            samples += struct.pack("<h", round(amplitude * 32767 * math.sin(2 * math.pi * 440 * i / WAV_RATE)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(WAV_RATE)
        out.writeframes(bytes(samples))
    return path


@pytest.fixture
async def launch(tmp_path: Path) -> AsyncIterator[Launch]:
    """Starts Chromium (headless, a new empty profile) with a WAV as its microphone; closes it afterwards."""
    assert CHROMIUM.is_file(), "these tests need Debian's chromium: apt-get install -y chromium"  # noqa: ASYNC240
    contexts: list[BrowserContext] = []
    async with async_playwright() as playwright:

        async def start(microphone: Path | None) -> BrowserContext:
            """With ``microphone`` (a WAV), a fake microphone granted without asking; ``None``: no microphone."""
            media = [*MEDIA_FLAGS, f"--use-file-for-fake-audio-capture={microphone}"] if microphone else []
            context = await playwright.chromium.launch_persistent_context(
                str(tmp_path / f"profile-{len(contexts)}"),
                executable_path=str(CHROMIUM),
                headless=True,
                args=[*BROWSER_FLAGS, *media],
                viewport={"width": 760, "height": 900},
            )
            context.set_default_timeout(TIMEOUT * 1000)
            contexts.append(context)
            return context

        yield start
        for context in contexts:
            await context.close()


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def poll(page: Page, expression: str, what: str, within: float = TIMEOUT) -> Any:
    """Evaluate ``expression`` in the page until it is truthy (at most ``within`` seconds); its value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await page.evaluate(expression)
        if value:
            return value
        if loop.time() > deadline:
            state = await page.evaluate("JSON.stringify(window.call || window.realtimeDemo || null).slice(0, 2000)")
            raise AssertionError(f"the page never got {what} within {within} s; state: {state}")
        await asyncio.sleep(0.2)


#: What the demo page's assistant said: the text of its assistant turns.
ASSISTANT_SAID = "[...document.querySelectorAll('.turn.assistant .text')].map(t => t.textContent).join(' ')"


def page_events(raw: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(event) if isinstance(event, str) else event for event in raw]


# --- 1. the documented flow --------------------------------------------------------------------------


async def test_documented_browser_flow(launch: Launch, tmp_path: Path) -> None:
    # Silence, a 440 Hz tone at half scale (speech at the default threshold), silence; the fake device loops it.
    microphone = write_wav(tmp_path / "tone.wav", [(1500, 0.0), (1000, 0.5), (1500, 0.0)])
    async with MockServer(seed=31) as mock, AsyncOpenAI(base_url=mock.base_url, api_key="sk-backend") as sdk:
        minted: list[Any] = []

        async def token(request: web.Request) -> web.Response:
            secret = await sdk.realtime.client_secrets.create(
                session={
                    "type": "realtime",
                    "model": "gpt-realtime",
                    "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}},
                }
            )
            minted.append(secret)
            return web.json_response({"value": secret.value})

        async def index(request: web.Request) -> web.FileResponse:
            return web.FileResponse(PAGE)

        backend = web.Application()
        backend.router.add_get("/", index)
        backend.router.add_post("/token", token)
        async with serve(backend) as origin:
            context = await launch(microphone)
            page = context.pages[0] if context.pages else await context.new_page()
            await page.goto(f"{origin}/?api={mock.base_url}")

            # A reply to the tone, streamed, and its audio on the track.
            await poll(
                page,
                "window.call.error || window.call.events.some(e => e.type === 'output_audio_buffer.started')",
                "output_audio_buffer.started",
            )
            assert await page.evaluate("window.call.error") is None
            loudest = 0.0
            packets = 0
            for _ in range(int(TIMEOUT / 0.2)):
                inbound = await page.evaluate("window.inboundAudio()")
                if inbound:
                    packets = inbound["packetsReceived"]
                    loudest = max(loudest, inbound["audioLevel"])
                events = page_events(await page.evaluate("window.call.events"))
                if loudest > 0 and any(e["type"] == "response.done" for e in events):
                    break
                await asyncio.sleep(0.2)
            assert packets > 0, "no RTP audio arrived"
            assert loudest > 0, "the reply track was silent"

            call = await page.evaluate("({status: window.call.status, location: window.call.location})")
            assert call["status"] == 201
            match = CALL_LOCATION.fullmatch(call["location"])
            assert match, call

            events = page_events(await page.evaluate("window.call.events"))
            for event in events:
                check_call_event(event)
            kinds = [event["type"] for event in events]
            assert kinds[0] == "session.created"
            assert events[0]["session"]["id"] == minted[0].session.id
            for kind in (
                "input_audio_buffer.speech_started",
                "input_audio_buffer.speech_stopped",
                "input_audio_buffer.committed",
                "conversation.item.input_audio_transcription.completed",
                "response.created",
                "response.output_audio_transcript.delta",
                "output_audio_buffer.started",
                "response.done",
            ):
                assert kind in kinds, (kind, kinds)
            assert kinds.index("input_audio_buffer.speech_started") < kinds.index("input_audio_buffer.speech_stopped")
            assert kinds.index("input_audio_buffer.speech_stopped") < kinds.index("response.created")
            assert "response.output_audio.delta" not in kinds
            started = next(e for e in events if e["type"] == "output_audio_buffer.started")
            assert MEDIA_EVENT_ID.fullmatch(started["event_id"])
            done = next(e for e in events if e["type"] == "response.done")
            assert started["response_id"] == done["response"]["id"]
            transcript = "".join(
                e["delta"]
                for e in events
                if e["type"] == "response.output_audio_transcript.delta" and e["response_id"] == started["response_id"]
            )
            assert transcript.strip()

            # The mock saw the same call: journaled under the POST, with the page's events.
            mock.assert_event("server", "session.created", session={"id": minted[0].session.id})
            assert mock._runner is not None
            registry = mock._runner.app[WEBRTC_CALLS]
            assert match[1] in registry

            # Hang up: 200, and the data channel closes.
            assert await page.evaluate("window.hangUp()") == 200
            await poll(page, "window.call.states.includes('oai-events closed')", "the data channel closed")
            assert len(registry) == 0
            (entry,) = mock.requests(path="/v1/realtime/calls")
            assert entry.extra["ended"].startswith("hung up")


async def test_browser_hiding_its_addresses_behind_mdns_connects(launch: Launch) -> None:
    """Without a microphone permission Chromium offers ``<uuid>.local`` names, not addresses; the mock does
    not resolve them (that takes multicast off loopback): the browser's checks reach its 127.0.0.1
    candidate and the pair is peer-reflexive. No browser flag is needed."""
    async with MockServer(seed=34) as mock, AsyncOpenAI(base_url=mock.base_url, api_key="sk-backend") as sdk:

        async def token(request: web.Request) -> web.Response:
            secret = await sdk.realtime.client_secrets.create(session={"type": "realtime", "model": "gpt-realtime"})
            return web.json_response({"value": secret.value})

        async def index(request: web.Request) -> web.FileResponse:
            return web.FileResponse(PAGE)

        backend = web.Application()
        backend.router.add_get("/", index)
        backend.router.add_post("/token", token)
        async with serve(backend) as origin:
            context = await launch(None)
            page = context.pages[0] if context.pages else await context.new_page()
            await page.goto(f"{origin}/?api={mock.base_url}&mic=0&gather=1")
            await poll(page, "window.call.error || window.call.events.length > 0", "session.created")
            assert await page.evaluate("window.call.error") is None
            offer = await page.evaluate("window.call.offer")
            hosts = [line.split()[4] for line in offer.split("\r\n") if line.startswith("a=candidate:")]
            assert hosts, offer
            assert all(host.endswith(".local") for host in hosts), hosts
            events = page_events(await page.evaluate("window.call.events"))
            assert events[0]["type"] == "session.created"
            inbound = await poll(page, "window.inboundAudio().then(s => s && s.packetsReceived > 0 && s)", "packets")
            assert inbound["packetsReceived"] > 0
            assert await page.evaluate("window.hangUp()") == 200
            await poll(page, "window.call.states.includes('oai-events closed')", "the data channel closed")


# --- 2. the offline demo page ----------------------------------------------------------------------


@asynccontextmanager
async def open_demo(launch: Launch, tmp_path: Path, base_url: str) -> AsyncIterator[Page]:
    """The demo page (backend in-process) with a silent microphone, minting and connecting on load."""
    silent = write_wav(tmp_path / "silence.wav", [(2000, 0.0)])
    app = demo_backend().create_app(base_url, "sk-demo-test")
    async with serve(app) as origin:
        context = await launch(silent)
        page = context.pages[0] if context.pages else await context.new_page()
        await page.goto(f"{origin}/?auto=1&seconds=120")
        yield page


async def test_demo_page_talks_over_webrtc(launch: Launch, tmp_path: Path) -> None:
    async with MockServer(seed=32) as mock, open_demo(launch, tmp_path, mock.base_url) as page:
        await poll(page, "document.getElementById('status').textContent === 'done'", "the reply played")
        assert await page.evaluate("window.realtimeDemo.transport") == "webrtc"
        assert await page.text_content("#live-transport") == "WebRTC"
        reply = await page.evaluate(
            "[...document.querySelectorAll('.turn.assistant .text')].map(t => t.textContent).join(' ')"
        )
        assert reply
        assert reply.strip()
        events = page_events(await page.evaluate("window.realtimeDemo.events"))
        kinds = [event["type"] for event in events]
        assert kinds[0] == "session.created"
        assert "output_audio_buffer.stopped" in kinds
        inbound = await page.evaluate(
            """async () => { let out = null; (await window.realtimeDemo.pc.getStats()).forEach(r => {
                     if (r.type === 'inbound-rtp' && r.kind === 'audio') out = r.totalAudioEnergy; }); return out; }"""
        )
        assert inbound, "the reply was not heard"
        assert inbound > 0, "the reply was not heard"

        # The README's screenshot is refreshed only when asked (UPDATE_SCREENSHOTS=1): a test run leaves the
        # checkout as it was.
        shot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path / SCREENSHOT.name
        shot.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(shot), full_page=True)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        await page.click("#hangup")
        await poll(page, "document.getElementById('closed').textContent === 'Call ended: hung up.'", "hung up")
        assert mock._runner is not None
        assert len(mock._runner.app[WEBRTC_CALLS]) == 0


#: A mock whose WebRTC has no media: a core install, as if the extra were missing (``import aiortc`` fails).
CORE_MOCK = "import sys; sys.modules['aiortc'] = None; from mockserver.cli import main; sys.exit(main())"
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


async def test_demo_page_falls_back_to_the_websocket(launch: Launch, tmp_path: Path) -> None:
    process = subprocess.Popen(  # noqa: ASYNC220 - a child server for the whole test, read from a thread
        [sys.executable, "-c", CORE_MOCK, "--port", "0", "--seed", "33"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 20)
        found = LISTENING.search(line)
        assert found, line
        async with aiohttp.ClientSession() as http, http.get(found[1] + "/__mock/health") as response:
            assert response.status == 200
        async with open_demo(launch, tmp_path, found[1] + "/v1") as page:
            await poll(page, "document.getElementById('status').textContent === 'done'", "the WebSocket reply")
            assert await page.evaluate("window.realtimeDemo.transport") == "websocket"
            transport = await page.text_content("#live-transport")
            assert transport is not None
            assert "signalling only" in transport
            assert "pip install 'openai-realtime-mock[webrtc]'" in transport
            reply = await page.evaluate(
                "[...document.querySelectorAll('.turn.assistant .text')].map(t => t.textContent).join(' ')"
            )
            assert reply
            assert reply.strip()
    finally:
        process.terminate()
        process.wait(20)
        if process.stdout is not None:
            process.stdout.close()
