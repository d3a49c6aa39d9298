"""mockserver.realtime.vad: turn detection on audio time (server_vad, semantic_vad, idle timeout)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.defaults import realtime_session, transcription_session
from mockserver.realtime.audio import PCM24K, PCMA, PCMU, AudioFormat, convert, noise, silence, synthesize, tone
from mockserver.realtime.vad import (
    SEMANTIC_SILENCE_MS,
    SpeechStarted,
    SpeechStopped,
    TimeoutTriggered,
    TurnDetection,
    TurnDetector,
    VadEvent,
    semantic_silence_ms,
    threshold_dbfs,
)

FORMATS = [PCM24K, PCMU, PCMA]
SERVER_VAD = TurnDetection("server_vad")
CAPS = {"low": 8000, "medium": 4000, "high": 2000, "auto": 4000}


def detect(config: TurnDetection, audio: bytes, fmt: AudioFormat = PCM24K) -> list[VadEvent]:
    return TurnDetector(config, fmt).feed(audio)


def speech(ms: int, fmt: AudioFormat = PCM24K) -> bytes:
    """A 440 Hz sine at half of full scale (about -9 dBFS RMS)."""
    return tone(440, ms, 0.5, fmt)


# --- the loudness rule --------------------------------------------------------------------------------


@pytest.mark.parametrize(("threshold", "dbfs"), [(0.0, -60), (0.5, -30), (0.8, -12), (0.9, -6), (1.0, 0)])
def test_threshold_maps_to_a_level(threshold: float, dbfs: float) -> None:
    assert threshold_dbfs(threshold) == pytest.approx(dbfs)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("threshold", [0.0, 0.5, 1.0])
def test_digital_silence_is_never_speech(fmt: AudioFormat, threshold: float) -> None:
    detector = TurnDetector(TurnDetection("server_vad", threshold=threshold), fmt)
    assert detector.feed(silence(5000, fmt)) == []
    assert detector.position_ms == 5000


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_half_scale_sine_is_speech_at_the_default_threshold_but_not_at_0_9(fmt: AudioFormat) -> None:
    audio = silence(500, fmt) + speech(1000, fmt) + silence(500, fmt)
    assert detect(SERVER_VAD, audio, fmt) == [SpeechStarted(200), SpeechStopped(1700)]
    assert detect(TurnDetection("server_vad", threshold=0.8), audio, fmt) == [SpeechStarted(200), SpeechStopped(1700)]
    assert detect(TurnDetection("server_vad", threshold=0.9), audio, fmt) == []


@pytest.mark.parametrize(("dbfs", "heard_at"), [(-20.0, (0.5, 0.6)), (-40.0, (0.2, 0.3))])
def test_noise_is_speech_above_its_threshold_only(dbfs: float, heard_at: tuple[float, float]) -> None:
    # -20 dBFS noise passes -30 (0.5) and -24 (0.6) but not -18 (0.7); -40 passes -48 (0.2) and -42 (0.3), not -36.
    audio = noise(1000, dbfs, PCM24K, seed=5) + silence(1000, PCM24K)
    for threshold in heard_at:
        assert detect(TurnDetection("server_vad", threshold=threshold), audio) == [
            SpeechStarted(0),
            SpeechStopped(1200),
        ]
    assert detect(TurnDetection("server_vad", threshold=max(heard_at) + 0.1), audio) == []


# --- start and stop times -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lead_ms", "tone_ms", "padding", "silence_ms", "start", "end"),
    [
        (1000, 1000, 300, 200, 700, 2200),
        (1000, 500, 0, 500, 1000, 2000),
        (200, 1000, 300, 200, 0, 1400),  # padding reaches past the beginning: 0
        (0, 400, 300, 800, 0, 1200),
        (1230, 770, 1000, 350, 230, 2350),
        (2000, 30, 100, 100, 1900, 2130),  # the shortest turn: three speech frames
        (500, 1000, 300, 0, 200, 1500),
    ],
)
def test_exact_start_and_end_of_a_tone(
    lead_ms: int, tone_ms: int, padding: int, silence_ms: int, start: int, end: int
) -> None:
    config = TurnDetection("server_vad", prefix_padding_ms=padding, silence_duration_ms=silence_ms)
    for fmt in FORMATS:
        audio = silence(lead_ms, fmt) + speech(tone_ms, fmt) + silence(silence_ms + 500, fmt)
        assert detect(config, audio, fmt) == [SpeechStarted(start), SpeechStopped(end)]


def test_speech_stopped_comes_only_once_the_silence_has_been_heard() -> None:
    detector = TurnDetector(SERVER_VAD, PCM24K)
    assert detector.feed(speech(1000)) == [SpeechStarted(0)]
    assert detector.in_speech
    assert detector.feed(silence(190, PCM24K)) == []
    assert detector.feed(silence(10, PCM24K)) == [SpeechStopped(1200)]
    assert not detector.in_speech


def test_short_pauses_do_not_end_a_turn() -> None:
    audio = speech(500) + silence(190, PCM24K) + speech(500) + silence(1000, PCM24K)
    assert detect(SERVER_VAD, audio) == [SpeechStarted(0), SpeechStopped(1390)]


def test_a_click_is_not_a_turn_but_thirty_ms_of_speech_is() -> None:
    # Up to 20 ms of sound (aligned, or straddling frames) makes at most two speech frames in a row.
    for click in (speech(10), silence(5, PCM24K) + speech(10), speech(20)):
        assert detect(SERVER_VAD, silence(1000, PCM24K) + click + silence(1000, PCM24K)) == []
    assert detect(SERVER_VAD, silence(1000, PCM24K) + speech(30) + silence(1000, PCM24K)) == [
        SpeechStarted(700),
        SpeechStopped(1230),
    ]


def test_the_next_turn_never_starts_before_the_previous_one_ended() -> None:
    config = TurnDetection("server_vad", prefix_padding_ms=1000, silence_duration_ms=200)
    audio = speech(500) + silence(400, PCM24K) + speech(500) + silence(1000, PCM24K)
    # The first turn ends at 700; the second's speech starts at 900, its padding would reach -100.
    assert detect(config, audio) == [SpeechStarted(0), SpeechStopped(700), SpeechStarted(700), SpeechStopped(1600)]


def test_time_is_cumulative_for_the_session() -> None:
    detector = TurnDetector(SERVER_VAD, PCM24K)
    events = [detector.feed(silence(3000, PCM24K) + speech(1000) + silence(500, PCM24K)) for _ in range(3)]
    assert events == [
        [SpeechStarted(2700), SpeechStopped(4200)],
        [SpeechStarted(7200), SpeechStopped(8700)],
        [SpeechStarted(11700), SpeechStopped(13200)],
    ]
    assert detector.position_ms == 13500


def test_reset_turn_forgets_the_turn_and_moves_the_floor() -> None:
    detector = TurnDetector(SERVER_VAD, PCM24K)
    assert detector.feed(silence(1000, PCM24K) + speech(500)) == [SpeechStarted(700)]
    detector.reset_turn()  # the client committed by hand
    assert not detector.in_speech
    assert detector.feed(silence(300, PCM24K)) == []  # no speech_stopped for a forgotten turn
    # New speech 100 ms after the reset: its padding would reach before the reset, so it starts at the reset.
    assert detector.feed(silence(100, PCM24K)[:-1]) == []
    detector.reset_turn()
    assert detector.position_ms == pytest.approx(1899.958, abs=0.001)
    assert detector.feed(b"\x00" + speech(500) + silence(300, PCM24K)) == [SpeechStarted(1900), SpeechStopped(2600)]


@pytest.mark.parametrize("fmt", [PCMU, PCMA])
def test_g711_input_is_decoded_first(fmt: AudioFormat) -> None:
    pcm = silence(800, PCM24K) + speech(1200) + noise(300, -50, PCM24K) + silence(700, PCM24K)
    assert detect(SERVER_VAD, convert(pcm, PCM24K, fmt), fmt) == detect(SERVER_VAD, pcm) != []


# --- chunking invariance --------------------------------------------------------------------------------

SEGMENT = st.one_of(
    st.tuples(st.just("tone"), st.integers(0, 600)),
    st.tuples(st.just("silence"), st.integers(0, 900)),
    st.tuples(st.just("noise"), st.integers(0, 400)),
)


def build(segments: list[tuple[str, int]], fmt: AudioFormat) -> bytes:
    makers: dict[str, Callable[[int], bytes]] = {
        "tone": lambda ms: speech(ms, fmt),
        "silence": lambda ms: silence(ms, fmt),
        "noise": lambda ms: noise(ms, -26, fmt, seed=ms),
    }
    return b"".join(makers[kind](ms) for kind, ms in segments)


@settings(max_examples=60, deadline=None)
@given(
    segments=st.lists(SEGMENT, min_size=1, max_size=8),
    fmt=st.sampled_from(FORMATS),
    config=st.builds(
        TurnDetection,
        kind=st.just("server_vad"),
        threshold=st.sampled_from([0.3, 0.5, 0.7]),
        prefix_padding_ms=st.integers(0, 1000),
        silence_duration_ms=st.integers(0, 800),
    ),
    sizes=st.one_of(
        st.just([1]),
        st.lists(st.integers(1, 97).filter(lambda n: n % 2), min_size=1, max_size=5),
        st.lists(st.integers(1, 20000), min_size=1, max_size=5),
    ),
)
def test_events_do_not_depend_on_how_the_audio_is_cut(
    segments: list[tuple[str, int]], fmt: AudioFormat, config: TurnDetection, sizes: list[int]
) -> None:
    audio = build(segments, fmt) + silence(1000, fmt)
    whole = TurnDetector(config, fmt)
    expected = whole.feed(audio)
    cut = TurnDetector(config, fmt)
    events: list[VadEvent] = []
    position = 0
    for size in itertools.cycle(sizes):
        if position >= len(audio):
            break
        events += cut.feed(audio[position : position + size])
        position += size
    assert events == expected
    assert cut.position_ms == whole.position_ms
    # Events alternate, start before stop, times never go backwards.
    kinds = [type(event) for event in expected]
    assert kinds == [SpeechStarted, SpeechStopped] * (len(kinds) // 2)
    times = [event.audio_start_ms if isinstance(event, SpeechStarted) else event.audio_end_ms for event in expected]
    assert times == sorted(times)


# --- semantic_vad -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("transcript", "reads_as"),
    [
        ("I'd like a coffee.", "finished"),
        ("Really?", "finished"),
        ("Stop!", "finished"),
        ('He said "go."', "finished"),
        ("I'd like a coffee and", "unfinished"),
        ("I was thinking, um", "unfinished"),
        ("Well, uh.", "unfinished"),
        ("So", "unfinished"),
        ("I want,", "unfinished"),
        ("I want", "unfinished"),
        ("Let me think...", "unfinished"),
        ("Let me think\u2026", "unfinished"),
        (None, "unknown"),
        ("   ", "unknown"),
    ],
)
def test_semantic_silence_follows_how_the_transcript_reads(transcript: str | None, reads_as: str) -> None:
    for eagerness in ("low", "medium", "high"):
        assert semantic_silence_ms(eagerness, transcript) == SEMANTIC_SILENCE_MS[eagerness][reads_as]
    assert semantic_silence_ms("auto", transcript) == semantic_silence_ms("medium", transcript)


def test_semantic_waits_are_ordered_and_capped_by_the_spec() -> None:
    for eagerness, waits in SEMANTIC_SILENCE_MS.items():
        assert waits["finished"] < waits["unknown"] < waits["unfinished"] == CAPS[eagerness]
    assert SEMANTIC_SILENCE_MS["high"]["unknown"] < SEMANTIC_SILENCE_MS["medium"]["unknown"]
    assert SEMANTIC_SILENCE_MS["medium"]["unknown"] < SEMANTIC_SILENCE_MS["low"]["unknown"]


@settings(deadline=None)
@given(eagerness=st.sampled_from(sorted(CAPS)), transcript=st.none() | st.text())
def test_semantic_silence_never_exceeds_the_eagerness_cap(eagerness: str, transcript: str | None) -> None:
    assert 0 < semantic_silence_ms(eagerness, transcript) <= CAPS[eagerness]


@pytest.mark.parametrize(
    ("eagerness", "transcript", "wait"),
    [
        ("auto", None, 1000),
        ("high", "Thanks.", 250),
        ("low", "Thanks.", 1000),
        ("medium", "and then, um", 4000),
        ("low", "I think", 8000),
        ("high", "I think", 2000),
    ],
)
def test_semantic_vad_ends_the_turn_after_its_wait(eagerness: str, transcript: str | None, wait: int) -> None:
    config = TurnDetection("semantic_vad", eagerness=eagerness)
    detector = TurnDetector(config, PCM24K, transcript=lambda: transcript)
    audio = silence(1000, PCM24K) + speech(1000) + silence(9000, PCM24K)
    assert detector.feed(audio) == [SpeechStarted(700), SpeechStopped(2000 + wait)]


def test_semantic_vad_asks_for_the_transcript_when_a_silence_begins() -> None:
    said: list[str | None] = [None]
    detector = TurnDetector(TurnDetection("semantic_vad", eagerness="high"), PCM24K, transcript=lambda: said[-1])
    assert detector.feed(speech(500)) == [SpeechStarted(0)]
    said.append("Can you hear me?")  # the engine learns what this turn says
    assert detector.feed(silence(240, PCM24K)) == []
    assert detector.feed(silence(10, PCM24K)) == [SpeechStopped(750)]


# --- idle timeout -------------------------------------------------------------------------------------


def test_idle_timeout_fires_once_per_arming() -> None:
    detector = TurnDetector(TurnDetection("server_vad", idle_timeout_ms=5000), PCM24K)
    assert detector.feed(silence(1000, PCM24K)) == []
    detector.idle_from(1000)
    assert detector.feed(silence(4990, PCM24K)) == []
    assert detector.feed(silence(10, PCM24K)) == [TimeoutTriggered(1000, 6000)]
    assert detector.feed(silence(20000, PCM24K)) == []
    detector.idle_from(26000)
    assert detector.feed(silence(6000, PCM24K)) == [TimeoutTriggered(26000, 31000)]


def test_idle_timeout_may_be_armed_ahead_and_reports_the_frame_that_crossed_it() -> None:
    detector = TurnDetector(TurnDetection("server_vad", idle_timeout_ms=5000), PCM24K)
    detector.idle_from(2345.5)  # the reply's playback ends ahead of the audio received so far
    assert detector.feed(silence(7340, PCM24K)) == []
    assert detector.feed(silence(20, PCM24K)) == [TimeoutTriggered(2346, 7350)]


def test_speech_disarms_the_idle_timeout() -> None:
    detector = TurnDetector(TurnDetection("server_vad", idle_timeout_ms=5000), PCM24K)
    detector.idle_from(0)
    audio = silence(3000, PCM24K) + speech(500) + silence(10000, PCM24K)
    assert detector.feed(audio) == [SpeechStarted(2700), SpeechStopped(3700)]


def test_the_next_turn_starts_after_a_timeout() -> None:
    detector = TurnDetector(TurnDetection("server_vad", idle_timeout_ms=5000, prefix_padding_ms=300), PCM24K)
    detector.idle_from(0)
    assert detector.feed(silence(5100, PCM24K) + speech(500) + silence(300, PCM24K)) == [
        TimeoutTriggered(0, 5000),
        SpeechStarted(5000),
        SpeechStopped(5800),
    ]


def test_only_server_vad_with_a_timeout_has_an_idle_timeout() -> None:
    for config in (TurnDetection("semantic_vad", idle_timeout_ms=5000), SERVER_VAD):
        detector = TurnDetector(config, PCM24K)
        detector.idle_from(0)
        assert detector.feed(silence(40000, PCM24K)) == []


# --- configuration from the session --------------------------------------------------------------------


def test_turn_detection_from_the_mocks_own_session_echoes() -> None:
    realtime = realtime_session({"type": "realtime"}, "sess_1")["audio"]["input"]["turn_detection"]
    assert TurnDetection.from_session(realtime) == TurnDetection("server_vad")
    transcription = transcription_session({"type": "transcription"}, "sess_2")["audio"]["input"]["turn_detection"]
    assert TurnDetection.from_session(transcription) == TurnDetection("server_vad")
    semantic = realtime_session(
        {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "low"}}}},
        "sess_3",
    )["audio"]["input"]["turn_detection"]
    assert TurnDetection.from_session(semantic) == TurnDetection("semantic_vad", eagerness="low")


def test_turn_detection_from_session_values() -> None:
    assert TurnDetection.from_session(None) is None
    assert TurnDetection.from_session(
        {
            "type": "server_vad",
            "threshold": 0.7,
            "prefix_padding_ms": 0,
            "silence_duration_ms": 800,
            "idle_timeout_ms": 6000,
            "create_response": False,
            "interrupt_response": False,
        }
    ) == TurnDetection("server_vad", 0.7, 0, 800, 6000, "auto", False, False)
    assert TurnDetection.from_session({"type": "server_vad", "threshold": None, "idle_timeout_ms": None}) == SERVER_VAD
    assert TurnDetection.from_session({}) == SERVER_VAD
    semantic = TurnDetection.from_session({"type": "semantic_vad"})
    assert semantic == TurnDetection("semantic_vad")
    assert semantic is not None
    assert semantic.eagerness_level == "medium"
    with pytest.raises(ValueError, match="turn detection"):
        TurnDetection.from_session({"type": "push_to_talk"})


# --- synthesized speech as input -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("voice", ["alloy", "echo", "shimmer"])
def test_synthesized_speech_is_one_turn(fmt: AudioFormat, voice: str) -> None:
    said = synthesize("Hello there, how are you doing today? I could use some help with my order.", fmt, voice=voice)
    events = detect(SERVER_VAD, silence(1000, fmt) + said.audio + silence(1000, fmt), fmt)
    assert len(events) == 2
    started, stopped = events
    assert isinstance(started, SpeechStarted)
    assert isinstance(stopped, SpeechStopped)
    assert started.audio_start_ms == 700
    # The last word's pause is part of the audio: the turn ends within it, plus 200 ms of silence.
    assert 1000 + said.duration_ms - 300 <= stopped.audio_end_ms <= 1000 + said.duration_ms + 200


def test_values_the_session_does_not_bound_are_clamped() -> None:
    config = TurnDetection("server_vad", prefix_padding_ms=-500, silence_duration_ms=-300, idle_timeout_ms=10**400)
    detector = TurnDetector(config, PCM24K)
    detector.idle_from(0)
    audio = silence(1000, PCM24K) + speech(500) + silence(100, PCM24K)
    assert detector.feed(audio) == [SpeechStarted(1000), SpeechStopped(1500)]
    quiet = noise(500, -50, PCM24K) + silence(500, PCM24K)
    assert detect(TurnDetection("server_vad", threshold=-3), quiet) == [SpeechStarted(0), SpeechStopped(700)]
    assert detect(TurnDetection("server_vad", threshold=5), speech(500) + silence(500, PCM24K)) == []


# --- fuzz ----------------------------------------------------------------------------------------------

JSON_VALUES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)


@settings(max_examples=80, deadline=None)
@given(
    chunks=st.lists(st.binary(max_size=3000), max_size=12),
    fmt=st.sampled_from(FORMATS),
    kind=st.sampled_from(["server_vad", "semantic_vad"]),
    threshold=st.floats(min_value=0, max_value=1),
)
def test_any_bytes_give_well_formed_events(chunks: list[bytes], fmt: AudioFormat, kind: str, threshold: float) -> None:
    config = TurnDetection.from_session({"type": kind, "threshold": threshold, "idle_timeout_ms": 5000})
    assert config is not None
    detector = TurnDetector(config, fmt, transcript=lambda: "and")
    detector.idle_from(0)
    events = [event for chunk in chunks for event in detector.feed(chunk)]
    assert detector.position_ms == (sum(map(len, chunks)) // fmt.sample_width) * 1000 / fmt.rate
    for event in events:
        values = [getattr(event, name) for name in event.__slots__]
        assert all(isinstance(value, int) and 0 <= value <= detector.position_ms for value in values)


@settings(deadline=None)
@given(
    settings_=st.dictionaries(
        st.sampled_from(
            [
                "type",
                "threshold",
                "prefix_padding_ms",
                "silence_duration_ms",
                "idle_timeout_ms",
                "eagerness",
                "create_response",
            ]
        ),
        JSON_VALUES,
    )
)
def test_from_session_takes_any_mapping_or_says_why_not(settings_: dict[str, object]) -> None:
    if settings_.get("type", "server_vad") not in ("server_vad", "semantic_vad"):
        with pytest.raises(ValueError, match="turn detection"):
            TurnDetection.from_session(settings_)
        return
    config = TurnDetection.from_session(settings_)
    assert config is not None
    assert config.kind == settings_.get("type", "server_vad")
    assert isinstance(config.create_response, bool)
    assert isinstance(config.prefix_padding_ms, int)
    # Whatever the numbers, a detector works with them (a threshold outside 0..1 is clamped).
    heard = TurnDetector(config, PCM24K).feed(speech(100) + silence(9000, PCM24K))
    assert [type(event) for event in heard] in ([], [SpeechStarted], [SpeechStarted, SpeechStopped])
    assert all(value >= 0 for event in heard for value in (getattr(event, name) for name in event.__slots__))
