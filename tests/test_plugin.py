"""The pytest plugin, tested the way users meet it: in a child pytest run (``pytester``)."""

from __future__ import annotations

import pytest

SYNC_AND_ASYNC = """
import pytest
from openai import AsyncOpenAI, OpenAI


def test_sync_client(realtime_mock_sync):
    with OpenAI(base_url=realtime_mock_sync.base_url, api_key="sk-test") as client:
        secret = client.realtime.client_secrets.create(session={"type": "realtime", "model": "gpt-realtime"})
    assert secret.value.startswith("ek_")
    realtime_mock_sync.assert_minted(1)
    realtime_mock_sync.add_reply("Scripted.", match={"user_text": "hi"}, times=None)
    assert realtime_mock_sync.add_transcripts("Hi there.") == ["Hi there."]


def test_sync_state_is_fresh(realtime_mock_sync):
    realtime_mock_sync.assert_minted(0)
    assert realtime_mock_sync.requests() == []
    assert realtime_mock_sync.faults() == []
    assert realtime_mock_sync.replies() == []
    assert realtime_mock_sync.transcripts() == []


@pytest.mark.asyncio
async def test_async_client(realtime_mock):
    realtime_mock.fail_next(2, status=429, retry_after_ms=5)
    async with AsyncOpenAI(base_url=realtime_mock.base_url, api_key="sk-test") as client:
        secret = await client.realtime.client_secrets.create()
    assert secret.value.startswith("ek_")
    realtime_mock.assert_statuses([429, 429, 200])
    (rule,) = realtime_mock.add_replies([{"tool_calls": [{"name": "f", "arguments": {"a": 1}}]}])
    assert rule.tool_calls[0].arguments == '{"a":1}'


@pytest.mark.asyncio
async def test_async_state_is_fresh(realtime_mock):
    realtime_mock.assert_minted(0)
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=120)


def test_plugin_is_registered_through_the_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_registered(pytestconfig):
            assert pytestconfig.pluginmanager.hasplugin("realtime_mock")
        """
    )
    result = run(pytester, "--markers")
    result.stdout.fnmatch_lines(["*@pytest.mark.realtime_mock(**settings)*"])
    run(pytester).assert_outcomes(passed=1)


def test_sync_and_async_fixtures_in_strict_mode(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_realtime=SYNC_AND_ASYNC)
    run(pytester, "-v").assert_outcomes(passed=4)


def test_works_with_asyncio_mode_auto(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_realtime=SYNC_AND_ASYNC.replace("@pytest.mark.asyncio\n", ""))
    run(pytester).assert_outcomes(passed=4)


# A user project whose only setting is filterwarnings = error (pytest-asyncio's loop-scope option unset).
ONLY_FILTERWARNINGS_ERROR = '[tool.pytest.ini_options]\nfilterwarnings = ["error"]\n'


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_works_under_filterwarnings_error_with_nothing_else_set(pytester: pytest.Pytester, mode: str) -> None:
    """pytest-asyncio's start-up warning about its unset loop scope would be an INTERNALERROR here."""
    config = ONLY_FILTERWARNINGS_ERROR + ('asyncio_mode = "auto"\n' if mode == "auto" else "")
    pytester.makepyprojecttoml(config)
    tests = SYNC_AND_ASYNC if mode == "strict" else SYNC_AND_ASYNC.replace("@pytest.mark.asyncio\n", "")
    pytester.makepyfile(test_realtime=tests)
    result = run(pytester)
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines([f"asyncio: mode=Mode.{mode.upper()}, *asyncio_default_fixture_loop_scope=function,*"])
    result.assert_outcomes(passed=4)


@pytest.mark.parametrize(
    ("config", "args"),
    [
        (ONLY_FILTERWARNINGS_ERROR + 'asyncio_default_fixture_loop_scope = "module"\n', ()),
        (ONLY_FILTERWARNINGS_ERROR, ("-o", "asyncio_default_fixture_loop_scope=module")),
    ],
    ids=["config-file", "-o"],
)
def test_a_loop_scope_the_project_sets_wins(pytester: pytest.Pytester, config: str, args: tuple[str, ...]) -> None:
    pytester.makepyprojecttoml(config)
    pytester.makepyfile(test_realtime=SYNC_AND_ASYNC)
    result = run(pytester, *args)
    result.stdout.fnmatch_lines(["asyncio: *asyncio_default_fixture_loop_scope=module*"])
    result.assert_outcomes(passed=4)


def test_async_fixture_refuses_a_test_on_another_loop_scope(pytester: pytest.Pytester) -> None:
    """Its server would sit on a loop that is not running while the test waits on it: a clear error instead."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio(loop_scope="module")
        async def test_on_the_module_loop(realtime_mock):
            pass

        @pytest.mark.asyncio(loop_scope="module")
        async def test_sync_fixture_works_on_any_loop(realtime_mock_sync):
            assert realtime_mock_sync.running
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*realtime_mock runs on the function-scoped event loop, but this test runs on the module-scoped one*"]
    )


def test_without_the_plugin_pytest_asyncio_still_stops_such_a_project(pytester: pytest.Pytester) -> None:
    """The failure the plugin prevents is real: with the plugin disabled, pytest-asyncio's warning is fatal."""
    pytester.makepyprojecttoml(ONLY_FILTERWARNINGS_ERROR)
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = run(pytester, "-p", "no:realtime_mock")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stderr.fnmatch_lines(["*asyncio_default_fixture_loop_scope*is unset*"])


def test_marker_configures_one_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import openai
        import pytest
        from openai import OpenAI


        @pytest.mark.realtime_mock(seed=7, api_keys=["sk-allowed"], latency_ms=20)
        def test_configured(realtime_mock_sync):
            assert realtime_mock_sync.seed == 7
            with OpenAI(base_url=realtime_mock_sync.base_url, api_key="sk-other", max_retries=0) as client:
                with pytest.raises(openai.AuthenticationError) as caught:
                    client.realtime.client_secrets.create()
            assert caught.value.code == "invalid_api_key"
            assert realtime_mock_sync.requests()[0].latency_ms == 20.0


        @pytest.mark.asyncio
        @pytest.mark.realtime_mock(error_rate=1.0, error_statuses="503:1")
        async def test_configured_async(realtime_mock):
            async with openai.AsyncOpenAI(base_url=realtime_mock.base_url, api_key="k", max_retries=0) as client:
                with pytest.raises(openai.InternalServerError):
                    await client.realtime.client_secrets.create()


        def test_unconfigured_neighbour(realtime_mock_sync):
            assert realtime_mock_sync.settings.api_keys == ()
            with OpenAI(base_url=realtime_mock_sync.base_url, api_key="sk-other") as client:
                assert client.realtime.client_secrets.create().value.startswith("ek_")
        """
    )
    run(pytester).assert_outcomes(passed=3)


def test_default_settings_are_read_only_and_shared_by_the_session(pytester: pytest.Pytester) -> None:
    # Session-scoped for speed; read-only, so no test can leave a setting behind for the next one.
    pytester.makepyfile(
        """
        import pytest

        SEEN = []

        def test_first(realtime_mock_settings):
            SEEN.append(realtime_mock_settings)
            assert dict(realtime_mock_settings) == {}
            with pytest.raises(TypeError):
                realtime_mock_settings["latency_ms"] = 5

        def test_second(realtime_mock_settings, realtime_mock_sync):
            assert realtime_mock_settings is SEEN[0]
            assert realtime_mock_sync.settings.latency_ms == 0

        @pytest.mark.asyncio
        async def test_async(realtime_mock):
            assert realtime_mock.settings.latency_ms == 0
        """
    )
    run(pytester).assert_outcomes(passed=3)


def test_settings_fixture_can_be_overridden_per_module(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_slow="""
        import pytest

        @pytest.fixture(scope="module")
        def realtime_mock_settings():
            return {"latency_ms": 5}

        def test_sync(realtime_mock_sync):
            assert realtime_mock_sync.settings.latency_ms == 5

        @pytest.mark.asyncio
        async def test_async(realtime_mock):
            assert realtime_mock.settings.latency_ms == 5
        """,
        test_plain="""
        def test_sync(realtime_mock_sync):
            assert realtime_mock_sync.settings.latency_ms == 0
        """,
    )
    run(pytester).assert_outcomes(passed=3)


def test_settings_fixture_can_be_overridden(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def realtime_mock_settings():
            return {"seed": 99, "latency_ms": 5}
        """
    )
    pytester.makepyfile(
        """
        import pytest

        def test_sync(realtime_mock_sync):
            assert realtime_mock_sync.seed == 99
            assert realtime_mock_sync.settings.latency_ms == 5

        @pytest.mark.realtime_mock(seed=100)
        def test_marker_beats_fixture(realtime_mock_sync):
            assert realtime_mock_sync.seed == 100
            assert realtime_mock_sync.settings.latency_ms == 5

        @pytest.mark.asyncio
        async def test_async(realtime_mock):
            assert realtime_mock.seed == 99
        """
    )
    run(pytester).assert_outcomes(passed=3)


def test_assertion_helpers_explain_failures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from openai import OpenAI

        def test_expects_retries(realtime_mock_sync):
            with OpenAI(base_url=realtime_mock_sync.base_url, api_key="sk-test") as client:
                client.realtime.client_secrets.create()
            realtime_mock_sync.assert_attempts(3)
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["E * AssertionError: expected 3 attempts, saw 1:", "E *   POST /v1/realtime/client_secrets -> 200 body {}"]
    )


def test_no_collision_with_pytest_aiohttp_or_faker_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from aiohttp import web

        @pytest.mark.asyncio
        async def test_all_together(realtime_mock, aiohttp_client, faker):
            app = web.Application()
            client = await aiohttp_client(app)
            assert (await client.get("/")).status == 404
            assert isinstance(faker.name(), str)
            assert realtime_mock.base_url.endswith("/v1")

        def test_sync_together(realtime_mock_sync, faker):
            assert realtime_mock_sync.running
        """
    )
    run(pytester).assert_outcomes(passed=2)


def test_works_with_pytest_xdist(pytester: pytest.Pytester) -> None:
    """On every worker, under filterwarnings = error with nothing else set (each worker configures pytest again)."""
    pytester.makepyprojecttoml(ONLY_FILTERWARNINGS_ERROR)
    pytester.makepyfile(test_realtime=SYNC_AND_ASYNC)
    pytester.makepyfile(test_more=SYNC_AND_ASYNC)
    result = run(pytester, "-n", "2")
    result.assert_outcomes(passed=8)
