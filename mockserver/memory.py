"""Giving memory back to the system after sessions close.

A burst of Realtime sessions allocates many small objects (events, audio chunks) across glibc's malloc
arenas. Python frees them when the sessions close, but glibc keeps the freed pages mapped, so the
process's RSS stays at its peak after every burst. ``malloc_trim(0)`` returns them; it costs a few
milliseconds, so it runs once every :data:`TRIM_EVERY` closed sessions, not after each one. Off glibc
(macOS, musl) there is no ``malloc_trim`` and nothing is done.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

__all__ = ["TRIM_EVERY", "ArenaTrimmer", "session_closed"]

#: Closed sessions between two trims.
TRIM_EVERY = 50


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or ``None`` where the C library has none."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # noqa: PLC0415 - only once sessions have closed, never at start-up

    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # musl: no malloc_trim
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


class ArenaTrimmer:
    """Counts closed sessions and trims the C heap every ``every`` of them."""

    def __init__(self, every: int = TRIM_EVERY) -> None:
        self.every = every
        self.closed = 0
        self.trims = 0
        self._trim: Callable[[int], int] | None = None
        self._looked_up = False

    def session_closed(self) -> None:
        self.closed += 1
        if self.closed % self.every:
            return
        if not self._looked_up:
            self._trim, self._looked_up = _malloc_trim(), True
        if self._trim is not None:
            self._trim(0)
            self.trims += 1


#: One per process: the C heap is the process's.
_TRIMMER = ArenaTrimmer()


def session_closed() -> None:
    """A Realtime session (any transport) has ended: every ``TRIM_EVERY`` of them, freed memory goes back."""
    _TRIMMER.session_closed()
