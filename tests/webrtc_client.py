"""A WebRTC client for the tests: aiortc as the browser would be, on loopback only.

It offers what the documented browser flow offers (a microphone track, the ``oai-events`` data channel),
posts the offer to ``POST /v1/realtime/calls`` with a key, and keeps what comes back: every data-channel
event (each checked against the official SDK's ``RealtimeServerEvent`` types as it arrives) and the reply
track's audio frames. The microphone is a :class:`FakeMicrophone` playing a script of silence and tones.

Every wait is bounded by ``TIMEOUT`` (or an explicit, bounded timeout).
"""

from __future__ import annotations

import array
import asyncio
import fractions
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import av
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from mockserver.realtime.ice import gathering_on
from tests.realtime_client import EVENT_ID, SDK_EXTRAS, SERVER_EVENTS, unknown_fields

__all__ = [
    "CALL_LOCATION",
    "MEDIA_EVENT_ID",
    "TIMEOUT",
    "CallClient",
    "FakeMicrophone",
    "Segment",
    "check_call_event",
    "rms_dbfs",
]

TIMEOUT = 10.0
#: ``rtc_`` + 32 lowercase hex (SESSION_TRUTH §1).
CALL_LOCATION = re.compile(r"^/v1/realtime/calls/(rtc_[0-9a-f]{32})$")
#: The ``output_audio_buffer.*`` events' ids: ``event_`` + 16 hex (SESSION_TRUTH §1).
MEDIA_EVENT_ID = re.compile(r"^event_[0-9a-f]{16}$")
MEDIA_EVENTS = frozenset({"output_audio_buffer.started", "output_audio_buffer.stopped", "output_audio_buffer.cleared"})
RATE = 48_000
FRAME_SAMPLES = 960


def check_call_event(event: dict[str, Any]) -> Any:
    """A data-channel event as production's would be: its id's shape, valid against the SDK's types."""
    pattern = MEDIA_EVENT_ID if event.get("type") in MEDIA_EVENTS else EVENT_ID
    assert isinstance(event.get("event_id"), str), event
    assert pattern.fullmatch(event["event_id"]), event
    parsed = SERVER_EVENTS.validate_python(event, strict=False)
    assert parsed.type == event["type"], (type(parsed).__name__, event["type"])
    assert set(unknown_fields(parsed)) <= SDK_EXTRAS, (event["type"], unknown_fields(parsed))
    return parsed


def rms_dbfs(pcm: bytes) -> float:
    """The level of PCM16 audio in dB below full scale (``-inf`` for digital silence)."""
    samples = array.array("h", pcm[: len(pcm) // 2 * 2])
    if not samples:
        return float("-inf")
    power = sum(sample * sample for sample in samples) / len(samples)
    return 10 * math.log10(power / 32768**2) if power else float("-inf")


@dataclass(frozen=True)
class Segment:
    """``ms`` of a 440 Hz tone at ``amplitude`` (of full scale); 0 is digital silence."""

    ms: float
    amplitude: float = 0.0


class FakeMicrophone(MediaStreamTrack):
    """A microphone playing ``script`` in real time (20 ms frames, 48 kHz), then silence for ever."""

    kind = "audio"

    def __init__(self, script: Sequence[Segment] = ()) -> None:
        super().__init__()
        self._samples: list[float] = []
        for segment in script:
            count = round(segment.ms * RATE / 1000)
            self._samples += [segment.amplitude * math.sin(2 * math.pi * 440 * i / RATE) for i in range(count)]
        self._position = 0
        self._start: float | None = None
        self._timestamp = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            self._timestamp += FRAME_SAMPLES
            await asyncio.sleep(max(self._start + self._timestamp / RATE - loop.time(), 0))
        chunk = self._samples[self._position : self._position + FRAME_SAMPLES]
        self._position += len(chunk)
        chunk += [0.0] * (FRAME_SAMPLES - len(chunk))
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(array.array("h", (round(value * 32767) for value in chunk)).tobytes())
        frame.sample_rate = RATE
        frame.pts = self._timestamp
        frame.time_base = fractions.Fraction(1, RATE)
        return frame


@dataclass
class CallClient:
    """One call, the client's side (see the module's docstring)."""

    microphone: MediaStreamTrack | None = field(default_factory=FakeMicrophone)
    pc: RTCPeerConnection = field(default_factory=lambda: RTCPeerConnection(RTCConfiguration(iceServers=[])))
    received: list[dict[str, Any]] = field(default_factory=list)
    #: Levels (dBFS) of the reply track's frames, in order.
    levels: list[float] = field(default_factory=list)
    call_id: str = ""
    location: str = ""

    def __post_init__(self) -> None:
        self.channel: RTCDataChannel = self.pc.createDataChannel("oai-events")
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.opened = asyncio.Event()
        self.channel_closed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.channel.on("open", self.opened.set)
        self.channel.on("close", self.channel_closed.set)
        self.channel.on("message", self._on_message)
        self.pc.on("track", self._on_track)
        if self.microphone is not None:
            self.pc.addTrack(self.microphone)
        else:
            self.pc.addTransceiver("audio", direction="recvonly")

    def _on_message(self, message: str | bytes) -> None:
        assert isinstance(message, str), message
        event = json.loads(message)
        check_call_event(event)
        self.received.append(event)
        self._events.put_nowait(event)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.ensure_future(self._listen(track)))

    async def _listen(self, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, av.AudioFrame)
            for out in resampler.resample(frame):
                self.levels.append(rms_dbfs(bytes(out.planes[0])[: out.samples * 2]))

    async def offer(self) -> str:
        """The client's offer, host candidates on 127.0.0.1 only (as a loopback-only test must)."""
        with gathering_on(("127.0.0.1",)):
            await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def post(
        self, http: aiohttp.ClientSession, base_url: str, key: str, *, offer: str | None = None
    ) -> tuple[int, str, Mapping[str, str]]:
        """``POST /v1/realtime/calls`` with this client's offer: status, body and headers."""
        sdp = offer if offer is not None else await self.offer()
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/sdp"}
        async with http.post(
            f"{base_url}/realtime/calls", data=sdp, headers=headers, timeout=aiohttp.ClientTimeout(total=TIMEOUT)
        ) as response:
            return response.status, await response.text(), response.headers

    async def connect(self, http: aiohttp.ClientSession, base_url: str, key: str) -> None:
        """The documented flow: offer, POST, answer; waits (bounded) until the data channel is open."""
        status, answer, headers = await self.post(http, base_url, key)
        assert status == 201, answer
        self.location = headers["Location"]
        match = CALL_LOCATION.fullmatch(self.location)
        assert match, self.location
        self.call_id = match[1]
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await asyncio.wait_for(self.opened.wait(), TIMEOUT)

    def send(self, event: Mapping[str, Any] | str) -> None:
        self.channel.send(event if isinstance(event, str) else json.dumps(event))

    async def recv(self, within: float = TIMEOUT) -> dict[str, Any]:
        """The next event, within ``within`` seconds."""
        return await asyncio.wait_for(self._events.get(), within)

    async def until(self, event_type: str, *, within: float = TIMEOUT, **fields: Any) -> list[dict[str, Any]]:
        """Events up to and including the first of ``event_type`` (with these field values), within ``within`` s."""
        seen: list[dict[str, Any]] = []

        async def read() -> None:
            while True:
                event = await self._events.get()
                seen.append(event)
                if event["type"] == event_type and all(event.get(k) == v for k, v in fields.items()):
                    return

        try:
            await asyncio.wait_for(read(), within)
        except TimeoutError:
            raise AssertionError(f"no {event_type} within {within} s; saw {[e['type'] for e in seen]}") from None
        return seen

    async def close(self) -> None:
        await asyncio.wait_for(self.pc.close(), TIMEOUT)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
