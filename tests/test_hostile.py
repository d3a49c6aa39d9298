"""A catalogue of hostile input: whatever a client sends, the mock answers in OpenAI's envelope (or, for
bytes that are not HTTP at all, aiohttp's own 4xx), never with a 5xx, never hangs, and keeps serving.

Every test ends by checking that a normal mint still returns 200 and that the ``mockserver`` logger
reported no error (an "unhandled error" record means a traceback was swallowed into a 500).

Where the behaviour was a choice, the decision this module pins down is written next to the test.
Tests that fail here are bugs in the server, kept failing on purpose (no xfail).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import io
import json
import logging
import socket
import time
import traceback
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict
from yarl import URL

from mockserver.app import ROUTES
from mockserver.errors import INVALID_JSON_MESSAGE, MISSING_KEY_MESSAGE
from mockserver.testing import MockServer
from tests.conftest import AUTH, MakeClient
from tests.helpers import http_request

MINT = "/v1/realtime/client_secrets"
#: Every socket operation in this module gives up after this long: a hang fails the test, it does not stall it.
SOCKET_TIMEOUT = 5.0
CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=SOCKET_TIMEOUT)
DEFAULT_LIMIT = 1024 * 1024
API_KEYS_URL = "https://platform.openai.com/account/api-keys"
DEFAULT_INSTRUCTIONS_START = "Your knowledge cutoff is"

# --- shared checks ---------------------------------------------------------------------------------------


def server_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """ERROR records of the ``mockserver`` loggers (the server thread's records are captured too)."""
    return [
        f"{record.getMessage()} ({record.exc_info[1]!r})" if record.exc_info else record.getMessage()
        for record in caplog.records
        if record.name.startswith("mockserver") and record.levelno >= logging.ERROR
    ]


#: Leaves a field of the envelope unchecked (only its presence is).
UNCHECKED: Any = object()


def assert_envelope(body: Any, *, message: Any = UNCHECKED, param: Any = UNCHECKED, code: Any = UNCHECKED) -> None:
    """OpenAI's error envelope with all four keys, and the exact message, param and code that are given."""
    assert isinstance(body, dict)
    assert list(body) == ["error"], body
    assert list(body["error"]) == ["message", "type", "param", "code"], body
    assert isinstance(body["error"]["message"], str)
    assert isinstance(body["error"]["type"], str)
    for key, expected in (("message", message), ("param", param), ("code", code)):
        if expected is not UNCHECKED:
            assert body["error"][key] == expected, (key, body)


async def error_of(response: aiohttp.ClientResponse) -> dict[str, Any]:
    assert response.content_type == "application/json", await response.text()
    body = await response.json()
    assert_envelope(body)
    error: dict[str, Any] = body["error"]
    return error


async def assert_still_serving(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    """A normal mint still answers 200, and the server logged no error on the way here."""
    async with client.post(MINT, json={}, headers=AUTH, timeout=CLIENT_TIMEOUT) as response:
        assert response.status == 200, await response.text()
        assert (await response.json())["value"].startswith("ek_")
    assert server_errors(caplog) == []


async def assert_parse_error(response: aiohttp.ClientResponse) -> None:
    assert response.status == 400, await response.text()
    assert_envelope(await response.json(), message=INVALID_JSON_MESSAGE, param=None, code=None)


async def mint(client: TestClient, body: bytes | str | AsyncIterator[bytes], **kwargs: Any) -> tuple[int, Any]:
    """POST a raw body to the mint endpoint; (status, parsed JSON answer)."""
    headers = {**AUTH, **kwargs.pop("headers", {})}
    data: Any = body.encode() if isinstance(body, str) else body
    if isinstance(data, bytes) and len(data) > DEFAULT_LIMIT // 2:
        data = io.BytesIO(data)  # aiohttp warns (ResourceWarning) about sending large raw bytes
    async with client.post(MINT, data=data, headers=headers, timeout=CLIENT_TIMEOUT, **kwargs) as response:
        assert response.content_type == "application/json", await response.text()
        return response.status, await response.json()


def tool_with_parameters(parameters: bytes) -> bytes:
    return (
        b'{"session": {"type": "realtime", "tools": [{"type": "function", "name": "f", "parameters": '
        + parameters
        + b"}]}}"
    )


def masked(key: str) -> str:
    """The documented masking: keys of 12 characters or fewer as they are, else first 8, stars, last 4."""
    return key if len(key) <= 12 else key[:8] + "*" * (len(key) - 12) + key[-4:]


def incorrect_key_message(key: str) -> str:
    return f"Incorrect API key provided: {masked(key)}. You can find your API key at {API_KEYS_URL}."


# --- raw sockets against a server on a background thread ------------------------------------------------


@dataclass
class RawResponse:
    """What came back on a raw socket; ``status`` is ``None`` when the server closed without answering."""

    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        assert self.headers.get("content-type", "").startswith("application/json"), (self.status, self.body[:300])
        return json.loads(self.body)


def read_response(sock: socket.socket) -> RawResponse:
    """One HTTP/1.x response (framed by Content-Length, or by the close); raises on the socket timeout."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return RawResponse(None, body=buffer)
        buffer += chunk
    head, _, body = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length")
    while length is None or len(body) < int(length):
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            break
        body += chunk
    return RawResponse(status, headers, body if length is None else body[: int(length)])


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT)
    sock.settimeout(SOCKET_TIMEOUT)
    return sock


def raw_exchange(port: int, data: bytes, *, half_close: bool = False) -> RawResponse:
    """Send ``data`` on a fresh connection and read the answer (the server may also just close)."""
    with connect(port) as sock:
        with contextlib.suppress(ConnectionError):  # the server may answer and close before reading it all
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        return read_response(sock)


def raw_mint(port: int, headers: bytes = b"Authorization: Bearer sk-test\r\n") -> RawResponse:
    return raw_exchange(port, http_request("POST", MINT, headers=headers, body=b"{}"))


def assert_still_serving_sync(server: MockServer, caplog: pytest.LogCaptureFixture) -> None:
    response = raw_mint(server.port)
    assert response.status == 200, response.body[:300]
    assert response.json()["value"].startswith("ek_")
    assert server_errors(caplog) == []


def _escape_surrogates(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class _EscapeSurrogates(logging.Filter):
    """Server logs quote undecodable request bytes as lone surrogates ("\\udce9"); pytest-xdist cannot ship a
    report holding them to the controller (INTERNALERROR). Escape them in the records this module provokes."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = _escape_surrogates(record.getMessage()), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = _escape_surrogates("".join(traceback.format_exception(*record.exc_info)).rstrip())
        return True


@pytest.fixture(autouse=True)
def _printable_server_logs() -> Iterator[None]:
    escape = _EscapeSurrogates()
    loggers = [logging.getLogger(name) for name in ("mockserver", "aiohttp.server", "aiohttp.web", "aiohttp.access")]
    for logger in loggers:
        logger.addFilter(escape)
    yield
    for logger in loggers:
        logger.removeFilter(escape)


@pytest.fixture
def server() -> Iterator[MockServer]:
    with MockServer() as running:
        yield running


# =========================================================================================================
# 1. Bodies
# =========================================================================================================

# test_errors.HOSTILE_BODIES already has: a lone \ud800 value and \udfff key, \xff\xfe, NaN in seconds,
# Infinity in speed, 1e999, 50,000-deep arrays, 3,000-deep parameter objects, a 5,000-digit integer, a form.
PARSE_ERRORS: dict[str, bytes] = {
    "trailing_comma_in_object": b'{"session": {"type": "realtime"},}',
    "trailing_comma_in_array": b'{"session": {"type": "realtime", "include": ["x",]}}',
    "single_quotes": b"{'session': {'type': 'realtime'}}",
    "unquoted_keys": b'{session: {type: "realtime"}}',
    "block_comment": b'{/* comment */ "session": {"type": "realtime"}}',
    "line_comment": b'{"session": {"type": "realtime"}} // comment',
    "truncated_in_a_string": b'{"session": {"type": "realt',
    "truncated_after_a_key": b'{"session":',
    "truncated_in_a_number": b'{"expires_after": {"seconds": 6',
    "only_an_open_brace": b"{",
    "only_a_close_brace": b"}",
    "two_objects": b"{}{}",
    "trailing_garbage": b"{} x",
    "raw_newline_in_a_string": b'{"session": {"type": "realtime", "instructions": "a\nb"}}',
    "leading_zero": b'{"expires_after": {"seconds": 0600}}',
    "plus_sign": b'{"expires_after": {"seconds": +600}}',
    "hex_number": b'{"expires_after": {"seconds": 0x258}}',
    "bare_decimal_point": b'{"session": {"type": "realtime", "audio": {"output": {"speed": .5}}}}',
    # A BOM alone is not whitespace: it does not count as an empty body. Two BOMs are one too many.
    "bom_only": b"\xef\xbb\xbf",
    "bom_then_whitespace": b"\xef\xbb\xbf   ",
    "two_boms": b"\xef\xbb\xbf\xef\xbb\xbf{}",
    "nan_top_level": b"NaN",
    "infinity_top_level": b"Infinity",
    "minus_infinity_in_seconds": b'{"expires_after": {"seconds": -Infinity}}',
    "nan_in_tool_parameters": tool_with_parameters(b'{"x": NaN}'),
    "minus_infinity_in_tool_parameters": tool_with_parameters(b'{"x": [-Infinity]}'),
    "overlong_utf8": b'{"session": {"type": "realtime", "instructions": "\xc0\xaf"}}',
    "truncated_utf8_sequence": b'{"session": {"type": "realtime", "instructions": "\xe2\x82"}}',
    "utf8_encoded_surrogate": b'{"session": {"type": "realtime", "instructions": "\xed\xa0\x80"}}',
    "invalid_utf8_in_a_key": b'{"session": {"type": "realtime", "\xff": 1}}',
    "lone_high_surrogate_upper_hex": b'{"session": {"type": "realtime", "instructions": "\\uD800"}}',
    "lone_low_surrogate_in_a_value": b'{"session": {"type": "realtime", "instructions": "a\\udfffb"}}',
    "reversed_surrogate_pair": b'{"session": {"type": "realtime", "instructions": "\\ude00\\ud83d"}}',
    "high_surrogate_then_a_letter": b'{"session": {"type": "realtime", "instructions": "\\ud83dx"}}',
    "lone_surrogate_in_a_tool_parameter_key": tool_with_parameters(b'{"\\ud800": 1}'),
    "lone_surrogate_in_a_tool_parameter_value": tool_with_parameters(b'{"x": ["\\udbff"]}'),
    "objects_5000_deep_top_level": b'{"a": ' * 5000 + b"1" + b"}" * 5000,
    "arrays_5000_deep_in_tool_parameters": tool_with_parameters(b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
    "objects_5000_deep_in_a_session": b'{"session": ' * 5000 + b"{}" + b"}" * 5000,
}


@pytest.mark.parametrize("name", PARSE_ERRORS)
async def test_unparseable_bodies_get_the_parse_error(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    client = await make_client()
    async with client.post(MINT, data=PARSE_ERRORS[name], headers=AUTH, timeout=CLIENT_TIMEOUT) as response:
        await assert_parse_error(response)
    await assert_still_serving(client, caplog)


async def test_utf8_bom_prefix_is_accepted(make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    # Decision: json.loads(bytes) detects the encoding and drops a UTF-8 BOM, so a BOM-prefixed body mints
    # (as it would for a str only after decoding with utf-8-sig). Not a parse error, never a 5xx.
    client = await make_client()
    status, body = await mint(client, b'\xef\xbb\xbf{"session": {"type": "realtime", "instructions": "bom"}}')
    assert status == 200, body
    assert body["session"]["instructions"] == "bom"
    await assert_still_serving(client, caplog)


NOT_OBJECTS: dict[str, tuple[bytes, str]] = {
    "empty_array": (b"[]", "an array"),
    "array_of_a_valid_body": (b'[{"session": {"type": "realtime"}}]', "an array"),
    "string": (b'"realtime"', "a string"),
    "integer": (b"42", "an integer"),
    "integer_beyond_64_bits": (str(2**100).encode(), "an integer"),
    "decimal": (b"-1.5", "a decimal number"),
    "true": (b"true", "a boolean"),
    "false": (b"false", "a boolean"),
    "null": (b"null", "null"),
    "null_in_whitespace": (b" \n null \t ", "null"),
}


@pytest.mark.parametrize("name", NOT_OBJECTS)
async def test_json_that_is_not_an_object(make_client: MakeClient, caplog: pytest.LogCaptureFixture, name: str) -> None:
    raw, got = NOT_OBJECTS[name]
    client = await make_client()
    status, body = await mint(client, raw)
    assert status == 400
    assert_envelope(
        body, message=f"Invalid body: expected a JSON object, but got {got} instead.", param=None, code="invalid_type"
    )
    await assert_still_serving(client, caplog)


BIG_INTEGERS: dict[str, tuple[bytes, str, str, str]] = {
    "seconds_2_70": (
        b'{"expires_after": {"seconds": %d}}' % 2**70,
        "expires_after.seconds",
        "integer_above_max_value",
        f"integer above maximum value. Expected a value <= 7200, but got {2**70} instead.",
    ),
    "seconds_minus_2_70": (
        b'{"expires_after": {"seconds": %d}}' % -(2**70),
        "expires_after.seconds",
        "integer_below_min_value",
        f"integer below minimum value. Expected a value >= 10, but got {-(2**70)} instead.",
    ),
    "seconds_2_64": (
        b'{"expires_after": {"seconds": %d}}' % 2**64,
        "expires_after.seconds",
        "integer_above_max_value",
        f"integer above maximum value. Expected a value <= 7200, but got {2**64} instead.",
    ),
    "seconds_4300_digits": (
        b'{"expires_after": {"seconds": ' + b"9" * 4300 + b"}}",
        "expires_after.seconds",
        "integer_above_max_value",
        f"integer above maximum value. Expected a value <= 7200, but got {'9' * 4300} instead.",
    ),
    "max_output_tokens_2_70": (
        b'{"session": {"type": "realtime", "max_output_tokens": %d}}' % 2**70,
        "session.max_output_tokens",
        "integer_above_max_value",
        f"integer above maximum value. Expected a value <= 4096, but got {2**70} instead.",
    ),
}


@pytest.mark.parametrize("name", BIG_INTEGERS)
async def test_integers_beyond_64_bits_in_integer_fields(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    raw, param, code, tail = BIG_INTEGERS[name]
    client = await make_client()
    status, body = await mint(client, raw)
    assert status == 400
    assert_envelope(body, message=f"Invalid '{param}': {tail}", param=param, code=code)
    await assert_still_serving(client, caplog)


async def test_big_and_tiny_numbers_in_free_form_objects_are_echoed_exactly(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client()
    huge = int("9" * 4300)  # Python's default int/str conversion limit is 4300 digits
    parameters = {"x": 2**80, "y": -(2**80), "z": huge, "big": 1e308, "tiny": 1e-320, "neg": -1e308}
    raw = tool_with_parameters(json.dumps(parameters).encode())
    async with client.post(MINT, data=raw, headers=AUTH, timeout=CLIENT_TIMEOUT) as response:
        assert response.status == 200, await response.text()
        text = await response.text()
    echoed = json.loads(text)["session"]["tools"][0]["parameters"]
    assert echoed == parameters
    assert type(echoed["x"]) is int
    assert type(echoed["tiny"]) is float
    assert str(2**80) in text
    assert "1e-320" in text
    await assert_still_serving(client, caplog)


async def test_floats_at_the_edges_of_double_in_typed_fields(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client()
    status, body = await mint(client, b'{"expires_after": {"seconds": 1e308}}')
    assert status == 400
    assert_envelope(
        body,
        message="Invalid type for 'expires_after.seconds': expected an integer, but got a decimal number instead.",
        param="expires_after.seconds",
        code="invalid_type",
    )
    status, body = await mint(client, b'{"session": {"type": "realtime", "audio": {"output": {"speed": 1e-320}}}}')
    assert status == 400
    assert_envelope(
        body,
        message="Invalid 'session.audio.output.speed': decimal below minimum value. "
        "Expected a value >= 0.25, but got 1e-320 instead.",
        param="session.audio.output.speed",
        code="decimal_below_min_value",
    )
    await assert_still_serving(client, caplog)


async def test_valid_surrogate_pair_is_echoed_as_the_character(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client()
    raw = (
        b'{"session": {"type": "realtime", "instructions": "smile \\ud83d\\ude00", "tools": [{"type": "function", '
        b'"name": "f", "parameters": {"\\ud83d\\ude00": "\\uD83D\\uDE00"}}]}}'
    )
    async with client.post(MINT, data=raw, headers=AUTH, timeout=CLIENT_TIMEOUT) as response:
        assert response.status == 200, await response.text()
        raw_answer = await response.read()
    session = json.loads(raw_answer)["session"]
    assert session["instructions"] == "smile \U0001f600"
    assert session["tools"][0]["parameters"] == {"\U0001f600": "\U0001f600"}
    assert "smile \U0001f600".encode() in raw_answer  # echoed as UTF-8, not as escapes
    await assert_still_serving(client, caplog)


# Duplicate keys: Python's json keeps the LAST value of a repeated key, at every level, and the server
# validates only what survives. So an invalid first value is never seen ("seconds": 5 below), and the echo
# shows the last value. OpenAI's own parser behaviour is unknown; this is the mock's documented choice here.
DUPLICATE_KEYS: dict[str, tuple[bytes, dict[str, Any]]] = {
    "instructions": (
        b'{"session": {"type": "realtime", "instructions": "first", "instructions": "second"}}',
        {"instructions": "second", "type": "realtime"},
    ),
    "whole_session": (
        b'{"session": {"type": "transcription"}, "session": {"type": "realtime", "instructions": "later"}}',
        {"instructions": "later", "type": "realtime"},
    ),
    "type": (
        b'{"session": {"type": "bogus", "type": "realtime", "instructions": "t"}}',
        {"instructions": "t", "type": "realtime"},
    ),
    "tool_parameters": (
        tool_with_parameters(b'{"x": 1, "x": {"y": 2}}'),
        {"tools": [{"type": "function", "name": "f", "parameters": {"x": {"y": 2}}}]},
    ),
}


@pytest.mark.parametrize("name", DUPLICATE_KEYS)
async def test_duplicate_keys_last_one_wins(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    raw, expected = DUPLICATE_KEYS[name]
    client = await make_client()
    status, body = await mint(client, raw)
    assert status == 200, body
    for key, value in expected.items():
        if key == "tools":
            assert [{k: t.get(k) for k in ("type", "name", "parameters")} for t in body["session"]["tools"]] == value
        else:
            assert body["session"][key] == value
    await assert_still_serving(client, caplog)


async def test_duplicate_seconds_the_invalid_first_value_is_never_seen(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client()
    status, body = await mint(client, b'{"expires_after": {"seconds": 5, "seconds": 60}}')
    assert status == 200, body
    async with client.get(f"/__mock/secrets/{body['value']}") as response:
        secret = await response.json()
    assert body["expires_at"] - secret["created_at"] == 60
    await assert_still_serving(client, caplog)


async def test_nesting_200_deep_in_tool_parameters_is_minted_and_journaled(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Within body.MAX_DEPTH (256): the mint echoes it and the journal listing renders it.
    client = await make_client()
    depth = 200
    parameters = b'{"a": ' * depth + b"1" + b"}" * depth
    status, body = await mint(client, tool_with_parameters(parameters))
    assert status == 200, body
    echoed = body["session"]["tools"][0]["parameters"]
    for _ in range(depth - 1):
        echoed = echoed["a"]
    assert echoed == {"a": 1}
    async with client.get("/__mock/secrets", timeout=CLIENT_TIMEOUT) as response:
        assert response.status == 200
    async with client.get("/__mock/requests", timeout=CLIENT_TIMEOUT) as response:
        assert response.status == 200, await response.text()
        assert len((await response.json())["data"]) == 1
    await assert_still_serving(client, caplog)


async def test_nesting_past_the_limit_is_a_parse_error_and_the_journal_still_lists(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Decision: JSON nested deeper than body.MAX_DEPTH (256) is refused as unparseable, so nothing deeper
    # ever reaches validation, the journal or a rendering (600 levels used to break the journal listing).
    client = await make_client()
    depth = 600
    parameters = b'{"a": ' * depth + b"1" + b"}" * depth
    async with client.post(MINT, data=tool_with_parameters(parameters), headers=AUTH) as response:
        await assert_parse_error(response)
    async with client.get("/__mock/requests", timeout=CLIENT_TIMEOUT) as response:
        assert response.status == 200, await response.text()
        [entry] = (await response.json())["data"]
        assert isinstance(entry["body"], str)  # kept as text, not as a parsed tree
    await assert_still_serving(client, caplog)


async def test_900_kb_instructions_are_minted_and_echoed_whole(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client()
    instructions = "0123456789" * 90_000
    raw = json.dumps({"session": {"type": "realtime", "instructions": instructions}}).encode()
    assert len(raw) < DEFAULT_LIMIT
    status, body = await mint(client, raw)
    assert status == 200
    assert body["session"]["instructions"] == instructions
    await assert_still_serving(client, caplog)


async def test_ten_thousand_tools_are_minted(make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    client = await make_client()
    tools = [{"type": "function", "name": f"f{i}"} for i in range(10_000)]
    status, body = await mint(client, json.dumps({"session": {"type": "realtime", "tools": tools}}))
    assert status == 200
    assert [tool["name"] for tool in body["session"]["tools"]] == [f"f{i}" for i in range(10_000)]
    await assert_still_serving(client, caplog)


async def test_hundred_thousand_include_entries(make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    client = await make_client(max_body_bytes=8 * 1024 * 1024)
    include = ["item.input_audio_transcription.logprobs"] * 100_000
    status, body = await mint(client, json.dumps({"session": {"type": "realtime", "include": include}}))
    assert status == 200
    assert body["session"]["include"] == include
    # Many invalid entries: only the first is reported (validating all of them costs time, see the report).
    status, body = await mint(client, json.dumps({"session": {"type": "realtime", "include": ["bogus"] * 20_000}}))
    assert status == 400
    assert_envelope(
        body,
        message="Invalid value: 'bogus'. Supported values are: 'item.input_audio_transcription.logprobs'.",
        param="session.include[0]",
        code="invalid_value",
    )
    await assert_still_serving(client, caplog)


async def test_empty_and_very_long_keys(make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    client = await make_client()
    status, body = await mint(client, b'{"": 1}')
    assert status == 400
    assert_envelope(body, message="Unknown parameter: ''.", param="", code="unknown_parameter")

    long_key = "k" * 100_000
    status, body = await mint(client, json.dumps({"session": {"type": "realtime", long_key: 1}}))
    assert status == 400
    assert_envelope(
        body, message=f"Unknown parameter: 'session.{long_key}'.", param=f"session.{long_key}", code="unknown_parameter"
    )

    parameters = {"": "empty", long_key: "long"}
    status, body = await mint(client, tool_with_parameters(json.dumps(parameters).encode()))
    assert status == 200
    assert body["session"]["tools"][0]["parameters"] == parameters
    await assert_still_serving(client, caplog)


async def test_whitespace_only_body_counts_as_empty(make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    client = await make_client()
    status, body = await mint(client, b" \t\r\n  \n")
    assert status == 200
    assert body["session"]["type"] == "realtime"
    assert body["session"]["instructions"].startswith(DEFAULT_INSTRUCTIONS_START)
    await assert_still_serving(client, caplog)


def padded_body(size: int) -> bytes:
    """A valid mint body of exactly ``size`` bytes."""
    head, tail = b'{"session": {"type": "realtime", "instructions": "', b'"}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def too_large(limit: int) -> str:
    return f"The request body is too large. The maximum request body size is {limit} bytes; send a smaller JSON body."


async def test_one_byte_over_the_default_limit_is_413(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client()
    status, body = await mint(client, padded_body(DEFAULT_LIMIT + 1))
    assert status == 413
    assert_envelope(body, message=too_large(DEFAULT_LIMIT), param=None, code="request_too_large")
    assert body["error"]["type"] == "invalid_request_error"
    await assert_still_serving(client, caplog)


async def test_the_limit_is_on_the_body_size_exactly(make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    client = await make_client(max_body_bytes=2048)
    status, body = await mint(client, padded_body(2048))
    assert status == 200, body
    assert len(body["session"]["instructions"]) == 2048 - len(padded_body(0))
    status, body = await mint(client, padded_body(2049))
    assert status == 413
    assert_envelope(body, message=too_large(2048), param=None, code="request_too_large")

    async def chunks() -> AsyncIterator[bytes]:  # chunked: no Content-Length to reject up front
        data = padded_body(2049)
        for start in range(0, len(data), 100):
            yield data[start : start + 100]

    status, body = await mint(client, chunks())
    assert status == 413
    assert_envelope(body, message=too_large(2048), param=None, code="request_too_large")
    await assert_still_serving(client, caplog)


def test_after_a_413_the_same_connection_and_a_new_one_both_work(caplog: pytest.LogCaptureFixture) -> None:
    with MockServer(max_body_bytes=4096) as running, connect(running.port) as sock:
        big = padded_body(100_000)
        sock.sendall(http_request("POST", MINT, headers=b"Authorization: Bearer sk-test\r\n", body=big, close=False))
        first = read_response(sock)
        assert first.status == 413
        assert_envelope(first.json(), message=too_large(4096), param=None, code="request_too_large")
        # Same keep-alive connection.
        sock.sendall(http_request("POST", MINT, headers=b"Authorization: Bearer sk-test\r\n", body=b"{}", close=False))
        second = read_response(sock)
        assert second.status == 200, second.body[:300]
        # And a new connection.
        assert_still_serving_sync(running, caplog)


# =========================================================================================================
# 2. Content types and encodings
# =========================================================================================================

VALID = b'{"session": {"type": "realtime", "instructions": "ct"}}'


async def test_content_type_is_ignored_for_json(make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    # Decision: the body is read as JSON whatever the Content-Type says (or without one).
    client = await make_client()
    status, body = await mint(client, VALID, headers={"Content-Type": "text/plain"})
    assert (status, body["session"]["instructions"]) == (200, "ct")
    status, body = await mint(client, VALID, skip_auto_headers=["Content-Type"])
    assert (status, body["session"]["instructions"]) == (200, "ct")
    await assert_still_serving(client, caplog)


async def test_form_and_multipart_bodies_are_parse_errors(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client()
    async with client.post(MINT, data={"session": '{"type": "realtime"}'}, headers=AUTH) as response:
        await assert_parse_error(response)
    form = aiohttp.FormData()
    form.add_field("session", '{"type": "realtime"}')
    form.add_field("file", b"\x00\x01", filename="a.bin", content_type="application/octet-stream")
    async with client.post(MINT, data=form, headers=AUTH) as response:
        await assert_parse_error(response)
    await assert_still_serving(client, caplog)


@pytest.mark.parametrize(
    ("encoding", "content_type"),
    [
        ("utf-16", "application/json; charset=utf-16"),
        ("utf-16-le", "application/json; charset=utf-16le"),
        ("utf-16-be", "application/json"),
        ("utf-32", "application/json; charset=utf-32"),
    ],
)
async def test_utf16_and_utf32_bodies_are_a_parse_error(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, encoding: str, content_type: str
) -> None:
    # Decision: JSON on the wire is UTF-8 (RFC 8259); other encodings get the parse error, whatever the charset.
    client = await make_client()
    raw = '{"session": {"type": "realtime", "instructions": "h\u00e9 \U0001f600"}}'.encode(encoding)
    async with client.post(MINT, data=raw, headers={**AUTH, "Content-Type": content_type}) as response:
        await assert_parse_error(response)
    await assert_still_serving(client, caplog)


async def test_declared_latin1_is_not_decoded(make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    # Decision (follows from the above): bytes that are not UTF-8/16/32 are a parse error whatever the charset.
    client = await make_client()
    raw = '{"session": {"type": "realtime", "instructions": "h\u00e9"}}'.encode("latin-1")
    headers = {**AUTH, "Content-Type": "application/json; charset=iso-8859-1"}
    async with client.post(MINT, data=raw, headers=headers) as response:
        await assert_parse_error(response)
    await assert_still_serving(client, caplog)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
async def test_lone_surrogate_escape_in_a_utf16_body_is_a_parse_error(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, encoding: str
) -> None:
    # As in a UTF-8 body (test_errors.HOSTILE_BODIES["lone_surrogate"]), "\ud800" must be refused.
    client = await make_client()
    raw = '{"session": {"type": "realtime", "instructions": "\\ud800"}}'.encode(encoding)
    async with client.post(MINT, data=raw, headers=AUTH, timeout=CLIENT_TIMEOUT) as response:
        await assert_parse_error(response)
    await assert_still_serving(client, caplog)


@pytest.mark.parametrize(("encoding", "compress"), [("gzip", gzip.compress), ("deflate", zlib.compress)])
async def test_compressed_bodies_are_refused_with_415(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, encoding: str, compress: Any
) -> None:
    # Decision: the SDKs never compress request bodies; a compressed one gets 415 and the connection is closed
    # (the body is left unread). This also takes care of decompression bombs and of bodies that do not inflate.
    client = await make_client()
    raw = compress(b'{"session": {"type": "realtime", "instructions": "zipped"}}')
    status, body = await mint(client, raw, headers={"Content-Encoding": encoding, "Content-Type": "application/json"})
    assert status == 415
    assert_envelope(
        body,
        message=f"Unsupported Content-Encoding '{encoding}': send the JSON body uncompressed.",
        param="Content-Encoding",
        code="unsupported_content_encoding",
    )
    await assert_still_serving(client, caplog)


async def test_gzip_bomb_is_refused_unread(make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    client = await make_client()
    bomb = gzip.compress(b" " * (8 * 1024 * 1024))
    status, body = await mint(client, bomb, headers={"Content-Encoding": "gzip"})
    assert status == 415
    assert body["error"]["code"] == "unsupported_content_encoding"
    await assert_still_serving(client, caplog)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_body_that_does_not_decompress_is_a_client_error(caplog: pytest.LogCaptureFixture, encoding: str) -> None:
    # The body arrives after the headers, so the handler is already reading it when decompression fails (sent
    # together, aiohttp's parser refuses it first with a plain-text 400, which would be fine).
    body = b'{"not": "compressed"}'
    head = (
        f"POST {MINT} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sk-test\r\n"
        f"Content-Encoding: {encoding}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with MockServer() as running, connect(running.port) as sock:
        sock.sendall(head)
        time.sleep(0.2)
        sock.sendall(body)
        response = read_response(sock)  # a socket timeout here means the server never answered
        assert response.status is not None
        assert 400 <= response.status < 500, (response.status, response.body[:200])
        if response.headers.get("content-type", "").startswith("application/json"):
            assert_envelope(response.json())
        if response.headers.get("connection", "").lower() != "close":
            # Kept alive: the connection must still serve.
            sock.sendall(http_request("POST", MINT, headers=b"Authorization: Bearer sk-test\r\n", body=b"{}"))
            assert read_response(sock).status == 200
        assert_still_serving_sync(running, caplog)


async def test_chunked_body_is_minted(make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    client = await make_client()

    async def chunks() -> AsyncIterator[bytes]:
        for part in (b'{"session": ', b'{"type": "realtime", ', b'"instructions": "chunked"}', b"}"):
            yield part

    status, body = await mint(client, chunks())
    assert (status, body["session"]["instructions"]) == (200, "chunked")
    await assert_still_serving(client, caplog)


# =========================================================================================================
# 3. Authorization
# =========================================================================================================


def basic(credentials: bytes) -> str:
    return "Basic " + base64.b64encode(credentials).decode()


LONG_KEY = "sk-" + "k" * 7990  # the whole header line stays under aiohttp's 8190-byte field limit
# (header value, status, message when refused); code is invalid_api_key for a wrong key, null for a missing one.
AUTH_CASES: dict[str, tuple[str | None, int, str | None]] = {
    "missing": (None, 401, MISSING_KEY_MESSAGE),
    "empty": ("", 401, MISSING_KEY_MESSAGE),
    "bearer_alone": ("Bearer", 401, MISSING_KEY_MESSAGE),
    "bearer_and_spaces": ("Bearer     ", 401, MISSING_KEY_MESSAGE),
    "lowercase_bearer_wrong_key": ("bearer sk-x", 401, incorrect_key_message("sk-x")),
    # Decision: the scheme is case-insensitive.
    "lowercase_bearer_right_key": ("bearer sk-allowed", 200, None),
    "basic_garbage_base64": ("Basic !!!not*base64!!!", 401, MISSING_KEY_MESSAGE),
    "basic_not_utf8": (basic(b"\xff\xfe:\xff"), 401, MISSING_KEY_MESSAGE),
    "basic_without_colon": (basic(b"just-a-user"), 401, MISSING_KEY_MESSAGE),
    "basic_user_and_wrong_password": (
        basic(b"user:sk-wrong-password-1234"),
        401,
        incorrect_key_message("sk-wrong-password-1234"),
    ),
    # Decision: the password is the key; the user name is not required to be blank.
    "basic_user_and_right_password": (basic(b"user:sk-allowed"), 200, None),
    "token_scheme": ("Token sk-x", 401, MISSING_KEY_MESSAGE),
    "key_with_a_space": ("Bearer sk-allowed trailing", 401, incorrect_key_message("sk-allowed trailing")),
    "eight_kb_key": (f"Bearer {LONG_KEY}", 401, incorrect_key_message(LONG_KEY)),
}


@pytest.mark.parametrize("name", AUTH_CASES)
async def test_authorization_headers(make_client: MakeClient, caplog: pytest.LogCaptureFixture, name: str) -> None:
    header, status, message = AUTH_CASES[name]
    client = await make_client(api_keys=("sk-allowed",))
    headers = {} if header is None else {"Authorization": header}
    async with client.post(MINT, json={}, headers=headers, timeout=CLIENT_TIMEOUT) as response:
        assert response.status == status, await response.text()
        body = await response.json()
    if status == 200:
        assert body["value"].startswith("ek_")
    else:
        code = None if message == MISSING_KEY_MESSAGE else "invalid_api_key"
        assert_envelope(body, message=message, param=None, code=code)
        assert LONG_KEY not in body["error"]["message"]
        assert "sk-wrong-password-1234" not in body["error"]["message"]
    async with client.post(MINT, json={}, headers={"Authorization": "Bearer sk-allowed"}) as response:
        assert response.status == 200
    assert server_errors(caplog) == []


async def test_ten_kb_key_reaches_auth_and_is_masked(make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    # Production-sized headers (up to 16 KiB) reach the mock's own auth: OpenAI's 401, the key masked.
    client = await make_client(api_keys=("sk-allowed",))
    key = "sk-" + "k" * 10_240
    async with client.post(MINT, json={}, headers={"Authorization": f"Bearer {key}"}) as response:
        assert response.status == 401
        error = await error_of(response)
        assert error["code"] == "invalid_api_key"
        assert key not in error["message"]
    async with client.post(MINT, json={}, headers={"Authorization": f"Bearer {key}{'k' * 8000}"}) as response:
        assert response.status == 431  # past 16 KiB: the edge's answer, in the envelope
        assert (await error_of(response))["param"] == "Authorization"
    async with client.post(MINT, json={}, headers={"Authorization": "Bearer sk-allowed"}) as response:
        assert response.status == 200
    assert server_errors(caplog) == []


async def test_two_authorization_headers_the_first_one_counts(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Decision: request.headers.get() returns the first of repeated headers; the second is ignored.
    client = await make_client(api_keys=("sk-allowed",))
    wrong = "sk-wrong-key-0123456789"
    first_right = CIMultiDict([("Authorization", "Bearer sk-allowed"), ("Authorization", f"Bearer {wrong}")])
    async with client.post(MINT, json={}, headers=first_right) as response:
        assert response.status == 200
    first_wrong = CIMultiDict([("Authorization", f"Bearer {wrong}"), ("Authorization", "Bearer sk-allowed")])
    async with client.post(MINT, json={}, headers=first_wrong) as response:
        assert response.status == 401
        body = await response.json()
    assert_envelope(body, message=incorrect_key_message(wrong), param=None, code="invalid_api_key")
    assert wrong not in body["error"]["message"]
    async with client.post(MINT, json={}, headers={"Authorization": "Bearer sk-allowed"}) as response:
        assert response.status == 200
    assert server_errors(caplog) == []


def test_non_ascii_utf8_key_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    key = "sk-\u9375-\u00fcn\u00efc\u00f6d\u00e9-key"
    with MockServer(api_keys=("sk-allowed",)) as running:
        response = raw_mint(running.port, b"Authorization: Bearer " + key.encode() + b"\r\n")
        assert response.status == 401
        body = response.json()
        assert_envelope(body, message=incorrect_key_message(key), param=None, code="invalid_api_key")
        assert key not in body["error"]["message"]
        assert raw_mint(running.port, b"Authorization: Bearer sk-allowed\r\n").status == 200
    assert server_errors(caplog) == []


def test_key_with_bytes_that_are_not_utf8_gets_a_401(caplog: pytest.LogCaptureFixture) -> None:
    # Header bytes are latin-1 on the wire; aiohttp decodes them as UTF-8 with surrogateescape.
    with MockServer(api_keys=("sk-allowed",)) as running:
        response = raw_mint(running.port, b"Authorization: Bearer sk-caf\xe9-latin1-key\r\n")
        assert response.status == 401, (response.status, response.body[:200])
        body = response.json()
        assert_envelope(body, param=None, code="invalid_api_key")
        assert body["error"]["message"].startswith("Incorrect API key provided: sk-caf")
        assert raw_mint(running.port, b"Authorization: Bearer sk-allowed\r\n").status == 200
    assert server_errors(caplog) == []


# =========================================================================================================
# 4. HTTP-level garbage on raw sockets
# =========================================================================================================

LOW_LEVEL_GARBAGE: dict[str, bytes] = {
    "garbage_request_line": b"\x00\x01\x02 garbage \xff\xfe\r\n\r\n",
    "unknown_method": b"BREW " + MINT.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "header_without_colon": b"POST " + MINT.encode() + b" HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
    "header_of_100_kb": b"GET /__mock/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
    # Past the parser's count (1,024): production's limit is in bytes, and 1,000 small headers pass (test_headers).
    "two_thousand_headers": b"GET /__mock/health HTTP/1.1\r\nHost: x\r\n"
    + b"".join(b"X-H%d: v\r\n" % i for i in range(2000))
    + b"\r\n",
    "content_length_not_a_number": b"POST " + MINT.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n{}",
    "content_length_negative": b"POST " + MINT.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: -2\r\n\r\n{}",
    "two_content_lengths": b"POST " + MINT.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
    b"Content-Length: 3\r\n\r\n{}",
    "content_length_and_chunked": b"POST " + MINT.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n{}",
    "path_of_50_kb": b"GET /" + b"a" * 50_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "raw_non_ascii_path": b"GET /v1/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
    "http11_without_host": b"GET /__mock/health HTTP/1.1\r\n\r\n",
    "unknown_http_version": b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    "http2_preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
}


@pytest.mark.parametrize("name", LOW_LEVEL_GARBAGE)
def test_low_level_garbage_gets_a_4xx_or_a_close(
    server: MockServer, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    # aiohttp's parser answers these itself (plain-text 400) before the mock sees a request: acceptable.
    response = raw_exchange(server.port, LOW_LEVEL_GARBAGE[name])
    assert response.status is None or 400 <= response.status < 500, (response.status, response.body[:200])
    assert_still_serving_sync(server, caplog)


def test_root_path_is_404_in_the_envelope(server: MockServer, caplog: pytest.LogCaptureFixture) -> None:
    response = raw_exchange(server.port, http_request("GET", "/"))
    assert response.status == 404
    assert_envelope(response.json(), message="Invalid URL (GET /)", param=None, code=None)
    assert_still_serving_sync(server, caplog)


def test_long_path_under_the_line_limit_is_404_in_the_envelope(
    server: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    path = "/" + "a" * 7000
    response = raw_exchange(server.port, http_request("GET", path))
    assert response.status == 404
    assert_envelope(response.json(), message=f"Invalid URL (GET {path})", param=None, code=None)
    assert_still_serving_sync(server, caplog)


@pytest.mark.parametrize("path", ["/%ff%fe%00%2e%2e/%c0%af", "/v1/%zz%%%/%u1234", "/v1/realtime/client_secrets%00"])
def test_percent_encoded_garbage_in_the_path_is_404(
    server: MockServer, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    response = raw_exchange(server.port, http_request("POST", path, headers=b"Authorization: Bearer sk-test\r\n"))
    assert response.status == 404
    body = response.json()
    assert_envelope(body, param=None, code=None)
    assert body["error"]["message"].startswith("Invalid URL (POST /")
    assert_still_serving_sync(server, caplog)


def test_http10_without_host_mints(server: MockServer, caplog: pytest.LogCaptureFixture) -> None:
    request = b"POST " + MINT.encode() + b" HTTP/1.0\r\nAuthorization: Bearer sk-test\r\nContent-Length: 2\r\n\r\n{}"
    response = raw_exchange(server.port, request)
    assert response.status == 200
    assert response.json()["value"].startswith("ek_")
    assert_still_serving_sync(server, caplog)


def test_absolute_form_target_is_served_by_its_path(server: MockServer, caplog: pytest.LogCaptureFixture) -> None:
    # Decision: the authority of an absolute-form request target is ignored.
    response = raw_exchange(server.port, http_request("GET", "http://example.invalid/__mock/health"))
    assert response.status == 200
    assert response.json()["status"] == "ok"
    assert_still_serving_sync(server, caplog)


def test_asterisk_form_target_is_a_plain_404(server: MockServer, caplog: pytest.LogCaptureFixture) -> None:
    # "OPTIONS *" is legal HTTP but names no path: aiohttp's router answers its own plain-text 404 before any
    # route (the catch-all "/{path:.*}" needs a leading slash). Accepted and documented: a 4xx, never a 5xx.
    response = raw_exchange(server.port, http_request("OPTIONS", "*"))
    assert response.status == 404
    assert_still_serving_sync(server, caplog)


def test_content_length_larger_than_the_body_then_close(server: MockServer, caplog: pytest.LogCaptureFixture) -> None:
    head = (
        b"POST " + MINT.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\nContent-Length: 1000\r\n"
    )
    with connect(server.port) as sock:
        sock.sendall(head + b'\r\n{"session"')
    # Half-closing instead: the server sees the end of the stream and must give up, not wait forever.
    started = time.monotonic()
    response = raw_exchange(server.port, head + b'\r\n{"session"', half_close=True)
    assert response.status is None or 400 <= response.status < 500
    assert time.monotonic() - started < SOCKET_TIMEOUT
    assert_still_serving_sync(server, caplog)


# =========================================================================================================
# 5. Many idle and slow connections
# =========================================================================================================


async def test_idle_and_slowloris_connections_do_not_starve_mints(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client()
    host, port = client.server.host, client.server.port
    assert host is not None
    assert port is not None
    started = time.monotonic()
    idle: list[asyncio.StreamWriter] = []
    slow: list[asyncio.StreamWriter] = []
    stop = asyncio.Event()

    async def drip(writer: asyncio.StreamWriter) -> None:
        # One header byte every 0.2 s. A server that drops such a client is within its rights: stop quietly then.
        with contextlib.suppress(ConnectionError):
            writer.write(b"POST " + MINT.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            while not stop.is_set():
                writer.write(b"a")
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.2)

    async def one_mint() -> int:
        async with client.post(MINT, json={}, headers=AUTH, timeout=CLIENT_TIMEOUT) as response:
            await response.read()
            return response.status

    drips: list[asyncio.Task[None]] = []
    try:
        for _ in range(200):
            idle.append((await asyncio.wait_for(asyncio.open_connection(host, port), SOCKET_TIMEOUT))[1])
        for _ in range(20):
            slow.append((await asyncio.wait_for(asyncio.open_connection(host, port), SOCKET_TIMEOUT))[1])
        drips = [asyncio.create_task(drip(writer)) for writer in slow]
        await asyncio.sleep(0.5)  # the slow ones are mid-header now
        statuses = await asyncio.wait_for(asyncio.gather(*(one_mint() for _ in range(20))), 3 * SOCKET_TIMEOUT)
        assert statuses == [200] * 20
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*drips, return_exceptions=True), SOCKET_TIMEOUT)
        for writer in idle + slow:
            writer.close()
        await asyncio.wait_for(
            asyncio.gather(*(writer.wait_closed() for writer in idle + slow), return_exceptions=True), SOCKET_TIMEOUT
        )
    assert time.monotonic() - started < 10
    await assert_still_serving(client, caplog)


# =========================================================================================================
# 6. The control surface
# =========================================================================================================

CONTROL_ROUTES = sorted(
    (path, method) for path, methods in ROUTES.items() if path.startswith("/__mock/") for method in methods
)
MISSING_SECRET = "ek_missing"
MISSING_RULE = "fault_missing"
MISSING_CALL = "rtc_missing"
UNKNOWN_QUERY = "?bogus=1&__proto__=x&limit=-1&x=%ff"


def concrete(path: str) -> str:
    return path.replace("{value}", MISSING_SECRET).replace("{rule_id}", MISSING_RULE).replace("{call_id}", MISSING_CALL)


def ignored_body_outcome(path: str, method: str) -> tuple[int, dict[str, Any] | None]:
    """What a route answers whatever its (ignored) body: the parameterised ones 404, the rest 200."""
    if path == "/__mock/secrets/{value}":
        return 404, {
            "message": f"No client secret found with value '{MISSING_SECRET}'.",
            "param": "value",
            "code": "not_found",
        }
    if path == "/__mock/faults/{rule_id}":
        return 404, {"message": f"No fault rule found with id '{MISSING_RULE}'.", "param": None, "code": "not_found"}
    if path == "/__mock/calls/{call_id}":
        return 404, {"message": f"No call found with id '{MISSING_CALL}'.", "param": "call_id", "code": "not_found"}
    if path == "/__mock/replies/{rule_id}":
        return 404, {"message": f"No reply rule found with id '{MISSING_RULE}'.", "param": None, "code": "not_found"}
    return 200, None


HUGE_NUMBER = b"1" + b"0" * 400
# (path, method) of routes that read a body -> {kind: (status, message, param, code)}
BODY_OUTCOMES: dict[tuple[str, str], dict[str, tuple[int, str, str | None, str | None]]] = {
    ("/__mock/faults", "POST"): {
        "garbage": (400, INVALID_JSON_MESSAGE, None, None),
        "array": (
            400,
            "Invalid type for '[0]': expected an object, but got an integer instead.",
            "[0]",
            "invalid_type",
        ),
        "huge_number": (
            400,
            "Invalid type for '': expected an object, but got an integer instead.",
            None,
            "invalid_type",
        ),
    },
    ("/__mock/replies", "POST"): {
        "garbage": (400, INVALID_JSON_MESSAGE, None, None),
        "array": (
            400,
            "Invalid type for '[0]': expected an object, but got an integer instead.",
            "[0]",
            "invalid_type",
        ),
        "huge_number": (
            400,
            "Invalid body: expected a JSON object or an array of them, but got an integer instead.",
            None,
            "invalid_type",
        ),
    },
    ("/__mock/transcripts", "POST"): {
        "garbage": (400, INVALID_JSON_MESSAGE, None, None),
        "array": (400, "Invalid body: expected a JSON object, but got an array instead.", None, "invalid_type"),
        "huge_number": (400, "Invalid body: expected a JSON object, but got an integer instead.", None, "invalid_type"),
    },
    ("/__mock/clock", "POST"): {
        "garbage": (400, INVALID_JSON_MESSAGE, None, None),
        "array": (400, "Invalid body: expected a JSON object, but got an array instead.", None, "invalid_type"),
        "huge_number": (400, "Invalid body: expected a JSON object, but got an integer instead.", None, "invalid_type"),
    },
    ("/__mock/calls", "POST"): {
        "garbage": (400, INVALID_JSON_MESSAGE, None, None),
        "array": (400, "Invalid body: expected a JSON object, but got an array instead.", None, "invalid_type"),
        "huge_number": (400, "Invalid body: expected a JSON object, but got an integer instead.", None, "invalid_type"),
    },
}
HOSTILE_CONTROL_BODIES = {"garbage": b"{not json", "array": b"[1, 2]", "huge_number": HUGE_NUMBER}


def test_every_control_route_is_in_this_catalogue() -> None:
    assert {("/__mock/faults", "POST"), ("/__mock/clock", "POST"), ("/__mock/calls", "POST")} <= set(CONTROL_ROUTES)
    assert len(CONTROL_ROUTES) == 27  # update BODY_OUTCOMES / ignored_body_outcome when routes change


@pytest.mark.parametrize(("path", "method"), CONTROL_ROUTES)
async def test_control_routes_with_hostile_bodies_and_unknown_query(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, path: str, method: str
) -> None:
    # Decision: unknown query parameters are ignored everywhere; routes that take no body ignore it.
    client = await make_client()
    for kind, raw in HOSTILE_CONTROL_BODIES.items():
        url = URL(concrete(path) + UNKNOWN_QUERY, encoded=True)
        async with client.request(method, url, data=raw, timeout=CLIENT_TIMEOUT) as response:
            assert response.content_type == "application/json", await response.text()
            body = await response.json()
            if (path, method) in BODY_OUTCOMES:
                status, message, param, code = BODY_OUTCOMES[(path, method)][kind]
                assert response.status == status, body
                assert_envelope(body, message=message, param=param, code=code)
            else:
                status, error = ignored_body_outcome(path, method)
                assert response.status == status, (kind, body)
                if error is not None:
                    assert_envelope(body, **error)
    await assert_still_serving(client, caplog)


@pytest.mark.parametrize("path", sorted({path for path, _ in CONTROL_ROUTES}))
async def test_control_routes_with_a_wrong_method(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    client = await make_client()
    for method in ("PATCH", "PUT", *(m for m in ("GET", "POST", "DELETE") if m not in ROUTES[path])):
        async with client.request(method, concrete(path), json={"x": 1}, timeout=CLIENT_TIMEOUT) as response:
            assert response.status == 405
            message = f"Invalid method for URL ({method} {concrete(path)})"
            assert_envelope(await response.json(), message=message, param=None, code=None)
    await assert_still_serving(client, caplog)


# (raw path segment, decoded value as the message quotes it)
PATH_PARAMETERS = {
    "very_long": ("v" * 7000, "v" * 7000),
    "percent_encoded": ("%E2%9C%93%00%2F..%2F", "\u2713\x00/../"),
    "percent_encoded_invalid_utf8": ("%ff", "%ff"),
    # Non-ASCII as clients send it: percent-encoded UTF-8 (raw non-ASCII bytes are a low-level 400, see 4.).
    "unicode": (quote("\u9375-\U0001f600"), "\u9375-\U0001f600"),
}


@pytest.mark.parametrize("name", PATH_PARAMETERS)
async def test_odd_path_parameters_are_404_not_found(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    raw, value = PATH_PARAMETERS[name]
    client = await make_client()
    for method in ("GET", "DELETE"):
        async with client.request(method, URL(f"/__mock/secrets/{raw}", encoded=True)) as response:
            assert response.status == 404
            assert_envelope(
                await response.json(),
                message=f"No client secret found with value '{value}'.",
                param="value",
                code="not_found",
            )
    async with client.delete(URL(f"/__mock/faults/{raw}", encoded=True)) as response:
        assert response.status == 404
        assert_envelope(
            await response.json(), message=f"No fault rule found with id '{value}'.", param=None, code="not_found"
        )
    # Only DELETE is routed for a rule.
    async with client.get(URL(f"/__mock/faults/{raw}", encoded=True)) as response:
        assert response.status == 405
        assert_envelope(await response.json(), param=None, code=None)
    await assert_still_serving(client, caplog)


CLOCK_UPDATES: dict[str, tuple[Any, str, str, str]] = {
    "advance_1e308": (
        {"advance": 1e308},
        "advance",
        "decimal_above_max_value",
        "Invalid 'advance': decimal above maximum value. Expected a value <= 315360000, but got 1e+308 instead.",
    ),
    "advance_minus_1e308": (
        {"advance": -1e308},
        "advance",
        "decimal_below_min_value",
        "Invalid 'advance': decimal below minimum value. Expected a value >= 0, but got -1e+308 instead.",
    ),
    "set_minus_1": (
        {"set": -1},
        "set",
        "decimal_below_min_value",
        "Invalid 'set': decimal below minimum value. Expected a value >= 0, but got -1 instead.",
    ),
    "set_1e20": (
        {"set": 1e20},
        "set",
        "decimal_above_max_value",
        "Invalid 'set': decimal above maximum value. Expected a value <= 4294967295, but got 1e+20 instead.",
    ),
    "advance_true": (
        {"advance": True},
        "advance",
        "invalid_type",
        "Invalid type for 'advance': expected a number, but got a boolean instead.",
    ),
    "advance_null": (
        {"advance": None},
        "advance",
        "missing_required_parameter",
        "Missing required parameter: 'advance'. Send exactly one of 'advance' (seconds) or 'set' (epoch).",
    ),
    "advance_2_70": (
        {"advance": 2**70},
        "advance",
        "decimal_above_max_value",
        f"Invalid 'advance': decimal above maximum value. Expected a value <= 315360000, but got {2**70} instead.",
    ),
}


@pytest.mark.parametrize("name", CLOCK_UPDATES)
async def test_clock_rejects_hostile_updates_cleanly(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    update, param, code, message = CLOCK_UPDATES[name]
    client = await make_client()
    async with client.post("/__mock/clock", json=update) as response:
        assert response.status == 400
        assert_envelope(await response.json(), message=message, param=param, code=code)
    async with client.get("/__mock/clock") as response:
        assert (await response.json())["offset"] == 0.0  # nothing moved
    await assert_still_serving(client, caplog)


async def test_clock_walked_out_of_the_calendar_by_repeated_advances(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Each step is within the documented 10 years; 200 of them would take the clock far past 2106 (the
    # last second 8 hex digits of a secret can hold), and a negative one is refused at once.
    client = await make_client()
    async with client.post("/__mock/clock", json={"advance": -1}) as response:
        assert response.status == 400
        assert (await error_of(response))["param"] == "advance"
    async with client.post("/__mock/clock", json={"set": 0}) as response:
        assert response.status == 200
    for step in range(200):
        async with client.post("/__mock/clock", json={"advance": 315_360_000}) as response:
            assert response.status in (200, 400), (step, await response.text())
            if response.status == 400:  # refusing to leave the calendar is fine
                await error_of(response)
                break
    async with client.get("/__mock/clock") as response:
        assert response.status == 200, await response.text()
    await assert_still_serving(client, caplog)


# Header names and values a response cannot carry as they are.
BAD_RULE_HEADERS: dict[str, dict[str, str]] = {
    "space_in_name": {"bad header": "x"},
    "colon_in_name": {"x-a:b": "x"},
    "empty_name": {"": "x"},
    "crlf_in_value": {"x-a": "line1\r\nline2"},
    "lf_in_value": {"x-a": "line1\nInjected: yes"},
    "nul_in_value": {"x-a": "v\x00"},
    "content_length": {"Content-Length": "5"},
    "transfer_encoding": {"Transfer-Encoding": "chunked"},
}


@pytest.mark.parametrize("name", BAD_RULE_HEADERS)
async def test_fault_rule_headers_never_break_the_response(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    # Either the rule is refused when it is added (400 in the envelope), or the injected response is a
    # well-formed HTTP response carrying the injected error.
    client = await make_client()
    async with client.post("/__mock/faults", json={"status": 500, "headers": BAD_RULE_HEADERS[name]}) as response:
        assert response.status in (201, 400), await response.text()
        added = response.status == 201
        if not added:
            await error_of(response)
    if added:
        try:
            async with client.post(MINT, json={}, headers=AUTH, timeout=CLIENT_TIMEOUT) as injected:
                assert injected.status == 500
                body = await injected.json()
        except (aiohttp.ClientError, ValueError) as exc:
            pytest.fail(f"the injected response is broken: {exc!r}")
        assert body["error"]["type"] == "server_error"
    await assert_still_serving(client, caplog)


async def test_fault_rule_with_a_huge_retry_after_ms(make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    client = await make_client()
    rule = json.dumps({"status": 429, "retry_after_ms": 10**400})
    async with client.post("/__mock/faults", data=rule) as response:
        assert response.status in (201, 400), await response.text()
        added = response.status == 201
    if added:
        async with client.post(MINT, json={}, headers=AUTH, timeout=CLIENT_TIMEOUT) as injected:
            assert injected.status == 429, await injected.text()
            assert (await error_of(injected))["code"] == "rate_limit_exceeded"
    await assert_still_serving(client, caplog)


async def test_scope_header_of_8000_characters_is_refused(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client()
    scope = "s" * 8000
    message = f"Invalid X-Mock-Scope header: expected at most 200 characters, but got {len(scope)}."
    for method, path in [("GET", "/__mock/secrets"), ("POST", "/__mock/reset"), ("POST", MINT)]:
        async with client.request(method, path, json={}, headers={**AUTH, "X-Mock-Scope": scope}) as response:
            assert response.status == 400
            assert_envelope(await response.json(), message=message, param="X-Mock-Scope", code="invalid_mock_header")
    await assert_still_serving(client, caplog)


async def test_scope_header_of_10_kb_is_refused_by_the_http_parser(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Over aiohttp's 8190-byte field limit: its plain-text 400, before the mock's own check.
    client = await make_client()
    async with client.get("/__mock/secrets", headers={"X-Mock-Scope": "s" * 10_240}) as response:
        assert response.status == 400
    await assert_still_serving(client, caplog)


async def test_unicode_and_empty_scopes(make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    client = await make_client()
    scope = "\u9375-\u00e9-\U0001f600"
    async with client.post(MINT, json={}, headers={**AUTH, "X-Mock-Scope": scope}) as response:
        assert response.status == 200
    async with client.post(MINT, json={}, headers={**AUTH, "X-Mock-Scope": ""}) as response:
        assert response.status == 200
    async with client.get("/__mock/secrets", headers={"X-Mock-Scope": scope}) as response:
        assert [s["scope"] for s in (await response.json())["data"]] == [scope]
    # Decision: an empty X-Mock-Scope is no scope at all: unscoped secret, and an unscoped (full) listing.
    async with client.get("/__mock/secrets", headers={"X-Mock-Scope": ""}) as response:
        assert sorted(str(s["scope"]) for s in (await response.json())["data"]) == sorted([scope, "None"])
    await assert_still_serving(client, caplog)


# =========================================================================================================
# 7. Per-request fault headers with odd values, and bytes that are not UTF-8 in headers
# =========================================================================================================

# (header, value) -> expected status; a 400 is invalid_mock_header quoting the value, with param = the header.
FAULT_HEADER_CASES: dict[str, tuple[str, str, int]] = {
    "latency_1e309": ("X-Mock-Latency-Ms", "1e309", 400),
    "latency_nan": ("X-Mock-Latency-Ms", "nan", 400),
    "latency_minus_zero": ("X-Mock-Latency-Ms", "-0", 200),
    "latency_padded": ("X-Mock-Latency-Ms", "  25  ", 200),
    "latency_hex": ("X-Mock-Latency-Ms", "0x10", 400),
    "status_499": ("X-Mock-Status", "499", 499),
    "status_600": ("X-Mock-Status", "600", 400),
    "status_4e2": ("X-Mock-Status", "4e2", 400),
    "status_padded": ("X-Mock-Status", " 503 ", 503),
    "error_trailing_spaces": ("X-Mock-Error", "server_error   ", 500),
    # Decision: preset names are case-sensitive (X-Mock-Fault values are not).
    "error_upper_case": ("X-Mock-Error", "SERVER_ERROR", 400),
}
EXPECTED_BY_HEADER = {
    "X-Mock-Latency-Ms": "a number of milliseconds",
    "X-Mock-Status": "an HTTP error status from 400 to 599",
    "X-Mock-Error": "a preset name (see GET /__mock/presets)",
}


@pytest.mark.parametrize("name", FAULT_HEADER_CASES)
async def test_fault_headers_with_odd_values(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    header, value, status = FAULT_HEADER_CASES[name]
    client = await make_client()
    async with client.post(MINT, json={}, headers={**AUTH, header: value}, timeout=CLIENT_TIMEOUT) as response:
        assert response.status == status, await response.text()
        body = await response.json()
        headers = response.headers
    if status == 400:
        message = f"Invalid {header} header: expected {EXPECTED_BY_HEADER[header]}, but got '{value.strip()}'."
        assert_envelope(body, message=message, param=header, code="invalid_mock_header")
    elif status == 200:
        assert body["value"].startswith("ek_")
        if value.strip() == "25":
            assert headers["Server-Timing"] == 'mock-latency;desc="injected latency";dur=25.0'
        else:
            assert "Server-Timing" not in headers
    else:
        assert headers["x-mock-injected"] == "header"
        error = body["error"]
        assert_envelope(body, message=error["message"], param=None, code=None)
        if status == 499:
            assert error == {
                "message": "The request failed with status 499 (injected by the mock).",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        elif status == 503:
            assert (error["message"], error["type"]) == (
                "The engine is currently overloaded, please try again later.",
                "server_error",
            )
        else:
            assert error["type"] == "server_error"
            assert f"(Please include the request ID {headers['x-request-id']} in your email.)" in error["message"]
    await assert_still_serving(client, caplog)


async def test_fault_header_in_upper_case_resets(make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    client = await make_client()
    with pytest.raises(aiohttp.ClientConnectionError):
        async with client.post(MINT, json={}, headers={**AUTH, "X-Mock-Fault": "RESET"}, timeout=CLIENT_TIMEOUT) as r:
            await r.read()
    async with client.get("/__mock/requests") as response:
        entry = (await response.json())["data"][-1]
    assert (entry["fault"], entry["status"], entry["layer"]) == ("reset", None, "header")
    await assert_still_serving(client, caplog)


@pytest.mark.parametrize("header", ["X-Mock-Latency-Ms", "X-Mock-Status", "X-Mock-Fault", "X-Mock-Error"])
def test_fault_header_with_bytes_that_are_not_utf8(
    server: MockServer, caplog: pytest.LogCaptureFixture, header: str
) -> None:
    response = raw_mint(server.port, b"Authorization: Bearer sk-test\r\n" + header.encode() + b": 5\xe9\r\n")
    assert response.status == 400, (response.status, response.body[:200])
    assert_envelope(response.json(), param=header, code="invalid_mock_header")
    assert_still_serving_sync(server, caplog)


def test_any_header_that_is_not_utf8_keeps_the_journal_readable(
    server: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    minted = raw_mint(server.port, b"Authorization: Bearer sk-test\r\nX-Note: caf\xe9\r\n")
    assert minted.status == 200
    journal = raw_exchange(server.port, http_request("GET", "/__mock/requests"))
    assert journal.status == 200, journal.body[:300]
    assert len(journal.json()["data"]) == 1
    assert_still_serving_sync(server, caplog)


def test_scope_that_is_not_utf8_keeps_the_listings_readable(
    server: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    minted = raw_mint(server.port, b"Authorization: Bearer sk-test\r\nX-Mock-Scope: caf\xe9\r\n")
    assert minted.status in (200, 400), minted.body[:300]
    for path in ("/__mock/secrets", "/__mock/requests"):
        listing = raw_exchange(server.port, http_request("GET", path))
        assert listing.status == 200, (path, listing.body[:300])
    assert_still_serving_sync(server, caplog)
