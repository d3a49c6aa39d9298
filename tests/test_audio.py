"""mockserver.realtime.audio: formats, G.711 against the ITU-T reference, resampling, levels, synthesis."""

from __future__ import annotations

import base64
import itertools
import json
import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.realtime import audio
from mockserver.realtime.audio import (
    PCM24K,
    PCMA,
    PCMU,
    AudioFormat,
    Base64Text,
    Resampler,
    Speech,
    alaw_decode,
    alaw_encode,
    base64_text,
    bytes_for_ms,
    chunks,
    convert,
    decode,
    encode,
    format_of,
    frame_levels,
    ms_for_bytes,
    noise,
    pcm16_from_samples,
    resample,
    rms_dbfs,
    samples_from_pcm16,
    silence,
    synthesize,
    tone,
    ulaw_decode,
    ulaw_encode,
)
from mockserver.realtime.link import dump_event

FORMATS = [PCM24K, PCMU, PCMA]
EVERY_SAMPLE = range(-32768, 32768)
EVERY_PCM16 = struct.pack("<65536h", *EVERY_SAMPLE)
SENTENCE = "Hello there, how are you doing today? I was thinking we could go for a walk in the park."


# --- an independent G.711: the ITU-T G.191 software tools' g711.c, transcribed -------------------------


def reference_alaw_encode(x: int) -> int:
    ix = (~x) >> 4 if x < 0 else x >> 4  # one's complement for negative values
    if ix > 15:
        exponent = 1
        while ix > 16 + 15:
            ix >>= 1
            exponent += 1
        ix -= 16
        ix += exponent << 4
    if x >= 0:
        ix |= 0x80
    return ix ^ 0x55


def reference_alaw_decode(code: int) -> int:
    ix = (code ^ 0x55) & 0x7F
    exponent = ix >> 4
    mantissa = ix & 0x0F
    if exponent > 0:
        mantissa += 16
    mantissa = (mantissa << 4) + 0x08
    if exponent > 1:
        mantissa <<= exponent - 1
    return mantissa if code > 127 else -mantissa


def reference_ulaw_encode(x: int) -> int:
    absno = ((~x) >> 2) + 33 if x < 0 else (x >> 2) + 33
    absno = min(absno, 0x1FFF)
    i = absno >> 6
    segment = 1
    while i:
        segment += 1
        i >>= 1
    high = 0x08 - segment
    low = 0x0F - ((absno >> segment) & 0x0F)
    code = (high << 4) | low
    return code | 0x80 if x >= 0 else code


def reference_ulaw_decode(code: int) -> int:
    sign = -1 if code < 0x80 else 1
    mantissa = ~code
    exponent = (mantissa >> 4) & 0x07
    step = 4 << (exponent + 1)
    return sign * ((0x80 << exponent) + step * (mantissa & 0x0F) + step // 2 - 4 * 33)


def samples(pcm16: bytes) -> list[int]:
    return list(samples_from_pcm16(pcm16))


# --- formats ----------------------------------------------------------------------------------------


def test_format_of_the_session_formats() -> None:
    assert format_of({"type": "audio/pcm", "rate": 24000}) == PCM24K == AudioFormat("audio/pcm", 24000, 2)
    assert format_of({"type": "audio/pcm"}) == PCM24K
    assert format_of({"type": "audio/pcmu"}) == PCMU == AudioFormat("audio/pcmu", 8000, 1)
    assert format_of({"type": "audio/pcma"}) == PCMA == AudioFormat("audio/pcma", 8000, 1)
    assert format_of({"type": "audio/pcm", "rate": 48000}) == AudioFormat("audio/pcm", 48000, 2)
    assert [fmt.as_session() for fmt in FORMATS] == [
        {"type": "audio/pcm", "rate": 24000},
        {"type": "audio/pcmu"},
        {"type": "audio/pcma"},
    ]


@pytest.mark.parametrize(
    "bad", [{"type": "pcm16"}, {}, {"type": "audio/pcm", "rate": 0}, {"type": "audio/pcm", "rate": True}]
)
def test_format_of_refuses_what_is_not_a_format(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"format|rate"):
        format_of(bad)


def test_bytes_and_milliseconds() -> None:
    assert bytes_for_ms(100, PCM24K) == 4800
    assert bytes_for_ms(100, PCMU) == bytes_for_ms(100, PCMA) == 800
    assert bytes_for_ms(10, PCM24K) == 480
    assert ms_for_bytes(4800, PCM24K) == 100.0
    assert ms_for_bytes(800, PCMU) == 100.0
    # A half sample is not time.
    assert ms_for_bytes(4801, PCM24K) == 100.0
    assert ms_for_bytes(1, PCM24K) == 0.0


@settings(deadline=None)
@given(ms=st.integers(min_value=0, max_value=10**6), fmt=st.sampled_from(FORMATS))
def test_milliseconds_survive_a_round_trip_through_bytes(ms: int, fmt: AudioFormat) -> None:
    assert ms_for_bytes(bytes_for_ms(ms, fmt), fmt) == pytest.approx(ms)
    assert bytes_for_ms(ms, fmt) % fmt.sample_width == 0


# --- G.711 ------------------------------------------------------------------------------------------


def test_g711_known_vectors() -> None:
    assert samples(ulaw_decode(b"\xff\x00\x7f\x80")) == [0, -32124, 0, 32124]
    assert ulaw_encode(pcm16_from_samples([0, -32124, 32124])) == b"\xff\x00\x80"
    assert samples(alaw_decode(b"\xd5\x55")) == [8, -8]
    assert alaw_encode(pcm16_from_samples([8, -8, 0, -1])) == b"\xd5\x55\xd5\x55"


def test_ulaw_is_bit_exact_with_the_itu_reference_for_every_sample() -> None:
    assert list(ulaw_encode(EVERY_PCM16)) == [reference_ulaw_encode(x) for x in EVERY_SAMPLE]
    assert samples(ulaw_decode(bytes(range(256)))) == [reference_ulaw_decode(code) for code in range(256)]


def test_alaw_is_bit_exact_with_the_itu_reference_for_every_sample() -> None:
    assert list(alaw_encode(EVERY_PCM16)) == [reference_alaw_encode(x) for x in EVERY_SAMPLE]
    assert samples(alaw_decode(bytes(range(256)))) == [reference_alaw_decode(code) for code in range(256)]


def test_every_code_survives_decode_then_encode() -> None:
    codes = bytes(range(256))
    assert alaw_encode(alaw_decode(codes)) == codes
    # mu-law has two zeros: negative zero (0x7F) decodes to 0, which encodes as positive zero (0xFF).
    assert ulaw_encode(ulaw_decode(codes)) == codes.replace(b"\x7f", b"\xff")


@settings(deadline=None)
@given(pcm=st.binary(max_size=4001))
def test_g711_round_trip_stays_within_a_quantisation_step(pcm: bytes) -> None:
    original = samples(pcm)
    for encoder, decoder, reference in (
        (ulaw_encode, ulaw_decode, reference_ulaw_encode),
        (alaw_encode, alaw_decode, reference_alaw_encode),
    ):
        coded = encoder(pcm)
        assert list(coded) == [reference(x) for x in original]
        back = samples(decoder(coded))
        assert len(back) == len(original)
        assert all(abs(y - x) <= abs(x) / 16 + 8 for x, y in zip(original, back, strict=True))
        # Decoding and encoding again changes nothing (but mu-law's negative zero, which becomes positive zero).
        assert encoder(decoder(coded)) == (coded.replace(b"\x7f", b"\xff") if encoder is ulaw_encode else coded)


@settings(deadline=None)
@given(parts=st.lists(st.binary(max_size=300).map(lambda b: b[: len(b) // 2 * 2]), max_size=8))
def test_g711_encoding_is_stateless(parts: list[bytes]) -> None:
    for encoder in (ulaw_encode, alaw_encode):
        assert encoder(b"".join(parts)) == b"".join(encoder(part) for part in parts)


def test_codecs_drop_a_trailing_half_sample() -> None:
    assert ulaw_encode(b"\x00\x00\x01") == b"\xff"
    assert alaw_encode(b"\x01") == b""
    assert decode(b"\x00\x00\x01", PCM24K) == b"\x00\x00"
    assert encode(b"\x00\x00\x01", PCM24K) == b"\x00\x00"


# --- resampling -------------------------------------------------------------------------------------


def zero_crossings(pcm16: bytes) -> int:
    values = samples(pcm16)
    return sum(1 for a, b in itertools.pairwise(values) if (a < 0) != (b < 0))


@pytest.mark.parametrize(("source", "target"), [(8000, 24000), (24000, 8000), (24000, 48000), (48000, 24000)])
def test_resampling_keeps_a_tones_frequency_and_length(source: int, target: int) -> None:
    pcm = tone(440, 1000, 0.5, AudioFormat("audio/pcm", source, 2))
    converted = resample(pcm, source, target)
    assert len(converted) == 2 * target
    # 440 Hz over one second crosses zero 880 times.
    assert abs(zero_crossings(pcm) - 880) <= 2
    assert abs(zero_crossings(converted) - 880) <= 4
    assert rms_dbfs(converted) == pytest.approx(rms_dbfs(pcm), abs=0.5)


def test_convert_between_session_formats_keeps_the_signal() -> None:
    pcm = tone(440, 500, 0.5, PCM24K)
    for fmt in (PCMU, PCMA):
        coded = convert(pcm, PCM24K, fmt)
        assert len(coded) == bytes_for_ms(500, fmt)
        assert abs(zero_crossings(decode(coded, fmt)) - 440) <= 4
        back = convert(coded, fmt, PCM24K)
        assert len(back) == len(pcm)
        assert rms_dbfs(back) == pytest.approx(rms_dbfs(pcm), abs=0.5)
    assert convert(b"\x01\x02\x03", PCM24K, PCM24K) == b"\x01\x02"


@settings(deadline=None, max_examples=50)
@given(cuts=st.lists(st.integers(min_value=0, max_value=9600), max_size=12))
def test_a_stream_resampler_gives_the_same_audio_in_any_chunks(cuts: list[int]) -> None:
    pcm = tone(300, 200, 0.4, AudioFormat("audio/pcm", 48000, 2))
    whole = Resampler(48000, 24000).convert(pcm)
    streamed = Resampler(48000, 24000)
    bounds = [0, *sorted(cut % (len(pcm) + 1) for cut in cuts), len(pcm)]
    assert b"".join(streamed.convert(pcm[a:b]) for a, b in itertools.pairwise(bounds)) == whole
    assert abs(len(whole) - len(pcm) // 2) <= 4


# --- levels and test signals -------------------------------------------------------------------------


def test_levels() -> None:
    assert rms_dbfs(b"") == -math.inf
    assert rms_dbfs(bytes(4800)) == -math.inf
    assert rms_dbfs(tone(440, 1000, 0.5, PCM24K)) == pytest.approx(-9.03, abs=0.05)
    assert rms_dbfs(tone(440, 1000, 1.0, PCM24K)) == pytest.approx(-3.01, abs=0.05)
    assert rms_dbfs(pcm16_from_samples([32767, -32768] * 100)) == pytest.approx(0.0, abs=0.01)
    for dbfs in (-50, -30, -20, -10):
        assert rms_dbfs(noise(1000, dbfs, PCM24K, seed=3)) == pytest.approx(dbfs, abs=0.3)


@pytest.mark.parametrize("fmt", FORMATS)
def test_test_signals_in_every_format(fmt: AudioFormat) -> None:
    quiet = silence(250, fmt)
    assert len(quiet) == bytes_for_ms(250, fmt)
    assert max(abs(x) for x in samples(decode(quiet, fmt))) <= 8  # A-law's quietest code is +-8
    sine = tone(440, 250, 0.5, fmt)
    assert len(sine) == bytes_for_ms(250, fmt)
    assert rms_dbfs(decode(sine, fmt)) == pytest.approx(-9.03, abs=0.1)
    hiss = noise(250, -25, fmt, seed=1)
    assert hiss == noise(250, -25, fmt, seed=1) != noise(250, -25, fmt, seed=2)
    assert rms_dbfs(decode(hiss, fmt)) == pytest.approx(-25, abs=0.6)


def test_frame_levels_are_the_rms_of_each_whole_frame() -> None:
    pcm = silence(20, PCM24K) + pcm16_from_samples([1000, -1000] * 120) + tone(440, 25, 0.5, PCM24K)
    levels = frame_levels(pcm, 240)
    assert len(levels) == 5  # 55 ms: the last 5 ms are not a whole frame
    assert levels[:3] == [0, 0, 1000]
    assert all(abs(20 * math.log10(level / 32768) + 9.03) < 0.2 for level in levels[3:])


def test_samples_are_clipped_and_rounded() -> None:
    assert samples(pcm16_from_samples([40000, -40000, 1.6, -1.6])) == [32767, -32768, 2, -2]
    assert samples(b"\x01\x00\xff\xff\x07") == [1, -1]


# --- speech synthesis -------------------------------------------------------------------------------


def said_words(text: str) -> int:
    return sum(1 for token in text.split() if any(char.isalnum() for char in token))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("speed", [0.25, 0.5, 1.0, 1.5])
def test_speech_lasts_400_ms_a_word_divided_by_speed(fmt: AudioFormat, speed: float) -> None:
    speech = synthesize(SENTENCE, fmt, speed=speed)
    words = said_words(SENTENCE)
    assert words == 19
    assert len(speech.audio) == round(words * 0.4 * fmt.rate / speed) * fmt.sample_width
    assert speech.duration_ms == pytest.approx(words * 400 / speed, abs=0.2)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("voice", [*audio.VOICE_PITCH_HZ, "voice_1234"])
def test_speech_is_loud_enough_for_vad_and_not_too_loud(fmt: AudioFormat, voice: str) -> None:
    speech = synthesize(SENTENCE, fmt, voice=voice)
    level = rms_dbfs(decode(speech.audio, fmt))
    assert -20 <= level <= -12
    # Audible everywhere: every said word carries sound well above the default VAD threshold (-30 dBFS).
    for span in speech.words:
        assert rms_dbfs(decode(speech.audio[span.start : span.end], fmt)) > -25


def test_speech_is_deterministic_and_does_not_depend_on_the_cache() -> None:
    first = synthesize(SENTENCE, PCM24K, voice="coral", speed=1.2)
    assert synthesize(SENTENCE, PCM24K, voice="coral", speed=1.2) == first
    audio._syllable.cache_clear()
    audio._period.cache_clear()
    audio._wavetable.cache_clear()
    assert synthesize(SENTENCE, PCM24K, voice="coral", speed=1.2) == first


def test_voices_and_texts_sound_different() -> None:
    by_voice = {synthesize("Good morning", PCM24K, voice=voice).audio for voice in audio.VOICE_PITCH_HZ}
    assert len(by_voice) == len(audio.VOICE_PITCH_HZ)
    assert synthesize("Good morning", PCMU).audio != synthesize("Good evening", PCMU).audio


def pitch_hz(pcm16: bytes, rate: int) -> float:
    """The fundamental of a voiced stretch, by autocorrelation over 70..400 Hz."""
    values = samples(pcm16)
    window = values[: rate // 25]

    def similarity(lag: int) -> float:
        return sum(a * b for a, b in zip(window, values[lag : lag + len(window)], strict=False))

    lags = range(rate // 400, rate // 70)
    scores = [similarity(lag) for lag in lags]
    # The first lag nearly as similar as the best: a multiple of the period scores as high as the period.
    best = max(scores)
    return rate / next(lag for lag, score in zip(lags, scores, strict=True) if score >= 0.9 * best)


@pytest.mark.parametrize("voice", ["echo", "alloy", "shimmer"])
def test_pitch_follows_the_voice(voice: str) -> None:
    speech = synthesize("aaa", PCM24K, voice=voice)
    middle = len(speech.audio) // 4 * 2  # mid-syllable, away from the envelope's edges
    expected = audio.VOICE_PITCH_HZ[voice]
    assert pitch_hz(speech.audio[middle:], PCM24K.rate) == pytest.approx(expected, rel=0.12)


@pytest.mark.parametrize("fmt", FORMATS)
def test_g711_speech_is_the_encoded_pcm_speech_rate(fmt: AudioFormat) -> None:
    speech = synthesize("Testing one two three.", fmt)
    assert speech.format == fmt
    assert len(speech.audio) == round(4 * 0.4 * fmt.rate) * fmt.sample_width
    assert len(set(speech.audio)) > 20  # a real waveform, not a constant


def test_word_spans_tile_the_audio_and_give_back_the_text() -> None:
    text = "  Hello there,   how are you today?  Fine - thanks!\n"
    speech = synthesize(text, PCM24K)
    assert [span.word for span in speech.words] == [
        "Hello",
        "there,",
        "how",
        "are",
        "you",
        "today?",
        "Fine",
        "-",
        "thanks!",
    ]
    assert "".join(span.text for span in speech.words) == text
    assert speech.words[0].start == 0
    assert speech.words[-1].end == len(speech.audio)
    for before, after in itertools.pairwise(speech.words):
        assert before.end == after.start
    dash = speech.words[7]
    assert dash.start == dash.end  # not said
    # Pauses: longer after a comma, longest after a sentence.
    plain, comma, question = (speech.words[i] for i in (0, 1, 5))
    assert plain.end - plain.start < comma.end - comma.start < question.end - question.start


@given(text=st.text(max_size=60), fmt=st.sampled_from(FORMATS), speed=st.floats(min_value=0.25, max_value=1.5))
@settings(max_examples=60, deadline=None)
def test_any_text_gives_tiling_spans_and_the_promised_length(text: str, fmt: AudioFormat, speed: float) -> None:
    speech = synthesize(text, fmt, speed=speed)
    words = said_words(text)
    assert len(speech.audio) == round(words * 0.4 * fmt.rate / speed) * fmt.sample_width
    assert "".join(span.text for span in speech.words) == text
    position = 0
    for span in speech.words:
        assert span.start == position
        assert span.start % fmt.sample_width == 0
        assert span.end % fmt.sample_width == 0
        position = span.end
    assert position == len(speech.audio)


def test_any_string_can_be_said() -> None:
    # Lone surrogates cannot come through JSON, but the function must not care.
    speech = synthesize("caf\u00e9 \ud800x \u65e5\u672c 42", PCMA, voice="\udfff")
    assert len(speech.audio) == round(4 * 0.4 * PCMA.rate)
    assert [span.word for span in speech.words] == ["caf\u00e9", "\ud800x", "\u65e5\u672c", "42"]


def test_empty_text_is_no_speech() -> None:
    assert synthesize("", PCM24K) == Speech(b"", PCM24K, ())
    assert synthesize("...", PCMU).audio == b""
    assert list(chunks(synthesize("", PCM24K), 40)) == []


@pytest.mark.parametrize("speed", [0, -1, 4.5, math.nan])
def test_speed_out_of_range_is_refused(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        synthesize("hi", PCM24K, speed=speed)


def test_transcript_until_tells_what_was_heard() -> None:
    speech = synthesize("One two three", PCM24K)
    second = speech.words[1]
    assert speech.transcript_until(0) == ""
    assert speech.transcript_until(second.start) == "One"
    assert speech.transcript_until(second.start + 2) == "One two"
    assert speech.transcript_until(len(speech.audio)) == "One two three"


@given(max_ms=st.floats(min_value=0.1, max_value=5000), fmt=st.sampled_from(FORMATS))
@settings(max_examples=60, deadline=None)
def test_chunks_rebuild_the_speech_and_carry_each_word_once(max_ms: float, fmt: AudioFormat) -> None:
    speech = synthesize("Well, this is a test... of chunks!", fmt)
    pieces = list(chunks(speech, max_ms))
    assert b"".join(piece.audio for piece in pieces) == speech.audio
    limit = max(fmt.sample_width, bytes_for_ms(max_ms, fmt))
    position = 0
    for piece in pieces:
        assert piece.start == position
        assert 0 < len(piece.audio) <= limit
        assert len(piece.audio) % fmt.sample_width == 0
        position += len(piece.audio)
    assert [span for piece in pieces for span in piece.words] == list(speech.words)
    for index, piece in enumerate(pieces):
        end = piece.start + len(piece.audio)
        assert all(piece.start <= span.start < end or index == len(pieces) - 1 for span in piece.words)
    # A new word always begins a new chunk.
    starts = {piece.start for piece in pieces}
    assert all(span.start in starts for span in speech.words if span.start < len(speech.audio))


def test_chunks_refuse_a_non_positive_size() -> None:
    with pytest.raises(ValueError, match="max_ms"):
        list(chunks(synthesize("hi", PCM24K), 0))


@settings(deadline=None)
@given(
    session_format=st.dictionaries(st.sampled_from(["type", "rate"]), st.none() | st.integers() | st.text(max_size=12))
)
def test_format_of_any_mapping_is_a_format_or_a_value_error(session_format: dict[str, object]) -> None:
    try:
        fmt = format_of(session_format)
    except ValueError:
        return
    assert fmt.rate > 0
    assert fmt.sample_width in (1, 2)


# --- audio as base64 in server events ----------------------------------------------------------------


@settings(deadline=None)
@given(
    audio=st.binary(max_size=600),
    before=st.dictionaries(
        st.text(max_size=8),
        st.text(max_size=12) | st.integers() | st.fixed_dictionaries({"delta": st.just("")}),
        max_size=3,
    ),
    after=st.dictionaries(st.text(max_size=8), st.text(max_size=12) | st.none(), max_size=3),
)
def test_an_event_with_base64_audio_is_the_json_the_encoder_writes(
    audio: bytes, before: dict[str, object], after: dict[str, object]
) -> None:
    """The spliced audio delta is byte for byte what ``json.dumps`` gives, wherever ``delta`` sits (translation
    events put keys after it), whatever the other values hold (``"delta":""`` in a string, or a nested
    ``delta`` key, included)."""
    text = base64_text(audio)
    assert type(text) is Base64Text
    assert text == base64.b64encode(audio).decode("ascii")
    before.pop("delta", None)
    after.pop("delta", None)
    event = {"type": "response.output_audio.delta", "event_id": '"delta":""', **before, "delta": text, **after}
    wire = dump_event(event)
    assert wire == json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    assert json.loads(wire)["delta"] == text
