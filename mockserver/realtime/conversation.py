"""The conversation of one Realtime session: its items, in order, and the audio behind them.

Items are kept in production's GA shape (``{"id", "type", "status", "role", "content"}``, no ``object``,
SESSION_TRUTH §1). Audio never appears in an item except in ``conversation.item.retrieved``; it is kept
beside the item (bounded), with the word spans of assistant audio so a truncation can cut the transcript.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AUDIO_KEPT_BYTES", "Conversation", "Item", "SpokenWord"]

#: Audio kept for ``conversation.item.retrieved`` per conversation; the oldest items' audio is dropped first.
AUDIO_KEPT_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SpokenWord:
    """Where one word of assistant speech lies in its audio, in milliseconds (``text`` keeps its leading space)."""

    text: str
    start_ms: float
    end_ms: float


@dataclass(slots=True)
class Item:
    """One conversation item: the dict clients see, plus its audio (user speech or assistant reply)."""

    data: dict[str, Any]
    audio: bytes = b""
    audio_ms: float = 0.0
    #: For assistant audio: the transcript's words and where they are spoken.
    words: tuple[SpokenWord, ...] = ()

    @property
    def id(self) -> str:
        return str(self.data["id"])

    def view(self) -> dict[str, Any]:
        """A copy of the item as events carry it (never the live dict)."""
        return copy.deepcopy(self.data)


@dataclass
class Conversation:
    """The default conversation: items in order, looked up by id."""

    id: str
    items: list[Item] = field(default_factory=list)

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def last_id(self) -> str | None:
        return self.items[-1].id if self.items else None

    def find(self, item_id: str) -> Item | None:
        for item in reversed(self.items):
            if item.id == item_id:
                return item
        return None

    def add(self, item: Item, previous_item_id: str | None = None) -> str | None:
        """Insert ``item`` after ``previous_item_id`` (``None``: at the end, ``"root"``: first).

        Returns the id of the item now before it (``None`` when it is first). The caller checks
        that ``previous_item_id`` exists.
        """
        if previous_item_id is None:
            previous = self.last_id()
            self.items.append(item)
        elif previous_item_id == "root":
            previous = None
            self.items.insert(0, item)
        else:
            index = next(i for i, existing in enumerate(self.items) if existing.id == previous_item_id)
            previous = previous_item_id
            self.items.insert(index + 1, item)
        self._bound_audio()
        return previous

    def delete(self, item_id: str) -> bool:
        for index, item in enumerate(self.items):
            if item.id == item_id:
                del self.items[index]
                return True
        return False

    def has_assistant_audio(self) -> bool:
        return any(item.data.get("role") == "assistant" and item.audio for item in self.items)

    def _bound_audio(self) -> None:
        total = sum(len(item.audio) for item in self.items)
        for item in self.items:
            if total <= AUDIO_KEPT_BYTES:
                return
            total -= len(item.audio)
            item.audio = b""
