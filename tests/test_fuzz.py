"""Property-based and schema-driven fuzz tests, against a real server on 127.0.0.1.

Two tiers run the same properties; only the number of examples differs:

* fast (the default run, CI): ``pytest tests/test_fuzz.py``: a few hundred cases, well under a minute;
* slow: ``pytest -m slow tests/test_fuzz.py``: more than 10,000 generated requests.

``HYPOTHESIS_PROFILE=slow`` also gives the fast-tier tests the slow profile's example counts.
``FUZZ_STATS_FILE=path.json`` writes how many cases each property generated and the statuses seen.

The bodies come from ``tests/strategies.py``. Every property also checks that the server keeps
serving (``GET /__mock/health``) and logs no error (an error record is a traceback in the server).
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance
from schemathesis.core.errors import UnsupportedSchema

from mockserver.defaults import DEFAULT_INSTRUCTIONS
from mockserver.openapi import control_openapi
from mockserver.realtime.text import dump_arguments
from mockserver.testing import MockServer
from tests import strategies as strats
from tests.helpers import ErrorRecords, server_errors
from tests.test_sdk import assert_matches_official_response_schema

# --- tiers ----------------------------------------------------------------------------------------------

# ``max_examples`` is a unit: each property runs a multiple of it (see ``WEIGHTS``).
_COMMON: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    "print_blob": True,
}
settings.register_profile("fast", max_examples=30, **_COMMON)
settings.register_profile("slow", max_examples=1200, **_COMMON)

#: Examples per property, in units of the profile's ``max_examples``. Slow tier (unit 1200): valid 4200 +
#: invalid 6000 (10,200 together) + JSON 2400 + bytes 1200 + schemathesis 27 x 120 + accept 2 x 1200 +
#: translation 2 x 1200 + call control 1200 + the smaller, targeted properties. Fast tier (unit 30): about
#: 700 cases.
WEIGHTS = {
    "valid": 3.5,
    "invalid": 5.0,
    "json": 2.0,
    "bytes": 1.0,
    "deep": 0.1,
    "clock": 0.02,
    "fault_rules": 0.5,
    "reply_rules": 1.0,
    "scripted_streams": 0.5,
    "section_sign": 0.5,
    "schemathesis": 0.1,  # per operation and generation mode (22 operations, 5 with a body: 27 runs)
    # The client-secrets family: a call's accept (valid and invalid sessions), the translation mint,
    # call control with any body, header sizes.
    "accept": 1.0,
    "translation": 1.0,
    "call_control": 1.0,
    "headers": 0.3,
}

TIERS = [pytest.param("fast", id="fast"), pytest.param("slow", id="slow", marks=pytest.mark.slow)]


def tier_settings(tier: str, weight: str) -> settings:
    name = os.environ.get("HYPOTHESIS_PROFILE", "fast") if tier == "fast" else "slow"
    profile = settings.get_profile(name)
    return settings(profile, max_examples=max(1, round(profile.max_examples * WEIGHTS[weight])))


# --- the server and the client ------------------------------------------------------------------------------

AUTH = {"Authorization": "Bearer sk-fuzz"}
MINT = "/v1/realtime/client_secrets"
TRANSLATION_MINT = "/v1/realtime/translations/client_secrets"
SECRET = re.compile(r"^ek_[0-9a-f]{32}$")
SESSION_ID = re.compile(r"^sess_[A-Za-z0-9]{21}$")
REQUEST_ID = re.compile(r"^req_[0-9a-f]{32}$")
ENVELOPE_KEYS = ["message", "type", "param", "code"]
INVALID_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
    "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. "
    "If you have trouble figuring out how to fix this, please contact us through our help center at "
    "help.openai.com.)"
)
GOT = r"(null|a string|an integer|a decimal number|a boolean|an array|an object)"


class Fuzz:
    """The module's server, a keep-alive client, the server's error log and the case counters."""

    def __init__(self, server: MockServer, client: httpx.Client, errors: ErrorRecords) -> None:
        self.server = server
        self.client = client
        self.errors = errors
        self.cases: Counter[str] = Counter()
        self.statuses: dict[str, Counter[str]] = {}

    def count(self, name: str, status: int | str) -> None:
        self.cases[name] += 1
        self.statuses.setdefault(name, Counter())[str(status)] += 1

    def post(self, name: str, raw: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        response = self.client.post(MINT, content=raw, headers={"Content-Type": "application/json", **(headers or {})})
        self.count(name, response.status_code)
        return response

    def assert_no_server_errors(self) -> None:
        assert not self.errors.records, f"the server logged errors:\n{self.errors.describe()}"

    def start(self) -> None:
        self.errors.records.clear()
        self.server.reset()

    def finish(self) -> None:
        """After a property: the server still serves, and logged no error."""
        health = self.client.get("/__mock/health")
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "ok"
        self.assert_no_server_errors()
        self.server.reset()

    def stats(self) -> dict[str, Any]:
        server_errors = sum(
            n
            for name, counts in self.statuses.items()
            if not name.endswith(":injected")
            for status, n in counts.items()
            if status.startswith("5")
        )
        return {
            "cases": dict(self.cases),
            "total_cases": sum(self.cases.values()),
            "statuses": {name: dict(counts) for name, counts in self.statuses.items()},
            "5xx": server_errors,
        }


@pytest.fixture(scope="module")
def fuzz_module() -> Iterator[Fuzz]:
    # Scripted latency and hangs are capped at 50 ms, so a stray rule cannot stall the run.
    with (
        server_errors() as errors,
        MockServer(seed=20260821, latency_max_ms=50) as server,
        httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as client,
    ):
        fuzz = Fuzz(server, client, errors)
        yield fuzz
    path = os.environ.get("FUZZ_STATS_FILE")
    if path:
        with open(path, "w") as handle:
            json.dump(fuzz.stats(), handle, indent=2)


@pytest.fixture
def fuzz(fuzz_module: Fuzz) -> Fuzz:
    fuzz_module.start()
    return fuzz_module


def dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


# --- what a response must look like ---------------------------------------------------------------------------


def same(actual: Any, expected: Any, where: str = "session") -> None:
    """Deep equality that tells booleans from numbers (``True == 1`` in Python) and 1 from 1.0 only by value."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        assert actual is expected, f"{where}: {actual!r} != {expected!r}"
    elif isinstance(expected, int | float) and not isinstance(expected, bool):
        assert isinstance(actual, int | float), f"{where}: {actual!r} is not a number ({expected!r})"
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r} is not an object"
        assert set(actual) == set(expected), f"{where}: keys {sorted(actual)} != {sorted(expected)}"
        for key in expected:
            same(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: {actual!r} is not an array"
        assert len(actual) == len(expected), f"{where}: {actual!r} != {expected!r}"
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            same(a, e, f"{where}[{index}]")
    else:
        assert type(actual) is type(expected), f"{where}: {actual!r} != {expected!r}"
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


SERVER_VAD = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 200,
    "idle_timeout_ms": None,
    "create_response": True,
    "interrupt_response": True,
}
TRANSCRIPTION_VAD_KEYS = ("type", "threshold", "prefix_padding_ms", "silence_duration_ms")
SEMANTIC_VAD = {"type": "semantic_vad", "eagerness": "auto", "create_response": True, "interrupt_response": True}
PCM = {"type": "audio/pcm", "rate": 24000}


def expected_audio_input(sent: dict[str, Any], transcription_session: bool) -> dict[str, Any]:
    server_vad = {k: SERVER_VAD[k] for k in TRANSCRIPTION_VAD_KEYS} if transcription_session else dict(SERVER_VAD)
    if "turn_detection" not in sent:
        turn_detection: dict[str, Any] | None = server_vad
    elif sent["turn_detection"] is None:
        turn_detection = None
    elif sent["turn_detection"]["type"] == "server_vad":
        turn_detection = {**server_vad, **sent["turn_detection"]}
    else:
        turn_detection = {**SEMANTIC_VAD, **sent["turn_detection"]}
    transcription = sent.get("transcription")
    if transcription is not None:
        transcription = {
            "model": transcription.get("model"),
            "language": transcription.get("language"),
            "prompt": transcription.get("prompt"),
            **{k: transcription[k] for k in ("languages", "keywords", "delay") if k in transcription},
        }
    noise_reduction = sent.get("noise_reduction")
    if noise_reduction is not None:
        # "Defaults to 1 when noise reduction is first enabled" (SDK 3.57).
        noise_reduction = {**noise_reduction, "strength": float(noise_reduction.get("strength", 1.0))}
    return {
        "format": sent.get("format", PCM),
        "transcription": transcription,
        "noise_reduction": noise_reduction,
        "turn_detection": turn_detection,
    }


def expected_session(sent: dict[str, Any] | None) -> dict[str, Any]:
    """The response's session for a (canonical) request session, by the README's rules; ``id`` left out."""
    if sent is not None and sent["type"] == "transcription":
        audio_in = (sent.get("audio") or {}).get("input") or {}
        return {
            "type": "transcription",
            "object": "realtime.transcription_session",
            "expires_at": 0,
            "audio": {"input": expected_audio_input(audio_in, transcription_session=True)},
            "include": sent.get("include"),
        }
    sent = sent or {"type": "realtime"}
    audio = sent.get("audio") or {}
    audio_out = audio.get("output") or {}
    voice = audio_out.get("voice", "alloy")
    prompt = sent.get("prompt")
    session: dict[str, Any] = {
        "type": "realtime",
        "object": "realtime.session",
        "model": sent.get("model", "gpt-realtime"),
        "output_modalities": sent.get("output_modalities", ["audio"]),
        "instructions": sent.get("instructions", DEFAULT_INSTRUCTIONS),
        "tools": sent.get("tools", []),
        "tool_choice": sent.get("tool_choice", "auto"),
    }
    if "reasoning" in sent:
        session["reasoning"] = {"effort": "low", **sent["reasoning"]}
    session.update(
        {
            "max_output_tokens": sent.get("max_output_tokens", "inf"),
            "tracing": sent.get("tracing"),
            "truncation": sent.get("truncation", "auto"),
            "prompt": None
            if prompt is None
            else {"id": prompt["id"], "version": prompt.get("version"), "variables": prompt.get("variables")},
            "expires_at": 0,
            "audio": {
                "input": expected_audio_input(audio.get("input") or {}, transcription_session=False),
                "output": {
                    "format": audio_out.get("format", PCM),
                    "voice": voice if isinstance(voice, str) else voice["id"],
                    "speed": float(audio_out.get("speed", 1.0)),
                },
            },
            "include": sent.get("include"),
        }
    )
    return session


def assert_minted(response: httpx.Response, body: dict[str, Any] | None) -> None:
    """A 200 with a well-formed secret; with ``body`` (a valid request), the echo the README promises."""
    assert response.status_code == 200, response.text
    assert REQUEST_ID.match(response.headers["x-request-id"])
    payload = response.json()
    assert list(payload) == ["value", "expires_at", "session"]
    value = payload["value"]
    assert SECRET.match(value), value
    session = payload["session"]
    assert SESSION_ID.match(session["id"]), session["id"]
    assert_matches_official_response_schema(payload)
    if body is None:
        return
    sent = strats.canonical(body)
    seconds = (sent.get("expires_after") or {}).get("seconds", 600)
    assert payload["expires_at"] == int(value[3:11], 16) + seconds
    expected = expected_session(sent.get("session"))
    actual = {k: v for k, v in session.items() if k != "id"}
    same(actual, expected)
    # Production's key order, for the keys the README lists.
    assert [k for k in session if k != "id"] == list(expected)
    assert list(session)[:3] == ["type", "object", "id"]
    assert list(session["audio"]["input"]) == ["format", "transcription", "noise_reduction", "turn_detection"]
    if "output" in session["audio"]:
        assert list(session["audio"]["output"]) == ["format", "voice", "speed"]
    assert "parallel_tool_calls" not in session


def error_of(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    """The one error of an OpenAI envelope: exactly ``{"error": {message, type, param, code}}``, in that order."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    payload = response.json()
    assert isinstance(payload, dict), payload
    assert list(payload) == ["error"], payload
    error = payload["error"]
    assert isinstance(error, dict), error
    assert list(error) == ENVELOPE_KEYS, error
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] is None or isinstance(error["param"], str)
    assert error["code"] is None or isinstance(error["code"], str)
    return error


def _message_patterns(param: str) -> dict[str, str]:
    p = re.escape(param)
    number = r"-?[0-9]+(\.[0-9]+)?"
    return {
        "unknown_parameter": rf"Unknown parameter: '{p}'\.",
        "missing_required_parameter": rf"Missing required parameter: '{p}'\.",
        "invalid_type": rf"Invalid type for '{p}': expected .+, but got {GOT} instead\.",
        "invalid_value": rf"(Invalid value: '.*'\. Supported values are: .+\."
        rf"|Invalid '{p}': string does not match pattern\. Expected a string that matches the pattern '.+'\.)",
        "integer_below_min_value": rf"Invalid '{p}': integer below minimum value\. "
        rf"Expected a value >= {number}, but got .+ instead\.",
        "integer_above_max_value": rf"Invalid '{p}': integer above maximum value\. "
        rf"Expected a value <= {number}, but got .+ instead\.",
        "decimal_below_min_value": rf"Invalid '{p}': decimal below minimum value\. "
        rf"Expected a value >= {number}, but got .+ instead\.",
        "decimal_above_max_value": rf"Invalid '{p}': decimal above maximum value\. "
        rf"Expected a value <= {number}, but got .+ instead\.",
        "empty_array": rf"Invalid '{p}': empty array\. Expected an array with minimum length 1, "
        r"but got an empty array instead\.",
    }


def _paths(value: Any, text: str, prefix: strats.Path = ()) -> Iterator[strats.Path]:
    """Every path in ``value`` that ``text`` (the rest of a ``param``) can name; keys may contain ``.`` or ``[``."""
    if isinstance(value, dict):
        yield (*prefix, text)  # the key itself (present or not)
        for key in value:
            if isinstance(key, str) and text.startswith(key) and text[len(key) : len(key) + 1] in (".", "["):
                yield from _after(value[key], text[len(key) :], (*prefix, key))


def _after(value: Any, rest: str, prefix: strats.Path) -> Iterator[strats.Path]:
    if rest.startswith("."):
        yield from _paths(value, rest[1:], prefix)
    match = re.match(r"\[([0-9]+)\]", rest)
    if match and isinstance(value, list) and int(match[1]) < len(value):
        index = int(match[1])
        if match.end() == len(rest):
            yield (*prefix, index)
        else:
            yield from _after(value[index], rest[match.end() :], (*prefix, index))


def _lookup(body: Any, path: strats.Path) -> tuple[bool, Any]:
    target = body
    for part in path:
        in_dict = isinstance(target, dict) and part in target
        if in_dict or (isinstance(target, list) and isinstance(part, int) and part < len(target)):
            target = target[part]
        else:
            return False, None
    return True, target


def assert_validation_error(body: Any, error: dict[str, Any]) -> None:
    """A 400 for a JSON object body names a place in it, with a code and wording from the catalogue."""
    code, param, message = error["code"], error["param"], error["message"]
    if not isinstance(body, dict):
        got = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(type(body))
        got = got or {int: "an integer", float: "a decimal number"}.get(type(body), "null")
        assert (code, param) == ("invalid_type", None), error
        assert message == f"Invalid body: expected a JSON object, but got {got} instead."
        return
    assert isinstance(param, str), f"a validation error without a param: {error}"
    # An empty param only names an unknown key that is itself empty (checked below).
    assert param or code == "unknown_parameter", f"a validation error without a param: {error}"
    patterns = _message_patterns(param)
    assert code in patterns, f"code not in the catalogue: {error}"
    assert re.fullmatch(patterns[code], message, flags=re.DOTALL), f"wording: {error}"
    # The param names a place in the body: present for a bad value or an unknown key, absent (or null) when missing.
    candidates = [path for path in _paths(body, param) if strats.format_param(path) == param]
    found = [(path, *_lookup(body, path)) for path in candidates]
    if code == "missing_required_parameter":
        assert any(not present or value is None for _, present, value in found), f"{param} is not missing: {error}"
    else:
        present = [(path, value) for path, is_there, value in found if is_there]
        assert present, f"{param} names nothing in the body: {error}"
        if code == "unknown_parameter":
            known = [strats.known_field(body, path) for path, _ in present]
            assert not all(k is True for k in known), f"{param} is a known field: {error}"
        if code == "invalid_type":
            ok = [strats.type_accepted(body, path, value) for path, value in present]
            assert not all(k is True for k in ok), f"{param} has a type the schema accepts: {error}"


# --- (1) valid bodies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("tier", TIERS)
def test_every_valid_body_mints_and_echoes_the_session(fuzz: Fuzz, tier: str) -> None:
    @tier_settings(tier, "valid")
    @given(body=strats.valid_bodies())
    def valid_body_mints(body: dict[str, Any]) -> None:
        note(f"body: {body!r}")
        response = fuzz.post("valid", dumps(body))
        assert_minted(response, body)
        fuzz.assert_no_server_errors()

    valid_body_mints()
    fuzz.finish()


# --- (2) invalid bodies -------------------------------------------------------------------------------------


@pytest.mark.parametrize("tier", TIERS)
def test_every_invalid_body_gets_its_one_error(fuzz: Fuzz, tier: str) -> None:
    @tier_settings(tier, "invalid")
    @given(case=strats.invalid_bodies())
    def invalid_body_is_refused(case: strats.InvalidBody) -> None:
        assert_refused(fuzz, "invalid", case)

    invalid_body_is_refused()
    fuzz.finish()


def assert_refused(fuzz: Fuzz, name: str, case: strats.InvalidBody) -> None:
    note(repr(case))
    body, code, param = case
    response = fuzz.post(name, dumps(body))
    error = error_of(response)
    assert (error["code"], error["param"]) == (code, param), f"{case.description}: {error}"
    if case.message is not None:
        assert error["message"] == case.message
    else:
        pattern = rf"Invalid type for '{re.escape(param)}': expected .+, but got {GOT} instead\."
        assert re.fullmatch(pattern, error["message"]), error
    assert_validation_error(body, error)
    fuzz.assert_no_server_errors()


@pytest.mark.parametrize("tier", TIERS)
def test_keys_starting_with_a_section_sign_are_named_in_params(fuzz: Fuzz, tier: str) -> None:
    """Found by the fuzzing: a key starting with U+00A7 (then the mock's internal union-branch tag) was
    dropped from ``param``, so the error named the key's parent (or ``''`` at the top level) instead."""

    @tier_settings(tier, "section_sign")
    @given(case=strats.invalid_bodies(kinds=("unknown",), unknown_keys=strats.SECTION_SIGN_KEYS))
    @example(case=strats.InvalidBody({"§0": 1}, "unknown_parameter", "§0", "Unknown parameter: '§0'.", "unknown key"))
    @example(
        case=strats.InvalidBody(
            {"session": {"type": "realtime", "prompt": {"id": "p", "variables": {"§v": 1}}}},
            "invalid_type",
            "session.prompt.variables.§v",
            None,
            "integer for a prompt variable",
        )
    )
    def odd_key_is_named(case: strats.InvalidBody) -> None:
        assert_refused(fuzz, "section_sign", case)

    odd_key_is_named()
    fuzz.finish()


# --- (3) arbitrary JSON ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("tier", TIERS)
def test_arbitrary_json_never_breaks_the_server(fuzz: Fuzz, tier: str) -> None:
    @tier_settings(tier, "json")
    @given(body=st.one_of(strats.arbitrary_json(20), strats.json_bodies_with_a_random_subtree()))
    def json_body_is_handled(body: Any) -> None:
        note(f"body: {body!r}")
        response = fuzz.post("json", dumps(body))
        assert response.status_code < 500, response.text
        if response.status_code == 200:
            assert isinstance(body, dict)
            assert_minted(response, None)
        else:
            assert_validation_error(body, error_of(response))
        fuzz.assert_no_server_errors()

    json_body_is_handled()
    fuzz.finish()


@pytest.mark.parametrize("tier", TIERS)
def test_deeply_nested_json_never_breaks_the_server(fuzz: Fuzz, tier: str) -> None:
    """Nesting up to the parser's limit, in the body or in a free-form field; the journal must still list it."""
    places = {
        "body": "{}",
        "unknown": '{{"deep": {}}}',
        "parameters": '{{"session": {{"type": "realtime", "tools": [{{"type": "function", "name": "f", '
        '"parameters": {{"x": {}}}}}]}}}}',
        "metadata": '{{"session": {{"type": "realtime", "tracing": {{"metadata": {{"x": {}}}}}}}}}',
    }

    # The depth is a share of the recursion limit in force (Hypothesis raises it while a test runs, and the
    # server's thread shares it): the parser refuses what is nested deeper than the limit.
    @tier_settings(tier, "deep")
    @given(share=st.floats(0, 0.95), shape=st.sampled_from(["array", "object"]), place=st.sampled_from(list(places)))
    # Found by this test (fixed since): GET /__mock/requests answered 500 (RecursionError) once the journal
    # held such a body.
    @example(share=0.6, shape="array", place="parameters")
    def nested_body_is_handled(share: float, shape: str, place: str) -> None:
        depth = max(1, int(share * sys.getrecursionlimit()))
        note(f"depth {depth} of a recursion limit of {sys.getrecursionlimit()}")
        fuzz.server.clear_requests()
        nested = "[" * depth + "]" * depth if shape == "array" else '{"a":' * depth + "1" + "}" * depth
        template = places[place]
        raw = (template.format(nested) if place != "body" else nested).encode()
        response = fuzz.post("deep", raw)
        assert response.status_code in (200, 400), response.text
        if response.status_code == 400:
            error_of(response)
        for path in ("/__mock/requests", "/__mock/secrets"):
            listing = fuzz.client.get(path)
            fuzz.count("deep", listing.status_code)
            assert listing.status_code == 200, f"GET {path}: {listing.status_code} {listing.text[:300]}"
        fuzz.assert_no_server_errors()

    nested_body_is_handled()
    fuzz.finish()


# --- (4) arbitrary bytes -------------------------------------------------------------------------------------


def _bytes_bodies() -> st.SearchStrategy[bytes]:
    """Random bytes, and valid bodies cut short or with bytes spliced in."""

    @st.composite
    def damaged(draw: Any) -> bytes:
        raw = dumps(draw(strats.valid_bodies()))
        cut = draw(st.integers(0, len(raw)))
        return raw[:cut] + draw(st.binary(max_size=8)) + raw[cut + draw(st.integers(0, 4)) :]

    return st.one_of(st.binary(max_size=600), damaged())


@pytest.mark.parametrize("tier", TIERS)
def test_arbitrary_bytes_never_break_the_server(fuzz: Fuzz, tier: str) -> None:
    @tier_settings(tier, "bytes")
    @given(raw=_bytes_bodies())
    def bytes_are_handled(raw: bytes) -> None:
        note(f"raw: {raw!r}")
        response = fuzz.post("bytes", raw)
        assert response.status_code in (200, 400), response.text
        if response.status_code == 200:
            assert_minted(response, None)
        else:
            error = error_of(response)
            if error["code"] is None:
                assert (error["param"], error["message"]) == (None, INVALID_JSON), error
            else:
                # It parsed as JSON: then it is a validation error about what the JSON says.
                assert_validation_error(json.loads(raw), error)
        fuzz.assert_no_server_errors()

    bytes_are_handled()
    fuzz.finish()


# --- the control surface: the clock and scripted faults --------------------------------------------------------

MAX_ADVANCE = 315_360_000  # ClockUpdate's documented bound on one move (10 years)


@pytest.mark.parametrize("tier", TIERS)
def test_clock_moves_never_break_the_server(fuzz: Fuzz, tier: str) -> None:
    """Moving the clock, however often, leaves a clock the server can show and mint with: a move it
    cannot make is refused with a 400 in the envelope and leaves the clock where it was."""

    @tier_settings(tier, "clock")
    @given(start=st.integers(0, 2**32), moves=st.integers(1, 260), direction=st.sampled_from([-1, 1]))
    # Found by this test (fixed since): about 200 moves of -10 years each reached year 0, and from then on
    # POST and GET /__mock/clock answered 500 (ValueError: year -2 is out of range).
    @example(start=0, moves=200, direction=-1)
    def clock_moves(start: int, moves: int, direction: int) -> None:
        fuzz.server.reset()
        try:
            responses = [fuzz.client.post("/__mock/clock", json={"set": start})]
            for _ in range(moves):
                before = fuzz.client.get("/__mock/clock").json()["offset"]
                response = fuzz.client.post("/__mock/clock", json={"advance": direction * MAX_ADVANCE})
                responses.append(response)
                if response.status_code != 200:
                    error_of(response)
                    assert fuzz.client.get("/__mock/clock").json()["offset"] == before, "a refused move moved the clock"
            shown = fuzz.client.get("/__mock/clock")
            minted = fuzz.post("clock", b"{}")
            for response in [*responses, shown]:
                fuzz.count("clock", response.status_code)
            assert all(r.status_code in (200, 400) for r in responses), Counter(r.status_code for r in responses)
            assert shown.status_code == 200, shown.text
            assert_minted(minted, {})
            fuzz.assert_no_server_errors()
        finally:
            fuzz.server.reset()

    clock_moves()
    fuzz.finish()


HEADER_NAMES = st.one_of(
    st.sampled_from(["x-extra", "X-Trace", "retry-after", "Content-Length", "Transfer-Encoding", "Connection"]),
    st.text(st.characters(codec="ascii"), min_size=1, max_size=10),
)
HEADER_VALUES = st.text(st.characters(codec="latin-1"), max_size=12)
PRESET_STATUSES = {
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "server_error": 500,
    "overloaded": 503,
    "bad_gateway": 502,
    "timeout": 504,
    "cloudflare_timeout": 524,
    "request_timeout": 408,
    "conflict": 409,
    "invalid_api_key": 401,
    "permission_denied": 403,
    "retry_after_ms": 429,
    "retry_after_too_long": 429,
    "should_retry_false": 500,
    "should_retry_true": 400,
}


@st.composite
def fault_rules(draw: Any) -> dict[str, Any]:
    """Error rules (no connection faults): a status and/or a preset, with optional headers and overrides."""
    rule: dict[str, Any] = {}
    kind = draw(st.sampled_from(["status", "error", "both"]))
    if kind in ("status", "both"):
        rule["status"] = draw(st.integers(400, 599))
    if kind in ("error", "both"):
        rule["error"] = draw(st.sampled_from(sorted(PRESET_STATUSES)))
    optional = {
        "headers": st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=3),
        "retry_after_ms": st.integers(0, 10**6),
        "retry_after": st.floats(0, 1e6),
        "x_should_retry": st.booleans(),
        "message": strats.TEXT,
        "type": strats.TEXT,
        "code": strats.TEXT,
    }
    for key, values in optional.items():
        if draw(st.booleans()):
            rule[key] = draw(values)
    return rule


@pytest.mark.parametrize("tier", TIERS)
def test_accepted_fault_rules_fire_cleanly(fuzz: Fuzz, tier: str) -> None:
    """A rule POST /__mock/faults accepted is carried out as a well-formed HTTP response with its status."""

    @tier_settings(tier, "fault_rules")
    @given(rule=fault_rules())
    # Found by this test (fixed since): a header value with a control character was accepted, and the
    # response could then not be sent (aiohttp error, connection closed without a response).
    @example(rule={"status": 429, "headers": {"x-extra": "a\r\nb"}})
    # Found by this test (fixed since): a rule's Content-Length header replaced the real one, cutting the body short.
    @example(rule={"status": 429, "headers": {"Content-Length": "5"}})
    def rule_fires(rule: dict[str, Any]) -> None:
        note(f"rule: {rule!r}")
        scope = {"X-Mock-Scope": f"fuzz-{uuid.uuid4().hex}"}
        added = fuzz.client.post("/__mock/faults", json=rule, headers=scope)
        fuzz.count("fault_rules", added.status_code)
        if added.status_code == 400:
            error_of(added)
            return
        assert added.status_code == 201, added.text
        # A connection of its own: a response with broken framing must not poison the shared client's.
        with httpx.Client(base_url=fuzz.server.url, headers={**AUTH, **scope}, timeout=30) as client:
            try:
                response = client.post(MINT, content=b"{}")
                body = response.json()
            except (httpx.HTTPError, json.JSONDecodeError) as exc:
                fuzz.count("fault_rules:injected", "no response")
                pytest.fail(f"the scripted response was not a well-formed HTTP response with a JSON body: {exc!r}")
        # Statuses the rule scripted: counted apart, they are not the server's own errors.
        fuzz.count("fault_rules:injected", response.status_code)
        expected = rule.get("status") or PRESET_STATUSES[rule["error"]]
        assert response.status_code == expected
        assert response.headers["x-mock-injected"] == "scripted"
        assert isinstance(body, dict), body
        assert "error" in body, body
        if "message" in rule:
            assert body["error"]["message"] == rule["message"]
        fuzz.assert_no_server_errors()

    try:
        rule_fires()
    finally:
        fuzz.server.clear_faults()
    fuzz.finish()


# --- scripted replies and transcripts ---------------------------------------------------------------------------------

#: Function names a session can declare (the tools of session.update are validated like the mint's).
FUNCTION_NAMES = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True)
ARGUMENT_OBJECTS = st.dictionaries(strats.KEYS, strats.arbitrary_json(6), max_size=4)


@st.composite
def reply_rule_bodies(draw: Any) -> Any:
    """Bodies for POST /__mock/replies: near-valid rules (each field of a right or a wrong type), arrays of them,
    an unknown key now and then, or any JSON at all."""

    def rule() -> Any:
        loose = strats.arbitrary_json(3)
        call = st.fixed_dictionaries(
            {"name": st.one_of(FUNCTION_NAMES, loose)},
            optional={"arguments": st.one_of(ARGUMENT_OBJECTS, ARGUMENT_OBJECTS.map(json.dumps), strats.TEXT, loose)},
        )
        fields = {
            "text": st.one_of(strats.TEXT, loose),
            "tool_calls": st.one_of(st.lists(call, max_size=3), loose),
            "match": st.one_of(
                st.fixed_dictionaries({}, optional={"user_text": strats.TEXT, "tool_output": strats.TEXT}), loose
            ),
            "times": st.one_of(st.none(), st.integers(-2, 5), loose),
        }
        body = {key: draw(values) for key, values in fields.items() if draw(st.booleans())}
        if draw(st.integers(0, 9)) == 0:
            body[draw(strats.KEYS)] = draw(loose)
        return body

    shape = draw(st.integers(0, 9))
    if shape == 0:
        return draw(strats.arbitrary_json())
    if shape == 1:
        return [rule() for _ in range(draw(st.integers(0, 3)))]
    return rule()


@pytest.mark.parametrize("tier", TIERS)
def test_reply_rules_and_transcripts_are_accepted_or_refused_cleanly(fuzz: Fuzz, tier: str) -> None:
    """Whatever is posted, the answer is 201 with the rules as listed, or one error in OpenAI's envelope."""

    @tier_settings(tier, "reply_rules")
    @given(body=reply_rule_bodies(), transcripts=st.one_of(st.lists(strats.TEXT, max_size=3), strats.arbitrary_json(3)))
    def posted(body: Any, transcripts: Any) -> None:
        note(f"rule: {body!r}")
        scope = {"X-Mock-Scope": f"fuzz-{uuid.uuid4().hex}"}
        added = fuzz.client.post("/__mock/replies", json=body, headers=scope)
        fuzz.count("reply_rules", added.status_code)
        listed = fuzz.client.get("/__mock/replies", headers=scope).json()["data"]
        if added.status_code == 400:
            error_of(added)
            assert listed == []  # all or nothing
        else:
            assert added.status_code == 201, added.text
            answer = added.json()
            rules = answer["data"] if isinstance(body, list) else [answer]
            assert listed == rules
            for sent, kept in zip(body if isinstance(body, list) else [body], rules, strict=True):
                assert kept["text"] == sent.get("text")
                assert [call["name"] for call in kept["tool_calls"]] == [
                    c["name"] for c in sent.get("tool_calls") or []
                ]
                assert kept["times"] == sent.get("times", 1)
        queued = fuzz.client.post("/__mock/transcripts", json={"transcripts": transcripts}, headers=scope)
        fuzz.count("reply_rules:transcripts", queued.status_code)
        if queued.status_code == 400:
            error_of(queued)
        else:
            assert queued.status_code == 201, queued.text
            waiting = fuzz.client.get("/__mock/transcripts", headers=scope).json()["data"]
            assert [entry["text"] for entry in waiting] == transcripts
        fuzz.assert_no_server_errors()

    posted()
    fuzz.finish()


@st.composite
def scripted_turns(draw: Any) -> tuple[str, dict[str, Any], bool]:
    """A user message, a valid rule that matches it (a slice of it, case changed, or no match at all),
    and whether the session speaks (audio) or writes (text)."""
    said = draw(st.text(st.characters(exclude_categories=("Cc", "Cs", "Co", "Cn")), min_size=1, max_size=40))
    rule: dict[str, Any] = {}
    if said.strip() and draw(st.booleans()):
        start = draw(st.integers(0, len(said) - 1))
        piece = said[start : draw(st.integers(start + 1, len(said)))]
        swapped = piece.swapcase()
        # Matching ignores case as str.casefold does; a few letters change under swapcase (the dotless i).
        same_letters = swapped.casefold() == piece.casefold()
        rule["match"] = {"user_text": swapped if same_letters and draw(st.booleans()) else piece}
    if draw(st.booleans()):
        rule["text"] = draw(st.text(min_size=1, max_size=60))
    calls = draw(
        st.lists(
            st.fixed_dictionaries(
                {"name": FUNCTION_NAMES},
                optional={"arguments": st.one_of(ARGUMENT_OBJECTS, ARGUMENT_OBJECTS.map(json.dumps))},
            ),
            min_size=0 if "text" in rule else 1,
            max_size=3,
        )
    )
    if calls:
        rule["tool_calls"] = calls
    return said, rule, draw(st.booleans())


@pytest.mark.parametrize("tier", TIERS)
def test_scripted_replies_stream_exactly_what_was_scripted(fuzz: Fuzz, tier: str) -> None:
    """Any valid rule, played in a session: every event valid for the SDK, the text and arguments verbatim."""
    import websockets.sync.client as ws_client  # noqa: PLC0415 - only this property speaks WebSocket

    from tests.realtime_client import check_event  # noqa: PLC0415

    @tier_settings(tier, "scripted_streams")
    @given(turn=scripted_turns())
    def streamed(turn: tuple[str, dict[str, Any], bool]) -> None:
        said, rule, audio = turn
        note(f"user: {said!r}, rule: {rule!r}, audio: {audio}")
        scope = {"X-Mock-Scope": f"fuzz-{uuid.uuid4().hex}"}
        assert fuzz.client.post("/__mock/replies", json=rule, headers=scope).status_code == 201
        names = sorted({call["name"] for call in rule.get("tool_calls", [])})
        session = {
            "type": "realtime",
            "model": "gpt-realtime",
            "output_modalities": ["audio" if audio else "text"],
            "tools": [{"type": "function", "name": name} for name in names],
        }
        key = fuzz.client.post(MINT, json={"session": session}, headers=scope).json()["value"]
        url = fuzz.server.base_url.replace("http://", "ws://") + "/realtime?model=gpt-realtime"
        events: list[dict[str, Any]] = []
        with ws_client.connect(url, additional_headers={"Authorization": f"Bearer {key}"}, open_timeout=10) as ws:
            item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": said}]}
            ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
            ws.send(json.dumps({"type": "response.create"}))
            while not events or events[-1]["type"] != "response.done":
                events.append(json.loads(ws.recv(timeout=10)))
        fuzz.count("scripted_streams", "streamed")
        for event in events:
            check_event(event)
        output = events[-1]["response"]["output"]
        texts = [
            i["content"][0].get("text") or i["content"][0].get("transcript") for i in output if i["type"] == "message"
        ]
        assert texts == ([rule["text"]] if "text" in rule else [])
        calls = [i for i in output if i["type"] == "function_call"]
        expected = rule.get("tool_calls", [])
        assert [c["name"] for c in calls] == [c["name"] for c in expected]
        for call, scripted in zip(calls, expected, strict=True):
            arguments = scripted.get("arguments", {})
            assert call["arguments"] == (arguments if isinstance(arguments, str) else dump_arguments(arguments))
            assert isinstance(json.loads(call["arguments"]), dict)
        assert len({c["call_id"] for c in calls}) == len(calls)
        assert fuzz.client.get("/__mock/replies", headers=scope).json()["data"] == []  # served once
        fuzz.assert_no_server_errors()

    streamed()
    fuzz.finish()


# --- schemathesis: every operation of the project's own OpenAPI document ---------------------------------------------


@pytest.mark.parametrize("tier", TIERS)
def test_openapi_operations_conform(fuzz: Fuzz, tier: str) -> None:
    """Schemathesis' cases for every operation of GET /__mock/openapi.json, positive and negative.

    Checks: ``not_a_server_error``, ``response_schema_conformance`` (bodies match the documented
    schemas where one is documented) and ``content_type_conformance``. Left out, as they do not apply:
    ``status_code_conformance`` (the document lists each operation's usual statuses, not every 400 the
    control surface can give, e.g. for an over-long ``X-Mock-Scope``); ``negative_data_rejection``
    (an explicit null on a field that is not nullable counts as omitted, by design, so some "negative"
    bodies are rightly accepted); ``positive_data_acceptance`` (rules the schemas can only state in
    prose are enforced: an MCP tool needs a server, a clock update exactly one of advance/set, a fault
    rule one of status/error/latency_ms/fault, so some schema-valid bodies are rightly refused); the
    stateful checks (the document declares no links).

    The Python API is used rather than schemathesis' pytest integration, so the module's server, the
    tiers and the project's pytest settings apply unchanged. Faults a case scripts are cleared after it:
    test_accepted_fault_rules_fire_cleanly covers rules that fire.
    """
    document = fuzz.client.get("/__mock/openapi.json").json()
    assert document == json.loads(json.dumps(control_openapi()))
    schema = schemathesis.openapi.from_dict(copy.deepcopy(document))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /v1/realtime/client_secrets", "GET /__mock/openapi.json"}
    checks: list[Callable[..., Any]] = [not_a_server_error, response_schema_conformance, content_type_conformance]
    settings_ = tier_settings(tier, "schemathesis")
    with requests.Session() as session:
        for operation in operations:
            # Negative cases need something to negate: only operations with a request body have one (the
            # X-Mock-Scope header, a free string, and the free-string path parameters cannot be made invalid).
            modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if operation.body else [GenerationMode.POSITIVE]
            for mode in modes:
                # Negative cases may drop the Authorization header on purpose (schemathesis' negated security
                # parameter); every request here carries the key, so those are left out (test_errors covers 401s).
                cases = operation.as_strategy(generation_mode=mode).filter(
                    lambda case: not schema.is_security_param_negated(case)
                )

                # No example database: a run that gives up (below) must not hand its draw to the next one.
                @settings(settings_, database=None)
                @given(case=cases)
                def operation_conforms(case: schemathesis.Case) -> None:
                    try:
                        response = case.call(base_url=fuzz.server.url, session=session, headers=dict(AUTH))
                        fuzz.count("schemathesis", response.status_code)
                        case.validate_response(response, checks=checks, headers=dict(AUTH))
                        fuzz.assert_no_server_errors()
                    finally:
                        fuzz.server.clear_faults()
                        fuzz.server.clear_replies()
                        fuzz.server.clear_transcripts()

                for attempt in range(3):
                    try:
                        operation_conforms()
                    except UnsupportedSchema:
                        # Now and then schemathesis negates a branch of the official mint schema into a `not` it
                        # cannot draw from, and gives up the whole run: a limit of the generator, not a finding
                        # (every case it did draw was checked). Its draws are random, so another run goes past
                        # it; three such runs in a row fail the test.
                        if attempt == 2:
                            raise
                        continue
                    break
    fuzz.finish()


# --- (9) the client-secrets family: accept, the translation mint, call control, header sizes ------------------


def accept(fuzz: Fuzz, name: str, call_id: str, raw: bytes) -> httpx.Response:
    response = fuzz.client.post(
        f"/v1/realtime/calls/{call_id}/accept", content=raw, headers={"Content-Type": "application/json"}
    )
    fuzz.count(name, response.status_code)
    return response


@pytest.mark.parametrize("tier", TIERS)
def test_every_valid_session_is_accepted_and_echoed_as_a_mint(fuzz: Fuzz, tier: str) -> None:
    """One validation path: what a mint takes as a realtime session, accept takes, with the same defaults."""

    @tier_settings(tier, "accept")
    @given(session=strats.valid_realtime_sessions())
    def session_is_accepted(session: dict[str, Any]) -> None:
        note(f"session: {session!r}")
        call = fuzz.server.incoming_call()
        response = accept(fuzz, "accept", call.id, dumps(session))
        assert response.status_code == 200, response.text
        assert response.content == b""
        accepted = fuzz.server.call(call.id)
        assert accepted.status == "accepted"
        assert accepted.session is not None
        same(
            {k: v for k, v in accepted.session.items() if k != "id"},
            expected_session(strats.canonical({"session": session})["session"]),
        )
        fuzz.assert_no_server_errors()

    session_is_accepted()
    fuzz.finish()


@pytest.mark.parametrize("tier", TIERS)
def test_every_invalid_session_is_refused_by_accept_as_by_a_mint(fuzz: Fuzz, tier: str) -> None:
    """The mint's invalid bodies whose error is in a realtime session: accept names the same error, one level up."""

    def in_a_realtime_session(case: strats.InvalidBody) -> bool:
        body, _, param = case
        session = body.get("session")
        return param.startswith("session.") and isinstance(session, dict) and session.get("type") == "realtime"

    @tier_settings(tier, "accept")
    @given(case=strats.invalid_bodies().filter(in_a_realtime_session))
    def session_is_refused(case: strats.InvalidBody) -> None:
        note(repr(case))
        session = case[0]["session"]
        minted = error_of(fuzz.post("accept:mint", dumps({"session": session})))
        call = fuzz.server.incoming_call()
        refused = error_of(accept(fuzz, "accept:invalid", call.id, dumps(session)))
        param = minted["param"]
        assert isinstance(param, str)
        assert param.startswith("session."), minted
        inner = param.removeprefix("session.")
        assert refused == {**minted, "param": inner, "message": minted["message"].replace(f"'{param}'", f"'{inner}'")}
        assert fuzz.server.call(call.id).status == "ringing"
        fuzz.assert_no_server_errors()

    session_is_refused()
    fuzz.finish()


@st.composite
def translation_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """Valid translation mint bodies: a model, and any subset of the audio settings (nulls where allowed)."""
    session: dict[str, Any] = {"model": draw(st.one_of(st.just("gpt-realtime-translate"), strats.TEXT))}
    audio_in: dict[str, Any] = {}
    if draw(st.booleans()):
        audio_in["transcription"] = draw(st.one_of(st.none(), st.builds(lambda m: {"model": m}, strats.TEXT)))
    if draw(st.booleans()):
        noise: Any = {"type": draw(st.sampled_from(("near_field", "far_field")))}
        if draw(st.booleans()):
            noise["strength"] = draw(st.one_of(st.floats(0, 1), st.integers(0, 1)))
        audio_in["noise_reduction"] = draw(st.one_of(st.none(), st.just(noise)))
    audio: dict[str, Any] = {}
    if audio_in or draw(st.booleans()):
        audio["input"] = audio_in
    if draw(st.booleans()):
        audio["output"] = {"language": draw(strats.TEXT)} if draw(st.booleans()) else {}
    if audio or draw(st.booleans()):
        session["audio"] = audio
    body: dict[str, Any] = {"session": session}
    if draw(st.booleans()):
        body["expires_after"] = {"seconds": draw(st.integers(10, 7200))}
    return body


def expected_translation_session(sent: dict[str, Any], expires_at: int) -> dict[str, Any]:
    audio = sent.get("audio") or {}
    audio_in = audio.get("input") or {}
    transcription = audio_in.get("transcription")
    noise = audio_in.get("noise_reduction")
    return {
        "type": "translation",
        "expires_at": expires_at,
        "model": sent["model"],
        "audio": {
            "input": {
                "transcription": None if transcription is None else {"model": transcription["model"]},
                "noise_reduction": None if noise is None else {**noise, "strength": float(noise.get("strength", 1))},
            },
            "output": {"language": (audio.get("output") or {}).get("language", "en")},
        },
    }


@pytest.mark.parametrize("tier", TIERS)
def test_every_valid_translation_body_mints_and_echoes(fuzz: Fuzz, tier: str) -> None:
    @tier_settings(tier, "translation")
    @given(body=translation_bodies())
    def translation_mints(body: dict[str, Any]) -> None:
        note(f"body: {body!r}")
        response = fuzz.client.post(TRANSLATION_MINT, content=dumps(body))
        fuzz.count("translation", response.status_code)
        assert response.status_code == 200, response.text
        payload = response.json()
        assert list(payload) == ["value", "expires_at", "session"]
        assert SECRET.match(payload["value"])
        seconds = (body.get("expires_after") or {}).get("seconds", 600)
        assert payload["expires_at"] == int(payload["value"][3:11], 16) + seconds
        session = payload["session"]
        assert list(session) == ["id", "type", "expires_at", "model", "audio"]
        assert SESSION_ID.match(session["id"])
        same(
            {k: v for k, v in session.items() if k != "id"},
            expected_translation_session(body["session"], payload["expires_at"]),
        )
        fuzz.assert_no_server_errors()

    translation_mints()
    fuzz.finish()


@pytest.mark.parametrize("tier", TIERS)
def test_arbitrary_json_at_the_translation_mint_is_a_clean_4xx_or_a_mint(fuzz: Fuzz, tier: str) -> None:
    @tier_settings(tier, "translation")
    @given(
        body=st.one_of(
            strats.arbitrary_json(16),
            st.builds(lambda s: {"session": s}, strats.arbitrary_json(12)),
            st.builds(lambda a: {"session": {"model": "m", "audio": a}}, strats.arbitrary_json(12)),
        )
    )
    def json_is_handled(body: Any) -> None:
        note(f"body: {body!r}")
        response = fuzz.client.post(TRANSLATION_MINT, content=dumps(body))
        fuzz.count("translation:json", response.status_code)
        if response.status_code != 200:
            error = error_of(response)
            if isinstance(body, dict):
                assert_validation_error(body, error)
        fuzz.assert_no_server_errors()

    json_is_handled()
    fuzz.finish()


CALL_ACTIONS = ("accept", "reject", "refer", "hangup")


@pytest.mark.parametrize("tier", TIERS)
def test_call_control_with_any_body_never_breaks_the_server(fuzz: Fuzz, tier: str) -> None:
    @tier_settings(tier, "call_control")
    @given(
        steps=st.lists(
            st.tuples(
                st.sampled_from(CALL_ACTIONS),
                st.sampled_from(("ringing", "same", "unknown", "placeholder")),
                st.one_of(
                    strats.arbitrary_json(8),
                    st.sampled_from([{"type": "realtime"}, {"target_uri": "tel:+14155550123"}, {"status_code": 486}]),
                ),
            ),
            min_size=1,
            max_size=6,
        )
    )
    def control_is_handled(steps: list[tuple[str, str, Any]]) -> None:
        note(f"steps: {steps!r}")
        call_id = fuzz.server.incoming_call().id
        for action, which, body in steps:
            if which == "ringing":
                call_id = fuzz.server.incoming_call().id
            target = {"unknown": "rtc_" + "f" * 32, "placeholder": "call_id"}.get(which, call_id)
            before = fuzz.server.call(call_id).status
            response = fuzz.client.post(f"/v1/realtime/calls/{target}/{action}", content=dumps(body))
            fuzz.count("call_control", response.status_code)
            assert response.status_code in (200, 400, 404), response.text
            if response.status_code == 200:
                assert response.content == b""
            else:
                error = error_of(response, response.status_code)
                assert (response.status_code == 404) == (which == "unknown"), error
            if response.status_code != 200 and target == call_id:
                assert fuzz.server.call(call_id).status == before  # a refusal changes nothing
        fuzz.assert_no_server_errors()

    control_is_handled()
    fuzz.finish()


@pytest.mark.parametrize("tier", TIERS)
def test_header_sizes_get_a_mint_or_a_431(fuzz: Fuzz, tier: str) -> None:
    @tier_settings(tier, "headers")
    @given(sizes=st.lists(st.integers(1, 24_000), min_size=1, max_size=5))
    def sizes_are_judged(sizes: list[int]) -> None:
        headers = {f"x-pad-{i}": "p" * size for i, size in enumerate(sizes)}
        request = fuzz.client.build_request("POST", MINT, content=b"{}", headers=headers)
        total = sum(len(name) + len(value) for name, value in request.headers.raw)
        largest = max(len(name) + len(value) for name, value in request.headers.raw)
        response = fuzz.client.send(request)
        fuzz.count("headers", response.status_code)
        if largest > 16_384 or total > 32_768:
            error = error_of(response, 431)
            assert error["code"] == "request_header_fields_too_large"
        else:
            assert_minted(response, None)
        fuzz.assert_no_server_errors()

    sizes_are_judged()
    fuzz.finish()
