"""Fuzzing the Realtime client events: in process, and over a real WebSocket on 127.0.0.1.

The events come from ``tests/event_strategies.py`` (written from the spec, not from the mock's models):
valid events, events with exactly one fault (each knows the code, param and message it must give),
arbitrary JSON, valid events with a random subtree, megabyte strings, deep nesting, binary frames,
bytes that are not UTF-8 and text that is not JSON.

Two tiers run the same properties; only the number of examples differs:

* fast (the default run): ``pytest tests/test_realtime_fuzz.py``;
* slow: ``pytest -m slow tests/test_realtime_fuzz.py``: thousands of events in process and over the socket.

``REALTIME_FUZZ_STATS_FILE=path.json`` writes how many cases each property ran.

Over the socket every frame is followed by a barrier (an invalid event with a fresh ``event_id``), so the
replies to each frame are known exactly; one connection serves a whole example set, and a failing example
drops it, so that what it left behind cannot be read by the next one. Every property also checks that
the server logged no error (a traceback) and still answers plain HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from mockserver.realtime.events import FRAME_MAX_BYTES, EventError, parse_client_event
from mockserver.testing import MockServer
from tests import event_strategies as events
from tests import strategies as strats
from tests.event_strategies import Expected, Frame
from tests.helpers import ErrorRecords, server_errors
from tests.strategies import InvalidBody

# --- tiers ------------------------------------------------------------------------------------------------

#: Examples per property: (fast, slow).
EXAMPLES = {
    "valid": (100, 3000),
    "invalid": (200, 6000),
    "hostile": (150, 3000),
    "subtree": (100, 3000),
    "socket_valid": (25, 600),
    "socket_invalid": (50, 1200),
    "socket_hostile": (25, 600),
    "socket_huge": (3, 40),
}
TIERS = [pytest.param("fast", id="fast"), pytest.param("slow", id="slow", marks=pytest.mark.slow)]
_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]


def tier_settings(tier: str, prop: str) -> settings:
    fast, slow = EXAMPLES[prop]
    return settings(
        max_examples=fast if tier == "fast" else slow, deadline=None, suppress_health_check=_SUPPRESSED, print_blob=True
    )


# --- expectations ------------------------------------------------------------------------------------------

EVENT_ID = re.compile(r"^event_[A-Za-z0-9]{21}$")
ERROR_KEYS = ["type", "code", "message", "param", "event_id"]
#: What a valid event may still get: the conversation's own refusals (no such item, nothing to commit or cancel,
#: a response already running, audio that cannot be truncated, a voice that cannot change, a tool choice naming
#: no declared function), and a ``session.update`` of the other session type.
SEMANTIC_CODES = frozenset(
    {
        "item_create_invalid_previous_item_id",
        "item_delete_invalid_item_id",
        "item_retrieve_invalid_item_id",
        "item_truncate_invalid_item_id",
        "item_reference_not_found",
        "unsupported_content_type",
        "input_audio_buffer_commit_empty",
        "response_cancel_not_active",
        "conversation_already_has_active_response",
        "cannot_update_voice",
        "invalid_tool_choice",
    }
)


def check_error(error: dict[str, Any], expected: Expected) -> None:
    """``error`` (an ``error`` event's ``error``) is the one ``expected``."""
    assert (error["code"], error["param"], error["event_id"]) == (expected.code, expected.param, expected.event_id), (
        error
    )
    if expected.message is not None:
        assert error["message"] == expected.message, error
    if expected.prefix is not None:
        assert error["message"].startswith(expected.prefix), error


def expected_of(case: InvalidBody) -> Expected:
    event, code, param = case
    return Expected(code, param, events.echoed_event_id(event), case.message)


def is_valid_close(value: Any) -> bool:
    """A valid ``session.close`` (spec: ``type``, and ``event_id`` of at most 512 characters). An explicit null
    counts as omitted, on any key, as the live API treats it (``schemas._base``): ``{"": null}`` is no parameter."""
    return (
        isinstance(value, dict)
        and value.get("type") == "session.close"
        and {key for key, item in value.items() if item is not None} <= {"type", "event_id"}
        and (value.get("event_id") is None or (isinstance(value["event_id"], str) and len(value["event_id"]) <= 512))
    )


# --- the server, its log, the counters -----------------------------------------------------------------------


@dataclass
class Fuzz:
    server: MockServer
    errors: ErrorRecords
    cases: Counter[str]

    def check_log(self) -> None:
        """The server logged no error (a traceback in the server is one)."""
        assert not self.errors.records, f"the server logged errors:\n{self.errors.describe()}"


@pytest.fixture(scope="module")
def fuzz_module() -> Iterator[Fuzz]:
    with server_errors() as errors, MockServer(seed=20261201) as server:
        fuzz = Fuzz(server, errors, Counter())
        yield fuzz
    path = os.environ.get("REALTIME_FUZZ_STATS_FILE")
    if path:
        with open(path, "w") as handle:
            json.dump({"cases": dict(fuzz.cases), "total": sum(fuzz.cases.values())}, handle, indent=2)


@pytest.fixture
def fuzz(fuzz_module: Fuzz) -> Iterator[Fuzz]:
    fuzz_module.errors.records.clear()
    yield fuzz_module
    fuzz_module.check_log()


# --- in process ------------------------------------------------------------------------------------------------


def parse(data: str | bytes) -> EventError | Any:
    try:
        return parse_client_event(data)
    except EventError as error:
        return error


def rendered(failure: EventError) -> dict[str, Any]:
    """The ``error`` object an ``EventError`` becomes on the socket."""
    error = failure.error
    return {"code": error.code, "message": error.message, "param": error.param, "event_id": failure.client_event_id}


@pytest.mark.parametrize("tier", TIERS)
def test_valid_events_parse(fuzz: Fuzz, tier: str) -> None:
    @tier_settings(tier, "valid")
    @given(events.valid_events())
    def run(event: dict[str, Any]) -> None:
        fuzz.cases["valid"] += 1
        parsed = parse(json.dumps(event))
        assert not isinstance(parsed, EventError), (parsed.error, event)
        assert (parsed.type, parsed.event_id) == (event["type"], event.get("event_id"))

    run()


@pytest.mark.parametrize("tier", TIERS)
def test_every_single_fault_gets_its_error(fuzz: Fuzz, tier: str) -> None:
    @tier_settings(tier, "invalid")
    @given(events.invalid_events())
    def run(case: InvalidBody) -> None:
        fuzz.cases["invalid"] += 1
        note(case.description)
        failure = parse(json.dumps(case[0]))
        assert isinstance(failure, EventError), f"accepted: {case!r}"
        check_error(rendered(failure), expected_of(case))

    run()


@pytest.mark.parametrize("tier", TIERS)
def test_hostile_frames_get_their_error(fuzz: Fuzz, tier: str) -> None:
    @tier_settings(tier, "hostile")
    @given(events.hostile_frames(huge=tier == "slow"))
    def run(frame: Frame) -> None:
        fuzz.cases["hostile"] += 1
        result = parse(frame.data)
        if frame.expected is None:
            assert not isinstance(result, EventError), (result.error, frame)
            return
        assert isinstance(result, EventError), f"accepted: {frame!r}"
        check_error(rendered(result), frame.expected)

    run()


@pytest.mark.parametrize("tier", TIERS)
def test_arbitrary_events_never_break_the_parser(fuzz: Fuzz, tier: str) -> None:
    objects = st.one_of(
        events.json_events_with_a_random_subtree(),
        st.dictionaries(strats.KEYS, strats.arbitrary_json(8), max_size=4),
        st.builds(
            lambda kind, rest: {**rest, "type": kind},
            st.sampled_from(events.ACCEPTED_TYPES),
            st.dictionaries(st.sampled_from(events.EVENT_FIELD_NAMES), strats.arbitrary_json(8), max_size=4),
        ),
    )

    @tier_settings(tier, "subtree")
    @given(objects)
    def run(value: dict[str, Any]) -> None:
        fuzz.cases["subtree"] += 1
        result = parse(json.dumps(value))
        if isinstance(result, EventError):
            assert result.client_event_id == events.echoed_event_id(value)
            assert result.error.status == 400
            assert result.error.param is None or isinstance(result.error.param, str)

    run()


# --- over the socket ---------------------------------------------------------------------------------------------

#: Every wait for the server ends within this many seconds (a 20 MB frame included).
TIMEOUT = 20.0


@dataclass
class Reply:
    """The server events a frame caused, in order, and the close frame if the server closed the socket."""

    events: list[dict[str, Any]]
    close_code: int | None = None


class Wire:
    """One Realtime connection at a time, on a loop of its own; a failed exchange drops it.

    ``PATH`` and the barrier (an invalid event and the code and param of its error) are class attributes, so the
    translation socket's fuzz (``test_translation_fuzz.py``) reuses the harness.
    """

    PATH = "/realtime?model=gpt-realtime"
    #: The barrier's error: the code and param that an invalid ``response_id`` gives.
    BARRIER_ERROR = ("invalid_type", "response_id")
    #: A valid event that is still answered after a run, and the types of its answer.
    ALIVE: tuple[dict[str, Any], list[str]] = (
        {"type": "session.update", "session": {"type": "realtime"}},
        ["session.updated"],
    )

    @staticmethod
    def barrier(event_id: str) -> dict[str, Any]:
        return {"type": "response.cancel", "event_id": event_id, "response_id": 0}

    def __init__(self, server: MockServer) -> None:
        self.url = server.base_url.replace("http://", "ws://", 1) + self.PATH
        self.health = server.url + "/__mock/health"
        self.loop = asyncio.new_event_loop()
        self.http: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.barriers = itertools.count()
        self.connections = 0

    def run(self, frames: list[str | bytes]) -> list[Reply]:
        return self.loop.run_until_complete(self._guarded(frames))

    async def _guarded(self, frames: list[str | bytes]) -> list[Reply]:
        try:
            return [await asyncio.wait_for(self._exchange(frame), TIMEOUT) for frame in frames]
        except BaseException:
            await self._drop()
            raise

    async def _connect(self) -> aiohttp.ClientWebSocketResponse:
        if self.http is None:
            self.http = aiohttp.ClientSession()
        ws = await self.http.ws_connect(self.url, headers={"Authorization": "Bearer sk-fuzz"}, max_msg_size=0)
        created = self._event(await ws.receive(timeout=TIMEOUT))
        assert created["type"] == "session.created", created
        self.connections += 1
        self.ws = ws
        return ws

    async def _drop(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    async def _exchange(self, frame: str | bytes) -> Reply:
        ws = self.ws if self.ws is not None and not self.ws.closed else await self._connect()
        barrier = f"barrier-{next(self.barriers)}"
        if isinstance(frame, bytes):
            await ws.send_bytes(frame)
        else:
            await ws.send_str(frame)
        # A valid session.close closes the socket, and then the barrier cannot go: the close frame says so below.
        with contextlib.suppress(ConnectionError):
            await ws.send_str(json.dumps(self.barrier(barrier)))
        replies: list[dict[str, Any]] = []
        # A response the frame started streams on after the barrier's answer: it is read to its end (the
        # rate_limits.updated after its response.done) before the next frame goes, so it is the frame's.
        streaming: set[str] = set()
        finishing = 0
        barrier_seen = False
        while not barrier_seen or streaming or finishing:
            message = await ws.receive(timeout=TIMEOUT)
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                self.ws = None
                return Reply(replies, ws.close_code)
            event = self._event(message)
            if event["type"] == "error" and event["error"]["event_id"] == barrier:
                assert (event["error"]["code"], event["error"]["param"]) == self.BARRIER_ERROR, event
                barrier_seen = True
                continue
            if event["type"] == "response.created":
                streaming.add(event["response"]["id"])
            elif event["type"] == "response.done":
                streaming.discard(event["response"]["id"])
                finishing += 1
            elif event["type"] == "rate_limits.updated":
                finishing = max(finishing - 1, 0)
            replies.append(event)
        return Reply(replies)

    @staticmethod
    def _event(message: aiohttp.WSMessage) -> dict[str, Any]:
        """A server event as production's: a JSON object in a text frame, ``type`` and an ``event_`` id."""
        assert message.type == WSMsgType.TEXT, f"not a text frame: {message!r}"
        event = json.loads(message.data)
        assert isinstance(event, dict), event
        assert isinstance(event.get("type"), str), event
        assert EVENT_ID.fullmatch(event.get("event_id") or ""), event
        if event["type"] == "error":
            assert list(event) == ["type", "event_id", "error"], event
            assert list(event["error"]) == ERROR_KEYS, event
            assert event["error"]["type"] == "invalid_request_error", event
            assert isinstance(event["error"]["message"], str), event
        return event

    def alive(self) -> None:
        """A valid event is still answered, and plain HTTP too."""
        event, answer = self.ALIVE
        (reply,) = self.run([json.dumps(event)])
        assert [event["type"] for event in reply.events] == answer, reply

        async def health() -> int:
            assert self.http is not None
            async with self.http.get(self.health) as response:
                return response.status

        assert self.loop.run_until_complete(asyncio.wait_for(health(), TIMEOUT)) == 200

    def close(self) -> None:
        async def close() -> None:
            await self._drop()
            if self.http is not None:
                await self.http.close()

        self.loop.run_until_complete(close())
        self.loop.close()


@pytest.fixture
def wire(fuzz: Fuzz) -> Iterator[Wire]:
    wire = Wire(fuzz.server)
    try:
        yield wire
        wire.alive()
    finally:
        wire.close()


@dataclass(frozen=True)
class Case:
    """A frame to send and what must come back: ``expected`` (one error), ``valid`` (no shape error) or neither."""

    data: str | bytes
    expected: Expected | None = None
    valid: bool = False
    description: str = ""

    def __repr__(self) -> str:
        return f"Case({self.description}: {events.shorten(self.data)}, {self.expected!r}, valid={self.valid})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


#: Valid events, except ``session.close`` (it ends the connection; ``test_realtime.py`` covers it).
VALID_CASES = events.valid_events(tuple(kind for kind in events.ACCEPTED_TYPES if kind != "session.close")).map(
    lambda event: Case(json.dumps(event), valid=True, description="valid")
)
INVALID_CASES = events.invalid_events().map(
    lambda case: Case(json.dumps(case[0]), expected_of(case), description=case.description)
)
#: Frames that are not events, and events whose shape nobody predicted (a random subtree, arbitrary JSON).
HOSTILE_CASES = st.one_of(
    events.hostile_frames(huge=False).map(
        lambda frame: Case(frame.data, frame.expected, valid=frame.expected is None, description=frame.description)
    ),
    st.one_of(
        events.json_events_with_a_random_subtree(), st.dictionaries(strats.KEYS, strats.arbitrary_json(6), max_size=3)
    ).map(lambda value: Case(json.dumps(value), description="arbitrary")),
)
SOCKET_CASES = {"valid": VALID_CASES, "invalid": INVALID_CASES, "hostile": HOSTILE_CASES}


def check_case(case: Case, reply: Reply) -> None:
    errors = [event for event in reply.events if event["type"] == "error"]
    if case.expected is not None:
        assert reply.close_code is None, f"closed with {reply.close_code}"
        assert [event["type"] for event in reply.events] == ["error"], reply.events
        check_error(errors[0]["error"], case.expected)
        return
    value = json.loads(case.data) if isinstance(case.data, str) else None
    if reply.close_code is not None:
        assert is_valid_close(value), f"closed with {reply.close_code}"
        assert reply.close_code == 1000
        return
    assert len(errors) <= 1, errors
    if not errors:
        return
    error = errors[0]["error"]
    assert error["event_id"] == events.echoed_event_id(value), error
    if case.valid:
        kind = value["type"] if isinstance(value, dict) else None
        other_session = kind == "session.update" and value["session"]["type"] != "realtime"
        assert error["code"] in SEMANTIC_CODES or (other_session and error["param"] == "session.type"), error


@pytest.mark.parametrize("kind", list(SOCKET_CASES))
@pytest.mark.parametrize("tier", TIERS)
def test_every_frame_gets_its_answer_over_the_socket(fuzz: Fuzz, wire: Wire, tier: str, kind: str) -> None:
    @tier_settings(tier, f"socket_{kind}")
    @given(st.lists(SOCKET_CASES[kind], min_size=1, max_size=4))
    def run(cases: list[Case]) -> None:
        fuzz.cases[f"socket_{kind}"] += len(cases)
        replies = wire.run([case.data for case in cases])
        for case, reply in zip(cases, replies, strict=True):
            note(f"{case!r} -> {[e['type'] for e in reply.events]}")
            check_case(case, reply)
        fuzz.check_log()

    run()


@pytest.mark.parametrize("tier", TIERS)
def test_megabyte_frames_over_the_socket(fuzz: Fuzz, wire: Wire, tier: str) -> None:
    @tier_settings(tier, "socket_huge")
    @given(events.huge_frames())
    def run(frame: Frame) -> None:
        fuzz.cases["socket_huge"] += 1
        (reply,) = wire.run([frame.data])
        check_case(Case(frame.data, frame.expected, valid=frame.expected is None), reply)
        fuzz.check_log()

    run()


# --- what the WebSocket layer refuses -----------------------------------------------------------------------------


async def _open(fuzz: Fuzz, http: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    url = fuzz.server.base_url.replace("http://", "ws://", 1) + "/realtime?model=gpt-realtime"
    ws = await http.ws_connect(url, headers={"Authorization": "Bearer sk-fuzz"}, max_msg_size=0)
    created = await ws.receive_json(timeout=TIMEOUT)
    assert created["type"] == "session.created"
    return ws


async def _still_serves(fuzz: Fuzz, http: aiohttp.ClientSession) -> None:
    ws = await _open(fuzz, http)
    await ws.send_str('{"type": "input_audio_buffer.clear"}')
    cleared = await ws.receive_json(timeout=TIMEOUT)
    assert cleared["type"] == "input_audio_buffer.cleared"
    await ws.close()
    async with http.get(fuzz.server.url + "/__mock/health") as response:
        assert response.status == 200


@pytest.mark.parametrize(
    "payload", [b"\xff", b'{"type": "input_audio_buffer.clear", "event_id": "\xc3"}', b"\xed\xa0\x80"]
)
async def test_a_text_frame_that_is_not_utf8_fails_the_connection_with_1007(fuzz: Fuzz, payload: bytes) -> None:
    # RFC 6455 §8.1: invalid UTF-8 in a text frame fails the connection. aiohttp's client has no public way to send
    # one, so the frame goes through its writer directly.
    async with aiohttp.ClientSession() as http:
        ws = await _open(fuzz, http)
        await ws._writer.send_frame(payload, WSMsgType.TEXT)
        closing = await ws.receive(timeout=TIMEOUT)
        assert closing.type == WSMsgType.CLOSE, closing
        assert ws.close_code == 1007
        await ws.close()
        await _still_serves(fuzz, http)


async def test_a_frame_over_the_limit_is_refused_with_1009(fuzz: Fuzz) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await _open(fuzz, http)
        # The server may hang up while the frame is still being written.
        with contextlib.suppress(ConnectionError):
            await ws.send_str("x" * (FRAME_MAX_BYTES + 1))
        closing = await ws.receive(timeout=TIMEOUT)
        assert closing.type == WSMsgType.CLOSE, closing
        assert closing.data == 1009
        await ws.close()
        await _still_serves(fuzz, http)
