"""The server's clock: real time plus an offset that tests can move, or a pinned instant."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Clock"]


class Clock:
    """Seconds since the epoch: wall-clock time shifted by ``offset``, or, with ``start``, an
    instant that stands still.

    Expiry and the creation time of new secrets follow this clock, so a test can advance
    it (or pin it) instead of sleeping. A clock started at a fixed instant (``--start-time``)
    moves only when told to, so a seeded run is the same byte for byte every time.
    """

    def __init__(self, source: Callable[[], float] = time.time, *, start: float | None = None) -> None:
        self._source = source
        self._start = start
        self.offset = 0.0

    @property
    def frozen(self) -> bool:
        """Whether the clock stands still between moves (it was started at a fixed instant)."""
        return self._start is not None

    def _base(self) -> float:
        return self._start if self._start is not None else self._source()

    def now(self) -> float:
        start = self._start  # _base(), inlined: read twice a mint
        return (start if start is not None else self._source()) + self.offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward; returns the new time. Time never runs backwards: ``ValueError``."""
        if seconds < 0:
            raise ValueError(f"cannot move the clock back ({seconds:g} s); set it to an earlier time instead")
        self.offset += seconds
        return self.now()

    def set(self, epoch: float) -> float:
        """Put the clock at ``epoch``; a running clock keeps running from there."""
        if epoch < 0:
            raise ValueError(f"{epoch:g} is before the Unix epoch")
        self.offset = epoch - self._base()
        return self.now()

    def reset(self) -> None:
        """Back to wall-clock time, or to the start instant of a frozen clock."""
        self.offset = 0.0
