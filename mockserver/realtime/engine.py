"""The conversation engine: one Realtime session, whatever carries it (WebSocket or WebRTC data channel).

A transport hands the engine each client frame (:meth:`RealtimeEngine.receive`) and, for a media track,
decoded microphone audio (:meth:`RealtimeEngine.feed_audio`); the engine answers through ``emit`` (one
server event at a time, in order) and, for WebRTC, plays reply audio on a :class:`MediaOutput`.

What it does, and where the facts come from (SESSION_TRUTH.md):
- client events are validated (``events.parse_client_event``); a bad one gets one ``error`` event (§3);
- appended audio feeds turn detection (``vad.TurnDetector``): speech_started / speech_stopped, the commit,
  the user item, input transcription, an automatic response, barge-in, idle timeouts (§2d-2g);
- responses are planned (a script's reply rule, or a generated sentence / tool call) and streamed by
  ``responses.ResponseStream`` with audible audio (§2a-2c, 2h-2j);
- conversation item operations (§2m) and truncation against the audio actually produced (§2e).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import random
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..defaults import realtime_session, transcription_session
from ..errors import OpenAIError
from ..ids import IdFactory
from ..store import StoreUnavailableError
from .audio import AudioFormat, bytes_for_ms, format_of, ms_for_bytes
from .conversation import Conversation, Item
from .events import EventError, parse_client_event
from .events import error_event as _error_payload
from .responses import MediaOutput, Response, ResponseStream
from .script import NoScript, Plan, ReplyContext, Script, ScriptError, ToolCall
from .text import Phrases, arguments_for, deltas, dump_arguments, obfuscation, text_tokens
from .vad import SpeechStarted, SpeechStopped, TimeoutTriggered, TurnDetection, TurnDetector, VadEvent

__all__ = [
    "MIN_COMMIT_MS",
    "SESSION_SECONDS",
    "Emit",
    "Observer",
    "RealtimeEngine",
]

#: A Realtime session lasts 60 minutes (GROUND_TRUTH §7).
SESSION_SECONDS = 3600
#: The least audio a commit accepts (SESSION_TRUTH §4).
MIN_COMMIT_MS = 100
#: Audio kept before speech while no turn is in progress, beyond ``prefix_padding_ms``.
_PREFIX_MARGIN_MS = 1000
#: The input buffer never holds more than this much audio; older audio falls out first.
MAX_BUFFER_MS = 20 * 60 * 1000
#: Input transcription billed at about 10 audio tokens a second (SESSION_TRUTH §4).
INPUT_AUDIO_TOKENS_PER_SECOND = 10

Emit = Callable[..., Awaitable[None]]
#: Sees each client frame and the event it parsed to (``None`` when it did not).
Observer = Callable[[str | bytes, dict[str, Any] | None], None]


def _invalid(message: str, code: str | None, param: str | None = None) -> OpenAIError:
    return OpenAIError(400, message, param=param, code=code)


@dataclass
class _Turn:
    """A turn of speech in progress (server or semantic VAD)."""

    item_id: str
    audio_start_ms: int


@dataclass
class _Idle:
    """An armed idle timeout (server_vad ``idle_timeout_ms``)."""

    from_ms: float
    timer: asyncio.TimerHandle | None = None


@dataclass
class RealtimeEngine:
    """One session: its configuration, conversation, input audio buffer, turn detection and responses."""

    session: dict[str, Any]
    #: The session as requested (only what was set), so ``session.update`` merges over it.
    request: dict[str, Any]
    ids: IdFactory
    emit_event: Emit
    phrases: Phrases
    rng: random.Random
    pace: float = 0.0
    script: Script = field(default_factory=NoScript)
    media: MediaOutput | None = None
    #: Called when the session must end (``session.close``, the 60-minute cap); the transport closes its side.
    on_close: Callable[[], Awaitable[None]] | None = None
    #: The server's clock (epoch seconds): the session ends at its ``expires_at`` on this clock.
    now: Callable[[], float] | None = None
    #: The scope of the mint that made the key (``X-Mock-Scope``): scripts and the journal follow it.
    scope: str | None = None
    #: The audio format of a media track (WebRTC), which replaces the session's configured input and output
    #: formats: the configured PCM format does not apply to the track (SESSION_TRUTH §4).
    track_format: AudioFormat | None = None

    conversation: Conversation = field(init=False)
    active: Response | None = field(init=False, default=None)
    out_of_band: set[Response] = field(init=False, default_factory=set)
    closed: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.conversation = Conversation("conv_" + self._alnum())
        self._buffer = bytearray()
        self._buffer_start_ms = 0.0
        self._audio_base_ms = 0.0
        self._turn: _Turn | None = None
        self._idle: _Idle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._responses = 0
        self._plain_position_ms = 0.0
        #: The scripted transcript of the turn in progress (taken when its speech starts).
        self._pending_transcript: str | None = None
        #: What the user "said" in audio items that were not transcribed (for reply matching).
        self._heard: dict[str, str] = {}
        self._detector: TurnDetector | None = None
        #: Every function call id of this session (made here or sent by the client): new ones never repeat them.
        self._call_ids: set[str] = set()
        self._expiry: asyncio.TimerHandle | None = None
        #: The latest response whose audio went to ``media``: what an interruption or a clear cuts off.
        self._voiced: str | None = None
        self._configure_audio()

    # --- life cycle ------------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, session: Mapping[str, Any], request: Mapping[str, Any], opened_at: float, **kwargs: Any
    ) -> RealtimeEngine:
        """An engine for a session minted (or defaulted) as ``session``, with the connection's own expiry."""
        opened = copy.deepcopy(dict(session))
        opened["expires_at"] = int(opened_at) + SESSION_SECONDS
        return cls(session=opened, request=copy.deepcopy(dict(request)), **kwargs)

    @property
    def kind(self) -> str:
        return str(self.session["type"])

    async def start(self) -> None:
        """Send ``session.created`` (the first server event) and arm the 60-minute cap."""
        await self.emit("session.created", session=copy.deepcopy(self.session))
        if self.now is not None:
            left = self.session["expires_at"] - self.now()
            self._expiry = asyncio.get_running_loop().call_later(max(left, 0), self._expire_soon)

    def _expire_soon(self) -> None:
        if not self.closed:
            self._spawn(self._expire())

    async def _expire(self) -> None:
        """The session hit its 60 minutes: one ``session_expired`` error, then the transport closes."""
        await self.error(
            OpenAIError(400, "Your session hit the maximum duration of 60 minutes.", code="session_expired")
        )
        self.closed = True
        if self.on_close is not None:
            await self.on_close()

    def expired(self) -> bool:
        return self.now is not None and self.now() >= self.session["expires_at"]

    async def close(self) -> None:
        """Stop everything in flight (the transport is going away)."""
        self.closed = True
        if self._expiry is not None:
            self._expiry.cancel()
        if self._idle is not None and self._idle.timer is not None:
            self._idle.timer.cancel()
        for response in [self.active, *self.out_of_band]:
            if response is not None:
                response.cancel("client_cancelled")
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._detector is not None:
            # The detector holds a bound method of the engine (``transcript``): a reference cycle that would keep
            # a closed session's audio alive until the cycle collector runs. Dropped, the engine is freed at once.
            self._audio_base_ms += self._detector.position_ms
            self._detector = None

    async def emit(self, kind: str, **fields: Any) -> None:
        if self.closed:
            return
        await self.emit_event({"type": kind, "event_id": self.ids.event_id(), **fields})

    async def error(self, error: OpenAIError, client_event_id: str | None = None) -> None:
        if not self.closed:
            await self.emit_event(_error_payload(self.ids.event_id(), error, client_event_id))

    # --- client events ------------------------------------------------------------------------------------

    async def receive(self, frame: str | bytes, observe: Observer | None = None) -> None:
        """Handle one client frame: its server events are emitted before this returns (responses run on).

        ``observe(frame, event)`` sees each frame before it is handled, with the event as a dict (audio as
        its size in bytes) or ``None`` when it did not parse: the transport journals it.
        """
        if self.expired():
            # The mock clock moved past the session's end (``/__mock/clock``): it ends now.
            await self._expire()
            return
        try:
            event = parse_client_event(frame)
        except EventError as exc:
            if observe is not None:
                observe(frame, None)
            await self.error(exc.error, exc.client_event_id)
            return
        if observe is not None:
            observe(frame, _observed(event))
        handler = self._handlers.get(event.type)
        if handler is None:
            return
        try:
            await handler(self, event)
        except StoreUnavailableError:
            raise  # the shared store is down: the socket answers with an error event and a 1011 close
        except OpenAIError as error:
            await self.error(error, event.event_id)
        except ScriptError as exc:
            await self.error(exc.error, event.event_id)

    async def _session_update(self, event: Any) -> None:
        changes = _as_dict(event.session)
        if changes.get("type") != self.kind:
            message = f"Invalid value: '{changes.get('type')}'. Supported values are: '{self.kind}'."
            raise _invalid(message, "invalid_value", "session.type")
        if self.kind == "realtime" and self.conversation.has_assistant_audio():
            voice = ((changes.get("audio") or {}).get("output") or {}).get("voice")
            if voice is not None and _voice_name(voice) != self.session["audio"]["output"]["voice"]:
                raise _invalid(
                    "Cannot update a conversation's voice if assistant audio is present.", "cannot_update_voice"
                )
        request = _merge(self.request, changes)
        session_id, expires_at = self.session["id"], self.session["expires_at"]
        build = realtime_session if self.kind == "realtime" else transcription_session
        self.request = request
        self.session = build(request, session_id)
        self.session["expires_at"] = expires_at
        self._configure_audio()
        await self.emit("session.updated", session=copy.deepcopy(self.session))

    async def _append(self, event: Any) -> None:
        await self.feed_audio(event.audio_bytes)

    async def _commit(self, event: Any) -> None:
        buffered_ms = ms_for_bytes(len(self._buffer), self._input_format)
        if buffered_ms < MIN_COMMIT_MS:
            raise _invalid(
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
                f"but buffer only has {buffered_ms:.2f}ms of audio.",
                "input_audio_buffer_commit_empty",
            )
        item_id = self._turn.item_id if self._turn is not None else self._new_id("item")
        self._turn = None
        if self._detector is not None:
            self._detector.reset_turn()
        audio = bytes(self._buffer)
        self._buffer_start_ms += buffered_ms
        self._buffer.clear()
        transcript, self._pending_transcript = self._pending_transcript, None
        await self._commit_item(item_id, audio, respond=False, transcript=transcript)

    async def _clear(self, event: Any) -> None:
        self._buffer_start_ms += ms_for_bytes(len(self._buffer), self._input_format)
        self._buffer.clear()
        self._turn = None
        if self._detector is not None:
            self._detector.reset_turn()
        await self.emit("input_audio_buffer.cleared")

    async def _output_clear(self, event: Any) -> None:
        """``output_audio_buffer.clear``: only WebRTC has an output buffer; over a WebSocket it is accepted."""
        if self.media is not None and self._voiced is not None:
            await self.media.clear(self._voiced)

    async def _item_create(self, event: Any) -> None:
        data = _as_dict(event.item)
        previous = getattr(event, "previous_item_id", None)
        if previous is not None and previous != "root" and self.conversation.find(previous) is None:
            raise _invalid(
                f"Error adding item: the previous item with id '{previous}' does not exist.",
                "item_create_invalid_previous_item_id",
                "previous_item_id",
            )
        item = Item(_stored_item(data, self._new_id("item")))
        if isinstance(data.get("call_id"), str):
            self._call_ids.add(data["call_id"])
        audio = _user_audio(data)
        if audio:
            item.audio = audio
            item.audio_ms = ms_for_bytes(len(audio), self._input_format)
        previous_id = self.conversation.add(item, previous)
        await self.emit("conversation.item.added", previous_item_id=previous_id, item=item.view())
        await self.emit("conversation.item.done", previous_item_id=previous_id, item=item.view())

    def _item(self, item_id: str, action: str, code: str) -> Item:
        item = self.conversation.find(item_id)
        if item is None:
            raise _invalid(f"Error {action} item: the item with id '{item_id}' does not exist.", code)
        return item

    async def _item_delete(self, event: Any) -> None:
        item = self._item(event.item_id, "deleting", "item_delete_invalid_item_id")
        self.conversation.delete(item.id)
        await self.emit("conversation.item.deleted", item_id=item.id)

    async def _item_retrieve(self, event: Any) -> None:
        item = self._item(event.item_id, "retrieving", "item_retrieve_invalid_item_id")
        view = item.view()
        if item.audio:
            for part in view.get("content") or []:
                if part.get("type") in ("input_audio", "output_audio"):
                    part["audio"] = base64.b64encode(item.audio).decode("ascii")
                    break
        await self.emit("conversation.item.retrieved", item=view)

    async def _item_truncate(self, event: Any) -> None:
        item = self._item(event.item_id, "truncating", "item_truncate_invalid_item_id")
        content = item.data.get("content") or []
        index = event.content_index
        part = content[index] if item.data.get("role") == "assistant" and index < len(content) else None
        if part is None or part.get("type") != "output_audio":
            raise _invalid("Only model output audio messages can be truncated", "unsupported_content_type")
        audio_end_ms = event.audio_end_ms
        if audio_end_ms > item.audio_ms:
            raise _invalid(
                f"Audio content of {round(item.audio_ms)}ms is already shorter than {audio_end_ms}ms",
                "invalid_value",
                "audio_end_ms",
            )
        fmt = self._output_format
        item.audio = item.audio[: bytes_for_ms(audio_end_ms, fmt)]
        item.audio_ms = float(audio_end_ms)
        # The unheard part of the transcript is deleted with the audio (SESSION_TRUTH §2e).
        heard = tuple(word for word in item.words if word.start_ms < audio_end_ms)
        item.words = heard
        part["transcript"] = "".join(word.text for word in heard)
        await self.emit("conversation.item.truncated", item_id=item.id, content_index=index, audio_end_ms=audio_end_ms)

    async def _response_create(self, event: Any) -> None:
        options = _as_dict(getattr(event, "response", None))
        if self.kind != "realtime":
            raise _invalid(
                "Responses are not supported in transcription sessions: they transcribe audio and never respond.",
                "response_create_not_supported",
            )
        out_of_band = options.get("conversation") == "none"
        if not out_of_band and self.active is not None:
            raise _invalid(
                f"Conversation already has an active response in progress: {self.active.id}. Wait until the "
                "response is finished before creating a new one.",
                "conversation_already_has_active_response",
            )
        context = self._context(options.get("input"))
        response = self._new_response(options, context, out_of_band)
        await self._start(response)

    async def _response_cancel(self, event: Any) -> None:
        wanted = getattr(event, "response_id", None)
        running = [r for r in (self.active, *self.out_of_band) if r is not None and not r.done.is_set()]
        if wanted is not None:
            target = next((r for r in running if r.id == wanted), None)
            if target is None and running:
                raise _invalid(f"Response ID '{wanted}' does not match current response", "response_cancel_not_active")
        else:
            target = self.active if self.active is not None and not self.active.done.is_set() else None
        if target is None or not target.cancel("client_cancelled"):
            raise _invalid("Cancellation failed: no active response found", "response_cancel_not_active")
        await self._settle(target)

    async def _session_close(self, event: Any) -> None:
        if self.on_close is not None:
            await self.on_close()

    _handlers: ClassVar[dict[str, Callable[[RealtimeEngine, Any], Awaitable[None]]]] = {}

    # --- audio in, turn detection -------------------------------------------------------------------------

    def _configure_audio(self) -> None:
        audio = self.session["audio"]
        self._input_format: AudioFormat = self.track_format or format_of(audio["input"]["format"])
        output = audio.get("output")
        self._output_format: AudioFormat = self.track_format or format_of(
            output["format"] if output else audio["input"]["format"]
        )
        config = TurnDetection.from_session(audio["input"].get("turn_detection"))
        if self._detector is not None:
            self._audio_base_ms += self._detector.position_ms
        self._turn = None
        self._detector = TurnDetector(config, self._input_format, transcript=self._peek_transcript) if config else None
        self._config = config

    def _peek_transcript(self) -> str | None:
        return self._pending_transcript

    @property
    def position_ms(self) -> float:
        """Audio time appended so far in this session (cumulative, never reset)."""
        if self._detector is not None:
            return self._audio_base_ms + self._detector.position_ms
        return self._audio_base_ms + self._plain_position_ms

    async def feed_audio(self, audio: bytes, fmt: AudioFormat | None = None) -> None:
        """Appended audio (from ``input_audio_buffer.append`` or a media track), in the input format."""
        if not audio:
            return
        self._buffer += audio
        self._bound_buffer()
        if self._detector is None:
            self._plain_position_ms += ms_for_bytes(len(audio), self._input_format)
            return
        for vad_event in self._detector.feed(audio):
            await self._on_vad(vad_event)
        if self._turn is None and self._config is not None:
            keep_ms = self._config.prefix_padding_ms + _PREFIX_MARGIN_MS
            self._trim_buffer_before(self.position_ms - keep_ms)

    def _bound_buffer(self) -> None:
        limit = bytes_for_ms(MAX_BUFFER_MS, self._input_format)
        if len(self._buffer) > limit:
            self._trim_buffer_before(
                self._buffer_start_ms + ms_for_bytes(len(self._buffer) - limit, self._input_format)
            )

    def _trim_buffer_before(self, ms: float) -> None:
        if ms <= self._buffer_start_ms:
            return
        cut = min(bytes_for_ms(ms - self._buffer_start_ms, self._input_format), len(self._buffer))
        del self._buffer[:cut]
        self._buffer_start_ms += ms_for_bytes(cut, self._input_format)

    def _take_buffer(self, start_ms: float, end_ms: float) -> bytes:
        """The buffered audio from ``start_ms`` to ``end_ms`` (session time); the buffer keeps what follows."""
        fmt = self._input_format
        start = max(bytes_for_ms(max(start_ms - self._buffer_start_ms, 0), fmt), 0)
        end = min(bytes_for_ms(max(end_ms - self._buffer_start_ms, 0), fmt), len(self._buffer))
        audio = bytes(self._buffer[start:end])
        del self._buffer[:end]
        self._buffer_start_ms += ms_for_bytes(end, fmt)
        return audio

    async def _on_vad(self, vad_event: VadEvent) -> None:
        base = self._audio_base_ms
        if isinstance(vad_event, SpeechStarted):
            self._disarm_idle()
            start_ms = round(base + vad_event.audio_start_ms)
            self._turn = _Turn(self._new_id("item"), start_ms)
            if self._pending_transcript is None:
                # Taken when speech starts (semantic VAD reads it), kept until an audio item is committed.
                self._pending_transcript = self.script.next_transcript()
            await self.emit("input_audio_buffer.speech_started", audio_start_ms=start_ms, item_id=self._turn.item_id)
            interrupts = self._config is not None and self._config.interrupt_response
            if interrupts and self.active is not None and self.active.cancel("turn_detected"):
                await self._settle(self.active)
            if interrupts and self.media is not None and self._voiced is not None:
                # Generation outruns playback: a finished reply may still be playing, and is cut off too.
                await self.media.clear(self._voiced)
        elif isinstance(vad_event, SpeechStopped):
            turn = self._turn
            if turn is None:
                return
            end_ms = round(base + vad_event.audio_end_ms)
            await self.emit("input_audio_buffer.speech_stopped", audio_end_ms=end_ms, item_id=turn.item_id)
            self._turn = None
            audio = self._take_buffer(turn.audio_start_ms, end_ms)
            transcript, self._pending_transcript = self._pending_transcript, None
            await self._commit_item(turn.item_id, audio, respond=True, transcript=transcript)
        elif isinstance(vad_event, TimeoutTriggered):
            await self._timeout(round(base + vad_event.audio_start_ms), round(base + vad_event.audio_end_ms))

    async def _timeout(self, start_ms: int, end_ms: int) -> None:
        """``input_audio_buffer.timeout_triggered``, then the (silent) audio is committed and answered."""
        self._disarm_idle()
        item_id = self._new_id("item")
        await self.emit(
            "input_audio_buffer.timeout_triggered", audio_start_ms=start_ms, audio_end_ms=end_ms, item_id=item_id
        )
        audio = bytes(self._buffer)
        self._buffer_start_ms += ms_for_bytes(len(self._buffer), self._input_format)
        self._buffer.clear()
        await self._commit_item(item_id, audio, respond=True)

    async def _commit_item(self, item_id: str, audio: bytes, *, respond: bool, transcript: str | None = None) -> None:
        """The committed user audio becomes an item; it is transcribed, and answered if VAD says so."""
        previous = self.conversation.last_id()
        await self.emit("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        item = Item(
            {
                "id": item_id,
                "type": "message",
                "status": "completed",
                "role": "user",
                "content": [{"type": "input_audio", "transcript": None}],
            },
            audio=audio,
            audio_ms=ms_for_bytes(len(audio), self._input_format),
        )
        previous = self.conversation.add(item)
        await self.emit("conversation.item.added", previous_item_id=previous, item=item.view())
        await self.emit("conversation.item.done", previous_item_id=previous, item=item.view())
        if self._transcription is not None:
            await self._transcribe(item, transcript)
        else:
            # Not reported, but kept: what the user "said" is what reply rules match on.
            heard = transcript if transcript is not None else self.script.next_transcript()
            if heard is not None:
                self._heard[item.id] = heard
        answers = respond and self.kind == "realtime" and self._config is not None and self._config.create_response
        if answers and self.active is None:
            try:
                response = self._new_response({}, self._context(None), out_of_band=False)
            except ScriptError as exc:
                # An automatic response has no client event to blame: the error's event_id is null.
                await self.error(exc.error)
                return
            await self._start(response)

    @property
    def _transcription(self) -> Mapping[str, Any] | None:
        transcription = self.session["audio"]["input"].get("transcription")
        return transcription if isinstance(transcription, Mapping) else None

    async def _transcribe(self, item: Item, scripted: str | None) -> None:
        """``conversation.item.input_audio_transcription.delta`` events and one ``.completed`` (SESSION_TRUTH §2d)."""
        settings = self._transcription or {}
        text = scripted if scripted is not None else self.script.next_transcript()
        if text is None:
            text = self.phrases.transcript(item.audio_ms)
        logprobs = "item.input_audio_transcription.logprobs" in (self.session.get("include") or [])
        model = settings.get("model")
        pieces = [text] if model == "whisper-1" else deltas(text)
        for piece in pieces:
            fields: dict[str, Any] = {"item_id": item.id, "content_index": 0, "delta": piece}
            if logprobs:
                fields["logprobs"] = _logprobs(piece, self.rng)
            fields["obfuscation"] = obfuscation(self.rng)
            await self.emit("conversation.item.input_audio_transcription.delta", **fields)
        audio_tokens = round(item.audio_ms / 1000 * INPUT_AUDIO_TOKENS_PER_SECOND)
        usage: dict[str, Any]
        if model == "whisper-1":
            usage = {"type": "duration", "seconds": round(item.audio_ms / 1000, 3)}
        else:
            output_tokens = text_tokens(text)
            usage = {
                "type": "tokens",
                "total_tokens": audio_tokens + output_tokens,
                "input_tokens": audio_tokens,
                "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
                "output_tokens": output_tokens,
            }
        completed: dict[str, Any] = {"item_id": item.id, "content_index": 0, "transcript": text, "usage": usage}
        if logprobs:
            completed["logprobs"] = _logprobs(text, self.rng)
        item.data["content"][0]["transcript"] = text
        await self.emit("conversation.item.input_audio_transcription.completed", **completed)

    # --- idle timeout ----------------------------------------------------------------------------------------

    def _arm_idle(self, response: Response) -> None:
        """After a response, ``idle_timeout_ms`` counts from the end of its audio's playback (SESSION_TRUTH §2f)."""
        config = self._config
        if config is None or config.kind != "server_vad" or config.idle_timeout_ms is None or self._detector is None:
            return
        self._disarm_idle()
        from_ms = self.position_ms + response.audio_ms
        self._detector.idle_from(from_ms - self._audio_base_ms)
        delay = (response.audio_ms + config.idle_timeout_ms) / 1000
        idle = _Idle(from_ms)
        idle.timer = asyncio.get_running_loop().call_later(delay, self._idle_fired, idle)
        self._idle = idle

    def _disarm_idle(self) -> None:
        if self._idle is not None and self._idle.timer is not None:
            self._idle.timer.cancel()
        self._idle = None

    def _idle_fired(self, idle: _Idle) -> None:
        """The wall-clock side of the idle timeout, for a client that stopped sending audio altogether."""
        if self._idle is not idle or self.closed or self._turn is not None or self._config is None:
            return
        timeout = self._config.idle_timeout_ms or 0
        end_ms = max(self.position_ms, idle.from_ms + timeout)
        self._spawn(self._timeout(round(idle.from_ms), round(end_ms)))

    # --- responses -----------------------------------------------------------------------------------------

    def _context(self, input_items: Any) -> list[dict[str, Any]]:
        """The items a response sees: the conversation, or the response's own ``input`` (references resolved)."""
        if input_items is None:
            return [item.data for item in self.conversation]
        context: list[dict[str, Any]] = []
        for index, entry in enumerate(input_items):
            data = _as_dict(entry)
            if data.get("type") == "item_reference":
                found = self.conversation.find(str(data.get("id")))
                if found is None:
                    raise _invalid(
                        f"Invalid 'response.input[{index}].id': the item with id '{data.get('id')}' does not exist.",
                        "item_reference_not_found",
                        f"response.input[{index}].id",
                    )
                context.append(found.data)
            else:
                context.append(data)
        return context

    def _new_response(self, options: Mapping[str, Any], context: list[dict[str, Any]], out_of_band: bool) -> Response:
        session = self.session
        tools = options.get("tools", session.get("tools") or [])
        tool_choice = options.get("tool_choice", session.get("tool_choice", "auto"))
        functions = tuple(t["name"] for t in tools if isinstance(t, Mapping) and t.get("type") == "function")
        modalities = list(options.get("output_modalities") or session.get("output_modalities") or ["audio"])
        audio_options = ((options.get("audio") or {}).get("output")) or {}
        output = session["audio"]["output"]
        reply_context = ReplyContext(
            user_text=self._latest_user_text(context),
            tool_output=_latest_tool_output(context),
            functions=functions,
            tool_choice=tool_choice,
            instructions=options.get("instructions", session.get("instructions")),
            out_of_band=out_of_band,
        )
        plan = self.script.plan(reply_context) or self._generated_plan(reply_context, tools)
        self._responses += 1
        response = Response(
            id="resp_" + self._alnum(),
            conversation_id=None if out_of_band else self.conversation.id,
            modalities=modalities,
            max_output_tokens=options.get("max_output_tokens", session.get("max_output_tokens", "inf")),
            output_format=dict(audio_options.get("format") or output["format"]),
            voice=_voice_name(audio_options.get("voice") or output["voice"]),
            speed=float(output.get("speed", 1.0)),
            metadata=options.get("metadata"),
            plan=plan,
        )
        usage = response.usage
        for item in context:
            usage.input_text += _item_text_tokens(item)
            found = self.conversation.find(str(item.get("id"))) if item.get("id") else None
            if found is not None and found.audio_ms:
                rate = INPUT_AUDIO_TOKENS_PER_SECOND if item.get("role") == "user" else 20
                usage.input_audio += round(found.audio_ms / 1000 * rate)
        usage.input_text += text_tokens(str(reply_context.instructions or ""))
        usage.cached_text = (usage.input_text // 64) * 64 if self._responses > 1 else 0
        return response

    def _generated_plan(self, context: ReplyContext, tools: list[Any]) -> Plan:
        """No rule matched: a generated sentence, or a call when ``tool_choice`` demands one."""
        choice = context.tool_choice
        wanted: str | None = None
        if isinstance(choice, Mapping) and choice.get("type") == "function":
            wanted = str(choice.get("name"))
            if wanted not in context.functions:
                raise ScriptError(
                    _invalid(
                        f"Tool choice '{wanted}' is not one of the session's functions: "
                        f"{', '.join(context.functions) or 'none declared'}.",
                        "invalid_tool_choice",
                        "tool_choice",
                    )
                )
        elif choice == "required" and context.functions and context.tool_output is None:
            wanted = context.functions[0]
        if wanted is None:
            return Plan(text=self.phrases.reply())
        parameters = next(
            (t.get("parameters") for t in tools if isinstance(t, Mapping) and t.get("name") == wanted), None
        )
        arguments = dump_arguments(arguments_for(parameters, self.phrases, self.rng))
        return Plan(text=None, tool_calls=(ToolCall(wanted, arguments),))

    def _latest_user_text(self, context: list[dict[str, Any]]) -> str | None:
        for item in reversed(context):
            if item.get("type") == "message" and item.get("role") == "user":
                texts = []
                for part in item.get("content") or []:
                    if part.get("type") == "input_text":
                        texts.append(str(part.get("text", "")))
                    elif part.get("type") == "input_audio":
                        heard = part.get("transcript") or self._heard.get(str(item.get("id")))
                        if heard:
                            texts.append(str(heard))
                return " ".join(texts) if texts else None
        return None

    async def _start(self, response: Response) -> None:
        if response.in_conversation:
            self.active = response
        else:
            self.out_of_band.add(response)
        stream = ResponseStream(
            response,
            emit=self.emit,
            conversation=self.conversation,
            new_id=self._new_id,
            rng=self.rng,
            pace=self.pace,
            media=self.media,
            audio_format=self.track_format,
        )
        if self.media is not None and response.audio:
            self._voiced = response.id
        await stream.begin()
        response.task = self._spawn(self._run(stream))

    async def _run(self, stream: ResponseStream) -> None:
        response = stream.response
        try:
            await stream.run()
        finally:
            if self.active is response:
                self.active = None
            self.out_of_band.discard(response)
        if response.in_conversation and response.status != "cancelled":
            self._arm_idle(response)

    async def _settle(self, response: Response) -> None:
        """Wait until a cancelled response has sent its ``response.done`` (its stream flushes at once)."""
        task = response.task
        if task is not None and task is not asyncio.current_task():
            await asyncio.shield(response.done.wait())

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(self._guarded(coroutine))
        # Cancelled before it ever ran (the session closed at once), the guard never awaited ``coroutine``:
        # closing it says it will not run (no "never awaited" warning); after it ran, closing does nothing.
        task.add_done_callback(lambda _: coroutine.close())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guarded(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Work the session does on its own (an idle timeout's response, media): when the shared store is
        lost meanwhile, the client hears OpenAI's 503 as an ``error`` event and the session ends, as when a
        client event finds the store down, instead of a task failing unseen."""
        try:
            await coroutine
        except StoreUnavailableError as error:
            if self.closed:
                return
            await self.error(error)
            self.closed = True
            if self.on_close is not None:
                await self.on_close()

    # --- ids ----------------------------------------------------------------------------------------------

    def _alnum(self) -> str:
        return self.ids.event_id().removeprefix("event_")

    def _new_id(self, prefix: str) -> str:
        if prefix == "call":
            # ``call_`` and 16 alphanumerics (SESSION_TRUTH §1), never one the session has already seen.
            call_id = "call_" + self._alnum()[:16]
            while call_id in self._call_ids:
                call_id = "call_" + self._alnum()[:16]
            self._call_ids.add(call_id)
            return call_id
        return f"{prefix}_{self._alnum()}"


RealtimeEngine._handlers = {
    "session.update": RealtimeEngine._session_update,
    "input_audio_buffer.append": RealtimeEngine._append,
    "session.input_audio_buffer.append": RealtimeEngine._append,
    "input_audio_buffer.commit": RealtimeEngine._commit,
    "input_audio_buffer.clear": RealtimeEngine._clear,
    "output_audio_buffer.clear": RealtimeEngine._output_clear,
    "conversation.item.create": RealtimeEngine._item_create,
    "conversation.item.delete": RealtimeEngine._item_delete,
    "conversation.item.retrieve": RealtimeEngine._item_retrieve,
    "conversation.item.truncate": RealtimeEngine._item_truncate,
    "response.create": RealtimeEngine._response_create,
    "response.cancel": RealtimeEngine._response_cancel,
    "session.close": RealtimeEngine._session_close,
}


# --- pure helpers ----------------------------------------------------------------------------------------


def _as_dict(value: Any) -> dict[str, Any]:
    """A validated model (or a plain dict) as the dict the client sent, unset keys left out."""
    if value is None:
        return {}
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dict(dump(exclude_unset=True))
    return dict(value) if isinstance(value, Mapping) else {}


def _observed(event: Any) -> dict[str, Any]:
    """A parsed client event as a dict for the journal; appended audio as its decoded size in bytes."""
    audio = getattr(event, "audio_bytes", None)
    if isinstance(audio, bytes | bytearray):
        # The journal keeps appended audio as its byte count: no copy of the audio is made for it.
        return {"type": event.type, "event_id": event.event_id, "audio": len(audio)}
    return _as_dict(event)


def _merge(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``changes`` over ``base``; the nested ``audio.input`` / ``audio.output`` objects merge key by key."""
    merged = copy.deepcopy(dict(base))
    for key, value in changes.items():
        if key == "audio" and isinstance(value, Mapping):
            audio = merged.setdefault("audio", {})
            for side, settings in value.items():
                if isinstance(settings, Mapping) and isinstance(audio.get(side), Mapping):
                    audio[side] = {**audio[side], **settings}
                else:
                    audio[side] = settings
        else:
            merged[key] = value
    return merged


def _voice_name(voice: Any) -> str:
    if isinstance(voice, Mapping):
        return str(voice.get("id"))
    return str(voice)


_ITEM_KEY_ORDER = ("id", "type", "status", "role", "name", "call_id", "arguments", "output", "content")


def _stored_item(data: Mapping[str, Any], new_id: str) -> dict[str, Any]:
    """A client's item as production echoes it: an id, ``status`` completed, GA key order, no ``object``."""
    stored: dict[str, Any] = {"id": data.get("id") or new_id, "type": data["type"], "status": "completed"}
    for key in _ITEM_KEY_ORDER[3:]:
        if key in data:
            stored[key] = copy.deepcopy(data[key])
    for key, value in data.items():
        if key not in stored and key not in ("object",):
            stored[key] = copy.deepcopy(value)
    if data.get("status"):
        stored["status"] = data["status"]
    for part in stored.get("content") or []:
        if isinstance(part, dict) and part.get("type") == "input_audio":
            part.pop("audio", None)
            part.setdefault("transcript", None)
    return stored


def _user_audio(data: Mapping[str, Any]) -> bytes:
    for part in data.get("content") or []:
        if isinstance(part, Mapping) and part.get("type") == "input_audio" and isinstance(part.get("audio"), str):
            try:
                return base64.b64decode(part["audio"])
            except ValueError:
                return b""
    return b""


def _latest_tool_output(context: list[dict[str, Any]]) -> str | None:
    if not context or context[-1].get("type") != "function_call_output":
        return None
    call_id = context[-1].get("call_id")
    for item in reversed(context):
        if item.get("type") == "function_call" and item.get("call_id") == call_id:
            return str(item.get("name"))
    return None


def _item_text_tokens(item: Mapping[str, Any]) -> int:
    total = 0
    for key in ("arguments", "output"):
        if isinstance(item.get(key), str):
            total += text_tokens(item[key])
    for part in item.get("content") or []:
        if isinstance(part, Mapping):
            for key in ("text", "transcript"):
                if isinstance(part.get(key), str):
                    total += text_tokens(part[key])
    return total


def _logprobs(text: str, rng: random.Random) -> list[dict[str, Any]]:
    return [
        {"token": token, "logprob": round(-rng.random() * 0.05, 6), "bytes": list(token.encode())}
        for token in deltas(text)
    ]
