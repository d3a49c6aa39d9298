"""TEMPORARY STUB (replaced by the audio branch)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .audio import AudioFormat, rms_dbfs, to_pcm16

FRAME_MS = 10


@dataclass(frozen=True)
class SpeechStarted:
    audio_start_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    audio_end_ms: int


@dataclass(frozen=True)
class TimeoutTriggered:
    audio_start_ms: int
    audio_end_ms: int


VadEvent = SpeechStarted | SpeechStopped | TimeoutTriggered


@dataclass(frozen=True)
class TurnDetection:
    kind: str
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 200
    idle_timeout_ms: int | None = None
    eagerness: str = "auto"
    create_response: bool = True
    interrupt_response: bool = True

    @classmethod
    def from_session(cls, td: Mapping[str, Any] | None) -> TurnDetection | None:
        if not td:
            return None
        return cls(
            kind=td["type"],
            threshold=td.get("threshold") if td.get("threshold") is not None else 0.5,
            prefix_padding_ms=td.get("prefix_padding_ms") if td.get("prefix_padding_ms") is not None else 300,
            silence_duration_ms=td.get("silence_duration_ms") if td.get("silence_duration_ms") is not None else 200,
            idle_timeout_ms=td.get("idle_timeout_ms"),
            eagerness=td.get("eagerness") or "auto",
            create_response=td.get("create_response", True) is not False,
            interrupt_response=td.get("interrupt_response", True) is not False,
        )


class TurnDetector:
    def __init__(self, config: TurnDetection, fmt: AudioFormat) -> None:
        self.config = config
        self.fmt = fmt
        self.frame_bytes = int(fmt.rate * FRAME_MS / 1000) * fmt.sample_width
        self.pending = b""
        self.frames = 0
        self.in_speech = False
        self.last_speech_end = 0
        self.silence_frames = 0
        self.turn_floor = 0
        self.idle: float | None = None
        self.transcript_hint: Callable[[], str | None] | None = None

    @property
    def position_ms(self) -> float:
        return self.frames * FRAME_MS + len(self.pending) / self.fmt.sample_width / self.fmt.rate * 1000

    def idle_from(self, ms: float) -> None:
        self.idle = ms

    def reset_turn(self) -> None:
        self.in_speech = False
        self.silence_frames = 0
        self.turn_floor = self.frames * FRAME_MS

    def _silence_ms(self) -> int:
        if self.config.kind == "semantic_vad":
            return {"high": 500, "medium": 1000, "auto": 1000, "low": 2000}[self.config.eagerness]
        return self.config.silence_duration_ms

    def feed(self, audio: bytes) -> list[VadEvent]:
        data = self.pending + audio
        events: list[VadEvent] = []
        required = 60 * (self.config.threshold - 1)
        while len(data) >= self.frame_bytes:
            frame, data = data[: self.frame_bytes], data[self.frame_bytes :]
            start = self.frames * FRAME_MS
            self.frames += 1
            loud = rms_dbfs(to_pcm16(frame, self.fmt)) >= required
            if loud:
                self.idle = None
                if not self.in_speech:
                    self.in_speech = True
                    events.append(SpeechStarted(max(start - self.config.prefix_padding_ms, self.turn_floor)))
                self.silence_frames = 0
                self.last_speech_end = start + FRAME_MS
            elif self.in_speech:
                self.silence_frames += 1
                if self.silence_frames * FRAME_MS >= self._silence_ms():
                    end = self.last_speech_end + self._silence_ms()
                    events.append(SpeechStopped(end))
                    self.in_speech = False
                    self.turn_floor = end
            elif (
                self.idle is not None
                and self.config.idle_timeout_ms
                and start + FRAME_MS - self.idle >= self.config.idle_timeout_ms
            ):
                events.append(TimeoutTriggered(int(self.idle), start + FRAME_MS))
                self.idle = None
        self.pending = data
        return events
