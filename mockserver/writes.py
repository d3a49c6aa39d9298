"""Writes that leave together: what the connections of one server write in one turn of the event loop.

Under load one turn of the loop answers many requests, one after another, and each answer used to go out
with its own ``send()`` at once. A client on another CPU then wakes up for every answer, and waking a
sleeping CPU is what a ``send()`` costs most (on the virtual machines CI runs on, a hypervisor round
trip, charged to the sender): measured with ``perf``, 22-24 % of the server's CPU under a 32-connection load.

So each server has a :class:`TurnWriter`. Writes wait in their connection's :class:`BatchedTransport` and
leave together when the turn ends (the loop runs the flush before it handles any new event): the client wakes
once for the batch. Only while the server is quiet (the last turn wrote once at most) does a turn's first write
go out at once, so a lone request, the usual case in a test, gets its answer with no delay; under load the
first waits with the rest. A connection's bytes stay in order, and ``close()`` and ``abort()`` send what waits
first: every byte reaches the socket as it did before, only later in the turn.

:class:`TurnSite` is the listening site every runner uses (``serving.listening_site``); its connections
hand aiohttp a :class:`BatchedTransport` and then talk to aiohttp directly (``set_protocol``), so reading
costs nothing extra.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterable
from typing import Any, cast

from aiohttp import web

__all__ = ["BatchedTransport", "TurnSite", "TurnWriter"]

Data = bytes | bytearray | memoryview


class TurnWriter:
    """The writes of one server's connections, sent at the end of the loop's turn (a quiet turn's first at once)."""

    __slots__ = ("_armed", "_busy", "_loop", "_waiting", "_writes")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        #: A write happened this turn, and the end of the turn is scheduled.
        self._armed = False
        #: The last turn wrote more than once: under load, the turn's first write waits too.
        self._busy = False
        self._writes = 0
        self._waiting: list[BatchedTransport] = []

    def write(self, transport: BatchedTransport, data: Data) -> None:
        self._writes += 1
        if transport.held is not None:  # already waiting: after what waits, in order
            transport.held.append(bytes(data))
            return
        if not self._armed:
            self._armed = True
            self._loop.call_soon(self._end_turn)
            if not self._busy:
                transport.inner.write(data)
                return
        if transport.inner.is_closing():
            transport.inner.write(data)  # asyncio's own handling of a write to a closed connection
        else:
            transport.held = [bytes(data)]
            self._waiting.append(transport)

    def _end_turn(self) -> None:
        self._armed = False
        self._busy = self._writes > 1
        self._writes = 0
        waiting, self._waiting = self._waiting, []
        for transport in waiting:
            transport.flush()


class BatchedTransport(asyncio.Transport):
    """A connection's transport as aiohttp sees it: writes go through the server's :class:`TurnWriter`,
    everything else straight to the socket's transport (``inner``)."""

    __slots__ = ("_writer", "held", "inner")

    def __init__(self, inner: asyncio.Transport, writer: TurnWriter) -> None:
        super().__init__()
        self.inner = inner
        self._writer = writer
        #: What this connection wrote this turn, waiting for the turn's end (``None``: nothing waits).
        self.held: list[bytes] | None = None

    def write(self, data: Data) -> None:
        self._writer.write(self, data)

    def writelines(self, list_of_data: Iterable[Data]) -> None:
        self._writer.write(self, b"".join(list_of_data))

    def flush(self) -> None:
        """Send what waits (dropped if the connection closed meanwhile)."""
        held, self.held = self.held, None
        if held and not self.inner.is_closing():
            self.inner.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self.flush()
        self.inner.close()

    def abort(self) -> None:
        # What was written before stays written, as it would have been with no batching (it would have gone
        # to the socket at once); only the transport's own unsent buffer is dropped, as ``abort`` does.
        self.flush()
        self.inner.abort()

    def write_eof(self) -> None:
        self.flush()
        self.inner.write_eof()

    def can_write_eof(self) -> bool:
        return self.inner.can_write_eof()

    def is_closing(self) -> bool:
        return self.inner.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.inner.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self.inner.pause_reading()

    def resume_reading(self) -> None:
        self.inner.resume_reading()

    def is_reading(self) -> bool:
        return self.inner.is_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.inner.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self.inner.get_write_buffer_limits()

    def get_write_buffer_size(self) -> int:
        return self.inner.get_write_buffer_size() + sum(map(len, self.held or ()))

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.inner.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.inner.get_protocol()


class _Handoff(asyncio.Protocol):
    """A new connection's first protocol: gives aiohttp's protocol the batched transport, then steps aside."""

    __slots__ = ("_protocol", "_writer")

    def __init__(self, protocol: asyncio.Protocol, writer: TurnWriter) -> None:
        self._protocol = protocol
        self._writer = writer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is one without deriving from ``asyncio.Transport``).
        stream = cast(asyncio.Transport, transport)
        # From now on the socket's transport calls aiohttp's protocol itself (data, flow control, loss).
        stream.set_protocol(self._protocol)
        self._protocol.connection_made(BatchedTransport(stream, self._writer))

    def connection_lost(self, exc: Exception | None) -> None:  # pragma: no cover - lost before it was made
        self._protocol.connection_lost(exc)


class TurnSite(web.BaseSite):
    """Where a runner listens: a bound socket, or a host name and port; each connection's writes batched
    per loop turn by one :class:`TurnWriter` for the site."""

    __slots__ = ("_host", "_name", "_port", "_reuse_port", "_sock")

    def __init__(
        self,
        runner: web.BaseRunner,
        *,
        sock: socket.socket | None = None,
        host: str | None = None,
        port: int = 0,
        reuse_port: bool = False,
    ) -> None:
        super().__init__(runner)
        self._sock, self._host, self._port, self._reuse_port = sock, host, port, reuse_port
        if sock is not None:
            host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if host and ":" in host else host
        self._name = f"http://{shown}:{port}"

    @property
    def name(self) -> str:
        return self._name

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        writer = TurnWriter(loop)
        factory: Callable[[], asyncio.Protocol] = lambda: _Handoff(server(), writer)  # noqa: E731
        if self._sock is not None:
            self._server = await loop.create_server(factory, sock=self._sock, backlog=self._backlog)
        else:
            self._server = await loop.create_server(
                factory, self._host, self._port, backlog=self._backlog, reuse_port=self._reuse_port or None
            )
