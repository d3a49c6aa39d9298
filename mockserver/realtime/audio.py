"""Audio for the Realtime session: formats, G.711 codecs, resampling, levels and speech-like synthesis.

Pure functions on ``bytes``, no I/O. The session's three formats (SESSION_TRUTH §4):

* ``{"type": "audio/pcm", "rate": 24000}``: PCM16, little-endian, mono, 24 kHz (2 bytes a sample);
* ``{"type": "audio/pcmu"}`` and ``{"type": "audio/pcma"}``: G.711 mu-law and A-law, 8 kHz (1 byte a sample).

The heavy lifting is the standard library's ``audioop`` (C speed; deprecated in 3.11-3.12, removed in 3.13,
where the ``audioop-lts`` distribution provides the same module). ``audioop`` works in the host's byte
order, so this module assumes a little-endian host (x86, ARM), like the PCM16 it handles.

G.711 is bit exact with the ITU-T reference implementation (G.191's ``g711.c``): A-law both ways and mu-law
decoding are ``audioop``'s; ``audioop``'s mu-law *encoder* rounds 508 negative inputs (of 65,536) to the
neighbouring step, so :func:`ulaw_encode` corrects those (see there).

:func:`synthesize` turns reply text into audible, speech-like audio: per word one or two voiced
"syllables" (a harmonic tone at the voice's pitch, drifting a little, with an attack/decay envelope),
short pauses between words and longer ones after punctuation, at about 150 words a minute divided by
``speed``, about -16 dBFS RMS. Same text, voice and speed give the same bytes.
"""

from __future__ import annotations

import binascii
import itertools
import math
import random
import re
import warnings
import zlib
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache

with warnings.catch_warnings():
    # Deprecated in 3.11 and 3.12 (PEP 594): users run their tests with filterwarnings=error.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

__all__ = [
    "FULL_SCALE",
    "PCM24K",
    "PCMA",
    "PCMU",
    "VOICE_PITCH_HZ",
    "WORD_MS",
    "AudioFormat",
    "Base64Text",
    "Resampler",
    "Speech",
    "SpeechChunk",
    "WordSpan",
    "alaw_decode",
    "alaw_encode",
    "base64_text",
    "bytes_for_ms",
    "chunks",
    "convert",
    "decode",
    "encode",
    "format_of",
    "frame_levels",
    "ms_for_bytes",
    "noise",
    "pcm16_from_samples",
    "resample",
    "rms_dbfs",
    "samples_from_pcm16",
    "silence",
    "synthesize",
    "tone",
    "ulaw_decode",
    "ulaw_encode",
]


# --- formats ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """One audio format: the session's ``type``, the sample rate and the bytes per sample on the wire."""

    type: str
    rate: int
    sample_width: int

    @property
    def bytes_per_second(self) -> int:
        return self.rate * self.sample_width

    @property
    def is_g711(self) -> bool:
        return self.type in ("audio/pcmu", "audio/pcma")

    def as_session(self) -> dict[str, object]:
        """The format as a session object shows it."""
        return {"type": self.type, "rate": self.rate} if self.type == "audio/pcm" else {"type": self.type}


PCM24K = AudioFormat("audio/pcm", 24000, 2)
PCMU = AudioFormat("audio/pcmu", 8000, 1)
PCMA = AudioFormat("audio/pcma", 8000, 1)


def format_of(session_format: Mapping[str, object]) -> AudioFormat:
    """The :class:`AudioFormat` of a session's format object (``audio.input.format`` / ``audio.output.format``).

    ``audio/pcm`` takes its ``rate`` (24000 when absent; the session schema accepts only 24000, other
    positive rates are honoured so tests may use them); G.711 is always 8 kHz. Anything else is a
    ``ValueError`` (sessions are validated before they get here).
    """
    kind = session_format.get("type")
    if kind == "audio/pcmu":
        return PCMU
    if kind == "audio/pcma":
        return PCMA
    if kind == "audio/pcm":
        rate = session_format.get("rate")
        if rate is None:
            return PCM24K
        if isinstance(rate, int) and not isinstance(rate, bool) and rate > 0:
            return PCM24K if rate == PCM24K.rate else AudioFormat("audio/pcm", rate, 2)
        raise ValueError(f"invalid PCM rate: {rate!r}")
    raise ValueError(f"unsupported audio format: {kind!r}")


def bytes_for_ms(ms: float, fmt: AudioFormat) -> int:
    """How many bytes ``ms`` milliseconds of audio take in ``fmt`` (rounded to whole samples)."""
    return round(ms * fmt.rate / 1000) * fmt.sample_width


def ms_for_bytes(n: int, fmt: AudioFormat) -> float:
    """How many milliseconds ``n`` bytes of ``fmt`` last (whole samples only: a trailing half sample is not time)."""
    return (n // fmt.sample_width) * 1000 / fmt.rate


# --- codecs -----------------------------------------------------------------------------------------


def _whole_samples(pcm16: bytes) -> bytes:
    return pcm16 if len(pcm16) % 2 == 0 else pcm16[:-1]


class Base64Text(str):
    """Audio as standard base64 text, made by :func:`base64_text`: only ``A-Z a-z 0-9 + / =``, so nothing
    in it needs escaping in JSON, and a server event carrying it is serialised with the text spliced in
    as it is (``link.dump_event``) rather than scanned by the JSON encoder."""

    __slots__ = ()


def base64_text(data: bytes) -> Base64Text:
    """``data`` as standard, padded base64 (an audio delta's ``delta``)."""
    return Base64Text(binascii.b2a_base64(data, newline=False), "ascii")


def samples_from_pcm16(pcm16: bytes) -> array[int]:
    """PCM16 little-endian bytes as signed 16-bit samples (a trailing odd byte is dropped)."""
    samples = array("h")
    samples.frombytes(_whole_samples(pcm16))
    return samples


def pcm16_from_samples(samples: Iterable[float]) -> bytes:
    """Samples (any numbers) as PCM16 little-endian bytes, rounded and clipped to the 16-bit range."""
    return array("h", (max(-32768, min(32767, round(value))) for value in samples)).tobytes()


def alaw_encode(pcm16: bytes) -> bytes:
    """PCM16 to G.711 A-law, one byte a sample (ITU-T G.711; ``audioop`` matches G.191 exactly)."""
    return audioop.lin2alaw(_whole_samples(pcm16), 2)


def alaw_decode(alaw: bytes) -> bytes:
    """G.711 A-law to PCM16 (0xD5 is +8, 0x55 is -8: A-law has no zero)."""
    return audioop.alaw2lin(alaw, 2)


def ulaw_encode(pcm16: bytes) -> bytes:
    """PCM16 to G.711 mu-law, one byte a sample, bit exact with the ITU-T reference (G.191 ``g711.c``).

    The reference takes the magnitude of a negative sample as its one's complement (``~x >> 2``);
    ``audioop`` negates it (``-(x >> 2)``), one step more, so for negative samples the right code is
    ``audioop``'s code of ``x + 4`` (and for -4..-1, negative zero 0x7F). Both encodings are made at C
    speed and each byte is picked from one or the other with big-integer masks: the first where its
    sign bit says the sample was non-negative, the second (sign bit cleared) elsewhere.
    """
    pcm16 = _whole_samples(pcm16)
    n = len(pcm16) // 2
    if n == 0:
        return b""
    plain = int.from_bytes(audioop.lin2ulaw(pcm16, 2), "little")
    # bias() wraps around; the wrapped samples are non-negative ones, whose code is taken from `plain`.
    shifted = int.from_bytes(audioop.lin2ulaw(audioop.bias(pcm16, 2, 4), 2), "little")
    sign_bits = int.from_bytes(b"\x80" * n, "little")
    low_bits = sign_bits - (sign_bits >> 7)  # 0x7F in every byte
    non_negative = ((plain & sign_bits) >> 7) * 0xFF  # 0xFF in the bytes whose sample was >= 0, else 0x00
    picked = (plain & non_negative) | (shifted & low_bits & ~non_negative)
    return picked.to_bytes(n, "little")


def ulaw_decode(ulaw: bytes) -> bytes:
    """G.711 mu-law to PCM16 (0xFF is 0, 0x00 is -32124)."""
    return audioop.ulaw2lin(ulaw, 2)


def decode(audio: bytes, fmt: AudioFormat) -> bytes:
    """Audio in ``fmt`` as PCM16 at ``fmt.rate`` (whole samples)."""
    if fmt.type == "audio/pcmu":
        return ulaw_decode(audio)
    if fmt.type == "audio/pcma":
        return alaw_decode(audio)
    return _whole_samples(audio)


def encode(pcm16: bytes, fmt: AudioFormat) -> bytes:
    """PCM16 at ``fmt.rate`` as audio in ``fmt``."""
    if fmt.type == "audio/pcmu":
        return ulaw_encode(pcm16)
    if fmt.type == "audio/pcma":
        return alaw_encode(pcm16)
    return _whole_samples(pcm16)


def resample(pcm16: bytes, from_rate: int, to_rate: int) -> bytes:
    """PCM16 at ``from_rate`` as PCM16 at ``to_rate`` (``audioop.ratecv``: linear interpolation).

    The result has exactly ``round(samples * to_rate / from_rate)`` samples (``ratecv`` drops a few
    at the end, which are filled with the last sample), so a duration survives the conversion.
    """
    pcm16 = _whole_samples(pcm16)
    if from_rate == to_rate or not pcm16:
        return pcm16
    converted, _ = audioop.ratecv(pcm16, 2, 1, from_rate, to_rate, None)
    wanted = round(len(pcm16) // 2 * to_rate / from_rate) * 2
    if len(converted) >= wanted:
        return converted[:wanted]
    last = converted[-2:] if converted else b"\x00\x00"
    return converted + last * ((wanted - len(converted)) // 2)


def convert(audio: bytes, source: AudioFormat, target: AudioFormat) -> bytes:
    """Audio in ``source`` as audio in ``target``: decode, resample, encode."""
    if source == target:
        return audio if source.sample_width == 1 else _whole_samples(audio)
    return encode(resample(decode(audio, source), source.rate, target.rate), target)


class Resampler:
    """A PCM16 stream resampler: chunk by chunk, with ``ratecv``'s state carried across chunks."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._state: tuple[int, tuple[tuple[int, int], ...]] | None = None
        self._odd = b""

    def convert(self, pcm16: bytes) -> bytes:
        """The next chunk of the stream, resampled (an odd trailing byte waits for the next chunk)."""
        data = self._odd + pcm16
        whole = len(data) - len(data) % 2
        self._odd = data[whole:]
        if self.from_rate == self.to_rate:
            return data[:whole]
        out, self._state = audioop.ratecv(data[:whole], 2, 1, self.from_rate, self.to_rate, self._state)
        return out


# --- levels and test signals -------------------------------------------------------------------------

#: Full scale for levels: a square wave at +-32768 is 0 dBFS, so a full-scale sine is about -3 dBFS.
FULL_SCALE = 32768.0


def rms_dbfs(pcm16: bytes) -> float:
    """The RMS level of PCM16 audio in dBFS (``-inf`` for digital silence or no audio)."""
    pcm16 = _whole_samples(pcm16)
    level = audioop.rms(pcm16, 2) if pcm16 else 0
    return 20 * math.log10(level / FULL_SCALE) if level else -math.inf


def frame_levels(pcm16: bytes, frame_samples: int) -> list[int]:
    """The RMS of each whole frame of ``frame_samples`` samples, on the 16-bit scale (``audioop.rms``, an integer)."""
    step = 2 * frame_samples
    view = memoryview(pcm16)
    return [audioop.rms(view[offset : offset + step], 2) for offset in range(0, len(pcm16) - step + 1, step)]


def _samples_for(ms: float, fmt: AudioFormat) -> int:
    return max(0, round(ms * fmt.rate / 1000))


def silence(ms: float, fmt: AudioFormat) -> bytes:
    """Digital silence in ``fmt`` (PCM zeros, mu-law 0xFF, A-law 0xD5, its quietest code)."""
    return _quiet(fmt, _samples_for(ms, fmt))


def tone(freq_hz: float, ms: float, amplitude: float, fmt: AudioFormat) -> bytes:
    """A sine of ``freq_hz`` lasting ``ms``, its peak ``amplitude`` times full scale (0.5 is about -9 dBFS RMS)."""
    step = 2 * math.pi * freq_hz / fmt.rate
    peak = amplitude * 32767
    return encode(pcm16_from_samples(peak * math.sin(step * i) for i in range(_samples_for(ms, fmt))), fmt)


def noise(ms: float, dbfs: float, fmt: AudioFormat, seed: int = 0) -> bytes:
    """White noise (uniform, seeded) at an RMS level of about ``dbfs``; the same seed gives the same bytes."""
    rng = random.Random(seed)
    half_width = FULL_SCALE * 10 ** (dbfs / 20) * math.sqrt(3)
    return encode(pcm16_from_samples(rng.uniform(-half_width, half_width) for _ in range(_samples_for(ms, fmt))), fmt)


# --- speech synthesis -------------------------------------------------------------------------------

#: 150 words a minute at speed 1 (the session's ``speed`` divides it).
WORD_MS = 400.0
#: The voiced part of a word at speed 1; the rest of its 400 ms are the pause after it.
_VOICED_MS = 330.0
#: A two-syllable word: two syllables with a short break between them, as long as one long syllable.
_SYLLABLE_BREAK_MS = 20.0
#: How much of the pause budget a word's ending earns: longer after a clause or a sentence.
_PAUSE_WEIGHTS = {",": 1.5, ";": 1.5, ":": 1.5, ".": 2.0, "!": 2.0, "?": 2.0}
#: RMS of a voiced syllable before its envelope, as a fraction of full scale (about -14 dBFS).
_VOICED_RMS = 0.2
_ATTACK_MS = 20.0
_RELEASE_MS = 60.0
_VIBRATO_HZ = 5.5
_VIBRATO_DEPTH = 0.008
#: Each built-in voice's pitch (Hz); another voice (a custom voice id) gets one from its name.
VOICE_PITCH_HZ: Mapping[str, float] = {
    "alloy": 175.0,
    "ash": 110.0,
    "ballad": 125.0,
    "coral": 215.0,
    "echo": 105.0,
    "sage": 200.0,
    "shimmer": 225.0,
    "verse": 135.0,
    "marin": 205.0,
    "cedar": 115.0,
}
#: Vowel colours: two formants (Hz) shaping the harmonics' strengths.
_FORMANTS = {"a": (730.0, 1090.0), "e": (530.0, 1840.0), "i": (300.0, 2250.0), "o": (570.0, 840.0), "u": (320.0, 900.0)}
#: Pitch over a syllable (start, end multipliers): a slight fall, a question's rise, a statement's fall.
_CONTOURS = {"level": (1.03, 0.98), "rise": (0.97, 1.12), "fall": (1.02, 0.88)}
#: Words vary their pitch a little around the voice's.
_PITCH_STEPS = (0.94, 1.0, 1.06)
_TABLE_SIZE = 1024  # a power of two: harmonics wrap with a mask
_VOWELS = re.compile(r"[aeiouy]+")
_TOKENS = re.compile(r"\s*\S+")


@dataclass(frozen=True, slots=True)
class WordSpan:
    """Where one word of the text is in the audio: ``audio[start:end]`` (whole samples).

    ``word`` is the word as written (punctuation included); ``text`` is the word with the whitespace
    before it, so the spans' ``text`` joined give back the whole text (a transcript delta per word).
    The spans tile the audio: each word's span runs to where the next one starts, pause included.
    A token without letters or digits ("-", "...") is not said: its span is empty.
    """

    start: int
    end: int
    word: str
    text: str


@dataclass(frozen=True, slots=True)
class Speech:
    """Synthesized speech: the audio in ``format`` and where each word is."""

    audio: bytes
    format: AudioFormat
    words: tuple[WordSpan, ...]

    @property
    def duration_ms(self) -> float:
        return ms_for_bytes(len(self.audio), self.format)

    def transcript_until(self, offset: int) -> str:
        """The text of the words that have begun before byte ``offset`` (what a listener heard)."""
        return "".join(span.text for span in self.words if span.start < offset)


@dataclass(frozen=True, slots=True)
class SpeechChunk:
    """A piece of :class:`Speech` to send as one audio delta, with the words that begin in it."""

    audio: bytes
    start: int
    words: tuple[WordSpan, ...]


def synthesize(text: str, fmt: AudioFormat, *, speed: float = 1.0, voice: str = "alloy") -> Speech:
    """Speech-like audio for ``text`` in ``fmt``, with per-word spans.

    Every word (a whitespace-separated token with a letter or digit) takes ``400 / speed`` ms on
    average: one syllable (one vowel group) or two (more), then a pause; the pauses share what the
    syllables leave, more after a comma and most after a sentence. The audio lasts exactly
    ``words * 400 / speed`` ms (to the sample). Deterministic; the syllables are cached per voice,
    format and speed, so only the first reply in a new voice or speed pays for making them.
    """
    if not 0 < speed <= 4:
        raise ValueError(f"speed out of range: {speed!r}")
    tokens = [match.group() for match in _TOKENS.finditer(text)]
    if tokens:
        tokens[-1] += text[len("".join(tokens)) :]
    elif text:
        tokens = [text]
    said = [_is_said(token) for token in tokens]
    voiced = round(_VOICED_MS * fmt.rate / 1000 / speed)
    total = round(sum(said) * WORD_MS * fmt.rate / 1000 / speed)
    weights = [_pause_weight(token) if is_said else 0.0 for token, is_said in zip(tokens, said, strict=True)]
    pauses = _share(max(0, total - voiced * sum(said)), weights)

    pitch = _voice_pitch(voice)
    parts: list[bytes] = []
    spans: list[WordSpan] = []
    position = 0
    for token, is_said, pause in zip(tokens, said, pauses, strict=True):
        start = position
        if is_said:
            parts.extend(_word_audio(token, fmt, speed, pitch, voiced))
            parts.append(_quiet(fmt, pause))
            position += (voiced + pause) * fmt.sample_width
        spans.append(WordSpan(start, position, token.strip(), token))
    return Speech(b"".join(parts), fmt, tuple(spans))


def chunks(speech: Speech, max_ms: float) -> Iterator[SpeechChunk]:
    """The speech in pieces of at most ``max_ms``, cut also where each word begins, so their sizes vary.

    A chunk carries the words that begin inside it (the engine sends their transcript deltas before
    the chunk's audio); unsaid tokens at the very end ride on the last chunk. No audio, no chunks.
    """
    if max_ms <= 0:
        raise ValueError("max_ms must be positive")
    audio = speech.audio
    size = max(speech.format.sample_width, bytes_for_ms(max_ms, speech.format))
    bounds = sorted({0, len(audio), *(span.start for span in speech.words if span.start < len(audio))})
    pieces = [
        (offset, min(offset + size, end))
        for begin, end in itertools.pairwise(bounds)
        for offset in range(begin, end, size)
    ]
    words = list(speech.words)
    taken = 0
    for index, (begin, end) in enumerate(pieces):
        first = taken
        while taken < len(words) and (words[taken].start < end or index == len(pieces) - 1):
            taken += 1
        yield SpeechChunk(audio[begin:end], begin, tuple(words[first:taken]))


def _quiet(fmt: AudioFormat, samples: int) -> bytes:
    """``samples`` samples of digital silence in ``fmt``."""
    if fmt.type == "audio/pcmu":
        return b"\xff" * samples
    if fmt.type == "audio/pcma":
        return b"\xd5" * samples
    return bytes(2 * samples)


def _is_said(token: str) -> bool:
    return any(char.isalnum() for char in token)


def _pause_weight(token: str) -> float:
    return _PAUSE_WEIGHTS.get(token.rstrip()[-1:], 1.0)


def _share(total: int, weights: list[float]) -> list[int]:
    """``total`` split in proportion to ``weights``, as whole numbers that add up to ``total``."""
    whole = sum(weights)
    if not whole:
        return [0] * len(weights)
    bounds = [round(total * running / whole) for running in itertools.accumulate(weights)]
    return [end - begin for begin, end in itertools.pairwise([0, *bounds])]


def _voice_pitch(voice: str) -> float:
    known = VOICE_PITCH_HZ.get(voice)
    return known if known is not None else 100.0 + zlib.crc32(voice.encode("utf-8", "surrogatepass")) % 130


def _vowel(group: str) -> str:
    first = group[:1]
    return "i" if first == "y" else first if first in _FORMANTS else "a"


def _word_audio(token: str, fmt: AudioFormat, speed: float, voice_pitch: float, voiced: int) -> list[bytes]:
    """A said word's ``voiced`` samples: one syllable, or two with a short break between them."""
    word = token.strip().lower()
    groups = _VOWELS.findall(word) or ["a"]
    step = _PITCH_STEPS[zlib.crc32(word.encode("utf-8", "surrogatepass")) % len(_PITCH_STEPS)]
    ending = word[-1:]
    contour = "rise" if ending == "?" else "fall" if ending in ".!" else "level"
    if len(groups) == 1:
        return [_syllable(fmt, voice_pitch, step, _vowel(groups[0]), contour, voiced)]
    gap = round(_SYLLABLE_BREAK_MS * fmt.rate / 1000 / speed)
    first = (voiced - gap) // 2
    return [
        _syllable(fmt, voice_pitch, step, _vowel(groups[0]), "level", first),
        _quiet(fmt, gap),
        _syllable(fmt, voice_pitch, step, _vowel(groups[-1]), contour, voiced - gap - first),
    ]


@lru_cache(maxsize=64)
def _wavetable(voice_pitch: float, rate: int, vowel: str) -> tuple[float, ...]:
    """One period of a voiced sound: the harmonics below 3.4 kHz shaped by the vowel's formants, RMS 1."""
    first, second = _FORMANTS[vowel]
    ceiling = min(3400.0, 0.45 * rate) / 1.25  # room for the pitch to step and rise
    harmonics = []
    for k in range(1, int(ceiling // voice_pitch) + 1):
        frequency = k * voice_pitch
        formants = math.exp(-(((frequency - first) / 150) ** 2)) + 0.6 * math.exp(-(((frequency - second) / 200) ** 2))
        harmonics.append((k, 0.35 / k + formants))
    sine = [math.sin(2 * math.pi * i / _TABLE_SIZE) for i in range(_TABLE_SIZE)]
    mask = _TABLE_SIZE - 1
    table = [sum(weight * sine[(k * i) & mask] for k, weight in harmonics) for i in range(_TABLE_SIZE)]
    rms = math.sqrt(sum(value * value for value in table) / _TABLE_SIZE)
    return tuple(value / rms for value in table)


@lru_cache(maxsize=2048)
def _period(voice_pitch: float, rate: int, vowel: str, length: int) -> bytes:
    """One pitch period of ``length`` samples (PCM16), read off the vowel's wavetable at full syllable level."""
    table = _wavetable(voice_pitch, rate, vowel)
    peak = _VOICED_RMS * FULL_SCALE
    return pcm16_from_samples(peak * table[i * _TABLE_SIZE // length] for i in range(length))


def _envelope(t: float, n: int, attack: float, release: float) -> float:
    """The syllable's loudness at sample ``t`` of ``n``: a raised-cosine attack and release, flat between."""
    if t < attack:
        return 0.5 - 0.5 * math.cos(math.pi * t / attack)
    if t > n - release:
        return 0.5 - 0.5 * math.cos(math.pi * max(0.0, n - t) / release)
    return 1.0


@lru_cache(maxsize=512)
def _syllable(fmt: AudioFormat, voice_pitch: float, step: float, vowel: str, contour: str, n: int) -> bytes:
    """One syllable of ``n`` samples in ``fmt``: the vowel's pitch periods along a contour, enveloped.

    Built period by period (pitch-synchronous, so the joins are continuous): each period's length
    follows the contour and a slight vibrato, and is scaled by the envelope at its middle.
    """
    rate = fmt.rate
    begin, end = _CONTOURS[contour]
    attack = min(n / 3, _ATTACK_MS * rate / 1000)
    release = min(n / 3, _RELEASE_MS * rate / 1000)
    wobble = 2 * math.pi * _VIBRATO_HZ / rate
    parts: list[bytes] = []
    t = 0
    while t < n:
        pitch = voice_pitch * step * (begin + (end - begin) * t / n) * (1 + _VIBRATO_DEPTH * math.sin(wobble * t))
        length = max(2, round(rate / pitch))
        period = _period(voice_pitch, rate, vowel, length)
        level = _envelope(t + length / 2, n, attack, release)
        parts.append(period if level >= 1 else audioop.mul(period, 2, level))
        t += length
    return encode(b"".join(parts)[: 2 * n], fmt)
