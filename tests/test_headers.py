"""Production-sized request headers: up to 16 KiB a header and 32 KiB in all reach the mock's own auth and
validation; beyond that, a 431 in OpenAI's envelope. Every way of running the mock answers the same."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import httpx2 as httpx
import openai
import pytest
from openai import OpenAI

from mockserver.serving import MAX_HEADER_BYTES, MAX_HEADERS_BYTES, PARSER_MAX_FIELD_BYTES
from mockserver.settings import Settings
from mockserver.testing import MockServer
from tests.conftest import MakeClient
from tests.helpers import server_thread
from tests.test_cli import running

MINT = "/v1/realtime/client_secrets"


def header_of(size: int, name: str = "X-Padding") -> dict[str, str]:
    """One header whose name and value are ``size`` bytes together."""
    return {name: "p" * (size - len(name))}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(seed=4) as mock:
        yield mock


def test_a_10_kb_key_reaches_auth_and_mints(server: MockServer) -> None:
    key = "sk-" + "k" * 10_000
    with OpenAI(base_url=server.base_url, api_key=key, max_retries=0) as sdk:
        secret = sdk.realtime.client_secrets.create()
    assert secret.value.startswith("ek_")
    entry = server.requests(path=MINT)[-1]
    assert entry.status == 200
    assert entry.headers["authorization"].startswith("Bearer sk-kkkkk")  # masked, but there


def test_a_10_kb_wrong_key_gets_openais_401() -> None:
    key = "sk-" + "w" * 10_000
    with (
        MockServer(api_keys=("sk-right",)) as mock,
        OpenAI(base_url=mock.base_url, api_key=key, max_retries=0) as sdk,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        sdk.realtime.client_secrets.create()
    assert caught.value.code == "invalid_api_key"
    assert caught.value.body["message"] == (  # type: ignore[index]
        f"Incorrect API key provided: sk-wwwww{'*' * (len(key) - 12)}wwww. "
        "You can find your API key at https://platform.openai.com/account/api-keys."
    )


def test_one_header_up_to_16_kib_passes_and_one_byte_more_is_431(server: MockServer) -> None:
    with OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as sdk:
        sdk.realtime.client_secrets.create(extra_headers=header_of(MAX_HEADER_BYTES))
        with pytest.raises(openai.APIStatusError) as caught:
            sdk.realtime.client_secrets.create(extra_headers=header_of(MAX_HEADER_BYTES + 1))
    assert caught.value.status_code == 431
    assert caught.value.body == {
        # httpx sends header names in lower case
        "message": "Request Header Fields Too Large: the 'x-padding' header is 16385 bytes, and a header may be at "
        "most 16384 bytes (name and value).",
        "type": "invalid_request_error",
        "param": "x-padding",
        "code": "request_header_fields_too_large",
    }


def test_all_headers_up_to_32_kib_pass_and_more_is_431(server: MockServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        # The client adds a few small headers of its own (Host, Accept, ...): leave them room.
        near = {**header_of(15_000, "X-A"), **header_of(15_000, "X-B")}
        assert http.get("/__mock/health", headers=near).status_code == 200
        over = {**header_of(12_000, "X-A"), **header_of(12_000, "X-B"), **header_of(12_000, "X-C")}
        response = http.post(MINT, json={}, headers={"Authorization": "Bearer sk-test", **over})
    assert response.status_code == 431
    error = response.json()["error"]
    assert error["code"] == "request_header_fields_too_large"
    assert error["param"] is None
    assert f"they may be at most {MAX_HEADERS_BYTES} bytes" in error["message"]


def test_many_small_headers_are_fine(server: MockServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        response = http.get("/__mock/health", headers={f"X-H{i}": "v" for i in range(1000)})
    assert response.status_code == 200


def test_past_the_parsers_limit_aiohttp_answers_plain_400(server: MockServer) -> None:
    """The one case the mock cannot answer itself (documented): a header line over 64 KiB."""
    request = (
        b"GET /__mock/health HTTP/1.1\r\nHost: x\r\nX-Huge: "
        + b"h" * (PARSER_MAX_FIELD_BYTES + 10)
        + b"\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        reply = sock.recv(65536)
    assert reply.startswith((b"HTTP/1.0 400", b"HTTP/1.1 400"))
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/__mock/health").status_code == 200


def _check(url: str) -> None:
    """A 20 KiB header: 431 in the envelope, whatever runs the mock; a 10 KiB one: through to auth."""
    with httpx.Client(base_url=url, timeout=10) as http:
        too_big = http.post(MINT, json={}, headers={"Authorization": "Bearer sk-test", **header_of(20_000)})
        fine = http.post(MINT, json={}, headers={"Authorization": "Bearer " + "sk-" + "f" * 10_000})
    assert too_big.status_code == 431
    assert too_big.json()["error"]["code"] == "request_header_fields_too_large"
    assert fine.status_code == 200


@contextmanager
def _cli() -> Iterator[str]:
    with running("--seed", "1") as (_, port):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def _handle() -> Iterator[str]:
    with MockServer() as mock:
        yield mock.url


@contextmanager
def _thread() -> Iterator[str]:
    with server_thread(Settings(port=0)) as base_url:
        yield base_url.removesuffix("/v1")


RUNNERS: dict[str, Callable[[], AbstractContextManager[str]]] = {"cli": _cli, "handle": _handle, "thread": _thread}


@pytest.mark.parametrize("runner", RUNNERS)
def test_every_runner_answers_the_same(runner: str) -> None:
    with RUNNERS[runner]() as url:
        _check(url)


async def test_the_async_handle_and_the_test_client_answer_the_same(make_client: MakeClient) -> None:
    client = await make_client()
    response = await client.post(MINT, json={}, headers={"Authorization": "Bearer sk-test", **header_of(20_000)})
    assert response.status == 431
    assert (await response.json())["error"]["code"] == "request_header_fields_too_large"
    async with MockServer() as mock:
        await asyncio.to_thread(_check, mock.url)
