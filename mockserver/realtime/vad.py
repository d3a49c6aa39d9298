"""Turn detection on the audio a client appends: ``server_vad`` and ``semantic_vad``, on audio time.

A :class:`TurnDetector` is fed the session's input audio (any chunk sizes, in the session's input
format; G.711 is decoded first) and returns the events that audio causes. It never looks at a clock:
every time is audio time (bytes appended / byte rate), cumulative for the whole session, in the
frames it has seen. Production's semantics (SESSION_TRUTH §2d, §2f, §2g):

Loudness
    The audio is judged in 10 ms frames. A frame is *speech* when its RMS level is at least
    ``60 * (threshold - 1)`` dBFS (full scale = a square wave at +-32768): threshold 0.5 (the default)
    needs -30 dBFS, 0.8 needs -12, 0.9 needs -6, 1.0 needs 0. Digital silence is never speech.
    A 440 Hz sine at half of full scale (about -9 dBFS) is speech at 0.5 but not at 0.9.
    A threshold outside 0..1 (the session allows none) is clamped, and so are negative durations (to 0).
    ``semantic_vad`` has no threshold: it uses 0.5.

Speech start
    Three speech frames in a row (30 ms) start a turn, so a click is not a turn.
    ``speech_started.audio_start_ms`` = the start of the first of them minus ``prefix_padding_ms``,
    never below 0 nor before the end of the previous turn (or a reset, or a timeout).

Speech stop
    Once in a turn, any speech frame continues it. The turn ends when ``silence_duration_ms`` of
    non-speech follow the last speech frame: ``speech_stopped.audio_end_ms`` = the end of the last
    speech frame + ``silence_duration_ms`` (the event comes with the frame that completes that silence).
    ``semantic_vad`` waits :func:`semantic_silence_ms` instead (see there).

Idle timeout (``server_vad`` only)
    Armed by the engine with :meth:`TurnDetector.idle_from` (the audio offset where the last reply's
    playback ends). When ``idle_timeout_ms`` of audio pass from there with no speech starting:
    ``TimeoutTriggered(audio_start_ms=<armed offset>, audio_end_ms=<end of the frame that crossed it>)``,
    once per arming. A speech start disarms it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeGuard, overload

from .audio import AudioFormat, decode, frame_levels

__all__ = [
    "FRAME_MS",
    "ONSET_FRAMES",
    "SEMANTIC_SILENCE_MS",
    "SpeechStarted",
    "SpeechStopped",
    "TimeoutTriggered",
    "TurnDetection",
    "TurnDetector",
    "VadEvent",
    "semantic_silence_ms",
    "threshold_dbfs",
]

#: The length of one analysis frame.
FRAME_MS = 10
#: Speech frames in a row that start a turn (30 ms).
ONSET_FRAMES = 3

Eagerness = Literal["low", "medium", "high"]

#: ``semantic_vad``'s wait after the last speech, by eagerness: when the turn's transcript reads as
#: finished, when nothing is known about it, and when it reads as unfinished (the spec's caps).
SEMANTIC_SILENCE_MS: dict[str, dict[str, int]] = {
    "high": {"finished": 250, "unknown": 500, "unfinished": 2000},
    "medium": {"finished": 500, "unknown": 1000, "unfinished": 4000},
    "low": {"finished": 1000, "unknown": 2000, "unfinished": 8000},
}

#: Last words that leave a sentence hanging (fillers and conjunctions).
_HANGING_WORDS = frozenset(
    {"uh", "uhh", "um", "umm", "uhm", "uhhm", "hmm", "er", "erm", "ah", "and", "so", "but", "or", "because", "like"}
)
_LAST_WORD = re.compile(r"([^\W\d_]+)\W*$")
_CLOSERS = "\"')]}\u201d\u2019"


def threshold_dbfs(threshold: float) -> float:
    """The level (dBFS RMS) a frame needs to count as speech at ``threshold`` (0..1): ``60 * (threshold - 1)``."""
    return 60 * (threshold - 1)


def semantic_silence_ms(eagerness: str, transcript: str | None) -> int:
    """How long ``semantic_vad`` waits after the last speech before it ends the turn.

    ``auto`` is ``medium``. A transcript that reads as finished (it ends in ``.``, ``!`` or ``?``) gets a
    short wait; one that reads as unfinished (it ends in a comma or other mid-sentence mark, an
    ellipsis, a filler such as "uh" / "um" or a conjunction such as "and" / "so", or no punctuation at
    all) gets the eagerness cap (8 s / 4 s / 2 s for low / medium / high); with no transcript known,
    a middle value. See :data:`SEMANTIC_SILENCE_MS`.
    """
    table = SEMANTIC_SILENCE_MS.get(eagerness, SEMANTIC_SILENCE_MS["medium"])
    return table[_reads_as(transcript)]


def _reads_as(transcript: str | None) -> str:
    text = (transcript or "").strip().rstrip(_CLOSERS).rstrip()
    if not text:
        return "unknown"
    if text.endswith(("...", "\u2026")):
        return "unfinished"
    last = _LAST_WORD.search(text)
    if last is not None and last.group(1).lower() in _HANGING_WORDS:
        return "unfinished"
    return "finished" if text[-1] in ".!?" else "unfinished"


@dataclass(frozen=True, slots=True)
class TurnDetection:
    """A session's ``turn_detection``, with every default filled."""

    kind: Literal["server_vad", "semantic_vad"]
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 200
    idle_timeout_ms: int | None = None
    eagerness: str = "auto"
    create_response: bool = True
    interrupt_response: bool = True

    @classmethod
    def from_session(cls, turn_detection: Mapping[str, object] | None) -> TurnDetection | None:
        """The detection a session's ``audio.input.turn_detection`` asks for (``None``: the client commits).

        Missing or ``null`` values take the defaults (a transcription session's echo has only four keys).
        ``semantic_vad`` keeps only ``eagerness`` and the two response switches: it has no threshold,
        padding, silence or idle timeout of its own.
        """
        if turn_detection is None:
            return None
        kind = turn_detection.get("type", "server_vad")
        if kind not in ("server_vad", "semantic_vad"):
            raise ValueError(f"unknown turn detection type: {kind!r}")

        create = turn_detection.get("create_response")
        interrupt = turn_detection.get("interrupt_response")
        create_response = create if isinstance(create, bool) else True
        interrupt_response = interrupt if isinstance(interrupt, bool) else True
        if kind == "semantic_vad":
            eagerness = turn_detection.get("eagerness")
            return cls(
                "semantic_vad",
                eagerness=eagerness if isinstance(eagerness, str) else "auto",
                create_response=create_response,
                interrupt_response=interrupt_response,
            )
        threshold = turn_detection.get("threshold")
        return cls(
            "server_vad",
            threshold=float(threshold) if _is_number(threshold) else 0.5,
            prefix_padding_ms=_integer(turn_detection.get("prefix_padding_ms"), 300),
            silence_duration_ms=_integer(turn_detection.get("silence_duration_ms"), 200),
            idle_timeout_ms=_integer(turn_detection.get("idle_timeout_ms"), None),
            create_response=create_response,
            interrupt_response=interrupt_response,
        )

    @property
    def eagerness_level(self) -> Eagerness:
        """``eagerness`` with ``auto`` read as ``medium``."""
        return "low" if self.eagerness == "low" else "high" if self.eagerness == "high" else "medium"


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@overload
def _integer(value: object, default: int) -> int: ...
@overload
def _integer(value: object, default: None) -> int | None: ...
def _integer(value: object, default: int | None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _clamp_ms(value: int) -> int:
    """A duration the session did not bound, kept within 0 ms .. one day."""
    return min(max(value, 0), 86_400_000)


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    audio_start_ms: int


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    audio_end_ms: int


@dataclass(frozen=True, slots=True)
class TimeoutTriggered:
    audio_start_ms: int
    audio_end_ms: int


VadEvent = SpeechStarted | SpeechStopped | TimeoutTriggered


class TurnDetector:
    """One session's turn detector: appended audio in, :data:`VadEvent` s out (module docstring: the rules).

    ``transcript`` (optional) is asked, when a silence after speech begins under ``semantic_vad``, for
    what the user is saying in this turn (the engine's scripted transcript), to choose the wait.
    """

    def __init__(
        self, config: TurnDetection, fmt: AudioFormat, *, transcript: Callable[[], str | None] | None = None
    ) -> None:
        self.config = config
        self.format = fmt
        self._transcript = transcript
        self._frame_samples = max(1, fmt.rate * FRAME_MS // 1000)
        self._frame_ms = self._frame_samples * 1000 / fmt.rate
        threshold = min(1.0, max(0.0, config.threshold)) if config.kind == "server_vad" else 0.5
        # The session schema bounds none of these (idle_timeout_ms 5000..30000 only): keep them in a sane range.
        self._padding = _clamp_ms(config.prefix_padding_ms)
        self._silence = _clamp_ms(config.silence_duration_ms)
        self._timeout = None if config.idle_timeout_ms is None else _clamp_ms(config.idle_timeout_ms)
        # A frame's RMS is an integer: comparing it with the linear threshold is the dBFS rule, without a log a frame.
        self._min_rms = 32768.0 * 10 ** (threshold_dbfs(threshold) / 20)
        self._pending = bytearray()  # input bytes not yet a whole frame (PCM16 or G.711 as received)
        self._frames = 0  # frames judged so far
        self._received = 0  # input bytes appended so far
        self._run = 0  # speech frames in a row while no turn is on
        self._in_turn = False
        self._last_speech_end = 0.0
        self._silence_needed: int | None = None
        self._floor = 0.0  # no speech start before this (end of the previous turn, a reset, a timeout)
        self._idle_since: float | None = None

    # --- what the engine reads and sets ------------------------------------------------------------

    @property
    def position_ms(self) -> float:
        """Audio time appended so far (the whole session, whole samples, never reset)."""
        return (self._received // self.format.sample_width) * 1000 / self.format.rate

    @property
    def in_speech(self) -> bool:
        """Whether a turn is on (speech started and not yet stopped)."""
        return self._in_turn

    def idle_from(self, ms: float) -> None:
        """Arm the idle timeout from audio offset ``ms`` (it may lie ahead of :attr:`position_ms`).

        Only ``server_vad`` with ``idle_timeout_ms`` has one; while a turn is on there is nothing to arm.
        Arming again moves the offset.
        """
        if self.config.kind == "server_vad" and self._timeout is not None and not self._in_turn and math.isfinite(ms):
            self._idle_since = max(0.0, ms)

    def reset_turn(self) -> None:
        """Forget the turn in progress (after a manual commit or clear): speech must start afresh, after now."""
        self._in_turn = False
        self._run = 0
        self._silence_needed = None
        self._floor = max(self._floor, self.position_ms)

    # --- feeding -----------------------------------------------------------------------------------

    def feed(self, audio: bytes) -> list[VadEvent]:
        """Judge ``audio`` (the next bytes the client appended) and return the events it causes, in order."""
        self._received += len(audio)
        pending = self._pending
        pending += audio
        unit = self._frame_samples * self.format.sample_width
        whole = len(pending) - len(pending) % unit
        if not whole:
            return []
        pcm = decode(bytes(pending[:whole]), self.format)
        del pending[:whole]
        events: list[VadEvent] = []
        threshold = self._min_rms
        for level in frame_levels(pcm, self._frame_samples):
            self._judge(level > 0 and level >= threshold, events)
        return events

    def _judge(self, speech: bool, events: list[VadEvent]) -> None:
        self._frames += 1
        end = self._frames * self._frame_ms
        if self._in_turn:
            if speech:
                self._last_speech_end = end
                self._silence_needed = None
                return
            if self._silence_needed is None:
                self._silence_needed = self._wait()
            if end - self._last_speech_end >= self._silence_needed:
                stop = self._last_speech_end + self._silence_needed
                events.append(SpeechStopped(round(stop)))
                self._in_turn = False
                self._run = 0
                self._silence_needed = None
                self._floor = stop
            return
        self._run = self._run + 1 if speech else 0
        if self._run >= ONSET_FRAMES:
            first = end - ONSET_FRAMES * self._frame_ms
            begin = max(first - self._padding, self._floor, 0.0)
            events.append(SpeechStarted(math.ceil(begin - 1e-9)))
            self._in_turn = True
            self._last_speech_end = end
            self._idle_since = None
            return
        timeout = self._timeout
        if self._idle_since is not None and timeout is not None and end >= self._idle_since + timeout:
            events.append(TimeoutTriggered(round(self._idle_since), round(end)))
            self._idle_since = None
            self._floor = max(self._floor, end)

    def _wait(self) -> int:
        if self.config.kind == "server_vad":
            return self._silence
        hint = self._transcript() if self._transcript is not None else None
        return semantic_silence_ms(self.config.eagerness_level, hint)
