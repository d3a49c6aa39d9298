"""Writes batched per loop turn (``mockserver.writes``): the first of a turn at once, the rest at its end,
each connection's bytes in order; and the servers every runner starts answer through it."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest

from mockserver.testing import MockServer
from mockserver.writes import BatchedTransport, TurnWriter
from tests.conftest import AUTH
from tests.helpers import http_request

MINT = "/v1/realtime/client_secrets"


class Recorder(asyncio.Transport):
    """The socket's transport, recording what reaches it."""

    def __init__(self, sent: list[tuple[str, bytes]], name: str) -> None:
        super().__init__()
        self.sent, self.name = sent, name
        self.closing = False
        self.aborted = False

    def write(self, data: Any) -> None:
        self.sent.append((self.name, bytes(data)))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.sent.append((self.name, b"<close>"))
        self.closing = True

    def abort(self) -> None:
        self.aborted = self.closing = True

    def get_write_buffer_size(self) -> int:
        return 7


def connections(count: int) -> tuple[list[tuple[str, bytes]], list[BatchedTransport]]:
    sent: list[tuple[str, bytes]] = []
    writer = TurnWriter(asyncio.get_running_loop())
    return sent, [BatchedTransport(Recorder(sent, f"c{n}"), writer) for n in range(count)]


async def next_turn() -> None:
    await asyncio.sleep(0)


async def test_a_quiet_turns_first_write_goes_at_once_and_the_rest_at_its_end() -> None:
    sent, (a, b, c) = connections(3)
    a.write(b"a1")
    assert sent == [("c0", b"a1")]
    b.write(b"b1")
    c.write(bytearray(b"c1"))
    b.writelines([b"b2", memoryview(b"b3")])
    a.write(b"a2")  # a wrote first this turn; a later write of it waits too
    assert sent == [("c0", b"a1")]
    assert b.get_write_buffer_size() == 7 + 6
    await next_turn()
    assert sent == [("c0", b"a1"), ("c1", b"b1b2b3"), ("c2", b"c1"), ("c0", b"a2")]


async def test_under_load_the_first_write_waits_too_until_a_quiet_turn() -> None:
    sent, (a, b) = connections(2)
    a.write(b"1")
    b.write(b"2")  # two writes: a busy turn
    await next_turn()
    del sent[:]
    a.write(b"3")  # the turn after a busy one: even its first write waits for the turn's end
    assert sent == []
    await next_turn()  # ... and this turn wrote once: quiet
    assert sent == [("c0", b"3")]
    b.write(b"4")
    assert sent == [("c0", b"3"), ("c1", b"4")]  # a quiet turn's first write goes at once again


async def test_close_and_abort_send_what_waits_first() -> None:
    # Without batching those bytes would have reached the socket already: an abort must not lose them.
    sent, (a, b, c) = connections(3)
    a.write(b"first")
    b.write(b"answer")
    c.write(b"events")
    b.close()
    c.abort()
    assert sent == [("c0", b"first"), ("c1", b"answer"), ("c1", b"<close>"), ("c2", b"events")]
    assert c.inner.aborted  # type: ignore[attr-defined]
    await next_turn()
    assert len(sent) == 4


async def test_a_connection_closed_while_its_bytes_wait_gets_none_of_them() -> None:
    sent, (a, b) = connections(2)
    a.write(b"first")
    b.write(b"late")
    b.inner.closing = True  # type: ignore[attr-defined] # the peer went away meanwhile
    await next_turn()
    assert sent == [("c0", b"first")]


def _request(path: str, body: bytes, *, close: bool = False) -> bytes:
    headers = f"Authorization: {AUTH['Authorization']}\r\nContent-Type: application/json\r\n".encode()
    return http_request("POST", path, headers=headers, body=body, close=close)


async def _read_responses(reader: asyncio.StreamReader, count: int) -> list[tuple[int, dict[str, Any]]]:
    answers = []
    for _ in range(count):
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode()
        status = int(head.split(" ", 2)[1])
        length = next(
            int(line.split(":", 1)[1]) for line in head.split("\r\n") if line.lower().startswith("content-length:")
        )
        answers.append((status, json.loads(await reader.readexactly(length))))
    return answers


async def test_pipelined_requests_are_answered_in_order() -> None:
    async with MockServer(seed=5) as mock:
        reader, writer = await asyncio.open_connection("127.0.0.1", mock.port)
        bodies = [b'{"session": {"type": "realtime"}}', b'{"session": {"type": "nope"}}', b"{}"]
        writer.write(b"".join(_request(MINT, body) for body in bodies))
        answers = await _read_responses(reader, 3)
        writer.close()
        await writer.wait_closed()
    assert [status for status, _ in answers] == [200, 400, 200]
    assert answers[0][1]["value"].startswith("ek_")
    assert answers[2][1]["value"].startswith("ek_")
    assert answers[0][1]["value"] != answers[2][1]["value"]
    assert answers[1][1]["error"]["param"] == "session.type"


async def test_many_connections_at_once_each_get_their_own_answer() -> None:
    async with MockServer(seed=6) as mock:
        streams = [await asyncio.open_connection("127.0.0.1", mock.port) for _ in range(40)]
        for round_ in range(3):
            for _, writer in streams:
                writer.write(_request(MINT, b'{"session": {"type": "realtime"}}'))
            answers = await asyncio.gather(*(_read_responses(reader, 1) for reader, _ in streams))
            values = [answer[0][1]["value"] for answer in answers]
            assert all(status == 200 for answer in answers for status, _ in answer)
            assert len(set(values)) == 40, round_
        for _, writer in streams:
            writer.close()
        minted = [entry for entry in mock.requests() if entry.status == 200]
    assert len(minted) == 120


async def test_an_answer_with_connection_close_arrives_before_the_close() -> None:
    async with MockServer() as mock:
        readers = []
        # Several at once, so that most answers wait for the turn's end before their connection closes.
        for _ in range(8):
            reader, writer = await asyncio.open_connection("127.0.0.1", mock.port)
            writer.write(_request(MINT, b"{}", close=True))
            readers.append((reader, writer))
        for reader, writer in readers:
            data = await asyncio.wait_for(reader.read(), 10)  # everything up to the server's close
            assert data.startswith(b"HTTP/1.1 200 OK\r\n")
            assert b'"value": "ek_' in data
            writer.close()


@pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])
def test_the_command_line_server_batches_on_either_loop(loop_name: str) -> None:
    # The site wraps whatever transport the loop makes (uvloop's too, which the test extra installs); answers
    # stay whole and in order.
    from mockserver.loops import event_loop_factory  # noqa: PLC0415

    async def main() -> list[int]:
        async with MockServer() as mock:
            streams = [await asyncio.open_connection("127.0.0.1", mock.port) for _ in range(10)]
            for _, writer in streams:
                writer.write(_request(MINT, b"{}") * 2)
            answers = await asyncio.gather(*(_read_responses(reader, 2) for reader, _ in streams))
            for _, writer in streams:
                writer.close()
            return [status for answer in answers for status, _ in answer]

    with asyncio.Runner(loop_factory=event_loop_factory(loop_name)) as runner:
        assert runner.run(main()) == [200] * 20


def test_a_site_on_a_host_name_batches_too() -> None:
    async def main() -> int:
        async with MockServer(host="localhost") as mock:
            reader, writer = await asyncio.open_connection("localhost", mock.port, family=socket.AF_INET)
            writer.write(_request(MINT, b"{}"))
            ((status, body),) = await _read_responses(reader, 1)
            writer.close()
            assert body["value"].startswith("ek_")
            return status

    assert asyncio.run(main()) == 200


# --- any interleaving keeps every connection's bytes whole and in order --------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

#: (connection, what): a write of some bytes, the end of the loop's turn, a close or an abort.
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.integers(0, 3), st.binary(min_size=1, max_size=8)),
        st.tuples(st.integers(0, 3), st.sampled_from(["turn", "close", "abort"])),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(OPERATIONS)
def test_any_interleaving_delivers_each_connections_writes_in_order(operations: list[tuple[int, Any]]) -> None:
    async def run() -> None:
        sent, transports = connections(4)
        written: dict[str, bytes] = {f"c{n}": b"" for n in range(4)}
        for index, what in operations:
            transport = transports[index]
            if what == "turn":
                await next_turn()
            elif what in ("close", "abort"):
                getattr(transport, what)()
            elif not transport.is_closing():  # aiohttp never writes to a closing transport
                transport.write(what)
                written[f"c{index}"] += what
        await next_turn()
        received = {
            name: b"".join(data for who, data in sent if who == name and data != b"<close>") for name in written
        }
        assert received == written
        for name in written:  # nothing reaches a connection after its close
            events = [data for who, data in sent if who == name]
            if b"<close>" in events:
                assert set(events[events.index(b"<close>") :]) == {b"<close>"}

    asyncio.run(run())
