"""A WebRTC call's audio, both ways (needs the ``webrtc`` extra: aiortc and PyAV).

In: the browser's microphone arrives as Opus, which aiortc decodes to 48 kHz frames;
:class:`MicrophoneDecoder` turns each into PCM16 24 kHz mono, the engine's format for a track.

Out: :class:`ReplyTrack` is the answer's audio track. It always produces a 20 ms frame every 20 ms (silence
when there is nothing to say, so packets keep flowing: aiortc's Opus encoder runs without DTX), and it is
the engine's :class:`~mockserver.realtime.responses.MediaOutput`: reply audio is resampled to 48 kHz and
queued, and it sends production's WebRTC-only events (SESSION_TRUTH §2k), each ``{event_id, type,
response_id}`` with a 16-hex ``event_`` id: ``output_audio_buffer.started`` when a response's audio
starts, ``.stopped`` when it has all been played (never before its ``response.done``), ``.cleared`` when
unplayed audio is dropped (an interruption, or ``output_audio_buffer.clear``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .audio import AudioFormat

__all__ = [
    "FRAME_MS",
    "MIC_RATE",
    "TRACK_RATE",
    "MicrophoneDecoder",
    "ReplyTrack",
]

#: The track's sample rate (Opus runs at 48 kHz), and the engine's rate for microphone audio.
TRACK_RATE = 48_000
MIC_RATE = 24_000
#: One frame of the reply track.
FRAME_MS = 20
_FRAME_SAMPLES = TRACK_RATE * FRAME_MS // 1000
_FRAME_BYTES = _FRAME_SAMPLES * 2
_TIME_BASE = fractions.Fraction(1, TRACK_RATE)
#: Responses whose late audio is still refused after they were cleared.
_CLEARED_KEPT = 64

Notify = Callable[[dict[str, Any]], Awaitable[None]]


def _pcm(frames: list[av.AudioFrame]) -> bytes:
    """The samples of PCM16 mono frames (a plane can be longer than its samples)."""
    return b"".join(bytes(frame.planes[0])[: frame.samples * 2] for frame in frames)


def _frame(pcm: bytes, rate: int) -> av.AudioFrame:
    """A PCM16 mono frame holding ``pcm`` (an even number of bytes)."""
    frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
    plane = frame.planes[0]
    plane.update(pcm + bytes(plane.buffer_size - len(pcm)))
    frame.sample_rate = rate
    return frame


class MicrophoneDecoder:
    """Decoded microphone frames (aiortc's: 48 kHz, stereo or mono) -> PCM16 24 kHz mono bytes."""

    def __init__(self) -> None:
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=MIC_RATE)

    def pcm(self, frame: av.AudioFrame) -> bytes:
        return _pcm(self._resampler.resample(frame))


@dataclass(eq=False)
class _Playback:
    """One response's audio on the track."""

    response_id: str
    resampler: av.AudioResampler
    #: Bytes queued and not yet played.
    queued: int = 0
    finished: bool = False
    #: Its ``response.done`` has been sent: ``stopped`` may follow.
    done: bool = False


@dataclass
class _Segment:
    playback: _Playback
    pcm: bytearray = field(default_factory=bytearray)


class ReplyTrack(MediaStreamTrack):
    """The answer's audio track and the engine's media output (see the module's docstring)."""

    kind = "audio"

    def __init__(self, notify: Notify, new_event_id: Callable[[], str]) -> None:
        super().__init__()
        self._notify = notify
        self._new_event_id = new_event_id
        self._segments: deque[_Segment] = deque()
        self._playbacks: dict[str, _Playback] = {}
        self._cleared: deque[str] = deque(maxlen=_CLEARED_KEPT)
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._delivery = asyncio.ensure_future(self._deliver())
        self._started_at: float | None = None
        self._timestamp = 0

    # --- the engine's side (MediaOutput) ------------------------------------------------------------

    async def play(self, response_id: str, audio: bytes, fmt: AudioFormat) -> None:
        """Queue a chunk of a response's audio (PCM16 at ``fmt.rate``), resampled to 48 kHz."""
        if self.readyState != "live" or response_id in self._cleared:
            return
        if fmt.type != "audio/pcm" or fmt.sample_width != 2:
            raise ValueError(f"the reply track plays PCM16 audio, not {fmt.type}")
        playback = self._playbacks.get(response_id)
        if playback is None:
            resampler = av.AudioResampler(format="s16", layout="mono", rate=TRACK_RATE)
            playback = self._playbacks[response_id] = _Playback(response_id, resampler)
            self._event("output_audio_buffer.started", response_id)
        if audio:
            self._queue(playback, _pcm(playback.resampler.resample(_frame(audio[: len(audio) // 2 * 2], fmt.rate))))

    async def finish(self, response_id: str) -> None:
        """The response sent all its audio: the resampler's tail is queued too."""
        playback = self._playbacks.get(response_id)
        if playback is None or playback.finished:
            return
        playback.finished = True
        self._queue(playback, _pcm(playback.resampler.resample(None)))
        self._maybe_stopped(playback)

    async def clear(self, response_id: str) -> None:
        """Drop the response's unplayed audio; ``cleared`` when there was some (or more was still coming)."""
        self._cleared.append(response_id)
        playback = self._playbacks.get(response_id)
        if playback is None:
            return
        if playback.queued == 0 and playback.finished:
            return  # all of it was played: ``stopped`` follows its response.done
        self._segments = deque(segment for segment in self._segments if segment.playback is not playback)
        del self._playbacks[response_id]
        self._event("output_audio_buffer.cleared", response_id)

    def response_done(self, response_id: str) -> None:
        """The response's ``response.done`` went out (the transport tells): ``stopped`` can now follow it."""
        playback = self._playbacks.get(response_id)
        if playback is not None:
            playback.done = True
            self._maybe_stopped(playback)

    # --- the peer connection's side (MediaStreamTrack) ---------------------------------------------------

    async def recv(self) -> av.AudioFrame:
        """The next 20 ms of audio, when it is due (playback speed, whatever the generation's speed)."""
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._started_at is None:
            self._started_at = loop.time()
        else:
            self._timestamp += _FRAME_SAMPLES
            wait = self._started_at + self._timestamp / TRACK_RATE - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        frame = _frame(self._take(_FRAME_BYTES), TRACK_RATE)
        frame.pts = self._timestamp
        frame.time_base = _TIME_BASE
        return frame

    def stop(self) -> None:
        """The call ended: nothing more plays, and no more events are sent."""
        super().stop()
        self._segments.clear()
        self._playbacks.clear()
        self._delivery.cancel()

    async def closed(self) -> None:
        """Wait until the event delivery has stopped (after :meth:`stop`)."""
        with contextlib.suppress(asyncio.CancelledError):
            await self._delivery

    # --- inside ---------------------------------------------------------------------------------------

    def _queue(self, playback: _Playback, pcm: bytes) -> None:
        if pcm:
            self._segments.append(_Segment(playback, bytearray(pcm)))
            playback.queued += len(pcm)

    def _take(self, size: int) -> bytes:
        """``size`` bytes of queued audio, padded with silence; notes which responses finished playing."""
        out = bytearray()
        while len(out) < size and self._segments:
            segment = self._segments[0]
            piece = segment.pcm[: size - len(out)]
            del segment.pcm[: len(piece)]
            out += piece
            playback = segment.playback
            playback.queued -= len(piece)
            if not segment.pcm:
                self._segments.popleft()
                self._maybe_stopped(playback)
        return bytes(out) + bytes(size - len(out))

    def _maybe_stopped(self, playback: _Playback) -> None:
        drained = playback.finished and playback.done and playback.queued == 0
        if drained and self._playbacks.get(playback.response_id) is playback:
            del self._playbacks[playback.response_id]
            self._event("output_audio_buffer.stopped", playback.response_id)

    def _event(self, kind: str, response_id: str) -> None:
        if self.readyState == "live":
            self._outbox.put_nowait({"type": kind, "event_id": self._new_event_id(), "response_id": response_id})

    async def _deliver(self) -> None:
        """Send the track's events in the order they happened, apart from the engine's own sends."""
        while True:
            await self._notify(await self._outbox.get())
