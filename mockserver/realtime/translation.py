"""The translation engine: one translation session, client events in, server events out (no sockets, no sleep).

What it does (SESSION_TRUTH §5; openai-python 3.57's ``realtime_translation_*`` types):

- ``session.created`` first (:meth:`TranslationEngine.start`); ``session.update`` merges the updatable
  fields (``audio.input.transcription``, ``audio.input.noise_reduction``, ``audio.output.language``) over the
  session and answers ``session.updated`` (a ``noise_reduction`` without ``strength`` keeps the current one).
- Appended audio (24 kHz PCM16 mono) is consumed in 200 ms frames: shorter appends wait for the rest of a
  frame, longer ones are split. ``elapsed_ms`` is model time: 200 ms per input frame.
- Turn detection (``server_vad`` at its defaults: ``vad.TurnDetector``) finds speech in the input. When an
  utterance ends (or the session closes during one) the engine emits what was said and its translation:
  ``session.input_transcript.delta`` per word (only with ``audio.input.transcription`` set; the words spread
  over the frames of the speech), then per 200 ms frame of translated speech the
  ``session.output_transcript.delta`` of the words that begin in it and one ``session.output_audio.delta``
  (base64 PCM16, 24000 Hz, 1 channel), the transcript and audio of a frame sharing its ``elapsed_ms``. The
  translated speech plays after the previous one (output time never runs backwards).
- What the user said is the scope's next scripted transcript (``/__mock/transcripts``), else generated
  words (about 2.5 a second of speech); the translation is :class:`~.languages.Interpreter`'s.
- ``session.close`` flushes the pending audio, ends an utterance in progress, then ``session.closed``.
- A bad event gets one ``error`` event (``events.error_event``); the session goes on.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..defaults import translation_session
from ..errors import OpenAIError
from ..ids import IdFactory
from .audio import AudioFormat, base64_text, bytes_for_ms, format_of, synthesize
from .engine import Observer
from .events import EventError, error_event
from .languages import Interpreter
from .script import Script
from .text import Phrases, deltas
from .translation_events import TranslationSessionUpdateEvent, parse_translation_event
from .vad import SpeechStarted, SpeechStopped, TurnDetection, TurnDetector

__all__ = [
    "FRAME_BYTES",
    "FRAME_MS",
    "OUTPUT_FORMAT",
    "TranslationEngine",
    "merge_update",
]

#: The engine consumes input, and produces output, in frames of this length.
FRAME_MS = 200
#: What the WebSocket takes and gives: raw 24 kHz PCM16 mono.
PCM24: AudioFormat = format_of({"type": "audio/pcm", "rate": 24000})
FRAME_BYTES = bytes_for_ms(FRAME_MS, PCM24)
#: The fields of every ``session.output_audio.delta`` besides ``delta`` and ``elapsed_ms``.
OUTPUT_FORMAT = {"sample_rate": 24000, "channels": 1, "format": "pcm16"}
#: Turn detection on the input: ``server_vad`` with the defaults of a realtime session (threshold 0.5,
#: 300 ms of prefix padding, 200 ms of silence ends a turn).
SOURCE_VAD = TurnDetection("server_vad")
#: The voice of the translated speech.
VOICE = "alloy"


@dataclass
class _Utterance:
    start_ms: int
    #: The scope's scripted transcript, taken when the speech started (``None``: generate words).
    transcript: str | None


@dataclass
class TranslationEngine:
    """One translation session: its configuration, the input frames, the speech in them, the output timeline."""

    session: dict[str, Any]
    #: The session as requested (what was set), so ``session.update`` merges over it.
    request: dict[str, Any]
    ids: IdFactory
    interpreter: Interpreter
    phrases: Phrases
    script: Script
    #: The server's clock (epoch seconds): the session ends at its ``expires_at``.
    now: Callable[[], float] | None = None

    closed: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self._detector = TurnDetector(SOURCE_VAD, PCM24, transcript=self._peek)
        self._pending = bytearray()
        self._frames = 0
        self._utterance: _Utterance | None = None
        self._out_ms = 0
        self._said_before = False
        self._translated_before = False

    # --- life cycle ----------------------------------------------------------------------------------------

    def start(self) -> list[dict[str, Any]]:
        """The first server event: ``session.created``."""
        return [self._event("session.created", session=copy.deepcopy(self.session))]

    def expired(self) -> bool:
        return self.now is not None and self.now() >= self.session["expires_at"]

    def expire(self) -> list[dict[str, Any]]:
        """The session hit its time limit: one ``session_expired`` error; the transport then closes."""
        if self.closed:
            return []
        self.closed = True
        error = OpenAIError(400, "Your session hit the maximum duration of 60 minutes.", code="session_expired")
        return [error_event(self.ids.event_id(), error, None)]

    def receive(self, frame: str | bytes, observe: Observer | None = None) -> list[dict[str, Any]]:
        """The server events one client frame causes (``observe`` sees the frame and what it parsed to)."""
        if self.closed:
            return []
        if self.expired():
            return self.expire()
        try:
            event = parse_translation_event(frame)
        except EventError as exc:
            if observe is not None:
                observe(frame, None)
            return [error_event(self.ids.event_id(), exc.error, exc.client_event_id)]
        if isinstance(event, TranslationSessionUpdateEvent):
            if observe is not None:
                observe(frame, event.model_dump(exclude_unset=True))
            return self._update(event.session.model_dump(exclude_unset=True))
        if event.type == "session.close":
            if observe is not None:
                observe(frame, {"type": event.type, "event_id": event.event_id})
            return self.finish()
        if observe is not None:
            observe(frame, {"type": event.type, "event_id": event.event_id, "audio": event.audio_bytes})
        return self.feed(event.audio_bytes)

    def finish(self) -> list[dict[str, Any]]:
        """``session.close``: the pending audio is flushed, an utterance in progress ends, ``session.closed``."""
        events: list[dict[str, Any]] = []
        if self._pending:
            events += self._frame(bytes(self._pending))
            self._pending.clear()
        if self._utterance is not None:
            events += self._end_utterance(round(self._detector.position_ms))
        events.append(self._event("session.closed"))
        self.closed = True
        return events

    # --- session.update ----------------------------------------------------------------------------------------

    def _update(self, changes: Mapping[str, Any]) -> list[dict[str, Any]]:
        self.request = merge_update(self.request, changes)
        expires_at = self.session["expires_at"]
        self.session = translation_session(self.request, self.session["id"], expires_at)
        return [self._event("session.updated", session=copy.deepcopy(self.session))]

    # --- audio in ------------------------------------------------------------------------------------------------

    def feed(self, audio: bytes) -> list[dict[str, Any]]:
        """Appended audio: every whole 200 ms frame is consumed now, the rest waits for more."""
        pending = self._pending
        pending += audio
        events: list[dict[str, Any]] = []
        consumed = 0
        while len(pending) - consumed >= FRAME_BYTES:
            events += self._frame(bytes(pending[consumed : consumed + FRAME_BYTES]))
            consumed += FRAME_BYTES
        del pending[:consumed]
        return events

    def _frame(self, frame: bytes) -> list[dict[str, Any]]:
        self._frames += 1
        events: list[dict[str, Any]] = []
        for vad in self._detector.feed(frame):
            if isinstance(vad, SpeechStarted):
                self._utterance = _Utterance(vad.audio_start_ms, self.script.next_transcript())
            elif isinstance(vad, SpeechStopped) and self._utterance is not None:
                events += self._end_utterance(vad.audio_end_ms)
        return events

    @property
    def elapsed_ms(self) -> int:
        """Model time: 200 ms per input frame consumed."""
        return self._frames * FRAME_MS

    def _peek(self) -> str | None:
        return self._utterance.transcript if self._utterance is not None else None

    # --- an utterance out ------------------------------------------------------------------------------------

    def _end_utterance(self, end_ms: int) -> list[dict[str, Any]]:
        utterance, self._utterance = self._utterance, None
        if utterance is None:
            return []
        speech_ms = max(end_ms - utterance.start_ms, 0)
        said = utterance.transcript if utterance.transcript is not None else self.phrases.transcript(speech_ms)
        events: list[dict[str, Any]] = []
        if self.session["audio"]["input"]["transcription"] is not None:
            events += self._input_transcript(said, utterance.start_ms, speech_ms)
        self._said_before = self._said_before or bool(said)
        events += self._translation(len(said.split()))
        return events

    def _input_transcript(self, said: str, start_ms: int, speech_ms: int) -> list[dict[str, Any]]:
        """One delta per word, each at the input frame its word falls in (the words spread over the speech)."""
        text = said if not self._said_before or said[:1].isspace() else " " + said
        pieces = deltas(text)
        events = []
        for index, piece in enumerate(pieces):
            at = start_ms + speech_ms * index / max(len(pieces), 1)
            elapsed = min((int(at) // FRAME_MS + 1) * FRAME_MS, self.elapsed_ms)
            events.append(self._event("session.input_transcript.delta", delta=piece, elapsed_ms=elapsed))
        return events

    def _translation(self, word_count: int) -> list[dict[str, Any]]:
        """The translated sentence, as 200 ms frames of speech with the transcript of the words in each."""
        words = self.interpreter.sentence(
            self.session["audio"]["output"]["language"], word_count, first=not self._translated_before
        )
        self._translated_before = True
        speech = synthesize(words.speech_text, PCM24, voice=VOICE)
        starts = [span.start for span in speech.words]
        start = max(self._out_ms, self.elapsed_ms)
        frames = max(1, -(-len(speech.audio) // FRAME_BYTES))
        events: list[dict[str, Any]] = []
        sent = 0
        for index in range(frames):
            elapsed = start + (index + 1) * FRAME_MS
            end = (index + 1) * FRAME_BYTES
            while sent < len(words.deltas) and (index == frames - 1 or starts[sent] < end):
                events.append(
                    self._event("session.output_transcript.delta", delta=words.deltas[sent], elapsed_ms=elapsed)
                )
                sent += 1
            audio = speech.audio[index * FRAME_BYTES : end]
            if audio:
                delta = base64_text(audio)
                events.append(
                    self._event("session.output_audio.delta", delta=delta, **OUTPUT_FORMAT, elapsed_ms=elapsed)
                )
        self._out_ms = start + frames * FRAME_MS
        return events

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "event_id": self.ids.event_id(), **fields}


def merge_update(request: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``session.update``'s ``changes`` over the session as requested.

    ``audio.input`` and ``audio.output`` merge key by key; ``noise_reduction`` merges too ("Omitting strength
    from a session update preserves the current strength", SDK 3.57); ``null`` turns a setting off.
    """
    merged = copy.deepcopy(dict(request))
    audio_changes = changes.get("audio") or {}
    audio = merged.get("audio") or {}
    merged["audio"] = audio
    for side, sent in audio_changes.items():
        current = dict(audio.get(side) or {})
        for key, value in sent.items():
            previous = current.get(key)
            if key == "noise_reduction" and isinstance(value, Mapping) and isinstance(previous, Mapping):
                current[key] = {**previous, **value}
            else:
                current[key] = value
        audio[side] = current
    return merged
