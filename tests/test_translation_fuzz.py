"""Fuzzing the translation session's client events: in process, and over a real WebSocket on 127.0.0.1.

The events are described here from the spec and the SDK (``RealtimeTranslationClientEvent``: ``session.update``
with its updatable fields, ``session.input_audio_buffer.append``, ``session.close``) in the table of
``tests/strategies.py``, so the same machinery as the Realtime fuzz (``test_realtime_fuzz.py``, whose tiers,
expectations and socket harness are reused) draws valid events, events with exactly one fault and the error
each must give, arbitrary JSON, frames that are not events, and megabyte frames. Over the socket every frame
is followed by a barrier, every server event is checked against the SDK's translation types, and the server
must log no error and keep serving.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from mockserver.realtime.events import EventError
from mockserver.realtime.translation_events import TRANSLATION_EVENT_TYPES, parse_translation_event
from mockserver.testing import MockServer
from tests import event_strategies as events
from tests import strategies as strats
from tests.event_strategies import Expected, Frame
from tests.helpers import server_errors
from tests.strategies import Base64, Enum, InvalidBody, Model, Num, Ref, Str
from tests.test_realtime_fuzz import TIERS, Case, Fuzz, Reply, Wire, check_error, rendered
from tests.translation_client import check_translation_event

#: Examples per property: (fast, slow).
EXAMPLES = {"valid": (100, 3000), "invalid": (200, 6000), "subtree": (100, 3000), "socket": (40, 1000), "huge": (3, 30)}

# --- the events, from the spec ----------------------------------------------------------------------------


def _even(data: bytes) -> bytes:
    return data[: len(data) // 2 * 2]


#: Base64 of raw PCM16: whole 2-byte samples (a few milliseconds at most, so no turn completes by chance).
PCM16 = Base64(gen=st.binary(max_size=96).map(_even).map(lambda data: base64.b64encode(data).decode()))
EVENT_ID = Str(max_len=512)


def _event(kind: str, fields: dict[str, Any] | None = None, required: tuple[str, ...] = ()) -> tuple[str, Model]:
    model = Model({"event_id": EVENT_ID, "type": Enum((kind,)), **(fields or {})}, ("type", *required), tagged=True)
    return f"TranslationEvent:{kind}", model


MODELS: dict[str, Model] = dict(
    (
        _event("session.update", {"session": Ref(model="TranslationSessionUpdate")}, ("session",)),
        _event("session.input_audio_buffer.append", {"audio": PCM16}, ("audio",)),
        _event("session.close"),
    )
)
MODELS.update(
    {
        "TranslationSessionUpdate": Model({"audio": Ref(model="TranslationAudio")}),
        "TranslationAudio": Model(
            {"input": Ref(model="TranslationAudioInput"), "output": Ref(model="TranslationAudioOutput")}
        ),
        "TranslationAudioInput": Model(
            {
                "transcription": Ref(model="TranslationTranscription"),
                "noise_reduction": Ref(model="TranslationNoiseReduction"),
            },
            nullable=frozenset({"transcription", "noise_reduction"}),
        ),
        "TranslationTranscription": Model({"model": Str()}, ("model",)),
        # Unlike a realtime session's, the translation schema requires the noise reduction's type.
        "TranslationNoiseReduction": Model(
            {"type": Enum(("near_field", "far_field")), "strength": Num(0, 1)}, ("type",)
        ),
        "TranslationAudioOutput": Model({"language": Str()}),
    }
)
strats.register_models(MODELS)
FIELD_NAMES = tuple(sorted({name for model in MODELS.values() for name in model.fields}))
UNKNOWN_KEYS = st.one_of(strats.KEYS, st.sampled_from(FIELD_NAMES), st.sampled_from(events.EVENT_FIELD_NAMES))


def valid_events(kinds: tuple[str, ...] = TRANSLATION_EVENT_TYPES) -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from(kinds).flatmap(lambda kind: strats.objects_of(f"TranslationEvent:{kind}"))


def invalid_events() -> st.SearchStrategy[InvalidBody]:
    def one(kind: str) -> st.SearchStrategy[InvalidBody]:
        name = f"TranslationEvent:{kind}"
        return strats.invalid_objects(
            name, strats.objects_of(name), tags=TRANSLATION_EVENT_TYPES, unknown_keys=UNKNOWN_KEYS
        )

    return st.sampled_from(TRANSLATION_EVENT_TYPES).flatmap(one).map(events._missing_type)


def expected_of(case: InvalidBody) -> Expected:
    event, code, param = case
    return Expected(code, param, events.echoed_event_id(event), case.message)


def _unsupported(kind: str) -> str:
    listed = "'session.update', 'session.input_audio_buffer.append', and 'session.close'"
    return f"Invalid value: '{kind}'. Supported values are: {listed}."


@st.composite
def realtime_events(draw: st.DrawFn) -> Frame:
    """A valid Realtime event of a type a translation session does not take: refused by its type."""
    event = draw(events.valid_events(tuple(k for k in events.ACCEPTED_TYPES if k not in TRANSLATION_EVENT_TYPES)))
    expected = Expected("invalid_value", "type", events.echoed_event_id(event), _unsupported(event["type"]))
    return Frame(json.dumps(event), expected, "a Realtime event")


@st.composite
def deep_frames(draw: st.DrawFn) -> Frame:
    """Nesting near and past the limit (256 levels): as the whole frame, or under an unknown key."""
    depth = draw(st.one_of(st.integers(1, 300), st.sampled_from((254, 255, 256, 257, 5_000))))
    opener, closer = draw(st.sampled_from((("[", "]"), ('{"a":', "}"))))
    nested = opener * depth + "1" + closer * depth
    if draw(st.booleans()):
        within = "Invalid event: expected an object, but got an array instead." if opener == "[" else None
        return Frame(nested, events._deep_expected(depth, None, within), f"{depth} levels")
    text = f'{{"type": "session.close", "event_id": "deep", "x": {nested}}}'
    unknown = Expected("unknown_parameter", "x", "deep", "Unknown parameter: 'x'.")
    return Frame(text, events._deep_expected(depth + 1, "deep", unknown), f"unknown key {depth} levels deep")


def hostile_frames() -> st.SearchStrategy[Frame]:
    """Frames that are not translation events, each with the error it must give."""
    return st.one_of(
        events.binary_frames(),
        events.hostile_frames(huge=False).filter(
            lambda frame: frame.description in ("not JSON", "JSON that is not an object")
        ),
        realtime_events(),
        deep_frames(),
    )


MIB = 1024 * 1024


@st.composite
def huge_frames(draw: st.DrawFn) -> Frame:
    """Megabytes in one place of an event: audio (up to the 15 MiB an append may carry), an id, a type, a key."""
    size = draw(st.sampled_from((MIB, 3 * MIB)))
    case = draw(st.sampled_from(("silence", "audio_max", "audio_over", "audio_bad", "odd", "event_id", "type", "key")))
    if case == "silence":
        audio = base64.b64encode(bytes(size)).decode()
        return Frame(json.dumps({"type": "session.input_audio_buffer.append", "audio": audio}), None, "silence")
    if case in ("audio_max", "audio_over"):
        extra = 0 if case == "audio_max" else 4
        audio = "AAAA" * ((events.AUDIO_MAX_BASE64 + extra) // 4)
        frame = json.dumps({"type": "session.input_audio_buffer.append", "event_id": "big", "audio": audio})
        if case == "audio_max":
            return Frame(frame, None, "15 MiB of audio")
        message = (
            f"Invalid 'audio': string too long. Expected a string with maximum length {events.AUDIO_MAX_BASE64}, "
            f"but got a string with length {len(audio)} instead."
        )
        return Frame(frame, Expected("string_above_max_length", "audio", "big", message), "15 MiB + 3 B of audio")
    if case == "audio_bad":
        audio = base64.b64encode(bytes(size)).decode() + "!"
        message = "Invalid 'audio'. Expected base64-encoded audio bytes (mono PCM16 at 24kHz) but got an invalid value."
        frame = json.dumps({"type": "session.input_audio_buffer.append", "event_id": "bad", "audio": audio})
        return Frame(frame, Expected("invalid_value", "audio", "bad", message), "audio with a bad last character")
    if case == "odd":
        audio = base64.b64encode(bytes(size + 1)).decode()
        frame = json.dumps({"type": "session.input_audio_buffer.append", "event_id": "odd", "audio": audio})
        return Frame(frame, Expected("invalid_value", "audio", "odd", prefix="Invalid 'audio': expected "), "odd bytes")
    big = "é" * (size // 2)
    if case == "event_id":
        message = (
            "Invalid 'event_id': string too long. Expected a string with maximum length 512, "
            f"but got a string with length {len(big)} instead."
        )
        frame = json.dumps({"type": "session.close", "event_id": big}, ensure_ascii=False)
        return Frame(frame, Expected("string_above_max_length", "event_id", None, message), "huge event_id")
    if case == "type":
        frame = json.dumps({"type": big, "event_id": "t"}, ensure_ascii=False)
        return Frame(frame, Expected("invalid_value", "type", "t", _unsupported(big)), "huge type")
    frame = json.dumps({"type": "session.close", "event_id": "k", big: 1}, ensure_ascii=False)
    return Frame(frame, Expected("unknown_parameter", big, "k", f"Unknown parameter: '{big}'."), "huge unknown key")


# --- in process -------------------------------------------------------------------------------------------------


def parse(data: str | bytes) -> EventError | Any:
    try:
        return parse_translation_event(data)
    except EventError as error:
        return error


def settings_for(tier: str, prop: str) -> settings:
    fast, slow = EXAMPLES[prop]
    return settings(
        max_examples=fast if tier == "fast" else slow,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        print_blob=True,
    )


@pytest.fixture(scope="module")
def fuzz_module() -> Iterator[Fuzz]:
    with server_errors() as errors, MockServer(seed=20261202) as server:
        yield Fuzz(server, errors, Counter())


@pytest.fixture
def fuzz(fuzz_module: Fuzz) -> Iterator[Fuzz]:
    fuzz_module.errors.records.clear()
    yield fuzz_module
    fuzz_module.check_log()


@pytest.mark.parametrize("tier", TIERS)
def test_valid_events_parse(fuzz: Fuzz, tier: str) -> None:
    @settings_for(tier, "valid")
    @given(valid_events())
    def run(event: dict[str, Any]) -> None:
        fuzz.cases["valid"] += 1
        parsed = parse(json.dumps(event))
        assert not isinstance(parsed, EventError), (parsed.error, event)
        assert (parsed.type, parsed.event_id) == (event["type"], event.get("event_id"))

    run()


@pytest.mark.parametrize("tier", TIERS)
def test_every_single_fault_gets_its_error(fuzz: Fuzz, tier: str) -> None:
    @settings_for(tier, "invalid")
    @given(invalid_events())
    def run(case: InvalidBody) -> None:
        fuzz.cases["invalid"] += 1
        note(case.description)
        failure = parse(json.dumps(case[0]))
        assert isinstance(failure, EventError), f"accepted: {case!r}"
        check_error(rendered(failure), expected_of(case))

    run()


@pytest.mark.parametrize("tier", TIERS)
def test_frames_that_are_not_events_get_their_error(fuzz: Fuzz, tier: str) -> None:
    @settings_for(tier, "invalid")
    @given(hostile_frames())
    def run(frame: Frame) -> None:
        fuzz.cases["hostile"] += 1
        failure = parse(frame.data)
        assert isinstance(failure, EventError), f"accepted: {frame!r}"
        assert frame.expected is not None
        check_error(rendered(failure), frame.expected)

    run()


@pytest.mark.parametrize("tier", TIERS)
def test_arbitrary_events_never_break_the_parser(fuzz: Fuzz, tier: str) -> None:
    objects = st.one_of(
        strats.with_a_random_subtree(valid_events(), UNKNOWN_KEYS),
        st.dictionaries(strats.KEYS, strats.arbitrary_json(8), max_size=4),
        st.builds(
            lambda kind, rest: {**rest, "type": kind},
            st.sampled_from(TRANSLATION_EVENT_TYPES),
            st.dictionaries(st.sampled_from(FIELD_NAMES), strats.arbitrary_json(8), max_size=4),
        ),
    )

    @settings_for(tier, "subtree")
    @given(objects)
    def run(value: dict[str, Any]) -> None:
        fuzz.cases["subtree"] += 1
        result = parse(json.dumps(value))
        if isinstance(result, EventError):
            assert result.client_event_id == events.echoed_event_id(value)
            assert result.error.status == 400
            assert result.error.param is None or isinstance(result.error.param, str)

    run()


# --- over the socket --------------------------------------------------------------------------------------------


class TranslationWire(Wire):
    """The Realtime fuzz's socket harness on ``/v1/realtime/translations``; events checked as translation events."""

    PATH = "/realtime/translations?model=gpt-realtime-translate"
    BARRIER_ERROR = ("unknown_parameter", "barrier")
    ALIVE = ({"type": "session.update", "session": {}}, ["session.updated"])

    @staticmethod
    def barrier(event_id: str) -> dict[str, Any]:
        return {"type": "session.close", "event_id": event_id, "barrier": True}

    @staticmethod
    def _event(message: aiohttp.WSMessage) -> dict[str, Any]:
        event = Wire._event(message)
        check_translation_event(event)
        return event


@pytest.fixture
def wire(fuzz: Fuzz) -> Iterator[TranslationWire]:
    wire = TranslationWire(fuzz.server)
    try:
        yield wire
        wire.alive()
    finally:
        wire.close()


#: Valid events, except ``session.close`` (it ends the session; ``test_translation_socket.py`` covers it).
SOCKET_CASES = st.one_of(
    valid_events(TRANSLATION_EVENT_TYPES[:2]).map(
        lambda event: Case(json.dumps(event), valid=True, description="valid")
    ),
    invalid_events().map(lambda case: Case(json.dumps(case[0]), expected_of(case), description=case.description)),
    hostile_frames().map(lambda frame: Case(frame.data, frame.expected, description=frame.description)),
    strats.with_a_random_subtree(valid_events(), UNKNOWN_KEYS).map(
        lambda value: Case(json.dumps(value), description="arbitrary")
    ),
)


def check_case(case: Case, reply: Reply) -> None:
    """One error exactly as expected; for a valid event none; for anything else, at most one, echoing its id.

    A valid ``session.close`` (an arbitrary event may become one) closes the socket normally.
    """
    errors = [event for event in reply.events if event["type"] == "error"]
    if case.expected is not None:
        assert reply.close_code is None, f"closed with {reply.close_code}"
        assert [event["type"] for event in reply.events] == ["error"], reply.events
        check_error(errors[0]["error"], case.expected)
        return
    value = json.loads(case.data) if isinstance(case.data, str) else None
    if reply.close_code is not None:
        assert isinstance(value, dict), value
        assert value.get("type") == "session.close", value
        assert reply.close_code == 1000
        assert reply.events[-1]["type"] == "session.closed"
        return
    if case.valid:
        assert errors == [], errors
        return
    assert len(errors) <= 1, errors
    if errors:
        assert errors[0]["error"]["event_id"] == events.echoed_event_id(value), errors


@pytest.mark.parametrize("tier", TIERS)
def test_every_frame_gets_its_answer_over_the_socket(fuzz: Fuzz, wire: TranslationWire, tier: str) -> None:
    @settings_for(tier, "socket")
    @given(st.lists(SOCKET_CASES, min_size=1, max_size=4))
    def run(cases: list[Case]) -> None:
        fuzz.cases["socket"] += len(cases)
        replies = wire.run([case.data for case in cases])
        for case, reply in zip(cases, replies, strict=True):
            note(f"{case!r} -> {[e['type'] for e in reply.events]}")
            check_case(case, reply)
        fuzz.check_log()

    run()


@pytest.mark.parametrize("tier", TIERS)
def test_megabyte_frames_over_the_socket(fuzz: Fuzz, wire: TranslationWire, tier: str) -> None:
    @settings_for(tier, "huge")
    @given(huge_frames())
    def run(frame: Frame) -> None:
        fuzz.cases["huge"] += 1
        (reply,) = wire.run([frame.data])
        check_case(Case(frame.data, frame.expected, valid=frame.expected is None), reply)
        fuzz.check_log()

    run()
