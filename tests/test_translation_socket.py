"""The translation WebSocket (``GET /v1/realtime/translations``) end to end over a real socket on 127.0.0.1:
the official SDK's ``client.realtime.translations.connect(...)`` (sync and async), and a raw aiohttp client
whose every server event is checked against the SDK's ``RealtimeTranslationServerEvent`` types.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import struct
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import websockets
from faker.providers.lorem.de_DE import Provider as German
from faker.providers.lorem.en_US import Provider as English
from faker.providers.lorem.fr_FR import Provider as French
from openai import AsyncOpenAI, OpenAI
from openai.lib.realtime_translation import TranslationSession
from openai.types.realtime import (
    RealtimeTranslationOutputAudioDeltaEvent,
    RealtimeTranslationSessionClosedEvent,
    RealtimeTranslationSessionCreatedEvent,
)

from mockserver.realtime.audio import rms_dbfs, silence
from mockserver.realtime.translation_socket import PacedSender
from mockserver.realtime.vad import threshold_dbfs
from mockserver.testing import MockServer

from .realtime_client import SK, assert_openai_error, bearer, masked, mint_key, refusal, ws_url
from .test_realtime import journal_entry
from .translation_client import (
    FRAME_BYTES,
    MODEL,
    PCM,
    TIMEOUT,
    append,
    audio_of,
    b64,
    check_translation_event,
    mint_translation_key,
    of_type,
    speech,
    text_of,
    translation,
    translations_url,
)

WORD_MS = 400  # the synthesized voice says a word in 400 ms (audio.synthesize)
BYTES_PER_MS = 48
UNKNOWN_TYPE_MESSAGE = (
    "Invalid value: 'response.create'. Supported values are: 'session.update', "
    "'session.input_audio_buffer.append', and 'session.close'."
)


def words_of(text: str) -> list[str]:
    return text.split()


def bare(word: str) -> str:
    """A generated word as its word list has it: no sentence punctuation, the first letter as drawn."""
    return word.strip(".").lower()


def check_utterance(events: list[dict[str, Any]], *, transcribed: bool) -> tuple[str, str]:
    """One utterance's deltas are well formed: the input transcript first (spread over the speech's frames),
    then per 200 ms frame of translated speech its transcript and its audio at one ``elapsed_ms``."""
    inputs = of_type(events, "session.input_transcript.delta")
    outputs = of_type(events, "session.output_transcript.delta")
    audio = of_type(events, "session.output_audio.delta")
    assert bool(inputs) == transcribed
    assert outputs
    assert audio
    kinds = [e["type"] for e in events if e["type"] != "session.input_transcript.delta"]
    assert kinds[0] == "session.output_transcript.delta"
    # Input deltas come first, at 200 ms steps that never run backwards.
    assert events[: len(inputs)] == inputs
    input_times = [e["elapsed_ms"] for e in inputs]
    assert all(t % 200 == 0 and t > 0 for t in input_times)
    assert input_times == sorted(input_times)
    # Output audio: one frame per delta, 200 ms apart, each at most 200 ms of PCM16 (the last may be shorter).
    times = [e["elapsed_ms"] for e in audio]
    assert times == list(range(times[0], times[0] + 200 * len(times), 200))
    assert not input_times or times[0] > input_times[-1]
    for event in audio:
        assert (event["sample_rate"], event["channels"], event["format"]) == (24000, 1, "pcm16")
        size = len(base64.b64decode(event["delta"]))
        assert 0 < size <= FRAME_BYTES
        assert size % 2 == 0
    assert all(len(base64.b64decode(e["delta"])) == FRAME_BYTES for e in audio[:-1])
    # A transcript delta shares the elapsed_ms of the audio frame its word begins in, and comes before it.
    assert {e["elapsed_ms"] for e in outputs} <= set(times)
    for event in outputs:
        frame = next(a for a in audio if a["elapsed_ms"] == event["elapsed_ms"])
        assert events.index(event) < events.index(frame)
    output_text = text_of(events, "session.output_transcript.delta")
    # The speech is as long as its words take to say, and audible.
    pcm = audio_of(events)
    assert len(pcm) == len(words_of(output_text)) * WORD_MS * BYTES_PER_MS
    assert rms_dbfs(pcm) > threshold_dbfs(0.5)
    return text_of(events, "session.input_transcript.delta"), output_text


# --- the official SDK -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def threaded() -> Iterator[MockServer]:
    with MockServer(seed=77) as server:
        yield server


@pytest.fixture
def server(threaded: MockServer) -> MockServer:
    threaded.reset()
    return threaded


def test_sync_sdk_translates_with_a_minted_key(server: MockServer) -> None:
    backend = OpenAI(base_url=server.base_url, api_key=SK)
    secret = backend.realtime.translations.client_secrets.create(
        session={
            "model": MODEL,
            "audio": {"input": {"transcription": {"model": "gpt-realtime-whisper"}}, "output": {"language": "fr"}},
        }
    )
    server.add_transcripts("Where is the station, please?")
    browser = OpenAI(base_url=server.base_url, api_key=secret.value)  # an ek_ key as the api_key
    raw: list[dict[str, Any]] = []
    with TranslationSession(browser.realtime.translations, model=MODEL) as connection:
        created = connection.recv(timeout=TIMEOUT)
        assert isinstance(created, RealtimeTranslationSessionCreatedEvent)
        minted = secret.session.model_dump(exclude={"expires_at"})
        assert created.session.model_dump(exclude={"expires_at"}) == minted
        connection.send({"type": "session.input_audio_buffer.append", "audio": b64(speech(1500))})
        connection.send({"type": "session.close"})
        while True:
            event = connection.recv(timeout=TIMEOUT)
            raw.append(event.model_dump(mode="json", exclude_unset=True))
            if isinstance(event, RealtimeTranslationSessionClosedEvent):
                break
    for event in raw:
        check_translation_event(event)
    said, translated = check_utterance(raw[:-1], transcribed=True)
    assert said == "Where is the station, please?"
    assert len(words_of(translated)) == 5
    assert all(bare(word) in French.word_list for word in words_of(translated))
    # The SDK closed the connection on session.closed; the journal shows the session, as the key's.
    (opened,) = server.secret(secret.value).sessions
    assert opened["session_id"] == created.session.id
    assert opened["transport"] == "websocket"


def test_sync_sdk_with_the_server_key_and_without_v1(server: MockServer) -> None:
    """``client.realtime.translations.connect(model=...)`` builds ``<base_url>/realtime/translations?model=``."""
    with (
        OpenAI(base_url=server.url, api_key=SK) as client,
        client.realtime.translations.connect(model=MODEL) as connection,
    ):
        created = connection.recv()
        assert isinstance(created, RealtimeTranslationSessionCreatedEvent)
        assert (created.session.model, created.session.type) == (MODEL, "translation")
        assert created.session.audio.output is not None
        assert created.session.audio.output.language == "en"
        connection.session.update(session={"audio": {"output": {"language": "de"}}})
        updated = connection.recv()
        assert updated.type == "session.updated"
        connection.session.input_audio_buffer.append(audio=b64(speech(800)))
        connection.session.close()
        events = []
        for event in connection:
            events.append(event.model_dump(mode="json", exclude_unset=True))
            if event.type == "session.closed":
                break
    _, translated = check_utterance(events[:-1], transcribed=False)
    assert all(bare(word) in German.word_list for word in words_of(translated))
    (entry,) = server.requests(path="/realtime/translations")
    assert (entry.status, entry.query) == (101, {"model": MODEL})


async def test_async_sdk_translates(mock: MockServer) -> None:
    async with (
        AsyncOpenAI(base_url=mock.base_url, api_key=SK) as client,
        client.realtime.translations.connect(model=MODEL) as connection,
    ):
        created = await asyncio.wait_for(connection.recv(), TIMEOUT)
        assert created.type == "session.created"
        await connection.session.input_audio_buffer.append(audio=b64(speech(1200)))
        audio = []
        while len(audio) < 3:
            event = await asyncio.wait_for(connection.recv(), TIMEOUT)
            if isinstance(event, RealtimeTranslationOutputAudioDeltaEvent):
                audio.append(event)
        assert [e.elapsed_ms for e in audio] == [audio[0].elapsed_ms + 200 * i for i in range(3)]
        await connection.session.close()
        while (await asyncio.wait_for(connection.recv(), TIMEOUT)).type != "session.closed":
            pass


def test_sdk_refusals_raise(server: MockServer) -> None:
    """A refused connection: the SDK sees the error event, then the close."""
    with (
        OpenAI(base_url=server.base_url, api_key="ek_" + "0" * 32) as client,
        client.realtime.translations.connect(model=MODEL) as connection,
    ):
        error = connection.recv()
        assert error.type == "error"
        assert error.error.code == "invalid_api_key"  # type: ignore[union-attr]
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            connection.recv()
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (3000, "invalid_request_error.invalid_api_key")


# --- the session: audio in, translation out -------------------------------------------------------------------


async def test_speech_gives_the_transcript_and_its_translation(mock: MockServer, http: aiohttp.ClientSession) -> None:
    key, minted = await mint_translation_key(
        http, mock, audio={"input": {"transcription": {"model": "gpt-realtime-whisper"}}, "output": {"language": "fr"}}
    )
    async with translation(http, mock, key) as socket:
        created = socket.received[0]["session"]
        assert {k: v for k, v in created.items() if k != "expires_at"} == {
            k: v for k, v in minted.items() if k != "expires_at"
        }
        assert abs(created["expires_at"] - (mock.now() + 3600)) <= 1  # a 60-minute session, as a realtime one
        await socket.send(append(speech(1500)))
        first = await socket.until("session.output_audio.delta")
        # Everything the utterance gives is out before the next frame's answer (a barrier: an invalid event).
        await socket.send({"type": "session.close", "event_id": "barrier", "bogus": 1})
        events = first + await socket.until("error")
        assert events[-1]["error"]["event_id"] == "barrier"
        said, translated = check_utterance(events[:-1], transcribed=True)
        # Generated words, about 2.5 a second of speech (1.5 s of tone and the 200 ms silence that ends it).
        assert len(words_of(said)) == 4
        assert len(words_of(translated)) == len(words_of(said))
        assert all(bare(word) in French.word_list for word in words_of(translated))
        assert translated[0].isupper()
        assert translated.endswith(".")


async def test_two_utterances_read_on_and_output_time_never_runs_back(
    mock: MockServer, http: aiohttp.ClientSession
) -> None:
    key, _ = await mint_translation_key(http, mock, audio={"input": {"transcription": {"model": "m"}}})
    mock.add_transcripts("Good morning.", "See you later.")
    async with translation(http, mock, key) as socket:
        # Two turns 400 ms apart: the second starts while the first translation still "plays".
        await socket.send(append(speech(1000, after_ms=400) + speech(1000)))
        events = await socket.close_session()
    said = text_of(events, "session.input_transcript.delta")
    assert said == "Good morning. See you later."
    translated = text_of(events, "session.output_transcript.delta")
    assert translated == translated.lstrip()
    assert "  " not in translated
    sentences = re.findall(r"[^.]+\.", translated)
    assert [len(s.split()) for s in sentences] == [2, 3]
    times = [e["elapsed_ms"] for e in of_type(events, "session.output_audio.delta")]
    assert times == sorted(set(times))


async def test_appends_of_any_size_are_consumed_in_200_ms_frames(mock: MockServer, http: aiohttp.ClientSession) -> None:
    audio = speech(1000)
    shapes: list[list[tuple[str, int, int]]] = []
    for size in (len(audio), FRAME_BYTES, 4800, 962):  # whole, one frame, half a frame, ~10 ms
        async with translation(http, mock) as socket:
            for offset in range(0, len(audio), size):
                await socket.send(append(audio[offset : offset + size]))
            events = await socket.close_session()
        shapes.append(
            # Generated words differ between connections; how many there are, and when, does not.
            [(e["type"], e["elapsed_ms"], len(e["delta"]) if "audio" in e["type"] else 0) for e in events[:-1]]
        )
    assert shapes[0]
    assert all(shape == shapes[0] for shape in shapes[1:])


async def test_a_short_append_waits_for_its_frame(mock: MockServer, http: aiohttp.ClientSession) -> None:
    """Audio shorter than a frame is held; the turn's silence completes only when whole frames arrive."""
    # 700 ms of speech, then 300 ms of silence: the turn ends 900 ms in, inside the fifth frame (800-1000 ms).
    audio = speech(700, after_ms=300)
    tail = 50 * 48  # the last 50 ms
    async with translation(http, mock) as socket:
        await socket.send(append(audio[:-tail]))
        # A barrier: nothing came before its error, so the turn's end was not heard yet.
        assert (await socket.reply({"type": "nope", "event_id": "b1"}))["error"]["event_id"] == "b1"
        await socket.send(append(audio[-tail:]))
        events = await socket.until("session.output_audio.delta")
        assert events[0]["type"] == "session.output_transcript.delta"


async def test_silence_is_never_translated(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with translation(http, mock) as socket:
        await socket.send(append(silence(3000, PCM)))
        events = await socket.close_session()
    assert [e["type"] for e in events] == ["session.closed"]


async def test_close_flushes_speech_in_progress(mock: MockServer, http: aiohttp.ClientSession) -> None:
    """``session.close`` mid-speech (and mid-frame): the pending audio is consumed, the utterance translated."""
    mock.add_transcripts("Thank you very much")
    async with translation(http, mock) as socket:
        await socket.send(append(speech(900, after_ms=0)[:-2000]))
        events = await socket.close_session()
    assert events[-1]["type"] == "session.closed"
    _, translated = check_utterance(events[:-1], transcribed=False)
    assert len(words_of(translated)) == 4
    assert all(bare(word) in English.word_list for word in words_of(translated))


@pytest.mark.parametrize(
    ("language", "marked"),
    [("ja", False), ("zh", False), ("pt-BR", True), ("ko", True)],
)
async def test_languages_faker_has_and_pseudo_translations(
    mock: MockServer, http: aiohttp.ClientSession, language: str, marked: bool
) -> None:
    key, _ = await mint_translation_key(http, mock, audio={"output": {"language": language}})
    mock.add_transcripts("one two three")
    async with translation(http, mock, key) as socket:
        await socket.send(append(speech(1200)))
        events = await socket.close_session()
    deltas = [e["delta"] for e in of_type(events, "session.output_transcript.delta")]
    assert len(deltas) == 3
    pcm = audio_of(events)
    assert len(pcm) == 3 * WORD_MS * BYTES_PER_MS
    if marked:
        # English words, marked with the language asked for.
        assert deltas[0].startswith(f"[{language}] ")
        assert all(bare(word) in English.word_list for word in "".join(deltas).split()[1:])
    else:
        # Written without spaces: one delta per word, none with a space.
        assert all(" " not in delta for delta in deltas)
        assert not re.search(r"[A-Za-z]", "".join(deltas))


async def test_scripted_transcripts_follow_the_keys_scope(mock: MockServer, http: aiohttp.ClientSession) -> None:
    scoped = mock.scoped("tenant-a")
    key, _ = await mint_translation_key(
        http, mock, headers={"X-Mock-Scope": "tenant-a"}, audio={"input": {"transcription": {"model": "m"}}}
    )
    scoped.add_transcripts("Scripted for tenant a.")
    mock.add_transcripts("Scripted for nobody in particular, and long.")
    async with translation(http, mock, key) as socket:
        await socket.send(append(speech(800)))
        events = await socket.close_session()
    assert text_of(events, "session.input_transcript.delta") == "Scripted for tenant a."
    (entry,) = scoped.requests(path="/v1/realtime/translations")
    assert entry.scope == "tenant-a"


# --- session.update ----------------------------------------------------------------------------------------------


async def test_session_update_merges_only_the_updatable_fields(mock: MockServer, http: aiohttp.ClientSession) -> None:
    key, _ = await mint_translation_key(
        http, mock, audio={"input": {"noise_reduction": {"type": "near_field", "strength": 0.25}}}
    )
    async with translation(http, mock, key) as socket:
        created = socket.received[0]["session"]
        update = {"audio": {"input": {"noise_reduction": {"type": "far_field"}}, "output": {"language": "es"}}}
        updated = await socket.reply({"type": "session.update", "event_id": "u1", "session": update})
        assert updated["type"] == "session.updated"
        session = updated["session"]
        assert (session["id"], session["model"], session["expires_at"]) == (
            created["id"],
            created["model"],
            created["expires_at"],
        )
        # Strength omitted: kept ("Omitting strength from a session update preserves the current strength").
        assert session["audio"] == {
            "input": {"transcription": None, "noise_reduction": {"type": "far_field", "strength": 0.25}},
            "output": {"language": "es"},
        }
        update = {"audio": {"input": {"noise_reduction": None, "transcription": {"model": "gpt-realtime-whisper"}}}}
        session = (await socket.reply({"type": "session.update", "session": update}))["session"]
        assert session["audio"]["input"] == {
            "transcription": {"model": "gpt-realtime-whisper"},
            "noise_reduction": None,
        }
        assert session["audio"]["output"] == {"language": "es"}
        # Enabled again without a strength: 1.
        update = {"audio": {"input": {"noise_reduction": {"type": "near_field"}}}}
        session = (await socket.reply({"type": "session.update", "session": update}))["session"]
        assert session["audio"]["input"]["noise_reduction"] == {"type": "near_field", "strength": 1.0}
        # Transcription now on: the next utterance has input deltas.
        await socket.send(append(speech(800)))
        events = await socket.close_session()
    assert of_type(events, "session.input_transcript.delta")


@pytest.mark.parametrize(
    ("session", "code", "param", "message"),
    [
        (
            {"model": "gpt-realtime-translate"},
            "unknown_parameter",
            "session.model",
            "Unknown parameter: 'session.model'.",
        ),
        ({"type": "translation"}, "unknown_parameter", "session.type", "Unknown parameter: 'session.type'."),
        (
            {"audio": {"output": {"language": 7}}},
            "invalid_type",
            "session.audio.output.language",
            "Invalid type for 'session.audio.output.language': expected a string, but got an integer instead.",
        ),
        (
            {"audio": {"input": {"noise_reduction": {"strength": 0.5}}}},
            "missing_required_parameter",
            "session.audio.input.noise_reduction.type",
            "Missing required parameter: 'session.audio.input.noise_reduction.type'.",
        ),
        (
            {"audio": {"input": {"noise_reduction": {"type": "near_field", "strength": 2}}}},
            "decimal_above_max_value",
            "session.audio.input.noise_reduction.strength",
            None,
        ),
        (
            {"audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}},
            "unknown_parameter",
            "session.audio.input.format",
            "Unknown parameter: 'session.audio.input.format'.",
        ),
    ],
)
async def test_a_bad_update_is_refused_whole(
    mock: MockServer,
    http: aiohttp.ClientSession,
    session: dict[str, Any],
    code: str,
    param: str,
    message: str | None,
) -> None:
    async with translation(http, mock) as socket:
        update = {"type": "session.update", "event_id": "evt_1", "session": {**session}}
        error = assert_openai_error(await socket.reply(update), code=code, param=param, message=message)
        assert error["event_id"] == "evt_1"
        # Nothing changed, and the session goes on.
        unchanged = await socket.reply({"type": "session.update", "session": {}})
        assert unchanged["session"] == socket.received[0]["session"]


# --- invalid events ---------------------------------------------------------------------------------------------------


def wav(rate: int, audio: bytes) -> bytes:
    header = b"RIFF" + struct.pack("<I", 36 + len(audio)) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", len(audio))
    return header + audio


@pytest.mark.parametrize(
    ("frame", "code", "param", "message"),
    [
        ({"type": "response.create", "event_id": "e"}, "invalid_value", "type", UNKNOWN_TYPE_MESSAGE),
        (
            {"type": "input_audio_buffer.append", "event_id": "e", "audio": ""},
            "invalid_value",
            "type",
            UNKNOWN_TYPE_MESSAGE.replace("response.create", "input_audio_buffer.append"),
        ),
        ({"event_id": "e"}, "invalid_event", None, "The 'type' field is missing."),
        (
            {"type": "session.input_audio_buffer.append", "event_id": "e"},
            "missing_required_parameter",
            "audio",
            "Missing required parameter: 'audio'.",
        ),
        (
            {"type": "session.input_audio_buffer.append", "event_id": "e", "audio": "not base64!"},
            "invalid_value",
            "audio",
            "Invalid 'audio'. Expected base64-encoded audio bytes (mono PCM16 at 24kHz) but got an invalid value.",
        ),
        (
            append(wav(16000, bytes(3200)), "e"),
            "invalid_value",
            "audio",
            "Invalid 'audio': expected base64-encoded raw 24 kHz PCM16 mono little-endian audio, but got a WAV file "
            "(16000 Hz, 1 channel, 16-bit).",
        ),
        (
            append(bytes(4801), "e"),
            "invalid_value",
            "audio",
            "Invalid 'audio': expected base64-encoded raw 24 kHz PCM16 mono little-endian audio (2 bytes per "
            "sample), but got 4801 bytes, which is not a whole number of samples.",
        ),
        ({"type": "session.close", "event_id": "e", "reason": "x"}, "unknown_parameter", "reason", None),
        ({"type": "session.update", "event_id": "e"}, "missing_required_parameter", "session", None),
        (
            {"type": "session.update", "event_id": "e" * 513, "session": {}},
            "string_above_max_length",
            "event_id",
            None,
        ),
    ],
)
async def test_every_bad_event_gets_one_error_and_the_session_goes_on(
    mock: MockServer,
    http: aiohttp.ClientSession,
    frame: dict[str, Any],
    code: str,
    param: str | None,
    message: str | None,
) -> None:
    async with translation(http, mock) as socket:
        error = assert_openai_error(await socket.reply(frame), code=code, param=param, message=message)
        assert error["event_id"] == (frame.get("event_id") if len(frame.get("event_id", "")) <= 512 else None)
        assert (await socket.reply({"type": "session.update", "session": {}}))["type"] == "session.updated"


async def test_frames_that_are_not_events(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with translation(http, mock) as socket:
        await socket.ws.send_bytes(json.dumps({"type": "session.close"}).encode())
        assert_openai_error(
            await socket.recv(),
            code="invalid_event",
            message="Expected a text WebSocket message; binary frames are not supported.",
        )
        error = assert_openai_error(await socket.reply("{nope"), code="invalid_json")
        assert error["message"].startswith("Invalid event: failed to parse JSON value.")
        assert_openai_error(
            await socket.reply("[1]"),
            code="invalid_type",
            message="Invalid event: expected an object, but got an array instead.",
        )
        await socket.close_session()


# --- who may open one --------------------------------------------------------------------------------------------


async def test_refusals_are_production_shaped(mock: MockServer, http: aiohttp.ClientSession) -> None:
    no_key, code, reason = await refusal(http, translations_url(mock))
    assert_openai_error(no_key, code=None, message="Missing bearer or basic authentication in header")
    assert (code, reason) == (3000, "invalid_request_error")

    fake = "ek_" + "1" * 32
    error, code, reason = await refusal(http, translations_url(mock), headers=bearer(fake))
    assert re.search(masked(fake), assert_openai_error(error, code="invalid_api_key")["message"])
    assert (code, reason) == (3000, "invalid_request_error.invalid_api_key")

    missing, code, reason = await refusal(http, translations_url(mock, ""), headers=bearer(SK))
    assert_openai_error(
        missing,
        code="missing_model",
        message="You must provide a model parameter, for example "
        "wss://api.openai.com/v1/realtime/translations?model=gpt-realtime-translate",
    )
    assert (code, reason) == (4000, "invalid_request_error.missing_model")

    wrong, code, reason = await refusal(http, translations_url(mock, "model=gpt-realtime"), headers=bearer(SK))
    assert_openai_error(
        wrong, code="invalid_model", message='Model "gpt-realtime" is not supported in realtime translation mode.'
    )
    assert (code, reason) == (4000, "invalid_request_error.invalid_model")

    intent, code, reason = await refusal(
        http, translations_url(mock, f"model={MODEL}&intent=transcription"), headers=bearer(SK)
    )
    assert_openai_error(
        intent,
        code="invalid_intent",
        param="intent",
        message="Realtime Translation does not accept an intent query parameter.",
    )
    assert (code, reason) == (4000, "invalid_request_error.invalid_intent")
    # The key comes first.
    error, code, _ = await refusal(
        http, translations_url(mock, "intent=transcription"), headers=bearer("ek_" + "3" * 32)
    )
    assert_openai_error(error, code="invalid_api_key")
    assert code == 3000


async def test_keys_open_only_their_own_kind_of_session(mock: MockServer, http: aiohttp.ClientSession) -> None:
    realtime_key, _ = await mint_key(http, mock)
    error, code, _ = await refusal(http, translations_url(mock), headers=bearer(realtime_key))
    assert_openai_error(error, code="invalid_api_key")
    assert code == 3000
    translation_key, _ = await mint_translation_key(http, mock)
    error, code, _ = await refusal(http, ws_url(mock), headers=bearer(translation_key))
    assert_openai_error(error, code="invalid_api_key")
    assert code == 3000
    # The translation key opens its own session, whatever ?model= says.
    async with translation(http, mock, translation_key, query="model=anything") as socket:
        assert socket.received[0]["session"]["model"] == MODEL


async def test_expired_and_revoked_keys_are_refused(mock: MockServer, http: aiohttp.ClientSession) -> None:
    revoked, _ = await mint_translation_key(http, mock)
    mock.revoke(revoked)
    error, code, _ = await refusal(http, translations_url(mock), headers=bearer(revoked))
    assert_openai_error(error, code="invalid_api_key")
    expiring, _ = await mint_translation_key(http, mock)
    mock.advance_clock(601)
    error, code, _ = await refusal(http, translations_url(mock), headers=bearer(expiring))
    assert_openai_error(error, code="invalid_api_key")
    assert code == 3000


async def test_allowed_keys_apply(http: aiohttp.ClientSession) -> None:
    async with MockServer(api_keys=("sk-allowed",)) as mock:
        error, _, _ = await refusal(http, translations_url(mock), headers=bearer("sk-other-key-123"))
        assert_openai_error(error, code="invalid_api_key")
        async with translation(http, mock, "sk-allowed") as socket:
            assert socket.received[0]["session"]["model"] == MODEL


async def test_the_session_ends_after_60_minutes(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with translation(http, mock) as socket:
        mock.advance_clock(3600)
        error = await socket.reply(append(speech(200)))
        assert_openai_error(
            error, code="session_expired", message="Your session hit the maximum duration of 60 minutes."
        )
        await socket.closed_with(1000)


async def test_an_idle_session_ends_when_its_time_is_up(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with translation(http, mock) as socket:
        mock.advance_clock(socket.received[0]["session"]["expires_at"] - mock.now() - 1.0)
        # Answered (the session has a second left); then, with nothing more from the client, the session ends.
        assert (await socket.reply({"type": "session.update", "session": {}}))["type"] == "session.updated"
        assert_openai_error(await socket.recv(), code="session_expired")
        await socket.closed_with(1000)


# --- journal, faults, pacing ----------------------------------------------------------------------------------------


async def test_the_journal_keeps_the_events_with_audio_as_byte_counts(
    mock: MockServer, http: aiohttp.ClientSession
) -> None:
    audio = speech(800)
    async with translation(http, mock) as socket:
        await socket.send(append(audio, "a1"))
        events = await socket.close_session()
    entry = await journal_entry(mock, "/v1/realtime/translations")
    assert (entry.method, entry.status, entry.extra["session_id"]) == (
        "GET",
        101,
        socket.received[0]["session"]["id"],
    )
    journaled = entry.extra["events"]
    assert journaled[0]["type"] == "session.created"
    assert journaled[1] == {
        "direction": "client",
        "type": "session.input_audio_buffer.append",
        "event_id": "a1",
        "audio": len(audio),
    }
    server = [e for e in journaled if e["direction"] == "server"]
    assert [e["event_id"] for e in server] == [e["event_id"] for e in socket.received]
    sizes = [e["delta"] for e in server if e["type"] == "session.output_audio.delta"]
    assert sizes == [len(base64.b64decode(e["delta"])) for e in of_type(events, "session.output_audio.delta")]


async def test_drop_after_events(mock: MockServer, http: aiohttp.ClientSession) -> None:
    mock.add_fault(drop_after_events=3, match={"path": "/v1/realtime/translations"})
    async with translation(http, mock) as socket:
        await socket.send(append(speech(1000)))
        await socket.recv()
        await socket.recv()
        message = await socket.ws.receive(timeout=TIMEOUT)
        assert message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR), message
        assert socket.ws.close_code == aiohttp.WSCloseCode.ABNORMAL_CLOSURE
    entry = await journal_entry(mock, "/v1/realtime/translations")
    assert entry.extra["dropped"] == "after 3 server events"


async def test_a_status_fault_refuses_the_upgrade(mock: MockServer, http: aiohttp.ClientSession) -> None:
    mock.add_fault(status=503, match={"path": "/v1/realtime/translations"})
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await asyncio.wait_for(http.ws_connect(translations_url(mock), headers=bearer(SK)), TIMEOUT)
    assert refused.value.status == 503


async def test_pacing_waits_as_long_as_the_speech_plays(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``--realtime-pace`` 0.5, each 200 ms frame of speech is due 100 ms after the one before it."""

    class Link:
        def __init__(self) -> None:
            self.sent: list[str] = []

        async def send(self, event: dict[str, Any]) -> None:
            self.sent.append(event["type"])

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    clock = [1000.0]
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "time", lambda: clock[0])
    monkeypatch.setattr(asyncio, "sleep", sleep)
    link = Link()
    frame = {"type": "session.output_audio.delta", "delta": b64(bytes(FRAME_BYTES))}
    sender = PacedSender(link, 0.5)  # type: ignore[arg-type]
    await sender.send([{"type": "session.output_transcript.delta"}, frame, frame, frame])
    assert link.sent == ["session.output_transcript.delta", *["session.output_audio.delta"] * 3]
    assert waits == [pytest.approx(0.1), pytest.approx(0.1)]


async def test_a_paced_session_sends_the_same_events(http: aiohttp.ClientSession) -> None:
    """``--realtime-pace`` changes when the translated speech goes out, not what goes out, nor its order."""
    shapes = []
    for pace in (0.0, 0.05):
        async with MockServer(seed=5, realtime_pace=pace) as mock, translation(http, mock) as socket:
            await socket.send(append(speech(800)))
            await socket.send({"type": "session.update", "event_id": "after", "session": {}})
            events = await socket.close_session()
            shapes.append([(e["type"], e.get("elapsed_ms"), e.get("delta")) for e in events])
    assert shapes[0] == shapes[1]
    assert [kind for kind, _, _ in shapes[0]][-2:] == ["session.updated", "session.closed"]
