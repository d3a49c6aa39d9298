"""The journal's entries: what a request leaves behind (a thousand of them live at once, so an entry keeps as
few objects as it can) and how it reads back, the same as the request's own header map would have."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from mockserver.journal import JournalEntry, mask_authorization, masked_headers, packed_headers
from mockserver.testing import MockServer

from .helpers import http_request

KEY = "sk-proj-REALLOOKINGKEY0123456789abcdef"
#: Header names are tokens; values are any bytes but NUL, CR and LF (the parser refuses those), no edge spaces.
_NAMES = st.text(alphabet="!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1)
_VALUES = st.binary(max_size=40).map(lambda value: value.replace(b"\0", b"").replace(b"\r", b"").replace(b"\n", b""))
_RAW = st.lists(st.tuples(_NAMES.map(str.encode), _VALUES.map(lambda v: v.strip(b" \t"))), max_size=12).map(tuple)


def _as_aiohttp_reads_them(raw: tuple[tuple[bytes, bytes], ...]) -> CIMultiDictProxy[str]:
    decoded = CIMultiDict[str]()
    for name, value in raw:
        decoded.add(name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
    return CIMultiDictProxy(decoded)


def _entry(headers: object) -> JournalEntry:
    return JournalEntry("req_1", 1.0, None, "POST", "/v1/realtime/client_secrets", None, headers, None)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(raw=_RAW, key=st.sampled_from([b"Authorization", b"authorization", b"X-Api-Key", b"Api-Key"]))
def test_packed_headers_read_back_as_the_request_s_header_map_would(
    raw: tuple[tuple[bytes, bytes], ...], key: bytes
) -> None:
    raw = (*raw, (key, b"Bearer " + KEY.encode()))
    packed = packed_headers(raw)
    assert isinstance(packed, bytes)
    assert _entry(packed).headers == masked_headers(_as_aiohttp_reads_them(raw))
    assert "REALLOOKINGKEY" not in repr(_entry(packed).headers)


def test_a_nul_in_a_header_keeps_the_pairs_as_received() -> None:
    raw = ((b"X-Odd", b"a\0b"), (b"Authorization", b"Bearer " + KEY.encode()))
    kept = packed_headers(raw)
    assert kept is raw
    assert _entry(kept).headers == {"x-odd": "a\0b", "authorization": mask_authorization(f"Bearer {KEY}")}
    assert packed_headers(()) == ()
    assert _entry(()).headers == {}


def test_an_entry_keeps_no_empty_dicts_and_shows_the_same_json() -> None:
    entry = _entry(packed_headers(((b"Host", b"x"),)))
    entry.body_bytes = 33
    shown = entry.to_json()
    assert list(shown)[-2:] == ["client_disconnected", "body_bytes"]
    assert shown["query"] == {}
    assert shown["body_bytes"] == 33
    assert entry._extra is None  # nothing asked for it
    entry.extra["body_truncated"] = True
    assert list(entry.to_json())[-2:] == ["body_bytes", "body_truncated"]
    webhook = _entry({"Content-Type": "application/json"})
    assert "body_bytes" not in webhook.to_json()
    assert webhook.headers == {"content-type": "application/json"}
    # Entries of the same path share its string.
    assert _entry({}).path is _entry({}).path


async def test_headers_over_a_real_socket_are_recorded_as_received() -> None:
    body = b'{"session": {"type": "realtime"}}'
    async with MockServer(seed=5) as mock:
        reader, writer = await asyncio.open_connection("127.0.0.1", mock.port)
        writer.write(
            http_request(
                "POST",
                "/v1/realtime/client_secrets?trace=1",
                headers=b"Authorization: Bearer " + KEY.encode() + b"\r\n"
                b"content-type: application/json\r\nX-Dup: first\r\nX-Dup: second\r\nX-Latin: caf\xe9\r\n"
                b"X-Spaced:   padded  \r\n",
                body=body,
            )
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200 OK")
        (entry,) = mock.requests()
        assert entry.headers["authorization"] == mask_authorization(f"Bearer {KEY}")
        assert entry.headers["content-type"] == "application/json"
        assert entry.headers["x-dup"] == "second"
        assert entry.headers["x-spaced"] == "padded"
        assert entry.headers["x-latin"] == "caf\udce9"  # not UTF-8: kept as aiohttp decodes it
        assert entry.query == {"trace": "1"}
        assert entry.body_bytes == len(body)
        assert entry.to_json()["body_bytes"] == len(body)
        async with aiohttp.ClientSession() as http, http.get(mock.url + "/__mock/requests") as listed:
            assert listed.status == 200
            shown = json.loads(await listed.text())["data"][0]
        assert shown["headers"]["x-dup"] == "second"
        assert shown["body_bytes"] == len(body)
        assert shown["query"] == {"trace": "1"}


def test_the_duration_is_kept_exact_and_shown_to_the_microsecond() -> None:
    entry = _entry({})
    entry.duration_ms = 1.2345678
    assert entry.duration_ms == 1.235
    assert entry.to_json()["duration_ms"] == 1.235
    assert entry.snapshot().duration_ms == 1.235
    assert "duration_ms=1.235" in repr(entry)
