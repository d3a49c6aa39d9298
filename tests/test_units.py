"""Pure pieces, tested without a server: wording, ordering, ids, secrets store, clock."""

from __future__ import annotations

import asyncio
import base64
import re
import string
import sys
from typing import Any

import pytest

from mockserver.body import dump_json
from mockserver.clock import Clock
from mockserver.errors import OpenAIError, describe_json_type, format_number, mask_key, oxford_list
from mockserver.identity import make_identity
from mockserver.ids import IdFactory, is_mock_secret
from mockserver.loops import event_loop_factory
from mockserver.plans import NOT_JSON, REALTIME_MINT, TRANSLATION_MINT, PlanCache, _weaver
from mockserver.realtime.recording import MAX_STRING, safe_payload
from mockserver.schemas import RealtimeCreateClientSecretRequest, validate_model
from mockserver.schemas._base import TAG_PREFIX
from mockserver.schemas.validation import format_param
from mockserver.secrets import ClientSecret, SecretStore
from mockserver.settings import SettingsError
from tests.helpers import FIXTURES


def first(body: Any) -> OpenAIError:
    with pytest.raises(OpenAIError) as caught:
        validate_model(RealtimeCreateClientSecretRequest, body)
    return caught.value


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["created_at"], "'created_at'"),
        (["auto", "low"], "'auto' and 'low'"),
        (["audio/pcm", "audio/pcmu", "audio/pcma"], "'audio/pcm', 'audio/pcmu', and 'audio/pcma'"),
    ],
)
def test_oxford_list(values: list[str], expected: str) -> None:
    assert oxford_list(values) == expected


def test_oxford_list_with_or() -> None:
    assert oxford_list(["low", "medium", "high", "auto"], "or") == "'low', 'medium', 'high', or 'auto'"


@pytest.mark.parametrize(
    ("value", "name"),
    [(None, "null"), (True, "a boolean"), (3, "an integer"), (1.5, "a decimal number"), ("x", "a string"),
     ([], "an array"), ({}, "an object")],
)  # fmt: skip
def test_json_type_names(value: object, name: str) -> None:
    assert describe_json_type(value) == name


def test_format_number() -> None:
    assert [format_number(v) for v in (10, 0.25, 1.0, 1.5, 0)] == ["10", "0.25", "1", "1.5", "0"]


@pytest.mark.parametrize(
    ("key", "masked"),
    [
        ("sk-abcd", "sk-abcd"),
        ("sk-proj-abcdefghijklmnopWXYZ", "sk-proj-****************WXYZ"),
        ("sk-XG6GW0000000000wlmi", "sk-XG6GW**********wlmi"),
    ],
)
def test_mask_key(key: str, masked: str) -> None:
    assert mask_key(key) == masked
    assert len(mask_key(key)) == len(key)


def test_format_param() -> None:
    assert format_param(("session", "tools", 0, "name")) == "session.tools[0].name"
    assert format_param(("session", f"{TAG_PREFIX}0", "audio")) == "session.audio"
    assert format_param(("type",), prefix="session") == "session.type"
    assert format_param(("prompt", "variables", "a", f"{TAG_PREFIX}1", "detail")) == "prompt.variables.a.detail"
    assert format_param(("session", "\u00a7key")) == "session.\u00a7key"  # a client's key is never taken for a tag


def test_missing_is_reported_before_unknown_in_the_same_object() -> None:
    error = first({"session": {"type": "realtime", "tools": [{"type": "function", "bogus": 1}]}})
    assert error.param == "session.tools[0].name"
    assert error.code == "missing_required_parameter"


def test_unknown_is_reported_before_a_bad_value_in_the_same_object() -> None:
    error = first({"session": {"type": "realtime", "instructions": 5, "bogus": 1}})
    assert (error.code, error.param) == ("unknown_parameter", "session.bogus")


def test_fields_are_checked_in_schema_order() -> None:
    # model comes before instructions in the spec, whatever the order in the body.
    error = first({"session": {"instructions": 1, "model": 2, "type": "realtime"}})
    assert error.param == "session.model"
    # expires_after comes before session.
    error = first({"session": {"type": "nope"}, "expires_after": {"seconds": 1}})
    assert error.param == "expires_after.seconds"


def test_unknown_key_at_top_level_wins_over_nested_errors() -> None:
    error = first({"session": {"type": "realtime", "instructions": 5}, "extra": 1})
    assert error.param == "extra"


def test_exactly_one_error_per_request() -> None:
    error = first({"expires_after": {"seconds": 1, "anchor": "x"}, "session": {"type": "x"}})
    assert error.payload()["error"]["param"] == "expires_after.anchor"
    assert set(error.payload()["error"]) == {"message", "type", "param", "code"}


def test_valid_bodies_pass() -> None:
    for body in ({}, {"session": None}, {"expires_after": {}}, {"session": {"type": "transcription"}}):
        validate_model(RealtimeCreateClientSecretRequest, body)


# --- ids ------------------------------------------------------------------------------------------------


def test_id_formats_and_reproducibility() -> None:
    ids, again = IdFactory(1), IdFactory(1)
    secret = ids.client_secret(0x68AF296E)
    assert re.fullmatch(r"ek_68af296e[0-9a-f]{4}8191[0-9a-f]{16}", secret)
    assert re.fullmatch(r"sess_[A-Za-z0-9]{21}", ids.session_id())
    assert re.fullmatch(r"event_[A-Za-z0-9]{21}", ids.event_id())
    assert re.fullmatch(r"req_[0-9a-f]{32}", ids.request_id())
    assert again.client_secret(0x68AF296E) == secret
    ids.reseed()
    assert ids.client_secret(0x68AF296E) == secret


# --- secrets store and clock --------------------------------------------------------------------------


def _secret(value: str, created: int, expires: int) -> ClientSecret:
    return ClientSecret(value=value, created_at=created, expires_at=expires, session_id="sess_x", session_template={})


def test_secret_status_follows_the_clock() -> None:
    clock = Clock(lambda: 1000.0)
    secret = _secret("ek_a", 1000, 1010)
    assert secret.status(clock.now()) == "active"
    clock.advance(10)
    assert secret.status(clock.now()) == "expired"
    clock.set(1005)
    assert secret.status(clock.now()) == "active"
    secret.revoked = True
    assert secret.status(clock.now()) == "revoked"


def test_store_is_bounded_and_forgets_the_oldest() -> None:
    store = SecretStore(Clock(lambda: 1000.0), limit=3)
    for name in ("a", "b", "c", "d"):
        store.add(_secret(f"ek_{name}", 1000, 2000))
    assert [s.value for s in store] == ["ek_b", "ek_c", "ek_d"]
    assert store.get("ek_a") is None
    store.clear()
    assert len(store) == 0


def test_store_stays_bounded_under_many_adds() -> None:
    store = SecretStore(Clock(lambda: 0.0), limit=100)
    for i in range(10_000):
        store.add(_secret(f"ek_{i}", 0, 10))
    assert len(store) == 100
    assert store.get("ek_9999") is not None


@pytest.mark.parametrize("name", sorted(p.name for p in (FIXTURES / "requests").glob("*.json")))
def test_a_plan_renders_exactly_what_dump_json_gives(name: str) -> None:
    plan = PlanCache().plan(REALTIME_MINT, (FIXTURES / "requests" / name).read_bytes())
    payload = {"value": "ek_0123", "expires_at": 1795241495, "session": plan.session_for("sess_abc")}
    assert plan.render("ek_0123", 1795241495, "sess_abc") == dump_json(payload)


@pytest.mark.parametrize(
    "body",
    [
        b'{"session": {"model": "gpt-realtime-translate"}}',
        b'{"session": {"model": "%s \\"q\\" \\u0000", "audio": {"output": {"language": "fr"}}}}',
    ],
)
def test_a_translation_plan_renders_exactly_what_dump_json_gives(body: bytes) -> None:
    plan = PlanCache().plan(TRANSLATION_MINT, body)
    payload = {"value": "ek_0123", "expires_at": 1795241495, "session": plan.session_for("sess_abc", 1795241495)}
    assert plan.render("ek_0123", 1795241495, "sess_abc") == dump_json(payload)


def test_any_other_layout_is_woven_in_order() -> None:
    weave = _weaver((b"<", b"|", b"|", b">"), (2, 0, 1))
    assert weave(b"v", b"e", b"s") == b"<s|v|e>"


def test_plan_cache_is_bounded_and_replays_errors() -> None:
    cache = PlanCache(size=2)
    for seconds in (10, 20, 30):
        assert cache.plan(REALTIME_MINT, f'{{"expires_after": {{"seconds": {seconds}}}}}'.encode()).seconds == seconds
    assert len(cache._entries) == 2
    for _ in range(2):
        with pytest.raises(OpenAIError) as caught:
            cache.plan(REALTIME_MINT, b'{"bogus": 1}')
        assert (caught.value.code, caught.value.param) == ("unknown_parameter", "bogus")
    assert cache.parsed(b"{not json") is NOT_JSON
    assert cache.parsed(b"") is None


def test_seeded_ids_do_not_change_between_versions() -> None:
    """A seed mints the same secrets and ids from one release to the next (what `--seed` promises)."""
    ids = IdFactory(7)
    secrets = [ids.client_secret(1_767_225_600 + i) for i in range(2)]
    assert secrets == ["ek_6955b9006fa88191069293ee81ba3688", "ek_6955b901143681911071141aa3c52e5c"]
    assert all(is_mock_secret(secret) for secret in secrets)
    assert [ids.session_id(), ids.session_id()] == ["sess_vkg3E2MSDAESrtc5f9pff", "sess_Ehgdgae02TO1kjry9wGaM"]
    assert ids.request_id() == "req_1f741f6db62acb4d63edaded566200be"


# --- what the journal keeps of a Realtime event (realtime/recording.py) -------------------------------------


def test_the_journal_keeps_audio_as_byte_counts_and_text_as_is() -> None:
    audio = base64.b64encode(bytes(4800)).decode()
    assert safe_payload({"type": "input_audio_buffer.append", "event_id": "e1", "audio": audio}) == {
        "type": "input_audio_buffer.append",
        "event_id": "e1",
        "audio": 4800,
    }
    delta = {"type": "response.output_audio.delta", "output_index": 0, "delta": base64.b64encode(b"abcd").decode()}
    assert safe_payload(delta)["delta"] == 4
    # A transcript delta's text is not audio.
    text = {"type": "response.output_audio_transcript.delta", "delta": "Hello", "obfuscation": None}
    assert safe_payload(text) == text
    # Audio inside an item (any case of the key), and raw bytes, are counted too.
    item = {"type": "conversation.item.create", "item": {"content": [{"type": "input_audio", "Audio": "AAAA"}]}}
    assert safe_payload(item)["item"] == {"content": [{"type": "input_audio", "Audio": 3}]}
    assert safe_payload({"type": "x", "frame": b"\x00\x01\x02"}) == {"type": "x", "frame": 3}


def test_the_journal_masks_credentials_at_any_depth() -> None:
    key = "sk-proj-abcdefghijklmnop1234"
    event = {
        "type": "session.update",
        "session": {
            "tools": [
                {"type": "mcp", "Authorization": key, "headers": {"X-Api-Key": "secret", "Other": "x"}},
                {"type": "mcp", "api_key": "short"},
            ],
            "client_secret": {"value": "ek_1"},  # not a string: copied, its own keys checked
        },
    }
    tools = safe_payload(event)["session"]["tools"]
    assert tools[0] == {"type": "mcp", "Authorization": mask_key(key), "headers": {"X-Api-Key": "***", "Other": "***"}}
    assert tools[1] == {"type": "mcp", "api_key": "*****"}
    assert key not in repr(safe_payload(event))
    assert safe_payload(event)["session"]["client_secret"] == {"value": "ek_1"}


def test_the_journal_bounds_strings_and_nesting_and_copies() -> None:
    kept = "a" * MAX_STRING
    cut = "b" * (MAX_STRING + 5)
    out = safe_payload({"type": "x", "kept": kept, "cut": cut, "nested": [{"cut": cut}]})
    assert out["kept"] == kept
    assert out["cut"] == "b" * MAX_STRING + f"…({MAX_STRING + 5} characters)"
    assert out["nested"] == [{"cut": out["cut"]}]
    deep: Any = "leaf"
    for _ in range(40):
        deep = {"k": deep}
    shown = safe_payload({"type": "x", "deep": deep})["deep"]
    levels = 0
    while isinstance(shown, dict):
        shown, levels = shown["k"], levels + 1
    assert (shown, levels) == ("…", 33)  # what is nested past 32 levels is not copied
    # Scalars as they are, keys as strings, tuples untouched; the event itself is not changed.
    event = {"type": "x", "n": 1, "f": 0.5, "b": True, "none": None, "t": (1, 2), "m": {1: "one"}}
    original = repr(event)
    assert safe_payload(event) == {**event, "m": {"1": "one"}}
    assert repr(event) == original
    nested = {"type": "x", "m": {"a": [1]}}
    copy = safe_payload(nested)
    assert copy == nested
    # A copy, not the event's own objects.
    assert copy["m"] is not nested["m"]
    assert copy["m"]["a"] is not nested["m"]["a"]


def test_event_loop_factory_picks_uvloop_unless_told_or_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert event_loop_factory("asyncio") is None
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        assert event_loop_factory("auto") is None
    else:
        assert event_loop_factory("auto") is uvloop.new_event_loop
        assert event_loop_factory("uvloop") is uvloop.new_event_loop
        with asyncio.Runner(loop_factory=event_loop_factory("auto")) as runner:
            assert runner.run(asyncio.sleep(0, "ran")) == "ran"
            assert type(runner.get_loop()).__module__.startswith("uvloop")
    # Not installed (an import of None fails): auto falls back, uvloop says so in one line.
    monkeypatch.setitem(sys.modules, "uvloop", None)
    assert event_loop_factory("auto") is None
    missing = r"^--loop uvloop: uvloop is not installed \(pip install 'openai-realtime-mock\[uvloop\]'\)$"
    with pytest.raises(SettingsError, match=missing):
        event_loop_factory("uvloop")


@pytest.mark.parametrize("locale", ["en_US", "fr_FR", "de_DE", "ja_JP", "zh_TW"])
def test_the_word_generator_draws_what_a_full_faker_draws(locale: str) -> None:
    """``lorem_words`` is Faker's lorem provider alone: from the same random source it gives the words a whole
    ``Faker(locale)`` gives, so seeded replies and translations say what they said with a Faker each."""
    import random as stdlib_random  # noqa: PLC0415

    from faker import Faker  # noqa: PLC0415

    from mockserver.realtime.text import lorem_words  # noqa: PLC0415

    full = Faker(locale)
    full.seed_instance(1234)
    words = lorem_words(locale)
    words.random = stdlib_random.Random(1234)
    expected = [full.word(), full.sentence(nb_words=6), full.sentence(nb_words=3, variable_nb_words=False)]
    assert [words.word(), words.sentence(nb_words=6), words.sentence(nb_words=3, variable_nb_words=False)] == expected
    assert [type(provider).__module__ for provider in words.get_providers()] == [f"faker.providers.lorem.{locale}"]
    assert lorem_words(locale) is words  # made once per thread and locale


def test_each_thread_has_its_own_word_generators() -> None:
    """A mock on a background thread (``realtime_mock_sync``) and one on the test's loop swap random sources on
    generators of their own, so neither can draw from the other's source between its swap and its draw."""
    import threading  # noqa: PLC0415

    from mockserver.realtime.text import lorem_words  # noqa: PLC0415

    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(lorem_words("fr_FR")))
    thread.start()
    thread.join(timeout=30)
    assert len(seen) == 1
    assert seen[0] is not lorem_words("fr_FR")


def test_a_deferred_model_is_built_after_its_fields_models() -> None:
    """``validate_model`` builds the models in a deferred model's fields first (one level down), so the model
    reuses their schemas and they are ready when used by themselves; deeper ones stay inline."""
    from mockserver.schemas._base import RequestModel  # noqa: PLC0415

    class Deep(RequestModel):
        depth: int

    class Inner(RequestModel):
        name: str
        deep: Deep | None = None

    class Outer(RequestModel):
        inner: Inner
        many: list[Inner] | None = None

    assert not Outer.__pydantic_complete__
    assert not Inner.__pydantic_complete__
    outer = validate_model(Outer, {"inner": {"name": "a", "deep": {"depth": 2}}})
    assert outer.inner.deep is not None
    assert outer.inner.deep.depth == 2
    assert Outer.__pydantic_complete__
    assert Inner.__pydantic_complete__
    assert not Deep.__pydantic_complete__  # only one level down
    assert Inner.model_validate({"name": "b"}).name == "b"
    assert first_error_of(Outer, {"inner": {"name": 1}}).param == "inner.name"


def first_error_of(model: Any, body: Any) -> OpenAIError:
    with pytest.raises(OpenAIError) as caught:
        validate_model(model, body)
    return caught.value


def test_the_fake_account_is_shaped_as_production_s_and_follows_the_seed() -> None:
    identities = [make_identity(seed) for seed in range(200)]
    for identity in identities:
        assert re.fullmatch(r"user-[a-z0-9]{24}", identity["organization"])
        assert re.fullmatch(r"proj_[A-Za-z0-9]{24}", identity["project"])
        assert re.fullmatch(r"org-[A-Za-z0-9]{24}", identity["organization_id"])
    assert make_identity(7) == make_identity(7)
    assert len({identity["project"] for identity in identities}) == 200
    # The whole alphabet is drawn from, not a corner of it.
    assert set("".join(identity["organization"][5:] for identity in identities)) == set(
        string.ascii_lowercase + string.digits
    )
    assert set("".join(identity["project"][5:] for identity in identities)) == set(string.ascii_letters + string.digits)
