"""The drift guard: every field and enum member the installed ``openai`` SDK can send mints (or accepts).

The cases are generated from the SDK's own request types (tests/sdk_sweep.py): the realtime
and transcription sessions of ``client.realtime.client_secrets.create``, the translation
session of ``client.realtime.translations.client_secrets.create``, and the session of
``client.realtime.calls.accept``. Upgrading the SDK in the test extra adds cases by itself,
so a field or value the mock lacks fails here at once, named by its path.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai import OpenAI
from openai.types.realtime import call_accept_params, client_secret_create_params
from openai.types.realtime.translations import client_secret_create_params as translation_params

from mockserver.testing import MockServer
from tests.sdk_sweep import Case, cases

MINT_CASES = cases(client_secret_create_params.ClientSecretCreateParams)
TRANSLATION_CASES = cases(translation_params.ClientSecretCreateParams)
ACCEPT_CASES = cases(call_accept_params.CallAcceptParams)


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(seed=8, journal_size=0) as mock:
        yield mock


@pytest.fixture(scope="module")
def client(server: MockServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0, _strict_response_validation=True) as sdk:
        yield sdk


def test_the_sweep_covers_the_sdk() -> None:
    """Enough cases that a new field or member cannot hide (2026-12: 229 + 14 + 180 with openai 3.57)."""
    assert len(MINT_CASES) >= 200
    assert len(TRANSLATION_CASES) >= 10
    assert len(ACCEPT_CASES) >= 150
    labels = {case.label for case in MINT_CASES}
    for field in (
        "session.prompt.variables{}.prompt_cache_breakpoint.ttl=12h",
        "session.audio.input.noise_reduction.strength",
        "session.audio.input.transcription.delay=xhigh",
        "session.tools[].tunnel_id",
    ):
        assert field in labels, field
    kinds = [case.params.get("session", {}).get("type") for case in MINT_CASES]
    assert kinds.count("transcription") >= 30


@pytest.mark.parametrize("case", MINT_CASES, ids=[c.label for c in MINT_CASES])
def test_every_mint_field_mints(client: OpenAI, case: Case) -> None:
    secret = client.realtime.client_secrets.create(**case.params)
    assert secret.value.startswith("ek_")


@pytest.mark.parametrize("case", TRANSLATION_CASES, ids=[c.label for c in TRANSLATION_CASES])
def test_every_translation_field_mints(client: OpenAI, case: Case) -> None:
    secret = client.realtime.translations.client_secrets.create(**case.params)
    assert secret.session.type == "translation"
    assert secret.session.expires_at == secret.expires_at


@pytest.mark.parametrize("case", ACCEPT_CASES, ids=[c.label for c in ACCEPT_CASES])
def test_every_accept_field_is_accepted(server: MockServer, client: OpenAI, case: Case) -> None:
    call = server.incoming_call()
    assert client.realtime.calls.accept(call.id, **case.params) is None
    assert server.call(call.id).status == "accepted"
