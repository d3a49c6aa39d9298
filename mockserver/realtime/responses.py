"""One response of the "model": what it says and calls (a :class:`Plan`), streamed as production streams it.

The event order follows SESSION_TRUTH §2a-2c: ``response.created``; per output item ``output_item.added``,
``conversation.item.added``, the content part and its deltas (text, or audio transcript interleaved with
audio), the ``*.done`` events, ``conversation.item.done`` before ``response.output_item.done``; then
``response.done`` and ``rate_limits.updated``.

A response stops early in two ways: a cancel (``response.cancel``, or speech that interrupts it) flushes
the open ``*.done`` events and ends ``cancelled`` with only what was streamed; ``max_output_tokens`` cuts
the plan before streaming and ends ``incomplete``.
"""

from __future__ import annotations

import asyncio
import copy
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..waits import sleep_on, wake
from .audio import AudioFormat, Speech, base64_text, chunks, format_of, ms_for_bytes, synthesize
from .conversation import Conversation, Item, SpokenWord
from .script import Plan, ToolCall
from .text import argument_deltas, deltas, obfuscation, text_tokens

__all__ = [
    "AUDIO_TOKENS_PER_SECOND",
    "TEXT_DELTA_SECONDS",
    "MediaOutput",
    "Response",
    "ResponseStream",
    "Usage",
]

#: Output audio is billed at about 20 tokens a second (SESSION_TRUTH §4).
AUDIO_TOKENS_PER_SECOND = 20
#: Paced text streams one delta per this many seconds (times the pace); audio is paced by its own length.
TEXT_DELTA_SECONDS = 0.05
#: The transcript runs this many words ahead of the audio (SESSION_TRUTH §2b).
TRANSCRIPT_LEAD = 2
#: The longest audio delta; deltas are also cut where words begin, so their sizes vary (SESSION_TRUTH §4).
AUDIO_DELTA_MS = 200
#: A rate limit window for ``rate_limits.updated`` (P2 saw limit 40000).
TOKENS_LIMIT = 40_000

Emit = Callable[..., Awaitable[None]]


class MediaOutput(Protocol):
    """Where reply audio goes when it does not travel in events (a WebRTC track)."""

    async def play(self, response_id: str, audio: bytes, fmt: AudioFormat) -> None:
        """Queue one chunk of the reply's audio for playback."""

    async def finish(self, response_id: str) -> None:
        """The response has sent all its audio."""

    async def clear(self, response_id: str) -> None:
        """Drop what has not been played yet (an interruption)."""


@dataclass
class Usage:
    """Token counts of one response, in production's ``usage`` shape."""

    input_text: int = 0
    input_audio: int = 0
    cached_text: int = 0
    output_text: int = 0
    output_audio: int = 0

    @property
    def input_tokens(self) -> int:
        return self.input_text + self.input_audio

    @property
    def output_tokens(self) -> int:
        return self.output_text + self.output_audio

    def to_json(self) -> dict[str, Any]:
        return {
            "total_tokens": self.input_tokens + self.output_tokens,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "input_token_details": {
                "text_tokens": self.input_text,
                "audio_tokens": self.input_audio,
                "image_tokens": 0,
                "cached_tokens": self.cached_text,
                "cached_tokens_details": {"text_tokens": self.cached_text, "audio_tokens": 0, "image_tokens": 0},
            },
            "output_token_details": {"text_tokens": self.output_text, "audio_tokens": self.output_audio},
        }


@dataclass(eq=False)
class Response:
    """A response's settings and progress (compared and hashed by identity)."""

    id: str
    #: ``None`` for an out-of-band response (``conversation: "none"``).
    conversation_id: str | None
    modalities: list[str]
    max_output_tokens: int | str
    output_format: dict[str, Any]
    voice: str
    speed: float
    metadata: dict[str, str] | None
    plan: Plan
    usage: Usage = field(default_factory=Usage)
    status: str = "in_progress"
    status_details: dict[str, Any] | None = None
    output: list[dict[str, Any]] = field(default_factory=list)
    cancel_reason: str | None = None
    #: The stream's wait for its pace (a bare future its timer resolves), ended at once by :meth:`cancel`.
    pace_waiter: asyncio.Future[None] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    #: Milliseconds of audio this response produced (for idle timeouts and truncation).
    audio_ms: float = 0.0
    task: asyncio.Task[None] | None = None

    @property
    def audio(self) -> bool:
        return "audio" in self.modalities

    @property
    def in_conversation(self) -> bool:
        return self.conversation_id is not None

    def cancel(self, reason: str) -> bool:
        """Ask the stream to stop; ``False`` when it already finished or was already cancelled."""
        if self.done.is_set() or self.cancel_reason is not None:
            return False
        self.cancel_reason = reason
        if self.pace_waiter is not None:
            wake(self.pace_waiter)
        return True

    def resource(self) -> dict[str, Any]:
        """The ``response`` object of ``response.created`` / ``response.done`` (GA key order)."""
        return {
            "object": "realtime.response",
            "id": self.id,
            "status": self.status,
            "status_details": copy.deepcopy(self.status_details),
            "output": copy.deepcopy(self.output),
            "conversation_id": self.conversation_id,
            "output_modalities": list(self.modalities),
            "max_output_tokens": self.max_output_tokens,
            "audio": {"output": {"format": dict(self.output_format), "voice": self.voice}},
            "usage": self.usage.to_json() if self.status != "in_progress" else None,
            "metadata": copy.deepcopy(self.metadata),
        }


class _StoppedError(Exception):
    """Raised inside the stream when the response is cancelled."""


class ResponseStream:
    """Streams one :class:`Response` through ``emit`` into ``conversation``.

    ``new_id(prefix)`` makes item and call ids; ``pace`` is the ``--realtime-pace`` factor (0: as fast as
    possible, 1: audio at playback speed); ``media`` takes the audio instead of ``response.output_audio.delta``
    events (WebRTC), in ``audio_format`` (the track's) rather than the response's output format.
    """

    def __init__(
        self,
        response: Response,
        *,
        emit: Emit,
        conversation: Conversation,
        new_id: Callable[[str], str],
        rng: random.Random,
        pace: float,
        media: MediaOutput | None = None,
        audio_format: AudioFormat | None = None,
    ) -> None:
        self.response = response
        self.emit = emit
        self.conversation = conversation
        self.new_id = new_id
        self.rng = rng
        self.pace = pace
        self.media = media
        self.audio_format = audio_format
        self._budget: float = float("inf") if response.max_output_tokens == "inf" else float(response.max_output_tokens)
        self._cut = False
        self._clock_start = 0.0
        self._paced_seconds = 0.0
        self._open: _OpenItem | None = None

    # --- the whole response ------------------------------------------------------------------------

    async def begin(self) -> None:
        """``response.created``: sent before the client's next event is handled, as production does."""
        self._clock_start = asyncio.get_running_loop().time()
        await self.emit("response.created", response=self.response.resource())

    async def run(self) -> None:
        """The rest of the response, after :meth:`begin`: its items, ``response.done`` and the rate limits."""
        response = self.response
        try:
            index = 0
            if response.plan.text is not None:
                await self._message(index, response.plan.text)
                index += 1
            for call in response.plan.tool_calls:
                if self._cut:
                    break
                await self._function_call(index, call)
                index += 1
        except _StoppedError:
            await self._flush()
            response.status = "cancelled"
            response.status_details = {"type": "cancelled", "reason": response.cancel_reason}
        else:
            if self._cut:
                response.status = "incomplete"
                response.status_details = {"type": "incomplete", "reason": "max_output_tokens"}
            else:
                response.status = "completed"
        if self.media is not None and response.audio:
            if response.status == "cancelled":
                await self.media.clear(response.id)
            else:
                await self.media.finish(response.id)
        response.done.set()
        await self.emit("response.done", response=response.resource())
        used = response.usage.input_tokens + response.usage.output_tokens
        await self.emit(
            "rate_limits.updated",
            rate_limits=[
                {
                    "name": "tokens",
                    "limit": TOKENS_LIMIT,
                    "remaining": max(TOKENS_LIMIT - used, 0),
                    "reset_seconds": round(used / TOKENS_LIMIT * 60, 3),
                }
            ],
        )

    # --- pacing and cancellation ----------------------------------------------------------------------

    async def _step(self, paced_seconds: float = 0.0) -> None:
        """A point where the stream yields: it waits out the pace and stops if the response was cancelled."""
        if self.response.cancel_reason is not None:
            raise _StoppedError
        self._paced_seconds += paced_seconds * self.pace
        loop = asyncio.get_running_loop()
        delay = self._clock_start + self._paced_seconds - loop.time()
        if delay > 0:
            # A wait that ``cancel`` ends early (``waits``): no task or timeout for every delta.
            self.response.pace_waiter = loop.create_future()
            try:
                await sleep_on(self.response.pace_waiter, delay)
            finally:
                self.response.pace_waiter = None
        else:
            await asyncio.sleep(0)
        if self.response.cancel_reason is not None:
            raise _StoppedError

    # --- a message (text, or audio with its transcript) ----------------------------------------------

    async def _message(self, index: int, text: str) -> None:
        response = self.response
        item = Item(
            {"id": self.new_id("item"), "type": "message", "status": "in_progress", "role": "assistant", "content": []}
        )
        opened = _OpenItem(item, index, kind="message")
        self._open = opened
        await self._item_added(opened)
        where = {"response_id": response.id, "item_id": item.id, "output_index": index, "content_index": 0}
        opened.where = where
        part: dict[str, Any] = {"type": "audio", "transcript": ""} if response.audio else {"type": "text", "text": ""}
        await self.emit("response.content_part.added", **where, part=part)
        opened.part_open = True

        if response.audio:
            fmt = self.audio_format or format_of(response.output_format)
            speech = synthesize(text, fmt, speed=response.speed, voice=response.voice)
            costs = [ms_for_bytes(span.end - span.start, fmt) for span in speech.words]
            kept = self._fit([span.text for span in speech.words], costs)
            if kept < len(speech.words):
                end = speech.words[kept].start
                speech = Speech(speech.audio[:end], fmt, speech.words[:kept])
            opened.fmt = fmt
            await self._stream_audio(opened, speech)
        else:
            words = deltas(text)
            kept = self._fit(words, [0.0] * len(words))
            for word in words[:kept]:
                await self._step(TEXT_DELTA_SECONDS)
                await self.emit("response.output_text.delta", **where, delta=word, obfuscation=obfuscation(self.rng))
                opened.text += word
                response.usage.output_text += text_tokens(word)
        await self._close_message(opened, status="incomplete" if self._cut else "completed")

    def _fit(self, words: Sequence[str], audio_ms: Sequence[float]) -> int:
        """How many words fit in what is left of ``max_output_tokens``; marks the response cut short."""
        kept = 0
        for word, ms in zip(words, audio_ms, strict=True):
            cost = text_tokens(word) + round(ms / 1000 * AUDIO_TOKENS_PER_SECOND)
            if cost > self._budget:
                self._cut = True
                break
            self._budget -= cost
            kept += 1
        return kept

    async def _stream_audio(self, opened: _OpenItem, speech: Speech) -> None:
        """Transcript deltas run ``TRANSCRIPT_LEAD`` words ahead of the audio; audio is paced by its length."""
        response = self.response
        fmt = speech.format
        words = list(speech.words)
        sent = 0
        begun = 0  # words that begin in the chunks sent so far
        for chunk in chunks(speech, AUDIO_DELTA_MS):
            begun += len(chunk.words)
            while sent < min(begun + TRANSCRIPT_LEAD - 1, len(words)):
                await self._transcript_delta(opened, words[sent].text)
                sent += 1
            await self._step()
            ms = ms_for_bytes(len(chunk.audio), fmt)
            if self.media is None:
                await self.emit("response.output_audio.delta", **opened.where, delta=base64_text(chunk.audio))
            else:
                await self.media.play(response.id, chunk.audio, fmt)
            opened.audio += chunk.audio
            opened.audio_ms += ms
            response.audio_ms += ms
            response.usage.output_audio += round(ms / 1000 * AUDIO_TOKENS_PER_SECOND)
            # Pace by the audio just sent: the next chunk is due when this one has played.
            self._paced_seconds += ms / 1000 * self.pace
        while sent < len(words):
            await self._transcript_delta(opened, words[sent].text)
            sent += 1
        opened.words = [
            SpokenWord(span.text, ms_for_bytes(span.start, fmt), ms_for_bytes(span.end, fmt)) for span in words
        ]

    async def _transcript_delta(self, opened: _OpenItem, word: str) -> None:
        await self._step()
        await self.emit(
            "response.output_audio_transcript.delta", **opened.where, delta=word, obfuscation=obfuscation(self.rng)
        )
        opened.text += word
        self.response.usage.output_text += text_tokens(word)

    async def _close_message(self, opened: _OpenItem, status: str) -> None:
        response = self.response
        where = opened.where
        item = opened.item
        if response.audio:
            await self.emit("response.output_audio.done", **where)
            await self.emit("response.output_audio_transcript.done", **where, transcript=opened.text)
            part: dict[str, Any] = {"type": "audio", "transcript": opened.text}
            content: dict[str, Any] = {"type": "output_audio", "transcript": opened.text}
        else:
            await self.emit("response.output_text.done", **where, text=opened.text)
            part = {"type": "text", "text": opened.text}
            content = {"type": "output_text", "text": opened.text}
        await self.emit("response.content_part.done", **where, part=part)
        opened.part_open = False
        item.data["status"] = status
        item.data["content"] = [content]
        item.audio = bytes(opened.audio)
        item.audio_ms = opened.audio_ms
        item.words = tuple(opened.words)
        await self._item_done(opened)

    # --- a function call ---------------------------------------------------------------------------------

    async def _function_call(self, index: int, call: ToolCall) -> None:
        response = self.response
        cost = text_tokens(call.arguments) + 1
        if cost > self._budget:
            self._cut = True
            return
        self._budget -= cost
        call_id = call.call_id or self.new_id("call")
        item = Item(
            {
                "id": self.new_id("item"),
                "type": "function_call",
                "status": "in_progress",
                "name": call.name,
                "call_id": call_id,
                "arguments": "",
            }
        )
        opened = _OpenItem(item, index, kind="function_call")
        self._open = opened
        await self._item_added(opened)
        where = {"response_id": response.id, "item_id": item.id, "output_index": index, "call_id": call_id}
        for piece in argument_deltas(call.arguments):
            await self._step(TEXT_DELTA_SECONDS)
            await self.emit("response.function_call_arguments.delta", **where, delta=piece)
            opened.text += piece
        response.usage.output_text += cost
        await self.emit("response.function_call_arguments.done", **where, name=call.name, arguments=call.arguments)
        item.data["status"] = "completed"
        item.data["arguments"] = call.arguments
        await self._item_done(opened)

    # --- shared by both kinds of item ----------------------------------------------------------------------

    async def _item_added(self, opened: _OpenItem) -> None:
        response = self.response
        item = opened.item
        await self.emit(
            "response.output_item.added", response_id=response.id, output_index=opened.index, item=item.view()
        )
        if response.in_conversation:
            previous = self.conversation.add(item)
            opened.previous_item_id = previous
            await self.emit("conversation.item.added", previous_item_id=previous, item=item.view())

    async def _item_done(self, opened: _OpenItem) -> None:
        response = self.response
        item = opened.item
        if response.in_conversation and self.conversation.find(item.id) is not None:
            await self.emit("conversation.item.done", previous_item_id=opened.previous_item_id, item=item.view())
        await self.emit(
            "response.output_item.done", response_id=response.id, output_index=opened.index, item=item.view()
        )
        response.output.append(item.view())
        self._open = None

    async def _flush(self) -> None:
        """After a cancel: close what is open with what was streamed, as production flushes its ``*.done``."""
        opened = self._open
        if opened is None:
            return
        if opened.kind == "message":
            if opened.part_open:
                await self._close_message(opened, status="incomplete")
            else:
                opened.item.data["status"] = "incomplete"
                await self._item_done(opened)
            return
        item = opened.item
        item.data["status"] = "incomplete"
        item.data["arguments"] = opened.text
        await self._item_done(opened)


@dataclass
class _OpenItem:
    """An output item whose ``*.done`` events are still to be sent."""

    item: Item
    index: int
    kind: str
    previous_item_id: str | None = None
    where: dict[str, Any] = field(default_factory=dict)
    part_open: bool = False
    text: str = ""
    audio: bytearray = field(default_factory=bytearray)
    audio_ms: float = 0.0
    words: list[SpokenWord] = field(default_factory=list)
    fmt: AudioFormat | None = None
