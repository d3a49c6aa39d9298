"""The server's clock: real time plus an offset that tests can move."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Clock"]


class Clock:
    """Wall-clock seconds since the epoch, shifted by ``offset``.

    Expiry and the creation time of new secrets follow this clock, so a test can
    advance it (or pin it) instead of sleeping.
    """

    def __init__(self, source: Callable[[], float] = time.time) -> None:
        self._source = source
        self.offset = 0.0

    def now(self) -> float:
        return self._source() + self.offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward (or back, with a negative value); returns the new time."""
        self.offset += seconds
        return self.now()

    def set(self, epoch: float) -> float:
        """Pin the clock's current reading to ``epoch``; it keeps running from there."""
        self.offset = epoch - self._source()
        return self.now()

    def reset(self) -> None:
        self.offset = 0.0
