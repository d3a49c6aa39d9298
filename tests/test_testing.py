"""The ``MockServer`` handle outside pytest's fixtures: sync and async, typed calls, assertions."""

from __future__ import annotations

import re
import socket
import threading
import time

import aiohttp
import openai
import pytest
from aiohttp import web
from openai import AsyncOpenAI, OpenAI

from mockserver import Settings
from mockserver.serving import listening_site
from mockserver.testing import MockServer, MockServerError
from mockserver.writes import TurnSite


def test_sync_handle_runs_on_a_background_thread_and_stops() -> None:
    before = threading.active_count()
    with MockServer(seed=7) as server:
        assert server.running
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.seed == 7
        with OpenAI(base_url=server.base_url, api_key="sk-test") as client:
            secret = client.realtime.client_secrets.create()
        [info] = server.assert_minted(1)
        assert info.value == secret.value
        assert info.status == "active"
        assert server.secret(secret.value).session["id"] == secret.session.id
    assert not server.running
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before


async def test_async_handle_runs_on_the_current_loop() -> None:
    async with MockServer(latency_ms=5) as server:
        async with AsyncOpenAI(base_url=server.base_url, api_key="sk-test") as client:
            await client.realtime.client_secrets.create(session={"type": "transcription"})
        [entry] = server.requests()
        assert entry.latency_ms == 5.0
        assert entry.body == {"session": {"type": "transcription"}}
        assert entry.headers["authorization"] == "Bearer sk-****"


def test_fail_next_then_success_and_assertion_messages() -> None:
    with MockServer() as server, OpenAI(base_url=server.base_url, api_key="sk-test") as client:
        rule = server.fail_next(2, status=429, retry_after_ms=10)
        assert rule.remaining == 2
        client.realtime.client_secrets.create()
        server.assert_attempts(3)
        server.assert_statuses([429, 429, 200])
        assert server.faults() == []
        with pytest.raises(AssertionError) as caught:
            server.assert_attempts(1)
        assert str(caught.value).splitlines() == [
            "expected 1 attempt, saw 3:",
            "  POST /v1/realtime/client_secrets -> 429 (scripted rate_limit_exceeded) body {}",
            "  POST /v1/realtime/client_secrets -> 429 (scripted rate_limit_exceeded) body {}",
            "  POST /v1/realtime/client_secrets -> 200 body {}",
        ]
        with pytest.raises(AssertionError) as caught:
            server.assert_statuses([200])
        assert str(caught.value).splitlines()[0] == "expected statuses [200], saw [429, 429, 200]:"
        assert str(caught.value).splitlines()[-1] == "  POST /v1/realtime/client_secrets -> 200 body {}"
        [secret] = server.secrets()
        with pytest.raises(AssertionError) as caught:
            server.assert_minted(2)
        assert str(caught.value).splitlines() == [
            "expected 2 minted secrets, saw 1:",
            f"  {secret.value} (active, realtime session, model gpt-realtime)",
        ]
        server.reset()
        with pytest.raises(AssertionError) as caught:
            server.assert_minted(1)
        assert str(caught.value) == "expected 1 minted secrets, saw 0: none"
        with pytest.raises(AssertionError) as caught:
            server.assert_attempts(2)
        assert str(caught.value) == "expected 2 attempts, saw 0: none"
        with pytest.raises(AssertionError) as caught:
            server.assert_statuses([200])
        assert str(caught.value) == "expected statuses [200], saw []: none"


def test_assert_requested_lists_near_misses() -> None:
    with MockServer() as server, OpenAI(base_url=server.base_url, api_key="sk-test") as client:
        client.realtime.client_secrets.create(session={"type": "realtime", "model": "gpt-realtime"})
        entry = server.assert_requested(
            path="/v1/realtime/client_secrets", session={"type": "realtime", "model": "gpt-realtime"}
        )
        assert entry.status == 200
        with pytest.raises(AssertionError) as caught:
            server.assert_requested(
                path="/v1/realtime/client_secrets", session={"type": "transcription"}, expires_after={"seconds": 60}
            )
        assert str(caught.value).splitlines() == [
            'no request matched POST /v1/realtime/client_secrets with {"session": {"type": "transcription"}, '
            '"expires_after": {"seconds": 60}}; compared 1:',
            '  POST /v1/realtime/client_secrets -> 200 body {"session": {"type": "realtime", "model": "gpt-realtime"}}',
            '    session: expected {"type": "transcription"}, got {"type": "realtime", "model": "gpt-realtime"}',
            '    expires_after: expected {"seconds": 60}, missing',
        ]
        with pytest.raises(AssertionError) as caught:
            server.assert_requested(path="/v1/realtime/calls")
        assert str(caught.value).splitlines() == [
            "no request matched POST /v1/realtime/calls; saw 1 other requests:",
            '  POST /v1/realtime/client_secrets -> 200 body {"session": {"type": "realtime", "model": "gpt-realtime"}}',
        ]
        server.clear_requests()
        with pytest.raises(AssertionError) as caught:
            server.assert_requested(x=None)
        assert str(caught.value) == 'no request matched POST * with {"x": null}; saw no requests'


def test_assertion_messages_are_bounded() -> None:
    """However many requests and however large the bodies, a failure shows the newest ten, each cut short."""
    long = "x" * 5000
    with MockServer() as server, OpenAI(base_url=server.base_url, api_key="sk-test") as client:
        for index in range(25):
            client.realtime.client_secrets.create(session={"type": "realtime", "instructions": f"{index} {long}"})
        with pytest.raises(AssertionError) as caught:
            server.assert_requested(session={"type": "transcription"})
        lines = str(caught.value).splitlines()
        assert lines[0].endswith("; compared 25:")
        assert lines[1] == "  (15 earlier requests not shown)"
        bodies = [line for line in lines if line.startswith("  POST ")]
        assert len(bodies) == 10
        shown = '  POST /v1/realtime/client_secrets -> 200 body {"session": {"type": "realtime", "instructions": "15 xx'
        assert bodies[0].startswith(shown)
        assert all(re.search(r"\.\.\. \(\d+ more characters\)$", line) for line in bodies)
        assert len(str(caught.value)) < 10_000
        with pytest.raises(AssertionError) as caught:
            server.assert_attempts(1)
        assert len(str(caught.value).splitlines()) == 1 + 1 + 10
        with pytest.raises(AssertionError) as caught:
            server.assert_minted(0)
        assert str(caught.value).splitlines()[1] == "  (15 earlier secrets not shown)"


def test_clock_revoke_and_reset() -> None:
    with MockServer(seed=3) as server, OpenAI(base_url=server.base_url, api_key="sk-test") as client:
        first = client.realtime.client_secrets.create()
        server.advance_clock(601)
        assert server.secret(first.value).status == "expired"
        second = client.realtime.client_secrets.create()
        assert int(second.value[3:11], 16) >= int(first.value[3:11], 16) + 601
        assert server.revoke(second.value).status == "revoked"
        with pytest.raises(KeyError):
            server.secret("ek_unknown")
        pinned = server.set_clock(2_000_000_000)
        assert 2_000_000_000 <= pinned < 2_000_000_010
        server.reset()
        assert server.secrets() == []
        assert server.requests() == []
        assert abs(server.now() - time.time()) < 5
        again = client.realtime.client_secrets.create()
        assert again.session.id == first.session.id  # the seed's first draw again


def test_scoped_handles_share_one_server() -> None:
    with MockServer() as server:
        a = server.scoped("a")
        a.fail_next(1, status=503)
        with OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as client:
            assert client.realtime.client_secrets.create().value.startswith("ek_")
            with pytest.raises(openai.InternalServerError):
                client.realtime.client_secrets.create(extra_headers=a.headers)
        a.assert_statuses([503])
        assert [e.status for e in server.requests()] == [200, 503]
        assert a.headers == {"X-Mock-Scope": "a"}
    assert not server.running


def test_bad_use_is_reported_clearly() -> None:
    server = MockServer()
    with pytest.raises(MockServerError, match="not running"):
        _ = server.base_url
    with pytest.raises(MockServerError, match="not running"):
        server.requests()
    with pytest.raises(ValueError, match="latency_ms"):
        MockServer(latency_ms=-1)
    with MockServer() as running:
        with pytest.raises(MockServerError, match="already running"):
            running.start_in_thread()
        with pytest.raises(ValueError, match="Missing required parameter: 'status'"):
            running.add_fault(times=2)
        with pytest.raises(ValueError, match="Invalid value: 'explode'"):
            running.add_fault(fault="explode")


def test_port_in_use_is_a_clear_error() -> None:
    with MockServer() as first, pytest.raises(MockServerError, match="cannot listen"):
        MockServer(Settings(port=first.port)).start_in_thread()


async def test_listening_site_binds_addresses_itself_and_names_through_the_loop() -> None:
    """An IP address is bound at once (SO_REUSEADDR); a name is left to ``loop.create_server``."""
    runner = web.AppRunner(web.Application())
    await runner.setup()
    try:
        site = listening_site(runner, "127.0.0.1", 0)
        assert isinstance(site, TurnSite)
        await site.start()
        sock = site._sock  # the socket it bound
        assert isinstance(sock, socket.socket)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
        port = sock.getsockname()[1]
        assert port > 0
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/") as response:
            assert response.status == 404  # served by the runner's app
        with pytest.raises(OSError, match="Address already in use") as taken:
            listening_site(runner, "127.0.0.1", port)
        assert taken.value.strerror == "Address already in use"  # what the CLI's one line shows
        named = listening_site(runner, "localhost", 0)
        assert isinstance(named, TurnSite)
        assert named._sock is None  # bound by create_server when it starts, to every address of the name
        if socket.has_ipv6:
            try:
                six = listening_site(runner, "::1", 0)
            except OSError:  # no IPv6 loopback on this machine
                pass
            else:
                assert isinstance(six, TurnSite)
                assert six._sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
                six._sock.close()
    finally:
        await runner.cleanup()


def test_scenario_settings_reach_the_handle() -> None:
    with MockServer(scenario="outage") as server, OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as c:
        with pytest.raises(openai.InternalServerError) as caught:
            c.realtime.client_secrets.create()
        assert caught.value.status_code == 503
        assert [rule.error for rule in server.faults()] == ["overloaded"]
