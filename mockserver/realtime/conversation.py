"""The conversation behind a Realtime connection: client events in, server events out.

Pure logic, no sockets: ``RealtimeConversation.receive(text)`` returns the server
events a client event causes (a response is produced as a list the handler sends
one by one, so it can be paced, delayed or cancelled). Event and item shapes
follow the official SDK's types; validation errors reuse the mint body's rules and
wording (GROUND_TRUTH §5.3, §7).
"""

from __future__ import annotations

import base64
import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..defaults import realtime_session, transcription_session
from ..errors import OpenAIError, describe_json_type, quote
from ..ids import IdFactory
from ..schemas._base import RequestModel
from ..schemas.requests import REALTIME_MODELS, SessionRequest
from ..schemas.validation import validate_model
from .events import (
    CLIENT_EVENT_TYPES,
    EventError,
    InputAudioBufferAppendEvent,
    read_client_event,
    validate_client_event,
)
from .events import error_event as render_error_event

__all__ = [
    "CLIENT_EVENT_TYPES",
    "SESSION_SECONDS",
    "RealtimeConversation",
    "error_event",
    "faker_text",
    "is_supported_model",
]

#: A Realtime session lasts 60 minutes (GROUND_TRUTH §7).
SESSION_SECONDS = 3600

#: Model families that speak the Realtime protocol, besides the spec's enum.
_REALTIME_PREFIXES = ("gpt-realtime", "gpt-4o-realtime", "gpt-4o-mini-realtime", "gpt-audio")

#: Bytes per 100 ms of audio in each input format (PCM16 at 24 kHz, G.711 at 8 kHz).
_BYTES_PER_100MS = {"audio/pcm": 4800, "audio/pcmu": 800, "audio/pcma": 800}


def is_supported_model(model: str) -> bool:
    """Whether ``?model=`` names a Realtime model (the spec's list, or one of its families)."""
    return model in REALTIME_MODELS or model.startswith(_REALTIME_PREFIXES)


def error_event(ids: IdFactory, error: OpenAIError, client_event_id: str | None = None) -> dict[str, Any]:
    """The ``error`` server event: OpenAI's error fields plus the client event's id."""
    return render_error_event(ids.event_id(), error, client_event_id)


class _SessionUpdate(RequestModel):
    type: str
    event_id: str | None = None
    session: SessionRequest


@dataclass
class _Response:
    id: str
    events: list[dict[str, Any]]
    done_template: dict[str, Any]
    cancelled: bool = False


@dataclass
class RealtimeConversation:
    """One connection's session, conversation items, input buffer and responses."""

    ids: IdFactory
    session: dict[str, Any]
    #: The session as requested (only what was set), so an update can be merged over it.
    request: dict[str, Any]
    text_source: Callable[[], str]
    items: list[dict[str, Any]] = field(default_factory=list)
    buffered_bytes: int = 0
    conversation_id: str = ""
    active: _Response | None = None
    #: The last client event was a valid ``session.close``: the handler closes the socket.
    closing: bool = False
    #: Text deltas the client has been sent, per response (kept by the sender; read on cancel).
    streamed: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.conversation_id:
            self.conversation_id = "conv_" + self.ids.event_id().removeprefix("event_")

    # --- building ---------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        ids: IdFactory,
        session: dict[str, Any],
        request: dict[str, Any],
        now: float,
        text_source: Callable[[], str],
    ) -> RealtimeConversation:
        """A conversation whose session is ``session`` with the connection's own expiry."""
        opened = copy.deepcopy(session)
        opened["expires_at"] = int(now) + SESSION_SECONDS
        return cls(ids=ids, session=opened, request=copy.deepcopy(request), text_source=text_source)

    def session_created(self) -> dict[str, Any]:
        return {"type": "session.created", "event_id": self.ids.event_id(), "session": copy.deepcopy(self.session)}

    # --- client events ------------------------------------------------------------------------------

    def receive(self, frame: str | bytes) -> list[dict[str, Any]]:
        """The server events caused by one client event (a text frame; a binary one is refused)."""
        try:
            event = read_client_event(frame)
            parsed = validate_client_event(event)
        except EventError as failure:
            return [error_event(self.ids, failure.error, failure.client_event_id)]
        if isinstance(parsed, InputAudioBufferAppendEvent):  # decoded once, by the validator
            self.buffered_bytes += len(parsed.audio_bytes)
            return []
        self.closing = parsed.type == "session.close"
        try:
            return self._dispatch(event)
        except OpenAIError as error:
            return [error_event(self.ids, error, parsed.event_id)]

    def _dispatch(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        handler = {
            "session.update": self._session_update,
            "input_audio_buffer.commit": self._commit,
            "input_audio_buffer.clear": self._clear,
            "conversation.item.create": self._item_create,
            "conversation.item.delete": self._item_delete,
            "conversation.item.retrieve": self._item_retrieve,
            "conversation.item.truncate": self._item_truncate,
            "response.create": self._response_create,
            "response.cancel": self._response_cancel,
        }.get(event["type"])
        if handler is None:  # session.close (the handler closes the socket), output_audio_buffer.clear
            return []
        return handler(event)

    def _session_update(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        update = validate_model(_SessionUpdate, event)
        kind = self.session["type"]
        if update.session.type != kind:
            message = f"Invalid value: {quote(update.session.type)}. Supported values are: {quote(kind)}."
            raise OpenAIError(400, message, param="session.type", code="invalid_value")
        changes = update.session.model_dump(exclude_unset=True)
        self.request = _merge(self.request, changes)
        session_id, expires_at = self.session["id"], self.session["expires_at"]
        if kind == "realtime":
            self.session = realtime_session(self.request, session_id)
        else:
            self.session = transcription_session(self.request, session_id)
        self.session["expires_at"] = expires_at
        return [{"type": "session.updated", "event_id": self.ids.event_id(), "session": copy.deepcopy(self.session)}]

    def _commit(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        audio_format = self.session["audio"]["input"]["format"]["type"]
        per_100ms = _BYTES_PER_100MS.get(audio_format, 4800)
        if self.buffered_bytes < per_100ms:
            milliseconds = self.buffered_bytes / per_100ms * 100
            raise OpenAIError(
                400,
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
                f"but buffer only has {milliseconds:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
            )
        self.buffered_bytes = 0
        item = {
            "id": self._item_id(),
            "type": "message",
            "object": "realtime.item",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        previous = self.items[-1]["id"] if self.items else None
        self.items.append(item)
        committed = {
            "type": "input_audio_buffer.committed",
            "event_id": self.ids.event_id(),
            "previous_item_id": previous,
            "item_id": item["id"],
        }
        return [committed, *self._item_added_done(item, previous)]

    def _clear(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        self.buffered_bytes = 0
        return [{"type": "input_audio_buffer.cleared", "event_id": self.ids.event_id()}]

    def _item_create(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        item = event["item"]  # validated by events.py: an object of one of the spec's item types
        stored = {"id": item.get("id") or self._item_id(), **{k: v for k, v in item.items() if k != "id"}}
        stored.setdefault("object", "realtime.item")
        stored.setdefault("status", "completed")
        previous = self.items[-1]["id"] if self.items else None
        self.items.append(stored)
        return self._item_added_done(stored, previous)

    def _find(self, event: dict[str, Any], action: str) -> dict[str, Any]:
        item_id = _required_string(event, "item_id")
        for item in self.items:
            if item["id"] == item_id:
                return item
        raise OpenAIError(
            400,
            f"Error {action} item: the item with id '{item_id}' does not exist.",
            param="item_id",
            code="item_not_found",
        )

    def _item_delete(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        item = self._find(event, "deleting")
        self.items.remove(item)
        return [{"type": "conversation.item.deleted", "event_id": self.ids.event_id(), "item_id": item["id"]}]

    def _item_retrieve(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        item = self._find(event, "retrieving")
        return [{"type": "conversation.item.retrieved", "event_id": self.ids.event_id(), "item": copy.deepcopy(item)}]

    def _item_truncate(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        item = self._find(event, "truncating")
        audio_end_ms = event.get("audio_end_ms", 0)
        content_index = event.get("content_index", 0)
        if not isinstance(audio_end_ms, int) or isinstance(audio_end_ms, bool) or audio_end_ms < 0:
            raise OpenAIError(400, "Invalid 'audio_end_ms'.", param="audio_end_ms", code="invalid_value")
        return [
            {
                "type": "conversation.item.truncated",
                "event_id": self.ids.event_id(),
                "item_id": item["id"],
                "content_index": content_index if isinstance(content_index, int) else 0,
                "audio_end_ms": audio_end_ms,
            }
        ]

    # --- responses ----------------------------------------------------------------------------------

    def _response_create(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        if self.active is not None and not self.active.cancelled:
            raise OpenAIError(
                400,
                f"Conversation already has an active response in progress: {self.active.id}. Wait until the "
                "response is finished before creating a new one.",
                code="conversation_already_has_active_response",
            )
        raw_options = event.get("response")
        options: dict[str, Any] = raw_options if isinstance(raw_options, dict) else {}
        modalities = options.get("output_modalities") or self.session.get("output_modalities") or ["audio"]
        text = self.text_source()
        response_id = "resp_" + self.ids.event_id().removeprefix("event_")
        item_id = self._item_id()
        audio = "audio" in modalities
        output = self.session.get("audio", {}).get("output", {})
        response = {
            "object": "realtime.response",
            "id": response_id,
            "status": "in_progress",
            "status_details": None,
            "output": [],
            "conversation_id": self.conversation_id,
            "output_modalities": modalities,
            "max_output_tokens": options.get("max_output_tokens", self.session.get("max_output_tokens", "inf")),
            "audio": {"output": {"format": output.get("format"), "voice": output.get("voice")}},
            "usage": None,
            "metadata": options.get("metadata"),
        }
        item: dict[str, Any] = {
            "id": item_id,
            "type": "message",
            "object": "realtime.item",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        where = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
        part_type = "audio" if audio else "text"
        empty_part = {"type": part_type, "transcript": ""} if audio else {"type": "text", "text": ""}
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": copy.deepcopy(response)},
            {"type": "response.output_item.added", "response_id": response_id, "output_index": 0, "item": item},
            {
                "type": "conversation.item.added",
                "previous_item_id": self.items[-1]["id"] if self.items else None,
                "item": copy.deepcopy(item),
            },
            {"type": "response.content_part.added", **where, "part": empty_part},
        ]
        delta_type = "response.output_audio_transcript.delta" if audio else "response.output_text.delta"
        for delta in _deltas(text):
            events.append({"type": delta_type, **where, "delta": delta})
        if audio:
            events.append({"type": "response.output_audio.delta", **where, "delta": _SILENCE})
            events.append({"type": "response.output_audio.done", **where})
            events.append({"type": "response.output_audio_transcript.done", **where, "transcript": text})
            part = {"type": "audio", "transcript": text}
            content = {"type": "output_audio", "transcript": text}
        else:
            events.append({"type": "response.output_text.done", **where, "text": text})
            part = {"type": "text", "text": text}
            content = {"type": "output_text", "text": text}
        done_item = {**item, "status": "completed", "content": [content]}
        events += [
            {"type": "response.content_part.done", **where, "part": part},
            {"type": "response.output_item.done", "response_id": response_id, "output_index": 0, "item": done_item},
            {
                "type": "conversation.item.done",
                "previous_item_id": self.items[-1]["id"] if self.items else None,
                "item": copy.deepcopy(done_item),
            },
        ]
        words = len(text.split())
        usage = {
            "total_tokens": 20 + words,
            "input_tokens": 20,
            "output_tokens": words,
            "input_token_details": {"text_tokens": 20, "audio_tokens": 0, "image_tokens": 0, "cached_tokens": 0},
            "output_token_details": {"text_tokens": words, "audio_tokens": 0},
        }
        done = {**response, "status": "completed", "output": [done_item], "usage": usage}
        events.append({"type": "response.done", "response": done})
        self.items.append(done_item)
        self.active = _Response(response_id, events, done)
        return [self._stamp(e) for e in events]

    def _response_cancel(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        if self.active is None or self.active.cancelled:
            raise OpenAIError(400, "Cancellation failed: no active response found", code="response_cancel_not_active")
        self.active.cancelled = True
        # Only what was streamed before the cancel counts: the item is incomplete, with that text.
        text = "".join(self.streamed.pop(self.active.id, []))
        template = self.active.done_template
        item = copy.deepcopy(template["output"][0])
        item["status"] = "incomplete"
        for content in item["content"]:
            content["text" if content["type"] == "output_text" else "transcript"] = text
        for index, stored in enumerate(self.items):
            if stored["id"] == item["id"]:
                self.items[index] = item
        done = {
            **template,
            "status": "cancelled",
            "status_details": {"type": "cancelled", "reason": "client_cancelled"},
            "output": [item],
            "usage": None,
        }
        return [self._stamp({"type": "response.done", "response": done})]

    def response_finished(self) -> None:
        """The handler sent the last event of the active response."""
        self.active = None

    # --- helpers ----------------------------------------------------------------------------------

    def _item_added_done(self, item: dict[str, Any], previous: str | None) -> list[dict[str, Any]]:
        return [
            {
                "type": "conversation.item.added",
                "event_id": self.ids.event_id(),
                "previous_item_id": previous,
                "item": copy.deepcopy(item),
            },
            {
                "type": "conversation.item.done",
                "event_id": self.ids.event_id(),
                "previous_item_id": previous,
                "item": copy.deepcopy(item),
            },
        ]

    def _item_id(self) -> str:
        return "item_" + self.ids.event_id().removeprefix("event_")

    def _stamp(self, event: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": event["type"],
            "event_id": self.ids.event_id(),
            **{k: v for k, v in event.items() if k != "type"},
        }


#: 100 ms of silence in 24 kHz 16-bit PCM, base64: enough for a client to decode and play.
_SILENCE = base64.b64encode(bytes(4800)).decode()


def _deltas(text: str) -> list[str]:
    words = text.split(" ")
    return [word if index == 0 else " " + word for index, word in enumerate(words)]


def _required_string(event: dict[str, Any], key: str) -> str:
    value = event.get(key)
    if value is None:
        raise OpenAIError(400, f"Missing required parameter: '{key}'.", param=key, code="missing_required_parameter")
    if not isinstance(value, str):
        message = f"Invalid type for '{key}': expected a string, but got {describe_json_type(value)} instead."
        raise OpenAIError(400, message, param=key, code="invalid_type")
    return value


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``changes`` over ``base``; the nested ``audio.input`` / ``audio.output`` objects merge key by key."""
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        if key == "audio" and isinstance(value, dict):
            audio = merged.setdefault("audio", {})
            for side, settings in value.items():
                if isinstance(settings, dict) and isinstance(audio.get(side), dict):
                    audio[side] = {**audio[side], **settings}
                else:
                    audio[side] = settings
        else:
            merged[key] = value
    return merged


def faker_text(seed: int, connection: int) -> Callable[[], str]:
    """Short replies from Faker, seeded so a seeded server says the same things (imported on first use)."""
    state: dict[str, Any] = {}

    def next_reply() -> str:
        if "fake" not in state:
            from faker import Faker  # noqa: PLC0415 - slow to import; only a connection that asks for a reply pays

            fake = Faker()
            fake.seed_instance(random.Random(f"{seed}:replies:{connection}").getrandbits(32))
            state["fake"] = fake
        return str(state["fake"].sentence(nb_words=9))

    return next_reply
