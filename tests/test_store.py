"""Replicas sharing one real Redis (``--store redis://...``): two ``mockserver`` processes agree on secrets,
fault rules, reply rules and transcripts, the clock and the journal, keep scopes apart, and ride out the store
going away."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import json as _json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import aiohttp
import pytest
from openai import AsyncOpenAI, OpenAI

from mockserver.journal import mask_authorization
from mockserver.store import display_url
from tests.redis_server import RedisServer, free_port, redis_server
from tests.test_realtime_session import speech

MODEL = "gpt-realtime"
SK = "sk-test-replicas-0123456789"
#: Start-up, and every wait on a replica, ends within this many seconds.
START_TIMEOUT = 30.0
#: A request while Redis is down is answered within this (the store's own bound is 2 s).
DOWN_BOUND = 4.0


class Answer:
    """A response, read whole."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status_code = status
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


class Http:
    """A plain HTTP/1.1 client for one replica (a new connection per request, 10 s bound)."""

    def __init__(self, port: int) -> None:
        self.port = port

    def request(self, method: str, path: str, json: Any = None, headers: dict[str, str] | None = None) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            body = None if json is None else _json.dumps(json).encode()
            sent = {"Content-Type": "application/json", **(headers or {})}
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            return Answer(response.status, response.read())
        finally:
            connection.close()

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return self.request("GET", path, headers=headers)

    def post(self, path: str, json: Any = None, headers: dict[str, str] | None = None) -> Answer:
        return self.request("POST", path, json={} if json is None else json, headers=headers)

    def delete(self, path: str) -> Answer:
        return self.request("DELETE", path)


class Replica:
    """One ``python -m mockserver --port 0 --store URL`` process."""

    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self.http = Http(port)
        #: What it wrote on stderr, once it has stopped.
        self.stderr = ""

    def mint(self, scope: str | None = None, **session: Any) -> Answer:
        headers = {"Authorization": f"Bearer {SK}"}
        if scope is not None:
            headers["X-Mock-Scope"] = scope
        return self.http.post(
            "/v1/realtime/client_secrets", json={"session": {"type": "realtime", **session}}, headers=headers
        )


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MOCKSERVER_")}


@contextmanager
def replica(*args: str) -> Iterator[Replica]:
    process = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    server: Replica | None = None
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # bounded: the process exits (EOF) if it cannot start
        assert "listening on http://127.0.0.1:" in line, line + (process.stderr.read() if process.stderr else "")
        server = Replica(process, int(line.split("http://127.0.0.1:")[1].split()[0]))
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(START_TIMEOUT)
        if server is not None and process.stderr is not None:
            server.stderr = process.stderr.read()
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture(scope="module")
def pair(redis: RedisServer) -> Iterator[tuple[Replica, Replica]]:
    """Two replicas on database 0 of one Redis, started with the same seed."""
    store = ("--store", redis.url(0), "--seed", "11")
    with replica(*store) as a, replica(*store) as b:
        yield a, b


@pytest.fixture
def replicas(pair: tuple[Replica, Replica]) -> tuple[Replica, Replica]:
    a, b = pair
    assert a.http.post("/__mock/reset").status_code == 200
    return a, b


def test_health_reports_the_redis_store(replicas: tuple[Replica, Replica]) -> None:
    for server in replicas:
        response = server.http.get("/__mock/health")
        assert response.status_code == 200
        assert response.json()["store"] == {"kind": "redis", "ok": True}


def test_a_key_minted_on_one_replica_is_introspected_and_revoked_on_the_other(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    with OpenAI(base_url=a.base_url, api_key=SK, max_retries=0) as client:
        key = client.realtime.client_secrets.create(session={"type": "realtime", "instructions": "Be brief."}).value
    seen = b.http.get(f"/__mock/secrets/{key}").json()
    assert seen["value"] == key
    assert seen["status"] == "active"
    assert seen["session"]["instructions"] == "Be brief."
    assert b.http.delete(f"/__mock/secrets/{key}").json()["status"] == "revoked"
    assert a.http.get(f"/__mock/secrets/{key}").json()["status"] == "revoked"
    # Both replicas list it once; the ids the two minted never collide.
    other = b.mint().json()["value"]
    assert other != key
    assert [s["value"] for s in a.http.get("/__mock/secrets").json()["data"]] == [key, other]


async def test_a_key_minted_on_one_replica_opens_a_session_on_the_other(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    async with AsyncOpenAI(base_url=a.base_url, api_key=SK, max_retries=0) as server_side:
        minted = await server_side.realtime.client_secrets.create(
            session={"type": "realtime", "model": MODEL, "instructions": "Answer from replica A."}
        )
    async with (
        AsyncOpenAI(base_url=b.base_url, api_key=minted.value, max_retries=0) as browser_side,
        browser_side.realtime.connect(model=MODEL) as connection,
    ):
        first = json.loads(await asyncio.wait_for(connection.recv_bytes(), 10))
        assert first["type"] == "session.created"
        assert first["session"]["instructions"] == "Answer from replica A."
        assert first["session"]["id"] == minted.session.id
    # The session B opened is noted on the secret, seen from A.
    deadline = time.monotonic() + 5
    while not (sessions := a.http.get(f"/__mock/secrets/{minted.value}").json()["sessions"]):
        assert time.monotonic() < deadline, "the opened session was never noted"
        await asyncio.sleep(0.05)
    assert sessions[0]["transport"] == "websocket"
    # A key revoked on A no longer opens a session on B.
    a.http.delete(f"/__mock/secrets/{minted.value}")
    async with (
        AsyncOpenAI(base_url=b.base_url, api_key=minted.value, max_retries=0) as browser_side,
        browser_side.realtime.connect(model=MODEL) as connection,
    ):
        event = json.loads(await asyncio.wait_for(connection.recv_bytes(), 10))
        assert event["type"] == "error"
        assert event["error"]["code"] == "invalid_api_key"


def test_a_fault_rule_serves_exactly_its_times_across_replicas(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    rule = a.http.post("/__mock/faults", json={"status": 429, "times": 2}).json()
    assert b.http.get("/__mock/faults").json()["data"][0]["id"] == rule["id"]
    statuses = [server.mint().status_code for server in (a, b, a, b, a, b)]
    assert statuses.count(429) == 2
    assert statuses[:2] == [429, 429]
    assert a.http.get("/__mock/faults").json()["data"] == []


def test_a_fault_rule_is_consumed_exactly_under_concurrent_load(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    # 418: no other answer of the mock uses it, so every 418 is one use of this rule.
    a.http.post("/__mock/faults", json={"status": 418, "times": 7, "match": {"path": "/v1/realtime/client_secrets"}})

    async def burst() -> list[int]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as client:

            async def one(server: Replica) -> int:
                async with client.post(
                    f"http://127.0.0.1:{server.port}/v1/realtime/client_secrets",
                    json={},
                    headers={"Authorization": f"Bearer {SK}"},
                ) as response:
                    return response.status

            return list(await asyncio.gather(*(one(server) for _ in range(20) for server in (a, b))))

    statuses = asyncio.run(burst())
    assert statuses.count(418) == 7
    assert statuses.count(200) == 33


def test_the_clock_advanced_on_one_replica_is_advanced_on_the_other(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    before = b.http.get("/__mock/clock").json()["now"]
    assert a.http.post("/__mock/clock", json={"advance": 3600}).status_code == 200
    after = b.http.get("/__mock/clock").json()
    assert after["offset"] == 3600
    assert after["now"] - before >= 3600
    # A key minted before expires on both once the shared clock passes its expiry.
    key = a.mint().json()["value"]  # expires after 600 s
    a.http.post("/__mock/clock", json={"advance": 601})
    assert b.http.get(f"/__mock/secrets/{key}").json()["status"] == "expired"


def test_the_journal_is_shared_and_masked(replicas: tuple[Replica, Replica], redis: RedisServer) -> None:
    a, b = replicas
    a.mint()
    b.http.post("/v1/realtime/client_secrets", json={}, headers={"Authorization": "Bearer sk-test-secretsecret9876"})
    entries = a.http.get("/__mock/requests").json()["data"]
    assert [e["status"] for e in entries] == [200, 200]
    assert entries[0]["headers"]["authorization"] == mask_authorization(f"Bearer {SK}")
    assert entries[0]["headers"]["authorization"].endswith("*6789")
    assert entries[1]["headers"]["authorization"].endswith("9876")
    assert "secretsecret" not in json.dumps(entries)
    # Not in Redis either: the journal is masked before it is written.
    dump = redis.command("HGETALL", "mockserver:journal:entries")
    assert b"9876" in dump
    assert b"secretsecret" not in dump
    assert b"replicas-0123" not in dump
    assert b.http.delete("/__mock/requests").status_code == 200
    assert a.http.get("/__mock/requests").json()["data"] == []


async def test_a_browser_key_in_the_subprotocol_is_masked_in_the_shared_journal(
    replicas: tuple[Replica, Replica], redis: RedisServer
) -> None:
    a, b = replicas
    key = a.mint().json()["value"]
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            f"ws://127.0.0.1:{b.port}/v1/realtime?model={MODEL}",
            protocols=("realtime", f"openai-insecure-api-key.{key}"),
        ) as ws,
    ):
        event = await asyncio.wait_for(ws.receive_json(), 10)
        assert event["type"] == "session.created"
    entries = a.http.get("/__mock/requests").json()["data"]
    socket_entry = next(e for e in entries if e["path"] == "/v1/realtime")
    protocol = socket_entry["headers"]["sec-websocket-protocol"]
    assert protocol.startswith("realtime, openai-insecure-api-key.ek_")
    assert key not in protocol
    assert key not in json.dumps(entries)
    assert key.encode() not in redis.command("HGETALL", "mockserver:journal:entries")


def test_scopes_stay_isolated_across_replicas(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    one = a.mint(scope="one").json()["value"]
    two = b.mint(scope="two").json()["value"]
    a.http.post("/__mock/faults", json={"status": 500, "times": 1}, headers={"X-Mock-Scope": "one"})
    assert b.mint(scope="two").status_code == 200  # the rule is scope one's
    assert b.mint(scope="one").status_code == 500
    listed = b.http.get("/__mock/secrets", headers={"X-Mock-Scope": "two"}).json()["data"]
    assert two in [s["value"] for s in listed]
    assert one not in [s["value"] for s in listed]
    journal = a.http.get("/__mock/requests", headers={"X-Mock-Scope": "one"}).json()["data"]
    assert {e["scope"] for e in journal} == {"one"}
    # Resetting scope one (on B) leaves scope two alone.
    b.http.post("/__mock/reset", headers={"X-Mock-Scope": "one"})
    assert a.http.get(f"/__mock/secrets/{one}").status_code == 404
    assert a.http.get(f"/__mock/secrets/{two}").json()["status"] == "active"


def test_unreachable_at_start_up_is_one_line_and_exit_1() -> None:
    port = free_port()  # nothing listens there
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "mockserver", "--port", "0", "--store", f"redis://127.0.0.1:{port}/0"],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        env=_env(),
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"mockserver: cannot reach the store at redis://127.0.0.1:{port}/0")
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < START_TIMEOUT


def test_redis_lost_mid_run_gives_503s_then_recovers() -> None:
    with redis_server() as server, replica("--store", server.url(0)) as a:
        key = a.mint().json()["value"]
        server.stop()
        for path, method in (("/v1/realtime/client_secrets", "POST"), (f"/__mock/secrets/{key}", "GET")):
            started = time.monotonic()
            response = a.http.request(method, path, json={}, headers={"Authorization": f"Bearer {SK}"})
            assert time.monotonic() - started < DOWN_BOUND
            assert response.status_code == 503
            error = response.json()["error"]
            assert error["type"] == "server_error"
            assert error["code"] == "store_unavailable"
            assert "retry" in error["message"]
        for path, body in (("/__mock/replies", {"text": "Hi."}), ("/__mock/transcripts", {"transcripts": ["Hi."]})):
            started = time.monotonic()
            response = a.http.post(path, json=body)
            assert time.monotonic() - started < DOWN_BOUND
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "store_unavailable"
        health = a.http.get("/__mock/health")
        assert health.status_code == 503
        assert health.json()["store"] == {"kind": "redis", "ok": False}

        server.start()  # an empty Redis on the same port: the replica reconnects by itself
        deadline = time.monotonic() + 10
        while a.http.get("/__mock/health").status_code != 200:
            assert time.monotonic() < deadline, "the replica never recovered"
            time.sleep(0.1)
        assert a.mint().status_code == 200
        assert a.http.post("/__mock/faults", json={"status": 418, "times": 1}).status_code == 201
        assert a.mint().status_code == 418
    assert a.process.returncode == 0
    assert "Traceback" not in a.stderr


async def test_a_websocket_opened_while_redis_is_down_gets_an_error_event_not_a_traceback() -> None:
    with redis_server() as server, replica("--store", server.url(0)) as a:
        key = a.mint().json()["value"]
        server.stop()
        async with AsyncOpenAI(base_url=a.base_url, api_key=key, max_retries=0) as client:
            # The upgrade itself needs the store (the per-request sync): a 503 before any socket.
            with pytest.raises(Exception) as raised:  # noqa: PT011 - the SDK's websockets error, whatever its class
                async with client.realtime.connect(model=MODEL) as connection:
                    await asyncio.wait_for(connection.recv_bytes(), 10)
            assert "503" in str(raised.value)
    assert "Traceback" not in a.stderr


def test_a_store_password_is_never_shown() -> None:
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "mockserver", "--port", "0", "--store", f"redis://:hunter2@127.0.0.1:{port}/0"],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        env=_env(),
    )
    assert result.returncode == 1
    assert f"redis://:***@127.0.0.1:{port}/0" in result.stderr
    assert "hunter2" not in result.stderr
    assert display_url("redis://user:pw@redis.internal:6380/2") == "redis://user:***@redis.internal:6380/2"
    assert display_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_settings_show_the_store_without_its_password(replicas: tuple[Replica, Replica], redis: RedisServer) -> None:
    a, _ = replicas
    settings = a.http.get("/__mock/settings").json()
    assert settings["store"] == redis.url(0)
    assert settings["workers"] == 1


# --- scripted conversations: reply rules and transcripts -------------------------------------------------


async def _until(connection: Any, event_type: str) -> dict[str, Any]:
    """The first event of ``event_type`` (bounded: 10 s per event); an ``error`` event fails the test."""
    while True:
        event = json.loads(await asyncio.wait_for(connection.recv_bytes(), 10))
        assert event["type"] != "error", event
        if event["type"] == event_type:
            return dict(event)


@asynccontextmanager
async def scripted_session(server: Replica, minted_on: Replica, scope: str | None = None) -> AsyncIterator[Any]:
    """A text-only session without turn detection on ``server``, its key minted on ``minted_on`` in ``scope``."""
    session = {
        "model": MODEL,
        "output_modalities": ["text"],
        "audio": {"input": {"turn_detection": None, "transcription": {"model": "whisper-1"}}},
    }
    minted = minted_on.mint(scope=scope, **session)
    assert minted.status_code == 200, minted.body
    async with (
        AsyncOpenAI(base_url=server.base_url, api_key=minted.json()["value"], max_retries=0) as client,
        client.realtime.connect(model=MODEL) as connection,
    ):
        assert (await _until(connection, "session.created"))["type"] == "session.created"
        yield connection


@asynccontextmanager
async def raw_session(server: Replica, key: str) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A Realtime WebSocket on ``server`` with ``key``, over aiohttp (to see its close code), once created."""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            f"ws://127.0.0.1:{server.port}/v1/realtime?model={MODEL}", headers={"Authorization": f"Bearer {key}"}
        ) as ws,
    ):
        assert (await asyncio.wait_for(ws.receive_json(), 10))["type"] == "session.created"
        yield ws


async def answer(connection: Any, text: str) -> str:
    """The user types ``text``; what the assistant's text reply says."""
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    await connection.send({"type": "conversation.item.create", "item": item})
    await connection.send({"type": "response.create"})
    done = await _until(connection, "response.done")
    (message,) = [item for item in done["response"]["output"] if item["type"] == "message"]
    return str(message["content"][0]["text"])


async def heard(connection: Any) -> str:
    """The user speaks and commits: what the transcription reports."""
    audio = base64.b64encode(speech(300)).decode()
    await connection.send({"type": "input_audio_buffer.append", "audio": audio})
    await connection.send({"type": "input_audio_buffer.commit"})
    return str((await _until(connection, "conversation.item.input_audio_transcription.completed"))["transcript"])


async def test_a_reply_rule_posted_on_one_replica_serves_exactly_its_times_on_both(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    posted = a.http.post("/__mock/replies", json={"text": "Scripted once more.", "times": 2})
    assert posted.status_code == 201
    rule = posted.json()
    (listed,) = b.http.get("/__mock/replies").json()["data"]
    assert (listed["id"], listed["text"], listed["times"]) == (rule["id"], "Scripted once more.", 2)
    async with scripted_session(a, a) as on_a, scripted_session(b, a) as on_b:
        answers = [await answer(on_b, "hello"), await answer(on_a, "hello"), await answer(on_b, "hello")]
        answers.append(await answer(on_a, "hello"))
    assert answers[:2] == ["Scripted once more.", "Scripted once more."]
    # Used up on both: generated text from then on, and no rule left on either replica.
    assert "Scripted once more." not in answers[2:]
    assert all(text.strip() for text in answers[2:])
    assert a.http.get("/__mock/replies").json()["data"] == []
    assert b.http.get("/__mock/replies").json()["data"] == []


async def test_a_reply_rule_is_consumed_exactly_by_concurrent_sessions(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    # Five: more than the four responses either replica serves, so only a shared count gives exactly five.
    a.http.post("/__mock/replies", json={"text": "Only five of these.", "times": 5})
    async with (
        scripted_session(a, b) as a1,
        scripted_session(a, a) as a2,
        scripted_session(b, a) as b1,
        scripted_session(b, b) as b2,
    ):

        async def twice(connection: Any) -> list[str]:
            return [await answer(connection, "hi"), await answer(connection, "hi again")]

        answers = [text for pair in await asyncio.gather(*map(twice, (a1, a2, b1, b2))) for text in pair]
    assert len(answers) == 8
    assert answers.count("Only five of these.") == 5


async def test_rule_ids_are_unique_across_replicas_and_delete_works_on_either(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    first = a.http.post("/__mock/replies", json={"text": "One.", "times": None}).json()
    second, third = b.http.post("/__mock/replies", json=[{"text": "Two."}, {"text": "Three."}]).json()["data"]
    assert len({first["id"], second["id"], third["id"]}) == 3
    assert [r["id"] for r in a.http.get("/__mock/replies").json()["data"]] == [first["id"], second["id"], third["id"]]
    removed = b.http.delete(f"/__mock/replies/{first['id']}")
    assert removed.status_code == 200
    assert removed.json()["text"] == "One."
    assert a.http.delete(f"/__mock/replies/{first['id']}").status_code == 404
    assert [r["text"] for r in a.http.get("/__mock/replies").json()["data"]] == ["Two.", "Three."]


async def test_transcripts_posted_on_one_replica_are_heard_in_order_on_the_other(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    posted = a.http.post("/__mock/transcripts", json={"transcripts": ["First words.", "Second words."]})
    assert posted.status_code == 201
    assert b.http.get("/__mock/transcripts").json()["transcripts"] == ["First words.", "Second words."]
    async with scripted_session(b, a) as on_b, scripted_session(a, a) as on_a:
        said = [await heard(on_b), await heard(on_a), await heard(on_b)]
    assert said[:2] == ["First words.", "Second words."]
    assert said[2] not in ("First words.", "Second words.")  # taken once each: then a generated transcript
    assert a.http.get("/__mock/transcripts").json()["transcripts"] == []


async def test_scripts_stay_in_their_scope_across_replicas(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    one = {"X-Mock-Scope": "one"}
    a.http.post("/__mock/replies", json={"text": "For scope one.", "times": None}, headers=one)
    a.http.post("/__mock/transcripts", json={"transcripts": ["Said in one."]}, headers=one)
    assert b.http.get("/__mock/replies", headers={"X-Mock-Scope": "two"}).json()["data"] == []
    assert b.http.get("/__mock/transcripts", headers={"X-Mock-Scope": "two"}).json()["transcripts"] == []
    async with scripted_session(b, b, scope="two") as two, scripted_session(b, a, scope="one") as in_one:
        assert await answer(two, "hello") != "For scope one."
        assert await heard(two) != "Said in one."
        assert await answer(in_one, "hello") == "For scope one."
        assert await heard(in_one) == "Said in one."
    # Clearing scope two (on B) leaves scope one's rule; resetting scope one (on B) drops it for A.
    b.http.request("DELETE", "/__mock/replies", headers={"X-Mock-Scope": "two"})
    assert [r["text"] for r in a.http.get("/__mock/replies", headers=one).json()["data"]] == ["For scope one."]
    b.http.post("/__mock/reset", headers=one)
    assert a.http.get("/__mock/replies").json()["data"] == []


async def test_clearing_scripts_on_one_replica_clears_them_for_the_other(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    a.http.post("/__mock/replies", json={"text": "Soon cleared.", "times": None})
    a.http.post("/__mock/transcripts", json={"transcripts": ["Soon cleared too."]})
    assert b.http.delete("/__mock/replies").json() == {"data": []}
    assert b.http.delete("/__mock/transcripts").json() == {"data": [], "transcripts": []}
    assert a.http.get("/__mock/replies").json()["data"] == []
    assert a.http.get("/__mock/transcripts").json()["transcripts"] == []
    async with scripted_session(a, a) as on_a:
        assert await answer(on_a, "hello") != "Soon cleared."
        assert await heard(on_a) != "Soon cleared too."


async def test_a_session_whose_script_cannot_be_read_gets_an_error_event_and_a_1011_close() -> None:
    with redis_server() as server, replica("--store", server.url(0)) as a:
        a.http.post("/__mock/replies", json={"text": "Never heard.", "times": None})
        async with raw_session(a, a.mint(output_modalities=["text"]).json()["value"]) as ws:
            server.stop()
            started = time.monotonic()
            await ws.send_json({"type": "response.create"})
            event = await asyncio.wait_for(ws.receive_json(), DOWN_BOUND)
            while event["type"] != "error":
                event = await asyncio.wait_for(ws.receive_json(), DOWN_BOUND)
            assert event["error"]["code"] == "store_unavailable"
            assert event["error"]["type"] == "server_error"
            closing = await asyncio.wait_for(ws.receive(), DOWN_BOUND)
            assert closing.type == aiohttp.WSMsgType.CLOSE
            assert closing.data == 1011
            assert time.monotonic() - started < DOWN_BOUND
    assert "Traceback" not in a.stderr


async def test_a_session_working_on_its_own_when_the_store_is_lost_gets_an_error_event_and_ends() -> None:
    # The idle timeout fires with no client event: its response needs the script, which Redis no longer answers.
    with redis_server() as server, replica("--store", server.url(0)) as a:
        turn_detection = {"type": "server_vad", "idle_timeout_ms": 5000}
        key = a.mint(output_modalities=["text"], audio={"input": {"turn_detection": turn_detection}}).json()["value"]
        async with raw_session(a, key) as ws:
            await ws.send_json({"type": "response.create"})
            while (await asyncio.wait_for(ws.receive_json(), 10))["type"] != "response.done":
                pass
            server.stop()  # the idle timeout (5 s after the reply) now finds the store down
            seen = []
            event = await asyncio.wait_for(ws.receive_json(), 5 + DOWN_BOUND + 5)
            while event["type"] != "error":
                seen.append(event["type"])
                event = await asyncio.wait_for(ws.receive_json(), DOWN_BOUND + 5)
            assert "input_audio_buffer.timeout_triggered" in seen
            assert event["error"]["code"] == "store_unavailable"
            closing = await asyncio.wait_for(ws.receive(), DOWN_BOUND)
            assert closing.type == aiohttp.WSMsgType.CLOSE
    assert "Traceback" not in a.stderr
    assert "Task exception was never retrieved" not in a.stderr
