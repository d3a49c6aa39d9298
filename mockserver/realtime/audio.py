"""TEMPORARY STUB (replaced by the audio branch)."""

from __future__ import annotations

import math
import struct
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop


@dataclass(frozen=True)
class AudioFormat:
    type: str
    rate: int
    sample_width: int


def format_of(fmt: Mapping[str, Any]) -> AudioFormat:
    if fmt.get("type") == "audio/pcm":
        return AudioFormat("audio/pcm", 24000, 2)
    return AudioFormat(str(fmt.get("type")), 8000, 1)


def ms_for_bytes(n: int, fmt: AudioFormat) -> float:
    return n / fmt.sample_width / fmt.rate * 1000


def bytes_for_ms(ms: float, fmt: AudioFormat) -> int:
    return round(ms * fmt.rate / 1000) * fmt.sample_width


def to_pcm16(data: bytes, fmt: AudioFormat) -> bytes:
    if fmt.type == "audio/pcmu":
        return audioop.ulaw2lin(data, 2)
    if fmt.type == "audio/pcma":
        return audioop.alaw2lin(data, 2)
    return data


def from_pcm16(data: bytes, fmt: AudioFormat) -> bytes:
    if fmt.type == "audio/pcmu":
        return audioop.lin2ulaw(data, 2)
    if fmt.type == "audio/pcma":
        return audioop.lin2alaw(data, 2)
    return data


def tone(freq: float, ms: float, amplitude: float, fmt: AudioFormat) -> bytes:
    n = round(ms * fmt.rate / 1000)
    a = min(32767, int(amplitude * 32767))
    pcm = struct.pack(f"<{n}h", *(int(a * math.sin(2 * math.pi * freq * i / fmt.rate)) for i in range(n)))
    return from_pcm16(pcm, fmt)


def silence(ms: float, fmt: AudioFormat) -> bytes:
    n = round(ms * fmt.rate / 1000)
    return from_pcm16(bytes(2 * n), fmt)


def rms_dbfs(pcm: bytes) -> float:
    r = audioop.rms(pcm, 2) if pcm else 0
    return 20 * math.log10(r / 32768) if r else float("-inf")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    word: str


@dataclass(frozen=True)
class Speech:
    audio: bytes
    spans: tuple[Span, ...]


def synthesize(text: str, fmt: AudioFormat, *, speed: float = 1.0, voice: str = "alloy") -> Speech:
    words = text.split()
    out = bytearray()
    spans = []
    for w in words:
        start = len(out)
        out += tone(180, 320 / speed, 0.25, fmt)
        out += silence(80 / speed, fmt)
        spans.append(Span(start, len(out), w))
    return Speech(bytes(out), tuple(spans))
