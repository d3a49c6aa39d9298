"""Scripted conversations over the raw protocol: reply rules, transcripts, the function-call loop, scopes.

Contract: PRODUCT.md "Scripted conversations"; event shapes: SESSION_TRUTH §2a-2d. Every server event is
checked against the official SDK's types as it arrives (``realtime_client.check_event``).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from mockserver.realtime.replies import Scripts
from mockserver.realtime.reply_specs import ReplyRuleSpec
from mockserver.realtime.script import ReplyContext, ScriptError
from mockserver.scenario import load_scenario
from mockserver.testing import MockServer

from .helpers import ROOT
from .realtime_client import MODEL, SK, Socket, assert_openai_error, bearer, connect, ws_url
from .test_cli import running
from .test_realtime_session import append, quiet, quiet_for, speech, types

CALL_ID = re.compile(r"^call_[A-Za-z0-9]{16}$")
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TIME_TOOL = {"type": "function", "name": "get_time", "parameters": {"type": "object", "properties": {}}}
TEXT_ONLY: dict[str, Any] = {"output_modalities": ["text"]}
NO_VAD: dict[str, Any] = {"audio": {"input": {"turn_detection": None}}}


def user_says(text: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
    }


def output_of(call_id: str, output: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": call_id, "output": output},
    }


async def control(
    http: aiohttp.ClientSession, mock: MockServer, method: str, path: str, body: Any = None, scope: str | None = None
) -> tuple[int, Any]:
    headers = {"X-Mock-Scope": scope} if scope else {}
    async with http.request(method, f"{mock.url}{path}", json=body, headers=headers) as response:
        return response.status, await response.json()


async def mint_in(http: aiohttp.ClientSession, mock: MockServer, scope: str | None = None, **session: Any) -> str:
    """An ``ek_`` key for a realtime session with ``session`` set, minted in ``scope``."""
    headers = {**bearer(SK), **({"X-Mock-Scope": scope} if scope else {})}
    body = {"session": {"type": "realtime", "model": MODEL, **session}}
    async with http.post(f"{mock.base_url}/realtime/client_secrets", json=body, headers=headers) as response:
        assert response.status == 200, await response.text()
        return str((await response.json())["value"])


@asynccontextmanager
async def live(
    http: aiohttp.ClientSession, mock: MockServer, scope: str | None = None, **session: Any
) -> AsyncIterator[Socket]:
    """A session opened with a key minted in ``scope``; ``session.created`` already read."""
    key = await mint_in(http, mock, scope, **session)
    async with connect(http, ws_url(mock), headers=bearer(key)) as socket:
        assert (await socket.recv())["type"] == "session.created"
        yield socket


async def ask(socket: Socket, text: str, **response: Any) -> list[dict[str, Any]]:
    """The user types ``text`` and asks for a response: the events up to its ``response.done``."""
    await socket.send(user_says(text))
    await socket.until("conversation.item.done")
    await socket.send({"type": "response.create", **({"response": response} if response else {})})
    return await socket.until("response.done")


def said(events: list[dict[str, Any]]) -> str:
    """What the assistant's message says in ``response.done`` (text or audio transcript), "" if none."""
    for item in events[-1]["response"]["output"]:
        if item["type"] == "message":
            part = item["content"][0]
            return str(part.get("text") or part.get("transcript") or "")
    return ""


def calls_in(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for item in events[-1]["response"]["output"] if item["type"] == "function_call"]


# --- the control routes ---------------------------------------------------------------------------------


async def test_rules_are_added_listed_and_cleared(mock: MockServer, http: aiohttp.ClientSession) -> None:
    status, rule = await control(http, mock, "POST", "/__mock/replies", {"text": "Hi.", "match": {"user_text": "x"}})
    assert status == 201
    assert rule == {
        "id": "reply_1",
        "scope": None,
        "all_scopes": False,
        "match": {"user_text": "x"},
        "text": "Hi.",
        "tool_calls": [],
        "times": 1,
        "applied": 0,
    }
    rules = [
        {"tool_calls": [{"name": "f", "arguments": '{"a": 1}'}], "times": None},
        {"text": "Bye.", "tool_calls": [{"name": "g"}], "times": 3},
    ]
    status, added = await control(http, mock, "POST", "/__mock/replies", rules)
    assert status == 201
    assert [(r["id"], r["times"]) for r in added["data"]] == [("reply_2", None), ("reply_3", 3)]
    # Arguments come back as they were given: a JSON string stays a string, none is an empty object.
    assert added["data"][0]["tool_calls"] == [{"name": "f", "arguments": '{"a": 1}'}]
    assert added["data"][1]["tool_calls"] == [{"name": "g", "arguments": {}}]
    status, listed = await control(http, mock, "GET", "/__mock/replies")
    assert [r["id"] for r in listed["data"]] == ["reply_1", "reply_2", "reply_3"]
    status, removed = await control(http, mock, "DELETE", "/__mock/replies/reply_2")
    assert (status, removed["id"]) == (200, "reply_2")
    status, missing = await control(http, mock, "DELETE", "/__mock/replies/reply_2")
    assert status == 404
    assert missing["error"] == {
        "message": "No reply rule found with id 'reply_2'.",
        "type": "invalid_request_error",
        "param": None,
        "code": "not_found",
    }
    assert await control(http, mock, "DELETE", "/__mock/replies") == (200, {"data": []})
    assert await control(http, mock, "GET", "/__mock/replies") == (200, {"data": []})


MALFORMED_RULES: list[tuple[Any, str, str | None, str]] = [
    (
        {},
        "missing_required_parameter",
        "text",
        "Missing required parameter: 'text'. A reply rule needs 'text', 'tool_calls', or both.",
    ),
    ({"match": {"user_text": "x"}}, "missing_required_parameter", "text", "Missing required parameter: 'text'."),
    ({"text": ""}, "empty_string", "text", "Invalid 'text': empty string."),
    ({"text": 7}, "invalid_type", "text", "Invalid type for 'text': expected a string, but got an integer instead."),
    ({"tool_calls": []}, "empty_array", "tool_calls", "Invalid 'tool_calls': empty array."),
    ({"tool_calls": {"name": "f"}}, "invalid_type", "tool_calls", "expected an array, but got an object"),
    ({"tool_calls": [{}]}, "missing_required_parameter", "tool_calls[0].name", "Missing required parameter"),
    (
        {"tool_calls": [{"name": "f", "arguments": "{not json"}]},
        "invalid_value",
        "tool_calls[0].arguments",
        "the string is not valid JSON",
    ),
    (
        {"tool_calls": [{"name": "f", "arguments": "[1, 2]"}]},
        "invalid_value",
        "tool_calls[0].arguments",
        "the string is JSON but not an object",
    ),
    (
        {"tool_calls": [{"name": "f", "arguments": [1]}]},
        "invalid_type",
        "tool_calls[0].arguments",
        "expected an object or a string of JSON, but got an array instead",
    ),
    (
        {"tool_calls": [{"name": "f", "call_id": "c"}]},
        "unknown_parameter",
        "tool_calls[0].call_id",
        "Unknown parameter: 'tool_calls[0].call_id'.",
    ),
    ({"text": "x", "times": 0}, "integer_below_min_value", "times", "Expected a value >= 1, but got 0 instead."),
    ({"text": "x", "times": "2"}, "invalid_type", "times", "expected an integer, but got a string instead"),
    ({"text": "x", "match": {"user": "x"}}, "unknown_parameter", "match.user", "Unknown parameter: 'match.user'."),
    ({"text": "x", "match": {"user_text": ""}}, "empty_string", "match.user_text", "empty string"),
    ({"text": "x", "match": "x"}, "invalid_type", "match", "expected an object, but got a string"),
    ({"text": "x", "bogus": 1}, "unknown_parameter", "bogus", "Unknown parameter: 'bogus'."),
    ("hello", "invalid_type", None, "Invalid body: expected a JSON object or an array of them, but got a string"),
    ([{"text": "ok"}, {"text": "x", "times": -1}], "integer_below_min_value", "[1].times", "got -1 instead"),
    ([{"text": "ok"}, {}], "missing_required_parameter", "[1].text", "Missing required parameter: '[1].text'."),
]


@pytest.mark.parametrize(("body", "code", "param", "message"), MALFORMED_RULES)
async def test_malformed_rule_is_a_400_and_adds_nothing(
    mock: MockServer, http: aiohttp.ClientSession, body: Any, code: str, param: str | None, message: str
) -> None:
    status, answer = await control(http, mock, "POST", "/__mock/replies", body)
    assert status == 400, answer
    error = answer["error"]
    assert list(error) == ["message", "type", "param", "code"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param)
    assert message in error["message"]
    assert await control(http, mock, "GET", "/__mock/replies") == (200, {"data": []})


async def test_unparseable_rule_body_is_openai_s_json_error(mock: MockServer, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{mock.url}/__mock/replies", data=b"{not json") as response:
        assert response.status == 400
        error = (await response.json())["error"]
    assert error["message"].startswith("We could not parse the JSON body of your request.")


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({}, "missing_required_parameter", "transcripts"),
        ({"transcripts": []}, "empty_array", "transcripts"),
        ({"transcripts": "hi"}, "invalid_type", "transcripts"),
        ({"transcripts": ["hi", 3]}, "invalid_type", "transcripts[1]"),
        ({"transcripts": ["hi"], "more": 1}, "unknown_parameter", "more"),
        (["hi"], "invalid_type", None),
        ("hi", "invalid_type", None),
    ],
)
async def test_malformed_transcripts_are_a_400(
    mock: MockServer, http: aiohttp.ClientSession, body: Any, code: str, param: str | None
) -> None:
    status, answer = await control(http, mock, "POST", "/__mock/transcripts", body)
    assert status == 400
    assert (answer["error"]["code"], answer["error"]["param"]) == (code, param)
    assert await control(http, mock, "GET", "/__mock/transcripts") == (200, {"data": [], "transcripts": []})


async def test_transcripts_are_queued_listed_and_cleared(mock: MockServer, http: aiohttp.ClientSession) -> None:
    status, added = await control(http, mock, "POST", "/__mock/transcripts", {"transcripts": ["One.", "Two."]})
    assert status == 201
    assert added == {
        "data": [
            {"text": "One.", "scope": None, "all_scopes": False},
            {"text": "Two.", "scope": None, "all_scopes": False},
        ],
        "transcripts": ["One.", "Two."],
    }
    await control(http, mock, "POST", "/__mock/transcripts", {"transcripts": ["Three."]}, scope="a")
    _, everything = await control(http, mock, "GET", "/__mock/transcripts")
    assert [t["text"] for t in everything["data"]] == ["One.", "Two.", "Three."]
    _, scoped = await control(http, mock, "GET", "/__mock/transcripts", scope="a")
    assert scoped["data"] == [{"text": "Three.", "scope": "a", "all_scopes": False}]
    assert scoped["transcripts"] == ["Three."]
    assert await control(http, mock, "DELETE", "/__mock/transcripts", scope="a") == (
        200,
        {"data": [], "transcripts": []},
    )
    _, left = await control(http, mock, "GET", "/__mock/transcripts")
    assert [t["text"] for t in left["data"]] == ["One.", "Two."]
    assert mock.transcripts() == ["One.", "Two."]
    mock.clear_transcripts()
    assert mock.transcripts() == []


# --- what a rule says and calls, streamed as production streams it -----------------------------------------


async def test_text_and_tool_calls_stream_message_first_then_each_call(
    mock: MockServer, http: aiohttp.ClientSession
) -> None:
    mock.add_reply(
        "Let me look that up.",
        match={"user_text": "weather"},
        tool_calls=[
            {"name": "get_weather", "arguments": {"city": "Paris", "units": ["C", "°"]}},
            {"name": "get_time", "arguments": '{ "zone" : "Europe/Paris" }'},
        ],
    )
    async with live(http, mock, tools=[WEATHER_TOOL, TIME_TOOL], **TEXT_ONLY) as socket:
        events = await ask(socket, "How is the weather?")
        after = await socket.recv()
    assert after["type"] == "rate_limits.updated"
    kinds = types(events)
    message_events = [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 5,  # "Let", " me", " look", " that", " up."
        "response.output_text.done",
        "response.content_part.done",
        "conversation.item.done",
        "response.output_item.done",
    ]
    assert kinds[: len(message_events)] == message_events
    rest = kinds[len(message_events) :]
    first_call = rest[: rest.index("response.output_item.done") + 1]
    assert first_call[:2] == ["response.output_item.added", "conversation.item.added"]
    assert set(first_call[2:-3]) == {"response.function_call_arguments.delta"}
    assert first_call[-3:] == [
        "response.function_call_arguments.done",
        "conversation.item.done",
        "response.output_item.done",
    ]
    assert kinds[-1] == "response.done"

    done = events[-1]["response"]
    assert done["status"] == "completed"
    message, weather, clock = done["output"]
    assert message["content"] == [{"type": "output_text", "text": "Let me look that up."}]
    assert [weather["name"], clock["name"]] == ["get_weather", "get_time"]
    # Objects are sent compact; a JSON string is sent exactly as the rule gave it.
    assert weather["arguments"] == '{"city":"Paris","units":["C","°"]}'
    assert clock["arguments"] == '{ "zone" : "Europe/Paris" }'
    for index, call in enumerate((weather, clock), start=1):
        assert call["status"] == "completed"
        assert CALL_ID.fullmatch(call["call_id"])
        added = next(e for e in events if e["type"] == "response.output_item.added" and e["output_index"] == index)
        assert added["item"] == {**call, "status": "in_progress", "arguments": ""}
        pieces = [
            e for e in events if e["type"] == "response.function_call_arguments.delta" and e["output_index"] == index
        ]
        assert all(e["call_id"] == call["call_id"] and e["item_id"] == call["id"] for e in pieces)
        assert "".join(e["delta"] for e in pieces) == call["arguments"]
        (args_done,) = [
            e for e in events if e["type"] == "response.function_call_arguments.done" and e["output_index"] == index
        ]
        assert (args_done["name"], args_done["arguments"], args_done["call_id"]) == (
            call["name"],
            call["arguments"],
            call["call_id"],
        )
        (item_done,) = [e for e in events if e["type"] == "response.output_item.done" and e["output_index"] == index]
        assert item_done["item"] == call
    assert weather["call_id"] != clock["call_id"]
    assert mock.replies() == []  # served once: used up


async def test_scripted_text_is_spoken_in_audio_sessions(mock: MockServer, http: aiohttp.ClientSession) -> None:
    mock.add_reply("Bonjour, this is scripted speech.")
    async with live(http, mock) as socket:
        events = await ask(socket, "Hello")
    transcript = "".join(e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta")
    assert transcript == "Bonjour, this is scripted speech."
    assert said(events) == transcript
    assert any(e["type"] == "response.output_audio.delta" for e in events)


async def test_a_call_only_reply_ends_with_response_done(mock: MockServer, http: aiohttp.ClientSession) -> None:
    mock.add_reply(tool_calls=[{"name": "get_time"}])
    async with live(http, mock, tools=[TIME_TOOL]) as socket:
        events = await ask(socket, "What time is it?")
    (call,) = calls_in(events)
    assert events[-1]["response"]["output"] == [call]
    assert call["arguments"] == "{}"
    assert "response.content_part.added" not in types(events)


# --- matching, order, times ------------------------------------------------------------------------------


async def test_first_match_wins_and_times_counts_responses(mock: MockServer, http: aiohttp.ClientSession) -> None:
    mock.add_replies(
        [
            {"match": {"user_text": "HELLO"}, "text": "First hello.", "times": 2},
            {"match": {"user_text": "hello"}, "text": "Later hello.", "times": None},
            {"text": "Anything else."},
        ]
    )
    async with live(http, mock, **TEXT_ONLY) as socket:
        answers = [
            said(await ask(socket, text)) for text in ("oh, Hello there", "hello", "goodbye", "hello", "hi", "HeLLo")
        ]
    assert answers[:4] == ["First hello.", "First hello.", "Anything else.", "Later hello."]
    # Nothing matched "hi": a generated sentence, as before scripting.
    assert answers[4] not in ("First hello.", "Later hello.", "Anything else.")
    assert answers[4].strip()
    assert answers[5] == "Later hello."
    (forever,) = mock.replies()
    assert (forever.text, forever.remaining, forever.applied) == ("Later hello.", None, 2)


async def test_rule_matches_the_latest_user_message_only(mock: MockServer, http: aiohttp.ClientSession) -> None:
    mock.add_reply("About the weather.", match={"user_text": "weather"}, times=None)
    async with live(http, mock, **TEXT_ONLY) as socket:
        first = said(await ask(socket, "weather please"))
        await socket.send(user_says("something else"))
        await socket.until("conversation.item.done")
        await socket.send({"type": "response.create"})
        second = said(await socket.until("response.done"))
    assert first == "About the weather."
    assert second != "About the weather."


async def test_both_match_keys_must_hold(mock: MockServer, http: aiohttp.ClientSession) -> None:
    mock.add_reply(
        "Paris weather from the tool.", match={"user_text": "paris", "tool_output": "get_weather"}, times=None
    )
    mock.add_reply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}], times=None)
    async with live(http, mock, tools=[WEATHER_TOOL], **TEXT_ONLY) as socket:
        (call,) = calls_in(await ask(socket, "Weather in Paris?"))
        await socket.send(output_of(call["call_id"], '{"sky": "clear"}'))
        await socket.until("conversation.item.done")
        await socket.send({"type": "response.create"})
        answer = await socket.until("response.done")
    assert said(answer) == "Paris weather from the tool."


# --- the function-call loop -------------------------------------------------------------------------------


async def test_function_call_loop(mock: MockServer, http: aiohttp.ClientSession) -> None:
    mock.add_replies(
        [
            {"match": {"user_text": "weather"}, "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
            {"match": {"tool_output": "get_weather"}, "text": "It is snowing in Oslo."},
        ]
    )
    async with live(http, mock, tools=[WEATHER_TOOL], **TEXT_ONLY) as socket:
        (call,) = calls_in(await ask(socket, "What's the weather in Oslo?"))
        assert json.loads(call["arguments"]) == {"city": "Oslo"}
        await socket.send(output_of(call["call_id"], '{"sky": "snow"}'))
        added = await socket.until("conversation.item.done")
        # The output alone is not answered: the client asks for the next response itself.
        assert await quiet_for(socket, 0.3) == []
        await socket.send({"type": "response.create", "event_id": "evt_next"})
        answer = await socket.until("response.done")
    assert added[-1]["item"]["type"] == "function_call_output"
    assert added[-1]["previous_item_id"] == call["id"]
    assert said(answer) == "It is snowing in Oslo."
    assert mock.replies() == []


async def test_call_ids_are_unique_in_a_session(mock: MockServer, http: aiohttp.ClientSession) -> None:
    mock.add_reply(tool_calls=[{"name": "get_time"}] * 5, times=None)
    async with live(http, mock, tools=[TIME_TOOL], **TEXT_ONLY) as socket:
        # The client's own call ids count too: the mock never reuses one.
        await socket.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "function_call",
                    "call_id": "call_0123456789abcdef",
                    "name": "get_time",
                    "arguments": "{}",
                },
            }
        )
        await socket.until("conversation.item.done")
        ids = ["call_0123456789abcdef"]
        for _ in range(4):
            await socket.send({"type": "response.create"})
            ids += [call["call_id"] for call in calls_in(await socket.until("response.done"))]
    assert len(ids) == 21
    assert len(set(ids)) == 21
    assert all(CALL_ID.fullmatch(call_id) for call_id in ids)


async def test_undeclared_function_is_one_error_and_no_response(mock: MockServer, http: aiohttp.ClientSession) -> None:
    mock.add_reply("Booking.", tool_calls=[{"name": "book_flight", "arguments": {"to": "Rome"}}])
    async with live(http, mock, tools=[WEATHER_TOOL], **TEXT_ONLY) as socket:
        await socket.send(user_says("Book a flight"))
        await socket.until("conversation.item.done")
        await socket.send({"type": "response.create", "event_id": "evt_book"})
        error = await socket.recv()
        assert await quiet_for(socket, 0.3) == []
        # Not served, so not used up: once the response can call the function, the rule answers it.
        await socket.send(
            {"type": "response.create", "response": {"tools": [{"type": "function", "name": "book_flight"}]}}
        )
        served = await socket.until("response.done")
    assert_openai_error(
        error,
        code="undeclared_function",
        param="tools",
        message=(
            "Reply rule 'reply_1' calls the function 'book_flight', which this session does not declare. "
            "Declared functions: 'get_weather'. Declare it in the session's 'tools' (session.update) or in "
            "response.create's 'tools'."
        ),
    )
    assert error["error"]["event_id"] == "evt_book"
    assert said(served) == "Booking."
    assert [call["name"] for call in calls_in(served)] == ["book_flight"]


async def test_undeclared_function_after_a_spoken_turn(mock: MockServer, http: aiohttp.ClientSession) -> None:
    """An automatic response has no client event: the error's event_id is null, and audio keeps flowing."""
    mock.add_reply(tool_calls=[{"name": "hang_up"}], times=None)
    async with live(http, mock, **TEXT_ONLY) as socket:
        await append(socket, speech(800) + quiet(400))
        events = await socket.until("error")
        await append(socket, speech(800) + quiet(400))
        again = await socket.until("error")
    assert "response.created" not in types(events + again)
    assert_openai_error(events[-1], code="undeclared_function", param="tools")
    assert events[-1]["error"]["event_id"] is None
    assert "Declared functions: none." in events[-1]["error"]["message"]
    assert types(again)[:3] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
    ]


# --- tool_choice in generated replies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool_choice", "called"),
    [
        ("required", "get_weather"),
        ({"type": "function", "name": "get_time"}, "get_time"),
        ("none", None),
        ("auto", None),
    ],
)
async def test_generated_replies_honour_tool_choice(
    mock: MockServer, http: aiohttp.ClientSession, tool_choice: Any, called: str | None
) -> None:
    async with live(http, mock, tools=[WEATHER_TOOL, TIME_TOOL], tool_choice=tool_choice, **TEXT_ONLY) as socket:
        events = await ask(socket, "Hi")
    calls = calls_in(events)
    if called is None:
        assert calls == []
        assert said(events)
    else:
        (call,) = calls
        assert call["name"] == called
        arguments = json.loads(call["arguments"])
        if called == "get_weather":
            assert isinstance(arguments["city"], str)


# --- transcripts --------------------------------------------------------------------------------------------


async def test_transcripts_feed_transcription_and_matching(mock: MockServer, http: aiohttp.ClientSession) -> None:
    mock.add_transcripts("What's the weather in Lima?", "Thanks a lot.")
    mock.add_replies(
        [
            {"match": {"user_text": "weather in lima"}, "text": "Warm in Lima."},
            {"match": {"user_text": "thanks"}, "text": "You're welcome."},
        ]
    )
    transcription = {"audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}}}}
    async with live(http, mock, **TEXT_ONLY, **transcription) as socket:
        await append(socket, speech(900) + quiet(400))
        first = await socket.until("response.done")
        await append(socket, speech(900) + quiet(400))
        second = await socket.until("response.done")
    completed = [e for e in first + second if e["type"] == "conversation.item.input_audio_transcription.completed"]
    assert [e["transcript"] for e in completed] == ["What's the weather in Lima?", "Thanks a lot."]
    deltas = [e["delta"] for e in first if e["type"] == "conversation.item.input_audio_transcription.delta"]
    assert "".join(deltas) == "What's the weather in Lima?"
    assert (said(first), said(second)) == ("Warm in Lima.", "You're welcome.")
    assert mock.transcripts() == []


async def test_transcripts_are_used_for_matching_without_transcription(
    mock: MockServer, http: aiohttp.ClientSession
) -> None:
    mock.add_transcripts("Please cancel my order.")
    mock.add_reply("Order cancelled.", match={"user_text": "cancel"})
    async with live(http, mock, **TEXT_ONLY) as socket:
        await append(socket, speech(900) + quiet(400))
        events = await socket.until("response.done")
    assert not [e for e in events if e["type"].startswith("conversation.item.input_audio_transcription")]
    assert said(events) == "Order cancelled."


async def test_manual_commits_take_transcripts_in_order(mock: MockServer, http: aiohttp.ClientSession) -> None:
    mock.add_transcripts("First words.", "Second words.")
    transcription = {"audio": {"input": {"turn_detection": None, "transcription": {"model": "whisper-1"}}}}
    async with live(http, mock, **transcription) as socket:
        heard = []
        for _ in range(3):
            await append(socket, speech(300))
            await socket.send({"type": "input_audio_buffer.commit"})
            events = await socket.until("conversation.item.input_audio_transcription.completed")
            heard.append(events[-1]["transcript"])
        # A commit never starts a response by itself.
        assert "response.created" not in types(await quiet_for(socket, 0.2))
    assert heard[:2] == ["First words.", "Second words."]
    assert heard[2] not in ("First words.", "Second words.")  # the queue ran out: a generated transcript


async def test_transcription_sessions_report_scripted_transcripts(
    mock: MockServer, http: aiohttp.ClientSession
) -> None:
    mock.scoped("stt").add_transcripts("Dictated in a transcription session.")
    body = {"session": {"type": "transcription", "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}}}
    headers = {**bearer(SK), "X-Mock-Scope": "stt"}
    async with http.post(f"{mock.base_url}/realtime/client_secrets", json=body, headers=headers) as response:
        key = (await response.json())["value"]
    async with connect(http, ws_url(mock, "intent=transcription"), headers=bearer(key)) as socket:
        assert (await socket.recv())["session"]["type"] == "transcription"
        await append(socket, speech(900) + quiet(400))
        events = await socket.until("conversation.item.input_audio_transcription.completed")
    assert events[-1]["transcript"] == "Dictated in a transcription session."
    assert mock.transcripts() == []


# --- scopes ------------------------------------------------------------------------------------------------


async def test_rules_and_transcripts_follow_the_scope_of_the_mint(
    mock: MockServer, http: aiohttp.ClientSession
) -> None:
    await control(http, mock, "POST", "/__mock/replies", {"text": "Scope A speaking.", "times": None}, scope="a")
    await control(http, mock, "POST", "/__mock/replies", {"text": "Scope B speaking.", "times": None}, scope="b")
    mock.scoped("a").add_transcripts("Said in A.")
    _, listed = await control(http, mock, "GET", "/__mock/replies", scope="a")
    assert [rule["text"] for rule in listed["data"]] == ["Scope A speaking."]
    _, everything = await control(http, mock, "GET", "/__mock/replies")
    assert [rule["scope"] for rule in everything["data"]] == ["a", "b"]

    async with live(http, mock, "a", **TEXT_ONLY) as in_a, live(http, mock, "b", **TEXT_ONLY) as in_b:
        assert said(await ask(in_a, "hi")) == "Scope A speaking."
        assert said(await ask(in_b, "hi")) == "Scope B speaking."
        await append(in_b, speech(600) + quiet(400))
        assert said(await in_b.until("response.done")) == "Scope B speaking."
    async with live(http, mock, **TEXT_ONLY) as unscoped:
        generated = said(await ask(unscoped, "hi"))
    assert generated not in ("Scope A speaking.", "Scope B speaking.")
    # B's spoken turn did not take A's transcript.
    assert mock.scoped("a").transcripts() == ["Said in A."]

    await control(http, mock, "DELETE", "/__mock/replies", scope="a")
    assert [r.scope for r in mock.replies()] == ["b"]
    mock.scoped("b").reset()
    assert mock.replies() == []
    assert mock.transcripts() == ["Said in A."]
    mock.reset()
    assert mock.transcripts() == []


# --- the handle ------------------------------------------------------------------------------------------


async def test_handle_validates_like_the_route(mock: MockServer) -> None:
    with pytest.raises(ValueError, match=r"^Missing required parameter: 'text'\. A reply rule needs"):
        mock.add_reply(match={"user_text": "x"})
    with pytest.raises(
        ValueError, match=r"Invalid '\[1\]\.tool_calls\[0\]\.arguments'|\[1\]\.tool_calls\[0\]\.arguments"
    ):
        mock.add_replies([{"text": "ok"}, {"tool_calls": [{"name": "f", "arguments": "nope"}]}])
    with pytest.raises(ValueError, match="empty array"):
        mock.add_transcripts()
    assert mock.replies() == []
    rule = mock.add_reply("Hi.", tool_calls=({"name": "f", "arguments": {"xs": (1, 2)}},), times=None)
    assert (rule.id, rule.remaining, rule.tool_calls[0].arguments) == ("reply_1", None, '{"xs":[1,2]}')
    assert mock.add_transcripts("a", "b") == ["a", "b"]
    assert mock.add_transcripts(["a2"]) == ["a", "b", "a2"]
    with pytest.raises(ValueError, match=r"Invalid type for 'transcripts\[0\]'"):
        mock.add_transcripts(7)  # type: ignore[arg-type]
    whole = mock.add_reply({"text": "From a body.", "match": {"tool_output": "f"}, "times": 2})
    assert (whole.text, whole.tool_output, whole.remaining) == ("From a body.", "f", 2)
    assert mock.scoped("other").add_transcripts("c") == ["c"]
    assert mock.transcripts() == ["a", "b", "a2", "c"]
    mock.clear_replies()
    assert mock.replies() == []


# --- the pure part -----------------------------------------------------------------------------------------


def context(
    user_text: str | None = None, tool_output: str | None = None, functions: tuple[str, ...] = ()
) -> ReplyContext:
    return ReplyContext(user_text, tool_output, functions, "auto", None, out_of_band=False)


def test_scoped_script_matches_serves_and_refuses() -> None:
    scripts = Scripts(
        (ReplyRuleSpec.model_validate({"text": "Scenario.", "match": {"user_text": "demo"}, "times": None}),),
        ("Heard.",),
    )
    a, b = scripts.for_scope("a"), scripts.for_scope("b")
    scripts.replies.add(ReplyRuleSpec.model_validate({"tool_calls": [{"name": "f"}]}), "a")
    assert a.next_transcript() == "Heard."  # a scenario's transcripts are every scope's
    assert b.next_transcript() is None
    with pytest.raises(ScriptError) as refused:
        a.plan(context("anything"))
    assert refused.value.error.code == "undeclared_function"
    assert b.plan(context("anything")) is None
    plan = a.plan(context("x", functions=("f",)))
    assert plan is not None
    assert (plan.text, [(c.name, c.arguments) for c in plan.tool_calls]) == (None, [("f", "{}")])
    assert a.plan(context("x", functions=("f",))) is None
    scenario = b.plan(context("A DEMO please"))
    assert scenario is not None
    assert scenario.text == "Scenario."
    scripts.reset("a")
    assert [rule.id for rule in scripts.replies.rules()] == ["reply_1"]
    scripts.replies.clear()
    scripts.reset()
    assert [(rule.id, rule.all_scopes) for rule in scripts.replies.rules()] == [("reply_1", True)]
    assert [t.text for t in scripts.transcripts.pending()] == ["Heard."]


# --- a scenario file plays a whole conversation ---------------------------------------------------------------


async def test_weather_agent_scenario_from_the_command_line(http: aiohttp.ClientSession) -> None:
    """``mockserver --scenario weather-agent.json``: typed and spoken turns, the tool call, the answers."""
    scenario = ROOT / "fixtures" / "scenarios" / "weather-agent.json"
    with running("--scenario", str(scenario), "--seed", "9") as (_process, port):
        base = f"http://127.0.0.1:{port}/v1"
        body = {"session": {"type": "realtime", "model": MODEL, "output_modalities": ["text"]}}
        async with http.post(f"{base}/realtime/client_secrets", json=body, headers=bearer(SK)) as response:
            key = (await response.json())["value"]
        url = base.replace("http://", "ws://") + f"/realtime?model={MODEL}"
        async with connect(http, url, headers=bearer(key)) as socket:
            await socket.recv()
            # As the Agents SDKs do: the tools are declared right after connecting.
            await socket.send({"type": "session.update", "session": {"type": "realtime", "tools": [WEATHER_TOOL]}})
            await socket.until("session.updated")
            typed = await ask(socket, "How's the weather?")
            (call,) = calls_in(typed)
            await socket.send(output_of(call["call_id"], '{"sky": "sunny", "celsius": 22}'))
            await socket.until("conversation.item.done")
            await socket.send({"type": "response.create"})
            answer = await socket.until("response.done")
            await append(socket, speech(900) + quiet(400))
            spoken = await socket.until("response.done")
            (spoken_call,) = calls_in(spoken)
            await socket.send(output_of(spoken_call["call_id"], '{"sky": "sunny"}'))
            await socket.until("conversation.item.done")
            await socket.send({"type": "response.create"})
            await socket.until("response.done")
            await append(socket, speech(600) + quiet(400))
            goodbye = await socket.until("response.done")
    assert said(typed) == "Let me check the weather for you."
    assert (call["name"], json.loads(call["arguments"])) == ("get_weather", {"city": "Paris"})
    assert said(answer) == "It is sunny in Paris today, 22 degrees. Anything else?"
    assert said(spoken) == "Let me check the weather for you."
    assert spoken_call["call_id"] != call["call_id"]
    assert said(goodbye) == "You're welcome. Have a nice day!"


def test_scenario_replies_and_transcripts_load_in_every_scope() -> None:
    scenario = load_scenario("weather-agent")
    assert [spec.times for spec in scenario.replies] == [None, None, None]
    assert scenario.transcripts == ("What's the weather like in Paris today?", "Thank you!")
    with MockServer(scenario="weather-agent") as server:
        rules = server.scoped("any-scope").replies()
        assert [(rule.id, rule.all_scopes) for rule in rules] == [
            ("reply_1", True),
            ("reply_2", True),
            ("reply_3", True),
        ]
        assert server.scoped("any-scope").transcripts() == list(scenario.transcripts)
        server.clear_replies()
        server.clear_transcripts()
        assert server.replies() == []
        server.reset()
        assert len(server.replies()) == 3
        assert len(server.transcripts()) == 2
