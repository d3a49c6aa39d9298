"""``GET /v1/realtime?call_id=rtc_...``: a WebSocket attached to an accepted call's session, over a real socket.

The SIP story end to end (a simulated incoming call, its signed webhook verified with ``client.webhooks.unwrap``,
``client.realtime.calls.accept``, the attach, ``response.create``, a reply, the hangup closing the socket), the
refusals (404 at the upgrade for a call that is unknown or not in progress), several sockets on one call, a
WebRTC call's sideband beside its data channel (aiortc), and the Python Agents SDK attaching with ``call_id``.
Every server event is checked against the official SDK's ``RealtimeServerEvent`` types.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from agents.realtime import RealtimeAgent, RealtimeRunner
from agents.realtime.items import AssistantMessageItem, AssistantText
from agents.realtime.openai_realtime import OpenAIRealtimeSIPModel
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from mockserver.testing import MockServer

from .realtime_client import (
    SK,
    TIMEOUT,
    Socket,
    assert_openai_error,
    bearer,
    connect,
    mint_key,
    refusal,
    ws_url,
)
from .translation_client import mint_translation_key
from .webrtc_client import CallClient

GREETING = "Thank you for calling, how can I help you?"


def call_url(mock: MockServer, call_id: str) -> str:
    return ws_url(mock, f"call_id={call_id}")


async def ring(http: aiohttp.ClientSession, mock: MockServer, **body: Any) -> dict[str, Any]:
    async with http.post(f"{mock.url}/__mock/calls", json=body, headers=mock.headers) as response:
        call = await response.json()
        assert response.status == 201, call
    return call


async def accept(mock: MockServer, call_id: str, **session: Any) -> None:
    async with AsyncOpenAI(base_url=mock.base_url, api_key=SK) as client:
        await client.realtime.calls.accept(call_id, type="realtime", **session)


async def ringing_and_accepted(http: aiohttp.ClientSession, mock: MockServer, **session: Any) -> str:
    call = await ring(http, mock)
    await accept(mock, call["id"], **session)
    return str(call["id"])


async def attached(http: aiohttp.ClientSession, mock: MockServer, call_id: str, key: str = SK) -> Socket:
    ws = await asyncio.wait_for(http.ws_connect(call_url(mock, call_id), headers=bearer(key)), TIMEOUT)
    socket = Socket(ws)
    created = await socket.recv()
    assert created["type"] == "session.created", created
    return socket


async def closed(socket: Socket) -> tuple[int | None, str]:
    """Read to the close frame (events still in flight are checked and kept): its code and reason."""
    while True:
        message = await socket.ws.receive(timeout=TIMEOUT)
        if message.type == WSMsgType.TEXT:
            socket.received.append(message.json())
            continue
        assert message.type == WSMsgType.CLOSE, message
        return message.data, message.extra


async def upgrade_status(http: aiohttp.ClientSession, url: str, key: str = SK) -> tuple[int, bytes, str | None]:
    """A WebSocket upgrade request by hand: the status, body and ``Content-Length`` (no 101 expected)."""
    headers = {
        **bearer(key),
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    async with http.get(url.replace("ws://", "http://", 1), headers=headers) as response:
        return response.status, await response.read(), response.headers.get("Content-Length")


# --- the SIP story ------------------------------------------------------------------------------------------


@pytest.fixture
async def webhook_app(
    aiohttp_server: Callable[..., Awaitable[TestServer]], mock: MockServer
) -> AsyncIterator[tuple[str, list[Any]]]:
    """The app's webhook endpoint, as OpenAI's SIP guide has it: verify, then accept the call."""
    backend = AsyncOpenAI(base_url=mock.base_url, api_key=SK, webhook_secret=mock.webhook_secret)
    events: list[Any] = []

    async def webhook(request: web.Request) -> web.Response:
        event = backend.webhooks.unwrap(await request.text(), dict(request.headers))
        events.append(event)
        if event.type == "realtime.call.incoming":
            await backend.realtime.calls.accept(
                event.data.call_id, type="realtime", instructions="You are a support agent.", output_modalities=["text"]
            )
        return web.Response()

    app = web.Application()
    app.router.add_post("/openai/webhook", webhook)
    server = await aiohttp_server(app)
    yield str(server.make_url("/openai/webhook")), events
    await backend.close()


async def test_the_sip_story_end_to_end(
    mock: MockServer, http: aiohttp.ClientSession, webhook_app: tuple[str, list[Any]]
) -> None:
    url, webhooks = webhook_app
    mock.add_reply(text=GREETING)
    call = await ring(http, mock, webhook_url=url, **{"from": "sip:+14155550123@example.com"})
    assert call["webhook"]["delivered"] is True
    assert call["status"] == "accepted"
    (event,) = webhooks
    assert event.data.call_id == call["id"]

    socket = await attached(http, mock, call["id"])
    session = socket.received[0]["session"]
    assert session["id"] == mock.call(call["id"]).session["id"]
    assert session["instructions"] == "You are a support agent."
    assert session["output_modalities"] == ["text"]
    # The docs' example: respond at once.
    await socket.send({"type": "response.create", "response": {"instructions": f"Say to the user '{GREETING}'"}})
    events = await socket.until("response.done")
    assert events[0]["type"] == "response.created"
    done = events[-1]["response"]
    assert done["status"] == "completed"
    assert done["output"][0]["content"][0]["text"] == GREETING

    async with AsyncOpenAI(base_url=mock.base_url, api_key=SK) as client:
        await client.realtime.calls.hangup(call["id"])
    assert await closed(socket) == (1000, "the call was hung up")
    assert mock.call(call["id"]).status == "hung_up"
    await socket.ws.close()

    entry = next(e for e in mock.requests(path="/v1/realtime") if e.query == {"call_id": call["id"]})
    assert entry.status == 101
    assert (entry.extra["call_id"], entry.extra["session_id"]) == (call["id"], session["id"])
    assert entry.extra["closed"] == "the call was hung up"
    assert [e["type"] for e in entry.extra["events"]][:3] == ["session.created", "response.create", "response.created"]


async def test_an_unknown_call_is_a_404_at_the_upgrade(mock: MockServer, http: aiohttp.ClientSession) -> None:
    url = call_url(mock, "rtc_" + "0" * 32)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await asyncio.wait_for(http.ws_connect(url, headers=bearer(SK)), TIMEOUT)
    assert refused.value.status == 404
    # As observed: no upgrade, and an empty body.
    assert await upgrade_status(http, url) == (404, b"", "0")
    entries = mock.requests(path="/v1/realtime")
    assert [entry.status for entry in entries] == [404, 404]
    assert entries[-1].extra["attach"] == f"no call with id 'rtc_{'0' * 32}'"


@pytest.mark.parametrize("how", ["ringing", "rejected", "hung up", "ended", "referred"])
async def test_a_call_not_in_progress_is_a_404_too(mock: MockServer, http: aiohttp.ClientSession, how: str) -> None:
    call = await ring(http, mock)
    call_id = call["id"]
    async with AsyncOpenAI(base_url=mock.base_url, api_key=SK) as client:
        if how == "rejected":
            await client.realtime.calls.reject(call_id)
        elif how == "hung up":
            await client.realtime.calls.hangup(call_id)
        elif how == "referred":
            await client.realtime.calls.accept(call_id, type="realtime")
            await client.realtime.calls.refer(call_id, target_uri="tel:+14155550123")
    if how == "ended":
        async with http.delete(f"{mock.url}/__mock/calls/{call_id}") as response:
            assert response.status == 200
    assert await upgrade_status(http, call_url(mock, call_id)) == (404, b"", "0")
    entry = mock.requests(path="/v1/realtime")[-1]
    assert entry.extra["attach"] == f"call '{call_id}' is {how}, not accepted"


async def test_the_key_comes_first(mock: MockServer, http: aiohttp.ClientSession) -> None:
    """No key, or an invalid one: the usual 101, error event and close 3000, whatever the call id."""
    unknown = call_url(mock, "rtc_" + "1" * 32)
    error, code, reason = await refusal(http, unknown)
    assert_openai_error(error, code=None, message="Missing bearer or basic authentication in header")
    assert (code, reason) == (3000, "invalid_request_error")
    call_id = await ringing_and_accepted(http, mock)
    translation_key, _ = await mint_translation_key(http, mock)
    for key in ("ek_" + "2" * 32, translation_key):
        error, code, reason = await refusal(http, call_url(mock, call_id), headers=bearer(key))
        assert_openai_error(error, code="invalid_api_key")
        assert (code, reason) == (3000, "invalid_request_error.invalid_api_key")


async def test_an_ephemeral_key_attaches_only_to_its_own_webrtc_call(
    mock: MockServer, http: aiohttp.ClientSession
) -> None:
    sip_call = await ringing_and_accepted(http, mock)
    key, _ = await mint_key(http, mock)
    error, code, _ = await refusal(http, call_url(mock, sip_call), headers=bearer(key))
    message = (
        "You have insufficient permissions for this operation. An ephemeral client secret (ek_...) can attach "
        "only to the WebRTC call it opened: use a standard API key."
    )
    assert_openai_error(error, code=None, message=message)
    assert code == 3000

    browser = CallClient(microphone=None)
    try:
        status, _, headers = await browser.post(http, mock.base_url, key)
        assert status == 201
        webrtc_call = headers["Location"].rsplit("/", 1)[-1]
        # The key that opened the call may attach to it (its peer need not be connected).
        socket = await attached(http, mock, webrtc_call, key)
        assert socket.received[0]["session"]["id"] == mock.call(webrtc_call).session["id"]
        await socket.ws.close()
        other, _ = await mint_key(http, mock)
        error, code, _ = await refusal(http, call_url(mock, webrtc_call), headers=bearer(other))
        assert_openai_error(error, code=None, message=message)
    finally:
        await browser.close()


# --- one session, several sockets ---------------------------------------------------------------------------


async def test_sockets_on_one_call_share_its_session(mock: MockServer, http: aiohttp.ClientSession) -> None:
    call_id = await ringing_and_accepted(http, mock, output_modalities=["text"])
    first = await attached(http, mock, call_id)
    second = await attached(http, mock, call_id)
    session_id = first.received[0]["session"]["id"]
    assert second.received[0]["session"]["id"] == session_id
    # What one socket does, both see.
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello!"}]}
    await first.send({"type": "conversation.item.create", "event_id": "c1", "item": item})
    added = [await first.recv(), await first.recv()]
    assert [e["type"] for e in added] == ["conversation.item.added", "conversation.item.done"]
    assert [await second.recv(), await second.recv()] == added
    updated = await second.ask({"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}})
    assert updated[0]["type"] == "session.updated"
    assert await first.recv() == updated[0]
    # The conversation outlives a socket: one that attaches later finds the item, and the session as updated.
    await first.ws.close()
    third = await attached(http, mock, call_id)
    assert third.received[0]["session"]["instructions"] == "Be brief."
    item_id = added[0]["item"]["id"]
    (retrieved,) = await third.ask({"type": "conversation.item.retrieve", "item_id": item_id})
    assert retrieved["item"]["content"][0]["text"] == "Hello!"
    assert (await second.recv())["type"] == "conversation.item.retrieved"
    # The caller hangs up: every socket still attached closes.
    async with http.delete(f"{mock.url}/__mock/calls/{call_id}") as response:
        assert (await response.json())["status"] == "ended"
    assert await closed(second) == (1000, "the caller hung up")
    assert await closed(third) == (1000, "the caller hung up")
    for socket in (second, third):
        await socket.ws.close()


async def test_session_close_ends_the_call(mock: MockServer, http: aiohttp.ClientSession) -> None:
    call_id = await ringing_and_accepted(http, mock)
    first = await attached(http, mock, call_id)
    second = await attached(http, mock, call_id)
    await first.send({"type": "session.close"})
    assert (await closed(first))[0] == 1000
    assert await closed(second) == (1000, "the session closed")
    assert mock.call(call_id).status == "hung_up"
    assert await upgrade_status(http, call_url(mock, call_id)) == (404, b"", "0")
    for socket in (first, second):
        await socket.ws.close()


async def test_a_refer_closes_the_sockets(mock: MockServer, http: aiohttp.ClientSession) -> None:
    call_id = await ringing_and_accepted(http, mock)
    socket = await attached(http, mock, call_id)
    async with AsyncOpenAI(base_url=mock.base_url, api_key=SK) as client:
        await client.realtime.calls.refer(call_id, target_uri="sip:agent@example.com")
    assert await closed(socket) == (1000, "the call was referred")
    await socket.ws.close()


async def test_the_call_scope_follows_the_socket(mock: MockServer, http: aiohttp.ClientSession) -> None:
    """A call rung in a scope: its socket's journal entry and its scripted replies are that scope's."""
    scoped = mock.scoped("tenant-b")
    scoped.add_reply(text="Scoped hello.")
    call = await ring(http, scoped)
    await accept(mock, call["id"], output_modalities=["text"])
    async with connect(http, call_url(mock, call["id"]), headers=bearer(SK)) as socket:
        await socket.recv()
        await socket.send({"type": "response.create"})
        done = (await socket.until("response.done"))[-1]
        assert done["response"]["output"][0]["content"][0]["text"] == "Scoped hello."
    (entry,) = scoped.requests(path="/v1/realtime")
    assert entry.scope == "tenant-b"


# --- a WebRTC call's sideband -----------------------------------------------------------------------------------


async def test_a_webrtc_sideband_sees_what_the_data_channel_sees(mock: MockServer, http: aiohttp.ClientSession) -> None:
    key, _ = await mint_key(http, mock, output_modalities=["text"])
    browser = CallClient(microphone=None)
    try:
        await browser.connect(http, mock.base_url, key)
        await browser.until("session.created")
        # The backend attaches with its server key, beside the browser's data channel.
        sideband = await attached(http, mock, browser.call_id)
        assert sideband.received[0]["session"]["id"] == browser.received[0]["session"]["id"]
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}
        browser.send({"type": "conversation.item.create", "item": item})
        browser.send({"type": "response.create"})
        on_channel = await browser.until("response.done")
        on_sideband = await sideband.until("response.done")
        assert on_sideband == on_channel
        # The sideband steers the session: the data channel hears it.
        await sideband.send({"type": "session.update", "session": {"type": "realtime", "instructions": "Tools."}})
        updated = (await browser.until("session.updated"))[-1]
        assert updated["session"]["instructions"] == "Tools."
        async with http.post(f"{mock.base_url}/realtime/calls/{browser.call_id}/hangup", headers=bearer(SK)) as r:
            assert r.status == 200
        code, _ = await closed(sideband)
        assert code == 1000
        await asyncio.wait_for(browser.channel_closed.wait(), TIMEOUT)
        await sideband.ws.close()
    finally:
        await browser.close()


# --- the Python Agents SDK --------------------------------------------------------------------------------------


async def test_the_agents_sdk_attaches_with_call_id(mock: MockServer, http: aiohttp.ClientSession) -> None:
    """``OpenAIRealtimeSIPModel`` with ``model_config={"call_id": ...}``: the agent answers on the call."""
    call_id = await ringing_and_accepted(http, mock, output_modalities=["text"])
    mock.add_reply(match={"user_text": "hello"}, text="Hello, caller!")
    agent = RealtimeAgent(name="Phone agent", instructions="Answer the phone.")
    runner = RealtimeRunner(agent, model=OpenAIRealtimeSIPModel())
    errors: list[Any] = []
    texts: list[str | None] = []
    session = await runner.run(model_config={"call_id": call_id, "url": call_url(mock, call_id), "api_key": SK})
    async with asyncio.timeout(15), session:
        await session.send_message("hello there")
        async for event in session:
            if event.type == "error":
                errors.append(event.error)
            elif event.type == "history_updated":
                texts = [
                    part.text if isinstance(part, AssistantText) else part.transcript
                    for item in event.history
                    if isinstance(item, AssistantMessageItem) and item.status == "completed"
                    for part in item.content
                ]
                if "Hello, caller!" in texts:
                    break
    assert errors == []
    assert "Hello, caller!" in texts
    entry = next(e for e in mock.requests(path="/v1/realtime") if e.query == {"call_id": call_id})
    client_events = [e["type"] for e in entry.extra["events"] if e["direction"] == "client"]
    assert client_events[0] == "session.update"
