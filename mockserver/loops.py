"""The event loop the ``mockserver`` command runs on (``--loop``): uvloop's, or asyncio's.

uvloop (the ``uvloop`` extra: ``pip install 'openai-realtime-mock[uvloop]'``) runs the loop and its
transports in C: about 15 % less CPU per mint, for about 2 MB more memory (BENCHMARKS.md). ``auto``, the
default, takes it when it is installed. The pytest fixtures and ``MockServer`` run on the loop they are given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .settings import SettingsError

__all__ = ["event_loop_factory", "running_loop_name"]


def event_loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What makes the loop for ``--loop choice``: uvloop's ``new_event_loop``, or ``None`` for asyncio's.

    ``auto`` takes uvloop when it can be imported, ``asyncio`` never does, and ``uvloop`` insists
    (``SettingsError``, one line, when it is not installed).
    """
    if choice == "asyncio":
        return None
    try:
        import uvloop  # noqa: PLC0415 - the extra, and only the command's own loop needs it
    except ImportError:
        if choice == "uvloop":
            raise SettingsError(
                "--loop uvloop: uvloop is not installed (pip install 'openai-realtime-mock[uvloop]')"
            ) from None
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def running_loop_name() -> str:
    """``uvloop`` or ``asyncio``: whose loop runs the calling coroutine."""
    return "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"
