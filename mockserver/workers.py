"""``--workers N``: N processes serving one port, sharing their state through the store.

Each worker is a forked ``mockserver`` bound to the same address with SO_REUSEPORT, so the kernel
spreads connections across them; the parent only supervises:

- it refuses a pool over the memory store (each process would keep its own state): one line, exit 2;
- it checks the store answers before starting anyone: one line, exit 1 when it does not;
- it picks the seed (and, with ``--port 0``, the port) once, so every worker shares them;
- it prints the one start-up line, with ``[N workers]``, when all of them listen;
- SIGTERM or SIGINT stops every worker and exits 0; a worker that dies on its own stops the rest, exit 1;
- a supervisor killed outright (SIGKILL) takes its workers with it: each gets SIGTERM (Linux).

Every response carries ``x-mock-worker: <n>`` (1..N) when there is more than one worker.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import multiprocessing.connection
import os
import secrets
import signal
import socket
import sys
import time
from multiprocessing.context import ForkProcess
from types import FrameType
from typing import cast

from ._version import __version__
from .logs import startup_line
from .serving import bound_socket
from .settings import Settings
from .store import StoreUnreachableError, open_store

__all__ = ["run_workers"]

#: How long the workers may take to listen, and to stop once told to.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


def run_workers(settings: Settings) -> int:
    """Run ``settings.workers`` workers until stopped; the exit status."""
    if settings.store == "memory":
        print(
            f"mockserver: --workers {settings.workers} needs a shared store: add --store redis://HOST:PORT/DB "
            "(with the memory store each worker would keep its own secrets, rules and journal)",
            file=sys.stderr,
        )
        return 2
    try:
        asyncio.run(_check_store(settings.store))
    except StoreUnreachableError as exc:
        print(f"mockserver: {exc}", file=sys.stderr)
        return 1
    seed = settings.seed if settings.seed is not None else secrets.randbits(32)
    try:
        holder = _reserve(settings.host, settings.port)
    except OSError as exc:
        print(f"mockserver: cannot listen on {settings.host}:{settings.port}: {exc.strerror}", file=sys.stderr)
        return 1
    port = holder.getsockname()[1]
    shared = settings.model_copy(update={"seed": seed, "port": port})
    return _Pool(shared).run(holder)


async def _check_store(url: str) -> None:
    store = open_store(url)
    try:
        await store.check()
    finally:
        await store.close()


def _reserve(host: str, port: int) -> socket.socket:
    """A socket bound (never listening) with SO_REUSEPORT: it fixes the port the workers then share."""
    return bound_socket(host, port, reuse_port=True)


class _Pool:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.context = multiprocessing.get_context("fork")
        self.stopping = False

    def run(self, holder: socket.socket) -> int:
        ready_reader, ready_writer = self.context.Pipe(duplex=False)
        workers = [
            self.context.Process(target=_work, args=(self.settings, number, ready_writer), name=f"mockserver-{number}")
            for number in range(1, self.settings.workers + 1)
        ]
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for worker in workers:
                worker.start()
            ready_writer.close()
            try:
                if not self._wait_ready(workers, ready_reader):
                    return self._stop_all(workers, 1)
            finally:
                holder.close()
            self._announce()
            return self._supervise(workers)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _wait_ready(self, workers: list[ForkProcess], ready: multiprocessing.connection.Connection) -> bool:
        waiting = len(workers)
        sentinels = {worker.sentinel: worker for worker in workers}
        deadline = time.monotonic() + START_TIMEOUT
        while waiting and not self.stopping and time.monotonic() < deadline:
            for source in multiprocessing.connection.wait([ready, *sentinels], timeout=0.2):
                if source is ready:
                    ready.recv()
                    waiting -= 1
                else:
                    return False  # a worker could not start (it said why on stderr)
        return waiting == 0

    def _announce(self) -> None:
        settings = self.settings
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        assert settings.seed is not None
        line = startup_line(
            settings.log_format,
            version=__version__,
            host=host,
            port=settings.port,
            seed=settings.seed,
            scenario=settings.scenario,
            workers=settings.workers,
        )
        print(line, flush=True)

    def _supervise(self, workers: list[ForkProcess]) -> int:
        sentinels = {worker.sentinel: worker for worker in workers}
        while not self.stopping:
            ended = multiprocessing.connection.wait(list(sentinels), timeout=0.2)
            if ended and not self.stopping:  # (a worker stopped by our own SIGTERM is no surprise)
                worker = sentinels[cast(int, ended[0])]
                worker.join()
                print(
                    f"mockserver: worker {worker.name} exited unexpectedly (code {worker.exitcode}); "
                    "stopping the others",
                    file=sys.stderr,
                    flush=True,
                )
                return self._stop_all(workers, 1)
        return self._stop_all(workers, 0)

    def _stop_all(self, workers: list[ForkProcess], status: int) -> int:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()  # SIGTERM: the worker drains and stops as a lone server does
        deadline = time.monotonic() + STOP_TIMEOUT
        for worker in workers:
            worker.join(max(deadline - time.monotonic(), 0))
            if worker.is_alive():
                worker.kill()
                worker.join()
        return status


def _work(settings: Settings, number: int, ready: multiprocessing.connection.Connection) -> None:
    """One worker (in the forked child): serve until SIGTERM."""
    from .cli import run  # noqa: PLC0415 - cli imports this module lazily

    # A group of its own: a terminal's Ctrl-C reaches the parent only, which then stops the pool in order.
    os.setpgrp()
    _die_with_parent(os.getppid())
    # The parent's handlers came with the fork; until serve() installs the worker's own, the defaults.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)

    def tell_ready() -> None:
        ready.send(number)
        ready.close()

    status = run(settings, ready_message=False, worker=number, on_ready=tell_ready)
    sys.stdout.flush()
    os._exit(status)


#: ``prctl(PR_SET_PDEATHSIG, ...)``: the signal a process gets when its parent dies (Linux).
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Ask the kernel for SIGTERM when the supervisor dies, however it dies (even SIGKILL): no worker is
    left serving the port on its own. Linux only; elsewhere the supervisor's own stop is the only one."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
