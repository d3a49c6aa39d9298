"""The Agents SDKs as real clients: a voice agent with a function tool, its "model" scripted on the mock.

Python: ``openai-agents`` (``RealtimeAgent`` + ``RealtimeRunner``, WebSocket transport). The runner is pointed
at the mock through ``model_config={"url": ..., "api_key": <ek_ key>}`` (``RealtimeModelConfig``, read by
``OpenAIRealtimeWebSocketModel.connect``): the key goes in ``Authorization: Bearer``, the scope comes from the
mint. Node: ``@openai/agents-realtime`` in ``examples/node/voice-agent.mjs`` (``session.connect({apiKey, url})``).

The SDKs validate every server event (pydantic / zod) and drop or report what fails: the tests assert that
nothing was reported or dropped, and re-check each raw event against openai-python's types.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agents import function_tool
from agents.realtime import RealtimeAgent, RealtimeRunner, RealtimeSession
from agents.realtime.items import AssistantMessageItem, AssistantText
from openai import AsyncOpenAI

from mockserver.realtime.audio import format_of, silence, tone
from mockserver.testing import MockServer

from .realtime_client import MODEL, check_event
from .test_examples import NODE_EXAMPLE, ensure_node_dependencies

#: Every wait here ends within this many seconds.
TIMEOUT = 15.0
PCM = format_of({"type": "audio/pcm", "rate": 24000})
QUESTION = "What's the weather in Paris today?"
ANSWER = "It is sunny in Paris, 22 degrees."
WEATHER_RULES: list[dict[str, Any]] = [
    {"match": {"user_text": "weather"}, "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
    {"match": {"tool_output": "get_weather"}, "text": ANSWER},
]


@dataclass
class AgentRun:
    """What a Python Agents SDK session did: its tool calls, errors, items, and the raw server events."""

    calls: list[str] = field(default_factory=list)
    tool_starts: list[tuple[str, str]] = field(default_factory=list)
    tool_ends: list[tuple[str, str, Any]] = field(default_factory=list)
    errors: list[Any] = field(default_factory=list)
    server_events: list[dict[str, Any]] = field(default_factory=list)
    assistant_texts: list[str | None] = field(default_factory=list)
    transcripts: list[str] = field(default_factory=list)

    def agent(self) -> RealtimeAgent[Any]:
        @function_tool
        def get_weather(city: str) -> str:
            """The weather in a city today."""
            self.calls.append(city)
            return f"Sunny, 22 degrees in {city}."

        return RealtimeAgent(name="Weather agent", instructions="Use get_weather for weather.", tools=[get_weather])


async def mint(mock: MockServer, scope: str) -> str:
    """An ``ek_`` key minted with the official SDK in ``scope`` (as a backend would)."""
    async with AsyncOpenAI(
        base_url=mock.base_url, api_key="sk-test", default_headers={"X-Mock-Scope": scope}
    ) as client:
        secret = await client.realtime.client_secrets.create(session={"type": "realtime", "model": MODEL})
    return secret.value


def realtime_url(mock: MockServer) -> str:
    return mock.base_url.replace("http://", "ws://", 1) + f"/realtime?model={MODEL}"


async def run_agent(
    mock: MockServer, scope: str, drive: Callable[[RealtimeSession], Awaitable[None]], until_text: str
) -> AgentRun:
    """Run the weather agent against the mock until an assistant message says ``until_text`` (bounded)."""
    run = AgentRun()
    runner = RealtimeRunner(run.agent())
    key = await mint(mock, scope)
    session = await runner.run(model_config={"url": realtime_url(mock), "api_key": key})
    async with asyncio.timeout(TIMEOUT), session:
        await drive(session)
        async for event in session:
            if event.type == "tool_start":
                run.tool_starts.append((event.tool.name, event.arguments))
            elif event.type == "tool_end":
                run.tool_ends.append((event.tool.name, event.arguments, event.output))
            elif event.type == "error":
                run.errors.append(event.error)
            elif event.type == "raw_model_event":
                data = event.data
                if data.type == "raw_server_event":
                    run.server_events.append(data.data)
                elif data.type == "input_audio_transcription_completed":
                    run.transcripts.append(data.transcript)
            elif event.type == "history_updated":
                texts = [
                    part.text if isinstance(part, AssistantText) else part.transcript
                    for item in event.history
                    if isinstance(item, AssistantMessageItem) and item.status == "completed"
                    for part in item.content
                ]
                run.assistant_texts = texts
                if until_text in texts:
                    break
    return run


def assert_clean(run: AgentRun) -> None:
    """The SDK reported no error, and every server event it got is valid against openai-python's types."""
    assert run.errors == []
    assert run.server_events
    for event in run.server_events:
        check_event(event)


async def test_python_agent_calls_the_scripted_tool_and_says_the_answer(mock: MockServer) -> None:
    scoped = mock.scoped("py-agent-text")
    scoped.add_replies(WEATHER_RULES)

    async def ask(session: RealtimeSession) -> None:
        await session.send_message(QUESTION)

    run = await run_agent(mock, "py-agent-text", ask, until_text=ANSWER)
    assert_clean(run)
    assert run.calls == ["Paris"]
    assert run.tool_starts == [("get_weather", '{"city":"Paris"}')]
    assert run.tool_ends == [("get_weather", '{"city":"Paris"}', "Sunny, 22 degrees in Paris.")]
    assert ANSWER in run.assistant_texts
    # Each rule served one response, and the SDK, not the mock, asked for the response after the output.
    assert scoped.replies() == []
    creates = scoped.events("client", "response.create")
    assert [event.get("event_id") for event in creates] == [
        "agents_py_response_create_1",
        "agents_py_response_create_2",
    ]
    (output,) = scoped.events("client", "conversation.item.create")[1:]
    assert output["item"]["type"] == "function_call_output"
    (call,) = [e for e in scoped.events("server", "response.output_item.done") if e["item"]["type"] == "function_call"]
    assert output["item"]["call_id"] == call["item"]["call_id"]
    # The tools were declared by the SDK's session.update after connecting, not at the mint.
    update = scoped.events("client", "session.update")[0]
    assert [tool["name"] for tool in update["session"]["tools"]] == ["get_weather"]


async def test_python_agent_hears_a_scripted_transcript(mock: MockServer) -> None:
    """The user speaks: turn detection commits the audio, the scripted transcript is what was "said"."""
    scoped = mock.scoped("py-agent-voice")
    scoped.add_replies(WEATHER_RULES)
    scoped.add_transcripts(QUESTION)

    async def speak(session: RealtimeSession) -> None:
        # A second of "speech", then silence long enough for any turn detection (semantic_vad: at most 4 s).
        for chunk in (tone(440, 1000, 0.5, PCM), silence(5000, PCM)):
            for start in range(0, len(chunk), 4800):
                await session.send_audio(chunk[start : start + 4800])

    run = await run_agent(mock, "py-agent-voice", speak, until_text=ANSWER)
    assert_clean(run)
    assert run.transcripts == [QUESTION]
    assert run.calls == ["Paris"]
    assert [name for name, _ in run.tool_starts] == ["get_weather"]
    assert ANSWER in run.assistant_texts
    assert scoped.transcripts() == []
    (committed,) = scoped.events("server", "input_audio_buffer.committed")
    assert scoped.assert_event("server", "conversation.item.input_audio_transcription.completed", transcript=QUESTION)
    assert (
        scoped.events("server", "conversation.item.input_audio_transcription.completed")[0]["item_id"]
        == (committed["item_id"])
    )


async def test_python_agent_is_told_about_an_undeclared_function(mock: MockServer) -> None:
    scoped = mock.scoped("py-agent-undeclared")
    scoped.add_reply(tool_calls=[{"name": "book_flight", "arguments": {"to": "Paris"}}])
    scoped.add_reply("Fine, no flights then.")

    async def ask(session: RealtimeSession) -> None:
        await session.send_message("Book me a flight")

    run = AgentRun()
    key = await mint(mock, "py-agent-undeclared")
    session = await RealtimeRunner(run.agent()).run(model_config={"url": realtime_url(mock), "api_key": key})
    async with asyncio.timeout(TIMEOUT), session:
        await ask(session)
        async for event in session:
            if event.type == "error":
                run.errors.append(event.error)
                break
    (error,) = run.errors
    assert error.type == "invalid_request_error"
    assert error.code == "undeclared_function"
    assert "'book_flight'" in error.message
    assert "Declared functions: 'get_weather'" in error.message
    # The error is tied to the SDK's response.create, which the SDK then gives up on.
    assert error.event_id == "agents_py_response_create_1"
    assert scoped.events("server", "response.created") == []
    assert [rule.text for rule in scoped.replies()] == [None, "Fine, no flights then."]


# --- Node: @openai/agents-realtime ---------------------------------------------------------------------------


def test_node_agent_calls_the_scripted_tool_and_says_the_answer() -> None:
    node = shutil.which("node")
    assert node is not None, "node is needed for the Node example"
    ensure_node_dependencies()
    with MockServer(seed=21) as mock:
        env = {**os.environ, "MOCK_URL": mock.url, "MOCK_SCOPE": "node-agent"}
        result = subprocess.run(
            [node, str(NODE_EXAMPLE / "voice-agent.mjs")],
            cwd=NODE_EXAMPLE,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT * 2,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        report = json.loads(result.stdout)
        scoped = mock.scoped("node-agent")
        assert report["final_text"] == ANSWER
        assert report["generic"] == []
        assert report["errors"] == []
        (start,) = report["tool_start"]
        assert (start["name"], start["arguments"]) == ("get_weather", '{"city":"Paris"}')
        assert report["tool_end"] == [{"name": "get_weather", "result": "Sunny, 22 degrees in Paris."}]
        # Every server event the mock sent reached the SDK, and each one is valid for openai-python too.
        server = scoped.events("server")
        assert report["events"] == len(server)
        for event in server:
            if event["type"] != "response.output_audio.delta":  # the journal keeps its audio as a byte count
                check_event({k: v for k, v in event.items() if k not in ("direction", "session_id")})
        (secret,) = scoped.secrets()
        assert secret.value == report["key"]
        assert scoped.replies() == []
        creates = scoped.events("client", "response.create")
        assert [e["event_id"] for e in creates] == ["agents_js_response_create_1", "agents_js_response_create_2"]
        (call,) = [
            e for e in server if e["type"] == "response.output_item.done" and e["item"]["type"] == "function_call"
        ]
        assert call["item"]["call_id"] == start["call_id"]
